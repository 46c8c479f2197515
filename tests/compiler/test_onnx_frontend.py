"""ONNX frontend: models from the onnx wheel, built with onnx.helper and exported from PyTorch,
run by the reference interpreter and compared with ONNX Runtime."""

import io
import warnings

import numpy as np
import onnx
import pytest
from onnx import helper

import compiler as ov
from tests.models import F32, LIGHT_MODELS, light_input, light_model, make_model, ort_run

RTOL, ATOL = 1e-4, 1e-5


def _check(model: onnx.ModelProto, feeds: dict[str, np.ndarray], device: str = "REFERENCE", rtol=RTOL, atol=ATOL):
    want = ort_run(model, feeds)
    compiled = ov.compile_model(ov.convert_model(model), device, F32)
    got = compiled(feeds)
    for i, w in enumerate(want):
        np.testing.assert_allclose(got[i], w, rtol=rtol, atol=atol)
    return compiled


@pytest.mark.parametrize("name", LIGHT_MODELS)
def test_light_model_with_random_weights_matches_onnxruntime(name):
    m = light_model(name)
    x = light_input(m)
    _check(m, {m.graph.input[0].name if m.graph.input[0].name not in {t.name for t in m.graph.initializer}
               else next(i.name for i in m.graph.input if i.name not in {t.name for t in m.graph.initializer}): x})


def test_light_model_with_shipped_weights_converts():
    m = light_model("squeezenet", random=False)
    model = ov.convert_model(m)
    assert model.op_counts()["Convolution"] == 26
    assert "Broadcast" not in model.op_counts()  # ConstantOfShape generators are folded


CONV_CASES = [
    dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
    dict(kernel_shape=[3, 3], pads=[0, 1, 2, 1], strides=[2, 2], dilations=[2, 1]),
    dict(kernel_shape=[3, 3], auto_pad="SAME_UPPER", strides=[2, 2]),
    dict(kernel_shape=[3, 3], auto_pad="SAME_LOWER", strides=[2, 2]),
    dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=4),
    dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=8),
]


@pytest.mark.parametrize("attrs", CONV_CASES)
def test_conv_variants(attrs):
    rng = np.random.default_rng(0)
    g = attrs.get("group", 1)
    w = rng.standard_normal((8, 8 // g, 3, 3)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    m = make_model([helper.make_node("Conv", ["x", "w", "b"], ["y"], **attrs)], [("x", np.float32, [2, 8, 11, 9])],
                   [("y", np.float32, None)], {"w": w, "b": b})
    _check(m, {"x": rng.standard_normal((2, 8, 11, 9)).astype(np.float32)})


@pytest.mark.parametrize("attrs", [
    dict(kernel_shape=[3, 3], strides=[2, 2]),
    dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1]),
    dict(kernel_shape=[3, 3], strides=[2, 2], output_shape=[13, 11]),
    dict(kernel_shape=[3, 3], strides=[1, 1], dilations=[2, 2], group=2),
])
def test_conv_transpose_variants(attrs):
    rng = np.random.default_rng(1)
    g = attrs.get("group", 1)
    w = rng.standard_normal((4, 6 // g, 3, 3)).astype(np.float32)
    m = make_model([helper.make_node("ConvTranspose", ["x", "w"], ["y"], **attrs)], [("x", np.float32, [1, 4, 6, 5])],
                   [("y", np.float32, None)], {"w": w})
    _check(m, {"x": rng.standard_normal((1, 4, 6, 5)).astype(np.float32)})


@pytest.mark.parametrize("op,attrs", [
    ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2])),
    ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)),
    ("MaxPool", dict(kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1], dilations=[2, 2])),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1)),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1, count_include_pad=1, pads=[1, 1, 1, 1])),
    ("AveragePool", dict(kernel_shape=[2, 2], auto_pad="SAME_UPPER", strides=[2, 2])),
])
def test_pooling_variants(op, attrs):
    x = np.random.default_rng(2).standard_normal((1, 3, 10, 9)).astype(np.float32)
    m = make_model([helper.make_node(op, ["x"], ["y"], **attrs)], [("x", np.float32, [1, 3, 10, 9])],
                   [("y", np.float32, None)])
    _check(m, {"x": x})


@pytest.mark.parametrize("mode,coord,nearest", [
    ("nearest", "asymmetric", "floor"), ("nearest", "half_pixel", "round_prefer_ceil"),
    ("linear", "half_pixel", "round_prefer_floor"), ("linear", "align_corners", "round_prefer_floor"),
    ("linear", "pytorch_half_pixel", "round_prefer_floor"), ("cubic", "half_pixel", "round_prefer_floor"),
])
def test_resize(mode, coord, nearest):
    x = np.random.default_rng(3).standard_normal((1, 2, 5, 7)).astype(np.float32)
    scales = np.array([1, 1, 2.0, 1.5], np.float32)
    m = make_model([helper.make_node("Resize", ["x", "", "scales"], ["y"], mode=mode,
                                     coordinate_transformation_mode=coord, nearest_mode=nearest)],
                   [("x", np.float32, [1, 2, 5, 7])], [("y", np.float32, None)], {"scales": scales}, opset=13)
    _check(m, {"x": x})


def test_mlp_with_dynamic_batch():
    rng = np.random.default_rng(4)
    w1, w2 = rng.standard_normal((16, 32)).astype(np.float32), rng.standard_normal((8, 32)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], transB=1, alpha=0.5, beta=2.0),
             helper.make_node("Softmax", ["y"], ["p"], axis=-1)]
    m = make_model(nodes, [("x", np.float32, ["batch", 16])], [("p", np.float32, ["batch", 8])],
                   {"w1": w1, "w2": w2, "b2": rng.standard_normal(8).astype(np.float32)})
    model = ov.convert_model(m)
    assert model.inputs[0].partial_shape.is_dynamic
    compiled = _check(m, {"x": rng.standard_normal((3, 16)).astype(np.float32)})
    _check(m, {"x": rng.standard_normal((5, 16)).astype(np.float32)})
    assert compiled.outputs[0].name == "p"


def test_initializers_listed_as_inputs_are_constants():
    w = np.ones((4, 4), np.float32)
    m = make_model([helper.make_node("MatMul", ["x", "w"], ["y"])],
                   [("x", np.float32, [1, 4]), ("w", np.float32, [4, 4])], [("y", np.float32, [1, 4])], {"w": w})
    model = ov.convert_model(m)
    assert [p.name for p in model.inputs] == ["x"]


def test_input_override_and_output_cut():
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Neg", ["a"], ["b"]),
             helper.make_node("Exp", ["b"], ["y"])]
    m = make_model(nodes, [("x", np.float32, ["n", 4])], [("y", np.float32, ["n", 4])])
    model = ov.convert_model(m, input="x[2,4]", output="b")
    assert model.inputs[0].shape == (2, 4) and [p.name for p in model.outputs] == ["b"]
    assert "Exp" not in model.op_counts()
    cut = ov.convert_model(m, input="a[3,4]")
    assert [p.name for p in cut.inputs] == ["a"] and "ReLU" not in cut.op_counts()


def _torch_to_onnx(module, args, **kw) -> onnx.ModelProto:
    import torch

    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), args, f, dynamo=False, opset_version=17, **kw)
    return onnx.load_from_string(f.getvalue())


def test_pytorch_mlp_and_cnn():
    import torch
    import torch.nn as nn

    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 5))
    x = torch.randn(4, 20)
    _check(_torch_to_onnx(mlp, (x,), input_names=["x"]), {"x": x.numpy()})

    cnn = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU6(), nn.MaxPool2d(2),
                        nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.Hardswish(), nn.Conv2d(16, 32, 1),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
    with torch.no_grad():
        for p in cnn.parameters():
            p.uniform_(-0.5, 0.5)
        cnn[1].running_mean.uniform_(-0.2, 0.2)
        cnn[1].running_var.uniform_(0.5, 1.5)
    x = torch.randn(2, 3, 32, 32)
    _check(_torch_to_onnx(cnn, (x,), input_names=["x"]), {"x": x.numpy()})


def test_pytorch_transformer_encoder_with_dynamic_axes():
    import torch
    import torch.nn as nn

    class Encoder(nn.Module):
        def __init__(self, d=32, h=4, vocab=50):
            super().__init__()
            self.emb, self.h = nn.Embedding(vocab, d), h
            self.qkv, self.o = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.ff = nn.Sequential(nn.Linear(d, 64), nn.GELU(), nn.Linear(64, d))

        def forward(self, ids, mask):
            x = self.emb(ids)
            b, t, d = x.shape
            q, k, v = self.qkv(x).reshape(b, t, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
            att = (q @ k.transpose(-1, -2)) / (d // self.h) ** 0.5
            att = att.masked_fill(mask[:, None, None, :] == 0, -1e9).softmax(-1)
            x = self.ln1(x + self.o((att @ v).transpose(1, 2).reshape(b, t, d)))
            return self.ln2(x + self.ff(x))

    torch.manual_seed(0)
    enc = Encoder()
    ids = torch.randint(0, 50, (2, 12))
    mask = torch.ones(2, 12, dtype=torch.int64)
    mask[1, 7:] = 0
    m = _torch_to_onnx(enc, (ids, mask), input_names=["ids", "mask"], output_names=["y"],
                       dynamic_axes={"ids": {0: "b", 1: "t"}, "mask": {0: "b", 1: "t"}})
    feeds = {"ids": ids.numpy(), "mask": mask.numpy()}
    _check(m, feeds)
    ids2 = torch.randint(0, 50, (3, 5))
    _check(m, {"ids": ids2.numpy(), "mask": np.ones((3, 5), np.int64)})


# --- bad input -----------------------------------------------------------------------------

def test_truncated_and_random_files_give_one_line_errors(tmp_path):
    good = tmp_path / "good.onnx"
    onnx.save(light_model("squeezenet"), str(good))
    data = good.read_bytes()
    trunc = tmp_path / "trunc.onnx"
    trunc.write_bytes(data[: len(data) // 3])
    noise = tmp_path / "noise.onnx"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    for p in (trunc, noise):
        with pytest.raises(ov.ModelFileError) as e:
            ov.convert_model(p)
        assert str(p) in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ov.ModelFileError, match="no such file"):
        ov.convert_model(tmp_path / "missing.onnx")


def test_missing_external_data_file(tmp_path):
    w = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)
    m = make_model([helper.make_node("MatMul", ["x", "w"], ["y"])], [("x", np.float32, [1, 64])],
                   [("y", np.float32, [1, 64])], {"w": w})
    path = tmp_path / "ext.onnx"
    onnx.save_model(m, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location="ext.data",
                    size_threshold=0)
    x = np.ones((1, 64), np.float32)
    np.testing.assert_allclose(ov.compile_model(ov.convert_model(path), "REFERENCE")([x])[0], x @ w, rtol=1e-5)
    (tmp_path / "ext.data").unlink()
    with pytest.raises(ov.ModelFileError, match="external data file 'ext.data'.*missing"):
        ov.convert_model(path)


def test_unsupported_ops_are_listed_in_one_error():
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="r"), helper.make_node("Det", ["a"], ["b"], name="h1"),
             helper.make_node("Det", ["b"], ["c"], name="h2"), helper.make_node("Col2Im", ["c"], ["y"], name="f")]
    m = make_model(nodes, [("x", np.float32, [2, 3])], [("y", np.float32, None)])
    with pytest.raises(ov.UnsupportedOpsError) as e:
        ov.convert_model(m)
    msg = str(e.value)
    assert "Col2Im (f)" in msg and "Det (h1, h2)" in msg and "Relu" not in msg


def test_wrong_inputs_at_inference_are_named():
    m = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", np.float32, [2, 3])], [("y", np.float32, [2, 3])])
    compiled = ov.compile_model(ov.convert_model(m), "REFERENCE")
    with pytest.raises(ov.InputError, match="input 'x': shape \\[3, 2\\] given, the model expects \\[2,3\\]"):
        compiled([np.zeros((3, 2), np.float32)])
    with pytest.raises(ov.InputError, match="input 'x': element type f64 given, the model expects f32"):
        compiled([np.zeros((2, 3))])
    with pytest.raises(ov.InputError, match="takes 1 input"):
        compiled([np.zeros((2, 3), np.float32)] * 2)
    with pytest.raises(ov.InputError, match="no input named 'z'"):
        compiled({"z": np.zeros((2, 3), np.float32)})


def test_float16_model_computes_in_float32_natively():
    """A float16 model (MatMul, Softmax, LayerNorm) compiles: widen-half computes each op in
    float32 and rounds its float16 results, as the interpreter and ONNX Runtime do per op."""
    rng = np.random.default_rng(0)
    w = rng.normal(0, .3, (16, 16)).astype(np.float16)
    g, b = np.ones(16, np.float16), np.zeros(16, np.float16)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Softmax", ["h"], ["s"], axis=-1),
             helper.make_node("LayerNormalization", ["s", "g", "b"], ["y"], axis=-1)]
    m = make_model(nodes, [("x", np.float16, [4, 16])], [("y", np.float16, [4, 16])], dict(w=w, g=g, b=b))
    x = rng.normal(0, 1, (4, 16)).astype(np.float16)
    got = ov.compile_model(ov.convert_model(m), "CPU", F32)([x])[0]
    assert got.dtype == np.float16
    np.testing.assert_allclose(got.astype(np.float32), ort_run(m, {"x": x})[0].astype(np.float32), rtol=2e-3,
                               atol=2e-3)


def test_pytorch_default_exporter_at_opset_23(tmp_path):
    """torch.onnx.export's default (dynamo) exporter writes Attention, RMSNormalization and GRU
    nodes at opset 23: a Llama-style block (RMSNorm, rotary embedding, causal grouped-query
    SDPA, SwiGLU) and a bidirectional GRU compile natively and match ONNX Runtime and PyTorch."""
    import logging

    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Block(nn.Module):
        def __init__(self, d=32, heads=4, kv_heads=2):
            super().__init__()
            self.h, self.kvh, self.hd = heads, kv_heads, d // heads
            self.wq, self.wo = nn.Linear(d, d, bias=False), nn.Linear(d, d, bias=False)
            kv = kv_heads * self.hd
            self.wk, self.wv = nn.Linear(d, kv, bias=False), nn.Linear(d, kv, bias=False)
            self.w1, self.w2, self.w3 = nn.Linear(d, 64, bias=False), nn.Linear(64, d, bias=False), nn.Linear(d, 64)
            self.n1, self.n2 = nn.RMSNorm(d, eps=1e-6), nn.RMSNorm(d)

        def rope(self, x):
            t, hd = x.shape[-2], x.shape[-1]
            f = torch.outer(torch.arange(t).float(), 1.0 / (10000 ** (torch.arange(0, hd, 2).float() / hd)))
            x1, x2 = x[..., ::2], x[..., 1::2]
            return torch.stack([x1 * f.cos() - x2 * f.sin(), x1 * f.sin() + x2 * f.cos()], -1).flatten(-2)

        def forward(self, x):
            b, t, d = x.shape
            h = self.n1(x)
            q = self.rope(self.wq(h).view(b, t, self.h, -1).transpose(1, 2))
            k = self.rope(self.wk(h).view(b, t, self.kvh, -1).transpose(1, 2))
            v = self.wv(h).view(b, t, self.kvh, -1).transpose(1, 2)
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
            x = x + self.wo(a.transpose(1, 2).reshape(b, t, d))
            return x + self.w2(F.silu(self.w1(self.n2(x))) * self.w3(self.n2(x)))

    class Recurrent(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(8, 16, batch_first=True, bidirectional=True)

        def forward(self, x):
            y, h = self.gru(x)
            return y, h

    torch.manual_seed(0)
    logging.disable(logging.WARNING)
    try:
        for module, x, needed in ((Block(), torch.randn(2, 9, 32), {"Attention", "RMSNormalization"}),
                                  (Recurrent(), torch.randn(3, 6, 8), {"GRU"})):
            path = tmp_path / f"{type(module).__name__}.onnx"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(module.eval(), (x,), path, opset_version=23, dynamo=True, verbose=False)
            m = onnx.load(path)
            assert needed <= {n.op_type for n in m.graph.node}
            got = ov.compile_model(ov.read_model(path), "CPU", F32)([x.numpy()])
            want = ort_run(m, {m.graph.input[0].name: x.numpy()})
            with torch.no_grad():
                ref = module(x)
            ref = ref if isinstance(ref, tuple) else (ref,)
            for i, (w, r) in enumerate(zip(want, ref)):
                np.testing.assert_allclose(got[i], w, rtol=RTOL, atol=ATOL)
                np.testing.assert_allclose(got[i], r.numpy(), rtol=RTOL, atol=ATOL)
    finally:
        logging.disable(logging.NOTSET)


def test_dropout_in_training_mode_is_refused_not_run_as_the_identity():
    """ONNX's runner showed it: training-mode Dropout gave x unchanged (a wrong answer)."""
    from dialects.errors import ConversionError

    x = np.ones((2, 3), np.float32)
    for mode_init, ratio, ok in ((True, 0.5, False), (False, 0.5, True), (True, 0.0, True), (None, 0.5, False)):
        inits = {"r": np.array(ratio, np.float32)}
        inputs = [("x", np.float32, [2, 3])]
        if mode_init is None:
            inputs.append(("t", np.bool_, []))  # decided at run time
        else:
            inits["t"] = np.array(mode_init)
        m = make_model([helper.make_node("Dropout", ["x", "r", "t"], ["y"])], inputs, [("y", np.float32, None)],
                       inits, opset=13)
        if ok:
            got = ov.compile_model(ov.convert_model(m), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})([x])[0]
            np.testing.assert_array_equal(got, x)
        else:
            with pytest.raises(ConversionError, match="training mode"):
                ov.convert_model(m)
