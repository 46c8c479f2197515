"""Sliding-window and resampling ops: MaxPool, AvgPool, adaptive pooling, Interpolate and the
transposed convolutions."""

from __future__ import annotations

import numpy as np

from dialects.errors import CompileError
from dialects.ov import OvOp, constant_of, dtype_of, shape_of
from dialects.ov.shape_rules import norm_axes, resolve_pads, window_out
from passes.ov_to_loops.kb import KB
from passes.ov_to_loops.lower import lowering
from passes.ov_to_loops.movement import contiguous, table_gather
from passes.ov_to_loops.program import Kernel, LowerCtx
from passes.ov_to_loops.reduce import arb

F32 = np.dtype(np.float32)
I64 = np.dtype(np.int64)


def _geometry(op: OvOp, xs, dilations):
    a = op.attr
    k = a.kernel
    pb, pe = resolve_pads(xs[2:], k, a.strides, dilations, a.auto_pad, a.pads_begin, a.pads_end)
    out = [window_out(xs[2 + i], k[i], a.strides[i], dilations[i], pb[i], pe[i], a.auto_pad, a.rounding_type)
           for i in range(len(k))]
    return pb, pe, out


def _avg_counts(xs, k, s, pb, pe, out, exclude_pad: bool) -> np.ndarray:
    """1/(number of elements averaged) for every output position (the reference's rule)."""
    per_axis = []
    for i in range(len(k)):
        start = np.arange(out[i]) * s[i] - pb[i]
        end = start + k[i]
        if exclude_pad:
            n = np.minimum(end, xs[2 + i]) - np.maximum(start, 0)
        else:
            n = np.minimum(end, xs[2 + i] + pe[i]) - np.maximum(start, -pb[i])
        per_axis.append(np.maximum(n, 1))
    counts = per_axis[0]
    for p in per_axis[1:]:
        counts = np.multiply.outer(counts, p)
    return (1.0 / counts).astype(F32).reshape(-1)


@lowering("MaxPool", "AvgPool")
def _pool(ctx: LowerCtx, op: OvOp) -> None:
    x = op.inputs[0]
    xs = shape_of(x.type)
    is_max = op.IR_TYPE == "MaxPool"
    k = list(op.attr.kernel)
    nsp = len(k)
    dil = list(op.attr.dilations) if is_max and op.attr.dilations else [1] * nsp
    s = list(op.attr.strides)
    pb, pe, out = _geometry(op, xs, dil)
    dt = dtype_of(x.type)
    want_idx = is_max and bool(op.outputs[1].uses)
    if dt != F32 and not is_max:
        raise CompileError(f"AvgPool of {dt} is not supported on CPU")
    n, c = xs[0], xs[1]
    osp = int(np.prod(out, dtype=np.int64))
    isp = int(np.prod(xs[2:], dtype=np.int64))
    inv = None if is_max else ctx.const_buf(_avg_counts(xs, k, s, pb, pe, out, op.attr.exclude_pad))
    axis = op.attr.axis if is_max else 0
    low = float("-inf") if dt.kind == "f" else int(np.iinfo(dt).min)
    if dt == F32:
        ctx.hold_levels(op.outputs[0])
    xb, ob = ctx.buf(x), ctx.buf(op.outputs[0])  # bf16 or u8 levels where activations are stored so
    key = f"pool{op.IR_TYPE}{xs}{k}{s}{dil}{pb}{out}{want_idx}{axis}{dt.str}{xb.dtype.str}{ob.dtype.str}"
    kvol = int(np.prod(k))

    def build_points(kb: KB) -> None:  # any window: one output element per unit
        kb.hold_f32("x", "out")
        xb, ob = kb.args["x"], kb.args["out"]
        ib = kb.args.get("idx")
        cb = kb.args.get("inv")

        def point(u):  # u = (n, c, output position)
            pos = kb.rem(u, osp)
            nc = kb.div(u, osp)
            oidx = kb.unravel(pos, out)
            plane = kb.mul(nc, isp)

            def tap(t, *acc):
                kk = kb.unravel(t, k)
                ok = None
                coords = []
                for d in range(nsp):
                    ii = kb.add(kb.sub(kb.mul(oidx[d], s[d]), pb[d]), kb.mul(kk[d], dil[d]))
                    cnd = kb.icmp("ult", ii, xs[2 + d])
                    ok = cnd if ok is None else kb.emit_and(ok, cnd)
                    coords.append(ii)
                flat = kb.lin(coords, contiguous(xs[2:]))
                v = kb.load(xb, kb.select(ok, kb.v(kb.add(plane, flat)), kb.v(0)))
                if is_max:
                    take = kb.emit_and(ok, _replaces(kb, v, acc[0], dt))
                    new = [kb.select(take, v, acc[0])]
                    if want_idx:
                        new.append(kb.select(take, kb.v(flat), acc[1]))
                    return new
                return [kb.fadd(acc[0], kb.select(ok, v, kb.f(0.0)), acc=True)]
            init = [kb.const(low, dt)] if is_max else [kb.f(0.0)]
            if want_idx:
                init.append(kb.v(0))
            res = kb.for_(0, kvol, tap, init=init)
            val = res[0] if is_max else kb.fmul(res[0], kb.load(cb, pos))
            kb.store(val, ob, u)
            if want_idx:
                flat_idx = res[1]
                if axis <= 1:
                    ci = kb.rem(nc, c)
                    flat_idx = kb.add(flat_idx, kb.mul(ci, isp))
                if axis == 0:
                    flat_idx = kb.add(flat_idx, kb.mul(kb.div(nc, c), c * isp))
                from xdsl.dialects import arith

                from passes.ov_to_loops.kb import reg_type
                kb.store(kb.emit(arith.IndexCastOp(flat_idx, reg_type(dtype_of(op.outputs[1].type)))), ib, u)
        kb.for_(kb.args["lo"], kb.args["hi"], point)

    rows = nsp == 2 and not want_idx
    if rows:  # the common case: one output row per unit, the window unrolled (no div/rem per tap)
        key = "rows" + key
        (kh, kw), (sh, sw), (dh, dw), (ph, pw) = k, s, dil, pb
        hin, win = xs[2], xs[3]
        hout, wout = out

        def build_rows(kb: KB) -> None:
            kb.hold_f32("x", "out")
            xb, ob = kb.args["x"], kb.args["out"]
            cb = kb.args.get("inv")

            def row(u):  # u = (n, c, output row)
                oh = kb.rem(u, hout)
                plane = kb.mul(kb.div(u, hout), hin * win)
                ihs = [kb.add(kb.sub(kb.mul(oh, sh), ph), i * dh) for i in range(kh)]
                hok = [kb.icmp("ult", ih, hin) for ih in ihs]
                bases = [kb.add(plane, kb.mul(ih, win)) for ih in ihs]

                def col(ow):
                    iw0 = kb.sub(kb.mul(ow, sw), pw)
                    acc = kb.const(low, dt) if is_max else kb.f(0.0)
                    iws = [kb.add(iw0, j * dw) for j in range(kw)]
                    woks = [kb.icmp("ult", iw, win) for iw in iws]
                    for i in range(kh):  # the reference's order: which tap wins a tie matters (+-0)
                        for j in range(kw):
                            iw = iws[j]
                            ok = kb.emit_and(hok[i], woks[j])
                            v = kb.load(xb, kb.select(ok, kb.v(kb.add(bases[i], iw)), kb.v(0)))
                            if is_max:
                                acc = kb.select(kb.emit_and(ok, _replaces(kb, v, acc, dt)), v, acc)
                            else:
                                acc = kb.fadd(acc, kb.select(ok, v, kb.f(0.0)), acc=True)
                    pos = kb.add(kb.mul(oh, wout), ow)
                    val = acc if is_max else kb.fmul(acc, kb.load(cb, pos))
                    kb.store(val, ob, kb.add(kb.mul(u, wout), ow))
                kb.for_(0, wout, col)
            kb.for_(kb.args["lo"], kb.args["hi"], row)

        if dt == F32 and sw <= 2 and kh * kw <= 49:  # 16 output columns at a time in a register
            key = "v" + key
            build_rows = _vector_rows(is_max, (hin, win), (hout, wout), (kh, kw), (sh, sw), (dh, dw), (ph, pw))

    args = [("x", xb.dtype, xb.size)]
    bufs = [xb]
    if inv is not None:
        args.append(("inv", F32, inv.size))
        bufs.append(inv)
    args.append(("out", ob.dtype, ob.size))
    bufs.append(ob)
    writes = [ob]
    if want_idx:
        ib = ctx.buf(op.outputs[1])
        args.append(("idx", dtype_of(op.outputs[1].type), ib.size))
        bufs.append(ib)
        writes.append(ib)
    extent = n * c * out[0] if rows else n * c * osp
    ctx.step(Kernel(key, args, build_rows if rows else build_points), bufs, extent, float(n * c * osp * kvol), writes,
             op.IR_TYPE)


def _replaces(kb: KB, v, best, dt: np.dtype):
    """Whether tap value v takes the place of the maximum so far: if greater, as the reference's
    argmax over the window in order (the first of equal values stays, so the first tap of -0.0
    and +0.0 wins), or if NaN (the first NaN stays: NaN propagates)."""
    if dt.kind != "f":
        from passes.ov_to_loops.scalar import SCALAR
        return SCALAR["Greater"](kb, None, [dt, dt], dt, v, best)
    return kb.emit_and(kb.cmpf("ugt", v, best), kb.cmpf("ord", best, best))


def _vector_rows(is_max: bool, hw, out, k, s, dil, pb):
    """MaxPool/AvgPool of float32 with the column stride 1 or 2: an output row 16 columns at a
    time, each tap a masked load of the input row (every other lane of a 32-wide window for
    stride 2); taps outside the input are skipped. The taps go in the row kernel's order, so
    that ties (+-0) and NaN resolve as there."""
    (hin, win), (hout, wout), (kh, kw), (sh, sw), (dh, dw), (ph, pw) = hw, out, k, s, dil, pb
    V = 16

    def build(kb: KB) -> None:
        kb.hold_f32("x", "out")
        xb, ob = kb.args["x"], kb.args["out"]
        cb = kb.args.get("inv")

        def row(u):  # u = (n, c, output row)
            oh = kb.rem(u, hout)
            plane = kb.mul(kb.div(u, hout), hin * win)
            ihs = [kb.add(kb.sub(kb.mul(oh, sh), ph), i * dh) for i in range(kh)]
            hok = [kb.icmp("ult", ih, hin) for ih in ihs]
            bases = [kb.add(plane, kb.mul(ih, win)) for ih in ihs]

            def chunk(q):
                ow0 = kb.mul(q, V)
                acc = kb.splat(float("-inf") if is_max else 0.0, V)
                starts = [kb.add(kb.sub(kb.mul(ow0, sw), pw), j * dw) for j in range(kw)]  # input column of lane 0
                # the lanes of each column tap, once per chunk; a row outside the input has none
                yes = kb.const(True, np.bool_)
                windows = [kb.lane_range(st, 1, win, V * sw, yes) for st in starts]
                valids = [kb.lane_range(st, sw, win, V, yes) for st in starts] if sw > 1 else windows
                for i in range(kh):
                    for j in range(kw):
                        start = starts[j]
                        window = kb.emit_and(windows[j], kb.broadcast(hok[i], V * sw))
                        xs = kb.vload_masked(xb, kb.add(bases[i], start), window, V * sw, widen=False)
                        if sw > 1:
                            xs = kb.shuffle(xs, xs, [sw * t for t in range(V)])
                        xs = kb.widen(xb, xs)
                        valid = kb.emit_and(valids[j], kb.broadcast(hok[i], V)) if sw > 1 else window
                        if is_max:
                            acc = kb.select(kb.emit_and(valid, _replaces(kb, xs, acc, F32)), xs, acc)
                        else:
                            acc = kb.fadd(acc, kb.select(valid, xs, kb.splat(0.0, V)), acc=True)
                nvalid = kb.imin(kb.sub(wout, ow0), V)
                mask = kb.mask(nvalid, V)
                pos = kb.add(kb.mul(oh, wout), ow0)
                if not is_max:
                    acc = kb.fmul(acc, kb.vload_masked(cb, pos, mask, V))
                kb.vstore_masked(acc, ob, kb.add(kb.mul(u, wout), ow0), mask)
            kb.for_(0, -(-wout // V), chunk)
        kb.for_(kb.args["lo"], kb.args["hi"], row)
    return build


@lowering("AdaptiveAvgPool", "AdaptiveMaxPool")
def _adaptive(ctx: LowerCtx, op: OvOp) -> None:
    x = op.inputs[0]
    xs = shape_of(x.type)
    out = list(shape_of(op.outputs[0].type)[2:])
    nsp = len(out)
    starts = [np.floor(np.arange(o) * xs[2 + i] / o).astype(np.int64) for i, o in enumerate(out)]
    ends = [np.ceil((np.arange(o) + 1) * xs[2 + i] / o).astype(np.int64) for i, o in enumerate(out)]
    table = np.concatenate(starts + ends)
    offs = np.cumsum([0] + [len(t) for t in starts + ends])[:-1]
    is_max = op.IR_TYPE == "AdaptiveMaxPool"
    want_idx = is_max and bool(op.outputs[1].uses)
    kmax = [int(np.max(e - b)) for b, e in zip(starts, ends)]
    osp = int(np.prod(out))
    isp = int(np.prod(xs[2:]))
    n, c = xs[:2]
    key = f"adaptive{op.IR_TYPE}{xs}{out}{want_idx}"

    def build(kb: KB) -> None:
        xb, tb, ob = kb.args["x"], kb.args["t"], kb.args["out"]

        def point(u):
            pos = kb.rem(u, osp)
            plane = kb.mul(kb.div(u, osp), isp)
            oidx = kb.unravel(pos, out)
            lo = [kb.load_index(tb, kb.add(int(offs[d]), oidx[d])) for d in range(nsp)]
            hi = [kb.load_index(tb, kb.add(int(offs[nsp + d]), oidx[d])) for d in range(nsp)]

            def tap(t, acc, best, cnt):
                kk = kb.unravel(t, kmax)
                ok = None
                coords = []
                for d in range(nsp):
                    ii = kb.add(lo[d], kk[d])
                    cnd = kb.icmp("slt", ii, hi[d])
                    ok = cnd if ok is None else kb.emit_and(ok, cnd)
                    coords.append(ii)
                flat = kb.lin(coords, contiguous(xs[2:]))
                v = kb.load(xb, kb.select(ok, kb.v(kb.add(plane, flat)), kb.v(0)))
                if is_max:
                    take = kb.emit_and(ok, kb.cmpf("ogt", v, acc))
                    return [kb.select(take, v, acc), kb.select(take, kb.v(flat), best), cnt]
                return [kb.fadd(acc, kb.select(ok, v, kb.f(0.0)), acc=True), best,
                        kb.fadd(cnt, kb.select(ok, kb.f(1.0), kb.f(0.0)))]
            acc, best, cnt = kb.for_(0, int(np.prod(kmax)), tap,
                                     init=[kb.f(float("-inf") if is_max else 0.0), kb.v(0), kb.f(0.0)])
            kb.store(acc if is_max else kb.fdiv(acc, cnt), ob, u)
            if want_idx:
                from xdsl.dialects import arith

                from passes.ov_to_loops.kb import reg_type
                kb.store(kb.emit(arith.IndexCastOp(best, reg_type(dtype_of(op.outputs[1].type)))), kb.args["idx"], u)
        kb.for_(kb.args["lo"], kb.args["hi"], point)

    xb, tbuf, ob = ctx.buf(x), ctx.const_buf(table), ctx.buf(op.outputs[0])
    args = [("x", F32, xb.size), ("t", I64, tbuf.size), ("out", F32, ob.size)]
    bufs, writes = [xb, tbuf, ob], [ob]
    if want_idx:
        ib = ctx.buf(op.outputs[1])
        args.append(("idx", dtype_of(op.outputs[1].type), ib.size))
        bufs.append(ib)
        writes.append(ib)
    ctx.step(Kernel(key, args, build), bufs, n * c * osp, float(n * c * isp), writes, op.IR_TYPE)


@lowering("Interpolate")
def _interpolate(ctx: LowerCtx, op: OvOp) -> None:
    """Pad if asked, then resample one axis at a time: out[a, j, b] = sum_t w[j,t] in[a, i[j,t], b]."""
    from runtime.reference.resize import interpolate_plan, resize_tables

    x = op.inputs[0]
    xs = list(shape_of(x.type))
    if dtype_of(x.type) != F32:
        raise CompileError("Interpolate on CPU needs f32 data")
    param = constant_of(op.inputs[1])
    if param is None:
        raise CompileError("Interpolate: scales/sizes must be constant")
    axes = list(range(len(xs))) if len(op.inputs) < 3 else list(norm_axes(
        [int(v) for v in constant_of(op.inputs[2]).reshape(-1)], len(xs)))
    padded, plan = interpolate_plan(op.attr, xs, param, axes)
    a = op.attr
    pb = list(a.pads_begin) + [0] * (len(xs) - len(a.pads_begin))
    cur = ctx.buf(x)
    shape = list(xs)
    if any(pb) or any(e for e in a.pads_end):
        shape = [d + b + e for d, b, e in zip(xs, pb, list(a.pads_end) + [0] * (len(xs) - len(a.pads_end)))]
        nxt = ctx.scratch_value(F32, int(np.prod(shape)))
        idx = [np.where((np.arange(n) - b >= 0) & (np.arange(n) - b < d), np.arange(n) - b, -1)
               for n, b, d in zip(shape, pb, xs)]
        tables = [np.where(i >= 0, i * s, -(1 << 40)) for i, s in zip(idx, contiguous(xs))]
        table_gather(ctx, cur, nxt, shape, tables, ctx.const_buf(np.zeros(1, F32)), "Interpolate")
        cur = nxt
    final = ctx.buf(op.outputs[0])
    if not plan:
        from passes.ov_to_loops.movement import strided_copy
        strided_copy(ctx, cur, final, shape, contiguous(shape), 0, contiguous(shape), 0, "Interpolate")
        return
    for i, (axis, n_out, scale) in enumerate(plan):
        idx, w = resize_tables(a, shape[axis], n_out, scale)
        A, R, B = arb(shape, [axis])
        taps = idx.shape[1]
        new_shape = list(shape)
        new_shape[axis] = n_out
        dst = final if i == len(plan) - 1 else ctx.scratch_value(F32, int(np.prod(new_shape)))
        tb, wb = ctx.const_buf(idx.reshape(-1).astype(np.int64)), ctx.const_buf(w.reshape(-1).astype(F32))
        key = f"resize{A},{R},{B},{n_out},{taps},{hash(idx.tobytes())},{hash(w.tobytes())}"

        def build(kb: KB, A=A, R=R, B=B, n_out=n_out, taps=taps) -> None:
            xb, ti, tw, ob = kb.args["x"], kb.args["i"], kb.args["w"], kb.args["out"]

            def unit(u):  # u = (a, j)
                j = kb.rem(u, n_out)
                ai = kb.div(u, n_out)
                srcs = [kb.mul(kb.add(kb.mul(ai, R), kb.load_index(ti, kb.add(kb.mul(j, taps), t))), B)
                        for t in range(taps)]
                ws = [kb.load(tw, kb.add(kb.mul(j, taps), t)) for t in range(taps)]
                dst_base = kb.mul(u, B)

                def col(b):
                    acc = None
                    for t in range(taps):
                        term = kb.fmul(ws[t], kb.load(xb, kb.add(srcs[t], b)))
                        acc = term if acc is None else kb.fadd(acc, term, acc=True)
                    kb.store(acc, ob, kb.add(dst_base, b))
                kb.for_(0, B, col)
            kb.for_(kb.args["lo"], kb.args["hi"], unit)

        k = Kernel(key, [("x", F32, cur.size), ("i", I64, tb.size), ("w", F32, wb.size), ("out", F32, dst.size)], build)
        ctx.step(k, [cur, tb, wb, dst], A * n_out, float(A * n_out * B * taps), [dst], "Interpolate")
        cur, shape = dst, new_shape


@lowering("ConvolutionBackpropData", "GroupConvolutionBackpropData")
def _deconv(ctx: LowerCtx, op: OvOp) -> None:
    """Transposed convolution in gather form: each output element sums the input elements whose
    (strided, dilated) footprint covers it."""
    from dialects.ov.shape_rules import deconv_pads

    x, w = op.inputs[0], op.inputs[1]
    xs, ws = shape_of(x.type), shape_of(w.type)
    os_ = shape_of(op.outputs[0].type)
    grouped = op.IR_TYPE.startswith("Group")
    cin_g = ws[1] if grouped else ws[0]
    cout_g = ws[2] if grouped else ws[1]
    k = ws[-(len(xs) - 2):]
    nsp = len(k)
    a = op.attr
    pb = deconv_pads(a, xs, k, os_[2:], len(op.inputs) > 2)
    kvol = int(np.prod(k))
    key = f"deconv{xs}{ws}{os_}{tuple(a.strides)}{tuple(a.dilations)}{pb}{grouped}"
    xst = contiguous(xs)

    def build(kb: KB) -> None:
        xb, wb, ob = kb.args["x"], kb.args["w"], kb.args["out"]

        def point(u):
            idx = kb.unravel(u, os_)
            ni, co, sp = idx[0], idx[1], idx[2:]
            gi, cl = kb.div(co, cout_g), kb.rem(co, cout_g)

            def red(r, acc):
                ci = kb.div(r, kvol)
                kk = kb.unravel(kb.rem(r, kvol), k)
                ok = None
                coords = []
                for d in range(nsp):
                    num = kb.sub(kb.add(sp[d], pb[d]), kb.mul(kk[d], a.dilations[d]))
                    q = kb.div(num, a.strides[d])
                    c1 = kb.icmp("eq", kb.rem(num, a.strides[d]), 0)
                    c2 = kb.icmp("ult", q, xs[2 + d])
                    c3 = kb.icmp("sge", num, 0)
                    cnd = kb.emit_and(kb.emit_and(c1, c2), c3)
                    ok = cnd if ok is None else kb.emit_and(ok, cnd)
                    coords.append(q)
                cin = kb.add(kb.mul(gi, cin_g), ci)
                xi = kb.lin([ni, cin, *coords], xst)
                xv = kb.load(xb, kb.select(ok, kb.v(xi), kb.v(0)))
                wi = kb.add(kb.mul(kb.add(kb.mul(kb.add(kb.mul(gi, cin_g), ci), cout_g), cl), kvol), kb.rem(r, kvol))
                prod = kb.fmul(xv, kb.load(wb, wi))
                return [kb.fadd(acc, kb.select(ok, prod, kb.f(0.0)), acc=True)]
            (acc,) = kb.for_(0, cin_g * kvol, red, init=[kb.f(0.0)])
            kb.store(acc, ob, u)
        kb.for_(kb.args["lo"], kb.args["hi"], point)

    xb, wbuf, ob = ctx.buf(x), ctx.buf(w), ctx.buf(op.outputs[0])
    total = int(np.prod(os_))
    ctx.step(Kernel(key, [("x", F32, xb.size), ("w", F32, wbuf.size), ("out", F32, ob.size)], build),
             [xb, wbuf, ob], total, float(total * cin_g * kvol), [ob], op.IR_TYPE)
