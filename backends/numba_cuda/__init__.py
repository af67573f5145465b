"""The numba-cuda backend: fused groups become ``@cuda.jit`` kernels launched by a small
driver over one device arena; arguments and results stay on the device between calls.

It needs the ``numba-cuda`` package (``pip install 'xlalite[cuda]'``) and an NVIDIA GPU, or
Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, set before Numba is imported), which
runs the same kernels in Python: slow, for tests on tiny shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from xlalite.backends.base import register_backend
from xlalite.backends.numba_common.program import Program
from xlalite.backends.numba_common.scalar import ScalarTable
from xlalite.backends.numba_common.target import NumbaTarget
from xlalite.backends.numba_cuda.codegen import OP_KERNELS, generate
from xlalite.backends.numba_cuda.scalar import CUDA_SCALARS
from xlalite.ir.core import Function, Module
from xlalite.passes.pipelines import compose
from xlalite.runtime.executable import Executable


def cuda_error() -> str | None:
    """Why numba-cuda cannot run here, or None when it can (a GPU or the simulator)."""
    try:
        from numba import cuda
    except ImportError as e:  # pragma: no cover - numba-cuda is a declared dependency
        return f"numba-cuda is not installed ({e}); pip install 'xlalite[cuda]'"
    if not cuda.is_available():
        return ("no CUDA GPU or driver found; set NUMBA_ENABLE_CUDASIM=1 (before importing "
                "numba) to run on Numba's CUDA simulator")
    return None


@register_backend
@dataclass(frozen=True)
class NumbaCUDABackend(NumbaTarget):
    """Generated Numba-CUDA kernels; the interpreter's results to rounding."""

    name: ClassVar[str] = "numba-cuda"
    scalars: ClassVar[ScalarTable] = CUDA_SCALARS
    op_kernels: ClassVar[frozenset[str]] = OP_KERNELS
    half: ClassVar[bool] = False  # its kernels have no h2f/f2h (CUDA's own f16 is not wired)

    def default_pipeline(self) -> str:
        return compose("legalize", "simplify", "fuse", "finalize")

    def generate(self, func: Function) -> Program[Any]:
        self.check_supported(func)
        return generate(func)

    def load(self, module: Module, program: Program[Any]) -> Executable:
        problem = cuda_error()  # codegen errors came first: they need no device
        if problem is not None:
            raise RuntimeError(f"numba-cuda: {problem}")
        from xlalite.backends.numba_cuda.executable import CudaExecutable

        return CudaExecutable(module, program)


__all__ = ["NumbaCUDABackend", "cuda_error"]
