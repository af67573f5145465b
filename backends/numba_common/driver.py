"""The driver a Numba target emits: plain Python that runs one function.

It binds the arguments, the constants and the planned buffers, and a target adds one kernel
call per top-level op. Buffers follow the memory plan (plan-memory's ``arena_offset`` /
``inplace_operand``): planned intermediates are views of the executable's arena, in-place results
reuse their operand's buffer, the others are allocated per call, so function results never
alias the arena. numba-cpu and numba-cuda share this; only what the lines call differs.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from xlalite.backends.base import CodegenError
from xlalite.ir.core import RETURN, Function, Op, Value
from xlalite.ir.types import DType, TensorType
from xlalite.ops.registry import Trait, has_trait
from xlalite.passes.plan_memory import arena_offset, inplace_operand, view_operand


def storage(dtype: DType) -> np.dtype:
    """The dtype of the arrays kernels see: f16 as its bits (Numba has no float16)."""
    return np.dtype(np.uint16) if dtype is DType.F16 else dtype.numpy


def storage_name(dtype: DType) -> str:
    """``np.<name>`` of `dtype`'s storage, for generated code."""
    return f"np.{storage(dtype).name}"


class DriverWriter:
    """Writes ``def run(<params>)`` for `func`; `consts` and `views` fill as ops are walked.

    The generated function takes the arguments as ``args``, the constants as ``consts``
    (``consts[i]`` is ``self.consts[i]``) and the arena views as ``views`` (``views[i]`` is
    the buffer at ``self.views[i]``'s (offset, type)), plus whatever else `params` names.
    """

    def __init__(self, func: Function, params: str, backend: str,
                 scalars_as_vectors: bool = False) -> None:
        self.func = func
        self.backend = backend
        self.scalars_as_vectors = scalars_as_vectors  # rank 0 is stored as shape (1,)
        self.lines = [f"def run(args, consts, views{params}):"]
        self.names: dict[Value, str] = {}
        self.consts: list[np.ndarray] = []
        self.views: list[tuple[int, TensorType]] = []
        self.fresh = 0
        for i, a in enumerate(func.args):
            half = a.type.dtype is DType.F16
            self.bind(a, f"a{i}", f"args[{i}].view(np.uint16)" if half else f"args[{i}]")

    def bind(self, value: Value, name: str, expr: str) -> None:
        self.names[value] = name
        self.lines.append(f"    {name} = {expr}")

    def emit(self, line: str) -> None:
        self.lines.append("    " + line)

    def ops(self) -> Iterator[tuple[Op, list[str], list[str]]]:
        """Each top-level op to run, with its operands' names and its results' buffers.

        Constants and reshapes the plan made views are bound here and not yielded; every
        yielded op has one result, except control-flow ops (``Trait.CONTROL``).
        """
        for op in self.func.body.ops:
            if op.name == RETURN:
                continue
            if len(op.results) != 1 and not has_trait(op, Trait.CONTROL):
                raise CodegenError(f"{self.backend} supports single-result ops, not '{op.name}'")
            if op.name == "xl.constant":
                self.bind(op.results[0], f"c{len(self.consts)}", f"consts[{len(self.consts)}]")
                self.const(op.attributes["value"].array)
                continue
            if view_operand(op) is not None:  # nothing to run
                r = op.results[0]
                shape = r.type.shape or ((1,) if self.scalars_as_vectors else ())
                self.bind(r, f"r{self.fresh}", f"{self.names[op.operands[0]]}.reshape({shape})")
                self.fresh += 1
                continue
            for j, r in enumerate(op.results):
                inplace, offset = inplace_operand(op, j), arena_offset(op, j)
                if inplace is not None:
                    self.names[r] = self.names[op.operands[inplace]]
                elif offset is not None:
                    self.bind(r, f"v{len(self.views)}", f"views[{len(self.views)}]")
                    self.views.append((offset, r.type))
                else:
                    self.bind(r, f"o{self.fresh}",
                              f"empty({r.type.shape}, {storage_name(r.type.dtype)})")
                    self.fresh += 1
            yield op, [self.names[v] for v in op.operands], [self.names[r] for r in op.results]

    def const(self, array: np.ndarray) -> str:
        """The driver's name for one more constant (a kernel argument, e.g. of a loop body)."""
        copy = np.array(array, copy=True)
        self.consts.append(copy.view(np.uint16) if copy.dtype == np.float16 else copy)
        return f"consts[{len(self.consts) - 1}]"

    def finish(self, copy: str) -> str:
        """The driver's source, returning the outputs; `copy` (a format with one ``{}``)
        copies a buffer the caller must not get as it is: an input that was not donated,
        a constant, or one buffer returned twice."""
        donated = {self.func.args[i] for i in self.func.attributes.get("donate", ())}
        outs, seen = [], set()
        for v in self.func.outputs:
            name = self.names[v]
            owned = v.defining_op is not None and v.defining_op.name != "xl.constant"
            out = copy.format(name) if name in seen or not (owned or v in donated) else name
            outs.append(f"{out}.view(np.float16)" if v.type.dtype is DType.F16 else out)
            seen.add(name)
        self.emit(f"return ({', '.join(outs)},)" if outs else "return ()")
        return "\n".join(self.lines) + "\n"
