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
anything else stays a parfor. Work buffers of a loop-invariant size move out of the loop, as
the parfor lowering did. Kernels inside control-flow loops are called from compiled code
and stay parfors too.
"""

from __future__ import annotations

import re

_PRANGE = re.compile(r"^    for (\w+) in prange\((.+)\):$")
#: a statement a slot may repeat: a name bound to an expression that calls nothing of the
#: libraries (which write arrays); an allocation is then each slot's own
_PURE = re.compile(r"^    \w+ = (?!.*\b(?:lib|blas|convlib)\.)")


#: ``name = np.empty(...)`` directly inside the loop: a work buffer (a row of prologue values,
#: reduction lanes). NumPy's empty promises no contents, so one buffer per slot serves every
#: iteration when its size is loop-invariant (made of the kernel's parameters); Numba's parfor
#: hoisted these itself, and 16k allocations per call cost W2's softmax 10%
_ALLOCATION = re.compile(r"^        (\w+) = np\.empty\((.*)\)$")
_DTYPES = {"shape", "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8",
           "uint16", "uint32", "uint64", "bool_"}


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
    params = set(re.findall(r"\w+", lines[0].removeprefix("def kernel(")))
    body, hoisted = [], []
    for line in lines[at + 1:]:  # per-iteration work buffers, allocated once per slot instead
        alloc = _ALLOCATION.match(line)
        if alloc and set(re.findall(r"[A-Za-z_]\w*", alloc.group(2))) <= params | {"np"} | _DTYPES:
            hoisted.append("    " + line.strip())
        else:
            body.append(line)
    share = ["    n_slot = " + extent,
             f"    for {var} in range(n_slot * slot // slots, n_slot * (slot + 1) // slots):"]
    head = "def kernel(slot, slots, " + lines[0].removeprefix("def kernel(")
    return "\n".join([head, *lines[1:at], *hoisted, *share, *body]) + "\n"
