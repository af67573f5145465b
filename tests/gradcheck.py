"""Check reverse-mode gradients against central finite differences in float64.

``check_function(func)`` builds the VJP of `func` with random output cotangents R, and
compares d<out, R>/d(input) from autodiff with (L(x + h) - L(x - h)) / 2h per input element.
The error measure is max |ad - fd| / (1 + |fd|); every call is tallied in ``STATS``, which the
test session prints at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from xlalite.backends.interpreter import run_function
from xlalite.frontend.tracing import trace
from xlalite.ir import Function
from xlalite.passes.autodiff import vjp_function

EPS = 1e-6
TOLERANCE = 1e-5
STATS = {"checks": 0, "worst": 0.0, "worst_case": ""}


def random_inputs(func: Function, rng: np.random.Generator, low: float = 0.5,
                  high: float = 2.0) -> list[np.ndarray]:
    out = []
    for t in func.arg_types:
        if t.dtype.is_float:
            out.append(rng.uniform(low, high, t.shape).astype(t.dtype.numpy))
        elif t.dtype.is_int:
            out.append(rng.integers(0, 2, t.shape).astype(t.dtype.numpy))
        else:
            out.append(rng.random(t.shape) < 0.5)
    return out


def check_function(func: Function, inputs: Sequence[np.ndarray], rng: np.random.Generator,
                   label: str) -> float:
    """Worst error over all float inputs; asserts it is below TOLERANCE."""
    float_args = [i for i, t in enumerate(func.arg_types) if t.dtype.is_float]
    cts = [rng.standard_normal(t.shape) if t.dtype.is_float else np.zeros(t.shape, t.dtype.numpy)
           for t in func.result_types]
    cts = [np.asarray(c, dtype=t.dtype.numpy) for c, t in zip(cts, func.result_types)]
    gfunc = vjp_function(func, float_args, seed=None)
    with np.errstate(all="ignore"):
        ad = run_function(gfunc, list(inputs) + cts)[len(func.result_types):]

    def loss(args: list[np.ndarray]) -> float:
        with np.errstate(all="ignore"):
            outs = run_function(func, args)
        return sum(float(np.sum(o * c)) for o, c, t in zip(outs, cts, func.result_types)
                   if t.dtype.is_float)

    worst = 0.0
    for k, i in enumerate(float_args):
        fd = np.zeros(inputs[i].shape)
        for j in np.ndindex(*inputs[i].shape):
            plus, minus = [a.copy() for a in inputs], [a.copy() for a in inputs]
            plus[i][j] += EPS
            minus[i][j] -= EPS
            fd[j] = (loss(plus) - loss(minus)) / (2 * EPS)
        assert np.all(np.isfinite(fd)) and np.all(np.isfinite(ad[k])), \
            f"{label}: non-finite derivative; pick inputs away from singularities"
        err = float(np.max(np.abs(ad[k] - fd) / (1 + np.abs(fd)), initial=0.0))
        worst = max(worst, err)
    STATS["checks"] += 1
    if worst > STATS["worst"]:
        STATS["worst"], STATS["worst_case"] = worst, label
    assert worst < TOLERANCE, f"{label}: gradient error {worst:.2e}\n{gfunc}"
    return worst


def check_python(fn: Callable, args: Sequence[np.ndarray], seed: int = 0, label: str = "") -> float:
    """Trace `fn` (NumPy-style, on float64 arrays) and check its gradients."""
    traced = trace(fn, tuple(args))
    flat = [np.asarray(a) for a in args]
    return check_function(traced.function, flat, np.random.default_rng(seed), label or fn.__name__)
