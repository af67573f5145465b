"""Graph pictures (DOT/SVG), the differential checker and the reducer, on a planted bug."""

import builtins
import shutil

import numpy as np
import pytest

import xlalite as xl
from xlalite.differential import CheckError, compare, random_inputs
from xlalite.ir import dot
from xlalite.ir.core import Op
from xlalite.ir.parser import parse_module
from xlalite.ops.registry import get_op
from xlalite.tools import opt, reduce

MLP = """\
func @main(%x: f32[4,8], %w: f32[8,8], %b: f32[8]) -> (f32[4,8]) {
  %0 = "xl.dot_general"(%x, %w) {contract = [[1], [0]], batch = [[], []]} : (f32[4,8], f32[8,8]) -> f32[4,8]
  %1 = "xl.broadcast_in_dim"(%b) {shape = [4, 8], dims = [1]} : (f32[8]) -> f32[4,8]
  %2 = "xl.add"(%0, %1) : (f32[4,8], f32[4,8]) -> f32[4,8]
  %3 = "xl.tanh"(%2) : (f32[4,8]) -> f32[4,8]
  %4 = "xl.exp"(%3) : (f32[4,8]) -> f32[4,8]
  return %4
}
"""


def test_dot_draws_ops_arguments_and_fused_groups(tmp_path):
    module = parse_module(MLP)
    text = dot.to_dot(module)
    assert text.count("shape=\"box\"") == 5 and text.count("shape=\"ellipse\"") == 3
    assert '"xl.tanh\\nf32[4,8]"' in text and "cluster_" in text
    path = tmp_path / "m.xir"
    path.write_text(MLP)
    out = tmp_path / "after.dot"
    assert opt.main([str(path), "-t", "numba-cpu", "--emit", "dot", "--memory", "-o", str(out)]) == 0
    after = out.read_text()
    assert 'label="xl.fusion (matmul)' in after and "@[-1]" in after and "arena 0 bytes" in after
    lowered = xl.jit(lambda x: xl.exp(xl.tanh(x + 1.0))).lower(np.ones(4, np.float32))
    assert "cluster_2" not in lowered.as_dot() and "xl.fusion" in lowered.as_dot(optimized=True)


def _has_graphviz() -> bool:
    try:
        import pygraphviz  # noqa: F401
    except ImportError:
        return shutil.which("dot") is not None
    return True


@pytest.mark.skipif(not _has_graphviz(), reason="no Graphviz (pip install 'xlalite[viz]')")
def test_svg_is_rendered(tmp_path):
    path = tmp_path / "m.xir"
    path.write_text(MLP)
    out = tmp_path / "m.svg"
    assert opt.main([str(path), "-t", "numba-cpu", "--emit", "svg", "-o", str(out)]) == 0
    svg = out.read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "xl.fusion" in svg
    lowered = xl.jit(lambda x: xl.exp(x)).lower(np.ones(4, np.float32))
    assert b"<svg" in lowered.render(tmp_path / "f.svg").read_bytes()


def test_missing_graphviz_is_a_clear_message(tmp_path, monkeypatch, capsys):
    real_import = builtins.__import__

    def no_graphviz(name, *args, **kwargs):
        if name in ("pygraphviz", "graphviz"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_graphviz)
    monkeypatch.setattr(shutil, "which", lambda _: None)
    path = tmp_path / "m.xir"
    path.write_text(MLP)
    assert opt.main([str(path), "--emit", "svg"]) == 1
    err = capsys.readouterr().err
    assert "Debian package 'graphviz'" in err and "Traceback" not in err


def wrong_sub_of_exp(op: Op, rw) -> bool:
    """The planted miscompile: ``a - exp(x) => a + exp(x)``."""
    producer = op.operands[1].defining_op
    if producer is None or producer.name != "xl.exp":
        return False
    rw.replace(op, [rw.builder(op).add("xl.add", op.operands[0], op.operands[1])])
    return True


@pytest.fixture
def planted_bug():
    opdef = get_op("xl.sub")
    before = opdef.patterns
    object.__setattr__(opdef, "patterns", before + (wrong_sub_of_exp,))  # OpDef is frozen
    try:
        yield
    finally:
        object.__setattr__(opdef, "patterns", before)


def program():
    def f(x, y, z):
        a = xl.tanh(x @ y) * 2.0 + z.sum()
        b = xl.maximum(a, 0.0) @ y.T
        c = (b - xl.exp(x * 0.5)).mean(axis=1)  # the only sub of an exp
        d = xl.sqrt(xl.abs(a) + 1.0) / (1.0 + z)
        return a.sum(axis=0), c, d * 3.0, xl.sin(b)

    args = [np.ones((3, 4), np.float32), np.ones((4, 4), np.float32), np.ones((4,), np.float32)]
    return xl.jit(f).lower(*args).module


def test_checker_and_jit_check_find_the_planted_bug(planted_bug, tmp_path, capsys):
    module = program()
    inputs = random_inputs(module.main)
    clean = compare(module, "numba-cpu", inputs, pipeline="")
    assert clean.ok
    report = compare(module, "numba-cpu", inputs)
    assert not report.ok and [o.ok for o in report.outputs] == [True, False, True, True]
    path = tmp_path / "bug.xir"
    path.write_text(str(module))
    assert opt.main([str(path), "--check-against=interpreter", "-t", "numba-cpu"]) == 1
    out = capsys.readouterr().out
    assert "DISAGREE" in out and "max abs err" in out
    np.savez(tmp_path / "in.npz", **{f"arg{i}": a for i, a in enumerate(inputs)})
    assert opt.main([str(path), "--check-against=interpreter", "-t", "interpreter", "-p", "cse",
                     "--inputs", str(tmp_path / "in.npz")]) == 0
    assert "agree" in capsys.readouterr().out
    f = xl.jit(lambda x: (x - xl.exp(x)) * 2.0, check=True)
    with pytest.raises(CheckError, match="disagrees with interpreter(.|\n)*xlalite-reduce"):
        f(np.ones(5, np.float32))


def test_checker_passes_clean_programs():
    f = xl.jit(lambda x, y: (xl.tanh(x @ y), (x - xl.exp(x)).sum()), check=True)
    f(np.ones((3, 4), np.float32), np.ones((4, 2), np.float32))
    assert f.check_reports and f.check_reports[0].ok


def test_reducer_shrinks_the_planted_bug_to_the_bad_op(planted_bug, tmp_path, capsys):
    module = program()
    before = reduce.count_ops(module)
    best, checks, _ = reduce.reduce_module(module, "interpreter", pipeline="canonicalize")
    after = reduce.count_ops(best)
    names = [op.name for op in best.main.walk() if op.name != "return"]
    assert before >= 30 and after <= 2 and names == ["xl.exp", "xl.sub"], str(best)
    assert not compare(best, "interpreter", random_inputs(best.main), pipeline="canonicalize").ok
    path = tmp_path / "bug.xir"
    path.write_text(str(module))
    code = reduce.main([str(path), "--check-against=interpreter", "-t", "interpreter",
                        "-p", "canonicalize", "-o", str(tmp_path / "small.xir")])
    out = capsys.readouterr().out
    assert code == 0 and f"reduced {before} ops to {after}" in out, out
    small = (tmp_path / "small.xir").read_text()
    assert opt.main([str(tmp_path / "small.xir"), "--check-against=interpreter", "-t", "interpreter",
                     "-p", "canonicalize"]) == 1, small  # the one file reproduces the bug
    print(f"planted bug: {before} ops -> {after} ops in {checks} checks\n{small}")


def test_reducer_refuses_a_program_that_agrees(tmp_path, capsys):
    path = tmp_path / "ok.xir"
    path.write_text(MLP)
    assert reduce.main([str(path), "-t", "interpreter"]) == 1
    assert "nothing to reduce" in capsys.readouterr().err
    assert reduce.main([str(tmp_path / "missing.xir")]) == 1
