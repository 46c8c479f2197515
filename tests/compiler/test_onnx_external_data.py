"""ONNX external data: read relative to the model file's directory wherever the tensor sits
(subgraph initializers included), never from outside it; ONNX Runtime is the oracle."""

import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import compiler as ov
from tests.models import F32

WANT = np.arange(4, dtype=np.float32)


def ort_run(path, feeds):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"]).run(None, feeds)


def _external(name: str, location: str, n: int = 4) -> TensorProto:
    t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=[n])
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", str(4 * n))):
        e = t.external_data.add()
        e.key, e.value = k, v
    return t


def _if_model(location: str) -> onnx.ModelProto:
    """y = If(c) then w (an initializer of the then-branch, stored in `location`) else zeros."""
    then = helper.make_graph([helper.make_node("Identity", ["w"], ["a"])], "then", [],
                             [helper.make_tensor_value_info("a", TensorProto.FLOAT, [4])],
                             initializer=[_external("w", location)])
    zeros = numpy_helper.from_array(np.zeros(4, np.float32))
    other = helper.make_graph([helper.make_node("Constant", [], ["b"], value=zeros)], "else", [],
                              [helper.make_tensor_value_info("b", TensorProto.FLOAT, [4])])
    g = helper.make_graph([helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)], "g",
                          [helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


@pytest.fixture
def layout(tmp_path, monkeypatch):
    """model/ holds the model and its w.bin; the current directory holds a decoy w.bin."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "w.bin").write_bytes(WANT.tobytes())
    (tmp_path / "w.bin").write_bytes(np.full(4, 777, np.float32).tobytes())
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_subgraph_initializer_is_read_beside_the_model_as_onnxruntime_does(layout):
    path = layout / "model" / "m.onnx"
    onnx.save(_if_model("w.bin"), str(path))
    c = {"c": np.array(True)}
    want = ort_run(str(path), c)[0]
    np.testing.assert_array_equal(want, WANT)
    got = ov.compile_model(ov.convert_model(path), "REFERENCE")(c)[0]
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(ov.compile_model(ov.read_model(path), "CPU", F32)(c)[0], want)


def test_in_memory_model_with_external_data_is_refused(layout):
    # ONNX Runtime reads it relative to the current directory (here: the decoy); we refuse.
    with pytest.raises(ov.ModelFileError, match="'w'.*external file 'w.bin'.*in-memory"):
        ov.convert_model(_if_model("w.bin"))


@pytest.mark.parametrize("location", ["../w.bin", "sub/../../w.bin", "ABS", "link.bin", "", "nul\0.bin"])
def test_subgraph_external_data_may_not_leave_the_model_directory(layout, location):
    if location == "ABS":
        location = str(layout / "w.bin")
    if location == "link.bin":
        os.symlink(layout / "w.bin", layout / "model" / "link.bin")
    path = layout / "model" / "m.onnx"
    onnx.save(_if_model(location), str(path))
    with pytest.raises(ov.ModelFileError) as e:
        ov.convert_model(path)
    assert str(path) in str(e.value) and "'w'" in str(e.value)


def test_external_data_beyond_the_end_of_its_file(layout):
    m = _if_model("w.bin")
    then = next(a.g for a in m.graph.node[0].attribute if a.name == "then_branch")
    then.initializer[0].external_data[1].value = "8"  # offset 8 + length 16 > 16
    path = layout / "model" / "m.onnx"
    onnx.save(m, str(path))
    with pytest.raises(ov.ModelFileError, match="beyond the end of 'w.bin'"):
        ov.convert_model(path)
