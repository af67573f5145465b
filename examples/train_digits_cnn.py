"""Train a small CNN on scikit-learn's 8×8 digits (offline) with a compiled training step.

    python examples/train_digits_cnn.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from training import fit  # noqa: E402

from xlalite import data, nn, optim  # noqa: E402


def main(epochs: int = 15) -> dict:
    nn.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 16 x 4 x 4
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 32 x 2 x 2
        nn.Flatten(), nn.Linear(32 * 2 * 2, 10))
    opt = optim.Adam(model.parameters(), lr=3e-3)
    return fit(model, opt, data.load_digits("train", images=True),
               data.load_digits("test", images=True), epochs=epochs, batch_size=32,
               name="digits_cnn")


if __name__ == "__main__":
    summary = main()
    assert summary["test_accuracy"] >= 0.97, summary
