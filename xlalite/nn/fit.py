"""Keras-style training on any ``nn.Module``: ``compile``, ``fit``, ``evaluate``, ``predict``.

    model.compile(optim.Adam(model.parameters(), lr=1e-3), loss="cross_entropy",
                  metrics=["accuracy"])
    history = model.fit(train, epochs=5, batch_size=64, validation=test)
    history.history["val_accuracy"][-1], model.evaluate(test), model.predict(x)

Thin by design: ``fit`` runs one ``jit``-compiled step per batch (forward, ``backward()``,
``optimizer.step()``, ``zero_grad()``: exactly the loop one would write), so it costs nothing
over the hand-written loop and the same step compiles once. A tqdm bar per epoch shows the
running loss; ``log_dir`` also writes TensorBoard scalars (``xlalite.utils.SummaryWriter``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from xlalite.data import DataLoader, Dataset, TensorDataset
from xlalite.frontend.jit import DEFAULT_BACKEND, jit
from xlalite.nn.functional import cross_entropy, mse

LOSSES: dict[str, Callable] = {"cross_entropy": cross_entropy, "mse": mse}


def _accuracy(outputs: np.ndarray, targets: np.ndarray) -> float:
    return float(np.mean(outputs.argmax(axis=1) == targets))


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {"accuracy": _accuracy}


@dataclass
class History:
    """Per-epoch ``loss`` and metrics (``val_`` prefixed for the validation data), as Keras's
    ``History.history``, and the loss of every step."""

    history: dict[str, list[float]] = field(default_factory=dict)
    step_losses: list[float] = field(default_factory=list)

    def log(self, values: dict[str, float]) -> None:
        for k, v in values.items():
            self.history.setdefault(k, []).append(v)


@dataclass
class _Setup:
    optimizer: Any
    loss: Callable
    metrics: dict[str, Callable[[np.ndarray, np.ndarray], float]]
    step: Any
    forward: Any


def _loader(data: Any, batch_size: int, shuffle: bool, seed: int = 0) -> DataLoader:
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, (tuple, list)):
        data = TensorDataset(*data)
    if not isinstance(data, Dataset):
        raise TypeError("fit/evaluate take a DataLoader, a Dataset or a tuple of arrays (x, y), "
                        f"not {type(data).__name__}")
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle, seed=seed)


class Fit:
    """The Keras-style methods of ``nn.Module`` (see the module docstring)."""

    _keras: _Setup | None = None

    def compile(self, optimizer: Any, loss: str | Callable = "cross_entropy",
                metrics: Sequence[str | Callable] = (), backend: str = DEFAULT_BACKEND) -> Any:
        """Choose the optimizer, the loss (a name in LOSSES or ``loss(outputs, targets)``) and
        metrics (names in METRICS or ``metric(outputs, targets) -> float`` on NumPy arrays)."""
        model: Any = self
        loss_fn = LOSSES[loss] if isinstance(loss, str) else loss
        named = {}
        for m in metrics:
            if isinstance(m, str) and m not in METRICS:
                raise ValueError(f"unknown metric '{m}': choose from {', '.join(METRICS)} or "
                                 "pass a function")
            named[m if isinstance(m, str) else getattr(m, "__name__", "metric")] = (
                METRICS[m] if isinstance(m, str) else m)

        def step(x, y):
            value = loss_fn(model(x), y)
            value.backward()
            optimizer.step()
            optimizer.zero_grad()
            return value

        def forward(x):
            return model(x)

        self._keras = _Setup(optimizer, loss_fn, named, jit(step, backend=backend),
                             jit(forward, backend=backend))
        return self

    def _setup(self) -> _Setup:
        if self._keras is None:
            raise RuntimeError("call model.compile(optimizer, loss, metrics) before fit/evaluate")
        return self._keras

    def fit(self, data: Any, epochs: int = 1, batch_size: int = 32, validation: Any = None,
            shuffle: bool = True, verbose: bool = True, log_dir: str | None = None,
            seed: int = 0) -> History:
        """Train for `epochs` over `data` (a DataLoader, a Dataset or (x, y)), evaluating on
        `validation` after each epoch; returns the History."""
        setup, model = self._setup(), self
        loader = _loader(data, batch_size, shuffle, seed)
        history = History()
        writer = None
        if log_dir is not None:
            from xlalite.utils import SummaryWriter

            writer = SummaryWriter(log_dir)
        try:
            for epoch in range(epochs):
                model.train()  # type: ignore[attr-defined]
                losses = []
                with tqdm(loader, desc=f"epoch {epoch + 1}/{epochs}", unit="step",
                          disable=not verbose, leave=verbose) as bar:
                    for x, y in bar:
                        losses.append(float(setup.step(x, y)))
                        if writer is not None:
                            writer.add_scalar("loss", losses[-1], len(history.step_losses))
                        history.step_losses.append(losses[-1])
                        bar.set_postfix(loss=f"{np.mean(losses):.4f}", refresh=False)
                    record = {"loss": float(np.mean(losses))}
                    if validation is not None:
                        record.update({f"val_{k}": v for k, v in
                                       self.evaluate(validation, batch_size).items()})
                    bar.set_postfix({k: f"{v:.4f}" for k, v in record.items()})
                history.log(record)
                if writer is not None:
                    for k, v in record.items():
                        writer.add_scalar(f"epoch/{k}", v, epoch)
        finally:
            if writer is not None:
                writer.close()
        return history

    def evaluate(self, data: Any, batch_size: int = 256) -> dict[str, float]:
        """The loss and metrics over `data` in eval mode (mean over samples)."""
        setup = self._setup()
        outputs, targets = self._outputs(_loader(data, batch_size, shuffle=False))
        result = {"loss": float(np.asarray(setup.loss(outputs, targets)))}
        result.update({k: float(m(outputs, targets)) for k, m in setup.metrics.items()})
        return result

    def predict(self, x: Any, batch_size: int = 256) -> np.ndarray:
        """The model's outputs for inputs `x` (an array), batch by batch, in eval mode."""
        x = np.asarray(x)
        return self._outputs(DataLoader(TensorDataset(x, np.zeros(len(x))), batch_size))[0]

    def _outputs(self, loader: DataLoader) -> tuple[np.ndarray, np.ndarray]:
        setup, model = self._setup(), self
        was_training = getattr(model, "training", True)
        model.eval()  # type: ignore[attr-defined]
        try:
            outs, ys = [], []
            for x, y in loader:
                outs.append(np.asarray(setup.forward(x)))
                ys.append(y)
        finally:
            model.train(was_training)  # type: ignore[attr-defined]
        return np.concatenate(outs), np.concatenate(ys)
