"""ONNX If/Loop/Scan resolved at conversion time (branches folded or selected, loops and scans
unrolled) against ONNX Runtime."""

import numpy as np
import pytest
from onnx import TensorProto, helper

import compiler as ov
from tests.models import F32, make_model, ort_run

F = TensorProto.FLOAT


def _graph(nodes, name, inputs, outputs):
    return helper.make_graph(nodes, name, inputs, outputs)


def _vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def _check(m, feeds_list):
    compiled = ov.compile_model(ov.convert_model(m), "CPU", F32)
    for feeds in feeds_list:
        want = ort_run(m, feeds)
        got = compiled(list(feeds.values()))
        for i, w in enumerate(want):
            np.testing.assert_allclose(got[i], w, rtol=1e-5, atol=1e-6)


def test_if_on_data_and_on_shapes():
    then_g = _graph([helper.make_node("Mul", ["x", "two"], ["t"])], "then", [], [_vi("t", F, [2, 3])])
    else_g = _graph([helper.make_node("Tanh", ["x"], ["e"])], "else", [], [_vi("e", F, [2, 3])])
    # a branch on a shape (folds) around a branch on the data (both computed, one selected)
    inner = _graph([helper.make_node("If", ["pos"], ["r"], then_branch=then_g, else_branch=else_g)], "inner", [],
                   [_vi("r", F, [2, 3])])
    other = _graph([helper.make_node("Neg", ["x"], ["n"])], "other", [], [_vi("n", F, [2, 3])])
    nodes = [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
             helper.make_node("Greater", ["s", "zero"], ["pos"]),
             helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("ReduceProd", ["shape"], ["size"], keepdims=0),
             helper.make_node("Greater", ["size", "one"], ["big"]),
             helper.make_node("If", ["big"], ["y"], then_branch=inner, else_branch=other)]
    m = make_model(nodes, [("x", np.float32, [2, 3])], [("y", np.float32, [2, 3])],
                   dict(two=np.float32(2), zero=np.float32(0), one=np.int64(1)), opset=13)
    rng = np.random.default_rng(0)
    _check(m, [{"x": rng.normal(1, 1, (2, 3)).astype(np.float32)}, {"x": rng.normal(-1, 1, (2, 3)).astype(np.float32)}])


def test_loop_with_static_trip_count_and_scan_outputs():
    body = _graph([helper.make_node("Cast", ["i"], ["fi"], to=F),
                   helper.make_node("Mul", ["x", "fi"], ["xi"]),
                   helper.make_node("Add", ["acc", "xi"], ["acc_out"]),
                   helper.make_node("Identity", ["cond"], ["cond_out"]),
                   helper.make_node("Sigmoid", ["acc_out"], ["step"])],
                  "body", [_vi("i", TensorProto.INT64, []), _vi("cond", TensorProto.BOOL, []), _vi("acc", F, [4])],
                  [_vi("cond_out", TensorProto.BOOL, []), _vi("acc_out", F, [4]), _vi("step", F, [4])])
    nodes = [helper.make_node("Loop", ["trip", "", "init"], ["final", "steps"], body=body)]
    m = make_model(nodes, [("x", np.float32, [4]), ("init", np.float32, [4])],
                   [("final", np.float32, [4]), ("steps", np.float32, [5, 4])], dict(trip=np.int64(5)), opset=13)
    rng = np.random.default_rng(1)
    _check(m, [{"x": rng.normal(0, 1, 4).astype(np.float32), "init": rng.normal(0, 1, 4).astype(np.float32)}])


@pytest.mark.parametrize("reverse", [0, 1])
def test_scan_running_sum_along_an_axis(reverse):
    body = _graph([helper.make_node("Add", ["s", "xt"], ["s_out"]), helper.make_node("Relu", ["s_out"], ["y"])],
                  "body", [_vi("s", F, [2]), _vi("xt", F, [2])], [_vi("s_out", F, [2]), _vi("y", F, [2])])
    nodes = [helper.make_node("Scan", ["s0", "x"], ["s_final", "ys"], body=body, num_scan_inputs=1,
                              scan_input_axes=[1], scan_input_directions=[reverse], scan_output_axes=[-1],
                              scan_output_directions=[reverse])]
    m = make_model(nodes, [("s0", np.float32, [2]), ("x", np.float32, [2, 6])],
                   [("s_final", np.float32, [2]), ("ys", np.float32, [2, 6])], opset=16)
    rng = np.random.default_rng(2)
    _check(m, [{"s0": rng.normal(0, 1, 2).astype(np.float32), "x": rng.normal(0, 1, (2, 6)).astype(np.float32)}])


def test_loop_on_data_is_a_clear_error():
    nodes = [helper.make_node("Identity", ["cond"], ["cond_out"]), helper.make_node("Add", ["v", "one"], ["v_out"])]
    body = _graph(nodes, "body", [_vi("i", TensorProto.INT64, []), _vi("cond", TensorProto.BOOL, []), _vi("v", F, [])],
                  [_vi("cond_out", TensorProto.BOOL, []), _vi("v_out", F, [])])
    m = make_model([helper.make_node("Loop", ["n", "", "v0"], ["y"], body=body)],
                   [("n", np.int64, []), ("v0", np.float32, [])], [("y", np.float32, [])], dict(one=np.float32(1)),
                   opset=13)
    with pytest.raises(ov.ConversionError, match="trip count must be known"):
        ov.convert_model(m)
    # the same loop with its trip count given at conversion time unrolls
    unrolled = ov.compile_model(ov.convert_model(m, input={"n": np.array(3, np.int64)}), "CPU", F32)
    np.testing.assert_allclose(unrolled([np.float32(0.5)])[0], 3.5)
