"""The op registry: completeness, and a generated round-trip/verify/run test for every op."""

import numpy as np
import pytest

from xlalite.backends.interpreter import run_function
from xlalite.ir import Module, finish, new_function, parse_module, print_module, verify
from xlalite.ops import FusionKind, all_ops

OPS = all_ops()
FIRST_OP_SET = {
    "xl.constant", "xl.iota", "xl.neg", "xl.exp", "xl.log", "xl.tanh", "xl.logistic", "xl.sqrt",
    "xl.rsqrt", "xl.abs", "xl.sign", "xl.sin", "xl.cos", "xl.erf", "xl.add", "xl.sub", "xl.mul",
    "xl.div", "xl.pow", "xl.max", "xl.min", "xl.compare", "xl.select", "xl.cast",
    "xl.broadcast_in_dim", "xl.reshape", "xl.transpose", "xl.slice", "xl.concatenate", "xl.pad",
    "xl.reduce_sum", "xl.reduce_max", "xl.reduce_min", "xl.reduce_prod", "xl.argmax",
    "xl.dot_general", "xl.conv2d", "xl.reduce_window_max", "xl.reduce_window_avg", "xl.gather",
    "xl.scatter_add", "xl.rng",
}


def example_module(opdef):
    types, attrs = opdef.example()
    m = Module()
    f, b = new_function(m, "main", types, arg_names=[f"a{i}" for i in range(len(types))])
    build = opdef.build_example
    op = build(b, f.args, attrs) if build else b.create(opdef.name, f.args, attrs)
    finish(f, b, op.results)
    return m


def random_args(types, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for t in types:
        if t.dtype.is_int:
            out.append(rng.integers(-3, 4, t.shape).astype(t.dtype.numpy))
        elif t.dtype.is_bool:
            out.append(rng.random(t.shape) < 0.5)
        else:
            out.append(rng.uniform(0.1, 2.0, t.shape).astype(t.dtype.numpy))
    return out


def test_first_op_set_is_registered():
    missing = FIRST_OP_SET - {o.name for o in OPS}
    assert not missing, f"ops from DESIGN.md missing in the registry: {sorted(missing)}"


@pytest.mark.parametrize("opdef", OPS, ids=lambda o: o.name)
def test_op_declaration_is_complete(opdef):
    assert len(opdef.doc) > 10 and opdef.doc.endswith("."), f"{opdef.name} needs a docstring"
    assert callable(opdef.infer), f"{opdef.name} has no shape rule"
    assert callable(opdef.reference) or opdef.interpret is not None, \
        f"{opdef.name} has no NumPy reference"
    assert isinstance(opdef.fusion, FusionKind)
    assert opdef.example is not None, f"{opdef.name} has no example instance"
    if opdef.vjp is not None:
        assert opdef.differentiable


@pytest.mark.parametrize("opdef", OPS, ids=lambda o: o.name)
def test_print_parse_print_is_identity(opdef):
    m = example_module(opdef)
    text = print_module(m)
    again = print_module(verify(parse_module(text)))
    assert again == text


@pytest.mark.parametrize("opdef", OPS, ids=lambda o: o.name)
def test_interpreter_runs_example_with_declared_types(opdef):
    m = example_module(opdef)
    func = m.main
    outs = run_function(func, random_args(func.arg_types))
    for arr, t in zip(outs, func.result_types, strict=True):
        assert arr.shape == t.shape and arr.dtype == t.dtype.numpy
