"""Cutting models at internal tensors and ports, in every frontend: an output at a tensor equals
the framework's own value of that tensor, and a new input there, fed that value, gives the
framework's final output. Unknown names are one error listing them with the nearest names."""

import numpy as np
import pytest
from onnx import helper

import compiler as ov
from tests.models import make_model, ort_run

RNG = np.random.default_rng(5)
X = RNG.standard_normal((2, 4)).astype(np.float32)


def onnx_graph():
    return make_model([helper.make_node("Relu", ["x"], ["r"], name="relu"),
                       helper.make_node("Split", ["r"], ["s0", "s1"], name="split", axis=1, num_outputs=2),
                       helper.make_node("Mul", ["s0", "s1"], ["m"], name="mul"),
                       helper.make_node("Neg", ["s1"], ["n"], name="neg"),
                       helper.make_node("Add", ["m", "n"], ["y"], name="add")],
                      [("x", np.float32, [2, 4])], [("y", np.float32, [2, 2])], opset=18)


def onnx_values(m, x, names):
    """ONNX Runtime's values of the named tensors (made graph outputs)."""
    probe = make_model(list(m.graph.node), [("x", np.float32, [2, 4])],
                       [(n, np.float32, None) for n in names], opset=18)
    return dict(zip(names, ort_run(probe, {"x": x})))


def _run(model, inputs):
    return ov.compile_model(model, "REFERENCE")(inputs)


@pytest.mark.parametrize("source", ["onnx", "ir"])
def test_onnx_and_ir_cuts(source, tmp_path):
    m = onnx_graph()
    src = m
    if source == "ir":
        src = tmp_path / "m.xml"
        ov.save_model(ov.convert_model(m), src, compress_to_fp16=False)
    ref = onnx_values(m, X, ["r", "s1", "m", "y"])
    # outputs at a tensor, at an output port, at an input port (the tensor it reads)
    for out, tensor in (("s1", "s1"), ("split:1", "s1"), ("0:add", "m")):
        got = _run(ov.convert_model(src, output=out), [X])[0]
        np.testing.assert_allclose(got, ref[tensor], rtol=1e-6)
    # a new input at a tensor: everything before it goes
    model = ov.convert_model(src, input="r[2,4]")
    assert [p.any_name for p in model.inputs] == ["r"]
    np.testing.assert_allclose(_run(model, [ref["r"]])[0], ref["y"], rtol=1e-6)
    # a new input at one input port: the tensor's other readers keep the original value
    model = ov.convert_model(src, input="x,0:neg[2,2]")
    np.testing.assert_allclose(_run(model, [X, ref["s1"]])[0], ref["y"], rtol=1e-6)
    np.testing.assert_allclose(_run(model, [X, np.zeros((2, 2), np.float32)])[0], ref["m"], rtol=1e-6)
    # a frozen value, as the Model Optimizer writes it
    model = ov.convert_model(src, input="x,split:1[2,2]{f32}->[1 2 3 4]")
    s1 = np.array([[1, 2], [3, 4]], np.float32)
    np.testing.assert_allclose(_run(model, [X])[0], ref["r"][:, :2] * s1 - s1, rtol=1e-6)


@pytest.mark.parametrize("source", ["onnx", "ir"])
def test_unknown_names_are_one_error_with_the_nearest_names(source, tmp_path):
    src = onnx_graph()
    if source == "ir":
        src = tmp_path / "m.xml"
        ov.save_model(ov.convert_model(onnx_graph()), src)
    with pytest.raises(ov.ConversionError, match=r"no tensor or node named: input 's9' \(nearest: s1, s0\); "
                                                 r"input '1:mull' \(nearest: mul\); output 'ad' \(nearest: add\)"):
        ov.convert_model(src, input="s9[2,2],1:mull", output="ad")


def _tf_graph(tmp_path):
    tf = pytest.importorskip("tensorflow")
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    @tf.function(input_signature=[tf.TensorSpec([2, 4], tf.float32, name="x")])
    def f(x):
        a, b = tf.split(tf.nn.relu(x, name="relu"), 2, axis=1, name="split")
        return tf.add(tf.multiply(a, b, name="mul"), tf.negative(b, name="neg"), name="add")

    gd = convert_variables_to_constants_v2(f.get_concrete_function()).graph.as_graph_def()
    tf.io.write_graph(gd, str(tmp_path), "g.pb", as_text=False)
    with tf.Graph().as_default() as g:
        tf.graph_util.import_graph_def(gd, name="")
    return tf, g, tmp_path / "g.pb"


def test_tensorflow_cuts(tmp_path):
    tf, g, pb = _tf_graph(tmp_path)
    with tf.compat.v1.Session(graph=g) as sess:
        s1, mul, y = sess.run(["split:1", "mul:0", "add:0"], {"x:0": X})
        s1_new = RNG.standard_normal((2, 2)).astype(np.float32)
        y_cut = sess.run("add:0", {"x:0": X, "split:1": s1_new})  # TensorFlow feeds the tensor itself
    np.testing.assert_allclose(_run(ov.convert_model(pb, output="split:1"), [X])[0], s1, rtol=1e-6)
    np.testing.assert_allclose(_run(ov.convert_model(pb, output="0:add"), [X])[0], mul, rtol=1e-6)
    model = ov.convert_model(pb, input="x,split:1[2,2]")
    np.testing.assert_allclose(_run(model, [X, s1_new])[0], y_cut, rtol=1e-6)
    model = ov.convert_model(pb, input="x,0:neg[2,2]")  # only neg reads the new input
    np.testing.assert_allclose(_run(model, [X, s1])[0], y, rtol=1e-6)
    with pytest.raises(ov.ConversionError, match=r"input 'splt:1' \(nearest: split\); output 'ad' \(nearest: add"):
        ov.convert_model(pb, input="splt:1[2,2]", output="ad")


def test_saved_model_cut(tmp_path):
    tf = pytest.importorskip("tensorflow")

    class Mod(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([2, 4], tf.float32, name="x")])
        def __call__(self, x):
            return {"y": tf.nn.sigmoid(tf.nn.relu(x, name="inner"), name="sig")}

    tf.saved_model.save(Mod(), str(tmp_path / "sm"))
    model = ov.convert_model(tmp_path / "sm", output="inner")
    np.testing.assert_allclose(_run(model, [X])[0], np.maximum(X, 0), rtol=1e-6)
    model = ov.convert_model(tmp_path / "sm", input="inner[2,4]")
    np.testing.assert_allclose(_run(model, [X])[0], 1 / (1 + np.exp(-X)), rtol=1e-6)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_tflite_cuts(tmp_path):
    tf = pytest.importorskip("tensorflow")
    keras = tf.keras
    inp = keras.Input((4,), batch_size=2, name="x")
    h = keras.layers.Dense(3, activation="relu", name="d1")(inp)
    out = keras.layers.Dense(2, name="d2")(h)
    km = keras.Model(inp, out)
    path = tmp_path / "m.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(km).convert())
    it = tf.lite.Interpreter(model_path=str(path), experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], X)
    it.invoke()
    tensors = {d["name"]: d["index"] for d in it.get_tensor_details()}
    hidden = next(n for n in tensors if "d1" in n and "Relu" in n)
    h_val = it.get_tensor(tensors[hidden])
    y_val = it.get_tensor(it.get_output_details()[0]["index"])
    np.testing.assert_allclose(_run(ov.convert_model(path, output=hidden), [X])[0], h_val, rtol=1e-5)
    model = ov.convert_model(path, input=f"{hidden}[2,3]")
    assert len(model.inputs) == 1
    np.testing.assert_allclose(_run(model, [h_val])[0], y_val, rtol=1e-5, atol=1e-6)
    with pytest.raises(ov.ConversionError, match="no tensor or node named: input 'd1_relu_typo'"):
        ov.convert_model(path, input="d1_relu_typo[2,3]")


def test_torch_cuts_at_graph_node_names():
    torch = pytest.importorskip("torch")

    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 4)

        def forward(self, x):
            return torch.relu(self.lin(x)) * 2

    m = M().eval()
    x = torch.from_numpy(X)
    with torch.no_grad():
        hidden = torch.relu(m.lin(x)).numpy()
    model = ov.convert_model(m, example_input=(x,), output="relu")  # as torch.export names the node
    np.testing.assert_allclose(_run(model, [X])[0], hidden, rtol=1e-5)
    model = ov.convert_model(m, example_input=(x,), input="relu")
    assert [p.any_name for p in model.inputs] == ["relu"]
    np.testing.assert_allclose(_run(model, [hidden])[0], hidden * 2, rtol=1e-6)
    with pytest.raises(ov.ConversionError, match=r"input 'rel' \(nearest: relu\); output 'mull' \(nearest: mul\)"):
        ov.convert_model(m, example_input=(x,), input="rel", output="mull")
