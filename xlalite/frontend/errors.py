"""Errors raised while tracing, with the user's source line they come from."""

from __future__ import annotations

import functools
import importlib.util
import linecache
import os
import sys
from types import FrameType

from xlalite.ir.diagnostics import Location


@functools.cache
def _package_dirs() -> tuple[str, ...]:
    """xlalite's folders (``passes/`` and ``backends/`` live beside ``xlalite/``)."""
    dirs = []
    for name in ("xlalite", "xlalite.backends", "xlalite.passes"):
        spec = importlib.util.find_spec(name)
        dirs.extend(spec.submodule_search_locations or [] if spec else [])
    return tuple(os.path.abspath(d) + os.sep for d in dirs)


def user_location() -> Location | None:
    """The innermost stack frame outside xlalite itself: the user's line that is running."""
    dirs = _package_dirs()
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        path = os.path.abspath(frame.f_code.co_filename)
        if not path.startswith(dirs) and not frame.f_code.co_filename.startswith("<frozen"):
            text = linecache.getline(frame.f_code.co_filename, frame.f_lineno) or None
            indent = len(text) - len(text.lstrip()) if text else 0
            return Location(frame.f_code.co_filename, frame.f_lineno, indent + 1, text)
        frame = frame.f_back
    return None


def located(message: str) -> str:
    """`message` prefixed with the user's file and line (when the caller is user code)."""
    loc = user_location()
    return f"{loc.file}:{loc.line}: {message}" if loc is not None else message


class TracerError(TypeError):
    """A traced value was used where Python needs a concrete value."""

    def __init__(self, what: str, fix: str):
        loc = user_location()
        where = ""
        if loc is not None:
            where = f"{loc.file}:{loc.line}: "
            if loc.line_text:
                fix = f"the line was:\n    {loc.line_text.strip()}\n{fix}"
        super().__init__(f"{where}{what}\n{fix}")
        self.location = loc
