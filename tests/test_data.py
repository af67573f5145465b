"""Datasets, the DataLoader, and the offline loaders (digits; MNIST IDX files we write)."""

import gzip

import numpy as np
import pytest

from xlalite import data


def test_dataloader_batches_shuffles_reproducibly_and_drops_last():
    ds = data.TensorDataset(np.arange(10), np.arange(10) * 2)
    loader = data.DataLoader(ds, batch_size=4, shuffle=True, seed=7)
    first = [x.tolist() for x, _ in loader]
    second = [x.tolist() for x, _ in loader]
    assert [len(b) for b in first] == [4, 4, 2] and len(loader) == 3
    assert sorted(sum(first, [])) == list(range(10)) and first != second  # new epoch order
    again = data.DataLoader(ds, batch_size=4, shuffle=True, seed=7)
    assert [x.tolist() for x, _ in again] == first
    dropped = data.DataLoader(ds, batch_size=4, drop_last=True)
    assert [len(x) for x, _ in dropped] == [4, 4] and len(dropped) == 2
    for x, y in dropped:
        np.testing.assert_array_equal(y, x * 2)


def test_digits_split_is_seeded_and_disjoint():
    train, test = data.load_digits("train"), data.load_digits("test")
    assert len(train) + len(test) == 1797
    assert train.arrays[0].dtype == np.float32 and train.arrays[0].max() <= 1.0
    assert data.load_digits("test", images=True).arrays[0].shape[1:] == (1, 8, 8)


def write_idx(path, array, gz=False):
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    raw = header + array.tobytes()
    (gzip.open(path, "wb") if gz else open(path, "wb")).write(raw)


def test_mnist_idx_files_are_read_from_disk(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], np.uint8)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images, gz=True)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels)
    ds = data.load_mnist(tmp_path, "test")
    x, y = ds.arrays
    assert x.shape == (5, 1, 28, 28) and x.dtype == np.float32
    np.testing.assert_allclose(x[:, 0], images / 255.0)
    np.testing.assert_array_equal(y, labels)
    with pytest.raises(FileNotFoundError, match="read from disk only"):
        data.load_mnist(tmp_path, "train")
    (tmp_path / "bad").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x09abc")
    with pytest.raises(ValueError, match="expected 9 bytes"):
        data.read_idx(tmp_path / "bad")
