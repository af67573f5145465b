"""xlalite-opt as a user runs it: the installed console script, files, stdin, errors."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from xlalite.tools.opt import main

GOOD = """\
// a comment the printer drops
func @f(%x: f32[2,3], %y: f32[3]) -> f32[2,3] {
  %b = "xl.broadcast_in_dim"(%y) {dims = [1], shape = [2,3]} : (f32[3]) -> f32[2,3]
  %s = "xl.add"(%x, %b) : (f32[2,3], f32[2,3]) -> f32[2,3]
  return %s
}
"""
CANONICAL = """\
func @f(%x: f32[2,3], %y: f32[3]) -> f32[2,3] {
  %0 = "xl.broadcast_in_dim"(%y) {shape = [2, 3], dims = [1]} : (f32[3]) -> f32[2,3]
  %1 = "xl.add"(%x, %0) : (f32[2,3], f32[2,3]) -> f32[2,3]
  return %1
}
"""


def opt_exe() -> list[str]:
    exe = shutil.which("xlalite-opt", path=str(Path(sys.executable).parent))
    assert exe, "console script xlalite-opt is not installed next to the interpreter"
    return [exe]


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(opt_exe() + list(args), input=stdin, capture_output=True, text=True,
                          timeout=60)


def test_console_script_prints_canonical_form_from_stdin():
    r = run_cli("-", stdin=GOOD)
    assert r.returncode == 0, r.stderr
    assert r.stdout == CANONICAL


def test_output_file_and_idempotence(tmp_path):
    src, out = tmp_path / "in.xir", tmp_path / "out.xir"
    src.write_text(GOOD)
    assert main([str(src), "-o", str(out)]) == 0
    assert out.read_text() == CANONICAL
    out2 = tmp_path / "out2.xir"
    assert main([str(out), "-o", str(out2)]) == 0
    assert out2.read_text() == CANONICAL


def test_bad_input_exits_1_with_diagnostic_and_no_traceback():
    r = run_cli("-", stdin=GOOD.replace("%b)", "%q)"))
    assert r.returncode == 1
    assert "<stdin>:4:21: error: use of undefined value '%q'" in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""


@pytest.mark.parametrize("args, message", [
    (["/no/such/file.xir"], "cannot read /no/such/file.xir"),
    (["-", "-p", "no-such-pass"], "unknown pass 'no-such-pass'"),
    (["-", "-p", "dce{"], "unclosed '{'"),
])
def test_usage_errors_exit_1_with_a_message(args, message):
    r = run_cli(*args, stdin=GOOD)
    assert r.returncode == 1 and message in r.stderr and "Traceback" not in r.stderr


def test_binary_garbage_is_a_clean_error(tmp_path):
    f = tmp_path / "bin.xir"
    f.write_bytes(b"\xff\xfe\x00garbage")
    r = run_cli(str(f))
    assert r.returncode == 1 and "Traceback" not in r.stderr and "cannot read" in r.stderr


def test_help_teaches_with_examples():
    r = run_cli("--help")
    assert r.returncode == 0
    for needle in ("--split-input-file", "--verify-diagnostics", "--list-passes", "examples:",
                   "expected-error@+1", "exit status"):
        assert needle in r.stdout


def test_list_passes_runs():
    r = run_cli("--list-passes")
    assert r.returncode == 0 and r.stdout.startswith("Available passes:")


def test_split_input_file_prints_chunks_with_separator():
    r = run_cli("-", "--split-input-file", stdin=GOOD + "// -----\n" + GOOD.replace("@f", "@g"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == CANONICAL + "// -----\n" + CANONICAL.replace("@f", "@g")


def test_a_pass_that_cannot_apply_is_a_located_error_not_a_bug(capsys):
    assert main(["examples/ir/softmax.xir", "-p", "autodiff"]) == 1
    err = capsys.readouterr().err
    assert "examples/ir/softmax.xir:1:6: error: pass 'autodiff': gradients need a scalar" in err
    assert "internal error" not in err


def test_a_byte_order_mark_is_accepted(tmp_path, capsys):
    path = tmp_path / "bom.xir"
    path.write_text("\ufeff" + GOOD, encoding="utf-8")
    assert main([str(path)]) == 0
    assert capsys.readouterr().out == CANONICAL


def test_unprintable_text_in_a_diagnostic_does_not_crash_the_cli():
    bad = GOOD.replace('"xl.add"', '"xl.\\ud800"')  # an unknown op named with a lone surrogate
    r = run_cli("-", stdin=bad)
    assert r.returncode == 1 and "unknown op" in r.stderr and "internal error" not in r.stderr
