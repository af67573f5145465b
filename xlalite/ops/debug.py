"""``xl.debug_print``: print a tensor when the program runs (like ``jax.debug.print``).

It returns its operand unchanged and has a side effect, so DCE and CSE never remove or merge
it, even when its result is unused.
"""

from __future__ import annotations

import sys

import numpy as np

from xlalite.ir.attributes import StrAttr
from xlalite.ir.core import Op, Value
from xlalite.ir.types import ALL_DTYPES, DType, TensorType
from xlalite.ops.emit import Emitter
from xlalite.ops.registry import AttrSpec, FusionKind, OpDef, register
from xlalite.ops.rules import require_dtype


def _infer(x: TensorType, label: str) -> TensorType:
    require_dtype("xl.debug_print", "operand", x, ALL_DTYPES)
    return x


def _reference(x: np.ndarray, label: str) -> np.ndarray:
    print(f"{label}: {np.array2string(x, threshold=64)}", file=sys.stdout, flush=True)
    return x.copy()


def _vjp_identity(e: Emitter, op: Op, g: Value) -> list[Value | None]:
    """y = x (and a print)  =>  dx = g"""
    return [g]


DEBUG_PRINT = register(OpDef(
    "xl.debug_print", "Print `label: value` when executed; returns the operand (has an effect).",
    ("x",), _infer, _reference, FusionKind.OPAQUE,
    attrs=(AttrSpec("label", StrAttr(), default=""),),
    example=lambda: ([TensorType((2, 3), DType.F32)], {"label": "x"}),
    pure=False, vjp=_vjp_identity,
))
