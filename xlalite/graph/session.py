"""``Session``: runs the part of a graph that its fetches need, compiled once per fetch set.

``sess.run(fetches, feed_dict)`` walks back from the fetches to what they need (``prune``):
placeholders must be fed, variables must be initialised in this session, and nothing else of
the graph is touched. The needed nodes are replayed in a Python function that ``jit``
compiles, once per (fetch set, fed tensors) and then per feed signature, as ``jit`` does; so
the run is one program through the usual passes (DCE, fusion, memory planning) and backend.

Variables are the session's state tensors: a run reads them as arguments and the ``assign``
nodes it runs write them back, donated, so they are updated in place. Every read in a run sees
the value from before the run, and the assignments take effect when it ends (TF1 leaves the
order of unsynchronised reads and writes open; this is one fixed answer). Two assignments to
one variable in one run are refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from xlalite.frontend.grad import grad
from xlalite.frontend.jit import DEFAULT_BACKEND, Jitted
from xlalite.frontend.numpy_api import asarray
from xlalite.frontend.pytree import flatten, unflatten
from xlalite.frontend.state import StateTensor
from xlalite.frontend.tensor import Tensor, Tracer, active_trace
from xlalite.graph.core import Graph, GraphError, GraphTensor, Operation, Variable, default_graph
from xlalite.ir.types import DType


def prune(targets: Sequence[Operation], cut: set[GraphTensor] = frozenset()  # type: ignore[assignment]
          ) -> list[Operation]:
    """The operations `targets` need, dependencies first; a tensor in `cut` (fed, or given
    otherwise) is not computed, so what only it needs is left out."""
    order: list[Operation] = []
    seen: set[Operation] = set()
    stack: list[tuple[Operation, bool]] = [(op, False) for op in reversed(targets)]
    while stack:
        op, finished = stack.pop()
        if finished:
            order.append(op)
            continue
        if op in seen or (op.outputs and all(t in cut for t in op.outputs)):
            continue
        seen.add(op)
        stack.append((op, True))
        deps = [t.op for t in op.inputs if t not in cut] + op.control_inputs
        stack.extend((d, False) for d in reversed(deps) if d not in seen)
    return order


class Evaluator:
    """Computes graph tensors inside a trace: `memo` maps a tensor to its value there."""

    def __init__(self, memo: dict[GraphTensor, Any], state: dict[Variable, StateTensor],
                 fed: set[GraphTensor]):
        self.memo, self.state, self.fed = memo, state, fed

    def run(self, ops: Sequence[Operation]) -> None:
        for op in ops:
            if op.outputs and all(t in self.memo for t in op.outputs):
                continue
            getattr(self, f"_{op.kind}")(op)

    def _placeholder(self, op: Operation) -> None:
        raise AssertionError(f"placeholder {op.name} not fed")  # Session checks first

    def _variable(self, op: Operation) -> None:
        # the value from before the run: an argument of the compiled step, read now so that
        # the run's own assignments (applied last) cannot change what its nodes see
        trace = active_trace()
        assert trace is not None
        self.memo[op.outputs[0]] = Tracer(trace.read_state(self.state[op.outputs[0]]), trace)  # type: ignore[index]

    def _constant(self, op: Operation) -> None:
        self.memo[op.outputs[0]] = op.value

    def _op(self, op: Operation) -> None:
        leaves, tree = flatten((op.args, op.kwargs))
        args, kwargs = unflatten(tree, [self.memo[x] if isinstance(x, GraphTensor) else x
                                        for x in leaves])
        assert op.fn is not None
        out = flatten(op.fn(*args, **kwargs))[0]
        self.memo.update(zip(op.outputs, (asarray(o) for o in out)))

    def _assign(self, op: Operation) -> None:
        self.memo[op.outputs[0]] = self.memo[op.inputs[0]]

    def _group(self, op: Operation) -> None:
        pass

    def _gradients(self, op: Operation) -> None:
        """d sum(ys * grad_ys) / d xs, differentiated by the autodiff pass: the part of the
        graph between the xs and the ys becomes a function of the xs and of the leaves it reads
        (placeholders, variables, fed tensors), and ``grad`` of it is inlined here."""
        xs = list(op.xs)
        x_set = set(xs)  # sets and dicts compare tensors by identity; `in` on a list uses ==
        inner = prune([y.op for y in op.ys], x_set | self.fed)
        leaves = [t for o in inner if o.kind in ("placeholder", "variable") for t in o.outputs]
        leaves += [t for o in inner for t in o.inputs if t in self.fed]
        leaves += [y for y in op.ys if y in self.fed]
        leaves = [t for t in dict.fromkeys(leaves) if t not in x_set]
        seeds = [self.memo[g] if isinstance(g, GraphTensor) else g for g in op.grad_ys]

        def total(x_values: list, leaf_values: list, seed_values: list) -> Any:
            memo = dict(zip(xs, x_values))
            memo.update(zip(leaves, leaf_values))
            Evaluator(memo, self.state, self.fed).run(inner)
            terms = [(memo[y] if g is None else memo[y] * g).sum()
                     for y, g in zip(op.ys, seed_values)]
            return sum(terms[1:], terms[0])

        grads = grad(total)([self.memo[x] for x in xs], [self.memo[t] for t in leaves], seeds)
        self.memo.update(zip(op.outputs, grads))


class _Plan:
    """One fetch set with one set of fed tensors: what runs, and its compiled step."""

    def __init__(self, session: Session, fetches: list[GraphTensor | Operation],
                 fed: list[GraphTensor]):
        self.session, self.fed = session, fed
        self.tensors = [f for f in fetches if isinstance(f, GraphTensor)]
        targets = [f.op if isinstance(f, GraphTensor) else f for f in fetches]
        self.order = prune(targets, set(fed))
        self.assigns = [op for op in self.order if op.kind == "assign"]
        self._check(targets)
        self.step = Jitted(self._step, backend=session.backend, pipeline=session.pipeline)

    def _check(self, targets: list[Operation]) -> None:
        state = self.session.state
        written: dict[Variable, Operation] = {}
        for op in self.assigns:
            var = op.target
            assert var is not None
            if var in written:
                raise GraphError(f"one run assigns variable '{var.op.name}' twice ('{written[var].name}' "
                                 f"and '{op.name}'); fetch them in separate runs")
            written[var] = op
        for op in self.order:
            if op.kind == "placeholder":
                raise GraphError(f"fetching {self._needing(targets, op)} needs placeholder "
                                 f"'{op.name}' ({op.outputs[0].shape_text()}), which is not fed: "
                                 "add it to feed_dict")
            if op.kind == "variable" and op.outputs[0] not in state:
                raise GraphError(f"fetching {self._needing(targets, op)} reads variable '{op.name}', "
                                 "which is not initialised in this session: run "
                                 "sess.run(xg.global_variables_initializer()) first")
        for var in written:  # an initializer's target gets its state tensor now
            if var not in state:
                state[var] = StateTensor(np.zeros(var.type.shape, var.dtype), name=var.op.name)

    def _needing(self, targets: list[Operation], leaf: Operation) -> str:
        for op in targets:
            if leaf in prune([op], set(self.fed)):
                return f"'{op.outputs[0].name if op.outputs else op.name}'"
        return "this fetch"

    def _step(self, *fed_values: Any) -> list:
        memo: dict[GraphTensor, Any] = dict(zip(self.fed, fed_values))
        Evaluator(memo, self.session.state, set(self.fed)).run(self.order)
        fetched = [memo[t] for t in self.tensors]
        for op in self.assigns:
            self.session.state[op.target].assign(memo[op.outputs[0]])  # type: ignore[index]
        return fetched


class Session:
    """Runs a graph: holds its variables' values and the compiled steps of its fetch sets.

    `backend` is a target spec as for ``jit`` (``"numba-cpu"``, ``"interpreter"``...)."""

    def __init__(self, graph: Graph | None = None, backend: str = DEFAULT_BACKEND,
                 pipeline: str | None = None):
        self.graph = graph if graph is not None else default_graph()
        self.backend, self.pipeline = backend, pipeline
        self.state: dict[Variable, StateTensor] = {}
        self._plans: dict[tuple, _Plan] = {}
        self.closed = False

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop the variables' values and the compiled steps."""
        self.state.clear()
        self._plans.clear()
        self.closed = True

    def run(self, fetches: Any, feed_dict: dict | None = None) -> Any:
        """The values of `fetches` (a tensor, an operation, or a list/tuple/dict nesting them;
        an operation's value is None) with `feed_dict` giving the values of placeholders (or
        of any tensor, which then is not computed)."""
        if self.closed:
            raise GraphError("this session is closed")
        leaves, tree = flatten(fetches)
        for f in leaves:
            if not isinstance(f, (GraphTensor, Operation)) or f.graph is not self.graph:
                raise GraphError(f"cannot fetch {f!r}: fetches are tensors and operations of "
                                 "this session's graph")
        fed = list((feed_dict or {}).items())
        arrays = [self._feed(t, v) for t, v in fed]
        key = (tuple(map(id, leaves)), tuple(id(t) for t, _ in fed))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = _Plan(self, leaves, [t for t, _ in fed])
        values = iter(plan.step(*arrays))
        return unflatten(tree, [next(values) if isinstance(f, GraphTensor) else None for f in leaves])

    def _feed(self, t: object, value: Any) -> np.ndarray:
        if not isinstance(t, GraphTensor) or t.graph is not self.graph:
            raise GraphError(f"feed_dict keys are tensors of this session's graph, got {t!r}")
        if isinstance(value, Tensor):
            value = value.array
        if isinstance(value, (np.ndarray, np.generic)):
            arr = np.asarray(value)
        else:  # Python numbers and lists take the placeholder's dtype, as in TF
            arr = np.asarray(value, dtype=t.dtype)
        fits = arr.ndim == t.ndim and all(d is None or d == n for d, n in zip(t.shape, arr.shape))
        if arr.dtype != t.dtype or not fits:
            dims = "x".join(map(str, arr.shape))
            try:
                dtype = DType.from_numpy(arr.dtype).value
            except (TypeError, ValueError, KeyError):
                dtype = str(arr.dtype)
            raise GraphError(f"'{t.name}' is {t.shape_text()} but was fed {dtype}[{dims}]")
        return arr
