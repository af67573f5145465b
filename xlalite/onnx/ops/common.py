"""Small helpers the handlers share: operands as tensors, NumPy broadcasting, dtypes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import xlalite.frontend.numpy_api as xnp
from xlalite.frontend.tensor import TensorBase, bind


def t(x: Any) -> TensorBase:
    """`x` as a tensor (arrays become constants of their own dtype)."""
    return xnp.asarray(x)


def broadcast(*xs: Any) -> list[TensorBase]:
    """Operands broadcast to their common shape (ONNX's multidirectional broadcasting)."""
    ts = [t(x) for x in xs]
    shape = np.broadcast_shapes(*(x.shape for x in ts))
    return [x if x.shape == shape else xnp.broadcast_to(x, shape) for x in ts]


def binary(name: str, a: Any, b: Any, **attrs: Any) -> TensorBase:
    """The op `name` on `a` and `b` broadcast, both of `a`'s dtype (ONNX requires one type)."""
    a = t(a)
    x, y = broadcast(a, xnp.astype(t(b), a.dtype))
    return bind(name, [x, y], **attrs)


def compare(direction: str, a: Any, b: Any) -> TensorBase:
    return binary("xl.compare", a, b, direction=direction)


def select(pred: Any, a: Any, b: Any) -> TensorBase:
    p, x, y = broadcast(pred, a, b)
    return bind("xl.select", [p, x, y])


def scalar(value: float, like: TensorBase) -> TensorBase:
    """A rank-0 constant of `like`'s dtype."""
    return t(np.asarray(value, like.dtype))


def is_float(x: TensorBase) -> bool:
    return x.type.dtype.is_float


def ints(value: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in np.asarray(value).reshape(-1))


def unsqueeze(x: TensorBase, axes: Sequence[int]) -> TensorBase:
    """Insert size-1 dims at `axes` (positions in the result, already non-negative)."""
    shape = list(x.shape)
    for a in sorted(axes):
        shape.insert(a, 1)
    return xnp.reshape(x, tuple(shape))
