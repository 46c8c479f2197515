"""Data movement. Most movement ops are one or more *strided copies*: out[ob + sum i*os] =
in[ib + sum i*is] over some iteration shape (transpose, slice, broadcast, tile, concat, split,
depth-to-space, reverse, constant pad). The rest are a *table gather* (per-dim index tables:
edge/reflect pads, roll) or small index kernels (Gather, scatter, one-hot, ...)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dialects.errors import CompileError
from dialects.ov import OvOp, constant_of, dtype_of, shape_of
from dialects.ov.movement import Slice, StridedSlice, Transpose
from dialects.ov.shape_rules import norm_axes, norm_axis
from dialects.ov.values import info_of
from passes.ov_to_loops.elementwise import BLOCK, broadcast_strides, collapse
from passes.ov_to_loops.kb import KB
from passes.ov_to_loops.lower import lowering
from passes.ov_to_loops.program import Buf, Kernel, LowerCtx

I64 = np.dtype(np.int64)
INVALID = -(1 << 40)  # table entry for "outside the input" (sums stay negative)


def contiguous(shape: Sequence[int]) -> list[int]:
    return broadcast_strides(shape, shape)


def strided_copy(ctx: LowerCtx, src: Buf, dst: Buf, shape: Sequence[int], in_strides: Sequence[int], in_base: int,
                 out_strides: Sequence[int], out_base: int, label: str) -> None:
    shape = list(shape) or [1]
    in_strides = list(in_strides) or [0]
    out_strides = list(out_strides) or [0]
    total = int(np.prod(shape, dtype=np.int64))
    if total == 0:
        return
    dims, (ost, ist) = collapse(shape, [out_strides, in_strides])
    inner = dims[-1]
    outer_dims = dims[:-1]
    outer = int(np.prod(outer_dims, dtype=np.int64)) if outer_dims else 1
    block = max(1, min(inner, BLOCK))
    nblk = -(-inner // block)
    key = f"copy{dims}{ost}{ist}{in_base}{out_base}{src.dtype.str}{src.size}{dst.size}"

    def build(kb: KB) -> None:
        xi, xo = kb.args["src"], kb.args["dst"]

        def unit(u):
            o = kb.div(u, nblk)
            j0 = kb.mul(kb.rem(u, nblk), block)
            j1 = kb.imin(kb.add(j0, block), inner)
            oidx = kb.unravel(o, outer_dims) if outer_dims else []
            ib = kb.lin(oidx, ist[:-1], in_base)
            ob = kb.lin(oidx, ost[:-1], out_base)
            kb.for_(j0, j1, lambda j: kb.store(kb.load(xi, kb.add(ib, kb.mul(j, ist[-1]))), xo,
                                               kb.add(ob, kb.mul(j, ost[-1]))))
        kb.for_(kb.args["lo"], kb.args["hi"], unit)

    k = Kernel(key, [("src", src.dtype, src.size), ("dst", dst.dtype, dst.size)], build)
    ctx.step(k, [src, dst], outer * nblk, float(total), [dst], label)


def fill(ctx: LowerCtx, dst: Buf, value_buf: Buf | None, value: float, label: str) -> None:
    """dst[:] = value (a constant, or element 0 of value_buf)."""
    n = dst.size
    block = max(1, min(n, BLOCK))
    nblk = -(-n // block)
    key = f"fill{n}{dst.dtype.str}{value if value_buf is None else 'buf'}"

    def build(kb: KB) -> None:
        out = kb.args["dst"]

        def unit(u):
            v = kb.load(kb.args["val"], 0) if value_buf is not None else kb.const(value, dst.dtype)
            j0 = kb.mul(u, block)
            kb.for_(j0, kb.imin(kb.add(j0, block), n), lambda j: kb.store(v, out, j))
        kb.for_(kb.args["lo"], kb.args["hi"], unit)

    args = [("dst", dst.dtype, n)]
    bufs = [dst]
    if value_buf is not None:
        args.insert(0, ("val", value_buf.dtype, value_buf.size))
        bufs.insert(0, value_buf)
    ctx.step(Kernel(key, args, build), bufs, nblk, float(n), [dst], label)


def table_gather(ctx: LowerCtx, src: Buf, dst: Buf, out_shape: Sequence[int], tables: Sequence[np.ndarray],
                 fill_buf: Buf | None, label: str) -> None:
    """out[i0, .., in] = src[T0[i0] + .. + Tn[in]] (element offsets; negative: the fill value)."""
    out_shape = list(out_shape) or [1]
    tables = [np.asarray(t, I64) for t in tables] or [np.zeros(1, I64)]
    offsets = np.cumsum([0] + [len(t) for t in tables])[:-1]
    table = np.concatenate(tables)
    inner = out_shape[-1]
    outer_dims = out_shape[:-1]
    outer = int(np.prod(outer_dims, dtype=np.int64)) if outer_dims else 1
    total = outer * inner
    key = f"tgather{out_shape}{src.dtype.str}{src.size}{fill_buf is not None}{hash(table.tobytes())}"

    def build(kb: KB) -> None:
        xi, xo, tb = kb.args["src"], kb.args["dst"], kb.args["table"]
        fv = kb.load(kb.args["fill"], 0) if fill_buf is not None else kb.const(0, src.dtype)

        def unit(o):
            oidx = kb.unravel(o, outer_dims) if outer_dims else []
            base = 0
            for d, i in enumerate(oidx):
                base = kb.add(base, kb.load_index(tb, kb.add(int(offsets[d]), i)))

            def elem(j):
                off = kb.add(base, kb.load_index(tb, kb.add(int(offsets[-1]), j)))
                ok = kb.icmp("sge", off, 0)
                val = kb.load(xi, kb.select(ok, kb.v(off), kb.v(0)))
                kb.store(kb.select(ok, val, fv), xo, kb.add(kb.mul(o, inner), j))
            kb.for_(0, inner, elem)
        kb.for_(kb.args["lo"], kb.args["hi"], unit)

    tbuf = ctx.const_buf(table)
    args = [("src", src.dtype, src.size), ("table", I64, tbuf.size)]
    bufs = [src, tbuf]
    if fill_buf is not None:
        args.append(("fill", fill_buf.dtype, fill_buf.size))
        bufs.append(fill_buf)
    args.append(("dst", dst.dtype, dst.size))
    bufs.append(dst)
    ctx.step(Kernel(key, args, build), bufs, outer, float(total), [dst], label)


def _ints(v) -> list[int]:
    c = constant_of(v)
    if c is None:
        raise CompileError("a shape-defining input is not constant")
    return [int(x) for x in np.asarray(c).reshape(-1)]


@lowering("Transpose")
def _transpose(ctx: LowerCtx, op: OvOp) -> None:
    x = op.inputs[0]
    xs = shape_of(x.type)
    perm = Transpose.order(len(xs), [info_of(v) for v in op.inputs])
    st = contiguous(xs)
    out_shape = shape_of(op.outputs[0].type)
    strided_copy(ctx, ctx.buf(x), ctx.buf(op.outputs[0]), out_shape, [st[p] for p in perm], 0,
                 contiguous(out_shape), 0, "Transpose")


@lowering("Slice", "StridedSlice")
def _slice(ctx: LowerCtx, op: OvOp) -> None:
    x = op.inputs[0]
    xs = shape_of(x.type)
    st = contiguous(xs)
    infos = [info_of(v) for v in op.inputs]
    out_shape = shape_of(op.outputs[0].type)
    base, strides = 0, []
    if op.IR_TYPE == "Slice":
        its = Slice.items(xs, infos)
        if its is None:
            raise CompileError("Slice: start, stop, step and axes must be constant")
        items = {ax: (b, s) for ax, b, e, s in its}
        for d in range(len(xs)):
            b, s = items.get(d, (0, 1))
            base += b * st[d]
            strides.append(s * st[d])
    else:
        for it in StridedSlice.items(op.attr, xs, infos):
            if it[0] == "new":
                strides.append(0)
            elif it[0] == "index":
                base += it[2] * st[it[1]]
            else:
                base += it[2] * st[it[1]]
                strides.append(it[4] * st[it[1]])
    strided_copy(ctx, ctx.buf(x), ctx.buf(op.outputs[0]), out_shape, strides, base, contiguous(out_shape), 0,
                 op.IR_TYPE)


@lowering("Broadcast")
def _broadcast(ctx: LowerCtx, op: OvOp) -> None:
    x = op.inputs[0]
    xs = shape_of(x.type)
    out_shape = shape_of(op.outputs[0].type)
    if op.attr.mode == "explicit":
        mapping = _ints(op.inputs[2])
        view = [1] * len(out_shape)
        for i, a in enumerate(mapping):
            view[a] = xs[i]
    else:
        view = [1] * (len(out_shape) - len(xs)) + list(xs)
    strided_copy(ctx, ctx.buf(x), ctx.buf(op.outputs[0]), out_shape, broadcast_strides(out_shape, view), 0,
                 contiguous(out_shape), 0, "Broadcast")


@lowering("Tile")
def _tile(ctx: LowerCtx, op: OvOp) -> None:
    x = op.inputs[0]
    out_shape = shape_of(op.outputs[0].type)
    xs = (1,) * (len(out_shape) - len(shape_of(x.type))) + tuple(shape_of(x.type))
    reps = [o // d if d else 1 for o, d in zip(out_shape, xs)]
    ist, ost = contiguous(xs), contiguous(out_shape)
    shape, in_st, out_st = [], [], []
    for r, d, si, so in zip(reps, xs, ist, ost):
        shape += [r, d]
        in_st += [0, si]
        out_st += [d * so, so]
    strided_copy(ctx, ctx.buf(x), ctx.buf(op.outputs[0]), shape, in_st, 0, out_st, 0, "Tile")


@lowering("Concat")
def _concat(ctx: LowerCtx, op: OvOp) -> None:
    out = op.outputs[0]
    out_shape = shape_of(out.type)
    ax = norm_axis(op.attr.axis, len(out_shape))
    ost = contiguous(out_shape)
    dst = ctx.buf(out)
    # with nothing before the axis (batch 1 along channels), each input is one run of the
    # output: its producer writes it there (DenseNet's chain of Concats becomes one buffer)
    in_place = int(np.prod(out_shape[:ax], dtype=np.int64)) == 1
    off = 0
    for v in op.inputs:
        vs = shape_of(v.type)
        if not (in_place and ctx.place_inside(v, out, off * ost[ax] * dst.dtype.itemsize)):
            strided_copy(ctx, ctx.buf(v), dst, vs, contiguous(vs), 0, ost, off * ost[ax], "Concat")
        off += vs[ax]


@lowering("Split", "VariadicSplit")
def _split(ctx: LowerCtx, op: OvOp) -> None:
    x = op.inputs[0]
    xs = shape_of(x.type)
    ax = norm_axis(_ints(op.inputs[1])[0], len(xs))
    ist = contiguous(xs)
    off = 0
    for r in op.outputs:
        rs = shape_of(r.type)
        if r.uses:
            strided_copy(ctx, ctx.buf(x), ctx.buf(r), rs, ist, off * ist[ax], contiguous(rs), 0, op.IR_TYPE)
        off += rs[ax]


def _reshape_transpose(ctx: LowerCtx, op: OvOp, view: Sequence[int], perm: Sequence[int]) -> None:
    """out = reshape(transpose(reshape(x, view), perm), out_shape)."""
    st = contiguous(view)
    shape = [view[p] for p in perm]
    strided_copy(ctx, ctx.buf(op.inputs[0]), ctx.buf(op.outputs[0]), shape, [st[p] for p in perm], 0,
                 contiguous(shape), 0, op.IR_TYPE)


@lowering("DepthToSpace")
def _depth_to_space(ctx: LowerCtx, op: OvOp) -> None:
    n, c, *sp = shape_of(op.inputs[0].type)
    k, bs = len(sp), op.attr.block_size
    c2 = c // bs ** k
    if op.attr.mode == "blocks_first":
        view = [n, *([bs] * k), c2, *sp]
        perm = [0, k + 1] + [j for i in range(k) for j in (k + 2 + i, 1 + i)]
    else:
        view = [n, c2, *([bs] * k), *sp]
        perm = [0, 1] + [j for i in range(k) for j in (k + 2 + i, 2 + i)]
    _reshape_transpose(ctx, op, view, perm)


@lowering("SpaceToDepth")
def _space_to_depth(ctx: LowerCtx, op: OvOp) -> None:
    n, c, *sp = shape_of(op.inputs[0].type)
    k, bs = len(sp), op.attr.block_size
    view = [n, c] + [v for d in sp for v in (d // bs, bs)]
    blocks = [3 + 2 * i for i in range(k)]
    spatial = [2 + 2 * i for i in range(k)]
    perm = [0] + (blocks + [1] if op.attr.mode == "blocks_first" else [1] + blocks) + spatial
    _reshape_transpose(ctx, op, view, perm)


@lowering("ShuffleChannels")
def _shuffle_channels(ctx: LowerCtx, op: OvOp) -> None:
    xs = shape_of(op.inputs[0].type)
    ax = norm_axis(op.attr.axis, len(xs))
    g = op.attr.group
    view = [*xs[:ax], g, xs[ax] // g, *xs[ax + 1:]]
    perm = list(range(len(view)))
    perm[ax], perm[ax + 1] = perm[ax + 1], perm[ax]
    _reshape_transpose(ctx, op, view, perm)


@lowering("Reverse")
def _reverse(ctx: LowerCtx, op: OvOp) -> None:
    xs = shape_of(op.inputs[0].type)
    if op.attr.mode == "mask":
        axes = [i for i, m in enumerate(_ints(op.inputs[1])) if m]
    else:
        axes = list(norm_axes(_ints(op.inputs[1]), len(xs)))
    st = contiguous(xs)
    base = sum((xs[a] - 1) * st[a] for a in axes)
    strides = [-s if d in axes else s for d, s in enumerate(st)]
    strided_copy(ctx, ctx.buf(op.inputs[0]), ctx.buf(op.outputs[0]), xs, strides, base, st, 0, "Reverse")


def _dim_tables(src_idx: Sequence[np.ndarray], strides: Sequence[int]) -> list[np.ndarray]:
    return [np.where(ix >= 0, ix * s, INVALID) for ix, s in zip(src_idx, strides)]


@lowering("Pad")
def _pad(ctx: LowerCtx, op: OvOp) -> None:
    x = op.inputs[0]
    xs = shape_of(x.type)
    out_shape = shape_of(op.outputs[0].type)
    pb = _ints(op.inputs[1])
    mode = op.attr.pad_mode
    val = ctx.buf(op.inputs[3]) if len(op.inputs) > 3 else None
    idx = []
    for d, (n, b) in enumerate(zip(xs, pb)):
        i = np.arange(out_shape[d]) - b
        if mode == "constant":
            i = np.where((i >= 0) & (i < n), i, -1)
        elif mode == "edge":
            i = np.clip(i, 0, n - 1)
        elif mode == "reflect":
            period = max(2 * (n - 1), 1)
            i = np.abs(np.mod(i, period))
            i = np.where(i >= n, period - i, i) if n > 1 else np.zeros_like(i)
        else:  # symmetric
            period = 2 * n
            i = np.mod(i, period)
            i = np.where(i >= n, period - 1 - i, i)
        idx.append(i)
    if mode == "constant" and val is None:
        zero = ctx.const_buf(np.zeros(1, dtype_of(x.type)))
        table_gather(ctx, ctx.buf(x), ctx.buf(op.outputs[0]), out_shape, _dim_tables(idx, contiguous(xs)), zero,
                     "Pad")
        return
    table_gather(ctx, ctx.buf(x), ctx.buf(op.outputs[0]), out_shape, _dim_tables(idx, contiguous(xs)), val, "Pad")


@lowering("Roll")
def _roll(ctx: LowerCtx, op: OvOp) -> None:
    xs = shape_of(op.inputs[0].type)
    shift, axes = _ints(op.inputs[1]), _ints(op.inputs[2])
    if len(shift) == 1 and len(axes) > 1:
        shift = shift * len(axes)
    total = [0] * len(xs)
    for s, a in zip(shift, axes):
        total[norm_axis(a, len(xs))] += s
    idx = [np.mod(np.arange(n) - t, n) if n else np.arange(n) for n, t in zip(xs, total)]
    table_gather(ctx, ctx.buf(op.inputs[0]), ctx.buf(op.outputs[0]), xs, _dim_tables(idx, contiguous(xs)), None,
                 "Roll")


@lowering("Gather")
def _gather(ctx: LowerCtx, op: OvOp) -> None:
    """out[b, pre, i, post] = data[b, pre, indices[b, i], post] (zero for out-of-range indices)."""
    data, indices = op.inputs[0], op.inputs[1]
    ds, is_ = shape_of(data.type), shape_of(indices.type)
    ax = norm_axis(_ints(op.inputs[2])[0], len(ds))
    bd = op.attr.batch_dims + len(is_) if op.attr.batch_dims < 0 else op.attr.batch_dims
    nb = int(np.prod(ds[:bd], dtype=np.int64))
    pre = int(np.prod(ds[bd:ax], dtype=np.int64))
    dim = ds[ax]
    post = int(np.prod(ds[ax + 1:], dtype=np.int64))
    ni = int(np.prod(is_[bd:], dtype=np.int64))
    dt = dtype_of(data.type)
    idt = dtype_of(indices.type)
    key = f"gather{nb},{pre},{dim},{post},{ni}{dt.str}{idt.str}"
    d_buf, i_buf, o_buf = ctx.buf(data), ctx.buf(indices), ctx.buf(op.outputs[0])

    def build(kb: KB) -> None:
        xb, ib, ob = kb.args["data"], kb.args["indices"], kb.args["out"]
        from passes.ov_to_loops.scalar import convert_value

        def unit(u):  # u = (b, p, i)
            i = kb.rem(u, ni)
            bp = kb.div(u, ni)
            p = kb.rem(bp, pre)
            b = kb.div(bp, pre)
            raw = convert_value(kb, kb.load(ib, kb.add(kb.mul(b, ni), i)), idt, I64)
            from xdsl.dialects import arith
            from xdsl.dialects.builtin import IndexType
            idx = kb.emit(arith.IndexCastOp(raw, IndexType()))
            idx = kb.select(kb.icmp("slt", idx, 0), kb.v(kb.add(idx, dim)), idx)
            ok = kb.icmp("ult", idx, dim)
            src = kb.mul(kb.add(kb.mul(kb.add(kb.mul(b, pre), p), dim), kb.select(ok, idx, kb.v(0))), post)
            dst = kb.mul(u, post)
            zero = kb.const(0, dt)
            kb.for_(0, post, lambda j: kb.store(kb.select(ok, kb.load(xb, kb.add(src, j)), zero), ob,
                                                kb.add(dst, j)))
        kb.for_(kb.args["lo"], kb.args["hi"], unit)

    k = Kernel(key, [("data", dt, d_buf.size), ("indices", idt, i_buf.size), ("out", dt, o_buf.size)], build)
    ctx.step(k, [d_buf, i_buf, o_buf], nb * pre * ni, float(nb * pre * ni * post), [o_buf], "Gather")
