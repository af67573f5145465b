"""``merge-dot-sums``: one matrix product for a sum of products over the same layout.

The gradient of a weight shared by T steps (an RNN's recurrent weight, a layer applied to
the pieces of a batch) is ``dot(a_1, b_1) + ... + dot(a_T, b_T)``: T products and T
temporaries of the weight's size. When each product contracts one dim, it is the single
product of the operands concatenated along that dim (``add_of_dots`` in
``xlalite/ops/merge_patterns.py`` states when this saves work); when the T steps are a scan,
the accumulating carry becomes one product of the stacked operands after the loop
(``scan_of_dots``). This pass applies those rewrites (and flattens the nested concatenates
they build) to a fixed point.

Contract: valid IR in, valid IR out; results equal up to the order of a float sum (the merged
product adds its terms in BLAS order), which is why this is its own pass and not part of
canonicalize, whose results are exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xlalite.ir.core import Function, Op
from xlalite.ops.merge_patterns import add_of_dots, flatten_concatenate, scan_of_dots
from xlalite.passes.canonicalize import Pattern, canonicalize_function
from xlalite.passes.manager import FunctionPass, register_pass

_PATTERNS: dict[str, tuple[Pattern, ...]] = {"xl.add": (add_of_dots,),
                                             "xl.concatenate": (flatten_concatenate,),
                                             "xl.scan": (scan_of_dots,)}


def _patterns(op: Op) -> Sequence[Pattern]:
    return _PATTERNS.get(op.name, ())


@register_pass
@dataclass(frozen=True)
class MergeDotSums(FunctionPass):
    """Sums of single-contraction matrix products become one product of concatenations."""

    name = "merge-dot-sums"

    def run_on_function(self, func: Function) -> dict[str, int]:
        stats = canonicalize_function(func, fold_limit=0, patterns=_patterns)
        return {"sums-merged": stats["patterns-applied"], "ops-removed": stats["ops-removed"]}
