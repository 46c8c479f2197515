"""Model files recognized by their contents when their names do not say what they are
(`.jit`/`.torchscript` TorchScript archives, `.hdf5` or unsuffixed Keras files, ONNX, TFLite and
IR under other names): each converts and computes what its framework computes."""

import shutil

import numpy as np
import pytest

import compiler as ov
from dialects.errors import ModelFileError
from tests.models import F32, make_model, ort_run


def _run(path, x, **kwargs):
    return ov.compile_model(ov.convert_model(path, **kwargs), "CPU", F32)([x])[0]


@pytest.mark.parametrize("name", ["m.jit", "m.torchscript", "model"])
def test_torchscript_archives_by_content(tmp_path, name):
    import torch

    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh()).eval()
    x = torch.randn(2, 4)
    torch.jit.save(torch.jit.trace(net, x), str(tmp_path / name))
    with torch.no_grad():
        want = net(x).numpy()
    np.testing.assert_allclose(_run(tmp_path / name, x.numpy(), example_input=(x,)), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["m.hdf5", "m.model"])
def test_keras_hdf5_by_content(tmp_path, name):
    import keras

    net = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu")])
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    h5 = tmp_path / "saved.h5"
    net.save(str(h5))
    shutil.copy(h5, tmp_path / name)
    np.testing.assert_allclose(_run(tmp_path / name, x), net(x).numpy(), rtol=1e-5, atol=1e-6)


def test_onnx_tflite_and_ir_under_other_names(tmp_path):
    import onnx
    import tensorflow as tf
    from onnx import helper

    x = np.random.default_rng(1).standard_normal((2, 4)).astype(np.float32)
    m = make_model([helper.make_node("Sigmoid", ["x"], ["y"])], [("x", np.float32, [2, 4])], [("y", np.float32, None)])
    onnx.save(m, str(tmp_path / "model"))
    np.testing.assert_allclose(_run(tmp_path / "model", x), ort_run(m, {"x": x})[0], rtol=1e-5)

    ov.save_model(ov.convert_model(m), tmp_path / "ir.xml")
    (tmp_path / "ir.xml").rename(tmp_path / "ir.net")  # the .bin stays ir.bin, beside it
    np.testing.assert_allclose(_run(tmp_path / "ir.net", x), ort_run(m, {"x": x})[0], rtol=1e-3)

    fn = tf.function(lambda v: tf.nn.softplus(v), input_signature=[tf.TensorSpec([2, 4], tf.float32)])
    data = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn).convert()
    (tmp_path / "m.lite").write_bytes(data)
    np.testing.assert_allclose(_run(tmp_path / "m.lite", x), np.log1p(np.exp(x)), rtol=1e-5)


def test_contents_that_say_nothing_are_still_an_unknown_format(tmp_path):
    for name, data in (("m.bin", b"\x08garbage that is not protobuf"), ("m.dat", b"PK\x03\x04not a zip"),
                       ("m.model", b"")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ModelFileError, match="unknown model format"):
            ov.convert_model(tmp_path / name)
