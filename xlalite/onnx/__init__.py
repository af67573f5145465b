"""ONNX import for xlalite: ``xlalite.onnx.load(path_or_bytes_or_proto)`` returns a callable,
compiled model; ``xlalite.onnx.export(fn, example_inputs, path)`` writes a function or module
as ONNX; ``xlalite.onnx.backend`` runs ONNX's own backend conformance tests.

Needs the ``onnx`` package (``pip install 'xlalite[onnx]'``). See docs/onnx.md.
"""

from xlalite.onnx.errors import UnsupportedTypeError
from xlalite.onnx.export import export, to_model
from xlalite.onnx.model import OnnxModel, load
from xlalite.onnx.registry import HANDLERS, OnnxImportError, UnsupportedOpError


def supported_ops() -> list[str]:
    """The ONNX op types (default domain) xlalite imports."""
    return sorted(HANDLERS)


__all__ = ["OnnxImportError", "OnnxModel", "UnsupportedOpError", "UnsupportedTypeError", "export",
           "load", "supported_ops", "to_model"]
