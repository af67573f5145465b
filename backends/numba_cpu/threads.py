"""Threads for kernels: BLAS held at one thread while kernels split BLAS work over threads,
and a small pool that runs the per-slot shares of a library call (convolutions) at once.

Numba kernels call SciPy's OpenBLAS (``np.dot`` in nopython mode and blas.py do). When a
kernel runs matrix products from several Numba threads, each call must stay on its caller's
thread: a multi-threaded OpenBLAS would wake its own pool on the same cores (measured: 8 ms
against 1 ms for LeNet's second convolution). :class:`SingleThreadedBlas` sets every loaded
BLAS to one thread for the duration of a call and restores the user's setting afterwards.
"""

from __future__ import annotations

import os

# Numba's OpenMP workers spin for a while after each parallel kernel; the convolution slots
# run on this module's own threads right after such kernels, and on a machine with as many
# cores as workers the spinning takes their cores (LeNet's step: 10-12 ms spinning, 8 ms
# not). libgomp reads this when Numba first starts its threads; a user's setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from concurrent.futures import ThreadPoolExecutor

import scipy.linalg.cython_blas  # noqa: F401  (loads SciPy's BLAS, the one kernels call)
import threadpoolctl

_CONTROLLERS: list | None = None


def _blas_controllers() -> list:
    global _CONTROLLERS
    if _CONTROLLERS is None:  # inspecting the loaded libraries takes milliseconds: do it once
        _CONTROLLERS = threadpoolctl.ThreadpoolController().select(user_api="blas").lib_controllers
    return _CONTROLLERS


class SingleThreadedBlas:
    """Context manager: every BLAS library at one thread inside, as before outside."""

    def __enter__(self) -> SingleThreadedBlas:
        self._saved = [(c, c.get_num_threads()) for c in _blas_controllers()]
        for c, n in self._saved:
            if n != 1:
                c.set_num_threads(1)
        return self

    def __exit__(self, *exc: object) -> None:
        for c, n in self._saved:
            if n != 1:
                c.set_num_threads(n)


_POOL: ThreadPoolExecutor | None = None


def run_slots(fn, slots: int, *args: object) -> None:
    """Run ``fn(slot, slots, *args)`` for every slot, slot 0 on this thread and the others on
    pool threads; `fn` must release the GIL (``nogil=True``). Returns once all are done and
    re-raises the first error."""
    global _POOL
    if slots == 1:
        fn(0, 1, *args)
        return
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=max(1, (os.cpu_count() or 2) - 1),
                                   thread_name_prefix="xlalite-slot")
    pending = [_POOL.submit(fn, slot, slots, *args) for slot in range(1, slots)]
    fn(0, slots, *args)
    for f in pending:
        f.result()
