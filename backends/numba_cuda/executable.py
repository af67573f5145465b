"""The numba-cuda Executable: device-resident constants and arena, kernels, the driver."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from xlalite.backends.numba_common import collectives
from xlalite.backends.numba_common.cache import load_module
from xlalite.backends.numba_common.program import Program
from xlalite.backends.numba_cuda.kernels import CudaKernel
from xlalite.ir.core import Module
from xlalite.runtime.device import DeviceArray
from xlalite.runtime.executable import Executable, check_count, check_type


def stored(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The device shape of an array: rank 0 is stored as one element (kernels.py)."""
    return shape or (1,)


class CudaExecutable(Executable):
    """Runs a program on the GPU. Arguments may be NumPy arrays (copied to the device) or
    :class:`DeviceArray` results of earlier calls (used where they are: no copy); results are
    DeviceArrays unless the call asks for NumPy. Not safe to call from two threads at once
    (they would share the arena)."""

    def __init__(self, module: Module, program: Program[CudaKernel]):
        from numba import cuda

        super().__init__(module, program.function.name)
        self.program = program
        self.cuda = cuda
        self.kernels = [load_module(text) for text in program.modules()]
        self.arena = cuda.device_array(max(program.arena_bytes, 1), dtype=np.uint8)
        self.views = tuple(self.arena[off:off + t.nbytes].view(t.dtype.numpy).reshape(stored(t.shape))
                           for off, t in program.views)
        self.consts = tuple(cuda.to_device(c.reshape(stored(c.shape))) for c in program.consts)
        namespace: dict[str, object] = {"np": np, "empty": self._empty, "copy": self._copy,
                                        "collectives": collectives}
        namespace.update({f"k{i}": fn for i, fn in enumerate(self.kernels)})
        exec(compile(program.driver, f"<xlalite cuda driver @{module.main.name}>", "exec"), namespace)
        self._driver: Callable[..., tuple] = namespace["run"]  # type: ignore[assignment]

    def _empty(self, shape: tuple[int, ...], dtype: type) -> object:
        return self.cuda.device_array(stored(shape), dtype=dtype)

    def _copy(self, array: object) -> object:
        out = self.cuda.device_array_like(array)
        out.copy_to_device(array)
        return out

    def to_device(self, args: tuple[object, ...]) -> list[object]:
        """Device arrays for the call: DeviceArrays as they are, the rest checked and copied."""
        check_count(self.function, args)
        out = []
        for i, arg in enumerate(args):
            if isinstance(arg, DeviceArray):
                check_type(self.function, i, arg)
                out.append(arg.data)
            else:
                host = np.asarray(arg)
                check_type(self.function, i, host)
                out.append(self.cuda.to_device(np.ascontiguousarray(host).reshape(stored(host.shape))))
        return out

    def __call__(self, *args: object, to_numpy: bool = False) -> tuple:
        device_args = self.to_device(args)
        with self.lock:  # calls share the arena: they take turns
            results = self._driver(device_args, self.consts, self.views)
        out = tuple(DeviceArray(r, t.shape) for r, t in zip(results, self.result_types, strict=True))
        return tuple(r.numpy() for r in out) if to_numpy else out

    def run(self, args: list[np.ndarray]) -> tuple:
        return self(*args)

    def source(self) -> str:
        """The generated kernels and driver, as the Python source that runs."""
        return self.program.source()
