"""numpy-source: an example xlalite backend that generates NumPy code.

Each top-level op becomes a Python function ``step_k(inputs) -> result``; an ``xl.fusion`` op
becomes one function evaluating its region with NumPy expressions (so a fused group is one
function, as it is one kernel in numba-cpu). Ops without an expression in ``EXPRESSIONS`` fall
back to the op's registry reference, so the backend supports every op from day one and new
expressions can be added one entry at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from xlalite.backends.base import Backend
from xlalite.backends.interpreter import run_op
from xlalite.ir import Function, Module, Op, Value, verify
from xlalite.ir.core import RETURN, YIELD
from xlalite.ops import get_op
from xlalite.passes.pipelines import compose
from xlalite.runtime import Executable

#: op name -> NumPy expression over operand names (a, b, c) and the op's attributes
EXPRESSIONS: dict[str, Callable[[list[str], dict], str]] = {
    "xl.add": lambda x, a: f"np.add({x[0]}, {x[1]})",
    "xl.sub": lambda x, a: f"np.subtract({x[0]}, {x[1]})",
    "xl.mul": lambda x, a: f"np.multiply({x[0]}, {x[1]})",
    "xl.div": lambda x, a: f"np.divide({x[0]}, {x[1]})",
    "xl.max": lambda x, a: f"np.maximum({x[0]}, {x[1]})",
    "xl.min": lambda x, a: f"np.minimum({x[0]}, {x[1]})",
    "xl.neg": lambda x, a: f"np.negative({x[0]})",
    "xl.exp": lambda x, a: f"np.exp({x[0]})",
    "xl.log": lambda x, a: f"np.log({x[0]})",
    "xl.tanh": lambda x, a: f"np.tanh({x[0]})",
    "xl.reduce_sum": lambda x, a: f"np.sum({x[0]}, axis={a['axes']}, dtype={x[0]}.dtype)",
}


class _Writer:
    """Generates one function per top-level op, numbering temporaries."""

    def __init__(self) -> None:
        self.lines: list[str] = ["import numpy as np", ""]
        self.refs: dict[str, Callable] = {}  # fallback references, passed in as globals

    def expr(self, op: Op, args: list[str], names: dict[Value, str]) -> str:
        if op.name in EXPRESSIONS:
            return EXPRESSIONS[op.name](args, op.attributes)
        ref = f"ref_{len(self.refs)}"  # fall back to the registry's NumPy reference
        opdef = get_op(op.name)
        attrs = {k: v for k, v in op.attributes.items() if "." not in k}
        types = op.result_types
        self.refs[ref] = lambda *xs, _o=opdef, _a=attrs, _t=types: _o.evaluate(xs, _a, _t)[0]
        return f"{ref}({', '.join(args)})"

    def function(self, k: int, op: Op) -> None:
        if op.regions and op.name != "xl.fusion":  # control flow: the interpreter runs it
            ref = f"ref_{len(self.refs)}"
            self.refs[ref] = lambda *xs, _op=op: run_op(_op, xs)
            self.lines += [f"def step_{k}(*inputs):", f"    return {ref}(*inputs)", ""]
            return
        if op.name == "xl.fusion":
            block = op.regions[0].blocks[0]
            params = [f"p{i}" for i in range(len(block.args))]
            names = dict(zip(block.args, params))
            body = [o for o in block.ops if o.name != YIELD]
            result = block.terminator.operands[0]
        else:
            params = [f"p{i}" for i in range(len(op.operands))]
            names = dict(zip(op.operands, params))
            body, result = [op], op.results[0]
        self.lines.append(f"def step_{k}({', '.join(params)}):")
        for i, inner in enumerate(body):
            names[inner.results[0]] = f"t{i}"
            text = self.expr(inner, [names[v] for v in inner.operands], names)
            self.lines.append(f"    t{i} = {text}")
        self.lines += [f"    return (np.asarray({names[result]}),)", ""]


def generate(func: Function) -> tuple[str, dict[str, Callable], list[tuple[int, list[int]]]]:
    """Source, fallback references, and the call plan [(step, operand value ids)]."""
    writer = _Writer()
    plan = []
    values = {id(a): i for i, a in enumerate(func.args)}
    for k, op in enumerate(o for o in func.body.ops if o.name != RETURN):
        writer.function(k, op)
        plan.append((k, [values[id(v)] for v in op.operands]))
        for r in op.results:
            values[id(r)] = len(values)
    return "\n".join(writer.lines), writer.refs, plan


class NumpyExecutable(Executable):
    def __init__(self, module: Module, func: Function):
        super().__init__(module, func.name)
        source, refs, self.plan = generate(func)
        namespace: dict[str, object] = dict(refs)
        exec(compile(source, f"<numpy-source @{func.name}>", "exec"), namespace)
        self.steps = [namespace[f"step_{k}"] for k, _ in self.plan]
        index = {id(a): i for i, a in enumerate(func.args)}
        for op in (o for o in func.body.ops if o.name != RETURN):
            for r in op.results:
                index[id(r)] = len(index)
        self.outputs = [index[id(v)] for v in func.outputs]

    def run(self, args: list[np.ndarray]) -> tuple[np.ndarray, ...]:
        values = list(args)
        with np.errstate(all="ignore"):
            for step, (_, operands) in zip(self.steps, self.plan):
                values.extend(step(*[values[i] for i in operands]))
        return tuple(np.array(values[i], copy=True) for i in self.outputs)


@dataclass(frozen=True)
class NumpySourceBackend(Backend):
    """Example backend: NumPy source per fused group; registered by entry point.

    `fuse`: form fused groups first (one function per group); false: one function per op.
    """

    name = "numpy-source"
    fuse: bool = True

    def default_pipeline(self) -> str:
        return compose("legalize", "simplify", *(("fuse",) if self.fuse else ()))

    def supports(self, op_name: str) -> bool:
        return op_name not in ("xl.custom_vjp",)  # the legalize pass inlines those

    def compile(self, module: Module, entry: str | None = None) -> Executable:
        verify(module)
        func = module.get(entry) if entry else module.main
        return NumpyExecutable(module, func)

    def emit_source(self, module: Module) -> str:
        return "\n\n".join(generate(f)[0] for f in verify(module).functions)
