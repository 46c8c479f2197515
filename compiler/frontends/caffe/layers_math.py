"""Caffe's activations, Power and Eltwise (BVLC/caffe src/caffe/layers/*_layer.cpp)."""

from __future__ import annotations

import numpy as np

from compiler.frontends.caffe.context import LAYERS, CaffeContext

PROD, SUM, MAX = 0, 1, 2  # EltwiseParameter.EltwiseOp


@LAYERS.register("ReLU")
def _relu(ctx: CaffeContext, layer, ins):
    """max(x, 0) + negative_slope * min(x, 0)."""
    slope = float(layer.relu_param.negative_slope)
    if slope == 0.0:
        return [ctx.b.out("ReLU", ins[:1])]
    return [ctx.b.out("PRelu", [ins[0], ctx.const(np.array([slope], np.float32))])]


@LAYERS.register("PReLU")
def _prelu(ctx: CaffeContext, layer, ins):
    """A learned negative slope per channel (axis 1), or one for all (channel_shared)."""
    x = ins[0]
    rank = ctx.rank(x)
    if rank < 2:
        raise ctx.error(layer, f"needs an input of rank 2 or more, got {rank}")
    if layer.prelu_param.channel_shared:
        slope = ctx.blob(layer, 0, ()).reshape(1)
    else:
        c = ctx.channels(layer, x)
        slope = ctx.blob(layer, 0, (c,)).reshape([1, c] + [1] * (rank - 2))
    return [ctx.b.out("PRelu", [x, ctx.const(slope)])]


@LAYERS.register("Sigmoid")
def _sigmoid(ctx: CaffeContext, layer, ins):
    return [ctx.b.out("Sigmoid", ins[:1])]


@LAYERS.register("TanH")
def _tanh(ctx: CaffeContext, layer, ins):
    return [ctx.b.out("Tanh", ins[:1])]


@LAYERS.register("ELU")
def _elu(ctx: CaffeContext, layer, ins):
    return [ctx.b.out("Elu", ins[:1], alpha=float(layer.elu_param.alpha))]


@LAYERS.register("AbsVal")
def _abs(ctx: CaffeContext, layer, ins):
    return [ctx.b.out("Abs", ins[:1])]


@LAYERS.register("BNLL")
def _bnll(ctx: CaffeContext, layer, ins):
    """log(1 + exp(x))."""
    return [ctx.b.out("SoftPlus", ins[:1])]


@LAYERS.register("Power")
def _power(ctx: CaffeContext, layer, ins):
    """(shift + scale * x) ^ power."""
    p = layer.power_param
    y = ins[0]
    if p.scale != 1.0:
        y = ctx.b.out("Multiply", [y, ctx.const(np.float32(p.scale))])
    if p.shift != 0.0:
        y = ctx.b.out("Add", [y, ctx.const(np.float32(p.shift))])
    if p.power != 1.0:
        y = ctx.b.out("Power", [y, ctx.const(np.float32(p.power))])
    return [y]


@LAYERS.register("Eltwise")
def _eltwise(ctx: CaffeContext, layer, ins):
    """PROD, SUM (each bottom times its coefficient) or MAX of bottoms of one shape."""
    p = layer.eltwise_param
    if len(ins) < 2:
        raise ctx.error(layer, f"needs at least 2 bottoms, got {len(ins)}")
    shapes = [ctx.shape(v) for v in ins]
    if any(len(s) != len(shapes[0]) or any(a is not None and b is not None and a != b for a, b in zip(s, shapes[0]))
           for s in shapes):
        raise ctx.error(layer, f"bottoms must have one shape, got {', '.join(str(list(s)) for s in shapes)}")
    coeff = [float(c) for c in p.coeff]
    if coeff and (p.operation != SUM or len(coeff) != len(ins)):
        raise ctx.error(layer, f"{len(coeff)} coefficients: only SUM takes them, one per bottom ({len(ins)})")
    if p.operation == SUM:
        terms = [v if c == 1.0 else ctx.b.out("Multiply", [v, ctx.const(np.float32(c))])
                 for v, c in zip(ins, coeff or [1.0] * len(ins))]
        op = "Add"
    else:
        terms, op = list(ins), "Multiply" if p.operation == PROD else "Maximum"
    y = terms[0]
    for t in terms[1:]:
        y = ctx.b.out(op, [y, t])
    return [y]
