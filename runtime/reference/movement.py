"""Reference semantics of data movement, shape, gather/scatter and reduction ops."""

from __future__ import annotations

import numpy as np

from dialects.ov.movement import Reshape, Slice, StridedSlice
from dialects.ov.shape_rules import norm_axes, norm_axis
from runtime.reference.registry import reference


def _one(axis: np.ndarray) -> int:
    """An axis input: a scalar or a 1-element 1-D tensor (the shape rules checked which)."""
    return int(np.asarray(axis).reshape(-1)[0])


def _ints(a: np.ndarray) -> list[int]:
    return [int(v) for v in np.asarray(a).reshape(-1)]


@reference("Reshape")
def _reshape(op, attr, x, shape):
    return [x.reshape(Reshape.target(attr, x.shape, tuple(_ints(shape))))]


@reference("Transpose")
def _transpose(op, attr, x, order):
    perm = _ints(order) or list(range(x.ndim - 1, -1, -1))
    return [np.require(np.transpose(x, norm_axes(perm, x.ndim)), requirements="C")]


@reference("Squeeze")
def _squeeze(op, attr, x, axes=None):
    if axes is None:
        return [x.reshape([d for d in x.shape if d != 1])]
    ax = norm_axes(_ints(axes), x.ndim)
    return [x.reshape([d for i, d in enumerate(x.shape) if i not in ax])]


@reference("Unsqueeze")
def _unsqueeze(op, attr, x, axes):
    ax = sorted(norm_axes(_ints(axes), x.ndim + len(_ints(axes))))
    shape = list(x.shape)
    for a in ax:
        shape.insert(a, 1)
    return [x.reshape(shape)]


@reference("Concat")
def _concat(op, attr, *xs):
    return [np.concatenate(xs, axis=norm_axis(attr.axis, xs[0].ndim))]


@reference("Split")
def _split(op, attr, x, axis):
    return [np.require(p, requirements="C") for p in np.split(x, attr.num_splits, axis=norm_axis(_one(axis), x.ndim))]


@reference("VariadicSplit")
def _variadic_split(op, attr, x, axis, lengths):
    ax = norm_axis(_one(axis), x.ndim)
    sizes = [op.out_shape(i)[ax] for i in range(len(op.outputs))]
    bounds = np.cumsum(sizes)[:-1]
    return [np.require(p, requirements="C") for p in np.split(x, bounds, axis=ax)]


@reference("ShapeOf")
def _shape_of(op, attr, x):
    return [np.array(x.shape, dtype=attr.output_type)]


def _norm_indices(idx: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    idx = idx.astype(np.int64)
    idx = np.where(idx < 0, idx + size, idx)
    valid = (idx >= 0) & (idx < size)
    return np.where(valid, idx, 0), valid


@reference("Gather")
def _gather(op, attr, x, indices, axis):
    ax = norm_axis(_one(axis), x.ndim)
    bd = attr.batch_dims + indices.ndim if attr.batch_dims < 0 else attr.batch_dims
    idx, valid = _norm_indices(indices, x.shape[ax])
    if bd == 0:
        y = np.take(x, idx, axis=ax)
        mask = valid.reshape((1,) * ax + valid.shape + (1,) * (x.ndim - ax - 1))
        return [np.where(mask, y, np.zeros((), x.dtype)).astype(x.dtype)]
    out = np.zeros(op.out_shape(), dtype=x.dtype)
    for b in np.ndindex(*x.shape[:bd]):
        xb, ib, vb = x[b], idx[b], valid[b]
        y = np.take(xb, ib, axis=ax - bd)
        mask = vb.reshape((1,) * (ax - bd) + vb.shape + (1,) * (x.ndim - ax - 1))
        out[b] = np.where(mask, y, 0)
    return [out]


@reference("GatherElements")
def _gather_elements(op, attr, x, indices):
    ax = norm_axis(attr.axis, x.ndim)
    idx, _ = _norm_indices(indices, x.shape[ax])
    return [np.take_along_axis(x, idx, axis=ax)]


@reference("GatherND")
def _gather_nd(op, attr, x, indices):
    b = attr.batch_dims
    k = indices.shape[-1]
    out = np.zeros(op.out_shape(), dtype=x.dtype)
    out_v = out.reshape(indices.shape[:-1] + x.shape[b + k:])
    for pos in np.ndindex(*indices.shape[:-1]):
        coords = tuple(int(c) + (x.shape[b + j] if c < 0 else 0) for j, c in enumerate(indices[pos]))
        out_v[pos] = x[pos[:b] + coords]
    return [out]


@reference("ScatterUpdate")
def _scatter_update(op, attr, x, indices, updates, axis):
    ax = norm_axis(_one(axis), x.ndim)
    y = x.copy()
    idx, _ = _norm_indices(indices, x.shape[ax])
    moved = np.moveaxis(y, ax, 0)  # a view: writes land in y
    upd = np.moveaxis(updates, list(range(ax, ax + idx.ndim)), list(range(idx.ndim)))
    for pos in np.ndindex(*idx.shape):
        moved[idx[pos]] = upd[pos]
    return [y]


_REDUCE = {"sum": np.add, "prod": np.multiply, "min": np.minimum, "max": np.maximum, "mean": np.add}


def _identity(reduction: str, dtype: np.dtype):
    if reduction in ("sum", "mean"):
        return np.zeros((), dtype)
    if reduction == "prod":
        return np.ones((), dtype)
    big = np.inf if dtype.kind == "f" else np.iinfo(dtype).max
    return np.asarray(big if reduction == "min" else -big if dtype.kind == "f" else np.iinfo(dtype).min, dtype)


@reference("ScatterElementsUpdate")
def _scatter_elements(op, attr, x, indices, updates, axis):
    ax = norm_axis(_one(axis), x.ndim)
    idx, _ = _norm_indices(indices, x.shape[ax])
    y = x.copy()
    if attr.reduction == "none":
        np.put_along_axis(y, idx, updates, axis=ax)
        return [y]
    count = np.ones(x.shape, dtype=np.int64)
    if not attr.use_init_val:
        touched = np.zeros(x.shape, bool)
        np.put_along_axis(touched, idx, True, axis=ax)
        y = np.where(touched, _identity(attr.reduction, x.dtype), y)
        count = np.where(touched, 0, 1)
    fn = _REDUCE[attr.reduction]
    for pos in np.ndindex(*indices.shape):
        tgt = list(pos)
        tgt[ax] = int(idx[pos])
        y[tuple(tgt)] = fn(y[tuple(tgt)], updates[pos])
        count[tuple(tgt)] += 1
    if attr.reduction == "mean":
        y = y / np.maximum(count, 1) if x.dtype.kind == "f" else y // np.maximum(count, 1)
    return [y.astype(x.dtype)]


@reference("ScatterNDUpdate")
def _scatter_nd(op, attr, x, indices, updates):
    y = x.copy()
    k = indices.shape[-1]
    upd = updates.reshape(indices.shape[:-1] + x.shape[k:])
    fn = None if attr.reduction == "none" else _REDUCE[attr.reduction]
    for pos in np.ndindex(*indices.shape[:-1]):
        coords = tuple(int(c) + (x.shape[j] if c < 0 else 0) for j, c in enumerate(indices[pos]))
        y[coords] = upd[pos] if fn is None else fn(y[coords], upd[pos])
    return [y]


@reference("Broadcast")
def _broadcast(op, attr, x, target, axes_mapping=None):
    t = _ints(target)
    if attr.mode == "explicit":
        m = _ints(axes_mapping)
        shape = [1] * len(t)
        for i, a in enumerate(m):
            shape[a] = x.shape[i]
        return [np.require(np.broadcast_to(x.reshape(shape), t), requirements="C")]
    if attr.mode == "bidirectional":
        t = np.broadcast_shapes(x.shape, tuple(t))
    return [np.require(np.broadcast_to(x, t), requirements="C")]


@reference("Tile")
def _tile(op, attr, x, repeats):
    r = _ints(repeats)
    if len(r) < x.ndim:
        r = [1] * (x.ndim - len(r)) + r
    return [np.tile(x, r)]


@reference("Slice")
def _slice(op, attr, x, start, stop, step, axes=None):
    from dialects.ov.base import TensorInfo

    infos = [TensorInfo(x.shape, x.dtype)] + [TensorInfo(v.shape, v.dtype, value=v)
                                              for v in (start, stop, step, axes) if v is not None]
    sl = [slice(None)] * x.ndim
    for ax, b, e, s in Slice.items(x.shape, infos):
        sl[ax] = slice(b, None if e < 0 else e, s)
    return [np.require(x[tuple(sl)], requirements="C")]


@reference("StridedSlice")
def _strided_slice(op, attr, x, begin, end, stride=None):
    from dialects.ov.base import TensorInfo

    infos = [TensorInfo(x.shape, x.dtype)] + [TensorInfo(v.shape, v.dtype, value=v)
                                              for v in (begin, end, stride) if v is not None]
    key: list = []
    for it in StridedSlice.items(attr, x.shape, infos):
        if it[0] == "new":
            key.append(None)
        elif it[0] == "index":
            key.append(it[2])
        else:
            key.append(slice(it[2], None if it[3] < 0 else it[3], it[4]))
    return [np.require(x[tuple(key)], requirements="C").reshape(op.out_shape())]


@reference("Pad")
def _pad(op, attr, x, pads_begin, pads_end, value=None):
    pb, pe = _ints(pads_begin), _ints(pads_end)
    crop = tuple(slice(max(-b, 0), x.shape[i] - max(-e, 0)) for i, (b, e) in enumerate(zip(pb, pe)))
    x = x[crop]
    pads = [(max(b, 0), max(e, 0)) for b, e in zip(pb, pe)]
    if attr.pad_mode == "constant":
        v = np.zeros((), x.dtype) if value is None else value
        return [np.pad(x, pads, mode="constant", constant_values=v)]
    return [np.pad(x, pads, mode=attr.pad_mode)]


@reference("Range")
def _range(op, attr, start, stop, step):
    s, e, d = (np.asarray(v).reshape(-1)[0] for v in (start, stop, step))
    n = op.out_shape()[0]
    if n is None:
        from dialects.ov.movement import Range

        n = Range.length(float(s), float(e), float(d))
    return [(s + np.arange(n) * d).astype(attr.output_type)]


@reference("Reverse")
def _reverse(op, attr, x, axes):
    if attr.mode == "mask":
        ax = tuple(i for i, m in enumerate(np.asarray(axes).reshape(-1)) if m)
    else:
        ax = norm_axes(_ints(axes), x.ndim)
    return [np.require(np.flip(x, axis=ax), requirements="C")]


@reference("Roll")
def _roll(op, attr, x, shift, axes):
    s, a = _ints(shift), _ints(axes)
    if len(s) == 1 and len(a) > 1:
        s = s * len(a)
    return [np.roll(x, s, axis=[norm_axis(v, x.ndim) for v in a])]


@reference("OneHot")
def _one_hot(op, attr, indices, depth, on, off):
    d = int(np.asarray(depth).reshape(-1)[0])
    ax = norm_axis(attr.axis, indices.ndim + 1)
    idx = indices.astype(np.int64)
    if attr.negative_indices_mode == "normalize":
        idx = np.where(idx < 0, idx + d, idx)
    hot = np.expand_dims(idx, ax) == np.arange(d).reshape((1,) * ax + (d,) + (1,) * (indices.ndim - ax))
    return [np.where(hot, on, off).astype(op.out_dtype(0))]


@reference("NonZero")
def _non_zero(op, attr, x):
    return [np.array(np.nonzero(x), dtype=attr.output_type).reshape(x.ndim, -1)]


@reference("TopK")
def _top_k(op, attr, x, k):
    ax = norm_axis(attr.axis, x.ndim)
    kk = min(int(np.asarray(k).reshape(-1)[0]), x.shape[ax])
    # descending order without overflow: ~x reverses integers and booleans, -x floats
    key = (-x if x.dtype.kind == "f" else ~x) if attr.mode == "max" else x
    order = np.argsort(key, axis=ax, kind="stable")
    idx = np.take(order, np.arange(kk), axis=ax)
    if attr.sort == "index":
        idx = np.sort(idx, axis=ax)
    values = np.take_along_axis(x, idx, axis=ax)
    return [values, idx.astype(attr.index_element_type)]


@reference("CumSum")
def _cumsum(op, attr, x, axis):
    ax = norm_axis(int(np.asarray(axis).reshape(-1)[0]), x.ndim)
    y = np.flip(x, ax) if attr.reverse else x
    c = np.cumsum(y, axis=ax, dtype=x.dtype)
    if attr.exclusive:
        c = np.concatenate([np.zeros_like(np.take(c, [0], axis=ax)), np.take(c, range(c.shape[ax] - 1), axis=ax)],
                           axis=ax)
    return [np.require(np.flip(c, ax) if attr.reverse else c, requirements="C").astype(x.dtype)]


_EMPTY = {"ReduceMax": lambda d: -np.inf if d.kind == "f" else (False if d.kind == "b" else np.iinfo(d).min),
          "ReduceMin": lambda d: np.inf if d.kind == "f" else (True if d.kind == "b" else np.iinfo(d).max)}


def _reduce(name, fn):
    def run(op, attr, x, axes):
        ax = norm_axes(_ints(axes), x.ndim)
        if not ax:
            return [x.copy()]
        if x.size == 0 and name in _EMPTY:  # the reduction of nothing is the identity
            shape = [1 if i in ax else d for i, d in enumerate(x.shape)]
            y = np.full(shape, _EMPTY[name](x.dtype), dtype=x.dtype)
            return [y if attr.keep_dims else y.reshape(op.out_shape())]
        return [np.asarray(fn(x, ax, attr.keep_dims)).astype(op.out_dtype(0))]
    return run


_REDUCTIONS = {
    "ReduceSum": lambda x, ax, k: np.sum(x, axis=ax, keepdims=k),
    "ReduceMean": lambda x, ax, k: np.mean(x, axis=ax, keepdims=k, dtype=np.float64 if x.dtype.kind == "f"
                                           else None),
    "ReduceMax": lambda x, ax, k: np.max(x, axis=ax, keepdims=k),
    "ReduceMin": lambda x, ax, k: np.min(x, axis=ax, keepdims=k),
    "ReduceProd": lambda x, ax, k: np.prod(x, axis=ax, keepdims=k),
    "ReduceL1": lambda x, ax, k: np.sum(np.abs(x), axis=ax, keepdims=k),
    "ReduceL2": lambda x, ax, k: np.sqrt(np.sum(x.astype(np.float64) ** 2, axis=ax, keepdims=k)),
    "ReduceLogicalAnd": lambda x, ax, k: np.all(x, axis=ax, keepdims=k),
    "ReduceLogicalOr": lambda x, ax, k: np.any(x, axis=ax, keepdims=k),
}
for _n, _f in _REDUCTIONS.items():
    reference(_n)(_reduce(_n, _f))
