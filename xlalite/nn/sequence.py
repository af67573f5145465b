"""Attention layers: ``MultiheadAttention``, ``TransformerEncoderLayer`` (PyTorch's parameter
layouts; inputs are sequence-first (T, B, ...) unless ``batch_first``). The recurrent layers
are in ``recurrent.py``."""

from __future__ import annotations

import math

import numpy as np

from xlalite.frontend.state import Parameter
from xlalite.nn import functional as F
from xlalite.nn.layers import Dropout, LayerNorm, Linear, _uniform
from xlalite.nn.module import Module


class MultiheadAttention(Module):
    """Self-attention with `num_heads` heads on (B, S, E) input (PyTorch's in_proj layout)."""

    def __init__(self, embed_dim: int, num_heads: int):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError("embed_dim must be divisible by num_heads")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        bound = math.sqrt(6 / (2 * embed_dim))
        self.in_proj_weight = Parameter(_uniform((3 * embed_dim, embed_dim), bound))
        self.in_proj_bias = Parameter(np.zeros(3 * embed_dim, np.float32))
        self.out_proj = Linear(embed_dim, embed_dim)

    def forward(self, x):
        b, s, e = x.shape
        heads, dh = self.num_heads, e // self.num_heads
        qkv = x @ self.in_proj_weight.T + self.in_proj_bias  # (B, S, 3E)

        def split(k: int):
            part = qkv[:, :, k * e:(k + 1) * e].reshape((b, s, heads, dh))
            return part.transpose(0, 2, 1, 3)  # (B, H, S, Dh)

        q, k, v = split(0), split(1), split(2)
        scores = (q @ k.transpose(0, 1, 3, 2)) * (1.0 / math.sqrt(dh))
        attended = F.softmax(scores, axis=-1) @ v  # (B, H, S, Dh)
        merged = attended.transpose(0, 2, 1, 3).reshape((b, s, e))
        return self.out_proj(merged)


class TransformerEncoderLayer(Module):
    """Post-norm encoder layer: x = norm1(x + attn(x)); x = norm2(x + ff(x)) (ReLU)."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, batch_first: bool = False):
        super().__init__()
        self.batch_first = batch_first
        self.self_attn = MultiheadAttention(d_model, nhead)
        self.linear1 = Linear(d_model, dim_feedforward)
        self.linear2 = Linear(dim_feedforward, d_model)
        self.norm1, self.norm2 = LayerNorm(d_model), LayerNorm(d_model)
        self.dropout = Dropout(dropout)
        self.dropout1, self.dropout2 = Dropout(dropout), Dropout(dropout)

    def forward(self, x):
        if not self.batch_first:
            x = x.transpose(1, 0, 2)
        x = self.norm1(x + self.dropout1(self.self_attn(x)))
        ff = self.linear2(self.dropout(F.relu(self.linear1(x))))
        x = self.norm2(x + self.dropout2(ff))
        return x if self.batch_first else x.transpose(1, 0, 2)
