"""ONNX ops that decompose into other `ov` ops: Hardmax, Shrink, SwiGLU, CumProd,
ReverseSequence, RotaryEmbedding, CenterCropPad, LpPool (and dilated AveragePool, through a
depthwise convolution that sums each window), DFT and STFT (on OpenVINO's DFT ops); window
functions and MelWeightMatrix of constant parameters become constants."""

from __future__ import annotations

import math

import numpy as np

from compiler.frontends.onnx.context import OnnxContext, onnx_op
from compiler.frontends.onnx.ops_nn import along_axis, window_attrs
from compiler.frontends.scans import running_product


def _c(ctx: OnnxContext, value, like):
    return ctx.const(np.asarray(value, ctx.dtype(like)))


def _hardmax(ctx: OnnxContext, x, axis: int):
    """1 at the first maximum along `axis`, 0 elsewhere."""
    r = ctx.rank(x)
    axis = axis + r if axis < 0 else axis
    n = ctx.shape(x)[axis]
    if n is None:
        raise ValueError("Hardmax needs a static dimension along its axis")
    idx = ctx.b.op("TopK", [x, ctx.i64(1)], axis=axis, mode="max", sort="none", index_element_type=np.int64,
                   stable=True).outputs[1]
    iota = ctx.i64(np.arange(n).reshape([n] + [1] * (r - 1 - axis)))
    return ctx.b.out("Convert", [ctx.b.out("Equal", [iota, idx])], destination_type=ctx.dtype(x))


onnx_op("Hardmax")(along_axis(_hardmax))


@onnx_op("Shrink")
def _shrink(ctx: OnnxContext, node, ins):
    x = ins[0]
    lambd, bias = ctx.attr(node, "lambd", 0.5), ctx.attr(node, "bias", 0.0)
    b = ctx.b
    low = b.out("Select", [b.out("Less", [x, _c(ctx, -lambd, x)]), b.out("Add", [x, _c(ctx, bias, x)]), _c(ctx, 0, x)])
    return [b.out("Select", [b.out("Greater", [x, _c(ctx, lambd, x)]), b.out("Subtract", [x, _c(ctx, bias, x)]), low])]


@onnx_op("SwiGLU")
def _swiglu(ctx: OnnxContext, node, ins):
    a, v = ins[0], ins[1]
    alpha = ctx.attr(node, "alpha", 1.0)
    gate = ctx.b.out("Multiply", [a, ctx.b.out("Sigmoid", [ctx.b.out("Multiply", [a, _c(ctx, alpha, a)])])])
    return [ctx.b.out("Multiply", [gate, v])]


@onnx_op("CumProd")
def _cumprod(ctx: OnnxContext, node, ins):
    axis = int(np.asarray(ctx.need_const(node, ins[1], "axis")).reshape(-1)[0])
    try:
        return [running_product(ctx, ins[0], axis, bool(ctx.attr(node, "exclusive", 0)),
                                bool(ctx.attr(node, "reverse", 0)))]
    except ValueError as e:
        raise ctx.error(node, str(e)) from None


@onnx_op("ReverseSequence")
def _reverse_sequence(ctx: OnnxContext, node, ins):
    from compiler.frontends.scans import reverse_sequence

    try:
        return [reverse_sequence(ctx, ins[0], ins[1], ctx.attr(node, "time_axis", 0), ctx.attr(node, "batch_axis", 1))]
    except ValueError as e:
        raise ctx.error(node, str(e)) from None


@onnx_op("RotaryEmbedding")
def _rotary_embedding(ctx: OnnxContext, node, ins):
    b = ctx.b
    x, cos, sin = ins[:3]
    pos = ins[3] if len(ins) > 3 else None
    four_d = ctx.rank(x) == 4
    if four_d:
        x = b.out("Transpose", [x, ctx.i64([0, 2, 1, 3])])  # [B, S, heads, d]
    else:
        heads = ctx.attr(node, "num_heads", 0)
        if not heads:
            raise ctx.error(node, "3-D inputs need num_heads")
        x = b.out("Reshape", [x, ctx.i64([0, 0, heads, -1])], special_zero=True)
    head = ctx.shape(x)[3]
    if head is None:
        raise ctx.error(node, "needs a static head size")
    rot = ctx.attr(node, "rotary_embedding_dim", 0) or head
    if pos is not None:  # caches indexed by position: [B, S, rot/2]
        cos = b.out("Gather", [cos, pos, ctx.i64(0)], batch_dims=0)
        sin = b.out("Gather", [sin, pos, ctx.i64(0)], batch_dims=0)
    cos, sin = (b.out("Unsqueeze", [c, ctx.i64(2)]) for c in (cos, sin))

    def part(begin, end, step=1):
        return b.out("Slice", [x, ctx.i64([begin]), ctx.i64([end]), ctx.i64([step]), ctx.i64([3])])
    if ctx.attr(node, "interleaved", 0):
        x1, x2 = part(0, rot, 2), part(1, rot, 2)
    else:
        x1, x2 = part(0, rot // 2), part(rot // 2, rot)
    real = b.out("Subtract", [b.out("Multiply", [cos, x1]), b.out("Multiply", [sin, x2])])
    imag = b.out("Add", [b.out("Multiply", [sin, x1]), b.out("Multiply", [cos, x2])])
    if ctx.attr(node, "interleaved", 0):
        pairs = b.out("Concat", [b.out("Unsqueeze", [real, ctx.i64(-1)]), b.out("Unsqueeze", [imag, ctx.i64(-1)])],
                      axis=-1)
        rotated = b.out("Reshape", [pairs, ctx.i64([0, 0, 0, rot])], special_zero=True)
    else:
        rotated = b.out("Concat", [real, imag], axis=-1)
    y = rotated if rot == head else b.out("Concat", [rotated, part(rot, head)], axis=-1)
    if four_d:
        return [b.out("Transpose", [y, ctx.i64([0, 2, 1, 3])])]
    return [b.out("Reshape", [y, ctx.i64([0, 0, -1])], special_zero=True)]


@onnx_op("CenterCropPad")
def _center_crop_pad(ctx: OnnxContext, node, ins):
    x = ins[0]
    target = [int(v) for v in np.asarray(ctx.need_const(node, ins[1], "shape")).reshape(-1)]
    r = ctx.rank(x)
    axes = [a + r if a < 0 else a for a in (ctx.attr(node, "axes") or range(r))]
    shape = ctx.shape(x)
    begin, end, pad_b, pad_e = [0] * r, list(shape), [0] * r, [0] * r
    for a, want in zip(axes, target):
        have = shape[a]
        if have is None:
            raise ctx.error(node, "needs static dimensions on the cropped/padded axes")
        if want < have:  # crop: the extra element goes to the end
            begin[a] = (have - want) // 2
            end[a] = begin[a] + want
        elif want > have:  # pad: the extra element goes to the end
            pad_b[a] = (want - have) // 2
            pad_e[a] = want - have - pad_b[a]
    end = [e if e is not None else np.iinfo(np.int64).max for e in end]
    y = ctx.b.out("Slice", [x, ctx.i64(begin), ctx.i64(end), ctx.i64([1] * r), ctx.i64(list(range(r)))])
    if any(pad_b) or any(pad_e):
        y = ctx.b.out("Pad", [y, ctx.i64(pad_b), ctx.i64(pad_e), _c(ctx, 0, x)], pad_mode="constant")
    return [y]


def window_sum(ctx: OnnxContext, node, x, no_pads: bool = False):
    """The sum of each pooling window (ONNX pads, strides, dilations, auto_pad, ceil_mode) as
    a depthwise convolution with a kernel of ones; `no_pads`: x is already padded."""
    n = ctx.rank(x) - 2
    k = list(ctx.attr(node, "kernel_shape"))
    channels = ctx.shape(x)[1]
    if channels is None:
        raise ctx.error(node, "needs a static channel dimension")
    a = window_attrs(ctx, node, n)
    if no_pads:
        a["pads_begin"], a["pads_end"] = [0] * n, [0] * n
    if ctx.attr(node, "ceil_mode", 0) and a["auto_pad"] == "explicit":
        spatial = ctx.shape(x)[2:]
        if None in spatial:
            raise ctx.error(node, "ceil_mode needs static spatial dimensions")
        for i in range(n):
            extent = spatial[i] + a["pads_begin"][i] + a["pads_end"][i] - a["dilations"][i] * (k[i] - 1) - 1
            out = math.ceil(extent / a["strides"][i]) + 1
            if (out - 1) * a["strides"][i] >= spatial[i] + a["pads_begin"][i]:  # the last window starts in the pad
                out -= 1
            need = (out - 1) * a["strides"][i] - extent
            if need > 0:
                a["pads_end"][i] += need
    w = ctx.const(np.ones([channels, 1, 1, *k], ctx.dtype(x)))
    return ctx.b.out("GroupConvolution", [x, w], **a)


@onnx_op("LpPool")
def _lp_pool(ctx: OnnxContext, node, ins):
    x = ins[0]
    p = ctx.attr(node, "p", 2)
    b = ctx.b
    if p == 1:
        return [window_sum(ctx, node, b.out("Abs", [x]))]
    if p == 2:
        return [b.out("Sqrt", [window_sum(ctx, node, b.out("Multiply", [x, x]))])]
    powered = b.out("Power", [b.out("Abs", [x]), _c(ctx, p, x)])
    return [b.out("Power", [window_sum(ctx, node, powered), _c(ctx, 1.0 / p, x)])]


def _nll(ctx: OnnxContext, node, x, target, weight):
    """NegativeLogLikelihoodLoss on log-probabilities x [N, C, ...] (ignore_index, weights,
    reduction none/sum/mean, the mean weighted by the weights of the counted targets)."""
    b = ctx.b
    ignore = ctx.attr(node, "ignore_index")
    reduction = ctx.attr(node, "reduction", "mean")
    target = b.out("Convert", [target], destination_type=np.dtype(np.int64))
    keep = None
    if ignore is not None:
        keep = b.out("NotEqual", [target, ctx.i64(ignore)])
        target = b.out("Select", [keep, target, ctx.i64(0)])  # an ignored index may lie outside [0, C)
    picked = b.out("Squeeze", [b.out("GatherElements", [x, b.out("Unsqueeze", [target, ctx.i64(1)])], axis=1),
                               ctx.i64([1])])
    w = b.out("Gather", [weight, target, ctx.i64(0)], batch_dims=0) if weight is not None else None
    if keep is not None:
        mask = b.out("Convert", [keep], destination_type=ctx.dtype(x))
        w = mask if w is None else b.out("Multiply", [w, mask])
    loss = b.out("Negative", [picked if w is None else b.out("Multiply", [picked, w])])
    if reduction == "none":
        return loss
    axes = ctx.i64(list(range(ctx.rank(loss))))
    total = b.out("ReduceSum", [loss, axes], keep_dims=False)
    if reduction == "sum":
        return total
    if w is None:
        return b.out("ReduceMean", [loss, axes], keep_dims=False)
    return b.out("Divide", [total, b.out("ReduceSum", [w, axes], keep_dims=False)])


@onnx_op("NegativeLogLikelihoodLoss")
def _nll_loss(ctx: OnnxContext, node, ins):
    return [_nll(ctx, node, ins[0], ins[1], ins[2] if len(ins) > 2 else None)]


@onnx_op("SoftmaxCrossEntropyLoss")
def _softmax_cross_entropy(ctx: OnnxContext, node, ins):
    log_prob = ctx.b.out("LogSoftmax", [ins[0]], axis=1)
    return [_nll(ctx, node, log_prob, ins[1], ins[2] if len(ins) > 2 else None), log_prob]


@onnx_op("GridSample")
def _grid_sample(ctx: OnnxContext, node, ins):
    from compiler.frontends.sampling import grid_sample_2d

    if ctx.rank(ins[0]) != 4:
        raise ctx.error(node, "volumetric (5-D) grid sampling is not supported")
    mode = {"linear": "bilinear", "cubic": "bicubic"}.get(ctx.attr(node, "mode", "bilinear"),
                                                         ctx.attr(node, "mode", "bilinear"))
    try:
        return [grid_sample_2d(ctx, ins[0], ins[1], mode, ctx.attr(node, "padding_mode", "zeros"),
                               bool(ctx.attr(node, "align_corners", 0)))]
    except ValueError as e:
        raise ctx.error(node, str(e)) from None


def _scalar_input(ctx: OnnxContext, node, ins, i: int, what: str) -> int | None:
    if len(ins) <= i or ins[i] is None:
        return None
    return int(np.asarray(ctx.need_const(node, ins[i], what)).reshape(-1)[0])


def _complex(ctx: OnnxContext, x):
    """[..., 1] real or [..., 2] complex data as OpenVINO's complex layout [..., 2]."""
    if ctx.shape(x)[-1] == 2:
        return x
    return ctx.b.out("Concat", [x, ctx.b.out("Multiply", [x, _c(ctx, 0, x)])], axis=-1)


def _spectrum(ctx: OnnxContext, node, x, axis: int, n: int | None, inverse: bool, onesided: bool):
    """ONNX's DFT of x ([..., 1] real or [..., 2] complex) along `axis` (of x, not its last
    dim), transform length n (pads or trims; None: the axis' length, or 2 * (bins - 1) for the
    inverse of a one-sided spectrum) on OpenVINO's DFT ops; the reference's rules
    (onnx.reference.ops.op_dft): a one-sided inverse is real ([..., 1]), a one-sided forward
    transform keeps bins 0..n // 2."""
    b = ctx.b
    shape = ctx.shape(x)
    r = len(shape)
    axis = axis + r if axis < 0 else axis
    if not 0 <= axis < r - 1:
        raise ctx.error(node, f"axis {axis} is not a signal axis of a rank-{r} input")
    if shape[-1] not in (1, 2):
        raise ctx.error(node, f"the last dimension must be 1 (real) or 2 (complex), not {shape[-1]}")
    if shape[axis] is None:
        raise ctx.error(node, "needs a static length along the transformed axis")
    axes = ctx.i64([axis])
    real = shape[-1] == 1
    if inverse and onesided:  # IRFFT: a real signal of length n from bins 0..n // 2
        size = ctx.i64([n if n is not None else 2 * (shape[axis] - 1)])
        return b.out("Unsqueeze", [b.out("IRDFT", [_complex(ctx, x), axes, size]), ctx.i64(-1)])
    size = ctx.i64([n if n is not None else shape[axis]])
    if inverse:
        return b.out("IDFT", [_complex(ctx, x), axes, size])
    if real and onesided:
        return b.out("RDFT", [b.out("Squeeze", [x, ctx.i64([-1])]), axes, size])
    y = b.out("DFT", [_complex(ctx, x), axes, size])
    if onesided:
        n_ = n if n is not None else shape[axis]
        y = b.out("Slice", [y, ctx.i64([0]), ctx.i64([n_ // 2 + 1]), ctx.i64([1]), ctx.i64([axis])])
    return y


@onnx_op("DFT")
def _dft(ctx: OnnxContext, node, ins):
    n = _scalar_input(ctx, node, ins, 1, "dft_length")
    if ctx.opset >= 20:
        axis = _scalar_input(ctx, node, ins, 2, "axis")
        axis = -2 if axis is None else axis
    else:
        axis = ctx.attr(node, "axis", 1)
    return [_spectrum(ctx, node, ins[0], axis, n, bool(ctx.attr(node, "inverse", 0)),
                      bool(ctx.attr(node, "onesided", 0)))]


@onnx_op("STFT")
def _stft(ctx: OnnxContext, node, ins):
    """Frames of the signal ([batch, length, 1 or 2]) every frame_step samples, each the first
    min(window, frame_length) samples weighted by the window, transformed with length
    frame_length: [batch, frames, bins, 2] (onnx.reference.ops.op_stft)."""
    b = ctx.b
    x = ins[0]
    shape = ctx.shape(x)
    if len(shape) != 3 or shape[1] is None:
        raise ctx.error(node, "needs a signal [batch, length, 1 or 2] of static length")
    step = _scalar_input(ctx, node, ins, 1, "frame_step")
    window = ins[2] if len(ins) > 2 else None
    wlen = None if window is None else ctx.shape(window)[0]
    if window is not None and wlen is None:
        raise ctx.error(node, "needs a window of static length")
    flen = _scalar_input(ctx, node, ins, 3, "frame_length")
    flen = flen if flen is not None else wlen if wlen is not None else shape[1]
    if step is None or step < 1 or flen < 1 or flen > shape[1]:
        raise ctx.error(node, f"frame_step {step} and frame_length {flen} do not fit a signal of {shape[1]}")
    frames = 1 + (shape[1] - flen) // step
    taps = min(wlen, flen) if wlen is not None else flen
    idx = np.arange(frames)[:, None] * step + np.arange(taps)[None, :]
    y = b.out("Gather", [x, ctx.i64(idx), ctx.i64(1)], batch_dims=0)  # [batch, frames, taps, c]
    if window is not None:
        w = window if taps == wlen else b.out("Slice", [window, ctx.i64([0]), ctx.i64([taps]), ctx.i64([1]),
                                                        ctx.i64([0])])
        y = b.out("Multiply", [y, b.out("Reshape", [w, ctx.i64([taps, 1])], special_zero=False)])
    return [_spectrum(ctx, node, y, 2, flen, False, bool(ctx.attr(node, "onesided", 1)))]


def _window(kind: str):
    """HannWindow, HammingWindow, BlackmanWindow of a constant size: constants, computed in
    float64 from the definitions (periodic: N_1 = size, else size - 1) and rounded once."""
    def convert(ctx: OnnxContext, node, ins):
        from onnx.helper import tensor_dtype_to_np_dtype

        size = int(np.asarray(ctx.need_const(node, ins[0], "size")).reshape(-1)[0])
        if size < 0:
            raise ctx.error(node, f"size {size} is negative")
        dtype = tensor_dtype_to_np_dtype(ctx.attr(node, "output_datatype", 1))
        n1 = size if ctx.attr(node, "periodic", 1) else size - 1
        with np.errstate(all="ignore"):  # a symmetric window of one sample is 0 / 0, as the reference's
            t = 2 * np.pi * np.arange(size, dtype=np.float64) / n1
        if kind == "hann":
            w = 0.5 - 0.5 * np.cos(t)
        elif kind == "hamming":
            w = 25 / 46 - (1 - 25 / 46) * np.cos(t)
        else:
            w = 0.42 - 0.5 * np.cos(t) + 0.08 * np.cos(2 * t)
        return [ctx.const(w.astype(dtype))]
    return convert


onnx_op("HannWindow")(_window("hann"))
onnx_op("HammingWindow")(_window("hamming"))
onnx_op("BlackmanWindow")(_window("blackman"))


@onnx_op("MelWeightMatrix")
def _mel_weight_matrix(ctx: OnnxContext, node, ins):
    """The [dft_length // 2 + 1, num_mel_bins] triangular filter bank of constant parameters,
    with the reference's rules (onnx.reference.ops.op_mel_weight_matrix): num_mel_bins + 2
    points equally spaced in mel (the step divided by num_mel_bins + 2), edges in FFT bins
    floor((dft_length + 1) * hz / sample_rate), in the element types the inputs have."""
    from onnx.helper import tensor_dtype_to_np_dtype

    names = ("num_mel_bins", "dft_length", "sample_rate", "lower_edge_hertz", "upper_edge_hertz")
    mels, n_fft, rate, low, high = (np.asarray(ctx.need_const(node, v, n)).reshape(-1)[0] for v, n in zip(ins, names))
    mels, n_fft = int(mels), int(n_fft)
    if mels < 1 or n_fft < 1 or rate <= 0:
        raise ctx.error(node, f"num_mel_bins {mels}, dft_length {n_fft} and sample_rate {rate} must be positive")
    points = np.arange(0, mels + 2)
    low_mel = 2595 * np.log1p(low / 700) / np.log(10)
    high_mel = 2595 * np.log1p(high / 700) / np.log(10)
    hz = 700 * np.expm1((points * ((high_mel - low_mel) / points.shape[0]) + low_mel) / 2595 * np.log(10))
    edges = (((n_fft + 1) * hz) // rate).astype(int)
    bins = n_fft // 2 + 1
    if edges.min() < 0 or edges.max() >= bins + 1:
        raise ctx.error(node, f"the mel bands' edges (FFT bins {edges.min()}..{edges.max()}) fall outside the "
                              f"{bins} spectrogram bins: upper_edge_hertz past the Nyquist frequency?")
    out = np.zeros((bins, mels))
    for i in range(mels):
        lo, mid, hi = edges[i], edges[i + 1], edges[i + 2]
        if mid == lo:
            out[mid, i] = 1
        else:
            out[lo:mid + 1, i] = (np.arange(lo, mid + 1) - lo) / (mid - lo)
        if hi > mid:
            out[mid:hi, i] = (hi - np.arange(mid, hi)) / (hi - mid)
    return [ctx.const(out.astype(tensor_dtype_to_np_dtype(ctx.attr(node, "output_datatype", 1))))]
