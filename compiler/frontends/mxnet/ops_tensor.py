"""MXNet's element-wise, scalar, reduction and data-movement operators (apache/mxnet
src/operator/tensor/): elemwise_*/broadcast_* (and their old names _Plus, _Minus, ...),
_*_scalar, Flatten, Reshape with its special codes, transpose, Concat, SliceChannel,
slice_axis, slice, Crop, clip, expand_dims, squeeze, mean/sum/max/min/prod, Pad, Cast, and the ops
that are the identity at inference (Dropout, _copy, identity, BlockGrad)."""

from __future__ import annotations

import math

import numpy as np

from compiler.frontends.mxnet.context import MxContext, register

BINARY = {"add": "Add", "sub": "Subtract", "mul": "Multiply", "div": "Divide", "maximum": "Maximum",
          "minimum": "Minimum", "power": "Power", "mod": "FloorMod"}
COMPARE = {"equal": "Equal", "not_equal": "NotEqual", "greater": "Greater", "greater_equal": "GreaterEqual",
           "lesser": "Less", "lesser_equal": "LessEqual"}
ALIASES = {"add": ("elemwise_add", "_Plus", "_plus", "_add", "broadcast_add", "broadcast_plus"),
           "sub": ("elemwise_sub", "_Minus", "_minus", "_sub", "broadcast_sub", "broadcast_minus"),
           "mul": ("elemwise_mul", "_Mul", "_mul", "broadcast_mul"),
           "div": ("elemwise_div", "_Div", "_div", "broadcast_div"),
           "maximum": ("_maximum", "_Maximum", "broadcast_maximum"),
           "minimum": ("_minimum", "_Minimum", "broadcast_minimum"),
           "power": ("_power", "_Power", "broadcast_power"), "mod": ("_mod", "broadcast_mod")}
UNARY = {"exp": "Exp", "log": "Log", "sqrt": "Sqrt", "abs": "Abs", "negative": "Negative", "floor": "Floor",
         "ceil": "Ceiling", "sin": "Sin", "cos": "Cos", "erf": "Erf", "sign": "Sign"}


TWO_INPUT_OPS = [n for names in ALIASES.values() for n in names] + [f"{p}{k}" for k in COMPARE
                                                                   for p in ("broadcast_", "_")]


def _binary(ov_op: str):
    def convert(ctx: MxContext, node, ins):
        return [ctx.b.out(ov_op, ins[:2])]
    return convert


for _key, _names in ALIASES.items():
    register(*_names)(_binary(BINARY[_key]))


def _compare(ov_op: str):
    def convert(ctx: MxContext, node, ins):  # MXNet's comparisons give 0/1 in the input's type
        return [ctx.b.out("Convert", [ctx.b.out(ov_op, ins[:2])], destination_type=ctx.dtype(ins[0]))]
    return convert


for _key, _ov in COMPARE.items():
    register(f"broadcast_{_key}", f"_{_key}")(_compare(_ov))


def _scalar_op(ov_op: str, reverse: bool, compare: bool = False):
    def convert(ctx: MxContext, node, ins):
        x = ins[0]
        s = ctx.scalar(ctx.float(node, "scalar", 1.0), x)
        y = ctx.b.out(ov_op, [s, x] if reverse else [x, s])
        return [ctx.b.out("Convert", [y], destination_type=ctx.dtype(x)) if compare else y]
    return convert


for _name, _ov in {"plus": "Add", "minus": "Subtract", "mul": "Multiply", "div": "Divide", "power": "Power",
                   "maximum": "Maximum", "minimum": "Minimum", "mod": "FloorMod"}.items():
    register(f"_{_name}_scalar", *([f"_{_name.capitalize()}Scalar"] if _name in ("plus", "minus", "mul", "div")
                                   else []))(_scalar_op(_ov, False))
register("_rminus_scalar", "_RMinusScalar")(_scalar_op("Subtract", True))
register("_rdiv_scalar", "_RDivScalar")(_scalar_op("Divide", True))
register("_rpower_scalar")(_scalar_op("Power", True))
register("_rmod_scalar")(_scalar_op("FloorMod", True))
for _key, _ov in COMPARE.items():
    register(f"_{_key}_scalar")(_scalar_op(_ov, False, compare=True))


def _unary(ov_op: str):
    def convert(ctx: MxContext, node, ins):
        return [ctx.b.out(ov_op, ins[:1])]
    return convert


for _name, _ov in UNARY.items():
    register(_name)(_unary(_ov))


@register("square")
def _square(ctx: MxContext, node, ins):
    return [ctx.b.out("Multiply", [ins[0], ins[0]])]


@register("rsqrt")
def _rsqrt(ctx: MxContext, node, ins):
    return [ctx.b.out("Divide", [ctx.scalar(1.0, ins[0]), ctx.b.out("Sqrt", ins[:1])])]


@register("reciprocal")
def _reciprocal(ctx: MxContext, node, ins):
    return [ctx.b.out("Divide", [ctx.scalar(1.0, ins[0]), ins[0]])]


@register("add_n", "ElementWiseSum")
def _add_n(ctx: MxContext, node, ins):
    y = ins[0]
    for v in ins[1:]:
        y = ctx.b.out("Add", [y, v])
    return [y]


@register("Dropout", "_copy", "identity", "BlockGrad", "stop_gradient")
def _identity(ctx: MxContext, node, ins):
    if node.op == "Dropout" and ctx.str(node, "mode", "training") == "always":
        raise ctx.error(node, "mode 'always' drops values at inference too, which is random")
    return [ins[0]]


@register("Cast", "cast")
def _cast(ctx: MxContext, node, ins):
    name = ctx.str(node, "dtype")
    try:
        dtype = np.dtype(name)
    except TypeError as e:
        raise ctx.error(node, f"dtype {name!r} is not supported") from e
    return [ctx.b.out("Convert", ins[:1], destination_type=dtype)]


@register("clip")
def _clip(ctx: MxContext, node, ins):
    return [ctx.b.out("Clamp", ins[:1], min=ctx.float(node, "a_min"), max=ctx.float(node, "a_max"))]


@register("Flatten", "flatten")
def _flatten(ctx: MxContext, node, ins):
    x = ins[0]
    tail = ctx.shape(x)[1:]
    return [ctx.b.out("Reshape", [x, ctx.i64([0, -1 if None in tail else math.prod(tail)])], special_zero=True)]


def reshape_target(spec: list[int], dims: list[int], reverse: bool) -> list[int]:
    """MXNet's InferReshapeShape (src/operator/tensor/matrix_op-inl.h) on a static input shape:
    0 copies a dim, -1 is inferred, -2 copies all the rest, -3 merges two dims, -4 splits one
    into the next two values (one may be -1)."""
    # reverse: MXNet reverses the spec and the dims as plain lists
    src, p = (dims[::-1], spec[::-1]) if reverse else (list(dims), list(spec))
    out: list[int] = []
    i = j = 0
    infer = -1
    while i < len(p):
        d = p[i]
        if d == 0:
            if j >= len(src):
                raise ValueError(f"0 at position {i} copies a dim past the input's {len(src)}")
            out.append(src[j])
            j += 1
        elif d == -1:
            if infer >= 0:
                raise ValueError("more than one -1")
            infer = len(out)
            out.append(1)
            j += 1
        elif d == -2:
            out.extend(src[j:])
            j = len(src)
        elif d == -3:
            if j + 1 >= len(src):
                raise ValueError("-3 needs two input dims")
            out.append(src[j] * src[j + 1])
            j += 2
        elif d == -4:
            if i + 2 >= len(p) or j >= len(src):
                raise ValueError("-4 needs two values after it and an input dim")
            d0, d1, d2 = src[j], p[i + 1], p[i + 2]
            j += 1
            i += 2
            if d1 == -1 and d2 == -1:
                raise ValueError("-4 cannot split into two -1 dims")
            d1 = d0 // d2 if d1 == -1 else d1
            d2 = d0 // d1 if d2 == -1 else d2
            if d1 * d2 != d0:
                raise ValueError(f"-4 split {d1} x {d2} does not make {d0}")
            out += [d1, d2]
        elif d > 0:
            out.append(d)
            j += 1
        else:
            raise ValueError(f"unknown code {d}")
        i += 1
    if infer >= 0:
        rest = math.prod(out)
        total = math.prod(dims)
        if rest == 0 or total % rest:
            raise ValueError(f"cannot infer the -1 dim: {total} values into {out}")
        out[infer] = total // rest
    if math.prod(out) != math.prod(dims):
        raise ValueError(f"{math.prod(dims)} values do not fit shape {out[::-1] if reverse else out}")
    return out[::-1] if reverse else out


@register("Reshape", "reshape")
def _reshape(ctx: MxContext, node, ins):
    x = ins[0]
    if ctx.tuple(node, "target_shape", []):
        raise ctx.error(node, "the deprecated target_shape is not supported (use shape)")
    spec = [int(d) for d in ctx.tuple(node, "shape")]
    dims = list(ctx.static_shape(node, x))
    try:
        out = reshape_target(spec, dims, ctx.bool(node, "reverse", False))
    except ValueError as e:
        raise ctx.error(node, f"shape {spec} on input {dims}: {e}") from e
    return [ctx.b.out("Reshape", [x, ctx.i64(out)], special_zero=False)]


@register("transpose")
def _transpose(ctx: MxContext, node, ins):
    x = ins[0]
    axes = [int(a) for a in ctx.tuple(node, "axes", [])] or list(range(ctx.rank(x)))[::-1]
    return [ctx.b.out("Transpose", [x, ctx.i64([ctx.axis(node, a, ctx.rank(x)) for a in axes])])]


@register("SwapAxis", "swapaxes")
def _swap(ctx: MxContext, node, ins):
    x = ins[0]
    r = ctx.rank(x)
    a, b = ctx.axis(node, ctx.int(node, "dim1", 0), r), ctx.axis(node, ctx.int(node, "dim2", 0), r)
    perm = list(range(r))
    perm[a], perm[b] = perm[b], perm[a]
    return [ctx.b.out("Transpose", [x, ctx.i64(perm)])]


@register("Concat", "concat")
def _concat(ctx: MxContext, node, ins):
    if len(ins) == 1:
        return [ins[0]]
    return [ctx.b.out("Concat", list(ins), axis=ctx.axis(node, ctx.int(node, "dim", 1), ctx.rank(ins[0])))]


@register("SliceChannel", "split")
def _slice_channel(ctx: MxContext, node, ins):
    x = ins[0]
    n = ctx.int(node, "num_outputs")
    axis = ctx.axis(node, ctx.int(node, "axis", 1), ctx.rank(x))
    dim = ctx.shape(x)[axis]
    if dim is not None and dim % n:
        raise ctx.error(node, f"axis {axis} of size {dim} does not split into {n} equal parts")
    outs = list(ctx.b.op("Split", [x, ctx.i64(axis)], num_splits=n).outputs) if n > 1 else [x]
    if ctx.bool(node, "squeeze_axis", False):
        outs = [ctx.b.out("Squeeze", [o, ctx.i64([axis])]) for o in outs]
    return outs


@register("slice_axis")
def _slice_axis(ctx: MxContext, node, ins):
    x = ins[0]
    axis = ctx.axis(node, ctx.int(node, "axis"), ctx.rank(x))
    begin = ctx.int(node, "begin")
    end = ctx.int(node, "end", None)
    big = np.iinfo(np.int64).max
    return [ctx.b.out("Slice", [x, ctx.i64([begin]), ctx.i64([big if end is None else end]), ctx.i64([1]),
                                ctx.i64([axis])])]


@register("slice", "crop")
def _slice(ctx: MxContext, node, ins):
    x = ins[0]
    begin, end = ctx.tuple(node, "begin"), ctx.tuple(node, "end")
    step = ctx.tuple(node, "step", []) or [None] * len(begin)
    if len(end) != len(begin) or len(step) != len(begin) or len(begin) > ctx.rank(x):
        raise ctx.error(node, f"begin {begin}, end {end} and step {step} do not match the input's rank")
    big = np.iinfo(np.int64).max
    steps = [1 if s is None else s for s in step]
    if 0 in steps:
        raise ctx.error(node, "step 0")
    b = [(0 if s > 0 else -1) if v is None else v for v, s in zip(begin, steps)]
    e = [(big if s > 0 else -big) if v is None else v for v, s in zip(end, steps)]
    return [ctx.b.out("Slice", [x, ctx.i64(b), ctx.i64(e), ctx.i64(steps), ctx.i64(list(range(len(b))))])]


@register("expand_dims")
def _expand_dims(ctx: MxContext, node, ins):
    x = ins[0]
    axis = ctx.int(node, "axis")
    r = ctx.rank(x) + 1
    return [ctx.b.out("Unsqueeze", [x, ctx.i64([ctx.axis(node, axis, r)])])]


@register("squeeze")
def _squeeze(ctx: MxContext, node, ins):
    x = ins[0]
    axes = ctx.tuple(node, "axis", [])
    shape = ctx.shape(x)
    if not axes:
        axes = [i for i, d in enumerate(shape) if d == 1]
        if len(axes) == len(shape):  # MXNet keeps one axis of a tensor of ones
            axes = axes[1:]
    else:
        axes = [ctx.axis(node, a, len(shape)) for a in axes]
    return [ctx.b.out("Squeeze", [x, ctx.i64(axes)]) if axes else x]


REDUCE = {"mean": "ReduceMean", "sum": "ReduceSum", "max": "ReduceMax", "min": "ReduceMin", "prod": "ReduceProd",
          "sum_axis": "ReduceSum", "max_axis": "ReduceMax", "min_axis": "ReduceMin"}


@register(*REDUCE)
def _reduce(ctx: MxContext, node, ins):
    x = ins[0]
    r = ctx.rank(x)
    given = ctx.tuple(node, "axis", [])
    axes = sorted({ctx.axis(node, a, r) for a in given}) if given else list(range(r))
    if ctx.bool(node, "exclude", False):
        axes = [a for a in range(r) if a not in axes]
    keep = ctx.bool(node, "keepdims", False)
    y = ctx.b.out(REDUCE[node.op], [x, ctx.i64(axes)], keep_dims=keep)
    if not keep and len(axes) == r:  # MXNet gives shape (1,) for a reduction of everything
        y = ctx.b.out("Reshape", [y, ctx.i64([1])], special_zero=False)
    return [y]


@register("Pad", "pad")
def _pad(ctx: MxContext, node, ins):
    x = ins[0]
    mode = ctx.str(node, "mode", "constant")
    if mode not in ("constant", "edge", "reflect"):
        raise ctx.error(node, f"mode {mode!r} is not supported")
    width = [int(w) for w in ctx.tuple(node, "pad_width")]
    if len(width) != 2 * ctx.rank(x):
        raise ctx.error(node, f"pad_width has {len(width)} values for an input of rank {ctx.rank(x)}")
    value = ctx.scalar(ctx.float(node, "constant_value", 0.0), x)
    return [ctx.b.out("Pad", [x, ctx.i64(width[0::2]), ctx.i64(width[1::2]), value], pad_mode=mode)]


@register("Crop")
def _crop(ctx: MxContext, node, ins):
    """The spatial axes (2, 3) cut to h_w, or to the second input's size, at `offset` or centred."""
    x = ins[0]
    if ctx.rank(x) != 4:
        raise ctx.error(node, f"crops 4-D inputs only, got rank {ctx.rank(x)}")
    h, w = ctx.static_shape(node, x)[2:]
    if len(ins) > 1:
        th, tw = ctx.static_shape(node, ins[1])[2:]
    else:
        size = [int(v) for v in ctx.tuple(node, "h_w", [])]
        if len(size) != 2 or min(size) <= 0:
            raise ctx.error(node, f"h_w {size} must give a positive height and width (or a second input)")
        th, tw = size
    if ctx.bool(node, "center_crop", False):
        oh, ow = (h - th) // 2, (w - tw) // 2
    else:
        off = [int(v) for v in ctx.tuple(node, "offset", [])] or [0, 0]
        if len(off) != 2:
            raise ctx.error(node, f"offset {off} needs two values")
        oh, ow = off
    if oh < 0 or ow < 0 or oh + th > h or ow + tw > w:
        raise ctx.error(node, f"a {th}x{tw} crop at ({oh}, {ow}) does not fit the {h}x{w} input")
    return [ctx.b.out("Slice", [x, ctx.i64([oh, ow]), ctx.i64([oh + th, ow + tw]), ctx.i64([1, 1]), ctx.i64([2, 3])])]
