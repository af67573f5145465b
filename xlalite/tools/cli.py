"""What the console commands share: the last line of defence of the CLI contract."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence


def guarded(prog: str, run: Callable[[Sequence[str] | None], int],
            argv: Sequence[str] | None) -> int:
    """``run(argv)`` as a console entry point: an unexpected exception becomes a one-line
    message and status 1, never a traceback (unless XLALITE_DEBUG=1); Ctrl-C is status 130."""
    for stream in (sys.stdout, sys.stderr):  # a lone surrogate in the input must not crash
        if hasattr(stream, "reconfigure"):  # printing the diagnostic that names it
            stream.reconfigure(errors="backslashreplace")
    try:
        return run(argv)
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001  (last line of defence for the CLI contract)
        if os.environ.get("XLALITE_DEBUG"):
            raise
        print(f"{prog}: internal error: {type(e).__name__}: {e}\n"
              "(this is a bug in xlalite; set XLALITE_DEBUG=1 to see the traceback)",
              file=sys.stderr)
        return 1
