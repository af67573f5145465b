"""Collectives over the processes of a multi-process run (``xlalite.distributed``).

Every rank runs the same program; a collective combines the ranks' values of its operand.
The ops have effects (``pure=False``): they are never folded, merged, hoisted or removed,
because every rank must call the same collectives in the same order. Ops whose result shape
depends on the number of ranks carry it as ``size`` (the world size when traced); running on
a world of another size is an error. References call the current world's communicator, so
the interpreter runs them on any world, one process included.

VJPs (the cotangent of a replicated result is per rank, as in JAX's SPMD transposes):
all_reduce(sum) -> all_reduce(sum), all_reduce(mean) -> all_reduce(mean), all_gather ->
reduce_scatter(sum), reduce_scatter(sum) -> all_gather, broadcast_from(root) -> the sum of
the cotangents on the root and zero elsewhere. Gradients through max/min reductions are an
error (JAX has no transpose rule for pmax/pmin either).
"""

from __future__ import annotations

import numpy as np

from xlalite import distributed
from xlalite.ir.attributes import EnumAttr, IntAttr
from xlalite.ir.core import Op, Value
from xlalite.ir.types import ALL_DTYPES, FLOATS, NUMERIC, DType, TensorType
from xlalite.ops.emit import Emitter
from xlalite.ops.registry import AttrSpec, FusionKind, OpDef, ShapeError, Trait, register
from xlalite.ops.rules import require_dtype

REDUCTIONS = distributed.REDUCTIONS
_EXAMPLE = [TensorType((4, 3), DType.F32)]


def checked_world(size: int | None = None) -> distributed.Communicator:
    """The world's communicator, checked to have `size` ranks when given."""
    comm = distributed.world()
    if size is not None and comm.size != size:
        raise distributed.CollectiveError(
            f"the program was traced for {size} ranks but runs on a world of {comm.size}")
    return comm


def _check_axis(name: str, x: TensorType, axis: int) -> None:
    if not 0 <= axis < x.rank:
        raise ShapeError(f"'{name}' axis {axis} is out of range for {x}")


# --- all_reduce ------------------------------------------------------------------------

def _all_reduce_infer(x: TensorType, op: str) -> TensorType:
    require_dtype("xl.all_reduce", "operand", x, FLOATS if op == "mean" else NUMERIC)
    return x


def _all_reduce_reference(x: np.ndarray, op: str) -> np.ndarray:
    return checked_world().all_reduce(x, op)


def _vjp_all_reduce(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    kind = op.attributes["op"]
    if kind not in ("sum", "mean"):
        raise ValueError(f"xl.all_reduce{{op={kind}}} has no gradient (JAX's pmax/pmin "
                                  "have none either); reduce with sum or mean")
    return [e.op("xl.all_reduce", g, op=kind)]


ALL_REDUCE = register(OpDef(
    "xl.all_reduce", "Elementwise sum, mean, max or min of the operand over all ranks; every "
    "rank gets the result.",
    ("x",), _all_reduce_infer, _all_reduce_reference, FusionKind.OPAQUE,
    attrs=(AttrSpec("op", EnumAttr(*REDUCTIONS), default="sum", doc="sum, mean, max or min"),),
    example=lambda: (_EXAMPLE, {"op": "sum"}), pure=False, vjp=_vjp_all_reduce,
    traits=frozenset({Trait.ASYNC}),
))


# --- all_gather / reduce_scatter -------------------------------------------------------

def _all_gather_infer(x: TensorType, axis: int, size: int) -> TensorType:
    require_dtype("xl.all_gather", "operand", x, ALL_DTYPES)
    _check_axis("xl.all_gather", x, axis)
    if size < 1:
        raise ShapeError(f"'xl.all_gather' size must be at least 1, got {size}")
    shape = list(x.shape)
    shape[axis] *= size
    return x.with_shape(tuple(shape))


def _all_gather_reference(x: np.ndarray, axis: int, size: int) -> np.ndarray:
    return checked_world(size).all_gather(x, axis)


def _vjp_all_gather(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    a = op.attributes
    return [e.op("xl.reduce_scatter", g, op="sum", axis=a["axis"], size=a["size"])]


ALL_GATHER = register(OpDef(
    "xl.all_gather", "Every rank's operand concatenated in rank order along `axis` (`size` "
    "ranks).",
    ("x",), _all_gather_infer, _all_gather_reference, FusionKind.OPAQUE,
    attrs=(AttrSpec("axis", IntAttr(), default=0), AttrSpec("size", IntAttr(), doc="ranks")),
    example=lambda: (_EXAMPLE, {"axis": 0, "size": 1}), pure=False, vjp=_vjp_all_gather,
))


def _reduce_scatter_infer(x: TensorType, op: str, axis: int, size: int) -> TensorType:
    require_dtype("xl.reduce_scatter", "operand", x, FLOATS if op == "mean" else NUMERIC)
    _check_axis("xl.reduce_scatter", x, axis)
    if size < 1 or x.shape[axis] % size:
        raise ShapeError(f"'xl.reduce_scatter' dim {axis} of {x} does not split into {size} "
                         "equal blocks")
    shape = list(x.shape)
    shape[axis] //= size
    return x.with_shape(tuple(shape))


def _reduce_scatter_reference(x: np.ndarray, op: str, axis: int, size: int) -> np.ndarray:
    return checked_world(size).reduce_scatter(x, op, axis)


def _vjp_reduce_scatter(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    a = op.attributes
    if a["op"] != "sum":
        raise ValueError(f"xl.reduce_scatter{{op={a['op']}}} has no gradient; use sum")
    return [e.op("xl.all_gather", g, axis=a["axis"], size=a["size"])]


REDUCE_SCATTER = register(OpDef(
    "xl.reduce_scatter", "The operand reduced over all ranks, split into `size` equal blocks "
    "along `axis`: rank r gets block r.",
    ("x",), _reduce_scatter_infer, _reduce_scatter_reference, FusionKind.OPAQUE,
    attrs=(AttrSpec("op", EnumAttr(*REDUCTIONS), default="sum", doc="sum, mean, max or min"),
           AttrSpec("axis", IntAttr(), default=0), AttrSpec("size", IntAttr(), doc="ranks")),
    example=lambda: (_EXAMPLE, {"op": "sum", "axis": 0, "size": 1}), pure=False,
    vjp=_vjp_reduce_scatter,
))


# --- broadcast_from --------------------------------------------------------------------

def _broadcast_infer(x: TensorType, root: int) -> TensorType:
    require_dtype("xl.broadcast_from", "operand", x, ALL_DTYPES)
    if root < 0:
        raise ShapeError(f"'xl.broadcast_from' root must be a rank, got {root}")
    return x


def _broadcast_reference(x: np.ndarray, root: int) -> np.ndarray:
    return checked_world().broadcast(x, root)


def _vjp_broadcast(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y_r = x_root on every rank  =>  dx = sum_r g_r on the root, 0 elsewhere. Which rank
    this is is known when the gradient is traced (each process traces its own program), so
    the mask is a constant."""
    if not op.results[0].type.dtype.is_float:
        raise ValueError("xl.broadcast_from of an integer tensor has no gradient")
    total = e.op("xl.all_reduce", g, op="sum")
    mine = float(distributed.rank() == op.attributes["root"])
    return [e.mul(total, e.const(total, mine))]


BROADCAST_FROM = register(OpDef(
    "xl.broadcast_from", "Rank `root`'s operand, on every rank.",
    ("x",), _broadcast_infer, _broadcast_reference, FusionKind.OPAQUE,
    attrs=(AttrSpec("root", IntAttr(), default=0),),
    example=lambda: (_EXAMPLE, {"root": 0}), pure=False, vjp=_vjp_broadcast,
))

COLLECTIVES = frozenset({"xl.all_reduce", "xl.all_gather", "xl.reduce_scatter",
                         "xl.broadcast_from"})
