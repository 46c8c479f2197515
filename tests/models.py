"""Models the tests share: the light model zoo (compiler.samples) and small models built with
onnx.helper, and ONNX Runtime as the oracle."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from compiler.samples import LIGHT_DIR, LIGHT_MODELS, light_input, light_model, randomize_weights  # noqa: F401

# Tests that compare native outputs at f32 tolerances (rtol 1e-4) compile in f32 explicitly: on a
# CPU with native bf16 the default precision of Convolution/MatMul is bf16, as in OpenVINO.
F32 = {"INFERENCE_PRECISION_HINT": "f32"}


def ort_run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def make_model(nodes, inputs, outputs, initializers=(), opset: int = 17, name: str = "test") -> onnx.ModelProto:
    """A one-graph ONNX model from helper-made nodes and (name, dtype, shape) inputs/outputs."""
    def vi(n, dt, shape):
        return helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(np.dtype(dt)), shape)

    g = helper.make_graph(nodes, name, [vi(*i) for i in inputs], [vi(*o) for o in outputs],
                          [numpy_helper.from_array(np.asarray(v), k) for k, v in dict(initializers).items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m
