"""Run the benchmarks: ``python bench/run.py [--quick]``.

Every workload runs xlalite (numba-cpu), NumPy, a hand-written Numba kernel and PyTorch eager
(when installed) on the same inputs in one process; results are checked against NumPy, the
median of repeated runs is reported with ratios, JSON goes to bench/results/, and the table in
bench/README.md is regenerated. Compile latency is measured cold (empty cache), warm in the
same process, and warm from the disk cache in a new process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import workloads as W  # noqa: E402

import xlalite as xl  # noqa: E402


def median_ms(fn, args, repeat: int) -> float:
    fn(*args)  # warm up (and compile)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def try_torch():
    try:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        return torch
    except ImportError:
        return None


def run_workload(name, inputs, xl_fn, np_fn, numba_factory, torch_factory, repeat, torch):
    jitted = xl.jit(xl_fn)
    ref = np_fn(*inputs)
    got = jitted(*inputs)
    err = float(np.max(np.abs(got - ref)))
    peers = {"xlalite": jitted, "numpy": np_fn, "numba (hand-written)": numba_factory(*inputs)}
    np.testing.assert_allclose(peers["numba (hand-written)"](*inputs), ref, rtol=1e-4, atol=1e-5)
    args = {k: inputs for k in peers}
    if torch is not None:
        t_inputs = tuple(torch.from_numpy(x) for x in inputs)
        peers["pytorch eager"] = torch_factory(torch)
        args["pytorch eager"] = t_inputs
    rows = {k: median_ms(fn, args[k], repeat) for k, fn in peers.items()}
    base = rows["xlalite"]
    return {"workload": name, "max_abs_error_vs_numpy": err, "median_ms": rows,
            "speedup_of_xlalite": {k: v / base for k, v in rows.items() if k != "xlalite"}}


PROBE = """
import json, time, numpy as np, sys
sys.path.insert(0, {here!r})
import workloads as W, xlalite as xl
x = W.w2_inputs(256, 128)
start = time.perf_counter(); f = xl.jit(W.w2_xlalite); f(*x); first = time.perf_counter() - start
start = time.perf_counter(); g = xl.jit(W.w2_xlalite); g(*x); again = time.perf_counter() - start
print(json.dumps({{"first_call_s": first, "second_jit_same_process_s": again, **xl.cache_info()}}))
"""


def compile_latency() -> dict:
    """Softmax (3 kernels): cold cache, warm in-process, warm from disk in a new process."""
    out = {}
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, XLALITE_CACHE_DIR=d)
        for label in ("cold process, empty cache", "new process, warm disk cache"):
            r = subprocess.run([sys.executable, "-c", PROBE.format(here=str(HERE))],
                               capture_output=True, text=True, env=env, check=True)
            out[label] = json.loads(r.stdout.strip().splitlines()[-1])
    warm = out["new process, warm disk cache"]
    cold = out["cold process, empty cache"]
    kernels = max(1, warm["kernels_loaded"])
    loads = warm["seconds_per_signature"]
    out["summary"] = {
        "kernels": kernels,
        "cold_compile_s_per_kernel": cold["compile_seconds"] / kernels,
        "warm_in_process_s": warm["second_jit_same_process_s"],
        # the first load also starts Numba's parallel runtime, once per process
        "warm_from_disk_first_kernel_ms": 1e3 * loads[0],
        "warm_from_disk_ms_per_further_kernel": 1e3 * sum(loads[1:]) / max(1, len(loads) - 1),
    }
    return out


def table(results: list[dict], latency: dict, meta: dict) -> str:
    peers = ["xlalite", "numpy", "numba (hand-written)", "pytorch eager"]
    lines = ["| workload | " + " | ".join(f"{p} (ms)" for p in peers) + " | vs NumPy | vs hand Numba | vs PyTorch |",
             "|---|" + "---|" * (len(peers) + 3)]
    for r in results:
        ms = r["median_ms"]
        sp = r["speedup_of_xlalite"]
        cells = [f"{ms[p]:.1f}" if p in ms else "—" for p in peers]
        ratios = [f"{sp[p]:.2f}×" if p in sp else "—" for p in ("numpy", "numba (hand-written)",
                                                                "pytorch eager")]
        lines.append(f"| {r['workload']} | " + " | ".join(cells + ratios) + " |")
    s = latency["summary"]
    lines += ["", "Ratios are (peer time) / (xlalite time): above 1× means xlalite is faster.", "",
              "| compile latency (row softmax, 3 kernels) | value |", "|---|---|",
              f"| cold, per kernel (codegen + Numba compile) | {s['cold_compile_s_per_kernel'] * 1e3:.0f} ms |",
              f"| warm, same process (new jit of the same function) | {s['warm_in_process_s'] * 1e3:.1f} ms |",
              f"| warm from disk in a new process: first kernel (starts Numba's parallel runtime) | {s['warm_from_disk_first_kernel_ms']:.0f} ms |",
              f"| warm from disk in a new process: each further kernel | {s['warm_from_disk_ms_per_further_kernel']:.1f} ms |",
              "", f"Machine: {meta['machine']}; {meta['versions']}; {meta['date']}."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    args = parser.parse_args()
    torch = try_torch()
    repeat = 3 if args.quick else 15
    scale = 8 if args.quick else 1
    results = [
        run_workload("W1 gelu_tanh(x*a+b) f32[4096,4096]", W.w1_inputs(4096 // scale),
                     W.w1_xlalite, W.w1_numpy, W.w1_numba_factory, W.w1_torch, repeat, torch),
        run_workload("W2 row softmax f32[8192,1024]", W.w2_inputs(8192 // scale, 1024),
                     W.w2_xlalite, W.w2_numpy, W.w2_numba_factory, W.w2_torch, repeat, torch),
    ]
    latency = compile_latency()
    import numba

    meta = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
            "versions": f"xlalite {xl.__version__}, numpy {np.__version__}, numba {numba.__version__}"
                        + (f", torch {torch.__version__}" if torch else ", torch not installed"),
            "date": time.strftime("%Y-%m-%d"), "quick": args.quick}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "cpu_w1_w2.json").write_text(json.dumps(
        {"meta": meta, "workloads": results, "compile_latency": latency}, indent=2))
    text = table(results, latency, meta)
    readme = HERE / "README.md"
    head = readme.read_text().split("<!-- RESULTS -->")[0]
    readme.write_text(head + "<!-- RESULTS -->\n" + text + "\n")
    print(text)


if __name__ == "__main__":
    main()
