"""Kernels that only call the hand-written libraries run as Python functions of the driver.

A matrix product, a gather or a strided copy is one call of blas.py or library.py, whose
machine code is compiled once per machine and cached. Wrapped in a generated ``@njit``
kernel, each such call cost Numba 0.15-0.4 s of compilation per kernel, cold: the wrapper
links the library function and LLVM optimizes its code again (the MLP step's two product
kernels: 0.4 s each). Called from the driver, the library's one compiled copy runs directly;
the extra cost is one Numba dispatch (microseconds) per library call.

Only straight-line kernels qualify: statements that bind names, call a library function or
assign into ``out``, with no loops, branches or scalar math, whose meaning is the same in
NumPy as in Numba (reshapes of contiguous arrays, views of scratch, ``np.ascontiguousarray``);
the arrays passed to the libraries then have the layouts the compiled signatures expect.
"""

from __future__ import annotations

import re

_STATEMENT = re.compile(r"^    (?:\w+ = |out\[[^\]]*\] = |(?:lib|blas|convlib)\.\w+\()")
_NOT_STRAIGHT = re.compile(r"\b(?:for|while|if|mm|math|prange)\b")


def runs_on_host(source: str) -> bool:
    """Whether kernel `source` (``def kernel(...)``) is straight-line library calls."""
    lines = source.rstrip("\n").split("\n")
    body = lines[1:]
    return (lines[0].startswith("def kernel(") and bool(body)
            and all(_STATEMENT.match(line) and not _NOT_STRAIGHT.search(line) for line in body))


class HostFunctions:
    """The driver's host functions: ``h<i>`` per distinct kernel source."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def name(self, source: str) -> str:
        """The driver's name for `source` run as Python (defined once per source)."""
        return self.names.setdefault(source, f"h{len(self.names)}")

    def text(self) -> str:
        """Their definitions, for the driver's module (before ``def run``)."""
        return "".join(f"def {name}(" + source.removeprefix("def kernel(") + "\n"
                       for source, name in self.names.items())
