"""What PyTorch and Keras users reach for first: nn.functional, DataLoader workers, Python
lists into jit, and model.compile/fit/evaluate/predict."""

import numpy as np
import pytest

import xlalite as xl
from xlalite import data, nn, optim
from xlalite.nn import functional as F


def conv_reference(x, w, b, stride, pad, dilation, groups):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh = (x.shape[2] - dilation * (kh - 1) - 1) // stride + 1
    ow = (x.shape[3] - dilation * (kw - 1) - 1) // stride + 1
    out = np.zeros((n, o, oh, ow))
    per = o // groups
    for oc in range(o):
        g = oc // per
        for i in range(oh):
            for j in range(ow):
                patch = x[:, g * cg:(g + 1) * cg, i * stride:i * stride + dilation * (kh - 1) + 1:dilation,
                          j * stride:j * stride + dilation * (kw - 1) + 1:dilation]
                out[:, oc, i, j] = (patch * w[oc]).sum(axis=(1, 2, 3))
    return out + b.reshape(1, -1, 1, 1)


@pytest.mark.parametrize("batch", [1, 2])  # one image: the slots share it by output channels
@pytest.mark.parametrize("stride, pad, dilation, groups", [(1, 0, 1, 1), (2, 1, 1, 2), (1, 2, 2, 1)])
def test_conv2d_matches_reference_eager_and_jit(stride, pad, dilation, groups, batch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 4, 9, 9)).astype(np.float32)
    w = rng.standard_normal((6, 4 // groups, 3, 3)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    want = conv_reference(x, w, b, stride, pad, dilation, groups)
    eager = F.conv2d(x, w, b, stride=stride, padding=pad, dilation=dilation, groups=groups)
    np.testing.assert_allclose(eager.numpy(), want, rtol=1e-4, atol=1e-4)
    jitted = xl.jit(lambda x, w, b: F.conv2d(x, w, b, stride, pad, dilation, groups))(x, w, b)
    np.testing.assert_allclose(jitted, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("pad, stride", [(1, 1), (0, 2)])
def test_a_large_single_image_conv_shares_its_channels_between_slots(pad, stride):
    """Large enough to run on two slots, with one image: each computes part of the channels."""
    from xlalite.backends.numba_cpu.conv import PARALLEL_MIN_MACS

    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 16, 48, 48)).astype(np.float32)
    w = rng.standard_normal((36, 16, 3, 3)).astype(np.float32)
    b = np.zeros(36, np.float32)
    assert 16 * 9 * 36 * (48 // stride) ** 2 >= PARALLEL_MIN_MACS
    got = xl.jit(lambda x, w: F.conv2d(x, w, padding=pad, stride=stride))(x, w)
    np.testing.assert_allclose(got, conv_reference(x, w, b, stride, pad, 1, 1), rtol=1e-4, atol=1e-4)


def test_pooling_linear_and_dropout():
    x = np.arange(2 * 3 * 6 * 6, dtype=np.float32).reshape(2, 3, 6, 6) % 7
    blocks = x.reshape(2, 3, 3, 2, 3, 2)
    np.testing.assert_array_equal(F.max_pool2d(x, 2).numpy(), blocks.max(axis=(3, 5)))
    np.testing.assert_allclose(F.avg_pool2d(x, 2).numpy(), blocks.mean(axis=(3, 5)), rtol=1e-6)
    assert F.max_pool2d(x, 3, stride=1, padding=1).shape == (2, 3, 6, 6)
    w, b = np.ones((4, 6), np.float32), np.arange(4, dtype=np.float32)
    v = np.ones((5, 6), np.float32)
    np.testing.assert_allclose(F.linear(v, w, b).numpy(), v @ w.T + b)
    big = np.ones((200, 100), np.float32)
    assert F.dropout(big, 0.5, training=False) is big
    kept = F.dropout(big, 0.25, key=3).numpy()
    assert set(np.unique(kept)) <= {0.0, np.float32(1 / 0.75)} and 0.2 < np.mean(kept == 0) < 0.3
    np.testing.assert_array_equal(xl.jit(lambda a: F.dropout(a, 0.25, key=3))(big), kept)
    assert not np.array_equal(F.dropout(big, 0.25, key=4).numpy(), kept)
    with pytest.raises(ValueError, match="dropout probability"):
        F.dropout(big, 1.0)


class Slow(data.Dataset):
    def __init__(self, n, fail_at=None):
        self.n, self.fail_at = n, fail_at

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i == self.fail_at:
            raise KeyError(f"sample {i} is corrupt")
        return np.full(3, i, np.float32), np.int32(i % 10)


def test_dataloader_workers_give_the_same_batches_in_order():
    ds = data.TensorDataset(np.arange(100, dtype=np.float32).reshape(50, 2), np.arange(50))
    for dataset in (ds, Slow(37)):
        plain = list(data.DataLoader(dataset, 8, shuffle=True, seed=3))
        threaded = list(data.DataLoader(dataset, 8, shuffle=True, seed=3, num_workers=3,
                                        prefetch_factor=2))
        assert len(plain) == len(threaded)
        for a, b in zip(plain, threaded):
            for u, v in zip(a, b):
                np.testing.assert_array_equal(u, v)
    loader = data.DataLoader(Slow(100), 4, num_workers=2)
    for i, _ in enumerate(loader):
        if i == 2:
            break  # stopping early drops the prefetched batches
    with pytest.raises(KeyError, match="sample 13 is corrupt"):
        list(data.DataLoader(Slow(40, fail_at=13), 4, num_workers=2))
    with pytest.raises(ValueError, match="num_workers"):
        data.DataLoader(ds, 4, num_workers=-1)


def test_python_lists_and_scalars_become_arrays_under_jit():
    f = xl.jit(lambda x: x * 2)
    np.testing.assert_array_equal(f([[1.0, 2.0], [3.0, 4.0]]), np.array([[2, 4], [6, 8]], np.float32))
    assert f([1, 2]).dtype == np.int32 and f(1.5) == 3.0
    pair = xl.jit(lambda p: p[0] + p[1])([np.ones(2), np.ones(2)])  # a list of arrays: a pytree
    np.testing.assert_array_equal(pair, [2.0, 2.0])
    with pytest.raises(ValueError, match="argument 'x' .* ragged nested list"):
        f([[1.0], [2.0, 3.0]])


def test_keras_style_compile_fit_evaluate_predict(tmp_path):
    nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    train, test = data.load_digits("train"), data.load_digits("test")
    with pytest.raises(RuntimeError, match="call model.compile"):
        model.fit(train)
    with pytest.raises(ValueError, match="unknown metric 'acc'"):
        model.compile(optim.SGD(model.parameters(), lr=0.1), metrics=["acc"])
    model.compile(optim.SGD(model.parameters(), lr=0.1, momentum=0.9), "cross_entropy",
                  metrics=["accuracy"])
    history = model.fit(train, epochs=4, batch_size=64, validation=test, verbose=False,
                        log_dir=str(tmp_path / "run"))
    assert set(history.history) == {"loss", "val_loss", "val_accuracy"}
    assert history.history["loss"][-1] < history.history["loss"][0] / 3
    assert history.history["val_accuracy"][-1] > 0.9
    assert model._keras.step.cache_info()["misses"] <= 2  # one step program (and a last batch)
    result = model.evaluate(test)
    x, y = test.arrays
    logits = model.predict(x)
    assert logits.shape == (len(x), 10)
    assert result["accuracy"] == pytest.approx(np.mean(logits.argmax(1) == y))
    assert result["accuracy"] == pytest.approx(history.history["val_accuracy"][-1])
    ea = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    acc = ea.EventAccumulator(str(tmp_path / "run"), size_guidance={"scalars": 0})
    acc.Reload()
    assert len(acc.Scalars("loss")) == len(history.step_losses)
    assert [e.value for e in acc.Scalars("epoch/val_accuracy")] == pytest.approx(
        history.history["val_accuracy"])
