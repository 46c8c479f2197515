"""MediaPipe's custom TFLite operator Convolution2DTransposeBias (its segmentation models):
models made by rewriting the TFLite converter's TRANSPOSE_CONV into the custom operator, as
MediaPipe writes it (inputs data, weights, bias; options padding, stride_w, stride_h as int32),
checked against TensorFlow's conv2d_transpose + bias_add."""

import struct

import numpy as np
import pytest

import compiler as ov
from tests.models import F32

tf = pytest.importorskip("tensorflow")


def _custom_model(tmp_path, pad: str, stride: int, k: int, hw: int = 5, cin: int = 3, cout: int = 4):
    import flatbuffers

    from compiler.frontends.tensorflow.tflite import schema

    rng = np.random.default_rng(stride * 10 + k)
    w = rng.standard_normal((k, k, cout, cin)).astype(np.float32)
    bias = rng.standard_normal(cout).astype(np.float32)
    out_hw = hw * stride if pad == "SAME" else (hw - 1) * stride + k

    @tf.function(input_signature=[tf.TensorSpec((1, hw, hw, cin), tf.float32)])
    def f(x):
        return tf.nn.bias_add(tf.nn.conv2d_transpose(x, w, [1, out_hw, out_hw, cout], stride, pad), bias)
    fb = schema()
    data = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f).convert()
    model = fb.ModelT.InitFromObj(fb.Model.GetRootAs(data, 0))
    (op,) = model.subgraphs[0].operators
    assert model.operatorCodes[op.opcodeIndex].builtinCode == fb.BuiltinOperator.TRANSPOSE_CONV
    code = fb.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = fb.BuiltinOperator.CUSTOM
    code.customCode = b"Convolution2DTransposeBias"
    model.operatorCodes.append(code)
    shape_t, w_t, x_t, b_t = (int(i) for i in op.inputs)
    op.opcodeIndex = len(model.operatorCodes) - 1
    op.inputs = [x_t, w_t, b_t]
    op.builtinOptionsType, op.builtinOptions = 0, None
    op.customOptions = list(struct.pack("<3i", 1 if pad == "SAME" else 2, stride, stride))
    b = flatbuffers.Builder(0)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    path = tmp_path / "tcb.tflite"
    path.write_bytes(bytes(b.Output()))
    return path, f, rng.standard_normal((1, hw, hw, cin)).astype(np.float32)


@pytest.mark.parametrize("pad, stride, k", [("SAME", 2, 3), ("SAME", 2, 4), ("VALID", 2, 3), ("VALID", 1, 2),
                                            ("SAME", 3, 3)])
def test_convolution2d_transpose_bias_matches_tensorflow(tmp_path, pad, stride, k):
    path, f, x = _custom_model(tmp_path, pad, stride, k)
    want = f(x).numpy()
    got = ov.compile_model(ov.convert_model(path), "CPU", F32)([x])[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.max(np.abs(want)))
