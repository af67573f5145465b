"""ONNX both ways: run a model trained elsewhere, and hand an xlalite-trained one to onnxruntime.

    python examples/onnx_classify.py [model.onnx]

1. Loads an ONNX image classifier (default: the SqueezeNet that ships with the ``onnx``
   package, 224x224 RGB in, 1000 classes out), shows the start of the IR it imports to,
   runs a batch on numba-cpu (4 images where the batch dim is symbolic, else the model's
   fixed batch) and prints each image's top-5 classes.
2. Trains an MLP on scikit-learn's 8x8 digits with xlalite, exports it with
   ``xlalite.onnx.export`` and checks onnxruntime's predictions against xlalite's.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import numpy as np
import onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from training import fit  # noqa: E402

import xlalite as xl  # noqa: E402
import xlalite.onnx as xo  # noqa: E402
from xlalite import data, nn, optim  # noqa: E402


def default_model() -> str:
    return os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light",
                        "light_squeezenet.onnx")


def classify(path: str, batch: int = 4) -> None:
    start = time.perf_counter()
    model = xo.load(path, backend="numba-cpu")
    info = model.inputs[0].type.tensor_type
    shape = [d.dim_value or batch for d in info.shape.dim]  # a symbolic batch dim: `batch`
    batch = shape[0]
    images = np.random.default_rng(0).random(shape, dtype=np.float32)
    ir = model.lower(images).as_text().splitlines()
    print(f"{path}: {model}")
    print(f"IR (first lines of {len(ir)}):")
    for line in ir[1:6]:
        print("   ", line[:120])
    (scores,) = model(images)
    first = time.perf_counter() - start
    start = time.perf_counter()
    (scores,) = model(images)
    print(f"import + first call {first:.1f} s; next call {1000 * (time.perf_counter() - start):.1f} ms")
    scores = scores.reshape(batch, -1)
    for i, row in enumerate(scores):
        top = np.argsort(row)[::-1][:5]
        print(f"image {i}: top-5 classes " + ", ".join(f"{c} ({row[c]:.4f})" for c in top))


def train_and_export(epochs: int = 10) -> None:
    import onnxruntime as ort

    nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    test = data.load_digits("test")
    fit(model, opt, data.load_digits("train"), test, epochs=epochs, batch_size=64,
        name="digits_mlp_onnx")  # examples/training.py: the compiled step, progress, plot
    model.eval()
    x_test, y_test = test.arrays
    ours = np.asarray(xl.jit(model)(x_test))
    path = os.path.join(tempfile.mkdtemp(), "digits_mlp.onnx")
    xo.export(model, [x_test], path, input_names=["pixels"], output_names=["logits"])
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (theirs,) = session.run(None, {"pixels": x_test})
    agree = float(np.mean(ours.argmax(1) == theirs.argmax(1)))
    accuracy = float(np.mean(theirs.argmax(1) == y_test))
    print(f"exported {path}: onnxruntime accuracy {accuracy:.4f}, predictions agree with "
          f"xlalite on {agree:.1%}, max |logit difference| {np.abs(ours - theirs).max():.2e}")
    assert agree == 1.0 and accuracy > 0.9


if __name__ == "__main__":
    classify(sys.argv[1] if len(sys.argv) > 1 else default_model())
    train_and_export()
