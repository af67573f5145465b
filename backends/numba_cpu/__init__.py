"""The numba-cpu backend: fused groups become generated ``@njit`` kernels (BLAS for matmuls),
run by a small driver over one preallocated arena; kernels are cached on disk."""

from __future__ import annotations

from xlalite.backends.base import Backend, register_backend
from xlalite.backends.numba_cpu.cache import STATS, clear_cache
from xlalite.backends.numba_cpu.codegen import generate
from xlalite.backends.numba_cpu.executable import NumbaExecutable
from xlalite.backends.numba_cpu.ops import supported
from xlalite.ir.core import Function, Module
from xlalite.ir.rewrite import Rewriter
from xlalite.ir.verifier import verify
from xlalite.ops.registry import get_op
from xlalite.passes.pipelines import compose


def legalize(func: Function) -> None:
    """Inline custom_vjp ops (their backward rule only matters to autodiff)."""
    rw = Rewriter()
    for op in list(func.body.ops):
        if op.name == "xl.custom_vjp":
            for pattern in get_op(op.name).patterns:
                if pattern(op, rw):
                    break


@register_backend
class NumbaCPUBackend(Backend):
    """Generated Numba kernels on the CPU.

    `parallel`: "auto" (prange for loops over 2^18 elements or more; matrix products and
    convolutions split over Numba's threads, with BLAS single-threaded inside them), True
    (prange for every loop) or False (serial kernels; BLAS keeps its own threads).
    `fastmath`: let LLVM reassociate float math (off: results match the interpreter closely).
    `exact_math`: call libm for f32 exp/tanh/logistic instead of the vectorizable
    approximations in mathlib.py (a few ulp apart; see its accuracy test).
    """

    name = "numba-cpu"

    def __init__(self, parallel: str | bool = "auto", fastmath: bool = False,
                 exact_math: bool = False):
        self.parallel = parallel
        self.fastmath = fastmath
        self.exact_math = exact_math

    def default_pipeline(self) -> str:
        return compose("simplify", "reassociate", "fuse", "finalize")

    def supports(self, op_name: str) -> bool:
        return supported(op_name)

    def compile(self, module: Module, entry: str | None = None) -> NumbaExecutable:
        verify(module)
        func = module.get(entry) if entry else module.main
        legalize(func)
        return NumbaExecutable(module, generate(func, self.parallel, self.exact_math),
                               self.fastmath)

    def emit_source(self, module: Module) -> str:
        parts = []
        for func in verify(module).functions:
            legalize(func)
            prog = generate(func, self.parallel, self.exact_math)
            parts.append(f"# ===== @{func.name} =====\n" + prog.source(self.fastmath))
        return "\n\n".join(parts)


__all__ = ["STATS", "NumbaCPUBackend", "clear_cache"]
