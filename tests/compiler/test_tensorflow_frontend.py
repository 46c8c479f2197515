"""TensorFlow frontend: Keras models, tf.Module/tf.function, SavedModel, frozen .pb and .tflite,
converted, compiled for the CPU and compared with TensorFlow itself (and the TFLite
interpreter for quantized TFLite models, and the OpenVINO runtime for the emitted IR)."""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2  # noqa: E402

import compiler as ov  # noqa: E402
from passes.pipeline import run_pipeline  # noqa: E402
from tests.compiler import tf_models  # noqa: E402

RTOL, ATOL = 1e-4, 1e-5

warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")


def _case(name):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    if name == "sequential":
        return tf_models.sequential_cnn(), [rng.random((2, 32, 32, 3), np.float32)]
    if name == "resnet":
        return tf_models.resnet_like(), [rng.random((2, 24, 24, 3), np.float32)]
    if name == "mobilenet_v2":
        return tf_models.mobilenet_v2(), [rng.random((1, 224, 224, 3), np.float32)]
    if name == "transformer":
        return tf_models.transformer_block(), [rng.standard_normal((2, 10, 32)).astype(np.float32)]
    if name == "module":
        return tf_models.Module(), [rng.standard_normal((2, 4, 4, 6)).astype(np.float32)]
    raise KeyError(name)


NAMES = ["sequential", "resnet", "mobilenet_v2", "transformer", "module"]
KINDS = ["object", "saved_model", "frozen_pb", "tflite"]
_CACHE: dict = {}


def _model(name):
    """(model, inputs, TensorFlow's outputs in the model's output order), built once."""
    if name not in _CACHE:
        model, xs = _case(name)
        if isinstance(model, keras.Model):
            out = model(xs[0] if len(xs) == 1 else xs, training=False)
        else:
            out = model(*xs)
        if isinstance(out, dict):
            ref = [out[k].numpy() for k in sorted(out)]
        elif isinstance(out, list | tuple):
            ref = [o.numpy() for o in out]
        else:
            ref = [out.numpy()]
        _CACHE[name] = (model, xs, ref)
    return _CACHE[name]


def _concrete(model):
    if isinstance(model, keras.Model):
        specs = [tf.TensorSpec(t.shape, t.dtype, name=t.name) for t in model.inputs]
        return tf.function(lambda *a: model(a[0] if len(a) == 1 else list(a), training=False)
                           ).get_concrete_function(*specs)
    return model.__call__.get_concrete_function()


def _source(kind, model, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "object":
            return model
        if kind == "saved_model":
            d = tmp_path / "saved"
            if isinstance(model, keras.Model):
                model.export(str(d), verbose=False)
            else:
                tf.saved_model.save(model, str(d))
            return d
        if kind == "frozen_pb":
            gd = convert_variables_to_constants_v2(_concrete(model)).graph.as_graph_def()
            tf.io.write_graph(gd, str(tmp_path), "frozen.pb", as_text=False)
            return tmp_path / "frozen.pb"
        if isinstance(model, keras.Model):
            conv = tf.lite.TFLiteConverter.from_keras_model(model)
        else:
            conv = tf.lite.TFLiteConverter.from_concrete_functions([_concrete(model)], model)
        path = tmp_path / "m.tflite"
        path.write_bytes(conv.convert())
        return path


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", NAMES)
def test_model_kinds_match_tensorflow(name, kind, tmp_path):
    model, xs, want = _model(name)
    converted = ov.convert_model(_source(kind, model, tmp_path))
    got = ov.compile_model(converted, "CPU")(xs)
    assert len(got) == len(want)
    for i, w in enumerate(want):
        np.testing.assert_allclose(got[i], w, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", NAMES)
def test_converted_models_run_in_openvino(name, tmp_path):
    import openvino

    model, xs, want = _model(name)
    xml = tmp_path / "m.xml"
    ov.save_model(ov.convert_model(model), xml, compress_to_fp16=False)
    core = openvino.Core()
    compiled = core.compile_model(core.read_model(str(xml)), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    res = compiled(xs)
    for i, w in enumerate(want):
        np.testing.assert_allclose(res[i], w, rtol=RTOL, atol=ATOL)


def _tflite_run(path, x):
    """{output tensor name: value} from the TFLite interpreter."""
    it = tf.lite.Interpreter(model_path=str(path))
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return {o["name"]: it.get_tensor(o["index"]) for o in it.get_output_details()}


def _quantized(model, mode, tmp_path, shape):
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        conv.target_spec.supported_types = [tf.float16]
    elif mode == "int8":
        rng = np.random.default_rng(2)

        def data():
            for _ in range(16):
                yield [rng.random((1,) + shape, np.float32)]
        conv.representative_dataset = data
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = conv.inference_output_type = tf.int8
    path = tmp_path / f"{mode}.tflite"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path.write_bytes(conv.convert())
    return path


@pytest.mark.parametrize("mode", ["int8", "float16"])
@pytest.mark.parametrize("name", ["sequential", "resnet"])
def test_quantized_tflite_matches_the_interpreter(name, mode, tmp_path):
    model, xs, _ = _model(name)
    path = _quantized(model, mode, tmp_path, xs[0].shape[1:])
    x = xs[0][:1]
    if mode == "int8":
        it = tf.lite.Interpreter(model_path=str(path))
        s, z = it.get_input_details()[0]["quantization"]
        x = np.clip(np.round(x / s + z), -128, 127).astype(np.int8)
    wants = _tflite_run(path, x)
    results = ov.compile_model(ov.convert_model(path), "CPU")(x)
    assert len(results) == len(wants)
    for name, want in wants.items():
        got = results[name]
        assert got.dtype == want.dtype
        if mode == "int8":
            # integer outputs: TFLite's fixed-point rescaling and our float math may round an
            # intermediate value differently; allow one quantization step
            assert np.abs(got.astype(np.int32) - want.astype(np.int32)).max() <= 1, name
        else:
            # float16 weights dequantized to float32 on both sides
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def _transposes(model) -> int:
    return sum(1 for op in model.module.walk() if getattr(op, "IR_TYPE", "") == "Transpose")


def test_nhwc_transposes_are_eliminated():
    for name, at_most in (("sequential", 2), ("resnet", 2)):
        model = ov.convert_model(_model(name)[0])
        before = _transposes(model)
        run_pipeline(model.module, "simplify")
        after = _transposes(model)
        # one Transpose per spatial op and per layout change before; after, only the model's
        # input (NHWC -> NCHW) and one back to NHWC where the layout shows (before Flatten, at
        # resnet's image output) remain
        assert before >= 10 and after <= at_most, (name, before, after)


class TwoSignatures(tf.Module):
    def __init__(self):
        super().__init__()
        self.w = tf.Variable(np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
    def logits(self, x):
        return {"logits": x @ self.w}

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x"),
                                  tf.TensorSpec([], tf.float32, name="t")])
    def probs(self, x, t):
        return {"probs": tf.nn.softmax(x @ self.w / t)}


def test_saved_model_signature_choice(tmp_path):
    m = TwoSignatures()
    d = tmp_path / "two"
    tf.saved_model.save(m, str(d), signatures={"logits": m.logits, "probs": m.probs})
    with pytest.raises(ov.ConversionError, match="several signatures.*logits, probs"):
        ov.convert_model(d)
    with pytest.raises(ov.ConversionError, match="no signature 'nope'"):
        ov.convert_model(d, signature="nope")
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    model = ov.convert_model(d, signature="probs")
    assert sorted(n for p in model.inputs for n in p.names) == ["t", "x"]
    compiled = ov.compile_model(model, "CPU")
    feeds = {"x": x, "t": np.float32(2.0)}
    got = compiled(feeds)
    np.testing.assert_allclose(got["probs"], m.probs(x, 2.0)["probs"].numpy(), rtol=RTOL, atol=ATOL)
    got = ov.compile_model(ov.convert_model(d, signature="logits"), "CPU")({"x": x})
    np.testing.assert_allclose(got["logits"], m.logits(x)["logits"].numpy(), rtol=RTOL, atol=ATOL)


def test_corrupt_files_give_clear_errors(tmp_path):
    model, _, _ = _model("module")
    good_pb = _source("frozen_pb", model, tmp_path)
    good_tfl = _source("tflite", model, tmp_path)
    cases = {
        "cut.pb": good_pb.read_bytes()[: len(good_pb.read_bytes()) // 2],
        "garbage.pb": b"not a graph at all" * 10,
        "empty.pb": b"",
        "garbage.tflite": b"garbage" * 10,
        "cut.tflite": good_tfl.read_bytes()[:200],
    }
    for fname, data in cases.items():
        p = tmp_path / fname
        p.write_bytes(data)
        with pytest.raises(ov.ModelFileError) as e:
            ov.convert_model(p)
        msg = str(e.value)
        assert str(p) in msg and "\n" not in msg, msg
    r = subprocess.run([sys.executable, "-m", "compiler.cli", str(tmp_path / "garbage.tflite"), "--emit", "hl"],
                       capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                           os.path.abspath(__file__)))))
    assert r.returncode != 0 and "garbage.tflite" in r.stderr and "Traceback" not in r.stderr


def test_unsupported_ops_are_listed_together(tmp_path):
    @tf.function(input_signature=[tf.TensorSpec([3], tf.float32)])
    def f(x):
        return tf.math.betainc(x, x, x) + tf.math.igamma(x, x) + tf.math.betainc(x * 2, x, x)

    with pytest.raises(ov.UnsupportedOpsError) as e:
        ov.convert_model(f)
    assert set(e.value.ops) == {"Betainc", "Igamma"} and len(e.value.ops["Betainc"]) == 2


def test_functions_subclassed_models_and_input_overrides():
    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.d, self.ln = keras.layers.Dense(16), keras.layers.LayerNormalization()

        def call(self, x, training=False):
            return tf.nn.gelu(self.ln(self.d(x)))

    keras.utils.set_random_seed(0)
    sub = Sub()
    x = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    want = sub(x).numpy()
    with pytest.raises(ov.ConversionError, match="example_input"):
        ov.convert_model(sub)
    got = ov.compile_model(ov.convert_model(sub, example_input=x), "CPU")(x)[0]
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)

    fn = tf.function(lambda a: tf.nn.relu(a) * 2.0 + tf.reduce_sum(a, axis=-1, keepdims=True))
    model = ov.convert_model(fn, input=[1, 8])  # no signature: the shape comes from input=
    np.testing.assert_allclose(ov.compile_model(model, "CPU")(x[:1])[0], fn(x[:1]).numpy(), rtol=RTOL, atol=ATOL)
    cf = fn.get_concrete_function(tf.TensorSpec([None, 8], tf.float32, name="a"))
    model = ov.convert_model(cf, input=("a", [3, 8]))
    assert model.inputs[0].get_partial_shape().to_shape() == (3, 8)
    np.testing.assert_allclose(ov.compile_model(model, "CPU")(x)[0], fn(x).numpy(), rtol=RTOL, atol=ATOL)


def test_keras_file(tmp_path):
    model, xs, want = _model("sequential")
    path = tmp_path / "m.keras"
    model.save(str(path))
    got = ov.compile_model(ov.read_model(path), "CPU")(xs)[0]
    np.testing.assert_allclose(got, want[0], rtol=RTOL, atol=ATOL)


def test_importing_compiler_does_not_import_tensorflow():
    code = "import sys, compiler; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_cli_converts_a_saved_model_signature(tmp_path):
    m = TwoSignatures()
    d = tmp_path / "two"
    tf.saved_model.save(m, str(d), signatures={"logits": m.logits, "probs": m.probs})
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    r = subprocess.run([sys.executable, "-m", "compiler.cli", str(d), "--signature", "probs", "-o",
                        str(tmp_path / "p.xml")], capture_output=True, text=True, cwd=root)
    assert r.returncode == 0, r.stderr
    model = ov.read_model(tmp_path / "p.xml")
    assert sorted(n for p in model.inputs for n in p.names) == ["t", "x"]
    r = subprocess.run([sys.executable, "-m", "compiler.cli", str(d), "--emit", "hl"], capture_output=True,
                       text=True, cwd=root)
    assert r.returncode != 0 and "several signatures" in r.stderr and len(r.stderr.strip().splitlines()) == 1
