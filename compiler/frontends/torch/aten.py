"""Core ATen operators (what torch.export's decompositions leave) as `ov` ops.

A converter is `fn(ctx, node, args) -> value`, `args` being the node's arguments by schema
name; registered under the overload-free op name ("add", "convolution") or a full overload
("max.dim") where overloads differ in meaning. Results are converted to the element type that
torch recorded for the node afterwards, so converters follow torch's promotion rules loosely."""

from __future__ import annotations

import numpy as np
from xdsl.ir import SSAValue

from compiler.frontends.torch.fx import FxContext, torch_dtype_to_np
from dialects.errors import ConversionError
from dialects.ov import fully_known

ATEN: dict[str, object] = {}


def aten(*names: str):
    def register(fn):
        for n in names:
            ATEN[n] = fn
        return fn
    return register


def lookup(key: str) -> str | None:
    """"add.Tensor" -> "add.Tensor" if registered, else "add" if registered."""
    if key in ATEN:
        return key
    base = key.split(".")[0]
    return base if base in ATEN else None


def _meta_dtype(node) -> np.dtype | None:
    import torch

    v = node.meta.get("val")
    return torch_dtype_to_np(v.dtype) if isinstance(v, torch.Tensor) else None


def _operand_dtype(ctx: FxContext, node, values) -> np.dtype:
    """The common element type of an op's operands, by torch's promotion rules."""
    import torch
    import torch.fx

    metas = []
    for a in node.args:
        if isinstance(a, torch.fx.Node) and isinstance(a.meta.get("val"), torch.Tensor):
            metas.append(a.meta["val"])
        elif isinstance(a, bool | int | float):
            metas.append(a)
    if len(metas) >= 2:
        try:
            return torch_dtype_to_np(torch.result_type(*metas[:2]))
        except (TypeError, RuntimeError):
            pass
    for v in values:
        if hasattr(v, "type"):
            return ctx.dtype(v)
    return np.dtype(np.float32)


def _binary(ov_type: str, swap: bool = False):
    def convert(ctx: FxContext, node, args):
        a, b = ctx.get(node.args[0]), ctx.get(node.args[1])
        dt = _operand_dtype(ctx, node, [a, b])
        x, y = ctx.tensor(a, dt), ctx.tensor(b, dt)
        if swap:
            x, y = y, x
        return ctx.b.out(ov_type, [x, y])
    return convert


for _k, _v in {"mul": "Multiply", "maximum": "Maximum", "minimum": "Minimum", "eq": "Equal", "ne": "NotEqual",
               "lt": "Less", "le": "LessEqual", "gt": "Greater", "ge": "GreaterEqual", "logical_and": "LogicalAnd",
               "logical_or": "LogicalOr", "logical_xor": "LogicalXor", "remainder": "FloorMod", "fmod": "Mod",
               "pow": "Power", "bitwise_and": "BitwiseAnd", "bitwise_or": "BitwiseOr",
               "bitwise_xor": "BitwiseXor", "bitwise_left_shift": "BitwiseLeftShift", "__lshift__": "BitwiseLeftShift",
               "bitwise_right_shift": "BitwiseRightShift", "__rshift__": "BitwiseRightShift"}.items():
    aten(_k)(_binary(_v))


@aten("add", "sub", "rsub")
def _add_sub(ctx: FxContext, node, args):
    a, b = ctx.get(node.args[0]), ctx.get(node.args[1])
    alpha = ctx.get(args.get("alpha", 1)) or 1
    dt = _operand_dtype(ctx, node, [a, b])
    x, y = ctx.tensor(a, dt), ctx.tensor(b, dt)
    if alpha != 1:
        y = ctx.b.out("Multiply", [y, ctx.const(alpha, dt)])
    name = node.target.name()
    if "rsub" in name:
        return ctx.b.out("Subtract", [y, x])
    return ctx.b.out("Subtract" if "sub" in name else "Add", [x, y])


@aten("div")
def _div(ctx: FxContext, node, args):
    a, b = ctx.get(node.args[0]), ctx.get(node.args[1])
    mode = args.get("rounding_mode")
    dt = _operand_dtype(ctx, node, [a, b])
    if mode is None and dt.kind in "iub":
        dt = np.dtype(np.float32)  # true division of integers gives floats
    x, y = ctx.tensor(a, dt), ctx.tensor(b, dt)
    if mode == "floor" and dt.kind in "iu":
        return ctx.b.out("Divide", [x, y], m_pythondiv=True)
    q = ctx.b.out("Divide", [x, y], m_pythondiv=False)
    if mode == "floor":
        return ctx.b.out("Floor", [q])
    if mode == "trunc" and dt.kind == "f":
        return ctx.b.out("Multiply", [ctx.b.out("Sign", [q]), ctx.b.out("Floor", [ctx.b.out("Abs", [q])])])
    return q


UNARY = {"relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh", "exp": "Exp", "log": "Log", "sqrt": "Sqrt",
         "abs": "Abs", "neg": "Negative", "erf": "Erf", "floor": "Floor", "ceil": "Ceiling", "sign": "Sign",
         "sin": "Sin", "cos": "Cos", "tan": "Tan", "asin": "Asin", "acos": "Acos", "atan": "Atan", "sinh": "Sinh",
         "cosh": "Cosh", "logical_not": "LogicalNot", "bitwise_not": "BitwiseNot", "isnan": "IsNaN",
         "hardswish": "HSwish", "hardsigmoid": "HSigmoid", "mish": "Mish"}


def _unary(ov_type):
    def convert(ctx: FxContext, node, args):
        x = ctx.tensor(ctx.get(node.args[0]))
        if ctx.dtype(x).kind in "iub" and ov_type not in ("Abs", "Negative", "Sign", "LogicalNot", "BitwiseNot",
                                                          "ReLU"):
            x = ctx.b.out("Convert", [x], destination_type=np.float32)
        return ctx.b.out(ov_type, [x])
    return convert


for _k, _v in UNARY.items():
    aten(_k)(_unary(_v))


@aten("round")
def _round(ctx, node, args):
    return ctx.b.out("Round", [ctx.get(node.args[0])], mode="half_to_even")


@aten("rsqrt")
def _rsqrt(ctx, node, args):
    x = ctx.get(node.args[0])
    return ctx.b.out("Divide", [ctx.const(1.0, ctx.dtype(x)), ctx.b.out("Sqrt", [x])])


@aten("reciprocal")
def _reciprocal(ctx, node, args):
    x = ctx.get(node.args[0])
    return ctx.b.out("Divide", [ctx.const(1.0, ctx.dtype(x)), x])


@aten("log1p", "expm1")
def _log1p_expm1(ctx, node, args):
    x = ctx.get(node.args[0])
    one = ctx.const(1.0, ctx.dtype(x))
    if node.target.name().endswith("log1p") or "log1p" in node.target.name():
        return ctx.b.out("Log", [ctx.b.out("Add", [x, one])])
    return ctx.b.out("Subtract", [ctx.b.out("Exp", [x]), one])


@aten("gelu")
def _gelu(ctx, node, args):
    mode = args.get("approximate") or "none"
    return ctx.b.out("Gelu", [ctx.get(node.args[0])], approximation_mode="tanh" if mode == "tanh" else "erf")


@aten("silu")
def _silu(ctx, node, args):
    return ctx.b.out("Swish", [ctx.get(node.args[0])])


@aten("hardtanh", "clamp", "clamp_min", "clamp_max")
def _clamp(ctx, node, args):
    x = ctx.get(node.args[0])
    name = node.target.name()
    if "hardtanh" in name:
        lo, hi = args.get("min_val", -1.0), args.get("max_val", 1.0)
    elif "clamp_min" in name:
        lo, hi = ctx.get(node.args[1]), None
    elif "clamp_max" in name:
        lo, hi = None, ctx.get(node.args[1])
    else:
        lo, hi = ctx.get(args.get("min")), ctx.get(args.get("max"))
    if all(v is None or isinstance(v, int | float) for v in (lo, hi)):
        dt = ctx.dtype(x)
        big = float(np.finfo(np.float32).max) if dt.kind == "f" else float(np.iinfo(dt).max)
        return ctx.b.out("Clamp", [x], min=-big if lo is None else float(lo), max=big if hi is None else float(hi))
    if lo is not None:
        x = ctx.b.out("Maximum", [x, ctx.tensor(lo, ctx.dtype(x))])
    if hi is not None:
        x = ctx.b.out("Minimum", [x, ctx.tensor(hi, ctx.dtype(x))])
    return x


@aten("leaky_relu")
def _leaky_relu(ctx, node, args):
    x = ctx.get(node.args[0])
    return ctx.b.out("PRelu", [x, ctx.const([args.get("negative_slope", 0.01)], ctx.dtype(x))])


@aten("elu")
def _elu(ctx, node, args):
    x = ctx.get(node.args[0])
    alpha, scale = args.get("alpha", 1.0), args.get("scale", 1.0)
    y = ctx.b.out("Elu", [x], alpha=float(alpha))
    return y if scale == 1 else ctx.b.out("Multiply", [y, ctx.const(scale, ctx.dtype(x))])


@aten("softplus")
def _softplus(ctx, node, args):
    x = ctx.get(node.args[0])
    beta, thr = args.get("beta", 1.0), args.get("threshold", 20.0)
    dt = ctx.dtype(x)
    bx = x if beta == 1 else ctx.b.out("Multiply", [x, ctx.const(beta, dt)])
    y = ctx.b.out("SoftPlus", [bx])
    if beta != 1:
        y = ctx.b.out("Divide", [y, ctx.const(beta, dt)])
    return ctx.b.out("Select", [ctx.b.out("Greater", [bx, ctx.const(thr, dt)]), x, y])


@aten("where")
def _where(ctx, node, args):
    c, a, b = (ctx.get(x) for x in node.args[:3])
    dt = _operand_dtype(ctx, type("N", (), {"args": node.args[1:3]})(), [a, b])
    return ctx.b.out("Select", [ctx.tensor(c, np.bool_), ctx.tensor(a, dt), ctx.tensor(b, dt)])


@aten("masked_fill")
def _masked_fill(ctx, node, args):
    x, mask, value = (ctx.get(a) for a in node.args[:3])
    return ctx.b.out("Select", [ctx.tensor(mask, np.bool_), ctx.tensor(value, ctx.dtype(x)), x])


# --- reductions ---------------------------------------------------------------------------------

def _dims(ctx, x, dim) -> list[int]:
    r = ctx.rank(x)
    if dim is None or (isinstance(dim, list | tuple) and len(dim) == 0):
        return list(range(r))
    if isinstance(dim, int):
        dim = [dim]
    return [d + r if d < 0 else d for d in dim]


def _reduce(ov_type):
    def convert(ctx: FxContext, node, args):
        x = ctx.get(node.args[0])
        dim = args.get("dim", args.get("dims"))
        keep = bool(args.get("keepdim", False))
        dt = args.get("dtype")
        if dt is not None:
            x = ctx.b.out("Convert", [x], destination_type=torch_dtype_to_np(dt))
        if ov_type in ("ReduceLogicalOr", "ReduceLogicalAnd"):
            x = ctx.tensor(x, np.bool_)
        return ctx.b.out(ov_type, [x, ctx.i64(_dims(ctx, x, dim))], keep_dims=keep)
    return convert


aten("sum", "sum.dim_IntList")(_reduce("ReduceSum"))
aten("mean", "mean.dim")(_reduce("ReduceMean"))
aten("amax")(_reduce("ReduceMax"))
aten("amin")(_reduce("ReduceMin"))
aten("prod", "prod.dim_int")(_reduce("ReduceProd"))
aten("any", "any.dim", "any.dims")(_reduce("ReduceLogicalOr"))
aten("all", "all.dim")(_reduce("ReduceLogicalAnd"))


@aten("max.dim", "min.dim")
def _max_dim(ctx, node, args):
    x = ctx.get(node.args[0])
    d = _dims(ctx, x, args["dim"])[0]
    top = ctx.b.op("TopK", [x, ctx.i64(1)], axis=d, mode="max" if "max" in node.target.name() else "min",
                   sort="none", index_element_type=np.int64, stable=True)
    vals, idx = top.outputs
    if not args.get("keepdim", False):
        vals = ctx.b.out("Squeeze", [vals, ctx.i64([d])])
        idx = ctx.b.out("Squeeze", [idx, ctx.i64([d])])
    return (vals, idx)


@aten("max", "min")
def _max_all(ctx, node, args):
    x = ctx.get(node.args[0])
    if len(node.args) > 1:  # elementwise max(a, b)
        return _binary("Maximum" if "max" in node.target.name() else "Minimum")(ctx, node, args)
    t = "ReduceMax" if "max" in node.target.name() else "ReduceMin"
    return ctx.b.out(t, [x, ctx.i64(list(range(ctx.rank(x))))], keep_dims=False)


@aten("argmax", "argmin")
def _argmax(ctx, node, args):
    x = ctx.get(node.args[0])
    dim = args.get("dim")
    keep = args.get("keepdim", False)
    if dim is None:
        x = ctx.b.out("Reshape", [x, ctx.i64([-1])], special_zero=False)
        dim = 0
    d = _dims(ctx, x, dim)[0]
    top = ctx.b.op("TopK", [x, ctx.i64(1)], axis=d, mode="max" if "argmax" in node.target.name() else "min",
                   sort="none", index_element_type=np.int64, stable=True)
    idx = top.outputs[1]
    return idx if keep else ctx.b.out("Squeeze", [idx, ctx.i64([d])])


@aten("var", "var.correction", "std", "std.correction")
def _var(ctx, node, args):
    x = ctx.get(node.args[0])
    dims = _dims(ctx, x, args.get("dim"))
    keep = bool(args.get("keepdim", False))
    corr = args.get("correction")
    if corr is None:
        corr = 1 if args.get("unbiased", True) else 0
    n = int(np.prod([ctx.shape(x)[d] for d in dims]))
    ax = ctx.i64(dims)
    mean = ctx.b.out("ReduceMean", [x, ax], keep_dims=True)
    d = ctx.b.out("Subtract", [x, mean])
    s = ctx.b.out("ReduceSum", [ctx.b.out("Multiply", [d, d]), ax], keep_dims=keep)
    v = ctx.b.out("Divide", [s, ctx.const(max(n - corr, 1), ctx.dtype(x))])
    return ctx.b.out("Sqrt", [v]) if "std" in node.target.name() else v


@aten("linalg_vector_norm")
def _norm(ctx, node, args):
    x = ctx.get(node.args[0])
    return _p_norm(ctx, x, _dims(ctx, x, args.get("dim")), float(args.get("ord", 2)), bool(args.get("keepdim", False)))


@aten("cumsum")
def _cumsum(ctx, node, args):
    x = ctx.get(node.args[0])
    return ctx.b.out("CumSum", [x, ctx.i64(_dims(ctx, x, args["dim"])[0])])


@aten("topk")
def _topk(ctx, node, args):
    x = ctx.get(node.args[0])
    d = _dims(ctx, x, args.get("dim", -1))[0]
    top = ctx.b.op("TopK", [x, ctx.i64(args["k"])], axis=d, mode="max" if args.get("largest", True) else "min",
                   sort="value", index_element_type=np.int64, stable=True)
    return tuple(top.outputs)


@aten("sort")
def _sort(ctx, node, args):
    x = ctx.get(node.args[0])
    d = _dims(ctx, x, args.get("dim", -1))[0]
    n = ctx.shape(x)[d]
    top = ctx.b.op("TopK", [x, ctx.i64(n)], axis=d, mode="max" if args.get("descending") else "min", sort="value",
                   index_element_type=np.int64, stable=True)
    return tuple(top.outputs)


# --- neural network ------------------------------------------------------------------------------

@aten("convolution", "_convolution")
def _convolution(ctx, node, args):
    x, w = ctx.get(args["input"]), ctx.get(args["weight"])
    bias = ctx.get(args.get("bias"))
    n = ctx.rank(x) - 2
    stride = list(args["stride"]) * (n if len(args["stride"]) == 1 else 1)
    pad = list(args["padding"]) * (n if len(args["padding"]) == 1 else 1)
    dil = list(args["dilation"]) * (n if len(args["dilation"]) == 1 else 1)
    groups = int(args["groups"])
    a = dict(strides=stride, pads_begin=pad, pads_end=pad, dilations=dil)
    if args.get("transposed"):
        outpad = list(args.get("output_padding") or [0] * n)
        if groups == 1:
            y = ctx.b.out("ConvolutionBackpropData", [x, w], output_padding=outpad, **a)
        else:
            ws = ctx.shape(w)
            wg = ctx.b.out("Reshape", [w, ctx.i64([groups, ws[0] // groups, *ws[1:]])], special_zero=False)
            y = ctx.b.out("GroupConvolutionBackpropData", [x, wg], output_padding=outpad, **a)
    elif groups == 1:
        y = ctx.b.out("Convolution", [x, w], **a)
    else:
        ws = ctx.shape(w)
        wg = ctx.b.out("Reshape", [w, ctx.i64([groups, ws[0] // groups, *ws[1:]])], special_zero=False)
        y = ctx.b.out("GroupConvolution", [x, wg], **a)
    if bias is not None:
        y = ctx.b.out("Add", [y, ctx.b.out("Reshape", [bias, ctx.i64([1, -1] + [1] * n)], special_zero=False)])
    return y


@aten("addmm")
def _addmm(ctx, node, args):
    bias, a, b = ctx.get(args["self"]), ctx.get(args["mat1"]), ctx.get(args["mat2"])
    y = _mm_maybe_transposed(ctx, a, b)
    alpha, beta = args.get("alpha", 1), args.get("beta", 1)
    if alpha != 1:
        y = ctx.b.out("Multiply", [y, ctx.const(alpha, ctx.dtype(y))])
    if beta != 0:
        bias = bias if beta == 1 else ctx.b.out("Multiply", [bias, ctx.const(beta, ctx.dtype(y))])
        y = ctx.b.out("Add", [y, bias])
    return y


def _mm_maybe_transposed(ctx, a, b):
    """MatMul; a constant B that is a Transpose of a weight folds into transpose_b."""
    prod = getattr(b, "op", None)
    if prod is not None and getattr(prod, "IR_TYPE", "") == "Transpose" and ctx.rank(b) == 2:
        perm = fully_known(prod.inputs[1])
        if perm is not None and list(perm) == [1, 0]:
            return ctx.b.out("MatMul", [a, prod.inputs[0]], transpose_b=True)
    return ctx.b.out("MatMul", [a, b])


@aten("mm", "bmm", "matmul")
def _mm(ctx, node, args):
    return _mm_maybe_transposed(ctx, ctx.get(node.args[0]), ctx.get(node.args[1]))


@aten("linear")
def _linear(ctx, node, args):
    x, w, b = ctx.get(args["input"]), ctx.get(args["weight"]), ctx.get(args.get("bias"))
    y = ctx.b.out("MatMul", [x, w], transpose_b=True)
    return y if b is None else ctx.b.out("Add", [y, b])


def _channel(ctx, v, rank):
    return ctx.b.out("Reshape", [v, ctx.i64([1, -1] + [1] * (rank - 2))], special_zero=False)


@aten("_native_batch_norm_legit_no_training", "_native_batch_norm_legit_functional", "native_batch_norm",
      "batch_norm", "_native_batch_norm_legit")
def _batch_norm(ctx, node, args):
    x = ctx.get(args["input"])
    w, b = ctx.get(args.get("weight")), ctx.get(args.get("bias"))
    mean, var = ctx.get(args.get("running_mean")), ctx.get(args.get("running_var"))
    eps = float(args.get("eps", 1e-5))
    if args.get("training") is True or mean is None:
        # statistics of the batch itself: instance norm (always), or a model exported in train
        # mode; per channel over the batch and spatial axes, biased variance
        r = ctx.rank(x)
        y = ctx.b.out("MVN", [x, ctx.i64([0] + list(range(2, r)))], normalize_variance=True, eps=eps,
                      eps_mode="inside_sqrt")
        if w is not None:
            y = ctx.b.out("Multiply", [y, _channel(ctx, w, r)])
        if b is not None:
            y = ctx.b.out("Add", [y, _channel(ctx, b, r)])
        return (y, None, None, None, None)
    c = ctx.shape(x)[1]
    dt = ctx.dtype(x)
    w = w if w is not None else ctx.const(np.ones(c), dt)
    b = b if b is not None else ctx.const(np.zeros(c), dt)
    y = ctx.b.out("BatchNormInference", [x, w, b, mean, var], epsilon=eps)
    return (y, None, None)


@aten("native_layer_norm", "layer_norm")
def _layer_norm(ctx, node, args):
    x = ctx.get(args["input"])
    shape = list(args["normalized_shape"])
    w, b = ctx.get(args.get("weight")), ctx.get(args.get("bias"))
    r = ctx.rank(x)
    axes = list(range(r - len(shape), r))
    y = ctx.b.out("MVN", [x, ctx.i64(axes)], normalize_variance=True, eps=float(args.get("eps", 1e-5)),
                  eps_mode="inside_sqrt")
    if w is not None:
        y = ctx.b.out("Multiply", [y, w])
    if b is not None:
        y = ctx.b.out("Add", [y, b])
    if "native" not in node.target.name():
        return y
    mean = ctx.b.out("ReduceMean", [x, ctx.i64(axes)], keep_dims=True)
    d = ctx.b.out("Subtract", [x, mean])
    var = ctx.b.out("ReduceMean", [ctx.b.out("Multiply", [d, d]), ctx.i64(axes)], keep_dims=True)
    rstd = ctx.b.out("Divide", [ctx.const(1.0, ctx.dtype(x)), ctx.b.out("Sqrt", [ctx.b.out(
        "Add", [var, ctx.const(args.get("eps", 1e-5), ctx.dtype(x))])])])
    return (y, mean, rstd)


@aten("native_group_norm")
def _group_norm(ctx, node, args):
    x = ctx.get(args["input"])
    w, b = ctx.get(args.get("weight")), ctx.get(args.get("bias"))
    g = int(args["group"])
    r = ctx.rank(x)
    grouped = ctx.b.out("Reshape", [x, ctx.i64([0, g, -1])], special_zero=True)
    y = ctx.b.out("MVN", [grouped, ctx.i64([2])], normalize_variance=True, eps=float(args["eps"]),
                  eps_mode="inside_sqrt")
    y = ctx.b.out("Reshape", [y, ctx.b.out("ShapeOf", [x])], special_zero=False)
    if w is not None:
        y = ctx.b.out("Multiply", [y, _channel(ctx, w, r)])
    if b is not None:
        y = ctx.b.out("Add", [y, _channel(ctx, b, r)])
    return (y, None, None)


@aten("_softmax", "softmax", "_log_softmax", "log_softmax")
def _softmax(ctx, node, args):
    x = ctx.get(node.args[0])
    dim = _dims(ctx, x, node.args[1])[0]
    t = "LogSoftmax" if "log" in node.target.name() else "SoftMax"
    return ctx.b.out(t, [x], axis=dim)


def _pool_pads(ctx, x, padding, n):
    return list(padding) * (n if len(padding) == 1 else 1)


def _pool_window(ctx, x, args):
    """(spatial rank, kernel, strides, pads) of a pooling call; one-element lists repeat."""
    n = ctx.rank(x) - 2
    k = list(args["kernel_size"]) * (n if len(args["kernel_size"]) == 1 else 1)
    s = list(args.get("stride") or k)
    s = s * (n if len(s) == 1 else 1)
    return n, k, s, _pool_pads(ctx, x, args.get("padding", [0]), n)


@aten("max_pool2d_with_indices", "max_pool2d", "max_pool1d", "max_pool3d_with_indices")
def _max_pool(ctx, node, args):
    x = ctx.get(args["self"])
    n, k, s, p = _pool_window(ctx, x, args)
    d = list(args.get("dilation") or [1]) * (n if len(args.get("dilation") or [1]) == 1 else 1)
    pool = ctx.b.op("MaxPool", [x], kernel=k, strides=s, pads_begin=p, pads_end=p, dilations=d,
                    rounding_type="ceil_torch" if args.get("ceil_mode") else "floor", index_element_type=np.int64,
                    axis=2)
    return tuple(pool.outputs) if "indices" in node.target.name() else pool.outputs[0]


@aten("avg_pool2d", "avg_pool1d", "avg_pool3d")
def _avg_pool(ctx, node, args):
    x = ctx.get(args["self"])
    n, k, s, p = _pool_window(ctx, x, args)
    if args.get("divisor_override"):
        raise ConversionError("avg_pool with divisor_override is not supported")
    return ctx.b.out("AvgPool", [x], kernel=k, strides=s, pads_begin=p, pads_end=p,
                     exclude_pad=not args.get("count_include_pad", True),
                     rounding_type="ceil_torch" if args.get("ceil_mode") else "floor")


@aten("_adaptive_avg_pool2d", "adaptive_avg_pool2d", "adaptive_avg_pool1d", "_adaptive_avg_pool3d")
def _adaptive_avg(ctx, node, args):
    x = ctx.get(node.args[0])
    return ctx.b.out("AdaptiveAvgPool", [x, ctx.i64(list(node.args[1]))])


@aten("adaptive_max_pool2d", "adaptive_max_pool1d")
def _adaptive_max(ctx, node, args):
    x = ctx.get(node.args[0])
    # i32 indices (OpenVINO's CPU plugin has no i64 AdaptiveMaxPool), widened to torch's i64
    op = ctx.b.op("AdaptiveMaxPool", [x, ctx.i64(list(node.args[1]))], index_element_type=np.int32)
    return op.outputs[0], ctx.b.out("Convert", [op.outputs[1]], destination_type=np.dtype(np.int64))


def _resize(mode):
    def convert(ctx: FxContext, node, args):
        x = ctx.get(node.args[0])
        size, scales = args.get("output_size"), args.get("scale_factors") or args.get("scales")
        ax = list(range(2, ctx.rank(x)))
        align = bool(args.get("align_corners"))
        coord = "align_corners" if align else ("asymmetric" if mode == "nearest" else "pytorch_half_pixel")
        attrs = dict(mode=mode, coordinate_transformation_mode=coord, nearest_mode="floor")
        if size is not None:
            sizes = ctx.shape_tensor(size)
            return ctx.b.out("Interpolate", [x, sizes, ctx.i64(ax)], shape_calculation_mode="sizes", **attrs)
        sc = [float(v) for v in scales] * (len(ax) if len(scales) == 1 else 1)
        return ctx.b.out("Interpolate", [x, ctx.const(np.array(sc, np.float32)), ctx.i64(ax)],
                         shape_calculation_mode="scales", **attrs)
    return convert


aten("upsample_nearest2d", "upsample_nearest1d", "upsample_nearest3d", "_upsample_nearest_exact2d")(_resize("nearest"))
aten("upsample_bilinear2d", "upsample_linear1d", "upsample_trilinear3d")(_resize("linear_onnx"))
aten("upsample_bicubic2d")(_resize("cubic"))


@aten("embedding")
def _embedding(ctx, node, args):
    w, idx = ctx.get(args["weight"]), ctx.get(args["indices"])
    return ctx.b.out("Gather", [w, idx, ctx.i64(0)], batch_dims=0)


@aten("_scaled_dot_product_flash_attention_for_cpu", "scaled_dot_product_attention")
def _sdpa(ctx, node, args):
    q, k, v = (ctx.get(args[n]) for n in ("query", "key", "value"))
    mask = ctx.get(args.get("attn_mask"))
    dt = ctx.dtype(q)
    d = ctx.shape(q)[-1]
    scale = args.get("scale") or 1.0 / np.sqrt(d)
    s = ctx.b.out("MatMul", [q, k], transpose_b=True)
    s = ctx.b.out("Multiply", [s, ctx.const(scale, dt)])
    if args.get("is_causal"):
        lq, lk = ctx.shape(q)[-2], ctx.shape(k)[-2]
        if lq is None or lk is None:
            raise ConversionError("causal attention needs static sequence lengths")
        causal = np.triu(np.full((lq, lk), -np.inf, np.float32), 1)
        s = ctx.b.out("Add", [s, ctx.const(causal, dt)])
    if mask is not None:
        if ctx.dtype(mask) == np.bool_:
            mask = ctx.b.out("Select", [mask, ctx.const(0.0, dt), ctx.const(-np.inf, dt)])
        s = ctx.b.out("Add", [s, mask])
    out = ctx.b.out("MatMul", [ctx.b.out("SoftMax", [s], axis=-1), v])
    return (out, None) if "flash" in node.target.name() else out


def _masked_softmax(ctx, scores, mask, mask_type):
    """torch's masked softmax over the last axis of (B, H, L, S) scores: a non-zero mask entry
    removes a key; rows with every key removed give zeros (not NaN). mask_type 1 is a (B, S)
    key-padding mask; others broadcast against the scores."""
    dt = ctx.dtype(scores)
    if mask is None:
        return ctx.b.out("SoftMax", [scores], axis=-1)
    if ctx.dtype(mask) != np.bool_:
        mask = ctx.b.out("NotEqual", [mask, ctx.const(0, ctx.dtype(mask))])
    if mask_type == 1:
        mask = ctx.b.out("Unsqueeze", [mask, ctx.i64([1, 2])])
    p = ctx.b.out("SoftMax", [ctx.b.out("Select", [mask, ctx.const(-np.inf, dt), scores])], axis=-1)
    return ctx.b.out("Select", [mask, ctx.const(0.0, dt), p])


def _native_mha(ctx, q_in, k_in, v_in, e, h, w_qkv, b_qkv, w_out, b_out, mask, mask_type):
    """(output, attention probabilities (B, H, L, S)) of torch's fused multi-head attention."""
    dt = ctx.dtype(q_in)
    d = e // h

    def project(x, i):
        w = ctx.b.out("StridedSlice", [w_qkv, ctx.i64([i * e]), ctx.i64([(i + 1) * e]), ctx.i64([1])],
                      begin_mask=[0], end_mask=[0])
        b = ctx.b.out("StridedSlice", [b_qkv, ctx.i64([i * e]), ctx.i64([(i + 1) * e]), ctx.i64([1])],
                      begin_mask=[0], end_mask=[0])
        y = ctx.b.out("Add", [ctx.b.out("MatMul", [x, w], transpose_b=True), b])
        y = ctx.b.out("Reshape", [y, ctx.i64([0, 0, h, d])], special_zero=True)
        return ctx.b.out("Transpose", [y, ctx.i64([0, 2, 1, 3])])

    q, k, v = project(q_in, 0), project(k_in, 1), project(v_in, 2)
    q = ctx.b.out("Multiply", [q, ctx.const(1.0 / np.sqrt(d), dt)])
    probs = _masked_softmax(ctx, ctx.b.out("MatMul", [q, k], transpose_b=True), mask, mask_type)
    y = ctx.b.out("Transpose", [ctx.b.out("MatMul", [probs, v]), ctx.i64([0, 2, 1, 3])])
    y = ctx.b.out("Reshape", [y, ctx.i64([0, 0, e])], special_zero=True)
    return ctx.b.out("Add", [ctx.b.out("MatMul", [y, w_out], transpose_b=True), b_out]), probs


@aten("_native_multi_head_attention")
def _native_multi_head_attention(ctx, node, args):
    g = ctx.get
    out, probs = _native_mha(ctx, g(args["query"]), g(args["key"]), g(args["value"]), args["embed_dim"],
                             args["num_head"], g(args["qkv_weight"]), g(args["qkv_bias"]), g(args["proj_weight"]),
                             g(args["proj_bias"]), g(args.get("mask")), args.get("mask_type"))
    if not args.get("need_weights", True):
        return (out, None)
    if args.get("average_attn_weights", True):
        probs = ctx.b.out("ReduceMean", [probs, ctx.i64([1])], keep_dims=False)
    return (out, probs)


@aten("_transformer_encoder_layer_fwd")
def _transformer_encoder_layer(ctx, node, args):
    """The fused nn.TransformerEncoderLayer of torch's inference fast path (what Dynamo captures
    under no_grad): attention and feed-forward blocks with residuals, pre- or post-norm."""
    g = ctx.get
    e, eps, norm_first = args["embed_dim"], float(args["eps"]), bool(args["norm_first"])

    def norm(x, i):
        y = ctx.b.out("MVN", [x, ctx.i64([-1])], normalize_variance=True, eps=eps, eps_mode="inside_sqrt")
        return ctx.b.out("Add", [ctx.b.out("Multiply", [y, g(args[f"norm_weight_{i}"])]), g(args[f"norm_bias_{i}"])])

    src = g(args["src"])
    x = norm(src, 1) if norm_first else src
    x, _ = _native_mha(ctx, x, x, x, e, args["num_heads"], g(args["qkv_weight"]), g(args["qkv_bias"]),
                       g(args["proj_weight"]), g(args["proj_bias"]), g(args.get("mask")), args.get("mask_type"))
    x = ctx.b.out("Add", [x, src])
    if not norm_first:
        x = norm(x, 1)
    res = x
    if norm_first:
        x = norm(x, 2)
    x = ctx.b.out("Add", [ctx.b.out("MatMul", [x, g(args["ffn_weight_1"])], transpose_b=True), g(args["ffn_bias_1"])])
    x = ctx.b.out("Gelu", [x], approximation_mode="erf") if args["use_gelu"] else ctx.b.out("ReLU", [x])
    x = ctx.b.out("Add", [ctx.b.out("MatMul", [x, g(args["ffn_weight_2"])], transpose_b=True), g(args["ffn_bias_2"])])
    x = ctx.b.out("Add", [x, res])
    return norm(x, 2) if not norm_first else x


# --- shapes and data movement ------------------------------------------------------------------------

@aten("view", "_unsafe_view", "reshape", "view_copy")
def _view(ctx, node, args):
    x = ctx.get(node.args[0])
    return ctx.b.out("Reshape", [x, ctx.shape_tensor(ctx.get(node.args[1]))], special_zero=False)


@aten("permute")
def _permute(ctx, node, args):
    x = ctx.get(node.args[0])
    return ctx.b.out("Transpose", [x, ctx.i64(_dims(ctx, x, list(node.args[1])))])


@aten("transpose", "t")
def _transpose(ctx, node, args):
    x = ctx.get(node.args[0])
    r = ctx.rank(x)
    if len(node.args) < 3:
        d0, d1 = (0, 1) if r == 2 else (0, 0)
    else:
        d0, d1 = _dims(ctx, x, [node.args[1], node.args[2]])
    perm = list(range(r))
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return ctx.b.out("Transpose", [x, ctx.i64(perm)])


@aten("expand")
def _expand(ctx, node, args):
    x = ctx.get(node.args[0])
    sizes = list(ctx.get(node.args[1]))
    xs = ctx.shape(x)
    off = len(sizes) - len(xs)
    fixed = []
    for i, s in enumerate(sizes):
        if isinstance(s, int) and s == -1:
            s = xs[i - off]
            if s is None:
                s = ctx.b.out("Gather", [ctx.b.out("ShapeOf", [x]), ctx.i64(i - off), ctx.i64(0)])
        fixed.append(s)
    return ctx.b.out("Broadcast", [x, ctx.shape_tensor(fixed)], mode="bidirectional")


@aten("squeeze", "squeeze.dim", "squeeze.dims")
def _squeeze(ctx, node, args):
    x = ctx.get(node.args[0])
    xs = ctx.shape(x)
    dims = _dims(ctx, x, node.args[1]) if len(node.args) > 1 else [i for i, d in enumerate(xs) if d == 1]
    dims = [d for d in dims if xs[d] == 1]
    return ctx.b.out("Squeeze", [x, ctx.i64(dims)]) if dims else x


@aten("unsqueeze")
def _unsqueeze(ctx, node, args):
    x = ctx.get(node.args[0])
    d = node.args[1]
    d = d + ctx.rank(x) + 1 if d < 0 else d
    return ctx.b.out("Unsqueeze", [x, ctx.i64([d])])


@aten("cat", "concat")
def _cat(ctx, node, args):
    xs = [ctx.get(v) for v in node.args[0]]
    xs = [x for x in xs if not (ctx.rank(x) == 1 and ctx.shape(x)[0] == 0)]  # torch allows empty 1-D ones
    dim = node.args[1] if len(node.args) > 1 else 0
    dt = ctx.dtype(xs[0])
    xs = [ctx.tensor(x, dt) for x in xs]
    return ctx.b.out("Concat", xs, axis=_dims(ctx, xs[0], dim)[0])


@aten("stack")
def _stack(ctx, node, args):
    xs = [ctx.get(v) for v in node.args[0]]
    dim = node.args[1] if len(node.args) > 1 else 0
    d = dim + ctx.rank(xs[0]) + 1 if dim < 0 else dim
    return ctx.b.out("Concat", [ctx.b.out("Unsqueeze", [x, ctx.i64([d])]) for x in xs], axis=d)


@aten("split_with_sizes", "split", "split.Tensor")
def _split(ctx, node, args):
    x = ctx.get(node.args[0])
    sizes = node.args[1]
    dim = _dims(ctx, x, node.args[2] if len(node.args) > 2 else 0)[0]
    if isinstance(sizes, int):
        n = ctx.shape(x)[dim]
        sizes = [sizes] * (n // sizes) + ([n % sizes] if n % sizes else [])
    op = ctx.b.op("VariadicSplit", [x, ctx.i64(dim), ctx.i64(list(sizes))])
    return tuple(op.outputs)


@aten("chunk")
def _chunk(ctx, node, args):
    x = ctx.get(node.args[0])
    dim = _dims(ctx, x, node.args[2] if len(node.args) > 2 else 0)[0]
    n = ctx.shape(x)[dim]
    part = -(-n // node.args[1])
    sizes = [part] * (n // part) + ([n % part] if n % part else [])
    return tuple(ctx.b.op("VariadicSplit", [x, ctx.i64(dim), ctx.i64(sizes)]).outputs)


@aten("unbind")
def _unbind(ctx, node, args):
    x = ctx.get(node.args[0])
    dim = _dims(ctx, x, node.args[1] if len(node.args) > 1 else 0)[0]
    n = ctx.shape(x)[dim]
    parts = ctx.b.op("Split", [x, ctx.i64(dim)], num_splits=n).outputs
    return tuple(ctx.b.out("Squeeze", [p, ctx.i64([dim])]) for p in parts)


I64_MAX = np.iinfo(np.int64).max


@aten("slice")
def _slice(ctx, node, args):
    x = ctx.get(node.args[0])
    dim = _dims(ctx, x, args.get("dim", 0))[0]
    start, end, step = (ctx.get(args.get(k)) for k in ("start", "end", "step"))
    start = 0 if start is None else start
    end = I64_MAX if end is None else end
    step = 1 if step is None else step
    if isinstance(start, int) and isinstance(end, int) and start == 0 and end >= I64_MAX and step == 1:
        return x
    return ctx.b.out("Slice", [x, ctx.shape_tensor([start]), ctx.shape_tensor([min(end, I64_MAX) if isinstance(end, int)
                                                                                else end]),
                               ctx.i64([step]), ctx.i64([dim])])


@aten("select")
def _select(ctx, node, args):
    x = ctx.get(node.args[0])
    dim = _dims(ctx, x, node.args[1])[0]
    return ctx.b.out("Gather", [x, ctx.tensor(ctx.get(node.args[2]), np.int64), ctx.i64(dim)], batch_dims=0)


@aten("index_select")
def _index_select(ctx, node, args):
    x = ctx.get(node.args[0])
    dim = _dims(ctx, x, node.args[1])[0]
    return ctx.b.out("Gather", [x, ctx.get(node.args[2]), ctx.i64(dim)], batch_dims=0)


@aten("index")
def _index(ctx, node, args):
    """Advanced indexing: one index tensor is a Gather on its dim; several (broadcast together)
    a GatherND on the indexed dims brought to the front, the result's dims placed as torch
    places them (where the indexed dims were, when those are adjacent, else first)."""
    x = ctx.get(node.args[0])
    idx = list(node.args[1])
    used = [i for i, v in enumerate(idx) if v is not None]
    tensors = [ctx.get(idx[i]) for i in used]
    if any(ctx.dtype(t) == np.bool_ for t in tensors):
        raise ConversionError("indexing with a boolean mask (data-dependent shape) is not supported")
    if len(used) == 1:
        return ctx.b.out("Gather", [x, tensors[0], ctx.i64(used[0])], batch_dims=0)
    r = ctx.rank(x)
    shape_x = ctx.b.out("ShapeOf", [x])
    norm = []
    for i, t in zip(used, tensors):
        t = ctx.tensor(t, np.int64)
        d = ctx.shape(x)[i]
        dim = ctx.const(np.int64(d)) if d is not None else ctx.b.out("Gather", [shape_x, ctx.i64(i), ctx.i64(0)])
        norm.append(ctx.b.out("Select", [ctx.b.out("Less", [t, ctx.const(np.int64(0))]),
                                         ctx.b.out("Add", [t, dim]), t]))
    zeros = [ctx.b.out("Multiply", [t, ctx.const(np.int64(0))]) for t in norm]
    common = zeros[0]
    for z in zeros[1:]:
        common = ctx.b.out("Add", [common, z])
    bshape = ctx.b.out("ShapeOf", [common])
    nb = ctx.rank(common)
    stacked = ctx.b.out("Concat", [ctx.b.out("Unsqueeze", [ctx.b.out("Broadcast", [t, bshape]), ctx.i64([-1])])
                                   for t in norm], axis=-1)
    others = [i for i in range(r) if i not in used]
    perm = used + others
    xt = x if perm == list(range(r)) else ctx.b.out("Transpose", [x, ctx.i64(perm)])
    y = ctx.b.out("GatherND", [xt, stacked], batch_dims=0)
    k = used[0]
    if used == list(range(k, k + len(used))) and k > 0:  # adjacent: the new dims go where they were
        perm2 = list(range(nb, nb + k)) + list(range(nb)) + list(range(nb + k, ctx.rank(y)))
        y = ctx.b.out("Transpose", [y, ctx.i64(perm2)])
    return y


@aten("gather")
def _gather(ctx, node, args):
    x = ctx.get(node.args[0])
    dim = _dims(ctx, x, node.args[1])[0]
    return ctx.b.out("GatherElements", [x, ctx.get(node.args[2])], axis=dim)


@aten("flip")
def _flip(ctx, node, args):
    x = ctx.get(node.args[0])
    return ctx.b.out("Reverse", [x, ctx.i64(_dims(ctx, x, list(node.args[1])))], mode="index")


@aten("roll")
def _roll(ctx, node, args):
    x = ctx.get(node.args[0])
    shifts = list(node.args[1]) if isinstance(node.args[1], list | tuple) else [node.args[1]]
    dims = list(node.args[2]) if len(node.args) > 2 and node.args[2] else None
    if dims is None:
        flat = ctx.b.out("Reshape", [x, ctx.i64([-1])], special_zero=False)
        r = ctx.b.out("Roll", [flat, ctx.i64(shifts), ctx.i64([0])])
        return ctx.b.out("Reshape", [r, ctx.b.out("ShapeOf", [x])], special_zero=False)
    return ctx.b.out("Roll", [x, ctx.i64(shifts), ctx.i64(_dims(ctx, x, dims))])


@aten("repeat")
def _repeat(ctx, node, args):
    x = ctx.get(node.args[0])
    return ctx.b.out("Tile", [x, ctx.shape_tensor(ctx.get(node.args[1]))])


@aten("constant_pad_nd")
def _pad(ctx, node, args):
    x = ctx.get(node.args[0])
    pad = list(node.args[1])
    value = node.args[2] if len(node.args) > 2 else 0
    r = ctx.rank(x)
    pb, pe = [0] * r, [0] * r
    for i in range(len(pad) // 2):
        pb[r - 1 - i], pe[r - 1 - i] = pad[2 * i], pad[2 * i + 1]
    return ctx.b.out("Pad", [x, ctx.i64(pb), ctx.i64(pe), ctx.const(value, ctx.dtype(x))], pad_mode="constant")


@aten("reflection_pad2d", "reflection_pad1d", "replication_pad2d", "replication_pad1d")
def _mode_pad(ctx, node, args):
    x = ctx.get(node.args[0])
    pad = list(node.args[1])
    r = ctx.rank(x)
    pb, pe = [0] * r, [0] * r
    for i in range(len(pad) // 2):
        pb[r - 1 - i], pe[r - 1 - i] = pad[2 * i], pad[2 * i + 1]
    mode = "reflect" if "reflection" in node.target.name() else "edge"
    return ctx.b.out("Pad", [x, ctx.i64(pb), ctx.i64(pe)], pad_mode=mode)


@aten("clone", "alias", "contiguous", "detach", "lift_fresh_copy", "dropout", "_assert_tensor_metadata",
      "copy", "alias_copy", "native_dropout")
def _identity(ctx, node, args):
    x = ctx.get(node.args[0])
    if "native_dropout" in node.target.name():
        return (x, None)
    if "copy.default" in str(node.target) and len(node.args) > 1:
        return ctx.get(node.args[1])
    return x


@aten("_to_copy", "to", "type_as")
def _to_copy(ctx, node, args):
    x = ctx.get(node.args[0])
    dt = args.get("dtype")
    if dt is None:
        return x
    want = torch_dtype_to_np(dt)
    return x if ctx.dtype(x) == want else ctx.b.out("Convert", [x], destination_type=want)


def _dtype_of(node, args, default=np.float32) -> np.dtype:
    dt = args.get("dtype")
    if dt is not None:
        return torch_dtype_to_np(dt)
    m = _meta_dtype(node)
    return m if m is not None else np.dtype(default)


@aten("full", "zeros", "ones", "new_zeros", "new_ones", "new_full", "empty", "new_empty")
def _full(ctx, node, args):
    name = node.target.name()
    size = ctx.get(args.get("size"))
    if "zeros" in name or "empty" in name:
        value = 0
    elif "ones" in name:
        value = 1
    else:
        value = ctx.get(args.get("fill_value"))
    dt = _dtype_of(node, args)
    return ctx.b.out("Broadcast", [ctx.tensor(value, dt), ctx.shape_tensor(list(size))], mode="numpy")


@aten("full_like", "zeros_like", "ones_like", "empty_like")
def _full_like(ctx, node, args):
    x = ctx.get(node.args[0])
    name = node.target.name()
    value = 0 if ("zeros" in name or "empty" in name) else 1 if "ones" in name else ctx.get(node.args[1])
    dt = _dtype_of(node, args, ctx.dtype(x))
    return ctx.b.out("Broadcast", [ctx.tensor(value, dt), ctx.b.out("ShapeOf", [x])], mode="numpy")


@aten("fill")
def _fill(ctx, node, args):
    x = ctx.get(node.args[0])
    return ctx.b.out("Broadcast", [ctx.tensor(ctx.get(node.args[1]), ctx.dtype(x)), ctx.b.out("ShapeOf", [x])])


@aten("scalar_tensor")
def _scalar_tensor(ctx, node, args):
    return ctx.tensor(ctx.get(node.args[0]), _dtype_of(node, args))


@aten("arange", "arange.start", "arange.start_step")
def _arange(ctx, node, args):
    a = [ctx.get(v) for v in node.args]
    if len(a) == 1:
        start, end, step = 0, a[0], 1
    else:
        start, end, step = (a + [1])[:3]
    dt = _dtype_of(node, args, np.int64)
    cdt = np.float64 if dt.kind == "f" else np.int64
    return ctx.b.out("Range", [ctx.tensor(start, cdt), ctx.tensor(end, cdt), ctx.tensor(step, cdt)], output_type=dt)


@aten("tril", "triu")
def _tril(ctx, node, args):
    x = ctx.get(node.args[0])
    k = node.args[1] if len(node.args) > 1 else 0
    n, m = ctx.shape(x)[-2:]
    if n is None or m is None:
        raise ConversionError("tril/triu need static last two dimensions")
    i, j = np.arange(n)[:, None], np.arange(m)[None, :]
    keep = (j - i <= k) if "tril" in node.target.name() else (j - i >= k)
    return ctx.b.out("Select", [ctx.const(keep), x, ctx.const(0, ctx.dtype(x))])


@aten("sym_size")
def _sym_size(ctx, node, args):
    x = ctx.get(node.args[0])
    d = _dims(ctx, x, node.args[1])[0]
    if ctx.shape(x)[d] is not None:
        return ctx.shape(x)[d]
    return ctx.b.out("Gather", [ctx.b.out("ShapeOf", [x]), ctx.i64(d), ctx.i64(0)])


@aten("sym_numel")
def _sym_numel(ctx, node, args):
    x = ctx.get(node.args[0])
    return ctx.b.out("ReduceProd", [ctx.b.out("ShapeOf", [x]), ctx.i64([0])], keep_dims=False)


def _sym_arith(ov_type):
    def convert(ctx: FxContext, node, args):
        a, b = ctx.get(node.args[0]), ctx.get(node.args[1])
        if isinstance(a, int) and isinstance(b, int):
            return {"Add": a + b, "Subtract": a - b, "Multiply": a * b, "Divide": a // b if b else 0}[ov_type]
        return ctx.b.out(ov_type, [ctx.tensor(a, np.int64), ctx.tensor(b, np.int64)],
                         **({"m_pythondiv": True} if ov_type == "Divide" else {}))
    return convert


for _name, _t in (("add", "Add"), ("mul", "Multiply"), ("sub", "Subtract"), ("floordiv", "Divide")):
    ATEN["operator." + _name] = _sym_arith(_t)


_COMPARE = {"eq": ("Equal", np.equal), "ne": ("NotEqual", np.not_equal), "lt": ("Less", np.less),
            "le": ("LessEqual", np.less_equal), "gt": ("Greater", np.greater),
            "ge": ("GreaterEqual", np.greater_equal)}


def _sym_compare(name):
    ov_type, fn = _COMPARE[name]

    def convert(ctx: FxContext, node, args):
        a, b = ctx.get(node.args[0]), ctx.get(node.args[1])
        if not isinstance(a, SSAValue) and not isinstance(b, SSAValue):
            return bool(fn(a, b))
        return ctx.b.out(ov_type, [ctx.tensor(a, np.int64), ctx.tensor(b, np.int64)])
    return convert


for _name in _COMPARE:
    ATEN["operator." + _name] = _sym_compare(_name)


@aten("_local_scalar_dense", "item")
def _item(ctx, node, args):
    """Tensor -> scalar: a Python number when the value is known, else the 0-d tensor itself
    (which the symbolic-size arithmetic above accepts)."""
    x = ctx.get(node.args[0])
    known = fully_known(x)
    if known is not None:
        v = np.asarray(known).reshape(-1)[0]
        return v.item()
    return ctx.b.out("Reshape", [x, ctx.i64([])], special_zero=False)


@aten("operator.getitem")
def _getitem(ctx, node, args):
    seq = ctx.get(node.args[0])
    return seq[node.args[1]]


@aten("_assert_async", "_assert_scalar", "sym_constrain_range_for_size", "_functional_assert_async",
      "_assert_tensor_metadata", "sym_constrain_range")
def _assert(ctx, node, args):
    return None


@aten("lstm", "gru")
def _rnn_not_decomposed(ctx, node, args):
    raise ConversionError("recurrent layers must be decomposed by torch.export.run_decompositions")


# --- scatters, scans, selections and small math (decomposed) --------------------------------------

SCATTER_REDUCE = {"sum": "sum", "add": "sum", "prod": "prod", "multiply": "prod", "mean": "mean", "amax": "max",
                  "amin": "min"}


@aten("scatter.src", "scatter.value", "scatter.reduce", "scatter.value_reduce", "scatter_add", "scatter_reduce.two")
def _scatter(ctx, node, args):
    x = ctx.get(node.args[0])
    d = _dims(ctx, x, args["dim"])[0]
    index = ctx.get(args["index"])
    src = args.get("src", args.get("value"))
    name = node.target.name()
    reduce = "sum" if "scatter_add" in name else args.get("reduce")
    src = ctx.tensor(ctx.get(src), ctx.dtype(x))
    ishape, sshape = ctx.shape(index), ctx.shape(src)
    if len(sshape) == 0:
        src = ctx.b.out("Broadcast", [src, ctx.b.out("ShapeOf", [index], output_type=np.int64)], mode="numpy")
    elif sshape != ishape:  # only the index-shaped corner of src is used
        if None in ishape:
            raise ConversionError("scatter with a larger src needs a static index shape")
        src = ctx.b.out("Slice", [src, ctx.i64([0] * len(ishape)), ctx.i64(list(ishape)), ctx.i64([1] * len(ishape)),
                                  ctx.i64(list(range(len(ishape))))])
    reduction = "none" if reduce is None else SCATTER_REDUCE.get(reduce)
    if reduction is None:
        raise ConversionError(f"scatter reduction {reduce!r} is not supported")
    return ctx.b.out("ScatterElementsUpdate", [x, index, src, ctx.i64(d)], reduction=reduction,
                     use_init_val=bool(args.get("include_self", True)))


@aten("slice_scatter")
def _slice_scatter(ctx, node, args):
    x, src = ctx.get(node.args[0]), ctx.get(args["src"])
    d = _dims(ctx, x, args.get("dim", 0))[0]
    n = ctx.shape(x)[d]
    sshape = ctx.shape(src)
    if n is None or None in sshape:
        raise ConversionError("slice_scatter needs static shapes")
    start, end, step = args.get("start") or 0, args.get("end"), args.get("step", 1) or 1
    start = start + n if start < 0 else start
    positions = np.arange(start, start + step * sshape[d], step)
    shape = [1] * len(sshape)
    shape[d] = sshape[d]
    idx = ctx.b.out("Broadcast", [ctx.i64(positions.reshape(shape)), ctx.i64(list(sshape))], mode="numpy")
    del end  # the positions follow from start, step and src's length
    return ctx.b.out("ScatterElementsUpdate", [x, idx, src, ctx.i64(d)], reduction="none", use_init_val=True)


@aten("index_put")
def _index_put(ctx, node, args):
    """x[i0, i1, ...] = values (accumulating if asked): integer index tensors on any dimensions
    (skipped ones are None), or one boolean mask with a single value (a Select)."""
    x = ctx.get(node.args[0])
    indices = [None if i is None else ctx.get(i) for i in args["indices"]]
    values = ctx.tensor(ctx.get(args["values"]), ctx.dtype(x))
    accumulate = bool(args.get("accumulate", False))
    given = [k for k, i in enumerate(indices) if i is not None]
    if any(ctx.dtype(indices[k]) == np.bool_ for k in given):
        return _masked_put(ctx, x, indices, given, values, accumulate)
    r = ctx.rank(x)
    indices = [ctx.b.out("Convert", [indices[k]], destination_type=np.dtype(np.int64))
               if ctx.dtype(indices[k]) != np.int64 else indices[k] for k in given]
    if given == list(range(len(given))):  # the leading dimensions
        return _put_leading(ctx, x, indices, values, accumulate, None)
    xshape = ctx.shape(x)
    shapes = [ctx.shape(i) for i in indices]
    if None in xshape or any(None in sh for sh in shapes):
        raise ConversionError("index_put on inner dimensions needs static shapes")
    idx_shape = list(np.broadcast_shapes(*shapes))
    others = [d for d in range(r) if d not in given]
    perm = given + others
    contiguous = given == list(range(given[0], given[-1] + 1))
    if contiguous:  # PyTorch keeps the index dimensions where the indexed ones were
        p, q = given[0], len(idx_shape)
        torch_shape = [xshape[d] for d in range(p)] + idx_shape + [xshape[d] for d in range(given[-1] + 1, r)]
        to_ours = list(range(p, p + q)) + list(range(p)) + list(range(p + q, len(torch_shape)))
    else:  # ... or first, when they are apart
        torch_shape = idx_shape + [xshape[d] for d in others]
        to_ours = list(range(len(torch_shape)))
    values = ctx.b.out("Broadcast", [values, ctx.i64(torch_shape)], mode="numpy")
    if to_ours != sorted(to_ours):
        values = ctx.b.out("Transpose", [values, ctx.i64(to_ours)])
    xt = ctx.b.out("Transpose", [x, ctx.i64(perm)])
    y = _put_leading(ctx, xt, indices, values, accumulate, idx_shape)
    return ctx.b.out("Transpose", [y, ctx.i64(list(np.argsort(perm)))])


def _put_leading(ctx, x, indices, values, accumulate: bool, idx_shape):
    """ScatterNDUpdate of values at integer indices of x's leading dimensions."""
    if len(indices) > 1:
        if idx_shape is not None:
            shape = ctx.i64(idx_shape)
        else:
            zero = ctx.i64(0)
            common = indices[0]  # a tensor of the indices' broadcast shape
            for i in indices[1:]:
                common = ctx.b.out("Add", [ctx.b.out("Multiply", [common, zero]), ctx.b.out("Multiply", [i, zero])])
            shape = ctx.b.out("ShapeOf", [common], output_type=np.int64)
        indices = [ctx.b.out("Broadcast", [i, shape], mode="numpy") for i in indices]
    stacked = ctx.b.out("Concat", [ctx.b.out("Unsqueeze", [i, ctx.i64(-1)]) for i in indices], axis=-1) \
        if len(indices) > 1 else ctx.b.out("Unsqueeze", [indices[0], ctx.i64(-1)])
    # values broadcast to index shape + the remaining dimensions of x
    rest = ctx.b.out("Slice", [ctx.b.out("ShapeOf", [x], output_type=np.int64), ctx.i64([len(indices)]),
                               ctx.i64([ctx.rank(x)]), ctx.i64([1]), ctx.i64([0])])
    target = ctx.b.out("Concat", [ctx.b.out("Slice", [ctx.b.out("ShapeOf", [stacked], output_type=np.int64),
                                                      ctx.i64([0]), ctx.i64([-1]), ctx.i64([1]), ctx.i64([0])]),
                                  rest], axis=0)
    values = ctx.b.out("Broadcast", [values, target], mode="numpy")
    return ctx.b.out("ScatterNDUpdate", [x, stacked, values], reduction="sum" if accumulate else "none")


def _masked_put(ctx, x, indices, given, values, accumulate: bool):
    """x[mask] = v for one boolean mask and a single value: Select(mask, v, x)."""
    if len(given) != 1:
        raise ConversionError("index_put mixing a boolean mask with other indices is not supported")
    vshape = ctx.shape(values)
    if any(d != 1 for d in vshape):
        raise ConversionError("assigning a tensor through a boolean mask (data-dependent positions) is not supported")
    k, mask = given[0], indices[given[0]]
    mshape = ctx.shape(mask)
    if None in mshape:
        raise ConversionError("a boolean mask needs a static shape")
    r = ctx.rank(x)
    mask = ctx.b.out("Reshape", [mask, ctx.i64([1] * k + list(mshape) + [1] * (r - k - len(mshape)))],
                     special_zero=False)
    v = ctx.b.out("Reshape", [values, ctx.i64([])], special_zero=False) if vshape else values
    return ctx.b.out("Select", [mask, ctx.b.out("Add", [x, v]) if accumulate else v, x])


@aten("cumprod")
def _cumprod(ctx, node, args):
    from compiler.frontends.scans import running_product

    x = ctx.get(node.args[0])
    try:
        return running_product(ctx, x, _dims(ctx, x, args["dim"])[0])
    except ValueError as e:
        raise ConversionError(str(e)) from None


@aten("logcumsumexp")
def _logcumsumexp(ctx, node, args):
    from compiler.frontends.scans import running_logsumexp

    x = ctx.get(node.args[0])
    return running_logsumexp(ctx, x, _dims(ctx, x, args["dim"])[0])


@aten("trunc")
def _trunc(ctx, node, args):
    x = ctx.get(node.args[0])
    neg = ctx.b.out("Less", [x, ctx.const(0, ctx.dtype(x))])
    return ctx.b.out("Select", [neg, ctx.b.out("Ceiling", [x]), ctx.b.out("Floor", [x])])


@aten("hypot")
def _hypot(ctx, node, args):
    a, b = ctx.tensor(ctx.get(node.args[0])), ctx.tensor(ctx.get(node.args[1]))
    return ctx.b.out("Sqrt", [ctx.b.out("Add", [ctx.b.out("Multiply", [a, a]), ctx.b.out("Multiply", [b, b])])])


@aten("atan2")
def _atan2(ctx, node, args):
    """atan(y / x) moved to the quadrant of (x, y); atan2(0, 0) = 0."""
    y, x = ctx.tensor(ctx.get(node.args[0])), ctx.tensor(ctx.get(node.args[1]))
    b, dt = ctx.b, ctx.dtype(y)

    def c(v):
        return ctx.const(v, dt)
    base = b.out("Atan", [b.out("Divide", [y, x])])
    x_neg, y_neg = b.out("Less", [x, c(0)]), b.out("Less", [y, c(0)])
    shift = b.out("Select", [x_neg, b.out("Select", [y_neg, c(-np.pi), c(np.pi)]), c(0)])
    at_zero = b.out("Select", [b.out("Equal", [y, c(0)]), c(0), b.out("Select", [y_neg, c(-np.pi / 2), c(np.pi / 2)])])
    return b.out("Select", [b.out("Equal", [x, c(0)]), at_zero, b.out("Add", [base, shift])])


@aten("var_mean", "var_mean.correction")
def _var_mean(ctx, node, args):
    x = ctx.get(node.args[0])
    dims = _dims(ctx, x, args.get("dim"))
    keep = bool(args.get("keepdim", False))
    corr = args.get("correction")
    if corr is None:
        corr = 1 if args.get("unbiased", True) else 0
    n = int(np.prod([ctx.shape(x)[d] for d in dims]))
    ax = ctx.i64(dims)
    mean = ctx.b.out("ReduceMean", [x, ax], keep_dims=True)
    d = ctx.b.out("Subtract", [x, mean])
    var = ctx.b.out("Divide", [ctx.b.out("ReduceSum", [ctx.b.out("Multiply", [d, d]), ax], keep_dims=keep),
                               ctx.const(max(n - corr, 1), ctx.dtype(x))])
    return var, (mean if keep else ctx.b.out("Squeeze", [mean, ax]))


@aten("rrelu_with_noise_functional", "rrelu_with_noise", "rrelu")
def _rrelu(ctx, node, args):
    """In evaluation the slope is the middle of [lower, upper]."""
    if args.get("training", False):
        raise ConversionError("rrelu in training mode (random slopes) is not supported")
    x = ctx.get(node.args[0])
    slope = (args.get("lower", 1.0 / 8) + args.get("upper", 1.0 / 3)) / 2
    y = ctx.b.out("PRelu", [x, ctx.const([slope], ctx.dtype(x))])
    return (y, ctx.get(args["noise"])) if "functional" in node.target.name() else y


@aten("bucketize.Tensor")
def _bucketize(ctx, node, args):
    x, bounds = ctx.get(node.args[0]), ctx.get(args["boundaries"])
    cmp = "GreaterEqual" if args.get("right", False) else "Greater"
    hits = ctx.b.out(cmp, [ctx.b.out("Unsqueeze", [x, ctx.i64(-1)]), bounds])
    out = np.int32 if args.get("out_int32", False) else np.int64
    count = ctx.b.out("ReduceSum", [ctx.b.out("Convert", [hits], destination_type=np.dtype(np.int64)), ctx.i64([-1])],
                      keep_dims=False)
    return count if out == np.int64 else ctx.b.out("Convert", [count], destination_type=np.dtype(out))


def _kth(ctx, x, k: int, d: int, keep: bool):
    top = ctx.b.op("TopK", [x, ctx.i64(k)], axis=d, mode="min", sort="value", index_element_type=np.int64,
                   stable=True)
    vals, idx = (ctx.b.out("Gather", [o, ctx.i64([k - 1]), ctx.i64(d)], batch_dims=0) for o in top.outputs)
    if not keep:
        vals, idx = (ctx.b.out("Squeeze", [v, ctx.i64([d])]) for v in (vals, idx))
    return vals, idx


@aten("kthvalue")
def _kthvalue(ctx, node, args):
    x = ctx.get(node.args[0])
    return _kth(ctx, x, int(args["k"]), _dims(ctx, x, args.get("dim", -1))[0], bool(args.get("keepdim", False)))


@aten("median.dim", "median")
def _median(ctx, node, args):
    """The lower median (torch's)."""
    x = ctx.get(node.args[0])
    if "dim" not in args:
        x = ctx.b.out("Reshape", [x, ctx.i64([-1])], special_zero=False)
        n = ctx.shape(x)[0]
        return _kth(ctx, x, (n - 1) // 2 + 1, 0, False)[0]
    d = _dims(ctx, x, args["dim"])[0]
    n = ctx.shape(x)[d]
    if n is None:
        raise ConversionError("median needs a static dimension")
    return _kth(ctx, x, (n - 1) // 2 + 1, d, bool(args.get("keepdim", False)))


@aten("_cdist_forward")
def _cdist(ctx, node, args):
    a, b_ = ctx.get(node.args[0]), ctx.get(node.args[1])
    p = float(args.get("p", 2.0))
    diff = ctx.b.out("Subtract", [ctx.b.out("Unsqueeze", [a, ctx.i64(-2)]), ctx.b.out("Unsqueeze", [b_, ctx.i64(-3)])])
    return _p_norm(ctx, diff, [ctx.rank(diff) - 1], p, False)


def _p_norm(ctx, x, dims: list[int], p: float, keep: bool):
    ax = ctx.i64(dims)
    b = ctx.b
    if p == 2:
        return b.out("ReduceL2", [x, ax], keep_dims=keep)
    if p == 1:
        return b.out("ReduceL1", [x, ax], keep_dims=keep)
    a = b.out("Abs", [x])
    if p == float("inf"):
        return b.out("ReduceMax", [a, ax], keep_dims=keep)
    if p == float("-inf"):
        return b.out("ReduceMin", [a, ax], keep_dims=keep)
    if p == 0:
        nz = b.out("Convert", [b.out("NotEqual", [x, ctx.const(0, ctx.dtype(x))])], destination_type=ctx.dtype(x))
        return b.out("ReduceSum", [nz, ax], keep_dims=keep)
    s = b.out("ReduceSum", [b.out("Power", [a, ctx.const(p, ctx.dtype(x))]), ax], keep_dims=keep)
    return b.out("Power", [s, ctx.const(1.0 / p, ctx.dtype(x))])


@aten("grid_sampler_2d", "grid_sampler")
def _grid_sampler(ctx, node, args):
    from compiler.frontends.sampling import grid_sample_2d

    x, grid = ctx.get(node.args[0]), ctx.get(node.args[1])
    mode = ("bilinear", "nearest", "bicubic")[int(args.get("interpolation_mode", 0))]
    padding = ("zeros", "border", "reflection")[int(args.get("padding_mode", 0))]
    try:
        return grid_sample_2d(ctx, x, grid, mode, padding, bool(args.get("align_corners", False)))
    except ValueError as e:
        raise ConversionError(str(e)) from None
