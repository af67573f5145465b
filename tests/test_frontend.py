"""Front end: NumPy-style API under jit and eagerly, against NumPy itself."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import xlalite as xl
from xlalite.runtime import ArgumentError

FLOAT = st.floats(-3, 3, allow_nan=False, width=32)


def f32(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@given(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4),
       st.sampled_from(["add", "sub", "mul", "div", "max", "where"]))
def test_binary_ops_broadcast_like_numpy(shapes, opname):
    a_shape, b_shape = shapes.input_shapes
    a, b = f32(*a_shape, seed=1), f32(*b_shape, seed=2) + 4.0
    fns = {
        "add": (lambda x, y: x + y, np.add), "sub": (lambda x, y: x - y, np.subtract),
        "mul": (lambda x, y: x * y, np.multiply), "div": (lambda x, y: x / y, np.divide),
        "max": (xl.maximum, np.maximum),
        "where": (lambda x, y: xl.where(x > 0, x, y), lambda x, y: np.where(x > 0, x, y)),
    }
    ours, theirs = fns[opname]
    got = xl.jit(ours)(a, b)
    want = theirs(a, b)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-6)
    eager = ours(xl.tensor(a), xl.tensor(b))
    np.testing.assert_allclose(eager.numpy(), want, rtol=1e-6)


@given(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), st.data())
def test_reductions_with_axis_and_keepdims(shape, data):
    x = f32(*shape)
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    keep = data.draw(st.booleans())
    for name in ("sum", "max", "min", "mean"):
        got = xl.jit(lambda v, n=name: getattr(xl, n)(v, axis=axis, keepdims=keep))(x)
        want = getattr(np, name)(x, axis=axis, keepdims=keep)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@given(st.sampled_from([((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),
                        ((5, 2, 3), (3, 4)), ((5, 2, 3), (5, 3, 4)), ((1, 2, 3), (4, 3, 2)),
                        ((3,), (2, 3, 4))]))
def test_matmul_matches_numpy_for_all_rank_combinations(shapes):
    a, b = f32(*shapes[0], seed=3), f32(*shapes[1], seed=4)
    np.testing.assert_allclose(xl.jit(lambda x, y: x @ y)(a, b), a @ b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("key", [
    (1,), (slice(1, None),), (slice(None, None, 2), 1), (Ellipsis, 0), (None, 1, slice(0, 2)),
    (-1, Ellipsis, None), (slice(5, 1),), (slice(None), slice(-2, None, 2)),
])
def test_basic_indexing_matches_numpy(key):
    x = np.arange(24, dtype=np.float32).reshape(4, 3, 2)
    np.testing.assert_array_equal(xl.jit(lambda v: v[key])(x), x[key])
    np.testing.assert_array_equal(xl.tensor(x)[key].numpy(), x[key])


def test_integer_array_indexing_lowers_to_gather():
    table = f32(10, 4)
    idx = np.array([[1, 9], [0, 0]], np.int32)
    jf = xl.jit(lambda t, i: t[i])
    np.testing.assert_array_equal(jf(table, idx), table[idx])
    assert '"xl.gather"' in jf.lower(table, idx).as_text()


def test_unary_math_and_shape_functions():
    x = np.abs(f32(3, 4)) + 0.5

    def fn(v):
        parts = [xl.exp(v), xl.log(v), xl.tanh(v), xl.sigmoid(v), xl.sqrt(v), xl.rsqrt(v),
                 xl.sin(v), xl.cos(v), xl.erf(v), -v, abs(v), xl.sign(v - 1.0), v ** 2.0]
        return xl.concatenate([p.reshape(-1, 1) for p in parts], axis=1).T

    from scipy.special import erf, expit

    want = np.stack([np.exp(x), np.log(x), np.tanh(x), expit(x), np.sqrt(x), 1 / np.sqrt(x),
                     np.sin(x), np.cos(x), erf(x), -x, np.abs(x), np.sign(x - 1), x ** 2])
    got = xl.jit(fn)(x)
    np.testing.assert_allclose(got, want.reshape(13, -1), rtol=2e-6)
    np.testing.assert_allclose(xl.jit(lambda v: v.transpose(1, 0).reshape(2, 6))(x),
                               x.T.reshape(2, 6))


def test_lower_shows_explicit_broadcast_and_signature():
    text = xl.jit(lambda x, b: x + b).lower(f32(4, 3), f32(3)).as_text()
    assert "func @_lambda_(%x: f32[4,3], %b: f32[3]) -> f32[4,3]" in text
    assert '"xl.broadcast_in_dim"(%b) {shape = [4, 3], dims = [1]}' in text


def test_cache_per_signature_and_respecialization():
    jf = xl.jit(lambda x: x * 2.0)
    jf(f32(2, 2))
    jf(f32(2, 2, seed=1))
    assert jf.cache_info()["misses"] == 1 and jf.cache_info()["hits"] == 1
    out = jf(np.ones((3,), np.float64))  # new rank and dtype: traced again
    assert out.dtype == np.float64
    out = jf(np.ones((3,), np.int32))
    assert out.dtype == np.float32  # int * Python float promotes to f32 (as in JAX)
    info = jf.cache_info()
    assert info["misses"] == 3 and info["entries"] == 3
    assert info["signatures"] == ["(f32[2,2])", "(f64[3])", "(i32[3])"]


def test_static_argnums_specialize_on_value():
    jf = xl.jit(lambda x, n: x.sum(axis=n), static_argnums=1)
    x = f32(2, 3)
    np.testing.assert_allclose(jf(x, 0), x.sum(0), rtol=1e-6)
    np.testing.assert_allclose(jf(x, 1), x.sum(1), rtol=1e-6)
    assert jf.cache_info()["misses"] == 2
    with pytest.raises(TypeError, match="static argument 'n' .* must be hashable"):
        jf(x, [1])


def test_pytrees_and_keyword_arguments():
    def loss(params, x, *, scale=1.0):
        return {"y": (x @ params["w"] + params["b"]) * scale, "n": 3}

    params = {"w": f32(3, 2), "b": f32(2)}
    x = f32(4, 3)
    with pytest.raises(TypeError, match="keyword-only"):
        xl.jit(loss)(params, x, scale=2.0)

    def loss2(params, x, scale=1.0):
        return loss(params, x, scale=scale)

    out = xl.jit(loss2)(params, x=x)
    np.testing.assert_allclose(out["y"], x @ params["w"] + params["b"], rtol=1e-5)
    assert out["n"] == 3 and out["n"].dtype == np.int32


def test_if_on_traced_value_points_at_user_line():
    def f(x):
        if x.sum() > 0:  # the offending line
            return x
        return -x

    with pytest.raises(xl.TracerError) as info:
        xl.jit(f)(f32(3))
    msg = str(info.value)
    assert f"{__file__}:" in msg and "if x.sum() > 0:  # the offending line" in msg
    assert "xl.where" in msg and "static_argnums" in msg


def test_other_concrete_conversions_and_leaks_are_errors():
    with pytest.raises(xl.TracerError, match="Python float"):
        xl.jit(lambda x: float(x))(np.float32(1))
    with pytest.raises(xl.TracerError, match="NumPy array"):
        xl.jit(lambda x: np.asarray(x) + 1)(np.float32(1))
    leaked = []
    xl.jit(lambda x: leaked.append(x) or x)(np.float32(1))
    with pytest.raises(xl.TracerError, match="leaked tracer"):
        xl.jit(lambda y: y + leaked[0])(np.float32(2))


def test_wrong_argument_dtype_to_executable_names_argument_and_types():
    lowered = xl.jit(lambda x, y: x + y).lower(f32(2), f32(2))
    exe = lowered.compile()
    with pytest.raises(ArgumentError, match=r"argument #1 \('y'\) of @_lambda_ expected f32\[2\], got f64\[2\]"):
        exe(f32(2), np.ones(2))


def test_unsupported_argument_type_is_explained():
    with pytest.raises(TypeError, match="argument 's' .* has type str"):
        xl.jit(lambda s: s)("hello")
    with pytest.raises(TypeError, match="complex64 is not supported"):
        xl.jit(lambda x: x)(np.ones(2, np.complex64))


def test_nested_jit_inlines_into_the_outer_trace():
    inner = xl.jit(lambda x: x * 3.0)
    outer = xl.jit(lambda x: inner(x) + 1.0)
    np.testing.assert_allclose(outer(f32(2)), f32(2) * 3 + 1, rtol=1e-6)
    assert inner.cache_info()["misses"] == 0


def test_eager_mode_runs_op_by_op_with_the_same_semantics():
    x = xl.tensor([[1.0, -2.0], [3.0, 4.0]])
    assert x.dtype == np.float32
    y = xl.where(x > 0, x, 0.0).sum(axis=0)
    assert isinstance(y, xl.Tensor)
    np.testing.assert_array_equal(y.numpy(), [4.0, 4.0])
    assert float(x.max()) == 4.0 and bool(x.argmax() == 3)
    r = xl.random_uniform(0, (3,))
    np.testing.assert_array_equal(r.numpy(), xl.jit(lambda k: xl.random_uniform(k, (3,)))(0))


def test_shape_errors_come_with_both_shapes():
    with pytest.raises(ValueError, match=r"shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        xl.jit(lambda a, b: a + b)(f32(2, 3), f32(4))
    with pytest.raises(ValueError, match="cannot reshape"):
        xl.tensor(f32(2, 3)).reshape(4, -1)
    with pytest.raises(IndexError, match="out of bounds"):
        xl.tensor(f32(2, 3))[5]


def test_lower_then_call_traces_once_and_keeps_the_traced_ir():
    jf = xl.jit(lambda x: xl.exp(x) * 1.0 + 0.0)
    lowered = jf.lower(f32(4))
    traced = lowered.as_text()
    np.testing.assert_allclose(jf(f32(4)), np.exp(f32(4)), rtol=1e-6)
    assert jf.cache_info()["traces"] == 1
    assert lowered.as_text() == traced and '"xl.mul"' in traced  # not simplified in place
    lowered.compile()
    assert lowered.as_text() == traced


def test_python_scalars_keep_full_precision_with_f64_tensors():
    x = np.array([1.0])
    third = 1.0 / 3.0
    assert xl.jit(lambda v: v * third)(x)[0] == third  # not rounded through float32
    assert (xl.tensor(x) * third).numpy()[0] == third
