"""Reductions and the normalizations built on them: Reduce*, SoftMax/LogSoftmax, MVN,
NormalizeL2, LRN, BatchNormInference.

A reduction sees its input as [A, R, B] (kept dims before the reduced block, the reduced dims,
kept dims after). With B = 1 the reduction runs along contiguous rows (LLVM vectorizes the
inner reduction loop under reassociation); with B > 1 it accumulates whole contiguous B-rows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.dialects import arith, math

from dialects.errors import CompileError
from dialects.loops import AllTrueOp
from dialects.ov import OvOp, constant_of, dtype_of, shape_of
from dialects.ov.shape_rules import norm_axes, norm_axis
from passes.ov_to_loops.elementwise import Dag, Node, collapse, eltwise_kernel, lower_eltwise_group
from passes.ov_to_loops.kb import KB
from passes.ov_to_loops.lower import lowering
from passes.ov_to_loops.movement import contiguous, strided_copy
from passes.ov_to_loops.program import Buf, Kernel, LowerCtx
from passes.ov_to_loops.scalar import SCALAR, convert_value

F32 = np.dtype(np.float32)


def arb(shape: Sequence[int], axes: Sequence[int]) -> tuple[int, int, int] | None:
    """(A, R, B) when `axes` form one contiguous block, else None."""
    axes = sorted(axes)
    if not axes:
        return None
    if axes != list(range(axes[0], axes[-1] + 1)):
        return None
    p = lambda s: int(np.prod(s, dtype=np.int64))  # noqa: E731
    return p(shape[:axes[0]]), p(shape[axes[0]:axes[-1] + 1]), p(shape[axes[-1] + 1:])


def _axes(op: OvOp, rank: int) -> list[int]:
    c = constant_of(op.inputs[1])
    if c is None:
        raise CompileError(f"{op.IR_TYPE}: axes must be constant")
    return list(norm_axes([int(v) for v in np.asarray(c).reshape(-1)], rank, op.IR_TYPE))


# --- Reduce* ---------------------------------------------------------------------------------------

REDUCE = {  # op -> (accumulator dtype rule, combine, initial value, finalize)
    "ReduceSum": "add", "ReduceMean": "add", "ReduceProd": "mul", "ReduceMax": "max", "ReduceMin": "min",
    "ReduceL1": "add", "ReduceL2": "add", "ReduceLogicalAnd": "and", "ReduceLogicalOr": "or",
}


def _init(kind: str, dt: np.dtype):
    if kind in ("add", "or"):
        return 0
    if kind in ("mul", "and"):
        return 1
    if dt.kind == "f":
        return float("-inf") if kind == "max" else float("inf")
    if dt == np.bool_:
        return kind == "min"
    info = np.iinfo(dt)
    return info.min if kind == "max" else info.max


def _combine(kb: KB, kind: str, dt: np.dtype, acc, x):
    if dt.kind == "f" and kind in ("add", "mul"):  # an accumulation: may be reassociated
        return kb.fadd(acc, x, acc=True) if kind == "add" else kb.fmul(acc, x, acc=True)
    op = {"add": "Add", "mul": "Multiply", "max": "Maximum", "min": "Minimum", "and": "LogicalAnd",
          "or": "LogicalOr"}[kind]
    return SCALAR[op](kb, None, [dt, dt], dt, acc, x)


@lowering(*REDUCE)
def _reduce(ctx: LowerCtx, op: OvOp) -> None:
    x = op.inputs[0]
    xs = shape_of(x.type)
    dt = dtype_of(x.type)
    axes = _axes(op, len(xs))
    out = op.outputs[0]
    if not axes:  # nothing to reduce: a copy
        strided_copy(ctx, ctx.buf(x), ctx.buf(out), xs, contiguous(xs), 0, contiguous(xs), 0, op.IR_TYPE)
        return
    kind = REDUCE[op.IR_TYPE]
    kept = [d for d in range(len(xs)) if d not in axes]
    red = list(axes)
    st = contiguous(xs)
    kshape, (kst,) = collapse([xs[d] for d in kept] or [1], [[st[d] for d in kept] or [0]])
    rshape, (rst,) = collapse([xs[d] for d in red], [[st[d] for d in red]])
    nk = int(np.prod(kshape, dtype=np.int64))
    nr = int(np.prod(rshape, dtype=np.int64))
    name = op.IR_TYPE
    key = f"reduce{name}{xs}{axes}{dt.str}"

    def build(kb: KB) -> None:
        xb, ob = kb.args["x"], kb.args["out"]

        def point(o):
            base = kb.lin(kb.unravel(o, kshape), kst)
            prep = (lambda v: SCALAR["Abs"](kb, None, [dt], dt, v)) if name == "ReduceL1" else \
                (lambda v: SCALAR["Multiply"](kb, None, [dt, dt], dt, v, v)) if name == "ReduceL2" else (lambda v: v)

            def body(r, acc):
                off = kb.lin(kb.unravel(r, rshape), rst, base)
                return [_combine(kb, kind, dt, acc, prep(kb.load(xb, off)))]
            (acc,) = kb.for_(0, nr, body, init=[kb.const(_init(kind, dt), dt)])
            if name == "ReduceMean":
                acc = SCALAR["Divide"](kb, _Floor(), [dt, dt], dt, acc, kb.const(nr, dt))
            elif name == "ReduceL2":
                acc = SCALAR["Sqrt"](kb, None, [dt], dt, acc)
            kb.store(acc, ob, o)
        kb.for_(kb.args["lo"], kb.args["hi"], point)

    xb, ob = ctx.buf(x), ctx.buf(out)
    ctx.step(Kernel(key, [("x", dt, xb.size), ("out", dt, ob.size)], build), [xb, ob], nk, float(nk * nr), [ob],
             op.IR_TYPE)


class _Floor:
    m_pythondiv = False


# --- softmax -----------------------------------------------------------------------------------------

@lowering("SoftMax", "LogSoftmax")
def _softmax(ctx: LowerCtx, op: OvOp) -> None:
    x = op.inputs[0]
    xs = shape_of(x.type)
    ax = norm_axis(op.attr.axis, len(xs))
    a, r, b = arb(xs, [ax])
    log = op.IR_TYPE == "LogSoftmax"
    key = f"softmax{a},{r},{b},{log}"

    def build(kb: KB) -> None:
        xb, ob = kb.args["x"], kb.args["out"]

        def row(u):  # u = (a, b)
            bi = kb.rem(u, b)
            base = kb.add(kb.mul(kb.div(u, b), r * b), bi)
            (m,) = kb.for_(0, r, lambda i, mx: [kb.fmax(mx, kb.load(xb, kb.add(base, kb.mul(i, b))))],
                           init=[kb.f(float("-inf"))])

            def expsum(i, s):
                e = kb.exp(kb.fsub(kb.load(xb, kb.add(base, kb.mul(i, b))), m))
                if not log:
                    kb.store(e, ob, kb.add(base, kb.mul(i, b)))
                return [kb.fadd(s, e, acc=True)]
            (s,) = kb.for_(0, r, expsum, init=[kb.f(0.0)])
            if log:  # (x - max) - log(sum): folding max into the log term would lose digits
                lse = kb.emit(math.LogOp(s))
                kb.for_(0, r, lambda i: kb.store(kb.emit(arith.SubfOp(kb.emit(arith.SubfOp(
                    kb.load(xb, kb.add(base, kb.mul(i, b))), m)), lse)), ob, kb.add(base, kb.mul(i, b))))
            else:
                inv = kb.fdiv(kb.f(1.0), s)
                kb.for_(0, r, lambda i: kb.store(kb.fmul(kb.load(ob, kb.add(base, kb.mul(i, b))), inv), ob,
                                                 kb.add(base, kb.mul(i, b))))
        kb.for_(kb.args["lo"], kb.args["hi"], row)

    xb, ob = ctx.buf(x), ctx.buf(op.outputs[0])
    ctx.step(Kernel(key, [("x", F32, xb.size), ("out", F32, ob.size)], build), [xb, ob], a * b, float(a * b * r * 8),
             [ob], op.IR_TYPE)


# --- MVN and NormalizeL2 --------------------------------------------------------------------------------

def _row_norm(ctx: LowerCtx, op: OvOp, axes: list[int], kind: str) -> None:
    """Normalize over the contiguous block `axes`: kind "mvn" (mean/variance) or "l2"."""
    x = op.inputs[0]
    xs = shape_of(x.type)
    blocks = arb(xs, axes)
    if blocks is None:
        raise CompileError(f"{op.IR_TYPE} over non-adjacent axes {axes} needs the decompose pass")
    a, r, b = blocks
    at = op.attr
    key = f"{kind}{a},{r},{b},{sorted(vars(at).items())}"

    def build(kb: KB) -> None:
        xb, ob = kb.args["x"], kb.args["out"]
        eps = kb.f(at.eps)

        def row(u):
            bi = kb.rem(u, b)
            base = kb.add(kb.mul(kb.div(u, b), r * b), bi)

            def at_(i):
                return kb.add(base, kb.mul(i, b))
            if kind == "mvn":
                (s,) = kb.for_(0, r, lambda i, acc: [kb.fadd(acc, kb.load(xb, at_(i)), acc=True)], init=[kb.f(0.0)])
                mean = kb.fdiv(s, kb.f(float(r)))
                if at.normalize_variance:
                    def sq(i, acc):
                        d = kb.fsub(kb.load(xb, at_(i)), mean)
                        return [kb.fadd(acc, kb.fmul(d, d), acc=True)]
                    (v,) = kb.for_(0, r, sq, init=[kb.f(0.0)])
                    var = kb.fdiv(v, kb.f(float(r)))
                    den = kb.sqrt(kb.fadd(var, eps)) if at.eps_mode == "inside_sqrt" else kb.fadd(kb.sqrt(var), eps)
                    inv = kb.fdiv(kb.f(1.0), den)
                    kb.for_(0, r, lambda i: kb.store(kb.fmul(kb.fsub(kb.load(xb, at_(i)), mean), inv), ob, at_(i)))
                else:
                    kb.for_(0, r, lambda i: kb.store(kb.fsub(kb.load(xb, at_(i)), mean), ob, at_(i)))
            else:
                def sq(i, acc):
                    d = kb.load(xb, at_(i))
                    return [kb.fadd(acc, kb.fmul(d, d), acc=True)]
                (s,) = kb.for_(0, r, sq, init=[kb.f(0.0)])
                den = kb.sqrt(kb.fadd(s, eps) if at.eps_mode == "add" else kb.fmax(s, eps))
                inv = kb.fdiv(kb.f(1.0), den)
                kb.for_(0, r, lambda i: kb.store(kb.fmul(kb.load(xb, at_(i)), inv), ob, at_(i)))
        kb.for_(kb.args["lo"], kb.args["hi"], row)

    xb, ob = ctx.buf(x), ctx.buf(op.outputs[0])
    ctx.step(Kernel(key, [("x", F32, xb.size), ("out", F32, ob.size)], build), [xb, ob], a * b, float(a * b * r * 4),
             [ob], op.IR_TYPE)


@lowering("MVN")
def _mvn(ctx: LowerCtx, op: OvOp) -> None:
    _row_norm(ctx, op, _axes(op, len(shape_of(op.inputs[0].type))), "mvn")


@lowering("NormalizeL2")
def _normalize_l2(ctx: LowerCtx, op: OvOp) -> None:
    xs = shape_of(op.inputs[0].type)
    axes = _axes(op, len(xs))
    if not axes:  # each element normalized by itself
        x = op.inputs[0]
        dag = Dag([Node("Multiply", (), (("in", 0), ("in", 0)), (F32.str, F32.str), F32.str),
                   Node("Add", (), (("node", 0), ("in", 1)), (F32.str, F32.str), F32.str),
                   Node("Sqrt", (), (("node", 1),), (F32.str,), F32.str),
                   Node("Divide", (("m_pythondiv", False),), (("in", 0), ("node", 2)), (F32.str, F32.str), F32.str)],
                  [("node", 3)])
        eps = ctx.const_buf(np.array([op.attr.eps], F32))
        kernel, extent, cost = eltwise_kernel(xs, [F32, F32], [xs, (1,) * len(xs)], dag, [F32])
        ob = ctx.buf(op.outputs[0])
        ctx.step(kernel, [ctx.buf(x), eps, ob], extent, cost, [ob], "NormalizeL2")
        return
    _row_norm(ctx, op, axes, "l2")


# --- LRN ---------------------------------------------------------------------------------------------------

@lowering("LRN")
def _lrn(ctx: LowerCtx, op: OvOp) -> None:
    """Sum of squares over a window along each axis (separable box sums), then
    x / (bias + alpha / size^n * sum)^beta."""
    x = op.inputs[0]
    xs = shape_of(x.type)
    axes = _axes(op, len(xs))
    at = op.attr
    size = at.size
    before, after = (size - 1) // 2, size // 2
    n = int(np.prod(xs, dtype=np.int64))
    if len(axes) == 1 and arb(xs, axes)[2] >= 16:
        return _lrn_rows(ctx, op, arb(xs, axes), before, after)
    sq = ctx.scratch_value(F32, n)
    xb = ctx.buf(x)
    dag_sq = Dag([Node("Multiply", (), (("in", 0), ("in", 0)), (F32.str, F32.str), F32.str)], [("node", 0)])
    k, e, c = eltwise_kernel(xs, [F32], [xs], dag_sq, [F32])
    ctx.step(k, [xb, sq], e, c, [sq], "LRN")
    cur = sq
    for ax in axes:
        a, r, b = arb(xs, [ax])
        nxt = ctx.scratch_value(F32, n)
        key = f"boxsum{a},{r},{b},{before},{after}"

        def build(kb: KB, a=a, r=r, b=b) -> None:
            ib, ob = kb.args["x"], kb.args["out"]

            def unit(u):  # u = (a, i)
                i = kb.rem(u, r)
                ai = kb.div(u, r)
                lo = kb.imax(kb.sub(i, before), 0)
                hi = kb.imin(kb.add(i, after + 1), r)
                obase = kb.mul(u, b)

                def col(j):
                    def acc(t, s):
                        return [kb.fadd(s, kb.load(ib, kb.add(kb.mul(kb.add(kb.mul(ai, r), t), b), j)), acc=True)]
                    (s,) = kb.for_(lo, hi, acc, init=[kb.f(0.0)])
                    kb.store(s, ob, kb.add(obase, j))
                kb.for_(0, b, col)
            kb.for_(kb.args["lo"], kb.args["hi"], unit)

        ctx.step(Kernel(key, [("x", F32, n), ("out", F32, n)], build), [cur, nxt], a * r, float(n * size), [nxt],
                 "LRN")
        cur = nxt
    scale = at.alpha / size ** len(axes)
    consts = ctx.const_buf(np.array([at.bias, scale, at.beta], F32))
    key = f"lrnfinal{n}"

    def final(kb: KB) -> None:
        xb_, sb, cb, ob = kb.args["x"], kb.args["s"], kb.args["c"], kb.args["out"]
        bias, sc, beta = (kb.load(cb, i) for i in range(3))
        blk = 4096

        def unit(u):
            j0 = kb.mul(u, blk)

            def el(j):
                den = kb.emit(math.PowFOp(kb.fadd(bias, kb.fmul(sc, kb.load(sb, j))), beta))
                kb.store(kb.fdiv(kb.load(xb_, j), den), ob, j)
            kb.for_(j0, kb.imin(kb.add(j0, blk), n), el)
        kb.for_(kb.args["lo"], kb.args["hi"], unit)

    ob = ctx.buf(op.outputs[0])
    ctx.step(Kernel(key, [("x", F32, n), ("s", F32, n), ("c", F32, 3), ("out", F32, n)], final),
             [xb, cur, consts, ob], -(-n // 4096), float(n * 20), [ob], "LRN")


def _lrn_rows(ctx: LowerCtx, op: OvOp, arb_: tuple[int, int, int], before: int, after: int) -> None:
    """LRN across one axis ([A, R, B], B >= 16 contiguous: channels of NCHW) in one pass of
    vectors along B, each output element's window of squares summed as it is read. The sums in
    float64, as the definition (runtime.reference) computes them: squares of large values do not
    overflow. Square roots for beta 0.75 and 0.5 (the LRNs of AlexNet/GoogLeNet), in float32
    when the bases of a vector are normal float32 values, else (and pow for other betas) the
    whole x / (bias + alpha / size * sum) ** beta in float64, rounded once."""
    from xdsl.dialects.builtin import VectorType, f32, f64

    a, r, b = arb_
    at = op.attr
    beta = float(at.beta)
    F64, w = np.dtype(np.float64), 16
    key = f"lrnrows{a},{r},{b},{before},{after}|{float(at.alpha)},{at.size},{float(at.bias)},{beta}"

    def build(kb: KB) -> None:
        xb, ob = kb.args["x"], kb.args["out"]

        def wide(v):
            return kb.emit(arith.ExtFOp(v, VectorType(f64, [w])))

        def power(base):
            if beta in (0.5, 0.75):
                root = kb.sqrt(base)
                return root if beta == 0.5 else kb.fmul(root, kb.sqrt(root))
            return base if beta == 1.0 else kb.emit(math.PowFOp(base, kb.splat(beta, w, F64)))

        def unit(u):  # u = (a, i)
            i, ai = kb.rem(u, r), kb.div(u, r)
            lo, hi = kb.imax(kb.sub(i, before), 0), kb.imin(kb.add(i, after + 1), r)
            row = kb.mul(u, b)

            def vec(jv):
                j0 = kb.mul(jv, w)
                lanes = kb.mask(kb.imin(kb.sub(b, j0), w), w)

                def acc(t, s):
                    v = wide(kb.vload_masked(xb, kb.add(kb.mul(kb.add(kb.mul(ai, r), t), b), j0), lanes, w))
                    return [kb.fma(v, v, s)]
                (s,) = kb.for_(lo, hi, acc, init=[kb.splat(0.0, w, F64)])
                base = kb.fadd(kb.splat(float(at.bias), w, F64),
                               kb.fmul(kb.splat(float(at.alpha) / at.size, w, F64), s))
                x = kb.vload_masked(xb, kb.add(row, j0), lanes, w)

                def exact():
                    return [kb.emit(arith.TruncFOp(kb.fdiv(wide(x), power(base)), VectorType(f32, [w])))]
                if beta not in (0.5, 0.75):
                    (y,) = exact()
                else:  # the roots in float32 where the base is a normal float32 (a few ulps more)
                    mag = kb.emit(math.AbsFOp(base))
                    normal = kb.emit_and(kb.cmpf("olt", mag, kb.splat(1e37, w, F64)),
                                         kb.cmpf("ogt", mag, kb.splat(1e-37, w, F64)))

                    def fast():
                        return [kb.fdiv(x, power(kb.emit(arith.TruncFOp(base, VectorType(f32, [w])))))]
                    (y,) = kb.if_(kb.emit(AllTrueOp(normal)), fast, exact, [VectorType(f32, [w])])
                kb.vstore_masked(y, ob, kb.add(row, j0), lanes)
            kb.for_(0, -(-b // w), vec)
        kb.for_(kb.args["lo"], kb.args["hi"], unit)

    n = a * r * b
    ctx.step(Kernel(key, [("x", F32, n), ("out", F32, n)], build), [ctx.buf(op.inputs[0]), ctx.buf(op.outputs[0])],
             a * r, float(n * (before + after + 1) * 3), [ctx.buf(op.outputs[0])], "LRN")


# --- BatchNormInference -------------------------------------------------------------------------------------

@lowering("BatchNormInference")
def _batch_norm(ctx: LowerCtx, op: OvOp) -> None:
    x, gamma, beta, mean, var = op.inputs
    xs = shape_of(x.type)
    dt = dtype_of(x.type)
    vals = [constant_of(v) for v in (gamma, beta, mean, var)]
    cview = (1, xs[1]) + (1,) * (len(xs) - 2)
    if all(v is not None for v in vals):
        g, b, m, v = (np.asarray(a, np.float64) for a in vals)
        scale = (g / np.sqrt(v + op.attr.epsilon)).astype(dt)
        shift = (b - m * g / np.sqrt(v + op.attr.epsilon)).astype(dt)
        dag = Dag([Node("Multiply", (), (("in", 0), ("in", 1)), (dt.str, dt.str), dt.str),
                   Node("Add", (), (("node", 0), ("in", 2)), (dt.str, dt.str), dt.str)], [("node", 1)])
        kernel, extent, cost = eltwise_kernel(xs, [dt, dt, dt], [xs, cview, cview], dag, [dt])
        ob = ctx.buf(op.outputs[0])
        ctx.step(kernel, [ctx.buf(x), ctx.const_buf(scale), ctx.const_buf(shift), ob], extent, cost, [ob],
                 "BatchNormInference")
        return
    eps = ctx.const_buf(np.array([op.attr.epsilon], dt))
    s = dt.str
    dag = Dag([Node("Subtract", (), (("in", 0), ("in", 3)), (s, s), s),
               Node("Add", (), (("in", 4), ("in", 5)), (s, s), s),
               Node("Sqrt", (), (("node", 1),), (s,), s),
               Node("Divide", (("m_pythondiv", False),), (("node", 0), ("node", 2)), (s, s), s),
               Node("Multiply", (), (("node", 3), ("in", 1)), (s, s), s),
               Node("Add", (), (("node", 4), ("in", 2)), (s, s), s)], [("node", 5)])
    kernel, extent, cost = eltwise_kernel(xs, [dt] * 6, [xs, cview, cview, cview, cview, (1,) * len(xs)], dag, [dt])
    ob = ctx.buf(op.outputs[0])
    ctx.step(kernel, [ctx.buf(x), ctx.buf(gamma), ctx.buf(beta), ctx.buf(mean), ctx.buf(var), eps, ob], extent, cost,
             [ob], "BatchNormInference")


__all__ = ["arb", "lower_eltwise_group", "convert_value", "Buf"]
