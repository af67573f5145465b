"""Eager ``Tensor.backward()``: recorded ops become IR, differentiated by the autodiff pass.

Every eager op on a tensor that requires grad leaves a :class:`~xlalite.frontend.tensor.Node`
behind (define-by-run, as in PyTorch). ``backward`` walks those nodes from the output, builds
one IR function whose arguments are the leaf tensors, runs ``vjp_function`` on it, executes
the gradient program on the interpreter and accumulates into each leaf's ``.grad``.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from xlalite.frontend.tensor import Node, Tensor, TensorBase, install
from xlalite.ir.builder import finish, new_function
from xlalite.ir.core import Module, Op, Value, instantiate
from xlalite.passes.autodiff import vjp_function


def _topological(root: Tensor) -> tuple[list[Node], list[Tensor]]:
    """Recorded nodes in execution order, and the leaf tensors they read (first-seen order)."""
    order: list[Node] = []
    leaves: dict[int, Tensor] = {}
    seen: set[int] = set()
    stack: list[tuple[Tensor | Node, bool]] = [(root, False)]
    while stack:  # iterative DFS: recorded chains can be long
        item, expanded = stack.pop()
        if isinstance(item, Node):
            if expanded:
                order.append(item)
            elif id(item) not in seen:
                seen.add(id(item))
                stack.append((item, True))
                stack.extend((x, False) for x in reversed(item.inputs))
        elif item._node is None:
            leaves.setdefault(id(item), item)
        else:
            stack.append((item._node, False))
    return order, list(leaves.values())


def build_function(root: Tensor, graph: tuple[list[Node], list[Tensor]] | None = None
                   ) -> tuple[Module, list[Tensor]]:
    """The recorded computation of `root` as an IR module, and its argument tensors
    (`graph`: the result of ``_topological(root)`` when the caller already has it)."""
    order, leaves = graph or _topological(root)
    module = Module()
    func, b = new_function(module, "recorded", [t.type for t in leaves],
                           arg_names=[f"t{i}" for i in range(len(leaves))])
    leaf_values = {id(t): a for t, a in zip(leaves, func.args)}
    results: dict[int, list[Value]] = {}

    def value(t: Tensor) -> Value:
        return leaf_values[id(t)] if t._node is None else results[id(t._node)][t._index]

    for node in order:
        operands = [value(x) for x in node.inputs]
        if isinstance(node.op, Op):
            op = b.insert(instantiate(node.op, operands))
        else:
            name, attrs = node.op
            op = b.create(name, operands, attrs)
        results[id(node)] = op.results
    finish(func, b, [value(root)])
    return module, leaves


def apply_grad_hooks(leaves: list[Any], grads: list[Any]) -> list[Any]:
    """`grads` (of `leaves`) after the leaves' ``grad_hooks``: each hook is called once with
    every leaf that holds it and their fresh gradients, in leaf order, and returns the
    gradients to use (DistributedDataParallel averages them over ranks, bucket by bucket)."""
    grads = list(grads)
    groups: dict[int, tuple[Any, list[int]]] = {}
    for i, leaf in enumerate(leaves):
        for hook in getattr(leaf, "grad_hooks", ()):
            groups.setdefault(id(hook), (hook, []))[1].append(i)
    for hook, idx in groups.values():
        new = hook([leaves[i] for i in idx], [grads[i] for i in idx])
        for i, g in zip(idx, new, strict=True):
            grads[i] = g
    return grads


def backward(root: Tensor, gradient: object = None, retain_graph: bool = False) -> None:
    if not root.requires_grad:
        raise RuntimeError("backward() needs a tensor computed from tensors with "
                           "requires_grad=True")
    if gradient is None and root.type.rank != 0:
        raise RuntimeError(f"backward() of a non-scalar {root.type} needs `gradient` (the "
                           "cotangent of this tensor)")
    graph = _topological(root)
    order = graph[0]
    if any(node.freed for node in order):
        raise RuntimeError("trying to backward through the graph a second time; pass "
                           "retain_graph=True to the first backward() to allow it")
    module, leaves = build_function(root, graph)
    wrt = [i for i, t in enumerate(leaves) if t.requires_grad]
    gfunc = vjp_function(module.main, wrt, seed=0 if gradient is None else None)
    inputs = [t.array for t in leaves]
    if gradient is not None:
        ct = np.asarray(gradient.array if isinstance(gradient, Tensor) else gradient,
                        dtype=root.dtype)
        if ct.shape != root.shape:
            raise ValueError(f"gradient has shape {ct.shape}, expected {root.shape}")
        inputs.append(ct)
    from xlalite.backends.interpreter.interpreter import run_function

    with np.errstate(all="ignore"):
        grads = run_function(gfunc, inputs)[1:]
    hooked = apply_grad_hooks([leaves[i] for i in wrt], [Tensor(g) for g in grads])
    for i, g in zip(wrt, hooked):
        leaf = leaves[i]
        leaf.grad = g if leaf.grad is None else Tensor(leaf.grad.array + g.array)
    if not retain_graph:
        for node in order:
            node.freed = True


def traced_backward(loss: Any, gradient: Any = None) -> None:
    """``loss.backward()`` while tracing: the function traced so far, with `loss` as its
    output, is differentiated by ``vjp_function`` with respect to every parameter read so far;
    the gradient program is inlined into the same trace (CSE then merges the recomputed
    forward ops) and each parameter's ``.grad`` becomes its gradient tracer until the trace
    ends."""
    from xlalite.frontend.numpy_api import asarray
    from xlalite.frontend.tensor import Tracer
    from xlalite.frontend.tracing import inline_function
    from xlalite.ir.core import RETURN, Function, Op, clone_op

    trace = loss.trace
    if gradient is None and loss.type.rank != 0:
        raise RuntimeError(f"backward() of a non-scalar {loss.type} needs `gradient`")
    func = trace.builder.block.parent
    snapshot = Function("loss", func.arg_types, [loss.type], [a.name_hint for a in func.args])
    mapping = dict(zip(func.args, snapshot.args))
    for op in func.body.ops:
        snapshot.body.append(clone_op(op, mapping))
    snapshot.body.append(Op(RETURN, [mapping[loss.value]], []))
    params = [(x, arg) for x, arg in trace.state_args.values()
              if x.requires_grad and x.type.dtype.is_float]
    grad_fn = vjp_function(snapshot, [arg.index for _, arg in params],
                           seed=0 if gradient is None else None)
    inputs: list[TensorBase] = [Tracer(a, trace) for a in func.args]
    if gradient is not None:
        inputs.append(asarray(gradient, loss.dtype))
    results = inline_function(grad_fn, inputs, trace)
    fresh = apply_grad_hooks([x for x, _ in params], list(results[1:]))
    for (x, _), g in zip(params, fresh):
        key = id(x)
        if key not in trace.saved_grads:
            trace.saved_grads[key] = (x, x.grad)
        trace.grads[key] = g if key not in trace.grads else trace.grads[key] + g
        x.grad = trace.grads[key]


install(autograd=sys.modules[__name__])  # Tensor.backward() calls this module
