"""benchmark_app end to end on a tiny model: the summary lines OpenVINO's tool prints, in sync
and async (throughput) mode, and its formulas checked on the numbers it reports."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import helper

from compiler.tools import benchmark_app
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


def test_async_throughput_run_uses_the_optimal_requests(model_path):
    import io

    out = io.StringIO()
    stats = benchmark_app.run(benchmark_app.parser().parse_args(
        ["-m", model_path, "-hint", "throughput", "-niter", "30", "-shape", "[2,32]"]), out)
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
