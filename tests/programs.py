"""A hypothesis strategy for random well-typed programs (used by the differential tests).

Programs mix elementwise ops, broadcasts, reductions (with keepdims reshapes), matmuls,
reshapes, transposes, slices, selects, splat and dense constants, deliberate duplicates
(bait for CSE) and identities (bait for canonicalize), and control flow (scan, cond, while)
whose bodies are random programs themselves, with loop-invariant ops (bait for licm) and
constant predicates (bait for canonicalize).
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from xlalite.ir import DenseElements, DType, Module, TensorType, finish, new_function
from xlalite.ir.builder import Builder
from xlalite.ir.core import YIELD, Block, Op, Region, Value

UNARY = ["xl.neg", "xl.tanh", "xl.logistic", "xl.abs", "xl.sin", "xl.cos", "xl.exp"]
BINARY = ["xl.add", "xl.sub", "xl.mul", "xl.max", "xl.min"]
KINDS = ["unary", "binary", "binary_const", "broadcast", "reduce", "reshape", "transpose",
         "slice", "dot", "select", "duplicate", "identity", "constant", "scan", "cond", "while"]


def _shape(draw) -> tuple[int, ...]:
    return tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=3)))


@st.composite
def programs(draw, max_ops: int = 12) -> Module:
    dtype = draw(st.sampled_from([DType.F32, DType.F64]))
    n_args = draw(st.integers(1, 3))
    arg_types = [TensorType(_shape(draw), dtype) for _ in range(n_args)]
    m = Module()
    f, b = new_function(m, "main", arg_types, arg_names=[f"a{i}" for i in range(n_args)])
    values = list(f.args)
    _fill(draw, b, values, draw(st.integers(1, max_ops)), dtype, depth=1)
    outs = [values[-1]] + ([values[draw(st.integers(0, len(values) - 1))]]
                           if draw(st.booleans()) else [])
    finish(f, b, outs)
    return m


def _body(draw, types: list[TensorType], dtype: DType, yields: list[TensorType],
          depth: int) -> tuple[Region, Block]:
    """A region over `types` whose random ops end in values of the types `yields` (falling
    back to a block argument of that type)."""
    block = Block(types)
    b = Builder(block)
    values = list(block.args)
    _fill(draw, b, values, draw(st.integers(0, 5)), dtype, depth)
    outs = []
    for t in yields:
        same = [v for v in values if v.type == t]
        outs.append(same[draw(st.integers(0, len(same) - 1))])
    block.append(Op(YIELD, outs, []))
    return Region([block]), block


def _const(draw, b: Builder, t: TensorType, splat: bool) -> Value:
    if splat:
        v = draw(st.sampled_from([0.0, 1.0, 2.0, -0.5]))
        return b.add("xl.constant", value=DenseElements(np.asarray(v, t.dtype.numpy), t))
    data = draw(st.lists(st.floats(-2, 2, width=32), min_size=t.size, max_size=t.size))
    return b.add("xl.constant", value=DenseElements(np.asarray(data).reshape(t.shape), t))


def _fill(draw, b: Builder, values: list[Value], count: int, dtype: DType, depth: int) -> None:
    """Append `count` random ops over `values` (control flow only while `depth` > 0)."""
    pick = lambda: values[draw(st.integers(0, len(values) - 1))]  # noqa: E731
    floats = lambda: [v for v in values if v.type.dtype == dtype]  # noqa: E731
    for _ in range(count):
        kind = draw(st.sampled_from(KINDS))
        x = pick()
        t = x.type
        if not t.dtype.is_float:
            continue  # integer values (loop counters) are not operands of random ops
        if kind == "unary":
            values.append(b.add(draw(st.sampled_from(UNARY)), x))
        elif kind == "binary":
            same = [v for v in values if v.type == t]
            y = same[draw(st.integers(0, len(same) - 1))]
            values.append(b.add(draw(st.sampled_from(BINARY)), x, y))
        elif kind in ("binary_const", "identity"):
            c = _const(draw, b, t, splat=kind == "identity" or draw(st.booleans()))
            args = (x, c) if draw(st.booleans()) else (c, x)
            values.append(b.add(draw(st.sampled_from(BINARY)), *args))
        elif kind == "broadcast" and t.rank < 3:
            pos = draw(st.integers(0, t.rank))
            shape = t.shape[:pos] + (draw(st.integers(1, 3)),) + t.shape[pos:]
            dims = tuple(i if i < pos else i + 1 for i in range(t.rank))
            values.append(b.add("xl.broadcast_in_dim", x, shape=shape, dims=dims))
        elif kind == "reduce" and t.rank >= 1:
            axes = tuple(sorted(draw(st.sets(st.integers(0, t.rank - 1), min_size=1))))
            r = b.add(draw(st.sampled_from(["xl.reduce_sum", "xl.reduce_max"])), x, axes=axes)
            if draw(st.booleans()):  # keepdims
                r = b.add("xl.reshape", r, shape=tuple(1 if i in axes else d
                                                       for i, d in enumerate(t.shape)))
            values.append(r)
        elif kind == "reshape":
            values.append(b.add("xl.reshape", x, shape=(t.size,) if t.rank != 1 else (1, t.size)))
        elif kind == "transpose" and t.rank >= 2:
            perm = tuple(draw(st.permutations(range(t.rank))))
            values.append(b.add("xl.transpose", x, perm=perm))
        elif kind == "slice" and t.rank >= 1 and t.size > 1:
            start = tuple(draw(st.integers(0, d - 1)) for d in t.shape)
            limit = tuple(draw(st.integers(s + 1, d)) for s, d in zip(start, t.shape))
            values.append(b.add("xl.slice", x, start=start, limit=limit, stride=(1,) * t.rank))
        elif kind == "dot" and t.rank == 2:
            xt = b.add("xl.transpose", x, perm=(1, 0))
            values.append(b.add("xl.dot_general", x, xt, contract=((1,), (0,))))
        elif kind == "select":
            same = [v for v in values if v.type == t]
            y = same[draw(st.integers(0, len(same) - 1))]
            pred = b.add("xl.compare", x, y, direction=draw(st.sampled_from(["lt", "ge", "eq"])))
            values.append(b.add("xl.select", pred, x, y))
        elif kind == "duplicate" and x.defining_op is not None and not x.defining_op.regions:
            op = x.defining_op
            values.append(b.create(op.name, op.operands, op.attributes).result)
        elif kind == "constant":
            values.append(_const(draw, b, TensorType(_shape(draw), dtype),
                                 splat=draw(st.booleans())))
        elif kind in ("scan", "cond", "while") and depth > 0:
            values.extend(_control(draw, b, kind, x, floats(), dtype, depth - 1))


def _control(draw, b: Builder, kind: str, x: Value, floats: list[Value], dtype: DType,
             depth: int) -> list[Value]:
    """A random scan (carry x, a const, xs), cond (on the sign of a sum) or while (a counted
    loop over x)."""
    t = x.type
    k = floats[draw(st.integers(0, len(floats) - 1))]
    if kind == "scan":
        n = draw(st.integers(0, 3))
        xs = b.add("xl.broadcast_in_dim", k, shape=(n, *k.type.shape),
                   dims=tuple(range(1, k.type.rank + 1)))
        y = draw(st.sampled_from([t, k.type]))
        region, _ = _body(draw, [k.type, t, k.type], dtype, [t, y], depth)
        op = b.insert(Op("xl.scan", [k, x, xs], [t, TensorType((n, *y.shape), dtype)],
                         {"num_consts": 1, "num_carries": 1, "length": n,
                          "reverse": draw(st.booleans()), "remat": draw(st.booleans())},
                         [region]))
        return op.results
    if kind == "cond":
        total = b.add("xl.reduce_sum", k, axes=tuple(range(k.type.rank)))
        if draw(st.booleans()):  # sometimes a constant predicate
            total = _const(draw, b, TensorType((), dtype), splat=True)
        zero = _const(draw, b, TensorType((), dtype), splat=True)
        pred = b.add("xl.compare", total, zero, direction="gt")
        regions = [_body(draw, [t, k.type], dtype, [t], depth)[0] for _ in range(2)]
        return b.insert(Op("xl.cond", [pred, x, k], [t], {}, regions)).results
    limit = draw(st.integers(0, 3))
    i32 = TensorType((), DType.I32)
    count = b.add("xl.constant", value=DenseElements(np.asarray(0, np.int32), i32))
    cond = Block([k.type, i32, t])
    cb = Builder(cond)
    bound = cb.add("xl.constant", value=DenseElements(np.asarray(limit, np.int32), i32))
    cond.append(Op(YIELD, [cb.add("xl.compare", cond.args[1], bound, direction="lt")], []))
    body, block = _body(draw, [k.type, i32, t], dtype, [t], depth)
    one = Builder(block, 0).add("xl.constant", value=DenseElements(np.asarray(1, np.int32), i32))
    nxt = Builder(block, 1).add("xl.add", block.args[1], one)
    term = block.ops[-1]
    carried = term.operands[0]
    term.drop_operands()
    block.ops.remove(term)
    block.append(Op(YIELD, [nxt, carried], []))
    op = b.insert(Op("xl.while", [k, count, x], [i32, t], {"num_consts": 1},
                     [Region([cond]), body]))
    return [op.results[1]]


def random_inputs(module: Module, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-2, 2, t.shape).astype(t.dtype.numpy) for t in module.main.arg_types]


def draw_conv_geometry(data, batch=1):
    """Random conv2d operand shapes and attributes (every padding/stride/dilation/groups mix)."""
    groups = data.draw(st.sampled_from([1, 2]))
    cg, og = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2))
    kh, kw = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    stride = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)))
    dilation = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)))
    padding = ((data.draw(st.integers(0, 1)), data.draw(st.integers(0, 1))),
               (data.draw(st.integers(0, 1)), data.draw(st.integers(0, 1))))
    h = data.draw(st.integers(dilation[0] * (kh - 1) + 1, 5))
    w = data.draw(st.integers(dilation[1] * (kw - 1) + 1, 5))
    attrs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    return (batch, groups * cg, h, w), (groups * og, cg, kh, kw), attrs


#: reshapes the memory plan makes views (of an intermediate, down to rank 0) next to ones it
#: must copy (of an argument); backends check it against the interpreter and count kernels
RESHAPE_VIEWS = """
func @reshape_views(%x: f32[8,8], %s: f32[1,1]) -> (f32[64], f32[64], f32[]) {
  %0 = "xl.exp"(%x) : (f32[8,8]) -> f32[8,8]
  %1 = "xl.reshape"(%0) {shape = [64]} : (f32[8,8]) -> f32[64]
  %2 = "xl.reshape"(%x) {shape = [64]} : (f32[8,8]) -> f32[64]
  %3 = "xl.tanh"(%1) : (f32[64]) -> f32[64]
  %4 = "xl.add"(%3, %2) : (f32[64], f32[64]) -> f32[64]
  %5 = "xl.neg"(%2) : (f32[64]) -> f32[64]
  %6 = "xl.exp"(%s) : (f32[1,1]) -> f32[1,1]
  %7 = "xl.reshape"(%6) {shape = []} : (f32[1,1]) -> f32[]
  %8 = "xl.neg"(%7) : (f32[]) -> f32[]
  return %4, %5, %8
}"""
