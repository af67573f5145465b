"""Passes, the pass registry, pipeline specs and instrumentation.

A pass is a small frozen dataclass: a kebab-case ``name``, options as typed fields, and
``apply(module)`` returning statistics (``{"ops-removed": 3}``) or None. The algorithm lives
in plain functions beside it. Pipelines are written as specs shared by ``xlalite.jit(...,
pipeline=...)`` and ``xlalite-opt -p``::

    canonicalize,cse,dce,fuse{max-ops=32},plan-memory
    autodiff{wrt=0,1}

Options go in braces, separated by spaces; a value may be a comma list (``wrt=0,1``).
"""

from __future__ import annotations

import dataclasses
import io
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, TextIO

from xlalite.ir.core import Function, Module
from xlalite.ir.diagnostics import UNKNOWN, Diagnostic, Location, XirError
from xlalite.ir.verifier import verify
from xlalite.options import (
    SpecError,
    closest,
    option_fields,
    parse_options,
    spec_of,
    split_item,
    split_top,
)


class PipelineError(SpecError):
    """A malformed pipeline spec, an unknown pass or an unknown/ill-typed option."""


class PassError(ValueError):
    """A pass cannot do what was asked of this IR (the IR is valid; the request is not): a
    user error, reported by run_pipeline as a located diagnostic naming the pass."""

    def __init__(self, message: str, loc: Location | None = None):
        super().__init__(message)
        self.loc = loc


@dataclass(frozen=True)
class Pass:
    """Base class: subclasses are frozen dataclasses whose fields are the options."""

    name: ClassVar[str] = ""

    def apply(self, module: Module) -> dict[str, int] | None:
        raise NotImplementedError

    @classmethod
    def summary(cls) -> str:
        return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""

    @classmethod
    def options(cls) -> dict[str, dataclasses.Field]:
        """Option fields keyed by their kebab-case spelling."""
        return option_fields(cls)

    def spec(self) -> str:
        """This pass as pipeline text (options that differ from defaults only)."""
        return spec_of(self, self.name)


@dataclass(frozen=True)
class FunctionPass(Pass):
    """A pass that transforms each function on its own; statistics are summed."""

    def run_on_function(self, func: Function) -> dict[str, int]:
        raise NotImplementedError

    def apply(self, module: Module) -> dict[str, int]:
        total: dict[str, int] = {}
        for f in module.functions:
            for k, v in self.run_on_function(f).items():
                total[k] = total.get(k, 0) + v
        return total


_PASSES: dict[str, type[Pass]] = {}


def register_pass(cls: type[Pass]) -> type[Pass]:
    """Class decorator: make a pass available by its kebab-case name."""
    if not cls.name or cls.name != cls.name.lower() or "_" in cls.name:
        raise ValueError(f"pass name {cls.name!r} must be kebab-case")
    _PASSES[cls.name] = cls
    return cls


def registered_passes() -> dict[str, type[Pass]]:
    """Every pass by name. The built-in ones registered when ``xlalite.passes`` (this module's
    package, so imported before it) was."""
    return dict(sorted(_PASSES.items()))


def parse_pipeline(spec: str) -> list[Pass]:
    """Passes for a spec like ``cse,dce,fuse{max-ops=32}``; errors name the closest names."""
    from xlalite.passes.pipelines import PHASES, expand

    passes = registered_passes()
    out = []
    for item in split_top(expand(spec, PipelineError), PipelineError):
        name, rest = split_item(item, PipelineError)
        if name not in passes:
            names = sorted(set(passes) | set(PHASES))
            raise PipelineError(f"unknown pass '{name}'{closest(name, names)} "
                                f"(see --list-passes)")
        cls = passes[name]
        kwargs = parse_options(cls, name, rest, f"pass '{name}'", PipelineError)
        try:
            out.append(cls(**kwargs))
        except (TypeError, ValueError) as e:
            raise PipelineError(f"pass '{name}': {e}") from None
    return out


@dataclass
class PassRecord:
    """What one pass did: wall time and its statistics."""

    name: str
    seconds: float
    stats: dict[str, int] = field(default_factory=dict)


@dataclass
class Instrumentation:
    """Debugging hooks around each pass (the CLI flags of the same names)."""

    verify_each: bool = True
    print_ir_after_all: bool = False
    print_ir_after: frozenset[str] = frozenset()
    out: TextIO | None = None  # where IR dumps go (default: stderr)


def run_pipeline(module: Module, pipeline: str | Sequence[Pass],
                 instrument: Instrumentation | None = None) -> list[PassRecord]:
    """Apply the passes in order; returns a record per pass (times and statistics)."""
    inst = instrument or Instrumentation()
    passes = parse_pipeline(pipeline) if isinstance(pipeline, str) else list(pipeline)
    records = []
    out = inst.out or sys.stderr
    for p in passes:
        start = time.perf_counter()
        try:
            stats = p.apply(module) or {}
        except PassError as e:
            raise XirError(Diagnostic(e.loc or UNKNOWN, f"pass '{p.name}': {e}")) from None
        records.append(PassRecord(p.name, time.perf_counter() - start, dict(stats)))
        if inst.verify_each:
            verify_after(module, p)
        if inst.print_ir_after_all or p.name in inst.print_ir_after:
            out.write(f"// -----// IR after {p.spec()} //----- //\n{module}\n")
    return records


def verify_after(module: Module, p: Pass) -> None:
    """Verify, blaming pass `p` when the IR it produced is invalid: every diagnostic reads
    ``IR invalid after pass 'fuse': ...``."""
    try:
        verify(module)
    except XirError as e:
        raise XirError([d.prefixed(f"IR invalid after pass '{p.name}': ")
                        for d in e.diagnostics]) from None


def format_timing(records: Sequence[PassRecord]) -> str:
    """A --time-passes table."""
    total = sum(r.seconds for r in records) or 1e-12
    buf = io.StringIO()
    buf.write("===- Pass execution timing report -===\n  wall (ms)   share  pass\n")
    for r in records:
        buf.write(f"  {r.seconds * 1e3:9.3f}  {100 * r.seconds / total:5.1f}%  {r.name}\n")
    buf.write(f"  {total * 1e3:9.3f}  100.0%  total\n")
    return buf.getvalue()


def format_stats(records: Sequence[PassRecord]) -> str:
    """A --pass-stats listing."""
    lines = ["===- Pass statistics -==="]
    for r in records:
        lines.append(f"{r.name}")
        lines.extend(f"  {v:8d} {k}" for k, v in sorted(r.stats.items()))
    return "\n".join(lines) + "\n"

