"""Reverse-mode rules of the control-flow ops (``xl.cond``, ``xl.scan``, ``xl.while``).

A body is differentiated like a function: the rules turn a region into a
:class:`~xlalite.ir.core.Function` and call ``e.differentiate`` (the autodiff pass's
``vjp_function``, handed down through the Emitter so this layer does not import the passes).

* ``cond``: the VJP is a ``cond`` over the branches' VJPs (each branch recomputes its forward
  values; only the taken branch runs).
* ``scan``: the forward scan is extended in place to also stack the per-step values its body's
  VJP needs (residuals); a reverse scan then runs the body's VJP over them, carrying the
  carries' cotangents and accumulating the consts' gradients. Values the VJP needs that depend
  on the consts alone are recomputed in the reverse body (loop-invariant code motion hoists
  them out) instead of being stacked. A scan with ``remat`` stacks only its carries and
  recomputes every other value in the reverse body: less memory, one more forward pass.
* ``while``: no rule (the trip count is unknown, so there is nothing to stack the residuals
  in); the error names ``fori_loop``/``scan``, as JAX's does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from xlalite.ir.builder import Builder
from xlalite.ir.core import YIELD, Block, Op, Region, Value, clone_op
from xlalite.ir.types import TensorType
from xlalite.ops.emit import Emitter
from xlalite.ops.regions import block_function, function_region


def _floats(values: Sequence[Value]) -> list[int]:
    return [i for i, v in enumerate(values) if v.type.dtype.is_float]


def cond_vjp(e: Emitter, op: Op, cts: Any) -> list[Value | None]:
    """cond(p, x) -> y  =>  dx = cond(p, [vjp(branch) for each branch])(x, dy)"""
    cts = cts if isinstance(cts, list) else [cts]
    index, *inputs = op.operands
    wrt = _floats(inputs)
    if not wrt:
        return [None] * len(op.operands)
    n_out = len(op.results)
    regions = []
    for region in op.regions:
        grad = e.differentiate(block_function(region.blocks[0]), wrt)
        regions.append(function_region(grad, range(n_out, n_out + len(wrt))))
    grad_op = e.b.insert(Op("xl.cond", [index, *inputs, *cts], [inputs[i].type for i in wrt],
                            {}, regions, op.loc))
    grads: list[Value | None] = [None] * len(op.operands)
    for i, g in zip(wrt, grad_op.results):
        grads[1 + i] = g
    return grads


def while_vjp(e: Emitter, op: Op, cts: Any) -> list[Value | None]:
    raise ValueError("reverse-mode differentiation of a while loop is not supported: its trip "
                     "count is unknown when the program is built. Use xl.fori_loop with "
                     "Python-int bounds or xl.scan, which are differentiable")


def _varying(forward: Sequence[Op], args: set[Value]) -> set[Value]:
    """`args` and the values of `forward` (ops in order) computed from any of them."""
    out = set(args)
    for o in forward:
        if any(v in out for v in o.operands):
            out.update(o.results)
    return out


def scan_vjp(e: Emitter, op: Op, cts: Any) -> list[Value | None]:
    """c, ys = scan(f, k, c0, xs)  =>  (d c0, d k, d xs) = scan(vjp(f), reverse, ...)"""
    cts = cts if isinstance(cts, list) else [cts]
    k, c, n = (op.attributes[a] for a in ("num_consts", "num_carries", "length"))
    consts, init, xs = op.operands[:k], op.operands[k:k + c], op.operands[k + c:]
    n_y = len(op.results) - c
    body = op.regions[0].blocks[0]
    fk, fc, fx = _floats(consts), _floats(init), _floats(xs)
    wrt = fk + [k + j for j in fc] + [k + c + j for j in fx]
    if not wrt:
        return [None] * len(op.operands)
    f = block_function(body)
    g = e.differentiate(f, wrt)  # (k, c, x, ct c', ct y) -> (c', y, dk, dc, dx)
    n_fwd = len(f.body.ops) - 1
    forward, backward = g.body.ops[:n_fwd], g.body.ops[n_fwd:]
    g_consts, g_carries = g.args[:k], g.args[k:k + c]
    g_xs = g.args[k + c:k + c + len(xs)]
    g_ct = g.args[k + c + len(xs):]
    fwd_values = {r for o in forward for r in o.results}
    needed: list[Value] = []
    read = [v for o in backward[:-1] for v in o.operands] + list(g.outputs[c + n_y:])
    for v in read:
        if (v in fwd_values or v in g_carries) and v not in needed:
            needed.append(v)
    if op.attributes.get("remat", False):  # stack the carries only; the reverse body recomputes the rest
        invariant = {v for v in needed if v not in g_carries}
        inputs = _closure(invariant, forward)
        residuals = [a for a in g_carries if a in needed or a in inputs]
    else:
        varying = _varying(forward, set(g_carries) | set(g_xs))
        residuals = [v for v in needed if v in varying]
        invariant = {v for v in needed if v not in varying}

    # the forward scan also stacks the residuals (edited in place: its results stay valid)
    yields = list(g.outputs[:c + n_y]) + residuals
    new_body = Block(g.arg_types[:k + c + len(xs)])
    mapping: dict[Value, Value] = dict(zip(g.args, new_body.args))
    for o in forward:
        new_body.append(clone_op(o, mapping))
    new_body.append(Op(YIELD, [mapping[v] for v in yields], []))
    op.regions = []
    op.add_region(Region([new_body]))
    first = len(op.results)
    for i, v in enumerate(residuals):
        op.results.append(Value(TensorType((n, *v.type.shape), v.type.dtype), op, first + i))
    stacked_res = op.results[first:]

    # the reverse scan: consts; carries (d c, d k accumulated); xs (residuals, xs, d ys)
    b_consts = list(consts)
    b_carries = [cts[j] for j in fc] + [e.zeros(consts[i]) for i in fk]
    b_xs = list(stacked_res) + list(xs) + list(cts[c:])
    block = Block([v.type for v in b_consts] + [v.type for v in b_carries] +
                  [TensorType(v.type.shape[1:], v.type.dtype) for v in b_xs])
    args = iter(block.args)
    bmap: dict[Value, Value] = {}
    bmap.update(zip(g_consts, [next(args) for _ in consts]))
    ct_carry = [next(args) for _ in fc]
    acc = [next(args) for _ in fk]
    bmap.update(zip(residuals, [next(args) for _ in residuals]))
    bmap.update(zip(g_xs, [next(args) for _ in xs]))
    bmap.update(zip(g_ct[c:], [next(args) for _ in range(n_y)]))
    be = Emitter(Builder(block))
    for j, arg in enumerate(g_ct[:c]):  # cotangents of integer carries are zeros
        bmap[arg] = ct_carry[fc.index(j)] if j in fc else be.zeros(arg)
    recompute = _closure(invariant, forward)
    for o in forward:  # values the VJP reads that were not stacked: recomputed
        if any(r in recompute for r in o.results):
            block.append(clone_op(o, bmap))
    for o in backward[:-1]:
        block.append(clone_op(o, bmap))
    grads = [bmap[v] for v in g.outputs[c + n_y:]]
    d_k, d_c, d_x = grads[:len(fk)], grads[len(fk):len(fk) + len(fc)], grads[len(fk) + len(fc):]
    block.append(Op(YIELD, d_c + [be.add(a, d) for a, d in zip(acc, d_k)] + d_x, []))
    result_types = [v.type for v in b_carries] + [xs[j].type for j in fx]
    attrs = {"num_consts": k, "num_carries": len(b_carries), "length": n,
             "reverse": not op.attributes["reverse"], "remat": False}
    back = e.b.insert(Op("xl.scan", b_consts + b_carries + b_xs, result_types, attrs,
                         [Region([block])], op.loc))
    out: list[Value | None] = [None] * len(op.operands)
    for i, r in zip(fc, back.results[:len(fc)]):
        out[k + i] = r
    for i, r in zip(fk, back.results[len(fc):len(fc) + len(fk)]):
        out[i] = r
    for i, r in zip(fx, back.results[len(fc) + len(fk):]):
        out[k + c + i] = r
    return out


def _closure(values: set[Value], forward: Sequence[Op]) -> set[Value]:
    """`values` and every forward value they are computed from."""
    producers = {r: o for o in forward for r in o.results}
    out: set[Value] = set()
    stack = list(values)
    while stack:
        v = stack.pop()
        if v in out:
            continue
        out.add(v)
        o = producers.get(v)
        if o is not None:
            stack.extend(o.operands)
    return out
