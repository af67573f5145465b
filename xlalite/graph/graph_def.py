"""A whole graph as ``.xir`` text and back: ``Graph.as_graph_def`` / ``import_graph_def``.

The text is an ordinary module of two functions, readable and checked like any other:

* ``@graph(placeholders..., variables...) -> (outputs...)``: every tensor of the graph that no
  other node consumes (losses, predictions, the new values of ``assign`` nodes);
* ``@init() -> (initial values...)``: what each variable's initializer computes.

Attributes on ``@graph`` name the arguments and results (``placeholders``, ``variables``,
``outputs``) and say which results are assignments to which variable (``assigns``, "" for
none). The IR has no dimensions of unknown size, so a placeholder with a ``None`` dimension
needs a concrete shape in `shapes`. Importing parses and verifies the text (malformed text is
reported with its line and column), then adds placeholders, variables (initialised by the
imported ``@init``), one node calling ``@graph``, and its assign nodes to a graph.
"""

from __future__ import annotations

from typing import Any

from xlalite.frontend.tracing import call_function, trace
from xlalite.graph.core import (
    WRITERS,
    Graph,
    GraphError,
    GraphTensor,
    Operation,
    Variable,
    default_graph,
)
from xlalite.graph.session import Evaluator, prune
from xlalite.ir.core import Function, Module
from xlalite.ir.parser import parse_module
from xlalite.ir.types import TensorType


def _sinks(graph: Graph) -> list[GraphTensor]:
    used = {t for op in graph.operations for t in op.inputs}
    used |= {v.initial_value for v in graph.variables}
    initializers = {v.initializer.op for v in graph.variables}
    return [t for op in graph.operations if op.kind in ("op", "assign", "gradients")
            and op not in initializers for t in op.outputs if t not in used]


def _traced(fn: Any, types: list[TensorType], name: str, arg_names: list[str]) -> Function:
    fn.__name__ = name
    return trace(fn, types, param_names_=arg_names).module.main


def as_graph_def(graph: Graph, shapes: dict | None = None) -> str:
    """See the module docstring; `shapes` maps a placeholder to its concrete shape."""
    shapes = shapes or {}
    holders = [op.outputs[0] for op in graph.operations if op.kind == "placeholder"]
    types = []
    for p in holders:
        shape = tuple(shapes.get(p, p.shape))
        if None in shape or len(shape) != p.ndim:
            raise GraphError(f"placeholder '{p.op.name}' is {p.shape_text()}: give its concrete "
                             "shape in as_graph_def(shapes={placeholder: shape})")
        types.append(TensorType(shape, p.probes[0].type.dtype))
    variables: list[GraphTensor] = list(graph.variables)
    types += [v.type for v in variables]
    outputs = _sinks(graph)

    def body(*values: Any) -> list:
        memo = dict(zip(holders + variables, values))
        Evaluator(memo, {}, set(memo)).run(prune([t.op for t in outputs], set(memo)))
        return [memo[t] for t in outputs]

    def init() -> list:
        memo: dict = {}
        Evaluator(memo, {}, set()).run(prune([v.initial_value.op for v in graph.variables]))
        return [memo[v.initial_value] for v in graph.variables]

    names = [t.op.name.replace("/", "_") for t in holders + variables]
    main = _traced(body, types, "graph", names)
    main.attributes.update({
        "placeholders": tuple(p.op.name for p in holders),
        "variables": tuple(v.op.name for v in variables),
        "outputs": tuple(t.name for t in outputs),
        "assigns": tuple(t.op.target.op.name if t.op.kind == "assign" else ""  # type: ignore[union-attr]
                         for t in outputs)})
    return str(Module([main, _traced(init, [], "init", [])]))


WRITERS["graph_def"] = as_graph_def


def import_graph_def(text: str, input_map: dict[str, GraphTensor] | None = None,
                     name: str = "import", graph: Graph | None = None
                     ) -> dict[str, GraphTensor | Operation]:
    """Add the graph of `text` (from ``as_graph_def``) to `graph` (the default one), each of its
    names prefixed with ``name/``; `input_map` maps placeholder names to tensors to use instead.
    Returns the imported tensors by their original names (placeholders, variables, outputs)."""
    graph = graph if graph is not None else default_graph()
    module = parse_module(text)
    funcs = {f.name: f for f in module.functions}
    main, init = funcs.get("graph"), funcs.get("init")
    keys = ("placeholders", "variables", "outputs", "assigns")
    if main is None or init is None or any(k not in main.attributes for k in keys):
        raise GraphError("not a graph def: it needs functions @graph (with attributes "
                         f"{', '.join(keys)}) and @init")
    holders, var_names, outputs, assigns = (list(main.attributes[k]) for k in keys)
    if len(holders) + len(var_names) != len(main.args) or len(outputs) != len(main.outputs):
        raise GraphError("graph def attributes do not match @graph's arguments and results")
    input_map = input_map or {}
    found: dict[str, GraphTensor | Operation] = {}
    args: list[GraphTensor] = []
    for pname, arg in zip(holders, main.args):
        t = input_map.get(pname) or graph.placeholder(arg.type.dtype, arg.type.shape, f"{name}/{pname}")
        found[pname] = t
        args.append(t)
    initial = graph.add_call(_caller(init, f"{name}/init"), ((),), {})
    for i, (vname, arg) in enumerate(zip(var_names, main.args[len(holders):])):
        var = Variable(initial[i], name=f"{name}/{vname}", graph=graph)
        if var.type != arg.type:
            raise GraphError(f"variable '{vname}': @init gives {var.type}, @graph takes {arg.type}")
        found[vname] = var
        args.append(var)
    results = graph.add_call(_caller(main, f"{name}/graph"), (args,), {})
    for oname, target, t in zip(outputs, assigns, results):
        found[oname] = graph.assign(found[target], t, f"{name}/{oname}") if target else t  # type: ignore[arg-type]
    return found


def _caller(func: Function, name: str) -> Any:
    def call(inputs: list) -> list:
        return call_function(func, inputs)

    call.__name__ = name
    return call
