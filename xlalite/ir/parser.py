"""The `.xir` parser: lark (LALR) grammar in ``xir.lark`` plus a small tree walker.

Well-formed text takes the fast path of ``fastparse`` (whole statements matched by regular
expressions, ~15x faster); whatever that path does not accept, every error included, is
parsed here, so the grammar stays the definition of the language and this module the one
place that reports errors.

The grammar knows no op names; the walker resolves SSA names, builds :class:`Op`s and fills
declared attribute defaults for registered ops. Every error becomes an :class:`XirError` whose
diagnostic carries ``file:line:col``, the source line with a caret, and what was expected.
Type checking against the op registry is the verifier's job.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import re
from collections.abc import Iterator
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from xlalite.ir.attributes import DenseElements, dense_literal
from xlalite.ir.core import RETURN, Block, Function, Module, Op, Region, Value
from xlalite.ir.diagnostics import Diagnostic, Location, XirError
from xlalite.ir.dialect import OPS
from xlalite.ir.fastparse import parse_fast
from xlalite.ir.types import DType, TensorType

if TYPE_CHECKING:  # lark is imported when a text needs the grammar: most never do
    from lark import Lark

#: a lark Tree or Token: lark's children are untyped, the grammar says which each one is
Node = Any

_FRIENDLY = {
    "VALUE_ID": "a value like %x",
    "SYMBOL": "a function name like @main",
    "NAME": "a name",
    "INT": "an integer",
    "FLOAT": "a float",
    "STRING": 'an op name in quotes like "xl.add"',
    "BLOCK_ID": "a block label like ^bb0",
    "RETURN": "'return'",
    "DENSE": "'dense'",
    "$END": "end of input",
    "FUNC": "'func'",
}


@functools.cache
def _lark() -> Lark:
    from lark import Lark

    grammar = resources.files("xlalite.ir").joinpath("xir.lark").read_text()
    return Lark(grammar, start="module", parser="lalr", propagate_positions=True,
                maybe_placeholders=False)


def _describe_terminal(name: str) -> str:
    if name in _FRIENDLY:
        return _FRIENDLY[name]
    try:
        pattern = _lark().get_terminal(name).pattern
    except KeyError:
        return name
    from lark.lexer import PatternStr

    return f"'{pattern.value}'" if isinstance(pattern, PatternStr) else name


def _expected_text(names: set[str] | frozenset[str]) -> str:
    shown = sorted({_describe_terminal(n) for n in names})
    if not shown:
        return ""
    if len(shown) == 1:
        return f"expected {shown[0]}"
    return "expected one of " + ", ".join(shown)


def _is_token(node: Node) -> bool:
    """A lark Token (a str subclass, so lark itself need not be imported to tell)."""
    return isinstance(node, str)


class _Walker:
    """Builds IR from a lark parse tree, resolving names through nested scopes. A child is a
    Token (a str subclass) or a Tree: ``_is_token(c)`` tells them apart."""

    def __init__(self, text: str, filename: str, line_offset: int):
        self.lines = text.splitlines()
        self.filename = filename
        self.line_offset = line_offset
        self.scopes: list[dict[str, Value]] = []

    # --- locations and errors ---------------------------------------------------------
    def loc(self, line: int, col: int) -> Location:
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else None
        return Location(self.filename, line + self.line_offset, col, text)

    def integer(self, tok: Node) -> int:
        """An integer literal; one of more digits than Python converts is an error there."""
        try:
            return int(tok)
        except ValueError:
            raise self.error(tok, f"integer literal of {len(str(tok))} digits is too long") from None

    def loc_of(self, item: Node) -> Location:
        if _is_token(item):
            return self.loc(item.line or 0, item.column or 0)
        return self.loc(item.meta.line, item.meta.column)

    def error(self, item: Node, message: str) -> XirError:
        return XirError(Diagnostic(self.loc_of(item), message))

    # --- names -----------------------------------------------------------------------
    def define(self, tok: Node, value: Value) -> None:
        name = str(tok)
        for scope in self.scopes:
            if name in scope:
                raise self.error(tok, f"redefinition of value '{name}'")
        self.scopes[-1][name] = value
        value.name_hint = name[1:]

    def lookup(self, tok: Node) -> Value:
        for scope in reversed(self.scopes):
            if str(tok) in scope:
                return scope[str(tok)]
        raise self.error(tok, f"use of undefined value '{tok}'")

    # --- types -----------------------------------------------------------------------
    def tensor_type(self, tree: Node) -> TensorType:
        name, *dims = tree.children
        try:
            dtype = DType.parse(str(name))
        except ValueError as e:
            raise self.error(name, str(e)) from None
        for d in dims:
            if self.integer(d) < 0:
                raise self.error(d, f"dimension must be non-negative, got {d}")
        return TensorType(tuple(self.integer(d) for d in dims), dtype)

    def result_types(self, tree: Node) -> list[TensorType]:
        return [self.tensor_type(t) for t in tree.children]

    # --- structure -------------------------------------------------------------------
    def module(self, tree: Node) -> Module:
        return Module([self.func(f) for f in tree.children])

    def func(self, tree: Node) -> Function:
        sym = tree.children[0]
        args = [c for c in tree.children if not _is_token(c) and c.data == "arg"]
        results = next(c for c in tree.children if not _is_token(c) and c.data == "result_types")
        arg_types = [self.tensor_type(a.children[1]) for a in args]
        func = Function(str(sym)[1:], arg_types, self.result_types(results), loc=self.loc_of(sym))
        for c in tree.children:
            if not _is_token(c) and c.data == "attr_dict":
                func.attributes = self.attr_dict(c)
        self.scopes.append({})
        for a, value in zip(args, func.args):
            self.define(a.children[0], value)
        for c in tree.children:
            if not _is_token(c) and c.data == "op":
                func.body.append(self.op(c))
            elif not _is_token(c) and c.data == "return_stmt":
                kw, *names = c.children
                func.body.append(Op(RETURN, [self.lookup(n) for n in names], [],
                                    loc=self.loc_of(kw)))
        self.scopes.pop()
        return func

    def op(self, tree: Node) -> Op:
        result_names: list[Node] = []
        operand_toks: list[Node] = []
        regions: list[Region] = []
        attrs: dict[str, object] = {}
        name_tok: Node | None = None
        op_type: Node | None = None
        for c in tree.children:
            if _is_token(c) and c.type == "STRING":
                name_tok = c
            elif _is_token(c) and c.type == "VALUE_ID":
                operand_toks.append(c)
            elif c.data == "results":
                result_names = list(c.children)
            elif c.data == "regions":
                regions = [self.region(r) for r in c.children]
            elif c.data == "attr_dict":
                attrs = self.attr_dict(c)
            elif c.data == "op_type":
                op_type = c
        assert name_tok is not None and op_type is not None
        name = self.string(name_tok)
        operands = [self.lookup(t) for t in operand_toks]
        in_types = [self.tensor_type(t) for t in op_type.children[:-1]]
        out_types = self.result_types(op_type.children[-1])
        if len(in_types) != len(operands):
            raise self.error(op_type, f"'{name}' has {len(operands)} operands but its type "
                                      f"lists {len(in_types)}")
        for i, (tok, v, t) in enumerate(zip(operand_toks, operands, in_types)):
            if v.type != t:
                raise self.error(tok, f"operand #{i} ('{tok}') of '{name}' has type {v.type}, "
                                      f"but the op's type says {t}")
        if len(result_names) != len(out_types):
            raise self.error(tree, f"'{name}' defines {len(result_names)} result names but its "
                                   f"type lists {len(out_types)} results")
        op = Op(name, operands, out_types, OPS.with_defaults(name, attrs), regions, self.loc_of(tree))
        for tok, value in zip(result_names, op.results):
            self.define(tok, value)
        return op

    def region(self, tree: Node) -> Region:
        region = Region()
        for b in tree.children:
            args = [a for a in b.children if not _is_token(a)]
            arg_list = [a for a in args if a.data == "arg"]
            block = Block([self.tensor_type(a.children[1]) for a in arg_list])
            self.scopes.append({})
            for a, value in zip(arg_list, block.args):
                self.define(a.children[0], value)
            for o in args:
                if o.data == "op":
                    block.append(self.op(o))
            self.scopes.pop()
            region.append(block)
        return region

    def string(self, tok: Node) -> str:
        """Decode a quoted string (JSON escapes); a bad escape is reported at the token."""
        try:
            return json.loads(tok, strict=False)
        except json.JSONDecodeError as e:
            raise self.error(tok, f"malformed string literal: {e.msg}") from None

    # --- attributes --------------------------------------------------------------------
    def attr_dict(self, tree: Node) -> dict[str, object]:
        out: dict[str, object] = {}
        for entry in tree.children:
            key, value = entry.children
            if str(key) in out:
                raise self.error(key, f"duplicate attribute '{key}'")
            out[str(key)] = self.attr_value(value)
        return out

    def attr_value(self, item: Node) -> object:
        kind = item.data
        if kind == "int_attr":
            return self.integer(item.children[0])
        if kind == "float_attr":
            return float(item.children[0])
        if kind == "string_attr":
            return self.string(item.children[0])
        if kind == "list_attr":
            return tuple(self.attr_value(c) for c in item.children)
        if kind == "dense_attr":
            return self.dense(item)
        word = str(item.children[0])
        if word in ("true", "false"):
            return word == "true"
        try:
            return DType.parse(word)
        except ValueError:
            raise self.error(item.children[0], f"unknown attribute value '{word}'; expected a "
                             "number, a string, a list, true/false, an element type or "
                             "dense<...>") from None

    def dense(self, tree: Node) -> DenseElements:
        _, body, type_tree = tree.children
        t = self.tensor_type(type_tree)
        try:
            return dense_literal(self.attr_value(body), t)
        except ValueError as e:
            raise self.error(body, str(e)) from None


#: deepest nesting of brackets, braces and parentheses the parser accepts: deeper text
#: would overflow Python's stack in the tree walk (real programs nest a handful of levels)
MAX_NESTING = 200
_OPEN, _CLOSE = "([{", ")]}"


_BRACKETS = re.compile(r'"(?:[^"\\\n]|\\.)*"|//[^\n]*|[()\[\]{}]')
_STRINGS_AND_COMMENTS = re.compile(r'"(?:[^"\\\n]|\\.)*"|//[^\n]*')
_DEPTH_STEP = np.zeros(256, np.int32)
_DEPTH_STEP[[ord(c) for c in _OPEN]] = 1
_DEPTH_STEP[[ord(c) for c in _CLOSE]] = -1


def _check_nesting(text: str, walker: _Walker) -> None:
    """A located diagnostic for text nested deeper than MAX_NESTING (strings and comments
    skipped). The depth is a running sum over the bytes, so this costs little next to the
    parse; only text that is too deep is scanned again, bracket by bracket, for the place."""
    code = np.frombuffer(_STRINGS_AND_COMMENTS.sub("", text).encode("utf-8", "surrogatepass"), np.uint8)
    if code.size == 0 or int(np.cumsum(_DEPTH_STEP[code]).max()) <= MAX_NESTING:
        return
    depth = 0
    for m in _BRACKETS.finditer(text):
        ch = m.group()
        if ch in _OPEN:
            depth += 1
            if depth > MAX_NESTING:
                line = text.count("\n", 0, m.start()) + 1
                col = m.start() - text.rfind("\n", 0, m.start())
                raise XirError(Diagnostic(walker.loc(line, col),
                                          f"nesting deeper than {MAX_NESTING} levels"))
        elif ch in _CLOSE:
            depth -= 1


def parse_module(text: str, filename: str = "<string>", line_offset: int = 0) -> Module:
    """Parse `.xir` text into a Module (not yet verified). Raises XirError on bad input.

    `line_offset` is added to reported line numbers (for chunks of a split file).
    """
    text, walker = _prepare(text, filename, line_offset)
    with _collector_paused():
        module = parse_fast(text, walker.loc)
        return module if module is not None else _parse_with_grammar(text, walker)


def _prepare(text: str, filename: str, line_offset: int) -> tuple[str, _Walker]:
    """The text without a byte-order mark (as editors may write one), its walker, and the
    nesting check both parsers rely on."""
    text = text.removeprefix("\ufeff")
    walker = _Walker(text, filename, line_offset)
    _check_nesting(text, walker)
    return text, walker


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector: a parse allocates millions of objects that
    all stay alive, so collections during it find nothing and cost about 40% of the time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def parse_with_grammar(text: str, filename: str = "<string>", line_offset: int = 0) -> Module:
    """:func:`parse_module` without the fast path: the reference the fast path must match."""
    text, walker = _prepare(text, filename, line_offset)
    with _collector_paused():
        return _parse_with_grammar(text, walker)


def _parse_with_grammar(text: str, walker: _Walker) -> Module:
    import lark

    try:
        tree = _lark().parse(text)
    except lark.exceptions.UnexpectedCharacters as e:
        raise XirError(Diagnostic(walker.loc(e.line, e.column),
                                  f"unexpected character {text[e.pos_in_stream or 0]!r}"
                                  + (f"; {_expected_text(e.allowed)}" if e.allowed else ""))) from None
    except lark.exceptions.UnexpectedToken as e:
        tok = e.token
        if tok.type == "$END":
            line = len(walker.lines) or 1
            loc = walker.loc(line, len(walker.lines[-1]) + 1 if walker.lines else 1)
            found = "end of input"
        else:
            loc, found = walker.loc(e.line, e.column), f"'{tok}'"
        raise XirError(Diagnostic(loc, f"{_expected_text(e.expected)}, found {found}")) from None
    except lark.exceptions.UnexpectedEOF as e:
        line = len(walker.lines) or 1
        loc = walker.loc(line, len(walker.lines[-1]) + 1 if walker.lines else 1)
        message = f"unexpected end of input; {_expected_text(set(e.expected))}"
        raise XirError(Diagnostic(loc, message)) from None
    return walker.module(tree)
