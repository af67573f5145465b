"""Neural-network layers, losses and initialization shaped like torch.nn."""

from xlalite.frontend.state import Buffer, Parameter
from xlalite.nn import functional, parallel
from xlalite.nn.functional import cross_entropy, mse
from xlalite.nn.layers import (
    GELU,
    AvgPool2d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Embedding,
    Flatten,
    LayerNorm,
    Linear,
    MaxPool2d,
    ReLU,
    Sigmoid,
    Tanh,
)
from xlalite.nn.module import Module, Sequential, manual_seed
from xlalite.nn.recurrent import GRU, LSTM, RNN
from xlalite.nn.sequence import MultiheadAttention, TransformerEncoderLayer

__all__ = ["GELU", "AvgPool2d", "BatchNorm2d", "Buffer", "Conv2d", "Dropout", "Embedding",
           "Flatten", "GRU", "LSTM", "LayerNorm", "Linear", "MaxPool2d", "Module", "MultiheadAttention",
           "Parameter", "RNN", "ReLU", "TransformerEncoderLayer",
           "Sequential", "Sigmoid", "Tanh", "cross_entropy", "functional", "manual_seed", "mse",
           "parallel"]
