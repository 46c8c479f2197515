"""IR fidelity against OpenVINO itself: IR that OpenVINO's convert_model + save_model writes
reads back with ours and computes what OpenVINO computes; our f16-compressed IR is no further
from ONNX Runtime's f32 results than OpenVINO's own f16 IR of the same model."""

import numpy as np
import onnx
import openvino
import pytest
from onnx import helper

import compiler as ov
from tests.models import make_model, ort_run


def _conv_bias_bn_model() -> onnx.ModelProto:
    """Conv (with bias) -> BatchNormalization -> Relu -> Conv -> BatchNormalization, random
    weights and statistics (the BatchNorm folding that OpenVINO does before compressing)."""
    rng = np.random.default_rng(0)
    c = 16
    def f32(a):
        return np.asarray(a, np.float32)

    inits = {"w1": f32(rng.standard_normal((c, 3, 3, 3)) / 5), "b1": f32(rng.standard_normal(c)),
             "w2": f32(rng.standard_normal((c, c, 3, 3)) / 12)}
    for k in ("1", "2"):
        inits.update({f"g{k}": f32(rng.uniform(0.5, 3, c)), f"be{k}": f32(rng.standard_normal(c)),
                      f"m{k}": f32(rng.standard_normal(c)), f"v{k}": f32(rng.uniform(1e-3, 0.05, c))})
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c1", "g1", "be1", "m1", "v1"], ["n1"]),
             helper.make_node("Relu", ["n1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c2", "g2", "be2", "m2", "v2"], ["y"])]
    return make_model(nodes, [("x", np.float32, [1, 3, 12, 12])], [("y", np.float32, [1, c, 12, 12])], inits)


def _openvino(xml, x):
    core = openvino.Core()
    return core.compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})([x])[0]


@pytest.mark.parametrize("compress", [False, True])
def test_ir_written_by_openvino_reads_back(tmp_path, compress):
    path = tmp_path / "m.onnx"
    onnx.save(_conv_bias_bn_model(), str(path))
    xml = tmp_path / "ov.xml"
    openvino.save_model(openvino.convert_model(str(path)), str(xml), compress_to_fp16=compress)
    x = np.random.default_rng(1).standard_normal((1, 3, 12, 12)).astype(np.float32)
    want = _openvino(xml, x)
    got = ov.compile_model(ov.read_model(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})([x])[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * float(np.abs(want).max()))


def test_f16_ir_is_no_further_from_f32_than_openvinos(tmp_path):
    m = _conv_bias_bn_model()
    path = tmp_path / "m.onnx"
    onnx.save(m, str(path))
    x = np.random.default_rng(1).standard_normal((1, 3, 12, 12)).astype(np.float32)
    want = ort_run(m, {"x": x})[0]
    theirs = tmp_path / "ov.xml"
    openvino.save_model(openvino.convert_model(str(path)), str(theirs), compress_to_fp16=True)
    ours = tmp_path / "ours.xml"
    ov.save_model(ov.convert_model(path), ours, compress_to_fp16=True)
    err_theirs = float(np.abs(_openvino(theirs, x) - want).max())
    err_ours = float(np.abs(_openvino(ours, x) - want).max())
    assert err_ours <= 1.1 * err_theirs, (err_ours, err_theirs)
