"""Paddle's activations, elementwise arithmetic (with its `axis` broadcasting), comparisons,
scale, clip, pow, reductions, cast, where, arg_max/arg_min and constants."""

from __future__ import annotations

import numpy as np

from compiler.frontends.paddle.context import OPS, Node, PaddleContext
from compiler.frontends.paddle.schema import DTYPES

_PIR_DTYPES = {"float32": np.float32, "float64": np.float64, "float16": np.float16, "int8": np.int8,
               "uint8": np.uint8, "int16": np.int16, "int32": np.int32, "int64": np.int64, "bool": np.bool_}


def paddle_dtype(ctx: PaddleContext, node: Node, v) -> np.dtype:
    """A data type given as a VarType number (ProgramDesc) or a name (PIR)."""
    if isinstance(v, str):
        if v in _PIR_DTYPES:
            return np.dtype(_PIR_DTYPES[v])
    elif int(v) in DTYPES:
        return np.dtype(DTYPES[int(v)])
    raise ctx.error(node, f"unsupported data type {v!r}")


_UNARY = {"relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh", "exp": "Exp", "log": "Log", "sqrt": "Sqrt",
          "abs": "Abs", "erf": "Erf", "floor": "Floor", "ceil": "Ceiling", "mish": "Mish",
          "softsign": "SoftSign", "sin": "Sin", "cos": "Cos", "sign": "Sign", "logical_not": "LogicalNot"}


def _unary(op_type: str):
    def convert(ctx: PaddleContext, node: Node):
        return {"Out": ctx.b.out(op_type, [ctx.x(node)])}
    return convert


for _name, _op in _UNARY.items():
    OPS.add(_name, _unary(_op))


def _c(ctx: PaddleContext, x, value: float):
    return ctx.const(np.asarray(value, ctx.dtype(x)))


@OPS.register("rsqrt")
def _rsqrt(ctx: PaddleContext, node: Node):
    x = ctx.x(node)
    return {"Out": ctx.b.out("Divide", [_c(ctx, x, 1.0), ctx.b.out("Sqrt", [x])])}


@OPS.register("reciprocal")
def _reciprocal(ctx: PaddleContext, node: Node):
    x = ctx.x(node)
    return {"Out": ctx.b.out("Divide", [_c(ctx, x, 1.0), x])}


@OPS.register("square")
def _square(ctx: PaddleContext, node: Node):
    x = ctx.x(node)
    return {"Out": ctx.b.out("Multiply", [x, x])}


@OPS.register("softplus")
def _softplus(ctx: PaddleContext, node: Node):
    """log(1 + exp(beta x)) / beta, or x where beta x > threshold."""
    x = ctx.x(node)
    beta, threshold = float(ctx.attr(node, "beta", 1.0)), float(ctx.attr(node, "threshold", 20.0))
    bx = ctx.b.out("Multiply", [x, _c(ctx, x, beta)])
    soft = ctx.b.out("Divide", [ctx.b.out("SoftPlus", [bx]), _c(ctx, x, beta)])
    return {"Out": ctx.b.out("Select", [ctx.b.out("Greater", [bx, _c(ctx, x, threshold)]), x, soft])}


@OPS.register("relu6")
def _relu6(ctx: PaddleContext, node: Node):
    return {"Out": ctx.b.out("Clamp", [ctx.x(node)], min=0.0, max=float(ctx.attr(node, "threshold", 6.0)))}


@OPS.register("leaky_relu")
def _leaky_relu(ctx: PaddleContext, node: Node):
    x = ctx.x(node)
    alpha = float(ctx.attr(node, "alpha", 0.02))
    return {"Out": ctx.b.out("PRelu", [x, _c(ctx, x, alpha)])}


@OPS.register("elu")
def _elu(ctx: PaddleContext, node: Node):
    return {"Out": ctx.b.out("Elu", [ctx.x(node)], alpha=float(ctx.attr(node, "alpha", 1.0)))}


@OPS.register("hard_swish")
def _hard_swish(ctx: PaddleContext, node: Node):
    """x * min(max(x + offset, 0), threshold) / scale (3, 6, 6 by default: OpenVINO's HSwish)."""
    x = ctx.x(node)
    threshold, scale, offset = (float(ctx.attr(node, k, d)) for k, d in
                                (("threshold", 6.0), ("scale", 6.0), ("offset", 3.0)))
    if (threshold, scale, offset) == (6.0, 6.0, 3.0):
        return {"Out": ctx.b.out("HSwish", [x])}
    gate = ctx.b.out("Clamp", [ctx.b.out("Add", [x, _c(ctx, x, offset)])], min=0.0, max=threshold)
    return {"Out": ctx.b.out("Divide", [ctx.b.out("Multiply", [x, gate]), _c(ctx, x, scale)])}


@OPS.register("hard_sigmoid")
def _hard_sigmoid(ctx: PaddleContext, node: Node):
    """clip(slope x + offset, 0, 1), slope 0.2 and offset 0.5 by default (0.1666667, 0.5 from
    paddle.nn.Hardsigmoid)."""
    x = ctx.x(node)
    slope, offset = float(ctx.attr(node, "slope", 0.2)), float(ctx.attr(node, "offset", 0.5))
    y = ctx.b.out("Add", [ctx.b.out("Multiply", [x, _c(ctx, x, slope)]), _c(ctx, x, offset)])
    return {"Out": ctx.b.out("Clamp", [y], min=0.0, max=1.0)}


@OPS.register("swish", "silu")
def _swish(ctx: PaddleContext, node: Node):
    x = ctx.x(node)
    beta = float(ctx.attr(node, "beta", 1.0))
    if beta == 1.0:
        return {"Out": ctx.b.out("Swish", [x])}
    return {"Out": ctx.b.out("Swish", [x, _c(ctx, x, beta)])}


@OPS.register("gelu")
def _gelu(ctx: PaddleContext, node: Node):
    mode = "tanh" if ctx.attr(node, "approximate", False) else "erf"
    return {"Out": ctx.b.out("Gelu", [ctx.x(node)], approximation_mode=mode)}


def broadcast_operands(ctx: PaddleContext, node: Node, x, y):
    """Paddle's elementwise broadcasting: with axis -1 (or equal ranks) numpy's; otherwise the
    operand of lower rank covers the other's axes from `axis` on (its trailing axes of size 1
    dropped first), and is reshaped to broadcast along the rest."""
    axis = int(ctx.attr(node, "axis", -1))
    rx, ry = ctx.rank(x), ctx.rank(y)
    if axis == -1 or rx == ry:
        return x, y
    swap = ry > rx
    big, small = (y, x) if swap else (x, y)
    rb = ctx.rank(big)
    shape = list(ctx.shape(small))
    if axis < 0:
        axis += rb
    while shape and axis + len(shape) > rb and shape[-1] == 1:
        shape.pop()
    if axis + len(shape) > rb:
        raise ctx.error(node, f"axis {axis} does not fit operands of shapes {ctx.shape(x)} and {ctx.shape(y)}")
    target = [1] * axis + [-1 if d is None else d for d in shape] + [1] * (rb - axis - len(shape))
    if target.count(-1) > 1:
        raise ctx.error(node, "broadcasting along an axis needs the smaller operand's shape known")
    small = ctx.b.out("Reshape", [small, ctx.i64(target)], special_zero=False)
    return (small, big) if swap else (big, small)


_BINARY = {"elementwise_add": "Add", "elementwise_sub": "Subtract", "elementwise_mul": "Multiply",
           "elementwise_div": "Divide", "elementwise_max": "Maximum", "elementwise_min": "Minimum",
           "elementwise_pow": "Power", "elementwise_mod": "FloorMod", "equal": "Equal", "not_equal": "NotEqual",
           "less_than": "Less", "less_equal": "LessEqual", "greater_than": "Greater", "greater_equal": "GreaterEqual",
           "logical_and": "LogicalAnd", "logical_or": "LogicalOr"}


def _binary(op_type: str):
    def convert(ctx: PaddleContext, node: Node):
        x, y = broadcast_operands(ctx, node, ctx.x(node), ctx.x(node, "Y"))
        kw = {"m_pythondiv": False} if op_type == "Divide" else {}  # Paddle's integer division truncates
        return {"Out": ctx.b.out(op_type, [x, y], **kw)}
    return convert


for _name, _op in _BINARY.items():
    OPS.add(_name, _binary(_op))


@OPS.register("elementwise_floordiv")
def _floordiv(ctx: PaddleContext, node: Node):
    x, y = broadcast_operands(ctx, node, ctx.x(node), ctx.x(node, "Y"))
    q = ctx.b.out("Divide", [x, y], m_pythondiv=True)
    return {"Out": q if np.issubdtype(ctx.dtype(q), np.integer) else ctx.b.out("Floor", [q])}


@OPS.register("scale")
def _scale(ctx: PaddleContext, node: Node):
    """scale * x + bias, or scale * (x + bias) when not bias_after_scale."""
    x = ctx.x(node)
    bias = float(ctx.attr(node, "bias", 0.0))
    st = ctx.inp(node, "ScaleTensor")
    if st is not None and ctx.known(st) is None:
        s = ctx.b.out("Convert", [st], destination_type=ctx.dtype(x)) if ctx.dtype(st) != ctx.dtype(x) else st
    else:
        s = _c(ctx, x, ctx.scalar(node, "scale", "ScaleTensor", 1.0))
    if not ctx.attr(node, "bias_after_scale", True):
        return {"Out": ctx.b.out("Multiply", [ctx.b.out("Add", [x, _c(ctx, x, bias)]), s])}
    y = ctx.b.out("Multiply", [x, s])
    return {"Out": ctx.b.out("Add", [y, _c(ctx, x, bias)]) if bias else y}


@OPS.register("clip")
def _clip(ctx: PaddleContext, node: Node):
    x = ctx.x(node)
    lo = ctx.scalar(node, "min", "Min", -np.inf)
    hi = ctx.scalar(node, "max", "Max", np.inf)
    return {"Out": ctx.b.out("Clamp", [x], min=lo, max=hi)}


@OPS.register("pow")
def _pow(ctx: PaddleContext, node: Node):
    x = ctx.x(node)
    return {"Out": ctx.b.out("Power", [x, _c(ctx, x, ctx.scalar(node, "factor", "FactorTensor", 1.0))])}


_REDUCE = {"reduce_sum": "ReduceSum", "reduce_mean": "ReduceMean", "reduce_max": "ReduceMax",
           "reduce_min": "ReduceMin", "reduce_prod": "ReduceProd", "reduce_all": "ReduceLogicalAnd",
           "reduce_any": "ReduceLogicalOr"}


def _reduce(op_type: str):
    def convert(ctx: PaddleContext, node: Node):
        """Over `dim` (all axes when reduce_all or dim is empty), keeping them if keep_dim."""
        x = ctx.x(node)
        rank = ctx.rank(x)
        dims = ctx.ints(node, "dim", default=[])
        if ctx.attr(node, "reduce_all", False) or not dims:
            dims = list(range(rank))
        axes = sorted({ctx.axis(node, d, rank) for d in dims})
        y = ctx.b.out(op_type, [x, ctx.i64(axes)], keep_dims=bool(ctx.attr(node, "keep_dim", False)))
        out = ctx.attr(node, "out_dtype", -1)
        if out not in (-1, None, "undefined", ""):
            dt = paddle_dtype(ctx, node, out)
            if dt != ctx.dtype(y):
                y = ctx.b.out("Convert", [y], destination_type=dt)
        return {"Out": y}
    return convert


for _name, _op in _REDUCE.items():
    OPS.add(_name, _reduce(_op))


@OPS.register("cast")
def _cast(ctx: PaddleContext, node: Node):
    x = ctx.x(node)
    dt = paddle_dtype(ctx, node, ctx.attr(node, "out_dtype"))
    if dt == ctx.dtype(x):
        return {"Out": x}
    return {"Out": ctx.b.out("Convert", [x], destination_type=dt)}


@OPS.register("where")
def _where(ctx: PaddleContext, node: Node):
    return {"Out": ctx.b.out("Select", [ctx.x(node, "Condition"), ctx.x(node), ctx.x(node, "Y")])}


def _arg(mode: str):
    def convert(ctx: PaddleContext, node: Node):
        """Index of the first max (min) along `axis`, or over the flattened input."""
        x = ctx.x(node)
        if ctx.attr(node, "flatten", False):
            x = ctx.b.out("Reshape", [x, ctx.i64([-1])], special_zero=False)
        rank = ctx.rank(x)
        axis = ctx.axis(node, ctx.ints(node, "axis", default=[-1])[0], rank)
        dt = ctx.attr(node, "dtype", -1)
        dt = np.dtype(np.int64) if dt in (-1, None, "undefined", "") else paddle_dtype(ctx, node, dt)
        topk = ctx.b.op("TopK", [x, ctx.i64(1)], axis=axis, mode=mode, sort="none", index_element_type=dt,
                        stable=True)
        idx = topk.outputs[1]
        if not ctx.attr(node, "keepdims", False) and not ctx.attr(node, "flatten", False):
            idx = ctx.b.out("Squeeze", [idx, ctx.i64([axis])])
        elif ctx.attr(node, "flatten", False) and not ctx.attr(node, "keepdims", False):
            idx = ctx.b.out("Squeeze", [idx, ctx.i64([0])])
        return {"Out": idx}
    return convert


OPS.add("arg_max", _arg("max"))
OPS.add("arg_min", _arg("min"))


@OPS.register("fill_constant")
def _fill_constant(ctx: PaddleContext, node: Node):
    """A tensor of `shape` filled with `value` (str_value when given, as Paddle prefers it)."""
    dt = paddle_dtype(ctx, node, ctx.attr(node, "dtype", 5))
    shape = ctx.ints(node, "shape", "ShapeTensor", "ShapeTensorList", default=[])
    vt = ctx.inp(node, "ValueTensor")
    if vt is not None and ctx.known(vt) is None:
        v = ctx.b.out("Convert", [vt], destination_type=dt) if ctx.dtype(vt) != dt else vt
        return {"Out": ctx.b.out("Broadcast", [ctx.b.out("Reshape", [v, ctx.i64([])], special_zero=False),
                                               ctx.i64(shape)])}
    s = str(ctx.attr(node, "str_value", "") or "")
    value = float(s) if s else ctx.scalar(node, "value", "ValueTensor", 0.0)
    return {"Out": ctx.const(np.full(shape, value, dtype=dt))}


@OPS.register("assign_value")
def _assign_value(ctx: PaddleContext, node: Node):
    """A constant list (PIR's full_int_array; the legacy op's *_values attributes)."""
    for key in ("value", "int32_values", "int64_values", "fp32_values", "bool_values", "values"):
        vals = node.attrs.get(key)
        if vals is not None and (key == "value" or len(vals)):
            break
    else:
        vals = []
    dt = paddle_dtype(ctx, node, ctx.attr(node, "dtype", "int64"))
    shape = ctx.attr(node, "shape", None)
    arr = np.asarray(vals, dtype=dt)
    if shape is not None and len(shape) and int(np.prod(shape)) == arr.size:
        arr = arr.reshape([int(d) for d in shape])
    return {"Out": ctx.const(arr)}


@OPS.register("fill_any_like")
def _fill_any_like(ctx: PaddleContext, node: Node):
    x = ctx.x(node)
    dt = ctx.attr(node, "dtype", -1)
    dt = ctx.dtype(x) if dt in (-1, None, "undefined", "") else paddle_dtype(ctx, node, dt)
    value = ctx.scalar(node, "value", "ValueTensor", 0.0)
    return {"Out": ctx.b.out("Broadcast", [ctx.const(np.asarray(value, dt)), ctx.b.out("ShapeOf", [x])])}
