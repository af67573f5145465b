"""Layers shaped like torch.nn: each declares its parameters and a ``forward``."""

from __future__ import annotations

import math

import numpy as np

from xlalite.frontend import numpy_api as xl
from xlalite.frontend.state import Buffer, Parameter
from xlalite.frontend.tensor import no_grad
from xlalite.nn import functional as F
from xlalite.nn.module import Module, generator


def _uniform(shape: tuple[int, ...], bound: float) -> np.ndarray:
    return generator().uniform(-bound, bound, shape).astype(np.float32)


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)  # type: ignore[return-value]


class Linear(Module):
    """y = x @ W.T + b, W of shape (out, in); PyTorch's default (Kaiming-uniform) init."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        bound = 1 / math.sqrt(in_features)
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(_uniform((out_features, in_features), bound))
        self.bias = Parameter(_uniform((out_features,), bound)) if bias else None

    def forward(self, x):
        y = x @ self.weight.T
        return y + self.bias if self.bias is not None else y

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}"


class Conv2d(Module):
    """2-D convolution on NCHW input; weight (out, in/groups, kh, kw)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True):
        super().__init__()
        kh, kw = _pair(kernel_size)
        self.stride, self.dilation, self.groups = _pair(stride), _pair(dilation), groups
        self.padding = _pair(padding)
        bound = 1 / math.sqrt(in_channels // groups * kh * kw)
        self.weight = Parameter(_uniform((out_channels, in_channels // groups, kh, kw), bound))
        self.bias = Parameter(_uniform((out_channels,), bound)) if bias else None

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


class MaxPool2d(Module):
    def __init__(self, kernel_size: int, stride: int | None = None, padding: int = 0):
        super().__init__()
        self.k, self.s, self.p = kernel_size, stride or kernel_size, padding

    def forward(self, x):
        return F.pool2d(x, "max", self.k, self.s, self.p)


class AvgPool2d(MaxPool2d):
    def forward(self, x):
        return F.pool2d(x, "avg", self.k, self.s, self.p)


class Flatten(Module):
    def __init__(self, start_dim: int = 1):
        super().__init__()
        self.start_dim = start_dim

    def forward(self, x):
        return x.reshape(tuple(x.shape[:self.start_dim]) + (-1,))


class ReLU(Module):
    def forward(self, x):
        return F.relu(x)


class GELU(Module):
    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, self.approximate)


class Tanh(Module):
    def forward(self, x):
        return xl.tanh(x)


class Sigmoid(Module):
    def forward(self, x):
        return xl.sigmoid(x)


class Dropout(Module):
    """Zero elements with probability p in training (scaling the rest by 1/(1-p)).

    The random key is explicit state: a counter seeded from ``nn.manual_seed`` and advanced
    on every call, so compiled and eager runs draw the same masks."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = p
        self.key = Buffer(np.array(generator().integers(0, 2**62), np.int64))

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        key = self.key + 1
        with no_grad():
            self.key.assign(key)
        return F.dropout(x, self.p, True, key)


class LayerNorm(Module):
    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.axes = tuple(range(-len(shape), 0))
        self.eps = eps
        self.weight = Parameter(np.ones(shape, np.float32))
        self.bias = Parameter(np.zeros(shape, np.float32))

    def forward(self, x):
        mean = x.mean(axis=self.axes, keepdims=True)
        var = ((x - mean) ** 2.0).mean(axis=self.axes, keepdims=True)
        return (x - mean) * xl.rsqrt(var + self.eps) * self.weight + self.bias


class Embedding(Module):
    def __init__(self, num_embeddings: int, embedding_dim: int):
        super().__init__()
        self.weight = Parameter(generator().standard_normal(
            (num_embeddings, embedding_dim)).astype(np.float32))

    def forward(self, indices):
        return self.weight[xl.asarray(indices)]


class BatchNorm2d(Module):
    """Batch normalization over N, H, W; running statistics are buffers updated in training."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = Parameter(np.ones(num_features, np.float32))
        self.bias = Parameter(np.zeros(num_features, np.float32))
        self.running_mean = Buffer(np.zeros(num_features, np.float32))
        self.running_var = Buffer(np.ones(num_features, np.float32))

    def forward(self, x):
        shape = (1, -1, 1, 1)
        if self.training:
            mean = x.mean(axis=(0, 2, 3))
            var = ((x - mean.reshape(shape)) ** 2.0).mean(axis=(0, 2, 3))
            n = x.size // x.shape[1]
            with no_grad():
                m = self.momentum
                self.running_mean.assign(self.running_mean * (1 - m) + mean * m)
                unbiased = var * (n / max(n - 1, 1))
                self.running_var.assign(self.running_var * (1 - m) + unbiased * m)
        else:
            mean, var = self.running_mean, self.running_var
        inv = xl.rsqrt(var + self.eps).reshape(shape)
        return (x - mean.reshape(shape)) * inv * self.weight.reshape(shape) + self.bias.reshape(shape)
