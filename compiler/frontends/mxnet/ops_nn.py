"""MXNet's layers that compute with weights or windows: convolutions, FullyConnected,
normalizations, activations, pooling, softmax, Embedding, UpSampling, dot products (each after
the operator of that name in apache/mxnet src/operator/)."""

from __future__ import annotations

import math

import numpy as np

from compiler.frontends.mxnet.context import MxContext, register

SELU_ALPHA, SELU_LAMBDA = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _spatial(ctx: MxContext, node, x, kernel):
    n = len(kernel)
    rank = ctx.rank(x)
    if rank != n + 2:
        raise ctx.error(node, f"a {n}-D kernel needs an input of rank {n + 2}, got {rank}")
    layout = ctx.str(node, "layout", None)
    if layout not in (None, "NCW", "NCHW", "NCDHW"):
        raise ctx.error(node, f"layout {layout} is not supported (only channels-first)")

    def per_axis(key, default):
        v = ctx.tuple(node, key, [])
        if not v:
            return [default] * n
        if len(v) != n:
            raise ctx.error(node, f"{key} has {len(v)} values for {n} spatial axes")
        return [int(d) for d in v]
    return per_axis("stride", 1), per_axis("pad", 0), per_axis("dilate", 1)


def _add_bias(ctx: MxContext, y, b):
    return ctx.b.out("Add", [y, ctx.b.out("Reshape", [b, ctx.i64([1, -1] + [1] * (ctx.rank(y) - 2))],
                                          special_zero=False)])


@register("Convolution")
def _convolution(ctx: MxContext, node, ins):
    x, w = ins[0], ins[1]
    kernel = ctx.tuple(node, "kernel")
    stride, pad, dilate = _spatial(ctx, node, x, kernel)
    g, out = ctx.int(node, "num_group", 1), ctx.int(node, "num_filter")
    no_bias = ctx.bool(node, "no_bias", False)
    c = ctx.shape(x)[1]
    wshape = ctx.shape(w)
    if c is not None and (c % g or wshape[1] * g != c) or wshape[0] != out:
        raise ctx.error(node, f"weight {list(wshape)} does not fit {c} input channels, {out} filters, group {g}")
    attrs = dict(strides=stride, pads_begin=pad, pads_end=pad, dilations=dilate, auto_pad="explicit")
    if g == 1:
        y = ctx.b.out("Convolution", [x, w], **attrs)
    else:
        w = ctx.b.out("Reshape", [w, ctx.i64([g, out // g, *wshape[1:]])], special_zero=False)
        y = ctx.b.out("GroupConvolution", [x, w], **attrs)
    return [y if no_bias else _add_bias(ctx, y, ins[2])]


@register("Deconvolution")
def _deconvolution(ctx: MxContext, node, ins):
    """Weights [C_in, num_filter / group, k...]; out = (in - 1) s + d (k - 1) + 1 - 2 pad + adj,
    or pad and adj chosen to reach `target_shape` (MXNet's InferPad)."""
    x, w = ins[0], ins[1]
    kernel = ctx.tuple(node, "kernel")
    stride, pad, dilate = _spatial(ctx, node, x, kernel)
    n = len(kernel)
    g, out = ctx.int(node, "num_group", 1), ctx.int(node, "num_filter")
    adj = [int(a) for a in ctx.tuple(node, "adj", [])] or [0] * n
    target = [int(t) for t in ctx.tuple(node, "target_shape", [])]
    if target and any(target):
        spatial = ctx.static_shape(node, x)[2:]
        pad, adj = [], []
        for i in range(n):
            total = stride[i] * (spatial[i] - 1) + dilate[i] * (kernel[i] - 1) + 1 - target[i]
            if total < 0:
                raise ctx.error(node, f"target_shape {target} is too big")
            adj.append(total % 2)
            pad.append((total + 1) // 2)
    c_in = ctx.shape(w)[0]
    attrs = dict(strides=stride, pads_begin=pad, pads_end=pad, dilations=dilate, auto_pad="explicit",
                 output_padding=adj)
    if g == 1:
        y = ctx.b.out("ConvolutionBackpropData", [x, w], **attrs)
    else:
        w = ctx.b.out("Reshape", [w, ctx.i64([g, c_in // g, out // g, *kernel])], special_zero=False)
        y = ctx.b.out("GroupConvolutionBackpropData", [x, w], **attrs)
    return [y if ctx.bool(node, "no_bias", True) else _add_bias(ctx, y, ins[2])]


@register("FullyConnected")
def _fully_connected(ctx: MxContext, node, ins):
    """y = x W^T + b on (N, everything else) when `flatten`, else on the last axis."""
    x, w = ins[0], ins[1]
    if ctx.bool(node, "flatten", True) and ctx.rank(x) != 2:
        tail = ctx.shape(x)[1:]
        x = ctx.b.out("Reshape", [x, ctx.i64([0, -1 if None in tail else math.prod(tail)])], special_zero=True)
    y = ctx.b.out("MatMul", [x, w], transpose_b=True)
    return [y if ctx.bool(node, "no_bias", False) else ctx.b.out("Add", [y, ins[2]])]


@register("BatchNorm")
def _batch_norm(ctx: MxContext, node, ins):
    """At inference: (x - moving_mean) / sqrt(moving_var + eps) * gamma + beta along `axis`;
    gamma is 1 when fix_gamma (whatever the file stores). use_global_stats only changes training."""
    x, gamma, beta, mean, var = ins[:5]
    eps = ctx.float(node, "eps", 1e-3)
    rank = ctx.rank(x)
    axis = ctx.axis(node, ctx.int(node, "axis", 1), rank)
    if ctx.bool(node, "output_mean_var", False):
        raise ctx.error(node, "output_mean_var is not supported")
    if ctx.bool(node, "fix_gamma", True):
        gamma = ctx.const(np.ones_like(ctx.param(node, gamma, "gamma")))
    if axis == 1 and rank >= 2:
        return [ctx.b.out("BatchNormInference", [x, gamma, beta, mean, var], epsilon=eps)]
    shape = [1] * rank
    shape[axis] = -1

    def along(v):
        return ctx.b.out("Reshape", [v, ctx.i64(shape)], special_zero=False)
    inv = ctx.b.out("Divide", [gamma, ctx.b.out("Sqrt", [ctx.b.out("Add", [var, ctx.scalar(eps, var)])])])
    y = ctx.b.out("Multiply", [ctx.b.out("Subtract", [x, along(mean)]), along(inv)])
    return [ctx.b.out("Add", [y, along(beta)])]


@register("LayerNorm")
def _layer_norm(ctx: MxContext, node, ins):
    x, gamma, beta = ins[:3]
    rank = ctx.rank(x)
    axis = ctx.axis(node, ctx.int(node, "axis", -1), rank)
    if ctx.bool(node, "output_mean_var", False):
        raise ctx.error(node, "output_mean_var is not supported")
    y = ctx.b.out("MVN", [x, ctx.i64([axis])], eps=ctx.float(node, "eps", 1e-5), normalize_variance=True,
                  eps_mode="inside_sqrt")
    shape = [1] * rank
    shape[axis] = -1
    g = ctx.b.out("Reshape", [gamma, ctx.i64(shape)], special_zero=False)
    b = ctx.b.out("Reshape", [beta, ctx.i64(shape)], special_zero=False)
    return [ctx.b.out("Add", [ctx.b.out("Multiply", [y, g]), b])]


def _activation(ctx: MxContext, node, x, act: str):
    if act == "relu":
        return ctx.b.out("ReLU", [x])
    if act == "sigmoid":
        return ctx.b.out("Sigmoid", [x])
    if act == "tanh":
        return ctx.b.out("Tanh", [x])
    if act == "softrelu":
        return ctx.b.out("SoftPlus", [x])
    if act == "softsign":
        return ctx.b.out("SoftSign", [x])
    if act == "mish":
        return ctx.b.out("Mish", [x])
    if act == "log_sigmoid":
        return ctx.b.out("Negative", [ctx.b.out("SoftPlus", [ctx.b.out("Negative", [x])])])
    raise ctx.error(node, f"act_type {act!r} is not supported")


@register("Activation")
def _activation_op(ctx: MxContext, node, ins):
    return [_activation(ctx, node, ins[0], ctx.str(node, "act_type"))]


@register("relu", "sigmoid", "tanh", "softsign")
def _activation_fn(ctx: MxContext, node, ins):
    return [_activation(ctx, node, ins[0], node.op)]


@register("LeakyReLU")
def _leaky_relu(ctx: MxContext, node, ins):
    x = ins[0]
    act = ctx.str(node, "act_type", "leaky")
    slope = ctx.float(node, "slope", 0.25)
    if act == "leaky":
        return [ctx.b.out("PRelu", [x, ctx.const(np.array([slope], ctx.dtype(x)))])]
    if act == "rrelu":  # inference uses the mean of the random slope's range
        mean = (ctx.float(node, "lower_bound", 0.125) + ctx.float(node, "upper_bound", 0.334)) / 2
        return [ctx.b.out("PRelu", [x, ctx.const(np.array([mean], ctx.dtype(x)))])]
    if act == "prelu":
        gamma = ins[1]
        if ctx.rank(x) > 2 and ctx.shape(gamma) != (1,):
            gamma = ctx.b.out("Reshape", [gamma, ctx.i64([-1] + [1] * (ctx.rank(x) - 2))], special_zero=False)
        return [ctx.b.out("PRelu", [x, gamma])]
    if act == "elu":
        return [ctx.b.out("Elu", [x], alpha=slope)]
    if act == "selu":
        return [ctx.b.out("Selu", [x, ctx.const(np.array([SELU_ALPHA], ctx.dtype(x))),
                                   ctx.const(np.array([SELU_LAMBDA], ctx.dtype(x)))])]
    if act == "gelu":
        return [ctx.b.out("Gelu", [x], approximation_mode="erf")]
    raise ctx.error(node, f"act_type {act!r} is not supported")


def _pool_out(d: int, k: int, s: int, p: int, full: bool) -> int:
    return (-(-(d + 2 * p - k) // s) if full else (d + 2 * p - k) // s) + 1


@register("Pooling")
def _pooling(ctx: MxContext, node, ins):
    """valid: out = floor((in + 2p - k) / s) + 1; full: ceil. avg divides by the window clipped
    to the padded input (count_include_pad, the default) or by its part inside the input; sum
    adds the window."""
    x = ins[0]
    pool = ctx.str(node, "pool_type", "max")
    if pool not in ("max", "avg", "sum"):
        raise ctx.error(node, f"pool_type {pool!r} is not supported")
    rank = ctx.rank(x)
    if ctx.bool(node, "global_pool", False):
        layout = ctx.str(node, "layout", None)
        if layout not in (None, "NCW", "NCHW", "NCDHW"):
            raise ctx.error(node, f"layout {layout} is not supported (only channels-first)")
        op = {"max": "ReduceMax", "avg": "ReduceMean", "sum": "ReduceSum"}[pool]
        return [ctx.b.out(op, [x, ctx.i64(list(range(2, rank)))], keep_dims=True)]
    kernel = [int(k) for k in ctx.tuple(node, "kernel")]
    stride, pad, _ = _spatial(ctx, node, x, kernel)
    conv = ctx.str(node, "pooling_convention", "valid")
    if conv not in ("valid", "full"):
        raise ctx.error(node, f"pooling_convention {conv!r} is not supported")
    full = conv == "full"
    include = ctx.bool(node, "count_include_pad", True)
    n = len(kernel)
    if pool == "max":
        attrs = dict(kernel=kernel, strides=stride, pads_begin=pad, pads_end=pad, auto_pad="explicit",
                     rounding_type="ceil" if full else "floor")
        return [ctx.b.op("MaxPool", [x], dilations=[1] * n, index_element_type=np.int64, axis=0,
                         **attrs).outputs[0]]
    spatial = ctx.static_shape(node, x)[2:]
    outs = [_pool_out(d, k, s, p, full) for d, k, s, p in zip(spatial, kernel, stride, pad)]
    # the end padding that makes the last window fit: the padding itself and, with "full", the
    # overhang past it (which never counts)
    over = [max(0, (o - 1) * s + k - d - 2 * p) for o, d, k, s, p in zip(outs, spatial, kernel, stride, pad)]
    base = dict(kernel=kernel, strides=stride, auto_pad="explicit", rounding_type="floor")
    if pool == "sum" or include:
        y = x
        if any(pad):
            y = ctx.b.out("Pad", [x, ctx.i64([0, 0, *pad]), ctx.i64([0, 0, *pad]), ctx.scalar(0.0, x)],
                          pad_mode="constant")
        if pool == "sum":
            if any(over):
                y = ctx.b.out("Pad", [y, ctx.i64([0] * rank), ctx.i64([0, 0, *over]), ctx.scalar(0.0, x)],
                              pad_mode="constant")
            y = ctx.b.out("AvgPool", [y], exclude_pad=False, pads_begin=[0] * n, pads_end=[0] * n, **base)
            return [ctx.b.out("Multiply", [y, ctx.scalar(float(math.prod(kernel)), x)])]
        return [ctx.b.out("AvgPool", [y], exclude_pad=True, pads_begin=[0] * n, pads_end=over, **base)]
    return [ctx.b.out("AvgPool", [x], exclude_pad=True, pads_begin=pad,
                      pads_end=[p + o for p, o in zip(pad, over)], **base)]


@register("softmax", "log_softmax")
def _softmax(ctx: MxContext, node, ins):
    x = ins[0]
    if ctx.bool(node, "use_length", False):
        raise ctx.error(node, "use_length is not supported")
    t = ctx.float(node, "temperature", None)
    if t is not None and t != 1.0:
        x = ctx.b.out("Divide", [x, ctx.scalar(t, x)])
    axis = ctx.axis(node, ctx.int(node, "axis", -1), ctx.rank(x))
    return [ctx.b.out("SoftMax" if node.op == "softmax" else "LogSoftmax", [x], axis=axis)]


def _softmax_rows(ctx: MxContext, x):
    """Softmax over axis 1 of (N, everything else)."""
    if ctx.rank(x) <= 2:
        return ctx.b.out("SoftMax", [x], axis=ctx.rank(x) - 1)
    flat = ctx.b.out("Reshape", [x, ctx.i64([0, -1])], special_zero=True)
    y = ctx.b.out("SoftMax", [flat], axis=1)
    return ctx.b.out("Reshape", [y, ctx.b.out("ShapeOf", [x], output_type=np.int64)], special_zero=False)


@register("SoftmaxOutput", "Softmax")
def _softmax_output(ctx: MxContext, node, ins):
    """Its label input only trains. multi_output: over axis 1; preserve_shape: over the last
    axis; else over everything but the batch axis."""
    x = ins[0]
    if ctx.bool(node, "preserve_shape", False):
        return [ctx.b.out("SoftMax", [x], axis=ctx.rank(x) - 1)]
    if ctx.bool(node, "multi_output", False):
        return [ctx.b.out("SoftMax", [x], axis=1)]
    return [_softmax_rows(ctx, x)]


@register("SoftmaxActivation")
def _softmax_activation(ctx: MxContext, node, ins):
    mode = ctx.str(node, "mode", "instance")
    if mode not in ("instance", "channel"):
        raise ctx.error(node, f"mode {mode!r} is not supported")
    x = ins[0]  # instance: over the last axis (mshadow's FlatTo2D keeps it); channel: over axis 1
    return [ctx.b.out("SoftMax", [x], axis=1 if mode == "channel" else ctx.rank(x) - 1)]


@register("LinearRegressionOutput", "MAERegressionOutput")
def _regression(ctx: MxContext, node, ins):
    return [ins[0]]


@register("LogisticRegressionOutput")
def _logistic(ctx: MxContext, node, ins):
    return [ctx.b.out("Sigmoid", [ins[0]])]


@register("LRN")
def _lrn(ctx: MxContext, node, ins):
    """x / (knorm + alpha / nsize * sum of squares over nsize channels)^beta, written with bias 1
    (x (k^-beta) / (1 + alpha / k / n S)^beta), the form OpenVINO's CPU plugin computes right."""
    x = ins[0]
    k, alpha, beta = ctx.float(node, "knorm", 2.0), ctx.float(node, "alpha", 1e-4), ctx.float(node, "beta", 0.75)
    size = ctx.int(node, "nsize")
    if k <= 0:
        raise ctx.error(node, f"knorm must be positive, got {k}")
    y = ctx.b.out("LRN", [x, ctx.i64([1])], alpha=alpha / k, beta=beta, bias=1.0, size=size)
    return [y if k == 1.0 else ctx.b.out("Multiply", [y, ctx.scalar(k ** -beta, x)])]


@register("Embedding")
def _embedding(ctx: MxContext, node, ins):
    """Rows of the weight at the indices (float data truncated to integers, clipped to the table)."""
    data, w = ins[0], ins[1]
    n = ctx.shape(w)[0]
    idx = data if ctx.dtype(data).kind in "iu" else ctx.b.out("Convert", [data], destination_type=np.int32)
    idx = ctx.b.out("Convert", [idx], destination_type=np.int32) if ctx.dtype(idx) != np.int32 else idx
    idx = ctx.b.out("Clamp", [idx], min=0.0, max=float(n - 1))
    return [ctx.b.out("Gather", [w, idx, ctx.i64(0)])]


@register("UpSampling")
def _upsampling(ctx: MxContext, node, ins):
    """Nearest: each input repeated to `scale` times the first one's size, then concatenated
    (or summed) along the channels."""
    if ctx.str(node, "sample_type") != "nearest":
        raise ctx.error(node, "only sample_type nearest is supported")
    scale = ctx.int(node, "scale")
    h, w = ctx.static_shape(node, ins[0])[2:]
    outs = [ctx.b.out("Interpolate", [v, ctx.i64([h * scale, w * scale]), ctx.i64([2, 3])], mode="nearest",
                      shape_calculation_mode="sizes", coordinate_transformation_mode="asymmetric",
                      nearest_mode="floor") for v in ins]
    if len(outs) == 1:
        return outs
    if ctx.str(node, "multi_input_mode", "concat") == "sum":
        y = outs[0]
        for o in outs[1:]:
            y = ctx.b.out("Add", [y, o])
        return [y]
    return [ctx.b.out("Concat", outs, axis=1)]


def _reverse_axes(ctx: MxContext, v):
    r = ctx.rank(v)
    return v if r < 2 else ctx.b.out("Transpose", [v, ctx.i64(list(range(r))[::-1])])


@register("dot")
def _dot(ctx: MxContext, node, ins):
    """Contracts the last axis of a (first, when transpose_a: the axes are reversed) with the
    first axis of b."""
    a, b = ins[0], ins[1]
    if ctx.bool(node, "transpose_a", False):
        a = _reverse_axes(ctx, a)
    if ctx.bool(node, "transpose_b", False):
        b = _reverse_axes(ctx, b)
    sa, sb = ctx.static_shape(node, a), ctx.static_shape(node, b)
    if sa[-1] != sb[0]:
        raise ctx.error(node, f"shapes {list(sa)} and {list(sb)} do not contract")
    if len(sa) == 1 and len(sb) == 1:
        y = ctx.b.out("MatMul", [a, b])
        return [ctx.b.out("Reshape", [y, ctx.i64([1])], special_zero=False)]
    a2 = ctx.b.out("Reshape", [a, ctx.i64([-1, sa[-1]])], special_zero=False) if len(sa) != 2 else a
    b2 = ctx.b.out("Reshape", [b, ctx.i64([sb[0], -1])], special_zero=False) if len(sb) != 2 else b
    y = ctx.b.out("MatMul", [a2, b2])
    out = list(sa[:-1]) + list(sb[1:])
    return [y if len(sa) == 2 and len(sb) == 2 else ctx.b.out("Reshape", [y, ctx.i64(out)], special_zero=False)]


@register("batch_dot")
def _batch_dot(ctx: MxContext, node, ins):
    return [ctx.b.out("MatMul", ins[:2], transpose_a=ctx.bool(node, "transpose_a", False),
                      transpose_b=ctx.bool(node, "transpose_b", False))]
