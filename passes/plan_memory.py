"""``plan-memory``: assign every intermediate tensor a place in one arena.

Liveness is taken over the scheduled function (its op order): a value lives from the op that
defines it to its last use. Values whose lifetimes do not overlap share storage; an
elementwise op (or a ``loop`` fusion that reads the input elementwise) writes its result over
an input that dies there when both have the same size, and a reshape is a view of an input
that dies there (backends then run no kernel for it); a function argument listed in the
``donate`` function attribute may be overwritten the same way (this is how an optimizer step
updates parameters in place). Constants and function results are never placed in the arena,
so results handed back to the caller never alias it.

The plan is recorded for backends as attributes:

* ``mem.offset = [o, ...]`` on each op: arena byte offset per result, -1 if not in the arena;
* ``mem.inplace = [k, ...]``: the result reuses operand k's storage (-1: it does not);
* ``mem.arena_bytes`` and ``mem.naive_bytes`` on the function (arena size with and without
  reuse).

``check_plan`` re-derives lifetimes from the annotated IR and proves no two simultaneously live
values overlap; the tests run it on random programs.
"""

from __future__ import annotations

from dataclasses import dataclass

from xlalite.ir.core import TERMINATORS, Function, Op, Value
from xlalite.ops.registry import FusionKind, Trait, find_op, has_trait
from xlalite.passes.manager import FunctionPass, register_pass

ALIGN = 64


def _aligned(n: int) -> int:
    return max(ALIGN, (n + ALIGN - 1) // ALIGN * ALIGN)


def lifetimes(func: Function) -> dict[Value, tuple[int, int]]:
    """(defining op index, last use index) for arguments (index -1) and top-level results."""
    index = {op: i for i, op in enumerate(func.body.ops)}
    out = {}
    for v in func.args:
        out[v] = (-1, max((index[u.op] for u in v.uses), default=-1))
    for i, op in enumerate(func.body.ops):
        for r in op.results:
            out[r] = (i, max((index[u.op] for u in r.uses), default=i))
        if has_trait(op, Trait.ASYNC):  # in flight until its result's first reader
            done = min((index[u.op] for r in op.results for u in r.uses), default=len(index))
            for v in op.operands:
                out[v] = (out[v][0], max(out[v][1], done))
    return out


def reads_elementwise(op: Op, operand: int) -> bool:
    """Whether output element i of `op` depends only on element i of operand `operand` (so
    writing the output over that operand is safe)."""
    if op.name == "xl.fusion":
        kind = op.attributes.get("kind")
        arg = op.regions[0].blocks[0].args[operand]
        if not all(_elementwise(u.op) for u in arg.uses):
            return False
        if kind == "loop":
            return True
        # reduction/matmul groups: safe when only the epilogue reads the input (it runs after
        # the anchor, at the output index; matmul kernels then compute into scratch first)
        return not any(_feeds_anchor(u.op) for u in arg.uses)
    return _elementwise(op)


def _feeds_anchor(op: Op) -> bool:
    """Whether `op`'s result flows into a reduction or matmul in the same region."""
    seen, stack = set(), [op]
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        opdef = find_op(o.name)
        if opdef is not None and opdef.fusion in (FusionKind.REDUCTION, FusionKind.MATMUL) \
                and o is not op:
            return True
        stack.extend(u.op for r in o.results for u in r.uses)
    return False


def is_view(op: Op, operand: int) -> bool:
    """Whether result 0 of `op` can be operand `operand`'s bytes as they are: a reshape (a
    row-major relabelling) of a buffer of the same element type."""
    return (op.name == "xl.reshape" and operand == 0
            and op.operands[0].type.dtype == op.results[0].type.dtype)


def inplace_operand(op: Op, result: int = 0) -> int | None:
    """The operand whose storage result `result` of `op` reuses, or None (plan-memory's
    ``mem.inplace``; None too for an op the plan has not seen)."""
    k = op.attributes.get("mem.inplace", ())
    return k[result] if result < len(k) and k[result] >= 0 else None


def arena_offset(op: Op, result: int = 0) -> int | None:
    """The arena byte offset of result `result` of `op`, or None when it is not in the arena."""
    off = op.attributes.get("mem.offset", ())
    return off[result] if result < len(off) and off[result] >= 0 else None


def arena_bytes(func: Function) -> int:
    """The arena size plan-memory chose for `func` (0 before planning)."""
    return int(func.attributes.get("mem.arena_bytes", 0))


def view_operand(op: Op) -> int | None:
    """The operand a result-0 view of `op` aliases (no kernel runs), or None."""
    k = inplace_operand(op)
    return k if k is not None and is_view(op, k) else None


def _elementwise(op: Op) -> bool:
    opdef = find_op(op.name)
    return opdef is not None and opdef.fusion is FusionKind.ELEMENTWISE and op.name != "xl.constant"


def _inplace_operand(op: Op, i: int, live: dict, owner: dict, donated: set[Value],
                     outputs: set[Value]) -> int:
    """Operand index whose storage result 0 of `op` may take, or -1."""
    if len(op.results) != 1:
        return -1
    result = op.results[0]
    for k, v in enumerate(op.operands):
        if live[v][1] != i or v in outputs:
            continue
        # identical types, not just sizes: kernels index their output with its own shape
        if not is_view(op, k) and (v.type != result.type or not reads_elementwise(op, k)):
            continue
        if (v in owner and result not in outputs) or v in donated:  # arena or donated memory
            return k
    return -1


def strip_plan(func: Function) -> None:
    """Remove every ``mem.*`` attribute of `func` and its ops: a plan is the compiler's own
    output, re-derived by every run of plan-memory, never read from the IR it was given."""
    for op in func.walk():
        for key in [k for k in op.attributes if k.startswith("mem.")]:
            del op.attributes[key]
    for key in [k for k in func.attributes if k.startswith("mem.")]:
        del func.attributes[key]


def plan_function(func: Function) -> dict[str, int]:
    strip_plan(func)  # a stale or planted plan must not survive (mem.inplace is sparse)
    ops = func.body.ops
    live = lifetimes(func)
    outputs = set(func.outputs)
    donated = {func.args[i] for i in func.attributes.get("donate", ())}
    donated -= outputs  # an argument returned as is must survive the call
    # storage classes: representative value -> members; values planned for the arena
    owner: dict[Value, Value] = {}
    members: dict[Value, list[Value]] = {}
    reuses = 0
    for i, op in enumerate(ops):
        if op.name in TERMINATORS:
            continue
        inplace = [-1] * len(op.results)
        k = _inplace_operand(op, i, live, owner, donated, outputs)
        for j, r in enumerate(op.results):
            if j == 0 and k >= 0:
                source = op.operands[k]
                inplace[0] = k
                reuses += 1
                if source in donated:
                    donated.add(r)  # now lives in the argument's memory
                    continue
                rep = owner[source]
                owner[r] = rep
                members[rep].append(r)
            elif op.name != "xl.constant" and r not in outputs:
                owner[r] = r
                members[r] = [r]
        if any(x >= 0 for x in inplace):
            op.attributes["mem.inplace"] = tuple(inplace)
    # best-fit placement, largest classes first, avoiding classes live at the same time
    spans = {rep: (live[vs[0]][0], max(live[v][1] for v in vs)) for rep, vs in members.items()}
    sizes = {rep: _aligned(rep.type.nbytes) for rep in members}
    placed: list[tuple[int, int, int, int]] = []  # offset, size, start, end
    offsets: dict[Value, int] = {}
    for rep in sorted(members, key=lambda r: (-sizes[r], spans[r][0])):
        start, end = spans[rep]
        busy = sorted((o, o + s) for o, s, a, b in placed if a <= end and start <= b)
        offset = 0
        for lo, hi in busy:
            if offset + sizes[rep] <= lo:
                break
            offset = max(offset, hi)
        placed.append((offset, sizes[rep], start, end))
        offsets[rep] = offset
    for op in ops:
        if op.name not in TERMINATORS and op.results:
            op.attributes["mem.offset"] = tuple(offsets[owner[r]] if r in owner else -1
                                               for r in op.results)
    naive = sum(sizes.values()) + sum(_aligned(v.type.nbytes) for vs in members.values()
                                      for v in vs[1:])
    arena = max((o + s for o, s, _, _ in placed), default=0)
    func.attributes["mem.arena_bytes"] = arena
    func.attributes["mem.naive_bytes"] = naive
    return {"bytes-before": naive, "bytes-after": arena, "inplace-reuses": reuses}


def check_plan(func: Function) -> list[str]:
    """Problems with the memory plan of `func` (empty when sound)."""
    problems = []
    live = lifetimes(func)
    arena = func.attributes.get("mem.arena_bytes", 0)
    outputs = set(func.outputs)
    placed = []
    for i, op in enumerate(func.body.ops):
        if op.name in TERMINATORS:
            continue
        offsets = op.attributes.get("mem.offset")
        if offsets is None:
            problems.append(f"op #{i} '{op.name}' has no mem.offset")
            continue
        inplace = op.attributes.get("mem.inplace", (-1,) * len(op.results))
        for r, off, k in zip(op.results, offsets, inplace, strict=True):
            if k >= 0 and (live[op.operands[k]][1] != i or not (is_view(op, k) or (
                    reads_elementwise(op, k) and op.operands[k].type == r.type))):
                problems.append(f"op #{i} '{op.name}' writes in place over an operand that is "
                                "still live or not read elementwise")
            if off < 0:
                continue
            if r in outputs:
                problems.append(f"op #{i} '{op.name}' places a function result in the arena")
            if off % ALIGN or off + r.type.nbytes > arena:
                problems.append(f"op #{i} '{op.name}' buffer [{off}, +{r.type.nbytes}) is "
                                f"misaligned or outside the {arena}-byte arena")
            source = op.operands[k] if k >= 0 else None
            placed.append((r, off, live[r], source))
    for a, (va, oa, (sa, ea), src_a) in enumerate(placed):
        for vb, ob, (sb, eb), src_b in placed[a + 1:]:
            overlap_mem = oa < ob + vb.type.nbytes and ob < oa + va.type.nbytes
            overlap_time = sa <= eb and sb <= ea
            handoff = (src_b is va and ea == sb) or (src_a is vb and eb == sa)
            if overlap_mem and overlap_time and not handoff:
                problems.append(f"values defined at ops #{sa} and #{sb} are live together but "
                                f"share arena bytes [{max(oa, ob)}, ...)")
    return problems


@register_pass
@dataclass(frozen=True)
class PlanMemory(FunctionPass):
    """Liveness-based arena assignment with in-place reuse and argument donation."""

    name = "plan-memory"

    def run_on_function(self, func: Function) -> dict[str, int]:
        return plan_function(func)
