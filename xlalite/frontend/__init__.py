"""Front end: tensors, tracing, the NumPy-style API and jit."""
