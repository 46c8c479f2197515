"""ONNX Attention (opsets 23-25) decomposed into MatMul/SoftMax and mask arithmetic, following
the specification: 3-D inputs split into heads, past key/value concatenated (present outputs),
grouped/multi-query heads repeated, `scale` applied as sqrt(scale) to Q and K, `softcap`,
boolean or float masks (a short mask padded as disallowed), offset-aware causal masks,
sliding windows, `nonpad_kv_seqlen` padding, zero rows for fully masked queries, and the four
`qk_matmul_output_mode`s."""

from __future__ import annotations

import math

import numpy as np

from compiler.frontends.onnx.context import OnnxContext, onnx_op


def _heads(ctx: OnnxContext, node, x, heads: int | None, what: str):
    """[B, S, heads * d] -> [B, heads, S, d]."""
    if not heads:
        raise ctx.error(node, f"3-D inputs need the {what} attribute")
    y = ctx.b.out("Reshape", [x, ctx.i64([0, 0, heads, -1])], special_zero=True)
    return ctx.b.out("Transpose", [y, ctx.i64([0, 2, 1, 3])])


def _allowed_to_bias(ctx: OnnxContext, allowed, dt):
    return ctx.b.out("Select", [allowed, ctx.const(np.zeros((), dt)), ctx.const(np.array(-np.inf, dt))])


def _add(ctx: OnnxContext, bias, term):
    return term if bias is None else ctx.b.out("Add", [bias, term])


@onnx_op("Attention")
def _attention(ctx: OnnxContext, node, ins):
    b = ctx.b
    q, k, v = ins[:3]
    mask, past_k, past_v, nonpad = (ins[i] if len(ins) > i else None for i in range(3, 7))
    dt = ctx.dtype(q)
    three_d = ctx.rank(q) == 3
    if three_d:
        q = _heads(ctx, node, q, ctx.attr(node, "q_num_heads"), "q_num_heads")
        k = _heads(ctx, node, k, ctx.attr(node, "kv_num_heads"), "kv_num_heads")
        v = _heads(ctx, node, v, ctx.attr(node, "kv_num_heads"), "kv_num_heads")
    if (past_k is None) != (past_v is None):
        raise ctx.error(node, "past_key and past_value must be given together")
    past_len = 0
    if past_k is not None:
        past_len = ctx.shape(past_k)[2]
        k = b.out("Concat", [past_k, k], axis=2)
        v = b.out("Concat", [past_v, v], axis=2)
    present_k, present_v = k, v
    qh, kh = ctx.shape(q)[1], ctx.shape(k)[1]
    sq, sk = ctx.shape(q)[2], ctx.shape(k)[2]
    head = ctx.shape(q)[3]
    if qh is None or kh is None or head is None:
        raise ctx.error(node, "needs static head counts and head size")
    if qh != kh:  # grouped / multi-query: each key/value head serves qh/kh query heads
        if qh % kh:
            raise ctx.error(node, f"{qh} query heads cannot share {kh} key/value heads")

        def repeat(x):
            x = b.out("Tile", [b.out("Unsqueeze", [x, ctx.i64(2)]), ctx.i64([1, 1, qh // kh, 1, 1])])
            return b.out("Reshape", [x, ctx.i64([0, qh, -1, ctx.shape(x)[-1] or -1])], special_zero=True)
        k, v = repeat(k), repeat(v)

    scale = ctx.attr(node, "scale")
    root = np.asarray(math.sqrt(scale if scale is not None else 1.0 / math.sqrt(head)), dt)
    scores = b.out("MatMul", [b.out("Multiply", [q, ctx.const(root)]), b.out("Multiply", [k, ctx.const(root)])],
                   transpose_b=True)
    softcap = ctx.attr(node, "softcap", 0.0) or 0.0
    if softcap > 0:
        c = ctx.const(np.asarray(softcap, dt))
        scores = b.out("Multiply", [b.out("Tanh", [b.out("Divide", [scores, c])]), c])

    # the bias: mask, causal frontier, sliding window, key padding
    bias = None
    if mask is not None:
        m = _allowed_to_bias(ctx, mask, dt) if ctx.dtype(mask) == np.bool_ else mask
        last = ctx.shape(m)[-1]
        if sk is not None and last is not None and last < sk:
            r = ctx.rank(m)
            m = b.out("Pad", [m, ctx.i64([0] * r), ctx.i64([0] * (r - 1) + [sk - last]),
                              ctx.const(np.array(-np.inf, dt))], pad_mode="constant")
        bias = m
    causal = bool(ctx.attr(node, "is_causal", 0))
    left, right = ctx.attr(node, "left_window_size", -1), ctx.attr(node, "right_window_size", -1)
    if causal or left >= 0 or right >= 0:
        if sq is None or sk is None:
            raise ctx.error(node, "causal and windowed masks need static sequence lengths")
        # diff[i, j] = (i + offset) - j; offset is the past length, or per batch nonpad - sq
        diff = np.arange(sq).reshape(sq, 1) - np.arange(sk).reshape(1, sk)
        if past_k is None and nonpad is not None:
            off = b.out("Subtract", [b.out("Convert", [nonpad], destination_type=np.dtype(np.int64)), ctx.i64(sq)])
            diff_v = b.out("Add", [ctx.i64(diff), b.out("Reshape", [off, ctx.i64([-1, 1, 1, 1])], special_zero=False)])
        else:
            if past_len is None:
                raise ctx.error(node, "causal masks need a static past length")
            diff_v = ctx.i64(diff + past_len)
        zero = ctx.i64(0)
        if causal:
            bias = _add(ctx, bias, _allowed_to_bias(ctx, b.out("GreaterEqual", [diff_v, zero]), dt))
        allowed = None
        if left >= 0:
            allowed = b.out("LessEqual", [diff_v, ctx.i64(left)])
        if right >= 0:
            r_ok = b.out("LessEqual", [b.out("Negative", [diff_v]), ctx.i64(right)])
            allowed = r_ok if allowed is None else b.out("LogicalAnd", [allowed, r_ok])
        if allowed is not None:
            bias = _add(ctx, bias, _allowed_to_bias(ctx, allowed, dt))
    if nonpad is not None:
        if sk is None:
            raise ctx.error(node, "nonpad_kv_seqlen needs a static key length")
        lens = b.out("Reshape", [b.out("Convert", [nonpad], destination_type=np.dtype(np.int64)),
                                 ctx.i64([-1, 1, 1, 1])], special_zero=False)
        bias = _add(ctx, bias, _allowed_to_bias(ctx, b.out("Less", [ctx.i64(np.arange(sk)), lens]), dt))

    with_bias = scores if bias is None else b.out("Add", [scores, bias])
    if bias is None:
        probs = b.out("SoftMax", [with_bias], axis=-1)
    else:  # rows with every key disallowed give zeros, not NaN
        dead = b.out("Equal", [b.out("ReduceMax", [bias, ctx.i64(-1)], keep_dims=True),
                               ctx.const(np.array(-np.inf, dt))])
        zero = ctx.const(np.zeros((), dt))
        probs = b.out("SoftMax", [b.out("Select", [dead, zero, with_bias])], axis=-1)
        probs = b.out("Select", [dead, zero, probs])
    y = b.out("MatMul", [probs, v])
    if three_d:
        y = b.out("Reshape", [b.out("Transpose", [y, ctx.i64([0, 2, 1, 3])]), ctx.i64([0, 0, -1])], special_zero=True)
    mode = ctx.attr(node, "qk_matmul_output_mode", 0)
    qk_out = {2: with_bias, 3: probs}.get(mode, scores)
    if mode == 2 and bias is None:
        qk_out = scores
    return [y, present_k, present_v, qk_out]
