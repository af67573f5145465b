"""ONNX's own backend conformance suite (``onnx.backend.test.BackendTest``) run on xlalite.

Node cases of every supported op run on the interpreter (the oracle, seconds for all of them)
and, on numba-cpu, a sample of every `SAMPLE`-th case (all of them with XLALITE_NIGHTLY=1).
A case that needs an element type the IR lacks, or an input form xlalite reports as
unsupported, is a skip with the reason; any other error is a failure. The nine light
real-architecture models run on numba-cpu.
"""

from __future__ import annotations

import os
import unittest

import onnx.backend.test
import pytest

from xlalite.onnx import UnsupportedOpError, UnsupportedTypeError
from xlalite.onnx.backend import XlaliteBackend, XlaliteRep
from xlalite.onnx.conformance import cases
from xlalite.onnx.registry import HANDLERS

NIGHTLY = os.environ.get("XLALITE_NIGHTLY") == "1"
SAMPLE = 1 if NIGHTLY else 6
LIGHT_MODELS = ["bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50",
                "shufflenet", "squeezenet", "vgg19", "zfnet512"]


def _skipping(fn):
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (UnsupportedTypeError, UnsupportedOpError) as e:
            raise unittest.SkipTest(f"{type(e).__name__}: {e}") from None
    return run


class _SkippingRep(XlaliteRep):
    run = _skipping(XlaliteRep.run)


def backend_for(target: str) -> type[XlaliteBackend]:
    class Backend(XlaliteBackend):
        @classmethod
        @_skipping
        def prepare(cls, model, device="CPU", **kwargs):
            return _SkippingRep(XlaliteBackend.prepare(model, device, target=target).model)
    Backend.__name__ = f"XlaliteBackend_{target.replace('-', '_')}"
    return Backend


_NODE_CASES = sorted(c.name for c in cases() if c.op in HANDLERS)


def _suite(target: str, names: list[str], prefix: str) -> dict[str, type]:
    runner = onnx.backend.test.BackendTest(backend_for(target), __name__)
    wanted = {f"{name}_cpu" for name in names}
    runner.include("^(" + "|".join(names) + ")_cpu$")
    suites = {}
    for name, cls in runner.test_cases.items():
        for attr in [a for a in vars(cls) if a.startswith("test_") and a not in wanted]:
            delattr(cls, attr)  # not ours: left out rather than reported as thousands of skips
        suites[f"{prefix}{name}"] = cls
    return suites


globals().update(_suite("interpreter", _NODE_CASES, "Interpreter"))
globals().update(_suite("numba-cpu", _NODE_CASES[::SAMPLE] +
                        [f"test_{m}" for m in LIGHT_MODELS], "NumbaCPU"))


@pytest.fixture(autouse=True)
def _light_model_data(tmp_path_factory, monkeypatch):
    """The runner writes each light model's inputs and expected outputs under ONNX_MODELS."""
    monkeypatch.setenv("ONNX_MODELS", str(tmp_path_factory.getbasetemp() / "onnx_models"))


def test_every_supported_op_has_conformance_cases():
    """Ops without a node case of their own are listed here, so a new handler needs a test."""
    covered = {c.op for c in cases()}
    assert sorted(set(HANDLERS) - covered) == []
