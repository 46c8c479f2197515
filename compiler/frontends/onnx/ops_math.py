"""ONNX element-wise math, activations, comparisons, logic and reductions."""

from __future__ import annotations

import numpy as np

from compiler.frontends.onnx.context import OnnxContext, np_dtype_of_onnx, onnx_op

UNARY = {
    "Abs": "Abs", "Acos": "Acos", "Acosh": "Acosh", "Asin": "Asin", "Asinh": "Asinh", "Atan": "Atan",
    "Atanh": "Atanh", "Ceil": "Ceiling", "Cos": "Cos", "Cosh": "Cosh", "Erf": "Erf", "Exp": "Exp",
    "Floor": "Floor", "Log": "Log", "Neg": "Negative", "Relu": "ReLU", "Sigmoid": "Sigmoid",
    "Sign": "Sign", "Sin": "Sin", "Sinh": "Sinh", "Sqrt": "Sqrt", "Tan": "Tan", "Tanh": "Tanh",
    "Softplus": "SoftPlus", "Softsign": "SoftSign", "Not": "LogicalNot", "IsNaN": "IsNaN",
    "Mish": "Mish", "HardSwish": "HSwish", "BitwiseNot": "BitwiseNot",
}
BINARY = {
    "Add": "Add", "Sub": "Subtract", "Mul": "Multiply", "Equal": "Equal", "Greater": "Greater",
    "Less": "Less", "GreaterOrEqual": "GreaterEqual", "LessOrEqual": "LessEqual", "And": "LogicalAnd",
    "Or": "LogicalOr", "Xor": "LogicalXor", "BitwiseAnd": "BitwiseAnd", "BitwiseOr": "BitwiseOr",
    "BitwiseXor": "BitwiseXor",
}


def _unary(ov_type):
    return lambda ctx, node, ins: [ctx.b.out(ov_type, [ins[0]])]


def _binary(ov_type):
    return lambda ctx, node, ins: [ctx.b.out(ov_type, ins[:2])]


for _k, _v in UNARY.items():
    onnx_op(_k)(_unary(_v))
for _k, _v in BINARY.items():
    onnx_op(_k)(_binary(_v))


@onnx_op("BitShift")
def _bit_shift(ctx: OnnxContext, node, ins):
    left = ctx.attr(node, "direction") == "LEFT"
    return [ctx.b.out("BitwiseLeftShift" if left else "BitwiseRightShift", ins[:2])]


@onnx_op("Div")
def _div(ctx: OnnxContext, node, ins):
    return [ctx.b.out("Divide", ins[:2], m_pythondiv=False)]  # ONNX integer division truncates


@onnx_op("Pow")
def _pow(ctx: OnnxContext, node, ins):
    base, exp = ins
    if ctx.dtype(exp) != ctx.dtype(base):
        exp = ctx.b.out("Convert", [exp], destination_type=ctx.dtype(base))
    return [ctx.b.out("Power", [base, exp])]


@onnx_op("Mod")
def _mod(ctx: OnnxContext, node, ins):
    fmod = ctx.attr(node, "fmod", 0)
    return [ctx.b.out("Mod" if fmod else "FloorMod", ins[:2])]


def _variadic(ov_type):
    def convert(ctx: OnnxContext, node, ins):
        acc = ins[0]
        for x in ins[1:]:
            acc = ctx.b.out(ov_type, [acc, x])
        return [acc]
    return convert


onnx_op("Sum")(_variadic("Add"))
onnx_op("Max")(_variadic("Maximum"))
onnx_op("Min")(_variadic("Minimum"))


@onnx_op("Mean")
def _mean(ctx: OnnxContext, node, ins):
    (acc,) = _variadic("Add")(ctx, node, ins)
    n = ctx.const(np.array(len(ins), dtype=ctx.dtype(acc)))
    return [ctx.b.out("Divide", [acc, n])]


@onnx_op("Reciprocal")
def _reciprocal(ctx: OnnxContext, node, ins):
    return [ctx.b.out("Divide", [ctx.const(np.array(1, ctx.dtype(ins[0]))), ins[0]])]


@onnx_op("IsInf")
def _isinf(ctx: OnnxContext, node, ins):
    return [ctx.b.out("IsInf", [ins[0]], detect_negative=bool(ctx.attr(node, "detect_negative", 1)),
                      detect_positive=bool(ctx.attr(node, "detect_positive", 1)))]


@onnx_op("Round")
def _round(ctx: OnnxContext, node, ins):
    return [ctx.b.out("Round", [ins[0]], mode="half_to_even")]


def _scalar(ctx: OnnxContext, x, value):
    return ctx.const(np.array(value, dtype=ctx.dtype(x)))


@onnx_op("LeakyRelu")
def _leaky_relu(ctx: OnnxContext, node, ins):
    return [ctx.b.out("PRelu", [ins[0], _scalar(ctx, ins[0], [ctx.attr(node, "alpha", 0.01)])])]


@onnx_op("PRelu")
def _prelu(ctx: OnnxContext, node, ins):
    x, slope = ins
    r, rs = ctx.rank(x), ctx.rank(slope)
    if rs < r:  # ONNX broadcasts the slope numpy-style; make that explicit
        slope = ctx.b.out("Unsqueeze", [slope, ctx.i64(list(range(r - rs)))])
    return [ctx.b.out("PRelu", [x, slope])]


@onnx_op("Elu")
def _elu(ctx: OnnxContext, node, ins):
    return [ctx.b.out("Elu", [ins[0]], alpha=ctx.attr(node, "alpha", 1.0))]


@onnx_op("Selu")
def _selu(ctx: OnnxContext, node, ins):
    x = ins[0]
    return [ctx.b.out("Selu", [x, _scalar(ctx, x, [ctx.attr(node, "alpha", 1.67326319217681884765625)]),
                               _scalar(ctx, x, [ctx.attr(node, "gamma", 1.05070102214813232421875)])])]


@onnx_op("HardSigmoid")
def _hard_sigmoid(ctx: OnnxContext, node, ins):
    x = ins[0]
    return [ctx.b.out("HardSigmoid", [x, _scalar(ctx, x, ctx.attr(node, "alpha", 0.2)),
                                      _scalar(ctx, x, ctx.attr(node, "beta", 0.5))])]


@onnx_op("ThresholdedRelu")
def _thresholded_relu(ctx: OnnxContext, node, ins):
    x = ins[0]
    mask = ctx.b.out("Greater", [x, _scalar(ctx, x, ctx.attr(node, "alpha", 1.0))])
    return [ctx.b.out("Select", [mask, x, _scalar(ctx, x, 0)])]


@onnx_op("Celu")
def _celu(ctx: OnnxContext, node, ins):
    x = ins[0]
    alpha = ctx.attr(node, "alpha", 1.0)
    scaled = ctx.b.out("Elu", [ctx.b.out("Divide", [x, _scalar(ctx, x, alpha)])], alpha=1.0)
    return [ctx.b.out("Multiply", [scaled, _scalar(ctx, x, alpha)])]


@onnx_op("Gelu")
def _gelu(ctx: OnnxContext, node, ins):
    mode = ctx.attr(node, "approximate", "none")
    return [ctx.b.out("Gelu", [ins[0]], approximation_mode="tanh" if mode == "tanh" else "erf")]


@onnx_op("Swish")
def _swish(ctx: OnnxContext, node, ins):
    x = ins[0]
    return [ctx.b.out("Swish", [x, _scalar(ctx, x, ctx.attr(node, "alpha", 1.0))])]


F32_MAX = float(np.finfo(np.float32).max)


@onnx_op("Clip")
def _clip(ctx: OnnxContext, node, ins):
    x = ins[0]
    if ctx.opset < 11:
        lo, hi = ctx.attr(node, "min", -F32_MAX), ctx.attr(node, "max", F32_MAX)
    else:
        lo_v = ins[1] if len(ins) > 1 else None
        hi_v = ins[2] if len(ins) > 2 else None
        klo, khi = ctx.known(lo_v), ctx.known(hi_v)
        # Clamp's bounds are doubles: an int64 bound beyond 2**53 is clipped by Maximum/Minimum
        inexact = any(k is not None and k.dtype.kind in "iu" and abs(int(k.reshape(-1)[0])) > 2 ** 53
                      for k in (klo, khi))
        if (lo_v is not None and klo is None) or (hi_v is not None and khi is None) or inexact:
            y = x
            if lo_v is not None:
                y = ctx.b.out("Maximum", [y, lo_v])
            if hi_v is not None:
                y = ctx.b.out("Minimum", [y, hi_v])
            return [y]
        dt = ctx.dtype(x)
        big = F32_MAX if dt.kind == "f" else float(np.iinfo(dt).max)
        small = -F32_MAX if dt.kind == "f" else float(np.iinfo(dt).min)
        lo = small if klo is None else float(klo.reshape(-1)[0])
        hi = big if khi is None else float(khi.reshape(-1)[0])
    return [ctx.b.out("Clamp", [x], min=lo, max=hi)]


@onnx_op("Cast")
def _cast(ctx: OnnxContext, node, ins):
    to = np_dtype_of_onnx(ctx.attr(node, "to"), ctx.where)
    if to == ctx.dtype(ins[0]):
        return [ins[0]]
    return [ctx.b.out("Convert", [ins[0]], destination_type=to)]


@onnx_op("CastLike")
def _cast_like(ctx: OnnxContext, node, ins):
    to = ctx.dtype(ins[1])
    return [ins[0] if to == ctx.dtype(ins[0]) else ctx.b.out("Convert", [ins[0]], destination_type=to)]


@onnx_op("Where")
def _where(ctx: OnnxContext, node, ins):
    return [ctx.b.out("Select", ins[:3])]


@onnx_op("Identity")
def _identity(ctx: OnnxContext, node, ins):
    return [ins[0]]


# --- reductions ---------------------------------------------------------------------------

REDUCE = {"ReduceSum": "ReduceSum", "ReduceMean": "ReduceMean", "ReduceMax": "ReduceMax",
          "ReduceMin": "ReduceMin", "ReduceProd": "ReduceProd", "ReduceL1": "ReduceL1", "ReduceL2": "ReduceL2"}
AXES_AS_INPUT_SINCE = {"ReduceSum": 13}  # the others moved axes to an input in opset 18


def reduce_axes(ctx: OnnxContext, node, ins) -> list[int] | None:
    """The axes a Reduce* node reduces; None means all of them."""
    since = AXES_AS_INPUT_SINCE.get(node.op_type, 18)
    if ctx.opset >= since:
        if len(ins) > 1 and ins[1] is not None:
            axes = [int(a) for a in ctx.need_const(node, ins[1], "axes").reshape(-1)]
        else:
            axes = []
    else:
        axes = list(ctx.attr(node, "axes", []))
    if not axes:
        return [] if ctx.attr(node, "noop_with_empty_axes", 0) else None
    return axes


def reduce(ctx: OnnxContext, node, ins, ov_type: str, x=None):
    x = ins[0] if x is None else x
    axes = reduce_axes(ctx, node, ins)
    if axes is not None and not axes:  # noop_with_empty_axes: each element reduced alone
        return ctx.b.out("Abs", [x]) if ov_type in ("ReduceL1", "ReduceL2") else x
    keep = bool(ctx.attr(node, "keepdims", 1))
    if axes is None and ctx.rank(x) == 0:  # one element reduced (ReduceL2 of -3 is 3), not a no-op
        x, axes, keep = ctx.b.out("Unsqueeze", [x, ctx.i64([0])]), [0], False
    if axes is None:
        axes = list(range(ctx.rank(x)))
    return ctx.b.out(ov_type, [x, ctx.i64(axes)], keep_dims=keep)


for _k, _v in REDUCE.items():
    onnx_op(_k)(lambda ctx, node, ins, _t=_v: [reduce(ctx, node, ins, _t)])


@onnx_op("ReduceSumSquare")
def _reduce_sum_square(ctx: OnnxContext, node, ins):
    return [reduce(ctx, node, ins, "ReduceSum", ctx.b.out("Multiply", [ins[0], ins[0]]))]


@onnx_op("ReduceLogSum")
def _reduce_log_sum(ctx: OnnxContext, node, ins):
    return [ctx.b.out("Log", [reduce(ctx, node, ins, "ReduceSum")])]


@onnx_op("ReduceLogSumExp")
def _reduce_log_sum_exp(ctx: OnnxContext, node, ins):
    x = ins[0]
    axes = reduce_axes(ctx, node, ins)
    axes = list(range(ctx.rank(x))) if axes is None else axes
    if not axes:
        return [x]
    m = ctx.b.out("ReduceMax", [x, ctx.i64(axes)], keep_dims=True)
    # an infinite max shifts by 0: x - m would be inf - inf = NaN where the result is +inf (a +inf
    # in the line) or -inf (every element -inf)
    m = ctx.b.out("Select", [ctx.b.out("IsInf", [m], detect_negative=True, detect_positive=True),
                             _scalar(ctx, x, 0), m])
    e = ctx.b.out("Exp", [ctx.b.out("Subtract", [x, m])])
    s = ctx.b.out("Log", [ctx.b.out("ReduceSum", [e, ctx.i64(axes)], keep_dims=True)])
    y = ctx.b.out("Add", [s, m])
    if not ctx.attr(node, "keepdims", 1):
        y = ctx.b.out("Squeeze", [y, ctx.i64(axes)])
    return [y]


def _arg(mode):
    def convert(ctx: OnnxContext, node, ins):
        x = ins[0]
        axis = ctx.attr(node, "axis", 0)
        if ctx.attr(node, "select_last_index", 0):
            r = ctx.rank(x)
            ax = axis + r if axis < 0 else axis
            n = ctx.shape(x)[ax]
            if n is None:
                raise ctx.error(node, "select_last_index needs a static reduced dimension")
            rev = ctx.b.out("Reverse", [x, ctx.i64([ax])], mode="index")
            top = ctx.b.op("TopK", [rev, ctx.i64(1)], axis=axis, mode=mode, sort="none",
                           index_element_type=np.int64, stable=True)
            idx = ctx.b.out("Subtract", [ctx.i64(n - 1), top.outputs[1]])
        else:
            top = ctx.b.op("TopK", [x, ctx.i64(1)], axis=axis, mode=mode, sort="none",
                           index_element_type=np.int64, stable=True)
            idx = top.outputs[1]
        if not ctx.attr(node, "keepdims", 1):
            idx = ctx.b.out("Squeeze", [idx, ctx.i64([axis])])
        return [idx]
    return convert


onnx_op("ArgMax")(_arg("max"))
onnx_op("ArgMin")(_arg("min"))


@onnx_op("TopK")
def _topk(ctx: OnnxContext, node, ins):
    x, k = ins[0], ins[1]
    if ctx.opset < 10:
        k = ctx.i64(ctx.attr(node, "k"))
    elif ctx.rank(k) == 1:
        k = ctx.b.out("Squeeze", [k, ctx.i64([0])])
    largest = ctx.attr(node, "largest", 1)
    top = ctx.b.op("TopK", [x, k], axis=ctx.attr(node, "axis", -1), mode="max" if largest else "min",
                   sort="value", index_element_type=np.int64, stable=True)
    return list(top.outputs)


@onnx_op("CumSum")
def _cumsum(ctx: OnnxContext, node, ins):
    axis = ins[1]
    if ctx.rank(axis) == 1:
        axis = ctx.b.out("Squeeze", [axis, ctx.i64([0])])
    return [ctx.b.out("CumSum", [ins[0], axis], exclusive=bool(ctx.attr(node, "exclusive", 0)),
                      reverse=bool(ctx.attr(node, "reverse", 0)))]
