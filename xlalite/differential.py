"""Differential checking for users: run a program on a target and on a reference (the NumPy
interpreter, the oracle) and report how far each output is from the reference.

``xlalite-opt f.xir --check-against=interpreter -t numba-cpu`` and ``xl.jit(f, check=True)``
use it; ``xlalite-reduce`` shrinks a program that disagrees (see ``tools/reduce.py``).
Tolerances follow the dtype: exact for integers and booleans, ``|a - r| <= atol + rtol * |r|``
for floats (NaN must meet NaN, an infinity the same infinity).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from xlalite.backends.base import Backend, get_backend
from xlalite.compiler import compile
from xlalite.ir.core import Function, Module
from xlalite.ir.types import DType, TensorType

#: (rtol, atol) per float dtype: a backend may reassociate sums and approximate transcendentals
TOLERANCES = {DType.F16: (1e-2, 1e-3), DType.F32: (1e-4, 1e-5), DType.F64: (1e-9, 1e-12)}


class CheckError(AssertionError):
    """A target disagrees with the reference; the message holds the per-output report."""


class InputError(ValueError):
    """Inputs that do not fit the function (the message names the argument and both types)."""


def random_inputs(func: Function, seed: int = 0) -> list[np.ndarray]:
    """One array per argument: floats standard-normal, integers in [0, 8), booleans fair."""
    rng = np.random.default_rng(seed)
    out = []
    for arg in func.args:
        t = arg.type
        a: np.ndarray
        if t.dtype.is_float:
            a = rng.standard_normal(t.shape)
        elif t.dtype is DType.BOOL:
            a = rng.random(t.shape) < 0.5
        else:
            a = rng.integers(0, 8, t.shape)
        out.append(np.asarray(a, dtype=t.dtype.numpy))
    return out


def load_inputs(func: Function, path: str) -> list[np.ndarray]:
    """The arguments from an ``.npz`` file: by argument name, else as ``arg0``, ``arg1``..."""
    with np.load(path, allow_pickle=False) as data:  # no pickles: a loaded file runs no code
        out = []
        for i, arg in enumerate(func.args):
            names = [n for n in (arg.name_hint, f"arg{i}") if n]
            key = next((n for n in names if n in data.files), None)
            if key is None:
                raise InputError(f"{path} has no array for argument '{names[0]}' (#{i}); it has "
                                 f"{', '.join(data.files) or 'none'}")
            a = data[key]
            try:
                got = TensorType.of(a)
            except TypeError as e:
                raise InputError(f"{path}: array '{key}': {e}") from None
            if got != arg.type:
                raise InputError(f"{path}: argument '{names[0]}' (#{i}) is {arg.type}, the file "
                                 f"gives {got}")
            out.append(a)
    return out


@dataclass
class OutputError:
    """How far one output is from the reference."""

    index: int
    type: TensorType
    max_abs: float
    max_rel: float
    mismatched: int  # elements outside the tolerance

    @property
    def ok(self) -> bool:
        return self.mismatched == 0


@dataclass
class Report:
    """The comparison of one program on `target` against `reference`."""

    target: str
    reference: str
    outputs: list[OutputError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outputs)

    def __str__(self) -> str:
        lines = [f"{self.target} against {self.reference}: "
                 + ("agree" if self.ok else "DISAGREE"),
                 f"  {'output':<8}{'type':<22}{'max abs err':>13}{'max rel err':>13}{'mismatched':>12}"]
        for o in self.outputs:
            lines.append(f"  #{o.index:<7}{str(o.type):<22}{o.max_abs:>13.3g}{o.max_rel:>13.3g}"
                         f"{o.mismatched:>12}")
        return "\n".join(lines) + "\n"


def compare_arrays(index: int, got: np.ndarray, want: np.ndarray) -> OutputError:
    t = TensorType.of(want)
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape or got.dtype != want.dtype:
        return OutputError(index, t, float("inf"), float("inf"), max(want.size, 1))
    if not t.dtype.is_float:
        bad = int(np.count_nonzero(got != want))
        diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
        worst = float(diff.max()) if diff.size else 0.0
        return OutputError(index, t, worst, worst, bad)
    rtol, atol = TOLERANCES.get(t.dtype, TOLERANCES[DType.F32])
    g, w = got.astype(np.float64), want.astype(np.float64)
    same_special = (np.isnan(g) & np.isnan(w)) | (np.isinf(w) & (g == w))
    finite = np.isfinite(g) & np.isfinite(w)
    diff = np.where(finite, np.abs(g - w), 0.0)
    rel = np.where(finite, diff / np.maximum(np.abs(w), np.finfo(np.float64).tiny), 0.0)
    bad = ~same_special & (~finite | (diff > atol + rtol * np.abs(w)))
    return OutputError(index, t, float(diff.max(initial=0.0)), float(rel.max(initial=0.0)),
                       int(np.count_nonzero(bad)))


def compare(module: Module, target: str | Backend, inputs: Sequence[np.ndarray],
            reference: str | Backend = "interpreter", pipeline: str | None = None,
            reference_results: Sequence[np.ndarray] | None = None) -> Report:
    """Compile `module` for `target` (with `pipeline`, default the target's) and for
    `reference`, run both on `inputs`, and compare output by output."""
    target_b, reference_b = get_backend(target), get_backend(reference)
    # copies: a program may donate (overwrite) its arguments
    got = [np.array(r) for r in compile(module, target_b, pipeline)(*[a.copy() for a in inputs])]
    if reference_results is None:  # the reference runs the program as written: no passes
        reference_results = [np.array(r) for r in
                             compile(module, reference_b, "")(*[a.copy() for a in inputs])]
    report = Report(target_b.spec(), reference_b.spec())
    report.outputs = [compare_arrays(i, g, w) for i, (g, w) in enumerate(zip(got, reference_results))]
    return report


__all__ = ["CheckError", "InputError", "OutputError", "Report", "TOLERANCES", "compare",
           "compare_arrays", "load_inputs", "random_inputs"]
