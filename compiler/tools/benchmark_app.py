"""benchmark_app, as OpenVINO's tool runs it: compile a model for the CPU with a performance
hint, run it with random inputs (synchronously, or asynchronously on several infer requests)
for -niter iterations or -t seconds, and print OpenVINO's summary: Count, Duration, Latency
(median, average, min, max) and Throughput, with benchmark_app's formulas (median =
sorted(times)[ceil(n/2)-1]; sync FPS = batch*1000/median; async FPS = frames/duration).
`--compare ort,openvino` times ONNX Runtime and OpenVINO beside ovcc on the same inputs;
`--report`/`--plot` write the summary as JSON and a PNG; `-i` takes the inputs from an .npz.

    python -m compiler.tools.benchmark_app -m model.onnx -hint throughput -t 10
    ovcc benchmark -m model.onnx -t 5 --compare ort,openvino --report out.json --plot out.png
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_SECONDS = 60  # benchmark_app's default duration on CPU


def parser(prog: str = "benchmark_app") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
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
    p.add_argument("-i", default=None, metavar="FILE.npz", help="input data: an .npz with one array per input name "
                                                             "(default: random inputs)")
    p.add_argument("--compare", default=None, metavar="ENGINES",
                   help="also run the model in these engines, interleaved with ovcc: ort (.onnx models), "
                        "openvino, e.g. ort,openvino (runs sync inferences)")
    p.add_argument("--report", default=None, metavar="OUT.json", help="write the summary of every engine as JSON")
    p.add_argument("--plot", default=None, metavar="OUT.png",
                   help="plot latency distributions and throughputs (needs matplotlib)")
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


def npz_inputs(model: Any, path: str) -> list[np.ndarray]:
    """The arrays of an .npz file, one per model input by name, shape-checked and cast to the
    input's element type."""
    from dialects.errors import InputError

    try:
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as e:
        raise InputError(f"-i {path}: not a readable .npz file ({e})") from None
    names = [sorted(p.names) for p in model.inputs]
    picked = [next((n for n in ns if n in arrays), None) for ns in names]
    extra = set(arrays) - {n for ns in names for n in ns}
    if None in picked or extra:
        raise InputError(f"-i {path}: arrays {sorted(arrays)} do not match the model's inputs "
                         f"{[p.any_name for p in model.inputs]}")
    out = []
    for p, name in zip(model.inputs, picked):
        a = arrays[name]
        if not p.partial_shape.compatible(list(a.shape)):
            raise InputError(f"-i {path}: array {name!r} has shape {list(a.shape)}; the input expects "
                             f"{p.partial_shape}")
        out.append(a.astype(p.dtype, copy=False))
    return out


def _done(count: int, start: float, niter: int | None, seconds: float | None) -> bool:
    if niter is not None and count >= niter:
        return True
    return seconds is not None and time.perf_counter() - start >= seconds


def summary(times: list[float], duration: float, batch: int, api: str) -> dict[str, Any]:
    """benchmark_app's numbers for one engine's latencies (ms) over `duration` ms."""
    count = len(times)
    median = percentile(times, 50)
    fps = batch * 1e3 / median if api == "sync" else batch * count * 1e3 / duration
    return {"count": count, "duration_ms": duration, "median_ms": median, "average_ms": sum(times) / count,
            "min_ms": min(times), "max_ms": max(times), "fps": fps}


def _print_summary(info: Any, s: dict[str, Any]) -> None:
    info(f"Count:            {s['count']} iterations")
    info(f"Duration:         {s['duration_ms']:.2f} ms")
    info("Latency:")
    info(f"   Median:        {s['median_ms']:.2f} ms")
    info(f"   Average:       {s['average_ms']:.2f} ms")
    info(f"   Min:           {s['min_ms']:.2f} ms")
    info(f"   Max:           {s['max_ms']:.2f} ms")
    info(f"Throughput:   {s['fps']:.2f} FPS")


def _others(names: list[str], args: argparse.Namespace, model: Any, inputs: list[np.ndarray],
            config: dict[str, Any], info: Any) -> tuple[list[Any], dict[str, str]]:
    """The --compare engines that can run the model; the others with the reason why not."""
    from compiler.tools.benchmark_engines import NAMES, EngineUnavailable, openvino_engine, ort_engine

    by_name = {n: a for p, a in zip(model.inputs, inputs) for n in p.names}
    ov_config = {k: v for k, v in config.items() if k in ("PERFORMANCE_HINT", "NUM_STREAMS", "INFERENCE_NUM_THREADS",
                                                          "INFERENCE_PRECISION_HINT")}
    engines, skipped = [], {}
    for name in names:
        try:
            engines.append(ort_engine(args.m, by_name, args.nthreads) if name == "ort"
                           else openvino_engine(args.m, by_name, ov_config))
        except EngineUnavailable as e:
            skipped[NAMES[name]] = str(e)
            info(f"{NAMES[name]}: skipped: {e}")
    return engines, skipped


def run(args: argparse.Namespace, out: Any = None) -> dict[str, Any]:
    """Benchmark the model as the arguments say; print the summary (to `out`, default stdout)
    and return the report (`report["engines"]["ovcc"]` holds ovcc's numbers)."""
    import compiler as ov

    out = out or sys.stdout

    def info(msg: str) -> None:
        print(f"[ INFO ] {msg}", file=out, flush=True)

    core = ov.Core()
    model = core.read_model(args.m)
    if args.shape:
        model.reshape(args.shape)
    if args.i:
        inputs = npz_inputs(model, args.i)
        shapes = [a.shape for a in inputs]
    else:
        shapes = _data_shapes(model, args.data_shape)
        inputs = random_inputs(model, shapes)
    batch = shapes[0][0] if shapes and shapes[0] else 1
    compare = []
    if args.compare:
        from compiler.tools.benchmark_engines import parse_compare

        compare = parse_compare(args.compare)
    config = _config(args)
    t0 = time.perf_counter()
    compiled = core.compile_model(model, args.d, config)
    info(f"Compile model took {(time.perf_counter() - t0) * 1e3:.2f} ms")
    api = "sync" if compare else args.api or ("sync" if args.hint in ("latency", "none") else "async")
    seconds = args.t if args.t is not None else (None if args.niter is not None else DEFAULT_SECONDS)
    nireq = 1 if api == "sync" else (args.nireq or compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
    for k in ("PERFORMANCE_HINT", "NUM_STREAMS", "INFERENCE_NUM_THREADS", "INFERENCE_PRECISION_HINT"):
        info(f"  {k}: {compiled.get_property(k)}")
    ovcc_config = {"hint": compiled.get_property("PERFORMANCE_HINT"), "streams": compiled.get_property("NUM_STREAMS"),
                   "threads": compiled.get_property("INFERENCE_NUM_THREADS"),
                   "precision": compiled.get_property("INFERENCE_PRECISION_HINT"), "device": args.d}
    others, skipped = _others(compare, args, model, inputs, config, info)
    info(f"Measuring performance ({api} inference, {nireq} inference request(s), limits: "
         f"{f'{args.niter} iterations' if args.niter is not None else ''}"
         f"{', ' if args.niter is not None and seconds is not None else ''}"
         f"{f'{seconds:g} s' if seconds is not None else ''}, inference only: True, device: {args.d})")
    first = compiled.create_infer_request()
    first.infer(inputs)  # warm-up, as benchmark_app's first inference (not counted)
    info(f"First inference took {first.latency:.2f} ms")
    times: list[float] = []
    start = time.perf_counter()
    if compare:
        from compiler.tools.benchmark_engines import Engine, interleave

        engines = [Engine("ovcc", lambda: first.infer(inputs), ovcc_config), *others]
        interleave(engines, args.niter, seconds)
        times = engines[0].times
        duration = sum(times)  # the time spent in ovcc's inferences
    elif api == "sync":
        while not _done(len(times), start, args.niter, seconds):
            first.infer(inputs)
            times.append(first.latency)
        duration = (time.perf_counter() - start) * 1e3
    else:
        queue = ov.AsyncInferQueue(compiled, nireq)
        queue.set_callback(lambda request, _: times.append(request.latency))
        started = 0
        while not _done(started, start, args.niter, seconds):
            queue.start_async(inputs)
            started += 1
        queue.wait_all()
        duration = (time.perf_counter() - start) * 1e3
    results = {"ovcc": {**summary(times, duration, batch, api), "config": ovcc_config}}
    latencies = {"ovcc": times}
    if compare:
        for e in engines[1:]:
            results[e.name] = {**summary(e.times, sum(e.times), batch, api), "config": e.config}
            latencies[e.name] = e.times
    if args.pc:
        for kernel, op, run_share, wait_share in compiled.profiling_info():
            info(f"  {op:<40} {kernel:<40} {run_share * 100:6.2f}% run {wait_share * 100:6.2f}% wait")
    info(f"Execution Devices:['{args.d}']")
    _print_summary(info, results["ovcc"])
    if compare:
        _print_comparison(info, results, len(times))
    from compiler.tools.benchmark_report import host_cpu, write_plot, write_report

    report = {"model": str(args.m), "api": api, "batch": batch, "interleaved": bool(compare),
              "host_cpu": host_cpu(), "engines": results, "skipped": skipped}
    if args.report:
        write_report(args.report, report)
        info(f"Report written to {args.report}")
    if args.plot:
        write_plot(args.plot, latencies, {k: v["fps"] for k, v in results.items()},
                   f"{Path(args.m).name}, {api}, batch {batch}")
        info(f"Plot written to {args.plot}")
    return report


def _print_comparison(info: Any, results: dict[str, dict[str, Any]], rounds: int) -> None:
    info(f"Compared ({rounds} rounds, one sync inference per engine per round, same inputs):")
    info(f"   {'engine':<14}{'median ms':>12}{'average ms':>12}{'FPS':>12}{'median / ovcc':>15}")
    base = results["ovcc"]["median_ms"]
    for name, r in results.items():
        info(f"   {name:<14}{r['median_ms']:>12.3f}{r['average_ms']:>12.3f}{r['fps']:>12.2f}"
             f"{r['median_ms'] / base:>14.2f}x")


def main(argv: list[str] | None = None, prog: str = "benchmark_app") -> int:
    from dialects.errors import OvccError

    args = parser(prog).parse_args(argv)
    try:
        run(args)
    except OvccError as e:
        print(f"[ ERROR ] {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
