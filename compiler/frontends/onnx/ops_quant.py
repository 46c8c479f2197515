"""ONNX quantization: QuantizeLinear/DequantizeLinear (the QDQ format), DynamicQuantizeLinear,
and the integer ops of the QOperator format (QLinearMatMul, QLinearConv, MatMulInteger,
ConvInteger).

Everything becomes float arithmetic with the quantizer's rounding kept explicit: quantizing is
`Convert(Clamp(Round_half_to_even(x / scale) + zero_point, lo, hi))`, dequantizing is
`(Convert(q) - zero_point) * scale`. Integer products are accumulated as float32 on values
with their zero points removed, which is exact while every partial sum stays below 2^24 in
magnitude (true of real int8 layers; int32 results are then exact too). A product followed by
requantization multiplies the accumulator by `a_scale * b_scale / y_scale` as ONNX Runtime
does. Dequantized constant weights fold into float constants."""

from __future__ import annotations

import numpy as np

from compiler.frontends.onnx.context import CONVERTERS, OnnxContext, np_dtype_of_onnx, onnx_op

F32 = np.dtype(np.float32)


def _limits(dtype: np.dtype) -> tuple[float, float]:
    info = np.iinfo(dtype)
    return float(info.min), float(info.max)


def _f32(ctx: OnnxContext, v):
    return v if ctx.dtype(v) == F32 else ctx.b.out("Convert", [v], destination_type=F32)


def _param(ctx: OnnxContext, node, p, x, axis: int, block: int, what: str):
    """A scale or zero point shaped to broadcast against `x`: per tensor (a scalar or a
    one-element vector), per axis (a vector along `axis`) or per block of `block` elements
    along `axis` (a tensor of x's rank)."""
    pshape, xr = ctx.shape(p), ctx.rank(x)
    if len(pshape) == 0 or (len(pshape) == 1 and pshape[0] == 1 and block == 0):
        return ctx.b.out("Reshape", [p, ctx.i64([])], special_zero=False) if pshape else p
    axis = axis + xr if axis < 0 else axis
    if not 0 <= axis < xr:
        raise ctx.error(node, f"axis {axis} is out of range for a rank-{xr} input")
    if block > 0:
        if len(pshape) != xr:
            raise ctx.error(node, f"blocked {what} must have the input's rank {xr}, not {len(pshape)}")
        values = ctx.known(p)
        dim = ctx.shape(x)[axis]
        if values is None or dim is None:
            raise ctx.error(node, f"blocked quantization needs a constant {what} and a static axis")
        return ctx.const(np.repeat(values, block, axis=axis).take(np.arange(dim), axis=axis))
    if len(pshape) != 1:
        raise ctx.error(node, f"{what} must be a scalar or a vector along axis {axis}, got shape {list(pshape)}")
    shape = [1] * xr
    shape[axis] = -1
    return ctx.b.out("Reshape", [p, ctx.i64(shape)], special_zero=False)


def dequantize(ctx: OnnxContext, node, x, scale, zp, axis: int = 1, block: int = 0):
    """(x - zp) * scale in float32 (scale and zp shaped against x)."""
    y = _f32(ctx, x)
    if zp is not None:
        y = ctx.b.out("Subtract", [y, _f32(ctx, _param(ctx, node, zp, x, axis, block, "zero point"))])
    return ctx.b.out("Multiply", [y, _f32(ctx, _param(ctx, node, scale, x, axis, block, "scale"))])


def requantize(ctx: OnnxContext, x, zp, dtype: np.dtype):
    """Round x (already divided by its scale) half to even, add the zero point, saturate, and
    convert to the integer type."""
    y = ctx.b.out("Round", [x], mode="half_to_even")
    if zp is not None:
        y = ctx.b.out("Add", [y, _f32(ctx, zp)])
    lo, hi = _limits(dtype)
    y = ctx.b.out("Clamp", [y], min=lo, max=hi)
    return ctx.b.out("Convert", [y], destination_type=dtype)


def _check_int(ctx: OnnxContext, node, v, what: str) -> np.dtype:
    d = ctx.dtype(v)
    if d.kind not in "iu":
        raise ctx.error(node, f"{what} must be an integer tensor, not {d}")
    return d


@onnx_op("DequantizeLinear")
def _dequantize_linear(ctx: OnnxContext, node, ins):
    x, scale = ins[0], ins[1]
    zp = ins[2] if len(ins) > 2 else None
    _check_int(ctx, node, x, "the input")
    y = dequantize(ctx, node, x, scale, zp, ctx.attr(node, "axis", 1), ctx.attr(node, "block_size", 0))
    want = ctx.dtype(scale)
    out_type = ctx.attr(node, "output_dtype", 0)
    if out_type:
        want = np_dtype_of_onnx(out_type, ctx.where)
    return [y if want == F32 else ctx.b.out("Convert", [y], destination_type=want)]


@onnx_op("QuantizeLinear")
def _quantize_linear(ctx: OnnxContext, node, ins):
    x, scale = ins[0], ins[1]
    zp = ins[2] if len(ins) > 2 else None
    out_type = ctx.attr(node, "output_dtype", 0)
    if zp is not None:
        dtype = ctx.dtype(zp)
    elif out_type:
        dtype = np_dtype_of_onnx(out_type, ctx.where)
    else:
        dtype = np.dtype(np.uint8)
    if dtype.kind not in "iu":
        raise ctx.error(node, f"quantizing to {dtype} is not supported (integer types only)")
    axis, block = ctx.attr(node, "axis", 1), ctx.attr(node, "block_size", 0)
    s = _f32(ctx, _param(ctx, node, scale, x, axis, block, "scale"))
    q = ctx.b.out("Divide", [_f32(ctx, x), s])
    z = _param(ctx, node, zp, x, axis, block, "zero point") if zp is not None else None
    return [requantize(ctx, q, z, dtype)]


def dynamic_u8(ctx: OnnxContext, x):
    """x quantized to uint8 levels as ONNX Runtime quantizes activations at run time (its
    DynamicQuantizeLinear and the inputs of its dynamically quantized MatMuls and LSTMs): one
    scale (max(0, max x) - min(0, min x)) / 255 for the whole tensor, 1 when that range is 0;
    the zero point that maps 0.0; NaNs left out of the range and quantized to level 0, as its
    min/max and saturating kernels do (an infinite range gets zero point 255). Gives (levels as
    float32, scale, zero point as float32)."""
    b = ctx.b
    x = _f32(ctx, x)
    axes = ctx.i64(list(range(ctx.rank(x))))
    zero = ctx.const(np.float32(0))
    nan = b.out("IsNaN", [x])
    finite = b.out("Select", [nan, zero, x])  # 0 is in the range anyway
    hi = b.out("Maximum", [b.out("ReduceMax", [finite, axes], keep_dims=False), zero])
    lo = b.out("Minimum", [b.out("ReduceMin", [finite, axes], keep_dims=False), zero])
    span = b.out("Subtract", [hi, lo])
    scale = b.out("Select", [b.out("Equal", [span, zero]), ctx.const(np.float32(1)),
                             b.out("Divide", [span, ctx.const(np.float32(255))])])
    # a zero point of NaN (an infinite range) saturates to 255 in its std::min/std::max
    zp = _saturated(ctx, b.out("Divide", [b.out("Negative", [lo]), scale]), ctx.const(np.float32(255)))
    q = _saturated(ctx, b.out("Add", [b.out("Round", [b.out("Divide", [x, scale])], mode="half_to_even"), zp]), zero)
    return q, scale, zp


def _saturated(ctx: OnnxContext, v, nan_level):
    """round(v) half to even, clamped to [0, 255], NaN to `nan_level`."""
    q = ctx.b.out("Clamp", [ctx.b.out("Round", [v], mode="half_to_even")], min=0.0, max=255.0)
    return ctx.b.out("Select", [ctx.b.out("IsNaN", [v]), nan_level, q])


@onnx_op("DynamicQuantizeLinear")
def _dynamic_quantize_linear(ctx: OnnxContext, node, ins):
    """uint8 with scale (max(0, max x) - min(0, min x)) / 255 and the zero point that maps 0
    (ONNX Runtime's choices where the specification divides by zero or meets a NaN)."""
    q, scale, zp = dynamic_u8(ctx, ins[0])
    u8 = np.dtype(np.uint8)
    return [ctx.b.out("Convert", [q], destination_type=u8), scale, ctx.b.out("Convert", [zp], destination_type=u8)]


def _centered(ctx: OnnxContext, node, v, zp, axis: int, what: str):
    """An integer operand as float32 with its zero point removed."""
    _check_int(ctx, node, v, what)
    y = _f32(ctx, v)
    if zp is None:
        return y
    return ctx.b.out("Subtract", [y, _f32(ctx, _param(ctx, node, zp, v, axis, 0, f"{what} zero point"))])


def _opt(ins, i):
    return ins[i] if len(ins) > i else None


@onnx_op("MatMulInteger")
def _matmul_integer(ctx: OnnxContext, node, ins):
    a = _centered(ctx, node, ins[0], _opt(ins, 2), -2 if ctx.rank(ins[0]) > 1 else 0, "A")
    b = _centered(ctx, node, ins[1], _opt(ins, 3), -1, "B")
    return [ctx.b.out("Convert", [ctx.b.out("MatMul", [a, b])], destination_type=np.dtype(np.int32))]


def _conv_of(ctx: OnnxContext, node, x, w, bias=None):
    return CONVERTERS[("", "Conv")](ctx, node, [x, w] if bias is None else [x, w, bias])[0]


@onnx_op("ConvInteger")
def _conv_integer(ctx: OnnxContext, node, ins):
    x = _centered(ctx, node, ins[0], _opt(ins, 2), 1, "x")
    w = _centered(ctx, node, ins[1], _opt(ins, 3), 0, "w")
    return [ctx.b.out("Convert", [_conv_of(ctx, node, x, w)], destination_type=np.dtype(np.int32))]


@onnx_op("QLinearMatMul")
def _qlinear_matmul(ctx: OnnxContext, node, ins):
    a, a_s, a_zp, b, b_s, b_zp, y_s, y_zp = ins[:8]
    ra = ctx.rank(a)
    row = -2 if ra > 1 else 0
    acc = ctx.b.out("MatMul", [_centered(ctx, node, a, a_zp, row, "a"), _centered(ctx, node, b, b_zp, -1, "b")])
    scale = ctx.b.out("Multiply", [_f32(ctx, _param(ctx, node, a_s, a, row, 0, "a scale")),
                                   _f32(ctx, _param(ctx, node, b_s, b, -1, 0, "b scale"))])
    scale = ctx.b.out("Divide", [scale, _f32(ctx, y_s)])
    dtype = _check_int(ctx, node, y_zp, "y zero point") if y_zp is not None else np.dtype(np.uint8)
    return [requantize(ctx, ctx.b.out("Multiply", [acc, scale]), y_zp, dtype)]


@onnx_op("QLinearConv")
def _qlinear_conv(ctx: OnnxContext, node, ins):
    x, x_s, x_zp, w, w_s, w_zp, y_s, y_zp = ins[:8]
    bias = _opt(ins, 8)
    acc = _conv_of(ctx, node, _centered(ctx, node, x, x_zp, 1, "x"), _centered(ctx, node, w, w_zp, 0, "w"),
                   None if bias is None else _f32(ctx, bias))  # the bias is int32 at scale x_s * w_s
    channel = ctx.b.out("Reshape", [_f32(ctx, w_s), ctx.i64([-1] + [1] * (ctx.rank(x) - 2))],
                        special_zero=False) if ctx.rank(w_s) == 1 else _f32(ctx, w_s)
    scale = ctx.b.out("Divide", [ctx.b.out("Multiply", [_f32(ctx, x_s), channel]), _f32(ctx, y_s)])
    dtype = _check_int(ctx, node, y_zp, "y zero point") if y_zp is not None else np.dtype(np.uint8)
    return [requantize(ctx, ctx.b.out("Multiply", [acc, scale]), y_zp, dtype)]


# --- ONNX Runtime's QOperator contrib ops (com.microsoft): dequantize, the float op, requantize -----
MS = "com.microsoft"


def _dq(ctx: OnnxContext, node, ins, i: int):
    """Input triple (x, scale, zero point) starting at `i`, dequantized per tensor."""
    return dequantize(ctx, node, ins[i], ins[i + 1], _opt(ins, i + 2))


def _q(ctx: OnnxContext, node, y, scale, zp):
    dtype = _check_int(ctx, node, zp, "output zero point") if zp is not None else np.dtype(np.uint8)
    return requantize(ctx, ctx.b.out("Divide", [y, _f32(ctx, scale)]), zp, dtype)


def _float_op(ctx: OnnxContext, node, op_type: str, ins):
    return CONVERTERS[("", op_type)](ctx, node, ins)[0]


def _channels_last(ctx: OnnxContext, node, x, fn):
    """Run `fn` on NCHW data when the node says its tensors are NHWC."""
    if not ctx.attr(node, "channels_last", 0):
        return fn(x)
    r = ctx.rank(x)
    to_first = [0, r - 1, *range(1, r - 1)]
    y = fn(ctx.b.out("Transpose", [x, ctx.i64(to_first)]))
    return ctx.b.out("Transpose", [y, ctx.i64([0, *range(2, r), 1])])


def _qlinear_binary(op_type: str):
    def convert(ctx: OnnxContext, node, ins):
        y = _float_op(ctx, node, op_type, [_dq(ctx, node, ins, 0), _dq(ctx, node, ins, 3)])
        return [_q(ctx, node, y, ins[6], _opt(ins, 7))]
    return convert


def _qlinear_unary(op_type: str):
    def convert(ctx: OnnxContext, node, ins):
        x = _dq(ctx, node, ins, 0)
        y = _channels_last(ctx, node, x, lambda v: _float_op(ctx, node, op_type, [v]))
        return [_q(ctx, node, y, ins[3], _opt(ins, 4))]
    return convert


for _k, _v in (("QLinearAdd", "Add"), ("QLinearMul", "Mul")):
    onnx_op(_k, domain=MS)(_qlinear_binary(_v))
for _k, _v in (("QLinearSigmoid", "Sigmoid"), ("QLinearLeakyRelu", "LeakyRelu"), ("QLinearAveragePool", "AveragePool"),
               ("QLinearGlobalAveragePool", "GlobalAveragePool"), ("QLinearSoftmax", "Softmax")):
    onnx_op(_k, domain=MS)(_qlinear_unary(_v))


@onnx_op("QLinearConcat", domain=MS)
def _qlinear_concat(ctx: OnnxContext, node, ins):
    parts = [_dq(ctx, node, ins, i) for i in range(2, len(ins), 3)]
    return [_q(ctx, node, _float_op(ctx, node, "Concat", parts), ins[0], ins[1])]


@onnx_op("QGemm", domain=MS)
def _qgemm(ctx: OnnxContext, node, ins):
    """alpha * A' B' + C with int8/uint8 A and B (B's scale per output column), an int32 C at
    scale a_scale * b_scale, and a quantized output when y_scale is given (else float)."""
    a, a_s, a_zp, b, b_s, b_zp = ins[:6]
    c, y_s, y_zp = _opt(ins, 6), _opt(ins, 7), _opt(ins, 8)
    trans_a, trans_b = ctx.attr(node, "transA", 0), ctx.attr(node, "transB", 0)
    a_f = dequantize(ctx, node, a, a_s, a_zp)
    b_f = dequantize(ctx, node, b, b_s, b_zp, axis=0 if trans_b else 1)
    y = ctx.b.out("MatMul", [a_f, b_f], transpose_a=bool(trans_a), transpose_b=bool(trans_b))
    alpha = ctx.attr(node, "alpha", 1.0)
    if alpha != 1.0:
        y = ctx.b.out("Multiply", [y, ctx.const(np.float32(alpha))])
    if c is not None:
        c_scale = ctx.b.out("Multiply", [_f32(ctx, a_s), _f32(ctx, b_s)])
        y = ctx.b.out("Add", [y, ctx.b.out("Multiply", [_f32(ctx, c), c_scale])])
    return [y if y_s is None else _q(ctx, node, y, y_s, y_zp)]


def _scaled_product(ctx: OnnxContext, node, a_centered, b, b_zp, a_scale, b_scale, bias):
    """(A - a_zp)(B - b_zp) * (a_scale * b_scale) + bias, B's scale and zero point per tensor or
    per column, as ONNX Runtime's integer GEMM output stage computes it."""
    acc = ctx.b.out("MatMul", [a_centered, _centered(ctx, node, b, b_zp, -1, "B")])
    scale = ctx.b.out("Multiply", [_f32(ctx, a_scale), _f32(ctx, _param(ctx, node, b_scale, b, -1, 0, "b_scale"))])
    y = ctx.b.out("Multiply", [acc, scale])
    return [y if bias is None else ctx.b.out("Add", [y, _f32(ctx, bias)])]


@onnx_op("DynamicQuantizeMatMul", domain=MS)
def _dynamic_quantize_matmul(ctx: OnnxContext, node, ins):
    """A (float) quantized to uint8 over the whole tensor at run time, times integer B."""
    q, scale, zp = dynamic_u8(ctx, ins[0])
    return _scaled_product(ctx, node, ctx.b.out("Subtract", [q, zp]), ins[1], _opt(ins, 3), scale, ins[2], _opt(ins, 4))


@onnx_op("MatMulIntegerToFloat", domain=MS)
def _matmul_integer_to_float(ctx: OnnxContext, node, ins):
    a = _centered(ctx, node, ins[0], _opt(ins, 4), -2 if ctx.rank(ins[0]) > 1 else 0, "A")
    return _scaled_product(ctx, node, a, ins[1], _opt(ins, 5), ins[2], ins[3], _opt(ins, 6))
