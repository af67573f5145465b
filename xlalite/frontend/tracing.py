"""Trace a Python function into an IR module, for concrete arrays or for tracers of an
enclosing trace alike (only the leaves' types matter).

Also ``call_function``: run an IR function on front-end values, either by inlining it into the
innermost active trace (so ``grad`` inside ``jit`` or inside another ``grad`` stays one
program) or, outside any trace, by compiling it.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xlalite.backends.base import Backend
from xlalite.compiler import compile_cached
from xlalite.frontend.numpy_api import asarray
from xlalite.frontend.pytree import TreeDef, flatten, unflatten
from xlalite.frontend.tensor import (
    Tensor,
    TensorBase,
    Trace,
    Tracer,
    active_trace,
    python_array,
    tracing,
)
from xlalite.ir.builder import finish, new_function
from xlalite.ir.core import TERMINATORS, Function, Module, clone_op
from xlalite.ir.types import TensorType
from xlalite.ir.verifier import verify


def leaf_array(leaf: object, where: str) -> np.ndarray:
    """A call-time leaf as an array of a supported dtype (Python scalars: f32/i32/bool)."""
    if isinstance(leaf, Tensor):
        return leaf.array
    from xlalite.runtime.device import DeviceArray

    if isinstance(leaf, DeviceArray):  # an accelerator result passed back in: stays there
        TensorType.of(leaf)  # type: ignore[arg-type]
        return leaf  # type: ignore[return-value]
    if isinstance(leaf, (np.ndarray, np.generic)):
        arr = np.asarray(leaf)
    elif isinstance(leaf, (bool, int, float)):
        try:
            arr = python_array(leaf)
        except OverflowError as e:
            raise OverflowError(f"{where}: {e}") from None
    else:
        raise TypeError(f"{where} has type {type(leaf).__name__}; jit takes arrays, Python "
                        "scalars and tuples/lists/dicts of them (mark other arguments static "
                        "with static_argnums)")
    try:
        TensorType.of(arr)
    except TypeError as e:
        raise TypeError(f"{where}: {e}") from None
    return arr


def _numeric_list(x: object) -> bool:
    if isinstance(x, list):
        return bool(x) and all(_numeric_list(v) for v in x)
    return isinstance(x, (bool, int, float)) and not isinstance(x, np.generic)


def lists_to_arrays(tree: object, where: str = "argument") -> object:
    """`tree` with every (nested) list of Python numbers made an array, as ``torch.tensor``
    and ``np.asarray`` would (f32 for floats, i32 for ints); other lists, tuples and dicts stay
    containers (pytrees), their contents converted alike."""
    if isinstance(tree, list) and _numeric_list(tree):
        try:
            return python_array(tree)
        except ValueError:
            raise ValueError(f"{where} is a ragged nested list (rows of different lengths); "
                             "make it rectangular or pass an array") from None
    if isinstance(tree, (list, tuple)):
        return type(tree)(lists_to_arrays(v, where) for v in tree)
    if isinstance(tree, dict):
        return {k: lists_to_arrays(v, where) for k, v in tree.items()}
    return tree


def leaf_type(leaf: object, where: str) -> TensorType:
    """The type of a leaf: a tensor, an array, a Python scalar, or a TensorType (abstract)."""
    if isinstance(leaf, TensorType):
        return leaf
    if isinstance(leaf, TensorBase):
        return leaf.type
    return TensorType.of(leaf_array(leaf, where))


@dataclass
class Traced:
    """A function traced for one signature."""

    module: Module
    in_trees: list[TreeDef | None]  # None for static arguments
    out_tree: TreeDef
    state_in: list = field(default_factory=list)  # state tensors read (trailing arguments)
    state_out: list = field(default_factory=list)  # state tensors written (trailing results)
    guards: list = field(default_factory=list)  # (key function, key while tracing)

    @property
    def function(self) -> Function:
        return self.module.main


def param_names(fn: Callable) -> list[str]:
    """Names of `fn`'s positional parameters (empty when it has no inspectable signature)."""
    try:
        return list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return []


def trace(fn: Callable, args: Sequence[object], statics: frozenset[int] = frozenset(),
          param_names_: Sequence[str] | None = None) -> Traced:
    """Trace `fn(*args)`; arguments in `statics` are passed through as Python values."""
    names_in = param_names(fn) if param_names_ is None else list(param_names_)
    module = Module()
    types: list[TensorType] = []
    names: list[str] = []
    in_trees: list[TreeDef | None] = []
    for i, arg in enumerate(args):
        pname = names_in[i] if i < len(names_in) else f"arg{i}"
        if i in statics:
            in_trees.append(None)
            continue
        flat, tree = flatten(arg)
        in_trees.append(tree)
        types.extend(leaf_type(x, f"argument '{pname}' (#{i})") for x in flat)
        names.extend(pname if len(flat) == 1 else f"{pname}_{j}" for j in range(len(flat)))
    name = re.sub(r"\W", "_", getattr(fn, "__name__", "main")) or "main"
    func, builder = new_function(module, name, types, arg_names=names)
    tr = Trace(builder)
    tracers = iter([Tracer(v, tr) for v in func.args])
    call_args = [arg if tree is None else unflatten(tree, [next(tracers) for _ in range(tree.num_leaves)])
                 for arg, tree in zip(args, in_trees)]
    values, out_tree = call_traced(fn, call_args, tr)
    state_in = [x for x, _ in tr.state_args.values()]
    state_out = list(tr.written.values())
    values += [tr.state_now[id(x)] for x in state_out]
    finish(func, builder, values)
    if state_out:  # written state is donated: updated in place by the compiled step
        first = len(func.args) - len(state_in)
        position = {id(x): i for i, x in enumerate(state_in)}  # by identity: == is elementwise
        func.attributes["donate"] = tuple(first + position[id(x)] for x in state_out)
    return Traced(verify(module), in_trees, out_tree, state_in, state_out,
                  list(tr.guards.values()))


def call_traced(fn: Callable, call_args: Sequence[object], tr: Trace) -> tuple[list, TreeDef]:
    """Run `fn(*call_args)` with `tr` the innermost trace; the values of its (flattened)
    results in `tr` and their structure. The trace is closed afterwards, whatever happens."""
    try:
        with tracing(tr):
            out = fn(*call_args)
            out_flat, out_tree = flatten(out)
            values = [tr.value_of(asarray(o)) for o in out_flat]
    finally:
        tr.open = False
        for x, old in tr.saved_grads.values():
            x.grad = old  # gradient tracers never outlive their trace
    return values, out_tree


def inline_function(func: Function, inputs: Sequence[TensorBase], trace_: Trace) -> list[Tracer]:
    """Clone `func`'s body into `trace_` with its arguments bound to `inputs`."""
    mapping = {a: trace_.value_of(x) for a, x in zip(func.args, inputs, strict=True)}
    for op in func.body.ops:
        if op.name not in TERMINATORS:
            trace_.builder.insert(clone_op(op, mapping))
    return [Tracer(mapping[v], trace_) for v in func.outputs]


def call_function(func: Function, inputs: Sequence[Any],
                  backend: str | Backend = "interpreter") -> list:
    """Run `func` on front-end values: staged into the innermost trace when one is active or an
    input is a tracer, otherwise compiled through the one compile path (with the target's
    pipeline, remembered by the program's text, so the same program compiles once) and
    executed, returning NumPy arrays."""
    tr = active_trace(inputs)
    if tr is not None:
        return inline_function(func, [asarray(x) for x in inputs], tr)
    executable = compile_cached(Module([func]), backend)
    return list(executable(*[leaf_array(x, "input") for x in inputs]))
