"""ONNX inference: xlalite (numba-cpu) against onnxruntime (CPU execution provider).

    python bench/onnx_inference.py [--rounds 3] [--quick]

Models: the PyTorch-exported MLP of tests/data/onnx (64-128-128-10), SqueezeNet and
ResNet-50 from the ``onnx`` package's light models (224x224; their weights are constants,
which changes no kernel's work). All are exported at a fixed batch; the benchmark makes dim 0
of the input and output symbolic (and a Reshape target's leading batch of 1 into -1) so both
runtimes run the same model at batch 1 and 32. onnxruntime gets as many intra-op threads as
Numba has. Steady state: median per call, peers alternated over rounds, best round. First
call: import + load + first run in a new process, xlalite with an empty and a warm kernel
cache, onnxruntime's session creation + first run. Writes bench/results/onnx_inference.json
and the table between the ONNX markers in bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

HERE = Path(__file__).resolve().parent
LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
MODELS = {"mlp": HERE.parent / "tests" / "data" / "onnx" / "torch_mlp.onnx",
          "squeezenet": LIGHT / "light_squeezenet.onnx", "resnet50": LIGHT / "light_resnet50.onnx"}


def symbolic_batch(path: Path) -> bytes:
    """The model with dim 0 of its input and outputs symbolic (see the module docstring)."""
    m = onnx.load(path)
    inits = {t.name: t for t in m.graph.initializer}
    for v in [*[i for i in m.graph.input if i.name not in inits], *m.graph.output]:
        dims = v.type.tensor_type.shape.dim
        if dims:
            dims[0].ClearField("dim_value")
            dims[0].dim_param = "N"
    del m.graph.value_info[:]  # intermediate shapes recorded at the exported batch
    for n in m.graph.node:
        if n.op_type == "Reshape" and n.input[1] in inits:
            shape = numpy_helper.to_array(inits[n.input[1]]).copy()
            if shape[0] == 1 and -1 not in shape:
                shape[0] = -1
                inits[n.input[1]].CopyFrom(numpy_helper.from_array(shape, n.input[1]))
    return m.SerializeToString()


def sample(model: bytes, batch: int) -> np.ndarray:
    m = onnx.load_from_string(model)
    inits = {t.name for t in m.graph.initializer}
    first = next(i for i in m.graph.input if i.name not in inits)
    dims = [d.dim_value or batch for d in first.type.tensor_type.shape.dim]
    return np.random.default_rng(0).random(dims, dtype=np.float32)


def threads() -> int:
    import numba

    return int(numba.config.NUMBA_NUM_THREADS)


def xlalite_runner(model: bytes):
    import xlalite.onnx as xo

    m = xo.load(model, backend="numba-cpu")
    return lambda x: m(x)[0]


def ort_runner(model: bytes):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads()
    opts.log_severity_level = 3  # errors only: a warning per call would slow the peer down
    s = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    return lambda x: s.run(None, {name: x})[0]


PEERS = {"xlalite": xlalite_runner, "onnxruntime": ort_runner}


def first_call(peer: str, model: str, cache: str | None) -> float:
    env = dict(os.environ)
    if cache is not None:
        env["XLALITE_CACHE_DIR"] = cache
    code = (f"import time; t0 = time.perf_counter(); import sys; sys.path.insert(0, {str(HERE)!r})\n"
            f"import onnx_inference as b; m = b.symbolic_batch(b.MODELS[{model!r}])\n"
            f"t1 = time.perf_counter(); f = b.PEERS[{peer!r}](m); f(b.sample(m, 1))\n"
            "print(time.perf_counter() - t1 + 0 * t0)")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=1800)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-1000:])
    return float(r.stdout.split()[-1])


def steady(runners: dict, x: np.ndarray, rounds: int, iters: int) -> dict[str, float]:
    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, fn in runners.items():
            fn(x)
            times = []
            for _ in range(iters):
                start = time.perf_counter()
                fn(x)
                times.append(time.perf_counter() - start)
            best[name] = min(best.get(name, float("inf")), float(np.median(times)) * 1e3)
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="one round, few calls")
    args = p.parse_args()
    rounds = 1 if args.quick else args.rounds
    results: dict = {"threads": threads(), "rounds": rounds, "models": {}}
    for name in MODELS:
        model = symbolic_batch(MODELS[name])
        runners = {peer: make(model) for peer, make in PEERS.items()}
        r: dict = {}
        for batch in (1, 32):
            x = sample(model, batch)
            outs = {peer: np.asarray(fn(x)) for peer, fn in runners.items()}
            np.testing.assert_allclose(outs["xlalite"], outs["onnxruntime"], rtol=1e-3, atol=1e-5)
            iters = 5 if args.quick else (50 if name == "mlp" else 10)
            r[f"batch{batch}_ms"] = steady(runners, x, rounds, iters)
        with tempfile.TemporaryDirectory() as cache:
            r["first_call_s"] = {"xlalite cold cache": first_call("xlalite", name, cache),
                                 "xlalite warm cache": first_call("xlalite", name, cache),
                                 "onnxruntime": first_call("onnxruntime", name, None)}
        results["models"][name] = r
        print(name, json.dumps(r), flush=True)
    (HERE / "results" / "onnx_inference.json").write_text(json.dumps(results, indent=1) + "\n")
    readme = HERE / "README.md"
    text = readme.read_text()
    table = render(results)
    if "<!-- ONNX -->" in text:
        text = re.sub(r"<!-- ONNX -->.*<!-- /ONNX -->", lambda _: table, text, flags=re.S)
        readme.write_text(text)
    print(table)


def _ms(v: float) -> str:
    return f"{v:.3g}" if v < 100 else f"{v:.0f}"


def render(results: dict) -> str:
    rows = ["<!-- ONNX -->",
            "| model | batch 1: xlalite / ort ms | ratio | batch 32: xlalite / ort ms | ratio | "
            "batch 32 images/s (xlalite) | first call s: xlalite cold / warm, ort |",
            "|---|---|---|---|---|---|---|"]
    for name, r in results["models"].items():
        b1, b32, f = r["batch1_ms"], r["batch32_ms"], r["first_call_s"]
        rows.append(
            f"| {name} | {_ms(b1['xlalite'])} / {_ms(b1['onnxruntime'])} | "
            f"{b1['onnxruntime'] / b1['xlalite']:.2f}× | {_ms(b32['xlalite'])} / "
            f"{_ms(b32['onnxruntime'])} | {b32['onnxruntime'] / b32['xlalite']:.2f}× | "
            f"{32e3 / b32['xlalite']:.0f} | {f['xlalite cold cache']:.1f} / "
            f"{f['xlalite warm cache']:.1f}, {f['onnxruntime']:.2f} |")
    rows.append("")
    rows.append(f"Median per call, best of {results['rounds']} alternated round(s); "
                f"{results['threads']} threads each. Ratio above 1× means xlalite is faster.")
    rows.append("<!-- /ONNX -->")
    return "\n".join(rows)


if __name__ == "__main__":
    main()
