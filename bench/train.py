"""Training-step benchmarks W3–W5: ``python bench/train.py [--quick]``.

Each (workload, peer) runs in its own process on the same inputs, so peak memory (the
process's maximum RSS, imports included) is comparable. A round runs every peer once and takes
the median step time over repeated steps; rounds alternate the peers, and the table reports
each peer's best round (a shared VM's speed drifts over minutes, and a slow spell should not
land on one peer only; every round's median is kept in the JSON). Results go to
bench/results/cpu_train.json and a table in bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

PROBE = """
import json, resource, statistics, sys, time
sys.path.insert(0, {here!r})
import train_workloads as T
start = time.perf_counter()
step = T.PEERS[{peer!r}]({workload!r})
step()  # warm up: traces and compiles xlalite's step
first = time.perf_counter() - start
times = []
for _ in range({repeat}):
    t = time.perf_counter(); step(); times.append(time.perf_counter() - t)
print(json.dumps({{"median_ms": 1e3 * statistics.median(times), "first_step_s": first,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats, one round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per peer (default 3)")
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds
    sys.path.insert(0, str(HERE))
    import train_workloads as T

    results = []
    for workload in ("W3", "W4", "W5"):
        row = {"workload": T.NAMES[workload]}
        runs: dict[str, list[dict]] = {}
        for k in range(rounds):
            order = list(T.PEERS)[k % len(T.PEERS):] + list(T.PEERS)[:k % len(T.PEERS)]
            for peer in order:
                code = PROBE.format(here=str(HERE), peer=peer, workload=workload,
                                    repeat=5 if args.quick else 20)
                r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
                if r.returncode != 0:
                    if "No module named 'torch'" in r.stderr:
                        continue
                    raise RuntimeError(f"{workload} {peer} failed:\n{r.stderr[-2000:]}")
                runs.setdefault(peer, []).append(json.loads(r.stdout.strip().splitlines()[-1]))
        for peer, got in runs.items():
            row[peer] = {"median_ms": min(g["median_ms"] for g in got),
                         "round_medians_ms": [g["median_ms"] for g in got],
                         "first_step_s": got[0]["first_step_s"],  # maybe a cold cache
                         "first_step_cached_s": min(g["first_step_s"] for g in got),
                         # a round that compiled holds the compiler's memory too
                         "peak_rss_mb": min(g["peak_rss_mb"] for g in got)}
        results.append(row)
    peers = list(T.PEERS)
    lines = ["| workload | " + " | ".join(f"{p}: ms (peak MB)" for p in peers) + " | xlalite vs PyTorch |",
             "|---|" + "---|" * (len(peers) + 1)]
    for row in results:
        cells = [f"{row[p]['median_ms']:.1f} ({row[p]['peak_rss_mb']:.0f})" if p in row else "—"
                 for p in peers]
        ratio = (f"{row['pytorch eager']['median_ms'] / row['xlalite']['median_ms']:.2f}×"
                 if "pytorch eager" in row else "—")
        lines.append(f"| {row['workload']} | " + " | ".join(cells) + f" | {ratio} |")
    lines.append("")
    first = ", ".join(f"{r['workload'].split()[0]} {r['xlalite']['first_step_s']:.1f} s "
                      f"({r['xlalite']['first_step_cached_s']:.1f} s)" for r in results)
    lines.append(f"Best of {rounds} round(s) of {5 if args.quick else 20} steps per peer "
                 "(median per round). Ratio above 1× means xlalite's step is faster. Peak MB "
                 "is each process's maximum RSS (runtime libraries included; the smallest over "
                 "rounds, so a round that compiled kernels does not count the compiler). "
                 "xlalite's first step (trace + compile, first round; in brackets with kernels "
                 f"loaded from the disk cache): {first}")
    table = "\n".join(lines)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "cpu_train.json").write_text(json.dumps(
        {"date": time.strftime("%Y-%m-%d"), "results": results}, indent=2))
    readme = HERE / "README.md"
    text = readme.read_text()
    head, _, rest = text.partition("<!-- TRAIN -->")
    tail = rest.partition("<!-- /TRAIN -->")[2] if rest else ""
    readme.write_text(head + "<!-- TRAIN -->\n" + table + "\n<!-- /TRAIN -->" + tail)
    print(table)


if __name__ == "__main__":
    main()
