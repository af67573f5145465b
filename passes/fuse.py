"""``fuse``: group ops into ``xl.fusion`` kernels by their fusion kind (TVM-style grading).

Rules, from cheapest to most restrictive kind:

* **elementwise / broadcast** producers (incl. splat constants and iota) are computed inline by
  any consumer that can absorb them: elementwise, broadcast and reduction ops. A producer with
  several consumers is duplicated into each (recomputation is cheaper than a round trip to
  memory) unless some consumer cannot absorb it, or it would bring more than MAX_RECOMPUTE
  ops with it; then it is materialized once and read.
* **reductions** (``reduce_sum/max/min/prod``) absorb an elementwise prologue, and are absorbed
  as the anchor of an elementwise epilogue of the same shape (so a row softmax is three
  kernels: max, sum(exp(x - max)), exp(x - max) / sum; ``fuse-rows`` then makes them one
  pass over each row where the target has row kernels).
* **matmul-like** ops (``dot_general``, the conv2d family) take no prologue (BLAS reads memory) but
  anchor an elementwise epilogue of the same shape (bias add, activation).
* **injective** and **opaque** ops run on their own.

A group never holds more than one anchor, and an anchor is absorbed only along a chain where
every value is used once, so no reduction or matmul is ever computed twice. Groups of one op
are left alone. Contract: valid IR in, valid IR out, same results on the interpreter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xlalite.ir.core import TERMINATORS, Block, Function, Op, Value, clone_op
from xlalite.ops.fusion import make_fusion
from xlalite.ops.registry import FusionKind, Trait, find_op, fusion_kind, has_trait
from xlalite.ops.shape import is_reindexing
from xlalite.passes.manager import FunctionPass, register_pass


def is_reduction(op: Op) -> bool:
    """A reduction over axes (``Trait.REDUCTION``): the anchor of a reduction kernel."""
    return has_trait(op, Trait.REDUCTION)


def _loop_kind(op: Op) -> FusionKind:
    """Fusion kind, treating slices and unit-dim reshapes as broadcasts (all only re-index)."""
    return FusionKind.BROADCAST if is_reindexing(op) else fusion_kind(op)


def is_cheap_producer(op: Op) -> bool:
    """Elementwise/broadcast, pure, no regions; constants only when they are splats."""
    opdef = find_op(op.name)
    if op.regions or opdef is None or _loop_kind(op) > FusionKind.BROADCAST or not opdef.pure:
        return False
    return op.name != "xl.constant" or op.attributes["value"].is_splat


def can_absorb(op: Op) -> bool:
    """Whether `op` can compute a cheap producer inline instead of reading it from memory."""
    if op.name in TERMINATORS or op.regions:
        return False
    return _loop_kind(op) <= FusionKind.BROADCAST or is_reduction(op)


def is_anchor(op: Op) -> bool:
    return is_reduction(op) or fusion_kind(op) is FusionKind.MATMUL


@dataclass
class Group:
    root: Op
    ops: set[Op] = field(default_factory=set)
    anchor: Op | None = None

    @property
    def kind(self) -> str:
        if self.anchor is None and not is_reduction(self.root):
            return "loop"
        anchor = self.anchor or self.root
        return "reduction" if is_reduction(anchor) else "matmul"


#: the most ops a duplicated producer may bring with it into each consumer; beyond that it is
#: computed once. Without a bound, a chain of multi-use values (an LSTM's cell state) would be
#: recomputed from its start in every consumer: quadratic work in the chain's length.
MAX_RECOMPUTE = 8


class _Planner:
    """Decides groups for one block (top level of a function)."""

    def __init__(self, block: Block, max_ops: int):
        self.block = block
        self.max_ops = max_ops
        self.materialized = {op: not (is_cheap_producer(op) and all(
            can_absorb(u.op) for r in op.results for u in r.uses)) for op in block.ops}
        cost: dict[Op, int] = {}  # ops recomputed wherever `op` is computed inline
        for op in block.ops:  # topological order: producers are decided first
            if self.materialized[op]:
                continue
            cost[op] = 1 + sum(cost.get(v.defining_op, 0) for v in op.operands
                               if v.defining_op is not None and not self.materialized[v.defining_op])
            uses = sum(len(r.uses) for r in op.results)
            if uses > 1 and cost[op] > MAX_RECOMPUTE:
                self.materialized[op] = True
        self.absorbed: set[Op] = set()

    def groups(self) -> list[Group]:
        out = []
        for op in reversed(self.block.ops):
            if op.name in TERMINATORS or op in self.absorbed or not self.materialized[op]:
                continue
            out.append(self._group(op))
        return out

    def _group(self, root: Op) -> Group:
        while True:
            group = Group(root)
            self._visit(group, root, exclusive=True, out_space=True)
            self._late_matmul_anchor(group)
            shared = self._shared_with_prologue(group)
            if shared is None:
                return group
            # a value both the prologue and the epilogue read cannot be computed inline in
            # both loop nests of one kernel: compute it once, then plan the group again
            self.materialized[shared] = True
            if group.anchor is not None:
                self.absorbed.discard(group.anchor)

    def _late_matmul_anchor(self, group: Group) -> None:
        """Take a matmul as the anchor of an elementwise group that reaches it through a value
        used twice, both times inside the group (GELU's x in 0.5 x (1 + erf(x / sqrt 2))):
        ``_visit`` walks such a path as non-exclusive, seeing the first use before the second.
        With the group known, every value between the root and the matmul must be
        elementwise, of the root's shape, and used only inside the group."""
        root = group.root
        if group.anchor is not None or not root.results or len(group.ops) >= self.max_ops \
                or fusion_kind(root) is not FusionKind.ELEMENTWISE:
            return
        shape = root.results[0].type.shape
        inside, stack = {root}, [root]
        while stack:
            op = stack.pop()
            for v in op.operands:
                p = v.defining_op
                if p is None or p in inside:
                    continue
                if p in group.ops:
                    if (fusion_kind(p) is FusionKind.ELEMENTWISE and v.type.shape == shape
                            and all(u.op in group.ops for r in p.results for u in r.uses)):
                        inside.add(p)
                        stack.append(p)
                elif (fusion_kind(p) is FusionKind.MATMUL and p not in self.absorbed
                      and len(v.uses) == 1 and len(p.results) == 1 and v.type.shape == shape):
                    group.anchor = p
                    self.absorbed.add(p)
                    group.ops.add(p)
                    return

    @staticmethod
    def _shared_with_prologue(group: Group) -> Op | None:
        """A prologue op (computed in the anchor's input space) that an epilogue op reads."""
        if group.anchor is None or not is_reduction(group.anchor):
            return None
        prologue: set[Op] = set()
        stack = [v.defining_op for v in group.anchor.operands]
        while stack:
            p = stack.pop()
            if p is None or p not in group.ops or p in prologue:
                continue
            prologue.add(p)
            stack.extend(v.defining_op for v in p.operands)
        for op in group.ops - prologue - {group.anchor}:
            for v in op.operands:
                if v.defining_op in prologue:
                    return v.defining_op
        return None

    def _visit(self, group: Group, op: Op, exclusive: bool, out_space: bool) -> None:
        group.ops.add(op)
        if fusion_kind(op) is FusionKind.MATMUL or (not can_absorb(op) and op is group.root):
            return  # matmul-like and non-absorbing roots read their operands from memory
        root_shape = group.root.results[0].type.shape if group.root.results else None
        for v in op.operands:
            p = v.defining_op
            if p is None or p in group.ops:
                continue
            single_use = len(v.uses) == 1 and len(p.results) == 1
            if (is_anchor(p) and group.anchor is None and op is not p and single_use and exclusive
                    and out_space and fusion_kind(op) is FusionKind.ELEMENTWISE
                    and p.results[0].type.shape == root_shape
                    and len(group.ops) < self.max_ops):
                group.anchor = p
                self.absorbed.add(p)
                self._visit(group, p, exclusive=True, out_space=False)
            elif not self.materialized[p]:
                if len(group.ops) >= self.max_ops:
                    self.materialized[p] = True  # too big: p becomes a kernel of its own
                    continue
                keeps_space = fusion_kind(p) is FusionKind.ELEMENTWISE and v.type.shape == root_shape
                self._visit(group, p, exclusive and single_use, out_space and keeps_space)


def _outline(block: Block, group: Group) -> Op:
    ordered = [op for op in block.ops if op in group.ops]
    inputs: list[Value] = []
    for op in ordered:
        for v in op.operands:
            if (v.defining_op not in group.ops) and v not in inputs:
                inputs.append(v)

    def body(inner: Block) -> list[Value]:
        mapping = dict(zip(inputs, inner.args))
        for op in ordered:
            inner.append(clone_op(op, mapping))
        return [mapping[r] for r in group.root.results]

    fusion = make_fusion(inputs, group.kind, body)
    fusion.loc = group.root.loc
    block.insert_before(group.root, fusion)
    for old, new in zip(group.root.results, fusion.results, strict=True):
        old.replace_all_uses_with(new)
    return fusion


def count_kernels(func: Function) -> int:
    """Top-level ops that run as a kernel (everything but constants and the return)."""
    return sum(1 for op in func.body.ops if op.name not in TERMINATORS and op.name != "xl.constant")


def fuse_block(block: Block, max_ops: int) -> tuple[int, int]:
    """Fuse the ops of `block` and of the bodies of its control-flow ops; returns (groups
    formed, ops fused)."""
    formed = fused = 0
    for op in block.ops:
        if has_trait(op, Trait.CONTROL):
            for region in op.regions:
                for inner in region.blocks:
                    f, n = fuse_block(inner, max_ops)
                    formed, fused = formed + f, fused + n
    groups = [g for g in _Planner(block, max_ops).groups() if len(g.ops) > 1]
    grouped = set().union(*(g.ops for g in groups)) if groups else set()
    for g in groups:
        _outline(block, g)
    for op in reversed(list(block.ops)):  # originals are now dead (their clones live on)
        if op in grouped and not any(r.uses for r in op.results):
            op.erase()
    return formed + len(groups), fused + sum(len(g.ops) for g in groups)


def fuse_function(func: Function, max_ops: int = 64) -> dict[str, int]:
    before = count_kernels(func)
    formed, fused = fuse_block(func.body, max_ops)
    return {"groups-formed": formed, "ops-fused": fused,
            "kernels-before": before, "kernels-after": count_kernels(func)}


@register_pass
@dataclass(frozen=True)
class Fuse(FunctionPass):
    """Group elementwise chains, reduction prologues/epilogues and matmul epilogues into xl.fusion."""

    name = "fuse"
    max_ops: int = 64  # largest number of ops in one fused group

    def run_on_function(self, func: Function) -> dict[str, int]:
        return fuse_function(func, self.max_ops)
