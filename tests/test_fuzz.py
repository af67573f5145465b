"""Mutation fuzzing of the parser and verifier: a clean diagnostic or a valid module, never a crash.

Valid `.xir` files (every registered op's example plus hand-written programs) are mutated by
deleting, duplicating, swapping and inserting characters, tokens and lines. The result must
either parse and verify (and then round-trip through the printer) or raise XirError with at
least one located diagnostic. Any other exception is a bug.
"""

import random
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import scaled
from tests.test_registry import OPS, example_module
from xlalite.ir import XirError, parse_module, print_module, verify

PROGRAM = """\
func @mlp(%x: f32[4,3], %w: f32[3,2], %b: f32[2], %labels: i32[4]) -> (f32[], i64[4]) {
  %0 = "xl.dot_general"(%x, %w) {contract = [[1], [0]], batch = [[], []]} : (f32[4,3], f32[3,2]) -> f32[4,2]
  %1 = "xl.broadcast_in_dim"(%b) {shape = [4, 2], dims = [1]} : (f32[2]) -> f32[4,2]
  %2 = "xl.add"(%0, %1) : (f32[4,2], f32[4,2]) -> f32[4,2]
  %3 = "xl.constant"() {value = dense<[[0.5, -inf], [nan, 1e-05]]> : f32[2,2]} : () -> f32[2,2]
  %4 = "xl.reduce_max"(%2) {axes = [1]} : (f32[4,2]) -> f32[4]
  %5 = "xl.gather"(%2, %labels) {axis = 1, batch_dims = 1} : (f32[4,2], i32[4]) -> f32[4]
  %6 = "xl.sub"(%4, %5) : (f32[4], f32[4]) -> f32[4]
  %7 = "xl.reduce_sum"(%6) {axes = [0]} : (f32[4]) -> f32[]
  %8 = "xl.argmax"(%2) {axis = 1} : (f32[4,2]) -> i64[4]
  return %7, %8
}
"""
SEEDS = [PROGRAM] + [print_module(example_module(o)) for o in OPS]
TOKENS = ['"', "%", "@", "(", ")", "{", "}", "[", "]", "<", ">", ",", ":", "=", "->", "-", "^",
          "0", "1", "-1", "99999999999999999999", "1.5", "nan", "inf", "true", "f32", "i32",
          "bool", "dense", "return", "func", '"xl.add"', '"xl.bogus"', "%0", "%x", "//", "\n",
          "\\", "é", "\t", "axes", "shape", "^bb0", "1e999"]


def mutate(text: str, rnd: random.Random, steps: int) -> str:
    for _ in range(steps):
        kind = rnd.randrange(7)
        i = rnd.randrange(len(text) + 1)
        j = min(len(text), i + rnd.randrange(1, 12))
        if kind == 0:
            text = text[:i] + text[j:]  # delete a span
        elif kind == 1:
            text = text[:i] + rnd.choice(TOKENS) + text[i:]  # insert a token
        elif kind == 2:
            text = text[:i] + rnd.choice(TOKENS) + text[j:]  # replace a span
        elif kind == 3:
            lines = text.splitlines(keepends=True)
            if lines:
                k = rnd.randrange(len(lines))
                lines.insert(rnd.randrange(len(lines) + 1), lines[k])  # duplicate a line
            text = "".join(lines)
        elif kind == 4:
            lines = text.splitlines(keepends=True)
            if len(lines) > 1:
                a, b = rnd.sample(range(len(lines)), 2)
                lines[a], lines[b] = lines[b], lines[a]  # swap two lines
            text = "".join(lines)
        elif kind == 5:  # another op's name: its shape rule meets foreign attributes
            names = re.findall(r'"xl\.\w+"', text)
            if names:
                text = text.replace(rnd.choice(names), f'"{rnd.choice(OPS).name}"', 1)
        else:
            digits = [k for k, c in enumerate(text) if c.isdigit()]
            if digits:
                k = rnd.choice(digits)
                text = text[:k] + str(rnd.randrange(10)) + text[k + 1:]  # change a number
    return text


@settings(max_examples=scaled(1200))
@given(st.integers(0, len(SEEDS) - 1), st.integers(0, 2**32 - 1), st.integers(1, 4))
def test_mutated_ir_gives_diagnostic_or_valid_module(seed_index, rnd_seed, steps):
    text = mutate(SEEDS[seed_index], random.Random(rnd_seed), steps)
    try:
        module = verify(parse_module(text, "fuzz.xir"))
    except XirError as e:
        assert e.diagnostics
        for d in e.diagnostics:
            assert d.loc.file == "fuzz.xir" and d.loc.line >= 1 and d.message
        return
    printed = print_module(module)
    assert print_module(verify(parse_module(printed))) == printed


@settings(max_examples=scaled(300), deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 4), st.integers(0, 3))
def test_mutated_ir_through_passes_and_codegen_is_never_an_internal_error(rnd_seed, steps, mode):
    """Through xlalite-opt as users run it (passes, the target pipeline, code generation), on
    every seed above plus the shapes of input that once broke it (tests/fuzz_campaign.py):
    hand-written fusions, planner attributes, huge splats, non-finite literals, deep nesting."""
    from tests.fuzz_campaign import EXTRA, MODES, classify

    rnd = random.Random(rnd_seed)
    text = mutate(rnd.choice(SEEDS + EXTRA), rnd, steps)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        outcome = classify(text, MODES[mode], Path(d) / "fuzz.xir")
    assert outcome in ("ok", "diagnostic"), f"{outcome} for {MODES[mode]} on:\n{text}"
