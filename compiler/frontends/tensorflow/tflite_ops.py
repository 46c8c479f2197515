"""TFLite builtin operator converters: `fn(ctx, op, ins, outs)` with tensor indices (-1 for an
omitted optional input); values come from `ctx.get(i)` (constants dequantized)."""

from __future__ import annotations

import numpy as np

from compiler.frontends import layout
from compiler.frontends.tensorflow.tflite import TfliteContext, tfl_op
from dialects.errors import ConversionError
from dialects.ov import dtype_of, shape_of
from dialects.ov.values import info_of


def _bias(ctx: TfliteContext, y, ins, k: int):
    if len(ins) > k and ins[k] >= 0:
        return ctx.b.out("Add", [y, ctx.get(ins[k])])
    return y


@tfl_op("CONV_2D")
def _conv(ctx: TfliteContext, op, ins, outs):
    x, w = ctx.get(ins[0]), ctx.get(ins[1])
    w_oihw = layout.permute(ctx.b, w, [0, 3, 1, 2])  # OHWI -> OIHW
    c_in, i_w = shape_of(x.type)[-1], shape_of(w.type)[-1]
    groups = 1
    if c_in is not None and c_in != i_w:
        groups = c_in // i_w
        w_oihw = layout.grouped_filter(ctx.b, w_oihw, groups)
    return _conv_common(ctx, op, ins, x, w_oihw, groups)


def _conv_common(ctx: TfliteContext, op, ins, x, w, groups: int):
    strides = [ctx.opt(op, "strideH", 1), ctx.opt(op, "strideW", 1)]
    dilations = [ctx.opt(op, "dilationHFactor", 1), ctx.opt(op, "dilationWFactor", 1)]
    y = layout.conv(ctx.b, x, w, strides, dilations, ctx.padding(op), True, groups)
    y = ctx.activation(op, _bias(ctx, y, ins, 2))
    src = ctx.space_to_batch.get(x)
    if src is not None and ctx.padding(op) == "VALID" and strides == [1, 1] and dilations == [1, 1]:
        # the same convolution, dilated, on the data before SPACE_TO_BATCH_ND
        data, block, pads = src
        yd = layout.conv(ctx.b, data, w, [1, 1], block, [tuple(p) for p in pads], True, groups)
        ctx.dilated[y] = (ctx.activation(op, _bias(ctx, yd, ins, 2)), block)
    return y


def _block_args(ctx: TfliteContext, ins, what: str):
    block, pads = ctx.ints(ins[1]), ctx.ints(ins[2])
    if block is None or pads is None:
        raise ConversionError(f"the block shape and {what} must be constant")
    return block, [pads[2 * i:2 * i + 2] for i in range(len(block))]


@tfl_op("SPACE_TO_BATCH_ND")
def _space_to_batch(ctx, op, ins, outs):
    block, pads = _block_args(ctx, ins, "paddings")
    x = ctx.get(ins[0])
    y = layout.space_to_batch(ctx.b, x, block, pads)
    ctx.space_to_batch[y] = (x, block, pads)
    return y


@tfl_op("BATCH_TO_SPACE_ND")
def _batch_to_space(ctx, op, ins, outs):
    block, crops = _block_args(ctx, ins, "crops")
    x = ctx.get(ins[0])
    dilated = ctx.dilated.get(x)
    if dilated is not None and dilated[1] == block:
        return layout.crop(ctx.b, dilated[0], crops)
    return layout.batch_to_space(ctx.b, x, block, crops)


@tfl_op("DEPTHWISE_CONV_2D")
def _depthwise(ctx: TfliteContext, op, ins, outs):
    x, w = ctx.get(ins[0]), ctx.get(ins[1])
    c = shape_of(x.type)[-1]
    _, kh, kw, cm = shape_of(w.type)
    if c is None or cm % c:
        raise ConversionError("the input channel count must be static and divide the filter's")
    m = cm // c
    w4 = ctx.b.out("Reshape", [w, ctx.i64([kh, kw, c, m])], special_zero=False)
    w_g = ctx.b.out("Reshape", [layout.permute(ctx.b, w4, [2, 3, 0, 1]), ctx.i64([c, m, 1, kh, kw])],
                    special_zero=False)
    return _conv_common(ctx, op, ins, x, w_g, c)


@tfl_op("TRANSPOSE_CONV")
def _transpose_conv(ctx: TfliteContext, op, ins, outs):
    size = info_of(ctx.get(ins[0])).known()
    if size is None or any(d is None for d in size[1:-1]):
        raise ConversionError("the output's spatial size must be known")
    w, x = ctx.get(ins[1]), ctx.get(ins[2])
    w_io = layout.permute(ctx.b, w, [3, 0, 1, 2])  # OHWI -> [I, O, H, W]
    y = layout.deconv(ctx.b, x, w_io, size[1:-1], [ctx.opt(op, "strideH", 1), ctx.opt(op, "strideW", 1)], [1, 1],
                      ctx.padding(op), True)
    return ctx.activation(op, _bias(ctx, y, ins, 3))


@tfl_op("FULLY_CONNECTED")
def _fully_connected(ctx: TfliteContext, op, ins, outs):
    x, w = ctx.get(ins[0]), ctx.get(ins[1])
    n_in = shape_of(w.type)[1]
    xs = shape_of(x.type)
    keep = bool(ctx.opt(op, "keepNumDims", False))
    x2 = x if len(xs) == 2 else ctx.b.out("Reshape", [x, ctx.i64([-1, n_in])], special_zero=False)
    y = _bias(ctx, ctx.b.out("MatMul", [x2, w], transpose_b=True), ins, 2)
    if keep and len(xs) != 2:
        shape = ctx.b.out("Concat", [ctx.b.out("StridedSlice", [ctx.b.out("ShapeOf", [x]), ctx.i64([0]),
                                                                ctx.i64([-1]), ctx.i64([1])],
                                               begin_mask=[0], end_mask=[0]),
                                     ctx.i64([shape_of(w.type)[0]])], axis=0)
        y = ctx.b.out("Reshape", [y, shape], special_zero=False)
    return ctx.activation(op, y)


BINARY = {"ADD": "Add", "SUB": "Subtract", "MUL": "Multiply", "DIV": "Divide", "MAXIMUM": "Maximum",
          "MINIMUM": "Minimum", "POW": "Power", "SQUARED_DIFFERENCE": "SquaredDifference", "FLOOR_MOD": "FloorMod",
          "LESS": "Less", "LESS_EQUAL": "LessEqual", "GREATER": "Greater", "GREATER_EQUAL": "GreaterEqual",
          "EQUAL": "Equal", "NOT_EQUAL": "NotEqual", "LOGICAL_AND": "LogicalAnd", "LOGICAL_OR": "LogicalOr"}


def _binary(ov_type):
    def convert(ctx: TfliteContext, op, ins, outs):
        return ctx.activation(op, ctx.b.out(ov_type, [ctx.get(ins[0]), ctx.get(ins[1])]))
    return convert


for _t, _o in BINARY.items():
    tfl_op(_t)(_binary(_o))


@tfl_op("FLOOR_DIV")
def _floor_div(ctx, op, ins, outs):
    a, b = ctx.get(ins[0]), ctx.get(ins[1])
    if np.dtype(ctx.np_type(ins[0])).kind == "f":
        return ctx.b.out("Floor", [ctx.b.out("Divide", [a, b])])
    return ctx.b.out("Divide", [a, b], m_pythondiv=True)


UNARY = {"LOGISTIC": "Sigmoid", "TANH": "Tanh", "RELU": "ReLU", "ELU": "Elu", "HARD_SWISH": "HSwish", "EXP": "Exp",
         "LOG": "Log", "SQRT": "Sqrt", "NEG": "Negative", "ABS": "Abs", "SIN": "Sin", "COS": "Cos", "FLOOR": "Floor",
         "CEIL": "Ceiling", "SIGN": "Sign", "LOGICAL_NOT": "LogicalNot"}


def _unary(ov_type):
    def convert(ctx: TfliteContext, op, ins, outs):
        attrs = {"alpha": 1.0} if ov_type == "Elu" else {}
        return ctx.b.out(ov_type, [ctx.get(ins[0])], **attrs)
    return convert


for _t, _o in UNARY.items():
    tfl_op(_t)(_unary(_o))


@tfl_op("RELU6", "RELU_N1_TO_1", "RELU_0_TO_1")
def _clamp(ctx, op, ins, outs):
    lo, hi = {"RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0), "RELU_0_TO_1": (0.0, 1.0)}[_name(ctx, op)]
    return ctx.b.out("Clamp", [ctx.get(ins[0])], min=lo, max=hi)


def _name(ctx, op) -> str:
    from compiler.frontends.tensorflow.tflite import _names

    oc = ctx.model.operatorCodes[op.opcodeIndex]
    return _names(ctx.fb.BuiltinOperator)[max(int(oc.builtinCode), int(oc.deprecatedBuiltinCode))]


@tfl_op("RSQRT")
def _rsqrt(ctx, op, ins, outs):
    x = ctx.get(ins[0])
    return ctx.b.out("Divide", [ctx.const(1.0, np.float32), ctx.b.out("Sqrt", [x])])


@tfl_op("SQUARE")
def _square(ctx, op, ins, outs):
    x = ctx.get(ins[0])
    return ctx.b.out("Multiply", [x, x])


@tfl_op("ROUND")
def _round(ctx, op, ins, outs):
    return ctx.b.out("Round", [ctx.get(ins[0])], mode="half_to_even")


@tfl_op("LEAKY_RELU")
def _leaky(ctx, op, ins, outs):
    x = ctx.get(ins[0])
    a = ctx.const(np.float32(ctx.opt(op, "alpha", 0.2)))
    return ctx.b.out("Select", [ctx.b.out("Greater", [x, ctx.const(np.float32(0))]), x, ctx.b.out("Multiply", [x, a])])


@tfl_op("PRELU")
def _prelu(ctx, op, ins, outs):
    x, a = ctx.get(ins[0]), ctx.get(ins[1])
    return ctx.b.out("Select", [ctx.b.out("Greater", [x, ctx.const(np.float32(0))]), x, ctx.b.out("Multiply", [x, a])])


@tfl_op("GELU")
def _gelu(ctx, op, ins, outs):
    return ctx.b.out("Gelu", [ctx.get(ins[0])], approximation_mode="tanh" if ctx.opt(op, "approximate") else "erf")


@tfl_op("SOFTMAX")
def _softmax(ctx, op, ins, outs):
    x = ctx.get(ins[0])
    beta = float(ctx.opt(op, "beta", 1.0))
    if beta != 1.0:
        x = ctx.b.out("Multiply", [x, ctx.const(np.float32(beta))])
    return ctx.b.out("SoftMax", [x], axis=-1)


@tfl_op("LOG_SOFTMAX")
def _log_softmax(ctx, op, ins, outs):
    return ctx.b.out("LogSoftmax", [ctx.get(ins[0])], axis=-1)


@tfl_op("QUANTIZE", "DEQUANTIZE")
def _quantize(ctx, op, ins, outs):
    """Values stay float in the converted model: DEQUANTIZE of a constant is done when the
    constant is read; QUANTIZE's rounding comes from the output tensor's FakeQuantize."""
    x = ctx.get(ins[0])
    dt = dtype_of(x.type)
    if dt.kind == "f" and dt != np.float32:  # float16 weights
        return ctx.b.out("Convert", [x], destination_type=np.dtype(np.float32))
    return x


@tfl_op("CAST")
def _cast(ctx, op, ins, outs):
    return ctx.b.out("Convert", [ctx.get(ins[0])], destination_type=ctx.np_type(outs[0]))


REDUCE = {"MEAN": "ReduceMean", "SUM": "ReduceSum", "REDUCE_MAX": "ReduceMax", "REDUCE_MIN": "ReduceMin",
          "REDUCE_PROD": "ReduceProd", "REDUCE_ANY": "ReduceLogicalOr", "REDUCE_ALL": "ReduceLogicalAnd"}


def _reduce(ov_type):
    def convert(ctx: TfliteContext, op, ins, outs):
        return ctx.b.out(ov_type, [ctx.get(ins[0]), ctx.as_i64(ctx.get(ins[1]))],
                         keep_dims=bool(ctx.opt(op, "keepDims", False)))
    return convert


for _t, _o in REDUCE.items():
    tfl_op(_t)(_reduce(_o))


@tfl_op("MAX_POOL_2D", "AVERAGE_POOL_2D")
def _pool(ctx, op, ins, outs):
    kind = "max" if _name(ctx, op) == "MAX_POOL_2D" else "avg"
    y = layout.pool(ctx.b, kind, ctx.get(ins[0]), [ctx.opt(op, "filterHeight"), ctx.opt(op, "filterWidth")],
                    [ctx.opt(op, "strideH", 1), ctx.opt(op, "strideW", 1)], ctx.padding(op), True)
    return ctx.activation(op, y)


def _pads(ctx, i):
    p = ctx.as_i64(ctx.get(i))
    return (ctx.b.out("Gather", [p, ctx.const(np.int64(0)), ctx.const(np.int64(1))]),
            ctx.b.out("Gather", [p, ctx.const(np.int64(1)), ctx.const(np.int64(1))]))


@tfl_op("PAD", "PADV2")
def _pad(ctx, op, ins, outs):
    x = ctx.get(ins[0])
    begin, end = _pads(ctx, ins[1])
    if len(ins) > 2 and ins[2] >= 0:
        value = ctx.get(ins[2])
    else:  # quantized data pads with its zero point, which is 0.0 here
        value = ctx.const(0, dtype_of(x.type))
    return ctx.b.out("Pad", [x, begin, end, value], pad_mode="constant")


@tfl_op("MIRROR_PAD")
def _mirror_pad(ctx, op, ins, outs):
    begin, end = _pads(ctx, ins[1])
    mode = "reflect" if int(ctx.opt(op, "mode", 0)) == 0 else "symmetric"
    return ctx.b.out("Pad", [ctx.get(ins[0]), begin, end], pad_mode=mode)


@tfl_op("CONCATENATION")
def _concat(ctx, op, ins, outs):
    return ctx.activation(op, ctx.b.out("Concat", [ctx.get(i) for i in ins], axis=int(ctx.opt(op, "axis", 0))))


@tfl_op("RESHAPE")
def _reshape(ctx, op, ins, outs):
    x = ctx.get(ins[0])
    if x in ctx.complex:  # (real, imaginary) pairs stay innermost: to the output's static shape
        shape = ctx.tensor_shape(outs[0])
        if None in shape:
            raise ConversionError("a complex tensor reshaped to a shape known only at run time")
        z = ctx.b.out("Reshape", [x, ctx.i64([*shape, 2])], special_zero=False)
        ctx.complex.add(z)
        return z
    if len(ins) > 1 and ins[1] >= 0:
        shape = ctx.as_i64(ctx.get(ins[1]))
    else:
        new = ctx.opt(op, "newShape")
        shape = ctx.i64(list(new) if new is not None else ctx.tensor_shape(outs[0]))
    return ctx.b.out("Reshape", [x, shape], special_zero=False)


@tfl_op("SQUEEZE")
def _squeeze(ctx, op, ins, outs):
    dims = ctx.opt(op, "squeezeDims")
    x = ctx.get(ins[0])
    if dims is None or len(dims) == 0:
        return ctx.b.out("Squeeze", [x])
    return ctx.b.out("Squeeze", [x, ctx.i64(list(dims))])


@tfl_op("EXPAND_DIMS")
def _expand_dims(ctx, op, ins, outs):
    return ctx.b.out("Unsqueeze", [ctx.get(ins[0]), ctx.as_i64(ctx.get(ins[1]))])


@tfl_op("TRANSPOSE")
def _transpose(ctx, op, ins, outs):
    return ctx.b.out("Transpose", [ctx.get(ins[0]), ctx.as_i64(ctx.get(ins[1]))])


def _bits(mask, n):
    return [(int(mask or 0) >> i) & 1 for i in range(n)]


@tfl_op("STRIDED_SLICE")
def _strided_slice(ctx, op, ins, outs):
    x, begin, end, strides = (ctx.get(i) for i in ins[:4])
    n = shape_of(begin.type)[0]
    if ctx.opt(op, "offset", False):
        end = ctx.b.out("Add", [begin, end])
    masks = {ov: _bits(ctx.opt(op, t), n) for ov, t in (
        ("begin_mask", "beginMask"), ("end_mask", "endMask"), ("ellipsis_mask", "ellipsisMask"),
        ("new_axis_mask", "newAxisMask"), ("shrink_axis_mask", "shrinkAxisMask"))}
    return ctx.b.out("StridedSlice", [x, ctx.as_i64(begin), ctx.as_i64(end), ctx.as_i64(strides)], **masks)


@tfl_op("SLICE")
def _slice(ctx, op, ins, outs):
    x, begin, size = ctx.get(ins[0]), ctx.as_i64(ctx.get(ins[1])), ctx.as_i64(ctx.get(ins[2]))
    stop = ctx.b.out("Select", [ctx.b.out("Equal", [size, ctx.const(np.int64(-1))]),
                                ctx.const(np.int64(np.iinfo(np.int64).max)), ctx.b.out("Add", [begin, size])])
    step = ctx.b.out("Broadcast", [ctx.const(np.int64(1)), ctx.b.out("ShapeOf", [begin])])
    return ctx.b.out("Slice", [x, begin, stop, step])


@tfl_op("GATHER")
def _gather(ctx, op, ins, outs):
    return ctx.b.out("Gather", [ctx.get(ins[0]), ctx.get(ins[1]), ctx.const(np.int64(ctx.opt(op, "axis", 0)))],
                     batch_dims=int(ctx.opt(op, "batchDims", 0)))


@tfl_op("GATHER_ND")
def _gather_nd(ctx, op, ins, outs):
    return ctx.b.out("GatherND", [ctx.get(ins[0]), ctx.get(ins[1])], batch_dims=0)


@tfl_op("BATCH_MATMUL")
def _batch_matmul(ctx, op, ins, outs):
    return ctx.b.out("MatMul", [ctx.get(ins[0]), ctx.get(ins[1])], transpose_a=bool(ctx.opt(op, "adjX", False)),
                     transpose_b=bool(ctx.opt(op, "adjY", False)))


@tfl_op("RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR")
def _resize(ctx, op, ins, outs):
    mode = "linear" if _name(ctx, op) == "RESIZE_BILINEAR" else "nearest"
    return layout.resize(ctx.b, ctx.get(ins[0]), ctx.get(ins[1]), mode, bool(ctx.opt(op, "alignCorners", False)),
                         bool(ctx.opt(op, "halfPixelCenters", False)))


@tfl_op("DEPTH_TO_SPACE", "SPACE_TO_DEPTH")
def _depth_space(ctx, op, ins, outs):
    name = "DepthToSpace" if _name(ctx, op) == "DEPTH_TO_SPACE" else "SpaceToDepth"
    bs = int(ctx.opt(op, "blockSize"))
    return layout.channels_first(ctx.b, ctx.get(ins[0]), True,
                                 lambda t: ctx.b.out(name, [t], block_size=bs, mode="blocks_first"))


@tfl_op("SHAPE")
def _shape(ctx, op, ins, outs):
    return ctx.b.out("ShapeOf", [ctx.get(ins[0])], output_type=ctx.np_type(outs[0]))


@tfl_op("PACK")
def _pack(ctx, op, ins, outs):
    vals = [ctx.get(i) for i in ins]
    axis = int(ctx.opt(op, "axis", 0)) % (len(shape_of(vals[0].type)) + 1)
    return ctx.b.out("Concat", [ctx.b.out("Unsqueeze", [v, ctx.i64([axis])]) for v in vals], axis=axis)


@tfl_op("UNPACK")
def _unpack(ctx, op, ins, outs):
    x = ctx.get(ins[0])
    axis = int(ctx.opt(op, "axis", 0)) % len(shape_of(x.type))
    parts = ctx.b.op("Split", [x, ctx.const(np.int64(axis))], num_splits=int(ctx.opt(op, "num"))).outputs
    return [ctx.b.out("Squeeze", [p, ctx.i64([axis])]) for p in parts]


@tfl_op("SPLIT")
def _split(ctx, op, ins, outs):
    return list(ctx.b.op("Split", [ctx.get(ins[1]), ctx.as_i64(ctx.get(ins[0]))],
                         num_splits=int(ctx.opt(op, "numSplits"))).outputs)


@tfl_op("SPLIT_V")
def _split_v(ctx, op, ins, outs):
    return list(ctx.b.op("VariadicSplit", [ctx.get(ins[0]), ctx.as_i64(ctx.get(ins[2])),
                                           ctx.as_i64(ctx.get(ins[1]))]).outputs)


@tfl_op("TILE")
def _tile(ctx, op, ins, outs):
    return ctx.b.out("Tile", [ctx.get(ins[0]), ctx.as_i64(ctx.get(ins[1]))])


@tfl_op("BROADCAST_TO")
def _broadcast_to(ctx, op, ins, outs):
    return ctx.b.out("Broadcast", [ctx.get(ins[0]), ctx.as_i64(ctx.get(ins[1]))], mode="bidirectional")


@tfl_op("FILL")
def _fill(ctx, op, ins, outs):
    return ctx.b.out("Broadcast", [ctx.get(ins[1]), ctx.as_i64(ctx.get(ins[0]))])


@tfl_op("ZEROS_LIKE", "ONES_LIKE")
def _zeros_like(ctx, op, ins, outs):
    x = ctx.get(ins[0])
    v = ctx.const(0 if _name(ctx, op) == "ZEROS_LIKE" else 1, ctx.np_type(outs[0]))
    return ctx.b.out("Broadcast", [v, ctx.b.out("ShapeOf", [x])])


@tfl_op("RANGE")
def _range(ctx, op, ins, outs):
    return ctx.b.out("Range", [ctx.get(i) for i in ins[:3]], output_type=ctx.np_type(outs[0]))


@tfl_op("ARG_MAX", "ARG_MIN")
def _argmax(ctx, op, ins, outs):
    x = ctx.get(ins[0])
    a = ctx.ints(ins[1])
    if a is None:
        raise ConversionError("the axis must be constant")
    a = a[0] % len(shape_of(x.type))
    mode = "max" if _name(ctx, op) == "ARG_MAX" else "min"
    idx = ctx.b.op("TopK", [x, ctx.const(np.int64(1))], axis=a, mode=mode, sort="none",
                   index_element_type=ctx.np_type(outs[0]), stable=True).outputs[1]
    return ctx.b.out("Squeeze", [idx, ctx.i64([a])])


@tfl_op("SELECT", "SELECT_V2")
def _select(ctx, op, ins, outs):
    c, x, y = (ctx.get(i) for i in ins[:3])
    rx = len(shape_of(x.type))
    if _name(ctx, op) == "SELECT" and len(shape_of(c.type)) == 1 and rx > 1:
        c = ctx.b.out("Reshape", [c, ctx.i64([-1] + [1] * (rx - 1))], special_zero=False)
    return ctx.b.out("Select", [c, x, y])


@tfl_op("CUMSUM")
def _cumsum(ctx, op, ins, outs):
    return ctx.b.out("CumSum", [ctx.get(ins[0]), ctx.as_i64(ctx.get(ins[1]))],
                     exclusive=bool(ctx.opt(op, "exclusive", False)), reverse=bool(ctx.opt(op, "reverse", False)))


@tfl_op("TOPK_V2")
def _topk(ctx, op, ins, outs):
    k = ctx.as_i64(ctx.get(ins[1]))
    res = ctx.b.op("TopK", [ctx.get(ins[0]), k], axis=-1, mode="max", sort="value",
                   index_element_type=ctx.np_type(outs[1]), stable=True)
    return list(res.outputs)


@tfl_op("ONE_HOT")
def _one_hot(ctx, op, ins, outs):
    idx, depth, on, off = (ctx.get(i) for i in ins[:4])
    return ctx.b.out("OneHot", [idx, ctx.as_i64(depth), on, off], axis=int(ctx.opt(op, "axis", -1)))


@tfl_op("REVERSE_V2")
def _reverse(ctx, op, ins, outs):
    return ctx.b.out("Reverse", [ctx.get(ins[0]), ctx.as_i64(ctx.get(ins[1]))], mode="index")


@tfl_op("ADD_N")
def _add_n(ctx, op, ins, outs):
    acc = ctx.get(ins[0])
    for i in ins[1:]:
        acc = ctx.b.out("Add", [acc, ctx.get(i)])
    return acc


@tfl_op("LOCAL_RESPONSE_NORMALIZATION")
def _lrn(ctx, op, ins, outs):
    r = int(ctx.opt(op, "radius", 5))
    size = 2 * r + 1
    alpha, beta, bias = (float(ctx.opt(op, k, d)) for k, d in (("alpha", 1.0), ("beta", 0.5), ("bias", 1.0)))
    # TFLite's alpha multiplies the plain sum; OpenVINO's divides it by the window size
    return layout.channels_first(ctx.b, ctx.get(ins[0]), True, lambda t: ctx.b.out(
        "LRN", [t, ctx.i64([1])], alpha=alpha * size, beta=beta, bias=bias, size=size))


# --- control flow: WHILE unrolled, IF resolved, at conversion time (see control.py) ---------------

@tfl_op("WHILE")
def _while(ctx: TfliteContext, op, ins, outs):
    from compiler.frontends.tensorflow.control import unroll_while
    from compiler.frontends.tensorflow.tflite import call_subgraph

    cond, body = ctx.opt(op, "condSubgraphIndex"), ctx.opt(op, "bodySubgraphIndex")
    name = ctx.prefix + (ctx.tensor_name(outs[0]) if outs else "while")
    return unroll_while(ctx, lambda s, i: call_subgraph(ctx, cond, s, f"{name}/cond_{i}/"),
                        lambda s, i: call_subgraph(ctx, body, s, f"{name}/iteration_{i}/"), [ctx.get(i) for i in ins])


@tfl_op("IF")
def _if(ctx: TfliteContext, op, ins, outs):
    from compiler.frontends.tensorflow.control import select_branches
    from compiler.frontends.tensorflow.tflite import call_subgraph

    then_i, else_i = ctx.opt(op, "thenSubgraphIndex"), ctx.opt(op, "elseSubgraphIndex")
    name = ctx.prefix + (ctx.tensor_name(outs[0]) if outs else "if")
    args = [ctx.get(i) for i in ins[1:]]
    known = ctx.known(ctx.get(ins[0]))
    if known is None:
        return select_branches(ctx, ctx.get(ins[0]), lambda: call_subgraph(ctx, then_i, args, f"{name}/then/"),
                               lambda: call_subgraph(ctx, else_i, args, f"{name}/else/"))
    taken = bool(np.asarray(known).reshape(-1)[0])
    return call_subgraph(ctx, then_i if taken else else_i, args, f"{name}/{'then' if taken else 'else'}/")


# --- spectra: complex tensors as float [..., 2] (compiler.frontends.spectra) ---------------------

@tfl_op("RFFT2D")
def _rfft2d(ctx: TfliteContext, op, ins, outs):
    from compiler.frontends.spectra import fft

    lengths = ctx.ints(ins[1])
    if lengths is None:
        raise ConversionError("fft_length must be constant")
    y = fft(ctx, "RDFT", ctx.get(ins[0]), 2, lengths)
    ctx.complex.add(y)
    return y


@tfl_op("COMPLEX_ABS")
def _complex_abs(ctx: TfliteContext, op, ins, outs):
    from compiler.frontends.spectra import magnitude

    return magnitude(ctx, ctx.get(ins[0]))


@tfl_op("REAL")
def _real(ctx: TfliteContext, op, ins, outs):
    from compiler.frontends.spectra import part

    return part(ctx, ctx.get(ins[0]), 0)


@tfl_op("IMAG")
def _imag(ctx: TfliteContext, op, ins, outs):
    from compiler.frontends.spectra import part

    return part(ctx, ctx.get(ins[0]), 1)


@tfl_op("DENSIFY")
def _densify(ctx: TfliteContext, op, ins, outs):
    """A sparse constant made dense: at conversion time (TfliteContext.raw densifies it)."""
    return ctx.get(ins[0])


@tfl_op("CUSTOM:Convolution2DTransposeBias")
def _transpose_conv_bias(ctx: TfliteContext, op, ins, outs):
    """MediaPipe's transposed convolution with bias (its segmentation models): inputs data
    (NHWC), weights (OHWI), bias; custom options TfLiteTransposeConvParams (padding 1 SAME /
    2 VALID, stride_width, stride_height as int32). The output's size as MediaPipe computes it:
    in * stride (SAME) or (in - 1) * stride + kernel (VALID)."""
    raw = bytes(np.asarray(op.customOptions if op.customOptions is not None else [], np.uint8))
    if len(raw) < 12:
        raise ConversionError(f"custom options of {len(raw)} bytes, not the 12 of (padding, stride_w, stride_h)")
    pad, sw, sh = (int(v) for v in np.frombuffer(raw[:12], "<i4"))
    if pad not in (1, 2) or sw < 1 or sh < 1:
        raise ConversionError(f"padding {pad} (1 SAME, 2 VALID) and strides {sw}, {sh} are not supported")
    x, w = ctx.get(ins[0]), ctx.get(ins[1])
    xs, ws = shape_of(x.type), shape_of(w.type)
    if len(xs) != 4 or len(ws) != 4 or None in xs[1:3] or None in ws:
        raise ConversionError("needs 4-D data of a static spatial size and 4-D weights")
    size = [xs[1] * sh, xs[2] * sw] if pad == 1 else [(xs[1] - 1) * sh + ws[1], (xs[2] - 1) * sw + ws[2]]
    y = layout.deconv(ctx.b, x, layout.permute(ctx.b, w, [3, 0, 1, 2]), size, [sh, sw], [1, 1],
                      "SAME" if pad == 1 else "VALID", True)
    return _bias(ctx, y, ins, 2)


# --- resource variables as explicit state (compiler.model.Model.initial_state) ------------------

def _variable(ctx: TfliteContext, handle: int):
    from compiler.frontends.tensorflow.tflite import Variable

    name = ctx.handles.get((id(ctx.sg), handle))
    if name is None:
        raise ConversionError(f"tensor {ctx.tensor_name(handle)!r} is not a VAR_HANDLE's resource")
    return ctx.variables.setdefault(name, Variable(name))


@tfl_op("VAR_HANDLE")
def _var_handle(ctx: TfliteContext, op, ins, outs):
    def text(v):
        return v.decode(errors="replace") if isinstance(v, bytes) else str(v or "")
    container, shared = text(ctx.opt(op, "container", b"")), text(ctx.opt(op, "sharedName", b""))
    name = f"{container}/{shared}" if container else shared or ctx.tensor_name(outs[0])
    ctx.handles[(id(ctx.sg), outs[0])] = name
    return None


@tfl_op("ASSIGN_VARIABLE")
def _assign_variable(ctx: TfliteContext, op, ins, outs):
    var = _variable(ctx, ins[0])
    value = ctx.get(ins[1])
    if ctx.initializing:  # CALL_ONCE's subgraph: the variable's initial value, known now
        known = ctx.known(value)
        if known is None:
            raise ConversionError(f"variable {var.name!r} is initialized to a value known only at run time")
        var.initial = np.asarray(known)
        return None
    var.value, var.assigned = value, True
    return None


@tfl_op("READ_VARIABLE")
def _read_variable(ctx: TfliteContext, op, ins, outs):
    var = _variable(ctx, ins[0])
    if var.value is None:  # its value before this call: a model input
        if ctx.initializing:
            raise ConversionError(f"variable {var.name!r} is read while it is initialized")
        if var.initial is not None:
            shape, dtype = list(var.initial.shape), var.initial.dtype
        else:
            shape, dtype = ctx.tensor_shape(outs[0]), ctx.np_type(outs[0])
        var.input = var.value = ctx.b.add_input([var.name], shape, dtype)
    return var.value


@tfl_op("CALL_ONCE")
def _call_once(ctx: TfliteContext, op, ins, outs):
    """The initialization subgraph, run at conversion time: it gives the variables the values
    the first call starts from (Model.initial_state)."""
    from compiler.frontends.tensorflow.tflite import call_subgraph

    saved = ctx.initializing
    ctx.initializing = True
    try:
        call_subgraph(ctx, ctx.opt(op, "initSubgraphIndex"), [], f"{ctx.prefix}init/")
    finally:
        ctx.initializing = saved
    return None
