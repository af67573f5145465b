"""Run the benchmarks: ``python bench/run.py [--quick]``.

Every workload runs xlalite (numba-cpu), NumPy, hand-written Numba kernels (with xlalite's
f32 approximations, reused and fresh output, and with libm), jax.jit and PyTorch eager (when
installed: ``pip install jax``, ``pip install torch==2.13.0``) on the same inputs in one
process, alternating over rounds; results are checked against NumPy, the
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


def try_jax():
    try:
        import jax
        import jax.numpy as jnp

        return jax, jnp
    except ImportError:
        return None


FIRST_CALL = """
import sys, time
sys.path.insert(0, {here!r})
import workloads as W
args = W.{w}_inputs({size})
import xlalite as xl
start = time.perf_counter(); xl.jit(W.{w}_xlalite)(*args); print(time.perf_counter() - start)
"""


def xlalite_first_calls(w: str, size: int) -> dict[str, float]:
    """First call (trace + compile or load) in a new process: empty cache, then warm."""
    out = {}
    with tempfile.TemporaryDirectory() as d:
        for label in ("cold", "warm"):
            r = subprocess.run([sys.executable, "-c", FIRST_CALL.format(here=str(HERE), w=w, size=size)],
                               capture_output=True, text=True, check=True,
                               env=dict(os.environ, XLALITE_CACHE_DIR=d))
            out[label] = float(r.stdout.strip().splitlines()[-1])
    return out


def run_workload(name, w, size, inputs, repeat, rounds, torch, jax):
    """Every peer on the same inputs, checked against NumPy; peers alternate over `rounds`
    and the best median counts."""
    jitted = xl.jit(getattr(W, f"{w}_xlalite"))
    np_fn = getattr(W, f"{w}_numpy")
    ref = np_fn(*inputs)
    peers = {"xlalite": jitted, "numpy": np_fn, **getattr(W, f"{w}_numba_peers")(*inputs)}
    args = {k: inputs for k in peers}
    first: dict[str, float] = {}
    if jax is not None:
        jx, jnp = jax
        f = jx.jit(getattr(W, f"{w}_jax")(jnp))
        j_in = tuple(jnp.asarray(x) for x in inputs)
        start = time.perf_counter()
        f(*j_in).block_until_ready()
        first["jax.jit"] = time.perf_counter() - start
        peers["jax.jit"] = lambda *a, f=f: f(*a).block_until_ready()
        args["jax.jit"] = j_in
    if torch is not None:
        peers["pytorch eager"] = getattr(W, f"{w}_torch")(torch)
        args["pytorch eager"] = tuple(torch.from_numpy(x) for x in inputs)
    for k, fn in peers.items():  # warm up (compile) and check every peer
        np.testing.assert_allclose(np.asarray(fn(*args[k])), ref, rtol=1e-4, atol=1e-5, err_msg=k)
    rows: dict[str, list[float]] = {k: [] for k in peers}
    for r in range(rounds):
        for k in (list(peers) if r % 2 == 0 else list(peers)[::-1]):
            rows[k].append(median_ms(peers[k], args[k], repeat))
    best = {k: min(v) for k, v in rows.items()}
    first.update({f"xlalite {k}": v for k, v in xlalite_first_calls(w, size).items()})
    return {"workload": name, "median_ms": best, "rounds_ms": rows, "first_call_s": first,
            "max_abs_error_vs_numpy": float(np.max(np.abs(jitted(*inputs) - ref))),
            "speedup_of_xlalite": {k: v / best["xlalite"] for k, v in best.items() if k != "xlalite"}}


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
    peers = [p for p in results[0]["median_ms"] if p != "xlalite"]
    lines = ["| workload | xlalite (ms) | " + " | ".join(peers) + " |",
             "|---|---|" + "---|" * len(peers)]
    for r in results:
        ms, sp = r["median_ms"], r["speedup_of_xlalite"]
        cells = [f"{ms[p]:.1f} ({sp[p]:.2f}×)" if p in ms else "—" for p in peers]
        lines.append(f"| {r['workload']} | {ms['xlalite']:.1f} | " + " | ".join(cells) + " |")
    lines += ["", "Peer cells: median ms (peer time / xlalite time: above 1× means xlalite is "
              "faster); best of the alternated rounds.", "",
              "| first call (s) | xlalite, empty cache | xlalite, warm cache | jax.jit |",
              "|---|---|---|---|"]
    for r in results:
        f = r["first_call_s"]
        jx = f"{f['jax.jit']:.2f}" if "jax.jit" in f else "—"
        lines.append(f"| {r['workload']} | {f['xlalite cold']:.2f} | {f['xlalite warm']:.2f} | {jx} |")
    s = latency["summary"]
    lines += ["", "First calls: xlalite's in a new process (trace + compile or load, after import), "
              "jax.jit's in this one (trace + XLA compile).", "",
              "| compile latency (row softmax, 3 kernels) | value |", "|---|---|",
              f"| cold, per kernel (codegen + Numba compile) | {s['cold_compile_s_per_kernel'] * 1e3:.0f} ms |",
              f"| warm, same process (new jit of the same function) | {s['warm_in_process_s'] * 1e3:.1f} ms |",
              f"| warm from disk in a new process: first kernel (starts Numba's parallel runtime) | {s['warm_from_disk_first_kernel_ms']:.0f} ms |",
              f"| warm from disk in a new process: each further kernel | {s['warm_from_disk_ms_per_further_kernel']:.1f} ms |",
              "", f"Machine: {meta['machine']}; {meta['versions']}; {meta['date']}. Absolute times "
              "differ 2× and more between machines and drift 10–30% within minutes here: only "
              "ratios measured in one run carry over."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    args = parser.parse_args()
    torch, jax = try_torch(), try_jax()
    repeat, rounds = (3, 1) if args.quick else (15, 3)
    scale = 8 if args.quick else 1
    results = [
        run_workload("W1 gelu_tanh(x*a+b) f32[4096,4096]", "w1", 4096 // scale,
                     W.w1_inputs(4096 // scale), repeat, rounds, torch, jax),
        run_workload("W2 row softmax f32[8192,1024]", "w2", 8192 // scale,
                     W.w2_inputs(8192 // scale), repeat, rounds, torch, jax),
    ]
    latency = compile_latency()
    import numba

    meta = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
            "versions": f"xlalite {xl.__version__}, numpy {np.__version__}, numba {numba.__version__}"
                        + (f", torch {torch.__version__}" if torch else ", torch not installed")
                        + (f", jax {jax[0].__version__}" if jax else ", jax not installed"),
            "date": time.strftime("%Y-%m-%d"), "quick": args.quick}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "cpu_w1_w2.json").write_text(json.dumps(
        {"meta": meta, "workloads": results, "compile_latency": latency}, indent=2))
    text = table(results, latency, meta)
    readme = HERE / "README.md"
    head, _, rest = readme.read_text().partition("<!-- RESULTS -->")
    tail = rest.partition("<!-- /RESULTS -->")[2]
    readme.write_text(head + "<!-- RESULTS -->\n" + text + "\n<!-- /RESULTS -->" + tail)
    print(text)


if __name__ == "__main__":
    main()
