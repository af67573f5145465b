"""One preallocated byte buffer holding every planned intermediate of an executable."""

from __future__ import annotations

import numpy as np

from xlalite.ir.types import TensorType

ALIGN = 64


class Arena:
    """A 64-byte-aligned buffer; ``view(offset, type)`` is a typed array over part of it."""

    def __init__(self, nbytes: int):
        raw = np.empty(nbytes + ALIGN, dtype=np.uint8)
        start = (-raw.ctypes.data) % ALIGN  # first aligned byte
        self.buffer = raw[start:start + nbytes]
        self.nbytes = nbytes

    def view(self, offset: int, t: TensorType) -> np.ndarray:
        if offset < 0 or offset + t.nbytes > self.nbytes:
            raise ValueError(f"{t} at offset {offset} does not fit the {self.nbytes}-byte arena")
        return self.buffer[offset:offset + t.nbytes].view(t.dtype.numpy).reshape(t.shape)
