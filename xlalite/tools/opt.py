"""``xlalite-opt``: parse, verify, transform and print `.xir` files.

Every failure (bad IR, unknown pass, unreadable file) is reported as a diagnostic on stderr
with exit status 1; a Python traceback is only shown when XLALITE_DEBUG=1.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from xlalite.backends.base import Backend, CodegenError, TargetError, describe_targets, get_backend
from xlalite.compiler import DEFAULT_TARGET, emit_source, optimize
from xlalite.differential import CheckError, compare, load_inputs, random_inputs
from xlalite.differential import InputError as ArrayFileError
from xlalite.ir.core import Module
from xlalite.ir.diagnostics import Diagnostic, Location, XirError
from xlalite.ir.dot import RenderError, render_dot, to_dot
from xlalite.ir.parser import parse_module
from xlalite.ir.printer import print_module
from xlalite.ir.verifier import verify
from xlalite.passes.manager import (
    Instrumentation,
    PipelineError,
    format_stats,
    format_timing,
    parse_pipeline,
    registered_passes,
    run_pipeline,
)
from xlalite.tools.cli import guarded

EPILOG = """\
examples:
  xlalite-opt model.xir                         parse, verify and print in canonical form
  xlalite-opt model.xir -o out.xir              ... writing the result to a file
  cat model.xir | xlalite-opt -                 read standard input
  xlalite-opt model.xir -p "cse,dce"            run a pass pipeline (see --list-passes)
  xlalite-opt model.xir -p dce --print-ir-after-all --time-passes --pass-stats
  xlalite-opt model.xir -t numba-cpu --emit source   generated kernels and driver
  xlalite-opt model.xir -t numba-cpu            the IR after numba-cpu's default pipeline
  xlalite-opt model.xir -t "numba-cpu{exact-math=true parallel=false}" --emit source
                                                a configured target (see --list-targets)
  xlalite-opt model.xir --emit svg -o model.svg  the IR as a picture (--emit dot: DOT text)
  xlalite-opt model.xir -t numba-cpu --emit svg --memory   ... fused groups as clusters,
                                                with the memory plan's offsets
  xlalite-opt model.xir --check-against=interpreter -t numba-cpu [--inputs x.npz]
                                                worst error per output against the oracle
  xlalite-opt --clear-cache                     delete compiled kernels ($XLALITE_CACHE_DIR)
  xlalite-opt model.onnx -t numba-cpu --emit source   an ONNX model, as the IR it imports to
  xlalite-opt model.onnx --input-shape x=8,3,224,224   ... with a symbolic dim made concrete
  xlalite-opt tests.xir --split-input-file      treat '// -----' separated chunks separately
  xlalite-opt bad.xir --split-input-file --verify-diagnostics
        check that each chunk produces exactly the errors its comments announce:
          // expected-error@+1 {{use of undefined value}}
        (@+N / @-N: N lines below / above the comment; no @: the comment's own line)

exit status: 0 on success, 1 on any error (the message says where and why)
"""

_EXPECTED = re.compile(
    r"//\s*expected-(error|warning|note)(?:@([+-]\d+|above|below))?\s*\{\{(.*?)\}\}")
SPLIT_MARKER = re.compile(r"^//\s*-----\s*$")


@dataclass
class Chunk:
    """A piece of the input and the number of lines before it in the file."""

    text: str
    line_offset: int


def split_input(text: str, split: bool) -> list[Chunk]:
    if not split:
        return [Chunk(text, 0)]
    chunks: list[Chunk] = []
    current: list[str] = []
    start = 0
    for i, line in enumerate(text.splitlines(keepends=True)):
        if SPLIT_MARKER.match(line.strip()):
            chunks.append(Chunk("".join(current), start))
            current, start = [], i + 1
        else:
            current.append(line)
    chunks.append(Chunk("".join(current), start))
    return chunks


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="xlalite-opt",
        description="Parse, verify, transform and print xlalite IR (.xir files).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", nargs="?", default="-",
                   help="input .xir file, an ONNX model (.onnx), or '-' for stdin")
    p.add_argument("--input-shape", action="append", default=[], metavar="NAME=D0,D1,...",
                   help="for .onnx input: the shape to import an input at (symbolic dims "
                        "otherwise become 1); repeatable")
    p.add_argument("-o", "--output", default="-", help="output file (default: stdout)")
    p.add_argument("-p", "--pass-pipeline", default="", metavar="SPEC",
                   help='passes to run, e.g. "canonicalize,cse,dce"')
    p.add_argument("--split-input-file", action="store_true",
                   help="process '// -----' separated chunks independently")
    p.add_argument("--verify-diagnostics", action="store_true",
                   help="check errors against '// expected-error' comments instead of failing")
    p.add_argument("--list-passes", action="store_true", help="list passes and their options")
    p.add_argument("--verify-each", action=argparse.BooleanOptionalAction, default=True,
                   help="verify the IR after every pass (default: on)")
    p.add_argument("--print-ir-after-all", action="store_true", help="dump IR after each pass")
    p.add_argument("--print-ir-after", action="append", default=[], metavar="PASS",
                   help="dump IR after the named pass (repeatable)")
    p.add_argument("-t", "--target", metavar="TARGET",
                   help='compile for a target, e.g. numba-cpu or "numba-cpu{fastmath=true}", '
                        "after its default pipeline (or the one -p gives)")
    p.add_argument("--list-targets", action="store_true",
                   help="list targets with their options and defaults")
    p.add_argument("--emit", choices=("ir", "source", "dot", "svg"), default="ir",
                   help="print the (final) IR (default), with -t the generated source, or the "
                        "IR as a Graphviz graph: DOT text, or an SVG picture drawn by Graphviz")
    p.add_argument("--memory", action="store_true",
                   help="with --emit dot/svg: show each result's offset in the memory plan")
    p.add_argument("--check-against", metavar="REFERENCE",
                   help="run the program on the target (-t, default numba-cpu) and on REFERENCE "
                        "(e.g. interpreter) and report the worst error per output; exit status "
                        "1 when they disagree (shrink such a program with xlalite-reduce)")
    p.add_argument("--inputs", default="random", metavar="random|FILE.npz",
                   help="with --check-against: random inputs (seeded) or arrays from an .npz "
                        "file, by argument name")
    p.add_argument("--clear-cache", action="store_true",
                   help="delete the compiled-kernel cache and exit")
    p.add_argument("--time-passes", action="store_true", help="report time spent in each pass")
    p.add_argument("--pass-stats", action="store_true", help="report what each pass changed")
    return p


def list_passes() -> str:
    lines = ["Available passes:"]
    for name, cls in registered_passes().items():
        lines.append(f"  {name:<16} {cls.summary()}")
        for key, f in cls.options().items():
            default = "" if f.default is None else f" (default: {f.default})"
            lines.append(f"      {key}={getattr(f.type, '__name__', f.type)}{default}")
    from xlalite.passes.pipelines import PHASES

    lines.append("Phases (usable in pipelines like pass names):")
    lines.extend(f"  {name:<16} {spec}" for name, spec in PHASES.items())
    return "\n".join(lines) + "\n"


def process_chunk(chunk: Chunk, filename: str, args: argparse.Namespace) -> tuple[str, list[str]]:
    """Parse, verify and transform one chunk; returns (IR text, report lines). Raises XirError."""
    module = verify(parse_module(chunk.text, filename, chunk.line_offset))
    reports: list[str] = []
    backend: Backend | None = get_backend(args.target) if args.target else None
    inst = Instrumentation(verify_each=args.verify_each,
                           print_ir_after_all=args.print_ir_after_all,
                           print_ir_after=frozenset(args.print_ir_after), out=sys.stderr)
    pipeline = args.pass_pipeline or None  # None with -t: the target's default pipeline
    if args.check_against:
        return check_chunk(module, args), reports
    if backend is not None and args.emit == "source":
        records: list = []
        source = emit_source(module, backend, pipeline, inst)
    elif backend is not None:
        records = optimize(module, backend, pipeline, inst)
    else:
        records = run_pipeline(module, parse_pipeline(args.pass_pipeline), inst) \
            if args.pass_pipeline else []
    if args.time_passes and records:
        reports.append(format_timing(records))
    if args.pass_stats and records:
        reports.append(format_stats(records))
    if backend is not None and args.emit == "source":
        return source, reports
    if args.emit in ("dot", "svg"):
        dot = to_dot(module, args.memory)
        return (dot if args.emit == "dot" else render_dot(dot, "svg").decode()), reports
    return print_module(module), reports


def check_chunk(module: Module, args: argparse.Namespace) -> str:
    """The differential report; raises CheckError (carrying it) when the outputs disagree."""
    func = module.main
    inputs = random_inputs(func) if args.inputs == "random" else load_inputs(func, args.inputs)
    report = compare(module, args.target or DEFAULT_TARGET, inputs, args.check_against,
                     args.pass_pipeline or None)
    if not report.ok:
        raise CheckError(str(report))
    return str(report)


def expected_diagnostics(chunk: Chunk) -> list[tuple[int, str]]:
    """(absolute line, expected message) pairs announced by comments in `chunk`."""
    out = []
    for i, line in enumerate(chunk.text.splitlines()):
        for m in _EXPECTED.finditer(line):
            where = m.group(2)
            delta = {None: 0, "above": -1, "below": 1}.get(where)
            delta = int(where) if delta is None else delta
            out.append((chunk.line_offset + i + 1 + delta, m.group(3).strip()))
    return out


def check_diagnostics(chunk: Chunk, filename: str, args: argparse.Namespace) -> list[Diagnostic]:
    """Mismatches between produced and expected diagnostics (empty: the chunk passes)."""
    try:
        process_chunk(chunk, filename, args)
        produced: list[Diagnostic] = []
    except XirError as e:
        produced = e.diagnostics
    expected = expected_diagnostics(chunk)
    problems = []
    unmatched = list(expected)
    for d in produced:
        hit = next((x for x in unmatched if x[0] == d.loc.line and x[1] in d.message), None)
        if hit is None:
            problems.append(Diagnostic(d.loc, f"unexpected error: {d.message}"))
        else:
            unmatched.remove(hit)
    for line, msg in unmatched:
        problems.append(Diagnostic(Location(filename, line, 1),
                                   f'expected error "{msg}" was not produced'))
    return problems


class InputError(Exception):
    """An input file xlalite-opt cannot turn into IR (a bad or unsupported ONNX model)."""


def onnx_to_ir(path: str, shapes: Sequence[str]) -> str:
    """The IR an ONNX model imports to, at the given input shapes."""
    try:
        import xlalite.onnx as xonnx
        from xlalite.onnx.model import example_inputs
    except ImportError as e:
        raise InputError(f"reading ONNX needs the onnx package (pip install 'xlalite[onnx]'): "
                         f"{e}") from None
    given: dict[str, list[int]] = {}
    for item in shapes:
        name, _, dims = item.rpartition("=")
        try:
            given[name] = [int(d) for d in dims.split(",") if d.strip()]
        except ValueError:
            raise InputError(f"--input-shape {item!r}: expected NAME=D0,D1,... with integer "
                             "dims") from None
        if not name:
            raise InputError(f"--input-shape {item!r}: expected NAME=D0,D1,...")
    try:
        model = xonnx.load(path, backend="interpreter")
        return model.lower(*example_inputs(model, given)).as_text()
    except (xonnx.OnnxImportError, xonnx.UnsupportedOpError, xonnx.UnsupportedTypeError,
            TypeError) as e:
        raise InputError(str(e)) from None


def run(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.clear_cache:
        from xlalite.backends.numba_common.cache import clear_cache

        print(f"removed {clear_cache()}")
        return 0
    if args.list_targets:
        sys.stdout.write(describe_targets())
        return 0
    if args.target:
        try:
            get_backend(args.target)
        except TargetError as e:
            print(f"xlalite-opt: error: {e}", file=sys.stderr)
            return 1
    if args.list_passes:
        sys.stdout.write(list_passes())
        return 0
    try:
        if args.input.endswith(".onnx"):
            text, filename = onnx_to_ir(args.input, args.input_shape), args.input
        elif args.input == "-":
            text, filename = sys.stdin.read(), "<stdin>"
        else:
            with open(args.input, encoding="utf-8") as fh:
                text, filename = fh.read(), args.input
    except (OSError, UnicodeDecodeError) as e:
        print(f"xlalite-opt: error: cannot read {args.input}: {e}", file=sys.stderr)
        return 1
    except InputError as e:
        where = "" if str(e).startswith(args.input) else f"{args.input}: "
        print(f"xlalite-opt: error: {where}{e}", file=sys.stderr)
        return 1
    try:
        if args.pass_pipeline:
            parse_pipeline(args.pass_pipeline)  # report spec errors before any work
    except PipelineError as e:
        print(f"xlalite-opt: error: {e}", file=sys.stderr)
        return 1
    chunks = split_input(text, args.split_input_file)
    if args.verify_diagnostics:
        problems = [p for c in chunks for p in check_diagnostics(c, filename, args)]
        for p in problems:
            print(p.render(), file=sys.stderr)
        return 1 if problems else 0
    outputs, failed = [], False
    for chunk in chunks:
        try:
            ir, reports = process_chunk(chunk, filename, args)
        except XirError as e:
            print(str(e), file=sys.stderr)
            failed = True
            continue
        except CodegenError as e:  # valid IR the target cannot compile (an unsupported op)
            print(f"{filename}: error: {args.target}: {e}", file=sys.stderr)
            failed = True
            continue
        except CheckError as e:  # the report, and a failing status
            sys.stdout.write(str(e))
            failed = True
            continue
        except (RenderError, ArrayFileError, OSError) as e:
            print(f"xlalite-opt: error: {e}", file=sys.stderr)
            failed = True
            continue
        outputs.append(ir)
        for r in reports:
            sys.stderr.write(r)
    if failed:
        return 1
    result = "// -----\n".join(outputs)
    if args.output == "-":
        sys.stdout.write(result)
    else:
        try:
            with open(args.output, "w", encoding="utf-8") as fh:
                fh.write(result)
        except OSError as e:
            print(f"xlalite-opt: error: cannot write {args.output}: {e}", file=sys.stderr)
            return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: never lets a traceback reach the user unless XLALITE_DEBUG=1."""
    return guarded("xlalite-opt", run, argv)


if __name__ == "__main__":
    sys.exit(main())
