"""Keeping BLAS at one thread while an executable's kernels split BLAS work over Numba's.

Numba kernels call SciPy's OpenBLAS (``np.dot`` in nopython mode and blas.py do). When a
kernel runs matrix products from several Numba threads, each call must stay on its caller's
thread: a multi-threaded OpenBLAS would wake its own pool on the same cores (measured: 8 ms
against 1 ms for LeNet's second convolution). :class:`SingleThreadedBlas` sets every loaded
BLAS to one thread for the duration of a call and restores the user's setting afterwards.
"""

from __future__ import annotations

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
