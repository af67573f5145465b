"""Control flow on numba-cpu: a top-level ``xl.cond`` / ``xl.while`` / ``xl.scan`` becomes one
``@njit`` function that holds the loop (or the branch) and calls its body's kernels, so no
iteration goes back to Python and the body compiles once whatever the trip count. The body
kernels are ordinary kernel modules (shared with any program that has the same kernel, and
cached on disk like them); the loop's module loads them by their cache key, and the executable
compiles them, in parallel, before the loops that call them. The function takes the op's
operands, its result buffers, the bodies' constants and (when a body kernel needs it) the
scratch buffer; the loop structure is the shared one of ``backends/numba_common/control.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from xlalite.backends.base import CodegenError
from xlalite.backends.numba_common.cache import kernel_key
from xlalite.backends.numba_common.control import ControlWriter
from xlalite.backends.numba_common.driver import DriverWriter, storage_name
from xlalite.backends.numba_common.expr import group_of
from xlalite.backends.numba_common.target import CodeShape, code_shape
from xlalite.backends.numba_cpu.ops import Kernel, kernel_for
from xlalite.backends.numba_cpu.scalar import scalars
from xlalite.ir.core import Op
from xlalite.ir.types import TensorType
from xlalite.ops.collective import COLLECTIVES


def op_work(op: Op) -> int:
    """Elements an op touches: its largest operand or result (what decides a parallel loop)."""
    return max([r.type.size for r in op.results] + [v.type.size for v in op.operands])


class LoopWriter(ControlWriter):
    """Writes the njit functions of the control-flow ops of one function (see the module
    docstring); `driver` receives the bodies' constants."""

    def __init__(self, driver: DriverWriter, register: Callable[[Kernel, list[TensorType]], str],
                 approx: bool, parallel: bool, min_work: int, slots: int):
        super().__init__()
        self.driver, self.register = driver, register
        self.approx, self.parallel, self.min_work, self.slots = approx, parallel, min_work, slots

    def kernel(self, op: Op, ins: list[str], dests: list[str]
               ) -> tuple[Kernel, list[str], list[TensorType]]:
        """The loop kernel of top-level `op`, its call's arguments and their types."""
        self.prelude: dict[str, str] = {}  # body kernel's cache key -> its name in the module
        self.prologue: list[str] = []
        self.lines: list[str] = []
        self.consts: list[tuple[str, str, TensorType]] = []  # (param, driver name, type)
        self.scratch = 0
        self.fresh = 0
        self.lengths: list[int] = []  # scan trip counts, passed last (Call.extents)
        params_in = [f"in{i}" for i in range(len(op.operands))]
        params_out = [f"out{j}" for j in range(len(op.results))]
        self.control(op, params_in, params_out, 1)
        params = params_in + params_out + [p for p, _, _ in self.consts]
        args = ins + dests + [name for _, name, _ in self.consts]
        if self.scratch:
            params.append("scratch")
            args.append("scratch")
        params += [f"n{i}" for i in range(len(self.lengths))]
        args += [str(n) for n in self.lengths]
        source = (f"def kernel({', '.join(params)}):\n" + "".join(
            f"    {line}\n" for line in self.prologue) + "\n".join(self.lines) + "\n")
        prelude = "from xlalite.backends.numba_common.cache import load_cached\n\n" + "".join(
            f"{name} = load_cached(\"{key}\")\n" for key, name in self.prelude.items()) + "\n\n"
        types = [v.type for v in op.operands] + op.result_types + [t for _, _, t in self.consts]
        return Kernel(source, False, tuple(self.lengths), self.scratch, prelude), args, types

    def length(self, n: int) -> str:
        self.lengths.append(n)
        return f"n{len(self.lengths) - 1}"

    def alloc_expr(self, t: TensorType) -> str:
        return f"np.empty({t.shape}, {storage_name(t.dtype)})"

    def copy(self, indent: int, src: str, dst: str) -> None:
        self.emit(indent, f"lib.copy_flat({src}.reshape(-1), {dst}.reshape(-1))")

    def slot(self, indent: int, stacked: str, t: TensorType, step: str) -> str:
        """Rank-0 slices stay 0-d arrays (kernels write them at [()])."""
        name = self.name("s")
        if t.rank == 1:
            self.emit(indent, f"{name} = {stacked}[{step}:{step} + 1].reshape(())")
        else:
            self.emit(indent, f"{name} = {stacked}[{step}]")
        return name

    def scalar(self, name: str) -> str:
        return f"{name}[()]"

    def constant(self, op: Op) -> str:
        value = op.attributes["value"]
        param = f"cst{len(self.consts)}"
        self.consts.append((param, self.driver.const(np.asarray(value.array)), value.type))
        return param

    def call(self, op: Op, ins: list[str], dest: str, indent: int) -> None:
        if op.name == "xl.debug_print" or op.name in COLLECTIVES:
            raise CodegenError(f"numba-cpu cannot run {op.name} inside a loop or branch body")
        if code_shape(op, scalars(self.approx)) is CodeShape.CONVOLUTION:
            raise CodegenError(f"numba-cpu does not run convolutions inside loop or branch "
                               f"bodies yet ('{group_of(op)[0][0].name}')")
        parallel = self.parallel and op_work(op) >= self.min_work
        kernel = kernel_for(op, parallel, self.approx, self.slots)
        key = kernel_key(self.register(kernel, [v.type for v in op.operands] + [op.results[0].type]))
        name = self.prelude.setdefault(key, f"xlk_{key[:12]}")
        # typed int64, as the executable compiled them: a bare literal would make Numba
        # compile the body kernel again for Literal[int]
        extra = [f"np.int64({n})" for n in kernel.extents]
        if kernel.scratch:
            self.scratch = max(self.scratch, kernel.scratch)
            extra.insert(0, "scratch")
        self.emit(indent, f"{name}({', '.join(ins + [dest] + extra)})")
