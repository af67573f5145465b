"""Read scikit-learn's 8×8 digits row by row with an LSTM (an ``xl.scan`` over the 8 rows) and
classify from its last hidden state, with a compiled training step.

    python examples/train_digits_lstm.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from training import fit  # noqa: E402

from xlalite import data, nn, optim  # noqa: E402


class RowReader(nn.Module):
    """Image rows as time steps: (B, 64) -> (B, 8 rows, 8 pixels) -> LSTM -> last h -> 10."""

    def __init__(self, hidden: int = 64):
        super().__init__()
        self.lstm = nn.LSTM(8, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 10)

    def forward(self, x):
        _, (h, _) = self.lstm(x.reshape((x.shape[0], 8, 8)))
        return self.head(h[0])


def main(epochs: int = 30) -> dict:
    nn.manual_seed(0)
    model = RowReader()
    opt = optim.Adam(model.parameters(), lr=0.01)
    return fit(model, opt, data.load_digits("train"), data.load_digits("test"),
               epochs=epochs, batch_size=64, name="digits_lstm")


if __name__ == "__main__":
    summary = main()
    assert summary["test_accuracy"] >= 0.9, summary
