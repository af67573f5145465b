"""Export small PyTorch models with PyTorch's current ONNX exporter (``torch.onnx.export``,
dynamo=True) and keep their outputs, for xlalite's ONNX tests (which need no torch).

    pip install torch==2.13.0 onnxscript   # the CPU wheel
    python examples/export_torch_models.py [--out tests/data/onnx]

Writes ``torch_<name>.onnx`` and ``torch_<name>.npz`` (the input ``x`` and PyTorch's output
``y``) per model: an MLP, a LeNet-style CNN, a ResNet with BatchNorm, an LSTM and a
transformer encoder layer, all in eval mode with fixed seeds.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch
from torch import nn


class LeNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(6, 16, 5), nn.ReLU(), nn.AvgPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
                                  nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.skip = nn.Sequential() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.skip(x))


class ResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16),
                                  nn.ReLU())
        self.blocks = nn.Sequential(Block(16, 16, 1), Block(16, 32, 2), Block(32, 64, 2))
        self.fc = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.blocks(self.stem(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(y, 1), 1))


class LSTMTagger(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(16, 32, batch_first=True)
        self.out = nn.Linear(32, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.lstm(x)
        return self.out(y)


def models() -> dict[str, tuple[nn.Module, torch.Tensor]]:
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.GELU(),
                        nn.Linear(128, 10))
    encoder = nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64,
                                         batch_first=True, dropout=0.0)
    out = {"mlp": (mlp, torch.randn(8, 64)), "lenet": (LeNet(), torch.randn(4, 1, 28, 28)),
           "resnet": (ResNet(), torch.randn(2, 3, 32, 32)),
           "lstm": (LSTMTagger(), torch.randn(2, 7, 16)),
           "transformer": (encoder, torch.randn(2, 6, 32))}
    for model, _ in out.values():
        for m in model.modules():  # non-trivial running statistics for BatchNorm
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
        model.eval()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests",
                                                 "data", "onnx"))
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name, (model, x) in models().items():
        path = os.path.join(args.out, f"torch_{name}.onnx")
        with torch.no_grad():
            y = model(x)
            torch.onnx.export(model, (x,), path, dynamo=True, input_names=["x"],
                              output_names=["y"], external_data=False)
        np.savez(os.path.join(args.out, f"torch_{name}.npz"), x=x.numpy(), y=y.numpy())
        print(f"{path}: {os.path.getsize(path) / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
