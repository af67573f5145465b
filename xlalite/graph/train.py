"""Gradients and optimizers of graphs: ``xg.gradients`` and ``xg.train.*Optimizer``.

``minimize(loss)`` adds a ``gradients`` node for the trainable variables and, per variable, the
``assign`` nodes of its update; it returns one ``group`` operation to fetch. Optimizer slots
(momentum, Adam's moments and step count) are variables too, so
``global_variables_initializer()`` called after ``minimize`` initialises them, as in TF1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from xlalite.frontend import numpy_api as xl
from xlalite.frontend.errors import located
from xlalite.graph.core import GraphError, GraphTensor, Operation, Variable
from xlalite.graph.session import prune


def gradients(ys: GraphTensor | Sequence[GraphTensor], xs: GraphTensor | Sequence[GraphTensor],
              grad_ys: Any = None, name: str = "gradients") -> list[GraphTensor | None]:
    """The gradient of ``sum(ys * grad_ys)`` (``sum(ys)`` by default) with respect to each of
    `xs`: one tensor per x, or None for an x the ys do not depend on (as ``tf.gradients``)."""
    ys = [ys] if isinstance(ys, GraphTensor) else list(ys)
    xs = [xs] if isinstance(xs, GraphTensor) else list(xs)
    seeds = [None] * len(ys) if grad_ys is None else (
        [grad_ys] if not isinstance(grad_ys, (list, tuple)) else list(grad_ys))
    if not ys or not xs or len(seeds) != len(ys):
        raise GraphError(located("gradients needs ys, xs, and one grad_y per y"))
    graph = ys[0].graph
    for t in ys + xs:
        if not isinstance(t, GraphTensor) or t.graph is not graph:
            raise GraphError(located(f"gradients takes tensors of one graph, got {t!r}"))
        if not np.issubdtype(t.dtype, np.floating):
            raise GraphError(located(f"gradients of or with respect to '{t.name}' "
                                     f"({t.shape_text()}): only float tensors have gradients"))
    needed = {t for op in prune([y.op for y in ys]) for t in op.outputs}
    connected = [x for x in xs if x in needed]
    if not connected:
        return [None] * len(xs)
    seed_tensors = [g for g in seeds if isinstance(g, GraphTensor)]
    op = Operation(graph, "gradients", graph.unique_name(name), args=(ys, connected, seed_tensors))
    op.ys, op.xs, op.grad_ys = ys, connected, seeds
    outs = iter(graph._add(op, [list(ps) for ps in zip(*(x.probes for x in connected))]))
    return [next(outs) if x in needed else None for x in xs]


class Optimizer:
    """Base of the graph optimizers: ``minimize``, ``compute_gradients``, ``apply_gradients``."""

    def __init__(self, learning_rate: float, name: str):
        self.learning_rate, self.name = learning_rate, name

    def compute_gradients(self, loss: GraphTensor, var_list: Sequence[Variable] | None = None
                          ) -> list[tuple[GraphTensor | None, Variable]]:
        var_list = list(loss.graph.trainable_variables if var_list is None else var_list)
        if not var_list:
            raise GraphError(located("minimize: the graph has no trainable variables"))
        return list(zip(gradients(loss, var_list, name=f"{self.name}/gradients"), var_list))

    def apply_gradients(self, grads_and_vars: Sequence[tuple[GraphTensor | None, Variable]],
                        name: str | None = None) -> Operation:
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        if not pairs:
            raise GraphError(located("no gradients: the loss depends on none of the variables"))
        graph = pairs[0][1].graph
        updates = self._extra_updates(graph) + [t for g, v in pairs for t in self._update(g, v)]
        return graph.group(*updates, name=name or self.name)

    def minimize(self, loss: GraphTensor, var_list: Sequence[Variable] | None = None,
                 name: str | None = None) -> Operation:
        """One operation that, fetched, takes one step downhill on `loss`."""
        return self.apply_gradients(self.compute_gradients(loss, var_list), name)

    def _slot(self, var: Variable, slot: str) -> Variable:
        return Variable(np.zeros(var.type.shape, var.dtype), name=f"{var.op.name}/{self.name}/{slot}",
                        trainable=False, graph=var.graph)

    def _extra_updates(self, graph: Any) -> list[GraphTensor]:
        return []

    def _update(self, g: GraphTensor, var: Variable) -> list[GraphTensor]:
        raise NotImplementedError


class GradientDescentOptimizer(Optimizer):
    """``var -= learning_rate * grad``."""

    def __init__(self, learning_rate: float, name: str = "GradientDescent"):
        super().__init__(learning_rate, name)

    def _update(self, g: GraphTensor, var: Variable) -> list[GraphTensor]:
        return [var.assign(var - self.learning_rate * g)]


class MomentumOptimizer(Optimizer):
    """TF1's momentum: ``accum = momentum * accum + grad; var -= learning_rate * accum`` (with
    `use_nesterov`, ``var -= learning_rate * (grad + momentum * accum)``)."""

    def __init__(self, learning_rate: float, momentum: float, use_nesterov: bool = False,
                 name: str = "Momentum"):
        super().__init__(learning_rate, name)
        self.momentum, self.use_nesterov = momentum, use_nesterov

    def _update(self, g: GraphTensor, var: Variable) -> list[GraphTensor]:
        accum = self._slot(var, "Momentum")
        new = self.momentum * accum + g
        step = g + self.momentum * new if self.use_nesterov else new
        return [accum.assign(new), var.assign(var - self.learning_rate * step)]


class AdamOptimizer(Optimizer):
    """TF1's Adam: bias correction folded into the step size,
    ``lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)``, ``var -= lr_t * m / (sqrt(v) + epsilon)``."""

    def __init__(self, learning_rate: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 epsilon: float = 1e-8, name: str = "Adam"):
        super().__init__(learning_rate, name)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self._t: GraphTensor | None = None

    def _extra_updates(self, graph: Any) -> list[GraphTensor]:
        step = Variable(np.float32(0), name=f"{self.name}/step", trainable=False, graph=graph)
        self._t = step + 1.0
        return [step.assign(self._t)]

    def _update(self, g: GraphTensor, var: Variable) -> list[GraphTensor]:
        m, v = self._slot(var, "m"), self._slot(var, "v")
        m_new = self.beta1 * m + (1 - self.beta1) * g
        v_new = self.beta2 * v + (1 - self.beta2) * g * g
        t = self._t
        assert t is not None  # set by _extra_updates, which apply_gradients calls first
        lr_t = self.learning_rate * xl.sqrt(1 - self.beta2 ** t) / (1 - self.beta1 ** t)
        step = lr_t * m_new / (xl.sqrt(v_new) + self.epsilon)
        return [m.assign(m_new), v.assign(v_new), var.assign(var - step.astype(var.dtype))]
