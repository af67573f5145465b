"""xlalite in one screen: trace a NumPy-style function, show its IR, run it, compare with NumPy.

    python examples/jit_demo.py
"""

from __future__ import annotations

import numpy as np

import xlalite as xl


def mlp_loss(x, w1, b1, w2, labels):
    """A two-layer MLP with a numerically stable softmax cross-entropy."""
    h = xl.tanh(x @ w1 + b1)
    logits = h @ w2
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - xl.log(xl.exp(shifted).sum(axis=1, keepdims=True))
    picked = xl.where(xl.arange(logits.shape[1]) == labels[:, None], log_probs, 0.0)
    return -picked.sum() / x.shape[0]


def numpy_reference(x, w1, b1, w2, labels):
    h = np.tanh(x @ w1 + b1)
    logits = h @ w2
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_probs[np.arange(len(labels)), labels].mean()


def main() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 4)).astype(np.float32)
    w1 = rng.standard_normal((4, 16)).astype(np.float32) * 0.5
    b1 = np.zeros(16, np.float32)
    w2 = rng.standard_normal((16, 3)).astype(np.float32) * 0.5
    labels = rng.integers(0, 3, 8).astype(np.int32)

    loss = xl.jit(mlp_loss)
    print("== IR traced from mlp_loss ==")
    print(loss.lower(x, w1, b1, w2, labels).as_text())

    got = loss(x, w1, b1, w2, labels)
    want = numpy_reference(x, w1, b1, w2, labels)
    print(f"xlalite loss = {float(got):.6f}   numpy loss = {want:.6f}")
    assert abs(float(got) - want) < 1e-5, "xlalite and NumPy disagree"

    loss(x * 2, w1, b1, w2, labels)  # same signature: served from the cache
    print("jit cache:", loss.cache_info())

    eager = mlp_loss(xl.tensor(x), w1, b1, w2, labels)  # eager mode: the same code, op by op
    print(f"eager loss   = {float(eager):.6f}")


if __name__ == "__main__":
    main()
