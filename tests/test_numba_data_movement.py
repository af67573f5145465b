"""numba-cpu's data-movement and index ops (gather, scatter, argmax, pad, concatenate,
transpose, slice, reshape, iota, rng) on many shapes, ranks and dtypes against the interpreter."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.backend_check import assert_matches_interpreter
from xlalite.ir import DType, parse_module


def test_library_ops_on_more_shapes():
    src = """
func @f(%x: f32[3,4,5], %i: i64[2,3], %u: f32[3,2,3,5], %k: i64[]) -> (f32[3,2,3,5], f32[3,4,5], i64[3,5], f32[3,8,5], f32[6,4,5], f64[2,3]) {
  %0 = "xl.gather"(%x, %i) {axis = 1, batch_dims = 0} : (f32[3,4,5], i64[2,3]) -> f32[3,2,3,5]
  %1 = "xl.scatter_add"(%x, %i, %u) {axis = 1, batch_dims = 0} : (f32[3,4,5], i64[2,3], f32[3,2,3,5]) -> f32[3,4,5]
  %2 = "xl.argmax"(%x) {axis = 1} : (f32[3,4,5]) -> i64[3,5]
  %c = "xl.constant"() {value = dense<0.5> : f32[]} : () -> f32[]
  %3 = "xl.pad"(%x, %c) {low = [0, 1, 0], high = [0, 0, 0], interior = [0, 1, 0]} : (f32[3,4,5], f32[]) -> f32[3,8,5]
  %4 = "xl.concatenate"(%x, %x) {axis = 0} : (f32[3,4,5], f32[3,4,5]) -> f32[6,4,5]
  %5 = "xl.rng"(%k) {shape = [2, 3], dtype = f64, distribution = "normal"} : (i64[]) -> f64[2,3]
  return %0, %1, %2, %3, %4, %5
}"""
    m = parse_module(src)
    rng = np.random.default_rng(3)
    inputs = [rng.standard_normal((3, 4, 5)).astype(np.float32),
              rng.integers(-1, 6, (2, 3)),  # out of range: clamped like the reference
              rng.standard_normal((3, 2, 3, 5)).astype(np.float32), np.int64(-7)]
    assert_matches_interpreter(m, inputs, pipeline="")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.data())
def test_shape_and_index_ops_on_random_shapes(shape, data):
    rank = len(shape)
    dtype = data.draw(st.sampled_from(["f32", "f64", "i32", "i64"]))
    t = f"{dtype}[{','.join(map(str, shape))}]"
    axis = data.draw(st.integers(0, rank - 1))
    n_idx = data.draw(st.integers(1, 5))
    lo = [data.draw(st.integers(0, 2)) for _ in shape]
    inner = [data.draw(st.integers(0, 1)) for _ in shape]
    padded = [n + l + (n - 1) * i for n, l, i in zip(shape, lo, inner)]
    red = [d for i, d in enumerate(shape) if i != axis]
    gathered = list(shape[:axis]) + [n_idx] + list(shape[axis + 1:])
    cat = list(shape)
    cat[axis] *= 2

    def ty(dims, dt=dtype):
        return f"{dt}[{','.join(map(str, dims))}]"

    src = f"""
func @f(%x: {t}, %i: i32[{n_idx}], %v: {dtype}[]) -> ({ty(red, 'i64')}, {ty(padded)}, {ty(cat)}, {ty(gathered)}, {t}, {ty(shape, 'i32')}) {{
  %0 = "xl.argmax"(%x) {{axis = {axis}}} : ({t}) -> {ty(red, 'i64')}
  %1 = "xl.pad"(%x, %v) {{low = {lo}, high = {[0] * rank}, interior = {inner}}} : ({t}, {dtype}[]) -> {ty(padded)}
  %2 = "xl.concatenate"(%x, %x) {{axis = {axis}}} : ({t}, {t}) -> {ty(cat)}
  %3 = "xl.gather"(%x, %i) {{axis = {axis}}} : ({t}, i32[{n_idx}]) -> {ty(gathered)}
  %4 = "xl.scatter_add"(%x, %i, %3) {{axis = {axis}}} : ({t}, i32[{n_idx}], {ty(gathered)}) -> {t}
  %5 = "xl.iota"() {{shape = {list(shape)}, dim = {axis}, dtype = i32}} : () -> {ty(shape, 'i32')}
  return %0, %1, %2, %3, %4, %5
}}"""
    m = parse_module(src)
    rng = np.random.default_rng(data.draw(st.integers(0, 99)))
    x = rng.integers(-5, 5, shape) if dtype.startswith("i") else rng.standard_normal(shape)
    inputs = [x.astype(DType(dtype).numpy), rng.integers(-1, shape[axis] + 1, n_idx).astype(np.int32),
              np.asarray(0.5 if dtype.startswith("f") else 3, DType(dtype).numpy)]
    assert_matches_interpreter(m, inputs, pipeline="")


@pytest.mark.parametrize("shape", [(), (5,), (3, 0, 2), (2, 3, 4), (2, 1, 3, 2, 2, 3), (2,) * 7])
def test_copies_of_every_rank_match_the_interpreter(shape):
    """Transpose, strided slice, reshape, concatenate and pad on ranks 0-7 (up to 6: the
    library's strided copy; 7: NumPy-style assignment in the kernel), with an empty dim."""
    rank = len(shape)
    rng = np.random.default_rng(rank)
    perm = [int(p) for p in rng.permutation(rank)]
    start = [int(rng.integers(0, max(n, 1))) if n else 0 for n in shape]
    stride = [int(rng.integers(1, 3)) for _ in shape]
    limit = list(shape)
    sliced = [len(range(s, e, st)) for s, e, st in zip(start, limit, stride)]
    cat = list(shape[:1]) and [shape[0] * 2] + list(shape[1:])
    lo, inner = [1] * rank, [1] * rank
    padded = [n + 1 + max(n - 1, 0) for n in shape]

    def ty(dims) -> str:
        return f"f32[{','.join(map(str, dims))}]"

    t = ty(shape)
    outs = [ty([shape[p] for p in perm]), ty(sliced), ty([math.prod(shape)]), ty(padded)]
    body = [
        f'%0 = "xl.transpose"(%x) {{perm = {perm}}} : ({t}) -> {outs[0]}',
        f'%1 = "xl.slice"(%x) {{start = {start}, limit = {limit}, stride = {stride}}} : ({t}) -> {outs[1]}',
        f'%2 = "xl.reshape"(%x) {{shape = [{math.prod(shape)}]}} : ({t}) -> {outs[2]}',
        f'%3 = "xl.pad"(%x, %v) {{low = {lo}, high = {[0] * rank}, interior = {inner}}} : ({t}, f32[]) -> {outs[3]}',
    ]
    results = ["%0", "%1", "%2", "%3"]
    if rank:
        outs.append(ty(cat))
        body.append(f'%4 = "xl.concatenate"(%x, %x) {{axis = 0}} : ({t}, {t}) -> {outs[4]}')
        results.append("%4")
    src = (f"func @f(%x: {t}, %v: f32[]) -> ({', '.join(outs)}) {{\n  " + "\n  ".join(body)
           + f"\n  return {', '.join(results)}\n}}")
    m = parse_module(src)
    inputs = [rng.standard_normal(shape).astype(np.float32), np.float32(0.5)]
    assert_matches_interpreter(m, inputs, pipeline="")
