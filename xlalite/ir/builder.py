"""An explicit insertion point for creating ops (there is no implicit global graph)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from xlalite.ir.core import RETURN, Block, Function, Module, Op, Region, Value
from xlalite.ir.diagnostics import Location
from xlalite.ir.dialect import OPS
from xlalite.ir.types import TensorType


class Builder:
    """Inserts ops into `block` at `index` (the end when None), advancing past each insert.

    ``create`` normalizes attributes against the op declaration and infers result types from
    its shape rule, so the IR it builds is well-typed by construction (errors raise
    AttrError/ShapeError, both ValueErrors, with the rule's message).
    """

    def __init__(self, block: Block, index: int | None = None, loc: Location | None = None):
        self.block = block
        self.index = index
        self.loc = loc

    @staticmethod
    def before(op: Op) -> Builder:
        assert op.parent is not None, "op is not in a block"
        return Builder(op.parent, op.parent.ops.index(op), op.loc)

    def insert(self, op: Op) -> Op:
        if self.index is None:
            return self.block.append(op)
        self.block.insert(self.index, op)
        self.index += 1
        return op

    def create(self, name: str, operands: Sequence[Value], attrs: Mapping[str, object] | None = None,
               result_types: Sequence[TensorType] | None = None, regions: Sequence[Region] = (),
               loc: Location | None = None) -> Op:
        opdef = OPS.get(name)
        norm = opdef.normalize_attrs(attrs or {})
        if result_types is None:
            result_types = opdef.infer_types([v.type for v in operands], norm)
        return self.insert(Op(name, operands, result_types, norm, regions, loc or self.loc))

    def add(self, name: str, *operands: Value, **attrs: object) -> Value:
        """Create a single-result op and return its result."""
        return self.create(name, operands, attrs).result

    def ret(self, *values: Value) -> Op:
        return self.insert(Op(RETURN, values, [], loc=self.loc))


def new_function(module: Module, name: str, arg_types: Sequence[TensorType],
                 result_types: Sequence[TensorType] = (), arg_names: Sequence[str | None] = (),
                 ) -> tuple[Function, Builder]:
    """Add an empty function to `module` and return it with a builder at its body's end.

    `result_types` may be left empty and set when the return is built (see ``finish``).
    """
    func = module.add(Function(name, arg_types, result_types, arg_names))
    return func, Builder(func.body)


def finish(func: Function, builder: Builder, outputs: Sequence[Value]) -> Function:
    """Terminate `func` with ``return outputs`` and set its result types from them."""
    builder.ret(*outputs)
    func.result_types = [v.type for v in outputs]
    return func
