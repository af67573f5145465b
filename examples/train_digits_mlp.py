"""Train an MLP on scikit-learn's 8×8 digits (offline) with a compiled training step.

    python examples/train_digits_mlp.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from training import fit  # noqa: E402

from xlalite import data, nn, optim  # noqa: E402


def main(epochs: int = 20) -> dict:
    nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return fit(model, opt, data.load_digits("train"), data.load_digits("test"),
               epochs=epochs, batch_size=64, name="digits_mlp")


if __name__ == "__main__":
    summary = main()
    assert summary["test_accuracy"] >= 0.97, summary
