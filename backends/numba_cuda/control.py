"""Control flow on numba-cuda: the host driver runs the loop (or picks the branch) and launches
the bodies' kernels; carries and per-step outputs stay on the device, and only a while loop's
condition or a branch's predicate is read back (one scalar per iteration). The structure is
the shared one of ``backends/numba_common/control.py``; each body kernel compiles once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from xlalite.backends.numba_common.control import ControlWriter
from xlalite.backends.numba_common.driver import DriverWriter
from xlalite.backends.numba_common.program import Program
from xlalite.backends.numba_cuda.kernels import CudaKernel, scalars_as_vectors
from xlalite.ir.core import Op
from xlalite.ir.types import TensorType


class HostLoopWriter(ControlWriter):
    """Writes a control-flow op's host code into `driver`; the kernels `kernels_for` gives
    each body op are registered in `prog`."""

    def __init__(self, driver: DriverWriter, prog: Program[CudaKernel],
                 kernels_for: Callable[[Op], list[CudaKernel]]):
        super().__init__()
        self.driver, self.prog, self.kernels_for = driver, prog, kernels_for

    def write(self, op: Op, ins: list[str], dests: list[str]) -> None:
        self.prologue, self.lines = [], []
        self.control(op, ins, dests, 1)
        self.driver.lines.extend("    " + line for line in self.prologue)
        self.driver.lines.extend(self.lines)

    def name(self, prefix: str) -> str:  # distinct from the driver's own names
        return "cf_" + super().name(prefix)

    def alloc_expr(self, t: TensorType) -> str:
        return f"empty({t.shape}, np.{t.dtype.numpy.name})"

    def copy(self, indent: int, src: str, dst: str) -> None:
        self.emit(indent, f"{dst}.copy_to_device({src})")

    def slot(self, indent: int, stacked: str, t: TensorType, step: str) -> str:
        """Rank-0 values are one-element vectors on the device (kernels.py)."""
        name = self.name("s")
        index = f"{step}:{step} + 1" if t.rank == 1 else step
        self.emit(indent, f"{name} = {stacked}[{index}]")
        return name

    def scalar(self, name: str) -> str:
        return f"{name}.copy_to_host()[0]"

    def constant(self, op: Op) -> str:
        return self.driver.const(np.asarray(op.attributes["value"].array))

    def call(self, op: Op, ins: list[str], dest: str, indent: int) -> None:
        for kernel in self.kernels_for(op):
            kernel = replace(kernel, source=scalars_as_vectors(kernel.source))
            k = self.prog.add_call(kernel, [v.type for v in op.operands] + [op.results[0].type])
            self.emit(indent, f"{k}[{kernel.blocks}, {kernel.threads}]({', '.join(ins + [dest])})")
