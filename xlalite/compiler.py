"""The one way from IR to an executable: ``xlalite.compile(module, target, pipeline)``.

Every entry point reaches machine code here: ``jit`` (and so ``grad``, ``value_and_grad`` and
training steps), ``vjp``, ``xlalite.load``, ``xlalite-opt -t`` and whatever comes next. The
steps are always the same: resolve the target spec (``"numba-cpu{exact-math=true}"``), verify,
run the pipeline (the target's default unless one is given) on a copy of the module, and let
the target compile the result. ``STATS`` counts compilations, so tests and users can see when
something compiled that should not have.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from xlalite.backends.base import Backend, get_backend
from xlalite.ir.core import Module
from xlalite.ir.verifier import verify
from xlalite.passes.manager import Instrumentation, Pass, PassRecord, run_pipeline
from xlalite.passes.plan_memory import strip_plan
from xlalite.runtime import profile
from xlalite.runtime.executable import Executable

#: The target used when none is named.
DEFAULT_TARGET = "numba-cpu"

Pipeline = str | Sequence[Pass] | None


@dataclass
class CompileStats:
    """Process-wide counts of what went through :func:`compile`."""

    compilations: int = 0  # modules compiled (pipeline + code generation)
    memo_hits: int = 0  # compile_cached calls answered by an executable already built
    seconds: float = 0.0  # wall time in pipelines and code generation

    def as_dict(self) -> dict[str, object]:
        return {"compilations": self.compilations, "memo_hits": self.memo_hits,
                "seconds": round(self.seconds, 4)}


STATS = CompileStats()


def optimize(module: Module, target: str | Backend = DEFAULT_TARGET, pipeline: Pipeline = None,
             instrument: Instrumentation | None = None) -> list[PassRecord]:
    """Run `pipeline` (the target's default when None; ``""`` runs nothing) on `module` in
    place; returns a record per pass."""
    backend = get_backend(target)
    spec = backend.default_pipeline() if pipeline is None else pipeline
    return run_pipeline(module, spec, instrument) if spec else []


def compile(module: Module, target: str | Backend = DEFAULT_TARGET, pipeline: Pipeline = None,
            *, entry: str | None = None, instrument: Instrumentation | None = None,
            copy: bool = True, trace_seconds: float = 0.0) -> Executable:
    """An executable for `module` on `target` (a spec or a Backend). The pipeline runs on a
    copy unless `copy` is False, so the caller's module stays as it was. The time of each
    step goes into a :class:`~xlalite.runtime.profile.CompileProfile` (`trace_seconds`: what
    the caller spent tracing the module, reported with it)."""
    start = time.perf_counter()
    name = entry or (module.main.name if module.functions else "?")
    with profile.compiling(name, trace_seconds) as prof:
        backend = get_backend(target)
        with profile.phase("verify"):
            module = verify(module.clone() if copy else module)
            for func in module.functions:  # the memory plan is derived here, never given
                strip_plan(func)
        with profile.phase("passes"):
            for record in optimize(module, backend, pipeline, instrument):
                prof.passes[record.name] = prof.passes.get(record.name, 0.0) + record.seconds
        executable = backend.compile(module, entry)
    STATS.compilations += 1
    STATS.seconds += time.perf_counter() - start
    return executable


def emit_source(module: Module, target: str | Backend = DEFAULT_TARGET, pipeline: Pipeline = None,
                instrument: Instrumentation | None = None) -> str:
    """The code `compile` would run (kernels and driver), without loading it. Runs the
    pipeline on `module` in place."""
    backend = get_backend(target)
    optimize(verify(module), backend, pipeline, instrument)
    return backend.emit_source(module)


#: executables by (module text, target spec, pipeline): IR that prints the same compiles once
_MEMO: OrderedDict[tuple[str, str, str], Executable] = OrderedDict()
_MEMO_SIZE = 64
_MEMO_LOCK = threading.Lock()


def compile_cached(module: Module, target: str | Backend = DEFAULT_TARGET,
                   pipeline: Pipeline = None) -> Executable:
    """`compile`, remembering the last _MEMO_SIZE executables by the module's text: for
    entry points that trace anew on every call (``vjp``) but mostly see the same program."""
    backend = get_backend(target)
    shown = pipeline if pipeline is None or isinstance(pipeline, str) else ",".join(
        p.spec() for p in pipeline if isinstance(p, Pass))
    key = (str(module), backend.spec(), "<default>" if shown is None else shown)
    with _MEMO_LOCK:
        hit = _MEMO.get(key)
        if hit is not None:
            _MEMO.move_to_end(key)
            STATS.memo_hits += 1
            return hit
    executable = compile(module, backend, pipeline)
    with _MEMO_LOCK:
        _MEMO[key] = executable
        while len(_MEMO) > _MEMO_SIZE:
            _MEMO.popitem(last=False)
    return executable


__all__ = ["DEFAULT_TARGET", "STATS", "compile", "compile_cached", "emit_source", "optimize"]
