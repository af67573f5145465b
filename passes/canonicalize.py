"""``canonicalize``: algebraic simplification and constant folding, to a fixed point.

One worklist driver runs the patterns each op declares (``OpDef.patterns``, see
``xlalite/ops/patterns.py``), folds pure ops whose operands are all constants by running their
NumPy reference (unless the result has more than ``fold-limit`` elements, so huge constants
are never materialized; an elementwise op of splats folds to a splat at any size), and
erases dead pure ops. Whatever a rewrite touches goes back on the worklist, so rewrites
compose (``neg(neg(neg x)) => neg x``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from xlalite.ir.attributes import DenseElements
from xlalite.ir.core import TERMINATORS, Function, Op
from xlalite.ir.rewrite import Rewriter, constant_of
from xlalite.ir.types import TensorType
from xlalite.ops.registry import FusionKind, find_op, work
from xlalite.passes.dce import is_removable
from xlalite.passes.manager import FunctionPass, register_pass

DEFAULT_FOLD_LIMIT = 1 << 16
#: folding may spend this many elementary operations per element of `fold-limit` (2^22 by
#: default: a few milliseconds), so a tiny file cannot make loading run for minutes
WORK_PER_ELEMENT = 64


def try_fold(op: Op, rw: Rewriter, fold_limit: int) -> bool:
    """Replace `op` by constants when all its operands are constants and results are small."""
    opdef = find_op(op.name)
    if opdef is None or not op.operands or op.regions or not opdef.pure or opdef.reference is None:
        return False
    maybe = [constant_of(v) for v in op.operands]
    literals = [c for c in maybe if c is not None]
    if len(literals) != len(maybe):
        return False
    types = list(op.result_types)
    arrays = [c.array for c in literals]
    if opdef.fusion is FusionKind.ELEMENTWISE and all(c.is_splat for c in literals):
        # splats in, a splat out, whatever the size: compute one element (the gradient of
        # x ** 2 holds pow(x, 2 - 1), which would otherwise stay a pow per element)
        arrays = [a.reshape(-1)[:1] for a in arrays]
        types = [TensorType((1,), t.dtype) for t in types]
    else:
        out_size = sum(t.size for t in types)
        # Never grow data (a broadcast of a constant stays a broadcast) and respect the cap.
        if out_size > fold_limit or out_size > sum(c.type.size for c in literals):
            return False
        if work(op) > fold_limit * WORK_PER_ELEMENT:
            return False  # bounded by work, not by the size of the text that asks for it
    with np.errstate(all="ignore"):
        outs = opdef.evaluate(arrays, op.attributes, types)
    b = rw.builder(op)
    values = [b.add("xl.constant", value=DenseElements(a, t))
              for a, t in zip(outs, op.result_types, strict=True)]
    rw.replace(op, values)
    return True


Pattern = Callable[[Op, Rewriter], bool]


def declared_patterns(op: Op) -> Sequence[Pattern]:
    """The canonicalization patterns `op`'s declaration lists."""
    opdef = find_op(op.name)
    return opdef.patterns if opdef is not None else ()


def canonicalize_function(func: Function, fold_limit: int = DEFAULT_FOLD_LIMIT,
                          patterns: Callable[[Op], Sequence[Pattern]] = declared_patterns,
                          ) -> dict[str, int]:
    """Run the driver over `func` with each op's `patterns` (its declared ones by default);
    returns statistics."""
    rw = Rewriter()
    stats = {"ops-folded": 0, "patterns-applied": 0, "ops-removed": 0}
    worklist = [op for op in func.walk() if op.name not in TERMINATORS]
    while worklist:
        op = worklist.pop()
        if op.parent is None or op.name in TERMINATORS:
            continue  # erased meanwhile, or a terminator
        if is_removable(op):
            rw.erase(op)
            stats["ops-removed"] += 1
        elif try_fold(op, rw, fold_limit):
            stats["ops-folded"] += 1
        else:
            if not any(p(op, rw) for p in patterns(op)):
                continue
            stats["patterns-applied"] += 1
        worklist.extend(rw.take_touched())
    return stats


@register_pass
@dataclass(frozen=True)
class Canonicalize(FunctionPass):
    """Algebraic identities, constant folding and trivial DCE to a fixed point."""

    name = "canonicalize"
    fold_limit: int = DEFAULT_FOLD_LIMIT  # largest constant (in elements) folding may create

    def run_on_function(self, func: Function) -> dict[str, int]:
        return canonicalize_function(func, self.fold_limit)
