"""PrePostProcessor: every step becomes `ov` ops that compute what the same preprocessing
written with numpy/OpenCV computes before ONNX Runtime runs the original model; OpenVINO's own
PrePostProcessor on the same ONNX file and OpenVINO running our IR give the same outputs."""

import cv2
import numpy as np
import openvino
import pytest
from onnx import helper
from openvino import preprocess as ovp

import compiler as ov
from compiler.preprocess import ColorFormat, PrePostProcessor, ResizeAlgorithm
from compiler.types import Layout, Type
from tests.models import make_model, ort_run

F32 = {"INFERENCE_PRECISION_HINT": "f32"}
RNG = np.random.default_rng(7)
W = RNG.standard_normal((4, 3, 3, 3)).astype(np.float32)


def conv_model(h=8, w=8):
    return make_model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])],
                      [("x", np.float32, [1, 3, h, w])], [("y", np.float32, [1, 4, h, w])], {"w": W})


def identity_model(shape, dtype=np.uint8):
    return make_model([helper.make_node("Identity", ["x"], ["y"])], [("x", dtype, shape)], [("y", dtype, shape)])


def openvino_ppp(onnx_model, tmp_path, configure):
    """OpenVINO's own PrePostProcessor on the ONNX model (configured the same way)."""
    path = tmp_path / "orig.onnx"
    path.write_bytes(onnx_model.SerializeToString())
    m = openvino.Core().read_model(str(path))
    p = ovp.PrePostProcessor(m)
    configure(p, openvino, ovp)
    return openvino.Core().compile_model(p.build(), "CPU", F32)


def run_our_ir(model, tmp_path, inputs):
    xml = tmp_path / "pp.xml"
    ov.save_model(model, xml, compress_to_fp16=False)
    cm = openvino.Core().compile_model(str(xml), "CPU", F32)
    return [cm(inputs)[i] for i in range(len(cm.outputs))]


def bgr_steps(p, T, alg, size):
    p.input().tensor().set_element_type(T.Type.u8).set_layout(T.Layout("NHWC")) \
        .set_color_format(T.preprocess.ColorFormat.BGR).set_spatial_static_shape(*size)
    p.input().model().set_layout(T.Layout("NCHW"))
    p.input().preprocess().convert_element_type(T.Type.f32).convert_color(T.preprocess.ColorFormat.RGB) \
        .resize(getattr(T.preprocess.ResizeAlgorithm, alg)).mean([100.0, 110.0, 120.0]).scale([50.0, 60.0, 70.0])


class _Ours:  # what `bgr_steps` calls `T` when it configures our PrePostProcessor
    Type, Layout = Type, Layout

    class preprocess:  # noqa: N801
        ColorFormat, ResizeAlgorithm = ColorFormat, ResizeAlgorithm


class _Theirs:
    Type, Layout, preprocess = openvino.Type, openvino.Layout, ovp


@pytest.mark.parametrize("alg,size,cv_flag", [("RESIZE_LINEAR", (12, 10), cv2.INTER_LINEAR),
                                              ("RESIZE_LINEAR", (5, 6), cv2.INTER_LINEAR),
                                              ("RESIZE_CUBIC", (5, 6), cv2.INTER_CUBIC),
                                              ("RESIZE_NEAREST", (12, 10), None)])
def test_u8_nhwc_bgr_with_mean_scale_resize(alg, size, cv_flag, tmp_path):
    onnx_model = conv_model()
    model = ov.convert_model(onnx_model)
    p = PrePostProcessor(model)
    bgr_steps(p, _Ours, alg, size)
    model = p.build()
    assert model.inputs[0].get_element_type() == Type.u8 and model.inputs[0].shape == (1, *size, 3)
    img = RNG.integers(0, 256, (1, *size, 3), dtype=np.uint8)
    ours = ov.compile_model(model, "CPU", F32)([img])[0]

    theirs = openvino_ppp(onnx_model, tmp_path, lambda q, T, _: bgr_steps(q, _Theirs, alg, size))([img])[0]
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(run_our_ir(model, tmp_path, [img])[0], ours, rtol=1e-4, atol=1e-4)
    if cv_flag is not None:  # OpenCV resizes as Interpolate does (half-pixel centers, border clamped)
        x = cv2.resize(img[0].astype(np.float32), (8, 8), interpolation=cv_flag)[:, :, ::-1]
        x = ((x - [100, 110, 120]) / [50, 60, 70]).astype(np.float32).transpose(2, 0, 1)[None]
        np.testing.assert_allclose(ours, ort_run(onnx_model, {"x": x})[0], rtol=1e-4, atol=1e-4)


def test_mean_and_scale_fold_into_the_first_convolution():
    model = ov.convert_model(conv_model())
    p = PrePostProcessor(model)
    p.input().tensor().set_layout(Layout("NCHW"))
    p.input().preprocess().mean([1.0, 2.0, 3.0]).scale([2.0, 4.0, 8.0])
    model = p.build()
    from passes import PIPELINES
    from passes.pipeline import run_pipeline

    run_pipeline(model.module, PIPELINES["O1"])
    assert "Divide" not in model.op_counts() and "Multiply" not in model.op_counts()


def _spec_yuv_to_rgb(y, u, v):
    """The NV12toRGB specification in float32 (u, v already at full resolution)."""
    f = np.float32
    c, d, e = y.astype(f) - f(16), u.astype(f) - f(128), v.astype(f) - f(128)
    r = f(1.164) * c + f(1.596) * e
    g = f(1.164) * c - f(0.391) * d - f(0.813) * e
    b = f(1.164) * c + f(2.018) * d
    return np.rint(np.clip(np.stack([r, g, b], -1), 0, 255)).astype(np.uint8)


def _up(p):
    return np.repeat(np.repeat(p, 2, 0), 2, 1)


def _yuv_planes(fmt, h, w):
    """Random planes of an image in `fmt`, and its Y, U, V at full resolution."""
    y = RNG.integers(16, 236, (h, w), dtype=np.uint8)
    u, v = (RNG.integers(16, 240, (h // 2, w // 2), dtype=np.uint8) for _ in range(2))
    if fmt == "NV12_SINGLE_PLANE":
        planes = [np.concatenate([y, np.stack([u, v], -1).reshape(h // 2, w)])[None, :, :, None]]
    elif fmt == "NV12_TWO_PLANES":
        planes = [y[None, :, :, None], np.stack([u, v], -1)[None]]
    elif fmt == "I420_SINGLE_PLANE":
        planes = [np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)]).reshape(1, h * 3 // 2, w, 1)]
    else:
        planes = [y[None, :, :, None], u[None, :, :, None], v[None, :, :, None]]
    return planes, (y, _up(u), _up(v))


@pytest.mark.parametrize("fmt", ["NV12_SINGLE_PLANE", "NV12_TWO_PLANES", "I420_SINGLE_PLANE", "I420_THREE_PLANES"])
def test_nv12_and_i420_inputs(fmt, tmp_path):
    onnx_model = conv_model(6, 8)

    def steps(p, T, pre):
        p.input().tensor().set_element_type(T.Type.u8).set_color_format(getattr(pre.ColorFormat, fmt))
        p.input().model().set_layout(T.Layout("NCHW"))
        p.input().preprocess().convert_color(pre.ColorFormat.BGR).convert_element_type(T.Type.f32)

    model = ov.convert_model(onnx_model)
    p = PrePostProcessor(model)
    steps(p, _Ours, _Ours.preprocess)
    model = p.build()
    planes, (y, u, v) = _yuv_planes(fmt, 6, 8)
    assert [p.shape for p in model.inputs] == [pl.shape for pl in planes]
    ours = ov.compile_model(model, "CPU", F32)(planes)[0]
    bgr = _spec_yuv_to_rgb(y, u, v)[:, :, ::-1]
    want = ort_run(onnx_model, {"x": bgr.astype(np.float32).transpose(2, 0, 1)[None].copy()})[0]
    np.testing.assert_allclose(ours, want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(openvino_ppp(onnx_model, tmp_path, steps)(planes)[0], ours, rtol=1e-4, atol=1e-4)

    # OpenVINO runs our IR's decomposition with its own fused kernels: a pixel that lies on a
    # rounding tie (e.g. 106.5) may come out one step away
    model = ov.convert_model(identity_model([1, 6, 8, 3]))
    p = PrePostProcessor(model)
    p.input().tensor().set_color_format(getattr(ColorFormat, fmt))
    p.input().preprocess().convert_color(ColorFormat.BGR)
    model = p.build()
    ours = ov.compile_model(model, "CPU", F32)(planes)[0].astype(int)
    np.testing.assert_array_equal(ours[0], bgr)
    theirs = run_our_ir(model, tmp_path, planes)[0].astype(int)
    assert np.abs(theirs - ours).max() <= 1 and (theirs != ours).mean() < 0.05


def test_nv12_conversion_agrees_with_opencv():
    model = ov.convert_model(identity_model([1, 16, 16, 3]))
    p = PrePostProcessor(model)
    p.input().tensor().set_color_format(ColorFormat.NV12_SINGLE_PLANE)
    p.input().preprocess().convert_color(ColorFormat.RGB)
    compiled = ov.compile_model(p.build(), "CPU", F32)
    planes, _ = _yuv_planes("NV12_SINGLE_PLANE", 16, 16)
    ours = compiled(planes)[0][0].astype(int)
    want = cv2.cvtColor(planes[0][0, :, :, 0], cv2.COLOR_YUV2RGB_NV12).astype(int)
    assert np.abs(ours - want).max() <= 1  # OpenCV's fixed-point BT.601 rounds a few pixels the other way
    assert (ours != want).mean() < 0.02


def test_two_plane_names_and_gray(tmp_path):
    model = ov.convert_model(identity_model([1, 4, 6, 1]))
    p = PrePostProcessor(model)
    p.input().tensor().set_color_format(ColorFormat.NV12_TWO_PLANES, ["y", "uv"])
    p.input().preprocess().convert_color(ColorFormat.GRAY)
    model = p.build()
    assert [sorted(i.names) for i in model.inputs] == [["x/y"], ["x/uv"]]
    y = RNG.integers(0, 256, (1, 4, 6, 1), dtype=np.uint8)
    out = ov.compile_model(model, "REFERENCE")({"x/y": y, "x/uv": np.zeros((1, 2, 3, 2), np.uint8)})[0]
    np.testing.assert_array_equal(out, y)


def test_rgbx_crop_reverse_layout_dims_and_custom(tmp_path):
    """RGBX -> BGR, a crop, convert_layout by dims and a custom step, against numpy + ONNX
    Runtime (and our IR in OpenVINO)."""
    onnx_model = conv_model(4, 5)
    model = ov.convert_model(onnx_model)
    p = PrePostProcessor(model)
    p.input().tensor().set_element_type(Type.u8).set_color_format(ColorFormat.RGBX).set_shape([1, 6, 7, 4])
    p.input().preprocess().convert_color(ColorFormat.BGR).crop([0, 1, 2, 0], [1, 5, 7, 3]) \
        .convert_element_type(Type.f32).custom(lambda x: ov.opset.multiply(x, np.float32(0.5))) \
        .convert_layout([0, 3, 1, 2])
    model = p.build()
    img = RNG.integers(0, 256, (1, 6, 7, 4), dtype=np.uint8)
    ours = ov.compile_model(model, "CPU", F32)([img])[0]
    x = (img[:, 1:5, 2:7, 2::-1].astype(np.float32) * 0.5).transpose(0, 3, 1, 2).copy()
    np.testing.assert_allclose(ours, ort_run(onnx_model, {"x": x})[0], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(run_our_ir(model, tmp_path, [img])[0], ours, rtol=1e-4, atol=1e-4)


def test_dynamic_spatial_input_resized_to_the_model():
    onnx_model = conv_model()
    model = ov.convert_model(onnx_model)
    p = PrePostProcessor(model)
    p.input().tensor().set_layout(Layout("NCHW")).set_spatial_dynamic_shape()
    p.input().preprocess().resize(ResizeAlgorithm.RESIZE_LINEAR)
    model = p.build()
    assert str(model.inputs[0].get_partial_shape()) == "[1,3,?,?]"
    compiled = ov.compile_model(model, "CPU", F32)
    for h, w in ((16, 16), (8, 12)):
        img = RNG.standard_normal((1, 3, h, w)).astype(np.float32)
        x = cv2.resize(img[0].transpose(1, 2, 0), (8, 8), interpolation=cv2.INTER_LINEAR).transpose(2, 0, 1)[None]
        np.testing.assert_allclose(compiled([img])[0], ort_run(onnx_model, {"x": x})[0], rtol=1e-4, atol=1e-4)


def test_postprocessing_type_and_layout():
    onnx_model = conv_model()
    model = ov.convert_model(onnx_model)
    p = PrePostProcessor(model)
    p.output().model().set_layout(Layout("NCHW"))
    p.output().tensor().set_layout(Layout("NHWC")).set_element_type(Type.f16)
    p.output().postprocess().custom(lambda y: ov.opset.relu(y))
    model = p.build()
    assert model.outputs[0].get_element_type() == Type.f16 and model.outputs[0].shape == (1, 8, 8, 4)
    assert model.outputs[0].names == {"y"}
    x = RNG.standard_normal((1, 3, 8, 8)).astype(np.float32)
    want = np.maximum(ort_run(onnx_model, {"x": x})[0], 0).transpose(0, 2, 3, 1).astype(np.float16)
    np.testing.assert_allclose(ov.compile_model(model, "REFERENCE")([x])[0], want, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("configure,message", [
    (lambda p: p.input().model().set_layout("NCHW") and p.input().preprocess().mean([1.0, 2.0]),
     "input 'x': mean: 2 values for 3 channels"),
    (lambda p: p.input().preprocess().mean([1.0, 2.0, 3.0]),
     "input 'x': mean needs the channels \\(C\\) dimension, and the layout \\(none\\) does not name it"),
    (lambda p: p.input().tensor().set_element_type(Type.u8).set_layout(Layout("NCHW")) and
     p.input().preprocess().scale(2.0),
     "input 'x': scale needs a floating-point tensor, this one is u8"),
    (lambda p: p.input().preprocess().reverse_channels(),
     "input 'x': reverse_channels needs the channels \\(C\\) dimension"),
    (lambda p: p.input().tensor().set_layout(Layout("NCHW")) and p.input().preprocess().resize(
        ResizeAlgorithm.RESIZE_LINEAR, 4, 4),
     "after preprocessing the tensor is \\[1,3,4,4\\], the model expects \\[1,3,8,8\\]"),
    (lambda p: p.input().tensor().set_color_format(ColorFormat.NV12_TWO_PLANES),
     "input 'x': NV12_TWO_PLANES needs an even image height and width, not 3x8"),
    (lambda p: p.input().model().set_layout("NCHW") and p.input().tensor().set_color_format(
        ColorFormat.NV12_TWO_PLANES), "the image still has 2 planes"),
    (lambda p: p.input().tensor().set_color_format(ColorFormat.RGB) and p.input().preprocess().convert_color(
        ColorFormat.NV12_SINGLE_PLANE), "convert_color\\(NV12_SINGLE_PLANE\\): cannot convert RGB to NV12"),
    (lambda p: p.input().preprocess().custom(lambda x: 1 / 0), "custom step '<lambda>' raised ZeroDivisionError"),
    (lambda p: p.input("nope"), "the model has no input named 'nope'"),
])
def test_bad_preprocessing_is_one_clear_error(configure, message):
    model = ov.convert_model(conv_model())
    p = PrePostProcessor(model)
    with pytest.raises(ov.ConversionError, match=message):
        configure(p)
        p.build()


def test_bad_layout_letters_are_refused():
    with pytest.raises(ov.InputError, match="layout 'NC-W': '-' is not a dimension name"):
        Layout("NC-W")
    with pytest.raises(ov.InputError, match="dimension C appears twice"):
        Layout("NCHC")
