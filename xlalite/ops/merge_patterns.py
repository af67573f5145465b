"""Canonicalization patterns that merge the per-piece gradients reverse mode produces.

The gradient of slicing an array into pieces (LSTM gates, the steps of an unrolled loop,
attention heads) is one zero-padded array per piece, summed: T pieces of a (T, ...) array
cost T full-size temporaries. The gradient of a weight shared by T matrix products is a sum
of T products. These patterns turn such sums into one concatenate and one product:

* ``pad(a) + pad(b)`` tiling adjacent ranges of one axis => ``pad(concatenate(a, b))``;
* ``concatenate(concatenate(a, b), c)`` on one axis => ``concatenate(a, b, c)``;
* ``dot(a1, b1) + dot(a2, b2)`` with one contraction dim => ``dot(concat(a1, a2), concat(b1,
  b2))`` contracting over both, when the product is at least as large as the operands it
  copies (so the concatenate costs less than the temporary it saves);
* a scan carry accumulating ``dot(a_t, b_t)`` each step => one product of the stacked a and b
  after the loop (the same sum, over a loop).

The first two are exact and run in canonicalize. The last two sum in a different order (as any
BLAS blocking does), so it runs only in the ``merge-dot-sums`` pass. Each fires only on
single-use operands, so nothing is computed twice.
"""

from __future__ import annotations

from xlalite.ir.core import Op, Value
from xlalite.ir.rewrite import Rewriter, is_splat
from xlalite.ir.types import TensorType
from xlalite.ops.regions import drop_args, replace_yield, scan_parts


def _sole_use(v: Value, name: str) -> Op | None:
    op = v.defining_op
    if op is None or op.name != name or len(v.uses) != 1:
        return None
    return op


def add_of_adjacent_pads(op: Op, rw: Rewriter) -> bool:
    """``pad(a, 0) + pad(b, 0) => pad(concatenate(a, b), 0)`` when a and b sit side by side
    along one axis and are padded identically along every other axis."""
    p, q = (_sole_use(v, "xl.pad") for v in op.operands)
    if p is None or q is None or p is q:
        return False
    for pad in (p, q):
        if any(pad.attributes["interior"]) or not is_splat(pad.operands[1], 0):
            return False
    lo_p, hi_p = p.attributes["low"], p.attributes["high"]
    lo_q, hi_q = q.attributes["low"], q.attributes["high"]
    differ = [d for d in range(len(lo_p)) if (lo_p[d], hi_p[d]) != (lo_q[d], hi_q[d])]
    if len(differ) != 1:
        return False
    (axis,) = differ
    size_p, size_q = p.operands[0].type.shape[axis], q.operands[0].type.shape[axis]
    if lo_p[axis] + size_p == lo_q[axis]:
        first, second = p, q
    elif lo_q[axis] + size_q == lo_p[axis]:
        first, second = q, p
    else:
        return False
    b = rw.builder(op)
    joined = b.add("xl.concatenate", first.operands[0], second.operands[0], axis=axis)
    low = list(first.attributes["low"])
    high = list(first.attributes["high"])
    high[axis] = second.attributes["high"][axis]
    new = b.add("xl.pad", joined, first.operands[1], low=tuple(low), high=tuple(high),
                interior=first.attributes["interior"])
    rw.replace(op, [new])
    return True


def flatten_concatenate(op: Op, rw: Rewriter) -> bool:
    """``concatenate(concatenate(a, b), c) => concatenate(a, b, c)`` along the same axis."""
    axis = op.attributes["axis"]
    flat: list[Value] = []
    changed = False
    for v in op.operands:
        inner = _sole_use(v, "xl.concatenate")
        if inner is not None and inner.attributes["axis"] == axis:
            flat.extend(inner.operands)
            changed = True
        else:
            flat.append(v)
    if not changed:
        return False
    rw.replace(op, [rw.builder(op).add("xl.concatenate", *flat, axis=axis)])
    return True


def add_of_dots(op: Op, rw: Rewriter) -> bool:
    """``dot(a1, b1) + dot(a2, b2) => dot(concatenate(a1, a2), concatenate(b1, b2))`` for
    products with one contraction dim, no batch dims and equal attributes, when the result is
    at least as large as the second product's operands (which the concatenates copy)."""
    d1, d2 = (_sole_use(v, "xl.dot_general") for v in op.operands)
    if d1 is None or d2 is None or d1 is d2:
        return False
    (ca, cb), batch = d1.attributes["contract"], d1.attributes["batch"]
    if (ca, cb) != d2.attributes["contract"] or batch != d2.attributes["batch"]:
        return False
    if len(ca) != 1 or any(batch):
        return False
    (a1, b1), (a2, b2) = d1.operands, d2.operands
    for x, y, axis in ((a1, a2, ca[0]), (b1, b2, cb[0])):
        if x.type.dtype != y.type.dtype or x.type.rank != y.type.rank or any(
                m != n for d, (m, n) in enumerate(zip(x.type.shape, y.type.shape)) if d != axis):
            return False
    if op.results[0].type.size < a2.type.size + b2.type.size:
        return False  # copying the operands would cost more than the temporary saves
    b = rw.builder(op)
    lhs = b.add("xl.concatenate", a1, a2, axis=ca[0])
    rhs = b.add("xl.concatenate", b1, b2, axis=cb[0])
    rw.replace(op, [b.add("xl.dot_general", lhs, rhs, contract=(ca, cb), batch=batch)])
    return True


def scan_of_dots(op: Op, rw: Rewriter) -> bool:
    """A scan carry that only accumulates one product per step, ``acc' = acc + dot(a_t,
    b_t)`` (the gradient of a weight a loop reads), becomes one product after the loop:
    ``acc0 + dot(stacked a, stacked b)`` contracting over the steps too. The loop stacks a
    and b as outputs (or reads the xs they are already), and the weight-sized add per step is
    gone: an RNN's backward loop then holds only the products it must run step by step."""
    consts, init, xs = scan_parts(op)
    k, c = len(consts), len(init)
    block = op.regions[0].blocks[0]
    term = block.terminator
    assert term is not None
    for j in range(c):
        arg = block.args[k + j]
        add = arg.uses[0].op if len(arg.uses) == 1 else None
        if add is None or add.name != "xl.add" or term.operands[j] is not add.results[0] \
                or len(add.results[0].uses) != 1:
            continue
        first = add.operands[0] is arg
        dot = _sole_use(add.operands[1 if first else 0], "xl.dot_general")
        if dot is None or dot.attributes["batch"] != ((), ()) or \
                any(v in block.args[:k] for v in dot.operands):
            continue
        stacked: list[Value | int] = []  # an xs operand, or which result of the new scan
        extra: list[Value] = []
        ys = list(term.operands[c:])
        for v in dot.operands:
            if v in block.args[k + c:]:
                stacked.append(xs[v.index - k - c])
            elif v in ys:
                stacked.append(c - 1 + ys.index(v))
            else:
                stacked.append(len(op.results) - 1 + len(extra))
                extra.append(v)
        dims = dot.attributes["contract"]
        contract = tuple((0, *(d + 1 for d in ds)) for ds in dims)
        replace_yield(block, [v for i, v in enumerate(term.operands) if i != j] + extra)
        add.erase()
        dot.erase()
        drop_args(block, {k + j})
        n = op.attributes["length"]
        types = [r.type for i, r in enumerate(op.results) if i != j] + \
            [TensorType((n, *v.type.shape), v.type.dtype) for v in extra]
        regions, op.regions = op.regions, []
        attrs = dict(op.attributes, num_carries=c - 1)
        new = rw.builder(op).insert(Op("xl.scan", consts + init[:j] + init[j + 1:] + xs,
                                         types, attrs, regions, op.loc))
        lhs, rhs = (new.results[s] if isinstance(s, int) else s for s in stacked)
        b = rw.builder(op)
        if dims == ((0,), (0,)):  # steps and the contracted dim are adjacent: one 2-D product
            lhs, rhs = (b.add("xl.reshape", s, shape=(n * s.type.shape[1], *s.type.shape[2:]))
                        for s in (lhs, rhs))
            contract = ((0,), (0,))
        total = b.add("xl.dot_general", lhs, rhs, contract=contract, batch=((), ()))
        if is_splat(init[j], 0):
            result = total
        else:
            result = b.add("xl.add", init[j], total) if first else b.add("xl.add", total, init[j])
        rw.replace(op, [new.results[i] if i < j else result if i == j else new.results[i - 1]
                        for i in range(len(op.results))])
        return True
    return False
