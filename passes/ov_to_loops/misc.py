"""Index and selection ops as small scalar kernels: ShapeOf, Range, OneHot, TopK, CumSum,
GatherElements, GatherND and the scatters. None of them is on the hot path of the models we
benchmark; they are written for clarity."""

from __future__ import annotations

import numpy as np
from xdsl.dialects import arith
from xdsl.dialects.builtin import IndexType

from dialects.errors import CompileError
from dialects.ov import OvOp, constant_of, dtype_of, shape_of
from dialects.ov.shape_rules import norm_axis
from passes.ov_to_loops.kb import KB
from passes.ov_to_loops.lower import lowering
from passes.ov_to_loops.movement import contiguous, strided_copy
from passes.ov_to_loops.program import Kernel, LowerCtx
from passes.ov_to_loops.reduce import arb
from passes.ov_to_loops.scalar import SCALAR, convert_value

I64 = np.dtype(np.int64)


def _index(kb: KB, value, dtype) -> object:
    """An integer tensor element as an index value."""
    return kb.emit(arith.IndexCastOp(convert_value(kb, value, dtype, I64), IndexType()))


def _from_index(kb: KB, idx, dtype):
    from passes.ov_to_loops.kb import reg_type

    return convert_value(kb, kb.emit(arith.IndexCastOp(kb.v(idx), reg_type(I64))), I64, dtype)


def _scalar_const(v) -> int:
    c = constant_of(v)
    if c is None:
        raise CompileError("an axis input must be constant")
    return int(np.asarray(c).reshape(-1)[0])


@lowering("ShapeOf")
def _shape_of(ctx: LowerCtx, op: OvOp) -> None:
    shape = np.array(shape_of(op.inputs[0].type), dtype=dtype_of(op.outputs[0].type))
    n = max(shape.size, 1)
    strided_copy(ctx, ctx.const_buf(shape), ctx.buf(op.outputs[0]), [n], [1], 0, [1], 0, "ShapeOf")


@lowering("Range")
def _range(ctx: LowerCtx, op: OvOp) -> None:
    start, _, step = op.inputs
    dt = dtype_of(op.outputs[0].type)
    n = shape_of(op.outputs[0].type)[0]
    sdt = dtype_of(start.type)
    key = f"range{n}{dt.str}{sdt.str}"

    def build(kb: KB) -> None:
        s0 = convert_value(kb, kb.load(kb.args["start"], 0), sdt, dt)
        st = convert_value(kb, kb.load(kb.args["step"], 0), sdt, dt)

        def el(i):
            v = SCALAR["Add"](kb, None, [dt, dt], dt, s0,
                              SCALAR["Multiply"](kb, None, [dt, dt], dt, _from_index(kb, i, dt), st))
            kb.store(v, kb.args["out"], i)
        kb.for_(kb.args["lo"], kb.args["hi"], el)

    sb, tb, ob = ctx.buf(start), ctx.buf(step), ctx.buf(op.outputs[0])
    ctx.step(Kernel(key, [("start", sdt, sb.size), ("step", sdt, tb.size), ("out", dt, ob.size)], build),
             [sb, tb, ob], n, float(n), [ob], "Range")


@lowering("OneHot")
def _one_hot(ctx: LowerCtx, op: OvOp) -> None:
    indices, _, on, off = op.inputs
    out = op.outputs[0]
    os_ = shape_of(out.type)
    ax = norm_axis(op.attr.axis, len(os_))
    depth = os_[ax]
    idt, dt = dtype_of(indices.type), dtype_of(out.type)
    ist = contiguous(shape_of(indices.type))
    total = int(np.prod(os_))
    normalize = op.attr.negative_indices_mode == "normalize"
    key = f"onehot{os_}{ax}{idt.str}{dt.str}{normalize}"

    def build(kb: KB) -> None:
        def el(u):
            idx = kb.unravel(u, os_)
            j = idx[ax]
            rest = idx[:ax] + idx[ax + 1:]
            raw = _index(kb, kb.load(kb.args["indices"], kb.lin(rest, ist)), idt)
            if normalize:
                raw = kb.select(kb.icmp("slt", raw, 0), kb.v(kb.add(raw, depth)), raw)
            hot = kb.icmp("eq", raw, j)
            kb.store(kb.select(hot, kb.load(kb.args["on"], 0), kb.load(kb.args["off"], 0)), kb.args["out"], u)
        kb.for_(kb.args["lo"], kb.args["hi"], el)

    ib, nb, fb, ob = ctx.buf(indices), ctx.buf(on), ctx.buf(off), ctx.buf(out)
    ctx.step(Kernel(key, [("indices", idt, ib.size), ("on", dt, nb.size), ("off", dt, fb.size), ("out", dt, ob.size)],
                    build), [ib, nb, fb, ob], total, float(total), [ob], "OneHot")


@lowering("CumSum")
def _cumsum(ctx: LowerCtx, op: OvOp) -> None:
    x = op.inputs[0]
    xs = shape_of(x.type)
    dt = dtype_of(x.type)
    ax = norm_axis(_scalar_const(op.inputs[1]), len(xs))
    a, r, b = arb(xs, [ax])
    exclusive, reverse = op.attr.exclusive, op.attr.reverse
    key = f"cumsum{a},{r},{b}{exclusive}{reverse}{dt.str}"

    def build(kb: KB) -> None:
        xb, ob = kb.args["x"], kb.args["out"]

        def line(u):
            base = kb.add(kb.mul(kb.div(u, b), r * b), kb.rem(u, b))

            def step(i, acc):
                pos = kb.sub(r - 1, i) if reverse else i
                at = kb.add(base, kb.mul(pos, b))
                v = kb.load(xb, at)
                new = SCALAR["Add"](kb, None, [dt, dt], dt, acc, v)
                kb.store(acc if exclusive else new, ob, at)
                return [new]
            kb.for_(0, r, step, init=[kb.const(0, dt)])
        kb.for_(kb.args["lo"], kb.args["hi"], line)

    xb, ob = ctx.buf(x), ctx.buf(op.outputs[0])
    ctx.step(Kernel(key, [("x", dt, xb.size), ("out", dt, ob.size)], build), [xb, ob], a * b, float(a * b * r),
             [ob], "CumSum")


@lowering("TopK")
def _topk(ctx: LowerCtx, op: OvOp) -> None:
    """Selection: k passes over each line, each taking the best element not yet taken (the
    first among equals, so the order is stable). NaN is never better than a number, in either
    mode (ONNX leaves it open; the interpreter's stable argsort orders the same way): NaNs come
    after every number, in their order."""
    x = op.inputs[0]
    xs = shape_of(x.type)
    dt = dtype_of(x.type)
    ax = norm_axis(op.attr.axis, len(xs))
    k = shape_of(op.outputs[0].type)[ax]
    a, r, b = arb(xs, [ax])
    idt = dtype_of(op.outputs[1].type)
    better = "Greater" if op.attr.mode == "max" else "Less"
    by_index = op.attr.sort == "index"
    key = f"topk{a},{r},{b},{k},{better},{by_index},{dt.str},{idt.str}"

    def build(kb: KB) -> None:
        xb, vb, ib, sc, soff = (kb.args[n] for n in ("x", "values", "indices", "scratch", "soff"))

        def line(u):
            base = kb.add(kb.mul(kb.div(u, b), r * b), kb.rem(u, b))
            obase = kb.add(kb.mul(kb.div(u, b), k * b), kb.rem(u, b))
            kb.for_(0, r, lambda i: kb.store(kb.f(0.0), sc, kb.add(soff, i)))

            def pick(j):
                def scan(i, best, best_i, found):
                    v = kb.load(xb, kb.add(base, kb.mul(i, b)))
                    free = kb.cmpf("oeq", kb.load(sc, kb.add(soff, i)), kb.f(0.0))
                    wins = kb.emit(arith.OrIOp(kb.emit(arith.XOrIOp(found, kb.const(True, np.bool_))),
                                               SCALAR[better](kb, None, [dt, dt], dt, v, best)))
                    if dt.kind == "f":  # a number beats a NaN taken so far
                        wins = kb.emit(arith.OrIOp(wins, kb.emit_and(kb.cmpf("uno", best, best),
                                                                     kb.cmpf("ord", v, v))))
                    take = kb.emit_and(free, wins)
                    return [kb.select(take, v, best), kb.select(take, kb.v(i), best_i),  # i: an int if r == 1
                            kb.emit(arith.OrIOp(found, take))]
                best, best_i, _ = kb.for_(0, r, scan, init=[kb.load(xb, base), kb.v(0), kb.const(False, np.bool_)])
                kb.store(kb.f(1.0), sc, kb.add(soff, best_i))
                kb.store(best, vb, kb.add(obase, kb.mul(j, b)))
                kb.store(_from_index(kb, best_i, idt), ib, kb.add(obase, kb.mul(j, b)))
            kb.for_(0, k, pick)
            if by_index:  # insertion sort of the k picks by index
                def outer(i):
                    def inner(t):
                        j = kb.sub(i, t)
                        pa, pb_ = kb.add(obase, kb.mul(kb.sub(j, 1), b)), kb.add(obase, kb.mul(j, b))
                        ia, ib_ = kb.load(ib, pa), kb.load(ib, pb_)
                        swap = SCALAR["Greater"](kb, None, [idt, idt], idt, ia, ib_)

                        def do():
                            va, vb_ = kb.load(vb, pa), kb.load(vb, pb_)
                            kb.store(ib_, ib, pa)
                            kb.store(ia, ib, pb_)
                            kb.store(vb_, vb, pa)
                            kb.store(va, vb, pb_)
                        kb.if_(swap, do)
                    kb.for_(0, i, inner)
                kb.for_(1, k, outer)
        kb.for_(kb.args["lo"], kb.args["hi"], line)

    xb, vb, ib = ctx.buf(x), ctx.buf(op.outputs[0]), ctx.buf(op.outputs[1])
    ctx.step(Kernel(key, [("x", dt, xb.size), ("values", dt, vb.size), ("indices", idt, ib.size)], build, r + 16),
             [xb, vb, ib], a * b, float(a * b * r * k), [vb, ib], "TopK")


@lowering("GatherElements")
def _gather_elements(ctx: LowerCtx, op: OvOp) -> None:
    data, indices = op.inputs
    ds, is_ = shape_of(data.type), shape_of(indices.type)
    ax = norm_axis(op.attr.axis, len(ds))
    dt, idt = dtype_of(data.type), dtype_of(indices.type)
    dst = contiguous(ds)
    total = int(np.prod(is_))
    key = f"gatherel{ds}{is_}{ax}{dt.str}{idt.str}"

    def build(kb: KB) -> None:
        def el(u):
            idx = kb.unravel(u, is_)
            j = _index(kb, kb.load(kb.args["indices"], u), idt)
            j = kb.select(kb.icmp("slt", j, 0), kb.v(kb.add(j, ds[ax])), j)
            pos = list(idx)
            pos[ax] = j
            kb.store(kb.load(kb.args["data"], kb.lin(pos, dst)), kb.args["out"], u)
        kb.for_(kb.args["lo"], kb.args["hi"], el)

    db, ib, ob = ctx.buf(data), ctx.buf(indices), ctx.buf(op.outputs[0])
    ctx.step(Kernel(key, [("data", dt, db.size), ("indices", idt, ib.size), ("out", dt, ob.size)], build),
             [db, ib, ob], total, float(total), [ob], "GatherElements")


@lowering("GatherND")
def _gather_nd(ctx: LowerCtx, op: OvOp) -> None:
    data, indices = op.inputs
    ds, is_ = shape_of(data.type), shape_of(indices.type)
    bd = op.attr.batch_dims
    k = is_[-1]
    dt, idt = dtype_of(data.type), dtype_of(indices.type)
    slice_size = int(np.prod(ds[bd + k:], dtype=np.int64))
    lines = int(np.prod(is_[:-1], dtype=np.int64))
    per_batch = int(np.prod(is_[bd:-1], dtype=np.int64))
    dst = contiguous(ds)
    key = f"gathernd{ds}{is_}{bd}{dt.str}{idt.str}"

    def build(kb: KB) -> None:
        def line(u):
            b = kb.div(u, per_batch)
            bidx = kb.unravel(b, list(ds[:bd])) if bd else []
            coords = []
            for j in range(k):
                c = _index(kb, kb.load(kb.args["indices"], kb.add(kb.mul(u, k), j)), idt)
                coords.append(kb.select(kb.icmp("slt", c, 0), kb.v(kb.add(c, ds[bd + j])), c))
            src = kb.lin([*bidx, *coords], dst[: bd + k])
            kb.for_(0, slice_size, lambda t: kb.store(kb.load(kb.args["data"], kb.add(src, t)), kb.args["out"],
                                                      kb.add(kb.mul(u, slice_size), t)))
        kb.for_(kb.args["lo"], kb.args["hi"], line)

    db, ib, ob = ctx.buf(data), ctx.buf(indices), ctx.buf(op.outputs[0])
    ctx.step(Kernel(key, [("data", dt, db.size), ("indices", idt, ib.size), ("out", dt, ob.size)], build),
             [db, ib, ob], lines, float(lines * slice_size), [ob], "GatherND")


def _scatter(ctx: LowerCtx, op: OvOp, body) -> None:
    """out = data, then the updates in order on one thread (later updates win)."""
    data = op.inputs[0]
    ds = shape_of(data.type)
    out = ctx.buf(op.outputs[0])
    strided_copy(ctx, ctx.buf(data), out, ds, contiguous(ds), 0, contiguous(ds), 0, op.IR_TYPE)
    idx, upd = op.inputs[1], op.inputs[2]
    dt, idt = dtype_of(data.type), dtype_of(idx.type)
    ib, ub = ctx.buf(idx), ctx.buf(upd)
    key = f"scatter{op.IR_TYPE}{ds}{shape_of(idx.type)}{shape_of(upd.type)}{sorted(vars(op.attr).items())}" \
          f"{[_scalar_const(op.inputs[3]) if len(op.inputs) > 3 else None]}{dt.str}{idt.str}"

    def build(kb: KB) -> None:
        def once():
            body(kb, kb.args["out"], kb.args["indices"], kb.args["updates"])
        kb.if_(kb.icmp("eq", kb.args["lo"], 0), once)

    ctx.step(Kernel(key, [("indices", idt, ib.size), ("updates", dt, ub.size), ("out", dt, out.size)], build),
             [ib, ub, out], 1, 1.0, [out], op.IR_TYPE)


@lowering("ScatterUpdate")
def _scatter_update(ctx: LowerCtx, op: OvOp) -> None:
    ds, is_ = shape_of(op.inputs[0].type), shape_of(op.inputs[1].type)
    ax = norm_axis(_scalar_const(op.inputs[3]), len(ds))
    idt = dtype_of(op.inputs[1].type)
    ni = int(np.prod(is_, dtype=np.int64))
    pre, post = int(np.prod(ds[:ax], dtype=np.int64)), int(np.prod(ds[ax + 1:], dtype=np.int64))

    def body(kb, ob, ib, ub):
        def per_index(i):
            j = _index(kb, kb.load(ib, i), idt)
            j = kb.select(kb.icmp("slt", j, 0), kb.v(kb.add(j, ds[ax])), j)

            def per_pre(p):
                def per_post(q):
                    src = kb.add(kb.mul(kb.add(kb.mul(p, ni), i), post), q)
                    dst = kb.add(kb.mul(kb.add(kb.mul(p, ds[ax]), j), post), q)
                    kb.store(kb.load(ub, src), ob, dst)
                kb.for_(0, post, per_post)
            kb.for_(0, pre, per_pre)
        kb.for_(0, ni, per_index)
    _scatter(ctx, op, body)


REDUCTION_OPS = {"sum": "Add", "prod": "Multiply", "max": "Maximum", "min": "Minimum"}


@lowering("ScatterElementsUpdate")
def _scatter_elements(ctx: LowerCtx, op: OvOp) -> None:
    ds, is_ = shape_of(op.inputs[0].type), shape_of(op.inputs[1].type)
    ax = norm_axis(_scalar_const(op.inputs[3]), len(ds))
    dt, idt = dtype_of(op.inputs[0].type), dtype_of(op.inputs[1].type)
    red = op.attr.reduction
    if red == "mean":
        raise CompileError("ScatterElementsUpdate with reduction=mean is not supported on CPU")
    n = int(np.prod(is_, dtype=np.int64))
    dst = contiguous(ds)

    def body(kb, ob, ib, ub):
        def target(u):
            pos = list(kb.unravel(u, is_))
            j = _index(kb, kb.load(ib, u), idt)
            pos[ax] = kb.select(kb.icmp("slt", j, 0), kb.v(kb.add(j, ds[ax])), j)
            return kb.lin(pos, dst)

        def el(u):
            at = target(u)
            v = kb.load(ub, u)
            if red != "none":
                v = SCALAR[REDUCTION_OPS[red]](kb, None, [dt, dt], dt, kb.load(ob, at), v)
            kb.store(v, ob, at)
        if red != "none" and not op.attr.use_init_val:  # the data's values at the targets do not count
            kb.for_(0, n, lambda u: kb.store(kb.const(_reduction_identity(red, dt), dt), ob, target(u)))
        kb.for_(0, n, el)
    _scatter(ctx, op, body)


def _reduction_identity(red: str, dt: np.dtype) -> float | int:
    """The value a reduction starts from (what the reference puts where use_init_val is false)."""
    if red in ("sum", "prod"):
        return 0 if red == "sum" else 1
    big = float("inf") if dt.kind == "f" else int(np.iinfo(dt).max)
    small = float("-inf") if dt.kind == "f" else int(np.iinfo(dt).min)
    return big if red == "min" else small


@lowering("ScatterNDUpdate")
def _scatter_nd(ctx: LowerCtx, op: OvOp) -> None:
    ds, is_ = shape_of(op.inputs[0].type), shape_of(op.inputs[1].type)
    dt, idt = dtype_of(op.inputs[0].type), dtype_of(op.inputs[1].type)
    k = is_[-1]
    red = op.attr.reduction
    if red == "mean":
        raise CompileError("ScatterNDUpdate with reduction=mean is not supported on CPU")
    lines = int(np.prod(is_[:-1], dtype=np.int64))
    slice_size = int(np.prod(ds[k:], dtype=np.int64))
    dst = contiguous(ds)

    def body(kb, ob, ib, ub):
        def line(u):
            coords = []
            for j in range(k):
                c = _index(kb, kb.load(ib, kb.add(kb.mul(u, k), j)), idt)
                coords.append(kb.select(kb.icmp("slt", c, 0), kb.v(kb.add(c, ds[j])), c))
            base = kb.lin(coords, dst[:k])

            def el(t):
                at = kb.add(base, t)
                v = kb.load(ub, kb.add(kb.mul(u, slice_size), t))
                if red != "none":
                    v = SCALAR[REDUCTION_OPS[red]](kb, None, [dt, dt], dt, kb.load(ob, at), v)
                kb.store(v, ob, at)
            kb.for_(0, slice_size, el)
        kb.for_(0, lines, line)
    _scatter(ctx, op, body)
