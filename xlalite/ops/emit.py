"""A small IR emitter for writing VJP rules as readable math.

Rules receive an :class:`Emitter` and call ``e.mul(g, e.cos(x))`` instead of spelling out
builder calls; constants take the type of the value they combine with.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from xlalite.ir.attributes import DenseElements
from xlalite.ir.builder import Builder
from xlalite.ir.core import Function, Value
from xlalite.ir.types import DType, TensorType


class Emitter:
    """Typed helpers over a Builder; every method returns the new Value."""

    def __init__(self, builder: Builder,
                 differentiate: Callable[[Function, Sequence[int]], Function] | None = None):
        self.b = builder
        self._differentiate = differentiate

    def differentiate(self, func: Function, wrt: Sequence[int]) -> Function:
        """The VJP of `func` with respect to arguments `wrt`, taking one cotangent per output:
        ``(args..., cts...) -> (outputs..., grads...)``. Rules of region ops differentiate
        their bodies with it; the autodiff pass provides it."""
        if self._differentiate is None:
            raise ValueError("this emitter cannot differentiate regions (use the autodiff pass)")
        return self._differentiate(func, wrt)

    def op(self, name: str, *xs: Value, **attrs: object) -> Value:
        return self.b.add(name, *xs, **attrs)

    # constants -----------------------------------------------------------------------
    def const(self, like: Value | TensorType, value: float) -> Value:
        t = like if isinstance(like, TensorType) else like.type
        return self.op("xl.constant", value=DenseElements(np.asarray(value, t.dtype.numpy), t))

    def zeros(self, like: Value | TensorType) -> Value:
        return self.const(like, 0)

    # elementwise ----------------------------------------------------------------------
    def add(self, a: Value, b: Value) -> Value: return self.op("xl.add", a, b)
    def sub(self, a: Value, b: Value) -> Value: return self.op("xl.sub", a, b)
    def mul(self, a: Value, b: Value) -> Value: return self.op("xl.mul", a, b)
    def div(self, a: Value, b: Value) -> Value: return self.op("xl.div", a, b)
    def neg(self, a: Value) -> Value: return self.op("xl.neg", a)
    def exp(self, a: Value) -> Value: return self.op("xl.exp", a)
    def log(self, a: Value) -> Value: return self.op("xl.log", a)
    def sin(self, a: Value) -> Value: return self.op("xl.sin", a)
    def cos(self, a: Value) -> Value: return self.op("xl.cos", a)
    def sign(self, a: Value) -> Value: return self.op("xl.sign", a)
    def pow(self, a: Value, b: Value) -> Value: return self.op("xl.pow", a, b)

    def scale(self, a: Value, c: float) -> Value:
        """a * c for a Python number c."""
        return self.mul(a, self.const(a, c))

    def compare(self, a: Value, b: Value, direction: str) -> Value:
        return self.op("xl.compare", a, b, direction=direction)

    def select(self, pred: Value, a: Value, b: Value) -> Value:
        return self.op("xl.select", pred, a, b)

    def where_zero(self, pred: Value, a: Value) -> Value:
        """a where pred, else 0."""
        return self.select(pred, a, self.zeros(a))

    def cast(self, a: Value, dtype: DType) -> Value:
        return a if a.type.dtype is dtype else self.op("xl.cast", a, dtype=dtype)

    # shape ----------------------------------------------------------------------------
    def reshape(self, a: Value, shape: Sequence[int]) -> Value:
        shape = tuple(shape)
        return a if a.type.shape == shape else self.op("xl.reshape", a, shape=shape)

    def transpose(self, a: Value, perm: Sequence[int]) -> Value:
        perm = tuple(perm)
        return a if perm == tuple(range(len(perm))) else self.op("xl.transpose", a, perm=perm)

    def broadcast(self, a: Value, shape: Sequence[int], dims: Sequence[int]) -> Value:
        shape, dims = tuple(shape), tuple(dims)
        if a.type.shape == shape and dims == tuple(range(len(shape))):
            return a
        return self.op("xl.broadcast_in_dim", a, shape=shape, dims=dims)

    def sum(self, a: Value, axes: Sequence[int]) -> Value:
        axes = tuple(sorted(axes))
        return a if not axes else self.op("xl.reduce_sum", a, axes=axes)

    def slice(self, a: Value, start: Sequence[int], limit: Sequence[int],
              stride: Sequence[int] | None = None) -> Value:
        stride = tuple(stride) if stride is not None else (1,) * a.type.rank
        return self.op("xl.slice", a, start=tuple(start), limit=tuple(limit), stride=stride)

    def pad(self, a: Value, low: Sequence[int], high: Sequence[int],
            interior: Sequence[int] | None = None, value: float = 0) -> Value:
        interior = tuple(interior) if interior is not None else (0,) * a.type.rank
        fill = self.const(TensorType((), a.type.dtype), value)
        return self.op("xl.pad", a, fill, low=tuple(low), high=tuple(high), interior=interior)

    def unbroadcast(self, g: Value, shape: Sequence[int], dims: Sequence[int]) -> Value:
        """Sum `g` back to an operand of `shape` that ``broadcast_in_dim(dims)`` expanded."""
        shape = tuple(shape)
        summed = [d for d in range(g.type.rank) if d not in dims]
        kept = [d for d in dims]
        partial = self.sum(g, summed)  # dims not mapped from the operand
        # dims the operand had as size 1 but the result broadcast: sum them, keep as 1
        expanded = [i for i, d in enumerate(kept) if shape[i] == 1 and g.type.shape[d] != 1]
        partial = self.sum(partial, expanded)
        return self.reshape(partial, shape)
