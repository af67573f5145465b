"""ONNX control flow: ``If`` as ``xl.cond``, ``Loop`` as ``xl.while_loop`` or ``xl.scan``.

Subgraphs see the values of the enclosing graph by name; inside a body they become the
body's closed-over operands. A condition known at import time inlines the branch taken.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx

import xlalite.frontend.numpy_api as xnp
from xlalite.frontend.control import cond, scan, while_loop
from xlalite.frontend.tensor import Tensor, TensorBase, Tracer
from xlalite.onnx.errors import UnsupportedOpError
from xlalite.onnx.ops.common import t
from xlalite.onnx.registry import Node, handler


def _known(v: Any) -> np.ndarray | None:
    if isinstance(v, np.ndarray):
        return v
    if isinstance(v, Tensor) and not isinstance(v, Tracer):
        return v.array
    return None


def _tensors(values: list[Any]) -> tuple[TensorBase, ...]:
    return tuple(t(v) for v in values)


@handler("If")
def if_(node: Node, pred: Any) -> tuple:
    assert node.subgraph is not None
    then_g, else_g = node.attr("then_branch"), node.attr("else_branch")
    known = _known(pred)
    if known is not None:  # decided at import: only the branch taken is traced
        return tuple(node.subgraph(then_g if bool(known.reshape(-1)[0]) else else_g, {}))
    p = xnp.reshape(t(pred), ())
    run = node.subgraph
    return tuple(cond(p, lambda: _tensors(run(then_g, {})), lambda: _tensors(run(else_g, {}))))


def _always_true(body: onnx.GraphProto) -> bool:
    """Whether the body's condition output is its condition input passed through (or a
    constant true): then only the trip count ends the loop."""
    out, cond_in = body.output[0].name, body.input[1].name
    seen = {cond_in}
    for n in body.node:
        if n.op_type == "Identity" and n.input[0] in seen:
            seen.add(n.output[0])
        if n.op_type == "Constant" and n.output[0] == out:
            value = [a for a in n.attribute if a.name == "value"]
            if value and bool(onnx.numpy_helper.to_array(value[0].t).reshape(-1).all()):
                return True
    return out in seen


UNROLL_LIMIT = 256


def _unrolled(step: Any, m: int, vs: tuple, n_carried: int) -> tuple:
    steps = []
    for i in range(m):
        outs = step(np.asarray(i, np.int64), np.ones((), bool), vs)
        vs = _tensors(outs[1:1 + n_carried])
        steps.append(_tensors(outs[1 + n_carried:]))
    stacked = [xnp.concatenate([xnp.reshape(s[k], (1, *s[k].shape)) for s in steps], axis=0)
               for k in range(len(steps[0]))] if steps else []
    return (*vs, *stacked)


@handler("Loop", static=(0, 1))  # M, and the first condition: both decide scan output shapes
def loop(node: Node, trip: Any = None, keep_going: Any = None, *init: Any) -> tuple:
    assert node.subgraph is not None
    body = node.attr("body")
    n_carried = len(init)
    n_scan = len(body.output) - 1 - n_carried
    if len(body.input) != 2 + n_carried or n_scan < 0:
        raise node.error(f"the body takes {len(body.input)} inputs and makes "
                         f"{len(body.output)} outputs for {n_carried} loop-carried values")
    m = None if trip is None else int(node.static(trip, "M").reshape(-1)[0])
    names = [i.name for i in body.input]
    run = node.subgraph
    first_cond = True if keep_going is None else _known(keep_going)

    def step(i: TensorBase, c: TensorBase, vs: tuple) -> list[Any]:
        return run(body, dict(zip(names, [i, c, *vs])))

    i0 = t(np.zeros((), np.int64))
    vs0 = _tensors(list(init))
    if n_scan:
        # stacked per-iteration outputs need the trip count known: M, and a condition that
        # cannot end the loop early
        if m is None or not _always_true(body) or first_cond is None or \
                not bool(np.asarray(first_cond).reshape(-1)[0]):
            raise node.unsupported("scan outputs of a Loop whose length depends on data "
                                   "(a condition that can end it before M iterations)")
        c_true = t(np.ones((), bool))

        def scan_step(carry: tuple, _: Any) -> tuple:
            i, vs = carry
            outs = step(i, c_true, vs)
            return (i + t(np.ones((), np.int64)), _tensors(outs[1:1 + n_carried])), \
                _tensors(outs[1 + n_carried:])

        try:
            (_, vs), ys = scan(scan_step, (i0, vs0), None, length=m)
        except UnsupportedOpError:
            # the body needs the iteration number while tracing (a Slice at it): unrolled,
            # each copy with its own constant iteration number
            if not 0 < m <= UNROLL_LIMIT:
                raise
            return _unrolled(step, m, vs0, n_carried)
        return (*vs, *ys)
    if m is None and keep_going is None:
        raise node.error("a Loop with neither a trip count nor a condition never ends")
    c0 = t(np.ones((), bool)) if keep_going is None else xnp.reshape(t(keep_going), ())
    limit = None if m is None else t(np.asarray(m, np.int64))

    def go_on(carry: tuple) -> TensorBase:
        i, c, _ = carry
        return c if limit is None else xnp.where(i < limit, c, np.zeros((), bool))

    def body_fn(carry: tuple) -> tuple:
        i, c, vs = carry
        outs = step(i, c, vs)
        return (i + t(np.ones((), np.int64)), xnp.reshape(t(outs[0]), ()),
                _tensors(outs[1:1 + n_carried]))

    _, _, vs = while_loop(go_on, body_fn, (i0, c0, vs0))
    return tuple(vs)
