"""``xlalite.jit``: trace a Python function into IR once per input signature, compile, run.

The signature of a call is the pytree structure of its arguments, the shape and dtype of
every array leaf, and the values of static arguments. A new signature re-traces and
re-compiles (counted in ``cache_info()['misses']``); a known one reuses the executable.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xlalite.backends.base import Backend, get_backend
from xlalite.compiler import DEFAULT_TARGET, compile, optimize
from xlalite.differential import CheckError, Report, compare_arrays
from xlalite.frontend.pytree import TreeDef, flatten, unflatten
from xlalite.frontend.tensor import TensorBase, active_trace
from xlalite.frontend.tracing import leaf_array, lists_to_arrays, trace
from xlalite.ir.core import Module
from xlalite.ir.dot import render, to_dot
from xlalite.ir.types import TensorType
from xlalite.passes.manager import Pass, parse_pipeline
from xlalite.runtime.executable import Executable

#: The target jit compiles for unless told otherwise.
DEFAULT_BACKEND = DEFAULT_TARGET


def static_key(value: object) -> object:
    """A static argument in a cache key: its type and value, recursively, as JAX keys them,
    so ``2`` and ``2.0`` (equal, with equal hashes) or ``True`` and ``1`` trace apart."""
    if isinstance(value, (tuple, list)):
        return (type(value), tuple(static_key(v) for v in value))
    if isinstance(value, dict):
        return (dict, tuple((static_key(k), static_key(v)) for k, v in value.items()))
    if isinstance(value, float) and value != value:
        return (float, "nan")  # NaN != NaN would never hit the cache
    return (type(value), value)


@dataclass
class Lowered:
    """A traced (not yet compiled) specialization: the IR module and its output structure."""

    module: Module
    out_tree: TreeDef
    backend: Backend
    pipeline: list[Pass] | None  # None: the backend's default pipeline
    state_in: list = field(default_factory=list)  # state tensors passed after the arguments
    state_out: list = field(default_factory=list)  # state tensors returned after the results
    guards: list = field(default_factory=list)  # (key function, key when traced), see Trace
    trace_seconds: float = 0.0  # how long tracing took (reported in the compile profile)

    def guards_hold(self) -> bool:
        """Whether this trace still describes the program: same state types, same modes."""
        return (all(key() == then for key, then in self.guards)
                and all(x.type == t for x, t in zip(self.state_in, self._state_types)))

    def __post_init__(self) -> None:
        self._state_types = [x.type for x in self.state_in]

    def as_text(self) -> str:
        """The module as `.xir` text."""
        return str(self.module)

    def optimized(self) -> Module:
        """A copy of the module after the backend's pipeline (fused groups, memory plan)."""
        module = self.module.clone()
        optimize(module, self.backend, self.pipeline)
        return module

    def as_dot(self, optimized: bool = False, memory: bool = False) -> str:
        """The traced IR (`optimized`: after the pipeline) as Graphviz DOT text; `memory`
        shows the memory plan's offsets (see ``xlalite.ir.dot``)."""
        return to_dot(self.optimized() if optimized else self.module, memory)

    def render(self, path: str | Path, optimized: bool = False, memory: bool = False) -> Path:
        """Draw the IR to `path` (.svg, .png or .pdf) with Graphviz."""
        return render(self.optimized() if optimized else self.module, path, memory)

    def compile(self) -> Executable:
        """Compile through :func:`xlalite.compile` (the pipeline runs on a copy, so
        ``as_text()`` keeps showing the traced IR)."""
        return compile(self.module, self.backend, self.pipeline, trace_seconds=self.trace_seconds)


@dataclass
class _Stats:
    traces: int = 0
    hits: int = 0
    misses: int = 0
    signatures: list[str] = field(default_factory=list)


class Jitted:
    """A function compiled per input signature; call it like the original."""

    def __init__(self, fn: Callable, backend: str | Backend = DEFAULT_BACKEND,
                 static_argnums: int | Sequence[int] = (), pipeline: str | None = None,
                 check: bool | str = False):
        functools.update_wrapper(self, fn)
        self.fn = fn
        # both specs are read now, so a typo fails at jit(...), not at the first call
        self.backend = get_backend(backend)
        self.pipeline = None if pipeline is None else parse_pipeline(pipeline)
        nums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
        self.static_argnums = frozenset(nums)
        try:
            self._signature: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):
            self._signature = None
        self._cache: dict[Any, tuple[Executable, Lowered]] = {}
        self._lowered: dict[Any, Lowered] = {}  # traced by lower(), not yet compiled
        # the same entries keyed by (shape, dtype) per argument, for calls whose arguments are
        # all plain arrays: such a call skips flattening and leaf conversion (~10 us of a
        # small model's call; an all-reduce of 1 MiB takes 200 us in all)
        self._fast: dict[tuple, tuple[Executable, Lowered]] = {}
        self._stats = _Stats()
        #: the reference each new compilation is checked against on its first call, if any
        self.check = "interpreter" if check is True else (check or None)
        self.check_reports: list[Any] = []  # one differential.Report per checked signature

    # --- argument handling --------------------------------------------------------------
    def _positional(self, args: tuple, kwargs: dict) -> tuple:
        """The arguments by position, lists of numbers made arrays (static ones left as is)."""
        args = self._bind(args, kwargs)
        statics = self._statics(len(args))
        return tuple(a if i in statics else lists_to_arrays(a, f"argument '{self._param_name(i)}' (#{i})")
                     for i, a in enumerate(args))

    def _bind(self, args: tuple, kwargs: dict) -> tuple:
        if not kwargs:
            return args
        if self._signature is None:
            raise TypeError("keyword arguments need an inspectable function signature")
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        if bound.kwargs:
            raise TypeError(f"jit does not support keyword-only arguments: {sorted(bound.kwargs)}")
        return bound.args

    def _param_name(self, i: int) -> str:
        if self._signature is not None:
            params = list(self._signature.parameters)
            if i < len(params):
                return params[i]
        return f"arg{i}"

    def _statics(self, n: int) -> frozenset[int]:
        return frozenset(i % n for i in self.static_argnums if -n <= i < n)

    def _split(self, args: tuple) -> tuple[Any, list[np.ndarray], list[str]]:
        """Cache key, dynamic leaves as arrays, and a readable name per leaf."""
        statics = self._statics(len(args))
        key: list[Any] = []
        leaves: list[np.ndarray] = []
        names: list[str] = []
        for i, arg in enumerate(args):
            pname = self._param_name(i)
            if i in statics:
                try:
                    hash(arg)
                except TypeError:
                    raise TypeError(f"static argument '{pname}' (#{i}) must be hashable, got "
                                    f"{type(arg).__name__}") from None
                key.append(("static", static_key(arg)))
                continue
            flat, tree = flatten(arg)
            arrays = [leaf_array(x, f"argument '{pname}' (#{i})") for x in flat]
            key.append((tree, tuple((a.shape, a.dtype.str) for a in arrays)))
            leaves.extend(arrays)
            names.extend(pname if len(flat) == 1 else f"{pname}_{j}" for j in range(len(flat)))
        return tuple(key), leaves, names

    # --- tracing ------------------------------------------------------------------------
    def _trace(self, args: tuple) -> Lowered:
        self._stats.traces += 1
        names = [self._param_name(i) for i in range(len(args))]
        start = time.perf_counter()
        traced = trace(self.fn, args, self._statics(len(args)), names)
        return Lowered(traced.module, traced.out_tree, self.backend, self.pipeline,
                       traced.state_in, traced.state_out, traced.guards,
                       time.perf_counter() - start)

    def lower(self, *args: object, **kwargs: object) -> Lowered:
        """Trace for these arguments' signature without compiling or running."""
        args = self._positional(args, kwargs)
        key, _, _ = self._split(args)  # also validates arguments with readable errors
        lowered = self._trace(args)
        self._lowered[key] = lowered  # a later call with this signature reuses the trace
        return lowered

    def _fast_key(self, args: tuple) -> tuple | None:
        if self.static_argnums:
            return None
        key = []
        for a in args:
            if type(a) is not np.ndarray:
                return None
            key.append((a.shape, a.dtype))
        return tuple(key)

    def __call__(self, *args: object, **kwargs: object) -> Any:
        fast = None if kwargs or active_trace() is not None else self._fast_key(args)
        if fast is not None:
            entry = self._fast.get(fast)
            if entry is not None and entry[1].guards_hold():
                self._stats.hits += 1
                return self._run(entry, list(args))  # type: ignore[arg-type]
        args = self._positional(args, kwargs)
        if active_trace([x for a in args for x in flatten(a)[0]]) is not None:
            return self.fn(*args)  # called inside another trace: inline
        key, leaves, _ = self._split(args)
        entry = self._cache.get(key)
        if entry is None or not entry[1].guards_hold():  # new signature, or state/mode changed
            self._stats.misses += 1
            lowered = self._lowered.pop(key, None) or self._trace(args)
            entry = (lowered.compile(), lowered)
            self._cache[key] = entry
            sig = ", ".join(str(TensorType.of(a)) for a in leaves)
            self._stats.signatures.append(f"({sig})")
            if self.check:
                return self._run(entry, leaves, check=True)
        else:
            self._stats.hits += 1
        if fast is not None:
            self._fast[fast] = entry
        return self._run(entry, leaves)

    def _run(self, entry: tuple[Executable, Lowered], leaves: list[np.ndarray],
             check: bool = False) -> Any:
        executable, lowered = entry
        reference = self._reference(lowered, leaves) if check else None
        state = [x.resident() for x in lowered.state_in]  # device values stay on the device
        results = list(executable(*leaves, *state))
        if reference is not None:
            self._compare(lowered, leaves, results, *reference)
        n_state = len(lowered.state_out)
        if n_state:
            for x, new in zip(lowered.state_out, results[-n_state:]):
                x.array = new  # donated: usually the very same buffer, updated in place
                # (a DeviceArray from an accelerator backend stays resident, see state.py)
            results = results[:-n_state]
        return unflatten(lowered.out_tree, results)

    def _reference(self, lowered: Lowered, leaves: list[np.ndarray]) -> tuple[list, list]:
        """The reference's results for this call, from copies (the real run may donate)."""
        inputs = [np.array(a) for a in leaves] + [np.array(x.array) for x in lowered.state_in]
        assert self.check is not None
        ref = compile(lowered.module, self.check, "")(*[a.copy() for a in inputs])
        return inputs, [np.asarray(r) for r in ref]

    def _compare(self, lowered: Lowered, leaves: list, results: list, inputs: list,
                 reference: list) -> None:
        report = Report(self.backend.spec(), str(self.check))
        report.outputs = [compare_arrays(i, np.asarray(g), w)
                          for i, (g, w) in enumerate(zip(results, reference))]
        self.check_reports.append(report)
        if not report.ok:
            path = write_bug_report(lowered.module, inputs)
            name = getattr(self.fn, "__name__", "the function")
            raise CheckError(f"jit(check=True): {name} compiled for {self.backend.spec()} "
                             f"disagrees with {self.check}:\n{report}The program and its inputs "
                             f"are in {path}.xir and {path}.npz; shrink it with\n  xlalite-reduce "
                             f"{path}.xir --check-against={self.check} -t '{self.backend.spec()}' "
                             f"--inputs {path}.npz")

    def cache_info(self) -> dict[str, Any]:
        """Traces, cache hits and misses, and the signatures compiled so far."""
        s = self._stats
        return {"traces": s.traces, "hits": s.hits, "misses": s.misses,
                "entries": len(self._cache), "signatures": list(s.signatures)}


def write_bug_report(module: Module, inputs: list[np.ndarray]) -> str:
    """Save a module and its inputs for xlalite-reduce; returns the path without suffix."""
    text = str(module)
    path = Path(tempfile.gettempdir()) / f"xlalite-check-{hashlib.sha256(text.encode()).hexdigest()[:12]}"
    path.with_suffix(".xir").write_text(text)
    arrays: dict[str, Any] = {f"arg{i}": a for i, a in enumerate(inputs)}
    np.savez(path.with_suffix(".npz"), **arrays)
    return str(path)


def jit(fn: Callable | None = None, *, backend: str | Backend = DEFAULT_BACKEND,
        static_argnums: int | Sequence[int] = (), pipeline: str | None = None,
        check: bool | str = False) -> Any:
    """Compile `fn` per input signature. Usable as ``jit(f)``, ``@jit`` or ``@jit(backend=...)``.

    `backend` is a target spec: a name, optionally with options, such as
    ``"numba-cpu{exact-math=true parallel=false}"`` (``xlalite-opt --list-targets`` shows
    them). `pipeline` overrides the backend's default pass pipeline (a spec such as
    ``"cse,dce"``; ``""`` runs no pass). Both are checked here, not at the first call.
    With `check` (True: against the interpreter; or a target spec) the first call of each new
    signature also runs the traced program on that reference and raises
    ``differential.CheckError`` with the worst error per output when they disagree, saving the
    program and inputs for ``xlalite-reduce``; ``check_reports`` keeps every report.
    """
    if fn is None:
        return functools.partial(jit, backend=backend, static_argnums=static_argnums,
                                 pipeline=pipeline, check=check)
    return Jitted(fn, backend=backend, static_argnums=static_argnums, pipeline=pipeline,
                  check=check)


__all__ = ["Jitted", "Lowered", "TensorBase", "jit"]
