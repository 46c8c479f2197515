"""The engines `benchmark_app --compare` runs beside ovcc: ONNX Runtime (for .onnx models) and
OpenVINO's own runtime, each on the same inputs, timed round-robin (one inference per engine
per round) so that a change in the machine's load falls on every engine alike."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ENGINES = ("ort", "openvino")
NAMES = {"ort": "onnxruntime", "openvino": "openvino"}


@dataclass
class Engine:
    """One way to run the model: `infer()` runs one inference on the benchmark's inputs."""

    name: str
    infer: Callable[[], Any]
    config: dict[str, Any]
    times: list[float] = field(default_factory=list)  # ms per inference


class EngineUnavailable(Exception):
    """An engine cannot run this model (not installed, format or op not supported)."""


def parse_compare(text: str) -> list[str]:
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in ENGINES]
    if unknown:
        from dialects.errors import InputError

        raise InputError(f"--compare: unknown engine(s) {unknown} (known: {', '.join(ENGINES)})")
    return names


def _feed(names: list[str], by_name: dict[str, np.ndarray], engine: str) -> dict[str, np.ndarray]:
    missing = [n for n in names if n not in by_name]
    if missing:
        raise EngineUnavailable(f"{engine} names inputs {missing} that ovcc's model does not")
    return {n: by_name[n] for n in names}


def ort_engine(model_path: str, by_name: dict[str, np.ndarray], nthreads: int | None) -> Engine:
    if Path(model_path).suffix.lower() != ".onnx":
        raise EngineUnavailable("onnxruntime runs .onnx models only")
    try:
        import onnxruntime as ort
    except ImportError:
        raise EngineUnavailable("onnxruntime is not installed") from None
    options = ort.SessionOptions()
    if nthreads:
        options.intra_op_num_threads = nthreads
    try:
        sess = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
        feed = _feed([i.name for i in sess.get_inputs()], by_name, "onnxruntime")
    except EngineUnavailable:
        raise
    except Exception as e:  # noqa: BLE001 - any ORT failure means it cannot run this model
        raise EngineUnavailable(_first_line(e)) from None
    threads = options.intra_op_num_threads or "default"
    return Engine("onnxruntime", lambda: sess.run(None, feed),
                  {"hint": None, "streams": 1, "threads": threads, "precision": "f32", "device": "CPU"})


def openvino_engine(model_path: str, by_name: dict[str, np.ndarray], config: dict[str, Any]) -> Engine:
    try:
        import openvino
    except ImportError:
        raise EngineUnavailable("openvino is not installed") from None
    try:
        core = openvino.Core()
        model = core.read_model(model_path)
        model.reshape({p.get_any_name(): list(by_name[p.get_any_name()].shape) for p in model.inputs
                       if p.get_any_name() in by_name})
        compiled = core.compile_model(model, "CPU", {k: str(v) for k, v in config.items()})
        feed = _feed([p.get_any_name() for p in model.inputs], by_name, "openvino")
        request = compiled.create_infer_request()
    except EngineUnavailable:
        raise
    except Exception as e:  # noqa: BLE001 - any OpenVINO failure means it cannot run this model
        raise EngineUnavailable(_first_line(e)) from None
    prop = compiled.get_property
    precision = prop("INFERENCE_PRECISION_HINT")  # an openvino.Type
    return Engine("openvino", lambda: request.infer(feed),
                  {"hint": str(prop("PERFORMANCE_HINT")), "streams": int(prop("NUM_STREAMS")),
                   "threads": int(prop("INFERENCE_NUM_THREADS")),
                   "precision": getattr(precision, "to_string", precision.__str__)(), "device": "CPU"})


def _first_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return f"{type(e).__name__}: {lines[0] if lines else ''}"[:300]


def interleave(engines: list[Engine], niter: int | None, seconds: float | None) -> float:
    """Round-robin timing: each round runs every engine once (after one warm-up inference
    each); stops after `niter` rounds or `seconds`. Returns the wall time in ms."""
    for e in engines:
        e.infer()
    start = time.perf_counter()
    rounds = 0
    while not (niter is not None and rounds >= niter) and \
            not (seconds is not None and time.perf_counter() - start >= seconds):
        for e in engines:
            t = time.perf_counter()
            e.infer()
            e.times.append((time.perf_counter() - t) * 1e3)
        rounds += 1
    return (time.perf_counter() - start) * 1e3
