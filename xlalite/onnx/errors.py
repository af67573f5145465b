"""The errors ONNX import raises; each names what it could not take and where."""

from __future__ import annotations


class UnsupportedOpError(NotImplementedError):
    """A node whose op type, domain, opset or input form xlalite cannot import."""

    def __init__(self, op_type: str, node_name: str, domain: str, opset: int, why: str = ""):
        self.op_type, self.node_name, self.domain, self.opset = op_type, node_name, domain, opset
        where = f"node {node_name!r}" if node_name else "an unnamed node"
        detail = f": {why}" if why else ""
        super().__init__(f"ONNX op {op_type!r} (domain {domain or 'ai.onnx'!r}, opset {opset}) "
                         f"at {where} is not supported{detail}")


class OnnxImportError(ValueError):
    """A malformed model: a missing input, a bad attribute, an unsafe external-data path."""


class UnsupportedTypeError(NotImplementedError):
    """An element type the IR does not have (yet): f16, the small integers, strings..."""
