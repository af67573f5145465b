"""Walks a function op by op, evaluating each with its NumPy reference.

This is the oracle for every other backend and every pass: it is deliberately simple and
checks each op's result against the op's declared type.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from xlalite.backends.base import Backend, register_backend
from xlalite.ir.core import TERMINATORS, Block, Function, Module, Op, Value
from xlalite.ir.verifier import verify
from xlalite.passes.pipelines import compose
from xlalite.runtime.executable import Executable


def run_op(op: Op, inputs: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
    """Evaluate one op on NumPy inputs (region ops declare ``OpDef.interpret``)."""
    opdef = op.opdef
    if opdef.interpret is not None:
        return opdef.interpret(op, inputs, run_block)
    with np.errstate(all="ignore"):  # IEEE semantics: inf/nan results, no warnings
        return opdef.evaluate(inputs, op.attributes, op.result_types)


def run_block(block: Block, args: Sequence[np.ndarray], env: dict[Value, np.ndarray] | None = None
              ) -> list[np.ndarray]:
    """Run `block` with its arguments bound to `args`; returns the terminator's operands."""
    env = dict(env or {})
    env.update(zip(block.args, args))
    for op in block.ops:
        inputs = [env[v] for v in op.operands]
        if op.name in TERMINATORS:
            return inputs
        env.update(zip(op.results, run_op(op, inputs)))
    return []


def run_function(func: Function, args: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
    """Run `func` on arrays of the right types; results are fresh arrays."""
    return tuple(np.array(r, copy=True) for r in run_block(func.body, args))


class InterpreterExecutable(Executable):
    def run(self, args: list[np.ndarray]) -> tuple[np.ndarray, ...]:
        return run_function(self.function, args)


@register_backend
class InterpreterBackend(Backend):
    """Reference semantics, no code generation: every registered op, every dtype."""

    name = "interpreter"

    def default_pipeline(self) -> str:
        """Simplify and fuse: jit on the interpreter exercises the passes it is the oracle
        for (xl.fusion runs its region op by op, so results are unchanged)."""
        return compose("simplify", "fuse")

    def compile(self, module: Module, entry: str | None = None) -> Executable:
        return InterpreterExecutable(verify(module), entry)
