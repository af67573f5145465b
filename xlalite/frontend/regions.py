"""Tracing Python functions into region bodies (for ``xl.cond``, ``xl.while_loop``, ``xl.scan``).

A body is traced once, into a block of its own, by a :class:`BodyTrace`. What the body reads
from outside becomes an explicit operand of the op (regions are isolated from above): tracers
of enclosing traces, parameters and other state tensors, and eager tensors that require
gradients (so ``backward()`` reaches them). Other eager tensors are baked in as constants.
``apply_template`` stages the finished op into the enclosing trace, or runs it at once on the
interpreter (eager mode), recording it for ``backward()``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xlalite.frontend.errors import TracerError, user_location
from xlalite.frontend.numpy_api import asarray
from xlalite.frontend.pytree import TreeDef, flatten, unflatten
from xlalite.frontend.tensor import Tensor, TensorBase, Trace, Tracer, active_trace, record
from xlalite.frontend.tracing import call_traced
from xlalite.ir.builder import Builder
from xlalite.ir.core import YIELD, Block, Op, Region, Value, instantiate
from xlalite.ir.types import TensorType


class BodyTrace(Trace):
    """One body being traced; `parent` is the trace the op will be staged into (None when
    eager). ``captured`` maps id(outer object) to (the object, its block argument)."""

    def __init__(self, block: Block, parent: Trace | None):
        super().__init__(Builder(block))
        self.parent = parent
        self.captured: dict[int, tuple[TensorBase, Value]] = {}

    def capture(self, x: TensorBase) -> Value:
        key = id(x)
        if key not in self.captured:
            self.captured[key] = (x, self.builder.block.add_arg(x.type))
        return self.captured[key][1]

    def _encloses(self, trace: Trace) -> bool:
        t = self.parent
        while t is not None:
            if t is trace:
                return True
            t = getattr(t, "parent", None)
        return False

    def value_of(self, x: TensorBase) -> Value:
        if isinstance(x, Tracer) and x.trace is not self and x.trace.open \
                and self._encloses(x.trace):
            return self.capture(x)
        if isinstance(x, Tensor) and (x.is_state or x.requires_grad):
            return self.capture(x)
        return super().value_of(x)

    def read_state(self, x: Tensor) -> Value:
        return self.capture(x)

    def write_state(self, x: Tensor, new: TensorBase) -> None:
        raise TracerError("a parameter or buffer is assigned inside an xl.cond / while_loop / "
                          "scan body", "Return the new value from the body (as part of the carry) "
                          "and assign it after the loop.")


@dataclass
class Body:
    """A traced body: its block (arguments: the explicit ones, then captures), the values it
    returns (flattened) and their structure."""

    block: Block
    outputs: list[Value]
    tree: TreeDef
    trace: BodyTrace

    @property
    def output_types(self) -> list[TensorType]:
        return [v.type for v in self.outputs]


def trace_body(fn: Callable, args: Sequence[Any], parent: Trace | None) -> Body:
    """Trace `fn(*args)`, where each leaf of `args` is a TensorType (or a value, whose type
    is used): the leaves become block arguments."""
    leaves, tree = flatten(tuple(args))
    block = Block([leaf if isinstance(leaf, TensorType) else asarray(leaf).type for leaf in leaves])
    tr = BodyTrace(block, parent)
    call_args = unflatten(tree, [Tracer(a, tr) for a in block.args])
    values, out_tree = call_traced(fn, call_args, tr)
    return Body(block, values, out_tree, tr)


def captures(*bodies: Body) -> list[TensorBase]:
    """The outer objects any of `bodies` captured, in first-seen order."""
    seen: dict[int, TensorBase] = {}
    for body in bodies:
        for key, (obj, _) in body.trace.captured.items():
            seen.setdefault(key, obj)
    return list(seen.values())


def region(body: Body, consts: Sequence[TensorBase], front: bool,
           outputs: Sequence[Value] | None = None) -> Region:
    """`body` as a region whose block takes `consts` (captures of any body, in this order;
    unused ones too) before (`front`) or after its explicit arguments, yielding `outputs`
    (by default what the body returned)."""
    block = body.block
    n_explicit = len(block.args) - len(body.trace.captured)
    explicit = block.args[:n_explicit]
    const_args = [body.trace.captured[id(x)][1] if id(x) in body.trace.captured
                  else Value(x.type, block, 0) for x in consts]
    block.args = const_args + explicit if front else explicit + const_args
    for i, a in enumerate(block.args):
        a.index = i
    block.append(Op(YIELD, list(body.outputs if outputs is None else outputs), []))
    return Region([block])


def apply_template(template: Op, inputs: Sequence[TensorBase]) -> list[TensorBase]:
    """Stage `template` (an op without operands) applied to `inputs` into the active trace,
    or run it now on the interpreter, recording it for ``backward()``."""
    tr = active_trace(inputs)
    if tr is not None:
        op = tr.builder.insert(instantiate(template, [tr.value_of(x) for x in inputs]))
        return [Tracer(r, tr) for r in op.results]
    from xlalite.backends.interpreter.interpreter import run_block

    arrays = [np.asarray(x.array) for x in inputs]  # type: ignore[attr-defined]
    with np.errstate(all="ignore"):
        outs = template.opdef.interpret(template, arrays, run_block)  # type: ignore[misc]
    tensors = [Tensor(np.array(o)) for o in outs]
    record(template, inputs, tensors)
    return list(tensors)


def stage(name: str, inputs: Sequence[TensorBase], result_types: Sequence[TensorType],
          attrs: dict[str, object], regions: Sequence[Region]) -> list[TensorBase]:
    """Apply region op `name` to `inputs` (see apply_template), located at the user's line."""
    template = Op(name, [], list(result_types), attrs, list(regions), user_location())
    return apply_template(template, inputs)
