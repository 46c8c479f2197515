"""Paddle's shape and data movement ops: reshape2, transpose2, concat, split, slice,
strided_slice, squeeze2/unsqueeze2, flatten_contiguous_range, shape, gather, expand, tile,
stack, assign."""

from __future__ import annotations

import numpy as np

from compiler.frontends.paddle.context import OPS, Node, PaddleContext

_BIG = np.iinfo(np.int64).max


@OPS.register("reshape2", "reshape")
def _reshape(ctx: PaddleContext, node: Node):
    """0 copies the input's dim, -1 is inferred (OpenVINO's special_zero)."""
    x = ctx.x(node)
    shape_t = ctx.inp(node, "Shape")
    if shape_t is not None and ctx.known(shape_t) is None:
        shape = ctx.b.out("Convert", [shape_t], destination_type=np.dtype(np.int64))
        return {"Out": ctx.b.out("Reshape", [x, shape], special_zero=True)}
    lst = ctx.ins(node, "ShapeTensor")
    if lst and any(ctx.known(v) is None for v in lst):
        parts = [ctx.b.out("Reshape", [ctx.b.out("Convert", [v], destination_type=np.dtype(np.int64)),
                                       ctx.i64([1])], special_zero=False) for v in lst]
        return {"Out": ctx.b.out("Reshape", [x, ctx.b.out("Concat", parts, axis=0)], special_zero=True)}
    shape = ctx.ints(node, "shape", "Shape", "ShapeTensor")
    return {"Out": ctx.b.out("Reshape", [x, ctx.i64(shape)], special_zero=True)}


@OPS.register("transpose2", "transpose")
def _transpose(ctx: PaddleContext, node: Node):
    x = ctx.x(node)
    perm = [ctx.axis(node, a, ctx.rank(x)) for a in ctx.ints(node, "axis")]
    return {"Out": ctx.b.out("Transpose", [x, ctx.i64(perm)])}


@OPS.register("concat")
def _concat(ctx: PaddleContext, node: Node):
    xs = ctx.ins(node, "X")
    axis = ctx.ints(node, "axis", "AxisTensor", default=0)[0]
    return {"Out": ctx.b.out("Concat", xs, axis=ctx.axis(node, axis, ctx.rank(xs[0])))}


@OPS.register("stack")
def _stack(ctx: PaddleContext, node: Node):
    xs = ctx.ins(node, "X")
    axis = ctx.axis(node, int(ctx.attr(node, "axis", 0)), ctx.rank(xs[0]) + 1)
    return {"Y": ctx.b.out("Concat", [ctx.b.out("Unsqueeze", [x, ctx.i64([axis])]) for x in xs], axis=axis)}


@OPS.register("split")
def _split(ctx: PaddleContext, node: Node):
    """`num` equal parts, or `sections` (one of them -1: the rest) along `axis`."""
    x = ctx.x(node)
    axis = ctx.axis(node, ctx.ints(node, "axis", "AxisTensor", default=0)[0], ctx.rank(x))
    sections = ctx.ints(node, "sections", "SectionsTensorList", default=[])
    num = int(ctx.attr(node, "num", 0) or 0)
    if num > 0 or not sections:
        op = ctx.b.op("Split", [x, ctx.i64(axis)], num_splits=num or len(node.outputs.get("Out", [])))
    else:
        op = ctx.b.op("VariadicSplit", [x, ctx.i64(axis), ctx.i64(sections)])
    return {"Out": list(op.outputs)}


def _decrease(ctx: PaddleContext, node: Node, y, rank: int):
    axes = [ctx.axis(node, a, rank) for a in (ctx.attr(node, "decrease_axis", []) or [])]
    if not axes:
        return y
    return ctx.b.out("Squeeze", [y, ctx.i64(axes)])


def _bounds(ctx: PaddleContext, node: Node, name: str):
    """Starts/ends as a known list or a value (int64, rank 1)."""
    slots = (f"{name.capitalize()}Tensor", f"{name.capitalize()}TensorList")
    for slot in slots:
        vals = ctx.ins(node, slot)
        if vals and any(ctx.known(v) is None for v in vals):
            parts = [ctx.b.out("Reshape", [ctx.b.out("Convert", [v], destination_type=np.dtype(np.int64)),
                                           ctx.i64([-1])], special_zero=False) for v in vals]
            return parts[0] if len(parts) == 1 else ctx.b.out("Concat", parts, axis=0)
    return ctx.i64(ctx.ints(node, name, *slots))


@OPS.register("slice", "strided_slice")
def _slice(ctx: PaddleContext, node: Node):
    """Bounds are clamped to the axis as Python's slices are; `decrease_axis` drops axes."""
    x = ctx.x(node, "Input")
    rank = ctx.rank(x)
    axes = [ctx.axis(node, a, rank) for a in ctx.ints(node, "axes")]
    starts, ends = _bounds(ctx, node, "starts"), _bounds(ctx, node, "ends")
    known_ends = ctx.known(ends)
    if known_ends is not None:  # Paddle writes INT_MAX-like ends; keep them in int64's range
        ends = ctx.i64(np.clip(np.asarray(known_ends, np.int64), -_BIG, _BIG))
    if node.type == "strided_slice":
        steps = ctx.i64(ctx.ints(node, "strides", "StridesTensor", "StridesTensorList"))
    else:
        steps = ctx.i64([1] * len(axes))
    y = ctx.b.out("Slice", [x, starts, ends, steps, ctx.i64(axes)])
    return {"Out": _decrease(ctx, node, y, rank)}


@OPS.register("squeeze2", "squeeze")
def _squeeze(ctx: PaddleContext, node: Node):
    """Drops the given axes that have size 1 (others stay), or all axes of size 1."""
    x = ctx.x(node)
    rank = ctx.rank(x)
    shape = ctx.shape(x)
    axes = [ctx.axis(node, a, rank) for a in ctx.ints(node, "axes", default=[])]
    if not axes:
        if None in shape:
            return {"Out": ctx.b.out("Squeeze", [x])}
        axes = [i for i, d in enumerate(shape) if d == 1]
    else:
        if any(shape[a] is None for a in axes):
            raise ctx.error(node, f"needs the sizes of axes {axes} known, got {shape}")
        axes = [a for a in axes if shape[a] == 1]
    if not axes:
        return {"Out": x}
    return {"Out": ctx.b.out("Squeeze", [x, ctx.i64(sorted(set(axes)))])}


@OPS.register("unsqueeze2", "unsqueeze")
def _unsqueeze(ctx: PaddleContext, node: Node):
    """Axes are inserted one after the other, each counted in the rank reached so far."""
    x = ctx.x(node)
    y = x
    for a in ctx.ints(node, "axes", "AxesTensor", "AxesTensorList"):
        r = ctx.rank(y)
        y = ctx.b.out("Unsqueeze", [y, ctx.i64([a + r + 1 if a < 0 else a])])
    return {"Out": y}


@OPS.register("flatten_contiguous_range")
def _flatten(ctx: PaddleContext, node: Node):
    x = ctx.x(node)
    rank = ctx.rank(x)
    if rank == 0:
        return {"Out": ctx.b.out("Reshape", [x, ctx.i64([1])], special_zero=False)}
    start = ctx.axis(node, int(ctx.attr(node, "start_axis", 1)), rank)
    stop = ctx.axis(node, int(ctx.attr(node, "stop_axis", -1)), rank)
    shape = ctx.shape(x)
    if None not in shape[:start] + shape[stop + 1:]:
        target = [*shape[:start], -1, *shape[stop + 1:]]
        return {"Out": ctx.b.out("Reshape", [x, ctx.i64(target)], special_zero=False)}
    target = [0] * start + [-1] + [0] * (rank - stop - 1)
    if None in shape[stop + 1:]:
        raise ctx.error(node, f"needs static axes after stop_axis, got {shape}")
    return {"Out": ctx.b.out("Reshape", [x, ctx.i64(target)], special_zero=True)}


@OPS.register("flatten2", "flatten")
def _flatten2(ctx: PaddleContext, node: Node):
    """The older flatten: to 2-D, [prod(dims before axis), prod(dims from axis)]."""
    x = ctx.x(node)
    rank = ctx.rank(x)
    axis = int(ctx.attr(node, "axis", 1))
    if not 0 <= axis <= rank:
        raise ctx.error(node, f"axis {axis} is out of range for an input of rank {rank}")
    shape = ctx.shape(x)
    if None not in shape[axis:]:
        target = [-1, int(np.prod(shape[axis:], dtype=np.int64))]
    elif None not in shape[:axis]:
        target = [int(np.prod(shape[:axis], dtype=np.int64)), -1]
    else:
        raise ctx.error(node, f"needs the dims on one side of axis {axis} static, got {shape}")
    return {"Out": ctx.b.out("Reshape", [x, ctx.i64(target)], special_zero=False)}


@OPS.register("top_k_v2", "top_k")
def _top_k(ctx: PaddleContext, node: Node):
    """The k largest (or smallest) along `axis` (the last for top_k), values and int64 indices."""
    x = ctx.x(node)
    k = ctx.ints(node, "k", "K")[0]
    axis = ctx.axis(node, int(ctx.attr(node, "axis", -1)), ctx.rank(x))
    largest = bool(ctx.attr(node, "largest", True))
    op = ctx.b.op("TopK", [x, ctx.i64(k)], axis=axis, mode="max" if largest else "min",
                  sort="value" if ctx.attr(node, "sorted", True) else "none", index_element_type=np.dtype(np.int64),
                  stable=True)
    return {"Out": op.outputs[0], "Indices": op.outputs[1]}


@OPS.register("shape")
def _shape(ctx: PaddleContext, node: Node):
    """Paddle's shape is int32."""
    return {"Out": ctx.b.out("ShapeOf", [ctx.x(node, "Input")], output_type=np.dtype(np.int32))}


@OPS.register("shape64")
def _shape64(ctx: PaddleContext, node: Node):
    return {"Out": ctx.b.out("ShapeOf", [ctx.x(node, "Input")], output_type=np.dtype(np.int64))}


@OPS.register("gather")
def _gather(ctx: PaddleContext, node: Node):
    x, idx = ctx.x(node), ctx.x(node, "Index")
    axis = ctx.axis(node, ctx.ints(node, "axis", "Axis", default=0)[0], ctx.rank(x))
    return {"Out": ctx.b.out("Gather", [x, idx, ctx.i64(axis)], batch_dims=0)}


@OPS.register("assign", "share_data")
def _assign(ctx: PaddleContext, node: Node):
    return {"Out": ctx.x(node)}


@OPS.register("expand_v2")
def _expand(ctx: PaddleContext, node: Node):
    """-1 keeps the input's size."""
    x = ctx.x(node)
    shape = ctx.ints(node, "shape", "Shape", "expand_shapes_tensor")
    xs = ctx.shape(x)
    lead = len(shape) - len(xs)
    target = [d if d != -1 else xs[i - lead] for i, d in enumerate(shape)]
    if None in target:
        raise ctx.error(node, f"needs the sizes kept by -1 known, got {xs}")
    return {"Out": ctx.b.out("Broadcast", [x, ctx.i64(target)], mode="bidirectional")}


@OPS.register("tile")
def _tile(ctx: PaddleContext, node: Node):
    x = ctx.x(node)
    return {"Out": ctx.b.out("Tile", [x, ctx.i64(ctx.ints(node, "repeat_times", "RepeatTimes"))])}


@OPS.register("cumsum")
def _cumsum(ctx: PaddleContext, node: Node):
    x = ctx.x(node)
    if ctx.attr(node, "flatten", False):
        x = ctx.b.out("Reshape", [x, ctx.i64([-1])], special_zero=False)
    axis = ctx.axis(node, ctx.ints(node, "axis", default=[-1])[0], ctx.rank(x))
    return {"Out": ctx.b.out("CumSum", [x, ctx.i64(axis)], exclusive=bool(ctx.attr(node, "exclusive", False)),
                             reverse=bool(ctx.attr(node, "reverse", False)))}
