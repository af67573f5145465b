"""``grad``, ``value_and_grad``, ``vjp``: reverse-mode differentiation of Python functions.

The function is traced to IR, the ``autodiff`` transform builds the gradient IR, and that is
either inlined into the enclosing trace (inside ``jit`` or another ``grad``: this is why
``grad(grad(f))`` works) or compiled and run (outside any trace, cached per signature like
``jit``). Arguments and results may be pytrees (dicts/lists/tuples) of arrays.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from xlalite.frontend.jit import DEFAULT_BACKEND, Jitted
from xlalite.frontend.pytree import flatten, unflatten
from xlalite.frontend.tensor import active_trace
from xlalite.frontend.tracing import call_function, trace
from xlalite.passes.autodiff import vjp_function


def _argnums(argnums: int | Sequence[int], n: int) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for i in nums:
        if not -n <= i < n:
            raise ValueError(f"argnums {i} is out of range for a function of {n} arguments")
    return tuple(i % n for i in nums)


def _leaf_ranges(args: Sequence[Any]) -> list[range]:
    ranges, start = [], 0
    for a in args:
        n = len(flatten(a)[0])
        ranges.append(range(start, start + n))
        start += n
    return ranges


def _value_and_grad_traced(fn: Callable, argnums, has_aux: bool, args: tuple) -> Any:
    """Runs inside a trace: trace `fn`, differentiate, inline the gradient program."""
    nums = _argnums(argnums, len(args))
    traced = trace(fn, args)
    if traced.state_in:
        raise TypeError("grad of a function that reads nn parameters or buffers through a "
                        "closure is not supported: pass them as arguments, or use "
                        "loss.backward() inside the jitted step")
    out_tree = traced.out_tree
    if has_aux and (out_tree.kind not in ("tuple", "list") or len(out_tree.children) != 2):
        raise TypeError("with has_aux=True the function must return a pair (value, aux)")
    value_tree = out_tree.children[0] if has_aux else out_tree
    if value_tree.kind != "leaf":
        raise TypeError("grad needs a function returning one scalar (use vjp for others)")
    ranges = _leaf_ranges(args)
    wrt = [i for n in nums for i in ranges[n]]
    gfunc = vjp_function(traced.function, wrt, seed=0)
    flat_args = [x for a in args for x in flatten(a)[0]]
    results = call_function(gfunc, flat_args)
    n_out = len(traced.function.outputs)
    value = unflatten(out_tree, results[:n_out])
    grads, k = [], n_out
    for n in nums:
        tree = flatten(args[n])[1]
        grads.append(unflatten(tree, results[k:k + tree.num_leaves]))
        k += tree.num_leaves
    grad_out = grads[0] if isinstance(argnums, int) else tuple(grads)
    return value, grad_out


class _Differentiated:
    """Shared machinery: traced when called under a trace, else jit-compiled and cached."""

    def __init__(self, fn: Callable, argnums: int | Sequence[int], has_aux: bool,
                 backend: str):
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]  # an instance, not a function
        self.fn, self.argnums, self.has_aux = fn, argnums, has_aux
        self._compiled = Jitted(self._traced, backend=backend)

    def _traced(self, *args: Any) -> Any:
        return _value_and_grad_traced(self.fn, self.argnums, self.has_aux, args)

    def _value_and_grad(self, *args: Any) -> Any:
        if active_trace([x for a in args for x in flatten(a)[0]]) is not None:
            return self._traced(*args)
        return self._compiled(*args)


class ValueAndGrad(_Differentiated):
    def __call__(self, *args: Any) -> Any:
        return self._value_and_grad(*args)


class Grad(_Differentiated):
    def __call__(self, *args: Any) -> Any:
        value, grads = self._value_and_grad(*args)
        return (grads, value[1]) if self.has_aux else grads


def grad(fn: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
         backend: str = DEFAULT_BACKEND) -> Grad:
    """The gradient of scalar-valued `fn` with respect to argument(s) `argnums`.

    Returns a function with `fn`'s arguments that returns the gradient (a pytree shaped like
    the argument; a tuple of them for a tuple `argnums`), or ``(grad, aux)`` with `has_aux`.
    """
    return Grad(fn, argnums, has_aux, backend)


def value_and_grad(fn: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
                   backend: str = DEFAULT_BACKEND) -> ValueAndGrad:
    """Like ``grad`` but returns ``(value, grad)`` (value is ``(value, aux)`` with has_aux)."""
    return ValueAndGrad(fn, argnums, has_aux, backend)


def vjp(fn: Callable, *primals: Any, backend: str = DEFAULT_BACKEND) -> tuple[Any, Callable]:
    """``(fn(*primals), vjp_fn)`` where ``vjp_fn(cotangent)`` returns the cotangents of all
    primals (a tuple, one pytree per primal). The cotangent has the structure of the output."""
    traced = trace(fn, primals)
    func = traced.function
    flat_primals = [x for p in primals for x in flatten(p)[0]]
    wrt = [i for i, a in enumerate(func.args) if a.type.dtype.is_float]
    gfunc = vjp_function(func, wrt, seed=None)
    outputs = call_function(func, flat_primals, backend)
    n_out = len(func.outputs)

    def vjp_fn(cotangent: Any) -> tuple:
        cts, tree = flatten(cotangent)
        if tree != traced.out_tree:
            raise TypeError("the cotangent must have the structure of the function's output")
        results = call_function(gfunc, flat_primals + cts, backend)[n_out:]
        grads = iter(results)
        per_leaf = [next(grads) if a.type.dtype.is_float else None for a in func.args]
        out, k = [], 0
        for p in primals:
            tree_p = flatten(p)[1]
            out.append(unflatten(tree_p, per_leaf[k:k + tree_p.num_leaves]))
            k += tree_p.num_leaves
        return tuple(out)

    return unflatten(traced.out_tree, outputs), vjp_fn
