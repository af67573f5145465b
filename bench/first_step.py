"""First training steps beside jax.jit: ``python bench/first_step.py [--rounds N]``.

W3 (MLP) and W4 (LeNet-5) as one compiled SGD step each, every measurement in a new process:
xlalite with an empty kernel cache (cold), then with the cache that run filled (warm), and
jax.jit (trace + XLA compile; JAX keeps no compilation cache between processes by default).
The timer covers the first call only (the library imported and the model built before it;
xlalite imports Numba inside its first call, so that is counted), then the median of 20
more steps. Rounds alternate jax first / xlalite first; the table gives the median over
rounds and the range. Results go to bench/results/first_step.json and bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROBE = """
import json, statistics, sys, time
sys.path.insert(0, {here!r})
import train_workloads as T
import {library}
step = T.{maker}({workload!r})
start = time.perf_counter()
step()
first = time.perf_counter() - start
times = []
for _ in range(20):
    t = time.perf_counter(); step(); times.append(time.perf_counter() - t)
print(json.dumps({{"first_s": first, "median_ms": 1e3 * statistics.median(times)}}))
"""
PEERS = {"xlalite cold": ("xlalite", "xlalite_step"), "xlalite warm": ("xlalite", "xlalite_step"),
         "jax.jit": ("jax", "jax_step")}


def probe(peer: str, workload: str, cache: str) -> dict[str, float]:
    library, maker = PEERS[peer]
    code = PROBE.format(here=str(HERE), library=library, maker=maker, workload=workload)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env=dict(os.environ, XLALITE_CACHE_DIR=cache), cwd=tempfile.gettempdir())
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    args = parser.parse_args()
    runs: dict[str, dict[str, list[dict[str, float]]]] = {}
    for k in range(args.rounds):
        for w in ("W3", "W4"):
            with tempfile.TemporaryDirectory() as cache:  # xlalite's cold run fills it
                order = ["jax.jit", "xlalite cold", "xlalite warm"]
                for peer in order if k % 2 == 0 else order[1:] + order[:1]:
                    got = probe(peer, w, cache)
                    runs.setdefault(w, {}).setdefault(peer, []).append(got)
                    print(k, w, peer, got, flush=True)
    lines = ["| workload | xlalite first step: cold | xlalite: warm cache | jax.jit first step | "
             "xlalite step ms | jax.jit step ms |", "|---|---|---|---|---|---|"]

    def cell(xs: list[float], fmt: str) -> str:
        return f"{statistics.median(xs):{fmt}} ({min(xs):{fmt}}–{max(xs):{fmt}})"

    for w, peers in runs.items():
        first = {p: [g["first_s"] for g in v] for p, v in peers.items()}
        steady = {p: [g["median_ms"] for g in v] for p, v in peers.items()}
        lines.append(f"| {w} | {cell(first['xlalite cold'], '.2f')} s | "
                     f"{cell(first['xlalite warm'], '.2f')} s | {cell(first['jax.jit'], '.2f')} s | "
                     f"{cell(steady['xlalite warm'], '.1f')} | {cell(steady['jax.jit'], '.1f')} |")
    lines += ["", f"Medians over {args.rounds} alternated rounds (range in brackets); every "
              "figure from a new process. W3: MLP 784-512-512-10 b256 SGD; W4: LeNet-5 b128 SGD."]
    table = "\n".join(lines)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "first_step.json").write_text(json.dumps(
        {"date": time.strftime("%Y-%m-%d"), "runs": runs}, indent=2))
    readme = HERE / "README.md"
    head, mark, rest = readme.read_text().partition("<!-- FIRST_STEP -->")
    if mark:
        readme.write_text(head + mark + "\n" + table + "\n<!-- /FIRST_STEP -->"
                          + rest.partition("<!-- /FIRST_STEP -->")[2])
    print(table)


if __name__ == "__main__":
    main()
