"""MatMul as register-blocked GEMM: M = rows of A (read in place), B packed at compile time as
[N/NR][K][NR] when it is a constant, or per group of panels into scratch when it is computed.
B panels are taken a group at a time (about half a core's L2), each MR-row block of A is then
read once per group; work units (batch x panel groups x row chunks) are split between the
threads, and a fused epilogue is applied to each block of C before it is stored."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.dialects import arith
from xdsl.dialects.builtin import VectorType, f32, i16
from xdsl.ir import SSAValue

from dialects.errors import CompileError
from dialects.ov import OvOp, dtype_of, shape_of
from passes.ov_to_loops.elementwise import broadcast_strides
from passes.ov_to_loops.epilogue import Epilogue, apply_epilogue_vec, lower_anchored
from passes.ov_to_loops.kb import KB
from passes.ov_to_loops.lower import FUSED, lowering
from passes.ov_to_loops.microkernel import (
    amx_begin,
    amx_compute,
    amx_end,
    amx_pipelined,
    bytes_as_words,
    dequantize,
    dequantized,
    for_rows,
    gemm_for,
    gemm_int8,
    levels,
    load_bf16,
    load_i16,
    load_s8,
    microkernel,
    microkernel_avx2i8,
    microkernel_bf16,
    microkernel_vnni,
    pack_b,
    pack_rows_bf16,
)
from passes.ov_to_loops.program import Kernel, LowerCtx

F32 = np.dtype(np.float32)
L2_BUDGET = 1 << 20  # bytes of B panels a MatMul keeps hot in a core's L2


def _rows_merged(ep: Epilogue, a_shape: list[int]) -> Epilogue | None:
    """[b..., M, K] x [K, N] is one GEMM of b...*M rows (the same memory on both sides, and one
    panel of B packed for all of them, not b... products of M rows each: PyTorch's attention
    projections on [seq, 1, d]): the epilogue seen with those dims merged, if its inputs allow
    it (each broadcast over all of them or over none)."""
    rows = int(np.prod(a_shape[:-1]))
    lead = tuple(ep.out_shape[:-1])
    if len(lead) != len(a_shape) - 1:
        return None
    views = []
    for view in ep.views:
        if all(d == 1 for d in view[:-1]):
            views.append((1, view[-1]))
        elif tuple(view[:-1]) == lead:
            views.append((rows, view[-1]))
        else:
            return None
    return Epilogue(ep.dag, ep.inputs, views, (rows, ep.out_shape[-1]))


def lower_matmul(ctx: LowerCtx, mm: OvOp, ep: Epilogue, output: SSAValue, inputs: Sequence[SSAValue] = ()) -> None:
    a_v, b_v = inputs or mm.inputs
    dt = dtype_of(a_v.type)
    if dt != F32:
        return lower_matmul_direct(ctx, mm, ep, output, (a_v, b_v))
    a_shape, b_shape = list(shape_of(a_v.type)), list(shape_of(b_v.type))
    ta, tb = mm.attr.transpose_a, mm.attr.transpose_b
    if len(a_shape) == 1:
        a_shape, ta = [1, a_shape[0]], False
    if len(b_shape) == 1:
        b_shape, tb = [b_shape[0], 1], False
    if len(a_shape) > 2 and len(b_shape) == 2 and not ta and (merged := _rows_merged(ep, a_shape)) is not None:
        a_shape, ep = [int(np.prod(a_shape[:-1])), a_shape[-1]], merged
    M = a_shape[-1] if ta else a_shape[-2]
    K = a_shape[-2] if ta else a_shape[-1]
    N = b_shape[-2] if tb else b_shape[-1]
    batch = list(np.broadcast_shapes(tuple(a_shape[:-2]), tuple(b_shape[:-2])))
    out_shape = (*batch, M, N)  # the output's layout with 1-D operands' dims kept
    if tuple(ep.out_shape) != out_shape:
        if ep.dag.nodes:
            raise CompileError("MatMul epilogues need 2-D operands")
        ep = Epilogue.identity(out_shape)
    nbatch = int(np.prod(batch, dtype=np.int64)) if batch else 1
    a_bst = broadcast_strides(batch, [1] * (len(batch) - len(a_shape) + 2) + a_shape[:-2]) if batch else []
    b_bst = broadcast_strides(batch, [1] * (len(batch) - len(b_shape) + 2) + b_shape[:-2]) if batch else []
    a_mat, b_mat = M * K, K * N
    lda_m, lda_k = (1, M) if ta else (K, 1)
    ldb_k, ldb_n = (1, K) if tb else (N, 1)
    quant = ctx.int8_plan(mm, b_v)  # (activation quantizer, int8 weights, per-column scale) or None
    if quant is not None:
        act = quant[0]
        a_v = act.x  # the quantizer's input: the kernel packs its levels
        gm = gemm_int8(ctx.int8_isa, M)
    else:
        gm = gemm_for("f32" if dequantized(a_v) or dequantized(b_v) else ctx.precision, ctx.bf16_isa, M)
    low = gm.bf16 or gm.int8
    mr, nr, v = gm.mr, gm.nr, gm.v
    kp = gm.kpad(K)
    kw = kp // gm.per_word  # rows of a B panel: K floats, K/2 words of bf16 pairs or K/4 of byte quads
    nb = -(-N // nr)
    bval = quant[1].q if quant is not None else ctx.weight_value(b_v)
    b_batches = int(np.prod(b_shape[:-2], dtype=np.int64)) if len(b_shape) > 2 else 1
    if bval is not None:
        bm = bval.reshape(b_batches, *b_shape[-2:]).astype(np.int8 if gm.int8 else F32)
        packed = pack_b(bm.transpose(0, 2, 1) if tb else bm, gm)  # [bb][nb][kw][nr]
    else:
        packed = None
    amx = gm.tiles
    if quant is not None:  # per output column: y = mult * (acc - corr)
        mult = (act.d * quant[2]).astype(np.float32)
        corr = (act.z * (bm[0].T if tb else bm[0]).astype(np.int64).sum(axis=0)).astype(np.int32)
    mfull, mrem = (-(-M // mr), 0) if amx else divmod(M, mr)  # AMX blocks are whole (rows past M: zeros)
    mblocks = mfull + (1 if mrem else 0)
    # B panels are taken G at a time (about half a core's L2): each MR-row block of A is then
    # read once per group and reused from L1 across the group's panels, while the group's
    # panels stay in L2 across all of A
    group = max(1, min(nb, (L2_BUDGET // 4) // max(kw * nr, 1)))
    ngroups = -(-nb // group)
    group = -(-nb // ngroups)  # groups of equal size (42 + 6 panels would leave a thread idle)
    ngroups = -(-nb // group)
    units_outer = nbatch * ngroups
    n_mc = 1
    while units_outer * n_mc < 8 and mblocks >= 2 * n_mc * 2:
        n_mc *= 2
    blocks_per_chunk = -(-mblocks // n_mc)
    extent = units_outer * n_mc
    out_st = broadcast_strides(out_shape, out_shape)
    ep_strides = ep.strides()
    vec_ep = all(st[-1] in (0, 1) for st in ep_strides)
    pack_elems = group * kw * nr if packed is None else 0
    a_words = mr * kw if low else 0  # this block's rows of A as bf16 pairs or u8 quads
    c_words = 2 * 32 * 32 if amx else 0  # two C blocks: one stored while the other computes
    scratch = pack_elems + a_words + c_words + nr + 64
    act_key = (act.form, act.lo, act.hi, act.n, act.nan) if quant is not None else None  # compiled into levels()
    key = f"mm{a_shape}{b_shape}{ta}{tb}{batch}|{gm.key()}|{act_key}|{packed is not None}|{n_mc},{group}|{ep.key()}"

    def build(kb: KB) -> None:
        if amx:
            amx_begin(kb)
        ab, bb_, ob = kb.args["a"], kb.args["b"], kb.args["out"]
        eps = [kb.args[f"e{i}"] for i in range(len(ep.inputs))]
        sc, soff = kb.args["scratch"], kb.args["soff"]
        a_area = kb.add(soff, pack_elems)
        c_area = kb.add(a_area, a_words)
        tmp = kb.add(c_area, c_words)

        def unit(u):
            mc = kb.rem(u, n_mc)
            rest = kb.div(u, n_mc)
            gi = kb.rem(rest, ngroups)
            bi = kb.div(rest, ngroups)
            bidx = kb.unravel(bi, batch) if batch else []
            a_base = kb.mul(kb.lin(bidx, a_bst), a_mat) if batch else 0
            bsel = kb.lin(bidx, b_bst) if batch else 0
            p_lo = kb.mul(gi, group)
            p_hi = kb.imin(kb.add(p_lo, group), nb)
            if packed is None:  # copy the group's panels of B, zero-padded to NR columns
                b_base = kb.mul(bsel, b_mat)
                kb.for_(p_lo, p_hi, lambda pi: pack_panel(kb, sc, bb_, b_base, pi, p_lo))

            def block(rows):
                def run(mbi):
                    m0 = kb.mul(mbi, mr)
                    if low:
                        pack_a_rows(kb, sc, a_area, ab, a_base, m0, rows)

                    def a_elem(r, k):
                        return kb.load(ab, kb.add(a_base, kb.add(kb.mul(kb.add(m0, r), lda_m), kb.mul(k, lda_k))))

                    def b_at(pi):
                        if packed is not None:
                            return bb_, kb.mul(kb.add(kb.mul(bsel, nb), pi), kw * nr)
                        return sc, kb.add(soff, kb.mul(kb.sub(pi, p_lo), kw * nr))

                    def put(pi, acc):
                        n0 = kb.mul(pi, nr)
                        ncols = kb.imin(nr, kb.sub(N, n0))

                        def put_row(r, vec):
                            for c in range(nr // v):
                                nvalid = kb.imax(kb.imin(kb.sub(ncols, c * v), v), 0)
                                val = vec(c)
                                if gm.int8:
                                    m = kb.mask(nvalid, v)
                                    at = kb.add(n0, c * v)
                                    val = dequantize(kb, val, kb.vload_masked(kb.args["corr"], at, m, v),
                                                     kb.vload_masked(kb.args["mult"], at, m, v))
                                store(kb, val, [*bidx, kb.add(m0, r), kb.add(n0, c * v)], nvalid)
                        # AMX blocks are whole: rows past M of the last one are not stored
                        for_rows(kb, acc, rows, kb.imin(kb.sub(M, m0), rows) if amx and M % mr else rows, put_row)

                    if amx:
                        def compute(pi):
                            buf, base = b_at(pi)
                            amx_compute(
                                kb, kp // gm.ku,  # A: rows 16i.. of the packed block, 16 words from k step ks
                                lambda ks, i: (sc, kb.add(a_area, kb.add(i * 16 * kw, kb.mul(ks, 16))), kw * 4),
                                lambda ks, j: (buf, kb.add(base, kb.add(kb.mul(ks, 16 * nr), j * 16)), nr * 4),
                                "usd" if gm.int8 else "bf16")
                        amx_pipelined(kb, p_lo, p_hi, compute, sc, c_area, put)
                        return

                    def panel(pi):
                        buf, base = b_at(pi)
                        def a_word(r, p):
                            return kb.load(sc, kb.add(a_area, kb.add(r * kw, p)))

                        def word_at(p, c, base=base):
                            return kb.add(base, kb.add(kb.mul(p, nr), c * gm.lanes))
                        if gm.isa == "avx2i8":
                            acc = microkernel_avx2i8(kb, rows, nr // gm.lanes, 0, kw, a_word,
                                                     lambda p, c: load_i16(kb, buf, word_at(p, c)))
                        elif gm.int8:
                            acc = microkernel_vnni(kb, rows, nr // 16, 0, kw, a_word,
                                                   lambda p, c: load_s8(kb, buf, word_at(p, c)), a_unsigned=True)
                        elif gm.bf16:
                            acc = microkernel_bf16(kb, rows, nr // 16, 0, kw, a_word,
                                                   lambda p, c: load_bf16(kb, buf, word_at(p, c)))
                        else:
                            acc = microkernel(kb, rows, nr // v, v, 0, K, a_elem,
                                              lambda k, c: kb.vload(buf, kb.add(base, kb.add(kb.mul(k, nr), c * v)), v))
                        put(pi, acc)
                    kb.for_(p_lo, p_hi, panel)
                return run

            lo_b = kb.mul(mc, blocks_per_chunk)
            hi_b = kb.imin(kb.add(lo_b, blocks_per_chunk), mblocks)
            kb.for_(lo_b, kb.imin(hi_b, mfull), block(mr))
            if mrem:
                kb.if_(kb.icmp("eq", hi_b, mblocks), lambda: block(mrem)(mfull))

        def pack_panel(kb, sc, bb_, b_base, pi, p_lo):
            n0 = kb.mul(pi, nr)
            dst = kb.add(soff, kb.mul(kb.sub(pi, p_lo), kw * nr))
            masks = [kb.mask(kb.imax(kb.imin(kb.sub(kb.sub(N, n0), c * v), v), 0), v) for c in range(nr // v)]

            def row(k):  # B's row k, columns n0..n0+nr (zeros past N)
                if ldb_n == 1:  # contiguous: masked vector loads
                    at = kb.add(b_base, kb.add(kb.mul(k, ldb_k), n0))
                    return [kb.vload_masked(bb_, kb.add(at, c * v), masks[c], v) for c in range(nr // v)]
                for j in range(nr):  # strided (transposed B): element by element through scratch
                    nn = kb.add(n0, j)
                    ok = kb.icmp("ult", nn, N)
                    idx = kb.select(ok, kb.v(kb.add(b_base, kb.add(kb.mul(k, ldb_k), kb.mul(nn, ldb_n)))), kb.v(0))
                    kb.store(kb.select(ok, kb.load(bb_, idx), kb.f(0.0)), sc, kb.add(tmp, j))
                return [kb.vload(sc, kb.add(tmp, c * v), v) for c in range(nr // v)]
            if low:
                pack_rows_bf16(kb, row, nr // 16, K, kp, sc, lambda p, c: kb.add(dst, kb.add(kb.mul(p, nr), c * 16)))
                return

            def vpack(k):
                for c, vec in enumerate(row(k)):
                    kb.vstore(vec, sc, kb.add(dst, kb.add(kb.mul(k, nr), c * v)))
            kb.for_(0, K, vpack)

        def pack_a_rows(kb, sc, a_area, ab, a_base, m0, rows):
            """Rows m0.. of A (`rows` of them, zeros past M) as bf16 pairs or as the u8 levels of
            the activation quantizer, [rows][kw] words."""
            span = 16 * gm.per_word  # K elements a chunk of 16 words holds
            chunks = -(-kp // span)

            def one(r):
                m = kb.add(m0, r)
                live = kb.icmp("slt", m, M)
                mm = kb.select(live, kb.v(m), kb.v(0))
                base = kb.add(a_base, kb.mul(mm, lda_m))

                def chunk(q):
                    k0 = kb.mul(q, span)
                    if lda_k == 1:
                        n = kb.select(live, kb.v(kb.imax(kb.imin(kb.sub(K, k0), span), 0)), kb.v(0))
                        vals = [kb.vload_masked(ab, kb.add(kb.add(base, k0), h * 16),
                                                kb.mask(kb.imax(kb.imin(kb.sub(n, h * 16), 16), 0), 16), 16)
                                for h in range(span // 16)]
                    else:  # transposed A: element by element through scratch
                        def el(j):
                            k = kb.add(k0, j)
                            ok = kb.emit_and(live, kb.icmp("slt", k, K))
                            idx = kb.select(ok, kb.v(kb.add(base, kb.mul(k, lda_k))), kb.v(0))
                            kb.store(kb.select(ok, kb.load(ab, idx), kb.f(0.0)), sc, kb.add(tmp, j))
                        kb.for_(0, span, el)
                        vals = [kb.vload(sc, kb.add(tmp, h * 16), 16) for h in range(span // 16)]
                    if gm.isa == "avx2i8":  # i16 pairs of levels
                        h16 = [kb.emit(arith.TruncIOp(levels(kb, x, act), VectorType(i16, [16]))) for x in vals]
                        words = kb.vbitcast(kb.shuffle(h16[0], h16[1], list(range(32))), f32, 16)
                    elif gm.int8:
                        words = bytes_as_words(kb, [levels(kb, x, act) for x in vals])
                    else:
                        words = kb.vbitcast(kb.shuffle(kb.to_bf16(vals[0]), kb.to_bf16(vals[1]), list(range(32))),
                                            f32, 16)
                    dst = kb.add(a_area, kb.add(r * kw, kb.mul(q, 16)))
                    left = kb.imin(kb.sub(kw, kb.mul(q, 16)), 16)
                    kb.vstore_masked(words, sc, dst, kb.mask(left, 16))
                kb.for_(0, chunks, chunk)
            for r in range(rows):
                one(r)

        def store(kb, accv, pos, nvalid):
            if vec_ep:
                val = apply_epilogue_vec(kb, ep, accv, eps, pos, nvalid, v, ep_strides)
                kb.vstore_masked(val, ob, kb.lin(pos, out_st), kb.mask(nvalid, v))
                return
            kb.vstore(accv, sc, tmp)

            def put(j):
                p = [*pos[:-1], kb.add(pos[-1], j)]
                ins = [kb.load(b, kb.lin(p, st)) for b, st in zip(eps, ep_strides)]
                (res,) = ep.dag.eval(kb, ins, kb.load(sc, kb.add(tmp, j)))
                kb.store(res, ob, kb.lin(p, out_st))
            kb.for_(0, nvalid, put)

        kb.for_(kb.args["lo"], kb.args["hi"], unit)
        if amx:
            amx_end(kb)

    a_buf = ctx.buf(a_v)
    b_buf = ctx.const_buf(packed) if packed is not None else ctx.buf(b_v)
    args = [("a", a_buf.dtype, a_buf.size), ("b", F32, b_buf.size)]
    bufs = [a_buf, b_buf]
    if quant is not None:
        args += [("mult", F32, mult.size), ("corr", np.dtype(np.int32), corr.size)]
        bufs += [ctx.const_buf(mult), ctx.const_buf(corr)]
    for i, e in enumerate(ep.inputs):
        args.append((f"e{i}", dtype_of(e.type), max(int(np.prod(shape_of(e.type), dtype=np.int64)), 1)))
        bufs.append(ctx.buf(e))
    ctx.hold_levels(output)
    out_buf = ctx.buf(output)
    args.append(("out", out_buf.dtype, out_buf.size))
    bufs.append(out_buf)
    ctx.step(Kernel(key, args, build, scratch), bufs, extent, float(nbatch * M * N * K), [out_buf], "MatMul")


def lower_matmul_direct(ctx: LowerCtx, mm: OvOp, ep: Epilogue, output: SSAValue, inputs) -> None:
    """MatMul of non-f32 types as a plain loop nest."""
    raise CompileError(f"MatMul of {dtype_of(mm.inputs[0].type)} is not supported on CPU")


@lowering("MatMul")
def _matmul(ctx: LowerCtx, op: OvOp) -> None:
    lower_matmul(ctx, op, Epilogue.identity(shape_of(op.outputs[0].type)), op.outputs[0])


FUSED["MatMul"] = lambda ctx, op: lower_anchored(ctx, op, lower_matmul)
