"""ovcc side by side with ONNX Runtime, OpenVINO and numpy, interleaved in one run.

    python benchmarks/bench.py [--rounds 7] [--iters 10] [--models mlp,squeezenet,resnet50] [--markdown out.md]

For each model, batch-1 latency of: ovcc (CPU device), ONNX Runtime (2 intra-op threads) and
OpenVINO (CPU, INFERENCE_PRECISION_HINT f32, 2 threads). Each round runs every engine in
turn, so that the machine's noise spreads over all of them; the table shows medians over all
rounds and the ratio to ONNX Runtime. Then float32 matmul 1024^3 (ovcc's kernel vs numpy's
`@`), and ovcc's compile time cold (empty cache) and from the object cache."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import compiler as ov  # noqa: E402
from compiler.samples import light_input, light_model  # noqa: E402


def mlp_model() -> tuple[onnx.ModelProto, np.ndarray]:
    rng = np.random.default_rng(0)
    sizes = [784, 1024, 1024, 512, 10]
    nodes, inits, cur = [], [], "x"
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        inits += [numpy_helper.from_array((rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32), f"w{i}"),
                  numpy_helper.from_array(rng.standard_normal(b).astype(np.float32) * 0.1, f"b{i}")]
        nodes += [helper.make_node("MatMul", [cur, f"w{i}"], [f"m{i}"]), helper.make_node("Add", [f"m{i}", f"b{i}"],
                                                                                            [f"a{i}"])]
        cur = f"a{i}"
        if i < len(sizes) - 2:
            nodes.append(helper.make_node("Relu", [cur], [f"r{i}"]))
            cur = f"r{i}"
    g = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 784])],
                          [helper.make_tensor_value_info(cur, onnx.TensorProto.FLOAT, [1, 10])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m, rng.standard_normal((1, 784)).astype(np.float32)


def engines(model: onnx.ModelProto, x: np.ndarray, tmp: Path) -> dict:
    import onnxruntime as ort
    import openvino

    path = tmp / "m.onnx"
    onnx.save(model, str(path))
    name = next(i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer})
    compiled = ov.compile_model(ov.convert_model(model), "CPU")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    core = openvino.Core()
    ovc = core.compile_model(core.read_model(str(path)), "CPU",
                             {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": 2})
    ref = sess.run(None, {name: x})[0]
    got = compiled([x])[0]
    err = float(np.abs(got - ref).max())
    return {"ovcc": lambda: compiled([x]), "onnxruntime": lambda: sess.run(None, {name: x}),
            "openvino": lambda: ovc([x])}, err


def interleaved(fns: dict, rounds: int, iters: int) -> dict[str, float]:
    samples = {k: [] for k in fns}
    for f in fns.values():
        f()
        f()
    for _ in range(rounds):
        for k, f in fns.items():
            # untimed calls first: the previous engine's worker threads (ONNX Runtime's and
            # OpenBLAS's spin after each call) settle before this engine is timed
            f()
            f()
            for _ in range(iters):
                t = time.perf_counter()
                f()
                samples[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in samples.items()}


def matmul_bench(rounds: int) -> dict[str, float]:
    s = 1024
    g = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["y"])], "mm",
                          [helper.make_tensor_value_info("a", onnx.TensorProto.FLOAT, [s, s]),
                           helper.make_tensor_value_info("b", onnx.TensorProto.FLOAT, [s, s])],
                          [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [s, s])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    compiled = ov.compile_model(ov.convert_model(m), "CPU")
    rng = np.random.default_rng(0)
    a, b = rng.random((s, s), np.float32), rng.random((s, s), np.float32)
    assert np.allclose(compiled([a, b])[0], a @ b, rtol=1e-3, atol=1e-2)
    med = interleaved({"ovcc": lambda: compiled([a, b]), "numpy": lambda: a @ b}, rounds, 10)
    return {k: 2 * s ** 3 / v / 1e9 for k, v in med.items()}


def compile_times(model: onnx.ModelProto) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as d:
        m = ov.convert_model(model)
        t = time.perf_counter()
        ov.compile_model(m, "CPU", {"CACHE_DIR": d})
        cold = time.perf_counter() - t
        t = time.perf_counter()
        ov.compile_model(ov.convert_model(model), "CPU", {"CACHE_DIR": d})
        cached = time.perf_counter() - t
    return cold, cached


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--models", default="mlp,squeezenet,resnet50")
    ap.add_argument("--markdown", help="also write the table to this file")
    args = ap.parse_args(argv)
    lines = ["| benchmark | ovcc | ONNX Runtime | OpenVINO | ovcc / ORT | ovcc / OpenVINO | max abs err vs ORT |",
             "|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as d:
        for name in args.models.split(","):
            model, x = mlp_model() if name == "mlp" else (light_model(name), None)
            if x is None:
                x = light_input(model)
            fns, err = engines(model, x, Path(d))
            med = interleaved(fns, args.rounds, args.iters)
            ms = {k: v * 1e3 for k, v in med.items()}
            lines.append(f"| {name} latency (ms) | {ms['ovcc']:.2f} | {ms['onnxruntime']:.2f} | {ms['openvino']:.2f} | "
                         f"{ms['ovcc'] / ms['onnxruntime']:.2f} | {ms['ovcc'] / ms['openvino']:.2f} | {err:.1e} |")
            print(lines[-1], flush=True)
    gf = matmul_bench(args.rounds)
    lines.append(f"| matmul 1024^3 (GFLOP/s) | {gf['ovcc']:.1f} | | | numpy: {gf['numpy']:.1f} | "
                 f"ovcc/numpy {gf['ovcc'] / gf['numpy']:.2f} | |")
    print(lines[-1], flush=True)
    cold, cached = compile_times(light_model("resnet50"))
    lines.append(f"| resnet50 compile (s) | cold {cold:.1f} | | | cached {cached:.2f} | | |")
    print(lines[-1], flush=True)
    table = "\n".join(lines)
    cpu = os.popen("grep -m1 'model name' /proc/cpuinfo").read().split(":")[-1].strip()
    header = f"Measured {time.strftime('%Y-%m-%d')} on {cpu} ({os.cpu_count()} cores); medians of " \
             f"{args.rounds} interleaved rounds x {args.iters} runs.\n\n"
    print("\n" + header + table)
    if args.markdown:
        Path(args.markdown).write_text(header + table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
