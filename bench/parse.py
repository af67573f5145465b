"""Parser throughput: ``python bench/parse.py`` (``--quick`` for smaller files).

The programs are the traced W3–W5 training steps (W5 is the LSTM unrolled over 32 steps), as
traced and after the numba-cpu pipeline (fusions with regions, memory-plan attributes), each
repeated as renamed functions until the file holds about ``--ops`` ops. Each file is parsed
by ``parse_module`` (the regular-expression fast path) and by ``parse_with_grammar`` (the lark
grammar the fast path falls back to), alternating over rounds; the best round counts. Writes
``bench/results/parser.json``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def programs() -> dict[str, str]:
    import train_workloads as T

    from xlalite.compiler import optimize
    from xlalite.ir import parse_module, print_module

    out = {}
    for w in ("W3", "W4", "W5"):
        step, args = T.xlalite_program(w)
        traced = step.lower(*args).as_text()
        module = parse_module(traced)
        optimize(module)
        out[f"{w} traced"] = traced
        out[f"{w} optimized"] = print_module(module)
    return out


def count_ops(text: str) -> int:
    return len(re.findall(r'^\s*(?:%[^=\n]*=\s*)?"', text, re.M)) + text.count("  return")


def repeat(text: str, ops: int) -> str:
    """Copies of every function of `text`, renamed, until about `ops` ops."""
    copies = max(1, round(ops / max(1, count_ops(text))))
    return "\n".join(re.sub(r"^func @([\w.$-]+)", rf"func @\g<1>_{i}", text, flags=re.M)
                     for i in range(copies))


def timed(fn, text: str) -> float:
    start = time.perf_counter()
    fn(text)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ops", type=int, default=20000, help="ops per file (default 20000)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the fast path (default 3)")
    ap.add_argument("--quick", action="store_true", help="2,000-op files, one round")
    args = ap.parse_args()
    if args.quick:
        args.ops, args.rounds = 2000, 1

    from xlalite.ir.parser import parse_module, parse_with_grammar

    rows = []
    for name, text in programs().items():
        text = repeat(text, args.ops)
        n = count_ops(text)
        fast, grammar = [], []
        for r in range(args.rounds):
            fast.append(timed(parse_module, text))
            if r == 0:  # the grammar path takes ~15x longer: one round
                grammar.append(timed(parse_with_grammar, text))
        row = {"program": name, "ops": n, "chars": len(text),
               "fast_s": min(fast), "grammar_s": min(grammar),
               "fast_ops_per_s": round(n / min(fast)), "grammar_ops_per_s": round(n / min(grammar))}
        rows.append(row)
        print(f"{name:14s} {n:6d} ops  fast {row['fast_ops_per_s']:7d} ops/s  "
              f"grammar {row['grammar_ops_per_s']:6d} ops/s  ({min(grammar) / min(fast):.1f}x)")
    out = HERE / "results" / "parser.json"
    import platform

    import xlalite
    meta = {"machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
            "python": platform.python_version(), "xlalite": xlalite.__version__,
            "date": time.strftime("%Y-%m-%d")}
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
