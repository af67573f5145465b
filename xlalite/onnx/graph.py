"""Walking an ONNX graph: each node through its handler, constant nodes folded.

Values in the environment are ``np.ndarray`` (known while tracing) or tensors (computed from
the model's inputs). A node whose inputs are all known runs now, eagerly, and its outputs
stay known: initializer arithmetic and shape subgraphs (``Shape``, ``Gather`` on a shape,
``Concat`` of dims, ``ConstantOfShape``, ``Range``) fold while the model is traced, once per
input signature, so the traced program holds none of them. A known value larger than
`EMBED_LIMIT` elements that meets a traced one enters the program as a resident
:class:`~xlalite.frontend.state.Buffer` (a function argument passed by reference, as a
module's weights are), not as a literal copied into the IR.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import onnx

from xlalite.frontend.state import Buffer
from xlalite.frontend.tensor import Tensor, TensorBase, eager
from xlalite.onnx.registry import HANDLERS, STATIC_INPUTS, Node, OnnxImportError, UnsupportedOpError
from xlalite.onnx.tensors import check_array, to_array

EMBED_LIMIT = 64
#: ops whose every run differs: never folded
_RANDOM = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
                     "Bernoulli", "Multinomial"})
_DEFAULT_DOMAINS = ("", "ai.onnx")
#: ops with subgraphs: their subgraphs read outer values the node does not list as inputs,
#: so whether they fold is for the handler to decide
_SCOPED = frozenset({"If", "Loop", "Scan"})


def safe_name(name: str, taken: set[str]) -> str:
    """An identifier for an ONNX name: word characters only, no leading digit, unique."""
    base = re.sub(r"\W", "_", name, flags=re.ASCII)[:64] or "v"
    if base[0].isdigit():
        base = "v" + base
    out, i = base, 1
    while out in taken:
        out, i = f"{base}_{i}", i + 1
    taken.add(out)
    return out


class Weights:
    """The resident buffers of one model, by the ONNX value name they hold."""

    def __init__(self) -> None:
        self._buffers: dict[str, Buffer] = {}
        self._names: set[str] = set()

    def resident(self, name: str, value: np.ndarray) -> Buffer:
        b = self._buffers.get(name)
        if b is None or b.shape != value.shape or b.dtype != value.dtype \
                or not np.array_equal(b.array, value, equal_nan=True):
            b = Buffer(value, name=safe_name(name, self._names))
            self._buffers[name] = b
        return b

    def __len__(self) -> int:
        return len(self._buffers)

    @property
    def nbytes(self) -> int:
        return sum(b.array.nbytes for b in self._buffers.values())


def _opset(opsets: dict[str, int], domain: str) -> int:
    return opsets.get(domain, opsets.get("ai.onnx", 0) if not domain else 0)


def check_ops(graph: onnx.GraphProto, opsets: dict[str, int]) -> None:
    """Raise UnsupportedOpError for the first node (subgraphs included) no handler takes."""
    for proto in graph.node:
        domain = proto.domain or ""
        if domain not in _DEFAULT_DOMAINS or proto.op_type not in HANDLERS:
            raise UnsupportedOpError(proto.op_type, proto.name, domain, _opset(opsets, domain))
        for a in proto.attribute:
            for g in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                check_ops(g, opsets)


def _all_nodes(graph: onnx.GraphProto):
    """The graph's nodes and, recursively, those of its subgraphs."""
    for n in graph.node:
        yield n
        for a in n.attribute:
            for g in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                yield from _all_nodes(g)


def value_inputs(graph: onnx.GraphProto, names: list[str]) -> set[str]:
    """The graph inputs among `names` whose *values* decide shapes: they feed, directly or
    through other nodes (not through ``Shape``/``Size``, which read only shapes), an input
    position a handler must know at trace time. The model specialises to their values."""
    nodes = list(_all_nodes(graph))
    producer = {out: n for n in nodes for out in n.output if out}
    wanted = [n.input[i] for n in nodes for i in STATIC_INPUTS.get(n.op_type, ())
              if i < len(n.input) and n.input[i]]
    seen: set[str] = set()
    while wanted:
        name = wanted.pop()
        if name in seen:
            continue
        seen.add(name)
        node = producer.get(name)
        if node is not None and node.op_type not in ("Shape", "Size"):
            wanted.extend(i for i in node.input if i)
    return {n for n in names if n in seen}


def _known(value: object) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, Tensor):
        return value.array
    return np.asarray(value)


def run_graph(graph: onnx.GraphProto, env: dict[str, Any], opsets: dict[str, int],
              weights: Weights) -> dict[str, Any]:
    """Evaluate `graph`'s nodes over `env` (inputs and initializers by name), adding each
    node's outputs; returns `env`."""
    for proto in graph.node:
        domain = proto.domain or ""
        opset = _opset(opsets, domain)
        fn = HANDLERS.get(proto.op_type) if domain in _DEFAULT_DOMAINS else None
        if fn is None:
            raise UnsupportedOpError(proto.op_type, proto.name, domain, opset)
        node = Node(proto, opset, _scope(env, opsets, weights))
        inputs: list[Any] = []
        for name in proto.input:
            if not name:
                inputs.append(None)
            elif name not in env:
                raise node.error(f"input {name!r} is produced by no earlier node, graph input "
                                 "or initializer (nodes must be in topological order)")
            else:
                inputs.append(env[name])
        present = [x for x in inputs if x is not None]
        if proto.op_type not in _RANDOM | _SCOPED and \
                not any(isinstance(x, TensorBase) for x in present):
            with eager():
                results = _call(fn, node, inputs)
            results = [None if r is None else check_array(_known(r), f"output of {proto.op_type}")
                       for r in results]
        else:
            inputs = [weights.resident(name, x) if isinstance(x, np.ndarray) and
                      x.size > EMBED_LIMIT else x for name, x in zip(proto.input, inputs)]
            results = _call(fn, node, inputs)
        for name, value in zip(proto.output, results):
            if name:
                env[name] = value
    return env


def _scope(env: dict[str, Any], opsets: dict[str, int], weights: Weights):
    def run(graph: onnx.GraphProto, bindings: dict[str, Any]) -> list[Any]:
        inner = dict(env)
        inner.update((t.name, to_array(t)) for t in graph.initializer)
        inner.update(bindings)
        run_graph(graph, inner, opsets, weights)
        missing = [o.name for o in graph.output if o.name not in inner]
        if missing:
            raise OnnxImportError(f"subgraph {graph.name!r}: outputs {missing} are produced by "
                                  "no node")
        return [inner[o.name] for o in graph.output]
    return run


def _call(fn: Any, node: Node, inputs: list[Any]) -> list[Any]:
    out = fn(node, *inputs)
    results = list(out) if isinstance(out, (tuple, list)) else [out]
    wanted = sum(1 for name in node.proto.output if name)
    if len(results) < len(node.proto.output):
        last = max((i for i, n in enumerate(node.proto.output) if n), default=-1)
        if last >= len(results):
            raise OnnxImportError(f"{node.op_type}: the handler made {len(results)} outputs, the "
                                  f"node asks for {wanted}")
    return results
