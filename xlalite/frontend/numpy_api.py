"""NumPy-style functions over tensors; each lowers to registry ops through ``bind``.

Type rules (JAX's promotion lattice): Python scalars are weakly typed and take the other
operand's dtype; tensors promote to the least type above both in bool < u8 < u16 < u32 < u64,
bool < i8 < i16 < i32 < i64, u8 < i16, u16 < i32, u32 < i64, any integer < f16 < f32 < f64
(so i64 + f16 is f16, u8 + i8 is i16, and u64 + a signed integer is f32, having no common
integer type); float-only math on integers computes in f32. Broadcasting follows NumPy and is
lowered to explicit ``xl.broadcast_in_dim``.
"""

from __future__ import annotations

import builtins
import math
import numbers
import sys
from collections.abc import Sequence

import numpy as np

from xlalite.frontend.staging import stage_module
from xlalite.frontend.tensor import Tensor, TensorBase, _to_dtype, bind, install
from xlalite.ir.types import DType

ArrayLike = TensorBase | np.ndarray | float | int | bool

#: the lattice's edges (JAX's): "f*" is the weak float that u64 + a signed integer reaches
_EDGES = {"bool": ("u8", "i8"), "u8": ("u16", "i16"), "u16": ("u32", "i32"), "u32": ("u64", "i64"),
          "u64": ("f*",), "i8": ("i16",), "i16": ("i32",), "i32": ("i64",), "i64": ("f*",),
          "f*": ("f16",), "f16": ("f32",), "f32": ("f64",), "f64": ()}


def _above(node: str) -> frozenset[str]:
    return frozenset({node}).union(*(_above(n) for n in _EDGES[node]))


_UPPER = {n: _above(n) for n in _EDGES}


def promote(*dtypes: DType) -> DType:
    """The least dtype above all of `dtypes` in the lattice of the module docstring (the
    weak float "f*" standing alone resolves to f32)."""
    common = frozenset(_EDGES).intersection(*(_UPPER[d.value] for d in dtypes))
    least = builtins.max(common, key=lambda n: len(_UPPER[n]))
    return DType.F32 if least == "f*" else DType(least)


def asarray(x: ArrayLike, dtype: object = None) -> TensorBase:
    """A tensor for `x` (tensors pass through, casting if `dtype` differs)."""
    if isinstance(x, TensorBase):
        return x if dtype is None else astype(x, dtype)
    return Tensor(x, dtype)


def _is_weak(x: object) -> bool:
    return isinstance(x, (bool, numbers.Number)) and not isinstance(x, np.generic)


def result_dtype(*xs: object) -> DType:
    """The common dtype of operands under the promotion rules above."""
    strong = [x.type.dtype if isinstance(x, TensorBase) else Tensor(x).type.dtype
              for x in xs if not _is_weak(x)]
    weak = [x for x in xs if _is_weak(x)]
    dt = promote(*(strong or [Tensor(w).type.dtype for w in weak]))
    if any(isinstance(w, float) for w in weak) and not dt.is_float:
        dt = DType.F32
    elif any(isinstance(w, int) and not isinstance(w, bool) for w in weak) and dt is DType.BOOL:
        dt = DType.I32
    return dt


def astype(x: ArrayLike, dtype: object) -> TensorBase:
    x = asarray(x)
    dt = _to_dtype(dtype)
    return x if x.type.dtype is dt else bind("xl.cast", [x], dtype=dt)


def broadcast_to(x: ArrayLike, shape: Sequence[int]) -> TensorBase:
    x = asarray(x)
    shape = tuple(shape)
    if x.shape == shape:
        return x
    try:
        np.broadcast_shapes(x.shape, shape)
    except ValueError:
        raise ValueError(f"cannot broadcast shape {x.shape} to {shape}") from None
    if x.ndim > len(shape):
        raise ValueError(f"cannot broadcast shape {x.shape} to the lower-rank {shape}")
    offset = len(shape) - x.ndim
    return bind("xl.broadcast_in_dim", [x], shape=shape, dims=tuple(range(offset, len(shape))))


def _prepare(*xs: ArrayLike, dtype: DType | None = None) -> list[TensorBase]:
    """Promote to a common (or given) dtype and broadcast to a common shape."""
    dt = dtype or result_dtype(*xs)
    return _broadcast_all([asarray(x, dt) for x in xs])


def _broadcast_all(ts: list[TensorBase]) -> list[TensorBase]:
    try:
        shape = np.broadcast_shapes(*(t.shape for t in ts))
    except ValueError:
        shown = " and ".join(str(t.shape) for t in ts)
        raise ValueError(f"operands with shapes {shown} cannot be broadcast together") from None
    return [broadcast_to(t, shape) for t in ts]


def _binary(name: str, a: ArrayLike, b: ArrayLike, float_only: bool = False) -> TensorBase:
    dt = result_dtype(a, b)
    if float_only and not dt.is_float:
        dt = DType.F32
    return bind(name, _prepare(a, b, dtype=dt))


def add(a, b): return _binary("xl.add", a, b)
def subtract(a, b): return _binary("xl.sub", a, b)
def multiply(a, b): return _binary("xl.mul", a, b)
def divide(a, b): return _binary("xl.div", a, b, float_only=True)
def power(a, b): return _binary("xl.pow", a, b, float_only=True)
def maximum(a, b): return _binary("xl.max", a, b)
def minimum(a, b): return _binary("xl.min", a, b)


def _compare(direction: str, a: ArrayLike, b: ArrayLike) -> TensorBase:
    return bind("xl.compare", _prepare(a, b), direction=direction)


def equal(a, b): return _compare("eq", a, b)
def not_equal(a, b): return _compare("ne", a, b)
def less(a, b): return _compare("lt", a, b)
def less_equal(a, b): return _compare("le", a, b)
def greater(a, b): return _compare("gt", a, b)
def greater_equal(a, b): return _compare("ge", a, b)


def _unary(name: str, x: ArrayLike, float_only: bool = True) -> TensorBase:
    x = asarray(x)
    if float_only and not x.type.dtype.is_float:
        x = astype(x, DType.F32)
    return bind(name, [x])


def negative(x): return _unary("xl.neg", x, float_only=False)
def abs(x): return _unary("xl.abs", x, float_only=False)  # noqa: A001
def sign(x): return _unary("xl.sign", x, float_only=False)
def exp(x): return _unary("xl.exp", x)
def log(x): return _unary("xl.log", x)
def log1p(x): return _unary("xl.log1p", x)
def tanh(x): return _unary("xl.tanh", x)
def sigmoid(x): return _unary("xl.logistic", x)
def sqrt(x): return _unary("xl.sqrt", x)
def rsqrt(x): return _unary("xl.rsqrt", x)
def sin(x): return _unary("xl.sin", x)
def cos(x): return _unary("xl.cos", x)
def erf(x): return _unary("xl.erf", x)
def floor(x): return _unary("xl.floor", x)
def ceil(x): return _unary("xl.ceil", x)
def round(x): return _unary("xl.round", x)  # noqa: A001  # halves to even, as np.round
def fmod(a, b): return _binary("xl.rem", a, b)  # the sign of a, as np.fmod


def where(cond: ArrayLike, x: ArrayLike, y: ArrayLike) -> TensorBase:
    """Elementwise `x` where `cond` is true (non-zero), else `y`; all three broadcast."""
    c = asarray(cond)
    if c.type.dtype is not DType.BOOL:
        c = not_equal(c, 0)
    dt = result_dtype(x, y)
    return bind("xl.select", _broadcast_all([c, asarray(x, dt), asarray(y, dt)]))


# --- reductions ------------------------------------------------------------------------
def _axes(x: TensorBase, axis: int | Sequence[int] | None) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(x.ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -x.ndim <= a < x.ndim:
            raise ValueError(f"axis {a} is out of bounds for a tensor of rank {x.ndim}")
        out.append(int(a) % x.ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated axis in {list(axes)}")
    return tuple(sorted(out))


def _keep(x: TensorBase, r: TensorBase, axes: tuple[int, ...], keepdims: bool) -> TensorBase:
    if not keepdims:
        return r
    return reshape(r, tuple(1 if i in axes else d for i, d in enumerate(x.shape)))


def _reduce(name: str, x: ArrayLike, axis, keepdims: bool) -> TensorBase:
    x = asarray(x)
    if x.type.dtype is DType.BOOL:
        x = astype(x, DType.I32)
    axes = _axes(x, axis)
    return _keep(x, bind(name, [x], axes=axes), axes, keepdims)


def sum(x, axis=None, keepdims=False): return _reduce("xl.reduce_sum", x, axis, keepdims)  # noqa: A001
def max(x, axis=None, keepdims=False): return _reduce("xl.reduce_max", x, axis, keepdims)  # noqa: A001
def min(x, axis=None, keepdims=False): return _reduce("xl.reduce_min", x, axis, keepdims)  # noqa: A001
def prod(x, axis=None, keepdims=False): return _reduce("xl.reduce_prod", x, axis, keepdims)


def mean(x: ArrayLike, axis=None, keepdims: bool = False) -> TensorBase:
    x = asarray(x)
    if not x.type.dtype.is_float:
        x = astype(x, DType.F32)
    count = math.prod(x.shape[a] for a in _axes(x, axis))
    return sum(x, axis, keepdims) / float(count)


def argmax(x: ArrayLike, axis: int | None = None) -> TensorBase:
    x = asarray(x)
    if axis is None:
        return bind("xl.argmax", [reshape(x, (-1,))], axis=0)
    return bind("xl.argmax", [x], axis=_axes(x, axis)[0])


# --- shape ops -------------------------------------------------------------------------
def reshape(x: ArrayLike, shape: int | Sequence[int]) -> TensorBase:
    """Reshape; one dim may be -1 (inferred)."""
    x = asarray(x)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
    if shape.count(-1) > 1:
        raise ValueError("only one dimension can be -1")
    if -1 in shape:
        known = math.prod(d for d in shape if d != -1)
        if known == 0 or x.size % known:
            raise ValueError(f"cannot reshape {x.shape} to {shape}")
        shape = tuple(x.size // known if d == -1 else d for d in shape)
    if shape == x.shape:
        return x
    return bind("xl.reshape", [x], shape=shape)


def transpose(x: ArrayLike, axes: Sequence[int] | None = None) -> TensorBase:
    x = asarray(x)
    perm = tuple(reversed(range(x.ndim))) if axes is None else tuple(a % x.ndim for a in axes)
    return x if perm == tuple(range(x.ndim)) else bind("xl.transpose", [x], perm=perm)


def concatenate(xs: Sequence[ArrayLike], axis: int = 0) -> TensorBase:
    dt = result_dtype(*xs)
    ts = [asarray(x, dt) for x in xs]
    return bind("xl.concatenate", ts, axis=_axes(ts[0], axis)[0])


def pad(x: ArrayLike, pad_width: Sequence[Sequence[int]], constant_values: float = 0) -> TensorBase:
    """Constant padding, ``pad_width = [(before, after), ...]`` per dim (as np.pad)."""
    x = asarray(x)
    value = asarray(constant_values, x.type.dtype)
    return bind("xl.pad", [x, value], low=tuple(p[0] for p in pad_width),
                high=tuple(p[1] for p in pad_width), interior=(0,) * x.ndim)


def matmul(a: ArrayLike, b: ArrayLike) -> TensorBase:
    """NumPy matmul semantics: 1-D operands are vectors, leading dims broadcast as batches."""
    dt = result_dtype(a, b)
    a, b = asarray(a, dt), asarray(b, dt)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul does not take rank-0 operands (use *)")
    if a.ndim <= 2 or b.ndim <= 2:  # no batch dims needed: contract last of a with b's K dim
        return bind("xl.dot_general", [a, b],
                    contract=((a.ndim - 1,), (builtins.max(b.ndim - 2, 0),)))
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = broadcast_to(a, batch + a.shape[-2:])
    b = broadcast_to(b, batch + b.shape[-2:])
    dims = tuple(range(len(batch)))
    return bind("xl.dot_general", [a, b], contract=((a.ndim - 1,), (b.ndim - 2,)),
                batch=(dims, dims))


def dot(a: ArrayLike, b: ArrayLike) -> TensorBase:
    return matmul(a, b)


# --- indexing --------------------------------------------------------------------------
def getitem(x: TensorBase, key: object) -> TensorBase:
    """Basic indexing (ints, slices with positive steps, None, ...) plus one integer-array
    index, which lowers to ``xl.gather`` (as ``x[idx]`` for embeddings)."""
    key = key if isinstance(key, tuple) else (key,)
    if builtins.sum(k is Ellipsis for k in key) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = builtins.sum(k is not None and k is not Ellipsis for k in key)
    if used > x.ndim:
        raise IndexError(f"too many indices for a tensor of rank {x.ndim}")
    ellipsis = [i for i, k in enumerate(key) if k is Ellipsis]  # identity: tensors overload ==
    if ellipsis:
        i = ellipsis[0]
        key = key[:i] + (slice(None),) * (x.ndim - used) + key[i + 1:]
    else:
        key = key + (slice(None),) * (x.ndim - used)
    start, limit, stride, out_shape = [], [], [], []
    array_index: tuple[int, TensorBase] | None = None
    dim = 0
    for k in key:
        if k is None:
            out_shape.append(1)
            continue
        n = x.shape[dim]
        if isinstance(k, slice):
            s, e, st = k.indices(n)
            if st < 1:
                raise IndexError("negative slice steps are not supported")
            e = builtins.max(e, s)
            start.append(s)
            limit.append(e)
            stride.append(st)
            out_shape.append(len(range(s, e, st)))
        elif isinstance(k, (int, np.integer)) and not isinstance(k, bool):
            if not -n <= k < n:
                raise IndexError(f"index {k} is out of bounds for axis {dim} with size {n}")
            start.append(int(k) % n)
            limit.append(int(k) % n + 1)
            stride.append(1)
        else:
            idx = asarray(k)
            if idx.type.dtype is DType.BOOL:
                raise IndexError("boolean masks give data-dependent shapes; use xl.where instead")
            if not idx.type.dtype.is_int or array_index is not None:
                raise IndexError(f"unsupported index {k!r}: use ints, slices, None, ... and at "
                                 "most one integer array")
            array_index = (len(out_shape), idx)
            start.append(0)
            limit.append(n)
            stride.append(1)
            out_shape.append(n)
        dim += 1
    y = x
    if (tuple(start), tuple(limit), tuple(stride)) != ((0,) * x.ndim, x.shape, (1,) * x.ndim):
        y = bind("xl.slice", [y], start=tuple(start), limit=tuple(limit), stride=tuple(stride))
    y = reshape(y, tuple(out_shape))
    if array_index is not None:
        axis, idx = array_index
        y = bind("xl.gather", [y, idx], axis=axis, batch_dims=0)
    return y


# --- constructors ----------------------------------------------------------------------
def zeros(shape: Sequence[int], dtype: object = np.float32) -> Tensor:
    return Tensor(np.zeros(shape, _to_dtype(dtype).numpy))


def ones(shape: Sequence[int], dtype: object = np.float32) -> Tensor:
    return Tensor(np.ones(shape, _to_dtype(dtype).numpy))


def full(shape: Sequence[int], value: float, dtype: object = np.float32) -> Tensor:
    return Tensor(np.full(shape, value, _to_dtype(dtype).numpy))


def arange(n: int, dtype: object = np.int32) -> Tensor:
    return Tensor(np.arange(n, dtype=_to_dtype(dtype).numpy))


def random_uniform(key: ArrayLike, shape: Sequence[int], dtype: object = np.float32) -> TensorBase:
    """Uniform [0, 1) numbers from an integer key (the same key gives the same numbers)."""
    return bind("xl.rng", [asarray(key, DType.I64)], shape=tuple(shape),
                dtype=_to_dtype(dtype), distribution="uniform")


def random_normal(key: ArrayLike, shape: Sequence[int], dtype: object = np.float32) -> TensorBase:
    """Standard-normal numbers from an integer key."""
    return bind("xl.rng", [asarray(key, DType.I64)], shape=tuple(shape),
                dtype=_to_dtype(dtype), distribution="normal")


#: the functions that, given graph values (xlalite.graph), add a node instead of running
STAGED = ("astype", "broadcast_to", "add", "subtract", "multiply", "divide", "power", "maximum",
          "minimum", "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
          "negative", "abs", "sign", "exp", "log", "log1p", "tanh", "sigmoid", "sqrt", "rsqrt",
          "sin", "cos", "erf", "floor", "ceil", "round", "fmod", "where", "sum", "max", "min",
          "prod", "mean", "argmax", "reshape", "transpose", "concatenate", "pad", "matmul", "dot",
          "getitem", "zeros", "ones", "full", "arange", "random_uniform", "random_normal")
stage_module(globals(), STAGED)
install(api=sys.modules[__name__])  # tensors' operators and methods call this module
