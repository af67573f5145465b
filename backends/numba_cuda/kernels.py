"""CUDA kernel emitters for every op but products and convolutions (see products.py).

Each emitter returns a :class:`CudaKernel`: the source of ``def kernel(in0, ..., out)`` (the
``@cuda.jit`` line is added by the cache) and its launch configuration. Shapes are static per
compiled signature, so launch sizes are computed here; kernels read extents from their arrays.

* **loop** kernels (elementwise and broadcast groups, and each injective op): one thread per
  output element in a grid-stride loop; the element is computed by the shared ``ExprGen``
  (the same index algebra as numba-cpu, with CUDA's element table) or by an index map below;
* **reduction** kernels: one block per output element, the prologue computed while each
  thread sweeps its share of the reduced elements, a shared-memory tree over the threads, and
  the epilogue on thread 0; reductions of fewer than SMALL_REDUCTION elements run one thread
  per output instead;
* **windowed** ops: one thread per output (pooling) or per input element (max pooling's
  gradient, which gathers from the windows holding it: deterministic, no atomics);
* ``scatter_add``: a copy, then one thread per update with an atomic add.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from numba.core import config  # reads NUMBA_ENABLE_CUDASIM; imports no CUDA

from xlalite.backends.base import CodegenError
from xlalite.backends.numba_common.expr import ExprGen, combine, index_text
from xlalite.backends.numba_common.scalar import convert, literal
from xlalite.backends.numba_cuda.scalar import CUDA_SCALARS
from xlalite.ir.core import Op, Value
from xlalite.ops.reduce import identity

#: threads per block of grid-stride and reduction kernels; the simulator runs each thread as
#: a Python thread, so it gets 32 (the kernels' logic holds for any power of two)
THREADS = 32 if getattr(config, "ENABLE_CUDASIM", False) else 256
MAX_BLOCKS = 4096  # grid-stride kernels loop when there is more work than this
SMALL_REDUCTION = 64  # fewer reduced elements than this: one thread per output


@dataclass(frozen=True)
class CudaKernel:
    """Kernel source and launch: ``kernel[blocks, threads](*arrays)``."""

    source: str
    blocks: tuple[int, ...] | int
    threads: tuple[int, ...] | int

    @property
    def note(self) -> str:
        return f"launched [{self.blocks}, {self.threads}]"


def scalars_as_vectors(source: str) -> str:
    """Rank-0 arrays live on the device as one-element vectors (the simulator cannot index a
    0-d array), so kernels read and write them at [0]."""
    return source.replace("[()]", "[0]")


def grid_for(size: int) -> int:
    return max(1, min(MAX_BLOCKS, -(-size // THREADS)))


def decompose(flat: str, names: Sequence[str], array: str, pad: str) -> list[str]:
    """Statements splitting flat index `flat` into `names` over `array`'s shape (C order)."""
    if not names:
        return []
    lines = [f"{pad}rest = {flat}"]
    for d in range(len(names) - 1, 0, -1):
        lines += [f"{pad}{names[d]} = rest % {array}.shape[{d}]", f"{pad}rest = rest // {array}.shape[{d}]"]
    lines.append(f"{pad}{names[0]} = rest")
    return lines


def grid_stride(params: Sequence[str], size: int, body: Sequence[str], names: Sequence[str],
                store: str, extent: str = "out") -> CudaKernel:
    """A kernel running `body` then `store` for every element of `extent`'s index space."""
    lines = [f"def kernel({', '.join(params)}):",
             "    for flat in range(cuda.grid(1), " + f"{extent}.size, cuda.gridsize(1)):"]
    lines += decompose("flat", names, extent, "        ")
    lines += ["        " + s for s in body] + ["        " + store]
    return CudaKernel("\n".join(lines) + "\n", grid_for(size), THREADS)


def element_gen(inputs: Sequence[Value], idx: Sequence[str], bound: dict[Value, str] | None = None,
                names: dict[Value, str] | None = None) -> ExprGen:
    """The shared element generator, everything at one depth, with CUDA's element table."""
    return ExprGen({x: 1 for x in idx}, names or {v: f"in{k}" for k, v in enumerate(inputs)},
                   bound or {}, itertools.count(), CUDA_SCALARS)


def flat_statements(gen: ExprGen) -> list[str]:
    return [s for d in sorted(gen.buckets) for s in gen.buckets[d]]


def loop_kernel(ops: Sequence[Op], inputs: Sequence[Value], root: Value) -> CudaKernel:
    """out[i...] = root(i...) for an elementwise/broadcast group (or one such op)."""
    idx = [f"i{d}" for d in range(root.type.rank)]
    gen = element_gen(inputs, idx)
    result = gen.at(root, tuple(idx))
    params = [f"in{k}" for k in range(len(inputs))] + ["out"]
    return grid_stride(params, root.type.size, flat_statements(gen), idx,
                       f"out[{index_text(idx)}] = {result}")


# ------------------------------------------------------------------ injective ops: index maps
IndexMap = Callable[[Op, list[str]], tuple[list[str], str]]


def _transpose(op: Op, i: list[str]) -> tuple[list[str], str]:
    src = [""] * len(i)
    for d, p in enumerate(op.attributes["perm"]):
        src[p] = i[d]
    return [], f"in0[{index_text(src)}]"


def _reshape(op: Op, i: list[str]) -> tuple[list[str], str]:
    out_shape = op.results[0].type.shape
    terms = [f"{v} * {math.prod(out_shape[d + 1:])}" for d, v in enumerate(i)]
    src = [f"j{d}" for d in range(op.operands[0].type.rank)]
    lines = [f"lin = {' + '.join(terms) or '0'}"] + [s.strip() for s in decompose("lin", src, "in0", "")]
    return lines, f"in0[{index_text(src)}]"


def _slice(op: Op, i: list[str]) -> tuple[list[str], str]:
    a = op.attributes
    src = [f"{s} + {v} * {st}" for v, s, st in zip(i, a["start"], a["stride"])]
    return [], f"in0[{index_text(src)}]"


def _concatenate(op: Op, i: list[str]) -> tuple[list[str], str]:
    axis = op.attributes["axis"]
    lines, offset = [], 0
    for k, x in enumerate(op.operands):
        n = x.type.shape[axis]
        src = list(i)
        src[axis] = f"{i[axis]} - {offset}"
        cond = "if" if k == 0 else "elif"
        lines += [f"{cond} {i[axis]} < {offset + n}:", f"    v = in{k}[{index_text(src)}]"]
        offset += n
    return lines, "v"


def _pad(op: Op, i: list[str]) -> tuple[list[str], str]:
    a = op.attributes
    x = op.operands[0].type
    lines, inside, src = [], [], []
    for d, v in enumerate(i):
        step = a["interior"][d] + 1
        lines.append(f"p{d} = {v} - {a['low'][d]}")
        inside.append(f"p{d} >= 0 and p{d} % {step} == 0 and p{d} // {step} < {x.shape[d]}")
        src.append(f"p{d} // {step}")
    cond = " and ".join(inside) or "True"
    return lines, f"(in0[{index_text(src)}] if {cond} else in1[()])"


def _gather(op: Op, i: list[str]) -> tuple[list[str], str]:
    axis, bd = op.attributes["axis"], op.attributes["batch_dims"]
    x, idx = op.operands[0].type, op.operands[1].type
    k = idx.rank - bd  # index dims taking x's `axis` place in the result
    b, ix, rest = i[:axis], i[axis:axis + k], i[axis + k:]
    lines = [f"j = in1[{index_text(i[:bd] + ix)}]",
             f"j = 0 if j < 0 else ({x.shape[axis] - 1} if j > {x.shape[axis] - 1} else j)"]
    return lines, f"in0[{index_text(b + ['j'] + rest)}]"


def _iota(op: Op, i: list[str]) -> tuple[list[str], str]:
    return [], convert(i[op.attributes["dim"]], op.results[0].type.dtype)


INDEX_MAPS: dict[str, IndexMap] = {
    "xl.transpose": _transpose,
    "xl.reshape": _reshape,
    "xl.slice": _slice,
    "xl.concatenate": _concatenate,
    "xl.pad": _pad,
    "xl.gather": _gather,
}


def injective_kernel(op: Op) -> CudaKernel:
    idx = [f"i{d}" for d in range(op.results[0].type.rank)]
    body, value = INDEX_MAPS[op.name](op, idx)
    params = [f"in{k}" for k in range(len(op.operands))] + ["out"]
    return grid_stride(params, op.results[0].type.size, body, idx, f"out[{index_text(idx)}] = {value}")


# ------------------------------------------------------------------ reductions
def reduction_kernel(ops: Sequence[Op], inputs: Sequence[Value], root: Value, anchor: Op) -> CudaKernel:
    """out[o...] = epilogue(reduce over the reduced axes of prologue(x)[o..., r...])."""
    src = anchor.operands[0]
    axes = anchor.attributes["axes"]
    kind = anchor.name.removeprefix("xl.reduce_")
    dtype = src.type.dtype
    out_idx = [f"o{d}" for d in range(anchor.results[0].type.rank)]
    red_idx = [f"r{d}" for d in range(len(axes))]
    it_out, it_red = iter(out_idx), iter(red_idx)
    full = tuple(next(it_red) if d in axes else next(it_out) for d in range(src.type.rank))
    n_red = math.prod(src.type.shape[a] for a in axes)
    n_out = anchor.results[0].type.size
    init = literal(identity(kind, dtype.numpy).item(), dtype)
    pro = element_gen(inputs, list(out_idx) + red_idx)
    value = pro.at(src, full)
    epi = element_gen(inputs, out_idx, bound={anchor.results[0]: "acc"})
    result = epi.at(root, tuple(out_idx))
    params = [f"in{k}" for k in range(len(inputs))] + ["out"]
    extents = ", ".join(str(src.type.shape[a]) for a in axes)
    red_loop = [f"    red_shape = ({extents},)"] if axes else []
    pad = "            "
    decompose_red = [f"{pad}rest = q"]
    for d in range(len(red_idx) - 1, 0, -1):
        decompose_red += [f"{pad}{red_idx[d]} = rest % red_shape[{d}]", f"{pad}rest = rest // red_shape[{d}]"]
    if red_idx:
        decompose_red.append(f"{pad}{red_idx[0]} = rest")
    body = [pad + s for s in flat_statements(pro)]
    fold = f"{pad}acc = {combine(kind, 'acc', value, dtype.is_float)}"
    store = [f"        {s}" for s in flat_statements(epi)]
    store.append(f"        out[{index_text(out_idx)}] = {result}")
    if n_red < SMALL_REDUCTION:  # one thread per output, a sequential loop
        lines = [f"def kernel({', '.join(params)}):"] + red_loop + [
            "    for flat in range(cuda.grid(1), out.size, cuda.gridsize(1)):"]
        lines += decompose("flat", out_idx, "out", "        ")
        lines += [f"        acc = {init}", f"        for q in range({n_red}):"]
        lines += decompose_red + body + [fold] + store
        return CudaKernel("\n".join(lines) + "\n", grid_for(n_out), THREADS)
    np_dtype = f"numba.{dtype.numpy.name}" if dtype.is_float or dtype.is_int else "numba.boolean"
    lines = [f"def kernel({', '.join(params)}):"] + red_loop + [
        f"    part = cuda.shared.array({THREADS}, {np_dtype})",
        "    t = cuda.threadIdx.x",
        "    for flat in range(cuda.blockIdx.x, out.size, cuda.gridDim.x):"]
    lines += decompose("flat", out_idx, "out", "        ")
    lines += [f"        acc = {init}", f"        for q in range(t, {n_red}, {THREADS}):"]
    lines += decompose_red + body + [fold]
    lines += ["        part[t] = acc", "        cuda.syncthreads()", f"        width = {THREADS // 2}",
              "        while width > 0:",  # a tree over the block: log2(THREADS) steps
              "            if t < width:",
              f"                part[t] = {combine(kind, 'part[t]', 'part[t + width]', dtype.is_float)}",
              "            cuda.syncthreads()", "            width //= 2",
              "        if t == 0:", "            acc = part[0]"]
    lines += ["    " + s for s in store] + ["        cuda.syncthreads()"]
    return CudaKernel("\n".join(lines) + "\n", max(1, min(n_out, MAX_BLOCKS)), THREADS)


# ------------------------------------------------------------------ windows, argmax, rng, scatter
def _window_offsets(op: Op, lines: list[str], pad: str, out: Sequence[str]) -> tuple[str, str]:
    """Loops over the window of output `out` (bounds tests on padded dims); returns the
    innermost padding and the input index."""
    a = op.attributes
    x = op.operands[0].type
    for d in range(x.rank):
        (low, high), s = a["padding"][d], a["strides"][d]
        lines.append(f"{pad}for w{d} in range({a['window'][d]}):")
        pad += "    "
        lines.append(f"{pad}p{d} = {out[d]} * {s} + w{d} - {low}")
        if low or high:
            lines += [f"{pad}if p{d} < 0 or p{d} >= {x.shape[d]}:", f"{pad}    continue"]
    return pad, index_text([f"p{d}" for d in range(x.rank)])


def window_kernel(op: Op) -> CudaKernel:
    """Max (padding -inf) or mean (padding counts in the divisor) over each window."""
    x = op.operands[0].type
    is_max = op.name.endswith("max")
    out = [f"o{d}" for d in range(x.rank)]
    init = literal(identity("max" if is_max else "sum", x.dtype.numpy).item(), x.dtype)
    lines = ["def kernel(in0, out):", "    for flat in range(cuda.grid(1), out.size, cuda.gridsize(1)):"]
    lines += decompose("flat", out, "out", "        ") + [f"        acc = {init}"]
    pad, index = _window_offsets(op, lines, "        ", out)
    if is_max:
        lines += [f"{pad}v = in0[{index}]", f"{pad}acc = v if (v > acc or v != v) else acc"]
        result = "acc"
    else:
        lines.append(f"{pad}acc += in0[{index}]")
        result = f"acc / {literal(math.prod(op.attributes['window']), x.dtype)}"
    lines.append(f"        out[{index_text(out)}] = {result}")
    return CudaKernel("\n".join(lines) + "\n", grid_for(op.results[0].type.size), THREADS)


def window_max_grad_kernel(op: Op) -> CudaKernel:
    """One thread per input element p: the sum of g over the windows whose first maximum
    (first NaN) is p. The windows holding p along dim d are those o with
    o*s - low <= p < o*s - low + w."""
    a = op.attributes
    x, g = op.operands[0].type, op.operands[1].type
    rank = x.rank
    pos = [f"x{d}" for d in range(rank)]
    lines = ["def kernel(in0, in1, out):", "    for flat in range(cuda.grid(1), out.size, cuda.gridsize(1)):"]
    lines += decompose("flat", pos, "out", "        ") + [f"        total = {literal(0, x.dtype)}"]
    pad = "        "
    for d in range(rank):  # candidate windows along each dim
        (low, _), s, w = a["padding"][d], a["strides"][d], a["window"][d]
        lines += [f"{pad}lo{d} = ({pos[d]} + {low} - {w} + {s}) // {s}",
                  f"{pad}lo{d} = lo{d} if lo{d} > 0 else 0",
                  f"{pad}hi{d} = ({pos[d]} + {low}) // {s} + 1",
                  f"{pad}hi{d} = hi{d} if hi{d} < {g.shape[d]} else {g.shape[d]}",
                  f"{pad}for o{d} in range(lo{d}, hi{d}):"]
        pad += "    "
    out = [f"o{d}" for d in range(rank)]
    init = literal(identity("max", x.dtype.numpy).item(), x.dtype)
    lines += [f"{pad}best = {init}", f"{pad}found = False", f"{pad}first = False"]
    inner, index = _window_offsets(op, lines, pad, out)
    same = " and ".join(f"p{d} == {pos[d]}" for d in range(rank)) or "True"
    lines += [f"{inner}v = in0[{index}]",
              f"{inner}if not found or v > best or (v != v and best == best):",
              f"{inner}    found = True", f"{inner}    best = v", f"{inner}    first = {same}"]
    lines += [f"{pad}if first:", f"{pad}    total += in1[{index_text(out)}]"]
    lines.append(f"        out[{index_text(pos)}] = total")
    return CudaKernel("\n".join(lines) + "\n", grid_for(x.size), THREADS)


def argmax_kernel(op: Op) -> CudaKernel:
    """The index of the first maximum along `axis` (the first NaN wins, as in NumPy)."""
    x = op.operands[0].type
    axis = op.attributes["axis"]
    out = [f"o{d}" for d in range(op.results[0].type.rank)]
    src = out[:axis] + ["k"] + out[axis:]
    first = out[:axis] + ["0"] + out[axis:]
    lines = ["def kernel(in0, out):", "    for flat in range(cuda.grid(1), out.size, cuda.gridsize(1)):"]
    lines += decompose("flat", out, "out", "        ")
    lines += [f"        best = in0[{index_text(first)}]", "        at = 0",
              "        if best == best:",
              f"            for k in range(1, {x.shape[axis]}):",
              f"                v = in0[{index_text(src)}]",
              "                if v != v:", "                    at = k", "                    break",
              "                if v > best:", "                    best = v", "                    at = k",
              f"        out[{index_text(out)}] = at"]
    return CudaKernel("\n".join(lines) + "\n", grid_for(op.results[0].type.size), THREADS)


_MIX = ["z = (z ^ (z >> numba.uint64(30))) * numba.uint64(0xBF58476D1CE4E5B9)",
        "z = (z ^ (z >> numba.uint64(27))) * numba.uint64(0x94D049BB133111EB)",
        "z = z ^ (z >> numba.uint64(31))"]


def rng_kernel(op: Op) -> CudaKernel:
    """Element k: SplitMix64 of (key, k), bit-identical to the reference in ops/random.py."""
    t = op.results[0].type
    normal = op.attributes["distribution"] == "normal"
    mant = 24 if t.dtype.value == "f32" else 53
    golden = "numba.uint64(0x9E3779B97F4A7C15)"
    idx = [f"i{d}" for d in range(t.rank)]
    lines = ["def kernel(in0, out):", "    z = numba.uint64(numba.int64(in0[()]))"]
    lines += ["    " + s for s in _MIX] + ["    base = z",
                                          "    for k in range(cuda.grid(1), out.size, cuda.gridsize(1)):"]
    lines += decompose("k", idx, "out", "        ")
    target = f"out[{index_text(idx)}]"

    def word(counter: str, name: str) -> list[str]:
        return [f"        z = base + numba.uint64({counter}) * {golden}"] + ["        " + s for s in _MIX] + [
            f"        {name} = z"]

    if normal:
        lines += word("2 * k + 1", "b1") + word("2 * k + 2", "b2")
        lines += ["        u1 = 1.0 - float(b1 >> numba.uint64(11)) * 2.0 ** -53",
                  "        u2 = float(b2 >> numba.uint64(11)) * 2.0 ** -53",
                  f"        {target} = math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)"]
    else:
        lines += word("k + 1", "b")
        lines.append(f"        {target} = float(b >> numba.uint64({64 - mant})) * 2.0 ** -{mant}")
    return CudaKernel("\n".join(lines) + "\n", grid_for(t.size), THREADS)


def scatter_add_kernels(op: Op) -> list[CudaKernel]:
    """out = x (a copy kernel), then one thread per update: atomic out[.., clip(j), ..] += u."""
    axis, bd = op.attributes["axis"], op.attributes["batch_dims"]
    x, idx, upd = (v.type for v in op.operands)
    copy_idx = [f"i{d}" for d in range(x.rank)]
    copy = grid_stride(["in0", "in1", "in2", "out"], x.size, [], copy_idx,
                       f"out[{index_text(copy_idx)}] = in0[{index_text(copy_idx)}]")
    u = [f"u{d}" for d in range(upd.rank)]
    k = idx.rank - bd
    b, ix, rest = u[:axis], u[axis:axis + k], u[axis + k:]
    if not x.dtype.is_float and not x.dtype.is_int:
        raise CodegenError("numba-cuda scatter_add needs a numeric operand")
    lines = ["def kernel(in0, in1, in2, out):",
             "    for flat in range(cuda.grid(1), in2.size, cuda.gridsize(1)):"]
    lines += decompose("flat", u, "in2", "        ")
    lines += [f"        j = in1[{index_text(u[:bd] + ix)}]",
              f"        j = 0 if j < 0 else ({x.shape[axis] - 1} if j > {x.shape[axis] - 1} else j)",
              f"        cuda.atomic.add(out, ({', '.join(b + ['j'] + rest)},), in2[{index_text(u)}])"]
    return [copy, CudaKernel("\n".join(lines) + "\n", grid_for(upd.size), THREADS)]
