"""Named phases: reusable pipeline pieces that backends compose into their defaults.

A phase name can stand anywhere in a pipeline spec (``xlalite-opt -p simplify,fuse``) and
expands to its passes, as TVM Relax's per-target pipelines are lists of named phases.
"""

from __future__ import annotations

PHASES: dict[str, str] = {
    "simplify": "canonicalize,cse,dce",  # algebra, folding, redundancy, dead code
    "reassociate": "merge-dot-sums,cse,dce",  # rewrites that reorder float sums
    "fuse": "fuse",  # kernel formation
    "finalize": "plan-memory",  # buffer assignment; must be last
}


def expand(spec: str) -> str:
    """Replace phase names in a comma-separated spec by their passes (options untouched)."""
    from xlalite.passes.manager import _split_top

    return ",".join(PHASES.get(item, item) for item in _split_top(spec))


def compose(*phases: str) -> str:
    """A default pipeline from phase names, e.g. ``compose("simplify", "fuse", "finalize")``."""
    return ",".join(PHASES[p] for p in phases)
