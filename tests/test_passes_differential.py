"""Differential testing: every pass (and the whole pipeline) preserves the interpreter's results
on random programs.

Tolerance: exact. The passes never reorder floating-point arithmetic (folding runs the same
NumPy references; fusion runs the same ops inside a region), so results must be identical up
to the sign of zero, for f32 and f64 alike; the one exception, merge-dot-sums (the
"reassociate" phase), is checked to rounding. The memory plan is checked by ``check_plan``.
"""

import numpy as np
import pytest
from hypothesis import given, settings

from tests.conftest import scaled
from tests.programs import programs, random_inputs
from xlalite.backends.interpreter import run_function
from xlalite.ir import parse_module, print_module, verify
from xlalite.passes import run_pipeline
from xlalite.passes.plan_memory import check_plan

PIPELINES = ["canonicalize", "cse", "dce", "fuse", "fuse,fuse-rows", "plan-memory",
             "simplify,fuse,finalize", "simplify,fuse,rows,finalize"]


def assert_same(before, after):
    assert len(before) == len(after)
    for x, y in zip(before, after):
        assert x.shape == y.shape and x.dtype == y.dtype
        np.testing.assert_allclose(y, x, rtol=0, atol=0, equal_nan=True)


@settings(max_examples=scaled(300))
@given(programs())
def test_passes_preserve_results(module):
    verify(module)
    text = print_module(module)
    args = random_inputs(module)
    with np.errstate(all="ignore"):
        expected = run_function(module.main, args)
    for spec in PIPELINES:
        copy = parse_module(text)
        run_pipeline(copy, spec)  # verifies after every pass
        assert_same(expected, run_function(copy.main, args))
        if spec.endswith("finalize") or spec == "plan-memory":
            assert check_plan(copy.main) == []
        assert print_module(parse_module(print_module(copy))) == print_module(copy)


@settings(max_examples=scaled(100))
@given(programs())
def test_reassociating_pipeline_matches_up_to_rounding(module):
    """merge-dot-sums reorders float sums: the numba-cpu pipeline matches to rounding."""
    text = print_module(module)
    args = random_inputs(module)
    with np.errstate(all="ignore"):
        expected = run_function(module.main, args)
    copy = parse_module(text)
    run_pipeline(copy, "simplify,reassociate,fuse,finalize")
    with np.errstate(all="ignore"):
        got = run_function(copy.main, args)
    for x, y in zip(expected, got, strict=True):
        assert x.shape == y.shape and x.dtype == y.dtype
        rtol = 1e-5 if x.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(y, x, rtol=rtol, atol=rtol * max(1.0, float(np.nanmax(
            np.abs(x), initial=0.0, where=np.isfinite(x)))), equal_nan=True)


@pytest.mark.parametrize("spec", ["simplify,fuse,finalize"])
def test_pipeline_is_idempotent_on_a_fixed_program(spec):
    from tests.test_fuzz import PROGRAM

    m = verify(parse_module(PROGRAM))
    run_pipeline(m, spec)
    once = print_module(m)
    run_pipeline(m, "simplify,fuse")
    assert "xl.fusion" in once
    assert print_module(m).count('"xl.fusion"') == once.count('"xl.fusion"')
