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


def _vad_like(feat: int = 8, hidden: int = 4):
    """A voice-activity model's construct (Silero VAD): an If on the sample rate input, each
    branch reshaping the samples its own way, PyTorch's exported `squeeze(-1)` (an If on the
    last dim being 1) and an LSTM on the result. For one rate's input length the other
    branch cannot be computed (ONNX Runtime never runs it)."""
    rng = np.random.default_rng(0)

    def branch(tag: str, width: int):
        w = rng.standard_normal((1, 4 * hidden, width)).astype(np.float32) * 0.5
        r = rng.standard_normal((1, 4 * hidden, hidden)).astype(np.float32) * 0.5
        squeeze = _graph([helper.make_node("Squeeze", [f"t{tag}", "minus1"], [f"sq{tag}"])], f"sq{tag}", [],
                         [_vi(f"sq{tag}", F, None)])
        keep = _graph([helper.make_node("Identity", [f"t{tag}"], [f"id{tag}"])], f"id{tag}", [],
                      [_vi(f"id{tag}", F, None)])
        nodes = [helper.make_node("Constant", [], [f"shape{tag}"], value=helper.make_tensor(
                     "s", TensorProto.INT64, [4], [1, 1, width, -1])),
                 helper.make_node("Reshape", ["x", f"shape{tag}"], [f"t{tag}"]),
                 helper.make_node("Shape", [f"t{tag}"], [f"s{tag}"]),
                 helper.make_node("Gather", [f"s{tag}", "minus1_scalar"], [f"last{tag}"], axis=0),
                 helper.make_node("Equal", [f"last{tag}", "one_scalar"], [f"is1{tag}"]),
                 helper.make_node("If", [f"is1{tag}"], [f"u{tag}"], then_branch=squeeze, else_branch=keep),
                 helper.make_node("Constant", [], [f"w{tag}"], value=helper.make_tensor("w", F, w.shape, w.ravel())),
                 helper.make_node("Constant", [], [f"r{tag}"], value=helper.make_tensor("r", F, r.shape, r.ravel())),
                 helper.make_node("LSTM", [f"u{tag}", f"w{tag}", f"r{tag}"], [f"y{tag}", f"h{tag}"],
                                  hidden_size=hidden)]
        return _graph(nodes, tag, [], [_vi(f"h{tag}", F, [1, 1, hidden])])

    nodes = [helper.make_node("Equal", ["sr", "rate16k"], ["is16k"]),
             helper.make_node("If", ["is16k"], ["h"], then_branch=branch("a", feat),
                              else_branch=branch("b", feat // 2))]
    return make_model(nodes, [("x", np.float32, ["batch", "n"]), ("sr", np.int64, [])],
                      [("h", np.float32, [1, 1, hidden])],
                      {"rate16k": np.array(16000, np.int64), "minus1": np.array([-1], np.int64),
                       "minus1_scalar": np.array(-1, np.int64), "one_scalar": np.array(1, np.int64)})


def test_an_if_whose_other_branch_cannot_be_computed_is_refused_with_the_way_out():
    """With dynamic shapes and the rate an input, the branch the data does not take cannot be
    converted (an LSTM input of rank 4): a clear refusal naming the input that decides (it
    crashed inside the LSTM converter); frozen as the message says, each rate converts and
    matches ONNX Runtime."""
    from dialects.errors import ConversionError, InternalError

    m = _vad_like()
    with pytest.raises(ConversionError, match="value of input 'sr'") as e:
        ov.convert_model(m)
    assert not isinstance(e.value, InternalError)
    rng = np.random.default_rng(1)
    for sr, n in ((16000, 8), (8000, 4)):
        x = rng.standard_normal((1, n)).astype(np.float32)
        want = ort_run(m, {"x": x, "sr": np.array(sr, np.int64)})[0]
        frozen = ov.convert_model(m, input={"x": [1, n], "sr": np.array(sr, np.int64)})
        got = ov.compile_model(frozen, "CPU", F32)({"x": x})[0]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_branches_of_different_shapes_are_not_selected_by_broadcasting():
    """A data-dependent If whose branches give [5] and [1]: a Select would broadcast the
    [1] branch to [5], a wrong shape (and values) when the condition is false."""
    from dialects.errors import ConversionError

    then = _graph([helper.make_node("Constant", [], ["a"], value=helper.make_tensor("a", F, [5], [1.0] * 5))],
                  "then", [], [_vi("a", F, [5])])
    other = _graph([helper.make_node("Constant", [], ["b"], value=helper.make_tensor("b", F, [1], [2.0]))],
                   "else", [], [_vi("b", F, [1])])
    m = make_model([helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)],
                   [("c", np.bool_, [])], [("y", np.float32, None)])
    assert ort_run(m, {"c": np.array(False)})[0].shape == (1,)
    with pytest.raises(ConversionError, match="different shapes"):
        ov.convert_model(m)
