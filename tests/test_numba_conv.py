"""numba-cpu convolution and pooling kernels against the interpreter on random geometries.

Covers both column layouts (strided im2col and stride-1 wide rows, with and without padding),
groups, dilation, chunk boundaries (chunks forced down to one or two images), fused epilogues
and the in-place epilogue of an optimizer update on a donated weight.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.backend_check import assert_matches_interpreter
from tests.programs import draw_conv_geometry
from xlalite.backends import get_backend
from xlalite.backends.interpreter import run_function
from xlalite.backends.numba_cpu import conv
from xlalite.ir import DType, Module, TensorType, finish, new_function, parse_module
from xlalite.ops import get_op
from xlalite.passes import run_pipeline

CONV_FAMILY = ["xl.conv2d", "xl.conv2d_grad_input", "xl.conv2d_grad_weight"]


def conv_case(name, x_shape, w_shape, attrs, dtype):
    """A module applying `name` to operands of the conv2d geometry (x_shape, w_shape)."""
    c = get_op("xl.conv2d")
    y_shape = c.infer_types([TensorType(x_shape, dtype), TensorType(w_shape, dtype)],
                            c.normalize_attrs(attrs))[0].shape
    operands, extra = {
        "xl.conv2d": ((x_shape, w_shape), {}),
        "xl.conv2d_grad_input": ((y_shape, w_shape), {"input_size": x_shape[2:]}),
        "xl.conv2d_grad_weight": ((x_shape, y_shape), {"kernel_size": w_shape[2:]}),
    }[name]
    m = Module()
    f, b = new_function(m, "main", [TensorType(s, dtype) for s in operands])
    finish(f, b, b.create(name, f.args, {**attrs, **extra}).results)
    return m, operands


@pytest.mark.parametrize("chunk_bytes", [1, conv.CHUNK_BYTES], ids=["1-image-chunks", "default"])
@settings(max_examples=8, deadline=None)
@given(st.data(), st.sampled_from(CONV_FAMILY), st.sampled_from([DType.F32, DType.F64]))
def test_conv_family_matches_the_interpreter(chunk_bytes, data, name, dtype):
    x_shape, w_shape, attrs = draw_conv_geometry(data, batch=data.draw(st.integers(1, 3)))
    if data.draw(st.booleans()):
        attrs["stride"] = (1, 1)  # the wide-row layout
    m, operands = conv_case(name, x_shape, w_shape, attrs, dtype)
    rng = np.random.default_rng(data.draw(st.integers(0, 99)))
    inputs = [rng.standard_normal(s).astype(dtype.numpy) for s in operands]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(conv, "CHUNK_BYTES", chunk_bytes)
        assert_matches_interpreter(m, inputs, pipeline="")


def test_conv_epilogues_and_in_place_update():
    """conv2d + bias + relu in one kernel, and w - lr * grad_weight written over donated w."""
    src = """
func @f(%x: f32[5,3,9,8], %w: f32[4,3,3,3], %b: f32[4], %g: f32[5,4,9,8]) -> (f32[5,4,9,8], f32[4,3,3,3]) attributes {donate = [1]} {
  %0 = "xl.conv2d"(%x, %w) {stride = [1, 1], padding = [[1, 1], [1, 1]], dilation = [1, 1], groups = 1} : (f32[5,3,9,8], f32[4,3,3,3]) -> f32[5,4,9,8]
  %1 = "xl.broadcast_in_dim"(%b) {shape = [5, 4, 9, 8], dims = [1]} : (f32[4]) -> f32[5,4,9,8]
  %2 = "xl.add"(%0, %1) : (f32[5,4,9,8], f32[5,4,9,8]) -> f32[5,4,9,8]
  %z = "xl.constant"() {value = dense<0.0> : f32[5,4,9,8]} : () -> f32[5,4,9,8]
  %3 = "xl.max"(%2, %z) : (f32[5,4,9,8], f32[5,4,9,8]) -> f32[5,4,9,8]
  %4 = "xl.conv2d_grad_weight"(%x, %g) {kernel_size = [3, 3], stride = [1, 1], padding = [[1, 1], [1, 1]], dilation = [1, 1], groups = 1} : (f32[5,3,9,8], f32[5,4,9,8]) -> f32[4,3,3,3]
  %lr = "xl.constant"() {value = dense<0.1> : f32[4,3,3,3]} : () -> f32[4,3,3,3]
  %5 = "xl.mul"(%lr, %4) : (f32[4,3,3,3], f32[4,3,3,3]) -> f32[4,3,3,3]
  %6 = "xl.sub"(%w, %5) : (f32[4,3,3,3], f32[4,3,3,3]) -> f32[4,3,3,3]
  return %3, %6
}"""
    m = parse_module(src)
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal(t.shape).astype(np.float32) for t in m.main.arg_types]
    assert_matches_interpreter(m, inputs)  # default pipeline: fused, planned, donated
    planned = parse_module(src)
    run_pipeline(planned, get_backend("numba-cpu").default_pipeline())
    kinds = [op.attributes.get("kind") for op in planned.main.body.ops if op.name == "xl.fusion"]
    assert kinds.count("matmul") == 2, planned  # both epilogues fused into the convolutions


def test_epilogues_that_change_the_element_type():
    """A comparison or a cast after a convolution or a matmul fuses as its epilogue; the
    product cannot live in the (bool or f64) result, so it is formed apart."""
    src = """
func @f(%x: f32[2,3,6,6], %w: f32[4,3,3,3], %a: f32[5,7], %b: f32[7,3]) -> (bool[2,4,4,4], f64[5,3]) {
  %0 = "xl.conv2d"(%x, %w) {stride = [1, 1], padding = [[0, 0], [0, 0]], dilation = [1, 1], groups = 1} : (f32[2,3,6,6], f32[4,3,3,3]) -> f32[2,4,4,4]
  %z = "xl.constant"() {value = dense<0.0> : f32[2,4,4,4]} : () -> f32[2,4,4,4]
  %1 = "xl.compare"(%0, %z) {direction = "gt"} : (f32[2,4,4,4], f32[2,4,4,4]) -> bool[2,4,4,4]
  %2 = "xl.dot_general"(%a, %b) {contract = [[1], [0]], batch = [[], []]} : (f32[5,7], f32[7,3]) -> f32[5,3]
  %3 = "xl.cast"(%2) {dtype = f64} : (f32[5,3]) -> f64[5,3]
  return %1, %3
}"""
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal(t.shape).astype(np.float32) for t in parse_module(src).main.arg_types]
    want = run_function(parse_module(src).main, inputs)
    backend = get_backend("numba-cpu")
    planned = parse_module(src)
    run_pipeline(planned, backend.default_pipeline())
    assert sum(op.attributes.get("kind") == "matmul" for op in planned.main.body.ops) == 2, planned
    mask, wide = backend.compile(planned)(*inputs)
    np.testing.assert_array_equal(mask, want[0])
    assert wide.dtype == np.float64
    np.testing.assert_allclose(wide, want[1], rtol=2e-6)  # an f32 product, then widened


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_pooling_and_its_gradient_match_the_interpreter(data):
    rank = data.draw(st.integers(1, 4))
    shape = tuple(data.draw(st.integers(1, 6)) for _ in range(rank))
    window = tuple(data.draw(st.integers(1, 3)) for _ in shape)
    strides = tuple(data.draw(st.integers(1, 3)) for _ in shape)
    padding = tuple((data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))) for _ in shape)
    window = tuple(min(w, n + lo + hi) for w, n, (lo, hi) in zip(window, shape, padding))
    attrs = {"window": window, "strides": strides, "padding": padding}
    dtype = data.draw(st.sampled_from([DType.F32, DType.F64]))
    x_t = TensorType(shape, dtype)
    y_t = get_op("xl.reduce_window_max").infer_types([x_t], get_op("xl.reduce_window_max")
                                                     .normalize_attrs(attrs))[0]
    m = Module()
    f, b = new_function(m, "main", [x_t, y_t])
    outs = [b.create("xl.reduce_window_max", [f.args[0]], attrs).results[0],
            b.create("xl.reduce_window_avg", [f.args[0]], attrs).results[0],
            b.create("xl.reduce_window_max_grad", list(f.args), attrs).results[0]]
    finish(f, b, outs)
    rng = np.random.default_rng(data.draw(st.integers(0, 99)))
    x = np.round(rng.standard_normal(shape), 1).astype(dtype.numpy)  # ties: "first" matters
    if data.draw(st.booleans()):
        x.reshape(-1)[0] = np.nan
    g = rng.standard_normal(y_t.shape).astype(dtype.numpy)
    assert_matches_interpreter(m, [x, g], pipeline="")


@pytest.mark.parametrize("channels", [120, 200])
def test_sharing_one_image_between_slots_changes_no_bit(channels):
    """With one image, two slots split the output channels; every channel is still computed
    as in one unsplit product, to the last bit: BLAS computes rows in blocks and a short tail
    block rounds differently, so the shares start at aligned rows (convlib.BLAS_ROWS). The
    constant-weight conformance models (SqueezeNet's logits reach 1e10) fail on any change."""
    from xlalite.backends.numba_cpu import convlib
    from xlalite.backends.numba_cpu.threads import SingleThreadedBlas, run_slots

    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 16, 20, 20)).astype(np.float32)
    w = rng.standard_normal((channels, 16, 3, 3)).astype(np.float32)
    ckk, m = 16 * 9, 18 * 18

    def conv_on(slots: int) -> np.ndarray:
        out = np.full((1, channels, 18, 18), np.nan, np.float32)
        colbuf = np.empty(slots * ckk * m, np.float32)
        tbuf = np.empty(slots * channels * m, np.float32)
        pbuf = np.empty(slots, np.float32)
        with SingleThreadedBlas():
            run_slots(convlib.conv2d_slot, slots, x, w, out, colbuf, tbuf, pbuf, (1, 1), (0, 0),
                      (0, 0), (1, 1), 1, 1, 18)
        return out

    np.testing.assert_array_equal(conv_on(2), conv_on(1))
