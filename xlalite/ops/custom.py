"""``xl.custom_vjp``: a computation with a user-defined reverse-mode rule.

    %y, %res = "xl.custom_vjp"(%x) ({
    ^bb0(%a: f32[4]):                       // forward: outputs, then residuals
      ...
      "xl.yield"(%out, %saved) : (f32[4], f32[4]) -> ()
    }, {
    ^bb0(%saved: f32[4], %ct: f32[4]):      // backward: residuals, then output cotangents
      ...
      "xl.yield"(%dx) : (f32[4]) -> ()      // one cotangent per operand
    }) {num_outputs = 1} : (f32[4]) -> (f32[4], f32[4])

The results are the forward region's yields (outputs, then residuals, which the backward
region reads instead of recomputing). Autodiff inlines the backward region; canonicalize
inlines the forward region once no more differentiation is wanted, so backends never see it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from xlalite.ir.attributes import IntAttr, StrAttr
from xlalite.ir.core import YIELD, Op, Value, clone_op
from xlalite.ir.rewrite import Rewriter
from xlalite.ir.types import DType, TensorType
from xlalite.ops.emit import Emitter
from xlalite.ops.registry import AttrSpec, Cotangent, FusionKind, OpDef, ShapeError, register


def _verify(op: Op) -> list[str]:
    if len(op.regions) != 2 or any(len(r.blocks) != 1 for r in op.regions):
        return ["'xl.custom_vjp' needs a forward and a backward region of one block each"]
    fwd, bwd = (r.blocks[0] for r in op.regions)
    n_out = op.attributes.get("num_outputs")
    errors = []
    if not isinstance(n_out, int) or not 0 < n_out <= len(op.results):
        return [f"'xl.custom_vjp' num_outputs must be in 1..{len(op.results)}"]
    if [a.type for a in fwd.args] != [v.type for v in op.operands]:
        errors.append("'xl.custom_vjp' forward block arguments must have the operand types")
    for block, want, what in ((fwd, op.result_types, "forward"),
                              (bwd, [v.type for v in op.operands], "backward")):
        term = block.terminator
        if term is None or term.name != YIELD or [v.type for v in term.operands] != list(want):
            errors.append(f"'xl.custom_vjp' {what} region must end with xl.yield of "
                          f"({', '.join(str(t) for t in want)})")
    residuals, outs = op.result_types[n_out:], op.result_types[:n_out]
    if [a.type for a in bwd.args] != residuals + outs:
        errors.append("'xl.custom_vjp' backward block arguments must be the residuals, then "
                      "one cotangent per output")
    return errors


def _interpret(op: Op, inputs: Sequence[np.ndarray], run_block: Callable) -> tuple:
    return tuple(run_block(op.regions[0].blocks[0], inputs))


def _inline(op: Op, block_index: int, inputs: Sequence[Value], insert: Callable[[Op], Op]
            ) -> list[Value]:
    block = op.regions[block_index].blocks[0]
    mapping = dict(zip(block.args, inputs, strict=True))
    for inner in block.ops[:-1]:
        insert(clone_op(inner, mapping))
    return [mapping[v] for v in block.ops[-1].operands]


def _vjp(e: Emitter, op: Op, cts: Cotangent) -> list[Value | None]:
    """y, res = f(x) with a rule  =>  dx = the backward region applied to (res, dy)"""
    cts = cts if isinstance(cts, list) else [cts]
    n_out = op.attributes["num_outputs"]
    grads = _inline(op, 1, list(op.results[n_out:]) + cts[:n_out], e.b.insert)
    return [g if v.type.dtype.is_float else None for g, v in zip(grads, op.operands)]


def _inline_forward(op: Op, rw: Rewriter) -> bool:
    """``custom_vjp(x) => its forward region`` (the rule is only needed by autodiff)."""
    b = rw.builder(op)
    rw.replace(op, _inline(op, 0, list(op.operands), b.insert))
    return True


def _infer(*inputs: TensorType, num_outputs: int, name: str) -> TensorType:
    raise ShapeError("'xl.custom_vjp' result types are those its forward region yields")


def _build_example(builder, args: Sequence[Value], attrs) -> Op:
    from xlalite.ir.builder import Builder
    from xlalite.ir.core import Block, Region

    x = args[0]
    fwd = Block([x.type])
    fb = Builder(fwd)
    y = fb.add("xl.exp", fwd.args[0])
    fb.insert(Op(YIELD, [y, y], []))
    bwd = Block([x.type, x.type])
    bb = Builder(bwd)
    bb.insert(Op(YIELD, [bb.add("xl.mul", *bwd.args)], []))
    op = Op("xl.custom_vjp", [x], [x.type, x.type], attrs, [Region([fwd]), Region([bwd])])
    return builder.insert(op)


CUSTOM_VJP = register(OpDef(
    "xl.custom_vjp", "A forward computation with a user-defined backward rule (two regions).",
    ("inputs",), _infer, None, FusionKind.OPAQUE, variadic=True,
    attrs=(AttrSpec("num_outputs", IntAttr()), AttrSpec("name", StrAttr(), default="")),
    example=lambda: ([TensorType((4,), DType.F32)], {"num_outputs": 1, "name": "exp"}),
    vjp=_vjp, patterns=(_inline_forward,),
    verify_regions=_verify, interpret=_interpret, build_example=_build_example,
))
