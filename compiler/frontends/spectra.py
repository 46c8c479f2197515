"""Complex tensors and spectra shared by the TensorFlow and TFLite frontends. A complex tensor
is held as float [..., 2] (real, imaginary), the layout of OpenVINO's DFT ops: the FFT family
maps onto DFT/IDFT/RDFT/IRDFT over the innermost signal dims, and only these helpers read a
complex tensor (the frontends refuse any other op that does)."""

from __future__ import annotations

import numpy as np
from xdsl.ir import SSAValue

from compiler.frontends.builder import FrontendContext


def fft(ctx: FrontendContext, op: str, x: SSAValue, dims: int, lengths: list[int] | None = None) -> SSAValue:
    """`op` (DFT, IDFT, RDFT or IRDFT) over the innermost `dims` signal dims of x; `lengths`:
    TensorFlow's fft_length (pads or trims; the real axis' length for RDFT/IRDFT)."""
    rank = ctx.rank(x) - (0 if op == "RDFT" else 1)
    ins = [x, ctx.i64(list(range(rank - dims, rank)))]
    if lengths is not None:
        ins.append(ctx.i64([int(n) for n in lengths]))
    return ctx.b.out(op, ins)


def part(ctx: FrontendContext, z: SSAValue, i: int) -> SSAValue:
    """The real (0) or imaginary (1) part."""
    return ctx.b.out("Gather", [z, ctx.i64(i), ctx.i64(-1)], batch_dims=0)


def magnitude(ctx: FrontendContext, z: SSAValue) -> SSAValue:
    """|z| as hypot computes it: max(|re|, |im|) * sqrt(1 + (min / max)^2), so that squares of
    large parts do not overflow (0 where both parts are 0)."""
    b = ctx.b
    a, c = (b.out("Abs", [part(ctx, z, i)]) for i in (0, 1))
    big, small = b.out("Maximum", [a, c]), b.out("Minimum", [a, c])
    zero = ctx.const(np.zeros((), ctx.dtype(a)))
    ratio = b.out("Divide", [small, b.out("Select", [b.out("Equal", [big, zero]), ctx.const(np.ones((), ctx.dtype(a))),
                                                     big])])
    r = b.out("Multiply", [big, b.out("Sqrt", [b.out("Add", [ctx.const(np.ones((), ctx.dtype(a))),
                                                              b.out("Multiply", [ratio, ratio])])])])
    # an infinite part makes |z| infinite even beside a NaN (C's hypot)
    inf = ctx.const(np.array(np.inf, ctx.dtype(a)))
    return b.out("Select", [b.out("Equal", [big, inf]), inf, r])


def from_parts(ctx: FrontendContext, re: SSAValue, im: SSAValue) -> SSAValue:
    b = ctx.b
    return b.out("Concat", [b.out("Unsqueeze", [re, ctx.i64(-1)]), b.out("Unsqueeze", [im, ctx.i64(-1)])], axis=-1)
