"""Asynchronous requests, AsyncInferQueue and the throughput properties of the CPU device.
Results of concurrent requests are compared with synchronous runs of the same inputs (exactly)
and with numpy (at f32 tolerance); no timing is asserted."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
from onnx import helper

import compiler as ov
from runtime.config import ConfigError
from tests.models import F32, make_model

# 128x256 @ 256x256: above the cost where an inference uses the worker threads, so concurrent
# requests meet the pool busy and run beside it
W = np.random.default_rng(1).standard_normal((256, 256)).astype(np.float32)


def _model():
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Relu", ["m"], ["y"])]
    return ov.convert_model(make_model(nodes, [("x", np.float32, [128, 256])], [("y", np.float32, None)], {"w": W}))


@pytest.fixture(scope="module")
def compiled():
    return ov.compile_model(_model(), "CPU", F32)


def _inputs(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.standard_normal((128, 256)).astype(np.float32) for _ in range(n)]


def test_start_async_equals_infer(compiled):
    x = _inputs(1)[0]
    expected = compiled([x])[0]
    np.testing.assert_allclose(expected, np.maximum(x @ W, 0), rtol=1e-4, atol=1e-4)
    req = compiled.create_infer_request()
    req.set_tensor(compiled.input(0), ov.Tensor(x))
    req.start_async()
    req.wait()
    assert np.array_equal(req.results[0], expected)
    assert np.array_equal(req.get_output_tensor(0).data, expected)
    assert np.array_equal(req.get_tensor(compiled.output(0)).data, expected)
    assert req.latency > 0


def test_request_callback_gets_userdata_once(compiled):
    x = _inputs(1)[0]
    calls = []
    req = compiled.create_infer_request()
    req.set_callback(lambda r, data: calls.append((data, threading.get_ident(), r.results[0].copy())), "ud")
    req.start_async([x])
    assert req.wait_for(-1)
    assert len(calls) == 1 and calls[0][0] == "ud" and calls[0][1] != threading.get_ident()
    assert np.array_equal(calls[0][2], compiled([x])[0])
    req.start_async([x], userdata="given")
    req.wait()
    assert [c[0] for c in calls] == ["ud", "given"]


def test_wait_for_times_out_while_a_request_runs(compiled):
    release = threading.Event()
    req = compiled.create_infer_request()
    req.set_callback(lambda r, data: release.wait())  # the request finishes only when released
    req.start_async(_inputs(1))
    assert req.wait_for(0) is False
    assert req.wait_for(10) is False
    release.set()
    assert req.wait_for(10_000) is True


def test_errors_of_async_requests_reach_wait(compiled):
    req = compiled.create_infer_request()
    req.start_async([np.zeros((3, 3), np.float32)])
    with pytest.raises(ov.InputError, match="shape"):
        req.wait()
    req.set_callback(lambda r, data: 1 / 0)
    req.start_async(_inputs(1))
    with pytest.raises(ZeroDivisionError):
        req.wait()
    req.set_callback(None)
    req.start_async(_inputs(1))
    req.wait()  # the request still works


def test_queue_runs_every_job_with_its_userdata(compiled):
    xs = _inputs(50)
    expected = [compiled([x])[0] for x in xs]
    queue = ov.AsyncInferQueue(compiled, 4)
    assert len(queue) == 4 and len(list(queue)) == 4 and queue.is_ready()
    got: dict[int, np.ndarray] = {}
    lock = threading.Lock()

    def done(request, userdata):
        with lock:
            assert userdata not in got
            got[userdata] = request.results[0].copy()

    queue.set_callback(done)
    for rep in range(20):  # 4 requests x 250 jobs
        for i, x in enumerate(xs):
            queue.start_async({"x": x}, rep * len(xs) + i)
    queue.wait_all()
    assert sorted(got) == list(range(20 * len(xs)))
    for k, r in got.items():
        assert np.array_equal(r, expected[k % len(xs)]), k
    assert all(queue[i].is_ready for i in range(len(queue)))
    assert queue.get_idle_request_id() in range(4)


def test_queue_reports_a_callback_error_and_goes_on(compiled):
    queue = ov.AsyncInferQueue(compiled, 2)
    seen = []

    def cb(request, userdata):
        seen.append(userdata)
        if userdata == 3:
            raise RuntimeError("callback failed")

    queue.set_callback(cb)
    for i, x in enumerate(_inputs(8)):
        queue.start_async([x], i)
    with pytest.raises(RuntimeError, match="callback failed"):
        queue.wait_all()
    assert sorted(seen) == list(range(8))
    queue.start_async(_inputs(1), 99)
    queue.wait_all()  # the error was reported once; the queue runs on
    assert seen[-1] == 99


def test_concurrent_requests_from_several_threads(compiled):
    """Threads sharing one CompiledModel: each inference has its own arena and scratch; at most
    one of them uses the worker threads, the others run beside it."""
    xs = _inputs(6)
    expected = [compiled([x])[0] for x in xs]
    errors = []

    def work(k):
        req = compiled.create_infer_request()
        for _ in range(15):
            r = req.infer([xs[k]])[0]
            if not np.array_equal(r, expected[k]):
                errors.append(k)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_performance_hints_and_streams():
    cores = os.cpu_count() or 1
    lat = ov.compile_model(_model(), "CPU", F32)
    assert lat.get_property("PERFORMANCE_HINT") == "LATENCY"
    assert lat.get_property("NUM_STREAMS") == 1
    assert lat.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS") == 1
    assert lat.get_property("INFERENCE_NUM_THREADS") == cores
    tput = ov.compile_model(_model(), "CPU", {**F32, "PERFORMANCE_HINT": "THROUGHPUT"})
    assert tput.get_property("NUM_STREAMS") == cores
    assert tput.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS") == cores
    assert tput.get_property("INFERENCE_NUM_THREADS") == 1
    queue = ov.AsyncInferQueue(tput)  # jobs=0: the optimal number
    assert len(queue) == cores
    xs = _inputs(4)
    out = {}
    queue.set_callback(lambda r, i: out.__setitem__(i, r.results[0].copy()))
    for i, x in enumerate(xs):
        queue.start_async([x], i)
    queue.wait_all()
    for i, x in enumerate(xs):
        assert np.array_equal(out[i], lat([x])[0])
    one = ov.compile_model(_model(), "CPU", {**F32, "PERFORMANCE_HINT": "THROUGHPUT",
                                             "PERFORMANCE_HINT_NUM_REQUESTS": 1})
    assert one.get_property("NUM_STREAMS") == 1
    s3 = ov.compile_model(_model(), "CPU", {**F32, "NUM_STREAMS": "3"})
    assert s3.get_property("NUM_STREAMS") == 3 and s3.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS") == 3
    with pytest.raises(ConfigError, match="PERFORMANCE_HINT_NUM_REQUESTS"):
        ov.compile_model(_model(), "CPU", {"PERFORMANCE_HINT_NUM_REQUESTS": "many"})
    with pytest.raises(ConfigError, match="PERFORMANCE_HINT"):
        ov.compile_model(_model(), "CPU", {"PERFORMANCE_HINT": "FAST"})


def test_cancel_drops_the_results_and_the_callback(compiled):
    release = threading.Event()
    calls = []
    req = compiled.create_infer_request()
    req.start_async(_inputs(1))
    req.wait()
    done = req.results[0].copy()
    req.cancel()  # a finished request stays as it is
    req.wait()
    assert np.array_equal(req.results[0], done)
    req.set_callback(lambda r, data: calls.append(data))
    orig = compiled.infer_new_request

    def slow(inputs):  # the request runs until released: cancel() comes while it runs
        release.wait()
        return orig(inputs)
    compiled.infer_new_request = slow
    try:
        req.start_async(_inputs(1), userdata="dropped")
        req.cancel()
        release.set()
        with pytest.raises(ov.InferCancelled, match="canceled"):
            req.wait()
    finally:
        del compiled.infer_new_request
    assert calls == [] and req.results is None
    req.start_async(_inputs(1), userdata="kept")  # the request is usable again
    req.wait()
    assert calls == ["kept"] and np.array_equal(req.results[0], done)


def test_profiling_info_per_step():
    c = ov.compile_model(_model(), "CPU", {**F32, "PERF_COUNT": True})
    req = c.create_infer_request()
    req.infer(_inputs(1))
    info = req.get_profiling_info()
    assert info and all(isinstance(p, ov.ProfilingInfo) and p.status == "EXECUTED" for p in info)
    assert "MatMul" in {p.node_type for p in info}
    total = sum(p.real_time.total_seconds() for p in info) * 1e3
    # shares of the request's latency, each rounded to timedelta's microsecond
    assert 0 < total <= req.latency + len(info) * 1e-3
    quiet = ov.compile_model(_model(), "CPU", F32).create_infer_request()
    quiet.infer(_inputs(1))
    assert quiet.get_profiling_info() == []
