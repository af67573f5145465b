"""Shared training loop for the examples: one compiled step per batch, a tqdm progress bar,
test accuracy per epoch, a loss/accuracy plot (PNG), TensorBoard logs (``tensorboard --logdir
examples/output/runs``; when tensorboardX is installed) and a summary."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

import xlalite as xl
from xlalite import data, nn
from xlalite.utils import SummaryWriter

OUT = Path(__file__).resolve().parent / "output"


def fit(model: nn.Module, opt, train: data.TensorDataset, test: data.TensorDataset,
        epochs: int, batch_size: int, name: str, seed: int = 0,
        loader: data.DataLoader | None = None, main_process: bool = True) -> dict:
    """Train for `epochs` over `loader` (default: shuffled batches of `batch_size`); a
    loader with a DistributedSampler gets ``set_epoch`` each epoch. Only the `main_process`
    shows the progress bar, prints and plots (rank 0 of a multi-process run)."""
    @xl.jit
    def step(x, y):
        loss = nn.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    @xl.jit
    def predict(x):
        return model(x)

    def evaluate() -> float:
        model.eval()
        x, y = test.arrays
        acc = nn.functional.accuracy(predict(x), y)
        model.train()
        return acc

    if loader is None:
        loader = data.DataLoader(train, batch_size=batch_size, shuffle=True, seed=seed,
                                 drop_last=True)
    losses, accuracies = [], []
    writer = tensorboard(name) if main_process else None
    start = time.perf_counter()
    first_step = 0.0
    steps = 0
    with tqdm(total=epochs * len(loader), desc=name, unit="step", disable=not main_process) as bar:
        for epoch in range(epochs):
            if loader.sampler is not None:
                loader.sampler.set_epoch(epoch)
            for x, y in loader:
                t0 = time.perf_counter()
                losses.append(float(step(x, y)))
                if writer is not None:
                    writer.add_scalar("train/loss", losses[-1], steps)
                if steps == 0:
                    first_step = time.perf_counter() - t0  # includes tracing and compiling
                steps += 1
                bar.update()
            accuracies.append(evaluate())
            if writer is not None:
                writer.add_scalar("test/accuracy", accuracies[-1], steps)
            bar.set_postfix(loss=f"{np.mean(losses[-len(loader):]):.4f}",
                            test_acc=f"{accuracies[-1]:.4f}")
    total = time.perf_counter() - start
    if writer is not None:
        writer.add_graph(step, x, y)  # the compiled step, in the Graphs tab
        writer.close()
    summary = {"name": name, "test_accuracy": accuracies[-1], "epochs": epochs, "steps": steps,
               "compile_seconds": round(first_step, 2),
               "steps_per_second": round((steps - 1) / max(total - first_step, 1e-9), 1),
               "plot": str(plot(losses, accuracies, len(loader), name)) if main_process else "",
               "tensorboard": str(writer.logdir) if writer is not None else ""}
    if main_process:
        print(f"{name}: test accuracy {summary['test_accuracy']:.4f} after {epochs} epochs; "
              f"{summary['steps_per_second']} steps/s; first step (trace + compile) "
              f"{summary['compile_seconds']} s; plot {summary['plot']}")
    return summary


def tensorboard(name: str) -> SummaryWriter | None:
    """A writer for this run's TensorBoard logs, or None without tensorboardX."""
    try:
        return SummaryWriter(OUT / "runs" / name)
    except ImportError:
        return None


def plot(losses: list[float], accuracies: list[float], steps_per_epoch: int, name: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    OUT.mkdir(exist_ok=True)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(losses, lw=0.6)
    ax1.set(title=f"{name}: training loss", xlabel="step", ylabel="cross-entropy", yscale="log")
    epochs = np.arange(1, len(accuracies) + 1) * steps_per_epoch
    ax2.plot(epochs, accuracies, marker="o")
    ax2.set(title="test accuracy", xlabel="step", ylabel="accuracy",
            ylim=(min(0.8, min(accuracies) - 0.02), 1.0))
    fig.tight_layout()
    path = OUT / f"{name}.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
