"""ONNX products: MatMul, Gemm and Einsum (as ``xl.dot_general``)."""

from __future__ import annotations

from typing import Any

import xlalite.frontend.numpy_api as xnp
from xlalite.frontend.tensor import TensorBase, bind
from xlalite.onnx.ops.common import binary, scalar, t
from xlalite.onnx.registry import Node, handler


@handler("MatMul")
def matmul(node: Node, a: Any, b: Any) -> TensorBase:
    return xnp.matmul(t(a), t(b))


@handler("Gemm")
def gemm(node: Node, a: Any, b: Any, c: Any = None) -> TensorBase:
    a, b = t(a), t(b)
    if node.attr("transA", 0):
        a = xnp.transpose(a)
    if node.attr("transB", 0):
        b = xnp.transpose(b)
    y = xnp.matmul(a, b)
    alpha, beta = node.attr("alpha", 1.0), node.attr("beta", 1.0)
    if alpha != 1.0:
        y = y * scalar(alpha, y)
    if c is not None and beta != 0.0:
        c = t(c)
        y = binary("xl.add", y, c if beta == 1.0 else c * scalar(beta, c))
    return y


def _parse(node: Node, equation: str, n: int) -> tuple[list[str], str]:
    eq = equation.replace(" ", "")
    lhs, arrow, out = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != n:
        raise node.error(f"equation {equation!r} names {len(terms)} operands, the node has {n}")
    if "." in eq:
        raise node.unsupported("ellipsis ('...') in an Einsum equation")
    if not arrow:  # implicit output: labels seen once, in alphabetical order
        out = "".join(sorted(c for c in set(lhs) - {","} if lhs.count(c) == 1))
    for term in terms:
        if len(set(term)) != len(term):
            raise node.unsupported(f"a repeated label in {term!r} (diagonals)")
    return terms, out


def _sum_out(x: TensorBase, labels: str, keep: set[str]) -> tuple[TensorBase, str]:
    """Sum away the labels of `x` no one else needs."""
    axes = [i for i, c in enumerate(labels) if c not in keep]
    if not axes:
        return x, labels
    return xnp.sum(x, tuple(axes)), "".join(c for c in labels if c in keep)


@handler("Einsum")
def einsum(node: Node, *xs: Any) -> TensorBase:
    terms, out = _parse(node, node.attr("equation"), len(xs))
    ts = [t(x) for x in xs]
    for x, term in zip(ts, terms):
        if x.ndim != len(term):
            raise node.error(f"operand of rank {x.ndim} for the term {term!r}")
    acc, acc_labels = ts[0], terms[0]
    for k in range(1, len(ts) + 1):
        later = set(out).union(*terms[k:])
        acc, acc_labels = _sum_out(acc, acc_labels, later)
        if k == len(ts):
            break
        rhs, rhs_labels = _sum_out(ts[k], terms[k], later | set(acc_labels))
        needed = set(out).union(*terms[k + 1:])
        shared = [c for c in acc_labels if c in rhs_labels]
        batch = [c for c in shared if c in needed]
        contract = [c for c in shared if c not in needed]
        acc = bind("xl.dot_general", [acc, rhs],
                   contract=(tuple(acc_labels.index(c) for c in contract),
                             tuple(rhs_labels.index(c) for c in contract)),
                   batch=(tuple(acc_labels.index(c) for c in batch),
                          tuple(rhs_labels.index(c) for c in batch)))
        acc_labels = "".join(batch) + "".join(c for c in acc_labels if c not in shared) + \
            "".join(c for c in rhs_labels if c not in shared)
    return xnp.transpose(acc, [acc_labels.index(c) for c in out]) if out else acc
