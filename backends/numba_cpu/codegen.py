"""Program generation: one kernel call per top-level op, wired by a small Python driver.

Ops that are only calls of the hand-written libraries (products, gathers, copies) run as
Python functions of the driver (``host.py``), and parallel loops as slot shares on the
driver's threads (``slotted.py``): neither costs a Numba parfor or a library link to compile.

Buffers follow the memory plan (see ``backends/numba_common/driver.py``); without a plan every
intermediate is allocated per call. Kernels that need working memory (convolution columns)
share one ``scratch`` buffer, sized for the largest call. The driver is plain Python: it
only calls kernels, so it needs no compilation.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numba

from xlalite.backends.numba_common import collectives
from xlalite.backends.numba_common.driver import DriverWriter
from xlalite.backends.numba_common.expr import group_of
from xlalite.backends.numba_common.program import Program
from xlalite.backends.numba_common.target import CodeShape, code_shape
from xlalite.backends.numba_cpu.control import LoopWriter, op_work
from xlalite.backends.numba_cpu.conv import conv_call
from xlalite.backends.numba_cpu.header import kernel_text
from xlalite.backends.numba_cpu.host import HostFunctions, runs_on_host
from xlalite.backends.numba_cpu.ops import Kernel, kernel_for
from xlalite.backends.numba_cpu.scalar import scalars
from xlalite.ir.core import RETURN, Function, Op, Value
from xlalite.ops.collective import COLLECTIVES
from xlalite.ops.registry import FusionKind, Trait, find_op, has_trait
from xlalite.passes.plan_memory import inplace_operand, view_operand

#: loops smaller than this run serially: waking threads costs more than the work (LeNet's and
#: the MLP's steps were fastest with 2^18 of 2^15..2^20)
PARALLEL_MIN_ELEMENTS = 1 << 18


@dataclass
class CpuProgram(Program[Kernel]):
    """A numba-cpu program: also whether BLAS must stay single-threaded while it runs."""

    single_threaded_blas: bool = False  # kernels split BLAS work over Numba's threads


def _module_text(fastmath: bool, kernel: Kernel) -> str:
    return kernel_text(kernel.source, kernel.parallel, fastmath, kernel.prelude, kernel.slotted)


def _uses_blas(func: Function) -> bool:
    for op in func.walk():
        opdef = find_op(op.name)
        if opdef is not None and opdef.fusion is FusionKind.MATMUL:
            return True
    return False


def _only_products_parallel(func: Function, min_work: int) -> bool:
    """Whether matrix products are the only work big enough to run in parallel: no loop of
    `min_work` elements or more and no convolution, so Numba's threads would never run."""
    for op in func.body.ops:
        if op.name == RETURN:
            continue
        group = group_of(op)[0]
        if any(has_trait(o, Trait.CONVOLUTION) for o in group):
            return False
        if op_work(op) >= min_work and not any(o.name == "xl.dot_general" for o in group):
            return False
    return True


def generate(func: Function, parallel: str | bool = "auto", exact_math: bool = False,
             fastmath: bool = False) -> CpuProgram:
    """Kernels and driver for `func` (verified; custom_vjp already inlined by canonicalize).

    `parallel`: "auto" (prange for loops of PARALLEL_MIN_ELEMENTS or more) or True (for
    every loop): Numba owns the cores, matrix products and convolutions are split over its
    threads and BLAS runs single-threaded inside them (two thread pools on the same cores
    fight: PERF_NOTES measured 86 ms against 5.5 ms), unless products are the only parallel
    work: then BLAS keeps its own threads. False: serial loops, and BLAS keeps its threads.
    """
    allow_parallel = parallel is not False
    min_work = 0 if parallel is True else PARALLEL_MIN_ELEMENTS
    slots = threads = numba.get_num_threads() if allow_parallel else 1
    uses_blas = _uses_blas(func)
    if uses_blas and _only_products_parallel(func, min_work):
        slots = 1  # BLAS owns the cores: its own threads beat row blocks (MLP step: 15%)
    prog = CpuProgram(func, partial(_module_text, fastmath),
                      single_threaded_blas=slots > 1 and uses_blas)
    driver = DriverWriter(func, ", scratch", "numba-cpu")
    def register(kernel: Kernel, types: list) -> str:  # a body kernel: compiled with the rest
        prog.add_call(kernel, types, kernel.extents)
        return prog.module_text(kernel)

    host = HostFunctions()
    loops = LoopWriter(driver, register, not exact_math, allow_parallel, min_work, slots)
    pending: dict[Value, str] = {}  # all-reduces in flight: result -> request name
    requests = itertools.count()
    for op, ins, dests in driver.ops():
        for v in op.operands:  # finish an all-reduce before the first op reading its result
            request = pending.pop(_storage_root(v), None)
            if request is not None:
                driver.emit(f"{request}.wait()")
        if has_trait(op, Trait.ASYNC) and _overlaps(func, op):  # start now, wait later
            pending[op.results[0]] = f"q{next(requests)}"
            driver.emit(f"{pending[op.results[0]]} = collectives.start_all_reduce("
                        f"{ins[0]}, {dests[0]}, {op.attributes['op']!r})")
            continue
        if has_trait(op, Trait.CONTROL):
            kernel, args, types = loops.kernel(op, ins, dests)
            prog.scratch_bytes = max(prog.scratch_bytes, kernel.scratch)
            name = prog.add_call(kernel, types, kernel.extents)
            driver.emit(f"{name}({', '.join(args)})")
            continue
        r, dest = op.results[0], dests[0]
        if op.name in COLLECTIVES:
            driver.emit(collectives.call(op, ins[0], dest))
            continue
        if op.name == "xl.debug_print":
            driver.emit(f"print({op.attributes['label']!r} + ': ' + "
                        f"np.array2string({ins[0]}, threshold=64), flush=True)")
            driver.emit(f"{dest}[...] = {ins[0]}")
            continue
        parallel_op = allow_parallel and op_work(op) >= min_work
        group, inputs, root = group_of(op)
        if code_shape(op, scalars(not exact_math)) is CodeShape.CONVOLUTION:
            alias = inplace_operand(op)
            conv = conv_call(group, inputs, root, ins, dest, not exact_math,
                             -1 if alias is None else alias, slots,
                             parallel_op)
            driver.lines.extend(conv.lines)
            prog.scratch_bytes = max(prog.scratch_bytes, conv.scratch)
            if conv.epilogue is not None:
                epilogue = partial(_conv_epilogue, group, inputs, root, ins, dest, not exact_math,
                                   -1 if alias is None else alias, slots)
                kernel, nthreads = _shared(epilogue, parallel_op, allow_parallel, threads)
                types = [v.type for v in inputs] + [r.type] + (
                    [conv.product_type] if conv.product_type else [])
                name = prog.add_call(kernel, types, kernel.extents)
                driver.emit(_call(kernel, name, conv.epilogue_args, nthreads))
            continue
        kernel, nthreads = _shared(partial(kernel_for, op, approx=not exact_math, slots=slots),
                                   parallel_op, allow_parallel, threads)
        extents = [str(n) for n in kernel.extents]
        if kernel.scratch:
            prog.scratch_bytes = max(prog.scratch_bytes, kernel.scratch)
            extents.insert(0, "scratch")
        if runs_on_host(kernel.source):  # library calls: the driver makes them itself
            driver.emit(f"{host.name(kernel.source)}({', '.join(ins + [dest] + extents)})")
            continue
        k = prog.add_call(kernel, [v.type for v in op.operands] + [r.type], kernel.extents)
        driver.emit(_call(kernel, k, ins + [dest] + extents, nthreads))
    for request in pending.values():  # results returned straight from an all-reduce
        driver.emit(f"{request}.wait()")
    prog.consts, prog.views = driver.consts, driver.views
    prog.driver = host.text() + driver.finish("{}.copy()")
    return prog


def _shared(make: Callable[[bool], Kernel], parallel_op: bool, allow_parallel: bool,
            threads: int) -> tuple[Kernel, int]:
    """The kernel `make(parallel)` builds, and the threads it runs on: a loop that can be
    cut into slot shares is one kernel whether it runs on one thread or `threads` (so a
    small and a large call of the same structure, or the train and eval programs, share one
    compiled kernel); any other loop is a parfor only when `parallel_op` (big enough)."""
    kernel = make(allow_parallel).on_slots()
    if kernel.slotted:
        return kernel, threads if parallel_op else 1
    return (kernel if parallel_op == allow_parallel else make(parallel_op)), 1


def _conv_epilogue(group: list[Op], inputs: list[Value], root: Value, ins: list[str], dest: str,
                   approx: bool, alias: int, slots: int, parallel: bool) -> Kernel:
    """The kernel of a convolution's fused epilogue (see conv.conv_call)."""
    conv = conv_call(group, inputs, root, ins, dest, approx, alias, slots, parallel)
    return Kernel(conv.epilogue or "", parallel)


def _call(kernel: Kernel, name: str, args: list[str], threads: int) -> str:
    """The driver line calling `kernel`: a slotted one on `threads` threads at once."""
    if kernel.slotted:
        if threads == 1:
            return f"{name}(0, 1, {', '.join(args)})"
        return f"run_slots({name}, {threads}, {', '.join(args)})"
    return f"{name}({', '.join(args)})"


def _overlaps(func: Function, op: Op) -> bool:
    """Whether a kernel runs between `op` and the first reader of its result (else a blocking
    call is as early, and MPI's blocking algorithms are faster than its non-blocking ones)."""
    ops = func.body.ops
    start = ops.index(op)
    readers = [ops.index(u.op) for r in op.results for u in r.uses if u.op.parent is func.body]
    between = ops[start + 1:min(readers, default=len(ops))]
    return any(o.name != "xl.constant" and view_operand(o) is None for o in between)


def _storage_root(v: Value) -> Value:
    """The value whose buffer `v` is a view of (itself when it is not a view)."""
    op = v.defining_op
    while op is not None and (k := view_operand(op)) is not None:
        v = op.operands[k]
        op = v.defining_op
    return v
