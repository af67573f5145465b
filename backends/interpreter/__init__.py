"""The NumPy interpreter backend: runs every op with its registry reference (the oracle)."""

from xlalite.backends.interpreter.interpreter import (
    InterpreterBackend,
    InterpreterExecutable,
    run_function,
    run_op,
)

__all__ = ["InterpreterBackend", "InterpreterExecutable", "run_function", "run_op"]
