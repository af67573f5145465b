"""Reuse of large result buffers across calls (a caching allocator, as PyTorch's).

A fresh multi-megabyte array costs a page fault per 4 KiB the first time it is written, which
can be as slow as the computation itself. Results are handed out as views of pooled buffers;
when the caller's view is garbage collected the buffer returns to the pool, and it is reused
only if nothing else still refers to it (a slice the caller kept, for instance), checked by
reference count. Small arrays bypass the pool.
"""

from __future__ import annotations

import math
import sys
import weakref

import numpy as np

MIN_BYTES = 1 << 20  # below this, allocation is cheap
MAX_PER_KEY = 4  # buffers kept per (shape, dtype)


class OutputPool:
    def __init__(self) -> None:
        self._free: dict[tuple, list[np.ndarray]] = {}
        # weak references to the views handed out, kept alive here with what their callback
        # returns to the pool (cheaper than weakref.finalize: a call costs microseconds)
        self._out: dict[int, tuple[weakref.ref, tuple, np.ndarray]] = {}
        self.reused = 0
        self.allocated = 0

    def empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        if math.prod(shape) * dtype.itemsize < MIN_BYTES:
            return np.empty(shape, dtype)
        key = (shape, dtype)
        free = self._free.get(key, [])
        base = None
        while free:
            candidate = free.pop()
            # references: `candidate` here and getrefcount's argument; any more is a live view
            if sys.getrefcount(candidate) <= 2:
                base = candidate
                self.reused += 1
                break
        if base is None:
            base = np.empty(shape, dtype)
            self.allocated += 1
        view = base.view()
        ref = weakref.ref(view, self._release)
        self._out[id(ref)] = (ref, key, base)
        return view

    def _release(self, ref: weakref.ref) -> None:
        entry = self._out.pop(id(ref), None)
        if entry is None:
            return
        _, key, base = entry
        free = self._free.setdefault(key, [])
        if len(free) < MAX_PER_KEY:
            free.append(base)
