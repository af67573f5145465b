"""The backend (target) interface and registry.

A backend turns a verified module into an :class:`~xlalite.runtime.Executable`. Backends are
found by name: the built-in ones and any a third-party package declares in the entry-point
group ``xlalite.backends`` (a ``Backend`` subclass), so new targets need no edit to xlalite.

A target is a configured backend, written in the pass-spec syntax:
``numba-cpu{exact-math=true parallel=false}``. A backend's options are its dataclass fields
(a backend that is not a dataclass has none); :func:`get_backend` reads a spec.
"""

from __future__ import annotations

import abc
import dataclasses
import importlib
import warnings
from typing import ClassVar

from xlalite.ir.core import Module
from xlalite.options import (
    SpecError,
    closest,
    format_value,
    option_fields,
    parse_options,
    spec_of,
    split_item,
)
from xlalite.runtime.executable import Executable

ENTRY_POINT_GROUP = "xlalite.backends"


class CodegenError(ValueError):
    """The backend cannot generate code for this IR."""


class TargetError(SpecError):
    """An unknown backend, or an unknown or ill-typed target option."""


class Backend(abc.ABC):
    """A compilation target. Subclasses set ``name`` and implement ``compile``; options are
    the fields of a (frozen) dataclass subclass."""

    name: ClassVar[str]

    @classmethod
    def options(cls) -> dict[str, dataclasses.Field]:
        """Option fields keyed by their kebab-case spelling (none unless a dataclass)."""
        return option_fields(cls) if dataclasses.is_dataclass(cls) else {}

    def spec(self) -> str:
        """This target as spec text (options that differ from their defaults only)."""
        return spec_of(self, self.name) if dataclasses.is_dataclass(self) else self.name

    def default_pipeline(self) -> str:
        """The pass pipeline spec run before ``compile`` (see xlalite.passes)."""
        return ""

    def supports(self, op_name: str) -> bool:
        """Whether this backend can execute ops named `op_name`."""
        return True

    @abc.abstractmethod
    def compile(self, module: Module, entry: str | None = None) -> Executable:
        """Compile a verified module; `entry` names the function to run (default: main)."""

    def emit_source(self, module: Module) -> str:
        """Human-readable generated code (the module's IR for backends that generate none)."""
        return str(module)


_BACKENDS: dict[str, type[Backend]] = {}


def register_backend(cls: type[Backend]) -> type[Backend]:
    """Class decorator registering a backend under ``cls.name``."""
    _BACKENDS[cls.name] = cls
    return cls


def _discover() -> None:
    from importlib.metadata import entry_points  # ~20 ms: only when a plugin is looked up

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in _BACKENDS and ep.name not in BUILTIN:
            try:
                cls = ep.load()
            except Exception as e:  # a broken plugin must not break xlalite itself
                warnings.warn(f"xlalite backend plugin '{ep.name}' failed to load: {e}",
                              stacklevel=2)
                continue
            _BACKENDS.setdefault(ep.name, cls)


#: the built-in backends, imported when first named (numba and numba-cuda are not cheap)
BUILTIN = {
    "interpreter": "xlalite.backends.interpreter:InterpreterBackend",
    "numba-cpu": "xlalite.backends.numba_cpu:NumbaCPUBackend",
    "numba-cuda": "xlalite.backends.numba_cuda:NumbaCUDABackend",
}


def _load_builtin(name: str) -> None:
    module, _, attr = BUILTIN[name].partition(":")
    _BACKENDS.setdefault(name, getattr(importlib.import_module(module), attr))


def available_backends() -> list[str]:
    """Names of all installed backends, built-in and from entry points."""
    _discover()
    return sorted(set(_BACKENDS) | set(BUILTIN))


def backend_class(name: str) -> type[Backend]:
    """The backend registered as `name`; the error lists the installed ones."""
    if name in BUILTIN:
        _load_builtin(name)
    names = available_backends()
    if name not in _BACKENDS:
        raise TargetError(f"unknown backend '{name}'{closest(name, names)} "
                          f"(installed: {', '.join(names)})")
    return _BACKENDS[name]


def get_backend(target: str | Backend) -> Backend:
    """A configured backend for a target spec such as ``numba-cpu{exact-math=true}`` (a
    Backend instance is returned as it is). Unknown names and options get the same
    "did you mean" diagnostics as pass pipelines."""
    if isinstance(target, Backend):
        return target
    name, rest = split_item(target.strip(), TargetError)
    cls = backend_class(name)
    if rest.strip() and not cls.options():
        raise TargetError(f"target '{name}' has no options")
    kwargs = parse_options(cls, name, rest, f"target '{name}'", TargetError) if rest else {}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise TargetError(f"target '{name}': {e}") from None


def describe_targets() -> str:
    """Every installed target with its options and defaults (``xlalite-opt --list-targets``)."""
    lines = ["Available targets (options in braces: -t \"numba-cpu{exact-math=true}\"):"]
    for name in available_backends():
        cls = backend_class(name)
        doc = (cls.__doc__ or "").strip().splitlines()
        lines.append(f"  {name:<16} {doc[0] if doc else ''}")
        for key, f in cls.options().items():
            kind = getattr(f.type, "__name__", f.type)
            lines.append(f"      {key}={kind} (default: {spec_default(f)})")
    return "\n".join(lines) + "\n"


def spec_default(f: dataclasses.Field) -> str:
    return format_value(f.default) if f.default is not dataclasses.MISSING else "required"
