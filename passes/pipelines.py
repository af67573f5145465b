"""Named phases: reusable pipeline pieces that backends compose into their defaults.

A phase name can stand anywhere in a pipeline spec (``xlalite-opt -p simplify,fuse``) and
expands to its passes, as TVM Relax's per-target pipelines are lists of named phases.
"""

from __future__ import annotations

from xlalite.options import SpecError, split_top

PHASES: dict[str, str] = {
    "legalize": "legalize",  # rewrite ops no backend runs (custom_vjp) into ones they do
    "widen": "widen-f16",  # f16 computed in f32 (targets without half arithmetic)
    "simplify": "canonicalize,licm,cse,dce",  # algebra, folding, loop invariants, redundancy,
    # dead code
    "reassociate": "merge-dot-sums,cse,dce",  # rewrites that reorder float sums
    "fuse": "fuse",  # kernel formation
    "rows": "fuse-rows",  # a row space's reductions in one kernel (targets with row kernels)
    "schedule": "schedule-collectives",  # collectives start as soon as their operands exist
    "finalize": "plan-memory",  # buffer assignment; must be last
}


def expand(spec: str, error: type[SpecError] = SpecError) -> str:
    """Replace phase names in a comma-separated spec by their passes (options untouched)."""
    return ",".join(PHASES.get(item, item) for item in split_top(spec, error))


def compose(*phases: str) -> str:
    """A default pipeline from phase names, e.g. ``compose("simplify", "fuse", "finalize")``."""
    return ",".join(PHASES[p] for p in phases)
