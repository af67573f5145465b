"""Two checkouts of xlalite side by side: ``python bench/compare.py BEFORE AFTER``.

BEFORE and AFTER are ``PYTHON:ROOT`` (an interpreter that imports that checkout's xlalite,
and the checkout's folder), e.g. ``/tmp/vb/bin/python:/tmp/before``. Each (version, workload)
runs in its own process, the versions alternating over rounds; the first round starts from an
empty kernel cache per version (a cold first call, though Numba's cache of the hand-written
libraries lives in each checkout), later rounds load kernels from it (a warm first call). For
W1–W5 it reports each version's best steady-state median and both first calls, and writes
``bench/results/compare_<label>.json``. Use it to show a refactoring changed no figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROBE = r"""
import json, statistics, sys, time
sys.path.insert(0, {bench!r})
start = time.perf_counter()
w = {w!r}
if w in ("W1", "W2"):
    import workloads as W
    import xlalite as xl
    args = W.w1_inputs() if w == "W1" else W.w2_inputs()
    f = xl.jit(W.w1_xlalite if w == "W1" else W.w2_xlalite)
    step = lambda: f(*args)
else:
    import train_workloads as T
    step = T.xlalite_step(w)
step()
first = time.perf_counter() - start
times = []
for _ in range({repeat}):
    t = time.perf_counter(); step(); times.append(time.perf_counter() - t)
print(json.dumps({{"median_ms": 1e3 * statistics.median(times), "first_s": first}}))
"""
WORKLOADS = ("W1", "W2", "W3", "W4", "W5")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", help="PYTHON:ROOT of the first checkout")
    parser.add_argument("after", help="PYTHON:ROOT of the second checkout")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per version (default 3)")
    parser.add_argument("--label", default="before_after", help="name of the JSON file")
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help="comma-separated subset of W1..W5 (default: all)")
    args = parser.parse_args()
    versions = {"before": args.before.split(":", 1), "after": args.after.split(":", 1)}
    caches = {v: tempfile.mkdtemp(prefix=f"xlalite_{v}_") for v in versions}
    runs: dict[str, dict[str, list[dict]]] = {}
    for k in range(args.rounds):
        order = list(versions) if k % 2 == 0 else list(versions)[::-1]
        for w in args.workloads.split(","):
            for v in order:
                python, root = versions[v]
                code = PROBE.format(bench=str(Path(root) / "bench"), w=w,
                                    repeat=10 if w == "W5" else 20)
                r = subprocess.run([python, "-c", code], capture_output=True, text=True,
                                   cwd=tempfile.gettempdir(),
                                   env=dict(os.environ, XLALITE_CACHE_DIR=caches[v]))
                if r.returncode:
                    raise RuntimeError(f"{v} {w} failed:\n{r.stderr[-2000:]}")
                runs.setdefault(w, {}).setdefault(v, []).append(json.loads(r.stdout.splitlines()[-1]))
                print(k, w, v, runs[w][v][-1], flush=True)
    lines = ["| workload | before: step ms | after: step ms | after / before | before: first call "
             "cold / warm s | after: first call cold / warm s |", "|---|---|---|---|---|---|"]
    for w, got in runs.items():
        best = {v: min(r["median_ms"] for r in rs) for v, rs in got.items()}
        first = {v: f"{rs[0]['first_s']:.2f} / " + (f"{min(r['first_s'] for r in rs[1:]):.2f}"
                                                     if len(rs) > 1 else "—") for v, rs in got.items()}
        lines.append(f"| {w} | {best['before']:.2f} | {best['after']:.2f} | "
                     f"{best['after'] / best['before']:.2f} | {first['before']} | {first['after']} |")
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / f"compare_{args.label}.json").write_text(json.dumps(runs, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
