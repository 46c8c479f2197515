"""OpenVINO's value types, used as OpenVINO code uses them; each behaves as OpenVINO's own
object does (checked side by side where OpenVINO has the same call)."""

import numpy as np
import openvino
import pytest
from onnx import helper

import compiler as ov
from compiler import Dimension, Layout, PartialShape, Tensor, Type, layout_helpers
from tests.models import make_model, ort_run


def _mlp():
    w = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    return make_model([helper.make_node("MatMul", ["x", "w"], ["y"])], [("x", np.float32, ["n", 4])],
                      [("y", np.float32, ["n", 3])], {"w": w})


def test_types_compare_as_openvino_types_do():
    assert Type.f32 == np.float32 and Type.u8 == "u8" and Type(np.int64) == Type.i64
    assert str(Type.f32) == str(openvino.Type.f32) and Type.f16.get_type_name() == openvino.Type.f16.get_type_name()
    assert Type.f32.is_real() and not Type.u8.is_real() and Type.u8.is_integral_number()
    assert np.zeros(2, Type.f16).dtype == np.float16 and Type.boolean.to_dtype() == np.bool_


def test_dimensions_and_partial_shapes_print_as_openvino_prints_them():
    theirs = openvino.PartialShape([1, openvino.Dimension(1, 10), -1, 224])
    ours = PartialShape([1, Dimension(1, 10), -1, 224])
    assert str(ours) == str(theirs) == "[1,1..10,?,224]"
    assert ours[0].get_length() == 1 and ours[1].get_max_length() == 10 and ours[2].is_dynamic
    assert list(ours) == [1, None, None, 224] and ours.is_dynamic and PartialShape("[2,3]").to_shape() == (2, 3)


def test_layouts():
    assert Layout("nchw") == Layout("[N,C,H,W]") and Layout("NCHW").to_string() == openvino.Layout("NCHW").to_string()
    assert layout_helpers.channels_idx(Layout("NHWC")) == 3 and Layout("N...C").index("C", 5) == 4
    assert Layout("?C??").has_name("C") and not Layout("?C??").has_name("N")


def test_value_types_are_accepted_where_openvino_takes_them():
    m = _mlp()
    model = ov.convert_model(m, input=("x", PartialShape([2, 4]), Type.f32))
    assert model.input(0).get_partial_shape() == PartialShape([2, 4]) and model.input(0).get_element_type() == Type.f32
    model = ov.convert_model(m, input={"x": ([Dimension(1, 8), 4], Type.f32)})
    assert str(model.inputs[0].get_partial_shape()) == "[?,4]"

    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    compiled = ov.compile_model(model, "REFERENCE")
    want = ort_run(m, {"x": x})[0]
    np.testing.assert_allclose(compiled([Tensor(x)])[0], want, rtol=1e-6)
    request = compiled.create_infer_request()
    request.set_tensor("x", Tensor(x))
    request.infer()
    out = request.get_tensor("y")
    assert isinstance(out, Tensor) and out.element_type == Type.f32 and out.shape == (2, 3)
    np.testing.assert_allclose(out.data, want, rtol=1e-6)
    np.testing.assert_allclose(request.get_output_tensor(0).data, want, rtol=1e-6)
    assert request.latency > 0


def test_tensor_allocates_reshapes_and_copies():
    t = Tensor(Type.f32, [2, 3])
    assert t.data.shape == (2, 3) and t.get_byte_size() == 24
    src = Tensor(np.arange(4, dtype=np.float32))
    src.copy_to(t)
    assert t.shape == (4,) and t.data.tolist() == [0, 1, 2, 3]
    shared = np.zeros(3, np.float32)
    Tensor(shared).data[0] = 5
    assert shared[0] == 5 and Tensor(shared, shared_memory=False).data is not shared


def test_bad_values_are_refused():
    with pytest.raises(ValueError, match="unknown element type 'f7'"):
        Type("f7")
    with pytest.raises(ov.InputError, match="cannot read '1..x' as a dimension"):
        Dimension("1..x")
    with pytest.raises(ov.InputError, match="dimension \\? is dynamic"):
        Dimension().get_length()
