"""Helpers for local rewrites: a Rewriter that records what changed, and value matchers.

Canonicalization patterns are plain functions ``pattern(op, rw) -> bool`` declared next to
their op (``OpDef.patterns``). A pattern inspects `op`, and if it applies, builds replacement
IR with ``rw.builder(op)`` and calls ``rw.replace(op, values)``; it returns whether it changed
anything. The worklist driver (``passes/canonicalize.py``) revisits whatever ``rw`` reports.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from xlalite.ir.attributes import DenseElements
from xlalite.ir.builder import Builder
from xlalite.ir.core import Op, Value


class _TrackingBuilder(Builder):
    def __init__(self, anchor: Op, rw: Rewriter):
        assert anchor.parent is not None
        super().__init__(anchor.parent, anchor.parent.ops.index(anchor), anchor.loc)
        self.rw = rw

    def insert(self, op: Op) -> Op:
        self.rw.touched.append(op)
        return super().insert(op)


class Rewriter:
    """Applies replacements and remembers the ops whose inputs or existence changed."""

    def __init__(self) -> None:
        self.touched: list[Op] = []
        self.rewrites = 0

    def builder(self, anchor: Op) -> Builder:
        """A builder inserting before `anchor`; created ops are revisited by the driver."""
        return _TrackingBuilder(anchor, self)

    def replace(self, op: Op, values: Sequence[Value]) -> None:
        """Redirect `op`'s results to `values` and erase `op`."""
        for result, new in zip(op.results, values, strict=True):
            self.touched.extend(u.op for u in result.uses)
            result.replace_all_uses_with(new)
        self.erase(op)

    def erase(self, op: Op) -> None:
        self.touched.extend(v.defining_op for v in op.operands if v.defining_op is not None)
        op.erase()
        self.rewrites += 1

    def take_touched(self) -> list[Op]:
        out, self.touched = self.touched, []
        return out


def constant_of(v: Value) -> DenseElements | None:
    """The literal of `v` if an ``xl.constant`` defines it."""
    op = v.defining_op
    if op is not None and op.name == "xl.constant":
        return op.attributes["value"]
    return None


def splat_of(v: Value) -> float | int | bool | None:
    """The repeated scalar of a splat constant (None if `v` is not one)."""
    c = constant_of(v)
    if c is None or not c.is_splat:
        return None
    return c.array.reshape(-1)[0].item()


def is_splat(v: Value, value: float) -> bool:
    """Whether `v` is a splat constant equal to `value` (-0.0 counts as 0)."""
    s = splat_of(v)
    return s is not None and s == value


def splat_constant(builder: Builder, like: Value, value: object) -> Value:
    """A splat constant with `like`'s type."""
    dense = DenseElements(np.asarray(value, like.type.dtype.numpy), like.type)
    return builder.add("xl.constant", value=dense)
