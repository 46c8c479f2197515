"""Scans that frontends share: running products (ONNX CumProd, torch.cumprod), running
log-sum-exp and sequence reversal (ONNX and OpenVINO ReverseSequence), built from ops the `ov`
dialect has."""

from __future__ import annotations

import numpy as np

from compiler.frontends.builder import FrontendContext


def shift(ctx: FrontendContext, x, axis: int, n: int, by: int, fill):
    """x moved `by` places forward along `axis`, the first `by` places filled with `fill`."""
    r = ctx.rank(x)
    kept = ctx.b.out("Slice", [x, ctx.i64([0]), ctx.i64([n - by]), ctx.i64([1]), ctx.i64([axis])])
    begin = [0] * r
    begin[axis] = by
    return ctx.b.out("Pad", [kept, ctx.i64(begin), ctx.i64([0] * r), ctx.const(np.asarray(fill, ctx.dtype(x)))],
                     pad_mode="constant")


def running_product(ctx: FrontendContext, x, axis: int, exclusive: bool = False, reverse: bool = False):
    """Products of the elements up to each position along `axis` (a static dimension), by
    doubling (Hillis-Steele): log2(n) multiplications by shifted copies."""
    r = ctx.rank(x)
    axis = axis + r if axis < 0 else axis
    n = ctx.shape(x)[axis]
    if n is None:
        raise ValueError("a running product needs a static dimension along its axis")
    y = ctx.b.out("Reverse", [x, ctx.i64([axis])], mode="index") if reverse else x
    if exclusive and n > 0:
        y = shift(ctx, y, axis, n, 1, 1)
    step = 1
    while step < n:
        y = ctx.b.out("Multiply", [y, shift(ctx, y, axis, n, step, 1)])
        step *= 2
    return ctx.b.out("Reverse", [y, ctx.i64([axis])], mode="index") if reverse else y


def running_logsumexp(ctx: FrontendContext, x, axis: int):
    """log(cumsum(exp(x))) along `axis`, shifted by the axis maximum for range."""
    m = ctx.b.out("ReduceMax", [x, ctx.i64([axis])], keep_dims=True)
    s = ctx.b.out("CumSum", [ctx.b.out("Exp", [ctx.b.out("Subtract", [x, m])]), ctx.i64(axis)])
    return ctx.b.out("Add", [ctx.b.out("Log", [s]), m])


def reverse_sequence(ctx: FrontendContext, x, lens, t_axis: int, b_axis: int):
    """Each batch entry's first lens[b] steps along `t_axis` reversed, the rest kept."""
    b = ctx.b
    r = ctx.rank(x)
    t_axis, b_axis = t_axis + r if t_axis < 0 else t_axis, b_axis + r if b_axis < 0 else b_axis
    if not (0 <= t_axis < r and 0 <= b_axis < r) or t_axis == b_axis:
        raise ValueError(f"time axis {t_axis} and batch axis {b_axis} must be distinct axes of a rank-{r} input")
    steps = ctx.shape(x)[t_axis]
    if steps is None:
        raise ValueError("needs a static time dimension")
    t_shape = [1] * r
    t_shape[t_axis] = steps
    t = ctx.i64(np.arange(steps).reshape(t_shape))
    l_shape = [1] * r
    l_shape[b_axis] = -1
    lens = b.out("Reshape", [b.out("Convert", [lens], destination_type=np.dtype(np.int64)), ctx.i64(l_shape)],
                 special_zero=False)
    src = b.out("Select", [b.out("Less", [t, lens]), b.out("Subtract", [b.out("Subtract", [lens, ctx.i64(1)]), t]), t])
    idx = b.out("Broadcast", [src, b.out("ShapeOf", [x], output_type=np.int64)], mode="numpy")
    return b.out("GatherElements", [x, idx], axis=t_axis)
