"""Hypothesis strategies that generate random valid `ov` graphs: element-wise chains with
broadcasting, MatMul, Convolution, Reshape, Transpose, Concat, SoftMax, reductions, Pad, Slice, constants,
several outputs, and values used more than once."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from compiler.frontends.builder import GraphBuilder
from compiler.model import Model

UNARY = ["ReLU", "Sigmoid", "Tanh", "Abs", "Negative", "HSwish", "Gelu", "Erf", "SoftPlus", "Clamp", "Elu",
         "Exp"]
BINARY = ["Add", "Subtract", "Multiply", "Maximum", "Minimum"]


@st.composite
def shapes(draw, rank=None, min_side=1, max_side=5):
    r = rank if rank is not None else draw(st.integers(1, 4))
    return tuple(draw(st.integers(min_side, max_side)) for _ in range(r))


def _broadcastable(draw, shape):
    """A shape that broadcasts to `shape` (some dims 1, maybe fewer dims)."""
    drop = draw(st.integers(0, len(shape)))
    return tuple(d if draw(st.booleans()) else 1 for d in shape[drop:])


def _broadcasts_to(a, b) -> bool:
    try:
        return np.broadcast_shapes(a, b) == tuple(b)
    except ValueError:
        return False


@st.composite
def graphs(draw, max_ops: int = 8) -> tuple[Model, list[np.ndarray]]:
    b = GraphBuilder()
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    n_in = draw(st.integers(1, 2))
    values = []
    inputs = []
    for i in range(n_in):
        shape = draw(shapes())
        values.append(b.add_input([f"in{i}"], shape, np.float32))
        inputs.append(rng.standard_normal(shape).astype(np.float32))

    def const(shape, scale=1.0):
        return b.const((rng.standard_normal(shape) * scale).astype(np.float32))

    def shape(v):
        return tuple(v.type.get_shape())

    for _ in range(draw(st.integers(1, max_ops))):
        x = draw(st.sampled_from(values))
        xs = shape(x)
        kind = draw(st.sampled_from(["unary", "binary", "binary_const", "matmul", "conv", "reshape", "transpose",
                                     "concat", "softmax", "reduce", "pad", "slice"]))
        if kind == "unary":
            t = draw(st.sampled_from(UNARY))
            attrs = {"Clamp": {"min": -0.5, "max": 0.7}, "Elu": {"alpha": 0.3}}.get(t, {})
            if t == "Exp":
                x = b.out("Clamp", [x], min=-5.0, max=5.0)
            values.append(b.out(t, [x], **attrs))
        elif kind == "binary":
            others = [v for v in values if _broadcasts_to(shape(v), xs)]
            y = draw(st.sampled_from(others))
            values.append(b.out(draw(st.sampled_from(BINARY)), [x, y] if draw(st.booleans()) else [y, x]))
        elif kind == "binary_const":
            values.append(b.out(draw(st.sampled_from(BINARY)), [x, const(_broadcastable(draw, xs))]))
        elif kind == "matmul" and len(xs) >= 2:
            n = draw(st.integers(1, 6))
            tb = draw(st.booleans())
            w = const((n, xs[-1]) if tb else (xs[-1], n), 1 / np.sqrt(xs[-1]))
            values.append(b.out("MatMul", [x, w], transpose_b=tb))
        elif kind == "conv" and len(xs) == 4:
            k = draw(st.integers(1, min(3, xs[2], xs[3])))
            cout = draw(st.integers(1, 6))
            s = draw(st.integers(1, 2))
            p = draw(st.integers(0, k - 1))
            w = const((cout, xs[1], k, k), 1 / np.sqrt(xs[1] * k * k))
            c = b.out("Convolution", [x, w], strides=[s, s], pads_begin=[p, p], pads_end=[p, p], dilations=[1, 1])
            if draw(st.booleans()):
                c = b.out("Add", [c, const((1, cout, 1, 1))])
            values.append(c)
        elif kind == "reshape":
            values.append(b.out("Reshape", [x, b.const(np.array([-1], np.int64))], special_zero=False))
        elif kind == "transpose" and len(xs) >= 2:
            perm = draw(st.permutations(list(range(len(xs)))))
            values.append(b.out("Transpose", [x, b.const(np.array(perm, np.int64))]))
        elif kind == "concat":
            axis = draw(st.integers(0, len(xs) - 1))
            same = [v for v in values if len(shape(v)) == len(xs) and all(
                a == c for i, (a, c) in enumerate(zip(shape(v), xs)) if i != axis)]
            values.append(b.out("Concat", [x, draw(st.sampled_from(same))], axis=axis))
        elif kind == "softmax":
            values.append(b.out("SoftMax", [x], axis=draw(st.integers(-len(xs), len(xs) - 1))))
        elif kind == "reduce" and len(xs) >= 2:
            axes = sorted(draw(st.sets(st.integers(0, len(xs) - 1), min_size=1, max_size=len(xs) - 1)))
            t = draw(st.sampled_from(["ReduceSum", "ReduceMean", "ReduceMax"]))
            values.append(b.out(t, [x, b.const(np.array(axes, np.int64))], keep_dims=draw(st.booleans())))
        elif kind == "pad":
            pb = [draw(st.integers(0, 2)) for _ in xs]
            pe = [draw(st.integers(0, 2)) for _ in xs]
            mode = draw(st.sampled_from(["constant", "edge"]))
            ins = [x, b.const(np.array(pb, np.int64)), b.const(np.array(pe, np.int64))]
            if mode == "constant":
                ins.append(b.const(np.float32(0.5)))
            values.append(b.out("Pad", ins, pad_mode=mode))
        elif kind == "slice":
            start = [draw(st.integers(0, d - 1)) for d in xs]
            stop = [draw(st.integers(a + 1, d)) for a, d in zip(start, xs)]
            step = [draw(st.integers(1, 2)) for _ in xs]
            values.append(b.out("Slice", [x] + [b.const(np.array(v, np.int64)) for v in (start, stop, step)]
                                + [b.const(np.arange(len(xs), dtype=np.int64))]))
    outs = [values[-1]]
    extra = [v for v in values[n_in:-1] if v not in outs]
    if extra and draw(st.booleans()):
        outs.append(draw(st.sampled_from(extra)))
    return Model(b.finish([(v, [f"out{i}"]) for i, v in enumerate(outs)])), inputs
