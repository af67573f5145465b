"""Front end: tensors, tracing, the NumPy-style API and jit."""

from xlalite.frontend import autograd, numpy_api  # noqa: F401  (install themselves into tensors)
