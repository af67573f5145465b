"""The parser's fast path against the grammar: the same module, or it gives up.

``parse_module`` tries ``fastparse`` (regular expressions per statement) and falls back to the
lark grammar; ``parse_with_grammar`` is the grammar alone. Whatever the text, both must give
the same outcome: the same error message, or modules equal in every printed and unprinted
detail (attributes with their Python types, name hints, locations). Printed IR must take the
fast path, or the parser silently drops back to ~1,500 ops/s.
"""

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import scaled
from tests.fuzz_campaign import EXTRA
from tests.programs import programs
from tests.test_fuzz import SEEDS, mutate
from xlalite.ir import Module, XirError, print_module
from xlalite.ir.fastparse import parse_fast
from xlalite.ir.parser import _Walker, parse_module, parse_with_grammar

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted(ROOT.glob("tests/**/*.xir")) + sorted(ROOT.glob("examples/**/*.xir"))


def dump(module: Module) -> list[object]:
    """Everything the parser decides, printed or not."""
    out: list[object] = [print_module(module)]
    for f in module.functions:
        out.append((f.name, f.loc, repr(f.attributes), [a.name_hint for a in f.args]))
        for op in f.walk():
            attrs = [(k, type(v).__name__, repr(v)) for k, v in op.attributes.items()]
            out.append((op.name, op.loc, attrs, [r.name_hint for r in op.results],
                        [[a.name_hint for a in b.args] for r in op.regions for b in r.blocks]))
    return out


def outcome(parse, text: str) -> object:
    try:
        return dump(parse(text, "t.xir"))
    except XirError as e:
        return f"error: {e}"


def takes_fast_path(text: str) -> bool:
    text = text.removeprefix("\ufeff")
    return parse_fast(text, _Walker(text, "t.xir", 0).loc) is not None


def assert_agree(text: str) -> object:
    fast, grammar = outcome(parse_module, text), outcome(parse_with_grammar, text)
    assert fast == grammar, f"the parsers disagree on:\n{text}"
    return grammar


@pytest.mark.parametrize("text", SEEDS + EXTRA + [p.read_text() for p in FILES])
def test_every_seed_and_file_agrees(text):
    if not isinstance(assert_agree(text), str) and "//" not in text:
        assert takes_fast_path(text)


@settings(max_examples=scaled(150), deadline=None)
@given(programs())
def test_printed_programs_take_the_fast_path(module):
    text = print_module(module)
    assert takes_fast_path(text)
    assert outcome(parse_module, text) == outcome(parse_with_grammar, text)


@settings(max_examples=scaled(600), deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 4))
def test_mutated_text_agrees(rnd_seed, steps):
    rnd = random.Random(rnd_seed)
    assert_agree(mutate(rnd.choice(SEEDS + EXTRA), rnd, steps))


SPACES = [" ", "\n", "\t", "  ", "\r\n", " // note\n", "\v", "\u00a0"]


@settings(max_examples=scaled(300), deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6))
def test_respaced_text_agrees(rnd_seed, edits):
    """Whitespace and comments moved around (between tokens, inside them, inside types and
    attribute dicts) — where the fast path gives up and where it must not."""
    rnd = random.Random(rnd_seed)
    text = rnd.choice(SEEDS)
    for _ in range(edits):
        i = rnd.randrange(len(text) + 1)
        text = text[:i] + rnd.choice(SPACES) + text[i:]
    assert_agree(text)


BASE = """func @f(%x: f32[2]) -> f32[2] {
  %0 = "xl.add"(%x, %x) : (f32[2], f32[2]) -> f32[2]
  return %0
}
"""
ATTRS = ') : (f32[2], f32'


def with_attrs(attrs: str) -> str:
    return BASE.replace(ATTRS, f") {attrs} : (f32[2], f32")


CASES = {  # name: (text, whether the fast path takes it)
    "canonical": (BASE, True),
    "comment between statements": (BASE.replace("  return", '  // "x" }\n  return'), True),
    "comment inside an op": (BASE.replace("(%x, %x)", "(%x, // c\n %x)"), False),
    "comment inside a type": (BASE.replace("(f32[2], f32[2])", "(f32[2], // c\n f32[2])"), False),
    "comment inside attributes": (with_attrs("{a = 1 // }\n}"), False),
    "return without a space": (BASE.replace("return %0", "return%0"), True),
    "return glued to a word": (BASE.replace("return %0", "returned %0"), False),
    "vertical tab is not whitespace": (BASE.replace("%x, %x", "%x,\v%x"), False),
    "no-break space is not whitespace": (BASE.replace("%x, %x", "%x,\u00a0%x"), False),
    "unicode value names": (BASE.replace("%x", "%xé"), True),
    "escaped op name": (BASE.replace('"xl.add"', '"xl\\u002eadd"'), True),
    "value names with dashes": (BASE.replace("%0", "%a-b"), True),
    "no spaces at all": (BASE.replace(": (f32[2], f32[2]) -> f32[2]", ":(f32[2],f32[2])->f32[2]"), True),
    "space before a shape": (BASE.replace("(f32[2], f32[2])", "(f32 [2], f32[2])"), False),
    "inf, -inf and nan values": (with_attrs("{a = inf, b = -inf, c = nan, d = 5., e = 1e-3}"), True),
    "inf as a key": (with_attrs("{inf = 1}"), False),
    "keyword as a key": (with_attrs("{dense = 1}"), False),
    "a word that starts like inf": (with_attrs("{a = info}"), False),
    "1e is not a float": (with_attrs("{a = 1e}"), False),
    "slashes inside a string": (with_attrs('{a = "//x"}'), True),
    "nested lists": (with_attrs('{a = [[1, [2.5, "s"]], [], true, f32]}'), True),
    "planner attributes": (with_attrs("{mem.offset = [0], mem.inplace = [1]}"), True),
    "an attribute the op lacks": (with_attrs("{axes = [1]}"), True),
    "duplicate key": (with_attrs("{a = 1, a = 2}"), False),
    "trailing comma": (with_attrs("{a = 1,}"), False),
    "integer too long": (with_attrs("{a = " + "9" * 5000 + "}"), False),
    "dense": (BASE.replace('"xl.add"(%x, %x) : (f32[2], f32[2])',
                           '"xl.constant"() {value = dense<[1.0, 2]> : f32[2]} : ()'), True),
    "dense of the wrong shape": (BASE.replace('"xl.add"(%x, %x) : (f32[2], f32[2])',
                                              '"xl.constant"() {value = dense<[1.0, 2, 3]> : f32[2]} : ()'), False),
    "dense bool in f32": (BASE.replace('"xl.add"(%x, %x) : (f32[2], f32[2])',
                                       '"xl.constant"() {value = dense<[true, 2]> : f32[2]} : ()'), False),
    "function attributes": (BASE.replace("-> f32[2] {", '-> f32[2] attributes {donate = [0], x = "y"} {', 1), True),
    "two functions on a line": (BASE.strip() + BASE.replace("@f", "@g"), True),
    "undefined value": (BASE.replace("return %0", "return %9"), False),
    "redefined value": (BASE.replace("  return", '  %0 = "xl.neg"(%x) : (f32[2]) -> f32[2]\n  return'), False),
    "operand type mismatch": (BASE.replace("(f32[2], f32[2]) ->", "(f32[3], f32[2]) ->"), False),
    "negative dimension": (BASE.replace("(f32[2], f32[2]) ->", "(f32[-2], f32[2]) ->"), False),
    "unknown element type": (BASE.replace("(f32[2], f32[2]) ->", "(f33[2], f32[2]) ->"), False),
    "op after return": (BASE.replace("return %0", 'return %0\n  %1 = "xl.neg"(%x) : (f32[2]) -> f32[2]'), False),
    "empty text": ("", True),
    "byte-order mark": ("\ufeff" + BASE, True),
    "regions, outer values and two blocks": ("""func @f(%x: f32[2]) -> f32[2] {
  %0 = "xl.fusion"(%x) ({
  ^bb0(%a: f32[2]):
    %1 = "xl.add"(%a, %x) : (f32[2], f32[2]) -> f32[2]
    "xl.yield"(%1) : (f32[2]) -> ()
  ^bb1(%a: f32[2]):
    "xl.yield"(%a) : (f32[2]) -> ()
  }, {}) {kind = "loop"} : (f32[2]) -> f32[2]
  return %0
}
""", True),
    "ops in a region without a block": ("""func @f(%x: f32[2]) -> f32[2] {
  %0 = "xl.fusion"(%x) ({ %1 = "xl.neg"(%x) : (f32[2]) -> f32[2] }) : (f32[2]) -> f32[2]
  return %0
}
""", False),
    "a block argument shadowing": ("""func @f(%x: f32[2]) -> f32[2] {
  %0 = "xl.fusion"(%x) ({
  ^bb0(%x: f32[2]):
    "xl.yield"(%x) : (f32[2]) -> ()
  }) : (f32[2]) -> f32[2]
  return %0
}
""", False),
    "several results and none": ("""func @f(%x: f32[2]) -> (f32[2], f32[2]) {
  %0, %1 = "xl.bogus"(%x) : (f32[2]) -> (f32[2], f32[2])
  "xl.debug_print"(%x) {label = "a\\ud800"} : (f32[2]) -> ()
  return %0, %1
}
""", True),
}


@pytest.mark.parametrize("name", CASES)
def test_edge_cases_agree(name):
    text, fast = CASES[name]
    assert_agree(text)
    assert takes_fast_path(text) == fast


def test_deep_nesting_is_reported_before_either_path():
    text = with_attrs("{a = " + "[" * 300 + "]" * 300 + "}")
    with pytest.raises(XirError, match="nesting deeper than 200 levels"):
        parse_module(text)
    assert_agree(text)
