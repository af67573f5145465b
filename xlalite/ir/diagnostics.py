"""Source locations and diagnostics shared by the parser, the verifier and the CLI.

A diagnostic renders as::

    model.xir:3:15: error: use of undefined value '%5'
      %2 = "xl.add"(%0, %5) : (f32[2], f32[2]) -> f32[2]
                        ^
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Location:
    """A position in a source file (1-based line and column) and, when known, its line text."""

    file: str
    line: int
    col: int
    line_text: str | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


UNKNOWN = Location("<unknown>", 0, 0)


@dataclass(frozen=True)
class Diagnostic:
    """One error message anchored at a location."""

    loc: Location
    message: str
    severity: str = "error"
    notes: tuple[str, ...] = field(default=())

    def prefixed(self, prefix: str) -> Diagnostic:
        """The same diagnostic with `prefix` before its message."""
        return replace(self, message=prefix + self.message)

    def render(self) -> str:
        lines = [f"{self.loc}: {self.severity}: {self.message}"]
        if self.loc.line_text is not None:
            text = self.loc.line_text.rstrip("\n").expandtabs(1)
            lines.append(text)
            lines.append(" " * max(self.loc.col - 1, 0) + "^")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


class XirError(Exception):
    """Raised for malformed or ill-typed IR; carries one or more diagnostics."""

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic):
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(d.render() for d in self.diagnostics))

    @staticmethod
    def at(loc: Location | None, message: str) -> XirError:
        return XirError(Diagnostic(loc or UNKNOWN, message))
