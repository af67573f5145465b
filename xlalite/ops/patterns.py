"""Canonicalization patterns, referenced from op declarations via ``OpDef.patterns``.

Each is ``pattern(op, rw) -> bool`` (see ``xlalite.ir.rewrite``); each docstring shows the
rewrite in ``before => after`` form.
"""

from __future__ import annotations

from xlalite.ir.core import Op
from xlalite.ir.rewrite import Rewriter, is_splat, splat_constant, splat_of


def _forward(op: Op, rw: Rewriter, index: int) -> bool:
    rw.replace(op, [op.operands[index]])
    return True


def identity_rhs(value: float):
    """``op(x, c) => x`` when c is a splat of `value` (x+0, x-0, x*1, x/1)."""

    def pattern(op: Op, rw: Rewriter) -> bool:
        return is_splat(op.operands[1], value) and _forward(op, rw, 0)

    pattern.__name__ = f"rhs_identity_{value}"
    return pattern


def identity_lhs(value: float):
    """``op(c, x) => x`` when c is a splat of `value` (0+x, 1*x)."""

    def pattern(op: Op, rw: Rewriter) -> bool:
        return is_splat(op.operands[0], value) and _forward(op, rw, 1)

    pattern.__name__ = f"lhs_identity_{value}"
    return pattern


def int_mul_zero(op: Op, rw: Rewriter) -> bool:
    """``x * 0 => 0`` for integers (not floats: inf * 0 is nan)."""
    if not op.result.type.dtype.is_int:
        return False
    for v in op.operands:
        if is_splat(v, 0):
            rw.replace(op, [splat_constant(rw.builder(op), op.result, 0)])
            return True
    return False


def involution(op: Op, rw: Rewriter) -> bool:
    """``f(f(x)) => x`` for self-inverse ops such as neg."""
    inner = op.operands[0].defining_op
    if inner is not None and inner.name == op.name:
        rw.replace(op, [inner.operands[0]])
        return True
    return False


def select_constant_predicate(op: Op, rw: Rewriter) -> bool:
    """``select(splat true, a, b) => a`` and ``select(splat false, a, b) => b``."""
    pred = splat_of(op.operands[0])
    if pred is None:
        return False
    return _forward(op, rw, 1 if pred else 2)


def same_type_is_noop(op: Op, rw: Rewriter) -> bool:
    """``cast/reshape/broadcast(x) => x`` when the result type equals x's type and the op
    moves no element (identity dims for broadcast)."""
    x = op.operands[0]
    if x.type != op.result.type:
        return False
    if op.name == "xl.broadcast_in_dim" and op.attributes["dims"] != tuple(range(x.type.rank)):
        return False
    return _forward(op, rw, 0)


def compose_transpose(op: Op, rw: Rewriter) -> bool:
    """``transpose(transpose(x, p), q) => transpose(x, p∘q)``; identity perm => x."""
    perm = op.attributes["perm"]
    if perm == tuple(range(len(perm))):
        return _forward(op, rw, 0)
    inner = op.operands[0].defining_op
    if inner is None or inner.name != "xl.transpose":
        return False
    composed = tuple(inner.attributes["perm"][p] for p in perm)
    new = rw.builder(op).add("xl.transpose", inner.operands[0], perm=composed)
    rw.replace(op, [new])
    return True


def compose_reshape(op: Op, rw: Rewriter) -> bool:
    """``reshape(reshape(x)) => reshape(x)``."""
    inner = op.operands[0].defining_op
    if inner is None or inner.name != "xl.reshape":
        return False
    new = rw.builder(op).add("xl.reshape", inner.operands[0], shape=op.attributes["shape"])
    rw.replace(op, [new])
    return True


def broadcast_splat(op: Op, rw: Rewriter) -> bool:
    """``broadcast_in_dim(splat c) => splat c`` of the result shape (stored compactly)."""
    value = splat_of(op.operands[0])
    if value is None:
        return False
    rw.replace(op, [splat_constant(rw.builder(op), op.result, value)])
    return True


def _unit_dim_map(src: tuple[int, ...], dst: tuple[int, ...]) -> list[int | None] | None:
    """For a reshape that only inserts/removes size-1 dims: dst dim of each src dim (None for
    a dropped unit dim); None when the reshape moves data."""
    out: list[int | None] = []
    j = 0
    for d in src:
        while j < len(dst) and dst[j] == 1 and d != 1:
            j += 1
        if d == 1:
            if j < len(dst) and dst[j] == 1:
                out.append(j)
                j += 1
            else:
                out.append(None)
            continue
        if j >= len(dst) or dst[j] != d:
            return None
        out.append(j)
        j += 1
    if any(dst[k] != 1 for k in range(j, len(dst))):
        return None
    return out


def compose_broadcast(op: Op, rw: Rewriter) -> bool:
    """``broadcast(broadcast(x)) => broadcast(x)`` and ``broadcast(reshape(x)) =>
    broadcast(x)`` when the reshape only adds or drops unit dims (keepdims reductions)."""
    inner = op.operands[0].defining_op
    dims = op.attributes["dims"]
    if inner is None:
        return False
    if inner.name == "xl.broadcast_in_dim":
        src = inner.operands[0]
        new_dims = tuple(dims[d] for d in inner.attributes["dims"])
    elif inner.name == "xl.reshape":
        src = inner.operands[0]
        mapping = _unit_dim_map(src.type.shape, inner.result.type.shape)
        if mapping is None:
            return False
        new_dims = tuple(dims[m] if m is not None else -1 for m in mapping)
        if -1 in new_dims:  # a dropped unit dim of the source: reshape it away instead
            return False
    else:
        return False
    new = rw.builder(op).add("xl.broadcast_in_dim", src, shape=op.attributes["shape"],
                             dims=new_dims)
    rw.replace(op, [new])
    return True


def full_slice(op: Op, rw: Rewriter) -> bool:
    """``slice(x)`` covering all of x => x."""
    x = op.operands[0]
    a = op.attributes
    if a["start"] == (0,) * x.type.rank and a["limit"] == x.type.shape \
            and a["stride"] == (1,) * x.type.rank:
        return _forward(op, rw, 0)
    return False


def pad_nothing(op: Op, rw: Rewriter) -> bool:
    """``pad(x)`` with no low, high or interior padding => x."""
    a = op.attributes
    return not any(a["low"]) and not any(a["high"]) and not any(a["interior"]) \
        and _forward(op, rw, 0)


def empty_reduction(op: Op, rw: Rewriter) -> bool:
    """``reduce(x, axes=[]) => x``."""
    return op.attributes["axes"] == () and _forward(op, rw, 0)


def transpose_of_dot(op: Op, rw: Rewriter) -> bool:
    """``transpose(dot(a, b))`` that swaps the lhs-free and rhs-free dims => ``dot(b, a)``
    (no batch dims, single use): the gradient of a matmul then needs no transpose."""
    dot = op.operands[0].defining_op
    if dot is None or dot.name != "xl.dot_general" or len(dot.results[0].uses) != 1:
        return False
    (ca, cb), (ba, bb) = dot.attributes["contract"], dot.attributes["batch"]
    if ba or bb:
        return False
    a, b = dot.operands
    n_a = a.type.rank - len(ca)
    n_b = b.type.rank - len(cb)
    swapped = tuple(range(n_a, n_a + n_b)) + tuple(range(n_a))
    if op.attributes["perm"] != swapped:
        return False
    new = rw.builder(op).add("xl.dot_general", b, a, contract=(cb, ca), batch=((), ()))
    rw.replace(op, [new])
    return True


def small_power(op: Op, rw: Rewriter) -> bool:
    """``x ** c`` for a splat c in {1, 2, 3, 0.5} => x, x*x, x*x*x, sqrt(x) (a pow call would
    keep kernels from vectorizing; results may differ from pow in the last bit)."""
    c = splat_of(op.operands[1])
    x = op.operands[0]
    if c not in (1, 2, 3, 0.5):
        return False
    b = rw.builder(op)
    if c == 1:
        new = x
    elif c == 0.5:
        new = b.add("xl.sqrt", x)
    else:
        new = b.add("xl.mul", x, x)
        if c == 3:
            new = b.add("xl.mul", new, x)
    rw.replace(op, [new])
    return True


def fold_transpose_into_dot(op: Op, rw: Rewriter) -> bool:
    """``dot(transpose(a, p), b) => dot(a, b)`` with the contraction/batch dims mapped through
    p, when a's free dims keep their order (so the result layout is unchanged); likewise for
    the rhs. BLAS then reads the original array (a transposed-view flag), with no copy."""
    contract, batch = [list(c) for c in op.attributes["contract"]], \
        [list(b) for b in op.attributes["batch"]]
    operands = list(op.operands)
    changed = False
    for side in (0, 1):
        t = operands[side].defining_op
        if t is None or t.name != "xl.transpose":
            continue
        perm = t.attributes["perm"]
        used = set(contract[side]) | set(batch[side])
        free = [perm[d] for d in range(len(perm)) if d not in used]
        if free != sorted(free):
            continue
        contract[side] = [perm[d] for d in contract[side]]
        batch[side] = [perm[d] for d in batch[side]]
        operands[side] = t.operands[0]
        changed = True
    if not changed:
        return False
    new = rw.builder(op).add("xl.dot_general", *operands,
                             contract=tuple(tuple(c) for c in contract),
                             batch=tuple(tuple(b) for b in batch))
    rw.replace(op, [new])
    return True
