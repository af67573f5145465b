"""What a file from outside can make xlalite do (issue 14): nothing but compute its function.

Each test is an attack that worked before the fix; see docs/security.md.
"""

from __future__ import annotations

import numpy as np
import pytest

import xlalite as xl

X = np.arange(4, dtype=np.float32)


def _saved(tmp_path, body: str, attrs: str = "{xl.num_inputs = 1}", **arrays: np.ndarray):
    (tmp_path / "m.xir").write_text(
        f"func @f(%x: f32[4], %w: f32[4]) -> f32[4] attributes {attrs} {{\n{body}\n}}\n")
    np.savez(tmp_path / "m.npz", **(arrays or {"arg0": np.ones(4, np.float32)}))
    return tmp_path / "m"


@pytest.mark.parametrize("backend", ["numba-cpu", "interpreter"])
def test_a_planted_in_place_plan_cannot_overwrite_the_callers_input(tmp_path, backend):
    path = _saved(tmp_path, '  %0 = "xl.add"(%x, %w) {mem.inplace = [0]} : (f32[4], f32[4]) -> f32[4]\n'
                            '  return %0')
    x = X.copy()
    y = xl.load(path, backend=backend)(x)
    np.testing.assert_array_equal(x, X)  # the caller's array is untouched
    np.testing.assert_array_equal(y, X + 1)
    assert not np.shares_memory(x, y)


def test_a_planted_arena_offset_is_re_derived(tmp_path):
    path = _saved(tmp_path,
                  '  %0 = "xl.exp"(%x) {mem.offset = [1000000]} : (f32[4]) -> f32[4]\n'
                  '  %1 = "xl.add"(%0, %w) {mem.offset = [-64]} : (f32[4], f32[4]) -> f32[4]\n'
                  '  return %1', attrs="{xl.num_inputs = 1, mem.arena_bytes = 0}")
    np.testing.assert_allclose(xl.load(path)(X), np.exp(X) + 1, rtol=1e-6)


def test_a_saved_function_that_donates_is_refused(tmp_path):
    path = _saved(tmp_path, '  %0 = "xl.add"(%x, %w) : (f32[4], f32[4]) -> f32[4]\n  return %0',
                  attrs="{xl.num_inputs = 1, donate = [1]}")
    with pytest.raises(ValueError, match=r"donates arguments \(donate = \[1\]\)"):
        xl.load(path)


def test_npz_entries_must_be_the_weights_by_position(tmp_path):
    path = _saved(tmp_path, '  %0 = "xl.add"(%x, %w) : (f32[4], f32[4]) -> f32[4]\n  return %0',
                  weight=np.ones(4, np.float32))
    with pytest.raises(ValueError, match="arrays must be named arg0, got weight"):
        xl.load(path)


def test_the_compile_path_derives_the_plan_itself():
    from xlalite.ir.parser import parse_module

    module = parse_module('func @f(%x: f32[4]) -> f32[4] {\n'
                          '  %0 = "xl.exp"(%x) {mem.inplace = [0]} : (f32[4]) -> f32[4]\n'
                          '  return %0\n}\n')
    for pipeline in ("", None):  # no planning at all, or numba-cpu's own plan
        x = X.copy()
        y = xl.compile(module, "numba-cpu", pipeline)(x)[0]
        np.testing.assert_array_equal(x, X)
        np.testing.assert_allclose(y, np.exp(X), rtol=1e-6)


@pytest.mark.parametrize("text", [
    # 4096 results, but 2^32 multiply-adds
    '''func @f() -> f32[64,64] {
  %a = "xl.constant"() {value = dense<1.0> : f32[64,1048576]} : () -> f32[64,1048576]
  %b = "xl.constant"() {value = dense<2.0> : f32[1048576,64]} : () -> f32[1048576,64]
  %0 = "xl.dot_general"(%a, %b) {contract = [[1], [0]]} : (f32[64,1048576], f32[1048576,64]) -> f32[64,64]
  return %0
}''',
    # one result from 1e11 elements
    '''func @f() -> f32[] {
  %a = "xl.constant"() {value = dense<1.0> : f32[100000,1000000]} : () -> f32[100000,1000000]
  %0 = "xl.reduce_sum"(%a) {axes = [0, 1]} : (f32[100000,1000000]) -> f32[]
  return %0
}'''], ids=["dot_general", "reduce_sum"])
def test_constant_folding_is_bounded_by_work(text):
    import time

    from xlalite.ir.parser import parse_module
    from xlalite.passes import run_pipeline

    start = time.perf_counter()
    module = parse_module(text)
    run_pipeline(module, "canonicalize,cse,dce")
    assert time.perf_counter() - start < 5  # minutes before the bound
    assert [op.name for op in module.main.body.ops][-2] != "xl.constant"  # left unfolded


def test_small_constant_work_still_folds():
    from xlalite.ir.parser import parse_module
    from xlalite.passes import run_pipeline

    module = parse_module('''func @f() -> f32[4,4] {
  %a = "xl.constant"() {value = dense<1.0> : f32[4,8]} : () -> f32[4,8]
  %b = "xl.constant"() {value = dense<2.0> : f32[8,4]} : () -> f32[8,4]
  %0 = "xl.dot_general"(%a, %b) {contract = [[1], [0]]} : (f32[4,8], f32[8,4]) -> f32[4,4]
  return %0
}''')
    run_pipeline(module, "canonicalize,dce")
    (const, _) = module.main.body.ops
    np.testing.assert_array_equal(const.attributes["value"].array, np.full((4, 4), 16.0))
