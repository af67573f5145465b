"""Control flow in the Numba targets' generated code: the loop and branch structure of
``xl.cond`` / ``xl.while`` / ``xl.scan`` written once, for numba-cpu (inside one ``@njit``
function) and numba-cuda (in the host driver, launching body kernels) alike.

* every body intermediate gets a buffer allocated once, before any loop (shapes are static),
  and reused by every iteration; nested loops are written inline the same way;
* a carry is double-buffered: the body writes the next value into the spare buffer, which
  becomes the current one by swapping names (no copy); the final value is copied into the
  result buffer only when it ended in the spare one;
* a per-step output is written straight into its slice of the stacked result;
* a value a body yields as it is (a block argument, a constant, one value yielded twice) is
  copied.

A target subclasses :class:`ControlWriter` and says how to allocate, copy, take a slice,
read a scalar, name a constant and run one body op.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

from xlalite.backends.base import CodegenError
from xlalite.ir.core import Block, Op, Value
from xlalite.ir.types import DType, TensorType
from xlalite.ops.control import scan_parts, while_parts
from xlalite.ops.registry import Trait, has_trait


class ControlWriter(abc.ABC):
    """Writes the code of control-flow ops as lines of Python (see the module docstring)."""

    def __init__(self) -> None:
        self.prologue: list[str] = []  # allocations, before every loop
        self.lines: list[str] = []
        self.fresh = 0

    @abc.abstractmethod
    def alloc_expr(self, t: TensorType) -> str:
        """An expression allocating a buffer of type `t`."""

    @abc.abstractmethod
    def copy(self, indent: int, src: str, dst: str) -> None:
        """Emit a copy of buffer `src` into `dst` (same type)."""

    @abc.abstractmethod
    def slot(self, indent: int, stacked: str, t: TensorType, step: str) -> str:
        """A name for slice `step` of buffer `stacked` of type `t`."""

    @abc.abstractmethod
    def scalar(self, name: str) -> str:
        """An expression reading the value of a rank-0 buffer."""

    @abc.abstractmethod
    def constant(self, op: Op) -> str:
        """The name of `op`'s literal in the generated code."""

    def length(self, n: int) -> str:
        """How the code names a scan's trip count (a target may pass it as an argument, so
        one compiled loop serves every length)."""
        return str(n)

    @abc.abstractmethod
    def call(self, op: Op, ins: list[str], dest: str, indent: int) -> None:
        """Emit the code computing single-result body op `op` into `dest`."""

    # --- helpers -------------------------------------------------------------------------
    def name(self, prefix: str) -> str:
        self.fresh += 1
        return f"{prefix}{self.fresh}"

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def alloc(self, t: TensorType) -> str:
        """A buffer allocated once, before every loop."""
        name = self.name("b")
        self.prologue.append(f"{name} = {self.alloc_expr(t)}")
        return name

    # --- blocks --------------------------------------------------------------------------
    def block(self, block: Block, args: list[str], targets: Sequence[str | None], indent: int
              ) -> None:
        """The ops of `block` with its arguments named `args`; yielded value i is left in
        buffer `targets[i]` (written there by its op where possible)."""
        names: dict[Value, str] = dict(zip(block.args, args))
        term = block.terminator
        assert term is not None
        direct: dict[Value, str] = {}
        for v, target in zip(term.operands, targets):
            producer = v.defining_op
            if target is not None and producer is not None and v not in direct \
                    and producer.name != "xl.constant":
                direct[v] = target
        for op in block.ops[:-1]:
            if op.name == "xl.constant":
                names[op.results[0]] = self.constant(op)
                continue
            dests = [direct.get(r) or self.alloc(r.type) for r in op.results]
            names.update(zip(op.results, dests))
            ins = [names[v] for v in op.operands]
            if has_trait(op, Trait.CONTROL):
                self.control(op, ins, dests, indent)
            else:
                self.call(op, ins, dests[0], indent)
        for v, target in zip(term.operands, targets):
            if target is not None and direct.get(v) != target:
                self.copy(indent, names[v], target)

    # --- control flow --------------------------------------------------------------------
    def control(self, op: Op, ins: list[str], dests: list[str], indent: int) -> None:
        if op.name == "xl.cond":
            self.cond(op, ins, dests, indent)
        elif op.name == "xl.while":
            self.while_(op, ins, dests, indent)
        elif op.name == "xl.scan":
            self.scan(op, ins, dests, indent)
        else:
            raise CodegenError(f"no code for control-flow op '{op.name}'")

    def cond(self, op: Op, ins: list[str], dests: list[str], indent: int) -> None:
        index, inputs = ins[0], ins[1:]
        n = len(op.regions)
        if op.operands[0].type.dtype.is_bool:
            tests = [f"if {self.scalar(index)}:", "else:"]
        else:
            k = self.name("i")
            self.emit(indent, f"{k} = min(max({self.scalar(index)}, 0), {n - 1})")
            tests = [f"{'if' if i == 0 else 'elif'} {k} == {i}:" for i in range(n - 1)] + ["else:"]
        for test, region in zip(tests, op.regions):
            self.emit(indent, test)
            self.emit(indent + 1, "pass")
            self.block(region.blocks[0], inputs, list(dests), indent + 1)

    def _carries(self, indent: int, init: list[str], dests: list[str], types: list[TensorType]
                 ) -> tuple[list[str], list[str]]:
        """Current and spare buffers of each carry, the current ones holding `init`."""
        cur, spare = [], []
        for src, dst, t in zip(init, dests, types):
            c, s = self.name("cur"), self.name("nxt")
            self.copy(indent, src, dst)
            self.emit(indent, f"{c} = {dst}")
            self.emit(indent, f"{s} = {self.alloc(t)}")
            cur.append(c)
            spare.append(s)
        return cur, spare

    def _swap(self, indent: int, cur: list[str], spare: list[str], parity: str) -> None:
        for c, s in zip(cur, spare):
            self.emit(indent, f"{c}, {s} = {s}, {c}")
        self.emit(indent, f"{parity} = 1 - {parity}")

    def _settle(self, indent: int, cur: list[str], dests: list[str], parity: str) -> None:
        """After an odd number of swaps the final carries are in the spare buffers."""
        if cur:
            self.emit(indent, f"if {parity} == 1:")
            for c, d in zip(cur, dests):
                self.copy(indent + 1, c, d)

    def while_(self, op: Op, ins: list[str], dests: list[str], indent: int) -> None:
        consts, init = while_parts(op)
        k = len(consts)
        cur, spare = self._carries(indent, ins[k:], dests, op.result_types)
        go, parity = self.alloc(TensorType((), DType.BOOL)), self.name("par")
        self.emit(indent, f"{parity} = 0")
        self.emit(indent, "while True:")
        self.block(op.regions[0].blocks[0], ins[:k] + cur, [go], indent + 1)
        self.emit(indent + 1, f"if not {self.scalar(go)}:")
        self.emit(indent + 2, "break")
        self.block(op.regions[1].blocks[0], ins[:k] + cur, list(spare), indent + 1)
        self._swap(indent + 1, cur, spare, parity)
        self._settle(indent, cur, dests, parity)

    def scan(self, op: Op, ins: list[str], dests: list[str], indent: int) -> None:
        consts, init, xs = scan_parts(op)
        k, c, n = len(consts), len(init), op.attributes["length"]
        cur, spare = self._carries(indent, ins[k:k + c], dests[:c], op.result_types[:c])
        parity, step, t = self.name("par"), self.name("step"), self.name("t")
        self.emit(indent, f"{parity} = 0")
        count = self.length(n)
        self.emit(indent, f"for {step} in range({count}):")
        inner = indent + 1
        self.emit(inner, f"{t} = {count} - 1 - {step}" if op.attributes["reverse"]
                  else f"{t} = {step}")
        x_slices = [self.slot(inner, name, v.type, t) for name, v in zip(ins[k + c:], xs)]
        y_slots = [self.slot(inner, name, r.type, t)
                   for name, r in zip(dests[c:], op.results[c:])]
        self.block(op.regions[0].blocks[0], ins[:k] + cur + x_slices,
                   list(spare) + y_slots, inner)
        self._swap(inner, cur, spare, parity)
        self._settle(indent, cur, dests[:c], parity)
