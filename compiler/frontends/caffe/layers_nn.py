"""Caffe's convolutions, inner product, pooling, normalizations, softmax and Interp, each
following the Caffe layer of that name (BVLC/caffe src/caffe/layers/*_layer.cpp; Normalize from
SSD's fork, Interp from PSPNet/Deeplab's)."""

from __future__ import annotations

import math

import numpy as np

from compiler.frontends.caffe.context import LAYERS, CaffeContext, global_stats

MAX, AVE, STOCHASTIC = 0, 1, 2  # PoolingParameter.PoolMethod
WITHIN_CHANNEL = 1  # LRNParameter.NormRegion


def _per_axis(ctx: CaffeContext, layer, values, name: str, n: int, default: int) -> list[int]:
    vals = [int(v) for v in values]
    if not vals:
        return [default] * n
    if len(vals) == 1:
        return vals * n
    if len(vals) != n:
        raise ctx.error(layer, f"{name} has {len(vals)} values for {n} spatial axes")
    return vals


def _hw(ctx: CaffeContext, layer, p, name: str, n: int, default: int) -> list[int]:
    """kernel/stride/pad of a ConvolutionParameter: `name` (repeated), or `name`_h and `name`_w."""
    h, w = f"{name}_h", f"{name}_w"
    plural = "kernel_size" if name == "kernel" else name
    if p.HasField(h) or p.HasField(w):
        if n != 2:
            raise ctx.error(layer, f"{h}/{w} apply to 2-D convolutions only")
        if getattr(p, plural):
            raise ctx.error(layer, f"give either {plural} or {h}/{w}, not both")
        if name != "pad" and not (p.HasField(h) and p.HasField(w)):
            raise ctx.error(layer, f"{h} and {w} must be given together")
        vals = [getattr(p, h), getattr(p, w)]
    else:
        if name == "kernel" and not p.kernel_size:
            raise ctx.error(layer, "no kernel_size (or kernel_h/kernel_w) given")
        vals = _per_axis(ctx, layer, getattr(p, plural), plural, n, default)
    if name != "pad" and min(vals) <= 0:
        raise ctx.error(layer, f"{plural} must be positive, got {vals}")
    return vals


def _conv_geometry(ctx: CaffeContext, layer, x):
    p = layer.convolution_param
    rank = ctx.rank(x)
    if ctx.axis(layer, p.axis, rank) != 1:
        raise ctx.error(layer, f"channel axis {p.axis} is not supported (only 1)")
    n = rank - 2
    if n < 1:
        raise ctx.error(layer, f"needs an input with spatial axes, got rank {rank}")
    kernel = _hw(ctx, layer, p, "kernel", n, 0)
    stride = _hw(ctx, layer, p, "stride", n, 1)
    pad = _hw(ctx, layer, p, "pad", n, 0)
    dilation = _per_axis(ctx, layer, p.dilation, "dilation", n, 1)
    channels = ctx.channels(layer, x)
    g, out = int(p.group), int(p.num_output)
    if g < 1 or channels % g or out % g:
        raise ctx.error(layer, f"group {g} does not divide {channels} input and {out} output channels")
    attrs = dict(strides=stride, pads_begin=pad, pads_end=pad, dilations=dilation, auto_pad="explicit")
    return p, kernel, channels, g, out, attrs


def _bias(ctx: CaffeContext, layer, y, index: int, n: int):
    b = ctx.blob(layer, index, (n,))
    return ctx.b.out("Add", [y, ctx.const(b.reshape([1, n] + [1] * (ctx.rank(y) - 2)))])


@LAYERS.register("Convolution")
def _convolution(ctx: CaffeContext, layer, ins):
    x = ins[0]
    p, kernel, channels, g, out, attrs = _conv_geometry(ctx, layer, x)
    w = ctx.blob(layer, 0, (out, channels // g, *kernel))
    if g == 1:
        y = ctx.b.out("Convolution", [x, ctx.const(w)], **attrs)
    else:
        w = w.reshape(g, out // g, channels // g, *kernel)
        y = ctx.b.out("GroupConvolution", [x, ctx.const(w)], **attrs)
    return [_bias(ctx, layer, y, 1, out) if p.bias_term else y]


@LAYERS.register("Deconvolution")
def _deconvolution(ctx: CaffeContext, layer, ins):
    """Caffe's deconvolution is the gradient of a convolution: weights [C_in, C_out/group, k...]."""
    x = ins[0]
    p, kernel, channels, g, out, attrs = _conv_geometry(ctx, layer, x)
    w = ctx.blob(layer, 0, (channels, out // g, *kernel))
    attrs["output_padding"] = [0] * len(kernel)
    if g == 1:
        y = ctx.b.out("ConvolutionBackpropData", [x, ctx.const(w)], **attrs)
    else:
        w = w.reshape(g, channels // g, out // g, *kernel)
        y = ctx.b.out("GroupConvolutionBackpropData", [x, ctx.const(w)], **attrs)
    return [_bias(ctx, layer, y, 1, out) if p.bias_term else y]


@LAYERS.register("InnerProduct")
def _inner_product(ctx: CaffeContext, layer, ins):
    """y = x W^T + b over the axes from `axis` on, flattened (W stored [N, K], or [K, N] when
    `transpose`)."""
    x = ins[0]
    p = layer.inner_product_param
    rank = ctx.rank(x)
    axis = ctx.axis(layer, p.axis, rank)
    tail = ctx.shape(x)[axis:]
    if None in tail:
        raise ctx.error(layer, f"needs static axes from axis {axis} on, got {ctx.shape(x)}")
    k, n = math.prod(tail), int(p.num_output)
    w = ctx.blob(layer, 0, (k, n) if p.transpose else (n, k))
    if rank != axis + 1:
        x = ctx.b.out("Reshape", [x, ctx.i64([0] * axis + [k])], special_zero=True)
    y = ctx.b.out("MatMul", [x, ctx.const(w)], transpose_b=not p.transpose)
    if p.bias_term:
        y = ctx.b.out("Add", [y, ctx.const(ctx.blob(layer, 1, (n,)))])
    return [y]


def _pool_window(ctx: CaffeContext, layer, p) -> tuple[list[int], list[int], list[int]]:
    if p.HasField("kernel_size"):
        if p.HasField("kernel_h") or p.HasField("kernel_w"):
            raise ctx.error(layer, "give either kernel_size or kernel_h/kernel_w, not both")
        kernel = [p.kernel_size] * 2
    elif p.HasField("kernel_h") and p.HasField("kernel_w"):
        kernel = [p.kernel_h, p.kernel_w]
    else:
        raise ctx.error(layer, "no kernel_size (or kernel_h and kernel_w) given")
    pad = [p.pad_h, p.pad_w] if p.HasField("pad_h") or p.HasField("pad_w") else [p.pad] * 2
    stride = [p.stride_h, p.stride_w] if p.HasField("stride_h") or p.HasField("stride_w") else [p.stride] * 2
    if min(kernel) <= 0 or min(stride) <= 0:
        raise ctx.error(layer, f"kernel {kernel} and stride {stride} must be positive")
    if any(pd >= k for pd, k in zip(pad, kernel)):
        raise ctx.error(layer, f"padding {pad} must be smaller than the kernel {kernel}")
    return [int(k) for k in kernel], [int(s) for s in stride], [int(pd) for pd in pad]


@LAYERS.register("Pooling")
def _pooling(ctx: CaffeContext, layer, ins):
    """Caffe rounds the output size up, out = ceil((in + 2 pad - k) / stride) + 1, then drops
    the last window when padding is used and it would start in the padding: ov's "ceil_torch"
    rounding. AVE divides by the window clipped to the padded input (padding counts, the part
    past it does not): AvgPool with exclude-pad false."""
    x = ins[0]
    p = layer.pooling_param
    if ctx.rank(x) != 4:
        raise ctx.error(layer, f"pools 4-D inputs only, got rank {ctx.rank(x)}")
    if p.pool == STOCHASTIC:
        raise ctx.error(layer, "STOCHASTIC pooling is not supported (Caffe has no CPU inference for it)")
    if len(layer.top) > 1:
        raise ctx.error(layer, "the second top (the argmax mask) is not supported")
    if p.global_pooling:
        if p.HasField("kernel_size") or p.HasField("kernel_h") or p.HasField("kernel_w"):
            raise ctx.error(layer, "global pooling takes no kernel size")
        if p.pad or p.pad_h or p.pad_w or p.stride != 1 or p.stride_h > 1 or p.stride_w > 1:
            raise ctx.error(layer, "global pooling takes no padding and stride 1 only")
        return [ctx.b.out("ReduceMax" if p.pool == MAX else "ReduceMean", [x, ctx.i64([2, 3])], keep_dims=True)]
    kernel, stride, pad = _pool_window(ctx, layer, p)
    rounding = "ceil_torch" if p.ceil_mode else "floor"
    if p.ceil_mode and not any(pad):
        for d, k, s in zip(ctx.shape(x)[2:], kernel, stride):
            # without padding Caffe keeps a last window that starts past the input (kernel < stride)
            if d is not None and d >= k and (-(-(d - k) // s)) * s >= d:
                raise ctx.error(layer, f"the last window (kernel {k}, stride {s}) lies past the input of size {d}")
    attrs = dict(kernel=kernel, strides=stride, pads_begin=pad, pads_end=pad, rounding_type=rounding,
                 auto_pad="explicit")
    if p.pool == MAX:
        return [ctx.b.op("MaxPool", [x], dilations=[1, 1], index_element_type=np.int64, axis=0,
                         **attrs).outputs[0]]
    spatial = ctx.shape(x)[2:]
    if None in spatial or not p.ceil_mode:
        return [ctx.b.out("AvgPool", [x], exclude_pad=False, **attrs)]
    # Windows that ceil rounding lets run past the padding divide by their part inside it;
    # OpenVINO's CPU plugin divides those by the whole kernel, so the padding becomes data (a Pad)
    # and the overhang a padding that does not count.
    over = [max(0, (_caffe_pool_out(d, k, s, pd) - 1) * s + k - d - 2 * pd)
            for d, k, s, pd in zip(spatial, kernel, stride, pad)]
    if not any(over):
        return [ctx.b.out("AvgPool", [x], exclude_pad=False, **{**attrs, "rounding_type": "floor"})]
    if any(pad):
        x = ctx.b.out("Pad", [x, ctx.i64([0, 0, *pad]), ctx.i64([0, 0, *pad]), ctx.const(np.float32(0))],
                      pad_mode="constant")
    return [ctx.b.out("AvgPool", [x], exclude_pad=True, **{**attrs, "pads_begin": [0, 0], "pads_end": over,
                                                          "rounding_type": "floor"})]


def _caffe_pool_out(d: int, k: int, s: int, pad: int) -> int:
    out = -(-(d + 2 * pad - k) // s) + 1
    return out - 1 if pad and (out - 1) * s >= d + pad else out


@LAYERS.register("BatchNorm")
def _batch_norm(ctx: CaffeContext, layer, ins):
    """Blobs [mean, variance, factor]: the stored sums are divided by the factor (a moving
    average's normalizer; 0 means no statistics yet). Without global statistics Caffe
    normalizes with the batch's own, over all axes but the channels."""
    x = ins[0]
    p = layer.batch_norm_param
    rank = ctx.rank(x)
    if rank < 2:
        raise ctx.error(layer, f"needs an input of rank 2 or more, got {rank}")
    eps = float(p.eps)
    if not global_stats(layer):
        axes = [0] + list(range(2, rank))
        return [ctx.b.out("MVN", [x, ctx.i64(axes)], eps=eps, normalize_variance=True, eps_mode="inside_sqrt")]
    c = ctx.channels(layer, x)
    mean, var, factor = ctx.blob(layer, 0, (c,)), ctx.blob(layer, 1, (c,)), ctx.blob(layer, 2, (1,))
    scale = np.float32(0.0) if factor[0] == 0 else np.float32(1.0) / factor[0]
    ones, zeros = np.ones(c, np.float32), np.zeros(c, np.float32)
    return [ctx.b.out("BatchNormInference", [x, ctx.const(ones), ctx.const(zeros), ctx.const(mean * scale),
                                             ctx.const(var * scale)], epsilon=eps)]


def _param_axes(ctx: CaffeContext, layer, x, p, ins) -> tuple[int, tuple]:
    """The first axis and shape of a Scale/Bias parameter: given by the second bottom, or by
    `axis` and `num_axes` for a learned blob."""
    rank = ctx.rank(x)
    shape = ctx.shape(x)
    if len(ins) > 1:
        pshape = ctx.shape(ins[1])
        axis = 0 if not pshape else ctx.axis(layer, p.axis, rank)
        got = shape[axis:axis + len(pshape)]
        if len(got) != len(pshape) or any(a is not None and b is not None and a != b for a, b in zip(got, pshape)):
            raise ctx.error(layer, f"second bottom of shape {list(pshape)} does not match input axes {axis}.. of "
                                   f"{list(shape)}")
        return axis, pshape
    axis = ctx.axis(layer, p.axis, rank) if rank else 0
    num = rank - axis if p.num_axes == -1 else int(p.num_axes)
    if num < 0 or axis + num > rank:
        raise ctx.error(layer, f"axis {p.axis} with num_axes {p.num_axes} exceed the input's rank {rank}")
    pshape = shape[axis:axis + num]
    if None in pshape:
        raise ctx.error(layer, f"needs static input axes {axis}..{axis + num - 1}, got {list(shape)}")
    return axis, pshape


@LAYERS.register("Scale")
def _scale(ctx: CaffeContext, layer, ins):
    x = ins[0]
    p = layer.scale_param
    axis, pshape = _param_axes(ctx, layer, x, p, ins)
    scale = ins[1] if len(ins) > 1 else ctx.const(ctx.blob(layer, 0, pshape))
    y = ctx.b.out("Multiply", [x, ctx.broadcast_to(scale, axis, ctx.rank(x))])
    if p.bias_term:  # the blob after the scale's (the first one when the scale is a bottom)
        bias = ctx.const(ctx.blob(layer, 0 if len(ins) > 1 else 1, pshape))
        y = ctx.b.out("Add", [y, ctx.broadcast_to(bias, axis, ctx.rank(x))])
    return [y]


@LAYERS.register("Bias")
def _bias_layer(ctx: CaffeContext, layer, ins):
    x = ins[0]
    axis, pshape = _param_axes(ctx, layer, x, layer.bias_param, ins)
    bias = ins[1] if len(ins) > 1 else ctx.const(ctx.blob(layer, 0, pshape))
    return [ctx.b.out("Add", [x, ctx.broadcast_to(bias, axis, ctx.rank(x))])]


@LAYERS.register("LRN")
def _lrn(ctx: CaffeContext, layer, ins):
    """ACROSS_CHANNELS: x / (k + alpha/n * sum of squares over n channels)^beta. WITHIN_CHANNEL
    Caffe builds from an AVE pooling of the squares (n x n, padded to keep the size, so every
    window counts n^2) and (1 + alpha * that)^-beta: k does not enter it."""
    x = ins[0]
    p = layer.lrn_param
    size = int(p.local_size)
    if size % 2 == 0:
        raise ctx.error(layer, f"local_size must be odd, got {size}")
    if p.norm_region == WITHIN_CHANNEL:
        if ctx.rank(x) != 4:
            raise ctx.error(layer, f"WITHIN_CHANNEL needs a 4-D input, got rank {ctx.rank(x)}")
        axes, bias = [2, 3], 1.0
    else:
        axes, bias = [1], float(p.k)
    if bias <= 0:
        raise ctx.error(layer, f"k must be positive, got {bias}")
    # x / (k + a/n S)^b = k^-b x / (1 + (a/k)/n S)^b: OpenVINO's CPU plugin computes LRN right
    # only for a bias of 1
    y = ctx.b.out("LRN", [x, ctx.i64(axes)], alpha=float(p.alpha) / bias, beta=float(p.beta), bias=1.0, size=size)
    if bias != 1.0:
        y = ctx.b.out("Multiply", [y, ctx.const(np.float32(bias ** -float(p.beta)))])
    return [y]


@LAYERS.register("Normalize")
def _normalize(ctx: CaffeContext, layer, ins):
    """SSD's L2 normalization, x / sqrt(sum x^2 + eps) over each sample (across_spatial) or over
    the channels of each position, times a learned scale (one, or one per channel)."""
    x = ins[0]
    p = layer.norm_param
    rank = ctx.rank(x)
    if rank < 2:
        raise ctx.error(layer, f"needs an input of rank 2 or more, got {rank}")
    axes = list(range(1, rank)) if p.across_spatial else [1]
    y = ctx.b.out("NormalizeL2", [x, ctx.i64(axes)], eps=float(p.eps), eps_mode="add")
    if p.channel_shared:
        scale = ctx.blob(layer, 0, ())
    else:
        c = ctx.channels(layer, x)
        scale = ctx.blob(layer, 0, (c,)).reshape([1, c] + [1] * (rank - 2))
    return [ctx.b.out("Multiply", [y, ctx.const(scale)])]


@LAYERS.register("Softmax")
def _softmax(ctx: CaffeContext, layer, ins):
    x = ins[0]
    return [ctx.b.out("SoftMax", [x], axis=ctx.axis(layer, layer.softmax_param.axis, ctx.rank(x)))]


@LAYERS.register("Interp")
def _interp(ctx: CaffeContext, layer, ins):
    """PSPNet/Deeplab's bilinear resize with aligned corners, after cropping -pad_beg/-pad_end
    (non-positive) from each side; the size comes from shrink_factor (first) and zoom_factor,
    or from height and width."""
    x = ins[0]
    p = layer.interp_param
    if ctx.rank(x) != 4:
        raise ctx.error(layer, f"resizes 4-D inputs only, got rank {ctx.rank(x)}")
    h, w = ctx.static_shape(layer, x)[2:]
    beg, end = int(p.pad_beg), int(p.pad_end)
    if beg > 0 or end > 0:
        raise ctx.error(layer, "pad_beg and pad_end must not be positive (they crop)")
    h_in, w_in = h + beg + end, w + beg + end
    if h_in <= 0 or w_in <= 0:
        raise ctx.error(layer, f"cropping {-beg}+{-end} leaves nothing of a {h}x{w} input")
    shrink, zoom = p.HasField("shrink_factor"), p.HasField("zoom_factor")
    if shrink or zoom:
        if (shrink and p.shrink_factor < 1) or (zoom and p.zoom_factor < 1):
            raise ctx.error(layer, "shrink_factor and zoom_factor must be at least 1")
        h_out, w_out = h_in, w_in
        if shrink:
            h_out, w_out = (h_out - 1) // p.shrink_factor + 1, (w_out - 1) // p.shrink_factor + 1
        if zoom:
            h_out, w_out = h_out + (h_out - 1) * (p.zoom_factor - 1), w_out + (w_out - 1) * (p.zoom_factor - 1)
    elif p.HasField("height") and p.HasField("width"):
        h_out, w_out = int(p.height), int(p.width)
    else:
        raise ctx.error(layer, "give shrink_factor, zoom_factor, or height and width")
    if h_out <= 0 or w_out <= 0:
        raise ctx.error(layer, f"output size {h_out}x{w_out} must be positive")
    if beg or end:
        x = ctx.b.out("Slice", [x, ctx.i64([-beg, -beg]), ctx.i64([-beg + h_in, -beg + w_in]), ctx.i64([1, 1]),
                                ctx.i64([2, 3])])
    if (h_out, w_out) == (h_in, w_in):
        return [x]
    return [ctx.b.out("Interpolate", [x, ctx.i64([h_out, w_out]), ctx.i64([2, 3])], mode="linear_onnx",
                      shape_calculation_mode="sizes", coordinate_transformation_mode="align_corners")]
