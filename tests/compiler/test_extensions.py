"""Frontend extensions and custom ops: made-up framework ops converted by OpExtension and
ConversionExtension (ONNX, TensorFlow, TensorFlow Lite, PyTorch), and a Python custom op that
the CPU device runs as a callback step inside the native program, the REFERENCE device runs
directly, and the IR holds as its own layer type (read back by us, and run by OpenVINO with
the same op registered there)."""

import numpy as np
import openvino
import pytest
from onnx import helper

import compiler as ov
import compiler.opset as ops
from compiler.frontend import ConversionExtension, OpExtension
from tests.models import F32, make_model

RNG = np.random.default_rng(9)
X = RNG.standard_normal((2, 3)).astype(np.float32)


class Swish(ov.Op):
    """x * sigmoid(beta * x), computed by numpy."""

    class_type_info = ov.DiscreteTypeInfo("MySwish", "extension")

    def __init__(self, inputs=None, beta=1.0):
        super().__init__(self)
        self._attrs = {"beta": float(beta)}
        if inputs is not None:
            self.set_arguments(inputs)
            self.constructor_validate_and_infer_types()

    def validate_and_infer_types(self):
        self.set_output_type(0, self.get_input_element_type(0), self.get_input_partial_shape(0))

    def evaluate(self, outputs, inputs):
        x = inputs[0].data
        outputs[0].shape = x.shape
        outputs[0].data[...] = x / (1 + np.exp(-self._attrs["beta"] * x))
        return True

    def has_evaluate(self):
        return True

    def visit_attributes(self, visitor):
        visitor.on_attributes(self._attrs)
        return True


def _swish(x, beta):
    return x / (1 + np.exp(-beta * x))


def custom_onnx():
    m = make_model([helper.make_node("MyRelu", ["x"], ["a"], domain="my.ops"),
                    helper.make_node("MyScale", ["a"], ["b"], domain="my.ops", factor=3.0),
                    helper.make_node("MySw", ["b"], ["c"], domain="my.ops", beta=0.5),
                    helper.make_node("MyElu", ["c"], ["y"], domain="my.ops", a=0.7)],
                   [("x", np.float32, [2, 3])], [("y", np.float32, [2, 3])])
    m.opset_import.append(helper.make_opsetid("my.ops", 1))
    return m


EXTENSIONS = [
    OpExtension("Relu", "MyRelu"),                       # Python's name for ReLU
    OpExtension("Elu", "MyElu", {"alpha": "a"}),         # an attribute under another name
    ConversionExtension("MyScale", lambda node: ops.multiply(node.get_input(0),
                                                             np.float32(node.get_attribute("factor")))),
    ConversionExtension("my.ops.MySw", lambda node: Swish([node.get_input(0)], beta=node.get_attribute("beta"))),
]


def _expected(x):
    c = _swish(np.maximum(x, 0) * 3, 0.5)
    return np.where(c > 0, c, 0.7 * (np.exp(c) - 1))


def test_onnx_extensions_and_a_custom_op_on_both_devices(tmp_path):
    model = ov.convert_model(custom_onnx(), extension=EXTENSIONS)
    assert model.op_counts()["Extension"] == 1 and model.op_counts()["Elu"] == 1
    for device in ("REFERENCE", "CPU"):
        np.testing.assert_allclose(ov.compile_model(model, device, F32)([X])[0], _expected(X), rtol=1e-5, atol=1e-6)
    compiled = ov.compile_model(model, "CPU", F32)  # one native program: the custom op is one step of it
    steps = [s.label for s in next(iter(compiled._specialized.values())).program.steps]
    assert "Extension MySwish" in steps and len(steps) > 1

    xml = tmp_path / "m.xml"
    ov.save_model(model, xml, compress_to_fp16=False)
    assert 'type="MySwish" version="extension"> <data beta="0.5"/>' in xml.read_text()
    back = ov.read_model(xml)
    np.testing.assert_allclose(ov.compile_model(back, "CPU", F32)([X])[0], _expected(X), rtol=1e-5, atol=1e-6)


def test_openvino_runs_our_ir_with_the_same_custom_op_registered(tmp_path):
    class OvSwish(openvino.Op):
        class_type_info = openvino.DiscreteTypeInfo("MySwish", "extension")

        def __init__(self, inputs=None, attrs=None):
            super().__init__(self)
            # OpenVINO's Python ops do not read attributes back from IR (the IR holds beta="0.5"):
            # the class registered there carries the value
            self._attrs = {"beta": 0.5}
            if inputs is not None:
                self.set_arguments(inputs)
                self.constructor_validate_and_infer_types()

        def get_type_info(self):
            return OvSwish.class_type_info

        def validate_and_infer_types(self):
            self.set_output_type(0, self.get_input_element_type(0), self.get_input_partial_shape(0))

        def clone_with_new_inputs(self, new_inputs):
            return OvSwish(new_inputs)

        def evaluate(self, outputs, inputs):
            x = inputs[0].data
            outputs[0].shape = x.shape
            outputs[0].data[:] = x / (1 + np.exp(-float(self._attrs["beta"]) * x))
            return True

        def has_evaluate(self):
            return True

        def visit_attributes(self, visitor):
            visitor.on_attributes(self._attrs)
            return True

    model = ov.convert_model(custom_onnx(), extension=EXTENSIONS)
    xml = tmp_path / "m.xml"
    ov.save_model(model, xml, compress_to_fp16=False)
    core = openvino.Core()
    core.add_extension(OvSwish)
    got = core.compile_model(core.read_model(str(xml)), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})([X])[0]
    np.testing.assert_allclose(got, _expected(X), rtol=1e-5, atol=1e-6)


def test_core_add_extension_and_reshape_reinfers_the_custom_op(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(custom_onnx().SerializeToString())
    core = ov.Core()
    core.add_extension(EXTENSIONS)
    model = core.read_model(path)
    model.reshape([[4, 3]])  # the custom op's validate_and_infer_types runs again
    assert model.outputs[0].shape == (4, 3)
    x = RNG.standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_allclose(core.compile_model(model, "CPU")([x])[0], _expected(x), rtol=1e-5, atol=1e-6)


def test_tensorflow_op_extension(tmp_path):
    tf = pytest.importorskip("tensorflow")
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    @tf.function(input_signature=[tf.TensorSpec([2, 3], tf.float32, name="x")])
    def f(x):
        return tf.nn.leaky_relu(tf.math.softplus(x), alpha=0.3)

    gd = convert_variables_to_constants_v2(f.get_concrete_function()).graph.as_graph_def()
    for n in gd.node:  # rename the TensorFlow ops: types ovcc does not know
        n.op = {"Softplus": "MySoftplus", "LeakyRelu": "MyLeaky"}.get(n.op, n.op)
    with pytest.raises(ov.UnsupportedOpsError, match="MyLeaky .*MySoftplus"):
        ov.convert_model(gd)
    exts = [OpExtension("SoftPlus", "MySoftplus"),
            ConversionExtension("MyLeaky", lambda node: ops.prelu(
                node.get_input(0), np.float32(node.get_attribute("alpha"))))]
    model = ov.convert_model(gd, extension=exts)
    with tf.device("/cpu:0"):
        want = f(tf.constant(X)).numpy()
    np.testing.assert_allclose(ov.compile_model(model, "CPU", F32)([X])[0], want, rtol=1e-5, atol=1e-6)


def test_tflite_custom_operator(tmp_path):
    tf = pytest.importorskip("tensorflow")

    @tf.function(input_signature=[tf.TensorSpec([2, 3], tf.float32)])
    def f(x):
        return tf.nn.relu(x) * 2.0

    conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    data = conv.convert()
    path = tmp_path / "m.tflite"
    path.write_bytes(data)
    base = ov.convert_model(path)  # RELU and MUL are known; replace RELU by an extension to see it used
    assert "ReLU" in base.op_counts()
    model = ov.convert_model(path, extension=ConversionExtension("RELU", lambda node: ops.abs(node.get_input(0))))
    assert "ReLU" not in model.op_counts() and "Abs" in model.op_counts()
    np.testing.assert_allclose(ov.compile_model(model, "REFERENCE")([X])[0], np.abs(X) * 2, rtol=1e-6)


def test_pytorch_conversion_extension():
    torch = pytest.importorskip("torch")

    class M(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.hardtanh(x, -0.5, 0.25) * 2

    def convert_hardtanh(node):  # as OpenVINO's example for aten::hardtanh
        lo, hi = node.get_values_from_const_input(1), node.get_values_from_const_input(2)
        return ops.clamp(node.get_input(0), lo, hi)

    calls = []
    ext = ConversionExtension("aten::hardtanh", lambda node: calls.append(node.get_op_type()) or convert_hardtanh(node))
    model = ov.convert_model(M(), example_input=(torch.from_numpy(X),), extension=ext)
    assert calls == ["aten::hardtanh"]
    np.testing.assert_allclose(ov.compile_model(model, "CPU", F32)([X])[0], np.clip(X, -0.5, 0.25) * 2, rtol=1e-6)


def test_an_extension_that_raises_is_one_error_naming_it():
    bad = [*EXTENSIONS, ConversionExtension("MyScale", lambda node: 1 / 0)]  # the last one for a type wins
    with pytest.raises(ov.ExtensionError, match="the conversion extension for 'MyScale' \\(node 'b'\\) raised "
                                                "ZeroDivisionError"):
        ov.convert_model(custom_onnx(), extension=bad)
    with pytest.raises(ov.ConversionError, match="node 'y' \\(MyElu\\): OpExtension to Elu needs attribute 'alpha'"):
        ov.convert_model(custom_onnx(), extension=[*EXTENSIONS, OpExtension("Elu", "MyElu")])

    class Broken(Swish):
        class_type_info = ov.DiscreteTypeInfo("Broken", "extension")

        def evaluate(self, outputs, inputs):
            raise ValueError("no luck")

    model = ov.convert_model(custom_onnx(), extension=[*EXTENSIONS, ConversionExtension(
        "my.ops.MySw", lambda node: Broken([node.get_input(0)]))])
    for device in ("REFERENCE", "CPU"):
        with pytest.raises(ov.ExtensionError, match="custom op 'Broken': evaluate raised ValueError: no luck"):
            ov.compile_model(model, device, F32)([X])
