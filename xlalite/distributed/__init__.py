"""Multi-process runs: the world of processes a program runs in, and its collectives.

Launch a script on N processes with MPI (``mpiexec -n 2 python train.py``; across machines
with a host file, or ``srun`` under Slurm) and call :func:`init` first: every process runs the
same program (SPMD) and :func:`rank` tells it which one it is. Not launched under MPI, the
world is this one process and every collective is the identity, so the same script runs
unchanged on a laptop.

``xl.all_reduce`` / ``xl.all_gather`` / ``xl.reduce_scatter`` / ``xl.broadcast_from`` are IR
ops that call the world's communicator when they run; ``nn.parallel.DistributedDataParallel``
averages gradients with them. See ``docs/distributed.md``.
"""

from __future__ import annotations

import os
import sys
import time
from types import TracebackType

from xlalite.distributed.comm import (
    REDUCTIONS,
    CollectiveError,
    Communicator,
    LocalCommunicator,
    MpiCommunicator,
    Request,
    Watchdog,
)

#: environment variables an MPI launcher sets (MPICH/Hydra and Slurm's PMI, Open MPI, PMIx)
LAUNCHER_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK")
DEFAULT_TIMEOUT = 300.0

_world: Communicator | None = None


def launched_under_mpi() -> bool:
    return any(v in os.environ for v in LAUNCHER_VARS)


def init(timeout: float | None = None) -> Communicator:
    """Join the world (idempotent) and return its communicator.

    Under an MPI launcher: an :class:`MpiCommunicator` over ``COMM_WORLD`` (mpi4py must be
    installed: ``pip install 'xlalite[mpi]'``), whose collectives give up after `timeout`
    seconds (default ``$XLALITE_COLLECTIVE_TIMEOUT`` or 300) with an error naming the
    collective and the rank; an uncaught exception on any rank then aborts the whole job,
    so the other ranks exit with an error instead of waiting for it. Otherwise a one-process
    world."""
    global _world
    if _world is not None:
        return _world
    if timeout is None:
        timeout = float(os.environ.get("XLALITE_COLLECTIVE_TIMEOUT", DEFAULT_TIMEOUT))
    if launched_under_mpi():
        try:
            world: Communicator = MpiCommunicator(timeout=timeout)
        except ImportError:
            raise RuntimeError("launched under MPI but mpi4py is not installed; install "
                               "xlalite's mpi extra: pip install 'xlalite[mpi]'") from None
        if world.size > 1:
            _abort_on_uncaught(world)
    else:
        world = LocalCommunicator()
    _world = world
    return world


def world() -> Communicator:
    """The communicator of the current world (joining it on first use)."""
    return _world if _world is not None else init()


def set_world(comm: Communicator | None) -> Communicator | None:
    """Replace the world's communicator (tests, sub-communicators); returns the old one.
    None forgets it, so the next :func:`world` joins again."""
    global _world
    old, _world = _world, comm
    return old


def rank() -> int:
    return world().rank


def world_size() -> int:
    return world().size


def barrier() -> None:
    world().barrier()


def _abort_on_uncaught(comm: Communicator) -> None:
    previous = sys.excepthook

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        previous(kind, value, tb)
        sys.stderr.write(f"xlalite.distributed: rank {comm.rank} failed; aborting all "
                         f"{comm.size} ranks\n")
        sys.stderr.flush()
        if isinstance(comm, MpiCommunicator):
            # the launcher forwards output asynchronously and drops what it has not sent
            # when the job is aborted: give it a moment, or the traceback arrives cut off
            time.sleep(0.5)
            comm.abort(1)

    sys.excepthook = hook


__all__ = ["REDUCTIONS", "CollectiveError", "Communicator",
           "LocalCommunicator", "MpiCommunicator", "Request", "Watchdog", "barrier", "init",
           "launched_under_mpi", "rank", "set_world", "world", "world_size"]
