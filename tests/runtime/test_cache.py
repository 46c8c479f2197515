"""The object cache runs only what this code generator compiled for this IR and target: a
changed generator changes every key; a damaged or foreign entry is recompiled, never loaded."""

import shutil
from pathlib import Path

import numpy as np
from onnx import helper

import compiler as ov
from runtime.jit import GENERATOR_SOURCES, sources_hash
from tests.models import make_model

ROOT = Path(__file__).resolve().parents[2]


def _model():
    nodes = [helper.make_node("Exp", ["x"], ["e"]), helper.make_node("Add", ["e", "x"], ["y"])]
    return ov.convert_model(make_model(nodes, [("x", np.float32, [3, 5])], [("y", np.float32, [3, 5])]))


def _compile(cache):
    return ov.compile_model(_model(), "CPU", {"CACHE_DIR": str(cache), "INFERENCE_PRECISION_HINT": "f32"})


def test_a_change_to_the_code_generator_changes_the_key(tmp_path):
    for rel in GENERATOR_SOURCES:
        src, dst = ROOT / rel, tmp_path / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    before = sources_hash(tmp_path, "1.0")
    assert sources_hash(ROOT, "1.0") == before
    emitter = tmp_path / "codegen" / "llvm_math.py"
    emitter.write_text(emitter.read_text().replace("88.72283935546875", "88.3762626647949"))
    assert sources_hash(tmp_path, "1.0") != before
    assert sources_hash(ROOT, "1.1") != before  # and so does a new release


def test_damaged_and_foreign_entries_are_recompiled(tmp_path):
    x = np.linspace(-3, 3, 15, dtype=np.float32).reshape(3, 5)
    want = np.exp(x) + x
    first = _compile(tmp_path / "a")
    assert not first.stats.from_cache
    again = _compile(tmp_path / "a")
    assert again.stats.from_cache
    np.testing.assert_allclose(again([x])[0], want, rtol=1e-6)
    (entry,) = (tmp_path / "a").glob("*.o")
    data = bytearray(entry.read_bytes())
    data[len(data) // 2] ^= 0xFF
    entry.write_bytes(bytes(data))
    damaged = _compile(tmp_path / "a")
    assert not damaged.stats.from_cache
    np.testing.assert_allclose(damaged([x])[0], want, rtol=1e-6)
    _compile(tmp_path / "b")  # another cache, with its own key
    shutil.copy(next((tmp_path / "b").glob("*.o")), entry)
    foreign = _compile(tmp_path / "a")
    assert not foreign.stats.from_cache
    assert _compile(tmp_path / "a").stats.from_cache
