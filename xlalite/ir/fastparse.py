"""The fast path of the `.xir` parser: whole statements matched by regular expressions.

The lark grammar (``xir.lark``) defines the language and gives every diagnostic, but its
token-at-a-time LALR parse and tree walk run at ~1,500 ops/s. Printed IR (and ONNX imports,
unrolled programs, cached modules) is far larger than hand-written text and has a regular
shape, so this module matches each statement — an op's head, its attributes and its type —
with one regular expression each and builds the IR directly (~15x faster).

The contract: :func:`parse_fast` either returns the module the lark parser would build
(same ops, attributes, types, name hints and locations) or gives up by returning None, and
the caller then runs the lark parser. It accepts a strict subset of the grammar — comments
only between statements, no keyword used as an attribute key, only well-formed values — and
gives up on anything else, including every error: there is one place that reports errors,
and this module never needs to. ``tests/test_fastparse.py`` checks the two parsers agree.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Callable

from xlalite.ir.attributes import dense_literal
from xlalite.ir.core import RETURN, Block, Function, Module, Op, Region, Value
from xlalite.ir.diagnostics import Location
from xlalite.ir.dialect import OPS
from xlalite.ir.types import DType, TensorType

# Terminals spelled exactly as in xir.lark; whitespace is lark's WS, never Python's \s
# (which also takes \v and Unicode spaces that the grammar rejects).
_WS = r"[ \t\f\r\n]*"
_VALUE = r"%[A-Za-z0-9_][\w.$-]*"
_NAME = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_STRING = r'"(?:[^"\\\n]|\\.)*"'
_FLOAT = r"-?(?:\d+\.\d*(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|inf\b|nan\b)"
_TYPE = rf"{_NAME}\[{_WS}(?:\d+{_WS}(?:,{_WS}\d+{_WS})*)?\]"
_TYPES = rf"\({_WS}(?:{_TYPE}{_WS}(?:,{_WS}{_TYPE}{_WS})*)?\)"
_RESULT_TYPES = rf"(?:{_TYPE}|{_TYPES})"
_VALUES = rf"(?:{_VALUE}{_WS}(?:,{_WS}{_VALUE}{_WS})*)?"
_ARG = rf"{_VALUE}{_WS}:{_WS}{_TYPE}"
_ARGS = rf"(?:{_ARG}{_WS}(?:,{_WS}{_ARG}{_WS})*)?"
# an attribute dict holds no braces outside strings; what is inside is tokenized below
_ATTRS = rf'\{{(?:[^{{}}"]|{_STRING})*\}}'

_SKIP = re.compile(r"(?:[ \t\f\r\n]+|//[^\n]*)*")
_FUNC = re.compile(rf"func{_WS}(@[A-Za-z_][\w.$-]*){_WS}\({_WS}({_ARGS})\){_WS}->{_WS}"
                   rf"({_RESULT_TYPES}){_WS}(?:attributes{_WS}({_ATTRS}){_WS})?\{{")
_OP_HEAD = re.compile(rf"(?:({_VALUE}{_WS}(?:,{_WS}{_VALUE}{_WS})*)={_WS})?({_STRING}){_WS}"
                      rf"\({_WS}({_VALUES})\){_WS}")
_OP_TAIL = re.compile(rf"(?:({_ATTRS}){_WS})?:{_WS}({_TYPES}){_WS}->{_WS}({_RESULT_TYPES})")
_REGIONS_OPEN = re.compile(rf"\({_WS}\{{")
_REGION_NEXT = re.compile(rf"\}}{_WS}(?:(,){_WS}\{{|\){_WS})")
_BLOCK = re.compile(rf"\^[A-Za-z0-9_]+{_WS}\({_WS}({_ARGS})\){_WS}:")
_RETURN = re.compile(rf"return(?:{_WS}({_VALUE}{_WS}(?:,{_WS}{_VALUE})*))?")

_VALUE_ITEM = re.compile(_VALUE)
_ARG_ITEM = re.compile(rf"({_VALUE}){_WS}:{_WS}({_TYPE})")
_TYPE_ITEM = re.compile(rf"({_NAME})\[([^\]]*)\]")
_DIM = re.compile(r"\d+")
# attribute tokens, in lark's priority order (FLOAT.2 before INT and NAME); the last group
# catches any other character, which makes the fast path give up
_ATTR_TOKEN = re.compile(rf'{_WS}(?:({_FLOAT})|(-?\d+)|({_STRING})|({_NAME})|([\[\],=<>:{{}}])'
                         rf"|([^ \t\f\r\n]))")
_KEYWORDS = frozenset({"func", "return", "attributes", "dense"})


class _GiveUp(Exception):
    """The text is outside the fast path's subset (or wrong): the lark parser takes over."""


def parse_fast(text: str, loc: Callable[[int, int], Location]) -> Module | None:
    """The module of `text`, or None where the lark parser must decide (see the module doc).
    `loc(line, col)` makes locations the way the lark path does."""
    try:
        return _FastParser(text, loc).module()
    except (_GiveUp, ValueError, RecursionError):  # ValueError: int(), DType, json, types
        return None


class _FastParser:
    def __init__(self, text: str, loc: Callable[[int, int], Location]):
        self.text = text
        self.make_loc = loc
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.scopes: list[dict[str, Value]] = []
        self.types: dict[str, list[TensorType]] = {}
        self.op_attrs: dict[tuple[str, str], dict[str, object]] = {}

    # --- positions and names ----------------------------------------------------------
    def loc(self, pos: int) -> Location:
        line = bisect.bisect_right(self.line_starts, pos)
        return self.make_loc(line, pos - self.line_starts[line - 1] + 1)

    def skip(self, pos: int) -> int:
        return _SKIP.match(self.text, pos).end()  # type: ignore[union-attr]  # matches ""

    def define(self, name: str, value: Value) -> None:
        for scope in self.scopes:
            if name in scope:
                raise _GiveUp
        self.scopes[-1][name] = value
        value.name_hint = name[1:]

    def lookup(self, name: str) -> Value:
        for scope in reversed(self.scopes):
            value = scope.get(name)
            if value is not None:
                return value
        raise _GiveUp

    def type_list(self, text: str) -> list[TensorType]:
        """The types in `text` (one type, or a parenthesized list), memoized: IR repeats them."""
        types = self.types.get(text)
        if types is None:
            types = [TensorType(tuple(int(d) for d in _DIM.findall(dims)), DType(dtype))
                     for dtype, dims in _TYPE_ITEM.findall(text)]
            self.types[text] = types
        return types

    # --- structure ----------------------------------------------------------------------
    def module(self) -> Module:
        module = Module()
        pos = self.skip(0)
        while pos < len(self.text):
            func, pos = self.func(pos)
            module.add(func)
            pos = self.skip(pos)
        return module

    def func(self, pos: int) -> tuple[Function, int]:
        m = _FUNC.match(self.text, pos)
        if m is None:
            raise _GiveUp
        symbol, args, results, attrs = m.groups()
        arg_items = _ARG_ITEM.findall(args)
        func = Function(symbol[1:], [self.type_list(t)[0] for _, t in arg_items],
                        self.type_list(results), loc=self.loc(m.start(1)))
        if attrs is not None:
            func.attributes = _AttrParser(attrs).dict()
        self.scopes.append({})
        for (name, _), value in zip(arg_items, func.args):
            self.define(name, value)
        pos = self.skip(m.end())
        text = self.text
        while not text.startswith("return", pos):
            op, pos = self.op(pos)
            func.body.append(op)
            pos = self.skip(pos)
        r = _RETURN.match(text, pos)
        assert r is not None  # the text starts with "return" here
        names = _VALUE_ITEM.findall(r.group(1) or "")
        func.body.append(Op(RETURN, [self.lookup(n) for n in names], [], loc=self.loc(pos)))
        pos = self.skip(r.end())
        if not text.startswith("}", pos):
            raise _GiveUp
        self.scopes.pop()
        return func, pos + 1

    def op(self, pos: int) -> tuple[Op, int]:
        text = self.text
        head = _OP_HEAD.match(text, pos)
        if head is None:
            raise _GiveUp
        results, quoted, operand_text = head.groups()
        pos = head.end()
        regions: list[Region] = []
        opened = _REGIONS_OPEN.match(text, pos)
        if opened is not None:
            regions, pos = self.regions(opened.end())
        tail = _OP_TAIL.match(text, pos)
        if tail is None:
            raise _GiveUp
        attr_text, in_text, out_text = tail.groups()
        name = json.loads(quoted, strict=False) if "\\" in quoted else quoted[1:-1]
        operands = [self.lookup(n) for n in _VALUE_ITEM.findall(operand_text)]
        in_types = self.type_list(in_text)
        out_types = self.type_list(out_text)
        result_names = _VALUE_ITEM.findall(results) if results else []
        if len(in_types) != len(operands) or len(result_names) != len(out_types):
            raise _GiveUp
        for v, t in zip(operands, in_types):
            if v.type != t:
                raise _GiveUp
        op = Op(name, operands, out_types, self.attributes(name, attr_text), regions,
                self.loc(head.start()))
        for result_name, value in zip(result_names, op.results):
            self.define(result_name, value)
        return op, tail.end()

    def attributes(self, name: str, text: str | None) -> dict[str, object]:
        """An op's attributes with the registered defaults filled, memoized by (op, text):
        attribute values are immutable and Op copies the dict."""
        if text is None:
            text = "{}"
        attrs = self.op_attrs.get((name, text))
        if attrs is None:
            attrs = OPS.with_defaults(name, _AttrParser(text).dict())
            self.op_attrs[(name, text)] = attrs
        return attrs

    def regions(self, pos: int) -> tuple[list[Region], int]:
        """Regions after ``({``, up to and past the closing ``)``."""
        text = self.text
        regions = []
        while True:
            region = Region()
            pos = self.skip(pos)
            while text.startswith("^", pos):
                block, pos = self.block(pos)
                region.append(block)
            regions.append(region)
            m = _REGION_NEXT.match(text, pos)
            if m is None:
                raise _GiveUp
            pos = m.end()
            if m.group(1) is None:
                return regions, pos

    def block(self, pos: int) -> tuple[Block, int]:
        m = _BLOCK.match(self.text, pos)
        if m is None:
            raise _GiveUp
        arg_items = _ARG_ITEM.findall(m.group(1))
        block = Block([self.type_list(t)[0] for _, t in arg_items])
        self.scopes.append({})
        for (name, _), value in zip(arg_items, block.args):
            self.define(name, value)
        pos = self.skip(m.end())
        while self.text.startswith(("%", '"'), pos):
            op, pos = self.op(pos)
            block.append(op)
            pos = self.skip(pos)
        self.scopes.pop()
        return block, pos


class _AttrParser:
    """Recursive descent over the tokens of one ``{...}`` attribute dict."""

    def __init__(self, text: str):
        self.tokens = _ATTR_TOKEN.findall(text)
        self.i = 0

    def next(self) -> tuple[str, str, str, str, str, str]:
        if self.i >= len(self.tokens):
            raise _GiveUp
        self.i += 1
        return self.tokens[self.i - 1]

    def punct(self, char: str) -> None:
        if self.next()[4] != char:
            raise _GiveUp

    def dict(self) -> dict[str, object]:
        self.punct("{")
        out: dict[str, object] = {}
        if self.tokens[self.i][4] == "}":
            self.i += 1
        else:
            while True:
                key = self.next()[3]
                if not key or key in _KEYWORDS or key in out:
                    raise _GiveUp
                self.punct("=")
                out[key] = self.value()
                sep = self.next()[4]
                if sep == "}":
                    break
                if sep != ",":
                    raise _GiveUp
        if self.i != len(self.tokens):
            raise _GiveUp
        return out

    def value(self) -> object:
        flt, integer, string, name, punct, _ = self.next()
        if flt:
            return float(flt)
        if integer:
            return int(integer)
        if string:
            return json.loads(string, strict=False)
        if punct == "[":
            items: list[object] = []
            if self.tokens[self.i][4] == "]":
                self.i += 1
                return ()
            while True:
                items.append(self.value())
                sep = self.next()[4]
                if sep == "]":
                    return tuple(items)
                if sep != ",":
                    raise _GiveUp
        if name == "true" or name == "false":
            return name == "true"
        if name == "dense":
            self.punct("<")
            data = self.value()
            self.punct(">")
            self.punct(":")
            return dense_literal(data, self.tensor_type())
        if name:
            return DType(name)  # ValueError (not an element type): the lark path reports it
        raise _GiveUp

    def tensor_type(self) -> TensorType:
        dtype = DType(self.next()[3])
        self.punct("[")
        dims: list[int] = []
        if self.tokens[self.i][4] == "]":
            self.i += 1
        else:
            while True:
                dim = self.next()[1]
                if not dim or dim.startswith("-"):
                    raise _GiveUp
                dims.append(int(dim))
                sep = self.next()[4]
                if sep == "]":
                    break
                if sep != ",":
                    raise _GiveUp
        return TensorType(tuple(dims), dtype)
