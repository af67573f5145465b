"""Per-op kernel emitters: ``KERNELS[name](op) -> Kernel``, and the dispatch of top-level ops.

Elementwise and broadcast ops (and whole fused groups) become loop kernels, reductions
reduction kernels, matmuls BLAS kernels (``loops.py``), as the shared
:func:`~xlalite.backends.numba_common.target.code_shape` decides. Every other op has one
entry here that writes a small kernel, usually reshaping to a fixed rank and calling
``library.py``. A new op of that kind adds one entry; ``OP_KERNELS`` is what the target's
``supports`` reads.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from xlalite.backends.base import CodegenError
from xlalite.backends.numba_common.expr import group_of
from xlalite.backends.numba_common.target import CodeShape, code_shape
from xlalite.backends.numba_cpu.library import COPY_RANK
from xlalite.backends.numba_cpu.loops import loop_kernel, reduction_kernel
from xlalite.backends.numba_cpu.matmul import matmul_kernel
from xlalite.backends.numba_cpu.rows import rows_kernel
from xlalite.backends.numba_cpu.scalar import scalars
from xlalite.backends.numba_cpu.slotted import split_into_slots
from xlalite.backends.numba_cpu.window import (
    max_grad_parallel_safe,
    window_kernel,
    window_max_grad_kernel,
)
from xlalite.ir.core import Op
from xlalite.passes.plan_memory import inplace_operand


@dataclass(frozen=True)
class Kernel:
    """Source of ``def kernel(in0, ..., out)`` and whether it runs a prange loop, or
    (`slotted`) takes ``slot, slots`` first and runs its share of one on a driver thread."""

    source: str
    parallel: bool = False
    extents: tuple[int, ...] = ()  # integer arguments after the arrays (loop extents)
    #: scratch bytes this call needs; > 0 means the kernel takes a ``scratch`` argument after
    #: ``out`` (the executable's shared buffer), so calls of one kernel may differ here
    scratch: int = field(default=0, compare=False)
    #: functions of the module that ``kernel`` calls (a loop's body kernels), with decorators
    prelude: str = ""
    slotted: bool = False

    @property
    def note(self) -> str:
        return "slotted" if self.slotted else "parallel" if self.parallel else ""

    def on_slots(self) -> Kernel:
        """This kernel with its prange loop as slot shares (see slotted.py), or itself."""
        source = split_into_slots(self.source) if self.parallel else None
        if source is None:
            return self
        return Kernel(source, False, self.extents, self.scratch, self.prelude, slotted=True)


def _slices(starts, limits, strides) -> str:
    return ", ".join(f"{s}:{e}:{st}" for s, e, st in zip(starts, limits, strides)) or "..."


def _contiguous(shape: Sequence[int]) -> list[int]:
    """Element strides of a C-contiguous array of `shape`."""
    strides = [1] * len(shape)
    for k in range(len(shape) - 2, -1, -1):
        strides[k] = strides[k + 1] * shape[k + 1]
    return strides


def _copy(src: str, dst: str, shape: Sequence[int], src_offset: int = 0,
          src_strides: Sequence[int] | None = None, dst_offset: int = 0,
          dst_strides: Sequence[int] | None = None) -> str | None:
    """A ``lib.copy_strided`` call moving the box `shape` from `src` to `dst` (both
    C-contiguous kernel arguments; strides in elements, contiguous when None), or None when
    the rank is above the library's (the caller writes NumPy-style assignment instead)."""
    pad = COPY_RANK - len(shape)
    if pad < 0:
        return None

    def tup(xs: Sequence[int], fill: int) -> str:
        return "(" + ", ".join(map(str, [fill] * pad + list(xs))) + ")"

    ss = _contiguous(shape) if src_strides is None else src_strides
    ds = _contiguous(shape) if dst_strides is None else dst_strides
    return (f"    lib.copy_strided({src}.reshape(-1), {src_offset}, {tup(ss, 0)}, "
            f"{dst}.reshape(-1), {dst_offset}, {tup(ds, 0)}, {tup(shape, 1)})")


# Transposes, slices, reshapes and concatenation call the library's copies rather than
# assigning arrays: an array assignment or `.transpose(axes)` in a kernel costs Numba 2-6 s
# of compile on first use (its error paths format messages with compiled string code).
def _transpose(op: Op) -> Kernel:
    perm = op.attributes["perm"]
    x = op.operands[0].type
    strides = _contiguous(x.shape)
    call = _copy("in0", "out", op.results[0].type.shape, src_strides=[strides[p] for p in perm])
    if call is None:
        call = f"    out[...] = in0.transpose(({', '.join(map(str, perm))},))"
    return Kernel(f"def kernel(in0, out):\n{call}\n")


def _reshape(op: Op) -> Kernel:
    return Kernel("def kernel(in0, out):\n    lib.copy_flat(in0.reshape(-1), out.reshape(-1))\n")


def _slice(op: Op) -> Kernel:
    a = op.attributes
    strides = _contiguous(op.operands[0].type.shape)
    call = _copy("in0", "out", op.results[0].type.shape,
                 src_offset=sum(s * st for s, st in zip(a["start"], strides)),
                 src_strides=[k * st for k, st in zip(a["stride"], strides)])
    if call is None:
        call = f"    out[...] = in0[{_slices(a['start'], a['limit'], a['stride'])}]"
    return Kernel(f"def kernel(in0, out):\n{call}\n")


def _concatenate(op: Op) -> Kernel:
    axis, out = op.attributes["axis"], op.results[0].type
    strides = _contiguous(out.shape)
    lines = ["def kernel(" + ", ".join(f"in{k}" for k in range(len(op.operands))) + ", out):"]
    offset = 0
    for k, x in enumerate(op.operands):
        n = x.type.shape[axis]
        call = _copy(f"in{k}", "out", x.type.shape, dst_offset=offset * strides[axis],
                     dst_strides=strides)
        if call is None:
            idx = [":"] * out.rank
            idx[axis] = f"{offset}:{offset + n}"
            call = f"    out[{', '.join(idx)}] = in{k}"
        lines.append(call)
        offset += n
    return Kernel("\n".join(lines) + "\n")


def _pad(op: Op) -> Kernel:
    a = op.attributes
    x = op.operands[0].type
    lines = ["def kernel(in0, in1, out):", "    out[...] = in1[()]"]
    if x.size:
        strides = _contiguous(op.results[0].type.shape)
        call = _copy("in0", "out", x.shape,
                     dst_offset=sum(lo * st for lo, st in zip(a["low"], strides)),
                     dst_strides=[(i + 1) * st for i, st in zip(a["interior"], strides)])
        if call is None:
            limits = [lo + (n - 1) * (i + 1) + 1 for lo, n, i in zip(a["low"], x.shape, a["interior"])]
            call = f"    out[{_slices(a['low'], limits, [i + 1 for i in a['interior']])}] = in0"
        lines.append(call)
    return Kernel("\n".join(lines) + "\n")


def _gather_dims(op: Op) -> tuple[str, str, str]:
    """(x, idx, result) reshaped to the (B, A, N|I, R) ranks of lib.gather4/scatter_add4."""
    x, idx = op.operands[0].type, op.operands[1].type
    axis, bd = op.attributes["axis"], op.attributes["batch_dims"]
    B = math.prod(x.shape[:bd])
    A = math.prod(x.shape[bd:axis])
    R = math.prod(x.shape[axis + 1:])
    I = math.prod(idx.shape[bd:])  # noqa: E741
    return (f"({B}, {A}, {x.shape[axis]}, {R})", f"({B}, {I})", f"({B}, {A}, {I}, {R})")


def _gather(op: Op) -> Kernel:
    xs, ids, outs = _gather_dims(op)
    return Kernel(f"def kernel(in0, in1, out):\n"
                  f"    lib.gather4(in0.reshape({xs}), in1.reshape({ids}), out.reshape({outs}))\n")


def _scatter_add(op: Op) -> Kernel:
    xs, ids, us = _gather_dims(op)
    return Kernel(f"def kernel(in0, in1, in2, out):\n"
                  f"    lib.copy_flat(in0.reshape(-1), out.reshape(-1))\n"
                  f"    lib.scatter_add4(out.reshape({xs}), in1.reshape({ids}), in2.reshape({us}))\n")


def _argmax(op: Op) -> Kernel:
    x = op.operands[0].type
    axis = op.attributes["axis"]
    p, q = math.prod(x.shape[:axis]), math.prod(x.shape[axis + 1:])
    return Kernel(f"def kernel(in0, out):\n"
                  f"    lib.argmax3(in0.reshape(({p}, {x.shape[axis]}, {q})), out.reshape(({p}, {q})))\n")


def _window(op: Op, parallel: bool) -> Kernel:
    return Kernel(window_kernel(op, parallel), parallel)


def _window_max_grad(op: Op, parallel: bool) -> Kernel:
    parallel = parallel and max_grad_parallel_safe(op)
    return Kernel(window_max_grad_kernel(op, parallel), parallel)


def _rng(op: Op) -> Kernel:
    normal = op.attributes["distribution"] == "normal"
    mantissa = 24 if op.attributes["dtype"].value == "f32" else 53
    return Kernel(f"def kernel(in0, out):\n    lib.rng(in0[()], out.reshape(-1), {normal}, {mantissa})\n")


KERNELS: dict[str, Callable[[Op], Kernel]] = {
    "xl.transpose": _transpose,
    "xl.reshape": _reshape,
    "xl.slice": _slice,
    "xl.concatenate": _concatenate,
    "xl.pad": _pad,
    "xl.gather": _gather,
    "xl.scatter_add": _scatter_add,
    "xl.argmax": _argmax,
    "xl.rng": _rng,
}
#: Windowed ops, whose kernels can run their outermost loop in parallel.
WINDOW_KERNELS: dict[str, Callable[[Op, bool], Kernel]] = {
    "xl.reduce_window_max": _window,
    "xl.reduce_window_avg": _window,
    "xl.reduce_window_max_grad": _window_max_grad,
}
#: Ops with a kernel of their own (everything else is a loop, reduction or product).
OP_KERNELS = frozenset(KERNELS) | frozenset(WINDOW_KERNELS)


def kernel_for(op: Op, parallel: bool, approx: bool = True, slots: int = 1) -> Kernel:
    """The kernel computing top-level `op`; see _kernel_for. A kernel without a prange loop
    (a full reduction, a rank-0 result) is compiled serial: Numba warns about the rest."""
    kernel = _kernel_for(op, parallel, approx, slots)
    if kernel.parallel and "prange(" not in kernel.source:
        kernel = Kernel(kernel.source, False, kernel.extents, kernel.scratch)
    return kernel


def _kernel_for(op: Op, parallel: bool, approx: bool, slots: int) -> Kernel:
    """The kernel computing top-level `op` (a fusion group or a single op). `parallel`: a
    prange loop; `slots`: threads matrix products and convolutions are split over; `approx`
    lets f32 exp/tanh/logistic use the vectorizable approximations of mathlib.py."""
    k = inplace_operand(op)
    alias = -1 if k is None else k
    ops, inputs, root = group_of(op)
    shape = code_shape(op, scalars(approx))
    if shape is CodeShape.CONVOLUTION:
        raise CodegenError("convolutions are library calls of the driver (conv.conv_call)")
    if shape is CodeShape.MATMUL:
        source, scratch, extents = matmul_kernel(ops, inputs, root, approx, alias, slots)
        return Kernel(source, extents=extents, scratch=scratch)
    if shape is CodeShape.ROWS:
        source, extents = rows_kernel(ops, inputs, root, parallel, approx)
        return Kernel(source, parallel, extents)
    if shape is CodeShape.REDUCTION:
        source, extents = reduction_kernel(ops, inputs, root, parallel, approx)
        return Kernel(source, parallel, extents)
    if shape is CodeShape.LOOP:
        return Kernel(loop_kernel(ops, inputs, root, parallel, approx, alias), parallel)
    if op.name in WINDOW_KERNELS:
        return WINDOW_KERNELS[op.name](op, parallel)
    if op.name in KERNELS:
        return KERNELS[op.name](op)
    raise CodegenError(f"numba-cpu has no kernel for '{op.name}'")
