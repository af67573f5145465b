"""Run under ``mpiexec -n 2``: every collective against NumPy on the interpreter and on
numba-cpu, called eagerly, under jit and through gradients. Exits non-zero on a mismatch."""

import numpy as np

import xlalite as xl
from xlalite import distributed

comm = distributed.init()
r, n = comm.rank, comm.size
assert n == 2, n


def every_rank(shape, dtype, seed=0):
    """Each rank's operand (all ranks can compute all of them: the oracle)."""
    return [np.random.default_rng([seed, k]).uniform(-2, 2, shape).astype(dtype) for k in range(n)]


for backend in ("interpreter", "numba-cpu"):
    for dtype in (np.float32, np.float64, np.int32):
        xs = every_rank((3, 4), dtype)
        mine = xs[r]
        for op, ref in (("sum", np.sum), ("max", np.max), ("min", np.min)) + (
                (("mean", np.mean),) if dtype != np.int32 else ()):
            got = xl.jit(lambda x, op=op: xl.all_reduce(x, op), backend=backend)(mine)
            want = ref(np.stack(xs), axis=0).astype(dtype)
            np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=f"{backend} {op} {dtype}")
        for axis in (0, 1):
            got = xl.jit(lambda x, a=axis: xl.all_gather(x, a), backend=backend)(mine)
            np.testing.assert_array_equal(got, np.concatenate(xs, axis=axis))
        got = xl.jit(lambda x: xl.reduce_scatter(x, "sum", 1), backend=backend)(mine)
        np.testing.assert_allclose(got, np.split(xs[0] + xs[1], n, axis=1)[r], rtol=1e-6)
        got = xl.jit(lambda x: xl.broadcast_from(x, 1), backend=backend)(mine)
        np.testing.assert_array_equal(got, xs[1])

    # gradients: d/dx sum(all_gather(x)^2) on rank r = reduce_scatter of 2*gathered = 2 * n * x_r
    xs = every_rank((4,), np.float64, seed=1)
    g = xl.jit(xl.grad(lambda x: xl.sum(xl.all_gather(x) ** 2)), backend=backend)(xs[r])
    np.testing.assert_allclose(g, 2 * n * xs[r], rtol=1e-12)
    g = xl.jit(xl.grad(lambda x: xl.sum(xl.all_reduce(x) ** 2)), backend=backend)(xs[r])
    np.testing.assert_allclose(g, 2 * n * (xs[0] + xs[1]), rtol=1e-12)
    g = xl.jit(xl.grad(lambda x: xl.sum(xl.broadcast_from(x, 0) ** 3)), backend=backend)(xs[r])
    np.testing.assert_allclose(g, (3 * n * xs[0] ** 2) if r == 0 else 0 * xs[r], rtol=1e-12)

# eager calls run the same ops through the interpreter
t = xl.all_reduce(xl.tensor(np.full(3, r + 1.0)), "sum")
np.testing.assert_array_equal(t.numpy(), np.full(3, 3.0))
distributed.barrier()
print(f"rank {r}: collectives ok", flush=True)
