"""PERFORMANCE_HINT THROUGHPUT's streams overlap: two requests of a CNN-sized model (one
inference ~20 ms) started together, timed against one. The ratio is printed with a GIL-free
control workload's (how free the second core is right now), never asserted: the machine is
shared. Asserted: both requests of a pair run to the result one request alone computes."""

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
    # the ratio is reported, not asserted: on a shared machine another job's load decides it
    # (CI once saw 1.98x with the second core half taken). What is asserted: both requests of
    # a pair ran, each to the result one request alone computes.
    got = []
    queue.set_callback(lambda req, userdata: got.append((userdata, req.results[0].copy())))
    queue.start_async(x, 0)
    queue.start_async(x, 1)
    queue.wait_all()
    want = request.infer(x)[0]
    assert sorted(u for u, _ in got) == [0, 1]
    for _, y in got:
        np.testing.assert_array_equal(y, want)
