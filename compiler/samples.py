"""Sample models for the demo, the benchmarks and the tests: the ONNX model zoo's "light"
graphs that ship with the onnx wheel, with seeded random weights in place of their constant
0.02 ones (which hide layout and indexing bugs)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

LIGHT_DIR = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
LIGHT_MODELS = sorted(p.stem[len("light_"):] for p in LIGHT_DIR.glob("light_*.onnx"))


def randomize_weights(model: onnx.ModelProto, seed: int = 0) -> onnx.ModelProto:
    """Replace every ConstantOfShape weight generator by a seeded random initializer: 1/sqrt(fan-in)
    normal filters, and 1-D parameters (biases, BN statistics) in [0.5, 1.5) so that variances
    stay positive and activations stay in range."""
    rng = np.random.default_rng(seed)
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    keep = []
    for node in g.node:
        if node.op_type == "ConstantOfShape" and node.input[0] in inits:
            shape = [int(d) for d in inits[node.input[0]]]
            if len(shape) >= 2:
                fan_in = int(np.prod(shape[1:]))
                w = rng.standard_normal(shape) * np.sqrt(1.0 / fan_in)
            else:
                w = rng.uniform(0.5, 1.5, shape)
            g.initializer.append(numpy_helper.from_array(w.astype(np.float32), node.output[0]))
        else:
            keep.append(node)
    del g.node[:]
    g.node.extend(keep)
    used = {name for n in keep for name in n.input} | {o.name for o in g.output}
    stale = {t.name for t in g.initializer if t.name not in used}
    kept_inits = [t for t in g.initializer if t.name not in stale]
    kept_inputs = [i for i in g.input if i.name not in stale]
    del g.initializer[:]
    g.initializer.extend(kept_inits)
    del g.input[:]
    g.input.extend(kept_inputs)
    return m


@functools.cache
def light_model(name: str, random: bool = True) -> onnx.ModelProto:
    m = onnx.load(str(LIGHT_DIR / f"light_{name}.onnx"))
    return randomize_weights(m) if random else m


def light_input(model: onnx.ModelProto, seed: int = 1) -> np.ndarray:
    inits = {t.name for t in model.graph.initializer}
    inp = next(i for i in model.graph.input if i.name not in inits)
    shape = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


