"""The `.xir` printer: one generic syntax for every op.

    %0 = "xl.add"(%x, %y) {attr = value} : (f32[2], f32[2]) -> f32[2]

Block arguments keep their name hints when those are unique identifiers; op results are
numbered ``%0, %1, ...`` in order of definition. Printing is deterministic, so
``print(parse(print(m))) == print(m)``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from xlalite.ir.attributes import format_attr
from xlalite.ir.names import RETURN
from xlalite.ir.types import TensorType

if TYPE_CHECKING:
    from xlalite.ir.core import Block, Function, Module, Op, Value

_IDENT = re.compile(r"^[A-Za-z_][\w.$-]*$")


def format_result_types(types: list[TensorType]) -> str:
    if len(types) == 1:
        return str(types[0])
    return "(" + ", ".join(str(t) for t in types) + ")"


class Namer:
    """Assigns printable names to values: hints for block arguments, numbers for results."""

    def __init__(self) -> None:
        self.names: dict[Value, str] = {}
        self.used: set[str] = set()
        self.counter = 0

    def name_args(self, block: Block) -> None:
        for i, arg in enumerate(block.args):
            hint = arg.name_hint
            if hint is None or not _IDENT.match(hint) or hint in self.used:
                hint = f"arg{i}"
                while hint in self.used:
                    hint = f"arg{i}_{len(self.used)}"
            self._set(arg, hint)

    def name_result(self, value: Value) -> str:
        while str(self.counter) in self.used:
            self.counter += 1
        self._set(value, str(self.counter))
        self.counter += 1
        return self.names[value]

    def _set(self, value: Value, name: str) -> None:
        self.names[value] = name
        self.used.add(name)

    def __getitem__(self, value: Value) -> str:
        try:
            return "%" + self.names[value]
        except KeyError:
            return "%<undefined>"


def _print_block(block: Block, namer: Namer, indent: str, out: list[str]) -> None:
    for op in block.ops:
        _print_op(op, namer, indent, out)


def _print_op(op: Op, namer: Namer, indent: str, out: list[str]) -> None:
    if op.name == RETURN:
        args = ", ".join(namer[v] for v in op.operands)
        out.append(f"{indent}return{' ' if args else ''}{args}")
        return
    operands = ", ".join(namer[v] for v in op.operands)
    head = ""
    if op.results:
        head = ", ".join("%" + namer.name_result(r) for r in op.results) + " = "
    line = f'{indent}{head}"{op.name}"({operands})'
    if op.regions:  # MLIR layout: ({ ^bb0(...): ops }, { ... }) then attributes and type
        opener = " ({"
        for region in op.regions:
            outer_names = set(namer.used)  # names inside a region are free again after it
            out.append(line + opener)
            for bi, block in enumerate(region.blocks):
                namer.name_args(block)
                args = ", ".join(f"{namer[a]}: {a.type}" for a in block.args)
                out.append(f"{indent}^bb{bi}({args}):")
                _print_block(block, namer, indent + "  ", out)
            line, opener = indent + "}", ", {"
            namer.used = outer_names
        line += ")"
    if op.attributes:
        attrs = ", ".join(f"{k} = {format_attr(v)}" for k, v in op.attributes.items())
        line += f" {{{attrs}}}"
    ins = ", ".join(str(v.type) for v in op.operands)
    line += f" : ({ins}) -> {format_result_types(op.result_types)}"
    out.append(line)


def print_function(func: Function) -> str:
    namer = Namer()
    namer.name_args(func.body)
    args = ", ".join(f"{namer[a]}: {a.type}" for a in func.args)
    attrs = ""
    if func.attributes:
        attrs = " attributes {" + ", ".join(
            f"{k} = {format_attr(v)}" for k, v in func.attributes.items()) + "}"
    out = [f"func @{func.name}({args}) -> {format_result_types(func.result_types)}{attrs} {{"]
    _print_block(func.body, namer, "  ", out)
    out.append("}")
    return "\n".join(out) + "\n"


def print_module(module: Module) -> str:
    """The `.xir` text of a module (functions separated by a blank line)."""
    return "\n".join(print_function(f) for f in module.functions)
