"""TensorBoard logs: ``SummaryWriter`` writes real event files through ``tensorboardX``.

Scalars and histograms are tensorboardX's own; ``add_graph`` converts xlalite IR (a module, a
``Lowered``, a jitted function with example arguments) or an ``xlalite.graph.Graph`` into
TensorBoard's graph format (a ``GraphDef`` of ``NodeDef`` s), so the Graphs tab shows it: op
names, result shapes and dtypes on the edges, and a fused group (or any op with regions) as a
name scope that expands into its body.

    writer = SummaryWriter("runs/mlp")
    writer.add_scalar("loss", 0.25, step)
    writer.add_graph(xl.jit(step_fn), x, y)
    writer.close()              # then: tensorboard --logdir runs
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from xlalite.frontend.jit import Jitted, Lowered
from xlalite.graph.core import Graph
from xlalite.ir.core import Block, Module, Op, Value
from xlalite.ir.printer import format_attr
from xlalite.ir.types import DType, TensorType

#: TensorFlow's DataType enum (tensorflow/core/framework/types.proto)
_TF_DTYPES = {DType.F32: 1, DType.F64: 2, DType.I32: 3, DType.U8: 4, DType.I16: 5, DType.I8: 6,
              DType.I64: 9, DType.BOOL: 10, DType.U16: 17, DType.F16: 19, DType.U32: 22,
              DType.U64: 23}


def _writer_module() -> Any:
    try:
        import tensorboardX
    except ImportError:
        raise ImportError("TensorBoard logging needs tensorboardX: pip install "
                          "'xlalite[tensorboard]'") from None
    return tensorboardX


def _shape_attr(types: list[TensorType]) -> Any:
    from tensorboardX.proto.attr_value_pb2 import AttrValue
    from tensorboardX.proto.tensor_shape_pb2 import TensorShapeProto

    shapes = [TensorShapeProto(dim=[TensorShapeProto.Dim(size=d) for d in t.shape]) for t in types]
    return AttrValue(list=AttrValue.ListValue(shape=shapes))


class _GraphDefWriter:
    """IR to NodeDefs: one node per argument and op, names scoped by function and region."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.names: dict[Value, str] = {}
        self.count = 0

    def node(self, name: str, op: str, inputs: list[str], types: list[TensorType],
             params: str = "") -> str:
        from tensorboardX.proto.attr_value_pb2 import AttrValue
        from tensorboardX.proto.node_def_pb2 import NodeDef

        attr = {"_output_shapes": _shape_attr(types)}
        if types:
            attr["dtype"] = AttrValue(type=_TF_DTYPES.get(types[0].dtype, 0))
        if params:
            attr["parameters"] = AttrValue(s=params.encode())
        self.nodes.append(NodeDef(name=name, op=op, input=inputs, attr=attr))
        return name

    def fresh(self, scope: str, base: str) -> str:
        self.count += 1
        return f"{scope}{re.sub(r'[^A-Za-z0-9_.-]', '_', base)}_{self.count}"

    def block(self, block: Block, scope: str) -> None:
        for op in block.ops:
            if op.name in ("return", "xl.yield"):
                continue
            self.op(op, scope)

    def op(self, op: Op, scope: str) -> None:
        inputs = [self.names[v] for v in op.operands if v in self.names]
        params = ", ".join(f"{k} = {format_attr(v)}" for k, v in op.attributes.items()
                           if not k.startswith("mem.") and k != "value")
        if op.regions:  # a name scope holding the body, and a node standing for the results
            inner = self.fresh(scope, op.name) + "/"
            for region in op.regions:
                for block in region.blocks:
                    for k, arg in enumerate(block.args):
                        self.names[arg] = self.node(f"{inner}arg{k}", "Arg", inputs[k:k + 1]
                                                    if len(block.args) == len(inputs) else [],
                                                    [arg.type])
                    self.block(block, inner)
            last = op.regions[-1].blocks[-1].ops[-1] if op.regions[-1].blocks else None
            yielded = [self.names[v] for v in last.operands] if last is not None else []
            name = self.node(f"{inner}results", op.name, yielded or inputs,
                             [r.type for r in op.results], params)
        else:
            name = self.node(self.fresh(scope, op.name), op.name, inputs,
                             [r.type for r in op.results], params)
        for r in op.results:
            self.names[r] = name

    def module(self, module: Module) -> Any:
        from tensorboardX.proto.graph_pb2 import GraphDef
        from tensorboardX.proto.versions_pb2 import VersionDef

        for func in module.functions:
            scope = f"{func.name}/"
            for i, arg in enumerate(func.args):
                self.names[arg] = self.node(f"{scope}{arg.name_hint or f'arg{i}'}", "Placeholder",
                                            [], [arg.type])
            self.block(func.body, scope)
            outs = [self.names[v] for v in func.outputs if v in self.names]
            self.node(f"{scope}return", "Return", outs, [v.type for v in func.outputs])
        return GraphDef(node=self.nodes, versions=VersionDef(producer=22))

    def graph(self, graph: Graph) -> Any:
        from tensorboardX.proto.graph_pb2 import GraphDef
        from tensorboardX.proto.versions_pb2 import VersionDef

        for op in graph.operations:
            inputs = [t.op.name if t.index == 0 else f"{t.op.name}:{t.index}" for t in op.inputs]
            inputs += [f"^{c.name}" for c in op.control_inputs]
            if op.target is not None:
                inputs.insert(0, f"^{op.target.op.name}")
            kind = {"op": getattr(op.fn, "__name__", "op")}.get(op.kind, op.kind.capitalize())
            types = [t.probes[0].type for t in op.outputs]
            self.node(op.name, kind, inputs, types)
        return GraphDef(node=self.nodes, versions=VersionDef(producer=22))


def graph_def(program: Any, *example_args: Any) -> Any:
    """TensorBoard's GraphDef of `program`: a Module, a Lowered, a Jitted (traced for
    `example_args`), or an ``xlalite.graph.Graph``."""
    if isinstance(program, Graph):
        return _GraphDefWriter().graph(program)
    if isinstance(program, Jitted):
        program = program.lower(*example_args)
    if isinstance(program, Lowered):
        program = program.module
    if not isinstance(program, Module):
        raise TypeError(f"add_graph takes a Module, a Lowered, a jitted function with example "
                        f"arguments, or an xlalite.graph.Graph, not {type(program).__name__}")
    return _GraphDefWriter().module(program)


class SummaryWriter:
    """Event files for TensorBoard in `logdir` (tensorboardX's writer underneath)."""

    def __init__(self, logdir: str | Path, flush_secs: int = 30):
        self.logdir = Path(logdir)
        self._writer = _writer_module().SummaryWriter(str(self.logdir), flush_secs=flush_secs)

    def add_scalar(self, tag: str, value: Any, step: int | None = None) -> None:
        self._writer.add_scalar(tag, float(np.asarray(value)), step)

    def add_scalars(self, tag: str, values: dict[str, Any], step: int | None = None) -> None:
        self._writer.add_scalars(tag, {k: float(np.asarray(v)) for k, v in values.items()}, step)

    def add_histogram(self, tag: str, values: Any, step: int | None = None, bins: str = "auto"
                      ) -> None:
        self._writer.add_histogram(tag, np.asarray(values, dtype=np.float64).ravel(), step,
                                   bins=bins)

    def add_graph(self, program: Any, *example_args: Any) -> None:
        """The program's graph for TensorBoard's Graphs tab (see :func:`graph_def`)."""
        from tensorboardX.proto import event_pb2

        gd = graph_def(program, *example_args)
        self._writer._get_file_writer().add_event(event_pb2.Event(graph_def=gd.SerializeToString()))

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> SummaryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
