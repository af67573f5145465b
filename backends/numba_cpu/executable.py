"""The numba-cpu Executable: loaded kernels, constants, one arena, and the driver."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np

from xlalite.backends.numba_common import collectives
from xlalite.backends.numba_common.cache import load_module
from xlalite.backends.numba_common.driver import storage
from xlalite.backends.numba_common.workers import compile_jobs
from xlalite.backends.numba_cpu import blas, convlib
from xlalite.backends.numba_cpu import library as lib
from xlalite.backends.numba_cpu.codegen import CpuProgram
from xlalite.backends.numba_cpu.threads import SingleThreadedBlas, run_slots
from xlalite.ir.core import Module
from xlalite.runtime import profile
from xlalite.runtime.arena import Arena
from xlalite.runtime.executable import Executable
from xlalite.runtime.pool import OutputPool


class NumbaExecutable(Executable):
    """Calls run kernels over a preallocated arena; not safe to call from two threads at once
    (they would share the arena)."""

    def __init__(self, module: Module, program: CpuProgram):
        super().__init__(module, program.function.name)
        self.program = program
        # the library kernels are parallel functions: their machine code needs Numba's
        # threading layer loaded before it is linked, also into a serial kernel
        numba.get_num_threads()
        self._blas_limit = SingleThreadedBlas() if program.single_threaded_blas else None
        if self._blas_limit is not None:
            blas.warm_up()  # resolve BLAS on this thread before any worker thread needs it
        with profile.phase("load kernels"):
            self.kernels = [load_module(text) for text in program.modules()]
        self.arena = Arena(program.arena_bytes)
        self.scratch = Arena(program.scratch_bytes).buffer
        jobs: list[tuple[Any, list[object]]] = []
        loops: list[tuple[Any, list[object]]] = []
        for call in program.calls:  # compile now: the first call is not slow
            kernel = program.kernels[call.kernel]
            scratch = [self.scratch] if kernel.scratch else []
            slot: list[object] = [np.int64(0), np.int64(1)] if kernel.slotted else []
            (loops if kernel.prelude else jobs).append((
                self.kernels[call.kernel],
                slot + [np.empty((1,) * t.rank, storage(t.dtype)) for t in call.types]
                + scratch + [np.int64(n) for n in call.extents]))
        compile_jobs(jobs)
        compile_jobs(loops)  # loops link their body kernels, compiled just before
        self.views = tuple(self.arena.view(off, t).view(storage(t.dtype)) for off, t in program.views)
        self.consts = tuple(program.consts)
        self.pool = OutputPool()  # results are reused once the caller drops them
        namespace: dict[str, object] = {"np": np, "empty": self.pool.empty, "convlib": convlib,
                                        "blas": blas, "lib": lib, "run_slots": run_slots,
                                        "collectives": collectives}
        namespace.update({f"k{i}": fn for i, fn in enumerate(self.kernels)})
        exec(compile(program.driver, f"<xlalite driver @{module.main.name}>", "exec"), namespace)
        self._driver: Callable[..., tuple[np.ndarray, ...]] = namespace["run"]  # type: ignore[assignment]

    def run(self, args: list[np.ndarray]) -> tuple[np.ndarray, ...]:
        if self._blas_limit is None:
            return self._driver(args, self.consts, self.views, self.scratch)
        with self._blas_limit:
            return self._driver(args, self.consts, self.views, self.scratch)

    def source(self) -> str:
        """The generated kernels and driver, as Python source."""
        return self.program.source()
