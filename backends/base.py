"""The backend interface and registry.

A backend turns a verified module into an :class:`~xlalite.runtime.Executable`. Backends are
found by name: the built-in ones and any a third-party package declares in the entry-point
group ``xlalite.backends`` (a ``Backend`` subclass), so new targets need no edit to xlalite.
"""

from __future__ import annotations

import abc
import difflib
from importlib.metadata import entry_points
from typing import ClassVar

from xlalite.ir.core import Module
from xlalite.runtime.executable import Executable

ENTRY_POINT_GROUP = "xlalite.backends"


class CodegenError(ValueError):
    """The backend cannot generate code for this IR."""


class Backend(abc.ABC):
    """A compilation target. Subclasses set ``name`` and implement ``compile``."""

    name: ClassVar[str]

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
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in _BACKENDS:
            try:
                cls = ep.load()
            except Exception as e:  # a broken plugin must not break xlalite itself
                import warnings

                warnings.warn(f"xlalite backend plugin '{ep.name}' failed to load: {e}",
                              stacklevel=2)
                continue
            _BACKENDS.setdefault(ep.name, cls)


def available_backends() -> list[str]:
    """Names of all installed backends, built-in and from entry points."""
    import xlalite.backends.interpreter  # noqa: F401  (built-ins register on import)
    import xlalite.backends.numba_cpu  # noqa: F401
    import xlalite.backends.numba_cuda  # noqa: F401

    _discover()
    return sorted(_BACKENDS)


def get_backend(name: str) -> Backend:
    """An instance of the backend called `name`; the error lists the installed ones."""
    names = available_backends()
    if name not in _BACKENDS:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ValueError(f"unknown backend '{name}'{hint} (installed: {', '.join(names)})")
    return _BACKENDS[name]()
