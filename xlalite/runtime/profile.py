"""Where compile time goes: one :class:`CompileProfile` per :func:`xlalite.compile`.

The compiler opens a profile; each layer adds its part while it works — the front end its
trace, the pass manager each pass, a target its code generation and, per kernel, what Numba
spent typing and lowering (LLVM included) or whether it loaded machine code from a cache.
``xlalite.cache_info()["last_compile"]`` is the newest profile; ``XLALITE_LOG=compile``
prints each one to stderr as it ends::

    compile @step: 5.76 s (trace 0.01, verify 0.00, passes 0.02, codegen 0.01, load kernels
    0.02, kernels 5.70: 15 compiled, 0 numba cache, 11 memory)
      kernel                        source       typing  lowering   other   total
      xlk_0ecbcfa9  loops           compiled       0.21      0.36    0.17    0.74
      xlk_0ebd8cf7  blas.matmul     compiled       0.01      0.43    0.25    0.70
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class KernelTime:
    """One kernel signature: compiled by Numba (with its typing and lowering seconds), loaded
    from Numba's disk cache, or already compiled in this process."""

    name: str
    source: str  # "compiled", "numba cache", "memory"
    total: float
    typing: float = 0.0
    lowering: float = 0.0  # Numba's IR to LLVM, LLVM's optimization and machine code
    #: why a kernel new to this process was needed: "new structure", or the numbers it has as
    #: literals where an already loaded kernel of the same code has others (a batch size's
    #: 1/N in a mean), so a new shape that compiles something says what
    why: str = ""

    @property
    def other(self) -> float:
        return max(0.0, self.total - self.typing - self.lowering)


@dataclass
class CompileProfile:
    """Seconds per phase of one compilation, and per kernel."""

    function: str
    phases: dict[str, float] = field(default_factory=dict)
    passes: dict[str, float] = field(default_factory=dict)
    kernels: list[KernelTime] = field(default_factory=list)
    total: float = 0.0

    def add(self, phase: str, seconds: float) -> None:
        self.phases[phase] = self.phases.get(phase, 0.0) + seconds

    def as_dict(self) -> dict[str, object]:
        r = lambda x: round(x, 4)  # noqa: E731
        return {"function": self.function, "total": r(self.total),
                "phases": {k: r(v) for k, v in self.phases.items()},
                "passes": {k: r(v) for k, v in self.passes.items()},
                "kernels": [{"name": k.name, "source": k.source, "total": r(k.total),
                             "typing": r(k.typing), "lowering": r(k.lowering),
                             "other": r(k.other), "why": k.why} for k in self.kernels]}

    def table(self, top: int = 12) -> str:
        """A readable summary: phases, then the slowest kernels."""
        kernel_s = sum(k.total for k in self.kernels)
        parts = [f"{k} {v:.2f}" for k, v in self.phases.items()]
        counts = {s: sum(k.source == s for k in self.kernels)
                  for s in ("compiled", "numba cache", "memory")}
        parts.append(f"kernels {kernel_s:.2f}: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
        lines = [f"compile @{self.function}: {self.total:.2f} s ({', '.join(parts)})"]
        if self.passes:
            slow = sorted(self.passes.items(), key=lambda kv: -kv[1])[:5]
            lines.append("  slowest passes: " + ", ".join(f"{k} {v:.3f}" for k, v in slow))
        if self.kernels:
            lines.append(f"  {'kernel':40s} {'source':11s} {'typing':>7s} {'lowering':>9s} "
                         f"{'other':>7s} {'total':>7s}")
            for k in sorted(self.kernels, key=lambda k: -k.total)[:top]:
                why = f"  ({k.why})" if k.why.startswith("as ") else ""
                lines.append(f"  {k.name[:40]:40s} {k.source:11s} {k.typing:7.2f} "
                             f"{k.lowering:9.2f} {k.other:7.2f} {k.total:7.2f}{why}")
            if len(self.kernels) > top:
                lines.append(f"  ... {len(self.kernels) - top} more")
        return "\n".join(lines)


_ACTIVE = threading.local()
#: the newest profiles, oldest first (a handful: enough to look at, bounded for long runs)
HISTORY: list[CompileProfile] = []
_KEEP = 16


def active() -> CompileProfile | None:
    """The profile of the compilation running on this thread, if any."""
    return getattr(_ACTIVE, "profile", None)


@contextlib.contextmanager
def compiling(function: str, trace_seconds: float = 0.0) -> Iterator[CompileProfile]:
    """Open the profile of one compilation (nested compilations get their own);
    `trace_seconds` is the caller's tracing, done before and counted in."""
    outer = active()
    profile = CompileProfile(function)
    if trace_seconds:
        profile.add("trace", trace_seconds)
    _ACTIVE.profile = profile
    start = time.perf_counter()
    try:
        yield profile
    finally:
        profile.total = time.perf_counter() - start + trace_seconds
        _ACTIVE.profile = outer
        HISTORY.append(profile)
        del HISTORY[:-_KEEP]
        if "compile" in os.environ.get("XLALITE_LOG", "").split(","):
            print(profile.table(), file=sys.stderr, flush=True)


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    """Time a phase of the active compilation (nothing when none is active)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        profile = active()
        if profile is not None:
            profile.add(name, time.perf_counter() - start)


def record_kernel(kernel: KernelTime) -> None:
    profile = active()
    if profile is not None:
        profile.kernels.append(kernel)


def last() -> CompileProfile | None:
    return HISTORY[-1] if HISTORY else None
