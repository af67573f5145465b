"""xlalite: a small deep-learning compiler.

``import xlalite as xl``; then ``xl.jit(f)`` compiles a NumPy-style function, ``xl.tensor(a)``
makes an eager tensor, and ``xl.exp``, ``xl.where``, ``xl.sum``... work on both.
"""

from xlalite.compiler import compile
from xlalite.frontend.collectives import all_gather, all_reduce, broadcast_from, reduce_scatter
from xlalite.frontend.control import ControlFlowError, cond, fori_loop, scan, switch, while_loop
from xlalite.frontend.custom import custom_vjp
from xlalite.frontend.errors import TracerError
from xlalite.frontend.grad import grad, value_and_grad, vjp
from xlalite.frontend.jit import Jitted, Lowered, jit
from xlalite.frontend.numpy_api import (
    abs,
    add,
    arange,
    argmax,
    asarray,
    astype,
    broadcast_to,
    ceil,
    concatenate,
    cos,
    divide,
    dot,
    equal,
    erf,
    exp,
    floor,
    fmod,
    full,
    greater,
    greater_equal,
    less,
    less_equal,
    log,
    log1p,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    multiply,
    negative,
    not_equal,
    ones,
    pad,
    power,
    prod,
    random_normal,
    random_uniform,
    reshape,
    round,
    rsqrt,
    sigmoid,
    sign,
    sin,
    sqrt,
    subtract,
    sum,
    tanh,
    transpose,
    where,
    zeros,
)
from xlalite.frontend.tensor import Tensor, TensorBase, Tracer, no_grad
from xlalite.ir.types import DType
from xlalite.runtime import ArgumentError, DeviceArray
from xlalite.serialize import load, load_state, save, save_state
from xlalite.version import __version__

tensor = Tensor


def cache_info() -> dict[str, object]:
    """Kernel cache statistics of this process (hits, misses, compile seconds) and, as
    ``last_compile``, where the newest compilation spent its time: trace, verify, passes,
    codegen, kernel loading, and per kernel Numba's typing and lowering, or a cache load
    (``XLALITE_LOG=compile`` prints each compilation's profile to stderr)."""
    from xlalite.backends.numba_common.cache import STATS
    from xlalite.runtime import profile

    info = STATS.as_dict()
    last = profile.last()
    info["last_compile"] = last.as_dict() if last is not None else None
    return info

float16, float32, float64 = DType.F16, DType.F32, DType.F64
int8, int16, int32, int64 = DType.I8, DType.I16, DType.I32, DType.I64
uint8, uint16, uint32, uint64 = DType.U8, DType.U16, DType.U32, DType.U64
bool_ = DType.BOOL

__all__ = [
    "DType", "Jitted", "Lowered", "Tensor", "TensorBase", "Tracer", "TracerError", "abs", "add",
    "arange", "argmax", "asarray", "astype", "bool_", "broadcast_to", "concatenate", "cos",
    "divide", "dot", "equal", "erf", "exp", "float32", "float64", "full", "greater",
    "greater_equal", "int32", "int64", "jit", "less", "less_equal", "log", "log1p", "matmul", "max",
    "maximum", "mean", "min", "minimum", "multiply", "negative", "not_equal", "ones", "pad",
    "power", "prod", "random_normal", "random_uniform", "reshape", "rsqrt", "sigmoid", "sign",
    "sin", "sqrt", "subtract", "sum", "tanh", "tensor", "transpose", "where", "zeros",
    "grad", "value_and_grad", "vjp", "custom_vjp", "no_grad", "cache_info", "save", "load",
    "ArgumentError", "DeviceArray", "__version__", "compile",
    "ceil", "floor", "fmod", "round",
    "ControlFlowError", "cond", "fori_loop", "scan", "switch", "while_loop",
    "float16", "int8", "int16", "uint8", "uint16", "uint32", "uint64",
    "all_gather", "all_reduce", "broadcast_from", "reduce_scatter", "load_state", "save_state",
]
