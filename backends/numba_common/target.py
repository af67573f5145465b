"""The Numba target base: what numba-cpu and numba-cuda share above their kernel tables.

A top-level op (a fusion group or a single op) needs one of a few code shapes, decided from
the ops' declarations (traits and fusion kinds), not from name lists: a convolution, a matrix
product, a reduction, a loop (elementwise and broadcast ops, computed by ExprGen), or an op
with a kernel of its own in the target's ``op_kernels`` table. ``supports`` is derived from
the same facts and tables, and ``compile``/``emit_source`` are written once here.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Collection
from typing import Any, ClassVar

from xlalite.backends.base import Backend, CodegenError
from xlalite.backends.numba_common.expr import group_of
from xlalite.backends.numba_common.program import Program
from xlalite.backends.numba_common.scalar import ScalarTable
from xlalite.ir.core import TERMINATORS, Function, Module, Op
from xlalite.ir.types import DType
from xlalite.ir.verifier import verify
from xlalite.ops.collective import COLLECTIVES
from xlalite.ops.registry import FusionKind, Trait, find_op, fusion_kind, has_trait
from xlalite.ops.shape import is_reindexing
from xlalite.passes.legalize import legalize_module
from xlalite.passes.widen_f16 import widen_function
from xlalite.runtime import profile
from xlalite.runtime.executable import Executable

#: ops ExprGen computes from their attributes and indices alone (besides the scalar table)
INDEX_OPS = frozenset({"xl.broadcast_in_dim", "xl.iota", "xl.constant"})
#: ops the driver runs itself rather than a compiled kernel
DRIVER_OPS = frozenset({"xl.constant", "xl.debug_print"}) | COLLECTIVES
#: ops that are containers of others (fusion) or rewritten away before codegen (legalize)
STRUCTURAL_OPS = frozenset({"xl.fusion", "xl.custom_vjp"})


class CodeShape(enum.Enum):
    """The kind of kernel a top-level op becomes."""

    CONVOLUTION = "convolution"
    MATMUL = "matmul"
    REDUCTION = "reduction"
    ROWS = "rows"  # a ``rows`` fusion: several reductions over one row space
    LOOP = "loop"
    OP = "op"  # the target's own kernel for this op name


def is_loop_op(op: Op, scalars: ScalarTable) -> bool:
    """Whether a loop kernel computes `op` element by element."""
    return op.name in scalars or op.name in INDEX_OPS or is_reindexing(op)


def code_shape(op: Op, scalars: ScalarTable) -> CodeShape:
    """The code shape of top-level `op` (a fusion group or a single op)."""
    group = group_of(op)[0]
    if any(has_trait(o, Trait.CONVOLUTION) for o in group):
        return CodeShape.CONVOLUTION
    if any(fusion_kind(o) is FusionKind.MATMUL for o in group):
        return CodeShape.MATMUL
    if op.name == "xl.fusion" and op.attributes["kind"] == "rows":
        return CodeShape.ROWS
    if any(has_trait(o, Trait.REDUCTION) for o in group):
        return CodeShape.REDUCTION
    if op.name == "xl.fusion" or is_loop_op(op, scalars):
        return CodeShape.LOOP
    return CodeShape.OP


class NumbaTarget(Backend):
    """Base of the Numba targets. A subclass sets `scalars` (its element table) and
    `op_kernels` (names of ops with kernels of their own), and implements `generate` (the
    program for one function) and `load` (the executable running it)."""

    scalars: ClassVar[ScalarTable]
    op_kernels: ClassVar[Collection[str]]
    #: runs f16 programs: computed in f32 by the ``widen-f16`` pass, f16 bits in memory
    half: ClassVar[bool] = True

    def supports(self, op_name: str) -> bool:
        opdef = find_op(op_name)
        if opdef is None:
            return False
        return (op_name in DRIVER_OPS or op_name in STRUCTURAL_OPS or op_name in self.op_kernels
                or opdef.has(Trait.CONVOLUTION) or opdef.has(Trait.REDUCTION)
                or opdef.has(Trait.CONTROL)
                or opdef.fusion is FusionKind.MATMUL
                or op_name in self.scalars or op_name in INDEX_OPS)

    def check_supported(self, func: Function) -> None:
        """A CodegenError naming the first op this target cannot run, at the top level or in
        a control-flow body."""
        blocks = [func.body]
        while blocks:
            for op in blocks.pop().ops:
                if op.name not in TERMINATORS and not self.supports(op.name):
                    raise CodegenError(f"{self.name} cannot run '{op.name}'")
                if not self.half and any(r.type.dtype is DType.F16 for r in op.results):
                    raise CodegenError(f"{self.name} does not run f16 values yet ('{op.name}' "
                                       f"at {op.loc}); numba-cpu and the interpreter do")
                if has_trait(op, Trait.CONTROL):
                    blocks.extend(b for r in op.regions for b in r.blocks)

    @abc.abstractmethod
    def generate(self, func: Function) -> Program[Any]:
        """Kernels and driver for verified, legalized `func`."""

    @abc.abstractmethod
    def load(self, module: Module, program: Program[Any]) -> Executable:
        """The executable running `program` (the function of `module` it was generated for)."""

    def _lowered(self, module: Module) -> Module:
        legalize_module(verify(module))  # a no-op after the default pipeline's legalize
        if self.half:  # likewise after the default pipeline's widen-f16
            for func in module.functions:
                widen_function(func)
        return module

    def compile(self, module: Module, entry: str | None = None) -> Executable:
        module = self._lowered(module)
        func = module.get(entry) if entry else module.main
        with profile.phase("codegen"):
            program = self.generate(func)
        return self.load(module, program)

    def emit_source(self, module: Module) -> str:
        parts = [f"# ===== @{func.name} =====\n" + self.generate(func).source()
                 for func in self._lowered(module).functions]
        return "\n\n".join(parts)
