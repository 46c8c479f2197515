"""Paddle's convolutions, pooling, normalizations, matrix products, softmax, interpolation,
padding, dropout and embedding lookups, each following the Paddle op of that name
(paddle/phi/kernels, paddle/phi/infermeta for the output sizes)."""

from __future__ import annotations

import math

import numpy as np

from compiler.frontends.paddle.context import OPS, Node, PaddleContext


def _channels_last(ctx: PaddleContext, node: Node, key: str = "data_format") -> bool:
    fmt = str(ctx.attr(node, key, "NCHW") or "NCHW")
    if fmt in ("NCHW", "NCDHW", "NCL", "AnyLayout"):
        return False
    if fmt in ("NHWC", "NDHWC", "NLC"):
        return True
    raise ctx.error(node, f"unknown data format {fmt!r}")


def _pads(ctx: PaddleContext, node: Node, paddings: list[int], n: int, algorithm: str, spatial, kernel, strides,
          dilations) -> tuple[list[int], list[int]]:
    """Paddle's UpdatePaddingAndDilation: [p] per axis or [begin, end] per axis; SAME pads to
    ceil(in / stride) outputs (and resets dilations to 1), VALID pads nothing."""
    if algorithm == "VALID":
        return [0] * n, [0] * n
    if algorithm == "SAME":
        if None in spatial:
            raise ctx.error(node, "SAME padding needs static spatial sizes")
        begin, end = [], []
        for i in range(n):
            out = (spatial[i] + strides[i] - 1) // strides[i]
            total = max((out - 1) * strides[i] + kernel[i] - spatial[i], 0)
            begin.append(total // 2)
            end.append(total - total // 2)
        return begin, end
    if len(paddings) == n:
        return list(paddings), list(paddings)
    if len(paddings) == 2 * n:
        return paddings[0::2], paddings[1::2]
    raise ctx.error(node, f"paddings {paddings} do not fit {n} spatial axes")


def _conv_attrs(ctx: PaddleContext, node: Node, x, kernel):
    n = len(kernel)
    strides = ctx.ints(node, "strides", default=[1] * n)
    dilations = ctx.ints(node, "dilations", default=[1] * n)
    algorithm = str(ctx.attr(node, "padding_algorithm", "EXPLICIT") or "EXPLICIT")
    if algorithm == "SAME":
        dilations = [1] * n
    begin, end = _pads(ctx, node, ctx.ints(node, "paddings", default=[0] * n), n, algorithm, ctx.shape(x)[2:],
                       kernel, strides, dilations)
    return dict(strides=strides, dilations=dilations, pads_begin=begin, pads_end=end, auto_pad="explicit")


def _weights(ctx: PaddleContext, node: Node, slot: str = "Filter") -> np.ndarray:
    w = ctx.known(ctx.x(node, slot))
    if w is None:
        raise ctx.error(node, f"needs a constant {slot}")
    return np.asarray(w)


@OPS.register("conv2d", "depthwise_conv2d", "conv3d")
def _conv(ctx: PaddleContext, node: Node):
    x = ctx.x(node, "Input")
    last = _channels_last(ctx, node)
    if last:
        x = ctx.to_nchw(x)
    w = _weights(ctx, node)
    groups = int(ctx.attr(node, "groups", 1) or 1)
    attrs = _conv_attrs(ctx, node, x, list(w.shape[2:]))
    if groups == 1:
        y = ctx.b.out("Convolution", [x, ctx.const(w)], **attrs)
    else:
        cout = w.shape[0]
        if cout % groups:
            raise ctx.error(node, f"{groups} groups do not divide {cout} output channels")
        wg = w.reshape(groups, cout // groups, *w.shape[1:])
        y = ctx.b.out("GroupConvolution", [x, ctx.const(wg)], **attrs)
    return {"Output": ctx.from_nchw(y) if last else y}


@OPS.register("conv2d_transpose", "depthwise_conv2d_transpose")
def _conv_transpose(ctx: PaddleContext, node: Node):
    """Filter [C_in, C_out / groups, k...]; out = (in - 1) s - p_begin - p_end + d (k - 1) + 1
    + output_padding, or the given output_size (which fixes the output padding)."""
    x = ctx.x(node, "Input")
    last = _channels_last(ctx, node)
    if last:
        x = ctx.to_nchw(x)
    w = _weights(ctx, node)
    groups = int(ctx.attr(node, "groups", 1) or 1)
    kernel = list(w.shape[2:])
    n = len(kernel)
    strides = ctx.ints(node, "strides", default=[1] * n)
    dilations = ctx.ints(node, "dilations", default=[1] * n)
    algorithm = str(ctx.attr(node, "padding_algorithm", "EXPLICIT") or "EXPLICIT")
    spatial = ctx.shape(x)[2:]
    if algorithm == "SAME":
        dilations = [1] * n
    # Paddle pads a transposed convolution as it would pad the forward one on its input
    begin, end = _pads(ctx, node, ctx.ints(node, "paddings", default=[0] * n), n, algorithm, spatial, kernel,
                       strides, dilations)
    out_pad = ctx.ints(node, "output_padding", default=[]) or [0] * n
    size = ctx.known_input(node, "output_size")
    size = [int(v) for v in size.reshape(-1)] if size is not None else ctx.ints(node, "output_size", default=[])
    if size:
        if None in spatial:
            raise ctx.error(node, "output_size needs static spatial input sizes")
        out_pad = [size[i] - ((spatial[i] - 1) * strides[i] - begin[i] - end[i] + dilations[i] * (kernel[i] - 1)
                              + 1) for i in range(n)]
        if any(p < 0 or p >= max(strides[i], dilations[i]) for i, p in enumerate(out_pad)):
            raise ctx.error(node, f"output_size {size} cannot be reached with strides {strides}")
    attrs = dict(strides=strides, dilations=dilations, pads_begin=begin, pads_end=end, auto_pad="explicit",
                 output_padding=out_pad)
    if groups == 1:
        y = ctx.b.out("ConvolutionBackpropData", [x, ctx.const(w)], **attrs)
    else:
        cin = w.shape[0]
        wg = w.reshape(groups, cin // groups, *w.shape[1:])
        y = ctx.b.out("GroupConvolutionBackpropData", [x, ctx.const(wg)], **attrs)
    return {"Output": ctx.from_nchw(y) if last else y}


@OPS.register("batch_norm", "sync_batch_norm")
def _batch_norm(ctx: PaddleContext, node: Node):
    """Inference: (x - mean) / sqrt(var + eps) * scale + bias, per channel."""
    x = ctx.x(node)
    eps = float(ctx.attr(node, "epsilon", 1e-5))
    vals = {s: ctx.known(ctx.x(node, s)) for s in ("Mean", "Variance", "Scale", "Bias")}
    if any(v is None for v in vals.values()):
        raise ctx.error(node, "needs constant mean, variance, scale and bias")
    a = vals["Scale"].astype(np.float64) / np.sqrt(vals["Variance"].astype(np.float64) + eps)
    b = vals["Bias"].astype(np.float64) - vals["Mean"].astype(np.float64) * a
    rank = ctx.rank(x)
    shape = [1] * rank
    shape[rank - 1 if _channels_last(ctx, node, "data_layout") and rank > 2 else min(1, rank - 1)] = -1
    dt = ctx.dtype(x)
    y = ctx.b.out("Multiply", [x, ctx.const(a.reshape(shape).astype(dt))])
    return {"Y": ctx.b.out("Add", [y, ctx.const(b.reshape(shape).astype(dt))])}


@OPS.register("pool2d", "pool3d")
def _pool(ctx: PaddleContext, node: Node):
    """max/avg pooling; `global_pooling` pools whole maps, `adaptive` splits them into ksize
    cells (cell i spans [floor(i in / out), ceil((i + 1) in / out))); `exclusive` averages over
    the window inside the input only; ceil_mode rounds the output size up."""
    x = ctx.x(node)
    last = _channels_last(ctx, node)
    if last:
        x = ctx.to_nchw(x)
    n = ctx.rank(x) - 2
    kind = str(ctx.attr(node, "pooling_type", "max"))
    if kind not in ("max", "avg"):
        raise ctx.error(node, f"unknown pooling_type {kind!r}")
    ksize = ctx.ints(node, "ksize")
    spatial = ctx.shape(x)[2:]
    if ctx.attr(node, "global_pooling", False) or (ctx.attr(node, "adaptive", False) and all(k == 1 for k in ksize)):
        axes = ctx.i64(list(range(2, n + 2)))
        y = ctx.b.out("ReduceMax" if kind == "max" else "ReduceMean", [x, axes], keep_dims=True)
    elif ctx.attr(node, "adaptive", False):
        out = ctx.i64([s if k == -1 else k for k, s in zip(ksize, spatial)]) if -1 in ksize else ctx.i64(ksize)
        # the indices are not used: int32 ones, which OpenVINO's CPU plugin supports
        kw = {"index_element_type": np.dtype(np.int32)} if kind == "max" else {}
        y = ctx.b.op("AdaptiveMaxPool" if kind == "max" else "AdaptiveAvgPool", [x, out], **kw).outputs[0]
    else:
        if len(ksize) == 1:
            ksize = ksize * n
        strides = ctx.ints(node, "strides", default=[1] * n)
        algorithm = str(ctx.attr(node, "padding_algorithm", "EXPLICIT") or "EXPLICIT")
        begin, end = _pads(ctx, node, ctx.ints(node, "paddings", default=[0] * n), n, algorithm, spatial, ksize,
                           strides, [1] * n)
        attrs = dict(kernel=ksize, strides=strides, pads_begin=begin, pads_end=end, auto_pad="explicit",
                     rounding_type="ceil" if ctx.attr(node, "ceil_mode", False) else "floor")
        if kind == "max":
            y = ctx.b.op("MaxPool", [x], dilations=[1] * n, index_element_type=np.dtype(np.int32), **attrs).outputs[0]
        else:  # not exclusive: divided by the window clipped to the padded input, as OpenVINO does
            y = ctx.b.out("AvgPool", [x], exclude_pad=bool(ctx.attr(node, "exclusive", True)), **attrs)
    return {"Out": ctx.from_nchw(y) if last else y}


@OPS.register("max_pool2d_with_index", "max_pool3d_with_index")
def _max_pool_with_index(ctx: PaddleContext, node: Node):
    """Max pooling (adaptive pooling's form); the indices are not computed."""
    if node.outputs.get("Mask") and any(node.outputs["Mask"][0] in n.inputs.get(s, []) for n in ctx.nodes
                                        for s in n.inputs):
        raise ctx.error(node, "the indices of the maxima (Mask) are not supported")
    node.attrs = {**node.attrs, "pooling_type": "max"}
    return _pool(ctx, node)


@OPS.register("layer_norm")
def _layer_norm(ctx: PaddleContext, node: Node):
    """Normalizes over the axes from begin_norm_axis on; Scale and Bias hold their product of
    sizes, flattened."""
    x = ctx.x(node)
    rank = ctx.rank(x)
    begin = ctx.axis(node, int(ctx.attr(node, "begin_norm_axis", 1)), rank)
    eps = float(ctx.attr(node, "epsilon", 1e-5))
    y = ctx.b.out("MVN", [x, ctx.i64(list(range(begin, rank)))], normalize_variance=True, eps=eps,
                  eps_mode="inside_sqrt")
    tail = ctx.shape(x)[begin:]
    for slot, op in (("Scale", "Multiply"), ("Bias", "Add")):
        p = ctx.inp(node, slot)
        if p is None:
            continue
        if None in tail:
            raise ctx.error(node, f"needs static normalized axes, got {ctx.shape(x)}")
        p = ctx.b.out("Reshape", [p, ctx.i64(list(tail))], special_zero=False)
        y = ctx.b.out(op, [y, p])
    return {"Y": y}


@OPS.register("softmax")
def _softmax(ctx: PaddleContext, node: Node):
    x = ctx.x(node)
    return {"Out": ctx.b.out("SoftMax", [x], axis=ctx.axis(node, int(ctx.attr(node, "axis", -1)), ctx.rank(x)))}


@OPS.register("log_softmax")
def _log_softmax(ctx: PaddleContext, node: Node):
    x = ctx.x(node)
    return {"Out": ctx.b.out("LogSoftmax", [x], axis=ctx.axis(node, int(ctx.attr(node, "axis", -1)), ctx.rank(x)))}


@OPS.register("matmul_v2")
def _matmul_v2(ctx: PaddleContext, node: Node):
    return {"Out": ctx.b.out("MatMul", [ctx.x(node), ctx.x(node, "Y")], transpose_a=bool(ctx.attr(node, "trans_x",
                                                                                                False)),
                             transpose_b=bool(ctx.attr(node, "trans_y", False)))}


@OPS.register("matmul")
def _matmul(ctx: PaddleContext, node: Node):
    y = ctx.b.out("MatMul", [ctx.x(node), ctx.x(node, "Y")], transpose_a=bool(ctx.attr(node, "transpose_X", False)),
                  transpose_b=bool(ctx.attr(node, "transpose_Y", False)))
    alpha = float(ctx.attr(node, "alpha", 1.0))
    if alpha != 1.0:
        y = ctx.b.out("Multiply", [y, ctx.const(np.asarray(alpha, ctx.dtype(y)))])
    return {"Out": y}


def _flat_matmul(ctx: PaddleContext, node: Node, x, w, xn: int, yn: int):
    """x flattened to 2-D at x_num_col_dims times w flattened at y_num_col_dims, reshaped back
    to x's leading and w's trailing axes (Paddle's mul)."""
    xs, ws = ctx.shape(x), ctx.static_shape(node, w)
    if None in xs[xn:]:
        raise ctx.error(node, f"needs static axes from {xn} on, got {xs}")
    k = math.prod(xs[xn:])
    x2 = ctx.b.out("Reshape", [x, ctx.i64([-1, k])], special_zero=False) if len(xs) != 2 or xn != 1 else x
    w2 = ctx.b.out("Reshape", [w, ctx.i64([math.prod(ws[:yn]), math.prod(ws[yn:])])], special_zero=False) \
        if len(ws) != 2 else w
    y = ctx.b.out("MatMul", [x2, w2])
    if xn != 1 or len(ws) - yn != 1:
        lead = ctx.b.out("Slice", [ctx.b.out("ShapeOf", [x]), ctx.i64([0]), ctx.i64([xn]), ctx.i64([1])])
        y = ctx.b.out("Reshape", [y, ctx.b.out("Concat", [lead, ctx.i64(list(ws[yn:]))], axis=0)],
                      special_zero=False)
    return y


@OPS.register("mul")
def _mul(ctx: PaddleContext, node: Node):
    return {"Out": _flat_matmul(ctx, node, ctx.x(node), ctx.x(node, "Y"), int(ctx.attr(node, "x_num_col_dims", 1)),
                                int(ctx.attr(node, "y_num_col_dims", 1)))}


@OPS.register("fc")
def _fc(ctx: PaddleContext, node: Node):
    x = ctx.x(node, "Input")
    y = _flat_matmul(ctx, node, x, ctx.x(node, "W"), int(ctx.attr(node, "in_num_col_dims", 1)), 1)
    bias = ctx.inp(node, "Bias")
    if bias is not None:
        y = ctx.b.out("Add", [y, ctx.b.out("Reshape", [bias, ctx.i64([-1])], special_zero=False)])
    act = str(ctx.attr(node, "activation_type", "") or "")
    if act == "relu":
        y = ctx.b.out("ReLU", [y])
    elif act:
        raise ctx.error(node, f"activation_type {act!r} is not supported")
    return {"Out": y}


def _interp_sizes(ctx: PaddleContext, node: Node, x, n: int):
    """(sizes, scales) of a *_interp_v2 in Paddle's order of precedence: SizeTensor, OutSize,
    the Scale tensor, the scale attribute, out_d/out_h/out_w."""
    size = ctx.known_input(node, "SizeTensor", "OutSize")
    if size is not None:
        return [int(v) for v in size.reshape(-1)], None
    scale = ctx.known_input(node, "Scale")
    if scale is not None:
        scale = [float(v) for v in scale.reshape(-1)]
    else:  # a list in the v2 ops, one float in the older ones
        attr = ctx.attr(node, "scale", [])
        scale = [float(v) for v in (attr if isinstance(attr, list | tuple) else [attr])]
    if scale and all(s > 0 for s in scale):
        if len(scale) == 1:
            scale = scale * n
        return None, scale
    outs = [int(ctx.attr(node, k, -1)) for k in ("out_d", "out_h", "out_w")][3 - n:]
    if min(outs) <= 0:
        raise ctx.error(node, "gives neither an output size nor a scale")
    return outs, None


@OPS.register("bilinear_interp_v2", "nearest_interp_v2", "linear_interp_v2", "trilinear_interp_v2",
              "bicubic_interp_v2", "bilinear_interp", "nearest_interp")
def _interp(ctx: PaddleContext, node: Node):
    x = ctx.x(node)
    last = _channels_last(ctx, node, "data_layout")
    if last:
        x = ctx.to_nchw(x)
    n = ctx.rank(x) - 2
    method = str(ctx.attr(node, "interp_method", node.type.split("_")[0]))
    align = bool(ctx.attr(node, "align_corners", True if not node.type.endswith("_v2") else False))
    align_mode = int(ctx.attr(node, "align_mode", 1))
    sizes, scales = _interp_sizes(ctx, node, x, n)
    spatial = ctx.shape(x)[2:]
    if method == "nearest" and None not in spatial:
        y = _nearest(ctx, x, spatial, sizes, scales, align)
        return {"Out": ctx.from_nchw(y) if last else y}
    if method == "nearest":
        mode, coord, nearest = "nearest", ("align_corners" if align else "asymmetric"), (
            "round_prefer_ceil" if align else "floor")
    elif method in ("bilinear", "linear", "trilinear"):
        mode, nearest = "linear_onnx", "floor"
        coord = "align_corners" if align else ("asymmetric" if align_mode == 1 else "half_pixel")
    elif method == "bicubic":
        mode, nearest, coord = "cubic", "floor", "align_corners" if align else "half_pixel"
    else:
        raise ctx.error(node, f"unknown interp_method {method!r}")
    axes = ctx.i64(list(range(2, n + 2)))
    if sizes is not None:
        y = ctx.b.out("Interpolate", [x, ctx.i64(sizes), axes], mode=mode, shape_calculation_mode="sizes",
                      coordinate_transformation_mode=coord, nearest_mode=nearest, cube_coeff=-0.75)
    else:
        y = ctx.b.out("Interpolate", [x, ctx.const(np.asarray(scales, np.float32)), axes], mode=mode,
                      shape_calculation_mode="scales", coordinate_transformation_mode=coord, nearest_mode=nearest,
                      cube_coeff=-0.75)
    return {"Out": ctx.from_nchw(y) if last else y}


def _nearest(ctx: PaddleContext, x, spatial, sizes, scales, align: bool):
    """Nearest neighbours picked as Paddle's kernel picks them, in float32: source index
    int(ratio * k) (+ 0.5 with align_corners), ratio = 1 / scale when a scale is given, else
    in / out ((in - 1) / (out - 1) with align_corners); gathered axis by axis."""
    y = x
    f32 = np.float32
    for i, d in enumerate(spatial):
        if sizes is not None:
            out, scale = sizes[i], 0.0
        else:
            scale = f32(scales[i])
            out = int(f32(d) * scale)
        if align:
            ratio = f32(d - 1) / f32(out - 1) if out > 1 else f32(0)
        else:
            ratio = f32(1.0 / float(scale)) if scale > 0 else f32(d) / f32(out)
        k = np.arange(out, dtype=f32)
        idx = (ratio * k + (f32(0.5) if align else f32(0))).astype(np.int64)
        idx = np.minimum(idx, d - 1)
        if out == d and np.array_equal(idx, np.arange(d)):
            continue
        y = ctx.b.out("Gather", [y, ctx.i64(idx), ctx.i64(2 + i)], batch_dims=0)
    return y


@OPS.register("pad3d", "pad2d")
def _pad(ctx: PaddleContext, node: Node):
    """paddings [left, right, top, bottom, front, back] of the last spatial axes, outermost last;
    modes constant, reflect, replicate (OpenVINO's edge)."""
    x = ctx.x(node)
    rank = ctx.rank(x)
    pads = ctx.ints(node, "paddings", "Paddings")
    fmt = str(ctx.attr(node, "data_format", "NCDHW" if node.type == "pad3d" else "NCHW"))
    mode = str(ctx.attr(node, "mode", "constant"))
    modes = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "edge": "edge"}
    if mode not in modes:
        raise ctx.error(node, f"pad mode {mode!r} is not supported (constant, reflect, replicate)")
    n = len(pads) // 2
    spatial = list(range(1, 1 + n)) if fmt in ("NDHWC", "NHWC") else list(range(2, 2 + n))
    begin, end = [0] * rank, [0] * rank
    for i, axis in enumerate(reversed(spatial)):  # pairs run from the last axis backwards
        begin[axis], end[axis] = pads[2 * i], pads[2 * i + 1]
    ins = [x, ctx.i64(begin), ctx.i64(end)]
    if mode == "constant":
        ins.append(ctx.const(np.asarray(float(ctx.attr(node, "value", 0.0)), ctx.dtype(x))))
    return {"Out": ctx.b.out("Pad", ins, pad_mode=modes[mode])}


@OPS.register("dropout")
def _dropout(ctx: PaddleContext, node: Node):
    """At inference "downgrade_in_infer" scales by 1 - p, "upscale_in_train" passes through."""
    x = ctx.x(node)
    impl = str(ctx.attr(node, "dropout_implementation", "downgrade_in_infer"))
    p = ctx.scalar(node, "dropout_prob", default=0.5)
    if impl == "upscale_in_train" or p == 0.0:
        return {"Out": x}
    return {"Out": ctx.b.out("Multiply", [x, ctx.const(np.asarray(1.0 - p, ctx.dtype(x)))])}


@OPS.register("lookup_table_v2", "lookup_table")
def _lookup(ctx: PaddleContext, node: Node):
    """Rows of W; ids equal to padding_idx give zeros (kept as the stored table with that row
    zeroed). lookup_table (v1) takes ids with a trailing axis of 1."""
    ids, w = ctx.x(node, "Ids"), ctx.x(node, "W")
    pad = int(ctx.attr(node, "padding_idx", -1))
    if pad != -1:
        table = ctx.known(w)
        if table is None:
            raise ctx.error(node, "padding_idx needs a constant table")
        table = np.array(table)
        table[pad if pad >= 0 else pad + table.shape[0]] = 0
        w = ctx.const(table)
    if node.type == "lookup_table" and ctx.shape(ids)[-1:] == (1,):
        ids = ctx.b.out("Squeeze", [ids, ctx.i64([-1])])
    return {"Out": ctx.b.out("Gather", [w, ids, ctx.i64(0)], batch_dims=0)}
