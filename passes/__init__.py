"""Passes over the IR (imported as ``xlalite.passes``); see ``manager.py`` for the contract."""

from xlalite.passes import (  # noqa: F401  (importing registers the passes)
    autodiff,
    canonicalize,
    cse,
    dce,
    fuse,
    fuse_rows,
    legalize,
    licm,
    merge_dot_sums,
    pipelines,
    plan_memory,
    schedule_collectives,
    widen_f16,
)
from xlalite.passes.manager import (
    Instrumentation,
    Pass,
    PipelineError,
    parse_pipeline,
    register_pass,
    registered_passes,
    run_pipeline,
)

__all__ = ["Instrumentation", "Pass", "PipelineError", "parse_pipeline", "register_pass",
           "registered_passes", "run_pipeline"]
