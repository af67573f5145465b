"""Compare a backend's results with the interpreter (the oracle) on the same inputs."""

from __future__ import annotations

import numpy as np

from xlalite.backends import get_backend
from xlalite.backends.interpreter import run_function
from xlalite.ir import Module, parse_module, print_module


def tolerance(dtype: np.dtype) -> tuple[float, float]:
    """(rtol, atol scale): f32 math differs from NumPy's in the last bits; f64 barely; f16 by
    the rounding of one f32 result that lies close to a tie (two f16 ulp)."""
    if dtype == np.float16:
        return (2e-3, 2e-3)
    return (2e-5, 2e-5) if dtype == np.float32 else (1e-11, 1e-11)


def assert_matches_interpreter(module: Module, inputs: list[np.ndarray],
                               backend: str = "numba-cpu", pipeline: str | None = None) -> None:
    text = print_module(module)
    with np.errstate(all="ignore"):
        want = run_function(parse_module(text).main, inputs)
    copy = parse_module(text)
    b = get_backend(backend)
    spec = b.default_pipeline() if pipeline is None else pipeline
    if spec:
        from xlalite.passes import run_pipeline

        run_pipeline(copy, spec)
    with np.errstate(all="ignore"):
        got = b.compile(copy)(*[np.array(x) for x in inputs])
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        if w.dtype.kind == "f":
            rtol, atol = tolerance(w.dtype)
            scale = max(1.0, float(np.nanmax(np.abs(w), initial=0.0, where=np.isfinite(w))))
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol * scale, equal_nan=True)
        else:
            np.testing.assert_array_equal(g, w)


def assert_reshapes_are_views(backend: str) -> None:
    """tests/programs.RESHAPE_VIEWS under plan-memory: right results, and the reshapes the
    plan made views are views in the driver, not kernels."""
    from tests.programs import RESHAPE_VIEWS
    from xlalite.passes import run_pipeline

    m = parse_module(RESHAPE_VIEWS)
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal((8, 8)).astype(np.float32),
              rng.standard_normal((1, 1)).astype(np.float32)]
    assert_matches_interpreter(m, inputs, backend=backend, pipeline="plan-memory")
    run_pipeline(m, "plan-memory")
    program = get_backend(backend).compile(m).program
    run = program.driver[program.driver.index("def run("):]  # after numba-cpu's host functions
    assert run.count(".reshape(") == 2, program.driver  # the two views
    # exp, the argument's reshape (a copy: on numba-cpu a host function), tanh, add, neg;
    # exp and neg of the scalar
    host_calls = sum(line.lstrip().startswith("h") for line in run.splitlines())
    assert len(program.calls) + host_calls == 7, program.driver
