"""Targets are configured objects reached through one compile path (``xlalite.compile``)."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import xlalite as xl
from xlalite import compiler
from xlalite.backends.base import TargetError, describe_targets, get_backend
from xlalite.backends.numba_cpu import NumbaCPUBackend
from xlalite.ir.parser import parse_module
from xlalite.passes.manager import PipelineError
from xlalite.tools.opt import main

ROOT = Path(__file__).resolve().parent.parent
X = np.linspace(-3, 3, 64, dtype=np.float32)


def test_a_target_spec_configures_the_backend():
    b = get_backend("numba-cpu{exact-math=true parallel=false}")
    assert b == NumbaCPUBackend(parallel=False, exact_math=True)
    assert b.spec() == "numba-cpu{parallel=false exact-math=true}"
    assert get_backend(b.spec()) == b and get_backend("numba-cpu").spec() == "numba-cpu"
    assert get_backend(b) is b


@pytest.mark.parametrize("spec, message", [
    ("numba-cpu{exact-mat=true}", "has no option 'exact-mat'; did you mean 'exact-math'?"),
    ("numba-cpu{fastmath=maybe}", "cannot read 'maybe' as bool"),
    ("numba-cpu{parallel=sometimes}", "parallel must be auto, true or false"),
    ("numba-cpu{fastmath}", "needs a value"),
    ("numba-cpu{fastmath=true", "must end with '}'"),
    ("numba-cpux", "unknown backend 'numba-cpux'; did you mean 'numba-cpu'"),
    ("interpreter{fast=true}", "target 'interpreter' has no options"),
])
def test_bad_target_specs_say_what_is_wrong(spec, message):
    with pytest.raises(TargetError, match=None) as info:
        get_backend(spec)
    assert message in str(info.value)


def test_jit_reads_its_target_and_pipeline_when_called_not_at_first_use():
    with pytest.raises(TargetError, match="did you mean 'exact-math'"):
        xl.jit(lambda x: x, backend="numba-cpu{exact-mat=true}")
    with pytest.raises(PipelineError, match="did you mean 'dce'"):
        xl.jit(lambda x: x, pipeline="cse,dcee")


def test_exact_math_target_calls_libm_and_the_default_approximates():
    fast = xl.jit(xl.tanh)
    exact = xl.jit(xl.tanh, backend="numba-cpu{exact-math=true}")
    np.testing.assert_allclose(fast(X), np.tanh(X), atol=1e-6)
    np.testing.assert_allclose(exact(X), np.tanh(X), atol=1e-6)
    sources = [f.lower(X).compile().source() for f in (fast, exact)]  # type: ignore[attr-defined]
    assert "mm.tanh_f32" in sources[0] and "mm.tanh_f32" not in sources[1]
    assert "np.tanh" in sources[1]


def test_load_takes_a_target_spec(tmp_path):
    def model(x):
        return xl.tanh(x) * 2.0

    xl.save(tmp_path / "m", model, (X,))
    for spec in ("numba-cpu{exact-math=true parallel=false}", "interpreter"):
        np.testing.assert_allclose(xl.load(tmp_path / "m", backend=spec)(X), np.tanh(X) * 2,
                                   atol=1e-6)
    with pytest.raises(TargetError, match="did you mean"):
        xl.load(tmp_path / "m", backend="numba-cpu{fastmat=true}")


def test_vjp_compiles_once_per_signature():
    def f(x):
        return (xl.tanh(x) * x).sum()

    def run():
        y, pullback = xl.vjp(f, X)
        return y, pullback(np.float32(1.0))[0]

    before = compiler.STATS.compilations
    y0, g0 = run()
    first = compiler.STATS.compilations - before
    assert first == 2  # the forward program and the gradient program
    for _ in range(3):
        y, g = run()
        np.testing.assert_array_equal(g, g0)
    assert compiler.STATS.compilations - before == first  # nothing compiled again
    t = np.tanh(X)
    np.testing.assert_allclose(g0, t + X * (1 - t ** 2), rtol=1e-5, atol=1e-6)
    xl.vjp(f, X[:10])[1](np.float32(1.0))  # a new signature compiles again
    assert compiler.STATS.compilations - before == first + 2


def test_vjp_runs_the_target_pipeline():
    y, _ = xl.vjp(lambda x: xl.exp(x) * 2.0 + 1.0, X)
    newest = next(reversed(compiler._MEMO.values()))
    assert "xl.fusion" in str(newest.module)  # fused by numba-cpu's default pipeline
    assert "mem.offset" in str(newest.module)  # ... and memory-planned
    np.testing.assert_allclose(y, np.exp(X) * 2 + 1, rtol=1e-6)


def test_xlalite_opt_takes_a_target_spec(tmp_path, capsys):
    path = tmp_path / "t.xir"
    path.write_text('func @f(%x: f32[8]) -> f32[8] {\n'
                    '  %0 = "xl.tanh"(%x) : (f32[8]) -> f32[8]\n  return %0\n}\n')
    assert main([str(path), "-t", "numba-cpu{exact-math=true}", "--emit", "source"]) == 0
    out = capsys.readouterr().out
    assert "np.tanh" in out and "mm.tanh_f32" not in out
    assert main([str(path), "-t", "numba-cpu{exact-mat=true}"]) == 1
    err = capsys.readouterr().err
    assert "xlalite-opt: error: target 'numba-cpu' has no option 'exact-mat'; did you mean" in err


def test_list_targets_shows_options_and_defaults(capsys):
    assert main(["--list-targets"]) == 0
    out = capsys.readouterr().out
    assert out == describe_targets()
    for line in ("numba-cpu", "exact-math=bool (default: false)", "parallel=str | bool (default: auto)",
                 "interpreter", "numba-cuda"):
        assert line in out


def test_one_compile_path():
    """Only xlalite/compiler.py turns IR into an executable (calls a backend's compile)."""
    callers = []
    for folder in ("xlalite", "passes", "backends"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "compile" and isinstance(node.func.value, ast.Name)
                        and node.func.value.id in ("backend", "b", "target")):
                    callers.append(str(path.relative_to(ROOT)))
    assert callers == ["xlalite/compiler.py"]


def test_numba_cuda_is_built_on_the_shared_base_not_on_numba_cpu():
    for path in (ROOT / "backends" / "numba_cuda").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "numba_cpu" not in text, f"{path.name} reaches into numba-cpu"


def test_supports_is_derived_from_the_tables():
    """Every op each Numba target supports has a code shape and, if it is an 'op' shape, an
    entry in the target's op_kernels table; every registered op is supported by both."""
    from xlalite.ops.registry import all_ops

    for name in ("numba-cpu", "numba-cuda"):
        target = get_backend(name)
        missing = [op.name for op in all_ops() if not target.supports(op.name)]
        assert missing == [], f"{name} lacks {missing}"
        assert not target.supports("xl.no_such_op")


def test_compile_leaves_the_callers_module_alone():
    module = parse_module('func @f(%x: f32[4]) -> f32[4] {\n'
                          '  %0 = "xl.exp"(%x) : (f32[4]) -> f32[4]\n'
                          '  %1 = "xl.exp"(%0) : (f32[4]) -> f32[4]\n  return %1\n}\n')
    text = str(module)
    exe = xl.compile(module, "numba-cpu")
    assert str(module) == text
    np.testing.assert_allclose(exe(X[:4])[0], np.exp(np.exp(X[:4])), rtol=1e-6)
