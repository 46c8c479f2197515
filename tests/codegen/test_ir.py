"""OpenVINO IR v11: what we write loads in the real OpenVINO runtime and computes the same;
what OpenVINO writes we read; bad files give clear errors."""

import os
import re
import warnings

import numpy as np
import onnx
import openvino
import pytest
from onnx import helper

import compiler as ov
from tests.models import LIGHT_MODELS, light_input, light_model, make_model, ort_run

OV_F32 = {"INFERENCE_PRECISION_HINT": "f32"}


def _ov_run(xml, inputs):
    core = openvino.Core()
    compiled = core.compile_model(core.read_model(str(xml)), "CPU", OV_F32)
    return [compiled(inputs)[i] for i in range(len(compiled.outputs))]


def _input_name(m):
    inits = {t.name for t in m.graph.initializer}
    return next(i.name for i in m.graph.input if i.name not in inits)


@pytest.mark.parametrize("name", LIGHT_MODELS)
def test_light_models_emit_ir_that_openvino_runs(name, tmp_path):
    """Uncompressed IR computes what ONNX Runtime computes. Compressed IR holds f16-rounded
    weights, a slightly different model: OpenVINO must compute what our interpreter computes
    for that model (read back from the same files)."""
    m = light_model(name)
    x = light_input(m)
    model = ov.convert_model(m)
    sizes = {}
    for compress, rtol, atol in ((False, 1e-4, 1e-5), (True, 1e-3, 1e-4)):
        xml = tmp_path / f"m{int(compress)}.xml"
        ov.save_model(model, xml, compress_to_fp16=compress)
        sizes[compress] = xml.with_suffix(".bin").stat().st_size
        got = _ov_run(xml, [x])[0]
        want = ov.compile_model(ov.read_model(xml), "REFERENCE")([x])[0] if compress else \
            ort_run(m, {_input_name(m): x})[0]
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    assert 0.45 < sizes[True] / sizes[False] < 0.55


def test_round_trip_is_equal_and_bit_exact(tmp_path):
    for name in ("inception_v2", "shufflenet"):
        model = ov.convert_model(light_model(name))
        xml = tmp_path / f"{name}.xml"
        ov.save_model(model, xml, compress_to_fp16=False)
        back = ov.read_model(xml)
        assert back.module.is_structurally_equivalent(model.module)
        assert [p.names for p in back.inputs] == [p.names for p in model.inputs]
        assert [p.names for p in back.outputs] == [p.names for p in model.outputs]


def test_transformer_ir_with_dynamic_dims(tmp_path):
    import torch

    from tests.compiler.test_onnx_frontend import _torch_to_onnx

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.ln, self.fc = torch.nn.Embedding(20, 16), torch.nn.LayerNorm(16), torch.nn.Linear(16, 16)

        def forward(self, ids):
            x = self.ln(self.emb(ids))
            return torch.nn.functional.gelu(self.fc(x)).softmax(-1)

    torch.manual_seed(0)
    ids = torch.randint(0, 20, (2, 7))
    m = _torch_to_onnx(Tiny(), (ids,), input_names=["ids"], output_names=["y"], dynamic_axes={"ids": {0: "b", 1: "t"}})
    model = ov.convert_model(m)
    xml = tmp_path / "t.xml"
    ov.save_model(model, xml, compress_to_fp16=False)
    text = xml.read_text()
    assert "<dim>-1</dim>" in text and 'shape="?,?"' in text
    for shape in ((2, 7), (3, 4)):
        ids = np.random.default_rng(0).integers(0, 20, shape)
        np.testing.assert_allclose(_ov_run(xml, [ids])[0], ort_run(m, {"ids": ids})[0], rtol=1e-4, atol=1e-5)


def _read_ov_written(tmp_path, ov_model, inputs, compress):
    xml = tmp_path / "ov.xml"
    openvino.save_model(ov_model, str(xml), compress_to_fp16=compress)
    want = openvino.Core().compile_model(ov_model, "CPU", OV_F32)(inputs)[0]
    got = ov.compile_model(ov.read_model(xml), "REFERENCE")(inputs)[0]
    return got, want


@pytest.mark.parametrize("name", ["squeezenet", "inception_v1", "resnet50", "shufflenet"])
def test_ir_written_by_openvino_from_onnx_reads_back(name, tmp_path):
    m = light_model(name)
    path = tmp_path / "m.onnx"
    onnx.save(m, str(path))
    x = light_input(m)
    got, want = _read_ov_written(tmp_path, openvino.convert_model(str(path)), [x], compress=False)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_ir_written_by_openvino_from_pytorch_reads_back(tmp_path):
    import torch
    import torch.nn as nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.bn = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8)
            self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
            self.fc = nn.Linear(8, 5)

        def forward(self, x):
            y = nn.functional.relu6(self.bn(self.c1(x)))
            y = nn.functional.max_pool2d(nn.functional.hardswish(self.dw(y)), 2)
            y = nn.functional.interpolate(y, scale_factor=2.0, mode="bilinear", align_corners=False)
            y = nn.functional.adaptive_avg_pool2d(y, 1).flatten(1)
            return nn.functional.gelu(self.fc(y)).softmax(-1)

    torch.manual_seed(0)
    net = Net().eval()
    x = torch.randn(2, 3, 16, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ovm = openvino.convert_model(net, example_input=x)
    for compress in (False, True):
        got, want = _read_ov_written(tmp_path, ovm, [x.numpy()], compress)
        np.testing.assert_allclose(got, want, rtol=1e-3 if compress else 1e-4, atol=1e-4 if compress else 1e-5)


# --- bad files -------------------------------------------------------------------------------

def _small_ir(tmp_path):
    m = make_model([helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"])],
                   [("x", np.float32, [1, 4])], [("y", np.float32, [1, 3])],
                   {"w": np.arange(12, dtype=np.float32).reshape(4, 3)})
    xml = tmp_path / "m.xml"
    ov.save_model(ov.convert_model(m), xml, compress_to_fp16=False)
    return xml


def _edit(xml, pattern, repl, count=1):
    text = xml.read_text()
    new = re.sub(pattern, repl, text, count=count)
    assert new != text, pattern
    xml.write_text(new)


def _expect(xml, match):
    with pytest.raises(ov.ModelFileError) as e:
        ov.read_model(xml)
    assert str(xml) in str(e.value) and re.search(match, str(e.value)), str(e.value)
    assert "\n" not in str(e.value)


def test_hostile_xml_is_refused(tmp_path):
    xml = tmp_path / "bomb.xml"
    xml.write_text('<?xml version="1.0"?>\n<!DOCTYPE net [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
                   '<net name="&b;" version="11"><layers/><edges/></net>')
    _expect(xml, "unsafe XML")
    xml.write_text('<?xml version="1.0"?>\n<!DOCTYPE net [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                   '<net name="&x;" version="11"><layers/><edges/></net>')
    _expect(xml, "unsafe XML")
    xml.write_text("<net version='11'><layers>")
    _expect(xml, "malformed XML")


def test_bin_problems(tmp_path):
    xml = _small_ir(tmp_path)
    binf = xml.with_suffix(".bin")
    data = binf.read_bytes()
    binf.write_bytes(data[:10])
    _expect(xml, "beyond the end of the .bin")
    binf.unlink()
    _expect(xml, "weights file .* is missing")
    binf.write_bytes(data)
    _edit(xml, r'size="48"', 'size="44"')
    _expect(xml, r"44 bytes of data for shape \[4, 3\]")
    _edit(xml, r'size="44"', 'size="48"')
    _edit(xml, r'offset="0"', 'offset="1000"')
    _expect(xml, "offset 1000 size 48 lies beyond")


def test_unknown_layers_are_listed_together(tmp_path):
    xml = _small_ir(tmp_path)
    _edit(xml, 'type="MatMul"', 'type="FancyOp"')
    _edit(xml, 'type="ReLU"', 'type="OtherOp"')
    with pytest.raises(ov.UnsupportedOpsError) as e:
        ov.read_model(xml)
    assert "FancyOp-opset1" in str(e.value) and "OtherOp-opset1" in str(e.value)


def test_bad_edges_and_cycles(tmp_path):
    xml = _small_ir(tmp_path)
    original = xml.read_text()
    _edit(xml, r'from-layer="0"', 'from-layer="99"')
    _expect(xml, "refers to a missing layer")
    xml.write_text(original)
    _edit(xml, r'to-port="1"/>', 'to-port="7"/>')
    _expect(xml, "has no input port 7")
    xml.write_text(original)
    edges = re.findall(r'<edge from-layer="(\d+)" from-port="(\d+)" to-layer="(\d+)" to-port="(\d+)"/>', original)
    relu = next(e for e in edges if e[3] == "0" and e[0] != "0")  # MatMul -> ReLU
    mm = next(e for e in edges if e[2] == relu[0] and e[3] == "0")  # Parameter -> MatMul
    cyc = original.replace(f'<edge from-layer="{mm[0]}" from-port="{mm[1]}" to-layer="{mm[2]}" to-port="0"/>',
                           f'<edge from-layer="{relu[2]}" from-port="1" to-layer="{mm[2]}" to-port="0"/>')
    xml.write_text(cyc)
    _expect(xml, "cycle")
    xml.write_text(original.replace("</edges>", f'<edge from-layer="0" from-port="0" to-layer="{mm[2]}" to-port="0"/>'
                                                "</edges>"))
    _expect(xml, "two incoming edges")
    xml.write_text(original.replace('version="11"', 'version="7"', 1))
    _expect(xml, "IR version")


def test_writes_are_atomic(tmp_path, monkeypatch):
    xml = _small_ir(tmp_path)
    before = (xml.read_bytes(), xml.with_suffix(".bin").read_bytes())
    import codegen.ir_writer as w

    def fail(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(w.os, "fsync", fail)
    with pytest.raises(ov.ModelFileError, match="cannot write"):
        ov.save_model(ov.read_model(xml), xml)
    assert (xml.read_bytes(), xml.with_suffix(".bin").read_bytes()) == before
    assert not list(tmp_path.glob(".*.tmp"))


def _process_umask() -> int:
    """The umask as Linux reports it, read without setting it (os.umask would change it)."""
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("Umask:")).split()[1], 8)


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_written_files_get_the_usual_permissions(tmp_path, umask):
    """Atomic writes go through temporary files; the pair ends up as an ordinary open() would
    have created it under the process umask."""
    old = os.umask(umask)
    try:
        xml = _small_ir(tmp_path)
        probe = tmp_path / "probe"
        probe.write_bytes(b"")
    finally:
        os.umask(old)
    for p in (xml, xml.with_suffix(".bin")):
        assert p.stat().st_mode & 0o777 == probe.stat().st_mode & 0o777 == 0o666 & ~umask


def test_save_model_never_touches_the_process_umask(tmp_path, monkeypatch):
    """The umask is process-wide: setting it even briefly (the only way to read it through
    os.umask) races with every thread creating files, so the writer must not call it at all."""
    model = ov.read_model(_small_ir(tmp_path))
    calls = []
    real = os.umask
    monkeypatch.setattr(os, "umask", lambda mask: calls.append(mask) or real(mask))
    before = _process_umask()
    ov.save_model(model, tmp_path / "copy.xml")
    ov.save_model(model, tmp_path / "copy.xml", compress_to_fp16=False)
    assert calls == [] and _process_umask() == before
    assert (tmp_path / "copy.xml").stat().st_mode & 0o777 == 0o666 & ~before




def test_ir_openvino_refused_before(tmp_path):
    """Two forms our writer put in IR that OpenVINO's runtime refuses: MaxPool with empty
    (default) dilations (its reference MaxPool asserts) and an empty constant of 0 bytes
    ("Tensor was not initialized"); OpenVINO writes dilations out and gives an empty constant
    one byte."""
    import openvino

    from compiler.frontends.builder import GraphBuilder
    from compiler.model import Model

    b = GraphBuilder()
    x = b.add_input(["x"], [1, 2, 5, 5], np.float32)
    pooled = b.op("MaxPool", [x], kernel=(2, 2), strides=(1, 1), pads_begin=(0, 0), pads_end=(0, 0)).outputs[0]
    kept = b.out("ReduceSum", [pooled, b.const(np.zeros((0,), np.int64))], keep_dims=True)  # no axes: x
    model = Model(b.finish([(kept, ["y"])]))
    xml = tmp_path / "m.xml"
    ov.save_model(model, xml, compress_to_fp16=False)
    data = np.random.default_rng(0).standard_normal((1, 2, 5, 5)).astype(np.float32)
    want = ov.compile_model(ov.read_model(xml), "REFERENCE")([data])[0]
    got = openvino.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})([data])[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
