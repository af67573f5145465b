"""``xlalite.onnx.export``: a function or module, traced as ``jit`` traces it, written as ONNX.

Each xl op becomes one or a few standard ONNX nodes (a fusion group is written out op by op);
parameters and buffers become initializers named as the module names them (``fc1.weight``),
the function's arguments graph inputs named after its parameters. The traced IR is
simplified first (``canonicalize,cse,dce``), so what is written is what xlalite would run.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from xlalite.frontend.jit import Jitted, jit
from xlalite.ir.core import Block, Op, Value
from xlalite.ir.types import DType
from xlalite.onnx.errors import UnsupportedOpError
from xlalite.onnx.tensors import SUPPORTED
from xlalite.passes.manager import parse_pipeline, run_pipeline

ELEM_TYPE = {DType.from_numpy(dtype): elem for elem, dtype in SUPPORTED.items()}
DEFAULT_OPSET = 17


class _Writer:
    """Accumulates nodes and initializers; names every IR value once."""

    def __init__(self, opset: int):
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.names: dict[Value, str] = {}
        self.taken: set[str] = set()
        self.counter = 0

    def fresh(self, hint: str = "t") -> str:
        while True:
            self.counter += 1
            name = f"{hint}_{self.counter}"
            if name not in self.taken:
                self.taken.add(name)
                return name

    def claim(self, name: str) -> str:
        base, i = name, 1
        while name in self.taken:
            name, i = f"{base}_{i}", i + 1
        self.taken.add(name)
        return name

    def const(self, array: np.ndarray, hint: str = "c") -> str:
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op_type: str, inputs: Sequence[str], n_out: int = 1, **attrs: Any) -> list[str]:
        outs = [self.fresh(op_type.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, **attrs))
        return outs

    def name(self, v: Value) -> str:
        return self.names[v]


_BINARY = {"xl.add": "Add", "xl.sub": "Sub", "xl.mul": "Mul", "xl.div": "Div", "xl.max": "Max",
           "xl.min": "Min", "xl.pow": "Pow"}
_UNARY = {"xl.neg": "Neg", "xl.abs": "Abs", "xl.sign": "Sign", "xl.exp": "Exp", "xl.log": "Log",
          "xl.tanh": "Tanh", "xl.logistic": "Sigmoid", "xl.sqrt": "Sqrt", "xl.sin": "Sin",
          "xl.cos": "Cos", "xl.erf": "Erf", "xl.floor": "Floor", "xl.ceil": "Ceil",
          "xl.round": "Round"}
_COMPARE = {"eq": "Equal", "lt": "Less", "le": "LessOrEqual", "gt": "Greater",
            "ge": "GreaterOrEqual"}
_REDUCE = {"xl.reduce_sum": "ReduceSum", "xl.reduce_max": "ReduceMax",
           "xl.reduce_min": "ReduceMin", "xl.reduce_prod": "ReduceProd"}


def _ints(v: Sequence[int]) -> np.ndarray:
    return np.asarray(list(v), np.int64)


def _write_op(w: _Writer, op: Op) -> list[str]:
    """The ONNX names of `op`'s results, after appending the nodes computing them."""
    a = op.attributes
    ins = [w.name(v) for v in op.operands]
    name = op.name
    if name in _BINARY:
        return w.node(_BINARY[name], ins)
    if name in _UNARY:
        return w.node(_UNARY[name], ins)
    if name == "xl.rsqrt":
        return w.node("Reciprocal", w.node("Sqrt", ins))
    if name == "xl.log1p":
        one = w.const(np.ones((), op.results[0].type.dtype.numpy), "one")
        return w.node("Log", w.node("Add", [ins[0], one]))
    if name == "xl.rem":
        return w.node("Mod", ins, fmod=1)
    if name == "xl.compare":
        if a["direction"] == "ne":
            return w.node("Not", w.node("Equal", ins))
        return w.node(_COMPARE[a["direction"]], ins)
    if name == "xl.select":
        return w.node("Where", ins)
    if name == "xl.cast":
        return w.node("Cast", ins, to=ELEM_TYPE[a["dtype"]])
    if name == "xl.constant":
        return [w.const(np.ascontiguousarray(a["value"].array), "const")]
    if name == "xl.iota":
        t = op.results[0].type
        counts = np.arange(t.shape[a["dim"]], dtype=t.dtype.numpy)
        view = counts.reshape([-1 if i == a["dim"] else 1 for i in range(t.rank)])
        return [w.const(np.broadcast_to(view, t.shape).copy(), "iota")]
    if name == "xl.broadcast_in_dim":
        return _broadcast(w, op, ins[0])
    if name == "xl.reshape":
        return w.node("Reshape", [ins[0], w.const(_ints(a["shape"]), "shape")])
    if name == "xl.transpose":
        return w.node("Transpose", ins, perm=list(a["perm"]))
    if name in _REDUCE:
        axes = list(a["axes"])
        if not axes:
            return w.node("Identity", ins)
        if name == "xl.reduce_sum" or w.opset >= 18:
            return w.node(_REDUCE[name], [ins[0], w.const(_ints(axes), "axes")], keepdims=0)
        return w.node(_REDUCE[name], ins, axes=axes, keepdims=0)
    if name == "xl.argmax":
        return w.node("ArgMax", ins, axis=a["axis"], keepdims=0)
    if name == "xl.dot_general":
        return _dot(w, op, ins)
    if name == "xl.conv2d":
        (hl, hh), (wl, wh) = a["padding"]
        return w.node("Conv", ins, strides=list(a["stride"]), pads=[hl, wl, hh, wh],
                      dilations=list(a["dilation"]), group=a["groups"])
    if name in ("xl.reduce_window_max", "xl.reduce_window_avg"):
        return _pool(w, op, ins[0])
    if name == "xl.pad":
        if any(a["interior"]):
            raise _unsupported(op, "interior padding")
        pads = _ints(list(a["low"]) + list(a["high"]))
        return w.node("Pad", [ins[0], w.const(pads, "pads"), ins[1]], mode="constant")
    if name == "xl.slice":
        rank = op.operands[0].type.rank
        return w.node("Slice", [ins[0], w.const(_ints(a["start"]), "starts"),
                                w.const(_ints(a["limit"]), "ends"),
                                w.const(_ints(range(rank)), "axes"),
                                w.const(_ints(a["stride"]), "steps")])
    if name == "xl.concatenate":
        return w.node("Concat", ins, axis=a["axis"])
    if name == "xl.gather" and a.get("batch_dims", 0) == 0:
        return w.node("Gather", ins, axis=a["axis"])
    raise _unsupported(op)


def _unsupported(op: Op, why: str = "") -> UnsupportedOpError:
    return UnsupportedOpError(op.name, str(op.loc or ""), "xl", 0,
                              why or "no ONNX export rule for this op yet")


def _broadcast(w: _Writer, op: Op, x: str) -> list[str]:
    src, out = op.operands[0].type, op.results[0].type
    dims = list(op.attributes["dims"])
    if dims != sorted(dims):  # operand dims in result order first
        order = sorted(range(len(dims)), key=lambda i: dims[i])
        x = w.node("Transpose", [x], perm=order)[0]
        dims = [dims[i] for i in order]
        src_shape = [src.shape[i] for i in order]
    else:
        src_shape = list(src.shape)
    spread = [1] * out.rank
    for d, n in zip(dims, src_shape):
        spread[d] = n
    if tuple(spread) != src.shape:
        x = w.node("Reshape", [x, w.const(_ints(spread), "shape")])[0]
    if tuple(spread) == out.shape:
        return [x]
    return w.node("Expand", [x, w.const(_ints(out.shape), "shape")])


def _dot(w: _Writer, op: Op, ins: list[str]) -> list[str]:
    (lc, rc), (lb, rb) = op.attributes["contract"], op.attributes["batch"]
    lr, rr = op.operands[0].type.rank, op.operands[1].type.rank
    nb = len(lb)
    if (list(lb) == list(rb) == list(range(nb)) and list(lc) == [lr - 1]
            and list(rc) == [nb] and lr == nb + 2 and rr == nb + 2) or \
            (nb == 0 and list(lc) == [lr - 1] and list(rc) == [0] and rr <= 2 and lr >= 1):
        return w.node("MatMul", ins)
    if nb == 0 and lr == 2 and rr == 2 and len(lc) == 1:  # a plain matrix product
        a = ins[0] if lc[0] == 1 else w.node("Transpose", [ins[0]], perm=[1, 0])[0]
        b = ins[1] if rc[0] == 0 else w.node("Transpose", [ins[1]], perm=[1, 0])[0]
        return w.node("MatMul", [a, b])
    letters = iter("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    lhs, rhs = [""] * lr, [""] * rr
    for i, j in zip(lb, rb):
        lhs[i] = rhs[j] = next(letters)
    for i, j in zip(lc, rc):
        lhs[i] = rhs[j] = next(letters)
    for k in range(lr):
        lhs[k] = lhs[k] or next(letters)
    for k in range(rr):
        rhs[k] = rhs[k] or next(letters)
    out = [lhs[i] for i in lb] + [lhs[k] for k in range(lr) if k not in lc and k not in lb] + \
        [rhs[k] for k in range(rr) if k not in rc and k not in rb]
    return w.node("Einsum", ins, equation=f"{''.join(lhs)},{''.join(rhs)}->{''.join(out)}")


def _pool(w: _Writer, op: Op, x: str) -> list[str]:
    a = op.attributes
    window, strides, padding = list(a["window"]), list(a["strides"]), list(a["padding"])
    if op.operands[0].type.rank < 3 or window[:2] != [1, 1] or strides[:2] != [1, 1] \
            or [tuple(p) for p in padding[:2]] != [(0, 0), (0, 0)]:
        raise _unsupported(op, "a window over the batch or channel dims")
    pads = [p[0] for p in padding[2:]] + [p[1] for p in padding[2:]]
    kind = "MaxPool" if op.name.endswith("max") else "AveragePool"
    extra = {} if kind == "MaxPool" else {"count_include_pad": 1}
    return w.node(kind, [x], kernel_shape=window[2:], strides=strides[2:], pads=pads, **extra)


def _write_block(w: _Writer, block: Block) -> None:
    for op in block.ops:
        if op.name == "xl.fusion":  # written out op by op
            inner = op.regions[0].blocks[0]
            for arg, v in zip(inner.args, op.operands):
                w.names[arg] = w.name(v)
            _write_block(w, inner)
            for r, y in zip(op.results, inner.ops[-1].operands):
                w.names[r] = w.name(y)
        elif op.name in ("xl.yield", "return"):
            continue
        else:
            for r, out in zip(op.results, _write_op(w, op)):
                w.names[r] = out


def _value_info(name: str, v: Value) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, ELEM_TYPE[v.type.dtype], list(v.type.shape))


def _state_names(fn: Any, state: list[Any]) -> list[str]:
    named: dict[int, str] = {}
    for attr in ("named_parameters", "named_buffers"):
        for qual, t in getattr(fn, attr, lambda: [])():
            named.setdefault(id(t), qual)
    return [named.get(id(t)) or getattr(t, "name", "") or f"state_{i}" for i, t in enumerate(state)]


def _input_names(fn: Callable, n: int) -> list[str]:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []
    out = []
    for i in range(n):
        p = params[i] if i < len(params) else None
        ok = p is not None and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        out.append(p.name if ok and p is not None else f"input_{i}")
    return out


def to_model(fn: Callable | Jitted, example_inputs: Sequence[Any], opset: int = DEFAULT_OPSET,
             input_names: Sequence[str] | None = None,
             output_names: Sequence[str] | None = None) -> onnx.ModelProto:
    """The ONNX model of `fn` traced at `example_inputs` (arrays; their shapes are fixed)."""
    jitted = fn if isinstance(fn, Jitted) else jit(fn)
    inputs = [np.asarray(x) for x in example_inputs]
    lowered = jitted.lower(*inputs)
    module = lowered.module.clone()
    run_pipeline(module, parse_pipeline("canonicalize,cse,dce"))
    func = module.main
    w = _Writer(opset)
    n_in = len(inputs)
    names = list(input_names or _input_names(jitted.fn, n_in))
    if len(names) != n_in:
        raise ValueError(f"{len(names)} input names for {n_in} inputs")
    names += _state_names(jitted.fn, lowered.state_in)
    graph_inputs, state_arrays = [], [np.asarray(t.array) for t in lowered.state_in]
    for i, (arg, name) in enumerate(zip(func.args, names)):
        w.names[arg] = w.claim(name)
        if i < n_in:
            graph_inputs.append(_value_info(w.names[arg], arg))
        else:
            w.initializers.append(numpy_helper.from_array(state_arrays[i - n_in], w.names[arg]))
    _write_block(w, func.body)
    outs = list(func.outputs)[:len(func.outputs) - len(lowered.state_out)]
    out_names = list(output_names or [f"output_{i}" for i in range(len(outs))])
    if len(out_names) != len(outs):
        raise ValueError(f"{len(out_names)} output names for {len(outs)} outputs")
    graph_outputs = []
    for v, name in zip(outs, out_names):
        final = w.claim(name)
        w.nodes.append(helper.make_node("Identity", [w.name(v)], [final]))
        graph_outputs.append(_value_info(final, v))
    graph = helper.make_graph(w.nodes, func.name or "xlalite", graph_inputs, graph_outputs,
                              w.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="xlalite")
    model.ir_version = min(model.ir_version, 10)  # readable by current onnxruntime releases
    return model


def export(fn: Callable | Jitted, example_inputs: Sequence[Any], path: str | os.PathLike | None = None,
           opset: int = DEFAULT_OPSET, input_names: Sequence[str] | None = None,
           output_names: Sequence[str] | None = None) -> onnx.ModelProto:
    """Trace `fn` (a function or module) at `example_inputs` and write it to `path` as ONNX
    (when given); returns the ``onnx.ModelProto``, checked by ``onnx.checker``."""
    model = to_model(fn, example_inputs, opset, input_names, output_names)
    onnx.checker.check_model(model, full_check=True)
    if path is not None:
        onnx.save(model, os.fspath(path))
    return model
