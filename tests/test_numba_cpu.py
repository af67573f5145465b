"""numba-cpu: every op and random programs against the interpreter; plans, BLAS, errors.

The disk cache is tested in test_kernel_cache.py, data-movement and index ops on many
shapes and ranks in test_numba_data_movement.py."""


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xlalite as xl
from tests.backend_check import assert_matches_interpreter, assert_reshapes_are_views
from tests.conftest import scaled
from tests.gradcheck import random_inputs
from tests.programs import programs
from tests.programs import random_inputs as program_inputs
from tests.test_registry import OPS
from xlalite.backends import get_backend
from xlalite.ir import DType, Module, TensorType, finish, new_function, parse_module
from xlalite.ops.registry import ShapeError
from xlalite.runtime import ArgumentError

BACKEND = get_backend("numba-cpu")


def retyped_example(opdef, dtype: DType) -> Module | None:
    """The op's example with every float operand retyped to `dtype` (None if not allowed)."""
    types, attrs = opdef.example()
    new_types = [t.with_dtype(dtype) if t.dtype.is_float else t for t in types]
    m = Module()
    f, b = new_function(m, "main", new_types)
    build = opdef.build_example
    try:
        op = build(b, f.args, attrs) if build else b.create(opdef.name, f.args, attrs)
    except (ShapeError, ValueError):
        return None
    finish(f, b, op.results[:attrs.get("num_outputs", len(op.results))])
    return m


@pytest.mark.parametrize("opdef", OPS, ids=lambda o: o.name)
def test_every_registry_op_is_supported(opdef):
    assert BACKEND.supports(opdef.name), f"numba-cpu has no kernel for {opdef.name}"


CASES = [(o, d) for o in OPS for d in (DType.F16, DType.F32, DType.F64, DType.I32, DType.I64)
         if retyped_example(o, d) is not None]  # each op in every dtype it accepts


@pytest.mark.parametrize("opdef, dtype", CASES, ids=[f"{o.name}-{d.value}" for o, d in CASES])
def test_every_op_matches_the_interpreter(opdef, dtype, capsys):
    m = retyped_example(opdef, dtype)
    rng = np.random.default_rng(0)
    low, high = opdef.sample_range()  # inside the op's declared domain
    inputs = random_inputs(m.main, rng, low=low, high=high)
    assert_matches_interpreter(m, inputs, pipeline="")  # each op's own kernel
    assert_matches_interpreter(m, inputs)  # and after the default pipeline


@settings(max_examples=scaled(100), deadline=None)
@given(programs())
def test_random_programs_match_the_interpreter(module):
    assert_matches_interpreter(module, program_inputs(module))


@settings(max_examples=12, deadline=None)
@given(st.data())
def test_conv2d_and_pooling_configurations(data):
    groups = data.draw(st.sampled_from([1, 2]))
    cg, og = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 2))
    k = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    stride = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)))
    pad = ((data.draw(st.integers(0, 2)),) * 2, (data.draw(st.integers(0, 1)),) * 2)
    h = data.draw(st.integers(max(k[0], 2), 7))
    dtype = data.draw(st.sampled_from(["f32", "f64", "i32"]))
    x_t = f"{dtype}[2,{groups * cg},{h},6]"
    w_t = f"{dtype}[{groups * og},{cg},{k[0]},{k[1]}]"
    from xlalite.ops import get_op

    attrs = get_op("xl.conv2d").normalize_attrs(
        {"stride": stride, "padding": pad, "dilation": (1, 1), "groups": groups})
    out = get_op("xl.conv2d").infer_types(
        [TensorType((2, groups * cg, h, 6), DType(dtype)),
         TensorType((groups * og, cg, k[0], k[1]), DType(dtype))], attrs)[0]
    pool = "max" if dtype == "i32" else data.draw(st.sampled_from(["max", "avg"]))
    src = f"""
func @f(%x: {x_t}, %w: {w_t}) -> ({out}, {dtype}[2,{groups * cg},{h - 1},3]) {{
  %0 = "xl.conv2d"(%x, %w) {{stride = [{stride[0]}, {stride[1]}], padding = [[{pad[0][0]}, {pad[0][1]}], [{pad[1][0]}, {pad[1][1]}]], dilation = [1, 1], groups = {groups}}} : ({x_t}, {w_t}) -> {out}
  %1 = "xl.reduce_window_{pool}"(%x) {{window = [1, 1, 2, 2], strides = [1, 1, 1, 2], padding = [[0, 0], [0, 0], [0, 0], [0, 0]]}} : ({x_t}) -> {dtype}[2,{groups * cg},{h - 1},3]
  return %0, %1
}}"""
    m = parse_module(src)
    assert_matches_interpreter(m, random_inputs(m.main, np.random.default_rng(1), low=-2.0),
                               pipeline="")


def test_rng_is_bit_identical_to_the_reference():
    f = xl.jit(lambda k: (xl.random_uniform(k, (1000,)), xl.random_normal(k, (999,))))
    u, z = f(np.int64(12345))
    from xlalite.ops.random import _reference

    np.testing.assert_array_equal(u, _reference(np.int64(12345), (1000,), DType.F32, "uniform"))
    np.testing.assert_allclose(z, _reference(np.int64(12345), (999,), DType.F32, "normal"),
                               rtol=1e-6)


def test_memory_plan_is_used_and_outputs_never_alias_the_arena():
    def f(x, w):
        h = xl.tanh(xl.exp(x) @ w)  # exp(x) and h are intermediates: arena-planned
        b = h.sum(axis=1)
        return b, b + 1.0

    jf = xl.jit(f)
    x = np.random.default_rng(0).standard_normal((256, 64)).astype(np.float32)
    w = np.random.default_rng(1).standard_normal((64, 32)).astype(np.float32)
    r1, r2 = jf(x, w)
    exe = next(iter(jf._cache.values()))[0]
    assert exe.program.arena_bytes > 0 and exe.views
    base = exe.arena.buffer
    for r in (r1, r2):
        assert not np.shares_memory(r, base)
    r1_copy = r1.copy()
    jf(x * 2, w)  # a second call must not change arrays returned earlier
    np.testing.assert_array_equal(r1, r1_copy)


def test_donated_argument_is_updated_in_place():
    src = """
func @sgd(%w: f32[1024], %g: f32[1024]) -> f32[1024] attributes {donate = [0]} {
  %lr = "xl.constant"() {value = dense<0.5> : f32[1024]} : () -> f32[1024]
  %0 = "xl.mul"(%lr, %g) : (f32[1024], f32[1024]) -> f32[1024]
  %1 = "xl.sub"(%w, %0) : (f32[1024], f32[1024]) -> f32[1024]
  return %1
}"""
    m = parse_module(src)
    from xlalite.passes import run_pipeline

    run_pipeline(m, "plan-memory")
    exe = BACKEND.compile(m)
    w, g = np.ones(1024, np.float32), np.full(1024, 2.0, np.float32)
    (out,) = exe(w, g)
    assert np.shares_memory(out, w)  # no copy: the parameter buffer was updated
    np.testing.assert_array_equal(out, np.zeros(1024, np.float32))
    # the kernel reads the overwritten operand through `out` (one pointer LLVM can vectorize)
    (kernel,) = [k.source for k in exe.program.kernels if " - " in k.source]  # the update
    assert "= out[i0]" in kernel and "in0[" not in kernel, kernel


@pytest.mark.parametrize("donate", [True, False])
@pytest.mark.parametrize("form, accumulates", [
    ("c - k * (a @ b)", True), ("c + a @ b", True), ("(a @ b) * k + c", True),
    ("c - a @ b", True), ("a @ b - c", False), ("c - k * (c @ b)", False)])
def test_products_accumulating_into_an_input_are_one_blas_call(form, accumulates, donate):
    """C + alpha * (A @ B) (an SGD update by a weight gradient) runs as gemm with beta = 1
    into C's buffer; other epilogues keep the product apart."""
    t = "f32[5,5]"
    body = {
        "c - k * (a @ b)": ["%p = dot(%a, %b)", "%s = mul(%k, %p)", "%r = sub(%c, %s)"],
        "c + a @ b": ["%p = dot(%a, %b)", "%r = add(%c, %p)"],
        "(a @ b) * k + c": ["%p = dot(%a, %b)", "%s = mul(%p, %k)", "%r = add(%s, %c)"],
        "c - a @ b": ["%p = dot(%a, %b)", "%r = sub(%c, %p)"],
        "a @ b - c": ["%p = dot(%a, %b)", "%r = sub(%p, %c)"],
        "c - k * (c @ b)": ["%p = dot(%c, %b)", "%s = mul(%k, %p)", "%r = sub(%c, %s)"],
    }[form]
    lines = []
    for stmt in body:
        res, call = stmt.split(" = ")
        name, args = call[:-1].split("(")
        attrs = ' {contract = [[1], [0]], batch = [[], []]}' if name == "dot" else ""
        opname = "dot_general" if name == "dot" else name
        n = len(args.split(","))
        lines.append(f'  {res} = "xl.{opname}"({args}){attrs} : ({", ".join([t] * n)}) -> {t}')
    src = (f"func @f(%c: {t}, %a: {t}, %b: {t}) -> {t}"
           + (" attributes {donate = [0]}" if donate else "") + " {\n"
           + f'  %k = "xl.constant"() {{value = dense<-0.25> : {t}}} : () -> {t}\n'
           + "\n".join(lines) + "\n  return %r\n}")
    m = parse_module(src)
    inputs = [np.random.default_rng(i).standard_normal((5, 5)).astype(np.float32)
              for i in range(3)]
    assert_matches_interpreter(m, inputs)
    from xlalite.passes import run_pipeline

    run_pipeline(m, BACKEND.default_pipeline())
    program = BACKEND.compile(m).program  # a lone BLAS call is a host function of the driver
    (kernel,) = [s for s in [k.source for k in program.kernels] + [program.driver] if "blas.matmul" in s]
    assert (", 1.0)" in kernel and "prod" not in kernel) == accumulates, kernel


@settings(max_examples=scaled(25), deadline=None)
@given(m=st.integers(1, 9), n=st.integers(1, 9), k=st.integers(0, 5), trans_a=st.booleans(),
       trans_b=st.booleans(), slots=st.integers(1, 4), beta=st.sampled_from([0.0, 1.0]))
def test_blas_matmul_blocks_cover_c_exactly(m, n, k, trans_a, trans_b, slots, beta):
    """Row or column blocks over `slots` threads, transposed operands as flags, alpha and beta,
    an empty contraction: every element of C is written once, as alpha * A @ B + beta * C."""
    from xlalite.backends.numba_cpu import blas
    from xlalite.backends.numba_cpu.threads import SingleThreadedBlas

    rng = np.random.default_rng(m * 100 + n * 10 + k)
    a = rng.standard_normal((k, m) if trans_a else (m, k))
    b = rng.standard_normal((n, k) if trans_b else (k, n))
    c = rng.standard_normal((m, n))
    want = -0.5 * ((a.T if trans_a else a) @ (b.T if trans_b else b)) + beta * c
    with SingleThreadedBlas():
        blas.matmul(a, int(trans_a), b, int(trans_b), c, slots, -0.5, beta)
    np.testing.assert_allclose(c, want, rtol=1e-12, atol=1e-12)


def test_planned_reshapes_are_views_and_run_no_kernel():
    assert_reshapes_are_views("numba-cpu")


@pytest.mark.skipif(__import__("numba").get_num_threads() < 2, reason="needs two threads")
@pytest.mark.parametrize("rows, blas_threads", [(256, True), (1024, False)])
def test_blas_owns_the_cores_when_only_products_run_in_parallel(rows, blas_threads):
    """An MLP-sized step (every loop below the parallel threshold) leaves BLAS its threads;
    a loop big enough for Numba's threads puts BLAS at one thread inside row blocks."""
    t, w = f"f32[{rows},512]", "f32[512,512]"
    m = parse_module(f"""
func @layer(%x: {t}, %w: {w}) -> {t} {{
  %0 = "xl.dot_general"(%x, %w) {{contract = [[1], [0]], batch = [[], []]}} : ({t}, {w}) -> {t}
  %1 = "xl.tanh"(%0) : ({t}) -> {t}
  return %1
}}""")
    program = BACKEND.compile(m).program
    # the product alone (tanh is not fused without the pipeline) runs as a host function
    # ``h0(x, w, out, trans_a, trans_b, slots)`` of the driver
    assert "blas.matmul(" in program.driver.split("def run(")[0]
    calls = [line.strip() for line in program.driver.splitlines() if line.strip().startswith("h0(")]
    slots = [int(line.removesuffix(")").rsplit(", ", 1)[1]) for line in calls]
    assert program.single_threaded_blas is not blas_threads
    assert slots == [1 if blas_threads else __import__("numba").get_num_threads()]


def test_argument_errors_name_the_argument_and_both_types():
    jf = xl.jit(lambda x, y: x + y)
    exe = jf.lower(np.ones(3, np.float32), np.ones(3, np.float32)).compile()
    with pytest.raises(ArgumentError, match=r"argument #1 \('y'\) of @_lambda_ expected "
                                            r"f32\[3\], got f32\[4\]"):
        exe(np.ones(3, np.float32), np.ones(4, np.float32))
    with pytest.raises(ArgumentError, match="takes 2 arguments, got 1"):
        exe(np.ones(3, np.float32))


def test_emit_source_shows_kernels_and_driver(capsys):
    from xlalite.tools.opt import main

    assert main(["examples/ir/softmax.xir", "-t", "numba-cpu", "--emit", "source"]) == 0
    out = capsys.readouterr().out
    # the row softmax is one rows kernel (fuse-rows), driven by a Python function
    assert out.count("@njit(cache=True") == 1 and "def run(args, consts, views, scratch):" in out
    assert main(["examples/ir/softmax.xir", "-t", "numba-cpu"]) == 0
    assert "mem.arena_bytes" in capsys.readouterr().out


ELEMENTWISE = [o for o in OPS if o.fusion.name == "ELEMENTWISE" and len(o.operands) in (1, 2)
               and not o.attrs]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(ELEMENTWISE), st.sampled_from(list(DType)),
       st.lists(st.integers(1, 5), min_size=0, max_size=3), st.integers(0, 99))
def test_elementwise_ops_on_random_shapes_and_dtypes(opdef, dtype, shape, seed):
    t = TensorType(tuple(shape), dtype)
    m = Module()
    f, b = new_function(m, "main", [t] * len(opdef.operands))
    try:
        op = b.create(opdef.name, f.args, {})
    except (ShapeError, ValueError):
        return  # this op does not take this dtype
    finish(f, b, op.results)
    low, high = opdef.sample_range()
    inputs = random_inputs(f, np.random.default_rng(seed), low=low, high=high)
    assert_matches_interpreter(m, inputs, pipeline="")


@pytest.mark.parametrize("src", [
    # bias gradient: sum over the batch axis, with an elementwise prologue and a broadcast
    """func @f(%x: f32[37,300], %b: f32[300]) -> f32[300] {
  %0 = "xl.broadcast_in_dim"(%b) {shape = [37, 300], dims = [1]} : (f32[300]) -> f32[37,300]
  %1 = "xl.mul"(%x, %0) : (f32[37,300], f32[37,300]) -> f32[37,300]
  %2 = "xl.exp"(%1) : (f32[37,300]) -> f32[37,300]
  %3 = "xl.reduce_sum"(%2) {axes = [0]} : (f32[37,300]) -> f32[300]
  %4 = "xl.tanh"(%3) : (f32[300]) -> f32[300]
  return %4
}""",
    # all leading axes of a rank-3 value, max with NaN propagation
    """func @f(%x: f64[3,5,513]) -> f64[513] {
  %0 = "xl.reduce_max"(%x) {axes = [0, 1]} : (f64[3,5,513]) -> f64[513]
  return %0
}""",
])
def test_column_reductions_match_the_interpreter(src):
    m = parse_module(src)
    inputs = random_inputs(m.main, np.random.default_rng(5), low=-1.0)
    if inputs[0].dtype == np.float64:
        inputs[0][1, 2, 7] = np.nan
    assert_matches_interpreter(m, inputs)
    assert "for blk in" in BACKEND.emit_source(m)


def test_column_reduction_of_a_reshaped_unit_input():
    """Found by the random programs: a column reduction whose prologue reads a loop-invariant
    element (every dim of size 1) lost that read."""
    src = """
func @main(%a0: f32[1,1,1]) -> f32[1] {
  %0 = "xl.reduce_sum"(%a0) {axes = [0]} : (f32[1,1,1]) -> f32[1,1]
  %1 = "xl.reshape"(%0) {shape = [1, 1, 1]} : (f32[1,1]) -> f32[1,1,1]
  %2 = "xl.reduce_sum"(%1) {axes = [0, 1]} : (f32[1,1,1]) -> f32[1]
  %3 = "xl.neg"(%2) : (f32[1]) -> f32[1]
  return %3
}"""
    assert_matches_interpreter(parse_module(src), [np.full((1, 1, 1), 2.5, np.float32)])


def test_parallel_loops_are_slot_shares_and_small_calls_share_their_kernel():
    """A loop big enough for threads is one `kernel(slot, slots, ...)` run on the driver's
    threads (no Numba parfor); a small call of the same structure runs the same kernel on one
    slot; work buffers move out of the loop; a lone product is a host call of BLAS."""
    big, small = "f32[1024,512]", "f32[8,512]"
    m = parse_module(f"""
func @f(%a: {big}, %b: {small}, %w: f32[512,512]) -> ({big}, {small}, f32[1024], {small}) {{
  %0 = "xl.tanh"(%a) : ({big}) -> {big}
  %1 = "xl.tanh"(%b) : ({small}) -> {small}
  %2 = "xl.reduce_sum"(%0) {{axes = [1]}} : ({big}) -> f32[1024]
  %3 = "xl.dot_general"(%b, %w) {{contract = [[1], [0]], batch = [[], []]}} : ({small}, f32[512,512]) -> {small}
  return %0, %1, %2, %3
}}""")
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal(s).astype(np.float32) for s in ((1024, 512), (8, 512), (512, 512))]
    assert_matches_interpreter(m, inputs)
    program = BACKEND.compile(m).program
    assert all("prange" not in k.source for k in program.kernels)
    (tanh,) = [k for k in program.kernels if "tanh" in k.source]
    assert tanh.slotted and tanh.source.startswith("def kernel(slot, slots, ")
    threads = __import__("numba").get_num_threads()
    run = program.driver.split("def run(")[1]
    tanh_name = f"k{program.kernels.index(tanh)}"
    assert f"run_slots({tanh_name}, {threads}, " in run or threads == 1
    assert f"{tanh_name}(0, 1, " in run  # the small call: the same kernel, one slot
    (reduction,) = [k for k in program.kernels if "lanes" in k.source]
    head, loop = reduction.source.split("for o0 in range(")
    assert "np.empty" in head and "np.empty" not in loop  # allocated once per slot
    assert "blas.matmul(" in program.driver.split("def run(")[0]  # the product: a host function
