"""Program generation: one kernel call per top-level op, wired by a small Python driver.

Buffers follow the memory plan (``mem.offset`` / ``mem.inplace`` from plan-memory): planned
intermediates are views into the executable's arena, in-place results reuse their operand's
buffer, and function results are allocated per call (so they never alias the arena). Kernels
that need working memory (convolution columns) share one ``scratch`` buffer, sized for the
largest call. Without
a plan every intermediate is allocated per call. The driver is plain Python: it only calls
kernels, so it needs no compilation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from xlalite.backends.numba_cpu.cache import kernel_text
from xlalite.backends.numba_cpu.loops import CodegenError
from xlalite.backends.numba_cpu.ops import Kernel, kernel_for, supported
from xlalite.ir.core import RETURN, Function, Value
from xlalite.ir.types import TensorType
from xlalite.ops.registry import FusionKind, find_op

#: loops smaller than this run serially: waking threads costs more than the work
PARALLEL_MIN_ELEMENTS = 1 << 15


@dataclass
class Program:
    """Generated code for one function."""

    function: Function
    kernels: list[Kernel] = field(default_factory=list)
    # (kernel, array argument types, integer extents passed after them)
    calls: list[tuple[int, list[TensorType], tuple[int, ...]]] = field(default_factory=list)
    consts: list[np.ndarray] = field(default_factory=list)
    views: list[tuple[int, TensorType]] = field(default_factory=list)  # arena (offset, type)
    scratch_bytes: int = 0  # the largest scratch any call needs (one buffer serves them all)
    driver: str = ""

    @property
    def arena_bytes(self) -> int:
        return int(self.function.attributes.get("mem.arena_bytes", 0))

    def source(self, fastmath: bool = False) -> str:
        """Every kernel module and the driver, as the Python source that runs."""
        texts = [f"# kernel k{i}\n" + kernel_text(k.source, k.parallel, fastmath)
                 for i, k in enumerate(self.kernels)]
        return "\n\n".join(texts + ["# driver\n" + self.driver])


def _uses_blas(func: Function) -> bool:
    for op in func.walk():
        opdef = find_op(op.name)
        if opdef is not None and opdef.fusion is FusionKind.MATMUL:
            return True
    return False


def generate(func: Function, parallel: str | bool = "auto", exact_math: bool = False) -> Program:
    """Kernels and driver for `func` (verified; custom_vjp already inlined by canonicalize).

    `parallel`: True/False, or "auto": prange loops for large kernels unless the program
    calls BLAS (whose threads would fight Numba's for the cores).
    """
    for op in func.walk():
        if op.name != RETURN and op.parent is func.body and not supported(op.name):
            raise CodegenError(f"numba-cpu cannot run '{op.name}'" + (
                " (run canonicalize first to inline it)" if op.name == "xl.custom_vjp" else ""))
    allow_parallel = parallel if isinstance(parallel, bool) else not _uses_blas(func)
    prog = Program(func)
    index: dict[str, int] = {}
    names: dict[Value, str] = {}
    lines = ["def run(args, consts, views, scratch):"]
    for i, a in enumerate(func.args):
        names[a] = f"a{i}"
        lines.append(f"    a{i} = args[{i}]")
    donated = {func.args[i] for i in func.attributes.get("donate", ())}
    fresh = 0
    for op in func.body.ops:
        if op.name == RETURN:
            continue
        if len(op.results) != 1:
            raise CodegenError(f"numba-cpu supports single-result ops, not '{op.name}'")
        r = op.results[0]
        if op.name == "xl.constant":
            names[r] = f"c{len(prog.consts)}"
            lines.append(f"    {names[r]} = consts[{len(prog.consts)}]")
            prog.consts.append(np.array(op.attributes["value"].array, copy=True))
            continue
        inplace = op.attributes.get("mem.inplace", (-1,))[0]
        offset = op.attributes.get("mem.offset", (-1,))[0]
        if inplace >= 0:
            dest = names[op.operands[inplace]]
        elif offset >= 0:
            dest = f"v{len(prog.views)}"
            lines.append(f"    {dest} = views[{len(prog.views)}]")
            prog.views.append((offset, r.type))
        else:
            dest = f"o{fresh}"
            fresh += 1
            lines.append(f"    {dest} = empty({r.type.shape}, np.{r.type.dtype.numpy.name})")
        names[r] = dest
        ins = [names[v] for v in op.operands]
        if op.name == "xl.debug_print":
            lines.append(f"    print({op.attributes['label']!r} + ': ' + "
                         f"np.array2string({ins[0]}, threshold=64), flush=True)")
            lines.append(f"    {dest}[...] = {ins[0]}")
            continue
        work = max([r.type.size] + [v.type.size for v in op.operands])  # elements touched
        kernel = kernel_for(op, allow_parallel and work >= PARALLEL_MIN_ELEMENTS, not exact_math)
        key = kernel.source + str(kernel.parallel)  # extents are arguments, not source
        if key not in index:
            index[key] = len(prog.kernels)
            prog.kernels.append(kernel)
        k = index[key]
        prog.calls.append((k, [v.type for v in op.operands] + [r.type], kernel.extents))
        extents = [str(n) for n in kernel.extents]
        if kernel.scratch:
            prog.scratch_bytes = max(prog.scratch_bytes, kernel.scratch)
            extents.insert(0, "scratch")
        lines.append(f"    k{k}({', '.join(ins + [dest] + extents)})")
    outs, seen = [], set()
    for v in func.outputs:
        name = names[v]
        owned = v.defining_op is not None and v.defining_op.name != "xl.constant"
        if name in seen or not (owned or v in donated):
            name += ".copy()"  # never hand out an input, a constant or the same array twice
        seen.add(names[v])
        outs.append(name)
    lines.append(f"    return ({', '.join(outs)},)" if outs else "    return ()")
    prog.driver = "\n".join(lines) + "\n"
    return prog
