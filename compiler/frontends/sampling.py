"""2-D grid sampling (ONNX GridSample, torch grid_sampler_2d) decomposed into `ov` ops.

Grid coordinates in [-1, 1] are mapped to pixels (align_corners or not), padded (zeros: taps
outside the image weigh nothing; border: clamped; reflection: mirrored, then clamped), and the
taps are read with one GatherElements each over the flattened image: four weighted taps for
bilinear, one (rounded half to even) for nearest."""

from __future__ import annotations

import numpy as np

from compiler.frontends.builder import FrontendContext


def _reflect(ctx: FrontendContext, v, lo: float, hi: float):
    """Mirror v into [lo, hi] (PyTorch's reflect_coordinates)."""
    b, dt = ctx.b, ctx.dtype(v)
    span = hi - lo
    if span <= 0:
        return b.out("Multiply", [v, ctx.const(np.zeros((), dt))])
    d = b.out("Abs", [b.out("Subtract", [v, ctx.const(np.asarray(lo, dt))])])
    flips = b.out("Floor", [b.out("Divide", [d, ctx.const(np.asarray(span, dt))])])
    extra = b.out("Subtract", [d, b.out("Multiply", [flips, ctx.const(np.asarray(span, dt))])])
    odd = b.out("Equal", [b.out("FloorMod", [flips, ctx.const(np.asarray(2, dt))]), ctx.const(np.ones((), dt))])
    even_v = b.out("Add", [extra, ctx.const(np.asarray(lo, dt))])
    odd_v = b.out("Subtract", [ctx.const(np.asarray(span + lo, dt)), extra])
    return b.out("Select", [odd, odd_v, even_v])


def grid_sample_2d(ctx: FrontendContext, x, grid, mode: str, padding: str, align_corners: bool):
    """x [N, C, H, W] sampled at grid [N, Ho, Wo, 2] (x then y, in [-1, 1])."""
    b = ctx.b
    n, c, h, w = ctx.shape(x)
    _, ho, wo, _ = ctx.shape(grid)
    if None in (c, h, w, ho, wo):
        raise ValueError("grid sampling needs static channel, image and grid sizes")
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"grid sampling mode {mode!r} is not supported")
    dt = ctx.dtype(x)

    def k(v):
        return ctx.const(np.asarray(v, dt))

    def coord(axis: int, size: int):
        g = b.out("Gather", [grid, ctx.i64(axis), ctx.i64(3)], batch_dims=0)   # [N, Ho, Wo]
        if align_corners:
            p = b.out("Multiply", [b.out("Add", [g, k(1)]), k((size - 1) / 2)])
        else:
            p = b.out("Divide", [b.out("Subtract", [b.out("Multiply", [b.out("Add", [g, k(1)]), k(size)]), k(1)]),
                                 k(2)])
        if padding == "border":
            p = b.out("Clamp", [p], min=0.0, max=float(size - 1))
        elif padding == "reflection":
            p = _reflect(ctx, p, 0.0, size - 1.0) if align_corners else _reflect(ctx, p, -0.5, size - 0.5)
            p = b.out("Clamp", [p], min=0.0, max=float(size - 1))
        return p
    px, py = coord(0, w), coord(1, h)
    flat = b.out("Reshape", [x, ctx.i64([0, c, h * w])], special_zero=True)
    out_shape = b.out("Concat", [b.out("Slice", [b.out("ShapeOf", [x], output_type=np.int64), ctx.i64([0]),
                                                 ctx.i64([1]), ctx.i64([1]), ctx.i64([0])]),
                                 ctx.i64([c, ho * wo])], axis=0)

    def tap(xi, yi):
        """x at integer (float-valued) positions, and whether they lie inside the image."""
        inside = b.out("LogicalAnd", [
            b.out("LogicalAnd", [b.out("GreaterEqual", [xi, k(0)]), b.out("LessEqual", [xi, k(w - 1)])]),
            b.out("LogicalAnd", [b.out("GreaterEqual", [yi, k(0)]), b.out("LessEqual", [yi, k(h - 1)])])])
        cx = b.out("Clamp", [xi], min=0.0, max=float(w - 1))
        cy = b.out("Clamp", [yi], min=0.0, max=float(h - 1))
        idx = b.out("Convert", [b.out("Add", [b.out("Multiply", [cy, k(w)]), cx])], destination_type=np.dtype(np.int64))
        idx = b.out("Reshape", [idx, ctx.i64([0, 1, ho * wo])], special_zero=True)
        vals = b.out("GatherElements", [flat, b.out("Broadcast", [idx, out_shape], mode="numpy")], axis=2)
        vals = b.out("Reshape", [vals, ctx.i64([0, c, ho, wo])], special_zero=True)
        return vals, b.out("Unsqueeze", [b.out("Convert", [inside], destination_type=dt), ctx.i64(1)])

    if mode == "nearest":
        v, ok = tap(b.out("Round", [px], mode="half_to_even"), b.out("Round", [py], mode="half_to_even"))
        return b.out("Multiply", [v, ok])
    x0, y0 = b.out("Floor", [px]), b.out("Floor", [py])
    x1, y1 = b.out("Add", [x0, k(1)]), b.out("Add", [y0, k(1)])
    wx1, wy1 = b.out("Subtract", [px, x0]), b.out("Subtract", [py, y0])
    wx0, wy0 = b.out("Subtract", [k(1), wx1]), b.out("Subtract", [k(1), wy1])
    total = None
    for xi, yi, wx, wy in ((x0, y0, wx0, wy0), (x1, y0, wx1, wy0), (x0, y1, wx0, wy1), (x1, y1, wx1, wy1)):
        v, ok = tap(xi, yi)
        weight = b.out("Multiply", [b.out("Unsqueeze", [b.out("Multiply", [wx, wy]), ctx.i64(1)]), ok])
        term = b.out("Multiply", [v, weight])
        total = term if total is None else b.out("Add", [total, term])
    return total
