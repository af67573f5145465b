"""fuse-rows: a row space's reductions and their consumer as one ``rows`` kernel (issue 16, W2).

The pass must keep the interpreter's results exactly (it only merges ops), and numba-cpu's
rows kernel must give the same bits as the separate reduction and loop kernels it replaces
(the same lane order), on odd row lengths, unit dims, NaN and infinite rows.
"""

import numpy as np
import pytest

import xlalite as xl
from tests.backend_check import assert_matches_interpreter
from xlalite.backends import get_backend
from xlalite.backends.interpreter import run_function
from xlalite.ir import XirError, parse_module, verify
from xlalite.passes import run_pipeline
from xlalite.passes.fuse import count_kernels


def softmax(x):
    e = xl.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(x):
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - xl.log(xl.exp(shifted).sum(axis=-1, keepdims=True))


def layer_norm(x):
    mean = x.sum(axis=-1, keepdims=True) / x.shape[-1]
    centred = x - mean
    var = (centred * centred).sum(axis=-1, keepdims=True) / x.shape[-1]
    return centred / xl.sqrt(var + 1e-5)


def logsumexp(x):  # yields one value per row
    m = x.max(axis=-1)
    return xl.log(xl.exp(x - m.reshape(m.shape + (1,))).sum(axis=-1)) + m


ROW_FUNCTIONS = [softmax, log_softmax, layer_norm, logsumexp]


def _traced(fn, shape, dtype=np.float32):
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    return parse_module(xl.jit(fn).lower(x).as_text()), x


def _compiled(module, pipeline):
    copy = parse_module(str(module))
    run_pipeline(copy, pipeline)
    return copy, get_backend("numba-cpu").compile(copy)


@pytest.mark.parametrize("fn", ROW_FUNCTIONS, ids=lambda f: f.__name__)
def test_a_row_space_becomes_one_rows_kernel_with_the_same_results(fn):
    module, x = _traced(fn, (6, 40))
    want = run_function(module.main, [x])
    fused, _ = _compiled(module, "legalize,simplify,fuse,rows")
    (op,) = [o for o in fused.main.body.ops if o.name == "xl.fusion"]
    assert op.attributes["kind"] == "rows" and count_kernels(fused.main) == 1
    np.testing.assert_array_equal(run_function(fused.main, [x])[0], want[0])


SHAPES = [(5, 37), (1, 9), (3, 1, 17), (2, 3, 300), (4, 1), (7, 1000)]


@pytest.mark.parametrize("fn", ROW_FUNCTIONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_rows_kernels_give_the_bits_of_separate_kernels(fn, shape):
    module, x = _traced(fn, shape)
    if shape[-1] > 2:
        x[0, ..., 1] = np.nan  # a NaN row and an infinite row: max must propagate as NumPy
        x[-1, ..., 2] = np.inf
    default = get_backend("numba-cpu").default_pipeline()
    assert ",fuse-rows," in default
    separate = default.replace(",fuse-rows", "")
    fused, exe = _compiled(module, default)
    assert any(o.attributes.get("kind") == "rows" for o in fused.main.body.ops)
    with np.errstate(all="ignore"):
        got = exe(x)[0]
        want = _compiled(module, separate)[1](x)[0]
    np.testing.assert_array_equal(got, want)
    assert_matches_interpreter(module, [x])


def test_integer_rows_and_f64_rows_match_the_interpreter():
    def centred_range(x):
        return x - x.max(axis=1, keepdims=True) + x.sum(axis=1, keepdims=True)

    for dtype in (np.int32, np.float64):
        x = (np.random.default_rng(1).standard_normal((9, 21)) * 50).astype(dtype)
        module = parse_module(xl.jit(centred_range).lower(x).as_text())
        assert_matches_interpreter(module, [x])


def test_a_reduction_read_outside_the_group_stays_a_kernel_of_its_own():
    def softmax_and_max(x):
        m = x.max(axis=1, keepdims=True)
        e = xl.exp(x - m)
        return e / e.sum(axis=1, keepdims=True), m

    module, x = _traced(softmax_and_max, (8, 33))
    fused, exe = _compiled(module, get_backend("numba-cpu").default_pipeline())
    kinds = [o.attributes.get("kind", o.name) for o in fused.main.body.ops
             if o.name not in ("return", "xl.reshape")]
    assert kinds == ["xl.reduce_max", "rows"]
    assert_matches_interpreter(module, [x])


def test_rows_longer_than_the_cache_are_left_as_separate_kernels():
    module, _ = _traced(softmax, (2, 70_000))
    fused, _ = _compiled(module, "legalize,simplify,fuse,rows")
    assert not any(o.attributes.get("kind") == "rows" for o in fused.main.body.ops)


ROWS_IR = """func @f(%x: f32[4,4]) -> f32[4,4] {{
  %0 = "xl.fusion"(%x) ({{
  ^bb0(%a: f32[4,4]):
    %1 = "xl.reduce_sum"(%a) {{axes = [{axis}]}} : (f32[4,4]) -> f32[4]
    %2 = "xl.broadcast_in_dim"(%1) {{shape = [4, 4], dims = [{dims}]}} : (f32[4]) -> f32[4,4]
    %3 = "xl.div"(%a, %2) : (f32[4,4], f32[4,4]) -> f32[4,4]
    "xl.yield"(%3) : (f32[4,4]) -> ()
  }}) {{kind = "rows"}} : (f32[4,4]) -> f32[4,4]
  return %0
}}
"""


@pytest.mark.parametrize("axis, dims, message", [
    (0, 0, "reductions over the last axis"),
    (1, 1, "read at other rows than its own"),
])
def test_the_verifier_rejects_rows_fusions_a_row_kernel_cannot_run(axis, dims, message):
    verify(parse_module(ROWS_IR.format(axis=1, dims=0)))
    with pytest.raises(XirError, match=message):
        verify(parse_module(ROWS_IR.format(axis=axis, dims=dims)))
