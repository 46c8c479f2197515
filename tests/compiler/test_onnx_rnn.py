"""ONNX LSTM/GRU/RNN (unrolled over time) against ONNX Runtime, over the attributes of the
specification, and an LSTM exported from PyTorch."""

import io
import warnings

import numpy as np
import pytest
from onnx import helper

import compiler as ov
from tests.models import F32, make_model, ort_run

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
SEQ, BATCH, INPUT, HIDDEN = 5, 3, 4, 6


def _rnn_model(kind, direction="forward", bias=True, lens=None, init=False, peepholes=False, layout=0,
               extra=None, seed=0):
    rng = np.random.default_rng(seed)
    nd = 2 if direction == "bidirectional" else 1
    g = GATES[kind]
    inits = {"W": rng.normal(0, .5, (nd, g * HIDDEN, INPUT)).astype(np.float32),
             "R": rng.normal(0, .5, (nd, g * HIDDEN, HIDDEN)).astype(np.float32)}
    names = ["X", "W", "R"]
    feeds = {"X": rng.normal(0, 1, (BATCH, SEQ, INPUT) if layout else (SEQ, BATCH, INPUT)).astype(np.float32)}
    inputs = [("X", np.float32, list(feeds["X"].shape))]

    def optional(name, value, as_input=False):
        if value is None:
            names.append("")
            return
        names.append(name)
        if as_input:
            feeds[name] = value
            inputs.append((name, value.dtype, list(value.shape)))
        else:
            inits[name] = value
    optional("B", rng.normal(0, .5, (nd, 2 * g * HIDDEN)).astype(np.float32) if bias else None)
    optional("L", None if lens is None else np.array(lens, np.int32), as_input=True)
    state = (BATCH, nd, HIDDEN) if layout else (nd, BATCH, HIDDEN)
    optional("H0", rng.normal(0, 1, state).astype(np.float32) if init else None, as_input=True)
    if kind == "LSTM":
        optional("C0", rng.normal(0, 1, state).astype(np.float32) if init else None, as_input=True)
        optional("P", rng.normal(0, .5, (nd, 3 * HIDDEN)).astype(np.float32) if peepholes else None)
    while names and names[-1] == "":
        names.pop()
    outs = ["Y", "Y_h", "Y_c"][:3 if kind == "LSTM" else 2]
    attrs = dict(hidden_size=HIDDEN, direction=direction, **(extra or {}))
    if layout:
        attrs["layout"] = 1
    node = helper.make_node(kind, names, outs, **attrs)
    y_shape = [BATCH, SEQ, nd, HIDDEN] if layout else [SEQ, nd, BATCH, HIDDEN]
    m = make_model([node], inputs, [("Y", np.float32, y_shape)] + [(o, np.float32, list(state)) for o in outs[1:]],
                   inits, opset=14)
    return m, feeds


CASES = [
    ("LSTM", {}),
    ("LSTM", dict(direction="reverse", init=True)),
    ("LSTM", dict(direction="bidirectional", peepholes=True, init=True)),
    ("LSTM", dict(lens=[5, 2, 4], direction="bidirectional")),
    ("LSTM", dict(layout=1, init=True)),
    ("LSTM", dict(extra=dict(clip=0.7), bias=False)),
    ("LSTM", dict(extra=dict(input_forget=1), peepholes=True)),
    ("LSTM", dict(extra=dict(activations=["HardSigmoid", "LeakyRelu", "Tanh"], activation_alpha=[0.3, 0.2],
                             activation_beta=[0.4]))),
    ("GRU", {}),
    ("GRU", dict(extra=dict(linear_before_reset=1), init=True)),
    ("GRU", dict(direction="bidirectional", extra=dict(linear_before_reset=1))),
    ("GRU", dict(lens=[3, 5, 1], direction="reverse", init=True)),
    ("GRU", dict(layout=1, extra=dict(clip=1.0))),
    ("RNN", {}),
    ("RNN", dict(direction="bidirectional", init=True, lens=[4, 5, 2])),
    ("RNN", dict(extra=dict(activations=["Relu"]))),
]


IDS = [f"{k}-{'-'.join(kw) or 'plain'}-{i}" for i, (k, kw) in enumerate(CASES)]


@pytest.mark.parametrize("kind,kw", CASES, ids=IDS)
def test_recurrent_layers_match_onnxruntime(kind, kw):
    m, feeds = _rnn_model(kind, **kw)
    if kw.get("layout"):
        # ONNX Runtime runs only layout 0: the same layer (same weights) there, on transposed data
        m0, _ = _rnn_model(kind, **{**kw, "layout": 0})
        swap = {"X": (1, 0, 2), "H0": (1, 0, 2), "C0": (1, 0, 2)}
        want = ort_run(m0, {k: v.transpose(swap[k]) if k in swap else v for k, v in feeds.items()})
        want = [want[0].transpose(2, 0, 1, 3)] + [w.transpose(1, 0, 2) for w in want[1:]]
    else:
        want = ort_run(m, feeds)
    got = ov.compile_model(ov.convert_model(m), "CPU", F32)(list(feeds.values()))
    for i, w in enumerate(want):
        np.testing.assert_allclose(got[i], w, rtol=1e-4, atol=1e-5, err_msg=f"output {i}")


def test_pytorch_lstm_exported_to_onnx():
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(8, 16, num_layers=2, batch_first=True, bidirectional=True)
            self.gru = torch.nn.GRU(32, 8, batch_first=True)

        def forward(self, x):
            y, _ = self.lstm(x)
            z, h = self.gru(y)
            return z, h

    torch.manual_seed(0)
    net = Net().eval()
    x = torch.randn(2, 7, 8)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x,), buf, opset_version=17, dynamo=False, input_names=["x"])
    import onnx

    m = onnx.load_from_string(buf.getvalue())
    assert {"LSTM", "GRU"} <= {n.op_type for n in m.graph.node}
    got = ov.compile_model(ov.convert_model(m), "CPU", F32)([x.numpy()])
    with torch.no_grad():
        want = net(x)
    for i, w in enumerate(want):
        np.testing.assert_allclose(got[i], w.numpy(), rtol=1e-4, atol=1e-5)


def test_dynamic_sequence_length_is_a_clear_error():
    m, _ = _rnn_model("LSTM")
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "seq"
    with pytest.raises(ov.OvccError, match="static sequence length"):
        ov.convert_model(m)


def test_unrolled_layers_emit_ir_that_openvino_runs(tmp_path):
    import openvino

    core = openvino.Core()
    for i, (kind, kw) in enumerate([("LSTM", dict(lens=[5, 2, 4], direction="bidirectional", peepholes=True)),
                                    ("GRU", dict(extra=dict(linear_before_reset=1), init=True))]):
        m, feeds = _rnn_model(kind, **kw)
        xml = tmp_path / f"rnn{i}.xml"
        ov.save_model(ov.convert_model(m), xml, compress_to_fp16=False)
        compiled = core.compile_model(core.read_model(str(xml)), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        got = compiled(list(feeds.values()))
        for j, w in enumerate(ort_run(m, feeds)):
            np.testing.assert_allclose(got[j], w, rtol=1e-4, atol=1e-5)
