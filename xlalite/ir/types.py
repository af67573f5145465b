"""Element types and tensor types of the xlalite IR.

Every value in the IR is a tensor with a static shape; scalars are rank-0 tensors.
The textual form of a type is ``f32[256,784]`` (``f32[]`` for a scalar).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np


class DType(enum.Enum):
    """The element types the IR knows. The value is the spelling in `.xir` text."""

    F16 = "f16"
    F32 = "f32"
    F64 = "f64"
    I8 = "i8"
    I16 = "i16"
    I32 = "i32"
    I64 = "i64"
    U8 = "u8"
    U16 = "u16"
    U32 = "u32"
    U64 = "u64"
    BOOL = "bool"

    @property
    def numpy(self) -> np.dtype:
        """The NumPy dtype that stores elements of this type."""
        return _TO_NUMPY[self]

    @property
    def is_float(self) -> bool:
        return self in FLOATS

    @property
    def is_int(self) -> bool:
        """Signed or unsigned integer."""
        return self in INTS

    @property
    def is_unsigned(self) -> bool:
        return self in UNSIGNED

    @property
    def is_bool(self) -> bool:
        return self is DType.BOOL

    @property
    def itemsize(self) -> int:
        return self.numpy.itemsize

    @staticmethod
    def from_numpy(dtype: np.dtype | type) -> DType:
        """Map a NumPy dtype to a DType; raises TypeError naming the supported ones."""
        dt = np.dtype(dtype)
        for member, np_dt in _TO_NUMPY.items():
            if np_dt == dt:
                return member
        raise TypeError(
            f"dtype {dt} is not supported by xlalite; supported: "
            + ", ".join(str(d.numpy) for d in DType)
        )

    @staticmethod
    def parse(text: str) -> DType:
        """Parse the `.xir` spelling (``f32``); raises ValueError listing valid names."""
        try:
            return DType(text)
        except ValueError:
            valid = ", ".join(d.value for d in DType)
            raise ValueError(f"unknown element type '{text}'; expected one of {valid}") from None

    def __str__(self) -> str:
        return self.value


_TO_NUMPY: dict[DType, np.dtype] = {
    DType.F16: np.dtype(np.float16), DType.F32: np.dtype(np.float32),
    DType.F64: np.dtype(np.float64), DType.I8: np.dtype(np.int8), DType.I16: np.dtype(np.int16),
    DType.I32: np.dtype(np.int32), DType.I64: np.dtype(np.int64), DType.U8: np.dtype(np.uint8),
    DType.U16: np.dtype(np.uint16), DType.U32: np.dtype(np.uint32),
    DType.U64: np.dtype(np.uint64), DType.BOOL: np.dtype(np.bool_),
}

FLOATS = frozenset({DType.F16, DType.F32, DType.F64})
UNSIGNED = frozenset({DType.U8, DType.U16, DType.U32, DType.U64})
INTS = frozenset({DType.I8, DType.I16, DType.I32, DType.I64}) | UNSIGNED
NUMERIC = FLOATS | INTS
ALL_DTYPES = frozenset(DType)


@dataclass(frozen=True)
class TensorType:
    """A tensor type: static shape (non-negative dims) and element type."""

    shape: tuple[int, ...]
    dtype: DType

    def __post_init__(self) -> None:
        shape = tuple(int(d) for d in self.shape)
        if any(d < 0 for d in shape):
            raise ValueError(f"negative dimension in shape {list(shape)}")
        object.__setattr__(self, "shape", shape)

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        """Number of elements."""
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def with_shape(self, shape: tuple[int, ...]) -> TensorType:
        return TensorType(shape, self.dtype)

    def with_dtype(self, dtype: DType) -> TensorType:
        return TensorType(self.shape, dtype)

    @staticmethod
    def of(array: np.ndarray) -> TensorType:
        """The type of a NumPy array (raises TypeError for unsupported dtypes)."""
        return TensorType(array.shape, DType.from_numpy(array.dtype))

    def __str__(self) -> str:
        return f"{self.dtype.value}[{','.join(str(d) for d in self.shape)}]"
