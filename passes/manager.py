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
import difflib
import io
import sys
import time
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, TextIO

from xlalite.ir.core import Function, Module
from xlalite.ir.verifier import verify


class PipelineError(ValueError):
    """A malformed pipeline spec, an unknown pass or an unknown/ill-typed option."""


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
        return {f.name.replace("_", "-"): f for f in dataclasses.fields(cls)}

    def spec(self) -> str:
        """This pass as pipeline text (options that differ from defaults only)."""
        opts = []
        for key, f in self.options().items():
            value = getattr(self, f.name)
            if f.default is not dataclasses.MISSING and value == f.default:
                continue
            text = ",".join(map(str, value)) if isinstance(value, tuple) else str(value).lower() \
                if isinstance(value, bool) else str(value)
            opts.append(f"{key}={text}")
        return self.name + ("{" + " ".join(opts) + "}" if opts else "")


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
    import xlalite.passes  # noqa: F401  (built-in passes register on import)

    return dict(sorted(_PASSES.items()))


def _closest(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=3)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _convert(text: str, annotation: object, where: str) -> object:
    target = typing.get_origin(annotation) or annotation
    try:
        if target is bool:
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return text.lower() in ("true", "1")
        if target is tuple:
            return tuple(int(t) for t in text.split(",") if t.strip())
        if target in (int, float, str):
            return target(text)  # type: ignore[operator]
    except ValueError:
        pass
    kind = getattr(target, "__name__", str(target))
    raise PipelineError(f"{where}: cannot read {text!r} as {kind}")


def _split_top(spec: str) -> list[str]:
    """Split at commas outside braces."""
    parts, depth, cur = [], 0, []
    for ch in spec:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                raise PipelineError(f"unbalanced '}}' in pipeline {spec!r}")
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth:
        raise PipelineError(f"unclosed '{{' in pipeline {spec!r}")
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def parse_pipeline(spec: str) -> list[Pass]:
    """Passes for a spec like ``cse,dce,fuse{max-ops=32}``; errors name the closest names."""
    from xlalite.passes.pipelines import PHASES, expand

    passes = registered_passes()
    out = []
    for item in _split_top(expand(spec)):
        name, _, rest = item.partition("{")
        name = name.strip()
        if name not in passes:
            names = sorted(set(passes) | set(PHASES))
            raise PipelineError(f"unknown pass '{name}'{_closest(name, names)} "
                                f"(see --list-passes)")
        cls = passes[name]
        if rest and not rest.endswith("}"):
            raise PipelineError(f"options of '{name}' must end with '}}'")
        fields = cls.options()
        kwargs: dict[str, object] = {}
        hints = typing.get_type_hints(cls)
        for opt in rest[:-1].split():
            key, eq, value = opt.partition("=")
            if key not in fields:
                valid = ", ".join(fields) or "none"
                raise PipelineError(f"pass '{name}' has no option '{key}'"
                                    f"{_closest(key, list(fields))} (options: {valid})")
            if not eq:
                raise PipelineError(f"option '{key}' of '{name}' needs a value: {key}=...")
            f = fields[key]
            kwargs[f.name] = _convert(value, hints[f.name], f"option '{key}' of '{name}'")
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
        stats = p.apply(module) or {}
        records.append(PassRecord(p.name, time.perf_counter() - start, dict(stats)))
        if inst.verify_each:
            verify_after(module, p)
        if inst.print_ir_after_all or p.name in inst.print_ir_after:
            out.write(f"// -----// IR after {p.spec()} //----- //\n{module}\n")
    return records


def verify_after(module: Module, p: Pass) -> None:
    """Verify, blaming pass `p` when the IR it produced is invalid."""
    from xlalite.ir.diagnostics import XirError

    try:
        verify(module)
    except XirError as e:
        raise XirError(e.diagnostics[:1] + e.diagnostics[1:]) from RuntimeError(
            f"pass '{p.name}' produced invalid IR")


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

