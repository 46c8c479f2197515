"""Direct tests of each graph pass: IR in, IR (and numbers) out."""

import numpy as np
import pytest
from onnx import helper

import compiler as ov
from compiler.cli import main
from dialects.ov import Fused
from passes import PIPELINES
from passes.pipeline import PipelineStats, run_pipeline
from runtime.interpreter import run_function
from tests.models import LIGHT_MODELS, light_input, light_model, make_model


def _model(nodes, inputs, outputs, inits=(), opset=17):
    return ov.convert_model(make_model(nodes, inputs, outputs, dict(inits), opset=opset))


def _ops(model):
    return [op.name[3:] for op in model.function.body.block.ops if op.name.startswith("ov.")]


def _run(model, spec, x):
    before = run_function(model.function, x)
    m = model.clone()
    run_pipeline(m.module, spec)
    m.module.verify()
    after = run_function(m.function, x)
    for a, b in zip(before, after):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    return m


def test_fold_constants_folds_shape_subgraphs_and_weight_generators():
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Gather", ["s", "i0"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "ax"], ["n1"]), helper.make_node("Concat", ["n1", "tail"], ["shape"],
                                                                                    axis=0),
             helper.make_node("Reshape", ["x", "shape"], ["y"]),
             helper.make_node("ConstantOfShape", ["wshape"], ["w"], value=helper.make_tensor("v", 1, [1], [0.5])),
             helper.make_node("Add", ["y", "w"], ["z"])]
    m = _model(nodes, [("x", np.float32, [2, 3, 4])], [("z", np.float32, None)],
               {"i0": np.array(0, np.int64), "ax": np.array([0], np.int64), "tail": np.array([12], np.int64),
                "wshape": np.array([12], np.int64)})
    assert _ops(m) == ["Const", "Const", "Reshape", "Const", "Add"] or set(_ops(m)) == {"Const", "Reshape", "Add"}
    assert m.outputs[0].shape == (2, 12)


def test_dce_and_cse():
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Relu", ["x"], ["b"]),
             helper.make_node("Add", ["a", "b"], ["y"]), helper.make_node("Sigmoid", ["x"], ["dead"])]
    m = make_model(nodes, [("x", np.float32, [4])], [("y", np.float32, [4])])
    model = ov.convert_model(m)
    assert _ops(model).count("ReLU") == 2 and "Sigmoid" not in _ops(model)  # frontend cleanup ran dce
    out = _run(model, "cse", [np.arange(4, dtype=np.float32) - 2])
    assert _ops(out).count("ReLU") == 1


def test_simplify_removes_identities_and_merges():
    nodes = [helper.make_node("Mul", ["x", "one"], ["a"]), helper.make_node("Add", ["a", "zero"], ["b"]),
             helper.make_node("Reshape", ["b", "s1"], ["c"]), helper.make_node("Reshape", ["c", "s2"], ["d"]),
             helper.make_node("Transpose", ["d"], ["e"], perm=[0, 2, 1]),
             helper.make_node("Transpose", ["e"], ["f"], perm=[0, 2, 1]), helper.make_node("Relu", ["f"], ["y"])]
    model = _model(nodes, [("x", np.float32, [2, 3, 4])], [("y", np.float32, None)],
                   {"one": np.ones((1, 4), np.float32), "zero": np.zeros(4, np.float32),
                    "s1": np.array([6, 4], np.int64), "s2": np.array([2, 4, 3], np.int64)})
    out = _run(model, "simplify", [np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)])
    assert [o for o in _ops(out) if o != "Const"] == ["Reshape", "ReLU"]


def test_transpose_sinking_cancels_layout_round_trips():
    """NHWC -> NCHW around an element-wise chain: the Transposes meet and vanish."""
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]),
             helper.make_node("Add", ["t", "bias"], ["a"]), helper.make_node("Relu", ["a"], ["r"]),
             helper.make_node("Transpose", ["r"], ["y"], perm=[0, 2, 3, 1])]
    model = _model(nodes, [("x", np.float32, [1, 5, 6, 3])], [("y", np.float32, None)],
                   {"bias": np.arange(3, dtype=np.float32).reshape(1, 3, 1, 1)})
    assert _ops(model).count("Transpose") == 2
    out = _run(model, "simplify", [np.random.default_rng(1).standard_normal((1, 5, 6, 3)).astype(np.float32)])
    assert "Transpose" not in _ops(out)


@pytest.mark.parametrize("middle", ["ReduceMean", "ReduceSumKeep", "Pad", "Concat", "Resize", "Slice", "Mixed"])
def test_transposes_pass_through_layout_aware_ops(middle):
    """A Transpose moves below reductions, pads, concats, resizes and slices (axes, pads and
    bounds mapped through the order): results are unchanged and fewer Transposes remain."""
    t_in = helper.make_node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2])
    inits = {"axes": np.array([2, 3], np.int64), "pads": np.array([0, 0, 1, 2, 0, 0, 3, 0], np.int64),
             "c": np.arange(2 * 3 * 5 * 6, dtype=np.float32).reshape(2, 3, 5, 6),
             "sizes": np.array([2, 3, 10, 9], np.int64), "st": np.array([0, 1, 1, 0], np.int64),
             "en": np.array([2, 3, 5, 6], np.int64), "ax": np.array([0, 1, 2, 3], np.int64),
             "sp": np.array([1, 1, 2, 3], np.int64)}
    mid = {"ReduceMean": [helper.make_node("ReduceMean", ["t", "axes"], ["m"], keepdims=0)],
           "ReduceSumKeep": [helper.make_node("ReduceSum", ["t", "axes"], ["m"], keepdims=1)],
           "Pad": [helper.make_node("Pad", ["t", "pads"], ["m"], mode="reflect")],
           "Concat": [helper.make_node("Concat", ["t", "c"], ["m"], axis=1)],
           "Resize": [helper.make_node("Resize", ["t", "", "", "sizes"], ["m"], mode="linear")],
           "Slice": [helper.make_node("Slice", ["t", "st", "en", "ax", "sp"], ["m"])],
           "Mixed": [helper.make_node("Pad", ["t", "pads"], ["p"], mode="constant"),
                     helper.make_node("Relu", ["p"], ["m"])]}[middle]
    out = [helper.make_node("Transpose", ["m"], ["y"], perm=[0, 2, 3, 1])] if middle not in (
        "ReduceMean",) else [helper.make_node("Neg", ["m"], ["y"])]
    model = _model([t_in, *mid, *out], [("x", np.float32, [2, 5, 6, 3])], [("y", np.float32, None)], inits,
                   opset=18)
    before = _ops(model).count("Transpose")
    x = np.random.default_rng(3).standard_normal((2, 5, 6, 3)).astype(np.float32)
    after = _ops(_run(model, "simplify", [x])).count("Transpose")
    assert after < before, (before, after)


def _conv_bn():
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "g", "b", "m", "v"], ["n"]),
             helper.make_node("Relu", ["n"], ["r"]), helper.make_node("Add", ["r", "x"], ["y"])]
    inits = {"w": rng.standard_normal((4, 4, 3, 3)).astype(np.float32), "g": rng.uniform(0.5, 2, 4).astype(np.float32),
             "b": rng.standard_normal(4).astype(np.float32), "m": rng.standard_normal(4).astype(np.float32),
             "v": rng.uniform(0.5, 2, 4).astype(np.float32)}
    return _model(nodes, [("x", np.float32, [1, 4, 6, 6])], [("y", np.float32, None)], inits)


def test_fold_batchnorm_into_convolution():
    x = [np.random.default_rng(2).standard_normal((1, 4, 6, 6)).astype(np.float32)]
    m = _conv_bn()
    out = m.clone()
    run_pipeline(out.module, "fold-batchnorm")
    assert "BatchNormInference" not in _ops(out) and "Multiply" not in _ops(out)
    for a, b in zip(run_function(m.function, x), run_function(out.function, x)):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)


def _scale_chain(b, c, d, extra_use=False):
    """Conv -> Add(b) -> Mul(c) -> Add(d) -> Mul(2) (a folded BatchNorm, then a Caffe2-style
    scale layer), optionally with the first Add's output also returned."""
    rng = np.random.default_rng(3)
    nodes = [helper.make_node("Conv", ["x", "w"], ["cv"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["cv", "b"], ["t1"]), helper.make_node("Mul", ["t1", "c"], ["t2"]),
             helper.make_node("Add", ["d", "t2"], ["t3"]), helper.make_node("Mul", ["t3", "two"], ["y"])]
    outs = [("y", np.float32, None)] + ([("t1", np.float32, None)] if extra_use else [])
    inits = {"w": rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "b": b, "c": c, "d": d,
             "two": np.float32(2)}
    return _model(nodes, [("x", np.float32, [1, 3, 6, 6])], outs, inits)


def test_constant_scale_and_shift_chains_fold_into_one_weight_set_and_one_bias():
    rng = np.random.default_rng(4)
    ch = rng.standard_normal((1, 4, 1, 1)).astype(np.float32)
    x = [rng.standard_normal((1, 3, 6, 6)).astype(np.float32)]
    out = _run(_scale_chain(ch, ch.reshape(4, 1, 1) + 2, ch * 3), "fold-batchnorm,fold-constants,dce", x)
    assert _ops(out).count("Convolution") == 1 and _ops(out).count("Add") == 1 and "Multiply" not in _ops(out)


@pytest.mark.parametrize("case", ["shift broadcasts x", "scale broadcasts x", "infinite scale", "shared value"])
def test_near_misses_of_scale_and_shift_chains_keep_their_steps(case):
    """What the chain fusion must not rewrite: a constant that broadcasts the value to a larger
    shape, a non-finite constant, an intermediate value that has another user."""
    rng = np.random.default_rng(5)
    ch = rng.standard_normal((1, 4, 1, 1)).astype(np.float32)
    b, c, d = ch, ch + 2, ch * 3
    if case == "shift broadcasts x":
        b = rng.standard_normal((2, 4, 1, 1)).astype(np.float32)
    elif case == "scale broadcasts x":
        c = rng.standard_normal((3, 1, 1, 1, 1)).astype(np.float32)
    elif case == "infinite scale":
        c = np.array(np.inf, np.float32)
    x = [rng.standard_normal((1, 3, 6, 6)).astype(np.float32)]
    m = _scale_chain(b, c, d, extra_use=case == "shared value")
    out = _run(m, "fold-batchnorm,fold-constants,dce", x)
    assert _ops(out).count("Add") == 2


def test_fuse_groups_conv_bias_activation_residual():
    m = _conv_bn()
    run_pipeline(m.module, PIPELINES["O2"])
    fused = [op for op in m.function.body.block.ops if isinstance(op, Fused)]
    assert len(fused) == 1 and fused[0].kind.data == "Convolution"
    inner = [op.name[3:] for op in fused[0].block.ops]
    assert inner == ["Convolution", "Add", "ReLU", "Add", "FusedYield"]


def test_fusion_stops_at_a_value_with_other_users():
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Sigmoid", ["a"], ["b"]),
             helper.make_node("Tanh", ["b"], ["y1"]), helper.make_node("Neg", ["b"], ["y2"])]
    m = _model(nodes, [("x", np.float32, [8])], [("y1", np.float32, None), ("y2", np.float32, None)])
    out = _run(m, "fuse", [np.linspace(-2, 2, 8, dtype=np.float32)])
    groups = [op for op in out.function.body.block.ops if isinstance(op, Fused)]
    assert len(groups) == 1 and [o.name[3:] for o in groups[0].block.ops] == ["ReLU", "Sigmoid", "FusedYield"]


def test_recognize_gelu_and_layer_norm():
    s2 = np.float32(np.sqrt(2))
    nodes = [helper.make_node("Div", ["x", "s2"], ["d"]), helper.make_node("Erf", ["d"], ["e"]),
             helper.make_node("Add", ["e", "one"], ["p"]), helper.make_node("Mul", ["x", "p"], ["q"]),
             helper.make_node("Mul", ["q", "half"], ["g"]),
             helper.make_node("ReduceMean", ["g"], ["mu"], axes=[-1]), helper.make_node("Sub", ["g", "mu"], ["c"]),
             helper.make_node("Pow", ["c", "two"], ["c2"]), helper.make_node("ReduceMean", ["c2"], ["var"], axes=[-1]),
             helper.make_node("Add", ["var", "eps"], ["ve"]), helper.make_node("Sqrt", ["ve"], ["sd"]),
             helper.make_node("Div", ["c", "sd"], ["y"])]
    m = _model(nodes, [("x", np.float32, [3, 16])], [("y", np.float32, None)],
               {"s2": s2, "one": np.float32(1), "half": np.float32(0.5), "two": np.float32(2),
                "eps": np.float32(1e-5)}, opset=13)
    out = _run(m, "recognize", [np.random.default_rng(3).standard_normal((3, 16)).astype(np.float32)])
    assert [o for o in _ops(out) if o != "Const"] == ["Gelu", "MVN"]


def test_decompose_mvn_over_non_adjacent_axes():
    nodes = [helper.make_node("MeanVarianceNormalization", ["x"], ["y"], axes=[0, 2])]
    m = _model(nodes, [("x", np.float32, [2, 3, 4])], [("y", np.float32, None)])
    out = _run(m, "decompose", [np.random.default_rng(4).standard_normal((2, 3, 4)).astype(np.float32)])
    assert "MVN" not in _ops(out) and "ReduceMean" in _ops(out)


def test_widen_half_computes_float16_ops_in_float32():
    rng = np.random.default_rng(5)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"])]
    m = _model(nodes, [("x", np.float16, [3, 8])], [("y", np.float16, None)],
               {"w": rng.normal(0, .5, (8, 4)).astype(np.float16)})
    x = [rng.normal(0, 1, (3, 8)).astype(np.float16)]
    before = run_function(m.function, x)[0]
    out = m.clone()
    run_pipeline(out.module, "widen-half,fold-constants,dce")
    out.module.verify()
    types = {(op.name[3:], str(op.outputs[0].type)) for op in out.function.body.block.ops if op.name.startswith("ov.")}
    assert ("MatMul", "tensor<3x4xf32>") in types and ("ReLU", "tensor<3x4xf32>") in types
    after = run_function(out.function, x)[0]
    assert after.dtype == np.float16
    np.testing.assert_allclose(after.astype(np.float32), before.astype(np.float32), rtol=2e-3, atol=2e-3)
    run_pipeline(out.module, "widen-half")  # idempotent: nothing float16 is left to widen
    assert {(op.name[3:], str(op.outputs[0].type)) for op in out.function.body.block.ops
            if op.name.startswith("ov.")} == types


@pytest.mark.parametrize("name", LIGHT_MODELS)
def test_o2_on_light_models(name):
    proto = light_model(name)
    model = ov.convert_model(proto)
    stats = PipelineStats()
    m = model.clone()
    run_pipeline(m.module, PIPELINES["O2"], stats=stats)
    counts = m.op_counts()
    assert "BatchNormInference" not in counts and "Broadcast" not in counts
    for op in m.function.body.block.ops:  # no ReLU left standing right after a convolution
        if op.name == "ov.ReLU":
            assert getattr(op.inputs[0], "op", None) is None or "Convolution" not in op.inputs[0].op.name
    assert stats.passes and stats.passes[0].ops_before >= stats.passes[-1].ops_after
    x = [light_input(proto)]
    np.testing.assert_allclose(run_function(m.function, x)[0], run_function(model.function, x)[0],
                               rtol=1e-4, atol=1e-5)


def test_cli_reports_stats_and_prints_after_every_pass(tmp_path, capsys):
    import onnx

    path = tmp_path / "r.onnx"
    onnx.save(light_model("resnet50"), str(path))
    assert main([str(path), "-O", "2", "--stats", "--emit", "hl"]) == 0
    err = capsys.readouterr().err
    assert "fuse" in err and "ops before" in err and "Fused=" in err
    assert main([str(path), "--pass-pipeline", "fold-constants,dce", "--print-ir-after-all", "--emit", "hl"]) == 0
    err = capsys.readouterr().err
    assert err.count("IR Dump After") == 2
