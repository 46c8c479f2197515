"""fold-input-scale: per-channel scales (and, where exact, shifts) of a weighted op's input go
into its weights; the model computes what ONNX Runtime computes on the original."""

import numpy as np
import pytest
from onnx import helper

import compiler as ov
from passes.pipeline import run_pipeline
from tests.models import make_model, ort_run

RNG = np.random.default_rng(3)


def _fold(onnx_model):
    model = ov.convert_model(onnx_model)
    run_pipeline(model.module, "fold-input-scale,fold-constants,dce")
    return model


@pytest.mark.parametrize("pads,left", [([0, 0, 0, 0], set()), ([1, 1, 1, 1], {"Subtract"})])
def test_mean_and_scale_before_a_convolution(pads, left):
    m = make_model([helper.make_node("Sub", ["x", "mean"], ["a"]), helper.make_node("Div", ["a", "std"], ["b"]),
                    helper.make_node("Conv", ["b", "w"], ["y"], pads=pads, group=1)],
                   [("x", np.float32, [1, 3, 6, 6])], [("y", np.float32, None)],
                   {"mean": np.array([1.0, 2.0, 3.0], np.float32).reshape(1, 3, 1, 1),
                    "std": np.array([2.0, 4.0, 0.5], np.float32).reshape(1, 3, 1, 1),
                    "w": RNG.standard_normal((4, 3, 3, 3)).astype(np.float32)})
    model = _fold(m)
    assert {"Subtract", "Divide"} & set(model.op_counts()) == left
    x = RNG.standard_normal((1, 3, 6, 6)).astype(np.float32)
    got = ov.compile_model(model, "REFERENCE")([x])[0]
    np.testing.assert_allclose(got, ort_run(m, {"x": x})[0], rtol=1e-4, atol=1e-4)


def test_grouped_convolution_and_matmul():
    m = make_model([helper.make_node("Mul", ["x", "k"], ["a"]),
                    helper.make_node("Conv", ["a", "w"], ["c"], group=2, pads=[0, 0, 0, 0]),
                    helper.make_node("Flatten", ["c"], ["f"]), helper.make_node("Add", ["f", "t"], ["g"]),
                    helper.make_node("MatMul", ["g", "m"], ["y"])],
                   [("x", np.float32, [1, 4, 3, 3])], [("y", np.float32, None)],
                   {"k": np.array([1.0, -2.0, 3.0, 0.5], np.float32).reshape(1, 4, 1, 1),
                    "w": RNG.standard_normal((6, 2, 2, 2)).astype(np.float32),
                    "t": RNG.standard_normal(24).astype(np.float32),
                    "m": RNG.standard_normal((24, 5)).astype(np.float32)})
    model = _fold(m)
    assert "Multiply" not in model.op_counts()
    x = RNG.standard_normal((1, 4, 3, 3)).astype(np.float32)
    got = ov.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})([x])[0]
    np.testing.assert_allclose(got, ort_run(m, {"x": x})[0], rtol=1e-4, atol=1e-4)
