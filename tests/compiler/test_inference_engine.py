"""Code written for older OpenVINO releases runs with `compiler` in place of `openvino`: the
Model Optimizer's `main` and the Inference Engine API (the documents' snippets, as written),
with TensorFlow's and ONNX Runtime's outputs as the oracles."""

import numpy as np
import pytest
from onnx import helper

from compiler.inference_engine import IECore, IENetwork
from compiler.tools.mo.main import main
from tests.models import make_model, ort_run

RNG = np.random.default_rng(4)
F32 = {"INFERENCE_PRECISION_HINT": "f32"}  # the CPU computes matrix products in bf16 by default here


@pytest.fixture
def keras_saved_model(tmp_path, monkeypatch):
    """A small Keras model saved as a SavedModel named `tensorflow_model` in the working directory,
    its signature taking "input" and giving "output"; and TensorFlow's own function."""
    tf = pytest.importorskip("tensorflow")
    keras = tf.keras
    net = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, activation="relu"),
                            keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(5)])

    class Serving(tf.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        @tf.function(input_signature=[tf.TensorSpec([1, 8, 8, 3], tf.float32, name="input")])
        def serve(self, x):
            return {"output": self.net(x, training=False)}

    module = Serving()
    monkeypatch.chdir(tmp_path)
    tf.saved_model.save(module, "tensorflow_model", signatures={"serving_default": module.serve})
    return lambda x: module.serve(tf.constant(x))["output"].numpy()


def test_model_optimizer_main_then_inference_engine(keras_saved_model, capsys):
    data = RNG.standard_normal((1, 8, 8, 3)).astype(np.float32)

    main(["--input_model", "tensorflow_model", "--output_dir", "ir"])
    out = capsys.readouterr().out
    assert "[ SUCCESS ] Generated IR version 11 model." in out and "tensorflow_model.xml" in out

    # the Model Optimizer names the IR after the model: ir/tensorflow_model.xml
    ie = IECore()
    net = ie.read_network(model="ir/tensorflow_model.xml", weights="ir/tensorflow_model.bin")
    exec_net = ie.load_network(network=net, device_name="CPU")
    result = exec_net.infer(inputs={"input": data})
    output = result["output"]

    # the weights went to the IR as f16 (the Model Optimizer's default): f16-rounded outputs
    np.testing.assert_allclose(output, keras_saved_model(data), rtol=2e-2, atol=2e-3)
    assert main(["--input_model", "tensorflow_model", "--output_dir", "ir32", "--compress_to_fp16=False"]) == 0
    exact = IECore().load_network(IECore().read_network("ir32/tensorflow_model.xml"), "CPU",
                                  F32).infer({"input": data})["output"]
    np.testing.assert_allclose(exact, keras_saved_model(data), rtol=1e-4, atol=1e-5)

    assert list(net.input_info) == ["input"] and list(net.outputs) == ["output"]
    info = net.input_info["input"]
    assert info.input_data.shape == [1, 8, 8, 3] and info.precision == "FP32" and info.layout == "NCHW"
    assert net.outputs["output"].shape == [1, 5] and net.outputs["output"].layout == "NC"


def test_saved_model_dir_and_mo_flags(keras_saved_model, capsys):
    code = main(["--saved_model_dir", "tensorflow_model", "--output_dir", "ir", "--model_name", "m",
                 "--data_type", "FP32", "--batch", "1", "--layout", "nhwc", "--scale", "2"])
    assert code == 0
    data = RNG.standard_normal((1, 8, 8, 3)).astype(np.float32)
    result = IECore().load_network(IECore().read_network("ir/m.xml"), "CPU", F32).infer({"input": data})
    np.testing.assert_allclose(result["output"], keras_saved_model(data / 2), rtol=1e-4, atol=1e-5)


def _onnx_mlp():
    w = RNG.standard_normal((4, 3)).astype(np.float32)
    return make_model([helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"])],
                      [("x", np.float32, [2, 4])], [("y", np.float32, [2, 3])], {"w": w})


def test_read_network_of_an_onnx_file_and_two_async_requests(tmp_path):
    m = _onnx_mlp()
    path = tmp_path / "mlp.onnx"
    path.write_bytes(m.SerializeToString())
    ie = IECore()
    net = ie.read_network(model=str(path))
    exec_net = ie.load_network(network=net, device_name="CPU", config=F32, num_requests=2)
    xs = [RNG.standard_normal((2, 4)).astype(np.float32) for _ in range(2)]
    for i, x in enumerate(xs):
        exec_net.start_async(request_id=i, inputs={"x": x})
    assert exec_net.wait() == 0
    for request, x in zip(exec_net.requests, xs):
        np.testing.assert_allclose(request.output_blobs["y"].buffer, ort_run(m, {"x": x})[0], rtol=1e-5)
        assert request.latency > 0
    # one request at a time, the old way: fill the input blob, infer, read the output blob
    request = exec_net.requests[0]
    request.input_blobs["x"].buffer[:] = xs[1]
    request.infer({"x": xs[1]})
    np.testing.assert_allclose(request.output_blobs["y"].buffer, ort_run(m, {"x": xs[1]})[0], rtol=1e-5)
    # a float64 array is copied into the FP32 blob, as the old API did
    np.testing.assert_allclose(exec_net.infer({"x": xs[0].astype(np.float64)})["y"], ort_run(m, {"x": xs[0]})[0],
                               rtol=1e-5)


def test_input_precision_and_network_helpers(tmp_path):
    m = _onnx_mlp()
    path = tmp_path / "mlp.onnx"
    path.write_bytes(m.SerializeToString())
    ie = IECore()
    net = ie.read_network(str(path))
    net.input_info["x"].precision = "U8"  # feed bytes: converted to f32 inside the network
    assert net.input_info["x"].precision == "U8"
    x = RNG.integers(0, 255, (2, 4)).astype(np.uint8)
    got = ie.load_network(net, "CPU", F32).infer({"x": x})["y"]
    np.testing.assert_allclose(got, ort_run(m, {"x": x.astype(np.float32)})[0], rtol=1e-5)
    net.serialize(str(tmp_path / "u8.xml"), str(tmp_path / "u8.bin"))
    back = ie.read_network(str(tmp_path / "u8.xml"))
    assert back.input_info["x"].precision == "U8"
    net.batch_size = 5
    assert net.batch_size == 5 and net.inputs["x"].shape == [5, 4]
    assert ie.get_metric("CPU", "FULL_DEVICE_NAME") and "CPU" in ie.available_devices
    assert set(ie.query_network(net, "CPU").values()) == {"CPU"}
    ie.set_config({"CPU_THREADS_NUM": "1"}, "CPU")
    assert ie.get_config("CPU", "CPU_THREADS_NUM") == "1"
    assert isinstance(ie.load_network(net, "CPU").get_exec_graph_info(), IENetwork)


@pytest.mark.parametrize("flag,message", [
    ("--tensorflow_use_custom_operations_config", "--tensorflow_use_custom_operations_config is not supported: it "
                                                  "configured the old TensorFlow frontend's subgraph replacements"),
    ("--input_meta_info", "--input_meta_info is not supported: no Model Optimizer release had it"),
    ("--disable_fusing", "--disable_fusing is not supported: choose the optimizations with ovcc -O0/-O1/-O2"),
    ("--transformations_config", "--transformations_config is not supported"),
    ("--k", "--k is not supported: register the custom layers as extensions"),
])
def test_refused_flags_say_what_to_use_instead(flag, message, tmp_path, capsys):
    path = tmp_path / "mlp.onnx"
    path.write_bytes(_onnx_mlp().SerializeToString())
    code = main(["--input_model", str(path), flag, "x.json"])
    err = capsys.readouterr().err.strip()
    assert code != 0 and message in err and len(err.splitlines()) == 1


def test_python_dash_m(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "mlp.onnx"
    path.write_bytes(_onnx_mlp().SerializeToString())
    run = subprocess.run([sys.executable, "-m", "compiler.tools.mo", "--input_model", str(path), "--output_dir",
                          str(tmp_path / "ir")], capture_output=True, text=True)
    assert run.returncode == 0 and "[ SUCCESS ] XML file:" in run.stdout
    assert (tmp_path / "ir" / "mlp.xml").is_file() and (tmp_path / "ir" / "mlp.bin").is_file()


def test_bad_model_and_unknown_flag_are_one_line(tmp_path, capsys):
    assert main(["--input_model", str(tmp_path / "missing.onnx")]) == 1
    assert capsys.readouterr().err.strip().startswith("[ ERROR ]  ")
    assert main(["--input_model", "x.onnx", "--no_such_flag"]) == 2
    assert "unrecognized arguments: --no_such_flag" in capsys.readouterr().err


def test_tf1_meta_graph_with_checkpoint(tmp_path, capsys):
    tf = pytest.importorskip("tensorflow")
    v1 = tf.compat.v1
    g = tf.Graph()
    x_val = RNG.standard_normal((2, 3)).astype(np.float32)
    with g.as_default():
        x = v1.placeholder(tf.float32, [2, 3], name="x")
        w = v1.get_variable("w", initializer=RNG.standard_normal((3, 2)).astype(np.float32))
        y = tf.nn.relu(tf.matmul(x, w), name="y")
        saver = v1.train.Saver()
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            want = sess.run(y, {x: x_val})
            saver.save(sess, str(tmp_path / "ckpt" / "model"))
    assert main(["--input_meta_graph", str(tmp_path / "ckpt" / "model.meta"), "--output_dir", str(tmp_path / "ir"),
                 "--compress_to_fp16=False"]) == 0
    net = IECore().read_network(str(tmp_path / "ir" / "model.xml"))
    result = IECore().load_network(net, "CPU", F32).infer({"x": x_val})
    np.testing.assert_allclose(result["y"], want, rtol=1e-5)


def test_caffe_through_input_proto(tmp_path):
    pytest.importorskip("cv2")
    from tests.compiler.caffe_nets import opencv_run, write_net

    rng = np.random.default_rng(6)
    w, b = rng.standard_normal((2, 3, 3, 3)).astype(np.float32), rng.standard_normal(2).astype(np.float32)
    proto, model = write_net(tmp_path / "caffe", 'input: "data" input_shape { dim: 1 dim: 3 dim: 6 dim: 6 }\n'
                             'layer { name: "c" type: "Convolution" bottom: "data" top: "c" '
                             "convolution_param { num_output: 2 kernel_size: 3 } }", {"c": [w, b]})
    assert main(["--input_model", str(model), "--input_proto", str(proto), "--output_dir", str(tmp_path / "ir"),
                 "--mean_values", "[10,20,30]", "--compress_to_fp16=False"]) == 0
    x = (RNG.standard_normal((1, 3, 6, 6)) * 20 + 20).astype(np.float32)
    net = IECore().read_network(str(tmp_path / "ir" / "net.xml"))
    got = IECore().load_network(net, "CPU", F32).infer({"data": x})["c"]
    want = opencv_run(proto, model, {"data": x - np.array([10, 20, 30], np.float32).reshape(1, 3, 1, 1)}, ["c"])[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
