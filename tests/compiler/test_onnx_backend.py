"""compiler.onnx_backend under ONNX's own backend test runner (onnx.backend.test.BackendTest),
on a selection of its node cases and light models (the whole node suite runs, without the
runner, in test_onnx_conformance.py). ONNX's stored expected outputs are the oracle; for the
light models (the zoo's graphs with generated weights) the runner feeds its own dummy inputs."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import onnx.backend.test
from onnx import helper

import compiler.onnx_backend as backend

SELECTED = [r"test_relu_", r"test_add_bcast_", r"test_matmul_2d_", r"test_conv_with_strides_padding_",
            r"test_maxpool_2d_pads_", r"test_softmax_axis_1_", r"test_reshape_reordered_all_dims_",
            r"test_transpose_default_", r"test_gemm_default_matrix_bias_", r"test_layer_normalization_2d_axis0_",
            r"test_sigmoid_example_", r"test_resize_upsample_sizes_nearest_"]

MODELS = [r"test_squeezenet_", r"test_shufflenet_", r"test_inception_v1_"]
# the runner writes the light models' inputs under ONNX_MODELS (~/.onnx by default)
os.environ.setdefault("ONNX_MODELS", tempfile.mkdtemp(prefix="ovcc-onnx-models-"))

backend_test = onnx.backend.test.BackendTest(backend, __name__)
for pattern in SELECTED + MODELS:
    backend_test.include(pattern + "cpu$")
globals().update(backend_test.enable_report().test_cases)


def test_devices_and_run_node():
    assert backend.supports_device("CPU") and backend.supports_device("REFERENCE")
    assert not backend.supports_device("CUDA")
    x = np.array([[-1.0, 2.0], [3.0, -4.0]], np.float32)
    (y,) = backend.run_node(helper.make_node("Relu", ["x"], ["y"]), [x])
    assert np.array_equal(y, np.maximum(x, 0))
    (s,) = backend.run_node(helper.make_node("Add", ["a", "b"], ["s"]), [x, x], device="REFERENCE")
    assert np.array_equal(s, x + x)
