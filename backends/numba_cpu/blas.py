"""General matrix products for generated kernels: BLAS ``gemm`` with leading dimensions,
offsets and accumulation, and a matrix product split over Numba's threads.

``np.dot`` in nopython mode takes whole contiguous matrices and overwrites its output. The
kernels here need sub-blocks (a row block of C, a column block of a transposed operand) and
``C += A @ B``, so :func:`gemm` calls Numba's own BLAS entry point (``numba_xxgemm``, which
forwards to SciPy's BLAS, as ``np.dot`` does) with explicit leading dimensions. Calls compile
to a named symbol, not an address, so kernels using it are cacheable like ``np.dot``.

Threads: :func:`matmul` splits C into row (or column) blocks, one per thread slot, each computed by a
single-threaded BLAS call; the executable keeps BLAS at one thread while it runs, so Numba
owns the cores in every kernel (see threads.py). A given thread count always splits the same
way, so results are reproducible run to run.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.core.extending import intrinsic
from numba.np.linalg import ensure_blas, get_blas_kind

_CHAR = ir.IntType(8)
_VOIDP = _CHAR.as_pointer()
_INTP = cgutils.intp_t


@intrinsic
def _xxgemm(typingctx, trans_a, trans_b, m, n, k, alpha, a, a_off, lda, b, b_off, ldb, beta,
            c, c_off, ldc):
    """Row-major C[m, n] (at c_off, row stride ldc) = alpha op(A) op(B) + beta C, where op(X)
    is X or X^T (trans_*: 0 or 1) and A, B are row-major with row strides lda, ldb."""
    if not all(isinstance(t, types.Array) for t in (a, b, c)) or len({a.dtype, b.dtype, c.dtype}) != 1:
        return None
    dtype = c.dtype
    sig = types.int32(trans_a, trans_b, m, n, k, alpha, a, a_off, lda, b, b_off, ldb, beta, c,
                      c_off, ldc)

    def codegen(context, builder, signature, args):
        ensure_blas()
        ta, tb, m_, n_, k_, alpha_, a_, a_off_, lda_, b_, b_off_, ldb_, beta_, c_, c_off_, ldc_ = args
        fnty = ir.FunctionType(ir.IntType(32), [_CHAR, _CHAR, _CHAR, _INTP, _INTP, _INTP, _VOIDP,
                                                _VOIDP, _INTP, _VOIDP, _INTP, _VOIDP, _VOIDP, _INTP])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "numba_xxgemm")
        argtys = signature.args

        def pointer(value, ty, offset, offset_ty):
            data = context.make_array(ty)(context, builder, value).data
            off = context.cast(builder, offset, offset_ty, types.intp)
            return builder.bitcast(builder.gep(data, [off]), _VOIDP)

        def scalar_slot(value, ty):
            return builder.bitcast(cgutils.alloca_once_value(
                builder, context.cast(builder, value, ty, dtype)), _VOIDP)

        def intp(value, ty):
            return context.cast(builder, value, ty, types.intp)

        def flag(value, ty):  # BLAS is column-major: a row-major X is X^T to it
            is_t = builder.icmp_signed("!=", intp(value, ty), ir.Constant(_INTP, 0))
            return builder.select(is_t, ir.Constant(_CHAR, ord("t")), ir.Constant(_CHAR, ord("n")))

        # row-major C = op(A) op(B)  <=>  column-major C^T = op(B)^T op(A)^T
        res = builder.call(fn, (
            ir.Constant(_CHAR, ord(get_blas_kind(dtype))),
            flag(tb, argtys[1]), flag(ta, argtys[0]),
            intp(n_, argtys[3]), intp(m_, argtys[2]), intp(k_, argtys[4]),
            scalar_slot(alpha_, argtys[5]),
            pointer(b_, argtys[9], b_off_, argtys[10]), intp(ldb_, argtys[11]),
            pointer(a_, argtys[6], a_off_, argtys[7]), intp(lda_, argtys[8]),
            scalar_slot(beta_, argtys[12]),
            pointer(c_, argtys[13], c_off_, argtys[14]), intp(ldc_, argtys[15])))
        return res

    return sig, codegen


@njit(cache=True)
def gemm(trans_a, trans_b, m, n, k, a, a_off, lda, b, b_off, ldb, beta, c, c_off, ldc,
         alpha=1.0):
    """C = alpha * op(A) @ op(B) + beta * C on flat row-major storage (see _xxgemm)."""
    if m > 0 and n > 0 and k > 0:
        _xxgemm(trans_a, trans_b, m, n, k, alpha, a, a_off, lda, b, b_off, ldb, beta, c, c_off,
                ldc)
    elif beta != 1.0:  # an empty product: C = beta * C (0 * NaN is 0 here, as in BLAS)
        for i in range(m):
            for j in range(n):
                c[c_off + i * ldc + j] = 0 if beta == 0.0 else beta * c[c_off + i * ldc + j]


@njit(cache=True, parallel=True)
def matmul(a, trans_a, b, trans_b, c, slots, alpha=1.0, beta=0.0):
    """c (m x n, C-contiguous) = alpha * op(a) @ op(b) + beta * c for 2-D C-contiguous a, b,
    split into `slots` row blocks of c (column blocks if c is at least twice as wide as it
    is tall) computed in parallel, each by one BLAS call. Column blocks were 10-20% faster
    for LSTM's (64, 256) x (256, 1024) steps and the MLP's (256, 784) x (784, 512) layer."""
    m, n = c.shape
    k = a.shape[0] if trans_a else a.shape[1]
    af, bf, cf = a.reshape(-1), b.reshape(-1), c.reshape(-1)
    if slots == 1:  # on this thread: a parallel region of one would run on a worker thread
        gemm(trans_a, trans_b, m, n, k, af, 0, a.shape[1], bf, 0, b.shape[1], beta, cf, 0, n,
             alpha)
        return
    by_cols = n >= 2 * m  # a wide C splits by columns: a row block would pack all of op(b)
    extent = n if by_cols else m
    step = -(-extent // slots)
    for s in prange(slots):  # one loop: a prange under a branch can stay serial
        lo = s * step
        size = min(extent, lo + step) - lo
        if size > 0 and by_cols:  # op(b)'s columns lo.. (b's rows if transposed): c's columns
            gemm(trans_a, trans_b, m, size, k, af, 0, a.shape[1], bf,
                 lo * b.shape[1] if trans_b else lo, b.shape[1], beta, cf, lo, n, alpha)
        elif size > 0:  # a's rows lo.. (its columns, if transposed) make c's rows lo..
            gemm(trans_a, trans_b, size, n, k, af, lo if trans_a else lo * a.shape[1],
                 a.shape[1], bf, 0, b.shape[1], beta, cf, lo * n, n, alpha)


@njit(cache=True, parallel=True)
def batched(a, b, c, slots):
    """c[i] = a[i] @ b[i] for C-contiguous (B, M, K), (B, K, N), (B, M, N): batch items are
    spread over `slots` parallel workers (or, with fewer items than slots, each product's rows)."""
    nb, m, k = a.shape
    n = b.shape[2]
    if nb < slots:
        for i in range(nb):
            matmul(a[i], 0, b[i], 0, c[i], slots, 1.0, 0.0)
        return
    af, bf, cf = a.reshape(-1), b.reshape(-1), c.reshape(-1)
    if slots == 1:
        for i in range(nb):
            gemm(0, 0, m, n, k, af, i * m * k, k, bf, i * k * n, n, 0.0, cf, i * m * n, n)
        return
    for s in prange(slots):
        for i in range(s, nb, slots):
            gemm(0, 0, m, n, k, af, i * m * k, k, bf, i * k * n, n, 0.0, cf, i * m * n, n)


@njit(cache=True)
def warm_up():
    """Resolve the float32 and float64 BLAS entry points on the calling (main) thread.

    Numba looks them up lazily under the GIL; a first lookup from a parallel worker, while
    the main thread holds the GIL waiting for the workers, would deadlock."""
    x = np.ones(4, np.float32)
    gemm(0, 0, 2, 2, 2, x, 0, 2, x, 0, 2, 0.0, np.empty(4, np.float32), 0, 2)
    y = np.ones(4, np.float64)
    gemm(0, 0, 2, 2, 2, y, 0, 2, y, 0, 2, 0.0, np.empty(4, np.float64), 0, 2)
