"""The runtime contract every backend returns: a callable :class:`Executable`.

``Executable.__call__`` checks each argument against the entry function's signature (naming
the argument and both types on mismatch), converts inputs to contiguous NumPy arrays without
copying when they already are, and returns NumPy arrays that the caller owns.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Sequence

import numpy as np

from xlalite.ir.core import Function, Module
from xlalite.ir.types import DType, TensorType


class ArgumentError(TypeError):
    """A call argument does not match the compiled signature."""


def _arg_name(func: Function, i: int) -> str:
    hint = func.args[i].name_hint
    return f"argument #{i} ('{hint}')" if hint else f"argument #{i}"


def check_type(func: Function, i: int, got: object) -> None:
    """Raise ArgumentError unless an array with `got`'s shape and dtype fits argument i."""
    want = func.arg_types[i]
    try:
        t = TensorType.of(got)  # type: ignore[arg-type]
    except TypeError:
        raise ArgumentError(f"{_arg_name(func, i)} of @{func.name} has unsupported dtype "
                            f"{got.dtype}; expected {want}") from None  # type: ignore[attr-defined]
    if t != want:
        raise ArgumentError(f"{_arg_name(func, i)} of @{func.name} expected {want}, got {t}")


def check_count(func: Function, args: Sequence[object]) -> None:
    if len(args) != len(func.args):
        raise ArgumentError(f"@{func.name} takes {len(func.args)} arguments, got {len(args)}")


Signature = list[tuple[tuple[int, ...], np.dtype]]


def signature(func: Function) -> Signature:
    """(shape, NumPy dtype) per argument: what the per-call fast path compares."""
    return [(t.shape, t.dtype.numpy) for t in func.arg_types]


def check_arguments(func: Function, args: Sequence[object],
                    expect: Signature | None = None) -> list[np.ndarray]:
    """Validate and convert call arguments for `func`; raises ArgumentError naming the culprit.
    With `expect` (``signature(func)``), a contiguous array of the right type is accepted in
    a few comparisons: call overhead is what small models (an MLP at batch 1) are made of."""
    check_count(func, args)
    out = []
    for i, arg in enumerate(args):
        if expect is not None and type(arg) is np.ndarray and arg.shape == expect[i][0] \
                and arg.dtype == expect[i][1] and arg.flags.c_contiguous:
            out.append(arg)
            continue
        arr = np.asarray(arg)
        check_type(func, i, arr)
        out.append(arr if arr.flags.c_contiguous else np.array(arr, order="C"))  # no copy when usable
    return out


class Executable(abc.ABC):
    """A compiled module's entry function, ready to call with NumPy arrays.

    Safe to call from several threads: calls of one executable take turns (`lock`), since
    they share its arena and scratch buffers. Generated kernels hold the GIL anyway, so
    turns cost no parallelism; an uncontended lock costs well under a microsecond a call.
    """

    def __init__(self, module: Module, entry: str | None = None):
        self.module = module
        self.function = module.get(entry) if entry else module.main
        self.lock = threading.Lock()
        self._expect = signature(self.function)

    @property
    def arg_types(self) -> list[TensorType]:
        return self.function.arg_types

    @property
    def result_types(self) -> list[TensorType]:
        return self.function.result_types

    def __call__(self, *args: object) -> tuple[np.ndarray, ...]:
        """Run on NumPy-convertible arguments; returns one array per function result."""
        checked = check_arguments(self.function, args, self._expect)
        with self.lock:
            return self.run(checked)

    @abc.abstractmethod
    def run(self, args: list[np.ndarray]) -> tuple[np.ndarray, ...]:
        """Run on already-validated contiguous arrays."""


__all__ = ["ArgumentError", "DType", "Executable", "check_arguments", "check_count", "check_type"]
