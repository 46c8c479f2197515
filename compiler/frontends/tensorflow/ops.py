"""TensorFlow op converters (raw ops, as they appear in frozen GraphDefs)."""

from __future__ import annotations

import numpy as np
from xdsl.ir import SSAValue

from compiler.frontends import layout
from compiler.frontends.einsum import einsum
from compiler.frontends.tensorflow.graph import TfContext, tf_op
from dialects.errors import ConversionError
from dialects.ov.values import info_of

INT64_MAX = np.iinfo(np.int64).max

# --- sources and pass-throughs -------------------------------------------------------------------


@tf_op("Const")
def _const(ctx: TfContext, node, ins):
    value = ctx.attr(node, "value")
    if value.dtype.kind not in "fiub":
        raise ConversionError(f"constant of type {value.dtype} is not supported")
    return ctx.const(value)


@tf_op("Placeholder")
def _placeholder(ctx: TfContext, node, ins):
    raise ConversionError("a Placeholder that is not a model input (give it a value or a shape with input=)")


@tf_op("Identity", "Snapshot", "StopGradient", "PreventGradient", "EnsureShape", "CheckNumerics",
       "PlaceholderWithDefault")
def _identity(ctx, node, ins):
    return ins[0]


@tf_op("IdentityN")
def _identity_n(ctx, node, ins):
    return list(ins)


@tf_op("NoOp")
def _noop(ctx, node, ins):
    return []


# --- element-wise ----------------------------------------------------------------------------------

UNARY = {"Relu": "ReLU", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "Exp": "Exp", "Log": "Log", "Sqrt": "Sqrt",
         "Abs": "Abs", "Neg": "Negative", "Floor": "Floor", "Ceil": "Ceiling", "Sign": "Sign", "Sin": "Sin",
         "Cos": "Cos", "Tan": "Tan", "Asin": "Asin", "Acos": "Acos", "Atan": "Atan", "Sinh": "Sinh", "Cosh": "Cosh",
         "Asinh": "Asinh", "Acosh": "Acosh", "Atanh": "Atanh", "Erf": "Erf", "Softplus": "SoftPlus",
         "Softsign": "SoftSign", "IsNan": "IsNaN", "IsInf": "IsInf", "IsFinite": "IsFinite",
         "LogicalNot": "LogicalNot", "Mish": "Mish"}


def _unary(ov_type):
    return lambda ctx, node, ins: ctx.b.out(ov_type, [ins[0]])


for _tf, _ov in UNARY.items():
    tf_op(_tf)(_unary(_ov))


def _one(ctx, x):
    return ctx.const(1, ctx.dtype(x))


@tf_op("Round", "Rint")
def _round(ctx, node, ins):
    if ctx.dtype(ins[0]).kind != "f":
        return ins[0]
    return ctx.b.out("Round", [ins[0]], mode="half_to_even")


@tf_op("Rsqrt")
def _rsqrt(ctx, node, ins):
    return ctx.b.out("Divide", [_one(ctx, ins[0]), ctx.b.out("Sqrt", [ins[0]])])


@tf_op("Reciprocal", "Inv")
def _reciprocal(ctx, node, ins):
    return ctx.b.out("Divide", [_one(ctx, ins[0]), ins[0]])


@tf_op("Square")
def _square(ctx, node, ins):
    return ctx.b.out("Multiply", [ins[0], ins[0]])


@tf_op("Erfc")
def _erfc(ctx, node, ins):
    return ctx.b.out("Subtract", [_one(ctx, ins[0]), ctx.b.out("Erf", [ins[0]])])


@tf_op("Log1p")
def _log1p(ctx, node, ins):
    return ctx.b.out("Log", [ctx.b.out("Add", [ins[0], _one(ctx, ins[0])])])


@tf_op("Expm1")
def _expm1(ctx, node, ins):
    return ctx.b.out("Subtract", [ctx.b.out("Exp", [ins[0]]), _one(ctx, ins[0])])


@tf_op("Relu6")
def _relu6(ctx, node, ins):
    return ctx.b.out("Clamp", [ins[0]], min=0.0, max=6.0)


@tf_op("Elu")
def _elu(ctx, node, ins):
    return ctx.b.out("Elu", [ins[0]], alpha=1.0)


@tf_op("Selu")
def _selu(ctx, node, ins):
    dt = ctx.dtype(ins[0])
    return ctx.b.out("Selu", [ins[0], ctx.const(1.6732632423543772, dt), ctx.const(1.0507009873554805, dt)])


@tf_op("LeakyRelu")
def _leaky_relu(ctx, node, ins):
    x = ins[0]
    alpha = ctx.const(ctx.attr(node, "alpha", 0.2), ctx.dtype(x))
    zero = ctx.const(0, ctx.dtype(x))
    return ctx.b.out("Select", [ctx.b.out("Greater", [x, zero]), x, ctx.b.out("Multiply", [x, alpha])])


BINARY = {"Add": "Add", "AddV2": "Add", "Sub": "Subtract", "Mul": "Multiply", "Maximum": "Maximum",
          "Minimum": "Minimum", "Pow": "Power", "SquaredDifference": "SquaredDifference", "Equal": "Equal",
          "NotEqual": "NotEqual", "Less": "Less", "LessEqual": "LessEqual", "Greater": "Greater",
          "GreaterEqual": "GreaterEqual", "LogicalAnd": "LogicalAnd", "LogicalOr": "LogicalOr",
          "FloorMod": "FloorMod", "TruncateMod": "Mod"}


def _binary(ov_type):
    return lambda ctx, node, ins: ctx.b.out(ov_type, [ins[0], ins[1]])


for _tf, _ov in BINARY.items():
    tf_op(_tf)(_binary(_ov))


@tf_op("RealDiv", "Div", "TruncateDiv")
def _div(ctx, node, ins):
    # integer Div/TruncateDiv truncate toward zero (C semantics)
    return ctx.b.out("Divide", [ins[0], ins[1]], m_pythondiv=False)


@tf_op("FloorDiv")
def _floor_div(ctx, node, ins):
    if ctx.dtype(ins[0]).kind == "f":
        return ctx.b.out("Floor", [ctx.b.out("Divide", [ins[0], ins[1]])])
    return ctx.b.out("Divide", [ins[0], ins[1]], m_pythondiv=True)


@tf_op("DivNoNan")
def _div_no_nan(ctx, node, ins):
    x, y = ins
    zero = ctx.const(0, ctx.dtype(x))
    return ctx.b.out("Select", [ctx.b.out("Equal", [y, zero]), zero, ctx.b.out("Divide", [x, y])])


@tf_op("AddN")
def _add_n(ctx, node, ins):
    acc = ins[0]
    for v in ins[1:]:
        acc = ctx.b.out("Add", [acc, v])
    return acc


@tf_op("Select")
def _select_v1(ctx, node, ins):
    c, x, y = ins
    if ctx.rank(c) == 1 and ctx.rank(x) > 1:  # a vector condition picks rows
        c = ctx.b.out("Reshape", [c, ctx.i64([-1] + [1] * (ctx.rank(x) - 1))], special_zero=False)
    return ctx.b.out("Select", [c, x, y])


@tf_op("SelectV2")
def _select_v2(ctx, node, ins):
    return ctx.b.out("Select", ins[:3])


@tf_op("BiasAdd", "BiasAddV1")
def _bias_add(ctx, node, ins):
    x, bias = ins
    if ctx.attr(node, "data_format", "NHWC").startswith("NC") and ctx.rank(x) > 2:
        bias = ctx.b.out("Reshape", [bias, ctx.i64([-1] + [1] * (ctx.rank(x) - 2))], special_zero=False)
    return ctx.b.out("Add", [x, bias])


@tf_op("Cast")
def _cast(ctx, node, ins):
    return ctx.b.out("Convert", [ins[0]], destination_type=ctx.attr(node, "DstT"))


# --- linear algebra ---------------------------------------------------------------------------------

@tf_op("MatMul")
def _matmul(ctx, node, ins):
    return ctx.b.out("MatMul", ins[:2], transpose_a=bool(ctx.attr(node, "transpose_a", False)),
                     transpose_b=bool(ctx.attr(node, "transpose_b", False)))


@tf_op("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3")
def _batch_matmul(ctx, node, ins):
    y = ctx.b.out("MatMul", ins[:2], transpose_a=bool(ctx.attr(node, "adj_x", False)),
                  transpose_b=bool(ctx.attr(node, "adj_y", False)))
    out_t = ctx.attr(node, "Tout", None)
    return y if out_t is None or out_t == ctx.dtype(y) else ctx.b.out("Convert", [y], destination_type=out_t)


@tf_op("Einsum")
def _einsum(ctx, node, ins):
    return einsum(ctx.b, ctx.attr(node, "equation"), ins)


# --- convolution, pooling, normalization ------------------------------------------------------------------

def _layout(ctx, node) -> bool:
    """True when the op's data is channels-last (NHWC, NDHWC, NWC)."""
    fmt = ctx.attr(node, "data_format", "NHWC")
    return not fmt.startswith("NC")


def _spatial(ctx, node, name, rank, default=1) -> list[int]:
    v = ctx.attr(node, name, None)
    if not v:
        return [default] * (rank - 2)
    return list(v[1:-1]) if _layout(ctx, node) else list(v[2:])


def _padding(ctx, node, rank):
    p = ctx.attr(node, "padding")
    if p != "EXPLICIT":
        return p
    e = ctx.attr(node, "explicit_paddings")
    pairs = [(e[2 * i], e[2 * i + 1]) for i in range(rank)]
    return pairs[1:-1] if _layout(ctx, node) else pairs[2:]


@tf_op("Conv2D", "Conv3D", "Conv1D")
def _conv(ctx, node, ins):
    x, w = ins
    r = ctx.rank(x)
    n = r - 2
    w_oi = layout.permute(ctx.b, w, [n + 1, n] + list(range(n)))  # [k..., I, O] -> [O, I, k...]
    c_in = ctx.shape(x)[-1 if _layout(ctx, node) else 1]
    i_w = ctx.shape(w)[n]
    groups = 1
    if c_in is not None and i_w is not None and c_in != i_w:
        if c_in % i_w:
            raise ConversionError(f"{c_in} input channels do not match a filter for {i_w}")
        groups = c_in // i_w
        w_oi = layout.grouped_filter(ctx.b, w_oi, groups)
    y = layout.conv(ctx.b, x, w_oi, _spatial(ctx, node, "strides", r), _spatial(ctx, node, "dilations", r),
                    _padding(ctx, node, r), _layout(ctx, node), groups)
    d = _dilated(ctx, node, x, lambda src, block, pads: layout.conv(ctx.b, src, w_oi, [1] * n, block, pads, True,
                                                                     groups))
    if d is not None:
        ctx.dilated[y] = (d[1], _spatial_block(ctx, x))
    return y


def _block_args(ctx, block_v, pads_v, what: str):
    block, pads = ctx.ints(block_v), ctx.ints(pads_v)
    if block is None or pads is None:
        raise ConversionError(f"the block shape and {what} must be constant")
    return block, [pads[2 * i:2 * i + 2] for i in range(len(block))]


@tf_op("SpaceToBatchND")
def _space_to_batch(ctx, node, ins):
    block, pads = _block_args(ctx, ins[1], ins[2], "paddings")
    y = layout.space_to_batch(ctx.b, ins[0], block, pads)
    ctx.space_to_batch[y] = (ins[0], block, pads)
    return y


@tf_op("BatchToSpaceND")
def _batch_to_space(ctx, node, ins):
    block, crops = _block_args(ctx, ins[1], ins[2], "crops")
    dilated = ctx.dilated.get(ins[0])
    if dilated is not None and dilated[1] == block:  # the tail of a dilated convolution
        y = dilated[0]
        return layout.crop(ctx.b, y, crops)
    return layout.batch_to_space(ctx.b, ins[0], block, crops)


def _spatial_block(ctx, x_s2b) -> list[int]:
    return ctx.space_to_batch[x_s2b][1]


def _dilated(ctx, node, x_s2b, conv_fn):
    """TensorFlow runs a dilated convolution as SpaceToBatchND -> VALID conv -> BatchToSpaceND;
    the same convolution is built directly on the data (dilations = block, pads = paddings),
    and BatchToSpaceND takes it when it reads this convolution."""
    src = ctx.space_to_batch.get(x_s2b)
    if src is None or ctx.attr(node, "padding") != "VALID" or not _layout(ctx, node):
        return None
    x, block, pads = src
    r = ctx.rank(x)
    if any(s != 1 for s in _spatial(ctx, node, "strides", r)) or any(
            d != 1 for d in _spatial(ctx, node, "dilations", r)):
        return None
    return x, conv_fn(x, block, [tuple(p) for p in pads])


@tf_op("DepthwiseConv2dNative")
def _depthwise(ctx, node, ins):
    x, w = ins
    r = ctx.rank(x)
    kh, kw, c, m = ctx.shape(w)
    w_cm = layout.permute(ctx.b, w, [2, 3, 0, 1])  # [kh, kw, C, M] -> [C, M, kh, kw]
    w_g = ctx.b.out("Reshape", [w_cm, ctx.i64([c, m, 1, kh, kw])], special_zero=False)
    y = layout.conv(ctx.b, x, w_g, _spatial(ctx, node, "strides", r), _spatial(ctx, node, "dilations", r),
                    _padding(ctx, node, r), _layout(ctx, node), groups=c)
    d = _dilated(ctx, node, x, lambda src, block, pads: layout.conv(ctx.b, src, w_g, [1, 1], block, pads, True, c))
    if d is not None:
        ctx.dilated[y] = (d[1], _spatial_block(ctx, x))
    return y


@tf_op("Conv2DBackpropInput", "Conv3DBackpropInputV2")
def _conv_transpose(ctx, node, ins):
    sizes, w, x = ins
    r = ctx.rank(x)
    n = r - 2
    full = info_of(sizes).known()
    out_spatial = None if full is None else (full[1:-1] if _layout(ctx, node) else full[2:])
    if out_spatial is None or any(d is None for d in out_spatial):
        raise ConversionError("the output's spatial size (input_sizes) must be known")
    w_io = layout.permute(ctx.b, w, [n + 1, n] + list(range(n)))  # [k..., Cout, Cin] -> [Cin, Cout, k...]
    return layout.deconv(ctx.b, x, w_io, out_spatial, _spatial(ctx, node, "strides", r),
                         _spatial(ctx, node, "dilations", r), _padding(ctx, node, r), _layout(ctx, node))


def _window(ctx, node, ins, name, idx, rank):
    v = ctx.attr(node, name, None) if len(ins) <= idx else ctx.ints(ins[idx])
    if v is None:
        raise ConversionError(f"{name} must be constant")
    return list(v[1:-1]) if _layout(ctx, node) else list(v[2:])


@tf_op("MaxPool", "MaxPoolV2", "MaxPool3D", "AvgPool", "AvgPool3D")
def _pool(ctx, node, ins):
    x = ins[0]
    r = ctx.rank(x)
    kind = "max" if node.op.startswith("Max") else "avg"
    return layout.pool(ctx.b, kind, x, _window(ctx, node, ins, "ksize", 1, r), _window(ctx, node, ins, "strides", 2, r),
                       _padding(ctx, node, r), _layout(ctx, node))


@tf_op("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3")
def _fused_bn(ctx, node, ins):
    x, scale, offset, mean, var = ins[:5]
    if ctx.attr(node, "is_training", False) and ctx.shape(mean)[0] == 0:
        raise ConversionError("batch normalization in training mode (batch statistics) is not supported")
    dt = ctx.dtype(x)
    eps = ctx.const(ctx.attr(node, "epsilon", 1e-3), dt)
    mul = ctx.b.out("Divide", [scale, ctx.b.out("Sqrt", [ctx.b.out("Add", [var, eps])])])
    add = ctx.b.out("Subtract", [offset, ctx.b.out("Multiply", [mean, mul])])
    if not _layout(ctx, node):
        shape = ctx.i64([-1] + [1] * (ctx.rank(x) - 2))
        mul = ctx.b.out("Reshape", [mul, shape], special_zero=False)
        add = ctx.b.out("Reshape", [add, shape], special_zero=False)
    y = ctx.b.out("Add", [ctx.b.out("Multiply", [x, mul]), add])
    return [y, mean, var, mean, var, None]


@tf_op("Softmax")
def _softmax(ctx, node, ins):
    return ctx.b.out("SoftMax", [ins[0]], axis=-1)


@tf_op("LogSoftmax")
def _log_softmax(ctx, node, ins):
    return ctx.b.out("LogSoftmax", [ins[0]], axis=-1)


@tf_op("ResizeBilinear", "ResizeNearestNeighbor")
def _resize(ctx, node, ins):
    mode = "linear" if node.op == "ResizeBilinear" else "nearest"
    y = layout.resize(ctx.b, ins[0], ins[1], mode, bool(ctx.attr(node, "align_corners", False)),
                      bool(ctx.attr(node, "half_pixel_centers", False)))
    if ctx.dtype(ins[0]) != ctx.dtype(y) or (mode != "nearest" and ctx.dtype(ins[0]).kind != "f"):
        return ctx.b.out("Convert", [y], destination_type=np.dtype(np.float32))
    return y


@tf_op("DepthToSpace", "SpaceToDepth")
def _depth_space(ctx, node, ins):
    op = node.op
    bs = int(ctx.attr(node, "block_size"))
    return layout.channels_first(ctx.b, ins[0], _layout(ctx, node),
                                 lambda t: ctx.b.out(op, [t], block_size=bs, mode="blocks_first"))


@tf_op("LRN")
def _lrn(ctx, node, ins):
    r = int(ctx.attr(node, "depth_radius", 5))
    alpha, beta, bias = (float(ctx.attr(node, k, d)) for k, d in (("alpha", 1.0), ("beta", 0.5), ("bias", 1.0)))
    size = 2 * r + 1
    # TF's alpha multiplies the plain sum; OpenVINO's divides it by the window size
    return layout.channels_first(ctx.b, ins[0], True, lambda t: ctx.b.out(
        "LRN", [t, ctx.i64([1])], alpha=alpha * size, beta=beta, bias=bias, size=size))


# --- reductions ------------------------------------------------------------------------------------------

REDUCE = {"Mean": "ReduceMean", "Sum": "ReduceSum", "Max": "ReduceMax", "Min": "ReduceMin", "Prod": "ReduceProd",
          "All": "ReduceLogicalAnd", "Any": "ReduceLogicalOr", "EuclideanNorm": "ReduceL2"}


def _reduce(ov_type):
    def convert(ctx, node, ins):
        x, axes = ins
        return ctx.b.out(ov_type, [x, ctx.as_i64(axes)], keep_dims=bool(ctx.attr(node, "keep_dims", False)))
    return convert


for _tf, _ov in REDUCE.items():
    tf_op(_tf)(_reduce(_ov))


@tf_op("ArgMax", "ArgMin")
def _argmax(ctx, node, ins):
    x, axis = ins
    a = ctx.ints(axis)
    if a is None:
        raise ConversionError("the axis must be constant")
    a = a[0] % ctx.rank(x)
    idx = ctx.b.op("TopK", [x, ctx.const(np.int64(1))], axis=a, mode="max" if node.op == "ArgMax" else "min",
                   sort="none", index_element_type=ctx.attr(node, "output_type", np.dtype(np.int64)),
                   stable=True).outputs[1]
    return ctx.b.out("Squeeze", [idx, ctx.i64([a])])


@tf_op("TopKV2")
def _topk(ctx, node, ins):
    x, k = ins
    op = ctx.b.op("TopK", [x, ctx.as_i64(k)], axis=-1, mode="max",
                  sort="value" if ctx.attr(node, "sorted", True) else "none",
                  index_element_type=ctx.attr(node, "index_type", np.dtype(np.int32)), stable=True)
    return list(op.outputs)


@tf_op("Cumsum")
def _cumsum(ctx, node, ins):
    return ctx.b.out("CumSum", [ins[0], ctx.as_i64(ins[1])], exclusive=bool(ctx.attr(node, "exclusive", False)),
                     reverse=bool(ctx.attr(node, "reverse", False)))


@tf_op("Cumprod")
def _cumprod(ctx, node, ins):
    from compiler.frontends.scans import running_product

    axis = ctx.ints(ins[1])
    if axis is None:
        raise ConversionError("the axis must be constant")
    try:
        return running_product(ctx, ins[0], axis[0], bool(ctx.attr(node, "exclusive", False)),
                               bool(ctx.attr(node, "reverse", False)))
    except ValueError as e:
        raise ConversionError(str(e)) from None


@tf_op("TensorScatterUpdate", "TensorScatterAdd", "TensorScatterMax", "TensorScatterMin", "TensorScatterSub")
def _tensor_scatter(ctx, node, ins):
    x, idx, upd = ins
    if node.op == "TensorScatterSub":
        upd = ctx.b.out("Negative", [upd])
    reduction = {"TensorScatterUpdate": "none", "TensorScatterMax": "max",
                 "TensorScatterMin": "min"}.get(node.op, "sum")
    return ctx.b.out("ScatterNDUpdate", [x, ctx.as_i64(idx), upd], reduction=reduction)


@tf_op("ScatterNd")
def _scatter_nd(ctx, node, ins):
    idx, upd, shape = ins
    zeros = ctx.b.out("Broadcast", [ctx.const(np.zeros((), ctx.dtype(upd))), ctx.as_i64(shape)], mode="numpy")
    return ctx.b.out("ScatterNDUpdate", [zeros, ctx.as_i64(idx), upd], reduction="sum")


@tf_op("UnsortedSegmentSum", "UnsortedSegmentMax", "UnsortedSegmentMin", "UnsortedSegmentProd")
def _segment(ctx, node, ins):
    x, ids, num = ins
    n = ctx.ints(num)
    if n is None or ctx.rank(ids) != 1:
        raise ConversionError("needs a constant segment count and one-dimensional segment ids")
    reduction = {"UnsortedSegmentSum": "sum", "UnsortedSegmentMax": "max", "UnsortedSegmentMin": "min",
                 "UnsortedSegmentProd": "prod"}[node.op]
    fill = {"sum": 0, "prod": 1}.get(reduction)
    dt = ctx.dtype(x)
    if fill is None:  # empty segments hold the type's lowest (max) or highest (min) value
        info = np.finfo(dt) if dt.kind == "f" else np.iinfo(dt)
        fill = info.min if reduction == "max" else info.max
    rest = ctx.b.out("Slice", [ctx.b.out("ShapeOf", [x], output_type=np.int64), ctx.i64([1]),
                               ctx.i64([ctx.rank(x)]), ctx.i64([1]), ctx.i64([0])])
    shape = ctx.b.out("Concat", [ctx.i64([n[0]]), rest], axis=0)
    init = ctx.b.out("Broadcast", [ctx.const(np.asarray(fill, dt)), shape], mode="numpy")
    return ctx.b.out("ScatterNDUpdate", [init, ctx.b.out("Unsqueeze", [ctx.as_i64(ids), ctx.i64(-1)]), x],
                     reduction=reduction)


@tf_op("Roll")
def _roll(ctx, node, ins):
    return ctx.b.out("Roll", [ins[0], ctx.as_i64(ins[1]), ctx.as_i64(ins[2])])


@tf_op("MatrixBandPart")
def _band_part(ctx, node, ins):
    """Keep the band num_lower below and num_upper above the diagonal (negative: all)."""
    x = ins[0]
    lower, upper = ctx.ints(ins[1]), ctx.ints(ins[2])
    rows, cols = ctx.shape(x)[-2:]
    if lower is None or upper is None or rows is None or cols is None:
        raise ConversionError("needs constant band sizes and static matrix dimensions")
    i, j = np.arange(rows).reshape(-1, 1), np.arange(cols).reshape(1, -1)
    keep = np.ones((rows, cols), bool)
    if lower[0] >= 0:
        keep &= i - j <= lower[0]
    if upper[0] >= 0:
        keep &= j - i <= upper[0]
    return ctx.b.out("Select", [ctx.const(keep), x, ctx.const(np.zeros((), ctx.dtype(x)))])


# --- shapes and data movement ------------------------------------------------------------------------------

@tf_op("Reshape")
def _reshape(ctx, node, ins):
    return ctx.b.out("Reshape", [ins[0], ctx.as_i64(ins[1])], special_zero=False)


@tf_op("Squeeze")
def _squeeze(ctx, node, ins):
    dims = ctx.attr(node, "squeeze_dims", [])
    if not dims:
        return ctx.b.out("Squeeze", [ins[0]])
    return ctx.b.out("Squeeze", [ins[0], ctx.i64(dims)])


@tf_op("ExpandDims")
def _expand_dims(ctx, node, ins):
    return ctx.b.out("Unsqueeze", [ins[0], ctx.as_i64(ins[1])])


@tf_op("Transpose")
def _transpose(ctx, node, ins):
    return ctx.b.out("Transpose", [ins[0], ctx.as_i64(ins[1])])


@tf_op("Tile")
def _tile(ctx, node, ins):
    return ctx.b.out("Tile", [ins[0], ctx.as_i64(ins[1])])


@tf_op("BroadcastTo")
def _broadcast_to(ctx, node, ins):
    return ctx.b.out("Broadcast", [ins[0], ctx.as_i64(ins[1])], mode="bidirectional")


@tf_op("Fill")
def _fill(ctx, node, ins):
    return ctx.b.out("Broadcast", [ins[1], ctx.as_i64(ins[0])])


@tf_op("ZerosLike", "OnesLike")
def _zeros_like(ctx, node, ins):
    x = ins[0]
    v = ctx.const(0 if node.op == "ZerosLike" else 1, ctx.dtype(x))
    return ctx.b.out("Broadcast", [v, ctx.b.out("ShapeOf", [x])])


@tf_op("Shape")
def _shape(ctx, node, ins):
    return ctx.b.out("ShapeOf", [ins[0]], output_type=ctx.attr(node, "out_type", np.dtype(np.int32)))


@tf_op("ShapeN")
def _shape_n(ctx, node, ins):
    t = ctx.attr(node, "out_type", np.dtype(np.int32))
    return [ctx.b.out("ShapeOf", [x], output_type=t) for x in ins]


@tf_op("Size")
def _size(ctx, node, ins):
    n = ctx.b.out("ReduceProd", [ctx.b.out("ShapeOf", [ins[0]]), ctx.i64([0])], keep_dims=False)
    return ctx.b.out("Convert", [n], destination_type=ctx.attr(node, "out_type", np.dtype(np.int32)))


@tf_op("Rank")
def _rank(ctx, node, ins):
    return ctx.const(np.int32(ctx.rank(ins[0])))


@tf_op("Range")
def _range(ctx, node, ins):
    t = ctx.attr(node, "Tidx", ctx.dtype(ins[0]))
    return ctx.b.out("Range", list(ins[:3]), output_type=t)


@tf_op("ConcatV2")
def _concat_v2(ctx, node, ins):
    axis = ctx.ints(ins[-1])
    if axis is None:
        raise ConversionError("the axis must be constant")
    return ctx.b.out("Concat", list(ins[:-1]), axis=axis[0])


@tf_op("Concat")
def _concat_v1(ctx, node, ins):
    axis = ctx.ints(ins[0])
    if axis is None:
        raise ConversionError("the axis must be constant")
    return ctx.b.out("Concat", list(ins[1:]), axis=axis[0])


@tf_op("Pack")
def _pack(ctx, node, ins):
    axis = int(ctx.attr(node, "axis", 0))
    r = ctx.rank(ins[0]) + 1
    axis = axis % r
    parts = [ctx.b.out("Unsqueeze", [v, ctx.i64([axis])]) for v in ins]
    return ctx.b.out("Concat", parts, axis=axis)


@tf_op("Unpack")
def _unpack(ctx, node, ins):
    x = ins[0]
    axis = int(ctx.attr(node, "axis", 0)) % ctx.rank(x)
    num = int(ctx.attr(node, "num"))
    parts = ctx.b.op("Split", [x, ctx.const(np.int64(axis))], num_splits=num).outputs
    return [ctx.b.out("Squeeze", [p, ctx.i64([axis])]) for p in parts]


@tf_op("Split")
def _split(ctx, node, ins):
    axis, x = ins
    return list(ctx.b.op("Split", [x, ctx.as_i64(axis)], num_splits=int(ctx.attr(node, "num_split"))).outputs)


@tf_op("SplitV")
def _split_v(ctx, node, ins):
    x, sizes, axis = ins
    return list(ctx.b.op("VariadicSplit", [x, ctx.as_i64(axis), ctx.as_i64(sizes)]).outputs)


def _bits(mask: int, n: int) -> list[int]:
    return [(mask >> i) & 1 for i in range(n)]


@tf_op("StridedSlice")
def _strided_slice(ctx, node, ins):
    x, begin, end, strides = ins
    n = ctx.shape(begin)[0]
    if n is None:
        raise ConversionError("begin must have a static length")
    masks = {k: _bits(int(ctx.attr(node, k, 0)), n)
             for k in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")}
    return ctx.b.out("StridedSlice", [x, ctx.as_i64(begin), ctx.as_i64(end), ctx.as_i64(strides)], **masks)


@tf_op("Slice")
def _slice(ctx, node, ins):
    x, begin, size = ins
    begin, size = ctx.as_i64(begin), ctx.as_i64(size)
    stop = ctx.b.out("Select", [ctx.b.out("Equal", [size, ctx.const(np.int64(-1))]), ctx.const(np.int64(INT64_MAX)),
                                ctx.b.out("Add", [begin, size])])
    step = ctx.b.out("Broadcast", [ctx.const(np.int64(1)), ctx.b.out("ShapeOf", [begin])])
    return ctx.b.out("Slice", [x, begin, stop, step])


@tf_op("GatherV2", "Gather", "ResourceGather")
def _gather(ctx, node, ins):
    params, indices = ins[:2]
    axis = ins[2] if len(ins) > 2 else ctx.const(np.int64(0))
    return ctx.b.out("Gather", [params, indices, ctx.as_i64(axis)], batch_dims=int(ctx.attr(node, "batch_dims", 0)))


@tf_op("GatherNd")
def _gather_nd(ctx, node, ins):
    return ctx.b.out("GatherND", ins[:2], batch_dims=0)


def _pads(ctx, paddings: SSAValue):
    p = ctx.as_i64(paddings)
    begin = ctx.b.out("Gather", [p, ctx.const(np.int64(0)), ctx.const(np.int64(1))])
    end = ctx.b.out("Gather", [p, ctx.const(np.int64(1)), ctx.const(np.int64(1))])
    return begin, end


@tf_op("Pad", "PadV2")
def _pad(ctx, node, ins):
    x = ins[0]
    begin, end = _pads(ctx, ins[1])
    value = ins[2] if len(ins) > 2 else ctx.const(0, ctx.dtype(x))
    return ctx.b.out("Pad", [x, begin, end, value], pad_mode="constant")


@tf_op("MirrorPad")
def _mirror_pad(ctx, node, ins):
    mode = ctx.attr(node, "mode").lower()
    if mode not in ("reflect", "symmetric"):
        raise ConversionError(f"mirror pad mode {mode!r}")
    begin, end = _pads(ctx, ins[1])
    return ctx.b.out("Pad", [ins[0], begin, end], pad_mode=mode)


@tf_op("OneHot")
def _one_hot(ctx, node, ins):
    idx, depth, on, off = ins
    return ctx.b.out("OneHot", [idx, ctx.as_i64(depth), on, off], axis=int(ctx.attr(node, "axis", -1)))


@tf_op("ReverseV2")
def _reverse(ctx, node, ins):
    return ctx.b.out("Reverse", [ins[0], ctx.as_i64(ins[1])], mode="index")



# --- spectra: complex tensors as float [..., 2] (compiler.frontends.spectra) ---------------------

def _fft_length(ctx: TfContext, v: SSAValue) -> list[int]:
    n = ctx.ints(v)
    if n is None:
        raise ConversionError("fft_length must be constant")
    return n


@tf_op("RFFT", "RFFT2D", "RFFT3D", "IRFFT", "IRFFT2D", "IRFFT3D", "FFT", "FFT2D", "FFT3D", "IFFT", "IFFT2D", "IFFT3D")
def _fft(ctx: TfContext, node, ins):
    from compiler.frontends.spectra import fft

    kind = node.op.rstrip("23D")
    dims = {"2D": 2, "3D": 3}.get(node.op[-2:], 1)
    x = ins[0]
    if (x in ctx.complex) == (kind == "RFFT"):
        raise ConversionError(f"{node.op} of a {'complex' if x in ctx.complex else 'real'} tensor")
    if kind in ("RFFT", "IRFFT"):
        y = fft(ctx, "RDFT" if kind == "RFFT" else "IRDFT", x, dims, _fft_length(ctx, ins[1]))
    else:
        y = fft(ctx, "DFT" if kind == "FFT" else "IDFT", x, dims)
    if kind != "IRFFT":
        ctx.complex.add(y)
    return y


@tf_op("ComplexAbs")
def _complex_abs(ctx: TfContext, node, ins):
    from compiler.frontends.spectra import magnitude

    return magnitude(ctx, ins[0])


@tf_op("Real", "Imag")
def _real_imag(ctx: TfContext, node, ins):
    from compiler.frontends.spectra import part

    if ins[0] not in ctx.complex:  # of a real tensor: itself, or zeros
        zero = ctx.const(np.zeros((), ctx.dtype(ins[0])))
        return ins[0] if node.op == "Real" else ctx.b.out("Multiply", [ins[0], zero])
    return part(ctx, ins[0], 0 if node.op == "Real" else 1)


@tf_op("Complex")
def _complex(ctx: TfContext, node, ins):
    from compiler.frontends.spectra import from_parts

    re, im = ins
    if ctx.shape(re) != ctx.shape(im):
        re, im = (ctx.b.out("Add", [v, ctx.b.out("Multiply", [w, ctx.const(np.zeros((), ctx.dtype(w)))])])
                  for v, w in ((re, im), (im, re)))
    z = from_parts(ctx, re, im)
    ctx.complex.add(z)
    return z
