"""Data-parallel benchmarks on MPI: ``python bench/distributed.py [--ranks 2] [--quick]``.

1. All-reduce bandwidth: a compiled ``xl.all_reduce`` (numba-cpu) of 1, 4 and 64 MiB of f32
   against mpi4py's ``Allreduce`` on the same buffers in the same run, alternated; bus
   bandwidth = 2(N-1)/N * bytes / time (the ring all-reduce's traffic per rank).
2. The W3 MLP training step (784-512-512-10, SGD) under DistributedDataParallel: weak scaling
   (per-rank batch 256) and strong scaling (global batch 256), 1 rank against N ranks, with
   the time of the step's gradient all-reduce alone (one bucket of 2.7 MB) as the
   communication share, and the first step (trace + compile) with an empty and a warm
   kernel cache. Every process gets one Numba thread (N ranks on N cores); the 1-rank row
   with all cores is shown beside it.

The launcher runs ``mpiexec -n N python bench/distributed.py --worker`` (and the 1-rank
workers without MPI), then writes bench/results/distributed.json and the table between the
DISTRIBUTED markers of bench/README.md. Ratios, not absolute times, carry between machines.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SIZES_MIB = (1, 4, 64)


def _median_time(fn, reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def bandwidth(comm, rounds: int, quick: bool) -> list[dict]:
    """Rows of (MiB, xlalite s, mpi4py s): medians with the peers alternated call by call
    (the machine drifts more over a block of calls than the peers differ), best round."""
    from mpi4py import MPI

    import xlalite as xl

    reduce = xl.jit(lambda x: xl.all_reduce(x, "sum"))
    rows = []
    for mib in SIZES_MIB:
        x = np.ones(mib * (1 << 18), np.float32)
        out = np.empty_like(x)
        reps = 5 if quick else (50 if mib < 64 else 10)
        peers = {"xlalite": lambda x=x: reduce(x),
                 "mpi4py": lambda x=x, out=out: MPI.COMM_WORLD.Allreduce(x, out, op=MPI.SUM)}
        best = {name: np.inf for name in peers}
        for _ in range(rounds):
            times: dict[str, list[float]] = {name: [] for name in peers}
            comm.barrier()
            for _ in range(reps + 1):
                for name, fn in peers.items():
                    t0 = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - t0)
            for name, ts in times.items():
                best[name] = min(best[name], float(np.median(ts[1:])))
        rows.append({"MiB": mib, **best})
    return rows


def w3_step(batch: int, ddp: bool, quick: bool, bucket_mb: float = 25.0,
            overlap: bool = False) -> dict:
    """Median step time of W3 at `batch` per rank (DDP-wrapped when `ddp`, with buckets of
    `bucket_mb`; `overlap`: numba-cpu{overlap-collectives=true}, each all-reduce started
    non-blocking as soon as its bucket is ready), and the time of an all-reduce of its
    gradient bytes alone."""
    import xlalite as xl
    from xlalite import distributed, nn, optim

    nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                          nn.Linear(512, 10))
    if ddp:
        model = nn.parallel.DistributedDataParallel(model, bucket_cap_mb=bucket_mb)
    opt = optim.SGD(model.parameters(), lr=0.01)
    @xl.jit(backend="numba-cpu{overlap-collectives=true}" if overlap else "numba-cpu")
    def step(x, y):
        loss = nn.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    rng = np.random.default_rng(distributed.rank())
    x = rng.standard_normal((batch, 784)).astype(np.float32)
    y = rng.integers(0, 10, batch).astype(np.int32)
    reps = 5 if quick else 30
    distributed.barrier()
    t0 = time.perf_counter()
    step(x, y)  # trace + compile (or load from the kernel cache)
    first = time.perf_counter() - t0
    t_step = _median_time(lambda: step(x, y), reps)
    grads = np.ones(sum(p.type.size for p in model.parameters()), np.float32)
    reduce = xl.jit(lambda g: xl.all_reduce(g, "mean"))
    distributed.barrier()
    t_comm = _median_time(lambda: reduce(grads), reps) if distributed.world_size() > 1 else 0.0
    return {"batch_per_rank": batch, "step_s": t_step, "first_s": first, "allreduce_s": t_comm,
            "gradient_MB": grads.nbytes / 1e6, "bucket_MiB": bucket_mb, "overlap": overlap,
            "buckets": getattr(model, "last_buckets", 0)}


def worker(args: argparse.Namespace) -> None:
    from xlalite import distributed

    comm = distributed.init()
    out: dict = {"ranks": comm.size}
    if comm.size > 1:
        out["bandwidth"] = bandwidth(comm, args.rounds, args.quick)
        out["weak"] = w3_step(256, True, args.quick)
        out["strong"] = w3_step(256 // comm.size, True, args.quick)
        out["strong, 1 MiB buckets"] = w3_step(256 // comm.size, True, args.quick, 1.0)
        out["strong, 1 MiB buckets, overlap"] = w3_step(256 // comm.size, True, args.quick,
                                                        1.0, overlap=True)
    else:
        out["single"] = w3_step(256, False, args.quick)
    if comm.rank == 0:
        print("RESULT " + json.dumps(out), flush=True)


def run_worker(cmd: list[str], threads: int, cache: str | None = None) -> dict:
    env = {**os.environ, "NUMBA_NUM_THREADS": str(threads), "OMP_NUM_THREADS": "1"}
    if cache is not None:  # a fresh kernel cache: first calls compile everything
        env["XLALITE_CACHE_DIR"] = cache
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def render(r: dict) -> str:
    n = r["ranks"]
    factor = 2 * (n - 1) / n
    rows = ["<!-- DISTRIBUTED -->",
            f"All-reduce (sum, f32) on {n} ranks, loopback on one machine:", "",
            "| MiB | xl.all_reduce ms | mpi4py Allreduce ms | ratio | bus bandwidth GB/s (xlalite) |",
            "|---|---|---|---|---|"]
    for b in r["parallel"]["bandwidth"]:
        rows.append(f"| {b['MiB']} | {b['xlalite'] * 1e3:.3g} | {b['mpi4py'] * 1e3:.3g} | "
                    f"{b['mpi4py'] / b['xlalite']:.2f}× | "
                    f"{factor * b['MiB'] * (1 << 20) / b['xlalite'] / 1e9:.2f} |")
    one = r["one_thread"]["single"]
    weak, strong = r["parallel"]["weak"], r["parallel"]["strong"]
    runs = {k: v for k, v in r["parallel"].items() if k.startswith(("weak", "strong"))}
    rows += ["", f"W3 MLP step (784-512-512-10, SGD), DistributedDataParallel on {n} ranks "
             "(1 Numba thread per process):", "",
             "| run | batch per rank | global batch | buckets | step ms | samples/s | "
             "all-reduce alone ms (share) | first step s: cold / warm cache |",
             "|---|---|---|---|---|---|---|---|"]
    singles = (("1 rank, 1 thread", "one_thread"), (f"1 rank, {r['threads']} threads", "all_threads"))
    for label, key in singles:
        row, cold = r[key]["single"], r["cold"][key]["single"]
        rows.append(f"| {label} | 256 | 256 | - | {row['step_s'] * 1e3:.1f} | "
                    f"{256 / row['step_s']:.0f} | - | {cold['first_s']:.2f} / {row['first_s']:.2f} |")
    for name, row in runs.items():
        b, cold = row["batch_per_rank"], r["cold"]["parallel"][name]
        rows.append(f"| {n} ranks ({name}) | {b} | {b * n} | {row['buckets']} | "
                    f"{row['step_s'] * 1e3:.1f} | {b * n / row['step_s']:.0f} | "
                    f"{row['allreduce_s'] * 1e3:.2f} ({row['allreduce_s'] / row['step_s']:.0%}) | "
                    f"{cold['first_s']:.2f} / {row['first_s']:.2f} |")
    rows += ["", f"Weak-scaling efficiency {one['step_s'] / weak['step_s']:.2f} (1-thread rank "
             f"time / {n}-rank time); strong-scaling speedup {one['step_s'] / strong['step_s']:.2f}× "
             f"on {n} ranks. Medians, best of {r['rounds']} round(s). First steps: each row's "
             "process starts with an empty (cold) or a filled (warm) kernel cache, but the rows "
             "after the first of a process reuse the kernels it compiled already.",
             "<!-- /DISTRIBUTED -->"]
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="few repetitions (a smoke test)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    mpiexec = shutil.which("mpiexec", path=f"{Path(sys.executable).parent}{os.pathsep}"
                                          f"{os.environ.get('PATH', '')}")
    if mpiexec is None:
        raise SystemExit("mpiexec not found: pip install 'xlalite[mpi]'")
    me = [sys.executable, __file__, "--worker", "--rounds", str(args.rounds)] + (
        ["--quick"] if args.quick else [])
    threads = os.cpu_count() or 1
    runs = {"one_thread": (me, 1), "all_threads": (me, threads),
            "parallel": ([mpiexec, "-n", str(args.ranks), *me], 1)}
    cold = {}
    for name, (cmd, n) in runs.items():  # first with empty kernel caches, for first-step times
        with tempfile.TemporaryDirectory() as cache:
            cold[name] = run_worker(cmd, n, cache)
    results = {"rounds": args.rounds, "ranks": args.ranks, "threads": threads, "cold": cold,
               **{name: run_worker(cmd, n) for name, (cmd, n) in runs.items()}}
    (HERE / "results" / "distributed.json").write_text(json.dumps(results, indent=1) + "\n")
    table = render(results)
    readme = HERE / "README.md"
    head, mark, rest = readme.read_text().partition("<!-- DISTRIBUTED -->")
    if mark:
        readme.write_text(head + table + rest.partition("<!-- /DISTRIBUTED -->")[2])
    print(table)


if __name__ == "__main__":
    main()
