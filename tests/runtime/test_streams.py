"""PERFORMANCE_HINT THROUGHPUT's streams overlap: two requests of a CNN-sized model (one
inference ~20 ms) started together finish in well under twice the time of one. The ratio is
printed; only a generous bound is asserted, and the test is skipped (with the reason) where the
machine has no second core free at the moment, as a GIL-free control workload shows."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest
from onnx import helper

import compiler as ov
from tests.models import F32, make_model

C, LAYERS, SIDE = 64, 6, 56  # six 3x3 convolutions of 64 channels on 56x56: ~1.4 GFLOP
ROUNDS = 5


def _cnn() -> ov.Model:
    rng = np.random.default_rng(0)
    nodes, weights, x = [], {}, "x"
    for i in range(LAYERS):
        weights[f"w{i}"] = (rng.standard_normal((C, C, 3, 3)) * 0.05).astype(np.float32)
        nodes += [helper.make_node("Conv", [x, f"w{i}"], [f"c{i}"], pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", [f"c{i}"], [f"r{i}"])]
        x = f"r{i}"
    return ov.convert_model(make_model(nodes, [("x", np.float32, [1, C, SIDE, SIDE])], [(x, np.float32, None)],
                                       weights))


def _best(fn: Callable[[], None], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _threads(fn: Callable[[], None], n: int) -> Callable[[], None]:
    def run() -> None:
        ts = [threading.Thread(target=fn) for _ in range(n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    return run


def test_two_throughput_requests_overlap():
    if (os.cpu_count() or 1) < 2:
        pytest.skip(f"streams need 2 cores; this machine has {os.cpu_count()}")
    compiled = ov.compile_model(_cnn(), "CPU", {**F32, "PERFORMANCE_HINT": "THROUGHPUT"})
    assert compiled.get_property("NUM_STREAMS") >= 2
    x = [np.random.default_rng(1).standard_normal((1, C, SIDE, SIDE)).astype(np.float32)]
    request = compiled.create_infer_request()
    queue = ov.AsyncInferQueue(compiled, 2)

    def two() -> None:
        queue.start_async(x)
        queue.start_async(x)
        queue.wait_all()

    data = bytes(8 << 20)  # hashlib releases the GIL: how parallel can two threads be right now
    control = _threads(lambda: hashlib.sha256(data).digest(), 1), _threads(lambda: hashlib.sha256(data).digest(), 2)
    request.infer(x)
    ratios, controls = [], []
    for _ in range(ROUNDS):  # interleaved, so a burst of load on the machine falls on both
        one_ms = _best(lambda: request.infer(x))
        ratios.append(_best(two) / one_ms)
        controls.append(_best(control[1]) / _best(control[0]))
    print(f"\n2 requests / 1 request (THROUGHPUT, {compiled.get_property('NUM_STREAMS')} streams, "
          f"one ~{one_ms * 1e3:.0f} ms): best {min(ratios):.2f}x, rounds {[round(r, 2) for r in ratios]}; "
          f"control (2 hashing threads / 1): best {min(controls):.2f}x")
    if min(controls) > 1.7:
        pytest.skip(f"no second core free now: 2 GIL-free threads take {min(controls):.2f}x one "
                    f"(load average {os.getloadavg()[0]:.1f})")
    assert min(ratios) < 1.9
