"""Control flow: ``xl.cond``, ``xl.while`` and ``xl.scan``, ops with regions like ``xl.fusion``.

Every region is isolated from above: a body reads only its block arguments, so values a
traced body closed over are explicit operands (``consts``), and a backend can compile a body
alone. Each block ends with ``xl.yield``.

    %r = "xl.cond"(%p, %a) ({ ^bb0(%x: f32[4]): ... "xl.yield"(%t) },     // taken if %p
                            { ^bb0(%x: f32[4]): ... "xl.yield"(%f) })     // taken if not %p
         : (bool[], f32[4]) -> f32[4]

``xl.cond``'s first operand is a scalar ``bool`` (two regions: the true branch, then the
false one) or a scalar integer index choosing among N regions, clamped to 0..N-1 (as
``lax.switch``). Every branch takes the remaining operands and yields the result types.

    %i, %x = "xl.while"(%k, %i0, %x0) ({ ^bb0(%k, %i, %x): ... "xl.yield"(%go) },  // bool[]
                                       { ^bb0(%k, %i, %x): ... "xl.yield"(%i1, %x1) })
             {num_consts = 1}

``xl.while``'s operands are ``num_consts`` loop-invariant values, then the initial carries;
both regions take (consts, carries); the condition yields a scalar bool, the body the next
carries, whose types never change.

    %c, %ys = "xl.scan"(%w, %c0, %xs) ({ ^bb0(%w, %c, %x): ... "xl.yield"(%c1, %y) })
              {num_consts = 1, num_carries = 1, length = 8, reverse = false}

``xl.scan``'s operands are consts, initial carries, then arrays ``xs`` with leading length
``length``; the body takes (consts, carries, one slice of each x) and yields (next carries,
one slice of each y); the results are the final carries and the ys stacked along a new
leading axis of ``length``. With ``reverse`` the steps run from the last index to the first
(slice t of the ys is still written at index t).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from xlalite.ir.attributes import BoolAttr, IntAttr
from xlalite.ir.core import YIELD, Block, Op, Region, Value
from xlalite.ir.types import DType, TensorType
from xlalite.ops.control_patterns import (
    cond_operands,
    fold_cond,
    loop_consts,
    scan_outputs,
    short_scan,
)
from xlalite.ops.control_vjp import cond_vjp, scan_vjp, while_vjp
from xlalite.ops.regions import scan_parts, taken_branch, while_parts
from xlalite.ops.registry import AttrSpec, FusionKind, OpDef, ShapeError, Trait, register


def _types(values: Sequence[Value]) -> list[TensorType]:
    return [v.type for v in values]


def _shown(types: Sequence[TensorType]) -> str:
    return "(" + ", ".join(str(t) for t in types) + ")"


def region_errors(op: Op, index: int, what: str, arg_types: Sequence[TensorType]) -> list[str]:
    """Region `index` of `op` has one block taking `arg_types`, ending in ``xl.yield``, and
    reading only its own values (isolated from above)."""
    region = op.regions[index]
    if len(region.blocks) != 1:
        return [f"'{op.name}' {what} needs exactly one block"]
    block = region.blocks[0]
    if _types(block.args) != list(arg_types):
        return [f"'{op.name}' {what} takes {_shown(_types(block.args))} but must take "
                f"{_shown(arg_types)}"]
    term = block.terminator
    if term is None or term.name != YIELD:
        return [f"'{op.name}' {what} must end with '{YIELD}'"]
    inner = set(block.args)
    for o in block.ops:
        for v in o.operands:
            if v not in inner:
                return [f"'{op.name}' {what}: '{o.name}' uses a value from outside the region "
                        "(pass it as an operand)"]
        inner.update(o.results)
    return []


def yielded(op: Op, index: int) -> list[TensorType]:
    term = op.regions[index].blocks[0].terminator
    assert term is not None
    return _types(term.operands)


def _scalar_bool(t: TensorType) -> bool:
    return t.rank == 0 and t.dtype is DType.BOOL


def carry_errors(what: str, entering: Sequence[TensorType], leaving: Sequence[TensorType]
                 ) -> list[str]:
    """A loop body yields carries of the types they entered with."""
    if len(leaving) != len(entering):
        return [f"{what} yields {len(leaving)} carries but the loop has {len(entering)}"]
    return [f"carry #{k} enters the loop as {a} but {what} yields {b}"
            for k, (a, b) in enumerate(zip(entering, leaving)) if a != b][:1]


# --- xl.cond -----------------------------------------------------------------------------
def _verify_cond(op: Op) -> list[str]:
    if not op.operands:
        return ["'xl.cond' needs a predicate or index operand"]
    index, *inputs = op.operands
    t = index.type
    n = len(op.regions)
    if t.rank != 0 or not (t.dtype.is_bool or t.dtype.is_int):
        return [f"'xl.cond' predicate must be a scalar bool (or a scalar integer index), "
                f"got {t}"]
    if t.dtype.is_bool and n != 2:
        return [f"'xl.cond' with a bool predicate has 2 branches (true, false), got {n}"]
    if n < 1:
        return ["'xl.cond' needs at least one branch"]
    for k in range(n):
        errors = region_errors(op, k, f"branch #{k}", _types(inputs))
        if errors:
            return errors
    first = yielded(op, 0)
    for k in range(1, n):
        if yielded(op, k) != first:
            return [f"'xl.cond' branch #{k} yields {_shown(yielded(op, k))} but branch #0 "
                    f"yields {_shown(first)}"]
    if first != op.result_types:
        return [f"'xl.cond' results {_shown(op.result_types)} differ from the branches' "
                f"{_shown(first)}"]
    return []


def _interpret_cond(op: Op, inputs: Sequence[np.ndarray], run_block: Callable) -> tuple:
    k = taken_branch(op, inputs[0])
    return tuple(run_block(op.regions[k].blocks[0], inputs[1:]))


# --- xl.while ----------------------------------------------------------------------------
def _verify_while(op: Op) -> list[str]:
    if len(op.regions) != 2:
        return ["'xl.while' needs a condition region and a body region"]
    k = op.attributes.get("num_consts")
    if not isinstance(k, int) or not 0 <= k <= len(op.operands):
        return [f"'xl.while' num_consts must be in 0..{len(op.operands)}"]
    consts, init = while_parts(op)
    args = _types(consts) + _types(init)
    errors = region_errors(op, 0, "condition", args) or region_errors(op, 1, "body", args)
    if errors:
        return errors
    cond = yielded(op, 0)
    if len(cond) != 1 or not _scalar_bool(cond[0]):
        return [f"'xl.while' condition must yield one scalar bool, got {_shown(cond)}"]
    errors = carry_errors("the body", _types(init), yielded(op, 1))
    if errors or op.result_types != _types(init):
        return errors or [f"'xl.while' results must be the carry types {_shown(_types(init))}"]
    return []


def _interpret_while(op: Op, inputs: Sequence[np.ndarray], run_block: Callable) -> tuple:
    k = op.attributes["num_consts"]
    consts, carries = list(inputs[:k]), list(inputs[k:])
    cond, body = (r.blocks[0] for r in op.regions)
    while bool(run_block(cond, consts + carries)[0]):
        carries = run_block(body, consts + carries)
    return tuple(np.array(c, copy=True) for c in carries)


# --- xl.scan -----------------------------------------------------------------------------
def _step(t: TensorType) -> TensorType:
    return TensorType(t.shape[1:], t.dtype)


def stacked(t: TensorType, length: int) -> TensorType:
    return TensorType((length, *t.shape), t.dtype)


def _verify_scan(op: Op) -> list[str]:
    if len(op.regions) != 1:
        return ["'xl.scan' needs one body region"]
    k, c, n = (op.attributes.get(a) for a in ("num_consts", "num_carries", "length"))
    if not (isinstance(k, int) and isinstance(c, int) and isinstance(n, int)) \
            or k < 0 or c < 0 or k + c > len(op.operands):
        return [f"'xl.scan' num_consts + num_carries must be at most {len(op.operands)}"]
    if n < 0:
        return [f"'xl.scan' length must be non-negative, got {n}"]
    consts, init, xs = scan_parts(op)
    for j, x in enumerate(xs):
        if x.type.rank == 0 or x.type.shape[0] != n:
            return [f"'xl.scan' xs #{j} has type {x.type}, whose leading dim is not the "
                    f"length {n}"]
    errors = region_errors(op, 0, "body", _types(consts) + _types(init) +
                           [_step(x.type) for x in xs])
    if errors:
        return errors
    out = yielded(op, 0)
    errors = carry_errors("the body", _types(init), out[:c])
    if errors:
        return errors
    want = _types(init) + [stacked(t, n) for t in out[c:]]
    if op.result_types != want:
        return [f"'xl.scan' results {_shown(op.result_types)} must be the carries and the "
                f"stacked per-step outputs {_shown(want)}"]
    return []


def _interpret_scan(op: Op, inputs: Sequence[np.ndarray], run_block: Callable) -> tuple:
    k, c, n = (op.attributes[a] for a in ("num_consts", "num_carries", "length"))
    consts, carries, xs = list(inputs[:k]), list(inputs[k:k + c]), list(inputs[k + c:])
    ys = [np.empty(t.shape, t.dtype.numpy) for t in op.result_types[c:]]
    body = op.regions[0].blocks[0]
    steps = range(n - 1, -1, -1) if op.attributes["reverse"] else range(n)
    for t in steps:
        out = run_block(body, consts + carries + [x[t] for x in xs])
        carries = out[:c]
        for y, v in zip(ys, out[c:]):
            y[t] = v
    return tuple(np.array(v, copy=True) for v in carries) + tuple(ys)


# --- declarations ------------------------------------------------------------------------
def _infer(*inputs: TensorType, **attrs: object) -> TensorType:
    raise ShapeError("control-flow result types are those their regions yield; pass them "
                     "explicitly")


def body_block(arg_types: Sequence[TensorType], build: Callable[[Block], Sequence[Value]]
               ) -> Region:
    """A one-block region over `arg_types`; `build(block)` returns the values to yield."""
    block = Block(list(arg_types))
    outs = build(block)
    block.append(Op(YIELD, list(outs), []))
    return Region([block])


def _example_cond(builder, args: Sequence[Value], attrs) -> Op:
    from xlalite.ir.builder import Builder

    pred, *xs = args

    def branch(name: str) -> Callable[[Block], list[Value]]:
        return lambda block: [Builder(block).add(name, *block.args)]

    regions = [body_block(_types(xs), branch("xl.mul")), body_block(_types(xs), branch("xl.sub"))]
    return builder.insert(Op("xl.cond", [pred, *xs], [xs[0].type], {}, regions))


def _example_while(builder, args: Sequence[Value], attrs) -> Op:
    from xlalite.ir.builder import Builder
    from xlalite.ops.emit import Emitter

    (w, x) = args
    count = Emitter(builder).const(TensorType((), DType.I32), 0)
    types = [w.type, count.type, x.type]

    def cond(block: Block) -> list[Value]:
        e = Emitter(Builder(block))
        return [e.compare(block.args[1], e.const(block.args[1], 3), "lt")]

    def body(block: Block) -> list[Value]:
        e = Emitter(Builder(block))
        kw, i, v = block.args
        return [e.add(i, e.const(i, 1)), e.op("xl.tanh", e.mul(v, kw))]

    op = Op("xl.while", [w, count, x], [count.type, x.type], {"num_consts": 1},
            [body_block(types, cond), body_block(types, body)])
    return builder.insert(op)


def _example_scan(builder, args: Sequence[Value], attrs) -> Op:
    from xlalite.ir.builder import Builder
    from xlalite.ops.emit import Emitter

    (w, c0, xs) = args

    def body(block: Block) -> list[Value]:
        e = Emitter(Builder(block))
        kw, c, x = block.args
        h = e.op("xl.tanh", e.add(e.mul(c, kw), x))
        return [h, e.mul(h, x)]

    n = xs.type.shape[0]
    op = Op("xl.scan", [w, c0, xs], [c0.type, xs.type], {"num_consts": 1, "num_carries": 1,
                                                         "length": n, "reverse": False,
                                                         "remat": False},
            [body_block([w.type, c0.type, _step(xs.type)], body)])
    return builder.insert(op)


_V = TensorType((2, 3), DType.F32)

COND = register(OpDef(
    "xl.cond", "Runs one of its regions, chosen by a scalar bool predicate or integer index.",
    ("index", "inputs"), _infer, None, FusionKind.OPAQUE, variadic=True,
    example=lambda: ([TensorType((), DType.BOOL), _V, _V], {}),
    vjp=cond_vjp, patterns=(fold_cond, cond_operands), traits=frozenset({Trait.CONTROL}),
    verify_regions=_verify_cond, interpret=_interpret_cond,
    build_example=_example_cond,
))

WHILE = register(OpDef(
    "xl.while", "Repeats its body region over the carries while its condition region is true.",
    ("inputs",), _infer, None, FusionKind.OPAQUE, variadic=True,
    attrs=(AttrSpec("num_consts", IntAttr(), default=0, doc="loop-invariant leading operands"),),
    example=lambda: ([_V, _V], {"num_consts": 1}),
    vjp=while_vjp, patterns=(loop_consts,), traits=frozenset({Trait.CONTROL}),
    verify_regions=_verify_while, interpret=_interpret_while,
    build_example=_example_while,
))

SCAN = register(OpDef(
    "xl.scan", "Runs its body over the leading axis of xs, threading carries, stacking outputs.",
    ("inputs",), _infer, None, FusionKind.OPAQUE, variadic=True,
    attrs=(AttrSpec("num_consts", IntAttr(), default=0, doc="loop-invariant leading operands"),
           AttrSpec("num_carries", IntAttr(), doc="carries after the consts"),
           AttrSpec("length", IntAttr(), doc="number of steps (the leading dim of every x)"),
           AttrSpec("reverse", BoolAttr(), default=False, doc="run from the last step"),
           AttrSpec("remat", BoolAttr(), default=False,
                    doc="the VJP recomputes the body from stacked carries (less memory)")),
    example=lambda: ([_V, _V, TensorType((4, 2, 3), DType.F32)],
                     {"num_consts": 1, "num_carries": 1, "length": 4, "reverse": False,
                      "remat": False}),
    vjp=scan_vjp, patterns=(short_scan, scan_outputs, loop_consts), traits=frozenset({Trait.CONTROL}),
    verify_regions=_verify_scan, interpret=_interpret_scan,
    build_example=_example_scan,
))
