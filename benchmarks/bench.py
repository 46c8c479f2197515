"""ovcc side by side with ONNX Runtime, OpenVINO and numpy, interleaved in one run.

    python benchmarks/bench.py [--rounds 7] [--iters 10] [--models mlp,resnet50,mobilenetv2] [--markdown out.md]

For each model, batch-1 latency in three precisions, every engine of a model interleaved in
one run (each round runs every engine in turn, so that the machine's noise spreads over all of
them; the table shows medians over all rounds):
- f32: ovcc (INFERENCE_PRECISION_HINT f32), ONNX Runtime (2 intra-op threads), OpenVINO (f32);
- default: ovcc and OpenVINO with no hint (bf16 where the CPU has native bf16, else f32), with
  each one's max abs error and cosine against ONNX Runtime f32 over 8 held-out inputs;
- int8: the model quantized (ONNX Runtime's static QDQ quantizer, u8 activations, s8 weights per
  channel, calibrated on 16 random inputs; or `compiler.quantize` where it exists, with
  `--quantizer ovcc`) run by ovcc, OpenVINO and ONNX Runtime; with the cosine of ovcc's int8
  outputs against its f32 ones over 8 held-out inputs.
Then float32 matmul 1024^3 (ovcc's kernel vs numpy's `@`), and ovcc's compile time cold
(empty cache) and from the object cache."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnx.version_converter
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


def encoder_model() -> tuple[onnx.ModelProto, np.ndarray]:
    """A BERT-style encoder (MiniLM's shape: 6 layers, d 384, 12 heads, FFN 1536, GELU, sequence
    128), exported from PyTorch with seeded weights, distinct in every layer."""
    import io

    import torch

    torch.manual_seed(0)
    torch.backends.mha.set_fastpath_enabled(False)  # the fused fast path has no ONNX export
    layer = torch.nn.TransformerEncoderLayer(384, 12, 1536, dropout=0.0, activation="gelu", batch_first=True)
    enc = torch.nn.TransformerEncoder(layer, 6, enable_nested_tensor=False).eval()
    with torch.no_grad():  # the layers are deep copies of one: give each its own weights, as a trained model has
        for p in enc.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    x = torch.randn(1, 128, 384)
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(enc, (x,), buf, input_names=["x"], output_names=["y"], opset_version=17, dynamo=False)
    return onnx.load_from_string(buf.getvalue()), x.numpy()


def mobilenet_v2_model() -> tuple[onnx.ModelProto, np.ndarray]:
    """MobileNetV2 (width 1.0, 224x224: inverted residual blocks of 1x1 expansion, 3x3
    depthwise and 1x1 projection convolutions, BatchNorm, ReLU6), written out in PyTorch with
    seeded weights and BatchNorm statistics, exported to ONNX."""
    import io

    import torch
    from torch import nn

    def conv_bn(cin, cout, k, stride, groups=1, act=True):
        layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
        return layers + ([nn.ReLU6()] if act else [])

    class Block(nn.Module):
        def __init__(self, cin, cout, stride, t):
            super().__init__()
            hidden = cin * t
            self.res = stride == 1 and cin == cout
            self.body = nn.Sequential(*(conv_bn(cin, hidden, 1, 1) if t != 1 else []),
                                      *conv_bn(hidden, hidden, 3, stride, groups=hidden),
                                      *conv_bn(hidden, cout, 1, 1, act=False))

        def forward(self, x):
            return x + self.body(x) if self.res else self.body(x)

    torch.manual_seed(0)
    layers, cin = conv_bn(3, 32, 3, 2), 32
    for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                       (6, 320, 1, 1)]:
        for i in range(n):
            layers.append(Block(cin, c, s if i == 0 else 1, t))
            cin = c
    layers += conv_bn(cin, 1280, 1, 1) + [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1280, 1000)]
    net = nn.Sequential(*layers).eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    x = torch.randn(1, 3, 224, 224)
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(net, (x,), buf, input_names=["x"], output_names=["y"], opset_version=17, dynamo=False)
    return onnx.load_from_string(buf.getvalue()), x.numpy()


def quantized(model: onnx.ModelProto, x: np.ndarray, tmp: Path, quantizer: str):
    """The model quantized to int8, and how: ONNX Runtime's static QDQ quantizer, or ovcc's."""
    rng = np.random.default_rng(1)
    samples = [rng.standard_normal(x.shape).astype(np.float32) for _ in range(16)]
    if quantizer == "ovcc":
        q = ov.quantize(ov.convert_model(model), ov.Dataset(samples), subset_size=len(samples))
        path = tmp / "q.xml"
        ov.save_model(q, str(path))
        return q, path
    import warnings

    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    name = next(i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer})

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.data = iter([{name: s} for s in samples])

        def get_next(self):
            return next(self.data, None)

    src, dst = tmp / "float.onnx", tmp / "q.onnx"
    model = onnx.ModelProto.FromString(model.SerializeToString())
    model.ir_version = max(model.ir_version, 7)  # initializers need not be inputs (the zoo's are old)
    if model.opset_import[0].version < 13:  # OpenVINO reads ORT's QDQ output of opset 13 models
        model = onnx.version_converter.convert_version(model, 13)
    onnx.save(onnx.shape_inference.infer_shapes(model), str(src))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return onnx.load(str(dst)), dst


def engines(model: onnx.ModelProto, x: np.ndarray, tmp: Path, quantizer: str) -> tuple[dict, dict]:
    """Timed callables by "engine precision", and what the table says beside them."""
    import onnxruntime as ort
    import openvino

    path = tmp / "m.onnx"
    onnx.save(model, str(path))
    name = next(i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer})
    converted = ov.convert_model(model)
    f32 = ov.compile_model(converted, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    default = ov.compile_model(converted, "CPU")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    core = openvino.Core()
    ov_f32 = core.compile_model(core.read_model(str(path)), "CPU",
                                {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": 2})
    ov_default = core.compile_model(core.read_model(str(path)), "CPU", {"INFERENCE_NUM_THREADS": 2})
    q, qpath = quantized(model, x, tmp, quantizer)
    int8 = ov.compile_model(ov.convert_model(q) if isinstance(q, onnx.ModelProto) else q, "CPU")
    # OpenVINO 2025's CPU plugin can crash compiling a quantized model (seen: DenseNet-121 on an
    # AVX2 EPYC, SIGSEGV): try it in a child process first
    probe = subprocess.run([sys.executable, "-c", "import sys, openvino; openvino.Core().compile_model(sys.argv[1], "
                            "'CPU')", str(qpath)], capture_output=True)
    ov_int8 = core.compile_model(core.read_model(str(qpath)), "CPU", {"INFERENCE_NUM_THREADS": 2}) \
        if probe.returncode == 0 else None
    fns = {"ovcc f32": lambda: f32([x]), "onnxruntime f32": lambda: sess.run(None, {name: x}),
           "openvino f32": lambda: ov_f32([x]), "ovcc default": lambda: default([x]),
           "openvino default": lambda: ov_default([x]), "ovcc int8": lambda: int8([x])}
    if ov_int8 is not None:
        fns["openvino int8"] = lambda: ov_int8([x])
    if qpath.suffix == ".onnx":
        qsess = ort.InferenceSession(str(qpath), opts, providers=["CPUExecutionProvider"])
        fns["onnxruntime int8"] = lambda: qsess.run(None, {name: x})
    ref = sess.run(None, {name: x})[0]
    rng = np.random.default_rng(2)
    held = [rng.standard_normal(x.shape).astype(np.float32) for _ in range(8)]
    def outputs(run):  # the first output over the held-out inputs, as one float64 vector
        return np.concatenate([np.asarray(run(h)).ravel() for h in held]).astype(np.float64)

    def cosine(a, b):
        return a @ b / (np.linalg.norm(a) * np.linalg.norm(b))

    truth = outputs(lambda h: sess.run(None, {name: h})[0])
    a, b = outputs(lambda h: f32([h])[0]), outputs(lambda h: int8([h])[0])
    accuracy = []  # default precision of both against ONNX Runtime f32 on the same inputs
    for run in (lambda h: default([h])[0], lambda h: ov_default([h])[0]):
        d = outputs(run)
        accuracy.append(f"max abs err {np.abs(d - truth).max():.1e}, cosine {cosine(d, truth):.6f}")
    info = {"err": float(np.abs(f32([x])[0] - ref).max()),
            "default": f"ovcc {default.get_property('INFERENCE_PRECISION_HINT')} ({accuracy[0]}), OpenVINO "
                       f"{ov_default.get_property('INFERENCE_PRECISION_HINT').to_string()} ({accuracy[1]}) vs ORT f32",
            "int8": f"ovcc int8 ops {int8.stats.int8_ops} ({int8.stats.int8_isa or 'no int8 kernels'}), "
                    f"cosine vs f32 {cosine(a, b):.5f}"
                    + ("" if ov_int8 is not None else f"; OpenVINO crashed compiling it (exit {probe.returncode})")}
    return fns, info


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
    compiled = ov.compile_model(ov.convert_model(m), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
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


BUILT = {"mlp": mlp_model, "encoder": encoder_model, "mobilenetv2": mobilenet_v2_model}  # the others: the onnx zoo's


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--models", default="mlp,squeezenet,resnet50,mobilenetv2,densenet121,inception_v1,encoder")
    ap.add_argument("--markdown", help="also write the table to this file")
    ap.add_argument("--quantizer", choices=["onnxruntime", "ovcc"], default="onnxruntime",
                    help="who quantizes the int8 models (ovcc: compiler.quantize, written as IR)")
    args = ap.parse_args(argv)
    lines = ["| benchmark | ovcc | ONNX Runtime | OpenVINO | ovcc / ORT | ovcc / OpenVINO | notes |",
             "|---|---|---|---|---|---|---|"]

    def row(label, ms, key, note):
        o, r, v = (ms.get(f"{e} {key}") for e in ("ovcc", "onnxruntime", "openvino"))
        cells = [f"{t:.2f}" if t else "" for t in (o, r, v)]
        ratios = [f"{o / t:.2f}" if t else "" for t in (r, v)]
        lines.append(f"| {label} | " + " | ".join(cells + ratios) + f" | {note} |")
        print(lines[-1], flush=True)

    with tempfile.TemporaryDirectory() as d:
        for name in args.models.split(","):
            if name in BUILT:
                model, x = BUILT[name]()
            else:
                model = light_model(name)
                x = light_input(model)
            fns, info = engines(model, x, Path(d), args.quantizer)
            med = interleaved(fns, args.rounds, args.iters)
            ms = {k: v * 1e3 for k, v in med.items()}
            row(f"{name} f32 (ms)", ms, "f32", f"max abs err vs ORT {info['err']:.1e}")
            row(f"{name} default (ms)", ms, "default", info["default"])
            row(f"{name} int8 (ms)", ms, "int8", info["int8"])
    gf = matmul_bench(args.rounds)
    lines.append(f"| matmul 1024^3 (GFLOP/s) | {gf['ovcc']:.1f} | | | numpy: {gf['numpy']:.1f} | "
                 f"ovcc/numpy {gf['ovcc'] / gf['numpy']:.2f} | |")
    print(lines[-1], flush=True)
    cold, cached = compile_times(light_model("resnet50"))
    lines.append(f"| resnet50 compile (s) | cold {cold:.1f} | | | cached {cached:.2f} | | |")
    print(lines[-1], flush=True)
    table = "\n".join(lines)
    cpu = os.popen("grep -m1 'model name' /proc/cpuinfo").read().split(":")[-1].strip()
    import llvmlite.binding as llvm

    feats = sorted(k for k, v in llvm.get_host_cpu_features().items() if v and k.startswith(("avx", "amx", "fma")))
    header = f"Measured {time.strftime('%Y-%m-%d')} on {cpu} ({os.cpu_count()} cores; LLVM host features " \
             f"{' '.join(feats)}); medians of {args.rounds} interleaved rounds x {args.iters} runs.\n\n"
    print("\n" + header + table)
    if args.markdown:
        Path(args.markdown).write_text(header + table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
