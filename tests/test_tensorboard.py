"""SummaryWriter: event files TensorBoard's own reader reads back (scalars, histograms, graphs)."""

import numpy as np
import pytest

import xlalite as xl
import xlalite.graph as xg
from xlalite.utils import SummaryWriter

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
pytest.importorskip("tensorboardX")


def read(logdir):
    acc = event_accumulator.EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    acc.Reload()
    return acc


def test_scalars_histograms_and_graphs_read_back(tmp_path):
    f = xl.jit(lambda x, w: xl.tanh(x @ w).sum(axis=1))
    x, w = np.ones((4, 3), np.float32), np.ones((3, 2), np.float32)
    with SummaryWriter(tmp_path / "run") as writer:
        for step, loss in enumerate([2.5, 1.25, 0.5]):
            writer.add_scalar("train/loss", loss, step)
        writer.add_scalar("train/accuracy", xl.tensor(np.float32(0.75)), 2)
        writer.add_histogram("w", xl.tensor(np.arange(100, dtype=np.float32)), 0)
        writer.add_graph(f, x, w)
    acc = read(tmp_path / "run")
    assert [(e.step, e.value) for e in acc.Scalars("train/loss")] == [(0, 2.5), (1, 1.25), (2, 0.5)]
    assert acc.Scalars("train/accuracy")[0].value == 0.75
    hist = acc.Histograms("w")[0].histogram_value
    assert hist.num == 100 and hist.min == 0 and hist.max == 99
    nodes = {n.name: n for n in acc.Graph().node}
    ops = sorted(n.op for n in nodes.values())
    assert "xl.dot_general" in ops and "xl.tanh" in ops and ops.count("Placeholder") == 2
    dot = next(n for n in nodes.values() if n.op == "xl.dot_general")
    assert sorted(dot.input) == ["_lambda_/w", "_lambda_/x"]
    assert [d.size for d in dot.attr["_output_shapes"].list.shape[0].dim] == [4, 2]


def test_fused_groups_and_session_graphs(tmp_path):
    f = xl.jit(lambda x: xl.exp(xl.tanh(x) + 1.0))
    module = f.lower(np.ones(4, np.float32)).optimized()
    g = xg.Graph()
    with g.as_default():
        x = xg.placeholder(xl.float32, (None, 3), name="x")
        v = xg.Variable(np.ones((3, 1), np.float32), name="v")
        step = xg.group(v.assign(v * 2.0))
        y = x @ v
    with SummaryWriter(tmp_path / "a") as writer:
        writer.add_graph(module)
    with SummaryWriter(tmp_path / "b") as writer:
        writer.add_graph(g)
    names = [n.name for n in read(tmp_path / "a").Graph().node]
    assert any(n.startswith("_lambda_/xl.fusion_") and n.endswith("/results") for n in names)
    nodes = {n.name: n for n in read(tmp_path / "b").Graph().node}
    assert nodes["x"].op == "Placeholder" and nodes["v"].op == "Variable"
    assert list(nodes[y.op.name].input) == ["x", "v"] and nodes[step.name].op == "Group"
    with pytest.raises(TypeError, match="add_graph takes"):
        SummaryWriter(tmp_path / "c").add_graph(42)
