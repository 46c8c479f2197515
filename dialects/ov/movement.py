"""Data movement and shape operations: reshape, transpose, concat/split, slicing, gather and
scatter, broadcast, tile, pad, and the shape-producing ops (ShapeOf, Range)."""

from __future__ import annotations

import math

import numpy as np

from dialects.errors import ShapeError
from dialects.ov.base import Bool, Int, Ints, OpSpec, Str, TensorInfo, Type, format_shape, ov_op
from dialects.ov.shape_rules import (
    broadcast,
    clamp_slice,
    norm_axes,
    norm_axis,
    prod,
    slice_len,
    strided_slice_items,
    strided_slice_shape,
)

I64 = np.dtype(np.int64)


def _scalar(who: str, name: str, info: TensorInfo) -> int | None:
    k = info.known()
    if k is None or len(k) != 1:
        if info.value is not None or (info.partial is not None):
            raise ShapeError(f"{who}: {name} must be a single value")
        return None
    return k[0]


def _axes(who: str, info: TensorInfo, rank: int) -> tuple[int, ...] | None:
    k = info.known()
    if k is None or None in k:
        return None
    return norm_axes(k, rank, who)


@ov_op
class Reshape(OpSpec):
    """Reshape to `shape`; -1 infers one dim, 0 copies the input dim when special_zero."""

    INPUTS = ("data", "shape")
    special_zero = Bool(False)

    @classmethod
    def target(cls, a, data: tuple, shape: tuple) -> tuple:
        out = []
        for i, s in enumerate(shape):
            if s == 0 and a.special_zero:
                if i >= len(data):
                    raise ShapeError(f"Reshape: 0 at position {i} but input has rank {len(data)}")
                out.append(data[i])
            else:
                out.append(s)
        if sum(1 for s in out if s == -1) > 1:
            raise ShapeError("Reshape: more than one -1 in the target shape")
        for s in out:
            if s is not None and s < -1:
                raise ShapeError(f"Reshape: invalid dimension {s}")
        if -1 in out:
            i = out.index(-1)
            rest = prod([s for j, s in enumerate(out) if j != i])
            total = prod(data)
            if rest is not None and total is not None:
                if rest == 0 or total % rest:
                    raise ShapeError(f"Reshape: cannot reshape {format_shape(data)} to {list(shape)}")
                out[i] = total // rest
            else:
                out[i] = None
        total, new = prod(data), prod(out)
        if total is not None and new is not None and total != new:
            raise ShapeError(f"Reshape: cannot reshape {format_shape(data)} ({total} elements) to "
                             f"{format_shape(out)}")
        return tuple(out)

    @classmethod
    def infer(cls, a, ins):
        if len(ins[1].shape) != 1 or ins[1].shape[0] is None:
            raise ShapeError("Reshape: the target shape must be a 1-D tensor of static length")
        k = ins[1].known() or (None,) * ins[1].shape[0]
        return [(cls.target(a, ins[0].shape, k), ins[0].dtype)]

    @classmethod
    def partial(cls, a, ins):
        return ins[0].known()


@ov_op
class Transpose(OpSpec):
    INPUTS = ("data", "input_order")

    @classmethod
    def order(cls, rank: int, ins) -> tuple[int, ...] | None:
        k = ins[1].known()
        if k is None or None in k:
            return None
        if len(k) == 0:
            return tuple(range(rank - 1, -1, -1))
        if sorted(norm_axes(k, rank, "Transpose")) != list(range(rank)) or len(k) != rank:
            raise ShapeError(f"Transpose: {list(k)} is not a permutation of {rank} axes")
        return norm_axes(k, rank, "Transpose")

    @classmethod
    def infer(cls, a, ins):
        x = ins[0].shape
        order = cls.order(len(x), ins)
        if order is None:
            return [((None,) * len(x), ins[0].dtype)]
        return [(tuple(x[i] for i in order), ins[0].dtype)]


@ov_op
class Squeeze(OpSpec):
    INPUTS = ("data", "?axes")

    @classmethod
    def infer(cls, a, ins):
        x = ins[0].shape
        if len(ins) < 2:
            return [(tuple(d for d in x if d != 1), ins[0].dtype)]
        axes = _axes("Squeeze", ins[1], len(x))
        if axes is None:
            raise ShapeError("Squeeze: axes must be constant")
        for ax in axes:
            if x[ax] is not None and x[ax] != 1:
                raise ShapeError(f"Squeeze: dimension {ax} of {format_shape(x)} is not 1")
        return [(tuple(d for i, d in enumerate(x) if i not in axes), ins[0].dtype)]

    @classmethod
    def partial(cls, a, ins):
        return ins[0].known()


@ov_op
class Unsqueeze(OpSpec):
    INPUTS = ("data", "axes")

    @classmethod
    def infer(cls, a, ins):
        x = ins[0].shape
        k = ins[1].known()
        if k is None or None in k:
            raise ShapeError("Unsqueeze: axes must be constant")
        axes = norm_axes(k, len(x) + len(k), "Unsqueeze")
        out, it = [], iter(x)
        for i in range(len(x) + len(axes)):
            out.append(1 if i in axes else next(it))
        return [(tuple(out), ins[0].dtype)]

    @classmethod
    def partial(cls, a, ins):
        return ins[0].known()


@ov_op
class Concat(OpSpec):
    INPUTS = ("*values",)
    axis = Int()

    @classmethod
    def infer(cls, a, ins):
        if not ins:
            raise ShapeError("Concat: needs at least one input")
        rank = len(ins[0].shape)
        ax = norm_axis(a.axis, rank, "Concat")
        out = list(ins[0].shape)
        for x in ins[1:]:
            if len(x.shape) != rank or x.dtype != ins[0].dtype:
                raise ShapeError(f"Concat: inputs {format_shape(ins[0].shape)} and {format_shape(x.shape)} "
                                 "differ in rank or element type")
            for i in range(rank):
                if i == ax:
                    out[i] = None if out[i] is None or x.shape[i] is None else out[i] + x.shape[i]
                elif out[i] is None:
                    out[i] = x.shape[i]
                elif x.shape[i] is not None and x.shape[i] != out[i]:
                    raise ShapeError(f"Concat: inputs {format_shape(ins[0].shape)} and "
                                     f"{format_shape(x.shape)} differ outside axis {a.axis}")
        return [(tuple(out), ins[0].dtype)]

    @classmethod
    def partial(cls, a, ins):
        ks = [x.known() for x in ins]
        if any(k is None for k in ks) or any(len(x.shape) != 1 for x in ins):
            return None
        return tuple(v for k in ks for v in k)


@ov_op
class Split(OpSpec):
    """Split into `num_splits` equal parts along `axis` (a scalar input)."""

    INPUTS = ("data", "axis")
    OUTPUTS = ("*outputs",)
    num_splits = Int()

    @classmethod
    def infer(cls, a, ins):
        x = ins[0].shape
        axis = _scalar("Split", "axis", ins[1])
        if axis is None:
            raise ShapeError("Split: axis must be constant")
        ax = norm_axis(axis, len(x), "Split")
        if x[ax] is not None and x[ax] % a.num_splits:
            raise ShapeError(f"Split: dimension {x[ax]} does not split into {a.num_splits} equal parts")
        part = None if x[ax] is None else x[ax] // a.num_splits
        return [(x[:ax] + (part,) + x[ax + 1:], ins[0].dtype)] * a.num_splits


@ov_op
class VariadicSplit(OpSpec):
    """Split along `axis` into parts of `split_lengths` (one may be -1)."""

    INPUTS = ("data", "axis", "split_lengths")
    OUTPUTS = ("*outputs",)

    @classmethod
    def lengths(cls, x, ins) -> tuple[int, list]:
        axis = _scalar("VariadicSplit", "axis", ins[1])
        lens = ins[2].known()
        if axis is None or lens is None or None in lens:
            raise ShapeError("VariadicSplit: axis and split_lengths must be constant")
        ax = norm_axis(axis, len(x), "VariadicSplit")
        lens = list(lens)
        if lens.count(-1) > 1:
            raise ShapeError("VariadicSplit: more than one -1 in split_lengths")
        if -1 in lens:
            rest = sum(v for v in lens if v != -1)
            lens[lens.index(-1)] = None if x[ax] is None else x[ax] - rest
        elif x[ax] is not None and sum(lens) != x[ax]:
            raise ShapeError(f"VariadicSplit: lengths {lens} do not add up to {x[ax]}")
        return ax, lens

    @classmethod
    def infer(cls, a, ins):
        x = ins[0].shape
        ax, lens = cls.lengths(x, ins)
        return [(x[:ax] + (n,) + x[ax + 1:], ins[0].dtype) for n in lens]


@ov_op
class ShapeOf(OpSpec):
    OPSET = "opset3"
    INPUTS = ("data",)
    output_type = Type(I64)

    @classmethod
    def infer(cls, a, ins):
        if np.dtype(a.output_type) not in (np.dtype(np.int32), I64):
            raise ShapeError("ShapeOf: output_type must be i32 or i64")
        return [((len(ins[0].shape),), np.dtype(a.output_type))]

    @classmethod
    def partial(cls, a, ins):
        return ins[0].shape


def _gather_shape(data, indices, axis, batch_dims):
    return data[:axis] + indices[batch_dims:] + data[axis + 1:]


@ov_op
class Gather(OpSpec):
    """Take slices of `data` along `axis` at `indices` (negative indices count from the end)."""

    OPSET = "opset8"
    INPUTS = ("data", "indices", "axis")
    batch_dims = Int(0)

    @classmethod
    def infer(cls, a, ins):
        x, idx = ins[0].shape, ins[1].shape
        axis = _scalar("Gather", "axis", ins[2])
        if axis is None:
            raise ShapeError("Gather: axis must be constant")
        ax = norm_axis(axis, len(x), "Gather")
        bd = a.batch_dims + len(idx) if a.batch_dims < 0 else a.batch_dims
        if bd > ax or bd > len(idx):
            raise ShapeError(f"Gather: batch_dims {a.batch_dims} exceeds axis {axis} or indices rank")
        if ins[1].dtype.kind not in "iu":
            raise ShapeError("Gather: indices must be integers")
        return [(_gather_shape(x, idx, ax, bd), ins[0].dtype)]

    @classmethod
    def partial(cls, a, ins):
        data, idx, axis = ins[0].known(), ins[1].known(), ins[2].known()
        if data is None or idx is None or axis is None or len(ins[0].shape) != 1:
            return None
        n = len(data)
        if any(i is None or not -n <= i < n for i in idx):
            return None
        return tuple(data[i] for i in idx)


@ov_op
class GatherElements(OpSpec):
    OPSET = "opset6"
    INPUTS = ("data", "indices")
    axis = Int()

    @classmethod
    def infer(cls, a, ins):
        if len(ins[0].shape) != len(ins[1].shape):
            raise ShapeError("GatherElements: data and indices must have the same rank")
        norm_axis(a.axis, len(ins[0].shape), "GatherElements")
        return [(ins[1].shape, ins[0].dtype)]


@ov_op
class GatherND(OpSpec):
    OPSET = "opset8"
    INPUTS = ("data", "indices")
    batch_dims = Int(0)

    @classmethod
    def infer(cls, a, ins):
        x, idx = ins[0].shape, ins[1].shape
        k = idx[-1]
        if k is None:
            raise ShapeError("GatherND: the last dimension of indices must be static")
        b = a.batch_dims
        return [(idx[:-1] + x[b + k:], ins[0].dtype)]


@ov_op
class ScatterUpdate(OpSpec):
    OPSET = "opset3"
    INPUTS = ("data", "indices", "updates", "axis")

    @classmethod
    def infer(cls, a, ins):
        return [(ins[0].shape, ins[0].dtype)]


REDUCTIONS = ("none", "sum", "prod", "min", "max", "mean")


@ov_op
class ScatterElementsUpdate(OpSpec):
    OPSET = "opset12"
    INPUTS = ("data", "indices", "updates", "axis")
    reduction = Str("none", REDUCTIONS)
    use_init_val = Bool(True)

    @classmethod
    def infer(cls, a, ins):
        return [(ins[0].shape, ins[0].dtype)]


@ov_op
class ScatterNDUpdate(OpSpec):
    OPSET = "opset15"
    INPUTS = ("data", "indices", "updates")
    reduction = Str("none", REDUCTIONS)

    @classmethod
    def infer(cls, a, ins):
        return [(ins[0].shape, ins[0].dtype)]


@ov_op
class Broadcast(OpSpec):
    """Broadcast `data` to `target_shape`: numpy rules, bidirectional (numpy both ways) or
    explicit (data axis i goes to target axis axes_mapping[i])."""

    OPSET = "opset3"
    INPUTS = ("data", "target_shape", "?axes_mapping")
    mode = Str("numpy", ("numpy", "explicit", "bidirectional", "pdpd"))

    @classmethod
    def infer(cls, a, ins):
        x = ins[0].shape
        if len(ins[1].shape) != 1 or ins[1].shape[0] is None:
            raise ShapeError("Broadcast: target_shape must be a 1-D tensor of static length")
        t = ins[1].known() or (None,) * ins[1].shape[0]
        if a.mode == "bidirectional":
            return [(broadcast(x, t, "Broadcast"), ins[0].dtype)]
        if a.mode == "explicit":
            m = ins[2].known() if len(ins) > 2 else None
            if m is None or None in m or len(m) != len(x):
                raise ShapeError("Broadcast: explicit mode needs constant axes_mapping, one per data axis")
            for i, ax in enumerate(m):
                if x[i] is not None and t[ax] is not None and x[i] not in (1, t[ax]):
                    raise ShapeError(f"Broadcast: data dim {x[i]} does not map to target dim {t[ax]}")
            return [(tuple(t), ins[0].dtype)]
        if len(t) < len(x):
            raise ShapeError(f"Broadcast: target {list(t)} has lower rank than data {format_shape(x)}")
        full = broadcast(x, t, "Broadcast")
        return [(tuple(s if s is not None else f for s, f in zip(t, full)), ins[0].dtype)]

    @classmethod
    def partial(cls, a, ins):
        k = ins[0].known()
        t = ins[1].known()
        if k is None or t is None or len(t) > 1 or len(k) != 1 or None in t:
            return None
        return k * (t[0] if t else 1)


@ov_op
class Tile(OpSpec):
    INPUTS = ("data", "repeats")

    @classmethod
    def infer(cls, a, ins):
        x = ins[0].shape
        r = ins[1].known()
        if r is None:
            n = ins[1].shape[0]
            if n is None:
                raise ShapeError("Tile: repeats must have a static length")
            return [((None,) * max(n, len(x)), ins[0].dtype)]
        n = max(len(r), len(x))
        x = (1,) * (n - len(x)) + tuple(x)
        r = (1,) * (n - len(r)) + tuple(r)
        return [(tuple(None if d is None or k is None else d * k for d, k in zip(x, r)), ins[0].dtype)]


@ov_op
class Slice(OpSpec):
    """numpy-style slicing: start/stop/step per axis in `axes` (default 0..n-1), clamped."""

    OPSET = "opset8"
    INPUTS = ("data", "start", "stop", "step", "?axes")

    @classmethod
    def items(cls, shape, ins) -> list | None:
        """[(axis, start, stop, step)] normalized, or None when not constant."""
        st, sp, sd = ins[1].known(), ins[2].known(), ins[3].known()
        n = len(st) if st is not None else None
        if st is None or sp is None or sd is None or None in st or None in sp or None in sd:
            return None
        axes = ins[4].known() if len(ins) > 4 else tuple(range(n))
        if axes is None or None in axes:
            return None
        axes = norm_axes(axes, len(shape), "Slice")
        if not len(st) == len(sp) == len(sd) == len(axes):
            raise ShapeError("Slice: start, stop, step and axes must have equal lengths")
        out = []
        for ax, b, e, s in zip(axes, st, sp, sd):
            if s == 0:
                raise ShapeError("Slice: step must not be 0")
            if shape[ax] is None:
                out.append((ax, None, None, s))
            else:
                b2, e2 = clamp_slice(shape[ax], b, e, s)
                out.append((ax, b2, e2, s))
        return out

    @classmethod
    def infer(cls, a, ins):
        x = list(ins[0].shape)
        its = cls.items(x, ins)
        if its is None:
            k = ins[4].known() if len(ins) > 4 else None
            if k is not None and None not in k:
                for ax in norm_axes(k, len(x), "Slice"):
                    x[ax] = None
                return [(tuple(x), ins[0].dtype)]
            return [((None,) * len(x), ins[0].dtype)]
        for ax, b, e, s in its:
            x[ax] = None if b is None else slice_len(b, e, s)
        return [(tuple(x), ins[0].dtype)]

    @classmethod
    def partial(cls, a, ins):
        k = ins[0].known()
        its = cls.items(ins[0].shape, ins)
        if k is None or its is None or len(its) != 1:
            return None
        _, b, e, s = its[0]
        return tuple(k[i] for i in range(b, e, s)) if s > 0 else tuple(k[i] for i in range(b, e, s))


def _mask(name: str):
    return Ints((), doc=f"{name}: one 0/1 flag per element of begin")


@ov_op
class StridedSlice(OpSpec):
    """TensorFlow-style slicing with begin/end/new-axis/shrink/ellipsis masks."""

    INPUTS = ("data", "begin", "end", "?stride")
    begin_mask = _mask("begin_mask")
    end_mask = _mask("end_mask")
    new_axis_mask = _mask("new_axis_mask")
    shrink_axis_mask = _mask("shrink_axis_mask")
    ellipsis_mask = _mask("ellipsis_mask")

    @classmethod
    def items(cls, a, shape, ins) -> list | None:
        b, e = ins[1].known(), ins[2].known()
        s = ins[3].known() if len(ins) > 3 else (1,) * len(b or ())
        if b is None or e is None or s is None:
            return None
        b = [0 if v is None and _bit(a.begin_mask, i) else v for i, v in enumerate(b)]
        e = [0 if v is None and _bit(a.end_mask, i) else v for i, v in enumerate(e)]
        if None in b or None in e or None in s:
            return None
        return strided_slice_items(shape, b, e, s, a.begin_mask, a.end_mask, a.new_axis_mask,
                                   a.shrink_axis_mask, a.ellipsis_mask)

    @classmethod
    def infer(cls, a, ins):
        its = cls.items(a, ins[0].shape, ins)
        if its is None:
            raise ShapeError("StridedSlice: begin, end and stride must be constant")
        return [(strided_slice_shape(ins[0].shape, its), ins[0].dtype)]

    @classmethod
    def partial(cls, a, ins):
        k = ins[0].known()
        its = cls.items(a, ins[0].shape, ins) if k is not None else None
        if its is None or len(its) != 1:
            return None
        it = its[0]
        if it[0] == "index":
            return (k[it[2]],)
        if it[0] == "slice":
            return tuple(k[i] for i in range(it[2], it[3], it[4]))
        return None


def _bit(mask, i):
    return i < len(mask) and bool(mask[i])


@ov_op
class Pad(OpSpec):
    """Pad (negative pads crop) with a constant, edge, reflect or symmetric border."""

    OPSET = "opset12"
    INPUTS = ("data", "pads_begin", "pads_end", "?pad_value")
    pad_mode = Str("constant", ("constant", "edge", "reflect", "symmetric"))

    @classmethod
    def infer(cls, a, ins):
        x = ins[0].shape
        pb, pe = ins[1].known(), ins[2].known()
        if pb is None or pe is None:
            return [((None,) * len(x), ins[0].dtype)]
        if len(pb) != len(x) or len(pe) != len(x):
            raise ShapeError(f"Pad: pads need {len(x)} values each, got {len(pb)} and {len(pe)}")
        out = tuple(None if d is None or b is None or e is None else d + b + e for d, b, e in zip(x, pb, pe))
        if any(d is not None and d < 0 for d in out):
            raise ShapeError(f"Pad: pads {list(pb)}/{list(pe)} crop {format_shape(x)} below zero")
        return [(out, ins[0].dtype)]


@ov_op
class Range(OpSpec):
    OPSET = "opset4"
    INPUTS = ("start", "stop", "step")
    output_type = Type()

    @classmethod
    def length(cls, start, stop, step) -> int:
        if step == 0:
            raise ShapeError("Range: step must not be 0")
        return max(0, math.ceil((stop - start) / step))

    @classmethod
    def infer(cls, a, ins):
        vals = [x.value for x in ins]
        if any(v is None for v in vals):
            return [((None,), np.dtype(a.output_type))]
        s, e, d = (float(np.asarray(v).reshape(-1)[0]) for v in vals)
        return [((cls.length(s, e, d),), np.dtype(a.output_type))]


@ov_op
class Reverse(OpSpec):
    INPUTS = ("data", "axis")
    mode = Str("index", ("index", "mask"))

    @classmethod
    def infer(cls, a, ins):
        return [(ins[0].shape, ins[0].dtype)]


@ov_op
class Roll(OpSpec):
    OPSET = "opset7"
    INPUTS = ("data", "shift", "axes")

    @classmethod
    def infer(cls, a, ins):
        return [(ins[0].shape, ins[0].dtype)]


@ov_op
class OneHot(OpSpec):
    """on_value where an index equals the position along `axis`, off_value elsewhere. A negative
    index is off everywhere ("ignore_negative", OneHot-1's rule, TensorFlow's) or counts from
    the end ("normalize", ONNX's); an index out of [-depth, depth) is off everywhere."""

    OPSET = "opset16"
    INPUTS = ("indices", "depth", "on_value", "off_value")
    axis = Int(-1)
    negative_indices_mode = Str("ignore_negative", ("ignore_negative", "normalize"))

    @classmethod
    def infer(cls, a, ins):
        depth = _scalar("OneHot", "depth", ins[1])
        x = ins[0].shape
        ax = norm_axis(a.axis, len(x) + 1, "OneHot")
        return [(x[:ax] + (depth,) + x[ax:], ins[2].dtype)]


@ov_op
class NonZero(OpSpec):
    """Indices of non-zero elements, [rank, count]; count depends on the data."""

    OPSET = "opset3"
    INPUTS = ("data",)
    output_type = Type(I64)

    @classmethod
    def infer(cls, a, ins):
        return [((len(ins[0].shape), None), np.dtype(a.output_type))]


@ov_op
class TopK(OpSpec):
    OPSET = "opset11"
    INPUTS = ("data", "k")
    OUTPUTS = ("values", "indices")
    axis = Int()
    mode = Str(choices=("max", "min"))
    sort = Str(choices=("value", "index", "none"))
    index_element_type = Type(np.dtype(np.int32))
    stable = Bool(False)

    @classmethod
    def infer(cls, a, ins):
        x = ins[0].shape
        ax = norm_axis(a.axis, len(x), "TopK")
        k = _scalar("TopK", "k", ins[1])
        if k is not None and x[ax] is not None:
            k = min(k, x[ax])
        shape = x[:ax] + (k,) + x[ax + 1:]
        return [(shape, ins[0].dtype), (shape, np.dtype(a.index_element_type))]


@ov_op
class CumSum(OpSpec):
    OPSET = "opset3"
    INPUTS = ("data", "axis")
    exclusive = Bool(False)
    reverse = Bool(False)

    @classmethod
    def infer(cls, a, ins):
        return [(ins[0].shape, ins[0].dtype)]


class _Reduce(OpSpec):
    FAMILY = "reduce"
    INPUTS = ("data", "axes")
    keep_dims = Bool(False)
    RESULT_DTYPE: np.dtype | None = None

    @classmethod
    def infer(cls, a, ins):
        x = ins[0].shape
        axes = _axes(cls.IR_TYPE, ins[1], len(x))
        dtype = cls.RESULT_DTYPE or ins[0].dtype
        if axes is None:
            n = ins[1].shape[0] if ins[1].shape else 1
            if a.keep_dims:
                return [((None,) * len(x), dtype)]
            if n is None:
                raise ShapeError(f"{cls.IR_TYPE}: the number of reduced axes must be static")
            return [((None,) * (len(x) - n), dtype)]
        if a.keep_dims:
            return [(tuple(1 if i in axes else d for i, d in enumerate(x)), dtype)]
        return [(tuple(d for i, d in enumerate(x) if i not in axes), dtype)]

    @classmethod
    def partial(cls, a, ins):
        k = ins[0].known()
        if cls.IR_TYPE != "ReduceProd" or k is None or None in k or len(ins[0].shape) != 1:
            return None
        return (math.prod(k),)


for _name, _opset in [("ReduceSum", "opset1"), ("ReduceMean", "opset1"), ("ReduceMax", "opset1"),
                      ("ReduceMin", "opset1"), ("ReduceProd", "opset1"), ("ReduceL1", "opset4"),
                      ("ReduceL2", "opset4"), ("ReduceLogicalAnd", "opset1"), ("ReduceLogicalOr", "opset1")]:
    globals()[_name] = ov_op(type(_name, (_Reduce,), {"OPSET": _opset, "__module__": __name__}))
REDUCE_OPS = ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
              "ReduceLogicalAnd", "ReduceLogicalOr")
