"""Models exported by PyTorch's current exporter (examples/export_torch_models.py), run on
numba-cpu against PyTorch's own outputs kept beside them (these tests need no torch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

import xlalite.onnx as xo

DATA = Path(__file__).parent / "data" / "onnx"
MODELS = ["mlp", "lenet", "resnet", "lstm", "transformer"]


@pytest.mark.parametrize("name", MODELS)
def test_pytorch_exported_model_matches_pytorch(name):
    path = DATA / f"torch_{name}.onnx"
    data = np.load(DATA / f"torch_{name}.npz")
    model = xo.load(path, backend="numba-cpu")
    (y,) = model(data["x"])
    assert y.dtype == data["y"].dtype and y.shape == data["y"].shape
    np.testing.assert_allclose(y, data["y"], rtol=1e-4, atol=1e-5)


def test_the_lstm_runs_as_one_scan_with_its_input_projection_hoisted():
    model = xo.load(DATA / "torch_lstm.onnx")
    text = model.lower(np.zeros((2, 7, 16), np.float32)).as_text()
    assert text.count('"xl.scan"') == 1
    assert any(n.op_type == "LSTM" for n in onnx.load(DATA / "torch_lstm.onnx").graph.node)


def test_the_onnx_example_runs(tmp_path):
    import subprocess
    import sys

    example = Path(__file__).parent.parent / "examples" / "onnx_classify.py"
    r = subprocess.run([sys.executable, str(example)], capture_output=True, text=True,
                       cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "top-5 classes" in r.stdout and "agree with xlalite on 100.0%" in r.stdout
