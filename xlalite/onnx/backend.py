"""xlalite as an ONNX backend (``onnx.backend.base.Backend``), so that ONNX's conformance suite
``onnx.backend.test.BackendTest`` can run it::

    import onnx.backend.test
    from xlalite.onnx.backend import XlaliteBackend
    globals().update(onnx.backend.test.BackendTest(XlaliteBackend, __name__).test_cases)

The device names the target: ``"CPU"`` is numba-cpu; ``prepare(model, device, target=...)``
picks any registered target (``"interpreter"``, for instance).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep

from xlalite.onnx.model import OnnxModel, load

DEFAULT_TARGET = "numba-cpu"


class XlaliteRep(BackendRep):
    """A prepared model: ``run(inputs)`` returns the outputs in graph-output order."""

    def __init__(self, model: OnnxModel):
        self.model = model

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        if isinstance(inputs, dict):
            return tuple(self.model(inputs))
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        return tuple(self.model(*inputs))


class XlaliteBackend(Backend):
    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", target: str = DEFAULT_TARGET,
                **kwargs: Any) -> XlaliteRep:
        return XlaliteRep(load(model, backend=target))

    @classmethod
    def run_model(cls, model: onnx.ModelProto, inputs: Any, device: str = "CPU",
                  **kwargs: Any) -> tuple[np.ndarray, ...]:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(cls, node: onnx.NodeProto, inputs: Sequence[np.ndarray], device: str = "CPU",
                 outputs_info: Any = None, **kwargs: Any) -> tuple[np.ndarray, ...]:
        raise NotImplementedError("xlalite runs whole models; use prepare() or run_model()")

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device == "CPU"


prepare = XlaliteBackend.prepare
run_model = XlaliteBackend.run_model
supports_device = XlaliteBackend.supports_device
