"""Collectives in generated drivers: runtime calls between kernels, on the driver's buffers.

A collective op is not a kernel: the driver calls the world's communicator
(``xlalite.distributed.world()``, looked up at each call) with the operand's and the
result's buffers, which MPI reads and writes in place (no copies on the CPU). numba-cuda
stages device buffers through the host (`host=True`); CUDA-aware MPI is not detected yet.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from xlalite import distributed
from xlalite.ir.core import Op
from xlalite.ops.collective import checked_world


def all_reduce(x: np.ndarray, out: np.ndarray, op: str) -> None:
    distributed.world().all_reduce_into(x, out, op)


def start_all_reduce(x: np.ndarray, out: np.ndarray, op: str) -> distributed.Request:
    """Start the all-reduce of `x` into `out`; the caller waits on the request before `out`
    is read, and keeps `x` unwritten until then (plan-memory does: Trait.ASYNC)."""
    return distributed.world().start_all_reduce(x, out, op)


def all_gather(x: np.ndarray, out: np.ndarray, axis: int, size: int) -> None:
    comm = checked_world(size)
    if axis == 0:  # rank blocks are contiguous in out: MPI writes them directly
        comm.all_gather_into(x, out.reshape((size, *x.shape)))
    else:
        out[...] = comm.all_gather(x, axis)


def reduce_scatter(x: np.ndarray, out: np.ndarray, op: str, axis: int, size: int) -> None:
    out[...] = checked_world(size).reduce_scatter(x, op, axis)


def broadcast_from(x: np.ndarray, out: np.ndarray, root: int) -> None:
    if out is not x:
        np.copyto(out, x)
    distributed.world().broadcast_into(out, root)


def staged(fn: Any, x: Any, out: Any, *attrs: Any) -> None:
    """`fn` on host copies of device arrays `x` and `out`, the result copied back."""
    host_out = out.copy_to_host()
    fn(x.copy_to_host(), host_out, *attrs)
    out.copy_to_device(host_out)


def call(op: Op, operand: str, dest: str, host: bool = False) -> str:
    """The driver line running collective `op` from buffer `operand` into `dest`."""
    a = op.attributes
    name = op.name.removeprefix("xl.")
    args = {"all_reduce": [a.get("op")], "all_gather": [a.get("axis"), a.get("size")],
            "reduce_scatter": [a.get("op"), a.get("axis"), a.get("size")],
            "broadcast_from": [a.get("root")]}[name]
    shown = ", ".join(repr(v) for v in args)
    if host:
        return f"collectives.staged(collectives.{name}, {operand}, {dest}, {shown})"
    return f"collectives.{name}({operand}, {dest}, {shown})"
