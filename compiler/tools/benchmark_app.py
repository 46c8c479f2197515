"""benchmark_app, as OpenVINO's tool runs it: compile a model for the CPU with a performance
hint, run it with random inputs (synchronously, or asynchronously on several infer requests)
for -niter iterations or -t seconds, and print OpenVINO's summary: Count, Duration, Latency
(median, average, min, max) and Throughput, with benchmark_app's formulas (median =
sorted(times)[ceil(n/2)-1]; sync FPS = batch*1000/median; async FPS = frames/duration).

    python -m compiler.tools.benchmark_app -m model.onnx -hint throughput -t 10
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Any

import numpy as np

DEFAULT_SECONDS = 60  # benchmark_app's default duration on CPU


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="benchmark_app", description=__doc__.split("\n\n")[0])
    p.add_argument("-m", required=True, help="model: .xml, .onnx or any format convert_model reads")
    p.add_argument("-d", default="CPU", help="device (CPU)")
    p.add_argument("-hint", default="latency", choices=("latency", "throughput", "cumulative_throughput", "none"),
                   help="performance hint (default latency)")
    p.add_argument("-api", default=None, choices=("sync", "async"),
                   help="sync or async requests (default: sync for latency, async otherwise)")
    p.add_argument("-niter", type=int, default=None, help="number of iterations")
    p.add_argument("-t", type=float, default=None, help=f"seconds to run (default {DEFAULT_SECONDS} without -niter)")
    p.add_argument("-nireq", type=int, default=0, help="infer requests (async; default: the optimal number)")
    p.add_argument("-nstreams", default=None, help="number of streams")
    p.add_argument("-nthreads", type=int, default=None, help="threads for inference")
    p.add_argument("-shape", default=None, help='reshape the model first: "x[1,3,224,224]" or "[1,3,224,224]"')
    p.add_argument("-data_shape", default=None, help="shapes of the random inputs of a dynamic model")
    p.add_argument("-infer_precision", default=None, help="inference precision (f32, bf16)")
    p.add_argument("-pc", action="store_true", help="print per-kernel performance counters")
    p.add_argument("-cdir", default=None, help="cache directory")
    return p


def _config(args: argparse.Namespace) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if args.hint != "none":
        config["PERFORMANCE_HINT"] = args.hint.upper()
    if args.nstreams is not None:
        config["NUM_STREAMS"] = args.nstreams
    if args.nthreads is not None:
        config["INFERENCE_NUM_THREADS"] = args.nthreads
    if args.infer_precision is not None:
        config["INFERENCE_PRECISION_HINT"] = args.infer_precision
    if args.pc:
        config["PERF_COUNT"] = True
    if args.cdir is not None:
        config["CACHE_DIR"] = args.cdir
    return config


def _data_shapes(model: Any, text: str | None) -> list[tuple[int, ...]]:
    from compiler.frontends.inputs import parse_inputs
    from dialects.errors import InputError

    ports = model.inputs
    if text is None:
        shapes = [tuple(p.partial_shape) for p in ports]
    else:
        specs = parse_inputs(text)
        if all(s.name is None for s in specs):
            if len(specs) != len(ports):
                raise InputError(f"-data_shape: {len(specs)} shapes given for {len(ports)} inputs")
            pairs = list(zip(ports, specs))
        else:
            pairs = [(model.input(s.name), s) for s in specs]
        given = {port.index: tuple(s.resolve(port.name, port.partial_shape, port.dtype)[0]) for port, s in pairs}
        shapes = [given.get(p.index, tuple(p.partial_shape)) for p in ports]
    for p, s in zip(ports, shapes):
        if any(d is None or d < 0 for d in s):
            raise InputError(f"input {p.name!r} has a dynamic shape {list(s)}: give -data_shape")
    return shapes


def random_inputs(model: Any, shapes: list[tuple[int, ...]], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for p, s in zip(model.inputs, shapes):
        dt = np.dtype(p.dtype)
        if dt.kind == "f":
            out.append(rng.uniform(0, 1, s).astype(dt))
        elif dt.kind == "b":
            out.append(rng.random(s) < 0.5)
        else:
            out.append(rng.integers(0, 10, s).astype(dt))
    return out


def percentile(times: list[float], p: float) -> float:
    return sorted(times)[max(0, math.ceil(len(times) * p / 100) - 1)]


def _done(count: int, start: float, niter: int | None, seconds: float | None) -> bool:
    if niter is not None and count >= niter:
        return True
    return seconds is not None and time.perf_counter() - start >= seconds


def run(args: argparse.Namespace, out: Any = sys.stdout) -> dict[str, float]:
    import compiler as ov

    def info(msg: str) -> None:
        print(f"[ INFO ] {msg}", file=out, flush=True)

    core = ov.Core()
    model = core.read_model(args.m)
    if args.shape:
        model.reshape(args.shape)
    shapes = _data_shapes(model, args.data_shape)
    batch = shapes[0][0] if shapes and shapes[0] else 1
    t0 = time.perf_counter()
    compiled = core.compile_model(model, args.d, _config(args))
    info(f"Compile model took {(time.perf_counter() - t0) * 1e3:.2f} ms")
    api = args.api or ("sync" if args.hint in ("latency", "none") else "async")
    seconds = args.t if args.t is not None else (None if args.niter is not None else DEFAULT_SECONDS)
    nireq = 1 if api == "sync" else (args.nireq or compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
    for k in ("PERFORMANCE_HINT", "NUM_STREAMS", "INFERENCE_NUM_THREADS", "INFERENCE_PRECISION_HINT"):
        info(f"  {k}: {compiled.get_property(k)}")
    inputs = random_inputs(model, shapes)
    info(f"Measuring performance ({api} inference, {nireq} inference request(s), limits: "
         f"{f'{args.niter} iterations' if args.niter is not None else ''}"
         f"{', ' if args.niter is not None and seconds is not None else ''}"
         f"{f'{seconds:g} s' if seconds is not None else ''}, inference only: True, device: {args.d})")
    first = compiled.create_infer_request()
    first.infer(inputs)  # warm-up, as benchmark_app's first inference (not counted)
    info(f"First inference took {first.latency:.2f} ms")
    times: list[float] = []
    start = time.perf_counter()
    if api == "sync":
        while not _done(len(times), start, args.niter, seconds):
            first.infer(inputs)
            times.append(first.latency)
    else:
        queue = ov.AsyncInferQueue(compiled, nireq)
        queue.set_callback(lambda request, _: times.append(request.latency))
        started = 0
        while not _done(started, start, args.niter, seconds):
            queue.start_async(inputs)
            started += 1
        queue.wait_all()
    duration = (time.perf_counter() - start) * 1e3
    count = len(times)
    median = percentile(times, 50)
    fps = batch * 1e3 / median if api == "sync" else batch * count * 1e3 / duration
    if args.pc:
        for kernel, op, run_share, wait_share in compiled.profiling_info():
            info(f"  {op:<40} {kernel:<40} {run_share * 100:6.2f}% run {wait_share * 100:6.2f}% wait")
    info(f"Execution Devices:['{args.d}']")
    info(f"Count:            {count} iterations")
    info(f"Duration:         {duration:.2f} ms")
    info("Latency:")
    info(f"   Median:        {median:.2f} ms")
    info(f"   Average:       {sum(times) / count:.2f} ms")
    info(f"   Min:           {min(times):.2f} ms")
    info(f"   Max:           {max(times):.2f} ms")
    info(f"Throughput:   {fps:.2f} FPS")
    return {"count": count, "duration_ms": duration, "median_ms": median, "average_ms": sum(times) / count,
            "min_ms": min(times), "max_ms": max(times), "fps": fps}


def main(argv: list[str] | None = None) -> int:
    from dialects.errors import OvccError

    args = parser().parse_args(argv)
    try:
        run(args)
    except OvccError as e:
        print(f"[ ERROR ] {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
