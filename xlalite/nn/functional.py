"""Stateless building blocks (``xlalite.nn.functional``), usable eagerly and under jit."""

from __future__ import annotations

import math

import numpy as np

from xlalite.frontend import numpy_api as xl
from xlalite.frontend.tensor import bind


def relu(x):
    return xl.maximum(x, 0.0)


def gelu(x, approximate: str = "none"):
    if approximate == "tanh":
        return 0.5 * x * (1.0 + xl.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3.0)))
    return 0.5 * x * (1.0 + xl.erf(x * (1 / math.sqrt(2))))


def log_softmax(x, axis: int = -1):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xl.log(xl.exp(shifted).sum(axis=axis, keepdims=True))


def softmax(x, axis: int = -1):
    e = xl.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def cross_entropy(logits, labels, reduction: str = "mean"):
    """Softmax cross-entropy with integer class labels (numerically stable log-softmax)."""
    logp = log_softmax(logits, axis=1)
    picked = bind("xl.gather", [xl.asarray(logp), xl.asarray(labels)], axis=1, batch_dims=1)
    loss = -picked
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


def mse(pred, target, reduction: str = "mean"):
    d = (pred - target) ** 2.0
    return d.mean() if reduction == "mean" else d.sum() if reduction == "sum" else d


def accuracy(logits, labels) -> float:
    return float(np.mean(np.asarray(logits).argmax(axis=1) == np.asarray(labels)))


def pool2d(x, kind: str, kernel: int, stride: int, padding: int):
    return bind(f"xl.reduce_window_{kind}", [xl.asarray(x)], window=(1, 1, kernel, kernel),
                strides=(1, 1, stride, stride),
                padding=((0, 0), (0, 0), (padding, padding), (padding, padding)))
