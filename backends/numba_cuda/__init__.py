"""The numba-cuda backend: fused groups become ``@cuda.jit`` kernels launched by a small
driver over one device arena; arguments and results stay on the device between calls.

It needs the ``numba-cuda`` package (``pip install 'xlalite[cuda]'``) and an NVIDIA GPU, or
Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, set before Numba is imported), which
runs the same kernels in Python: slow, for tests on tiny shapes.
"""

from __future__ import annotations

from xlalite.backends.base import Backend, register_backend
from xlalite.backends.numba_cpu import legalize
from xlalite.backends.numba_cuda.codegen import generate, supported
from xlalite.ir.core import Module
from xlalite.ir.verifier import verify
from xlalite.passes.pipelines import compose


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
class NumbaCUDABackend(Backend):
    """Generated Numba-CUDA kernels; the interpreter's results to rounding."""

    name = "numba-cuda"

    def default_pipeline(self) -> str:
        return compose("simplify", "fuse", "finalize")

    def supports(self, op_name: str) -> bool:
        return supported(op_name)

    def compile(self, module: Module, entry: str | None = None):
        verify(module)
        func = module.get(entry) if entry else module.main
        legalize(func)
        program = generate(func)  # codegen errors come before any device is needed
        problem = cuda_error()
        if problem is not None:
            raise RuntimeError(f"numba-cuda: {problem}")
        from xlalite.backends.numba_cuda.executable import CudaExecutable

        return CudaExecutable(module, program)

    def emit_source(self, module: Module) -> str:
        from xlalite.backends.numba_cuda.executable import HEADER

        parts = []
        for func in verify(module).functions:
            legalize(func)
            prog = generate(func)
            parts.append(f"# ===== @{func.name} =====\n" + prog.source(HEADER + "@cuda.jit(cache=True)\n"))
        return "\n\n".join(parts)


__all__ = ["NumbaCUDABackend", "cuda_error"]
