"""Op declarations. Importing this package registers every op family."""

from xlalite.ops import (  # noqa: F401  (imported for registration)
    collective,
    constant,
    control,
    conv,
    custom,
    debug,
    elementwise,
    fusion,
    indexing,
    linalg,
    nn,
    random,
    reduce,
    shape,
)
from xlalite.ops.registry import FusionKind, OpDef, ShapeError, all_ops, get_op, register

__all__ = ["FusionKind", "OpDef", "ShapeError", "all_ops", "get_op", "register"]
