"""benchmark_app end to end on a tiny model: the summary lines OpenVINO's tool prints, in sync
and async (throughput) mode, and its formulas checked on the numbers it reports; --compare
with ONNX Runtime and OpenVINO, the JSON report, the plot, and inputs from an .npz."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import helper

from compiler.tools import benchmark_app
from compiler.tools.benchmark_report import FEATURES
from tests.models import make_model

SUMMARY = [r"Count:\s+(\d+) iterations", r"Duration:\s+([\d.]+) ms", r"Latency:", r"Median:\s+([\d.]+) ms",
           r"Average:\s+([\d.]+) ms", r"Min:\s+([\d.]+) ms", r"Max:\s+([\d.]+) ms", r"Throughput:\s+([\d.]+) FPS"]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    m = make_model([helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Relu", ["m"], ["y"])],
                   [("x", np.float32, ["n", 32])], [("y", np.float32, None)],
                   {"w": np.random.default_rng(0).standard_normal((32, 32)).astype(np.float32)})
    path = tmp_path_factory.mktemp("bench") / "tiny.onnx"
    onnx.save(m, path)
    return str(path)


def _lines(text: str) -> list[str]:
    found = []
    for pattern in SUMMARY:
        m = re.search(r"^\[ INFO \]\s+" + pattern + "$", text, re.M)
        assert m, (pattern, text)
        found.append(m)
    return found


def test_sync_latency_run_prints_the_summary(model_path):
    proc = subprocess.run([sys.executable, "-m", "compiler.tools.benchmark_app", "-m", model_path, "-niter", "20",
                           "-data_shape", "[3,32]", "-infer_precision", "f32"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    m = _lines(proc.stdout)
    assert int(m[0].group(1)) == 20
    assert "PERFORMANCE_HINT: LATENCY" in proc.stdout and "sync inference" in proc.stdout
    median, lo, hi = float(m[3].group(1)), float(m[5].group(1)), float(m[6].group(1))
    assert lo <= median <= hi


def _run(argv: list[str]) -> tuple[dict, str]:
    out = io.StringIO()
    report = benchmark_app.run(benchmark_app.parser().parse_args(argv), out)
    return report, out.getvalue()


def test_async_throughput_run_uses_the_optimal_requests(model_path):
    out = io.StringIO()
    stats = benchmark_app.run(benchmark_app.parser().parse_args(
        ["-m", model_path, "-hint", "throughput", "-niter", "30", "-shape", "[2,32]"]), out)["engines"]["ovcc"]
    text = out.getvalue()
    _lines(text)
    assert stats["count"] == 30
    assert "async inference" in text and "PERFORMANCE_HINT: THROUGHPUT" in text
    assert stats["fps"] == pytest.approx(2 * 30 * 1e3 / stats["duration_ms"])  # frames / duration
    assert stats["min_ms"] <= stats["median_ms"] <= stats["max_ms"]


def test_dynamic_model_without_data_shape_is_a_clear_error(model_path):
    proc = subprocess.run([sys.executable, "-m", "compiler.tools.benchmark_app", "-m", model_path, "-niter", "2"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "give -data_shape" in proc.stderr and "Traceback" not in proc.stderr


def test_median_is_benchmark_apps_percentile():
    assert benchmark_app.percentile([5.0, 1.0, 3.0, 2.0], 50) == 2.0  # sorted[ceil(4*0.5)-1]
    assert benchmark_app.percentile([4.0, 1.0, 3.0], 50) == 3.0


def test_compare_report_and_plot(model_path, tmp_path):
    report_path, plot_path = tmp_path / "r.json", tmp_path / "p.png"
    report, text = _run(["-m", model_path, "-niter", "15", "-data_shape", "[2,32]", "--compare", "ort,openvino",
                         "--report", str(report_path), "--plot", str(plot_path)])
    _lines(text)
    assert re.search(r"^\[ INFO \]\s+onnxruntime\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+x$", text, re.M), text
    assert re.search(r"^\[ INFO \]\s+ovcc\s+.*\s1\.00x$", text, re.M), text
    saved = json.loads(report_path.read_text())
    assert saved == json.loads(json.dumps(report))
    assert saved["api"] == "sync" and saved["interleaved"] and saved["batch"] == 2 and not saved["skipped"]
    assert set(saved["engines"]) == {"ovcc", "onnxruntime", "openvino"}
    for r in saved["engines"].values():
        assert r["count"] == 15 and r["duration_ms"] > 0 and r["fps"] > 0
        assert r["min_ms"] <= r["median_ms"] <= r["max_ms"] and r["min_ms"] <= r["average_ms"] <= r["max_ms"]
        assert {"hint", "streams", "precision", "device"} <= set(r["config"])
    assert saved["engines"]["ovcc"]["config"]["hint"] == "LATENCY"
    features = saved["host_cpu"]["features"]
    assert "avx512f" in features and all(k in FEATURES or k.startswith("amx-") for k in features)
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.png", "r.json"]  # no temporary file left


def test_an_engine_that_cannot_run_the_model_is_skipped(model_path, tmp_path):
    import compiler as ov

    xml = tmp_path / "tiny.xml"
    ov.save_model(ov.convert_model(model_path, input="x[1,32]"), xml)
    report, text = _run(["-m", str(xml), "-niter", "3", "--compare", "ort"])
    assert "[ INFO ] onnxruntime: skipped: onnxruntime runs .onnx models only" in text
    assert report["skipped"] == {"onnxruntime": "onnxruntime runs .onnx models only"}
    assert list(report["engines"]) == ["ovcc"]


def test_inputs_from_an_npz(model_path, tmp_path):
    good, bad, wrong = tmp_path / "good.npz", tmp_path / "bad.npz", tmp_path / "wrong.npz"
    np.savez(good, x=np.arange(5 * 32, dtype=np.float64).reshape(5, 32))  # cast to the input's f32
    np.savez(bad, x=np.ones((5, 31), np.float32))
    np.savez(wrong, y=np.ones((5, 32), np.float32))
    report, _ = _run(["-m", model_path, "-niter", "3", "-i", str(good)])
    assert report["batch"] == 5 and report["engines"]["ovcc"]["count"] == 3
    from dialects.errors import InputError

    with pytest.raises(InputError, match=r"array 'x' has shape \[5, 31\]; the input expects \[\?,32\]"):
        _run(["-m", model_path, "-niter", "3", "-i", str(bad)])
    with pytest.raises(InputError, match=r"arrays \['y'\] do not match the model's inputs \['x'\]"):
        _run(["-m", model_path, "-niter", "3", "-i", str(wrong)])


def test_ovcc_benchmark_subcommand(model_path, capsys):
    from compiler.cli import main

    assert main(["benchmark", "-m", model_path, "-niter", "4", "-data_shape", "[1,32]"]) == 0
    assert int(_lines(capsys.readouterr().out)[0].group(1)) == 4
