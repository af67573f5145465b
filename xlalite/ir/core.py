"""SSA IR core: Value, Op, Block, Region, Function, Module.

Invariants maintained by the methods here (never by callers poking at fields):

* every operand of an op records a use on its value (``value.uses``), so replacing or erasing
  keeps use-def chains exact;
* an op belongs to at most one block; a block to at most one region or function.

There is no global graph: IR is created through :class:`xlalite.ir.builder.Builder` on an
explicit :class:`Module`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from xlalite.ir.diagnostics import Location
from xlalite.ir.dialect import OPS
from xlalite.ir.names import RETURN, TERMINATORS, YIELD, is_discardable  # noqa: F401
from xlalite.ir.types import TensorType

if TYPE_CHECKING:
    from xlalite.ops.registry import OpDef


class Value:
    """An SSA value: a block argument or an op result."""

    __slots__ = ("type", "owner", "index", "uses", "name_hint")

    def __init__(self, type: TensorType, owner: Op | Block, index: int, name_hint: str | None = None):
        self.type = type
        self.owner = owner
        self.index = index
        self.uses: list[Use] = []
        self.name_hint = name_hint

    @property
    def defining_op(self) -> Op | None:
        """The op producing this value, or None for a block argument."""
        return self.owner if isinstance(self.owner, Op) else None

    @property
    def users(self) -> list[Op]:
        return [u.op for u in self.uses]

    def replace_all_uses_with(self, new: Value) -> None:
        """Redirect every use of this value to `new` (types must match)."""
        if new is self:
            return
        if new.type != self.type:
            raise ValueError(f"cannot replace a value of type {self.type} with one of {new.type}")
        for use in list(self.uses):
            use.op.set_operand(use.index, new)

    def __repr__(self) -> str:
        where = self.owner.name if isinstance(self.owner, Op) else "block arg"
        return f"<Value #{self.index} of {where}: {self.type}>"


class Use:
    """Operand slot `index` of `op` uses a value."""

    __slots__ = ("op", "index")

    def __init__(self, op: Op, index: int):
        self.op = op
        self.index = index


class Op:
    """An operation: registered name, operands, typed attributes, results, optional regions."""

    def __init__(
        self,
        name: str,
        operands: Sequence[Value],
        result_types: Sequence[TensorType],
        attributes: Mapping[str, Any] | None = None,
        regions: Sequence[Region] = (),
        loc: Location | None = None,
    ):
        self.name = name
        self._operands: list[Value] = []
        self.attributes: dict[str, Any] = dict(attributes or {})
        self.results = [Value(t, self, i) for i, t in enumerate(result_types)]
        self.regions: list[Region] = []
        self.parent: Block | None = None
        self.loc = loc
        for v in operands:
            self._operands.append(v)
            v.uses.append(Use(self, len(self._operands) - 1))
        for r in regions:
            self.add_region(r)

    # --- operands -----------------------------------------------------------------------
    @property
    def operands(self) -> tuple[Value, ...]:
        return tuple(self._operands)

    def set_operand(self, index: int, value: Value) -> None:
        old = self._operands[index]
        old.uses = [u for u in old.uses if not (u.op is self and u.index == index)]
        self._operands[index] = value
        value.uses.append(Use(self, index))

    def set_operands(self, values: Sequence[Value]) -> None:
        """Replace the whole operand list (an op gaining or losing operands, e.g. a loop
        whose invariant code moved out)."""
        self.drop_operands()
        for v in values:
            self._operands.append(v)
            v.uses.append(Use(self, len(self._operands) - 1))

    def drop_operands(self) -> None:
        """Remove all operand uses (before erasing, or when an op is being rebuilt)."""
        for i, v in enumerate(self._operands):
            v.uses = [u for u in v.uses if not (u.op is self and u.index == i)]
        self._operands = []

    # --- results and structure -----------------------------------------------------------
    @property
    def result(self) -> Value:
        """The single result (raises for ops with zero or several results)."""
        if len(self.results) != 1:
            raise ValueError(f"'{self.name}' has {len(self.results)} results, not 1")
        return self.results[0]

    @property
    def result_types(self) -> list[TensorType]:
        return [r.type for r in self.results]

    @property
    def opdef(self) -> OpDef:
        """This op's declaration, from the op table the ops layer registers into."""
        return OPS.get(self.name)  # type: ignore[return-value]

    def add_region(self, region: Region) -> None:
        region.parent = self
        self.regions.append(region)

    def walk(self) -> Iterator[Op]:
        """This op, then every op nested in its regions (pre-order)."""
        yield self
        for region in self.regions:
            for block in region.blocks:
                for op in list(block.ops):
                    yield from op.walk()

    def erase(self) -> None:
        """Remove this op from its block. Its results must have no remaining uses."""
        for r in self.results:
            if r.uses:
                users = ", ".join(sorted({u.op.name for u in r.uses}))
                raise ValueError(f"cannot erase '{self.name}': result #{r.index} is used by {users}")
        for region in self.regions:
            for block in region.blocks:
                for op in reversed(list(block.ops)):
                    op.drop_operands()
        self.drop_operands()
        if self.parent is not None:
            self.parent.ops.remove(self)
            self.parent = None

    def __repr__(self) -> str:
        return f"<Op {self.name}>"


class Block:
    """A list of ops with typed arguments; the last op of a function body is ``return``."""

    def __init__(self, arg_types: Sequence[TensorType] = (), arg_names: Sequence[str | None] = ()):
        names = list(arg_names) + [None] * (len(arg_types) - len(arg_names))
        self.args = [Value(t, self, i, n) for i, (t, n) in enumerate(zip(arg_types, names))]
        self.ops: list[Op] = []
        self.parent: Region | Function | None = None

    def add_arg(self, type: TensorType, name: str | None = None) -> Value:
        """Append a block argument (a function gains a parameter while it is being traced)."""
        value = Value(type, self, len(self.args), name)
        self.args.append(value)
        return value

    def append(self, op: Op) -> Op:
        return self.insert(len(self.ops), op)

    def insert(self, index: int, op: Op) -> Op:
        if op.parent is not None:
            raise ValueError(f"'{op.name}' already belongs to a block")
        op.parent = self
        self.ops.insert(index, op)
        return op

    def insert_before(self, anchor: Op, op: Op) -> Op:
        return self.insert(self.ops.index(anchor), op)

    @property
    def terminator(self) -> Op | None:
        return self.ops[-1] if self.ops else None


class Region:
    """A list of blocks owned by an op (e.g. the body of ``xl.fusion``)."""

    def __init__(self, blocks: Sequence[Block] = ()):
        self.blocks: list[Block] = []
        self.parent: Op | None = None
        for b in blocks:
            self.append(b)

    def append(self, block: Block) -> Block:
        block.parent = self
        self.blocks.append(block)
        return block


class Function:
    """A named function: one entry block whose arguments are the parameters."""

    def __init__(
        self,
        name: str,
        arg_types: Sequence[TensorType],
        result_types: Sequence[TensorType],
        arg_names: Sequence[str | None] = (),
        loc: Location | None = None,
    ):
        self.name = name
        self.body = Block(arg_types, arg_names)
        self.body.parent = self
        self.result_types = list(result_types)
        self.loc = loc
        self.attributes: dict[str, Any] = {}

    @property
    def args(self) -> list[Value]:
        return self.body.args

    @property
    def arg_types(self) -> list[TensorType]:
        return [a.type for a in self.body.args]

    @property
    def return_op(self) -> Op:
        term = self.body.terminator
        if term is None or term.name != RETURN:
            raise ValueError(f"function @{self.name} has no return")
        return term

    @property
    def outputs(self) -> tuple[Value, ...]:
        return self.return_op.operands

    def walk(self) -> Iterator[Op]:
        """Every op in the body and nested regions, pre-order."""
        for op in list(self.body.ops):
            yield from op.walk()

    def __str__(self) -> str:
        from xlalite.ir.printer import print_function

        return print_function(self)


class Module:
    """A collection of functions, looked up by name."""

    def __init__(self, functions: Sequence[Function] = ()):
        self.functions: list[Function] = list(functions)

    def add(self, func: Function) -> Function:
        self.functions.append(func)
        return func

    def get(self, name: str) -> Function:
        for f in self.functions:
            if f.name == name:
                return f
        have = ", ".join("@" + f.name for f in self.functions) or "none"
        raise KeyError(f"no function @{name} in module (have: {have})")

    @property
    def main(self) -> Function:
        """The entry function: ``@main`` when present, else the first one."""
        if not self.functions:
            raise ValueError("module has no functions")
        for f in self.functions:
            if f.name == "main":
                return f
        return self.functions[0]

    def clone(self) -> Module:
        """A deep copy (ops, regions, attributes); constants' literals are shared (immutable)."""
        out = Module()
        for f in self.functions:
            g = Function(f.name, f.arg_types, f.result_types,
                         [a.name_hint for a in f.args], f.loc)
            g.attributes = dict(f.attributes)
            mapping: dict[Value, Value] = dict(zip(f.args, g.args))
            for op in f.body.ops:
                g.body.append(clone_op(op, mapping))
            out.add(g)
        return out

    def __str__(self) -> str:
        from xlalite.ir.printer import print_module

        return print_module(self)


def clone_op(op: Op, mapping: dict[Value, Value]) -> Op:
    """A detached deep copy of `op` (regions included) whose operands are looked up in
    `mapping`; the clone's results (and its regions' block arguments) are added to it."""
    regions = []
    for region in op.regions:
        new_region = Region()
        for block in region.blocks:
            new_block = Block([a.type for a in block.args], [a.name_hint for a in block.args])
            mapping.update(zip(block.args, new_block.args))
            for inner in block.ops:
                new_block.append(clone_op(inner, mapping))
            new_region.append(new_block)
        regions.append(new_region)
    new = Op(op.name, [mapping[v] for v in op.operands], op.result_types, dict(op.attributes),
             regions, op.loc)
    mapping.update(zip(op.results, new.results))
    return new


def instantiate(template: Op, operands: list[Value]) -> Op:
    """A new op like `template` (name, types, attributes, deep-copied regions) applied to
    `operands`; for templates stored without operands, such as recorded custom rules."""
    copy = clone_op(template, dict(zip(template.operands, operands)))
    regions = list(copy.regions)
    copy.regions = []
    return Op(template.name, operands, template.result_types, dict(template.attributes), regions,
              template.loc)
