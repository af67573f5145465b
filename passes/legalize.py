"""``legalize``: rewrite the ops no backend runs into ones they do.

Today that is ``xl.custom_vjp``, replaced by its forward region (its backward rule only
matters to autodiff, which runs before). The rewrite is the op's own declared pattern, so the
semantics live with the op. Code-generating targets run this pass first in their pipelines,
and again, as a no-op or a safety net, when they compile a module a user's pipeline skipped
it for. Contract: valid IR in, valid IR out with no custom_vjp, same results.
"""

from __future__ import annotations

from dataclasses import dataclass

from xlalite.ir.core import Function, Module
from xlalite.ir.rewrite import Rewriter
from xlalite.ops.registry import get_op
from xlalite.passes.manager import FunctionPass, register_pass

#: ops replaced by their first applicable canonicalization pattern
LEGALIZED = frozenset({"xl.custom_vjp"})


def legalize_function(func: Function) -> int:
    """Rewrite the LEGALIZED ops of `func` in place; returns how many were rewritten."""
    rw = Rewriter()
    n = 0
    for op in list(func.walk()):  # control-flow bodies too
        if op.name in LEGALIZED and op.parent is not None:
            n += any(pattern(op, rw) for pattern in get_op(op.name).patterns)
    return n


def legalize_module(module: Module) -> int:
    return sum(legalize_function(f) for f in module.functions)


@register_pass
@dataclass(frozen=True)
class Legalize(FunctionPass):
    """Rewrite ops no backend runs (custom_vjp) into ones they do."""

    name = "legalize"

    def run_on_function(self, func: Function) -> dict[str, int]:
        return {"ops-legalized": legalize_function(func)}
