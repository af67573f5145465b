"""Passes over the IR (imported as ``xlalite.passes``); see ``manager.py`` for the contract."""

from xlalite.passes import canonicalize, cse, dce, fuse, pipelines, plan_memory  # noqa: F401
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
