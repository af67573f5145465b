"""ONNX's backend node tests per op: pass / fail / skip for xlalite (and onnxruntime beside it).

    python -m xlalite.onnx.conformance                      # every case of every supported op
    python -m xlalite.onnx.conformance --ops Conv MaxPool   # some ops
    python -m xlalite.onnx.conformance --target interpreter --onnxruntime --json out.json

The cases are ONNX's own (``onnx.backend.test.loader``: built in memory from the installed
``onnx`` package, expected outputs included) and are checked as ``BackendTest`` checks them:
same shapes and dtypes, ``assert_allclose`` at the case's rtol/atol (1e-3/1e-7 by default, and
exact for integers and bools). A case is a *skip* when it needs an element type the IR lacks
or an input form xlalite reports as unsupported; anything else that goes wrong is a *fail*.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx.backend.test.loader import load_model_tests
from onnx.backend.test.runner import Runner

from xlalite.onnx.backend import XlaliteBackend
from xlalite.onnx.errors import UnsupportedTypeError
from xlalite.onnx.registry import HANDLERS, UnsupportedOpError

SKIPS = (UnsupportedTypeError, UnsupportedOpError)


@dataclass
class Case:
    name: str
    op: str
    model: onnx.ModelProto
    data_sets: list[Any]
    rtol: float
    atol: float


def cases() -> list[Case]:
    """ONNX's node cases, each with the op it tests (an ``_expanded`` case tests its twin's)."""
    loaded = load_model_tests(kind="node")
    op_of = {}
    loaded = [t for t in loaded if t.model is not None]
    for t in loaded:
        assert t.model is not None
        nodes = t.model.graph.node
        if len(nodes) == 1 and not t.name.endswith("_expanded"):
            op_of[t.name] = nodes[0].op_type
    out = []
    for t in loaded:
        base = re.sub(r"(_expanded|_expanded_ver\d+)$", "", t.name)
        op = op_of.get(t.name) or op_of.get(base)
        assert t.model is not None
        if op is None:
            nodes = t.model.graph.node
            op = nodes[-1].op_type if nodes else "?"
        out.append(Case(t.name, op, t.model, list(t.data_sets or []), t.rtol, t.atol))
    return out


def _normalize(x: Any) -> Any:
    if isinstance(x, onnx.TensorProto):
        return onnx.numpy_helper.to_array(x)
    return x


def run_case(case: Case, run: Any) -> tuple[str, str]:
    """("pass" | "fail" | "skip", detail) for one case; `run(model, inputs)` gives outputs."""
    try:
        for inputs, expected in case.data_sets:
            outs = run(case.model, [_normalize(x) for x in inputs])
            Runner.assert_similar_outputs([_normalize(x) for x in expected], list(outs),
                                          rtol=case.rtol, atol=case.atol)
        return "pass", ""
    except SKIPS as e:
        return "skip", f"{type(e).__name__}: {e}"
    except Exception as e:  # noqa: BLE001  # a conformance report counts every failure
        text = str(e).strip().splitlines()
        return "fail", f"{type(e).__name__}: {text[0] if text else ''}"[:300]


def xlalite_runner(target: str) -> Any:
    def run(model: onnx.ModelProto, inputs: list[np.ndarray]) -> Any:
        return XlaliteBackend.prepare(model, target=target).run(inputs)
    return run


def onnxruntime_runner() -> Any:
    import onnxruntime as ort

    def run(model: onnx.ModelProto, inputs: list[np.ndarray]) -> Any:
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        names = [i.name for i in sess.get_inputs()]
        return sess.run(None, dict(zip(names, inputs)))
    return run


@dataclass
class Report:
    counts: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    details: dict[str, dict[str, tuple[str, str]]] = field(default_factory=lambda: defaultdict(dict))

    def add(self, who: str, case: Case, result: tuple[str, str]) -> None:
        self.counts[f"{who}:{case.op}"][result[0]] += 1
        self.details[who][case.name] = result

    def failures(self, who: str) -> dict[str, str]:
        return {n: d for n, (r, d) in self.details[who].items() if r == "fail"}


def run_all(selected: list[Case], target: str, with_ort: bool, progress: bool = True) -> Report:
    from tqdm import tqdm

    report = Report()
    runners = [("xlalite", xlalite_runner(target))]
    if with_ort:
        runners.append(("onnxruntime", onnxruntime_runner()))
    for case in tqdm(selected, disable=not progress, unit="case"):
        for who, run in runners:
            report.add(who, case, run_case(case, run))
    return report


def table(report: Report, ops: list[str], with_ort: bool) -> str:
    head = f"{'op':<24}{'pass':>6}{'fail':>6}{'skip':>6}"
    if with_ort:
        head += f"   {'ort pass':>8}{'fail':>6}"
    lines = [head, "-" * len(head)]
    total: Counter = Counter()
    ort_total: Counter = Counter()
    for op in ops:
        c = report.counts[f"xlalite:{op}"]
        total.update(c)
        row = f"{op:<24}{c['pass']:>6}{c['fail']:>6}{c['skip']:>6}"
        if with_ort:
            o = report.counts[f"onnxruntime:{op}"]
            ort_total.update(o)
            row += f"   {o['pass']:>8}{o['fail'] + o['skip']:>6}"
        lines.append(row)
    lines.append("-" * len(head))
    row = f"{'total':<24}{total['pass']:>6}{total['fail']:>6}{total['skip']:>6}"
    if with_ort:
        row += f"   {ort_total['pass']:>8}{ort_total['fail'] + ort_total['skip']:>6}"
    lines.append(row)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m xlalite.onnx.conformance",
        description="Run ONNX's backend node tests for the ops xlalite supports and print "
                    "pass / fail / skip per op. Exits 1 when any case of a supported op fails.")
    p.add_argument("--ops", nargs="*", help="only these op types (default: every supported op)")
    p.add_argument("--target", default="numba-cpu", help="xlalite target (default numba-cpu)")
    p.add_argument("--onnxruntime", action="store_true", help="also run each case in onnxruntime")
    p.add_argument("--every", type=int, default=1, help="run every Nth case (a sample)")
    p.add_argument("--json", help="write the per-case results to this file")
    p.add_argument("--show-failures", action="store_true", help="print each failure's reason")
    args = p.parse_args(argv)
    ops = sorted(args.ops or HANDLERS)
    unknown = sorted(set(ops) - set(HANDLERS))
    if unknown:
        print(f"error: not supported ops: {unknown}", file=sys.stderr)
        return 1
    selected = [c for c in cases() if c.op in ops][::args.every]
    start = time.perf_counter()
    report = run_all(selected, args.target, args.onnxruntime)
    print(table(report, ops, args.onnxruntime))
    print(f"{len(selected)} cases in {time.perf_counter() - start:.0f} s (target {args.target})")
    fails = report.failures("xlalite")
    if args.show_failures:
        for name, why in sorted(fails.items()):
            print(f"FAIL {name}: {why}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({who: d for who, d in report.details.items()}, f, indent=1, sort_keys=True)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
