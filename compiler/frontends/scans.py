"""Scans that frontends share: running products (ONNX CumProd, torch.cumprod) and running
log-sum-exp, built from ops the `ov` dialect has."""

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
