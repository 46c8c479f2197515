"""Graph rewrites of post-training quantization (driven by `compiler.quantization`): a
FakeQuantize (levels 256, per-tensor) in front of an activation, and constant f32 weights
replaced by their int8 per-output-channel form `Multiply(Convert(Const i8), scale)` — the
decompression NNCF writes and `passes.quantized` hands to the int8 kernels. Not a registered
pipeline pass: the ranges come from calibration, not from the graph."""

from __future__ import annotations

import numpy as np
from xdsl.ir import SSAValue
from xdsl.rewriter import InsertPoint, Rewriter

from dialects.ov import Const, OvOp, create, dtype_of, shape_of

ANCHORS = ("Convolution", "GroupConvolution", "MatMul")


def channel_axes(op: OvOp, rank: int) -> tuple[int, ...]:
    """The axes of op's weights that index output channels."""
    if op.IR_TYPE == "Convolution":
        return (0,)
    if op.IR_TYPE == "GroupConvolution":
        return (0, 1)
    return (rank - 2,) if op.attr.transpose_b else (rank - 1,)


def activation_range(lo: float, hi: float, symmetric: bool) -> tuple[float, float]:
    """The FakeQuantize range (levels 256) for observed [lo, hi], with 0.0 on its grid:
    u8 [0, hi] when lo >= 0; symmetric: [-a, a * 127/128]; asymmetric: [lo, hi] moved so that
    the zero point is an integer level."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo < 1e-12:
        hi = lo + 1e-6
    if lo >= 0:
        return 0.0, hi
    if symmetric:
        a = max(-lo, hi * 128 / 127)
        return -a, a * 127 / 128
    d = (hi - lo) / 255
    z = int(np.clip(round(-lo / d), 1, 255))
    return -z * d, (255 - z) * d


def insert_fake_quantize(op: OvOp, index: int, lo: float, hi: float) -> OvOp:
    """FakeQuantize(x, lo, hi, lo, hi, levels=256) feeding op's input `index`."""
    x = op.operands[index]
    bounds = [Const(np.asarray(v, np.float32).reshape(())) for v in (lo, hi, lo, hi)]
    for c in bounds:
        Rewriter.insert_op(c, InsertPoint.before(op))
    fq = create("FakeQuantize", [x] + [c.output for c in bounds], levels=256)
    Rewriter.insert_op(fq, InsertPoint.before(op))
    op.operands[index] = fq.outputs[0]
    return fq


def int8_weights(w: np.ndarray, axes: tuple[int, ...], symmetric: bool = True
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(integers, scale, zero point or None): symmetric int8 in [-127, 127] (NNCF's 255 levels)
    or asymmetric u8 with a per-channel zero point, per output channel."""
    red = tuple(i for i in range(w.ndim) if i not in axes)
    w64 = w.astype(np.float64)
    if symmetric:
        s = np.max(np.abs(w64), axis=red, keepdims=True) / 127
        s = np.where(s > 0, s, 1.0).astype(np.float32)
        q = np.clip(np.round(w64 / s), -127, 127).astype(np.int8)
        return q, s, None
    lo = np.minimum(np.min(w64, axis=red, keepdims=True), 0)
    hi = np.maximum(np.max(w64, axis=red, keepdims=True), 0)
    s = (hi - lo) / 255
    s = np.where(s > 0, s, 1.0)
    z = np.clip(np.round(-lo / s), 0, 255)
    q = np.clip(np.round(w64 / s) + z, 0, 255).astype(np.uint8)
    return q, s.astype(np.float32), z.astype(np.uint8)


def replace_weights(op: OvOp, index: int, axes: tuple[int, ...], symmetric: bool = True) -> None:
    """Replace op's constant f32 input `index` by its int8 decompression chain."""
    w = op.operands[index].op.array
    q, s, z = int8_weights(w, axes, symmetric)
    before = InsertPoint.before(op)
    qc = Const(q)
    Rewriter.insert_op(qc, before)
    val: SSAValue = _add(create("Convert", [qc.output], destination_type=np.dtype(np.float32)), op)
    if z is not None:
        zc = Const(z)
        Rewriter.insert_op(zc, before)
        zf = _add(create("Convert", [zc.output], destination_type=np.dtype(np.float32)), op)
        val = _add(create("Subtract", [val, zf]), op)
    sc = Const(s)
    Rewriter.insert_op(sc, before)
    val = _add(create("Multiply", [val, sc.output]), op)
    assert shape_of(val.type) == shape_of(op.operands[index].type) and dtype_of(val.type) == np.float32
    op.operands[index] = val


def _add(new: OvOp, before: OvOp) -> SSAValue:
    Rewriter.insert_op(new, InsertPoint.before(before))
    return new.outputs[0]


def smooth(anchors: list[OvOp], x_absmax: np.ndarray, alpha: float) -> None:
    """SmoothQuant (Xiao et al. 2023, NNCF's default for transformers): the MatMuls `anchors`
    read one activation x [..., K]; divide x's channels by s = max|x_k|^a / max|w_k|^(1-a) (w's
    input channel k over every anchor) in a Multiply ahead of them, and multiply their weights'
    rows by s, so that outlier channels of x move into the weights, which are quantized per
    output channel. The product is unchanged (up to f32 rounding)."""
    ws = [constant_of_weights(op) for op in anchors]
    w_absmax = np.max([np.abs(w).max(axis=0 if op.attr.transpose_b else 1) for op, w in zip(anchors, ws)], axis=0)
    eps = 1e-8
    s = np.power(np.maximum(x_absmax, eps), alpha) / np.power(np.maximum(w_absmax, eps), 1 - alpha)
    s = np.clip(s, 1e-4, 1e4).astype(np.float32)
    first = anchors[0]
    inv = Const((1 / s).astype(np.float32))
    Rewriter.insert_op(inv, InsertPoint.before(first))
    mul = create("Multiply", [first.operands[0], inv.output])
    Rewriter.insert_op(mul, InsertPoint.before(first))
    for op, w in zip(anchors, ws):
        scaled = Const((w * (s[None, :] if op.attr.transpose_b else s[:, None])).astype(np.float32))
        Rewriter.insert_op(scaled, InsertPoint.before(op))
        op.operands[0] = mul.outputs[0]
        op.operands[1] = scaled.output


def constant_of_weights(op: OvOp) -> np.ndarray:
    from dialects.ov import constant_of

    return np.asarray(constant_of(op.operands[1]), np.float32)

