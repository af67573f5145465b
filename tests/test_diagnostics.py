"""Bad input: every malformed case yields its announced diagnostic with file:line:col and caret."""

import re
from pathlib import Path

import pytest

from xlalite.ir import XirError, parse_module, verify
from xlalite.tools.opt import expected_diagnostics, main, split_input

INVALID = Path(__file__).parent / "xir" / "invalid.xir"


def test_invalid_corpus_has_at_least_20_cases_each_with_an_expectation():
    chunks = split_input(INVALID.read_text(), split=True)
    assert len(chunks) >= 20
    for c in chunks:
        assert expected_diagnostics(c), f"chunk at line {c.line_offset + 1} announces no error"


def test_every_invalid_case_produces_exactly_its_expected_error(capsys):
    rc = main([str(INVALID), "--split-input-file", "--verify-diagnostics"])
    assert rc == 0, capsys.readouterr().err


def test_verify_diagnostics_fails_when_expectations_are_wrong(tmp_path, capsys):
    f = tmp_path / "wrong.xir"
    f.write_text(
        "func @f(%x: f32[2]) -> f32[2] {\n"
        "  // expected-error@+1 {{something else entirely}}\n"
        '  %0 = "xl.add"(%x, %y) : (f32[2], f32[2]) -> f32[2]\n'
        "  return %0\n}\n"
        "// -----\n"
        "func @g(%x: f32[2]) -> f32[2] {\n"
        "  // expected-error@+1 {{never happens}}\n"
        "  return %x\n}\n")
    assert main([str(f), "--split-input-file", "--verify-diagnostics"]) == 1
    err = capsys.readouterr().err
    assert "unexpected error: use of undefined value '%y'" in err
    assert f'{f}:3:1: error: expected error "something else entirely" was not produced' in err
    assert f'{f}:9:1: error: expected error "never happens" was not produced' in err


def test_rendered_diagnostic_has_location_source_line_and_caret():
    text = 'func @f(%x: f32[2]) -> f32[2] {\n  %0 = "xl.add"(%x, %nope) : (f32[2], f32[2]) -> f32[2]\n  return %0\n}\n'
    with pytest.raises(XirError) as info:
        parse_module(text, "model.xir")
    lines = str(info.value).splitlines()
    assert lines[0] == "model.xir:2:21: error: use of undefined value '%nope'"
    assert lines[1] == '  %0 = "xl.add"(%x, %nope) : (f32[2], f32[2]) -> f32[2]'
    assert lines[2] == " " * 20 + "^"


def test_split_chunks_report_lines_of_the_whole_file():
    text = "func @a(%x: f32[2]) -> f32[2] {\n  return %x\n}\n// -----\nfunc @b(%x: f32[2]) -> f64[2] {\n  return %x\n}\n"
    chunk = split_input(text, split=True)[1]
    with pytest.raises(XirError) as info:
        verify(parse_module(chunk.text, "f.xir", chunk.line_offset))
    assert re.match(r"f\.xir:6:3: error: return value #0", str(info.value))


def test_verifier_collects_every_error_in_a_function():
    text = ('func @f(%x: f32[2]) -> f32[2] {\n'
            '  %0 = "xl.exp"(%x) : (f32[2]) -> f64[2]\n'
            '  %1 = "xl.nope"(%x) : (f32[2]) -> f32[2]\n'
            '  return %1\n}\n')
    with pytest.raises(XirError) as info:
        verify(parse_module(text))
    assert [d.loc.line for d in info.value.diagnostics] == [2, 3]


def test_end_of_input_error_points_past_the_last_line():
    with pytest.raises(XirError) as info:
        parse_module("func @f(%x: f32[2]) -> f32[2] {\n  return %x\n", "t.xir")
    d = info.value.diagnostics[0]
    assert d.loc.line == 2 and "found end of input" in d.message and "'}'" in d.message
