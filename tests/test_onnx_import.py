"""xlalite.onnx.load: calling conventions, folding, resident weights, errors, safety, the CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import xlalite.onnx as xo

RNG = np.random.default_rng(0)


def mlp(batch: object = "batch", hidden: int = 16, names: dict[str, str] | None = None,
        external: bool = False) -> onnx.ModelProto:
    """x[batch,8] @ w[8,hidden] + b -> relu -> reshape(shape of itself) -> softmax."""
    n = {"x": "x", "w": "w", "b": "b", "y": "y", "node": "", "graph": "mlp"} | (names or {})
    w = numpy_helper.from_array(RNG.standard_normal((8, hidden)).astype(np.float32), n["w"])
    b = numpy_helper.from_array(RNG.standard_normal(hidden).astype(np.float32), n["b"])
    nodes = [
        helper.make_node("MatMul", [n["x"], n["w"]], ["h"], name=n["node"] + "1"),
        helper.make_node("Add", ["h", n["b"]], ["a"], name=n["node"] + "2"),
        helper.make_node("Relu", ["a"], ["r"], name=n["node"] + "3", doc_string=n["node"]),
        helper.make_node("Shape", ["r"], ["s"]),
        helper.make_node("Reshape", ["r", "s"], ["r2"]),
        helper.make_node("Softmax", ["r2"], [n["y"]], axis=-1),
    ]
    g = helper.make_graph(nodes, n["graph"],
                          [helper.make_tensor_value_info(n["x"], TensorProto.FLOAT, [batch, 8])],
                          [helper.make_tensor_value_info(n["y"], TensorProto.FLOAT, None)], [w, b],
                          doc_string=n["node"])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def reference(model: onnx.ModelProto, *inputs: np.ndarray) -> list[np.ndarray]:
    from onnx.reference import ReferenceEvaluator

    names = [i.name for i in model.graph.input]
    return ReferenceEvaluator(model).run(None, dict(zip(names, inputs)))


def test_load_runs_like_the_reference_for_each_batch_size_and_by_name():
    proto = mlp()
    model = xo.load(proto)
    for batch in (1, 5):
        x = RNG.standard_normal((batch, 8)).astype(np.float32)
        (y,) = model(x)
        np.testing.assert_allclose(y, reference(proto, x)[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(model({"x": x})[0], y)
        np.testing.assert_array_equal(model(x=x)[0], y)
    info = model.cache_info()
    assert info["misses"] == 2 and info["weights"] == 1  # w resident; b (16 values) embedded


def test_repeated_calls_take_the_fast_path_and_still_check_new_inputs():
    proto = mlp()
    model = xo.load(proto)
    x = RNG.standard_normal((4, 8)).astype(np.float32)
    first = model(x)[0]  # checked, then remembered by shape and dtype
    assert len(model._fast) == 1 and model.cache_info()["hits"] == 0
    model(x)
    assert model.cache_info()["hits"] == 1
    np.testing.assert_array_equal(model(x)[0], first)
    np.testing.assert_array_equal(model(np.asfortranarray(x))[0], first)  # not contiguous: slow
    for bad in (x.astype(np.float64), np.zeros((4, 9), np.float32)):
        with pytest.raises(TypeError, match="input 'x' expects"):
            model(bad)


def test_lowered_ir_has_weights_as_arguments_and_no_shape_ops():
    model = xo.load(mlp(hidden=32))
    text = model.lower(np.zeros((3, 8), np.float32)).as_text()
    assert "%w: f32[8,32]" in text  # a resident weight, passed by reference
    assert "f32[3,32]" in text  # the symbolic batch is specialised to 3
    assert "i64" not in text  # Shape -> Reshape folded: no shape arithmetic is left


def test_model_bytes_path_and_proto_agree(tmp_path):
    proto = mlp()
    path = tmp_path / "m.onnx"
    onnx.save(proto, path)
    x = RNG.standard_normal((2, 8)).astype(np.float32)
    outs = [xo.load(src)(x)[0] for src in (proto, proto.SerializeToString(), str(path), path)]
    for o in outs[1:]:
        np.testing.assert_array_equal(o, outs[0])


def test_wrong_inputs_name_the_input_and_both_types():
    model = xo.load(mlp())
    with pytest.raises(TypeError, match=r"input 'x' expects float \(float32\), got float64"):
        model(np.zeros((2, 8)))
    with pytest.raises(TypeError, match=r"input 'x' expects shape \['\?', 8\], got \[2, 7\]"):
        model(np.zeros((2, 7), np.float32))
    with pytest.raises(TypeError, match=r"unknown model inputs \['z'\]"):
        model(z=np.zeros((2, 8), np.float32))
    with pytest.raises(TypeError, match="takes 1 inputs"):
        model()


def test_an_unknown_op_names_type_node_domain_and_opset():
    proto = mlp()
    proto.graph.node.append(helper.make_node("FancyOp", ["y"], ["z"], name="n7", domain="acme"))
    proto.opset_import.append(helper.make_opsetid("acme", 3))
    with pytest.raises(xo.UnsupportedOpError) as e:
        xo.load(proto)
    assert (e.value.op_type, e.value.node_name, e.value.domain, e.value.opset) == \
        ("FancyOp", "n7", "acme", 3)
    assert "'FancyOp' (domain 'acme', opset 3) at node 'n7'" in str(e.value)


def test_not_a_model_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00\xffnot protobuf at all")
    with pytest.raises(xo.OnnxImportError, match="not an ONNX model"):
        xo.load(bad)
    with pytest.raises(xo.OnnxImportError, match="cannot read"):
        xo.load(tmp_path / "missing.onnx")


HOSTILE = "\"'); __import__('os').system('touch /tmp/xlalite_pwned') #\n\\u0000{}%s"


def test_hostile_names_and_doc_strings_cannot_steer_the_generated_code(tmp_path):
    names = {"x": "x" + HOSTILE, "w": "1w" + HOSTILE, "b": HOSTILE, "y": "y" + HOSTILE,
             "node": HOSTILE, "graph": HOSTILE}
    proto = mlp(hidden=32, names=names)
    model = xo.load(proto, backend="numba-cpu")
    x = RNG.standard_normal((2, 8)).astype(np.float32)
    (y,) = model(x)
    np.testing.assert_allclose(y, reference(proto, x)[0], rtol=1e-5, atol=1e-6)
    assert not os.path.exists("/tmp/xlalite_pwned")
    text = model.lower(x).as_text()
    # the names survive only as identifiers (word characters): no quote, bracket or newline
    assert "touch /tmp" not in text and "('os')" not in text
    assert all(re.fullmatch(r"[A-Za-z_]\w*|\d+", n) for n in re.findall(r"[%@]([^\s:(),]+)", text))
    source = subprocess.run(
        [sys.executable, "-m", "xlalite.tools.opt", "-", "-t", "numba-cpu", "--emit", "source"],
        input=text, capture_output=True, text=True, check=True).stdout
    assert "def " in source and "touch /tmp" not in source and "('os')" not in source


def _with_external_weight(tmp_path, location: str) -> str:
    proto = mlp(hidden=32)
    w = proto.graph.initializer[0]
    data = numpy_helper.to_array(w).tobytes()
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    w.external_data.add(key="location", value=location)
    path = tmp_path / "model" / "m.onnx"
    path.parent.mkdir(exist_ok=True)
    (tmp_path / "model" / "weights.bin").write_bytes(data)
    (tmp_path / "outside.bin").write_bytes(data)
    onnx.save(proto, path)
    return str(path)


def test_external_data_loads_from_beside_the_model(tmp_path):
    path = _with_external_weight(tmp_path, "weights.bin")
    x = RNG.standard_normal((2, 8)).astype(np.float32)
    inline = onnx.load(path)  # onnx itself reads the same weights
    np.testing.assert_allclose(xo.load(path)(x)[0], reference(inline, x)[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("location", ["../outside.bin", "/etc/passwd", "sub/../../outside.bin"])
def test_external_data_outside_the_model_folder_is_refused(tmp_path, location):
    path = _with_external_weight(tmp_path, location)
    with pytest.raises(xo.OnnxImportError, match="outside the model's folder"):
        xo.load(path)


def test_external_data_through_a_link_out_of_the_folder_is_refused(tmp_path):
    path = _with_external_weight(tmp_path, "link.bin")
    os.symlink(tmp_path / "outside.bin", tmp_path / "model" / "link.bin")
    with pytest.raises(xo.OnnxImportError, match="outside the model's folder"):
        xo.load(path)


def test_an_input_that_decides_a_shape_is_specialised_by_value():
    g = helper.make_graph(
        [helper.make_node("Reshape", ["x", "shape"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6]),
         helper.make_tensor_value_info("shape", TensorProto.INT64, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = xo.load(helper.make_model(g))
    x = np.arange(12, dtype=np.float32).reshape(2, 6)
    assert model(x, np.array([3, 4]))[0].shape == (3, 4)
    assert model(x, np.array([4, 3]))[0].shape == (4, 3)
    assert model(x, np.array([4, 3]))[0].shape == (4, 3)
    assert model.cache_info()["misses"] == 2


def test_cli_reads_onnx_and_reports_errors_without_a_traceback(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(mlp(), path)
    opt = [sys.executable, "-m", "xlalite.tools.opt"]
    ok = subprocess.run([*opt, str(path), "--input-shape", "x=4,8", "-p", "cse,dce"],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "func @mlp(%x: f32[4,8]" in ok.stdout
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"junk")
    for args, message in (([str(bad)], "not an ONNX model"),
                          ([str(path), "--input-shape", "q=1"], "no inputs named ['q']"),
                          ([str(path), "--input-shape", "x=a,b"], "integer dims")):
        r = subprocess.run([*opt, *args], capture_output=True, text=True)
        assert r.returncode == 1 and message in r.stderr and "Traceback" not in r.stderr
    proto = mlp()
    proto.graph.node.append(helper.make_node("FancyOp", ["y"], ["z"], name="n7"))
    onnx.save(proto, path)
    r = subprocess.run([*opt, str(path)], capture_output=True, text=True)
    assert r.returncode == 1 and "'FancyOp'" in r.stderr and "Traceback" not in r.stderr


def _run_both(graph, *inputs):
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    want = reference(proto, *inputs)
    got = xo.load(proto, backend="numba-cpu")(*inputs)
    for w, g in zip(want, got):
        np.testing.assert_allclose(g, w, rtol=1e-6)
    return xo.load(proto).lower(*inputs).as_text()


def _vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def test_if_on_a_traced_condition_is_one_cond():
    then_g = helper.make_graph([helper.make_node("Mul", ["x", "x"], ["t"])], "then", [],
                               [_vi("t", TensorProto.FLOAT, [3])])
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [],
                               [_vi("e", TensorProto.FLOAT, [3])])
    g = helper.make_graph(
        [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
         helper.make_node("Greater", ["s", "zero"], ["p"]),
         helper.make_node("If", ["p"], ["y"], then_branch=then_g, else_branch=else_g)],
        "g", [_vi("x", TensorProto.FLOAT, [3])], [_vi("y", TensorProto.FLOAT, [3])],
        [numpy_helper.from_array(np.zeros((), np.float32), "zero")])
    for x in (np.array([1, 2, 3], np.float32), np.array([-1, -2, 0.5], np.float32)):
        text = _run_both(g, x)
    assert text.count('"xl.cond"') == 1


def test_loop_with_a_data_dependent_end_is_a_while_loop():
    # y = x; while sum(y) < 100 and i < M: y = y * 2
    body = helper.make_graph(
        [helper.make_node("Mul", ["y_in", "two"], ["y_out"]),
         helper.make_node("ReduceSum", ["y_out"], ["s"], keepdims=0),
         helper.make_node("Less", ["s", "hundred"], ["c_out"])],
        "body", [_vi("i", TensorProto.INT64, []), _vi("c_in", TensorProto.BOOL, []),
                 _vi("y_in", TensorProto.FLOAT, [2])],
        [_vi("c_out", TensorProto.BOOL, []), _vi("y_out", TensorProto.FLOAT, [2])],
        [numpy_helper.from_array(np.float32(2), "two"),
         numpy_helper.from_array(np.float32(100), "hundred")])
    g = helper.make_graph(
        [helper.make_node("Loop", ["m", "c", "x"], ["y"], body=body)], "g",
        [_vi("x", TensorProto.FLOAT, [2])], [_vi("y", TensorProto.FLOAT, [2])],
        [numpy_helper.from_array(np.int64(50), "m"), numpy_helper.from_array(np.bool_(True), "c")])
    for x in (np.array([1, 2], np.float32), np.array([30, 40], np.float32)):
        text = _run_both(g, x)
    assert text.count('"xl.while"') == 1


def test_loop_with_scan_outputs_and_a_fixed_trip_count_is_a_scan():
    # carry y += x each step; emit y per step
    body = helper.make_graph(
        [helper.make_node("Add", ["y_in", "x"], ["y_out"]),
         helper.make_node("Identity", ["c_in"], ["c_out"]),
         helper.make_node("Identity", ["y_out"], ["emit"])],
        "body", [_vi("i", TensorProto.INT64, []), _vi("c_in", TensorProto.BOOL, []),
                 _vi("y_in", TensorProto.FLOAT, [2])],
        [_vi("c_out", TensorProto.BOOL, []), _vi("y_out", TensorProto.FLOAT, [2]),
         _vi("emit", TensorProto.FLOAT, [2])])
    g = helper.make_graph(
        [helper.make_node("Loop", ["m", "c", "x"], ["y", "ys"], body=body)], "g",
        [_vi("x", TensorProto.FLOAT, [2])],
        [_vi("y", TensorProto.FLOAT, [2]), _vi("ys", TensorProto.FLOAT, [5, 2])],
        [numpy_helper.from_array(np.int64(5), "m"), numpy_helper.from_array(np.bool_(True), "c")])
    text = _run_both(g, np.array([1, -2], np.float32))
    assert text.count('"xl.scan"') == 1
