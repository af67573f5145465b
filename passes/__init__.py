"""Passes over the IR (imported as ``xlalite.passes``); see ``manager.py`` for the contract."""

from xlalite.passes import canonicalize, cse, dce, fuse  # noqa: F401  (register passes)
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
