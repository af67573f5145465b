"""Communicators: the collectives xlalite programs call, on one process or over MPI.

A :class:`Communicator` moves NumPy buffers between the processes of one job. Every
collective is called by every rank in the same order with the same shapes (SPMD, as in
MPI, Horovod and JAX's multi-controller model). :class:`LocalCommunicator` is the world of
one process; :class:`MpiCommunicator` wraps an ``mpi4py`` communicator and passes buffers to
MPI without copies.

A collective that some rank never joins would hang MPI forever. MpiCommunicator therefore
runs each one under a watchdog: after `timeout` seconds the rank prints a CollectiveTimeout
naming the collective, its sequence number, the shape and the rank, and aborts the job
(ranks that called different collective sequences end up here, as do the survivors of a rank
that died before reaching the collective). Start-and-wait all-reduces (``start_all_reduce``)
are watched while they are waited for.
"""

from __future__ import annotations

import abc
import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

REDUCTIONS = ("sum", "mean", "max", "min")


class CollectiveError(RuntimeError):
    """A collective that cannot complete: bad arguments, or ranks that disagree."""


class Request:
    """A started collective; ``wait()`` finishes it (and is a no-op when it already is)."""

    def wait(self) -> None:
        return None


class Communicator(abc.ABC):
    """The collectives of one group of processes (`size` of them; this one is `rank`)."""

    rank: int
    size: int

    @abc.abstractmethod
    def start_all_reduce(self, send: np.ndarray, recv: np.ndarray, op: str) -> Request:
        """Start reducing `send` elementwise over the ranks into `recv` (same shape and
        dtype; `send` may be `recv`). ``op`` is one of REDUCTIONS."""

    @abc.abstractmethod
    def all_gather_into(self, send: np.ndarray, recv: np.ndarray) -> None:
        """Every rank's `send` stacked in rank order along a new leading axis of `recv`."""

    @abc.abstractmethod
    def broadcast_into(self, buf: np.ndarray, root: int) -> None:
        """`buf` on every rank becomes rank `root`'s `buf`."""

    @abc.abstractmethod
    def barrier(self) -> None:
        """Return once every rank has called barrier."""

    # --- conveniences over the primitives above -----------------------------------------

    def all_reduce_into(self, send: np.ndarray, recv: np.ndarray, op: str = "sum") -> None:
        self.start_all_reduce(send, recv, op).wait()

    def all_reduce(self, x: np.ndarray, op: str = "sum") -> np.ndarray:
        out = np.empty_like(np.ascontiguousarray(x))
        self.all_reduce_into(np.ascontiguousarray(x), out, op)
        return out

    def all_gather(self, x: np.ndarray, axis: int = 0) -> np.ndarray:
        """Every rank's `x` concatenated in rank order along `axis`."""
        x = np.ascontiguousarray(x)
        stacked = np.empty((self.size, *x.shape), x.dtype)
        self.all_gather_into(x, stacked)
        return np.concatenate(list(stacked), axis=axis) if x.ndim else stacked

    def broadcast(self, x: np.ndarray, root: int = 0) -> np.ndarray:
        buf = np.array(x, copy=True, order="C")
        self.broadcast_into(buf, root)
        return buf

    def reduce_scatter(self, x: np.ndarray, op: str = "sum", axis: int = 0) -> np.ndarray:
        """`x` reduced over the ranks, then split in `size` equal blocks along `axis`: this
        rank's block (the all_gather of the blocks is the all_reduce)."""
        n = x.shape[axis]
        if n % self.size:
            raise CollectiveError(f"reduce_scatter: dim {axis} of shape {x.shape} does not split "
                                  f"into {self.size} equal blocks")
        whole = self.all_reduce(x, op)
        step = n // self.size
        return np.ascontiguousarray(
            np.take(whole, np.arange(self.rank * step, (self.rank + 1) * step), axis=axis))


class LocalCommunicator(Communicator):
    """The world of one process: every collective is the identity (a copy)."""

    rank, size = 0, 1

    def start_all_reduce(self, send: np.ndarray, recv: np.ndarray, op: str) -> Request:
        _check_op(op)
        if recv is not send:
            np.copyto(recv, send)
        return Request()

    def all_gather_into(self, send: np.ndarray, recv: np.ndarray) -> None:
        recv[0] = send

    def broadcast_into(self, buf: np.ndarray, root: int) -> None:
        _check_root(root, 1)

    def barrier(self) -> None:
        return None


class _MpiRequest(Request):
    def __init__(self, comm: MpiCommunicator, req: Any, what: tuple, finish: Any = None):
        self.comm, self.req, self.what, self.finish, self.done = comm, req, what, finish, False

    def wait(self) -> None:
        if self.done:
            return
        with self.comm.guard(self.what):
            self.req.Wait()
        self.done = True
        if self.finish is not None:
            self.finish()


class Watchdog:
    """Ends the job when a collective outlives its deadline: a daemon thread that checks the
    one collective this rank is in every `period` seconds. A rank blocked inside MPI cannot
    raise, so the watchdog prints which collective it was (name, sequence number, shape,
    rank) and aborts every rank, instead of letting the job hang."""

    def __init__(self, comm: MpiCommunicator, period: float = 0.05):
        self.comm, self.period = comm, period
        self.current: tuple[tuple, float] | None = None  # (what, deadline), set by guard()
        threading.Thread(target=self._run, name="xlalite-collective-watchdog", daemon=True).start()

    def overdue(self, now: float) -> str | None:
        """The error message when the current collective is past its deadline at `now`."""
        current = self.current
        if current is None or now <= current[1]:
            return None
        (kind, seq, dtype, shape) = current[0]
        c = self.comm
        return (f"rank {c.rank} of {c.size}: {kind} #{seq} of {dtype}{list(shape)} did not "
                f"complete in {c.timeout:g} s; another rank called a different collective "
                "(or different shapes), or stopped before reaching it")

    def _run(self) -> None:
        while True:
            time.sleep(self.period)
            message = self.overdue(time.monotonic())
            if message is not None:
                sys.stderr.write(f"xlalite.distributed.CollectiveTimeout: {message}\n")
                sys.stderr.flush()
                time.sleep(0.5)  # let the launcher forward the message before the abort
                self.comm.abort(1)


class MpiCommunicator(Communicator):
    """Collectives over an mpi4py communicator (``MPI.COMM_WORLD`` by default): blocking MPI
    calls (the fastest algorithms), each watched by a :class:`Watchdog` that ends the job
    after `timeout` seconds (see the module docstring)."""

    def __init__(self, comm: Any = None, timeout: float = 300.0):
        from mpi4py import MPI

        self.MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.timeout = timeout
        self.calls = 0  # collectives started: the sequence number in error messages
        self._ops = {"sum": MPI.SUM, "mean": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}
        self.watchdog = Watchdog(self)

    def _what(self, kind: str, x: np.ndarray) -> tuple:
        self.calls += 1
        return (kind, self.calls, x.dtype, x.shape)  # formatted only if it times out

    @contextlib.contextmanager
    def guard(self, what: tuple) -> Iterator[None]:
        """Run a blocking MPI call under the watchdog's deadline."""
        self.watchdog.current = (what, time.monotonic() + self.timeout)
        try:
            yield
        finally:
            self.watchdog.current = None

    def all_reduce_into(self, send: np.ndarray, recv: np.ndarray, op: str = "sum") -> None:
        _check_op(op)
        dog = self.watchdog  # guard() inlined: this is the hot path of a training step
        dog.current = (self._what(f"all_reduce({op})", send), time.monotonic() + self.timeout)
        try:
            self.comm.Allreduce(self.MPI.IN_PLACE if send is recv else send, recv,
                                op=self._ops[op])
        finally:
            dog.current = None
        if op == "mean":
            np.divide(recv, self.size, out=recv, casting="unsafe")

    def start_all_reduce(self, send: np.ndarray, recv: np.ndarray, op: str) -> Request:
        _check_op(op)
        what = self._what(f"all_reduce({op})", send)
        req = self.comm.Iallreduce(self.MPI.IN_PLACE if send is recv else send, recv,
                                   op=self._ops[op])
        finish = None
        if op == "mean":
            def finish() -> None:
                np.divide(recv, self.size, out=recv, casting="unsafe")
        return _MpiRequest(self, req, what, finish)

    def all_gather_into(self, send: np.ndarray, recv: np.ndarray) -> None:
        with self.guard(self._what("all_gather", send)):
            self.comm.Allgather(np.ascontiguousarray(send), recv)

    def broadcast_into(self, buf: np.ndarray, root: int) -> None:
        _check_root(root, self.size)
        with self.guard(self._what(f"broadcast(root={root})", buf)):
            self.comm.Bcast(buf, root=root)

    def barrier(self) -> None:
        with self.guard(self._what("barrier", np.empty(0))):
            self.comm.Barrier()

    def abort(self, code: int = 1) -> None:
        """End every rank of the job (MPI_Abort): what a rank that failed must do, so the
        others do not wait for it."""
        self.comm.Abort(code)


def _check_op(op: str) -> None:
    if op not in REDUCTIONS:
        raise CollectiveError(f"unknown reduction {op!r}; expected one of {', '.join(REDUCTIONS)}")


def _check_root(root: int, size: int) -> None:
    if not 0 <= root < size:
        raise CollectiveError(f"broadcast root {root} is not a rank of a world of {size}")
