"""Pass manager: registry, pipeline specs, instrumentation, and its use by jit and the CLI."""

import io
from dataclasses import dataclass

import numpy as np
import pytest

import xlalite as xl
from xlalite.ir import XirError, parse_module
from xlalite.passes import Instrumentation, Pass, PipelineError, parse_pipeline, run_pipeline
from xlalite.passes import manager as manager_module
from xlalite.passes.fuse import count_kernels
from xlalite.tools.opt import main

SMALL = """\
func @f(%x: f32[4]) -> f32[4] {
  %0 = "xl.exp"(%x) : (f32[4]) -> f32[4]
  %1 = "xl.exp"(%x) : (f32[4]) -> f32[4]
  %2 = "xl.add"(%0, %1) : (f32[4], f32[4]) -> f32[4]
  %3 = "xl.neg"(%x) : (f32[4]) -> f32[4]
  return %2
}
"""


def test_spec_parsing_with_typed_options_and_phases():
    passes = parse_pipeline("simplify,fuse{max-ops=8},canonicalize{fold-limit=10}")
    assert [p.name for p in passes] == ["canonicalize", "licm", "cse", "dce", "fuse",
                                        "canonicalize"]
    assert passes[4].max_ops == 8 and passes[5].fold_limit == 10
    assert passes[4].spec() == "fuse{max-ops=8}" and passes[0].spec() == "canonicalize"


@pytest.mark.parametrize("spec, message", [
    ("cse,dcee", "unknown pass 'dcee'; did you mean 'dce'?"),
    ("fuse{max-op=3}", "pass 'fuse' has no option 'max-op'; did you mean 'max-ops'? (options: max-ops)"),
    ("fuse{max-ops=many}", "option 'max-ops' of 'fuse': cannot read 'many' as int"),
    ("fuse{max-ops}", "option 'max-ops' of 'fuse' needs a value"),
    ("fuse{max-ops=2", "unclosed '{'"),
])
def test_spec_errors_name_the_closest_valid_names(spec, message):
    with pytest.raises(PipelineError) as info:
        parse_pipeline(spec)
    assert message in str(info.value)


@dataclass(frozen=True)
class _Breaker(Pass):
    """Test-only pass that retypes a result, producing invalid IR."""

    name = "test-break-ir"

    def apply(self, module):
        op = module.main.body.ops[0]
        op.results[0].type = op.results[0].type.with_shape((5,))
        return {"ops-broken": 1}


def test_verify_each_blames_the_pass_that_broke_the_ir(monkeypatch):
    monkeypatch.setitem(manager_module._PASSES, _Breaker.name, _Breaker)
    with pytest.raises(XirError) as info:
        run_pipeline(parse_module(SMALL), "cse,test-break-ir")
    assert "does not match" in str(info.value)
    assert "error: IR invalid after pass 'test-break-ir': " in str(info.value)


def test_the_cli_prints_which_pass_broke_the_ir(monkeypatch, tmp_path, capsys):
    from xlalite.tools.opt import main

    monkeypatch.setitem(manager_module._PASSES, _Breaker.name, _Breaker)
    path = tmp_path / "small.xir"
    path.write_text(SMALL)
    assert main([str(path), "-p", "cse,test-break-ir"]) == 1
    err = capsys.readouterr().err
    assert f"{path}:" in err and "error: IR invalid after pass 'test-break-ir': " in err
    assert "Traceback" not in err
    run_pipeline(parse_module(SMALL), "test-break-ir", Instrumentation(verify_each=False))


def test_print_ir_after_all_and_after_one_pass():
    out = io.StringIO()
    run_pipeline(parse_module(SMALL), "cse,dce", Instrumentation(print_ir_after_all=True, out=out))
    text = out.getvalue()
    assert "// -----// IR after cse //----- //" in text and "IR after dce" in text
    out = io.StringIO()
    run_pipeline(parse_module(SMALL), "cse,dce", Instrumentation(print_ir_after={"dce"}, out=out))
    assert "IR after cse" not in out.getvalue() and '"xl.neg"' not in out.getvalue()


def test_statistics_report_what_each_pass_changed():
    records = run_pipeline(parse_module(SMALL), "cse,dce")
    assert records[0].stats == {"ops-merged": 1} and records[1].stats == {"ops-removed": 1}


def test_cli_instrumentation_flags(tmp_path, capsys):
    src = tmp_path / "small.xir"
    src.write_text(SMALL)
    assert main([str(src), "-p", "cse,dce", "--time-passes", "--pass-stats",
                 "--print-ir-after", "cse"]) == 0
    captured = capsys.readouterr()
    assert "Pass execution timing report" in captured.err and "  total" in captured.err
    assert "1 ops-merged" in captured.err and "1 ops-removed" in captured.err
    assert "IR after cse" in captured.err
    assert '"xl.neg"' not in captured.out


def test_jit_uses_the_same_pipeline_parser():
    f = lambda x: xl.exp(x) + xl.exp(x)  # noqa: E731
    x = np.ones(3, np.float32)
    np.testing.assert_allclose(xl.jit(f, pipeline="cse,dce")(x), 2 * np.e, rtol=1e-6)
    with pytest.raises(PipelineError, match="unknown pass 'csee'"):
        xl.jit(f, pipeline="csee")(x)


def test_row_softmax_compiles_to_at_most_three_kernels():
    def softmax(x):
        e = xl.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    lowered = xl.jit(softmax).lower(np.ones((8, 16), np.float32))
    before = count_kernels(lowered.module.main)
    run_pipeline(lowered.module, "simplify,fuse")
    assert before >= 7 and count_kernels(lowered.module.main) == 3
