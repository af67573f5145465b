"""Stateless building blocks (``xlalite.nn.functional``), usable eagerly, under jit and on
graph values (``xlalite.graph``); the signatures follow ``torch.nn.functional``."""

from __future__ import annotations

import math

import numpy as np

from xlalite.frontend import numpy_api as xl
from xlalite.frontend.staging import stage_module
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


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, (int, np.integer)) else (int(v[0]), int(v[1]))


def pool2d(x, kind: str, kernel, stride, padding):
    """Max ("max") or average ("avg", padding counted as zeros) pooling of NCHW input."""
    (kh, kw), (sh, sw), (ph, pw) = _pair(kernel), _pair(stride), _pair(padding)
    return bind(f"xl.reduce_window_{kind}", [xl.asarray(x)], window=(1, 1, kh, kw),
                strides=(1, 1, sh, sw), padding=((0, 0), (0, 0), (ph, ph), (pw, pw)))


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """As torch.nn.functional.max_pool2d (stride defaults to the kernel size)."""
    return pool2d(x, "max", kernel_size, kernel_size if stride is None else stride, padding)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """As torch.nn.functional.avg_pool2d with count_include_pad=True."""
    return pool2d(x, "avg", kernel_size, kernel_size if stride is None else stride, padding)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1):
    """As torch.nn.functional.conv2d: NCHW input, weight (out, in/groups, kh, kw), bias (out,);
    `padding` an int or a pair (symmetric)."""
    ph, pw = _pair(padding)
    y = bind("xl.conv2d", [xl.asarray(x), xl.asarray(weight)], stride=_pair(stride),
             padding=((ph, ph), (pw, pw)), dilation=_pair(dilation), groups=groups)
    return y if bias is None else y + xl.reshape(bias, (1, -1, 1, 1))


def linear(x, weight, bias=None):
    """As torch.nn.functional.linear: ``x @ weight.T + bias``, weight (out, in)."""
    y = xl.matmul(x, xl.transpose(weight))
    return y if bias is None else y + bias


def dropout(x, p: float = 0.5, training: bool = True, key=0):
    """Zero each element with probability `p` and scale the rest by 1/(1-p) when `training`.

    Unlike PyTorch there is no hidden generator: `key` (an integer or integer tensor) picks the
    mask, as in JAX, so a compiled step draws what the eager one does; pass a new key per step
    (``nn.Dropout`` keeps one as state and advances it)."""
    if not 0 <= p < 1:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    if not training or p == 0:
        return x
    keep = xl.random_uniform(key, xl.asarray(x).shape) >= p
    return xl.where(keep, x * (1.0 / (1.0 - p)), 0.0)


stage_module(globals(), ("relu", "gelu", "log_softmax", "softmax", "cross_entropy", "mse",
                         "pool2d", "max_pool2d", "avg_pool2d", "conv2d", "linear", "dropout"))
