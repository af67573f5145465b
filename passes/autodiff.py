"""``autodiff``: reverse-mode differentiation as an IR-to-IR transform.

``vjp_function(func, wrt, seed)`` returns a new function that recomputes ``func``'s outputs and
then walks the ops in reverse, asking each op's declared VJP rule (``OpDef.vjp``) for the
cotangents of its operands, summing fan-in. The result is ordinary IR: it prints, verifies,
runs, goes through canonicalize/CSE/DCE/fusion, and can be differentiated again.

* ``seed=k``: the function's output k must be a float scalar; its cotangent is 1 (``grad``).
* ``seed=None``: the new function takes one cotangent argument per output (``vjp``).

Signature: ``(args..., [cotangents...]) -> (outputs..., d/d args[wrt]...)``. Integer and bool
values carry no gradient; asking for the gradient of an integer argument is an error. Ops
declared ``differentiable=False`` (compare, argmax, rng, ...) stop the gradient.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xlalite.ir.builder import Builder
from xlalite.ir.core import TERMINATORS, Function, Module, Value, clone_op
from xlalite.ops.emit import Emitter
from xlalite.ops.registry import get_op
from xlalite.passes.manager import Pass, PassError, register_pass


class AutodiffError(PassError):
    """The requested derivative does not exist or cannot be built."""


def _check_wrt(func: Function, wrt: Sequence[int]) -> None:
    for i in wrt:
        if not 0 <= i < len(func.args):
            raise AutodiffError(f"@{func.name} has {len(func.args)} arguments; cannot "
                                f"differentiate with respect to #{i}", func.loc)
        arg = func.args[i]
        if not arg.type.dtype.is_float:
            name = f" ('{arg.name_hint}')" if arg.name_hint else ""
            raise AutodiffError(f"cannot differentiate with respect to argument #{i}{name} of "
                                f"type {arg.type}: only floating-point values have gradients",
                                func.loc)


def vjp_function(func: Function, wrt: Sequence[int], seed: int | None = 0,
                 name: str | None = None) -> Function:
    """The gradient function of `func` (see the module docstring for its signature)."""
    _check_wrt(func, wrt)
    outputs = func.outputs
    if seed is not None:
        out = outputs[seed] if 0 <= seed < len(outputs) else None
        if out is None or out.type.rank != 0 or not out.type.dtype.is_float:
            shown = out.type if out is not None else "nothing"
            raise AutodiffError(f"gradients need a scalar floating-point output; output #{seed} "
                                f"of @{func.name} is {shown} (use a vjp with cotangents)",
                                func.loc)
    ct_types = [] if seed is not None else [v.type for v in outputs]
    names = [a.name_hint for a in func.args] + [f"ct{i}" for i in range(len(ct_types))]
    new = Function(name or func.name, func.arg_types + ct_types, [], names, func.loc)
    new.attributes = {k: v for k, v in func.attributes.items() if k == "donate"}
    b = Builder(new.body)
    e = Emitter(b, lambda f, wrt: vjp_function(f, wrt, seed=None))
    mapping: dict[Value, Value] = dict(zip(func.args, new.args))
    forward = []
    for op in func.body.ops:
        if op.name not in TERMINATORS:
            forward.append(b.insert(clone_op(op, mapping)))
    primal_outs = [mapping[v] for v in outputs]

    cotangent: dict[Value, Value] = {}

    def accumulate(v: Value, g: Value) -> None:
        if g.type != v.type:
            raise AutodiffError(f"internal error: a VJP rule produced {g.type} for a value of "
                                f"type {v.type}")
        cotangent[v] = e.add(cotangent[v], g) if v in cotangent else g

    if seed is not None:
        accumulate(primal_outs[seed], e.const(primal_outs[seed], 1.0))
    else:
        for v, ct in zip(primal_outs, new.args[len(func.args):]):
            if v.type.dtype.is_float:
                accumulate(v, ct)

    for op in reversed(forward):
        cts = [cotangent.get(r) for r in op.results]
        if all(c is None for c in cts):
            continue
        opdef = get_op(op.name)
        if not opdef.differentiable:
            continue  # declared: no gradient flows through this op
        if opdef.vjp is None:
            raise AutodiffError(f"no VJP rule for '{op.name}'", op.loc)
        b.loc = op.loc  # gradient ops point at the forward op's source line
        cts = [c if c is not None else e.zeros(r) for c, r in zip(cts, op.results)]
        try:
            op_grads = opdef.vjp(e, op, cts[0] if len(cts) == 1 else cts)
        except AutodiffError:
            raise
        except ValueError as err:  # a rule refusing (while loops, fused kernels)
            where = f"{op.loc}: " if op.loc is not None else ""
            raise AutodiffError(f"{where}{err}", op.loc) from None
        for operand, g in zip(op.operands, op_grads, strict=True):
            if g is not None and operand.type.dtype.is_float:
                accumulate(operand, g)
    b.loc = None
    grads: list[Value] = [cotangent.get(new.args[i]) or e.zeros(new.args[i]) for i in wrt]
    b.ret(*primal_outs, *grads)
    new.result_types = [v.type for v in primal_outs + grads]
    return new


@register_pass
@dataclass(frozen=True)
class Autodiff(Pass):
    """Replace functions by their gradient: (args) -> (outputs..., d output / d args[wrt]...)."""

    name = "autodiff"
    wrt: tuple[int, ...] = ()  # argument indices; empty: every floating-point argument
    func: str = ""  # only this function (empty: all)
    seed: int = 0  # the scalar output to differentiate; -1: take output cotangents (a VJP)

    def apply(self, module: Module) -> dict[str, int]:
        before = sum(len(f.body.ops) for f in module.functions)
        for i, f in enumerate(module.functions):
            if self.func and f.name != self.func:
                continue
            wrt = self.wrt or tuple(j for j, a in enumerate(f.args) if a.type.dtype.is_float)
            module.functions[i] = vjp_function(f, wrt, None if self.seed < 0 else self.seed)
        after = sum(len(f.body.ops) for f in module.functions)
        return {"ops-added": after - before}
