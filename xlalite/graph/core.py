"""Graphs of the TensorFlow 1 kind: operations on symbolic tensors, built first, run later.

A :class:`Graph` holds :class:`Operation` nodes of a few kinds: ``placeholder`` (fed at run
time), ``variable`` (state living in a session), ``constant``, ``op`` (a call of any xlalite
API function: ``xl.exp``, ``@``, ``nn.functional.conv2d``, ``xl.cond`` ...), ``assign`` (a new
value for a variable), ``group`` (run these together) and ``gradients``. Each output is a
:class:`GraphTensor`; API functions given one record a node instead of computing (see
``frontend.staging``), so graph code reads like eager code.

Shapes are checked while the graph is built: every graph keeps two *probe traces* in which
each node is traced at once, with a dimension of unknown size (``None``) taken as 8 in one and
9 in the other. A node's static shape is what both agree on (``None`` where they differ), and a
mistake such as a matmul of mismatched sizes fails at the line that wrote it, as in TF1.
Nothing else is computed until ``Session.run`` (see ``session.py``) replays the nodes its
fetches need under ``jit``, so the program runs on the same passes and backends as any other.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from xlalite.frontend.errors import located, user_location
from xlalite.frontend.numpy_api import asarray
from xlalite.frontend.pytree import flatten, unflatten
from xlalite.frontend.staging import Staged, enable_staging
from xlalite.frontend.tensor import Tensor, Trace, Tracer, _to_dtype, tracing
from xlalite.ir.builder import new_function
from xlalite.ir.core import Module
from xlalite.ir.types import TensorType

#: the sizes an unknown (None) dimension takes in the two probe traces
PROBE_SIZES = (8, 9)


class GraphError(ValueError):
    """A graph that cannot be built or run as asked; the message says which node and why."""


class Operation:
    """A node: its kind, unique name, what it computes and from what, and where it was made.

    For kind ``op``, the node's value is ``fn(*args, **kwargs)`` with each graph tensor among
    the arguments replaced by its value; ``inputs`` lists those tensors. ``control_inputs`` are
    operations that run whenever this one does (``group``); an ``assign`` node has a ``target``
    variable, a ``gradients`` node its ``ys``, ``xs`` and ``grad_ys``."""

    def __init__(self, graph: Graph, kind: str, name: str, fn: Callable | None = None,
                 args: tuple = (), kwargs: dict | None = None,
                 control_inputs: Sequence[Operation] = ()):
        self.graph, self.kind, self.name = graph, kind, name
        self.fn, self.args, self.kwargs = fn, args, kwargs or {}
        self.inputs = [t for t in flatten((args, self.kwargs))[0] if isinstance(t, GraphTensor)]
        self.control_inputs = list(control_inputs)
        self.outputs: list[GraphTensor] = []
        self.location = user_location()
        self.value: Tensor | None = None  # a constant's value
        self.target: Variable | None = None  # an assign's variable
        self.ys: list[GraphTensor] = []
        self.xs: list[GraphTensor] = []
        self.grad_ys: list[Any] = []

    def run_in(self, session: Any) -> None:
        """``session.run(op)``, as TF1's ``op.run()``."""
        session.run(self)

    def __repr__(self) -> str:
        return f"<xg.Operation '{self.name}' kind={self.kind}>"


class GraphTensor(Staged):
    """An output of an operation: a symbolic tensor whose value exists only in a run.

    ``shape`` may hold ``None`` for dimensions fed with any size; operators, methods and every
    xlalite API function accept graph tensors and return new ones."""

    __slots__ = ("op", "index", "probes", "_shape")
    __hash__ = object.__hash__  # type: ignore[assignment]  # a feed_dict key (== stays elementwise)

    def __init__(self, op: Operation, index: int, probes: Sequence[Tracer]):
        self.op, self.index, self.probes = op, index, list(probes)
        a, b = (p.type for p in self.probes)
        self._shape = tuple(x if x == y else None for x, y in zip(a.shape, b.shape))

    @property
    def graph(self) -> Graph:
        return self.op.graph

    @property
    def name(self) -> str:
        return f"{self.op.name}:{self.index}"

    @property
    def shape(self) -> tuple[int | None, ...]:  # type: ignore[override]
        return self._shape

    @property
    def ndim(self) -> int:
        return len(self._shape)

    @property
    def dtype(self) -> np.dtype:
        return self.probes[0].type.dtype.numpy

    @property
    def type(self) -> TensorType:  # type: ignore[override]
        if None in self._shape:
            raise GraphError(f"'{self.name}' has dimensions of unknown size {self.shape_text()}; "
                             "its type is known only in a run")
        return self.probes[0].type

    def shape_text(self) -> str:
        dims = "x".join("?" if d is None else str(d) for d in self._shape)
        return f"{self.probes[0].type.dtype.value}[{dims}]"

    def stage(self, fn: Callable, args: tuple, kwargs: dict) -> Any:
        return self.op.graph.add_call(fn, args, kwargs)

    def __bool__(self) -> bool:
        raise TypeError(f"graph tensor '{self.name}' has no value while the graph is built: use "
                        "xl.cond / xl.where to choose on it, or fetch it with Session.run")

    def __repr__(self) -> str:
        return f"<xg.Tensor '{self.name}' {self.shape_text()}>"


class Variable(GraphTensor):
    """State of the graph: a value per session, read by the nodes that use it and changed only
    by ``assign`` nodes that run. ``initializer`` sets it to `initial_value` (an array, or a
    graph tensor computed when the initializer runs)."""

    __slots__ = ("trainable", "initializer", "initial_value")

    def __init__(self, initial_value: Any, name: str | None = None, trainable: bool = True,
                 dtype: Any = None, graph: Graph | None = None):
        if graph is None:
            graph = initial_value.graph if isinstance(initial_value, GraphTensor) else default_graph()
        if not isinstance(initial_value, GraphTensor):
            initial_value = graph.constant(initial_value, dtype, name=f"{name or 'Variable'}/initial")
        elif dtype is not None:
            initial_value = initial_value.astype(dtype)
        if None in initial_value.shape:
            raise GraphError(located(f"a variable's shape must be known; its initial value "
                                     f"'{initial_value.name}' is {initial_value.shape_text()}"))
        op = Operation(graph, "variable", graph.unique_name(name or "Variable"))
        super().__init__(op, 0, graph.probe_args(op.name, [initial_value.probes[0].type] * 2))
        op.outputs.append(self)
        graph.operations.append(op)
        self.trainable, self.initial_value = trainable, initial_value
        self.initializer = graph.assign(self, initial_value, name=f"{op.name}/Assign")
        graph.variables.append(self)

    def assign(self, value: Any, name: str | None = None) -> GraphTensor:
        return self.graph.assign(self, value, name)

    def assign_add(self, delta: Any, name: str | None = None) -> GraphTensor:
        return self.graph.assign(self, self + delta, name or f"{self.op.name}/AssignAdd")

    def assign_sub(self, delta: Any, name: str | None = None) -> GraphTensor:
        return self.graph.assign(self, self - delta, name or f"{self.op.name}/AssignSub")

    def __repr__(self) -> str:
        return f"<xg.Variable '{self.op.name}' {self.shape_text()}>"


class _Default(threading.local):
    def __init__(self) -> None:
        self.stack: list[Graph] = []


_DEFAULT = _Default()


def default_graph() -> Graph:
    """The graph of the innermost ``with g.as_default():`` block of this thread."""
    if not _DEFAULT.stack:
        raise GraphError(located("no default graph here: build inside `with g.as_default():` or "
                                 "call the graph's own methods (g.placeholder(...))"))
    return _DEFAULT.stack[-1]


class Graph:
    """A graph under construction: its operations in creation order and its variables."""

    def __init__(self) -> None:
        enable_staging()
        self.operations: list[Operation] = []
        self.variables: list[Variable] = []
        self._counts: dict[str, Iterator[int]] = {}
        self._taken: set[str] = set()
        self._probes = [Trace(new_function(Module(), f"probe{i}", [])[1]) for i in range(2)]

    @contextlib.contextmanager
    def as_default(self) -> Iterator[Graph]:
        """Make this the graph that ``xg.placeholder`` and friends add to, in this block."""
        _DEFAULT.stack.append(self)
        try:
            yield self
        finally:
            _DEFAULT.stack.pop()

    # --- naming and lookup ------------------------------------------------------------------
    def unique_name(self, base: str) -> str:
        """`base`, or `base_1`, `base_2`... when taken (as TF names operations)."""
        counter = self._counts.setdefault(base, itertools.count())
        name = base
        while name in self._taken:
            name = f"{base}_{next(counter) + 1}"
        self._taken.add(name)
        return name

    def get_operation_by_name(self, name: str) -> Operation:
        for op in self.operations:
            if op.name == name:
                return op
        raise KeyError(f"no operation named '{name}' in this graph")

    def get_tensor_by_name(self, name: str) -> GraphTensor:
        """A tensor by its name ``op_name:index``."""
        op_name, _, index = name.rpartition(":")
        op = self.get_operation_by_name(op_name)
        try:
            return op.outputs[int(index)]
        except (ValueError, IndexError):
            raise KeyError(f"no tensor named '{name}' in this graph") from None

    @property
    def trainable_variables(self) -> list[Variable]:
        return [v for v in self.variables if v.trainable]

    # --- building ---------------------------------------------------------------------------
    def probe_args(self, name: str, types: Sequence[TensorType]) -> list[Tracer]:
        """A new argument of each probe trace, of the given types (one per probe)."""
        return [Tracer(tr.builder.block.add_arg(t, name), tr) for tr, t in zip(self._probes, types)]

    def _add(self, op: Operation, probe_outputs: Sequence[Sequence[Tracer]]) -> list[GraphTensor]:
        op.outputs = [GraphTensor(op, i, probes) for i, probes in enumerate(zip(*probe_outputs))]
        self.operations.append(op)
        return op.outputs

    def placeholder(self, dtype: Any, shape: Sequence[int | None], name: str | None = None
                    ) -> GraphTensor:
        """A tensor fed by ``feed_dict`` at run time; a ``None`` dimension takes any size (each
        fed size compiles its own specialisation)."""
        if shape is None:
            raise GraphError(located("placeholder needs a shape (None for a dimension of any size)"))
        dt = _to_dtype(dtype)
        dims = tuple(None if d is None else int(d) for d in shape)
        types = [TensorType(tuple(size if d is None else d for d in dims), dt) for size in PROBE_SIZES]
        op = Operation(self, "placeholder", self.unique_name(name or "Placeholder"))
        return self._add(op, [[t] for t in self.probe_args(op.name, types)])[0]

    def constant(self, value: Any, dtype: Any = None, name: str | None = None) -> GraphTensor:
        op = Operation(self, "constant", self.unique_name(name or "Const"))
        op.value = value if isinstance(value, Tensor) and dtype is None else Tensor(value, dtype)
        probes = []
        for tr in self._probes:
            with tracing(tr):
                probes.append([Tracer(tr.value_of(op.value), tr)])
        return self._add(op, probes)[0]

    def add_call(self, fn: Callable, args: tuple, kwargs: dict, name: str | None = None) -> Any:
        """Record ``fn(*args, **kwargs)`` as a node, tracing it in both probes; returns graph
        tensors in the structure `fn` returns."""
        leaves, tree = flatten((args, kwargs))
        for t in leaves:
            if isinstance(t, GraphTensor) and t.graph is not self:
                raise GraphError(located(f"'{t.name}' belongs to another graph"))
        fn_name = getattr(fn, "__name__", "op").strip("<>_") or "op"
        outs, out_tree = [], None
        for i, tr in enumerate(self._probes):
            values = [t.probes[i] if isinstance(t, GraphTensor) else t for t in leaves]
            call_args, call_kwargs = unflatten(tree, values)
            try:
                with tracing(tr):
                    out_leaves, out_tree = flatten(fn(*call_args, **call_kwargs))
                    outs.append([Tracer(tr.value_of(asarray(o)), tr) for o in out_leaves])
            except Exception as e:
                unknown = any(isinstance(t, GraphTensor) and None in t.shape for t in leaves)
                note = (f" (checked with each dimension of unknown size taken as {PROBE_SIZES[i]})"
                        if unknown else "")
                raise GraphError(located(f"{fn_name}: {e}{note}")) from e
        op = Operation(self, "op", self.unique_name(name or fn_name), fn, args, kwargs)
        assert out_tree is not None
        return unflatten(out_tree, self._add(op, outs))

    def assign(self, var: Variable, value: Any, name: str | None = None) -> GraphTensor:
        """A node that, when it runs, makes `value` the variable's value; it evaluates to that
        new value. It runs only when fetched, directly or through a ``group``."""
        if not isinstance(var, Variable):
            raise GraphError(located(f"assign needs a variable, got {var!r}"))
        if not isinstance(value, GraphTensor):
            value = self.constant(value, var.dtype)
        elif value.dtype != var.dtype:
            raise GraphError(located(f"cannot assign {value.shape_text()} '{value.name}' to "
                                     f"variable '{var.op.name}' of {var.shape_text()}"))
        if None not in value.shape and value.shape != var.shape:
            raise GraphError(located(f"cannot assign {value.shape_text()} '{value.name}' to "
                                     f"variable '{var.op.name}' of {var.shape_text()}"))
        op = Operation(self, "assign", self.unique_name(name or f"{var.op.name}/Assign"),
                       args=(value,))
        op.target = var
        return self._add(op, [[p] for p in value.probes])[0]

    def group(self, *inputs: Operation | GraphTensor | Sequence, name: str | None = None
              ) -> Operation:
        """An operation with no value that runs all of `inputs` (operations or tensors)."""
        flat = flatten(list(inputs))[0]
        ops = [x.op if isinstance(x, GraphTensor) else x for x in flat]
        for x in ops:
            if not isinstance(x, Operation) or x.graph is not self:
                raise GraphError(located(f"group takes operations and tensors of this graph, got {x!r}"))
        op = Operation(self, "group", self.unique_name(name or "group_deps"), control_inputs=ops)
        self.operations.append(op)
        return op

    def as_graph_def(self, shapes: dict | None = None) -> str:
        """The whole graph as ``.xir`` text (see ``graph_def.py``, which installs itself in
        ``WRITERS`` when ``xlalite.graph`` is imported: this module imports nothing above it)."""
        return WRITERS["graph_def"](self, shapes)


#: functions of the modules above this one that Graph's methods call (see ``as_graph_def``)
WRITERS: dict[str, Callable[..., Any]] = {}
