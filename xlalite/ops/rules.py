"""Small helpers shared by shape/dtype rules. Each raises ShapeError with a full sentence."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from xlalite.ir.types import DType, TensorType
from xlalite.ops.registry import ShapeError


def require_dtype(op: str, what: str, t: TensorType, allowed: Collection[DType]) -> None:
    if t.dtype not in allowed:
        names = ", ".join(d.value for d in DType if d in allowed)  # declaration order
        raise ShapeError(f"'{op}' {what} must have element type {names}; got {t}")


def require_same(op: str, types: Sequence[TensorType], hint: str = "") -> TensorType:
    first = types[0]
    for t in types[1:]:
        if t != first:
            shown = " and ".join(str(x) for x in types)
            raise ShapeError(f"'{op}' requires operands of the same type, got {shown}{hint}")
    return first


def require_axis(op: str, axis: int, rank: int, what: str = "axis") -> None:
    if not 0 <= axis < rank:
        raise ShapeError(f"'{op}' {what} {axis} is out of range for rank {rank}")


def require_axes(op: str, axes: Sequence[int], rank: int, what: str = "axes") -> None:
    for a in axes:
        require_axis(op, a, rank, what)
    if len(set(axes)) != len(axes):
        raise ShapeError(f"'{op}' {what} {list(axes)} contains duplicates")


def require_len(op: str, name: str, values: Sequence, n: int) -> None:
    if len(values) != n:
        raise ShapeError(f"'{op}' attribute '{name}' needs {n} entries (one per dim), got {len(values)}")


def require_pairs(op: str, name: str, pairs: Sequence[Sequence[int]], n: int) -> None:
    require_len(op, name, pairs, n)
    for p in pairs:
        if len(p) != 2:
            raise ShapeError(f"'{op}' attribute '{name}' entries must be [low, high] pairs, got {list(p)}")


def windowed_dim(op: str, size: int, window: int, stride: int, lo: int, hi: int, dil: int = 1) -> int:
    """Output length of a strided, padded, dilated window sweep; must be at least 1."""
    if stride < 1 or dil < 1:
        raise ShapeError(f"'{op}' strides and dilations must be >= 1, got {stride} and {dil}")
    if lo < 0 or hi < 0:
        raise ShapeError(f"'{op}' padding must be non-negative, got [{lo}, {hi}]")
    span = dil * (window - 1) + 1
    padded = size + lo + hi
    if window < 1 or span > padded:
        raise ShapeError(
            f"'{op}' window of extent {span} does not fit the padded input of size {padded}"
        )
    return (padded - span) // stride + 1
