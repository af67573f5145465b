"""ONNX op handlers, one module per family; importing this package registers them all."""

from xlalite.onnx.ops import control, elementwise, linalg, nn, reduce, rnn, shape  # noqa: F401
