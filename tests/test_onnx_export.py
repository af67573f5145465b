"""xlalite.onnx.export: every export passes onnx.checker (full check), runs in onnxruntime
like xlalite, and imports back with the same results."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import xlalite as xl
import xlalite.onnx as xo
from xlalite import nn
from xlalite.nn import functional as F

RNG = np.random.default_rng(0)


def _f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def roundtrip(fn, inputs, tmp_path, rtol=1e-5, atol=1e-6):
    path = tmp_path / "model.onnx"
    model = xo.export(fn, inputs, path)  # onnx.checker.check_model(full_check=True) inside
    onnx.checker.check_model(onnx.load(path), full_check=True)
    want = xl.jit(fn)(*inputs)
    want = [np.asarray(w) for w in (want if isinstance(want, (list, tuple)) else [want])]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {i.name: x for i, x in zip(session.get_inputs(), inputs)})
    back = xo.load(onnx.load(path))(*inputs)
    assert len(got) == len(want) == len(back)
    for w, g, b in zip(want, got, back):
        assert g.dtype == w.dtype and b.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
        np.testing.assert_allclose(b, w, rtol=rtol, atol=atol)
    return model


def test_mlp_module_keeps_parameter_and_input_names(tmp_path):
    mlp = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 4))
    model = roundtrip(mlp, [_f32(3, 8)], tmp_path)
    names = {t.name for t in model.graph.initializer}
    assert {"0.weight", "0.bias", "2.weight", "2.bias"} <= names


def test_cnn_with_pooling_and_batchnorm_in_eval_mode(tmp_path):
    cnn = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, stride=2), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Conv2d(8, 4, 1), nn.AvgPool2d(2), nn.Flatten(),
                        nn.Linear(4 * 2 * 2, 10))
    cnn.eval()
    model = roundtrip(cnn, [_f32(2, 3, 16, 16)], tmp_path, rtol=1e-4, atol=1e-5)
    ops = {n.op_type for n in model.graph.node}
    assert {"Conv", "MaxPool", "AveragePool", "MatMul"} <= ops


def test_function_inputs_named_after_its_parameters(tmp_path):
    def f(images, labels):
        return F.log_softmax(images, axis=-1), xl.argmax(images, axis=1) == labels
    model = roundtrip(f, [_f32(4, 10), np.arange(4, dtype=np.int64)], tmp_path)
    assert [i.name for i in model.graph.input] == ["images", "labels"]


def many_ops(x, y, i):
    a = xl.where(x > y, xl.exp(x) / (1 + xl.abs(y)), xl.tanh(x) @ y.T)
    b = xl.floor(x * 3) + xl.ceil(y) - xl.round(x * 2) + xl.fmod(x, y + 3.0)
    c = xl.rsqrt(xl.abs(x) + 1) * xl.log1p(xl.abs(y)) + xl.sqrt(xl.abs(x)) ** 1.5
    d = xl.concatenate([x[:, 1:3], y[::2, :2].T], axis=0)
    e = xl.pad(x, [(1, 0), (0, 2)], constant_values=-1.0)
    g = x[i] * xl.sigmoid(y[i]) + xl.erf(x[i]) - xl.sign(y[i]) + xl.sin(x[i]) * xl.cos(y[i])
    h = (x != y).astype(np.int32) + xl.minimum(x, y).astype(np.int32)
    k = xl.max(x, axis=0) + xl.min(y, axis=1) + xl.prod(x, axis=1) + xl.mean(y, axis=0)
    return a.sum(axis=1), b, c, d, e, g, h, k, xl.argmax(x, axis=1)


def test_a_function_of_many_ops(tmp_path):
    x, y = _f32(4, 4), _f32(4, 4)
    roundtrip(many_ops, [x, y, np.array([3, 0, 2], np.int64)], tmp_path, rtol=1e-5, atol=1e-5)


def test_an_op_without_an_export_rule_names_it():
    def f(x, key):
        return xl.random_uniform(key, (3,)) + x
    with pytest.raises(xo.UnsupportedOpError, match="'xl.rng'.*no ONNX export rule"):
        xo.export(f, [_f32(3), np.array(7, np.int64)])
