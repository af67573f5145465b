"""Collectives callable from user code, under ``jit`` and eagerly (``xlalite.distributed``).

Each binds one collective op; under ``jit`` it becomes part of the compiled program and runs
when the program does, on every rank. Ops whose result shape depends on the number of ranks
are traced for the current world's size.
"""

from __future__ import annotations

from xlalite import distributed
from xlalite.frontend.numpy_api import ArrayLike, asarray
from xlalite.frontend.staging import stage_module
from xlalite.frontend.tensor import TensorBase, bind


def all_reduce(x: ArrayLike, op: str = "sum") -> TensorBase:
    """`x` reduced elementwise over all ranks (sum, mean, max or min); every rank gets it."""
    return bind("xl.all_reduce", [asarray(x)], op=op)


def all_gather(x: ArrayLike, axis: int = 0) -> TensorBase:
    """Every rank's `x` concatenated in rank order along `axis`."""
    x = asarray(x)
    return bind("xl.all_gather", [x], axis=axis % max(x.ndim, 1), size=distributed.world_size())


def reduce_scatter(x: ArrayLike, op: str = "sum", axis: int = 0) -> TensorBase:
    """`x` reduced over all ranks and split into equal blocks along `axis`: this rank's."""
    x = asarray(x)
    return bind("xl.reduce_scatter", [x], op=op, axis=axis % max(x.ndim, 1),
                size=distributed.world_size())


def broadcast_from(x: ArrayLike, root: int = 0) -> TensorBase:
    """Rank `root`'s `x`, on every rank."""
    return bind("xl.broadcast_from", [asarray(x)], root=root)


stage_module(globals(), ("all_reduce", "all_gather", "reduce_scatter", "broadcast_from"))
