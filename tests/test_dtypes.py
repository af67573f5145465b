"""The element types beyond f32/f64/i32/i64/bool: f16 and the 8-, 16-, 32- and 64-bit integers.

f16 is stored as f16 and computed in f32 on numba-cpu (the widen-f16 pass), rounding every
result to f16 as NumPy's float16 ufuncs do; small integers wrap as NumPy's do. The interpreter
(NumPy) is the oracle throughout.
"""

import itertools

import numpy as np
import pytest

import xlalite as xl
from tests.backend_check import assert_matches_interpreter
from xlalite.backends import get_backend
from xlalite.backends.base import CodegenError
from xlalite.frontend.numpy_api import promote, result_dtype
from xlalite.ir import DType, parse_module, print_module
from xlalite.passes import run_pipeline

NEW = [DType.F16, DType.I8, DType.I16, DType.U8, DType.U16, DType.U32, DType.U64]


@pytest.mark.parametrize("a, b, want", [
    ("u8", "i8", "i16"), ("u16", "i8", "i32"), ("u32", "i32", "i64"), ("u64", "i64", "f32"),
    ("u8", "i32", "i32"), ("i64", "f16", "f16"), ("u64", "f16", "f16"), ("f16", "f64", "f64"),
    ("bool", "u8", "u8"), ("u8", "u16", "u16"), ("i8", "i64", "i64"), ("i32", "f32", "f32"),
])
def test_promotion_follows_the_documented_lattice(a, b, want):
    assert promote(DType(a), DType(b)) is DType(want)
    assert promote(DType(b), DType(a)) is DType(want)


def test_promotion_of_many_operands_never_depends_on_their_order():
    for a, b, c in itertools.product(list(DType), repeat=3):
        want = promote(a, b, c)
        assert all(promote(*p) is want for p in itertools.permutations((a, b, c))), (a, b, c)
    assert promote(DType.F16, DType.I8, DType.U64) is DType.F16  # u64 + i8 is a weak float


def test_python_scalars_are_weak_for_every_new_type():
    for dt in NEW:
        x = xl.zeros((2,), dt)
        assert (x + 1).type.dtype is dt
        assert (x * 2.0).type.dtype is (dt if dt.is_float else DType.F32)
    assert result_dtype(np.zeros(2, np.uint8), np.zeros(2, np.int8)) is DType.I16


@pytest.mark.parametrize("dt", NEW, ids=str)
def test_types_and_constants_print_and_parse_back(dt):
    values = np.array([0, 1, 7, 100], dt.numpy) if dt.is_int else np.array(
        [0.0, -1.5, 65504.0, 6.1e-5, np.inf], np.float16)
    src = f"""func @f(%x: {dt}[{values.size}]) -> {dt}[{values.size}] {{
  %c = "xl.constant"() {{value = dense<{values.tolist()}> : {dt}[{values.size}]}} : () -> {dt}[{values.size}]
  %0 = "xl.add"(%x, %c) : ({dt}[{values.size}], {dt}[{values.size}]) -> {dt}[{values.size}]
  return %0
}}"""
    m = parse_module(src)
    text = print_module(m)
    assert print_module(parse_module(text)) == text
    np.testing.assert_array_equal(
        m.main.body.ops[0].attributes["value"].array, values)


def _f16_chain(x, y, z):
    return xl.sqrt(xl.abs(x * y + z)) / (z - 0.5) + x


def test_f16_rounds_every_result_as_numpy_does_inside_fused_kernels():
    rng = np.random.default_rng(0)
    x, y, z = (rng.standard_normal(4099).astype(np.float16) for _ in range(3))
    got = xl.jit(_f16_chain)(x, y, z)
    with np.errstate(all="ignore"):
        want = np.sqrt(np.abs(x * y + z)) / (z - np.float16(0.5)) + x  # NumPy's f16 ufuncs
    assert got.dtype == np.float16
    # bit for bit: each op's f32 result rounded to f16 ...
    np.testing.assert_array_equal(got.view(np.uint16), want.view(np.uint16))
    # ... where rounding once, at the end, would differ
    f = [a.astype(np.float32) for a in (x, y, z)]
    once = (np.sqrt(np.abs(f[0] * f[1] + f[2])) / (f[2] - 0.5) + f[0]).astype(np.float16)
    assert (once.view(np.uint16) != want.view(np.uint16)).sum() > 10
    lowered = xl.jit(_f16_chain).lower(x, y, z).compile().source()
    assert lowered.count("@njit") == 1 and "mm.f2h" in lowered and "mm.h2f" in lowered


def test_f16_reductions_products_and_data_movement_match_the_interpreter():
    src = """func @f(%a: f16[33,40], %b: f16[40,24], %i: i64[5]) -> (f16[33], f16[33,24], f16[24,35], f16[5,40]) {
  %s = "xl.reduce_sum"(%a) {axes = [1]} : (f16[33,40]) -> f16[33]
  %d = "xl.dot_general"(%a, %b) {contract = [[1], [0]], batch = [[], []]} : (f16[33,40], f16[40,24]) -> f16[33,24]
  %t = "xl.transpose"(%d) {perm = [1, 0]} : (f16[33,24]) -> f16[24,33]
  %z = "xl.constant"() {value = dense<-2.5> : f16[]} : () -> f16[]
  %p = "xl.pad"(%t, %z) {low = [0, 1], high = [0, 1], interior = [0, 0]} : (f16[24,33], f16[]) -> f16[24,35]
  %g = "xl.gather"(%a, %i) {axis = 0} : (f16[33,40], i64[5]) -> f16[5,40]
  return %s, %d, %p, %g
}"""
    m = parse_module(src)
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal((33, 40)).astype(np.float16),
              rng.standard_normal((40, 24)).astype(np.float16), np.array([0, 3, 32, 7, 3])]
    assert_matches_interpreter(m, inputs)
    assert_matches_interpreter(m, inputs, pipeline="")


def test_f16_scan_carries_and_gradients():
    def loss(w, xs):
        def step(h, x):
            h = xl.tanh(h * w + x)
            return h, h

        h, ys = xl.scan(step, xl.zeros((8,), xl.float16), xs)
        return xl.sum(ys * ys)

    rng = np.random.default_rng(2)
    w = rng.uniform(0.5, 1, 8).astype(np.float16)
    xs = rng.standard_normal((6, 8)).astype(np.float16)
    got = xl.jit(xl.grad(loss))(w, xs)
    want = xl.jit(xl.grad(loss), backend="interpreter")(w, xs)
    assert got.dtype == np.float16
    np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32), rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("dt", [d for d in NEW if d.is_int], ids=str)
def test_small_integers_wrap_as_numpy_before_remainders_and_comparisons(dt):
    info = np.iinfo(dt.numpy)
    rng = np.random.default_rng(3)
    x = rng.integers(info.max // 2, info.max, 1000, dtype=dt.numpy, endpoint=True)
    y = rng.integers(1, 9, 1000, dtype=dt.numpy)

    def f(x, y):
        s = x + x  # overflows: wraps
        return xl.fmod(s, y), xl.maximum(s * y, x) > x, -y, xl.abs(x - y * y)

    got = xl.jit(f)(x, y)
    want = xl.jit(f, backend="interpreter")(x, y)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)


def test_every_new_type_runs_elementwise_programs_on_numba_cpu():
    for dt in NEW:
        src = f"""func @f(%x: {dt}[3,5], %y: {dt}[5]) -> ({dt}[3,5], {dt}[3], bool[3,5], f32[3,5]) {{
  %b = "xl.broadcast_in_dim"(%y) {{shape = [3, 5], dims = [1]}} : ({dt}[5]) -> {dt}[3,5]
  %0 = "xl.mul"(%x, %b) : ({dt}[3,5], {dt}[3,5]) -> {dt}[3,5]
  %1 = "xl.max"(%0, %x) : ({dt}[3,5], {dt}[3,5]) -> {dt}[3,5]
  %2 = "xl.reduce_max"(%1) {{axes = [1]}} : ({dt}[3,5]) -> {dt}[3]
  %3 = "xl.compare"(%1, %x) {{direction = "gt"}} : ({dt}[3,5], {dt}[3,5]) -> bool[3,5]
  %4 = "xl.cast"(%1) {{dtype = f32}} : ({dt}[3,5]) -> f32[3,5]
  return %1, %2, %3, %4
}}"""
        rng = np.random.default_rng(4)
        hi = 50 if dt.is_int else 4
        inputs = [rng.integers(0, hi, s).astype(dt.numpy) for s in ((3, 5), (5,))]
        assert_matches_interpreter(parse_module(src), inputs)


def test_numba_cuda_refuses_f16_with_a_clear_error():
    m = parse_module("""func @f(%x: f16[4]) -> f16[4] {
  %0 = "xl.add"(%x, %x) : (f16[4], f16[4]) -> f16[4]
  return %0
}""")
    with pytest.raises(CodegenError, match="numba-cuda does not run f16 values yet"):
        get_backend("numba-cuda").check_supported(m.main)


def test_widen_f16_leaves_no_op_computing_on_f16():
    m = parse_module("""func @f(%x: f16[4,4]) -> f16[4] {
  %t = "xl.transpose"(%x) {perm = [1, 0]} : (f16[4,4]) -> f16[4,4]
  %0 = "xl.exp"(%t) : (f16[4,4]) -> f16[4,4]
  %1 = "xl.reduce_sum"(%0) {axes = [0]} : (f16[4,4]) -> f16[4]
  return %1
}""")
    run_pipeline(m, "widen-f16")
    names = [(op.name, str(op.results[0].type)) for op in m.main.body.ops if op.results]
    assert ("xl.transpose", "f16[4,4]") in names  # data movement stays on f16 bits
    assert ("xl.exp", "f32[4,4]") in names and ("xl.reduce_sum", "f32[4]") in names
    assert not any(n not in ("xl.cast", "xl.transpose") and t.startswith("f16") for n, t in names)
