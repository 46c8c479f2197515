"""Discrete Fourier transforms: OpenVINO's DFT/IDFT/RDFT/IRDFT ops against the real OpenVINO
runtime (through the IR ovcc writes), and ONNX's DFT/STFT against ONNX's reference evaluator
and ONNX Runtime. Tolerance: the transforms are f32 dot products of up to a few hundred terms
against float64 FFTs, so errors are relative to the output's magnitude (1e-5 of its maximum)."""

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import compiler as ov
from compiler.frontends.builder import GraphBuilder
from compiler.model import Model
from dialects.errors import CompileError
from dialects.ov import create
from tests.models import F32


def close(got, want):
    assert got.shape == want.shape, (got.shape, want.shape)
    assert np.max(np.abs(got - want)) <= 1e-5 * np.max(np.abs(want)), np.max(np.abs(got - want))


def ov_model(op_type, shape, axes, sizes):
    b = GraphBuilder()
    ins = [b.add_input(["x"], shape, np.float32), b.const(np.array(axes, np.int64))]
    if sizes is not None:
        ins.append(b.const(np.array(sizes, np.int64)))
    return Model(b.finish([(b.add(create(op_type, ins)).outputs[0], ["y"])], name=op_type), op_type)


OV_CASES = [("DFT", (3, 8, 2), [1], None), ("DFT", (3, 8, 2), [1], [11]), ("DFT", (3, 8, 2), [1], [5]),
            ("DFT", (4, 6, 5, 2), [0, 2], None), ("DFT", (2, 37, 3, 2), [1], None), ("IDFT", (3, 8, 2), [-1], None),
            ("IDFT", (4, 6, 5, 2), [1, 0], [7, -1]), ("RDFT", (3, 8), [1], None), ("RDFT", (4, 6, 5), [0, 2], None),
            ("RDFT", (2, 400), [1], [256]), ("IRDFT", (3, 5, 2), [1], None), ("IRDFT", (3, 5, 2), [1], [9]),
            ("IRDFT", (4, 6, 5, 2), [0, 2], None), ("IRDFT", (4, 6, 5, 2), [2, 1], [4, 7]),
            ("IRDFT", (2, 257, 2), [1], None)]


@pytest.mark.parametrize("op_type, shape, axes, sizes", OV_CASES)
def test_dft_ops_match_openvino(tmp_path, op_type, shape, axes, sizes):
    """Complex and real, forward and inverse, several axes in any order, signal sizes that pad,
    trim or keep (-1); the last dims of B > 1 store through the strided path."""
    import openvino

    x = np.random.default_rng(len(shape) + sum(shape)).standard_normal(shape).astype(np.float32)
    m = ov_model(op_type, shape, axes, sizes)
    ov.save_model(m, tmp_path / "m.xml")
    want = openvino.Core().compile_model(str(tmp_path / "m.xml"), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})([x])[0]
    close(ov.compile_model(ov.read_model(tmp_path / "m.xml"), "CPU")([x])[0], want)  # default precision too
    close(ov.compile_model(m, "REFERENCE")([x])[0], want)


def test_rdft_padding_past_the_input_runs_where_openvino_refuses():
    """OpenVINO's CPU plugin refuses an RDFT signal_size beyond the input ("not supported yet");
    numpy's rfft pads with zeros, as the op's specification says."""
    x = np.random.default_rng(3).standard_normal((3, 9)).astype(np.float32)
    got = ov.compile_model(ov_model("RDFT", x.shape, [1], [12]), "CPU")([x])[0]
    close(got, np.stack([np.fft.rfft(x, 12).real, np.fft.rfft(x, 12).imag], -1).astype(np.float32))


def test_a_transform_too_long_for_its_matrix_is_a_clear_refusal():
    with pytest.raises(CompileError, match="lengths up to about 2048"):
        ov.compile_model(ov_model("RDFT", (1, 8192), [1], None), "CPU")


def dft_model(shape, opset, axis=None, n=None, inverse=0, onesided=0):
    inputs, inits = ["x", "n" if n is not None else ""], []
    if n is not None:
        inits.append(numpy_helper.from_array(np.array(n, np.int64), "n"))
    attrs = dict(inverse=inverse, onesided=onesided)
    if opset >= 20 and axis is not None:
        inputs.append("ax")
        inits.append(numpy_helper.from_array(np.array(axis, np.int64), "ax"))
    elif axis is not None:
        attrs["axis"] = axis
    while inputs[-1] == "":
        inputs.pop()
    g = helper.make_graph([helper.make_node("DFT", inputs, ["y"], **attrs)], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=9)


def stft_model(shape, step, wlen=None, flen=None, onesided=1):
    inits, ins = [numpy_helper.from_array(np.array(step, np.int64), "s")], ["x", "s", "", ""]
    if wlen is not None:
        inits.append(numpy_helper.from_array(np.hanning(wlen).astype(np.float32), "w"))
        ins[2] = "w"
    if flen is not None:
        inits.append(numpy_helper.from_array(np.array(flen, np.int64), "fl"))
        ins[3] = "fl"
    while ins[-1] == "":
        ins.pop()
    g = helper.make_graph([helper.make_node("STFT", ins, ["y"], onesided=onesided)], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


ONNX_CASES = [
    ("dft", dict(shape=[2, 16, 1], opset=17)), ("dft", dict(shape=[2, 16, 2], opset=17)),
    ("dft", dict(shape=[2, 16, 1], opset=17, onesided=1)), ("dft", dict(shape=[2, 16, 2], opset=17, inverse=1)),
    ("dft", dict(shape=[2, 9, 2], opset=17, inverse=1, onesided=1)),
    ("dft", dict(shape=[3, 10, 4, 1], opset=20, axis=1, n=13)), ("dft", dict(shape=[3, 10, 4, 2], opset=20)),
    ("dft", dict(shape=[3, 10, 4, 1], opset=20, axis=-3, n=6, onesided=1)),
    ("dft", dict(shape=[2, 16, 2], opset=17, onesided=1)),  # ONNX Runtime refuses: complex one-sided
    ("stft", dict(shape=[2, 64, 1], step=8, wlen=16)), ("stft", dict(shape=[1, 100, 1], step=10, wlen=20, flen=32)),
    ("stft", dict(shape=[1, 100, 2], step=7, flen=24, onesided=0)),
    ("stft", dict(shape=[2, 400, 1], step=160, wlen=400, flen=400)),
    ("stft", dict(shape=[1, 50, 1], step=5, wlen=30, flen=20))]


@pytest.mark.parametrize("kind, kw", ONNX_CASES)
def test_onnx_dft_and_stft_match_onnx_reference_and_onnxruntime(kind, kw):
    """At the default precision (bf16 on CPUs that have it: the transforms stay f32)."""
    from onnx.reference import ReferenceEvaluator

    m = dft_model(**kw) if kind == "dft" else stft_model(**kw)
    x = np.random.default_rng(sum(kw["shape"])).standard_normal(kw["shape"]).astype(np.float32)
    want = ReferenceEvaluator(m).run(None, {"x": x})[0]
    got = ov.compile_model(ov.convert_model(m), "CPU")([x])[0]
    close(got, want)
    close(ov.compile_model(ov.convert_model(m), "CPU", F32)([x])[0], want)
    try:
        from tests.models import ort_run

        theirs = ort_run(m, {"x": x})[0]
    except Exception as e:  # noqa: BLE001 - cases ONNX Runtime does not run (complex one-sided, short windows)
        assert "one-sided" in str(e) or "STFT" in str(e), e
        return
    # ONNX Runtime's own error against the float64 reference bounds the comparison
    bound = 2 * np.max(np.abs(theirs - want)) + 1e-5 * np.max(np.abs(want))
    np.testing.assert_allclose(got, theirs, rtol=0, atol=bound)


def test_a_dft_length_from_an_input_is_a_clear_refusal():
    m = dft_model([2, 16, 1], 17)
    m.graph.node[0].input.append("len")
    m.graph.input.append(helper.make_tensor_value_info("len", TensorProto.INT64, []))
    with pytest.raises(ov.OvccError, match="dft_length must be constant"):
        ov.convert_model(m)



def _node_cases(*ops):
    import warnings

    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [c for c in collect_testcases() if any(n.op_type in ops for n in c.model.graph.node)]


WINDOW_OPS = ("HannWindow", "HammingWindow", "BlackmanWindow", "MelWeightMatrix", "DFT", "STFT")


@pytest.mark.parametrize("case", _node_cases(*WINDOW_OPS), ids=lambda c: c.name)
def test_onnx_node_cases_of_windows_mel_banks_and_transforms(case):
    """ONNX's own cases, with the inputs that decide shapes (size, dft_length, axis,
    frame_step, the mel parameters) frozen as constants, on the CPU device."""
    m = case.model
    inits = {t.name for t in m.graph.initializer}
    names = [i.name for i in m.graph.input if i.name not in inits]
    for inputs, outputs in case.data_sets:
        inputs = [numpy_helper.to_array(x) if hasattr(x, "SerializeToString") else np.asarray(x) for x in inputs]
        data = {n: x for n, x in zip(names, inputs)}
        frozen = {n: x for n, x in data.items() if x.ndim == 0}
        got = ov.compile_model(ov.convert_model(m, input=frozen), "CPU", F32)(
            [x for n, x in data.items() if n not in frozen])[0]
        want = np.asarray(outputs[0])
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * max(1.0, float(np.max(np.abs(want)))))


@pytest.mark.parametrize("op, size, periodic", [("HannWindow", 400, 1), ("HammingWindow", 31, 0),
                                                 ("BlackmanWindow", 64, 1), ("HannWindow", 7, 0)])
def test_window_functions_match_onnxruntime(op, size, periodic):
    from tests.models import ort_run

    g = helper.make_graph([helper.make_node(op, ["n"], ["y"], periodic=periodic)], "g", [],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(np.array(size, np.int64), "n")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    np.testing.assert_allclose(ov.compile_model(ov.convert_model(m), "CPU")([])[0], ort_run(m, {})[0],
                               rtol=0, atol=1e-6)


def test_a_whisper_style_mel_bank_matches_onnxruntime():
    """80 mel bands of a 400-point FFT at 16 kHz up to 8 kHz, as a speech front end builds."""
    from tests.models import ort_run

    consts = [np.array(80, np.int64), np.array(400, np.int64), np.array(16000, np.int64), np.array(0.0, np.float32),
              np.array(8000.0, np.float32)]
    names = ["bins", "n", "rate", "lo", "hi"]
    g = helper.make_graph([helper.make_node("MelWeightMatrix", names, ["y"])], "g", [],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(c, n) for c, n in zip(consts, names)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    got = ov.compile_model(ov.convert_model(m), "CPU")([])[0]
    np.testing.assert_allclose(got, ort_run(m, {})[0], rtol=0, atol=1e-6)
    assert got.shape == (201, 80)


def _tf_cases():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x, x3 = rng.standard_normal((2, 64)).astype(np.float32), rng.standard_normal((2, 8, 16)).astype(np.float32)
    return {
        "abs_rfft": (lambda a: tf.abs(tf.signal.rfft(a)), x),
        "abs_rfft_padded": (lambda a: tf.abs(tf.signal.rfft(a, fft_length=[100])), x),
        "real_imag_rfft2d": (lambda a: tf.math.real(tf.signal.rfft2d(a)) + 2 * tf.math.imag(tf.signal.rfft2d(a)), x3),
        "irfft_of_rfft": (lambda a: tf.signal.irfft(tf.signal.rfft(a)), x),
        "stft_magnitude": (lambda a: tf.abs(tf.signal.stft(a, frame_length=16, frame_step=8, fft_length=32)), x),
        "fft_of_complex": (lambda a: tf.abs(tf.signal.fft(tf.complex(a, 2 * a))), x),
        "ifft2d": (lambda a: tf.math.real(tf.signal.ifft2d(tf.complex(a, a * a))), x3),
    }


@pytest.mark.parametrize("name", ["abs_rfft", "abs_rfft_padded", "real_imag_rfft2d", "irfft_of_rfft", "stft_magnitude",
                                  "fft_of_complex", "ifft2d"])
def test_tensorflow_spectra_match_tensorflow(name):
    """Complex tensors held as [..., 2]: RFFT/IRFFT/FFT/IFFT (1-D, 2-D), tf.complex, abs, real,
    imag, and tf.signal.stft, against TensorFlow."""
    tf = pytest.importorskip("tensorflow")
    f, x = _tf_cases()[name]
    fn = tf.function(f, input_signature=[tf.TensorSpec(x.shape, tf.float32)])
    close(ov.compile_model(ov.convert_model(fn), "CPU")([x])[0], fn(x).numpy())


@pytest.mark.parametrize("name", ["abs_rfft", "real_imag_rfft2d", "stft_magnitude"])
def test_tflite_spectra_match_the_interpreter(tmp_path, name):
    """TFLite's RFFT2D (1-D rffts become RESHAPE -> RFFT2D -> RESHAPE of complex tensors),
    COMPLEX_ABS, REAL, IMAG, against the TFLite interpreter."""
    tf = pytest.importorskip("tensorflow")
    f, x = _tf_cases()[name]
    fn = tf.function(f, input_signature=[tf.TensorSpec(x.shape, tf.float32)])
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn).convert())
    interp = tf.lite.Interpreter(model_path=str(path))
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    close(ov.compile_model(ov.convert_model(path), "CPU")([x])[0],
          interp.get_tensor(interp.get_output_details()[0]["index"]))


def test_complex_tensors_elsewhere_are_clear_refusals():
    tf = pytest.importorskip("tensorflow")
    spec = [tf.TensorSpec((2, 16), tf.float32)]
    squared = tf.function(lambda a: tf.abs(tf.signal.rfft(a) * tf.signal.rfft(a)), input_signature=spec)
    with pytest.raises(ov.OvccError, match=r"\(Mul\) reads a complex tensor"):
        ov.convert_model(squared)
    with pytest.raises(ov.OvccError, match="is complex"):
        ov.convert_model(tf.function(lambda a: tf.signal.rfft(a), input_signature=spec))
