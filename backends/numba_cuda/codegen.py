"""Program generation for numba-cuda: kernels per top-level op, launched by a Python driver.

The structure follows numba-cpu's (``backends/numba_cpu/codegen.py``): planned intermediates
are views of one device arena (``mem.offset``), in-place results reuse their operand's
buffer (``mem.inplace``; every kernel reads an element before writing it, in the same
thread), function results get fresh device buffers, constants are uploaded once. The driver
only launches kernels, so values never leave the device inside a call.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from xlalite.backends.driver import DriverWriter
from xlalite.backends.numba_cpu.loops import CodegenError, group_of
from xlalite.backends.numba_cpu.ops import LOOP_OPS
from xlalite.backends.numba_cuda.kernels import (
    INDEX_MAPS,
    CudaKernel,
    argmax_kernel,
    injective_kernel,
    loop_kernel,
    reduction_kernel,
    rng_kernel,
    scalars_as_vectors,
    scatter_add_kernels,
    window_kernel,
    window_max_grad_kernel,
)
from xlalite.backends.numba_cuda.products import conv_kernel, matmul_kernel
from xlalite.ir.core import RETURN, Function, Op
from xlalite.ir.types import TensorType
from xlalite.passes.fuse import REDUCTION_ANCHORS, is_unit_reshape

CONV_OPS = frozenset({"xl.conv2d", "xl.conv2d_grad_input", "xl.conv2d_grad_weight"})
_SINGLE = {
    "xl.reduce_window_max": lambda op: [window_kernel(op)],
    "xl.reduce_window_avg": lambda op: [window_kernel(op)],
    "xl.reduce_window_max_grad": lambda op: [window_max_grad_kernel(op)],
    "xl.argmax": lambda op: [argmax_kernel(op)],
    "xl.rng": lambda op: [rng_kernel(op)],
    "xl.scatter_add": scatter_add_kernels,
}
#: ops the driver runs itself
DRIVER_OPS = frozenset({"xl.constant", "xl.debug_print"})


def supported(name: str) -> bool:
    """Whether numba-cuda compiles ops named `name` (custom_vjp: inlined first)."""
    return (name in LOOP_OPS or name in INDEX_MAPS or name in _SINGLE or name in CONV_OPS
            or name in REDUCTION_ANCHORS or name in DRIVER_OPS
            or name in ("xl.dot_general", "xl.fusion", "xl.custom_vjp"))


def kernels_for(op: Op) -> list[CudaKernel]:
    """The kernels (usually one) computing top-level `op`, a fusion group or a single op."""
    group, inputs, root = group_of(op)
    conv = [o for o in group if o.name in CONV_OPS]
    if conv:
        return [conv_kernel(group, inputs, root, conv[0])]
    if any(o.name == "xl.dot_general" for o in group):
        return [matmul_kernel(group, inputs, root)]
    red = [o for o in group if o.name in REDUCTION_ANCHORS]
    if red:
        return [reduction_kernel(group, inputs, root, red[0])]
    if op.name == "xl.fusion" or op.name in LOOP_OPS or is_unit_reshape(op):
        return [loop_kernel(group, inputs, root)]
    if op.name in INDEX_MAPS:
        return [injective_kernel(op)]
    if op.name in _SINGLE:
        return _SINGLE[op.name](op)
    raise CodegenError(f"numba-cuda has no kernel for '{op.name}'")


@dataclass
class CudaProgram:
    """Generated kernels and driver for one function."""

    function: Function
    kernels: list[CudaKernel] = field(default_factory=list)
    calls: list[tuple[int, list[TensorType]]] = field(default_factory=list)  # kernel, arg types
    consts: list[np.ndarray] = field(default_factory=list)
    views: list[tuple[int, TensorType]] = field(default_factory=list)  # arena (offset, type)
    driver: str = ""

    @property
    def arena_bytes(self) -> int:
        return int(self.function.attributes.get("mem.arena_bytes", 0))

    def source(self, header: str = "") -> str:
        texts = [f"# kernel k{i}: launched [{k.blocks}, {k.threads}]\n{header}{k.source}"
                 for i, k in enumerate(self.kernels)]
        return "\n\n".join(texts + ["# driver\n" + self.driver])


def generate(func: Function) -> CudaProgram:
    """Kernels and driver for `func` (verified, custom_vjp inlined)."""
    for op in func.body.ops:
        if op.name != RETURN and not supported(op.name):
            raise CodegenError(f"numba-cuda cannot run '{op.name}'")
    prog = CudaProgram(func)
    index: dict[str, int] = {}
    driver = DriverWriter(func, "", "numba-cuda", scalars_as_vectors=True)
    for op, ins, dest in driver.ops():
        if op.name == "xl.debug_print":
            driver.emit(f"print({op.attributes['label']!r} + ': ' + "
                        f"np.array2string({ins[0]}.copy_to_host(), threshold=64), flush=True)")
            driver.emit(f"{dest}.copy_to_device({ins[0]})")
            continue
        for kernel in kernels_for(op):
            kernel = replace(kernel, source=scalars_as_vectors(kernel.source))
            if kernel.source not in index:
                index[kernel.source] = len(prog.kernels)
                prog.kernels.append(kernel)
            k = index[kernel.source]
            prog.calls.append((k, [v.type for v in op.operands] + [op.results[0].type]))
            driver.emit(f"k{k}[{kernel.blocks}, {kernel.threads}]({', '.join(ins + [dest])})")
    prog.consts, prog.views = driver.consts, driver.views
    prog.driver = driver.finish("copy({})")
    return prog
