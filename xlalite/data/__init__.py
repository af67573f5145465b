"""Datasets and batching (``Dataset``, ``TensorDataset``, ``DataLoader``,
``DistributedSampler``) and offline loaders: scikit-learn's bundled 8×8 digits, and MNIST
from IDX files on disk. Nothing is downloaded."""

from __future__ import annotations

import gzip
import math
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np


class Dataset:
    """Indexable samples: ``len(ds)`` and ``ds[i] -> tuple of arrays``."""

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, i: int) -> tuple[np.ndarray, ...]:
        raise NotImplementedError


class TensorDataset(Dataset):
    """Samples are rows of equally long arrays (features, labels, ...)."""

    def __init__(self, *arrays: np.ndarray):
        if not arrays or any(len(a) != len(arrays[0]) for a in arrays):
            raise ValueError("TensorDataset needs arrays of the same length")
        self.arrays = tuple(np.asarray(a) for a in arrays)

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, i):
        return tuple(a[i] for a in self.arrays)


class DistributedSampler:
    """The indices of one rank's shard of a dataset, as torch.utils.data's: every epoch the
    same permutation on every rank (from `seed` and the epoch set by ``set_epoch``), padded by
    repeating its start to a multiple of `num_replicas` (or cut, with `drop_last`); rank r
    takes every num_replicas-th index from position r. With a DataLoader of batch b per
    rank, step k of all ranks together covers positions k*b*R .. (k+1)*b*R of the epoch's
    order: the batch of one process with batch b*R. Defaults come from xlalite.distributed."""

    def __init__(self, dataset: Dataset, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False):
        from xlalite import distributed

        self.num_replicas = distributed.world_size() if num_replicas is None else num_replicas
        self.rank = distributed.rank() if rank is None else rank
        if not 0 <= self.rank < self.num_replicas:
            raise ValueError(f"rank {self.rank} is not in [0, {self.num_replicas})")
        self.dataset, self.shuffle, self.seed, self.drop_last = dataset, shuffle, seed, drop_last
        self.epoch = 0
        n = len(dataset)
        self.num_samples = (n // self.num_replicas if drop_last
                            else math.ceil(n / self.num_replicas))

    def set_epoch(self, epoch: int) -> None:
        """Use epoch `epoch`'s permutation next (call it before each epoch, as in PyTorch)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        order = (np.random.default_rng([self.seed, self.epoch]).permutation(n) if self.shuffle
                 else np.arange(n))
        total = self.num_samples * self.num_replicas
        order = np.resize(order, total)  # repeats the start when padding, cuts when dropping
        return iter(order[self.rank:total:self.num_replicas].tolist())


class DataLoader:
    """Batches of a dataset; with ``shuffle`` each epoch uses a new permutation derived from
    ``seed`` and the epoch number, so runs are reproducible. A `sampler` (for instance a
    DistributedSampler) gives the order instead.

    With ``num_workers > 0`` batches are assembled by that many background threads (indexing
    and stacking in NumPy release the GIL), up to ``prefetch_factor`` batches per worker
    ahead of the consumer, and still come out in order: the batches are the same as with no
    workers. A dataset whose ``__getitem__`` is slow Python benefits less (the GIL)."""

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = False,
                 seed: int = 0, drop_last: bool = False, sampler: DistributedSampler | None = None,
                 num_workers: int = 0, prefetch_factor: int = 2):
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if sampler is not None and shuffle:
            raise ValueError("pass shuffle to the sampler, not to a DataLoader that has one")
        if num_workers < 0 or prefetch_factor < 1:
            raise ValueError("num_workers must be >= 0 and prefetch_factor >= 1")
        self.dataset, self.batch_size = dataset, batch_size
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        self.sampler = sampler
        self.num_workers, self.prefetch_factor = num_workers, prefetch_factor
        self.epoch = 0

    def __len__(self) -> int:
        n = (len(self.sampler) if self.sampler is not None else len(self.dataset)) / self.batch_size
        return math.floor(n) if self.drop_last else math.ceil(n)

    def _indices(self) -> list[np.ndarray]:
        """This epoch's batches as index arrays (advances the epoch)."""
        if self.sampler is not None:
            order = np.fromiter(self.sampler, dtype=np.int64)
        elif self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.dataset))
        else:
            order = np.arange(len(self.dataset))
        self.epoch += 1
        batches = [order[s:s + self.batch_size] for s in range(0, len(order), self.batch_size)]
        if batches and self.drop_last and len(batches[-1]) < self.batch_size:
            batches.pop()
        return batches

    def _batch(self, idx: np.ndarray) -> tuple[np.ndarray, ...]:
        if isinstance(self.dataset, TensorDataset):  # fancy indexing: no Python loop
            return tuple(a[idx] for a in self.dataset.arrays)
        samples = [self.dataset[int(i)] for i in idx]
        return tuple(np.stack(col) for col in zip(*samples))

    def __iter__(self) -> Iterator[tuple[np.ndarray, ...]]:
        batches = self._indices()
        if self.num_workers == 0:
            for idx in batches:
                yield self._batch(idx)
            return
        ahead = self.num_workers * self.prefetch_factor
        with ThreadPoolExecutor(self.num_workers, thread_name_prefix="xlalite-data") as pool:
            pending: deque[Future] = deque()
            try:
                for idx in batches:
                    pending.append(pool.submit(self._batch, idx))
                    if len(pending) > ahead:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
            finally:  # the consumer stopped early (break) or a batch failed: drop the rest
                for f in pending:
                    f.cancel()


def _split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * test_fraction))
    return order[n_test:], order[:n_test]


def load_digits(split: str = "train", test_fraction: float = 0.25, seed: int = 0,
                images: bool = False) -> TensorDataset:
    """scikit-learn's bundled 8×8 digits (1,797 images, no download), scaled to [0, 1].

    Features are f32 (n, 64), or (n, 1, 8, 8) with ``images=True``; labels i32. The split is a
    seeded random partition."""
    from sklearn.datasets import load_digits as sk_digits

    data = sk_digits()
    x = (data.data / 16.0).astype(np.float32)
    y = data.target.astype(np.int32)
    train, test = _split(len(x), test_fraction, seed)
    idx = {"train": train, "test": test}[split]
    x = x[idx].reshape(-1, 1, 8, 8) if images else x[idx]
    return TensorDataset(x, y[idx])


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (MNIST's format; ``.gz`` too): big-endian header, then the array."""
    path = Path(path)
    raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if raw[2] not in dtypes:
        raise ValueError(f"{path}: unknown IDX element type 0x{raw[2]:02x}")
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(dtypes[raw[2]])
    body = raw[4 + 4 * ndim:]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(body) != expected:
        raise ValueError(f"{path}: expected {expected} bytes of data for shape {dims}, "
                         f"found {len(body)}")
    return np.frombuffer(body, dtype=dtype).reshape(dims)


def load_mnist(root: str | Path, split: str = "train") -> TensorDataset:
    """MNIST from the standard IDX files in `root` (``train-images-idx3-ubyte`` etc., optionally
    ``.gz``): images f32 (n, 1, 28, 28) in [0, 1], labels i32."""
    prefix = {"train": "train", "test": "t10k"}[split]
    root = Path(root)

    def find(stem: str) -> Path:
        for name in (stem, stem + ".gz"):
            if (root / name).exists():
                return root / name
        raise FileNotFoundError(f"{root / stem}(.gz) not found; MNIST is read from disk only")

    images = read_idx(find(f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(find(f"{prefix}-labels-idx1-ubyte"))
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    x = (images.astype(np.float32) / 255.0)[:, None]
    return TensorDataset(x, labels.astype(np.int32))


__all__ = ["DataLoader", "Dataset", "DistributedSampler", "TensorDataset", "load_digits", "load_mnist",
           "read_idx"]

