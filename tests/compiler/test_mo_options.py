"""The Model Optimizer's options through `mo.convert_model` and `ovcc`, with its semantics: each
equals the same preprocessing written in numpy followed by ONNX Runtime on the original model,
and the IR `ovcc` writes computes the same in OpenVINO."""

from xml.etree import ElementTree

import numpy as np
import onnx
import openvino
import pytest
from onnx import helper

import compiler as ov
from compiler.cli import main as ovcc
from compiler.tools import mo
from tests.models import make_model, ort_run

F32 = {"INFERENCE_PRECISION_HINT": "f32"}
RNG = np.random.default_rng(11)
W = RNG.standard_normal((4, 3, 3, 3)).astype(np.float32)
X = (RNG.standard_normal((1, 3, 6, 6)) * 50 + 120).astype(np.float32)
MEAN = np.array([123.7, 116.3, 103.5], np.float32).reshape(1, 3, 1, 1)
STD = np.array([58.4, 57.1, 57.4], np.float32).reshape(1, 3, 1, 1)


def conv(batch=1):
    return make_model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])],
                      [("x", np.float32, [batch, 3, 6, 6])], [("y", np.float32, None)], {"w": W})


def two_inputs():
    """x (3 channels) and aux (2 channels) feed one output."""
    return make_model([helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
                       helper.make_node("ReduceSum", ["aux"], ["s"], keepdims=1),
                       helper.make_node("Add", ["c", "s"], ["y"])],
                      [("x", np.float32, [1, 3, 6, 6]), ("aux", np.float32, [1, 2, 6, 6])],
                      [("y", np.float32, None)], {"w": W})


def _ours(model, inputs):
    return ov.compile_model(model, "CPU", F32)(inputs)[0]


def _check(model, inputs, onnx_model, feeds):
    np.testing.assert_allclose(_ours(model, inputs), ort_run(onnx_model, feeds)[0], rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("kw,x_in,x_ref", [
    (dict(mean_values=[123.7, 116.3, 103.5], scale_values=[58.4, 57.1, 57.4]), X, (X - MEAN) / STD),
    # given as the command line gave them, scale before mean: the mean still goes first
    (dict(scale_values="x[58.4,57.1,57.4]", mean_values="x[123.7,116.3,103.5]"), X, (X - MEAN) / STD),
    (dict(scale=255.0), X, X / 255),
    (dict(mean_values="[123.7,116.3,103.5]", reverse_input_channels=True), X, X[:, ::-1] - MEAN),
    (dict(layout="nchw->nhwc", mean_values=[123.7, 116.3, 103.5]), X.transpose(0, 2, 3, 1), X - MEAN),
    (dict(source_layout="nchw", target_layout="nhwc", scale=2.0), X.transpose(0, 2, 3, 1), X / 2),
])
def test_mean_scale_reverse_and_layouts(kw, x_in, x_ref):
    model = mo.convert_model(conv(), **kw)
    _check(model, [np.ascontiguousarray(x_in)], conv(), {"x": np.ascontiguousarray(x_ref, np.float32)})


def test_reverse_input_channels_touches_only_inputs_with_three_channels():
    aux = RNG.standard_normal((1, 2, 6, 6)).astype(np.float32)
    model = mo.convert_model(two_inputs(), reverse_input_channels=True, mean_values="x[1,2,3]")
    mean = np.array([1, 2, 3], np.float32).reshape(1, 3, 1, 1)
    _check(model, [X, aux], two_inputs(), {"x": X[:, ::-1] - mean, "aux": aux})


def test_shapes_batch_and_static_shape():
    model = mo.convert_model(conv(), input="x", input_shape="[2,3,6,6]")
    assert model.inputs[0].shape == (2, 3, 6, 6)
    model = mo.convert_model(conv(), batch=3)
    assert model.inputs[0].shape == (3, 3, 6, 6)
    x3 = np.concatenate([X] * 3)
    _check(model, [x3], conv(3), {"x": x3})
    dyn = make_model([helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Reshape", ["x", "s"], ["y"])],
                     [("x", np.float32, ["n", 4])], [("y", np.float32, None)])
    assert "ShapeOf" not in mo.convert_model(dyn, input_shape=[2, 4], static_shape=True).op_counts()
    with pytest.raises(ov.ConversionError, match="--static_shape needs static input shapes; x has dynamic dims"):
        mo.convert_model(dyn, static_shape=True)


def test_ovcc_writes_the_options_into_ir_that_openvino_runs(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(conv(), str(path))
    xml = tmp_path / "out" / "m.xml"
    assert ovcc([str(path), "-o", str(xml), "--mean_values", "[123.7,116.3,103.5]", "--scale_values",
                 "[58.4,57.1,57.4]", "--reverse_input_channels", "--layout", "nchw->nhwc",
                 "--compress_to_fp16=False"]) == 0
    x = np.ascontiguousarray(X.transpose(0, 2, 3, 1))
    got = openvino.Core().compile_model(str(xml), "CPU", F32)([x])[0]
    np.testing.assert_allclose(got, ort_run(conv(), {"x": (X[:, ::-1] - MEAN) / STD})[0], rtol=1e-4, atol=1e-3)
    # --data_type FP16 (the older spelling) stores f16 weights, FP32 keeps them
    for flag, f16 in (("FP16", True), ("FP32", False)):
        assert ovcc([str(path), "-o", str(tmp_path / f"{flag}.xml"), "--data_type", flag]) == 0
        assert ('element_type="f16"' in (tmp_path / f"{flag}.xml").read_text()) == f16


@pytest.mark.parametrize("flags,x_in,x_ref", [
    (["--scale", "255"], X, X / 255),
    (["--source_layout", "nchw", "--target_layout", "nhwc", "-ms", "[1,2,3]"], X.transpose(0, 2, 3, 1),
     X - np.array([1, 2, 3], np.float32).reshape(1, 3, 1, 1)),
    (["--input", "x", "--input_shape", "[1,3,6,6]", "--static_shape"], X, X),
    (["--batch", "2"], np.concatenate([X, X]), np.concatenate([X, X])),
])
def test_more_options_through_ovcc(flags, x_in, x_ref, tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(conv(), str(path))
    xml = tmp_path / "m.xml"
    assert ovcc([str(path), "-o", str(xml), "--compress_to_fp16=False", *flags]) == 0
    got = openvino.Core().compile_model(str(xml), "CPU", F32)([np.ascontiguousarray(x_in)])[0]
    want = np.concatenate([ort_run(conv(), {"x": np.ascontiguousarray(x_ref[i:i + 1], np.float32)})[0]
                           for i in range(len(x_ref))])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


def test_serialize_writes_f32_and_the_bin_where_asked(tmp_path):
    model = mo.convert_model(conv(), scale=2.0)
    ov.serialize(model, tmp_path / "a.xml", tmp_path / "w" / "weights.bin")
    got = openvino.Core().compile_model(openvino.Core().read_model(str(tmp_path / "a.xml"),
                                                                   str(tmp_path / "w" / "weights.bin")), "CPU", F32)
    np.testing.assert_allclose(got([X])[0], ort_run(conv(), {"x": X / 2})[0], rtol=1e-4, atol=1e-3)
    assert 'element_type="f16"' not in (tmp_path / "a.xml").read_text()
    mo_model = mo.convert_model(conv(), compress_to_fp16=True)  # the weights meant to be f16 are written so
    ov.serialize(mo_model, tmp_path / "b.xml")
    assert 'element_type="f16"' in (tmp_path / "b.xml").read_text()


def _bn_model():
    c = 4
    rng = np.random.default_rng(2)
    return make_model([helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
                       helper.make_node("BatchNormalization", ["c", "g", "b", "m", "v"], ["y"])],
                      [("x", np.float32, [1, 3, 6, 6])], [("y", np.float32, None)],
                      {"w": W, "g": rng.random(c).astype(np.float32) + 0.5, "b": rng.random(c).astype(np.float32),
                       "m": rng.random(c).astype(np.float32), "v": rng.random(c).astype(np.float32) + 0.5})


@pytest.mark.parametrize("level,bn_left", [("0", True), ("1", False), ("2", False)])
def test_ovcc_optimization_level_applies_to_the_ir(level, bn_left, tmp_path):
    path = tmp_path / "bn.onnx"
    onnx.save(_bn_model(), str(path))
    xml = tmp_path / f"o{level}.xml"
    assert ovcc([str(path), "-O" + level, "--output_model", str(xml), "--compress_to_fp16=False"]) == 0
    layers = {lay.get("type") for lay in ElementTree.parse(xml).iter("layer")}
    assert ("BatchNormInference" in layers) == bn_left
    got = openvino.Core().compile_model(str(xml), "CPU", F32)([X])[0]
    np.testing.assert_allclose(got, ort_run(_bn_model(), {"x": X})[0], rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("kw,message", [
    (dict(mean_values=[1.0, 2.0, 3.0, 4.0]), "input 'x': 4 mean/scale values \\(not 3\\); give the input's layout"),
    (dict(mean_values=[1.0, 2.0, 3.0, 4.0], layout="nchw"), "input 'x': mean: 4 values for 3 channels"),
    (dict(mean_values="y[1,2,3]"), "mean_values for 'y', which is not an input of the model"),
    (dict(layout="nc-w"), "layout 'nc-w': '-' is not a dimension name"),
    (dict(mean_values="x[1,2,a]"), "'1,2,a' are not numbers"),
    (dict(batch=0), "--batch 0: expected a positive integer"),
    (dict(layout="nchw", source_layout="nchw"), "--layout cannot be combined with --source_layout"),
    (dict(tensorflow_use_custom_operations_config="x.json"),
     "--tensorflow_use_custom_operations_config is not supported: it configured the old TensorFlow frontend"),
])
def test_bad_options_are_one_clear_error(kw, message):
    with pytest.raises(ov.ConversionError, match=message):
        mo.convert_model(conv(), **kw)
    with pytest.raises(ov.ConversionError, match="no input has 3 channels"):
        mo.convert_model(make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", np.float32, [1, 4])],
                                    [("y", np.float32, [1, 4])]), reverse_input_channels=True)


def test_torch_module_without_example_input():
    torch = pytest.importorskip("torch")

    class CNN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn, self.fc = torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), \
                torch.nn.Linear(8, 5)

        def forward(self, x):
            return self.fc(torch.nn.functional.adaptive_avg_pool2d(torch.relu(self.bn(self.conv(x))), 1).flatten(1))

    class Words(torch.nn.Module):  # forward is not scriptable as written: its shapes come from input=
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(10, 4)

        def forward(self, ids, scale: float = 2.0):
            return (self.emb(ids) * scale).mean(dim=1)

    cnn = CNN().eval()
    model = ov.convert_model(cnn)  # TorchScript shows the first layer: a 2-D convolution of 3 channels
    x = torch.randn(3, 3, 10, 12)
    with torch.no_grad():
        want = cnn(x).numpy()
    np.testing.assert_allclose(_ours(model, [x.numpy()]), want, rtol=1e-4, atol=1e-5)
    words = Words().eval()
    model = ov.convert_model(words, input=[("ids", [2, "?"], ov.Type.i64)])
    ids = torch.tensor([[1, 2, 3], [4, 5, 6]])
    with torch.no_grad():
        want = words(ids).numpy()
    np.testing.assert_allclose(_ours(model, [ids.numpy()]), want, rtol=1e-5)

    class Opaque(torch.nn.Module):
        def forward(self, x):
            return x.sum()

    with pytest.raises(ov.ConversionError, match="cannot tell the shapes of the module's inputs"):
        ov.convert_model(Opaque())
