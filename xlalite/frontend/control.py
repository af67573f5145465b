"""Structured control flow, shaped like JAX's ``lax``: ``cond``, ``switch``, ``while_loop``,
``fori_loop`` and ``scan``, over pytrees.

Each body is traced once into a region (see ``regions.py``), so a loop becomes one op whatever
its trip count, and a branch on a traced predicate is possible at all. The same calls work
eagerly: the op runs on the interpreter at once and is recorded for ``backward()``.

    h, ys = xl.scan(lambda h, x: (step(h, x), h), h0, xs)     # carry, stacked outputs
    n = xl.fori_loop(0, 10, lambda i, v: v * 2, x)             # a scan: differentiable
    y = xl.cond(x.sum() > 0, lambda v: v * 2, lambda v: -v, x)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from xlalite.frontend.errors import located
from xlalite.frontend.numpy_api import asarray
from xlalite.frontend.pytree import TreeDef, describe, flatten, unflatten
from xlalite.frontend.regions import captures, region, stage, trace_body
from xlalite.frontend.staging import stage_module
from xlalite.frontend.tensor import TensorBase, active_trace
from xlalite.ir.types import DType, TensorType


class ControlFlowError(TypeError):
    """A control-flow call whose bodies or operands do not fit together; the message starts
    with the user's file and line."""

    def __init__(self, message: str):
        super().__init__(located(message))


def _leaves(tree: Any) -> tuple[list[TensorBase], TreeDef]:
    leaves, td = flatten(tree)
    return [asarray(x) for x in leaves], td


def _check_same(what: str, tree: TreeDef, types: Sequence[TensorType], want_tree: TreeDef,
                want: Sequence[TensorType], entering: str) -> None:
    if tree != want_tree:
        raise ControlFlowError(f"{what} returns {describe(tree)}, but {entering} "
                               f"{describe(want_tree)}")
    for k, (got, exp) in enumerate(zip(types, want)):
        if got != exp:
            raise ControlFlowError(f"{what} returns {got} for leaf #{k}, but {entering} {exp} "
                                   "there (a loop carry keeps its type; cast it with astype)")


def _predicate(pred: Any, what: str, integer: bool = False) -> TensorBase:
    p = asarray(pred)
    ok = p.type.dtype.is_int if integer else p.type.dtype.is_bool
    if p.type.rank != 0 or not ok:
        want = "a scalar integer index" if integer else "a scalar bool"
        hint = "" if integer else " (compare it, e.g. x.sum() > 0, or use xl.switch for an index)"
        raise ControlFlowError(f"{what} needs {want}, got {p.type}{hint}")
    return p


# --- cond / switch -----------------------------------------------------------------------
def switch(index: Any, branches: Sequence[Callable], *operands: Any) -> Any:
    """``branches[clamp(index, 0, len(branches) - 1)](*operands)``; every branch returns the
    same structure and types. `index` is a scalar integer (as ``lax.switch``)."""
    if not branches:
        raise ControlFlowError("xl.switch needs at least one branch")
    idx = _predicate(index, "xl.switch", integer=True)
    return _cond(idx, list(branches), operands, "xl.switch")


def cond(pred: Any, true_fn: Callable, false_fn: Callable, *operands: Any) -> Any:
    """``true_fn(*operands)`` if `pred` else ``false_fn(*operands)``, with one traced program
    for both (as ``lax.cond``): `pred` is a scalar bool, both branches return the same
    structure and types."""
    return _cond(_predicate(pred, "xl.cond"), [true_fn, false_fn], operands, "xl.cond")


def _cond(index: TensorBase, fns: list[Callable], operands: Sequence[Any], what: str) -> Any:
    leaves, tree = _leaves(tuple(operands))
    parent = active_trace()
    bodies = [trace_body(f, unflatten(tree, [x.type for x in leaves]),
                         parent) for f in fns]
    first = bodies[0]
    for k, body in enumerate(bodies[1:], 1):
        _check_same(f"{what} branch #{k}", body.tree, body.output_types, first.tree,
                    first.output_types, "branch #0 returns")
    consts = captures(*bodies)
    regions = [region(b, consts, front=False) for b in bodies]
    results = stage("xl.cond", [index, *leaves, *consts], first.output_types, {}, regions)
    return unflatten(first.tree, results)


# --- while_loop / fori_loop ----------------------------------------------------------------
def while_loop(cond_fun: Callable, body_fun: Callable, init_val: Any) -> Any:
    """Repeat ``val = body_fun(val)`` while ``cond_fun(val)``; `val` keeps its structure and
    types (as ``lax.while_loop``). Forward-mode only: reverse-mode differentiation needs a
    trip count known when tracing (use fori_loop with Python-int bounds, or scan)."""
    leaves, tree = _leaves(init_val)
    types = [x.type for x in leaves]
    parent = active_trace()
    c = trace_body(cond_fun, (unflatten(tree, types),), parent)
    if len(c.outputs) != 1 or c.output_types[0] != TensorType((), DType.BOOL):
        shown = ", ".join(str(t) for t in c.output_types) or "nothing"
        raise ControlFlowError(f"xl.while_loop's cond_fun must return a scalar bool, got {shown}")
    b = trace_body(body_fun, (unflatten(tree, types),), parent)
    _check_same("xl.while_loop's body_fun", b.tree, b.output_types, tree, types,
                "the loop's init_val is")
    consts = captures(c, b)
    regions = [region(c, consts, front=True), region(b, consts, front=True)]
    results = stage("xl.while", [*consts, *leaves], types, {"num_consts": len(consts)}, regions)
    return unflatten(tree, results)


def _static_int(x: Any) -> int | None:
    if isinstance(x, (bool, np.bool_)):
        return None
    if isinstance(x, (int, np.integer)):
        return int(x)
    return None


def fori_loop(lower: Any, upper: Any, body_fun: Callable, init_val: Any) -> Any:
    """``for i in range(lower, upper): val = body_fun(i, val)``. With Python-int bounds it is
    a scan (so reverse-mode differentiable, as in JAX); with traced bounds a while loop."""
    lo, hi = _static_int(lower), _static_int(upper)
    if lo is not None and hi is not None:
        def step(carry: Any, _: None) -> tuple[Any, None]:
            i, val = carry
            return (i + 1, body_fun(i, val)), None

        start = asarray(np.asarray(lo, np.int32))
        (_, out), _ = scan(step, (start, init_val), None, length=max(hi - lo, 0))
        return out
    lo_t, hi_t = asarray(lower), asarray(upper)
    if not (lo_t.type.dtype.is_int and hi_t.type.dtype.is_int):
        raise ControlFlowError(f"xl.fori_loop bounds must be integers, got {lo_t.type} and "
                               f"{hi_t.type}")
    dtype = DType.I64 if DType.I64 in (lo_t.type.dtype, hi_t.type.dtype) else DType.I32
    i0 = lo_t.astype(dtype.numpy)
    n = hi_t.astype(dtype.numpy)
    _, _, out = while_loop(lambda c: c[0] < c[1],
                           lambda c: (c[0] + 1, c[1], body_fun(c[0], c[2])), (i0, n, init_val))
    return out


# --- scan ----------------------------------------------------------------------------------
def scan(f: Callable, init: Any, xs: Any = None, length: int | None = None,
         reverse: bool = False, remat: bool = False) -> tuple[Any, Any]:
    """``carry, y = f(carry, x)`` for each x along the leading axis of `xs` (a pytree of
    arrays of the same leading length, or None with `length`); returns the final carry and
    the ys stacked along a new leading axis (as ``lax.scan``). With `reverse` the steps run
    from the last index to the first. With `remat` the gradient stores only the carries of
    each step and recomputes the body's other values (as ``jax.checkpoint`` of the body):
    memory for T steps of carries instead of T steps of every value the VJP needs."""
    c_leaves, c_tree = _leaves(init)
    x_leaves, x_tree = _leaves(xs)
    lengths = sorted({x.shape[0] if x.type.rank else -1 for x in x_leaves})
    if -1 in lengths:
        raise ControlFlowError("xl.scan's xs must be arrays with a leading axis to scan over; "
                               "a scalar has none")
    if len(lengths) > 1:
        shown = ", ".join(f"{x.type}" for x in x_leaves)
        raise ControlFlowError(f"xl.scan's xs have different leading lengths ({shown})")
    if length is None and not lengths:
        raise ControlFlowError("xl.scan needs xs or an explicit length")
    n = lengths[0] if lengths else int(length)  # type: ignore[arg-type]
    if length is not None and int(length) != n:
        raise ControlFlowError(f"xl.scan got length={length}, but xs have leading length {n}")
    c_types = [x.type for x in c_leaves]
    x_types = [TensorType(x.shape[1:], x.type.dtype) for x in x_leaves]
    body = trace_body(f, (unflatten(c_tree, c_types), unflatten(x_tree, x_types)),
                      active_trace())
    if body.tree.kind not in ("tuple", "list") or len(body.tree.children) != 2:
        raise ControlFlowError(f"xl.scan's f must return a pair (carry, y), got "
                               f"{describe(body.tree)}")
    out_c_tree, y_tree = body.tree.children
    n_c = len(c_leaves)
    _check_same("xl.scan's f", out_c_tree, body.output_types[:n_c], c_tree, c_types,
                "the carry init is")
    consts = captures(body)
    ys = [TensorType((n, *t.shape), t.dtype) for t in body.output_types[n_c:]]
    attrs: dict[str, object] = {"num_consts": len(consts), "num_carries": n_c, "length": n,
                                "reverse": bool(reverse), "remat": bool(remat)}
    results = stage("xl.scan", [*consts, *c_leaves, *x_leaves], c_types + ys, attrs,
                    [region(body, consts, front=True)])
    return unflatten(c_tree, results[:n_c]), unflatten(y_tree, results[n_c:])


stage_module(globals(), ("cond", "fori_loop", "scan", "switch", "while_loop"))
__all__ = ["ControlFlowError", "cond", "fori_loop", "scan", "switch", "while_loop"]
