"""IR as a picture: Graphviz DOT text for a module, and rendering it to SVG/PNG/PDF.

Each op is a box labelled with its name and result type, each function argument an ellipse,
and each edge a value flowing from its producer to a user. An op with regions (a fused group,
a loop, a branch) is a cluster holding its body: a block argument that stands for an operand
(the region gets as many arguments as the op has operands, as in ``xl.fusion``) is drawn as
that operand's edge into the cluster, other block arguments as small ellipses, and the op's
results leave the cluster through a small "results" node fed by the region's terminator.
With ``memory=True`` each op also shows the arena offset the memory planner gave its result
(``mem.offset``; -1: the result is returned to the caller, not in the arena).

Rendering uses the ``graphviz`` package and the ``dot`` program when it is on PATH, else
``pygraphviz`` (whose wheel bundles Graphviz's layout libraries: ``pip install xlalite[viz]``);
with neither, :class:`RenderError` says what to install.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from xlalite.ir.core import Block, Function, Module, Op, Value
from xlalite.ir.printer import format_attr

TERMINATORS = ("return", "xl.yield")
_FORMATS = ("svg", "png", "pdf")


class RenderError(RuntimeError):
    """No Graphviz layout engine is available to turn DOT into a picture."""


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class _Writer:
    def __init__(self, memory: bool):
        self.memory = memory
        self.lines: list[str] = []
        # edges go after every node, at the top level: an edge written inside a cluster would
        # pull both of its ends into that cluster
        self.edges: list[str] = []
        self.node_of: dict[Value, str] = {}  # value -> the DOT node that produces it
        self.count = 0

    def node(self, label: str, indent: str, **style: str) -> str:
        self.count += 1
        name = f"n{self.count}"
        extra = "".join(f", {k}={_quote(v)}" for k, v in style.items())
        self.lines.append(f"{indent}{name} [label={_quote(label)}{extra}];")
        return name

    def edge(self, value: Value, target: str, indent: str) -> None:
        source = self.node_of.get(value)
        if source is not None:
            self.edges.append(f"  {source} -> {target} [tooltip={_quote(str(value.type))}];")

    def label(self, op: Op) -> str:
        types = ", ".join(str(r.type) for r in op.results)
        text = f"{op.name}\n{types}" if types else op.name
        if "kind" in op.attributes:
            text = f"{op.name} ({op.attributes['kind']})\n{types}"
        offset = op.attributes.get("mem.offset")
        if self.memory and offset is not None:
            text += "\n@" + format_attr(offset)
        return text

    def block(self, block: Block, indent: str) -> None:
        for op in block.ops:
            if op.name in TERMINATORS:
                continue
            if op.regions:
                self.region_op(op, indent)
                continue
            name = self.node(self.label(op), indent, shape="box")
            for v in op.operands:
                self.edge(v, name, indent)
            for r in op.results:
                self.node_of[r] = name

    def region_op(self, op: Op, indent: str) -> None:
        self.count += 1
        self.lines.append(f"{indent}subgraph cluster_{self.count} {{")
        inner = indent + "  "
        self.lines.append(f"{inner}label={_quote(self.label(op))}; style=rounded; color=gray40;")
        for region in op.regions:
            for block in region.blocks:
                if len(block.args) == len(op.operands):  # the args stand for the operands
                    for arg, v in zip(block.args, op.operands):
                        if v in self.node_of:
                            self.node_of[arg] = self.node_of[v]
                else:
                    for arg in block.args:
                        self.node_of[arg] = self.node(f"arg\n{arg.type}", inner, shape="ellipse",
                                                      style="dashed")
                self.block(block, inner)
        out = self.node("results", inner, shape="point") if op.results else None
        last = op.regions[-1].blocks[-1].ops if op.regions and op.regions[-1].blocks else []
        if out is not None:
            if last and last[-1].name in TERMINATORS:
                for v in last[-1].operands:
                    self.edge(v, out, inner)
            for r in op.results:
                self.node_of[r] = out
        self.lines.append(f"{indent}}}")

    def function(self, func: Function, indent: str) -> None:
        for arg in func.args:
            name = arg.name_hint or f"arg{arg.index}"
            self.node_of[arg] = self.node(f"%{name}\n{arg.type}", indent, shape="ellipse")
        self.block(func.body, indent)
        ret = func.body.ops[-1] if func.body.ops else None
        if ret is not None and ret.name == "return":
            out = self.node("return", indent, shape="doublecircle", width="0.3")
            for v in ret.operands:
                self.edge(v, out, indent)


def to_dot(module: Module, memory: bool = False) -> str:
    """DOT text for every function of `module` (see the module docstring)."""
    w = _Writer(memory)
    w.lines += ["digraph xir {", '  node [fontname="Helvetica", fontsize=10];',
                '  edge [color=gray30]; rankdir=TB;']
    for func in module.functions:
        w.count += 1
        label = f"@{func.name}"
        if memory and "mem.arena_bytes" in func.attributes:
            label += f" (arena {func.attributes['mem.arena_bytes']} bytes)"
        w.lines.append(f"  subgraph cluster_{w.count} {{")
        w.lines.append(f"    label={_quote(label)}; style=solid; color=black;")
        w.function(func, "    ")
        w.lines.append("  }")
    w.lines += w.edges
    w.lines.append("}")
    return "\n".join(w.lines) + "\n"


def render_dot(dot: str, fmt: str = "svg") -> bytes:
    """Lay out and draw DOT text as `fmt` (svg, png or pdf); raises RenderError when no
    Graphviz is installed, naming what to install."""
    if fmt not in _FORMATS:
        raise ValueError(f"cannot render to '{fmt}': choose one of {', '.join(_FORMATS)}")
    if shutil.which("dot"):
        try:
            import graphviz
        except ImportError:
            pass
        else:
            return graphviz.Source(dot).pipe(format=fmt)
    try:
        import pygraphviz
    except ImportError:
        raise RenderError(
            "drawing the graph needs Graphviz: install the Debian package 'graphviz' "
            "(apt install graphviz) with the Python package 'graphviz', or "
            "pip install 'xlalite[viz]' for a wheel that bundles it; the DOT text is "
            "available without either (--emit dot)") from None
    graph = pygraphviz.AGraph(string=dot)
    return graph.draw(format=fmt, prog="dot")


def render(module: Module, path: str | Path, memory: bool = False) -> Path:
    """Write a picture of `module` to `path`, its format from the suffix (.svg, .png, .pdf)."""
    path = Path(path)
    path.write_bytes(render_dot(to_dot(module, memory), path.suffix.lstrip(".") or "svg"))
    return path
