"""Caffe's layers that move data without computing on it: Concat, Slice, Split, Flatten,
Reshape, Crop, Permute (SSD's fork), Dropout and Silence."""

from __future__ import annotations

import math

import numpy as np

from compiler.frontends.caffe.context import LAYERS, CaffeContext


@LAYERS.register("Silence")
def _silence(ctx: CaffeContext, layer, ins):
    return []  # consumes its bottoms so that they are no outputs


@LAYERS.register("Split")
def _split(ctx: CaffeContext, layer, ins):
    return [ins[0]] * len(layer.top)


@LAYERS.register("Dropout")
def _dropout(ctx: CaffeContext, layer, ins):
    """The identity at inference: Caffe scales the kept values while training. Faster R-CNN's
    fork may scale at test time instead (scale_train false): x * (1 - ratio)."""
    p = layer.dropout_param
    if p.scale_train:
        return [ins[0]]
    return [ctx.b.out("Multiply", [ins[0], ctx.const(np.float32(1.0 - p.dropout_ratio))])]


@LAYERS.register("Concat")
def _concat(ctx: CaffeContext, layer, ins):
    p = layer.concat_param
    rank = ctx.rank(ins[0])
    axis = int(p.concat_dim) if p.HasField("concat_dim") else ctx.axis(layer, p.axis, rank)
    if len(ins) == 1:
        return [ins[0]]
    return [ctx.b.out("Concat", list(ins), axis=axis)]


@LAYERS.register("Slice")
def _slice(ctx: CaffeContext, layer, ins):
    """Parts along an axis: cut at `slice_point`s, or into equal parts, one per top."""
    x = ins[0]
    p = layer.slice_param
    axis = int(p.slice_dim) if p.HasField("slice_dim") else ctx.axis(layer, p.axis, ctx.rank(x))
    n = len(layer.top)
    dim = ctx.shape(x)[axis]
    points = [int(v) for v in p.slice_point]
    if points:
        if len(points) != n - 1:
            raise ctx.error(layer, f"{len(points)} slice points for {n} tops (needs {n - 1})")
        bounds = [0] + points + ([dim] if dim is not None else [])
        if any(b >= a for a, b in zip(bounds[1:], bounds)) or (dim is not None and points[-1] >= dim):
            raise ctx.error(layer, f"slice points {points} must increase within the axis of size {dim}")
        lengths = [b - a for a, b in zip(bounds, bounds[1:])] + ([] if dim is not None else [-1])
    elif n == 1:
        return [x]
    else:
        if dim is not None and dim % n:
            raise ctx.error(layer, f"axis {axis} of size {dim} does not split into {n} equal parts")
        return list(ctx.b.op("Split", [x, ctx.i64(axis)], num_splits=n).outputs)
    return list(ctx.b.op("VariadicSplit", [x, ctx.i64(axis), ctx.i64(lengths)]).outputs)


class Copy(int):
    """An output dim copied from this input axis."""


def _reshape(ctx: CaffeContext, layer, x, out: list):
    """Reshape to `out`: ints (one may be -1, inferred) and `Copy(axis)` entries. A copy of an
    unknown dim works at the same place (Reshape's special zero); elsewhere it needs the dim."""
    shape = ctx.shape(x)
    pattern = []
    for i, d in enumerate(out):
        if not isinstance(d, Copy):
            pattern.append(d)
        elif shape[d] is not None:
            pattern.append(shape[d])
        elif d == i:
            pattern.append(0)
        else:
            raise ctx.error(layer, f"needs input axis {int(d)} known, got {list(shape)}")
    if pattern.count(-1) > 1:
        raise ctx.error(layer, f"needs a static input shape, got {list(shape)}")
    return ctx.b.out("Reshape", [x, ctx.i64(pattern)], special_zero=True)


@LAYERS.register("Flatten")
def _flatten(ctx: CaffeContext, layer, ins):
    """Axes axis..end_axis into one."""
    x = ins[0]
    p = layer.flatten_param
    shape = ctx.shape(x)
    rank = len(shape)
    start, end = ctx.axis(layer, p.axis, rank), ctx.axis(layer, p.end_axis, rank)
    if end < start:
        raise ctx.error(layer, f"end_axis {p.end_axis} comes before axis {p.axis}")
    middle = shape[start:end + 1]
    out = ([Copy(i) for i in range(start)] + [-1 if None in middle else math.prod(middle)]
           + [Copy(i) for i in range(end + 1, rank)])
    return [_reshape(ctx, layer, x, out)]


@LAYERS.register("Reshape")
def _reshape_layer(ctx: CaffeContext, layer, ins):
    """Axes axis..axis+num_axes replaced by `shape`: a 0 copies the input's axis at that place,
    one -1 is inferred."""
    x = ins[0]
    p = layer.reshape_param
    rank = ctx.rank(x)
    start = p.axis if p.axis >= 0 else rank + p.axis + 1
    if not 0 <= start <= rank:
        raise ctx.error(layer, f"axis {p.axis} is out of range for an input of rank {rank}")
    end = rank if p.num_axes == -1 else start + p.num_axes
    if p.num_axes < -1 or end > rank:
        raise ctx.error(layer, f"num_axes {p.num_axes} from axis {start} exceeds the input's rank {rank}")
    spec = [int(d) for d in p.shape.dim]
    if spec.count(-1) > 1 or any(d < -1 for d in spec):
        raise ctx.error(layer, f"shape {spec}: one -1 at most, no other negative dims")
    if any(d == 0 and start + i >= rank for i, d in enumerate(spec)):
        raise ctx.error(layer, f"shape {spec} copies input axes past the last one")
    out = ([Copy(i) for i in range(start)] + [Copy(start + i) if d == 0 else d for i, d in enumerate(spec)]
           + [Copy(i) for i in range(end, rank)])
    return [_reshape(ctx, layer, x, out)]


@LAYERS.register("Crop")
def _crop(ctx: CaffeContext, layer, ins):
    """The first bottom cut to the second's shape on the axes from `axis` on, starting at
    `offset` (one for all those axes or one each)."""
    if len(ins) != 2:
        raise ctx.error(layer, f"takes 2 bottoms (the input and a reference), got {len(ins)}")
    x, ref = ins
    p = layer.crop_param
    shape, ref_shape = ctx.shape(x), ctx.shape(ref)
    rank = len(shape)
    if len(ref_shape) != rank:
        raise ctx.error(layer, f"reference of rank {len(ref_shape)} for an input of rank {rank}")
    axis = ctx.axis(layer, p.axis, rank)
    offsets = [int(o) for o in p.offset]
    if len(offsets) not in (0, 1, rank - axis):
        raise ctx.error(layer, f"{len(offsets)} offsets for {rank - axis} cropped axes")
    offsets = offsets * (rank - axis) if len(offsets) == 1 else offsets or [0] * (rank - axis)
    axes = list(range(axis, rank))
    sizes = [ref_shape[a] for a in axes]
    if None in sizes:
        raise ctx.error(layer, f"needs a static reference shape, got {list(ref_shape)}")
    for a, o, s in zip(axes, offsets, sizes):
        if shape[a] is not None and o + s > shape[a]:
            raise ctx.error(layer, f"crop of {s} at offset {o} exceeds axis {a} of size {shape[a]}")
    return [ctx.b.out("Slice", [x, ctx.i64(offsets), ctx.i64([o + s for o, s in zip(offsets, sizes)]),
                                ctx.i64([1] * len(axes)), ctx.i64(axes)])]


@LAYERS.register("Permute")
def _permute(ctx: CaffeContext, layer, ins):
    """SSD's transpose: the axes listed in `order` first, the others after them in place order."""
    x = ins[0]
    rank = ctx.rank(x)
    order = [int(o) for o in layer.permute_param.order]
    if len(set(order)) != len(order) or any(o >= rank for o in order):
        raise ctx.error(layer, f"order {order} must list distinct axes of a rank-{rank} input")
    order += [a for a in range(rank) if a not in order]
    if order == list(range(rank)):
        return [x]
    return [ctx.b.out("Transpose", [x, ctx.i64(order)])]
