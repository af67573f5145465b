"""``custom_vjp``: define a function's forward and backward passes in Python (the seeds'
custom autograd ``Function``), as in JAX::

    @xl.custom_vjp
    def clip_gradient(x):
        return x

    def fwd(x):
        return x, ()                      # output, residuals saved for bwd

    def bwd(residuals, g):
        return (xl.minimum(xl.maximum(g, -1.0), 1.0),)   # one cotangent per argument

    clip_gradient.defvjp(fwd, bwd)

The call becomes one ``xl.custom_vjp`` op whose regions are the traced ``fwd`` and ``bwd``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from xlalite.frontend.numpy_api import asarray, zeros
from xlalite.frontend.pytree import flatten, unflatten
from xlalite.frontend.regions import apply_template
from xlalite.frontend.tracing import Traced, trace
from xlalite.ir.core import RETURN, YIELD, Op, Region


def _as_region(traced: Traced) -> Region:
    """The traced function's body as a region block ending in ``xl.yield``."""
    block = traced.function.body
    ret = block.terminator
    assert ret is not None and ret.name == RETURN
    outs = list(ret.operands)
    ret.erase()
    block.append(Op(YIELD, outs, []))
    block.parent = None
    return Region([block])


class custom_vjp:  # noqa: N801  (decorator named like the JAX one)
    """Wrap `fun` so that reverse-mode differentiation uses ``defvjp``'s rule."""

    def __init__(self, fun: Callable):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.fwd: Callable | None = None
        self.bwd: Callable | None = None

    def defvjp(self, fwd: Callable, bwd: Callable) -> custom_vjp:
        """`fwd(*args) -> (out, residuals)`; `bwd(residuals, out_cotangent) -> tuple` with one
        cotangent (or None) per argument."""
        self.fwd, self.bwd = fwd, bwd
        return self

    def __call__(self, *args: Any) -> Any:
        if self.fwd is None or self.bwd is None:
            raise TypeError(f"{self.fun.__name__}: call defvjp(fwd, bwd) before using it")
        user_bwd = self.bwd
        flat_args = [asarray(x) for a in args for x in flatten(a)[0]]
        fwd = trace(self.fwd, args)
        tree = fwd.out_tree
        if tree.kind not in ("tuple", "list") or len(tree.children) != 2:
            raise TypeError(f"{self.fun.__name__}: fwd must return (output, residuals)")
        out_tree, res_tree = tree.children
        fwd_types = fwd.function.result_types
        n_out = out_tree.num_leaves
        res_types, out_types = fwd_types[n_out:], fwd_types[:n_out]

        def bwd_flat(residuals: Any, cotangent: Any) -> list:
            cts = user_bwd(residuals, cotangent)
            if not isinstance(cts, tuple) or len(cts) != len(args):
                raise TypeError(f"{self.fun.__name__}: bwd must return a tuple with one "
                                f"cotangent per argument ({len(args)})")
            flat: list[Any] = []
            for ct, arg in zip(cts, args):
                leaves = flatten(arg)[0]
                if ct is None:
                    flat.extend(zeros(asarray(x).shape, asarray(x).dtype) for x in leaves)
                else:
                    flat.extend(flatten(ct)[0])
            return flat

        bwd = trace(bwd_flat, (unflatten(res_tree, res_types), unflatten(out_tree, out_types)))
        template = Op("xl.custom_vjp", [], fwd_types,
                      {"num_outputs": n_out, "name": self.fun.__name__},
                      [_as_region(fwd), _as_region(bwd)])
        results = apply_template(template, flat_args)
        return unflatten(out_tree, results[:n_out])
