"""``xl.rng``: counter-based random numbers, a pure function of an explicit integer key.

Element k of the result is derived by hashing (key, k) with the SplitMix64 finalizer, so any
backend can produce bit-identical streams in parallel, and the op is pure: the same key gives
the same tensor (split keys in the front end to get fresh streams, as in JAX).
"""

from __future__ import annotations

import numpy as np

from xlalite.ir.attributes import DTypeAttr, EnumAttr, IntListAttr
from xlalite.ir.types import FLOATS, INTS, DType, TensorType
from xlalite.ops.registry import AttrSpec, FusionKind, OpDef, ShapeError, register
from xlalite.ops.rules import require_dtype

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer on uint64 (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def random_bits(key: int, count: int) -> np.ndarray:
    """`count` pseudo-random uint64 words for `key`: mix64(mix64(key) + (k + 1) * GOLDEN)."""
    with np.errstate(over="ignore"):
        base = mix64(np.array([key], dtype=np.int64).view(np.uint64))[0]
        counters = np.arange(1, count + 1, dtype=np.uint64)
        return mix64(base + counters * GOLDEN)


def uniform(bits: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Map uint64 words to [0, 1) using the top 24 (f32) or 53 (f64) bits."""
    mant = 24 if dtype == np.float32 else 53
    return ((bits >> np.uint64(64 - mant)).astype(np.float64) * 2.0 ** -mant).astype(dtype)


def _infer(key: TensorType, shape: tuple[int, ...], dtype: DType, distribution: str) -> TensorType:
    if key.rank != 0:
        raise ShapeError(f"'xl.rng' key must be a scalar, got {key}")
    require_dtype("xl.rng", "key", key, INTS)
    result = TensorType(shape, dtype)
    require_dtype("xl.rng", "result", result, FLOATS)
    return result


def _reference(key: np.ndarray, shape, dtype: DType, distribution: str) -> np.ndarray:
    n = int(np.prod(shape, dtype=np.int64))
    if distribution == "uniform":
        out = uniform(random_bits(int(key), n), dtype.numpy)
    else:  # Box-Muller on word pairs (2k, 2k+1), computed in f64 then rounded
        bits = random_bits(int(key), 2 * n).reshape(n, 2)
        u1 = 1.0 - uniform(bits[:, 0], np.dtype(np.float64))  # in (0, 1]: log is finite
        u2 = uniform(bits[:, 1], np.dtype(np.float64))
        out = (np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)).astype(dtype.numpy)
    return out.reshape(shape)


RNG = register(OpDef(
    "xl.rng", "Random tensor from an integer key: uniform in [0, 1) or standard normal.",
    ("key",), _infer, _reference, FusionKind.INJECTIVE,
    attrs=(AttrSpec("shape", IntListAttr()), AttrSpec("dtype", DTypeAttr(), default=DType.F32),
           AttrSpec("distribution", EnumAttr("uniform", "normal"), default="uniform")),
    example=lambda: ([TensorType((), DType.I64)],
                     {"shape": (2, 3), "dtype": DType.F32, "distribution": "normal"}),
    differentiable=False,
))
