"""``xl.fusion``: a group of ops executed as one kernel, kept as an op with a region.

    %r = "xl.fusion"(%a, %b) ({
      ^bb0(%x: f32[4,8], %y: f32[8]):
        %0 = "xl.broadcast_in_dim"(%y) {shape = [4, 8], dims = [1]} : (f32[8]) -> f32[4,8]
        %1 = "xl.add"(%x, %0) : (f32[4,8], f32[4,8]) -> f32[4,8]
        "xl.yield"(%1) : (f32[4,8]) -> ()
    }) {kind = "loop"} : (f32[4,8], f32[8]) -> f32[4,8]

The block arguments receive the operands; ``xl.yield`` gives the results. The body may only use
its own block arguments (the region is isolated from above), so a backend can compile it
alone. ``kind`` tells a backend which code shape to emit: ``loop`` (elementwise/broadcast
ops), ``reduction`` (one reduction with an elementwise prologue and epilogue), ``matmul`` (a
matmul-like op with an elementwise epilogue) or ``rows`` (several reductions over the last
axis of one row space and the elementwise ops between them: a softmax or a layer norm as one
pass over each row; see ``passes/fuse_rows.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from xlalite.ir.attributes import EnumAttr
from xlalite.ir.core import YIELD, Block, Op, Region, Value
from xlalite.ir.types import DType, TensorType
from xlalite.ops.emit import Emitter
from xlalite.ops.registry import (
    AttrSpec,
    FusionKind,
    OpDef,
    ShapeError,
    Trait,
    find_op,
    fusion_kind,
    has_trait,
    register,
)
from xlalite.ops.shape import is_reindexing

FUSION_KINDS = ("loop", "reduction", "matmul", "rows")


def _verify(op: Op) -> list[str]:
    if len(op.regions) != 1 or len(op.regions[0].blocks) != 1:
        return ["'xl.fusion' needs exactly one region with one block"]
    block = op.regions[0].blocks[0]
    errors = []
    if [a.type for a in block.args] != [v.type for v in op.operands]:
        errors.append("'xl.fusion' block arguments must have the operand types "
                      f"({', '.join(str(v.type) for v in op.operands)})")
    term = block.terminator
    if term is None or term.name != YIELD:
        return errors + ["'xl.fusion' body must end with 'xl.yield'"]
    if [v.type for v in term.operands] != op.result_types:
        errors.append("'xl.fusion' results must have the types yielded by its body")
    if op.attributes.get("kind") not in FUSION_KINDS:
        errors.append(f"'xl.fusion' attribute 'kind' must be one of {', '.join(FUSION_KINDS)}")
    inner = set(block.args)
    for o in block.ops:
        if any(v not in inner for v in o.operands):
            errors.append(f"'xl.fusion' body op '{o.name}' uses a value from outside the region "
                          "(pass it as an operand)")
            break
        inner.update(o.results)
    if errors or op.attributes.get("kind") not in FUSION_KINDS:
        return errors
    return _check_body(block, op.attributes["kind"])


def _loop_op(op: Op) -> bool:
    """Computable element by element at any index: elementwise and broadcast ops, reshapes
    that only add or drop unit dims, splat constants (a kernel reads one element of them)."""
    if op.regions or len(op.results) != 1:
        return False
    if op.name == "xl.constant":
        return bool(op.attributes["value"].is_splat)
    if op.name in ("xl.reshape", "xl.slice"):
        return is_reindexing(op)
    opdef = find_op(op.name)
    return opdef is not None and opdef.pure and opdef.fusion <= FusionKind.BROADCAST


def _check_body(block: Block, kind: str) -> list[str]:
    """What a fusion of `kind` may hold, so that every backend computes it exactly:

    * ``loop``: loop ops only (see _loop_op), one result;
    * ``reduction``: one reduction over axes, loop ops before it (its prologue) and after it
      (an epilogue over the reduction's result, of that result's shape);
    * ``matmul``: one matrix product or convolution reading block arguments directly, and an
      epilogue of loop ops of the product's shape.
    """
    body = [o for o in block.ops if o.name != YIELD]
    (root, *more) = block.ops[-1].operands or [None]
    if root is None or more:
        return [f"a '{kind}' fusion yields exactly one value"]
    anchors = [o for o in body if not _loop_op(o)]
    if kind == "rows":
        return check_rows(body, root)
    if kind == "loop":
        return [f"'{o.name}' cannot be computed inside a 'loop' fusion (only elementwise and "
                "broadcast ops, slices, unit-dim reshapes and splat constants)" for o in anchors[:1]]
    want = "a reduction" if kind == "reduction" else "a matrix product or convolution"
    def ok(o: Op) -> bool:
        return has_trait(o, Trait.REDUCTION) if kind == "reduction" \
            else fusion_kind(o) is FusionKind.MATMUL

    if len(anchors) != 1 or not ok(anchors[0]):
        shown = ", ".join(f"'{o.name}'" for o in anchors) or "none"
        return [f"a '{kind}' fusion holds exactly one {want} and otherwise elementwise and "
                f"broadcast ops (found {shown})"]
    (anchor,) = anchors
    if kind == "matmul" and any(v not in block.args for v in anchor.operands):
        return ["the product in a 'matmul' fusion reads block arguments only (no prologue)"]
    if root.type.shape != anchor.results[0].type.shape:
        return [f"the epilogue of a '{kind}' fusion has the shape of its {want.split()[-1]}'s "
                f"result {anchor.results[0].type}, not {root.type}"]
    after = body[body.index(anchor) + 1:]
    feeding = _feeding(anchor)
    for o in after:
        if o not in feeding and any(v.owner in feeding - {anchor} for v in o.operands
                                    if isinstance(v.owner, Op)):
            return [f"the epilogue of a '{kind}' fusion may read the prologue only through "
                    f"the {want.split()[-1]} ('{o.name}' does not)"]
    return []


def row_space(op: Op) -> tuple[int, ...] | None:
    """The outer shape of a reduction over the last axis of a source of rank >= 2 (the row
    space a ``rows`` fusion shares), else None."""
    src = op.operands[0].type if op.operands else None
    if not has_trait(op, Trait.REDUCTION) or src is None or src.rank < 2 \
            or list(op.attributes["axes"]) != [src.rank - 1]:
        return None
    return src.shape[:-1]


def reads_per_row(v: Value, outer: tuple[int, ...], row: int) -> bool:
    """Whether every use of `v` (of shape `outer`, or `outer + [1]`) reads it only at its own
    row: elementwise ops of its shape, a reshape appending a unit dim, a broadcast along the
    row (what ``keepdims`` makes); `row` is the rows' length. A row kernel keeps such a value
    in one scalar per row."""
    m, shape = len(outer), v.type.shape
    for u in v.uses:
        o = u.op
        if o.name == YIELD:
            continue
        if len(o.results) != 1:
            return False
        t = o.results[0].type.shape
        if o.name == "xl.reshape":
            ok = shape == outer and t == outer + (1,) and reads_per_row(o.results[0], outer, row)
        elif o.name == "xl.broadcast_in_dim":
            ok = len(t) == m + 1 and t[:m] == outer \
                and list(o.attributes["dims"]) == list(range(len(shape)))
        else:  # at rows of length 1, ``outer + [1]`` is the rows' shape: a row value from here
            ok = _loop_op(o) and not is_reindexing(o) and t == shape \
                and (t == outer + (1,) and row == 1 or reads_per_row(o.results[0], outer, row))
        if not ok:
            return False
    return True


def check_rows(body: Sequence[Op], root: Value) -> list[str]:
    """A ``rows`` fusion: reductions over the last axis of sources of one shape ``outer + [n]``,
    each result read only per row (see reads_per_row), and otherwise loop ops; it yields a
    value of shape ``outer + [n]`` or ``outer``."""
    reductions = [o for o in body if not _loop_op(o)]
    spaces = {row_space(o) for o in reductions}
    if not reductions or None in spaces or len(spaces) != 1 \
            or len({o.operands[0].type.shape for o in reductions}) != 1:
        shown = ", ".join(f"'{o.name}'" for o in reductions) or "none"
        return ["a 'rows' fusion holds reductions over the last axis of sources of one shape "
                f"and otherwise elementwise and broadcast ops (found {shown})"]
    (outer,) = spaces
    assert outer is not None
    full = reductions[0].operands[0].type.shape
    if root.type.shape not in (full, outer):
        return [f"a 'rows' fusion yields a value of its rows' shape {list(full)} or of "
                f"{list(outer)}, not {root.type}"]
    for o in reductions:
        if not reads_per_row(o.results[0], outer, full[-1]):
            return [f"the result of '{o.name}' in a 'rows' fusion is read at other rows than "
                    "its own (only per row: elementwise, a unit reshape, a broadcast along the row)"]
    return []


def _feeding(anchor: Op) -> set[Op]:
    """The anchor and every op of its block it depends on (its prologue)."""
    seen: set[Op] = set()
    stack = [anchor]
    while stack:
        o = stack.pop()
        if o in seen:
            continue
        seen.add(o)
        stack.extend(v.owner for v in o.operands if isinstance(v.owner, Op))
    return seen


def _interpret(op: Op, inputs: Sequence[np.ndarray], run_block: Callable) -> tuple[np.ndarray, ...]:
    return tuple(run_block(op.regions[0].blocks[0], inputs))


def _infer(*inputs: TensorType, kind: str) -> TensorType:
    raise ShapeError("'xl.fusion' result types are those its body yields; pass them explicitly")


def make_fusion(inputs: Sequence[Value], kind: str,
                build_body: Callable[[Block], Sequence[Value]]) -> Op:
    """A detached fusion op over `inputs`; `build_body(block)` fills the body and returns the
    values to yield (the terminator is added here)."""
    block = Block([v.type for v in inputs])
    outs = build_body(block)
    block.append(Op(YIELD, outs, []))
    return Op("xl.fusion", inputs, [v.type for v in outs], {"kind": kind}, [Region([block])])


def _build_example(builder, args: Sequence[Value], attrs) -> Op:
    from xlalite.ir.builder import Builder

    def body(block: Block) -> list[Value]:
        b = Builder(block)
        return [b.add("xl.exp", b.add("xl.add", *block.args))]

    return builder.insert(make_fusion(args, attrs["kind"], body))


def _vjp_fusion(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """Fused kernels are formed after differentiation; refusing beats a silent wrong answer."""
    raise ValueError("cannot differentiate through 'xl.fusion': run autodiff before the fuse "
                     "pass (xlalite.grad and jit do)")


_T = TensorType((2, 3), DType.F32)

FUSION = register(OpDef(
    "xl.fusion", "A fused group of ops run as one kernel; the region computes the results.",
    ("inputs",), _infer, None, FusionKind.OPAQUE, variadic=True,
    attrs=(AttrSpec("kind", EnumAttr(*FUSION_KINDS), doc="loop, reduction or matmul"),),
    example=lambda: ([_T, _T], {"kind": "loop"}),
    verify_regions=_verify, interpret=_interpret, build_example=_build_example,
    vjp=_vjp_fusion,
))
