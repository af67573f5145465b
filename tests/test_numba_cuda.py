"""numba-cuda against the interpreter: every op and dtype, random programs, convolutions and
pooling, device-resident state, the CLI. Runs on Numba's CUDA simulator in CI (tiny shapes:
it runs every GPU thread as a Python thread); ``XLALITE_REAL_GPU=1`` runs the same tests on a
GPU. ``test_every_kernel_compiles_to_ptx`` compiles each generated kernel for a real GPU
(sm_70) without one, so code the simulator accepts but CUDA would not is caught too."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings

import xlalite as xl
from tests.backend_check import assert_matches_interpreter, assert_reshapes_are_views
from tests.gradcheck import random_inputs
from tests.programs import programs
from tests.programs import random_inputs as program_inputs
from tests.test_numba_cpu import CASES as ALL_CASES
from tests.test_numba_cpu import retyped_example
from tests.test_registry import OPS
from xlalite.backends import get_backend
from xlalite.backends.numba_cuda import cuda_error
from xlalite.ir import DType, parse_module
from xlalite.runtime import ArgumentError, DeviceArray

BACKEND = get_backend("numba-cuda")
CASES = [(o, d) for o, d in ALL_CASES if d is not DType.F16]  # numba-cuda has no f16 yet
SIMULATED = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
needs_device = pytest.mark.skipif(cuda_error() is not None, reason=str(cuda_error()))
real_gpu = pytest.mark.skipif(SIMULATED or cuda_error() is not None,
                              reason="needs a CUDA GPU (XLALITE_REAL_GPU=1 on a machine with one)")


@pytest.mark.parametrize("opdef", OPS, ids=lambda o: o.name)
def test_every_registry_op_is_supported(opdef):
    assert BACKEND.supports(opdef.name), f"numba-cuda has no kernel for {opdef.name}"


@needs_device
@pytest.mark.parametrize("opdef, dtype", CASES, ids=[f"{o.name}-{d.value}" for o, d in CASES])
def test_every_op_matches_the_interpreter(opdef, dtype):
    m = retyped_example(opdef, dtype)
    rng = np.random.default_rng(0)
    low, high = opdef.sample_range()  # inside the op's declared domain
    inputs = random_inputs(m.main, rng, low=low, high=high)
    assert_matches_interpreter(m, inputs, backend="numba-cuda", pipeline="")
    assert_matches_interpreter(m, inputs, backend="numba-cuda")  # fused and planned


@needs_device
@settings(max_examples=15, deadline=None)
@given(programs(max_ops=8))
def test_random_programs_match_the_interpreter(module):
    assert_matches_interpreter(module, program_inputs(module), backend="numba-cuda")


@needs_device
def test_block_reductions_and_tiled_products():
    """Reductions long enough for the shared-memory tree (rows, columns, everything, with a
    NaN for max), and products whose sizes are not multiples of the tile, with epilogues."""
    src = """
func @f(%x: f32[3,150], %y: f32[150,3], %a: f32[9,13], %b: f32[11,13], %c: f32[11], %p: f32[2,5,7], %q: f32[2,3,7]) -> (f32[3], f32[3], f32[3], f32[], f32[9,11], f32[2,5,3]) {
  %e = "xl.exp"(%x) : (f32[3,150]) -> f32[3,150]
  %0 = "xl.reduce_sum"(%e) {axes = [1]} : (f32[3,150]) -> f32[3]
  %1 = "xl.reduce_max"(%x) {axes = [1]} : (f32[3,150]) -> f32[3]
  %2 = "xl.reduce_min"(%y) {axes = [0]} : (f32[150,3]) -> f32[3]
  %3 = "xl.reduce_sum"(%y) {axes = [0, 1]} : (f32[150,3]) -> f32[]
  %4 = "xl.dot_general"(%a, %b) {contract = [[1], [1]], batch = [[], []]} : (f32[9,13], f32[11,13]) -> f32[9,11]
  %5 = "xl.broadcast_in_dim"(%c) {shape = [9, 11], dims = [1]} : (f32[11]) -> f32[9,11]
  %6 = "xl.add"(%4, %5) : (f32[9,11], f32[9,11]) -> f32[9,11]
  %z = "xl.constant"() {value = dense<0.0> : f32[9,11]} : () -> f32[9,11]
  %7 = "xl.max"(%6, %z) : (f32[9,11], f32[9,11]) -> f32[9,11]
  %8 = "xl.dot_general"(%p, %q) {contract = [[2], [2]], batch = [[0], [0]]} : (f32[2,5,7], f32[2,3,7]) -> f32[2,5,3]
  return %0, %1, %2, %3, %7, %8
}"""
    m = parse_module(src)
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal(t.shape).astype(np.float32) for t in m.main.arg_types]
    inputs[0][1, 77] = np.nan  # max propagates it; the sum of exp too
    assert_matches_interpreter(m, inputs, backend="numba-cuda")


@needs_device
@pytest.mark.parametrize("stride, padding, dilation, groups", [
    ((1, 1), ((1, 1), (1, 1)), (1, 1), 1), ((2, 1), ((0, 1), (1, 0)), (1, 2), 2)])
def test_conv_family_and_pooling(stride, padding, dilation, groups):
    a = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    geo = (f"stride = [{stride[0]}, {stride[1]}], padding = [[{padding[0][0]}, {padding[0][1]}], "
           f"[{padding[1][0]}, {padding[1][1]}]], dilation = [{dilation[0]}, {dilation[1]}], "
           f"groups = {groups}")
    from xlalite.ir import DType, TensorType
    from xlalite.ops import get_op

    conv = get_op("xl.conv2d")
    x_t, w_t = TensorType((2, 2 * groups, 5, 6), DType.F32), TensorType((2 * groups, 2, 3, 2), DType.F32)
    y_t = conv.infer_types([x_t, w_t], conv.normalize_attrs(a))[0]
    src = f"""
func @f(%x: {x_t}, %w: {w_t}, %g: {y_t}, %b: f32[{w_t.shape[0]}]) -> ({y_t}, {x_t}, {w_t}, f32[2,{x_t.shape[1]},4,3]) {{
  %0 = "xl.conv2d"(%x, %w) {{{geo}}} : ({x_t}, {w_t}) -> {y_t}
  %1 = "xl.broadcast_in_dim"(%b) {{shape = {list(y_t.shape)}, dims = [1]}} : (f32[{w_t.shape[0]}]) -> {y_t}
  %2 = "xl.add"(%0, %1) : ({y_t}, {y_t}) -> {y_t}
  %3 = "xl.conv2d_grad_input"(%g, %w) {{input_size = [5, 6], {geo}}} : ({y_t}, {w_t}) -> {x_t}
  %4 = "xl.conv2d_grad_weight"(%x, %g) {{kernel_size = [3, 2], {geo}}} : ({x_t}, {y_t}) -> {w_t}
  %5 = "xl.reduce_window_max"(%x) {{window = [1, 1, 2, 2], strides = [1, 1, 1, 2], padding = [[0, 0], [0, 0], [0, 0], [0, 0]]}} : ({x_t}) -> f32[2,{x_t.shape[1]},4,3]
  return %2, %3, %4, %5
}}"""
    m = parse_module(src)
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal(t.shape).astype(np.float32) for t in m.main.arg_types]
    assert_matches_interpreter(m, inputs, backend="numba-cuda")


@needs_device
def test_planned_reshapes_are_views_and_run_no_kernel():
    assert_reshapes_are_views("numba-cuda")


def test_results_stay_on_the_device_and_are_passed_back_without_copies():
    src = """
func @sgd(%w: f32[64], %g: f32[64]) -> f32[64] attributes {donate = [0]} {
  %lr = "xl.constant"() {value = dense<0.5> : f32[64]} : () -> f32[64]
  %0 = "xl.mul"(%lr, %g) : (f32[64], f32[64]) -> f32[64]
  %1 = "xl.sub"(%w, %0) : (f32[64], f32[64]) -> f32[64]
  return %1
}"""
    m = parse_module(src)
    from xlalite.passes import run_pipeline

    run_pipeline(m, BACKEND.default_pipeline())
    exe = BACKEND.compile(m)
    g = np.full(64, 2.0, np.float32)
    (w,) = exe(np.ones(64, np.float32), g)
    assert isinstance(w, DeviceArray) and w.shape == (64,) and w.dtype == np.float32
    (w2,) = exe(w, g)  # donated: updated where it lies
    assert w2.data is w.data
    np.testing.assert_array_equal(w2.numpy(), np.full(64, -1.0, np.float32))
    (host,) = exe(np.ones(64, np.float32), g, to_numpy=True)
    assert isinstance(host, np.ndarray)
    with pytest.raises(ArgumentError, match=r"argument #1 \('g'\).*expected f32\[64\], got f32\[3\]"):
        exe(w, np.ones(3, np.float32))


@needs_device
def test_training_step_keeps_parameters_and_optimizer_state_on_the_device():
    from xlalite import nn, optim

    def train(backend):
        nn.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

        @xl.jit(backend=backend)
        def step(x, y):
            loss = nn.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad()
            return loss

        rng = np.random.default_rng(0)
        x, y = rng.standard_normal((5, 4)).astype(np.float32), rng.integers(0, 3, 5).astype(np.int32)
        losses = [float(step(x, y)) for _ in range(3)]
        return model, losses

    model, losses = train("numba-cuda")
    weight = model[0].weight
    assert isinstance(weight.resident(), DeviceArray)  # resident between steps
    ref_model, ref_losses = train("interpreter")
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    np.testing.assert_allclose(weight.numpy(), ref_model[0].weight.numpy(), rtol=1e-5, atol=1e-6)
    assert not isinstance(weight.resident(), DeviceArray)  # reading it brought it home


def test_emit_source_prints_the_kernels(tmp_path):
    path = tmp_path / "f.xir"
    path.write_text("""
func @f(%x: f32[4,128]) -> f32[4] {
  %0 = "xl.exp"(%x) : (f32[4,128]) -> f32[4,128]
  %1 = "xl.reduce_sum"(%0) {axes = [1]} : (f32[4,128]) -> f32[4]
  return %1
}""")
    opt = os.path.join(os.path.dirname(sys.executable), "xlalite-opt")
    r = subprocess.run([opt, str(path), "-t", "numba-cuda", "--emit", "source"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "@cuda.jit(cache=True)" in r.stdout and "cuda.shared.array" in r.stdout
    assert "math.exp(" in r.stdout and "def run(args, consts, views):" in r.stdout


def test_every_kernel_compiles_to_ptx():
    """Each op's generated kernels (fused pipeline) compile for sm_70 with the real CUDA
    compiler; no GPU needed."""
    script = textwrap.dedent("""
        import math
        import numba
        import numpy as np
        from numba import cuda
        from xlalite.backends.numba_cuda.codegen import generate
        from xlalite.passes.legalize import legalize_function
        from xlalite.passes import run_pipeline
        from tests.test_numba_cpu import CASES, retyped_example
        from xlalite.ir import DType
        compiled = set()
        for opdef, dtype in CASES:
            if dtype is DType.F16:
                continue  # numba-cuda refuses f16 (test_dtypes)
            for pipeline in ("", "simplify,fuse,finalize"):
                m = retyped_example(opdef, dtype)
                run_pipeline(m, pipeline)
                legalize_function(m.main)
                prog = generate(m.main)
                for call in prog.calls:
                    source, types = prog.kernels[call.kernel].source, call.types
                    key = (source, tuple(map(str, types)))
                    if key in compiled:
                        continue
                    ns = {"cuda": cuda, "numba": numba, "np": np, "math": math}
                    exec(source, ns)
                    sig = tuple(numba.types.Array(numba.from_dtype(t.dtype.numpy), max(t.rank, 1), "C")
                                for t in types)  # scalars are stored as one-element vectors
                    cuda.compile_ptx(ns["kernel"], sig, cc=(7, 0))
                    compiled.add(key)
        print("compiled", len(compiled), "kernels to PTX")
    """)
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "0"}
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                       cwd=os.path.dirname(os.path.dirname(__file__)))
    assert r.returncode == 0, r.stderr[-3000:]
    assert int(r.stdout.split()[1]) > len(OPS)


@real_gpu
def test_real_gpu_matches_the_interpreter_on_a_large_program():
    x = np.random.default_rng(0).standard_normal((512, 1024)).astype(np.float32)
    f = xl.jit(lambda x: xl.exp(x - x.max(axis=1, keepdims=True)).sum(axis=1), backend="numba-cuda")
    np.testing.assert_allclose(np.asarray(f(x)), np.exp(x - x.max(1, keepdims=True)).sum(1), rtol=1e-5)
