"""Autodiff: every VJP rule against finite differences; shapes from hypothesis."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import xlalite as xl
from tests.gradcheck import check_function, check_python
from tests.programs import draw_conv_geometry
from tests.test_registry import OPS
from xlalite.ir import DType, Module, TensorType, finish, new_function, parse_module
from xlalite.passes.autodiff import AutodiffError, vjp_function

# fusion refuses (autodiff runs first); while loops are forward-only (test_control_flow)
DIFFERENTIABLE = [o for o in OPS if o.differentiable and o.name not in ("xl.fusion", "xl.while")]


def as_f64(t: TensorType) -> TensorType:
    return t.with_dtype(DType.F64) if t.dtype.is_float else t


@pytest.mark.parametrize("opdef", OPS, ids=lambda o: o.name)
def test_every_op_has_a_vjp_rule_or_says_it_is_not_differentiable(opdef):
    assert opdef.vjp is not None or not opdef.differentiable, \
        f"{opdef.name}: declare vjp=... or differentiable=False"


@pytest.mark.parametrize("opdef", DIFFERENTIABLE, ids=lambda o: o.name)
def test_vjp_rule_matches_finite_differences(opdef, capsys):
    types, attrs = opdef.example()
    m = Module()
    f, b = new_function(m, "main", [as_f64(t) for t in types])
    build = opdef.build_example
    op = build(b, f.args, attrs) if build else b.create(opdef.name, f.args, attrs)
    # custom_vjp also exposes its residuals as results; the rule covers the outputs only
    finish(f, b, op.results[:attrs.get("num_outputs", len(op.results))])
    for seed in range(3):
        rng = np.random.default_rng(seed)
        from tests.gradcheck import random_inputs

        check_function(f, random_inputs(f, rng), rng, opdef.name)


UNARY = {"exp": xl.exp, "log": xl.log, "tanh": xl.tanh, "sigmoid": xl.sigmoid, "sqrt": xl.sqrt,
         "rsqrt": xl.rsqrt, "sin": xl.sin, "cos": xl.cos, "erf": xl.erf, "abs": xl.abs,
         "neg": xl.negative}
BINARY = {"add": xl.add, "sub": xl.subtract, "mul": xl.multiply, "div": xl.divide,
          "pow": xl.power, "max": xl.maximum, "min": xl.minimum}


def f64(shape, rng, low=0.5, high=2.0):
    return rng.uniform(low, high, shape)


@settings(max_examples=30)
@given(hnp.array_shapes(min_dims=0, max_dims=3, max_side=3), st.sampled_from(sorted(UNARY)),
       st.integers(0, 100))
def test_unary_gradients_on_random_shapes(shape, name, seed):
    rng = np.random.default_rng(seed)
    check_python(lambda x: UNARY[name](x), [f64(shape, rng)], seed, f"unary {name}")


@settings(max_examples=40)
@given(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
       st.sampled_from(sorted(BINARY)), st.integers(0, 100))
def test_binary_gradients_with_broadcasting(shapes, name, seed):
    rng = np.random.default_rng(seed)
    a, b = (f64(s, rng) for s in shapes.input_shapes)
    check_python(lambda x, y: BINARY[name](x, y), [a, b], seed, f"broadcast {name}")


@settings(max_examples=25)
@given(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), st.data())
def test_reduction_gradients(shape, data):
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    keep = data.draw(st.booleans())
    kind = data.draw(st.sampled_from(["sum", "max", "min", "mean", "prod"]))
    seed = data.draw(st.integers(0, 100))
    x = f64(shape, np.random.default_rng(seed))
    check_python(lambda v: getattr(xl, kind)(v, axis=axis, keepdims=keep), [x], seed,
                 f"reduce {kind}")


@settings(max_examples=15)
@given(st.sampled_from([((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)), ((2, 3), (3, 4)),
                        ((2, 2, 3), (3, 2)), ((2, 2, 3), (2, 3, 2)), ((1, 2, 3), (2, 3, 2))]),
       st.integers(0, 100))
def test_matmul_gradients_for_all_rank_combinations(shapes, seed):
    rng = np.random.default_rng(seed)
    check_python(lambda a, b: a @ b, [f64(s, rng) for s in shapes], seed, "matmul")


def test_dot_general_with_permuted_contraction_and_batch_dims():
    rng = np.random.default_rng(0)
    src = """
func @f(%a: f64[3,2,4], %b: f64[4,5,2]) -> f64[2,3,5] {
  %0 = "xl.dot_general"(%a, %b) {contract = [[2], [0]], batch = [[1], [2]]} : (f64[3,2,4], f64[4,5,2]) -> f64[2,3,5]
  return %0
}"""
    func = parse_module(src).main
    from tests.gradcheck import random_inputs

    check_function(func, random_inputs(func, rng), rng, "dot_general permuted")


@settings(max_examples=12)
@given(st.data(), st.sampled_from(["xl.conv2d", "xl.conv2d_grad_input", "xl.conv2d_grad_weight"]))
def test_conv_family_gradients(data, name):
    """conv2d and its two gradient ops (so second derivatives of conv2d) on random geometries."""
    from xlalite.ops import get_op

    x_shape, w_shape, attrs = draw_conv_geometry(data)
    conv = get_op("xl.conv2d")
    y_shape = conv.infer_types([TensorType(x_shape, DType.F64), TensorType(w_shape, DType.F64)],
                               conv.normalize_attrs(attrs))[0].shape
    operands = {"xl.conv2d": (x_shape, w_shape),
                "xl.conv2d_grad_input": (y_shape, w_shape),
                "xl.conv2d_grad_weight": (x_shape, y_shape)}[name]
    extra = {"xl.conv2d": {}, "xl.conv2d_grad_input": {"input_size": x_shape[2:]},
             "xl.conv2d_grad_weight": {"kernel_size": w_shape[2:]}}[name]
    m = Module()
    f, b = new_function(m, "main", [TensorType(s, DType.F64) for s in operands])
    finish(f, b, b.create(name, f.args, {**attrs, **extra}).results)
    rng = np.random.default_rng(data.draw(st.integers(0, 100)))
    check_function(f, [f64(s, rng) for s in operands], rng, f"{name} {attrs}")


@settings(max_examples=15)
@given(st.data())
def test_pooling_gradients(data):
    shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    window = tuple(data.draw(st.integers(1, d)) for d in shape)
    strides = tuple(data.draw(st.integers(1, 2)) for _ in shape)
    # every window must overlap real data (a window of padding only has no gradient)
    padding = tuple((data.draw(st.integers(0, w - 1)), data.draw(st.integers(0, w - 1)))
                    for w in window)
    kind = data.draw(st.sampled_from(["max", "avg"]))
    seed = data.draw(st.integers(0, 100))
    x = np.random.default_rng(seed).permutation(np.prod(shape)).reshape(shape) * 0.1 + 0.3
    from xlalite.frontend.tensor import bind

    check_python(lambda v: bind(f"xl.reduce_window_{kind}", [xl.asarray(v)], window=window,
                                strides=strides, padding=padding), [x], seed, f"pool {kind}")


@settings(max_examples=20)
@given(hnp.array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=4), st.data())
def test_shape_op_gradients(shape, data):
    seed = data.draw(st.integers(0, 100))
    rng = np.random.default_rng(seed)
    x = f64(shape, rng)
    kind = data.draw(st.sampled_from(["slice", "pad", "concat", "transpose", "gather", "index"]))
    if kind == "slice":
        fn = lambda v: v[1:, ...][..., ::2]  # noqa: E731
    elif kind == "pad":
        fn = lambda v: xl.pad(v, [(1, 0)] + [(0, 2)] * (v.ndim - 1), 0.5)  # noqa: E731
    elif kind == "concat":
        fn = lambda v: xl.concatenate([v, v * 2.0, v[:1]], axis=0)  # noqa: E731
    elif kind == "transpose":
        fn = lambda v: v.T * xl.arange(v.shape[0]).astype(np.float64)  # noqa: E731
    elif kind == "gather":
        idx = rng.integers(0, shape[0], (5,)).astype(np.int32)
        fn = lambda v: v[idx]  # noqa: E731  (repeated indices: scatter_add must accumulate)
    else:
        fn = lambda v: v[0] + v[-1]  # noqa: E731
    check_python(fn, [x], seed, f"shape {kind}")


def test_second_derivatives_match_analytic_results():
    x = np.linspace(-1.5, 1.5, 7)
    d2_tanh = xl.grad(lambda v: xl.grad(lambda u: xl.tanh(u).sum())(v).sum())(x)
    t = np.tanh(x)
    np.testing.assert_allclose(d2_tanh, -2 * t * (1 - t * t), rtol=1e-12, atol=1e-12)
    d2_cube = xl.grad(lambda v: xl.grad(lambda u: (u ** 3.0).sum())(v).sum())(x)
    np.testing.assert_allclose(d2_cube, 6 * x, rtol=1e-12, atol=1e-12)
    d3_cube = xl.grad(lambda v: xl.grad(lambda w: xl.grad(
        lambda u: (u ** 3.0).sum())(w).sum())(v).sum())(x)
    np.testing.assert_allclose(d3_cube, np.full_like(x, 6.0), rtol=1e-12)


def test_softmax_cross_entropy_hessian_vector_product():
    rng = np.random.default_rng(0)
    z, v = rng.standard_normal(5), rng.standard_normal(5)
    label = 2

    def ce(logits):
        m = logits.max()
        lse = xl.log(xl.exp(logits - m).sum()) + m
        return lse - logits[label]

    # Hv = d/dz <grad ce(z), v>: differentiate the directional derivative
    hvp = xl.grad(lambda u: (xl.grad(ce)(u) * v).sum())(z)
    p = np.exp(z - z.max())
    p /= p.sum()
    np.testing.assert_allclose(hvp, p * v - p * (p @ v), rtol=1e-10, atol=1e-12)


def test_custom_vjp_rule_is_used_instead_of_the_true_derivative():
    @xl.custom_vjp
    def clip_gradient(x):
        return x * 1.0

    clip_gradient.defvjp(lambda x: (x * 1.0, ()),
                         lambda res, g: (xl.minimum(xl.maximum(g, -1.0), 1.0),))
    x = np.array([1.0, -2.0, 3.0])
    np.testing.assert_array_equal(clip_gradient(x).numpy(), x)  # forward unchanged
    g = xl.grad(lambda v: (clip_gradient(v) * 10.0).sum())(x)
    np.testing.assert_array_equal(g, [1.0, 1.0, 1.0])  # the true gradient would be 10
    g_jit = xl.jit(xl.grad(lambda v: (clip_gradient(v) * -0.5).sum()))(x)
    np.testing.assert_array_equal(g_jit, [-0.5, -0.5, -0.5])


def test_custom_vjp_with_residuals_and_pytrees():
    @xl.custom_vjp
    def scaled_exp(x, params):
        return xl.exp(x) * params["s"]

    def fwd(x, params):
        y = xl.exp(x)
        return y * params["s"], (y, params["s"])

    def bwd(res, g):
        y, s = res
        return g * y * s, {"s": (g * y).sum()}

    scaled_exp.defvjp(fwd, bwd)
    x, s = np.array([0.1, 0.2]), np.array(3.0)
    gx, gp = xl.grad(lambda a, p: scaled_exp(a, p).sum(), argnums=(0, 1))(x, {"s": s})
    np.testing.assert_allclose(gx, 3 * np.exp(x))
    np.testing.assert_allclose(gp["s"], np.exp(x).sum())


def test_grad_errors_are_clear():
    with pytest.raises(AutodiffError, match=r"argument #1 \('n'\) of type i32\[2\]: only "
                                            "floating-point values have gradients"):
        xl.grad(lambda x, n: (x * n).sum(), argnums=1)(np.ones(2), np.ones(2, np.int32))
    with pytest.raises(AutodiffError, match="scalar floating-point output"):
        xl.grad(lambda x: x * 2.0)(np.ones(3))
    with pytest.raises(ValueError, match="cannot differentiate through 'xl.fusion'"):
        m = parse_module("""
func @f(%x: f64[2]) -> f64[] {
  %0 = "xl.fusion"(%x) ({
  ^bb0(%a: f64[2]):
    %1 = "xl.exp"(%a) : (f64[2]) -> f64[2]
    "xl.yield"(%1) : (f64[2]) -> ()
  }) {kind = "loop"} : (f64[2]) -> f64[2]
  %2 = "xl.reduce_sum"(%0) {axes = [0]} : (f64[2]) -> f64[]
  return %2
}""")
        vjp_function(m.main, [0])


def test_integer_paths_get_no_gradient_and_stop_gradients_are_zero():
    def f(x, labels):
        onehot = xl.arange(3) == labels[:, None]
        picked = xl.where(onehot, x, 0.0).sum()
        return picked + x.argmax().astype(np.float64)  # argmax contributes no gradient

    g = xl.grad(f)(np.arange(6.0).reshape(2, 3), np.array([0, 2], np.int32))
    np.testing.assert_array_equal(g, [[1, 0, 0], [0, 0, 1]])


def test_value_and_grad_has_aux_and_argnums_tuple():
    def loss(w, b, x):
        y = x @ w + b
        return (y ** 2.0).sum(), y

    w, b, x = np.ones((3, 2)), np.zeros(2), np.arange(6.0).reshape(2, 3)
    (value, y), (gw, gb) = xl.value_and_grad(loss, argnums=(0, 1), has_aux=True)(w, b, x)
    np.testing.assert_allclose(y, x @ w)
    np.testing.assert_allclose(value, ((x @ w) ** 2).sum())
    np.testing.assert_allclose(gw, x.T @ (2 * (x @ w)))
    np.testing.assert_allclose(gb, (2 * (x @ w)).sum(0))


def test_vjp_of_a_vector_function():
    out, pullback = xl.vjp(lambda a, b: xl.tanh(a) * b, np.array([0.5, 1.0]), np.array([2.0, 3.0]))
    ga, gb = pullback(np.array([1.0, -1.0]))
    t = np.tanh([0.5, 1.0])
    np.testing.assert_allclose(out, t * [2, 3])
    np.testing.assert_allclose(ga, (1 - t ** 2) * [2, 3] * [1, -1])
    np.testing.assert_allclose(gb, t * [1, -1])


def test_autodiff_pass_from_the_command_line(tmp_path, capsys):
    from xlalite.tools.opt import main

    src = tmp_path / "f.xir"
    src.write_text('func @f(%x: f32[3], %n: i32[3]) -> f32[] {\n'
                   '  %0 = "xl.mul"(%x, %x) : (f32[3], f32[3]) -> f32[3]\n'
                   '  %1 = "xl.reduce_sum"(%0) {axes = [0]} : (f32[3]) -> f32[]\n'
                   '  return %1\n}\n')
    assert main([str(src), "-p", "autodiff{wrt=0},simplify"]) == 0
    out = capsys.readouterr().out
    assert "-> (f32[], f32[3])" in out and '"xl.mul"' in out
    assert main([str(src), "-p", "autodiff{wrt=1}"]) == 1
    assert "only floating-point values have gradients" in capsys.readouterr().err


def test_product_gradient_is_exact_with_zeros():
    for x in ([2.0, 3.0, 4.0], [2.0, 0.0, 4.0], [0.0, 0.0, 4.0]):
        x = np.array(x)
        want = [np.prod(np.delete(x, i)) for i in range(3)]
        np.testing.assert_allclose(xl.grad(lambda v: v.prod())(x), want)
    m = np.array([[1.0, 0.0, 3.0], [2.0, 2.0, 2.0]])
    g = xl.grad(lambda v: (v.prod(axis=1) * np.array([1.0, 10.0])).sum())(m)
    np.testing.assert_allclose(g, [[0.0, 3.0, 0.0], [40.0, 40.0, 40.0]])
