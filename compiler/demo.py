"""`make demo`: convert a bundled model (the ONNX zoo's ResNet-50 from the onnx wheel, with
seeded random weights), compile it, run it, and compare with ONNX Runtime."""

from __future__ import annotations

import sys
import time

import numpy as np


def main() -> int:
    import compiler as ov
    from compiler.samples import light_input, light_model

    model_proto = light_model("resnet50")
    x = light_input(model_proto)
    t0 = time.perf_counter()
    model = ov.convert_model(model_proto)
    t_convert = time.perf_counter() - t0
    device = "CPU"
    t0 = time.perf_counter()
    try:
        compiled = ov.compile_model(model, device)
    except ov.CompileError as e:
        print(f"CPU device unavailable ({e}); using the reference interpreter")
        device = "REFERENCE"
        compiled = ov.compile_model(model, device)
    t_compile = time.perf_counter() - t0
    y = compiled([x])[0]
    times = []
    for _ in range(10 if device == "CPU" else 3):
        t = time.perf_counter()
        compiled([x])
        times.append(time.perf_counter() - t)

    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model_proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    ref = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    err = float(np.abs(y - ref).max())
    print(f"model: ONNX zoo ResNet-50 (random weights), input {list(x.shape)}")
    print(f"convert {t_convert:.2f} s, compile ({device}) {t_compile:.2f} s")
    print(f"latency ({device}): median {sorted(times)[len(times) // 2] * 1e3:.1f} ms")
    print(f"max |ovcc - onnxruntime| = {err:.2e}; top-1 agrees: {int(y.argmax()) == int(ref.argmax())}")
    return 0 if np.allclose(y, ref, rtol=1e-4, atol=1e-5) else 1


if __name__ == "__main__":
    sys.exit(main())
