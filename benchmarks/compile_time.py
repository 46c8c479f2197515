"""Compile time against graph size: a long chain of small element-wise/MatMul steps and an
unrolled ONNX LSTM, timed per phase (lowering to the loop dialect, LLVM). Object cache off.

    python benchmarks/compile_time.py [--sizes 500,1000,2000] [--steps 50,100,200]"""

from __future__ import annotations

import argparse
import time

import numpy as np
from onnx import helper, numpy_helper

import compiler as ov


def chain(n: int):
    """n ops: x -> (x @ W + b, tanh, ...) with a 16x16 MatMul every third op."""
    rng = np.random.default_rng(0)
    nodes, inits, cur = [], [], "x"
    for i in range(n):
        out = f"t{i}"
        if i % 3 == 0:
            w = f"w{i}"
            inits.append(numpy_helper.from_array(rng.standard_normal((16, 16)).astype(np.float32) * 0.2, w))
            nodes.append(helper.make_node("MatMul", [cur, w], [out]))
        elif i % 3 == 1:
            nodes.append(helper.make_node("Tanh", [cur], [out]))
        else:
            nodes.append(helper.make_node("Mul", [cur, cur], [out]))
        cur = out
    g = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", 1, [4, 16])],
                          [helper.make_tensor_value_info(cur, 1, [4, 16])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m, [rng.standard_normal((4, 16)).astype(np.float32)]


def lstm(t: int, hidden: int = 32, features: int = 16):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((1, 4 * hidden, features)).astype(np.float32) * 0.1
    r = rng.standard_normal((1, 4 * hidden, hidden)).astype(np.float32) * 0.1
    b = rng.standard_normal((1, 8 * hidden)).astype(np.float32) * 0.1
    node = helper.make_node("LSTM", ["x", "w", "r", "b"], ["y", "yh"], hidden_size=hidden)
    g = helper.make_graph([node], "lstm", [helper.make_tensor_value_info("x", 1, [t, 1, features])],
                          [helper.make_tensor_value_info("yh", 1, None)],
                          [numpy_helper.from_array(a, n) for a, n in ((w, "w"), (r, "r"), (b, "b"))])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m, [rng.standard_normal((t, 1, features)).astype(np.float32)]


def measure(make, size) -> tuple[float, float, float, int]:
    model, inputs = make(size)
    t0 = time.perf_counter()
    compiled = ov.compile_model(ov.convert_model(model), "CPU", {"CACHE_DIR": "", "INFERENCE_PRECISION_HINT": "f32"})
    total = time.perf_counter() - t0
    compiled(inputs)
    s = compiled.stats
    return s.seconds_optimize + s.seconds_lower, s.seconds_llvm, total, s.steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="500,1000,2000")
    ap.add_argument("--steps", default="50,100,200")
    a = ap.parse_args()
    print("| graph | steps | lower (s) | LLVM (s) | compile total (s) |")
    print("|---|---|---|---|---|")
    for name, make, sizes in (("chain", chain, a.sizes), ("LSTM T=", lstm, a.steps)):
        for n in (int(x) for x in sizes.split(",")):
            lo, ll, tot, steps = measure(make, n)
            label = f"chain of {n} ops" if name == "chain" else f"unrolled LSTM T={n}"
            print(f"| {label} | {steps} | {lo:.2f} | {ll:.2f} | {tot:.2f} |", flush=True)


if __name__ == "__main__":
    main()
