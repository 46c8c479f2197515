"""ONNX shape and data-movement ops, constants and index ops."""

from __future__ import annotations

import numpy as np
from onnx import helper

from compiler.frontends.onnx.context import OnnxContext, onnx_op, tensor_to_numpy

I64_MAX = np.iinfo(np.int64).max


@onnx_op("Constant")
def _constant(ctx: OnnxContext, node, ins):
    if len(node.attribute) != 1:
        raise ctx.error(node, f"needs exactly one value attribute, has {len(node.attribute)}")
    a = node.attribute[0]
    if a.name == "value":
        return [ctx.const(tensor_to_numpy(a.t, ctx.where))]
    if a.name == "value_float":
        return [ctx.const(np.array(a.f, np.float32))]
    if a.name == "value_floats":
        return [ctx.const(np.array(list(a.floats), np.float32))]
    if a.name == "value_int":
        return [ctx.const(np.array(a.i, np.int64))]
    if a.name == "value_ints":
        return [ctx.const(np.array(list(a.ints), np.int64))]
    raise ctx.error(node, f"constant attribute {a.name} is not supported")


@onnx_op("ConstantOfShape")
def _constant_of_shape(ctx: OnnxContext, node, ins):
    v = ctx.attr(node, "value")
    value = tensor_to_numpy(v, ctx.where).reshape(()) if v is not None else np.array(0, np.float32)
    return [ctx.b.out("Broadcast", [ctx.const(value), ins[0]], mode="numpy")]


@onnx_op("Reshape")
def _reshape(ctx: OnnxContext, node, ins):
    return [ctx.b.out("Reshape", ins[:2], special_zero=not ctx.attr(node, "allowzero", 0))]


def flatten_to_2d(ctx: OnnxContext, x, axis: int):
    shape = ctx.shape(x)
    r = len(shape)
    axis = axis + r if axis < 0 else axis
    head, tail = shape[:axis], shape[axis:]
    if None not in head:
        target = [int(np.prod(head)), -1]
    elif None not in tail:
        target = [-1, int(np.prod(tail))]
    elif axis == 1:
        target = [0, -1]
    else:
        s = ctx.b.out("ShapeOf", [x])
        first = ctx.b.out("ReduceProd", [ctx.b.out("Slice", [s, ctx.i64([0]), ctx.i64([axis]), ctx.i64([1])]),
                                         ctx.i64([0])], keep_dims=True)
        return ctx.b.out("Reshape", [x, ctx.b.out("Concat", [first, ctx.i64([-1])], axis=0)], special_zero=False)
    return ctx.b.out("Reshape", [x, ctx.i64(target)], special_zero=True)


@onnx_op("Flatten")
def _flatten(ctx: OnnxContext, node, ins):
    return [flatten_to_2d(ctx, ins[0], ctx.attr(node, "axis", 1))]


@onnx_op("Transpose")
def _transpose(ctx: OnnxContext, node, ins):
    perm = ctx.attr(node, "perm")
    if perm is None:
        perm = list(range(ctx.rank(ins[0]) - 1, -1, -1))
    return [ctx.b.out("Transpose", [ins[0], ctx.i64(list(perm))])]


def _axes_input_or_attr(ctx: OnnxContext, node, ins, since: int = 13):
    if ctx.opset >= since:
        return ins[1] if len(ins) > 1 else None
    axes = ctx.attr(node, "axes")
    return None if axes is None else ctx.i64(list(axes))


@onnx_op("Squeeze")
def _squeeze(ctx: OnnxContext, node, ins):
    axes = _axes_input_or_attr(ctx, node, ins)
    if axes is None:
        shape = ctx.shape(ins[0])
        if None in shape:
            raise ctx.error(node, "squeeze without axes needs a static input shape")
        return [ctx.b.out("Squeeze", [ins[0], ctx.i64([i for i, d in enumerate(shape) if d == 1])])]
    return [ctx.b.out("Squeeze", [ins[0], axes])]


@onnx_op("Unsqueeze")
def _unsqueeze(ctx: OnnxContext, node, ins):
    return [ctx.b.out("Unsqueeze", [ins[0], _axes_input_or_attr(ctx, node, ins)])]


@onnx_op("Concat")
def _concat(ctx: OnnxContext, node, ins):
    return [ctx.b.out("Concat", [v for v in ins if v is not None], axis=ctx.attr(node, "axis"))]


@onnx_op("Split")
def _split(ctx: OnnxContext, node, ins):
    x = ins[0]
    axis = ctx.attr(node, "axis", 0)
    n = len(node.output)
    if ctx.opset >= 13:
        split = ins[1] if len(ins) > 1 else None
    else:
        s = ctx.attr(node, "split")
        split = None if s is None else ctx.i64(list(s))
    if split is None:
        r = ctx.rank(x)
        ax = axis + r if axis < 0 else axis
        dim = ctx.shape(x)[ax]
        if dim is not None and dim % n:  # opset 18 num_outputs: the last part is smaller
            part = -(-dim // n)
            split = ctx.i64([part] * (n - 1) + [dim - part * (n - 1)])
        else:
            op = ctx.b.op("Split", [x, ctx.i64(axis)], num_splits=n)
            return list(op.outputs)
    op = ctx.b.op("VariadicSplit", [x, ctx.i64(axis), split])
    return list(op.outputs)


@onnx_op("Shape")
def _shape(ctx: OnnxContext, node, ins):
    s = ctx.b.out("ShapeOf", [ins[0]], output_type=np.int64)
    start, end = ctx.attr(node, "start", 0), ctx.attr(node, "end")
    if start == 0 and end is None:
        return [s]
    return [ctx.b.out("Slice", [s, ctx.i64([start]), ctx.i64([I64_MAX if end is None else end]), ctx.i64([1])])]


@onnx_op("Size")
def _size(ctx: OnnxContext, node, ins):
    s = ctx.b.out("ShapeOf", [ins[0]], output_type=np.int64)
    return [ctx.b.out("ReduceProd", [s, ctx.i64([0])], keep_dims=False)]


@onnx_op("Gather")
def _gather(ctx: OnnxContext, node, ins):
    return [ctx.b.out("Gather", [ins[0], ins[1], ctx.i64(ctx.attr(node, "axis", 0))], batch_dims=0)]


@onnx_op("GatherElements")
def _gather_elements(ctx: OnnxContext, node, ins):
    return [ctx.b.out("GatherElements", ins[:2], axis=ctx.attr(node, "axis", 0))]


@onnx_op("GatherND")
def _gather_nd(ctx: OnnxContext, node, ins):
    return [ctx.b.out("GatherND", ins[:2], batch_dims=ctx.attr(node, "batch_dims", 0))]


@onnx_op("ScatterElements", "Scatter")
def _scatter_elements(ctx: OnnxContext, node, ins):
    red = ctx.attr(node, "reduction", "none")
    if red not in ("none", "add", "mul", "min", "max"):
        raise ctx.error(node, f"reduction {red} is not supported")
    red = {"add": "sum", "mul": "prod"}.get(red, red)
    return [ctx.b.out("ScatterElementsUpdate", [ins[0], ins[1], ins[2], ctx.i64(ctx.attr(node, "axis", 0))],
                      reduction=red, use_init_val=True)]


@onnx_op("ScatterND")
def _scatter_nd(ctx: OnnxContext, node, ins):
    red = ctx.attr(node, "reduction", "none")
    red = {"add": "sum", "mul": "prod"}.get(red, red)
    return [ctx.b.out("ScatterNDUpdate", ins[:3], reduction=red)]


@onnx_op("Expand")
def _expand(ctx: OnnxContext, node, ins):
    return [ctx.b.out("Broadcast", ins[:2], mode="bidirectional")]


@onnx_op("Tile")
def _tile(ctx: OnnxContext, node, ins):
    return [ctx.b.out("Tile", ins[:2])]


@onnx_op("Slice")
def _slice(ctx: OnnxContext, node, ins):
    x = ins[0]
    if ctx.opset < 10:
        starts, ends = ctx.attr(node, "starts"), ctx.attr(node, "ends")
        axes = ctx.attr(node, "axes", list(range(len(starts))))
        return [ctx.b.out("Slice", [x, ctx.i64(starts), ctx.i64(ends), ctx.i64([1] * len(starts)), ctx.i64(axes)])]
    starts, ends = ins[1], ins[2]
    n = ctx.shape(starts)[0]
    axes = ins[3] if len(ins) > 3 and ins[3] is not None else None
    steps = ins[4] if len(ins) > 4 and ins[4] is not None else None
    if steps is None:
        if n is None:
            raise ctx.error(node, "starts must have a static length")
        steps = ctx.i64([1] * n)
    args = [x, starts, ends, steps] + ([axes] if axes is not None else [])
    return [ctx.b.out("Slice", args)]


PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "edge"}


@onnx_op("Pad")
def _pad(ctx: OnnxContext, node, ins):
    x = ins[0]
    r = ctx.rank(x)
    mode = PAD_MODES.get(ctx.attr(node, "mode", "constant"))
    if mode is None:
        raise ctx.error(node, f"mode {ctx.attr(node, 'mode')} is not supported")
    if ctx.opset < 11:
        pads = list(ctx.attr(node, "pads"))
        value = ctx.const(np.array(ctx.attr(node, "value", 0.0), ctx.dtype(x)))
    else:
        pads = ctx.known(ins[1])
        value = ins[2] if len(ins) > 2 and ins[2] is not None else None
        axes = ins[3] if len(ins) > 3 and ins[3] is not None else None
        if pads is None:
            if axes is not None:
                raise ctx.error(node, "non-constant pads with axes are not supported")
            half = ctx.i64([r])
            pb = ctx.b.out("Slice", [ins[1], ctx.i64([0]), half, ctx.i64([1])])
            pe = ctx.b.out("Slice", [ins[1], half, ctx.i64([2 * r]), ctx.i64([1])])
            return [ctx.b.out("Pad", [x, pb, pe] + ([value] if value is not None else []), pad_mode=mode)]
        pads = [int(p) for p in pads.reshape(-1)]
        if axes is not None:
            ax = [int(a) + (r if a < 0 else 0) for a in ctx.need_const(node, axes, "axes").reshape(-1)]
            full = [0] * (2 * r)
            for i, a in enumerate(ax):
                full[a], full[r + a] = pads[i], pads[len(ax) + i]
            pads = full
    args = [x, ctx.i64(pads[:r]), ctx.i64(pads[r:])]
    if value is not None:
        if ctx.rank(value) == 1:
            value = ctx.b.out("Squeeze", [value, ctx.i64([0])])
        args.append(value)
    return [ctx.b.out("Pad", args, pad_mode=mode)]


@onnx_op("Range")
def _range(ctx: OnnxContext, node, ins):
    return [ctx.b.out("Range", ins[:3], output_type=ctx.dtype(ins[0]))]


@onnx_op("NonZero")
def _non_zero(ctx: OnnxContext, node, ins):
    return [ctx.b.out("NonZero", [ins[0]], output_type=np.int64)]


@onnx_op("OneHot")
def _one_hot(ctx: OnnxContext, node, ins):
    indices, depth, values = ins[:3]
    if ctx.rank(depth) == 1:
        depth = ctx.b.out("Squeeze", [depth, ctx.i64([0])])
    off = ctx.b.out("Gather", [values, ctx.i64(0), ctx.i64(0)])
    on = ctx.b.out("Gather", [values, ctx.i64(1), ctx.i64(0)])
    return [ctx.b.out("OneHot", [indices, depth, on, off], axis=ctx.attr(node, "axis", -1),
                      negative_indices_mode="normalize")]


@onnx_op("Trilu")
def _trilu(ctx: OnnxContext, node, ins):
    x = ins[0]
    shape = ctx.shape(x)
    n, m = shape[-2], shape[-1]
    if n is None or m is None:
        raise ctx.error(node, "needs static last two dimensions")
    k = 0 if len(ins) < 2 or ins[1] is None else int(ctx.need_const(node, ins[1], "k").reshape(-1)[0])
    i, j = np.arange(n)[:, None], np.arange(m)[None, :]
    keep = (j - i >= k) if ctx.attr(node, "upper", 1) else (j - i <= k)
    return [ctx.b.out("Select", [ctx.const(keep), x, ctx.const(np.zeros((), ctx.dtype(x)))])]


@onnx_op("EyeLike")
def _eye_like(ctx: OnnxContext, node, ins):
    shape = ctx.shape(ins[0])
    if None in shape:
        raise ctx.error(node, "needs a static input shape")
    dt = ctx.attr(node, "dtype")
    dtype = ctx.dtype(ins[0]) if dt is None else np.dtype(helper.tensor_dtype_to_np_dtype(dt))
    return [ctx.const(np.eye(shape[0], shape[1], k=ctx.attr(node, "k", 0), dtype=dtype))]
