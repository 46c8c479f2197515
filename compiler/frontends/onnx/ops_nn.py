"""ONNX convolutions, pooling, GEMM, normalizations, softmax and resizing."""

from __future__ import annotations

import numpy as np

from compiler.frontends.onnx.context import OnnxContext, onnx_op

AUTO_PAD = {"NOTSET": "explicit", "SAME_UPPER": "same_upper", "SAME_LOWER": "same_lower", "VALID": "valid",
            "": "explicit"}


def window_attrs(ctx: OnnxContext, node, n: int, with_dilations: bool = True) -> dict:
    pads = list(ctx.attr(node, "pads", [0] * (2 * n)))
    auto_pad = ctx.attr(node, "auto_pad", "NOTSET")
    if auto_pad not in AUTO_PAD:
        raise ctx.error(node, f"auto_pad {auto_pad!r} is not one of {', '.join(AUTO_PAD)}")
    a = {"strides": list(ctx.attr(node, "strides", [1] * n)), "pads_begin": pads[:n], "pads_end": pads[n:],
         "auto_pad": AUTO_PAD[auto_pad]}
    if with_dilations:
        a["dilations"] = list(ctx.attr(node, "dilations", [1] * n))
    return a


def per_channel(ctx: OnnxContext, v, rank: int):
    """Reshape a [C] vector to [1, C, 1, ...] for a rank-`rank` NC... tensor."""
    return ctx.b.out("Reshape", [v, ctx.i64([1, -1] + [1] * (rank - 2))], special_zero=False)


def _grouped_filter(ctx: OnnxContext, node, w, g: int, transposed: bool):
    """[O, I/g, k...] -> [g, O/g, I/g, k...] (or [I, O/g, k...] -> [g, I/g, O/g, k...] transposed)."""
    shape = ctx.shape(w)
    if shape[0] is None:
        raise ctx.error(node, "grouped filter needs a static first dimension")
    if g < 1 or shape[0] % g:
        raise ctx.error(node, f"group {g} does not divide the filter's {shape[0]} channels")
    new = [g, shape[0] // g] + [-1 if d is None else d for d in shape[1:]]
    return ctx.b.out("Reshape", [w, ctx.i64(new)], special_zero=False)


@onnx_op("Conv")
def _conv(ctx: OnnxContext, node, ins):
    x, w = ins[0], ins[1]
    n = ctx.rank(x) - 2
    g = ctx.attr(node, "group", 1)
    a = window_attrs(ctx, node, n)
    k = ctx.attr(node, "kernel_shape")
    if k is not None and list(k) != list(ctx.shape(w)[2:]):
        raise ctx.error(node, f"kernel_shape {k} does not match the filter's shape {ctx.shape(w)}")
    if g == 1:
        y = ctx.b.out("Convolution", [x, w], **a)
    else:
        y = ctx.b.out("GroupConvolution", [x, _grouped_filter(ctx, node, w, g, False)], **a)
    if len(ins) > 2 and ins[2] is not None:
        y = ctx.b.out("Add", [y, per_channel(ctx, ins[2], n + 2)])
    return [y]


@onnx_op("ConvTranspose")
def _conv_transpose(ctx: OnnxContext, node, ins):
    x, w = ins[0], ins[1]
    n = ctx.rank(x) - 2
    g = ctx.attr(node, "group", 1)
    a = window_attrs(ctx, node, n)
    k = ctx.attr(node, "kernel_shape") or list(ctx.shape(w)[2:])
    outpad = list(ctx.attr(node, "output_padding", [0] * n))
    out_shape = ctx.attr(node, "output_shape")
    auto = a["auto_pad"]
    if out_shape is not None or auto in ("same_upper", "same_lower"):
        sp = ctx.shape(x)[2:]
        if None in sp or None in k:
            raise ctx.error(node, "output_shape/auto_pad need static spatial dimensions")
        out = list(out_shape)[-n:] if out_shape is not None else [d * s for d, s in zip(sp, a["strides"])]
        pb, pe = [], []
        for i in range(n):
            total = a["strides"][i] * (sp[i] - 1) + outpad[i] + (k[i] - 1) * a["dilations"][i] + 1 - out[i]
            if auto == "same_upper":
                pb.append(total // 2)
                pe.append(total - total // 2)
            else:
                pb.append(total - total // 2)
                pe.append(total // 2)
        a.update(pads_begin=pb, pads_end=pe, auto_pad="explicit")
    a["output_padding"] = outpad
    if g == 1:
        y = ctx.b.out("ConvolutionBackpropData", [x, w], **a)
    else:
        y = ctx.b.out("GroupConvolutionBackpropData", [x, _grouped_filter(ctx, node, w, g, True)], **a)
    if len(ins) > 2 and ins[2] is not None:
        y = ctx.b.out("Add", [y, per_channel(ctx, ins[2], n + 2)])
    return [y]


@onnx_op("MaxPool")
def _max_pool(ctx: OnnxContext, node, ins):
    x = ins[0]
    n = ctx.rank(x) - 2
    if ctx.attr(node, "storage_order", 0):
        raise ctx.error(node, "storage_order=1 (column-major indices) is not supported")
    a = window_attrs(ctx, node, n)
    pool = ctx.b.op("MaxPool", [x], kernel=list(ctx.attr(node, "kernel_shape")),
                    rounding_type="ceil_torch" if ctx.attr(node, "ceil_mode", 0) else "floor",
                    index_element_type=np.int64, axis=0, **a)
    return [pool.outputs[0], pool.outputs[1]][:len(node.output)]


@onnx_op("AveragePool")
def _avg_pool(ctx: OnnxContext, node, ins):
    x = ins[0]
    n = ctx.rank(x) - 2
    if any(d != 1 for d in ctx.attr(node, "dilations", [1] * n)):
        return [_dilated_avg_pool(ctx, node, x)]
    a = window_attrs(ctx, node, n, with_dilations=False)
    return [ctx.b.out("AvgPool", [x], kernel=list(ctx.attr(node, "kernel_shape")),
                      rounding_type="ceil_torch" if ctx.attr(node, "ceil_mode", 0) else "floor",
                      exclude_pad=not ctx.attr(node, "count_include_pad", 0), **a)]


def _dilated_avg_pool(ctx: OnnxContext, node, x):
    """Window sums over window counts, both depthwise convolutions of constants (the counts
    fold): pads count when count_include_pad, positions past them (ceil_mode) never do."""
    from compiler.frontends.onnx.ops_extra import window_sum

    if ctx.attr(node, "auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise ctx.error(node, "dilated average pooling with auto_pad SAME is not supported")
    shape = ctx.shape(x)
    if None in shape:
        raise ctx.error(node, "dilated average pooling needs static dimensions")
    n = len(shape) - 2
    total = window_sum(ctx, node, x)
    ones = np.ones(shape, ctx.dtype(x))
    if ctx.attr(node, "count_include_pad", 0):
        pads = list(ctx.attr(node, "pads", [0] * (2 * n)))
        ones = np.pad(ones, [(0, 0), (0, 0)] + [(pads[i], pads[n + i]) for i in range(n)], constant_values=1)
        count = window_sum(ctx, node, ctx.const(ones), no_pads=True)
    else:
        count = window_sum(ctx, node, ctx.const(ones))
    return ctx.b.out("Divide", [total, count])


def _global(ov_type):
    def convert(ctx: OnnxContext, node, ins):
        x = ins[0]
        return [ctx.b.out(ov_type, [x, ctx.i64(list(range(2, ctx.rank(x))))], keep_dims=True)]
    return convert


onnx_op("GlobalAveragePool")(_global("ReduceMean"))
onnx_op("GlobalMaxPool")(_global("ReduceMax"))


@onnx_op("Gemm")
def _gemm(ctx: OnnxContext, node, ins):
    a_, b_ = ins[0], ins[1]
    y = ctx.b.out("MatMul", [a_, b_], transpose_a=bool(ctx.attr(node, "transA", 0)),
                  transpose_b=bool(ctx.attr(node, "transB", 0)))
    dt = ctx.dtype(y)
    alpha, beta = ctx.attr(node, "alpha", 1.0), ctx.attr(node, "beta", 1.0)
    if alpha != 1.0:
        y = ctx.b.out("Multiply", [y, ctx.const(np.array(alpha, dt))])
    if len(ins) > 2 and ins[2] is not None and beta != 0.0:
        c = ins[2]
        if beta != 1.0:
            c = ctx.b.out("Multiply", [c, ctx.const(np.array(beta, dt))])
        y = ctx.b.out("Add", [y, c])
    return [y]


@onnx_op("MatMul")
def _matmul(ctx: OnnxContext, node, ins):
    return [ctx.b.out("MatMul", ins[:2])]


@onnx_op("Einsum")
def _einsum(ctx: OnnxContext, node, ins):
    from compiler.frontends.einsum import einsum

    return [einsum(ctx.b, ctx.attr(node, "equation"), ins)]


@onnx_op("BatchNormalization")
def _batch_norm(ctx: OnnxContext, node, ins):
    if ctx.attr(node, "training_mode", 0):
        raise ctx.error(node, "training_mode=1 is not supported (convert the model in eval mode)")
    if len([o for o in node.output if o]) > 1:
        raise ctx.error(node, "the training outputs (running mean/var) are not supported")
    x, scale, bias, mean, var = ins[:5]
    return [ctx.b.out("BatchNormInference", [x, scale, bias, mean, var],
                      epsilon=ctx.attr(node, "epsilon", 1e-5))]


def mvn(ctx: OnnxContext, x, axes: list[int], eps: float):
    return ctx.b.out("MVN", [x, ctx.i64(axes)], normalize_variance=True, eps=eps, eps_mode="inside_sqrt")


@onnx_op("InstanceNormalization")
def _instance_norm(ctx: OnnxContext, node, ins):
    x, scale, bias = ins[:3]
    r = ctx.rank(x)
    y = mvn(ctx, x, list(range(2, r)), ctx.attr(node, "epsilon", 1e-5))
    y = ctx.b.out("Multiply", [y, per_channel(ctx, scale, r)])
    return [ctx.b.out("Add", [y, per_channel(ctx, bias, r)])]


@onnx_op("LayerNormalization")
def _layer_norm(ctx: OnnxContext, node, ins):
    x, scale = ins[0], ins[1]
    r = ctx.rank(x)
    axis = ctx.attr(node, "axis", -1)
    axis = axis + r if axis < 0 else axis
    axes = list(range(axis, r))
    eps = ctx.attr(node, "epsilon", 1e-5)
    y = mvn(ctx, x, axes, eps)
    y = ctx.b.out("Multiply", [y, scale])
    if len(ins) > 2 and ins[2] is not None:
        y = ctx.b.out("Add", [y, ins[2]])
    outs = [y]
    if len(node.output) > 1:  # Mean and InvStdDev, for training graphs that export them
        mean = ctx.b.out("ReduceMean", [x, ctx.i64(axes)], keep_dims=True)
        d = ctx.b.out("Subtract", [x, mean])
        var = ctx.b.out("ReduceMean", [ctx.b.out("Multiply", [d, d]), ctx.i64(axes)], keep_dims=True)
        dt = ctx.dtype(x)
        inv = ctx.b.out("Divide", [ctx.const(np.array(1, dt)),
                                   ctx.b.out("Sqrt", [ctx.b.out("Add", [var, ctx.const(np.array(eps, dt))])])])
        outs += [mean, inv]
    return outs


@onnx_op("RMSNormalization")
def _rms_norm(ctx: OnnxContext, node, ins):
    """x / sqrt(mean(x^2 over axis..last) + epsilon) * scale, computed in float32 (stash_type)."""
    x, scale = ins[0], ins[1]
    r = ctx.rank(x)
    axis = ctx.attr(node, "axis", -1)
    axis = axis + r if axis < 0 else axis
    dt = ctx.dtype(x)
    xf = x if dt == np.float32 else ctx.b.out("Convert", [x], destination_type=np.dtype(np.float32))
    ms = ctx.b.out("ReduceMean", [ctx.b.out("Multiply", [xf, xf]), ctx.i64(list(range(axis, r)))], keep_dims=True)
    rms = ctx.b.out("Sqrt", [ctx.b.out("Add", [ms, ctx.const(np.float32(ctx.attr(node, "epsilon", 1e-5)))])])
    y = ctx.b.out("Divide", [xf, rms])
    if dt != np.float32:
        y = ctx.b.out("Convert", [y], destination_type=dt)
    return [ctx.b.out("Multiply", [y, scale])]


@onnx_op("GroupNormalization")
def _group_norm(ctx: OnnxContext, node, ins):
    x, scale, bias = ins[:3]
    r = ctx.rank(x)
    g = ctx.attr(node, "num_groups")
    shape = ctx.shape(x)
    grouped = ctx.b.out("Reshape", [x, ctx.i64([0, g, -1])], special_zero=True)
    y = mvn(ctx, grouped, [2], ctx.attr(node, "epsilon", 1e-5))
    y = ctx.b.out("Reshape", [y, ctx.b.out("ShapeOf", [x])], special_zero=False)
    c = shape[1]
    if ctx.opset < 21 and ctx.shape(scale)[0] == g and c != g:  # opset 18: one scale per group
        if c is None:
            raise ctx.error(node, "per-group scale needs a static channel count")

        def repeat(v):  # [G] -> [C], each group's value repeated C/G times
            tiled = ctx.b.out("Tile", [ctx.b.out("Unsqueeze", [v, ctx.i64([1])]), ctx.i64([1, c // g])])
            return ctx.b.out("Reshape", [tiled, ctx.i64([-1])], special_zero=False)

        scale, bias = repeat(scale), repeat(bias)
    y = ctx.b.out("Multiply", [y, per_channel(ctx, scale, r)])
    return [ctx.b.out("Add", [y, per_channel(ctx, bias, r)])]


@onnx_op("MeanVarianceNormalization")
def _mvn(ctx: OnnxContext, node, ins):
    return [mvn(ctx, ins[0], list(ctx.attr(node, "axes", [0, 2, 3])), 1e-9)]


@onnx_op("LRN")
def _lrn(ctx: OnnxContext, node, ins):
    return [ctx.b.out("LRN", [ins[0], ctx.i64([1])], alpha=ctx.attr(node, "alpha", 1e-4),
                      beta=ctx.attr(node, "beta", 0.75), bias=ctx.attr(node, "bias", 1.0),
                      size=ctx.attr(node, "size"))]


@onnx_op("LpNormalization")
def _lp_norm(ctx: OnnxContext, node, ins):
    x = ins[0]
    axis = ctx.attr(node, "axis", -1)
    p = ctx.attr(node, "p", 2)
    if p == 2:
        norm = ctx.b.out("ReduceL2", [x, ctx.i64([axis])], keep_dims=True)
    elif p == 1:
        norm = ctx.b.out("ReduceL1", [x, ctx.i64([axis])], keep_dims=True)
    else:
        raise ctx.error(node, f"p={p} is not supported")
    zero, one = ctx.const(np.array(0, ctx.dtype(x))), ctx.const(np.array(1, ctx.dtype(x)))
    safe = ctx.b.out("Select", [ctx.b.out("Equal", [norm, zero]), one, norm])  # a zero vector stays zero
    return [ctx.b.out("Divide", [x, safe])]


@onnx_op("Dropout")
def _dropout(ctx: OnnxContext, node, ins):
    """Inference: the identity, with an all-true mask. In training mode (opset 12's third input
    true, or not known) it drops at random, unless the ratio is 0: refused, not run as the
    identity."""
    training = ins[2] if len(ins) > 2 else None
    if training is not None:
        mode = ctx.known(training)
        ratio = ctx.known(ins[1]) if len(ins) > 1 and ins[1] is not None else np.array(0.5)
        training_on = mode is None or bool(np.asarray(mode).reshape(-1)[0])
        no_drop = ratio is not None and float(np.asarray(ratio).reshape(-1)[0]) == 0
        if training_on and not no_drop:
            raise ctx.error(node, "Dropout in training mode drops values at random; only inference (training_mode "
                                  "false, or a ratio of 0) is supported")
    if len(node.output) > 1 and node.output[1]:
        mask = ctx.b.out("Broadcast", [ctx.const(np.array(True)), ctx.b.out("ShapeOf", [ins[0]])])
        return [ins[0], mask]
    return [ins[0]]


def along_axis(apply):
    """A converter for an op that works along one axis (`apply(ctx, x, axis)`); before opset 13
    such ops flatten the input to 2-D at the axis."""
    def convert(ctx: OnnxContext, node, ins):
        x = ins[0]
        r = ctx.rank(x)
        try:
            if ctx.opset >= 13:
                return [apply(ctx, x, ctx.attr(node, "axis", -1))]
            axis = ctx.attr(node, "axis", 1)
            axis = axis + r if axis < 0 else axis
            if axis == r - 1:
                return [apply(ctx, x, axis)]
            shape = ctx.shape(x)
            tail = shape[axis:]
            if None in tail:
                raise ctx.error(node, "needs static dimensions from the axis on")
            flat = ctx.b.out("Reshape", [x, ctx.i64([-1, int(np.prod(tail))])], special_zero=False)
            return [ctx.b.out("Reshape", [apply(ctx, flat, 1), ctx.b.out("ShapeOf", [x])], special_zero=False)]
        except ValueError as e:
            raise ctx.error(node, str(e)) from None
    return convert


def _softmax(ov_type):
    return along_axis(lambda ctx, x, axis: ctx.b.out(ov_type, [x], axis=axis))


onnx_op("Softmax")(_softmax("SoftMax"))
onnx_op("LogSoftmax")(_softmax("LogSoftmax"))


RESIZE_MODES = {"nearest": "nearest", "linear": "linear_onnx", "bilinear": "linear_onnx", "cubic": "cubic"}


def _interpolate(ctx: OnnxContext, node, x, scales, sizes, coord: str, nearest: str, axes=None):
    mode = RESIZE_MODES.get(ctx.attr(node, "mode", "nearest"))
    if mode is None:
        raise ctx.error(node, f"mode {ctx.attr(node, 'mode')} is not supported")
    attrs = dict(mode=mode, coordinate_transformation_mode=coord, nearest_mode=nearest,
                 cube_coeff=ctx.attr(node, "cubic_coeff_a", -0.75),
                 antialias=bool(ctx.attr(node, "antialias", 0)))
    if attrs["antialias"]:
        raise ctx.error(node, "antialias=1 is not supported")
    if ctx.attr(node, "exclude_outside", 0):
        raise ctx.error(node, "exclude_outside=1 is not supported")
    if ctx.attr(node, "keep_aspect_ratio_policy", "stretch") != "stretch":
        raise ctx.error(node, "keep_aspect_ratio_policy other than stretch is not supported")
    axes = axes if axes is not None else list(range(ctx.rank(x)))
    if sizes is not None:
        return ctx.b.out("Interpolate", [x, sizes, ctx.i64(axes)], shape_calculation_mode="sizes", **attrs)
    return ctx.b.out("Interpolate", [x, scales, ctx.i64(axes)], shape_calculation_mode="scales", **attrs)


@onnx_op("Resize")
def _resize(ctx: OnnxContext, node, ins):
    x = ins[0]
    if ctx.opset < 11:
        return [_interpolate(ctx, node, x, ins[1], None, "asymmetric", "floor")]
    scales = ins[2] if len(ins) > 2 else None
    sizes = ins[3] if len(ins) > 3 else None
    if scales is not None and ctx.shape(scales) == (0,):
        scales = None
    if sizes is not None and ctx.shape(sizes) == (0,):
        sizes = None
    coord = ctx.attr(node, "coordinate_transformation_mode", "half_pixel")
    if coord not in ("half_pixel", "pytorch_half_pixel", "asymmetric", "tf_half_pixel_for_nn", "align_corners"):
        raise ctx.error(node, f"coordinate_transformation_mode {coord} is not supported")
    axes = ctx.attr(node, "axes")
    if axes is not None:
        r = ctx.rank(x)
        axes = [a + r if a < 0 else a for a in axes]
    return [_interpolate(ctx, node, x, scales, sizes, coord,
                         ctx.attr(node, "nearest_mode", "round_prefer_floor"), axes)]


@onnx_op("Upsample")
def _upsample(ctx: OnnxContext, node, ins):
    x = ins[0]
    scales = ctx.const(np.array(ctx.attr(node, "scales"), np.float32)) if len(ins) < 2 else ins[1]
    return [_interpolate(ctx, node, x, scales, None, "asymmetric", "floor")]


@onnx_op("DepthToSpace")
def _depth_to_space(ctx: OnnxContext, node, ins):
    mode = "depth_first" if ctx.attr(node, "mode", "DCR") == "CRD" else "blocks_first"
    return [ctx.b.out("DepthToSpace", [ins[0]], mode=mode, block_size=ctx.attr(node, "blocksize"))]


@onnx_op("SpaceToDepth")
def _space_to_depth(ctx: OnnxContext, node, ins):
    mode = "depth_first" if ctx.attr(node, "mode", "DCR") == "CRD" else "blocks_first"
    return [ctx.b.out("SpaceToDepth", [ins[0]], mode=mode, block_size=ctx.attr(node, "blocksize"))]
