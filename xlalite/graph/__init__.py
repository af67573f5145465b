"""``xlalite.graph``: the static-graph programming model of TensorFlow 1, on xlalite's IR.

    import xlalite.graph as xg
    g = xg.Graph()
    with g.as_default():
        x = xg.placeholder(xl.float32, (None, 784), name="x")
        w = xg.Variable(np.zeros((784, 10), np.float32), name="w")
        loss = xl.mean((x @ w) ** 2)
        train = xg.train.GradientDescentOptimizer(0.1).minimize(loss)
    with xg.Session(g) as sess:
        sess.run(xg.global_variables_initializer())
        sess.run([train, loss], feed_dict={x: batch})

Build a graph of placeholders, variables, constants and any xlalite operation; a
:class:`Session` compiles and runs the part that the fetches need (see ``session.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from xlalite.graph import train
from xlalite.graph.core import (
    PROBE_SIZES,
    Graph,
    GraphError,
    GraphTensor,
    Operation,
    Variable,
    default_graph,
)
from xlalite.graph.graph_def import import_graph_def
from xlalite.graph.session import Session
from xlalite.graph.train import gradients

Tensor = GraphTensor
get_default_graph = default_graph


def placeholder(dtype: Any, shape: Sequence[int | None], name: str | None = None) -> GraphTensor:
    """A placeholder of the default graph (see :meth:`Graph.placeholder`)."""
    return default_graph().placeholder(dtype, shape, name)


def constant(value: Any, dtype: Any = None, name: str | None = None) -> GraphTensor:
    return default_graph().constant(value, dtype, name)


def assign(var: Variable, value: Any, name: str | None = None) -> GraphTensor:
    """A node that makes `value` the value of `var` when it runs (see :meth:`Graph.assign`)."""
    return var.graph.assign(var, value, name)


def group(*inputs: Any, name: str | None = None) -> Operation:
    """An operation that runs all of `inputs` (of one graph; the default one when empty)."""
    graph = next((x.graph for x in _flat(inputs)), None) or default_graph()
    return graph.group(*inputs, name=name)


def identity(x: GraphTensor, name: str | None = None) -> GraphTensor:
    """`x` under a name of your choosing (for fetching by name, or reading the graph)."""
    return x.graph.add_call(_identity, (x,), {}, name=name)


def _identity(x: Any) -> Any:
    return x


def _flat(tree: Any) -> list:
    from xlalite.frontend.pytree import flatten

    return [x for x in flatten(list(tree))[0] if isinstance(x, (GraphTensor, Operation))]


def global_variables(graph: Graph | None = None) -> list[Variable]:
    return list((graph or default_graph()).variables)


def trainable_variables(graph: Graph | None = None) -> list[Variable]:
    return (graph or default_graph()).trainable_variables


def variables_initializer(var_list: Sequence[Variable], name: str = "init") -> Operation:
    """An operation that sets each of `var_list` to its initial value."""
    graph = var_list[0].graph if var_list else default_graph()
    return graph.group(*[v.initializer for v in var_list], name=name)


def global_variables_initializer(graph: Graph | None = None) -> Operation:
    """An operation that initialises every variable of the graph made so far."""
    graph = graph or default_graph()
    return variables_initializer(graph.variables) if graph.variables else graph.group(name="init")


__all__ = ["Graph", "GraphError", "GraphTensor", "Operation", "PROBE_SIZES", "Session", "Tensor",
           "Variable", "assign", "constant", "default_graph", "get_default_graph", "global_variables",
           "global_variables_initializer", "gradients", "group", "identity", "import_graph_def",
           "placeholder", "train", "trainable_variables", "variables_initializer"]
