"""Arrays that live in an accelerator's memory, as accelerator backends return them.

A :class:`DeviceArray` wraps a backend's device buffer (a Numba-CUDA device array for
numba-cuda). Passing it back into a compiled function costs no copy, which is how a training
step keeps parameters and optimizer state on the device; ``numpy()`` (or ``np.asarray``)
copies it to the host, like ``tensor.cpu().numpy()`` in PyTorch.
"""

from __future__ import annotations

import numpy as np


class DeviceArray:
    """An array in device memory: shape and dtype here, values on the device."""

    __slots__ = ("data", "_shape")

    def __init__(self, data: object, shape: tuple[int, ...] | None = None):
        self.data = data  # the backend's device array (copy_to_host(), shape, dtype)
        # the logical shape, when the device stores it differently (a scalar as one element)
        self._shape = tuple(data.shape) if shape is None else tuple(shape)  # type: ignore[attr-defined]

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.data.dtype)  # type: ignore[attr-defined]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def numpy(self) -> np.ndarray:
        """A host copy of the values."""
        return np.asarray(self.data.copy_to_host()).reshape(self._shape)  # type: ignore[attr-defined]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        host = self.numpy()
        return host if dtype is None else host.astype(dtype)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d device array")
        return self.shape[0]

    def item(self) -> object:
        return self.numpy().item()

    def __float__(self) -> float:
        return float(self.numpy())

    def __int__(self) -> int:
        return int(self.numpy())

    def __bool__(self) -> bool:
        return bool(self.numpy())

    def __repr__(self) -> str:
        return f"DeviceArray({np.array2string(self.numpy(), separator=', ')}, dtype={self.dtype})"
