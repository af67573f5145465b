"""End to end: the digits examples reach their accuracy; save -> load -> predict."""

import sys
from pathlib import Path

import numpy as np
import pytest

import xlalite as xl
from xlalite import data, nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))


@pytest.mark.parametrize("example", ["train_digits_mlp", "train_digits_cnn"])
def test_examples_reach_97_percent(example):
    module = __import__(example)
    summary = module.main()
    assert summary["test_accuracy"] >= 0.97
    assert Path(summary["plot"]).stat().st_size > 10_000  # a real PNG was written
    if summary["tensorboard"]:  # and the TensorBoard logs, read back by TensorBoard's reader
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        runs = sorted(Path(summary["tensorboard"]).iterdir(), key=lambda p: p.stat().st_mtime)
        acc = EventAccumulator(str(runs[-1]), size_guidance={"scalars": 0})
        acc.Reload()
        assert len(acc.Scalars("train/loss")) == summary["steps"]
        assert acc.Scalars("test/accuracy")[-1].value == pytest.approx(summary["test_accuracy"])
        assert any(n.op == "xl.dot_general" for n in acc.Graph().node)


def test_save_load_predict_round_trip(tmp_path):
    nn.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Dropout(0.5), nn.Linear(64, 10))
    x, _ = data.load_digits("test", images=True).arrays
    model.eval()
    want = xl.jit(lambda v: model(v))(x)
    model.train()
    xl.save(tmp_path / "digits", model, [x])
    assert model.training  # restored
    text = (tmp_path / "digits.xir").read_text()
    assert "xl.num_inputs = 1" in text and '"xl.rng"' not in text  # eval mode: no dropout
    # loading needs no Python class: predict() below runs from the files alone
    predict = xl.load(tmp_path / "digits")
    np.testing.assert_allclose(predict(x), want, rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="takes 1 inputs"):
        predict()
