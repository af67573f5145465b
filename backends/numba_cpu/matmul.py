"""Matrix-product kernels: BLAS (blas.py) on the canonical layout, then an elementwise
epilogue, or, when the group is an accumulation ``C ± alpha * (A @ B)``, one BLAS call that
accumulates into C (``beta = 1``): an SGD update of a weight by its gradient costs no second
pass over the weight and no scratch for the product.
"""

from __future__ import annotations

from collections.abc import Sequence

from xlalite.backends.base import CodegenError
from xlalite.backends.numba_common.scalar import literal
from xlalite.backends.numba_cpu.loops import epilogue
from xlalite.ir.core import Op, Value
from xlalite.ir.rewrite import splat_of
from xlalite.ir.types import DType
from xlalite.ops.linalg import free_dims
from xlalite.ops.registry import work

#: matrix products (and convolutions) with fewer multiply-adds run on one thread
PARALLEL_MIN_MACS = 1 << 21


def matmul_kernel(ops: Sequence[Op], inputs: Sequence[Value], root: Value, approx: bool,
                  alias: int, slots: int) -> tuple[str, int, tuple[int, ...]]:
    """BLAS on the canonical (B, M, K) x (B, K, N) layout (a plain matrix product passes
    transposed operands as flags), split over `slots` threads (blas.py), then the elementwise
    epilogue in place over ``out``. Returns the source, the scratch bytes it needs and its
    integer arguments (flags and slots are arguments: as literals, each combination would
    compile blas.matmul again).

    `alias`: the input out overwrites in place (-1: none); the product then goes to scratch."""
    (dot,) = [op for op in ops if op.name == "xl.dot_general"]
    lhs, rhs = dot.operands
    if lhs not in inputs or rhs not in inputs:
        raise CodegenError("matmul kernels read both operands from memory")
    (ca, cb), (ba, bb) = dot.attributes["contract"], dot.attributes["batch"]
    fa, fb = free_dims(lhs.type.rank, ca, ba), free_dims(rhs.type.rank, cb, bb)
    li, ri = f"in{inputs.index(lhs)}", f"in{inputs.index(rhs)}"
    has_epilogue = root is not dot.results[0]
    dtype = dot.results[0].type.dtype
    plain = not ba and lhs.type.rank == rhs.type.rank == 2 and dtype.is_float and len(ca) == 1
    acc = accumulation(ops, dot, inputs, root) if plain and has_epilogue else None
    if acc is not None and alias not in (-1, acc[0]):
        acc = None  # out overwrites an operand of the product
    # out cannot hold the product if it aliases an input the epilogue reads, or has another
    # element type (a comparison, a cast)
    product = "prod" if (has_epilogue and acc is None
                         and (alias >= 0 or root.type.dtype != dtype)) else "out"
    params = [f"in{k}" for k in range(len(inputs))] + ["out"] + (["scratch"] if product == "prod" else [])
    if work(dot) < PARALLEL_MIN_MACS:  # multiply-adds (dot_general's declared cost)
        slots = 1  # waking a second thread costs more than it saves
    names: tuple[str, ...]
    extents: tuple[int, ...]
    if plain:
        names, extents = ("trans_a", "trans_b", "slots"), (int(ca != (1,)), int(cb != (0,)), slots)
    else:
        names, extents = (("slots",), (slots,)) if dtype.is_float else ((), ())
    params += names
    lines = [f"def kernel({', '.join(params)}):"]
    scratch = dot.results[0].type.nbytes if product == "prod" else 0
    if product == "prod":
        lines.append(f"    prod = scratch[:out.size * {dtype.numpy.itemsize}]"
                     f".view(np.{dtype.numpy.name}).reshape(out.shape)")

    def arrange(name: str, perm: list[int], groups: list[list[int]], target: str) -> None:
        order = ", ".join(map(str, perm))
        src = name if perm == sorted(perm) else f"np.ascontiguousarray({name}.transpose(({order},)))"
        lines.append(f"    {target}_src = {src}")
        dims, k = [], 0
        for g in groups:
            dims.append(" * ".join([f"{target}_src.shape[{k + j}]" for j in range(len(g))]) or "1")
            k += len(g)
        lines.append(f"    {target} = {target}_src.reshape(({', '.join(dims)},))")

    if acc is not None:  # out = C + alpha * (A @ B), one BLAS call
        k, alpha = acc
        if alias != k:
            lines.append(f"    lib.copy_flat(in{k}.reshape(-1), out.reshape(-1))")
        lines.append(f"    blas.matmul({li}, trans_a, {ri}, trans_b, out, slots, {alpha}, 1.0)")
        return "\n".join(lines) + "\n", 0, extents
    # alpha and beta are always passed (floats), so every product calls the one signature of
    # blas.matmul: each more would be another parallel library compile (~2 s, once per install)
    if plain:  # BLAS takes a transposed operand as a flag, so the weight is never copied
        lines.append(f"    blas.matmul({li}, trans_a, {ri}, trans_b, {product}, slots, 1.0, 0.0)")
        if has_epilogue:
            epilogue(lines, dot, inputs, root, product, approx, alias=alias)
        return "\n".join(lines) + "\n", scratch, extents
    arrange(li, list(ba) + fa + list(ca), [list(ba), fa, list(ca)], "a")
    arrange(ri, list(bb) + list(cb) + fb, [list(bb), list(cb), fb], "b")
    lines.append(f"    o = {product}.reshape((a.shape[0], a.shape[1], b.shape[2]))")
    if dtype.is_float:
        lines.append("    blas.batched(a, b, o, slots)")
    else:  # BLAS has no integer GEMM
        lines += ["    for bi in range(a.shape[0]):",
                  "        for i in range(a.shape[1]):",
                  "            for j in range(b.shape[2]):",
                  f"                s = {literal(0, lhs.type.dtype)}",
                  "                for k in range(a.shape[2]):",
                  "                    s += a[bi, i, k] * b[bi, k, j]",
                  "                o[bi, i, j] = s"]
    if has_epilogue:  # epilogue over the matmul result, in place
        epilogue(lines, dot, inputs, root, product, approx, alias=alias)
    return "\n".join(lines) + "\n", scratch, extents


def _scalar(v: Value, inputs: Sequence[Value]) -> str | None:
    """`v` as the source of one f64 number, when it repeats one: a splat constant, or a
    broadcast of a rank-0 input (optionally cast), such as a learning rate read at run time."""
    s = splat_of(v)
    if s is not None:
        return literal(float(s), DType.F64)  # inf and nan spelled as np.inf, np.nan
    op = v.owner if isinstance(v.owner, Op) else None
    if op is None or op.name != "xl.broadcast_in_dim" or op.operands[0].type.rank != 0:
        return None
    src = op.operands[0]
    if isinstance(src.owner, Op) and src.owner.name == "xl.cast":
        src = src.owner.operands[0]
    return f"np.float64(in{inputs.index(src)}[()])" if src in inputs and src.type.rank == 0 \
        else None


def accumulation(ops: Sequence[Op], dot: Op, inputs: Sequence[Value],
                 root: Value) -> tuple[int, str] | None:
    """(k, alpha) when the group computes ``inputs[k] + alpha * dot`` (through one optional
    scaling by a scalar, see _scalar, and an add or a sub) with inputs[k] not an operand of
    the product; alpha is the source of an f64 number. None otherwise."""
    product, alpha = dot.results[0], "1.0"
    chain = [op for op in ops if op is not dot and op.name != "xl.constant"  # scalar parts:
             and not (op.name == "xl.cast" and op.results[0].type.rank == 0)
             and not (op.name == "xl.broadcast_in_dim" and _scalar(op.results[0], inputs))]
    if len(chain) == 2 and chain[0].name == "xl.mul":
        factors = [_scalar(v, inputs) for v in chain[0].operands if v is not product]
        if product not in chain[0].operands or len(factors) != 1 or factors[0] is None:
            return None
        product, alpha = chain[0].results[0], factors[0]
        chain = chain[1:]
    if len(chain) != 1 or chain[0].name not in ("xl.add", "xl.sub") or chain[0].results[0] is not root:
        return None
    lhs, rhs = chain[0].operands
    if chain[0].name == "xl.sub" and rhs is product:
        alpha = f"-{alpha}"
    elif not (chain[0].name == "xl.add" and product in (lhs, rhs)):
        return None  # product - C would need C negated
    c = rhs if lhs is product else lhs
    if c not in inputs or c in dot.operands or c.type != root.type:
        return None
    return inputs.index(c), alpha
