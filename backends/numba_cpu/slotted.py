"""Parallel kernels the driver calls, as slot shares run on threads instead of Numba parfors.

A kernel whose outermost loop is a ``prange`` is rewritten to ``def kernel(slot, slots, ...)``
running the loop over its slot's share of the range (a contiguous block), compiled serial with
``nogil=True``; the driver calls it through :func:`~xlalite.backends.numba_cpu.threads.run_slots`,
one slot per thread, as the convolution library already is. Why: Numba's parfor lowering
(outlining the loop body into a gufunc, compiling that, the scheduler around it) is most of a
parallel kernel's compile time: LeNet's max-pool gradient compiles in 0.37 s serial against
1.30 s as a parfor, and LeNet's three parfor kernels took 1.8-2.1 s each of a cold first step.
The loop body the threads run is the same machine code either way.

Only kernels of one shape are rewritten: the ``prange`` loop at the kernel's top level, last,
with only plain name assignments before it (each slot recomputes those: loop invariants);
anything else stays a parfor. Kernels inside control-flow loops are called from compiled code
and stay parfors too.
"""

from __future__ import annotations

import re

_PRANGE = re.compile(r"^    for (\w+) in prange\((.+)\):$")
#: a statement a slot may repeat: a name bound to an expression that calls nothing of the
#: libraries (which write arrays); an allocation is then each slot's own
_PURE = re.compile(r"^    \w+ = (?!.*\b(?:lib|blas|convlib)\.)")


def split_into_slots(source: str) -> str | None:
    """`source` (``def kernel(...)`` with one top-level prange loop) with the loop cut into
    slot shares, or None when the kernel does not have the one shape this handles."""
    lines = source.rstrip("\n").split("\n")
    loops = [i for i, line in enumerate(lines) if "prange(" in line]
    if len(loops) != 1 or not lines[0].startswith("def kernel("):
        return None
    (at,) = loops
    match = _PRANGE.match(lines[at])
    if match is None or not all(_PURE.match(line) for line in lines[1:at]):
        return None
    if not all(line.startswith("        ") for line in lines[at + 1:] if line.strip()):
        return None  # something runs after the loop: once per kernel, not per slot
    var, extent = match.groups()
    share = ["    n_slot = " + extent,
             f"    for {var} in range(n_slot * slot // slots, n_slot * (slot + 1) // slots):"]
    head = "def kernel(slot, slots, " + lines[0].removeprefix("def kernel(")
    return "\n".join([head, *lines[1:at], *share, *lines[at + 1:]]) + "\n"
