"""TFLite's sparse tensors (what the converter's EXPERIMENTAL_SPARSITY writes: DENSIFY of a
constant in CSR form, or a block-sparse weight a FULLY_CONNECTED reads directly) are made
dense at conversion time; checked against the TFLite interpreter."""

import numpy as np
import pytest

import compiler as ov
from tests.models import F32

tf = pytest.importorskip("tensorflow")


def _sparse_model(tmp_path, kind: str, quantized: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    if kind == "conv":
        inp, layer = tf.keras.Input((12, 12, 8)), tf.keras.layers.Conv2D(16, 3, padding="same")
    else:
        inp, layer = tf.keras.Input((64,)), tf.keras.layers.Dense(32)
    model = tf.keras.Model(inp, layer(inp))
    w, b = layer.get_weights()
    if kind == "block":  # whole 4 x 1 blocks along the inputs are zero: the converter writes a block map
        w = w * np.repeat(rng.random((w.shape[0] // 4, w.shape[1])) < 0.2, 4, axis=0)
    else:
        w = w * (rng.random(w.shape) < 0.15)
    layer.set_weights([w.astype(np.float32), b])
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY] + ([tf.lite.Optimize.DEFAULT] if quantized else [])
    shape = tuple(inp.shape[1:])
    if quantized:
        conv.representative_dataset = lambda: ([rng.standard_normal((1, *shape)).astype(np.float32)] for _ in range(8))
    path = tmp_path / f"{kind}{int(quantized)}.tflite"
    path.write_bytes(conv.convert())
    return path, rng.standard_normal((1, *shape)).astype(np.float32)


def _interpret(path, x):
    it = tf.lite.Interpreter(model_path=str(path))
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    ops = {o["op_name"] for o in it._get_ops_details()}
    return it.get_tensor(it.get_output_details()[0]["index"]), ops


@pytest.mark.parametrize("quantized", [False, True])
@pytest.mark.parametrize("kind", ["dense", "conv", "block"])
def test_sparse_weights_match_the_interpreter(tmp_path, kind, quantized):
    path, x = _sparse_model(tmp_path, kind, quantized)
    want, ops = _interpret(path, x)
    assert "DENSIFY" in ops or kind == "block"
    got = ov.compile_model(ov.convert_model(path), "CPU", F32)([x])[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.max(np.abs(want)))


def test_a_malformed_sparse_tensor_is_a_clear_error(tmp_path):
    import flatbuffers

    from compiler.frontends.tensorflow.tflite import schema

    path, _ = _sparse_model(tmp_path, "dense", False)
    fb = schema()
    model = fb.ModelT.InitFromObj(fb.Model.GetRootAs(path.read_bytes(), 0))
    t = next(t for t in model.subgraphs[0].tensors if t.sparsity is not None)
    seg = next(d for d in t.sparsity.dimMetadata if d.format == 1).arraySegments
    seg.values = np.asarray(seg.values).copy()
    seg.values[-1] = 60000  # past the indices
    b = flatbuffers.Builder(0)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(bytes(b.Output()))
    with pytest.raises(ov.ModelFileError, match="sparse tensor .*malformed segments"):
        ov.convert_model(bad)
