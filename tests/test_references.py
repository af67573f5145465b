"""NumPy references checked against independent, naive implementations.

The interpreter is the oracle for every later test, so its references are compared here with
straightforward loops (or NumPy functions with different code paths) on hypothesis inputs.
"""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.programs import draw_conv_geometry
from xlalite.ir import DenseElements, DType
from xlalite.ops import get_op


def ref(name, *arrays, **attrs):
    opdef = get_op(name)
    from xlalite.ir import TensorType

    norm = opdef.normalize_attrs(attrs)
    types = opdef.infer_types([TensorType.of(a) for a in arrays], norm)
    with np.errstate(all="ignore"):
        return opdef.evaluate(arrays, norm, types)[0]


def naive_conv(x, w, stride, padding, dilation, groups):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), padding[0], padding[1]))
    oh = (h + sum(padding[0]) - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + sum(padding[1]) - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, o, oh, ow), np.float64)
    og = o // groups
    for b, oc, i, j in itertools.product(range(n), range(o), range(oh), range(ow)):
        g = oc // og
        for ci, a, bb in itertools.product(range(cg), range(kh), range(kw)):
            out[b, oc, i, j] += (xp[b, g * cg + ci, i * stride[0] + a * dilation[0],
                                    j * stride[1] + bb * dilation[1]] * w[oc, ci, a, bb])
    return out


@given(st.data())
def test_conv2d_matches_naive_loops(data):
    groups = data.draw(st.sampled_from([1, 2]))
    cg = data.draw(st.integers(1, 2))
    og = data.draw(st.integers(1, 2))
    kh, kw = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    stride = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)))
    dilation = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)))
    padding = ((data.draw(st.integers(0, 2)), data.draw(st.integers(0, 1))),
               (data.draw(st.integers(0, 1)), data.draw(st.integers(0, 2))))
    h = data.draw(st.integers(dilation[0] * (kh - 1) + 1, 6))
    w_ = data.draw(st.integers(dilation[1] * (kw - 1) + 1, 6))
    rng = np.random.default_rng(data.draw(st.integers(0, 99)))
    x = rng.standard_normal((2, groups * cg, h, w_))
    w = rng.standard_normal((groups * og, cg, kh, kw))
    got = ref("xl.conv2d", x, w, stride=stride, padding=padding, dilation=dilation, groups=groups)
    np.testing.assert_allclose(got, naive_conv(x, w, stride, padding, dilation, groups),
                               rtol=1e-12, atol=1e-12)


def naive_conv_grads(x, w, g, stride, padding, dilation, groups):
    """dx and dw of sum(g * naive_conv(x, w)), accumulated tap by tap (the adjoint loops)."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    og = o // groups
    dx = np.zeros((n, c, h + sum(padding[0]), wd + sum(padding[1])))
    dw = np.zeros(w.shape)
    xp = np.pad(x, ((0, 0), (0, 0), padding[0], padding[1]))
    for b, oc, i, j in itertools.product(range(n), range(o), range(g.shape[2]), range(g.shape[3])):
        gr = oc // og
        for ci, a, bb in itertools.product(range(cg), range(kh), range(kw)):
            yy, zz = i * stride[0] + a * dilation[0], j * stride[1] + bb * dilation[1]
            dx[b, gr * cg + ci, yy, zz] += g[b, oc, i, j] * w[oc, ci, a, bb]
            dw[oc, ci, a, bb] += g[b, oc, i, j] * xp[b, gr * cg + ci, yy, zz]
    return dx[:, :, padding[0][0]:padding[0][0] + h, padding[1][0]:padding[1][0] + wd], dw


@given(st.data())
def test_conv2d_gradient_ops_match_naive_loops(data):
    x_shape, w_shape, attrs = draw_conv_geometry(data, batch=2)
    rng = np.random.default_rng(data.draw(st.integers(0, 99)))
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    g = rng.standard_normal(ref("xl.conv2d", x, w, **attrs).shape)
    dx, dw = naive_conv_grads(x, w, g, **attrs)
    got_dx = ref("xl.conv2d_grad_input", g, w, input_size=x_shape[2:], **attrs)
    got_dw = ref("xl.conv2d_grad_weight", x, g, kernel_size=w_shape[2:], **attrs)
    np.testing.assert_allclose(got_dx, dx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got_dw, dw, rtol=1e-12, atol=1e-12)


@given(st.data())
def test_reduce_window_matches_naive_loops(data):
    shape = data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))
    window = [data.draw(st.integers(1, d + 1)) for d in shape]
    strides = [data.draw(st.integers(1, 2)) for _ in shape]
    padding = [(data.draw(st.integers(0, 1)), data.draw(st.integers(0, 1))) for _ in shape]
    window = [min(w, d + lo + hi) for w, d, (lo, hi) in zip(window, shape, padding)]
    x = np.random.default_rng(0).standard_normal(shape)
    for kind in ("max", "avg"):
        got = ref(f"xl.reduce_window_{kind}", x, window=window, strides=strides, padding=padding)
        fill = -np.inf if kind == "max" else 0.0
        xp = np.pad(x, padding, constant_values=fill)
        want = np.empty(got.shape)
        for idx in np.ndindex(*got.shape):
            box = xp[tuple(slice(i * s, i * s + w) for i, s, w in zip(idx, strides, window))]
            want[idx] = box.max() if kind == "max" else box.sum() / np.prod(window)
        np.testing.assert_allclose(got, want, rtol=1e-12)
    # max pooling's gradient: each g element lands on its window's first maximum
    x = np.round(x, 1)  # ties, so "first" matters
    g = np.random.default_rng(1).standard_normal(got.shape)
    got = ref("xl.reduce_window_max_grad", x, g, window=window, strides=strides, padding=padding)
    want = np.zeros(x.shape)
    for idx in np.ndindex(*g.shape):
        starts = [i * s - lo for i, s, (lo, _) in zip(idx, strides, padding)]
        inside = [p for p in np.ndindex(*window)
                  if all(0 <= a + o < d for a, o, d in zip(starts, p, x.shape))]
        if inside:
            vals = [x[tuple(a + o for a, o in zip(starts, p))] for p in inside]
            first = inside[int(np.argmax(vals))]  # argmax returns the first maximum
            want[tuple(a + o for a, o in zip(starts, first))] += g[idx]
    np.testing.assert_allclose(got, want, rtol=1e-12)


@given(st.integers(0, 2), st.integers(1, 4), st.integers(0, 3))
def test_gather_and_scatter_add_match_loops(batch_dims, n, seed):
    rng = np.random.default_rng(seed)
    if batch_dims == 0:
        x = rng.standard_normal((n, 3))
        idx = rng.integers(0, n, (2, 5))
        got = ref("xl.gather", x, idx, axis=0, batch_dims=0)
        np.testing.assert_array_equal(got, x[idx])
        upd = rng.standard_normal((2, 5, 3))
        want = x.copy()
        for i, j in np.ndindex(2, 5):
            want[idx[i, j]] += upd[i, j]
        np.testing.assert_allclose(ref("xl.scatter_add", x, idx, upd, axis=0, batch_dims=0), want)
    else:
        x = rng.standard_normal((4, n))  # label pick: out[b] = x[b, idx[b]]
        idx = rng.integers(0, n, (4,))
        np.testing.assert_array_equal(ref("xl.gather", x, idx, axis=1, batch_dims=1),
                                      x[np.arange(4), idx])
        upd = rng.standard_normal(4)
        want = x.copy()
        want[np.arange(4), idx] += upd
        np.testing.assert_allclose(ref("xl.scatter_add", x, idx, upd, axis=1, batch_dims=1), want)


def test_gather_clamps_out_of_range_indices():
    x = np.arange(5.0)
    np.testing.assert_array_equal(ref("xl.gather", x, np.array([-3, 9]), axis=0), [0.0, 4.0])


@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.integers(1, 3))
def test_dot_general_matches_matmul(b, m, k, n):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((b, m, k)), rng.standard_normal((b, k, n))
    got = ref("xl.dot_general", x, y, contract=((2,), (1,)), batch=((0,), (0,)))
    np.testing.assert_allclose(got, x @ y, rtol=1e-12)
    got_t = ref("xl.dot_general", x, y.transpose(0, 2, 1), contract=((2,), (2,)),
                batch=((0,), (0,)))
    np.testing.assert_allclose(got_t, x @ y, rtol=1e-12)


def test_pad_with_interior_matches_manual_construction():
    x = np.array([[1, 2], [3, 4]], np.int32)
    got = ref("xl.pad", x, np.int32(0), low=(1, 0), high=(0, 1), interior=(1, 1))
    want = np.array([[0, 0, 0, 0], [1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0]], np.int32)
    np.testing.assert_array_equal(got, want)


def test_integer_reductions_keep_their_dtype_and_empty_identities():
    x = np.ones((3, 0), np.int32)
    assert ref("xl.reduce_sum", x, axes=(1,)).dtype == np.int32
    np.testing.assert_array_equal(ref("xl.reduce_max", x, axes=(1,)), [np.iinfo(np.int32).min] * 3)
    y = np.zeros((2, 0), np.float32)
    np.testing.assert_array_equal(ref("xl.reduce_min", y, axes=(1,)), [np.inf, np.inf])


def test_rng_is_deterministic_per_key_and_has_the_right_moments():
    a = ref("xl.rng", np.int64(7), shape=(200_000,), dtype=DType.F32)
    b = ref("xl.rng", np.int64(7), shape=(200_000,), dtype=DType.F32)
    c = ref("xl.rng", np.int64(8), shape=(200_000,), dtype=DType.F32)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.min() >= 0.0 and a.max() < 1.0 and abs(a.mean() - 0.5) < 0.005
    z = ref("xl.rng", np.int64(3), shape=(200_000,), dtype=DType.F64, distribution="normal")
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1.0) < 0.01


@pytest.mark.parametrize("dtype", [DType.F32, DType.F64, DType.I32, DType.I64, DType.BOOL])
def test_constant_returns_its_literal(dtype):
    arr = (np.arange(6).reshape(2, 3) % 2).astype(dtype.numpy)
    np.testing.assert_array_equal(ref("xl.constant", value=DenseElements(arr)), arr)


def test_iota_counts_along_dim():
    got = ref("xl.iota", shape=(2, 3), dim=1, dtype=DType.I64)
    np.testing.assert_array_equal(got, [[0, 1, 2], [0, 1, 2]])
