"""IR core: builder, use-def chains, replace/erase, printing of built IR."""

import pytest

from xlalite.ir import (
    Builder,
    DType,
    Module,
    TensorType,
    finish,
    new_function,
    print_module,
    verify,
)

F = TensorType((2, 3), DType.F32)


def build_add_mul():
    m = Module()
    f, b = new_function(m, "f", [F, F], arg_names=["x", "y"])
    x, y = f.args
    s = b.add("xl.add", x, y)
    p = b.add("xl.mul", s, s)
    finish(f, b, [p])
    return m, f, s, p


def test_builder_infers_types_and_tracks_uses():
    m, f, s, p = build_add_mul()
    assert s.type == F and p.type == F
    x, y = f.args
    assert [u.op.name for u in x.uses] == ["xl.add"]
    assert len(s.uses) == 2 and {u.index for u in s.uses} == {0, 1}
    assert f.outputs == (p,)
    verify(m)


def test_replace_all_uses_updates_both_sides():
    m, f, s, p = build_add_mul()
    x = f.args[0]
    s.replace_all_uses_with(x)
    assert s.uses == []
    assert p.defining_op.operands == (x, x)
    assert len([u for u in x.uses if u.op is p.defining_op]) == 2
    s.defining_op.erase()
    assert [op.name for op in f.body.ops] == ["xl.mul", "return"]
    verify(m)
    assert '"xl.mul"(%x, %x)' in print_module(m)


def test_erase_refuses_used_op_and_drops_operand_uses():
    m, f, s, p = build_add_mul()
    with pytest.raises(ValueError, match="used by xl.mul"):
        s.defining_op.erase()
    x = f.args[0]
    assert len(x.uses) == 1
    ret = f.return_op
    ret.erase()
    p.defining_op.erase()
    assert len(s.uses) == 0
    s.defining_op.erase()
    assert x.uses == []


def test_replace_with_wrong_type_is_rejected():
    m, f, s, _ = build_add_mul()
    m2 = Module()
    g, b = new_function(m2, "g", [TensorType((3,), DType.F32)])
    with pytest.raises(ValueError, match="f32\\[3\\]"):
        s.replace_all_uses_with(g.args[0])


def test_builder_rejects_bad_attrs_and_shapes():
    m = Module()
    f, b = new_function(m, "f", [F])
    with pytest.raises(ValueError, match="requires attribute 'axes'"):
        b.add("xl.reduce_sum", f.args[0])
    with pytest.raises(ValueError, match="no attribute 'axis'.*did you mean 'axes'"):
        b.add("xl.reduce_sum", f.args[0], axis=(1,))
    with pytest.raises(ValueError, match="out of range"):
        b.add("xl.reduce_sum", f.args[0], axes=(5,))
    with pytest.raises(KeyError, match="did you mean 'xl.add'"):
        b.add("xl.addd", f.args[0], f.args[0])


def test_builder_insertion_point_before_op():
    m, f, s, p = build_add_mul()
    b = Builder.before(p.defining_op)
    n = b.add("xl.neg", s)
    assert f.body.ops.index(n.defining_op) == 1
    verify(m)


def test_verifier_reports_use_before_def_in_built_ir():
    m, f, s, p = build_add_mul()
    ops = f.body.ops
    ops[0], ops[1] = ops[1], ops[0]  # mul now precedes the add it uses
    with pytest.raises(Exception, match="used before it is defined"):
        verify(m)


def test_tensor_type_text_and_rank0():
    assert str(TensorType((), DType.F64)) == "f64[]"
    assert TensorType((2, 0), DType.I32).size == 0
    with pytest.raises(ValueError):
        TensorType((-1,), DType.F32)
