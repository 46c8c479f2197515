"""CompiledModel.export_model / Core.import_model: the imported model runs the exported native
code (no LLVM), with outputs bit-identical to the exporter's; damaged blobs and blobs made for
another ovcc or CPU are refused with a BlobError."""

from __future__ import annotations

import io

import numpy as np
import pytest
from onnx import helper

import compiler as ov
from runtime.blob import BlobError, pack, unpack
from tests.models import F32, make_model, ort_run

NO_CACHE = {"CACHE_DIR": ""}  # so that the imported code comes from the blob, not the JIT cache


def _conv_model():
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]), helper.make_node("GlobalAveragePool", ["r"], ["y"])]
    return make_model(nodes, [("x", np.float32, [1, 3, 16, 16])], [("y", np.float32, None)],
                      {"w": rng.standard_normal((8, 3, 3, 3)).astype(np.float32),
                       "b": rng.standard_normal(8).astype(np.float32)})


@pytest.fixture(scope="module")
def exported():
    onnx_model = _conv_model()
    compiled = ov.compile_model(ov.convert_model(onnx_model), "CPU", {**F32, **NO_CACHE})
    return onnx_model, compiled, compiled.export_model()


def test_roundtrip_outputs_are_bit_identical(exported):
    onnx_model, compiled, blob = exported
    x = np.random.default_rng(1).standard_normal((1, 3, 16, 16)).astype(np.float32)
    imported = ov.Core().import_model(blob, "CPU", NO_CACHE)
    assert imported.stats.from_blob and not imported.stats.from_cache
    assert np.array_equal(imported([x])[0], compiled([x])[0])
    np.testing.assert_allclose(imported([x])[0], ort_run(onnx_model, {"x": x})[0], rtol=1e-4, atol=1e-5)
    assert imported.get_property("INFERENCE_PRECISION_HINT") == "f32"  # the exporter's configuration
    assert [p.shape for p in imported.inputs] == [p.shape for p in compiled.inputs]


def test_export_to_a_stream_and_import_from_one(exported):
    _, compiled, blob = exported
    buf = io.BytesIO()
    compiled.export_model(buf)
    assert buf.getvalue() == blob
    buf.seek(0)
    imported = ov.Core().import_model(buf, "CPU", NO_CACHE)
    x = np.ones((1, 3, 16, 16), np.float32)
    assert np.array_equal(imported([x])[0], compiled([x])[0])


@pytest.mark.parametrize("damage", ["truncated", "flipped", "empty", "garbage", "trailing"])
def test_damaged_blobs_are_refused(exported, damage):
    blob = exported[2]
    bad = {"truncated": blob[: len(blob) // 2], "empty": b"",
           "flipped": blob[:100] + bytes([blob[100] ^ 1]) + blob[101:],
           "garbage": b"OVCCBLOB" + bytes(range(256)) * 4, "trailing": blob + b"\0"}[damage]
    with pytest.raises(BlobError, match="import_model"):
        ov.Core().import_model(bad, "CPU")


def test_blobs_for_another_cpu_or_version_are_refused(exported):
    blob = unpack(exported[2], *_here(exported[2]))
    for field, value, message in (("target", "x86_64|other-cpu|+avx2", "another CPU"),
                                  ("generator", "0" * 64, "another ovcc version")):
        other = pack({**blob.header, field: value}, blob.xml, blob.weights, blob.objects)
        with pytest.raises(BlobError, match=message):
            ov.Core().import_model(other, "CPU")
    with pytest.raises(BlobError, match="bytes"):
        ov.Core().import_model("model.blob", "CPU")


def _here(data: bytes) -> tuple[str, str]:
    from codegen.target import host
    from runtime.jit import generator_version

    return generator_version(), host().key()


def test_code_not_sealed_by_this_user_is_never_loaded(exported):
    """A well-formed blob carrying other object code (a hostile one): its code is ignored and
    the model is compiled again from the blob's IR."""
    _, compiled, data = exported
    blob = unpack(data, *_here(data))
    forged = {k: b"\xcc" * len(v) for k, v in blob.objects.items()}  # int3 instead of the kernels
    for header in ({**blob.header}, {k: v for k, v in blob.header.items() if k != "seal"}):
        imported = ov.Core().import_model(pack(header, blob.xml, blob.weights, forged), "CPU", NO_CACHE)
        assert not imported.stats.from_blob
        x = np.ones((1, 3, 16, 16), np.float32)
        assert np.array_equal(imported([x])[0], compiled([x])[0])
