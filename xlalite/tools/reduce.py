"""``xlalite-reduce``: shrink a program on which a target disagrees with a reference.

Delta debugging over the program's outputs, ops and operands, to a fixed point: keep a subset
of the results (ddmin); replace an op's result by one of its operands of the same type
(bypassing the op); or replace it by a new function argument (cutting away everything only it
needed). After each change dead ops and unused arguments go. A candidate is kept when it still
verifies, still compiles and still *disagrees* (``differential.compare``), so the output is a
small ``.xir`` file that shows the bug by itself: a bug report in one file.

    xlalite-reduce bad.xir --check-against=interpreter -t numba-cpu -o small.xir

Arguments that survive keep the values they were given (``--inputs``); arguments made by
cutting get seeded random values. Exit status: 0 when a reduced program was written, 1 when
the input does not disagree to begin with, or on any error (with a message).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

from xlalite.backends.base import TargetError, get_backend
from xlalite.compiler import DEFAULT_TARGET
from xlalite.differential import InputError, compare, load_inputs, random_inputs
from xlalite.ir.builder import Builder
from xlalite.ir.core import TERMINATORS, Function, Module, Value, clone_op
from xlalite.ir.diagnostics import XirError
from xlalite.ir.parser import parse_module
from xlalite.ir.verifier import verify
from xlalite.passes.dce import dce_block
from xlalite.tools.cli import guarded

Inputs = dict[str, np.ndarray]


def count_ops(module: Module) -> int:
    """Ops of the entry function, nested ones included, terminators not."""
    return sum(1 for op in module.main.walk() if op.name not in TERMINATORS)


def rebuild(func: Function, edits: dict[int, int | None], outputs: Sequence[int | Value]
            ) -> Module:
    """A copy of `func` where top-level op i is cut (``edits[i] is None``: its results become
    new arguments) or bypassed (``edits[i] = k``: its result is its operand k), returning the
    `outputs` (indices into the return values, or values of `func`); then dead ops and unused
    arguments go."""
    new = Function(func.name, [], [])
    mapping: dict[Value, Value] = {a: new.body.add_arg(a.type, a.name_hint) for a in func.args}
    ops = [op for op in func.body.ops if op.name not in TERMINATORS]
    for i, op in enumerate(ops):
        if i not in edits:
            new.body.append(clone_op(op, mapping))
        elif edits[i] is None:
            for j, r in enumerate(op.results):
                mapping[r] = new.body.add_arg(r.type, f"cut{i}_{j}" if len(op.results) > 1 else f"cut{i}")
        else:
            mapping[op.result] = mapping[op.operands[edits[i]]]  # type: ignore[index]
    values = [mapping[func.outputs[k] if isinstance(k, int) else k] for k in outputs]
    Builder(new.body).ret(*values)
    new.result_types = [v.type for v in values]
    dce_block(new.body)
    used = [a for a in new.body.args if a.uses or any(a is v for v in values)]
    if len(used) == len(new.body.args):
        return Module([new])
    slim = Function(func.name, [a.type for a in used], new.result_types, [a.name_hint for a in used])
    mapping = dict(zip(used, slim.args))
    for op in new.body.ops:
        slim.body.append(clone_op(op, mapping))
    return Module([slim])


class Reducer:
    """Holds the current smallest disagreeing program and tries candidates against it."""

    def __init__(self, module: Module, inputs: Inputs, test: Callable[[Module, list], bool],
                 progress: tqdm | None = None):
        self.best, self.inputs, self.test = module, inputs, test
        self.checks = 0
        self.progress = progress

    def inputs_for(self, module: Module) -> list[np.ndarray]:
        """Given arrays for known argument names, seeded random ones for the others (all of
        them without given inputs, so the reduced file disagrees on the default inputs of
        ``xlalite-opt --check-against`` too)."""
        fresh = random_inputs(module.main)
        return [self.inputs.get(a.name_hint or "", fresh[i]) for i, a in enumerate(module.main.args)]

    def try_candidate(self, candidate: Module) -> bool:
        self.checks += 1
        if self.progress is not None:
            self.progress.update(1)
            self.progress.set_postfix(ops=count_ops(self.best))
        try:
            verify(candidate)
            inputs = self.inputs_for(candidate)
            if not self.test(candidate, inputs):
                return False
        except Exception:  # noqa: BLE001  (a candidate that does not compile is just not kept)
            return False
        self.best = candidate
        return True

    def reduce_outputs(self) -> None:
        """ddmin over the returned values: chunks of them alone, then without each chunk,
        halving the chunk size until single values have been tried."""
        chunk = max(1, len(self.best.main.outputs) // 2)
        while (n := len(self.best.main.outputs)) > 1:
            chunk = min(chunk, n - 1)
            parts = [list(range(s, min(s + chunk, n))) for s in range(0, n, chunk)]
            subsets = parts + [[k for k in range(n) if k not in part] for part in parts]
            if not any(0 < len(sub) < n and self.try_candidate(rebuild(self.best.main, {}, sub))
                       for sub in subsets):
                if chunk == 1:
                    return
                chunk //= 2

    def reroot_outputs(self) -> bool:
        """Return an operand of an output's producer instead of the output (dropping, say, the
        reduction that only summarises a wrong value); True if anything shrank."""
        shrank, k = False, 0
        while k < len(self.best.main.outputs):
            func = self.best.main
            producer = func.outputs[k].defining_op
            operands = producer.operands if producer is not None else ()
            outs: list[int | Value] = list(range(len(func.outputs)))
            for v in operands:
                outs[k] = v
                if self.try_candidate(rebuild(func, {}, outs)):
                    shrank = True
                    break
            else:
                k += 1
        return shrank

    def reduce_ops(self) -> bool:
        """One sweep, last op first: bypass each op, else cut it; True if anything shrank."""
        shrank = False
        i = len([op for op in self.best.main.body.ops if op.name not in TERMINATORS]) - 1
        while i >= 0:
            func = self.best.main
            ops = [op for op in func.body.ops if op.name not in TERMINATORS]
            if i >= len(ops):
                i = len(ops) - 1
                continue
            op, outputs = ops[i], list(range(len(func.outputs)))
            tries: list[int | None] = []
            if len(op.results) == 1:
                tries += [k for k, v in enumerate(op.operands) if v.type == op.result.type]
            tries.append(None)
            for edit in tries:
                if self.try_candidate(rebuild(func, {i: edit}, outputs)):
                    shrank = True
                    break
            i -= 1
        return shrank

    def run(self) -> Module:
        self.reduce_outputs()
        while self.reduce_ops() | self.reroot_outputs():
            self.reduce_outputs()
        return self.best


def disagrees(target: str, reference: str, pipeline: str | None) -> Callable[[Module, list], bool]:
    def test(module: Module, inputs: list) -> bool:
        return not compare(module, target, inputs, reference, pipeline).ok

    return test


def reduce_module(module: Module, target: str, reference: str = "interpreter",
                  pipeline: str | None = None, inputs: Sequence[np.ndarray] | None = None,
                  progress: bool = False) -> tuple[Module, int, list[np.ndarray]]:
    """The smallest program found that still disagrees, the number of checks it took, and its
    inputs. Raises ValueError when `module` itself does not disagree."""
    func = module.main
    given = list(inputs) if inputs is not None else random_inputs(func)
    named = {a.name_hint or f"arg{i}": x for i, (a, x) in enumerate(zip(func.args, given))
             } if inputs is not None else {}
    test = disagrees(target, reference, pipeline)
    if not test(module, given):
        raise ValueError(f"{get_backend(target).spec()} agrees with {reference} on this program "
                         "and these inputs: nothing to reduce")
    bar = tqdm(desc="reducing", unit="check", disable=not progress, file=sys.stderr)
    with bar:
        reducer = Reducer(module, named, test, bar)
        best = reducer.run()
    return best, reducer.checks, reducer.inputs_for(best)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xlalite-reduce", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="the .xir program that disagrees")
    p.add_argument("--check-against", default="interpreter", metavar="REFERENCE",
                   help="the reference target (default: interpreter, the NumPy oracle)")
    p.add_argument("-t", "--target", default=DEFAULT_TARGET, help="the target under suspicion")
    p.add_argument("-p", "--pass-pipeline", default=None, metavar="SPEC",
                   help="the target's pipeline (default: its own)")
    p.add_argument("--inputs", default="random", metavar="random|FILE.npz",
                   help="the inputs that show the disagreement (default: seeded random)")
    p.add_argument("-o", "--output", help="where to write the reduced program "
                                          "(default: INPUT with .reduced.xir)")
    return p


def run(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        get_backend(args.target), get_backend(args.check_against)
        with open(args.input, encoding="utf-8") as fh:
            module = verify(parse_module(fh.read(), args.input))
        inputs = None if args.inputs == "random" else load_inputs(module.main, args.inputs)
        before = count_ops(module)
        best, checks, best_inputs = reduce_module(module, args.target, args.check_against,
                                                  args.pass_pipeline, inputs, progress=True)
    except XirError as e:
        print(str(e), file=sys.stderr)
        return 1
    except (OSError, TargetError, InputError, ValueError) as e:
        print(f"xlalite-reduce: error: {e}", file=sys.stderr)
        return 1
    out = args.output or os.path.splitext(args.input)[0] + ".reduced.xir"
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(str(best))
    print(f"reduced {before} ops to {count_ops(best)} in {checks} checks: {out}")
    if inputs is not None:  # the arrays it disagrees on, by argument name, beside it
        npz = os.path.splitext(out)[0] + ".npz"
        arrays: dict[str, Any] = {a.name_hint or f"arg{i}": x
                                  for i, (a, x) in enumerate(zip(best.main.args, best_inputs))}
        np.savez(npz, **arrays)
        print(f"its inputs: {npz}")
    print(compare(best, args.target, best_inputs, args.check_against, args.pass_pipeline), end="")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: never lets a traceback reach the user unless XLALITE_DEBUG=1."""
    return guarded("xlalite-reduce", run, argv)


if __name__ == "__main__":
    sys.exit(main())
