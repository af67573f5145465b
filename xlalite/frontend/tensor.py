"""Tensors of the front end and the one primitive every API function goes through: ``bind``.

There are two kinds of tensor with the same NumPy-style interface (:class:`TensorBase`):

* :class:`Tensor` holds a NumPy array; ops on it run at once (eager mode);
* :class:`Tracer` stands for an SSA value while ``jit`` traces a function; ops on it append IR.

``bind(op_name, operands, **attrs)`` applies a registered op: if any operand is a tracer it
emits IR into that tracer's trace (eager operands become ``xl.constant``), otherwise it runs
the op's NumPy reference. Both paths use the same registry rule, so eager and compiled
results agree by construction.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import numpy as np

from xlalite.frontend.errors import TracerError, user_location
from xlalite.ir.attributes import DenseElements
from xlalite.ir.builder import Builder
from xlalite.ir.core import Op, Value
from xlalite.ir.types import DType, TensorType
from xlalite.ops.registry import get_op

_PYTHON_DEFAULTS = {"f": np.dtype(np.float32), "i": np.dtype(np.int32)}


def python_array(data: object, dtype: np.dtype | None = None) -> np.ndarray:
    """Python numbers (or nested lists of them) as an array of `dtype`, by default f32 for
    floats and i32 for ints. An int that does not fit raises OverflowError, as NumPy 2 does,
    instead of wrapping around."""
    if dtype is None:
        natural = np.asarray(data).dtype
        dtype = _PYTHON_DEFAULTS.get(natural.kind, natural)
    try:
        return np.asarray(data, dtype=dtype)
    except OverflowError as e:
        raise OverflowError(f"{e} (use a wider dtype such as int64)") from None


class _Late:
    """The modules above this one that tensors call into: the NumPy-style API (operators,
    methods) and autograd (``backward()``). Each installs itself when it is imported, and
    ``xlalite.frontend`` imports both, so this module imports neither (no import cycle)."""

    api: Any = None
    autograd: Any = None


_LATE = _Late()


def install(api: Any = None, autograd: Any = None) -> None:
    """Called by numpy_api and autograd at import: make them reachable from tensors."""
    if api is not None:
        _LATE.api = api
    if autograd is not None:
        _LATE.autograd = autograd


class TensorBase:
    """NumPy-style interface shared by eager tensors and tracers."""

    __slots__ = ()
    __array_priority__ = 100  # make `ndarray + tensor` call our __radd__
    type: TensorType

    @property
    def shape(self) -> tuple[int, ...]:
        return self.type.shape

    @property
    def dtype(self) -> np.dtype:
        return self.type.dtype.numpy

    @property
    def ndim(self) -> int:
        return self.type.rank

    @property
    def size(self) -> int:
        return self.type.size

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a rank-0 tensor")
        return self.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    # Operators and methods delegate to the NumPy-style API (imported at the end of module).
    def __add__(self, o): return _LATE.api.add(self, o)
    def __radd__(self, o): return _LATE.api.add(o, self)
    def __sub__(self, o): return _LATE.api.subtract(self, o)
    def __rsub__(self, o): return _LATE.api.subtract(o, self)
    def __mul__(self, o): return _LATE.api.multiply(self, o)
    def __rmul__(self, o): return _LATE.api.multiply(o, self)
    def __truediv__(self, o): return _LATE.api.divide(self, o)
    def __rtruediv__(self, o): return _LATE.api.divide(o, self)
    def __pow__(self, o): return _LATE.api.power(self, o)
    def __rpow__(self, o): return _LATE.api.power(o, self)
    def __matmul__(self, o): return _LATE.api.matmul(self, o)
    def __rmatmul__(self, o): return _LATE.api.matmul(o, self)
    def __neg__(self): return _LATE.api.negative(self)
    def __pos__(self): return self
    def __abs__(self): return _LATE.api.abs(self)
    def __lt__(self, o): return _LATE.api.less(self, o)
    def __le__(self, o): return _LATE.api.less_equal(self, o)
    def __gt__(self, o): return _LATE.api.greater(self, o)
    def __ge__(self, o): return _LATE.api.greater_equal(self, o)
    def __eq__(self, o): return _LATE.api.equal(self, o)
    def __ne__(self, o): return _LATE.api.not_equal(self, o)
    __hash__ = None  # type: ignore[assignment]  # == is elementwise, as in NumPy

    def __getitem__(self, key): return _LATE.api.getitem(self, key)

    def sum(self, axis=None, keepdims=False): return _LATE.api.sum(self, axis, keepdims)
    def mean(self, axis=None, keepdims=False): return _LATE.api.mean(self, axis, keepdims)
    def max(self, axis=None, keepdims=False): return _LATE.api.max(self, axis, keepdims)
    def min(self, axis=None, keepdims=False): return _LATE.api.min(self, axis, keepdims)
    def prod(self, axis=None, keepdims=False): return _LATE.api.prod(self, axis, keepdims)
    def argmax(self, axis=None): return _LATE.api.argmax(self, axis)
    def reshape(self, *shape): return _LATE.api.reshape(self, shape[0] if len(shape) == 1 else shape)
    def transpose(self, *axes):
        return _LATE.api.transpose(self, axes[0] if len(axes) == 1 else (axes or None))
    def astype(self, dtype): return _LATE.api.astype(self, dtype)
    def exp(self): return _LATE.api.exp(self)
    def log(self): return _LATE.api.log(self)
    def tanh(self): return _LATE.api.tanh(self)

    @property
    def T(self): return _LATE.api.transpose(self)


class Tensor(TensorBase):
    """An eager tensor: a NumPy array of a supported dtype; ops on it run immediately."""

    __slots__ = ("array", "type", "requires_grad", "grad", "_node", "_index")
    array: np.ndarray
    is_state = False  # True for parameters and buffers (frontend/state.py)

    def __init__(self, data: object, dtype: object = None, requires_grad: bool = False):
        if isinstance(data, Tensor):
            arr = data.array
        elif isinstance(data, (np.ndarray, np.generic)):
            arr = np.asarray(data)
        elif dtype is None:  # Python scalars and lists default to f32 / i32 (as torch.tensor)
            arr = python_array(data)
        else:  # converted straight to the requested dtype: no detour through f32
            arr = python_array(data, _to_dtype(dtype).numpy)
        if dtype is not None:
            arr = arr.astype(_to_dtype(dtype).numpy, copy=False)
        self.array = arr
        self.type = TensorType.of(arr)
        if requires_grad and not self.type.dtype.is_float:
            raise TypeError(f"only floating-point tensors can require gradients, not {self.type}")
        self.requires_grad = requires_grad
        self.grad: Tensor | None = None  # filled (and accumulated) by backward()
        self._node: Node | None = None  # the op that produced this tensor, when recorded
        self._index = 0

    def backward(self, gradient: object = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``.grad`` of every leaf tensor that requires grad.

        The recorded ops become an IR function and the ``autodiff`` pass differentiates it.
        `gradient` is required when self is not a scalar (the cotangent of self). As in
        PyTorch, the recorded graph is released afterwards unless `retain_graph`.
        """
        _LATE.autograd.backward(self, gradient, retain_graph)

    def detach(self) -> Tensor:
        """The same data, cut from the recorded computation."""
        return Tensor(self.array)

    def numpy(self) -> np.ndarray:
        """The underlying array (not a copy)."""
        return self.array

    def __array__(self, dtype=None, copy=None):
        return self.array if dtype is None else self.array.astype(dtype)

    def item(self):
        return self.array.item()

    def __bool__(self) -> bool:
        return bool(self.array)

    def __float__(self) -> float:
        return float(self.array)

    def __int__(self) -> int:
        return int(self.array)

    def __index__(self) -> int:
        return self.array.__index__()

    def __repr__(self) -> str:
        body = np.array2string(self.array, separator=", ", prefix="Tensor(")
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({body}, type={self.type}{grad})"


class Trace:
    """One function being traced: its builder, whether it is still open, and the state tensors
    it read (each became a function argument) and wrote (their latest values)."""

    def __init__(self, builder: Builder):
        self.builder = builder
        self.open = True
        self.state_args: dict[int, tuple[Tensor, Value]] = {}  # id -> (state tensor, argument)
        self.state_now: dict[int, Value] = {}  # id -> current value in this trace
        self.written: dict[int, Tensor] = {}  # id -> state tensor assigned in this trace
        self.grads: dict[int, Tracer] = {}  # id -> gradient computed by backward() here
        self.saved_grads: dict[int, tuple[Tensor, Tensor | None]] = {}  # .grad before the trace
        # what the traced program assumed of Python objects it cannot see into: id ->
        # (a function computing the object's key now, the key while tracing); a modules'
        # mode and parameter objects, an optimizer's constant hyperparameters
        self.guards: dict[int, tuple[Callable[[], object], object]] = {}

    def guard(self, obj: object, key: Callable[[], object]) -> None:
        """Record that the program being traced holds only while `key()` stays the same."""
        if id(obj) not in self.guards:
            self.guards[id(obj)] = (key, key())

    def read_state(self, x: Tensor) -> Value:
        key = id(x)
        if key not in self.state_now:
            name = getattr(x, "name", "") or f"state{len(self.state_args)}"
            arg = self.builder.block.add_arg(x.type, name)
            self.state_args[key] = (x, arg)
            self.state_now[key] = arg
        return self.state_now[key]

    def write_state(self, x: Tensor, new: TensorBase) -> None:
        self.read_state(x)  # the initial value is an argument even if never read
        self.state_now[id(x)] = self.value_of(new)
        self.written[id(x)] = x

    def value_of(self, x: TensorBase) -> Value:
        if isinstance(x, Tracer):
            if not x.trace.open:
                raise TracerError(
                    "a traced tensor escaped the function that traced it (leaked tracer)",
                    "Return values from the jitted function instead of storing them in globals "
                    "or closures.")
            if x.trace is not self:
                raise TracerError(
                    "a function being traced (e.g. by grad) uses a traced tensor of an "
                    "enclosing jit/grad through a closure",
                    "Pass that tensor to the function as an argument instead.")
            return x.value
        assert isinstance(x, Tensor)
        if x.is_state:
            return self.read_state(x)
        dense = DenseElements(x.array, x.type)
        return self.builder.create("xl.constant", [], {"value": dense}, loc=user_location()).result

    def emit(self, name: str, operands: Sequence[TensorBase], attrs: dict[str, object]) -> Tracer:
        values = [self.value_of(x) for x in operands]
        op = self.builder.create(name, values, attrs, loc=user_location())
        return Tracer(op.result, self)


class Tracer(TensorBase):
    """Stands for an IR value during tracing; has a type but no data."""

    __slots__ = ("value", "trace")

    def __init__(self, value: Value, trace: Trace):
        self.value = value
        self.trace = trace

    @property
    def type(self) -> TensorType:  # type: ignore[override]
        return self.value.type

    def _concrete(self, what: str, fix: str | None = None) -> NoReturn:
        raise TracerError(
            f"cannot use a traced tensor ({self.type}) as {what} inside a jit-compiled function: "
            "its value is not known while tracing.",
            fix or "Use xl.where(cond, a, b) for data-dependent choices, or pass the argument "
            "through static_argnums so it is a Python value at trace time.")

    def __bool__(self) -> bool:
        self._concrete("a Python bool (if/while/and/or)",
                       "Use xl.cond(pred, true_fn, false_fn, *operands) to branch on it, "
                       "xl.while_loop(cond_fn, body_fn, init) to loop while it holds, or "
                       "xl.where(cond, a, b) for an elementwise choice; or pass the argument "
                       "through static_argnums so it is a Python value at trace time.")

    def __float__(self) -> float:
        self._concrete("a Python float")

    def __int__(self) -> int:
        self._concrete("a Python int")

    def __index__(self) -> int:
        self._concrete("an index (e.g. range(n))",
                       "For a loop over a traced count use xl.fori_loop(lower, upper, body_fn, "
                       "init), or xl.scan(f, init, xs) to run a body over the rows of an array; "
                       "or pass the argument through static_argnums.")

    def __array__(self, dtype=None, copy=None):
        self._concrete("a NumPy array")

    def numpy(self):
        self._concrete("a NumPy array")

    def backward(self, gradient: object = None, retain_graph: bool = False) -> None:
        """Inside a traced step: differentiate this scalar with respect to every parameter
        read so far, inline the gradient program, and make it the parameters' ``.grad``."""
        _LATE.autograd.traced_backward(self, gradient)

    def __repr__(self) -> str:
        return f"Tracer({self.type})"


def _to_dtype(dtype: Any) -> DType:
    if isinstance(dtype, DType):
        return dtype
    if isinstance(dtype, str):
        try:
            return DType.parse(dtype)
        except ValueError:
            pass
    return DType.from_numpy(np.dtype(dtype))


class _TraceStack(threading.local):
    def __init__(self) -> None:
        self.traces: list[Trace] = []
        self.grad_enabled = True


class Node:
    """An eagerly executed op, kept for backward(): a registered op (name, attributes) or an
    op template with regions (custom_vjp), and the tensors it read."""

    __slots__ = ("op", "inputs", "freed")

    def __init__(self, op: tuple[str, dict] | Op, inputs: Sequence[TensorBase]):
        self.op = op
        self.inputs: list[Any] = list(inputs)  # Tensors: only eager ops are recorded
        self.freed = False  # set by backward() unless retain_graph=True


def record(op: tuple[str, dict] | Op, inputs: Sequence[TensorBase], outputs: Sequence[Tensor]
           ) -> None:
    """Remember how float `outputs` were computed if any input requires grad."""
    if not _ACTIVE.grad_enabled or not any(getattr(x, "requires_grad", False) for x in inputs):
        return
    node = Node(op, inputs)
    for i, t in enumerate(outputs):
        if t.type.dtype.is_float:
            t.requires_grad, t._node, t._index = True, node, i


@contextlib.contextmanager
def no_grad():
    """Within this block eager ops are not recorded for backward() (as torch.no_grad)."""
    previous = _ACTIVE.grad_enabled
    _ACTIVE.grad_enabled = False
    try:
        yield
    finally:
        _ACTIVE.grad_enabled = previous


_ACTIVE = _TraceStack()


@contextlib.contextmanager
def tracing(trace: Trace):
    """Make `trace` the innermost active trace: while it is open every op is staged into it,
    even one whose operands are all concrete (so constants are computed by the program, not
    baked in at trace time; JAX calls this omnistaging)."""
    _ACTIVE.traces.append(trace)
    try:
        yield trace
    finally:
        _ACTIVE.traces.pop()


@contextlib.contextmanager
def eager():
    """Within this block ops on concrete tensors run now even while a trace is open (ops on
    tracers still go to their trace): how an importer folds constant subgraphs, such as an
    ONNX model's shape arithmetic, at trace time."""
    saved = _ACTIVE.traces
    _ACTIVE.traces = []
    try:
        yield
    finally:
        _ACTIVE.traces = saved


def active_trace(values: Sequence[object] = ()) -> Trace | None:
    """The trace new ops go to: the innermost active one, else that of a tracer in `values`."""
    if _ACTIVE.traces:
        return _ACTIVE.traces[-1]
    for x in values:
        if isinstance(x, Tracer):
            return x.trace
    return None


def bind(name: str, operands: Sequence[TensorBase], **attrs: object) -> TensorBase:
    """Apply the registered op `name`: stage it into the innermost active trace (or the trace
    of a tracer operand), else run it now (eager mode)."""
    trace = active_trace(operands)
    if trace is not None:
        return trace.emit(name, operands, attrs)
    opdef = get_op(name)
    norm = opdef.normalize_attrs(attrs)
    types = opdef.infer_types([x.type for x in operands], norm)
    with np.errstate(all="ignore"):
        (out,) = opdef.evaluate([x.array for x in operands], norm, types)  # type: ignore[attr-defined]
    result = Tensor(out)
    record((name, norm), operands, [result])
    return result

