"""The numba-cpu backend: fused groups become generated ``@njit`` kernels (BLAS for matmuls),
run by a small driver over one preallocated arena; kernels are cached on disk."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from xlalite.backends.base import register_backend
from xlalite.backends.numba_common.cache import STATS, clear_cache
from xlalite.backends.numba_common.program import Program
from xlalite.backends.numba_common.scalar import ScalarTable
from xlalite.backends.numba_common.target import NumbaTarget
from xlalite.backends.numba_cpu.codegen import CpuProgram, generate
from xlalite.backends.numba_cpu.executable import NumbaExecutable
from xlalite.backends.numba_cpu.ops import OP_KERNELS
from xlalite.backends.numba_cpu.scalar import scalars
from xlalite.ir.core import Function, Module
from xlalite.passes.pipelines import compose


@register_backend
@dataclass(frozen=True)
class NumbaCPUBackend(NumbaTarget):
    """Generated Numba kernels on the CPU.

    `parallel`: "auto" (prange for loops over 2^18 elements or more; matrix products and
    convolutions split over Numba's threads, with BLAS single-threaded inside them), true
    (prange for every loop) or false (serial kernels; BLAS keeps its own threads).
    `fastmath`: let LLVM reassociate float math (off: results match the interpreter closely).
    `exact_math`: call libm for f32 exp/tanh/logistic instead of the vectorizable
    approximations in mathlib.py (a few ulp apart; see its accuracy test).
    `overlap_collectives`: move each all-reduce up to where its operand is ready
    (schedule-collectives) and run it non-blocking under the kernels that follow. Off by
    default: with MPI's default progress an in-flight collective advances only inside MPI
    calls, and MPICH's non-blocking algorithms are slower (bench/README.md, Distributed).
    """

    name: ClassVar[str] = "numba-cpu"
    scalars: ClassVar[ScalarTable] = scalars(True)  # the widest table: supports() reads names
    op_kernels: ClassVar[frozenset[str]] = OP_KERNELS

    parallel: str | bool = "auto"
    fastmath: bool = False
    exact_math: bool = False
    overlap_collectives: bool = False

    def __post_init__(self) -> None:
        if self.parallel not in ("auto", True, False):
            raise ValueError(f"parallel must be auto, true or false, not {self.parallel!r}")

    def default_pipeline(self) -> str:
        # f16 widens before simplify, so the casts it adds are folded and CSE'd with the rest
        phases = ["legalize", "widen", "simplify", "reassociate", "fuse", "rows", "finalize"]
        if self.overlap_collectives:
            phases.insert(-1, "schedule")
        return compose(*phases)

    def generate(self, func: Function) -> CpuProgram:
        self.check_supported(func)
        return generate(func, self.parallel, self.exact_math, self.fastmath)

    def load(self, module: Module, program: Program[Any]) -> NumbaExecutable:
        assert isinstance(program, CpuProgram)
        return NumbaExecutable(module, program)


__all__ = ["STATS", "NumbaCPUBackend", "clear_cache"]
