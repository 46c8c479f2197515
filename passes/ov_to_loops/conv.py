"""Convolution and GroupConvolution as register-blocked GEMM: M = output channels, A = filters
packed at compile time as [M/MR][K][MR]; N = output positions, B columns read straight from
the input (1x1 stride-1 convolutions) or from a zero-padded, phase-split copy of it through a
table of row offsets ("implicit GEMM", every other convolution). Depthwise convolutions run
on the vector units along the output width; other element types and ranks as a plain loop
nest. Work units (output tiles x row chunks) are split between the threads; a fused epilogue
is applied to each block of C before it is stored."""

from __future__ import annotations

from collections.abc import Sequence

import ml_dtypes
import numpy as np
from xdsl.dialects import arith
from xdsl.dialects.builtin import VectorType, f32
from xdsl.ir import SSAValue

from dialects.ov import Fused, OvOp, dtype_of, shape_of
from dialects.ov.shape_rules import resolve_pads
from passes.ov_to_loops.elementwise import broadcast_strides
from passes.ov_to_loops.epilogue import Epilogue, apply_epilogue_vec, lower_anchored
from passes.ov_to_loops.kb import KB
from passes.ov_to_loops.lower import FUSED, lowering
from passes.ov_to_loops.microkernel import (
    ScratchBlock,
    amx_begin,
    amx_compute,
    amx_end,
    amx_pipelined,
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
    pack_a,
    pack_rows_bf16,
    pack_rows_u8,
    pack_rows_u16,
)
from passes.ov_to_loops.program import Buf, Kernel, LowerCtx

F32 = np.dtype(np.float32)


def lower_conv(ctx: LowerCtx, conv: OvOp, ep: Epilogue, output: SSAValue, inputs: Sequence[SSAValue] = ()) -> None:
    """`inputs` stand for conv's operands when conv sits inside a Fused group."""
    x_v, w_v = inputs or conv.inputs
    x_shape = shape_of(x_v.type)
    out_shape = shape_of(conv.outputs[0].type)
    grouped = conv.IR_TYPE == "GroupConvolution"
    wval = ctx.weight_value(w_v)
    quant = ctx.int8_plan(conv, w_v)  # (activation quantizer, int8 weights, per-channel scales) or None
    if quant is not None:
        x_v = quant[0].x  # the quantizer's input: the kernel packs its levels
        x_shape = shape_of(x_v.type)
    if len(x_shape) not in (3, 4) or wval is None or dtype_of(x_v.type) != F32:
        return lower_conv_direct(ctx, conv, ep, output, (x_v, w_v))
    a = conv.attr
    if len(x_shape) == 3:  # 1-D convolution as 2-D with height 1
        x_shape, out_shape = (*x_shape[:2], 1, x_shape[2]), (*out_shape[:2], 1, out_shape[2])
        wval = wval.reshape(*wval.shape[:-1], 1, wval.shape[-1])
        strides, dil = (1, *a.strides), (1, *a.dilations)
        pb, pe = resolve_pads(x_shape[3:], wval.shape[-1:], a.strides, a.dilations, a.auto_pad, a.pads_begin,
                              a.pads_end)
        pb, pe = (0, *pb), (0, *pe)
        ep = Epilogue(ep.dag, ep.inputs, [(*v[:2], 1, v[2]) for v in ep.views], out_shape)
    else:
        strides, dil = tuple(a.strides), tuple(a.dilations)
        pb, pe = resolve_pads(x_shape[2:], wval.shape[-2:], strides, dil, a.auto_pad, a.pads_begin, a.pads_end)
    if grouped:
        g, cout_g, cin_g = wval.shape[0], wval.shape[1], wval.shape[2]
    else:
        g, cout_g, cin_g = 1, wval.shape[0], wval.shape[1]
    if cin_g == 1 and cout_g == 1 and g > 1:
        if not np.all(np.isfinite(wval)):  # 0 * inf at the padding is NaN: the loop nest computes it
            return lower_conv_direct(ctx, conv, ep, output, (x_v, w_v))
        return lower_depthwise(ctx, x_v, ep, output, wval, strides, dil, pb, x_shape, out_shape)
    pointwise = wval.shape[-2:] == (1, 1) and strides == (1, 1) and not any(pb) and not any(pe)
    if quant is not None:
        act, wq, scale = quant
        wflat = wq.q.reshape(g, cout_g, -1)
        quant = (act, (act.d * scale).astype(np.float32),  # per channel: y = mult * (acc - corr)
                 (act.z * wflat.astype(np.int64).sum(axis=2).reshape(-1)).astype(np.int32))
    else:
        wflat = wval.reshape(g, cout_g, -1)
    return _conv_gemm(ctx, conv.IR_TYPE, x_v, wflat, ep, output, x_shape, out_shape,
                      wval.shape[-2:], strides, dil, pb, g, cout_g, cin_g, pointwise, quant)


BF16 = np.dtype(ml_dtypes.bfloat16)


def _bf16_gemm_conv(ctx: LowerCtx, conv, x_v: SSAValue | None, w_v: SSAValue | None) -> bool:
    """Whether `lower_conv` runs this convolution on the bf16 GEMM kernels, or is a depthwise
    one (its vector kernels read and write bf16 activations too, as OpenVINO's bf16 does)."""
    if x_v is None or w_v is None or ctx.int8_plan(conv, w_v) is not None:
        return False
    if len(shape_of(x_v.type)) != 4 or dtype_of(x_v.type) != F32 or ctx.weight_value(w_v) is None:
        return False
    ws = shape_of(w_v.type)
    if conv.IR_TYPE == "GroupConvolution":  # the vector kernels (finite weights: lower_conv)
        return len(ws) == 5 and ws[0] > 1 and ws[1] == 1 and ws[2] == 1 and bool(np.all(np.isfinite(
            ctx.weight_value(w_v))))
    return gemm_for("f32" if dequantized(x_v) else ctx.precision, ctx.bf16_isa, ws[0]).bf16


def _conv_group(op):
    """(anchor, its input, its weights, the group's block or None) of a (Group)Convolution or
    of a Fused group anchored on one, else None."""
    if isinstance(op, Fused):
        inner = [o for o in op.block.ops if isinstance(o, OvOp)]
        if not inner or inner[0].IR_TYPE not in ("Convolution", "GroupConvolution") or len(op.outputs) != 1:
            return None
        outer = dict(zip(op.block.args, op.inputs))
        return inner[0], outer.get(inner[0].inputs[0]), outer.get(inner[0].inputs[1]), op.block
    if isinstance(op, OvOp) and op.IR_TYPE in ("Convolution", "GroupConvolution"):
        return op, op.inputs[0], op.inputs[1], None
    return None


def bf16_activations(ctx: LowerCtx, block) -> list[SSAValue]:
    """Values to store as bf16, as OpenVINO's CPU plugin does between bf16 layers: results of
    bf16 (and depthwise) convolutions, element-wise ops and MaxPools that only such convolutions
    read (a depthwise one computes in f32 from the bf16 values, as OpenVINO's does), as their
    input (which they round to bf16 anyway while packing it: the same numbers, in half the
    memory traffic) or in their epilogue (a residual, now rounded to bf16 too), or MaxPools
    whose results are stored as bf16 in turn. Every kernel that touches them reads and writes
    f32 (`KB.hold_f32`)."""
    if ctx.precision != "bf16" or ctx.bf16_isa is None:
        return []
    found: set[SSAValue] = set()
    for op in reversed(list(block.ops)):  # a MaxPool's readers are decided before it
        g = _conv_group(op)
        if not _max_pool(op) and not _eltwise_f32(op) and (g is None or not _bf16_gemm_conv(ctx, *g[:3])):
            continue
        uses = list(op.outputs[0].uses)
        if uses and all(_bf16_reader(ctx, u, found) for u in uses):
            found.add(op.outputs[0])
    return list(found)


def _eltwise_f32(op) -> bool:
    """An element-wise op or group of one float32 result (a pre-activation BatchNorm + ReLU
    before a convolution, as in DenseNet): it computes in f32 and may store bf16."""
    from passes.ov_to_loops.elementwise import ELEMENTWISE

    if isinstance(op, Fused):
        if op.kind.data != "eltwise":
            return False
    elif not (isinstance(op, OvOp) and op.IR_TYPE in ELEMENTWISE):
        return False
    return len(op.outputs) == 1 and dtype_of(op.outputs[0].type) == F32


def _max_pool(op) -> bool:
    """A float32 MaxPool whose indices nobody reads: it commutes with rounding to bf16 (exactly,
    NaN and signed zeros included), so it reads and writes bf16 activations as they come."""
    return isinstance(op, OvOp) and op.IR_TYPE == "MaxPool" and dtype_of(op.inputs[0].type) == F32 and \
        len(shape_of(op.inputs[0].type)) == 4 and not list(op.outputs[1].uses)


def _bf16_reader(ctx: LowerCtx, use, found: set) -> bool:
    if _max_pool(use.operation):  # passes bf16 on: only if its result is stored as bf16 too
        return use.index == 0 and use.operation.outputs[0] in found
    g = _conv_group(use.operation)
    if g is None or not _bf16_gemm_conv(ctx, *g[:3]):
        return False
    anchor, _, _, body = g
    if body is None:
        return use.index == 0
    arg = body.args[use.index]  # inside the group: the anchor's input, or read by its epilogue
    return all((u.operation is anchor and u.index == 0) or
               (u.operation is not anchor and isinstance(u.operation, OvOp)) for u in arg.uses)


def _row_chunks(units: int, mb: int) -> int:
    """How many chunks to cut the filter rows into so that the threads have enough work units."""
    n_mc = 1
    while units * n_mc < 8 and mb // (n_mc * 2) >= 2:
        n_mc *= 2
    return n_mc


def _b_rows(kb: KB, xb, kt, x_base, p0, ncols, plane, pointwise: bool, nvec: int, w: int = 16):
    """row(k) of a convolution's B for the tile of columns p0..p0+w*nvec (vectors of w lanes):
    input rows (1x1, masked past the last column) or rows of the padded phase grid through the
    offset table (whole vectors: the grid has slack after it)."""
    if pointwise:
        masks = [kb.mask(kb.imax(kb.imin(kb.sub(ncols, c * w), w), 0), w) for c in range(nvec)]

        def row(k):
            at = kb.add(kb.add(x_base, kb.mul(k, plane)), p0)
            return [kb.vload_masked(xb, kb.add(at, c * w), masks[c], w) for c in range(nvec)]
        return row

    def row(k):
        at = kb.add(kb.add(x_base, kb.load_index(kt, k)), p0)
        return [kb.vload(xb, kb.add(at, c * w), w) for c in range(nvec)]
    return row


class Params:
    """Shape-dependent numbers a kernel reads at run time from a small i64 table, so that
    convolutions of different sizes share one compiled kernel."""

    def __init__(self) -> None:
        self.values: list[int] = []

    def add(self, v: int) -> int:
        self.values.append(int(v))
        return len(self.values) - 1

    def loader(self, kb: KB):
        from xdsl.dialects import arith
        from xdsl.dialects.builtin import IndexType

        buf = kb.args["params"]
        cache: dict[int, SSAValue] = {}

        def get(i: int):
            if i not in cache:
                cache[i] = kb.emit(arith.IndexCastOp(kb.load(buf, i), IndexType()))
            return cache[i]
        return get


def _conv_gemm(ctx, label, x_v, wflat, ep, output, x_shape, out_shape, k, strides, dil, pb, g, cout_g, cin_g,
               pointwise, quant=None):
    """B columns straight from the input (1x1, stride 1, no padding) or from a zero-padded,
    phase-split copy of it through a table of row offsets (any other convolution: with stride s
    the input is split into s x s phase images, in which every filter tap reads a contiguous
    run of columns). One compiled kernel serves every shape."""
    n, cin, h, w = x_shape
    kh, kw = k
    _, cout, hout, wout = out_shape
    if quant is not None:
        gm = gemm_int8(ctx.int8_isa, cout_g)
        act, mult, corr = quant
    else:
        gm = gemm_for("f32" if dequantized(x_v) else ctx.precision, ctx.bf16_isa, cout_g)
    mr, nr, v, lanes = gm.mr, gm.nr, gm.v, gm.lanes
    low = gm.bf16 or gm.int8  # packed panels of words
    kdim = cin_g * kh * kw
    # bf16 or int8 with whole K steps of channels per tap: the phase-split copy is itself B's panel
    # (pairs of bf16 or quads of u8 levels of channels side by side, a tile row per word), each
    # tap's rows a shifted window of it, so nothing is packed per tile; K runs over (tap, channel)
    word_grid = (gm.bf16 or gm.isa in ("amx8", "vnni")) and not pointwise and cin_g % gm.ku == 0 \
        and strides[1] <= 2
    if word_grid:
        wflat = wflat.reshape(g, cout_g, cin_g, kh * kw).transpose(0, 1, 3, 2).reshape(g, cout_g, kdim)
    kp = gm.kpad(kdim)
    mb = -(-cout_g // mr)
    packed = pack_a(wflat, gm)
    x_buf = ctx.buf(x_v)
    if pointwise:
        grid_w, in_plane, koff = wout, h * w, None
    else:
        sh, sw = strides
        hph = hout + (kh - 1) * dil[0] // sh + 1
        wph = wout + (kw - 1) * dil[1] // sw + 1
        ph_plane = hph * wph
        in_plane = sh * sw * ph_plane
        slack = nr + wph + v
        # int8: the copy holds the quantizer's levels, so that each input element is quantized
        # once, not once per filter tap that reads it
        rows = n * cin // gm.per_word if word_grid else n * cin
        x_buf = phase_input(ctx, x_buf, (n, cin, h, w), pb, (sh, sw), (hph, wph), rows * in_plane + slack,
                            ((kh, kw), dil), act=quant[0] if quant is not None else None,
                            dtype=BF16 if gm.bf16 else F32, per_word=gm.per_word if word_grid else 1)
        if quant is not None:
            quant = (quant[0].as_levels(), *quant[1:])
        shift = [(((i * dil[0]) % sh) * sw + (j * dil[1]) % sw) * ph_plane + (i * dil[0] // sh) * wph + j * dil[1] // sw
                 for i in range(kh) for j in range(kw)]
        if word_grid:  # per K step (ku channels of one tap): its first row of words, shifted to the tap
            steps = cin_g // gm.ku
            koff = np.array([cb * (gm.ku // gm.per_word) * in_plane + shift[t] for t in range(kh * kw)
                             for cb in range(steps)], np.int64)
        else:
            koff = np.array([ci * in_plane + shift[t] for ci in range(cin_g) for t in range(kh * kw)], np.int64)
        grid_w = wph
    grid_cols = hout * grid_w
    nt = -(-grid_cols // nr)
    if low:
        # weights stationary: a unit runs a chunk of filter blocks (up to 512 KiB of packed
        # weights, which stay in L2) over a chunk of tiles; enough units for the threads
        bpc = max(1, min(mb, (512 << 10) // (mr * kp * 4 // gm.per_word)))
        n_mc = -(-mb // bpc)  # chunks of mb / n_mc blocks, rounded either way (equal shares)
        n_tc = min(nt, max(1, -(-8 // (n * g * n_mc))))
    else:
        n_mc = _row_chunks(n * g * nt, mb)
        n_tc = nt
    # several chunks of filter blocks would each pack the same panels: pack them all once first
    prepacked = low and n_mc > 1 and not word_grid
    panels = _pack_panels(ctx, x_buf, koff, (n * g, cin_g, in_plane, grid_cols, nt), kdim, kp, gm, pointwise,
                          quant[0] if quant else None) if prepacked else None
    strides4 = ep.strides()
    vec_epilogue = pointwise and all((st[2] == 0 and st[3] == 0) or (st[3] == 1 and st[2] == wout) for st in strides4)
    # the padded grid's columns are not the output's, but a vector of C still stores as up to a
    # few masked runs, one per output row, and inputs that vary over positions (a residual) are
    # read as the same runs
    grid_epilogue = not pointwise and all((st[2] == 0 and st[3] == 0) or (st[3] == 1 and st[2] == wout)
                                          for st in strides4)
    grid_varying = grid_epilogue and any(st[3] == 1 for st in strides4)
    P = Params()
    i_nmc, i_nt, i_g, i_cin, i_cout, i_coutg, i_mb, i_kdim, i_plane, i_cols, i_oplane, i_gw, i_wout, i_kp = (
        P.add(x) for x in (n_mc, nt, g, cin, cout, cout_g, mb, kdim, in_plane, grid_cols,
                           hout * wout, grid_w, wout, kp))
    i_ntc = P.add(n_tc)
    ep_st = [P.add(x) for st in strides4 for x in st]
    pattern = [tuple(x == 0 for x in st) + ((st[3] == 1),) for st in strides4]
    full_rows = cout_g % mr == 0
    act_key = (act.form, act.lo, act.hi, act.n, act.nan) if quant is not None else None  # compiled into levels()
    ctx.hold_levels(output)
    out_buf = ctx.buf(output)
    held = [x_buf.dtype.str, out_buf.dtype.str]  # bf16 where activations are stored as bf16
    key = (f"convgemm|{'pw' if pointwise else 'pairs' if word_grid else 'pad'}|{gm.key()}|{act_key}|{prepacked}|"
           f"{full_rows}|"
           f"{vec_epilogue}{grid_epilogue}|"
           f"{ep.dag.key()}|"
           f"{pattern}|{[ctx.buf(e).dtype.str for e in ep.inputs]}|{held}")
    if low:  # two tiles' B panels (kp / per_word x nr words each), AMX's C blocks, the epilogue's block
        scratch = (0 if prepacked or word_grid else 2 * kp // gm.per_word * nr) + (2 * 32 * 32 if gm.tiles else 0) + \
            mr * nr + 64
    else:
        scratch = (kdim * nr if pointwise else 0) + mr * nr + 64

    def build(kb: KB) -> None:
        kb.hold_f32("x", "out", *(f"e{i}" for i in range(len(ep.inputs))))
        if gm.tiles:
            amx_begin(kb)
        prm = P.loader(kb)
        xb, wb, ob = kb.args["x"], kb.args["w"], kb.args["out"]
        kt = kb.args.get("koff")
        eps = [kb.args[f"e{i}"] for i in range(len(ep.inputs))]
        sc, soff = kb.args["scratch"], kb.args["soff"]
        n_mc_, nt_, g_, cin_, cout_, coutg_, mb_, kdim_, plane_, cols_, oplane_, gw_, wout_ = (
            prm(i) for i in (i_nmc, i_nt, i_g, i_cin, i_cout, i_coutg, i_mb, i_kdim, i_plane, i_cols,
                             i_oplane, i_gw, i_wout))
        est = [[prm(ep_st[4 * e + d]) for d in range(4)] for e in range(len(ep.inputs))]
        cin_g_ = kb.div(cin_, g_)
        c_tile = kb.add(soff, kb.mul(kdim_, nr) if pointwise else 0)
        panel_buf = sc
        if low:
            kp_ = prm(i_kp)
            panel = soff
            panel_words = kb.mul(kb.div(kp_, gm.per_word), nr)
            c_amx = soff if prepacked or word_grid else kb.add(soff, kb.mul(panel_words, 2))
            c_tile = kb.add(c_amx, 2 * 32 * 32 if gm.tiles else 0)

        def bf16_unit(u):  # u = ((n, g), block chunk, tile chunk)
            ntc_ = prm(i_ntc)
            tc = kb.rem(u, ntc_)
            rest = kb.div(u, ntc_)
            mc = kb.rem(rest, n_mc_)
            ng = kb.div(rest, n_mc_)
            gi = kb.rem(ng, g_)
            ni = kb.div(ng, g_)
            x_base = kb.mul(kb.add(kb.mul(ni, cin_), kb.mul(gi, cin_g_)), plane_)
            t_lo = kb.div(kb.mul(tc, nt_), ntc_)  # chunks of nt / n_tc tiles, rounded either way
            t_hi = kb.div(kb.mul(kb.add(tc, 1), nt_), ntc_)

            def pack(t):  # tile t's panel into the half of the double buffer for its parity
                p0 = kb.mul(t, nr)
                row = _b_rows(kb, xb, kt, x_base, p0, kb.imin(nr, kb.sub(cols_, p0)), plane_, pointwise,
                              nr // lanes, lanes)
                at = kb.add(soff, kb.mul(kb.rem(t, 2), panel_words))
                _pack_panel(kb, gm, row, kdim_, kp_, sc, lambda p, c: kb.add(at, kb.add(kb.mul(p, nr), c * lanes)),
                            quant[0] if quant else None)

            def tile(t):
                # the next tile's panel is packed before this one's tiles load theirs: AMX loads of
                # data that vector stores have just written wait for those stores to retire
                if not (prepacked or word_grid):
                    kb.if_(kb.icmp("slt", kb.add(t, 1), t_hi), lambda: pack(kb.add(t, 1)))
                p0 = kb.mul(t, nr)
                bf16_blocks(gi, ni, p0, kb.imin(nr, kb.sub(cols_, p0)), x_base, mc, t)
            if not (prepacked or word_grid):
                kb.if_(kb.icmp("slt", t_lo, t_hi), lambda: pack(t_lo))
            kb.for_(t_lo, t_hi, tile)

        def unit(u):
            mc = kb.rem(u, n_mc_)
            rest = kb.div(u, n_mc_)
            t = kb.rem(rest, nt_)
            ng = kb.div(rest, nt_)
            gi = kb.rem(ng, g_)
            ni = kb.div(ng, g_)
            p0 = kb.mul(t, nr)
            ncols = kb.imin(nr, kb.sub(cols_, p0))
            x_base = kb.mul(kb.add(kb.mul(ni, cin_), kb.mul(gi, cin_g_)), plane_)

            def run_blocks(b_vec):
                def block(mbi):
                    a_base = kb.mul(kb.mul(kb.add(kb.mul(gi, mb_), mbi), kdim_), mr)
                    acc = microkernel(kb, mr, nr // v, v, 0, kdim_,
                                      lambda r, k: kb.load(wb, kb.add(a_base, kb.add(kb.mul(k, mr), r))), b_vec)
                    row0 = kb.add(kb.mul(gi, coutg_), kb.mul(mbi, mr))
                    store_block(kb, acc, kb.sub(coutg_, kb.mul(mbi, mr)), row0, ni, p0, ncols)
                kb.for_(kb.div(kb.mul(mc, mb_), n_mc_), kb.div(kb.mul(kb.add(mc, 1), mb_), n_mc_), block)

            if pointwise:
                def direct(k, c):
                    return kb.vload(xb, kb.add(kb.add(x_base, kb.mul(k, plane_)), kb.add(p0, c * v)), v)

                def packed_b(k, c):
                    return kb.vload(sc, kb.add(soff, kb.add(kb.mul(k, nr), c * v)), v)

                def pack_partial():
                    def row(k):
                        src = kb.add(x_base, kb.mul(k, plane_))

                        def col(j):
                            p = kb.add(p0, j)
                            ok = kb.icmp("ult", p, cols_)
                            val = kb.load(xb, kb.select(ok, kb.v(kb.add(src, p)), kb.v(0)))
                            kb.store(kb.select(ok, val, kb.f(0.0)), sc, kb.add(soff, kb.add(kb.mul(k, nr), j)))
                        kb.for_(0, nr, col)
                    kb.for_(0, kdim_, row)
                    run_blocks(packed_b)
                kb.if_(kb.icmp("eq", ncols, nr), lambda: run_blocks(direct), pack_partial)
            else:
                def shifted(k, c):
                    return kb.vload(xb, kb.add(kb.add(x_base, kb.load_index(kt, k)), kb.add(p0, c * v)), v)
                run_blocks(shifted)

        def bf16_blocks(gi, ni, p0, ncols, x_base, mc, t):
            """Every block of the unit's chunk of filter rows over tile t's columns of B, as bf16
            pairs or u8 quads (packed by the unit, or by the pack step before the convolution)."""
            nvec = nr // lanes
            nonlocal panel_buf, panel
            if word_grid:  # B's rows straight from the copy: x_base in words, per K step an offset
                panel_buf = xb
                panel = kb.add(kb.div(x_base, gm.per_word), p0)
            elif prepacked:
                panel_buf = kb.args["panels"]
                tile = kb.add(kb.mul(kb.add(kb.mul(ni, g_), gi), nt_), t)
                panel = kb.mul(tile, panel_words)
            else:
                panel = kb.add(soff, kb.mul(kb.rem(t, 2), panel_words))
            kq = kb.div(kp_, gm.per_word)  # rows of the panel: pairs or quads of K

            def a_base(mbi):  # tiles: [K/KU][32 rows][16 words] a block; else [K/per_word][MR]
                blk = kb.add(kb.mul(gi, mb_), mbi)
                return kb.mul(kb.mul(blk, kb.div(kp_, gm.ku)), 512) if gm.tiles else kb.mul(kb.mul(blk, kq), mr)

            def store(mbi, acc):
                row0 = kb.add(kb.mul(gi, coutg_), kb.mul(mbi, mr))
                store_block(kb, acc, kb.sub(coutg_, kb.mul(mbi, mr)), row0, ni, p0, ncols)
            lo_b = kb.div(kb.mul(mc, mb_), n_mc_)
            hi_b = kb.div(kb.mul(kb.add(mc, 1), mb_), n_mc_)
            if gm.tiles:
                def compute(mbi):
                    base = a_base(mbi)
                    if word_grid:
                        def b_tile(ks, j):
                            return panel_buf, kb.add(panel, kb.add(kb.load_index(kt, ks), j * 16)), kb.mul(plane_, 4)
                    else:
                        def b_tile(ks, j):
                            return panel_buf, kb.add(panel, kb.add(kb.mul(ks, 16 * nr), j * 16)), nr * 4
                    amx_compute(kb, kb.div(kp_, gm.ku),
                                lambda ks, i: (wb, kb.add(base, kb.add(kb.mul(ks, 512), i * 256)), 64),
                                b_tile, "sud" if gm.int8 else "bf16")
                amx_pipelined(kb, lo_b, hi_b, compute, sc, c_amx, store)
                return

            def block(mbi):
                base = a_base(mbi)

                def a_word(r, p):
                    return kb.load(wb, kb.add(base, kb.add(kb.mul(p, mr), r)))

                def b_at(p, c):
                    if word_grid:
                        return kb.add(panel, kb.add(kb.load_index(kt, p), c * lanes))
                    return kb.add(panel, kb.add(kb.mul(p, nr), c * lanes))
                if gm.isa == "avx2i8":
                    acc = microkernel_avx2i8(kb, mr, nvec, 0, kq, a_word,
                                             lambda p, c: load_i16(kb, panel_buf, b_at(p, c)))
                elif gm.int8:
                    acc = microkernel_vnni(kb, mr, nvec, 0, kq, a_word, lambda p, c: load_s8(kb, panel_buf, b_at(p, c)),
                                           a_unsigned=False)
                else:
                    acc = microkernel_bf16(kb, mr, nvec, 0, kq, a_word,
                                           lambda p, c: load_bf16(kb, panel_buf, b_at(p, c)))
                store(mbi, acc)
            kb.for_(lo_b, hi_b, block)

        def store_block(kb, acc, rows_left, row0, ni, p0, ncols):
            """C's block (registers or scratch) through the epilogue into the output; int8 sums
            become values first: mult[ch] * (acc - corr[ch])."""
            nvec = nr // v
            nrows = mr if full_rows else kb.imin(rows_left, mr)
            rows = (lambda body: for_rows(kb, acc, mr, nrows, lambda r, vec: body(r, lambda c: deq(r, vec(c))))) \
                if gm.int8 else (lambda body: for_rows(kb, acc, mr, nrows, body))

            def deq(r, raw):
                ch = kb.add(row0, r)
                corr = kb.broadcast(kb.load(kb.args["corr"], ch), v)
                mult = kb.broadcast(kb.load(kb.args["mult"], ch), v)
                return dequantize(kb, raw, corr, mult)
            if vec_epilogue:
                def store_row(r, vec):
                    row = kb.add(row0, r)
                    obase = kb.mul(kb.add(kb.mul(ni, cout_), row), oplane_)
                    for c in range(nvec):
                        nvalid = kb.imax(kb.imin(kb.sub(ncols, c * v), v), 0)
                        p = kb.add(p0, c * v)
                        flat = [[st[0], st[1], 0 if pat[2] else 1] for st, pat in zip(est, pattern)]
                        val = apply_epilogue_vec(kb, ep, vec(c), eps, [ni, row, p], nvalid, v, flat)
                        kb.vstore_masked(val, ob, kb.add(obase, p), kb.mask(nvalid, v))
                rows(store_row)
                return
            if grid_epilogue:
                for c in range(nvec):
                    nvalid = kb.imax(kb.imin(kb.sub(ncols, c * v), v), 0)
                    p = kb.add(p0, c * v)
                    oh, ow0 = kb.div(p, gw_), kb.rem(p, gw_)
                    nseg = kb.div(kb.add(kb.add(ow0, nvalid), kb.sub(gw_, 1)), gw_)

                    def store_row(r, vec, c=c, p=p, oh=oh, ow0=ow0, nseg=nseg, nvalid=nvalid):
                        row = kb.add(row0, r)
                        obase = kb.mul(kb.add(kb.mul(ni, cout_), row), oplane_)
                        acc, val = vec(c), None
                        if not grid_varying:  # one epilogue for every run
                            flat = [[st[0], st[1], 0] for st in est]
                            val = apply_epilogue_vec(kb, ep, acc, eps, [ni, row, p], nvalid, v, flat)

                        def segment(sg):  # lanes [ls, ls + wout) are output row oh + sg
                            ls = kb.sub(kb.mul(sg, gw_), ow0)
                            lo, hi = kb.imax(ls, 0), kb.imin(kb.add(ls, wout_), nvalid)
                            lanes = kb.emit_and(kb.mask(hi, v), kb.emit(arith.XOrIOp(
                                kb.mask(lo, v), kb.splat(True, v, np.bool_))))
                            pos = kb.sub(kb.mul(kb.add(oh, sg), wout_), ls)  # the output position of lane 0
                            out = val
                            if grid_varying:
                                flat = [[st[0], st[1], 0 if pat[2] else 1] for st, pat in zip(est, pattern)]
                                out = apply_epilogue_vec(kb, ep, acc, eps, [ni, row, pos], None, v, flat, lanes)
                            kb.vstore_masked(out, ob, kb.add(obase, pos), lanes)
                        kb.for_(0, nseg, segment)
                    rows(store_row)
                return
            if isinstance(acc, ScratchBlock):  # already in memory, rows `ld` floats apart
                block, ld = acc.at, acc.ld
                if gm.int8:  # the sums as values, in place
                    def to_values(r, vec):
                        for c in range(nvec):
                            kb.vstore(vec(c), sc, kb.add(block, kb.add(kb.mul(r, ld), c * v)))
                    rows(to_values)
            else:
                block, ld = c_tile, nr
                for r in range(mr):
                    for c in range(nvec):
                        a = deq(r, acc[r * nvec + c]) if gm.int8 else acc[r * nvec + c]
                        kb.vstore(a, sc, kb.add(c_tile, r * nr + c * v))

            def col(j):  # the position of column j, once for all rows
                gc = kb.add(p0, j)
                oh, ow = kb.div(gc, gw_), kb.rem(gc, gw_)
                ok = kb.emit_and(kb.icmp("ult", ow, wout_), kb.icmp("ult", gc, cols_))

                def put():
                    def row(r):
                        ch = kb.add(row0, r)
                        val = kb.load(sc, kb.add(block, kb.add(kb.mul(r, ld), j)))
                        ins = [kb.load(b, kb.lin([ni, ch, oh, ow], st)) for b, st in zip(eps, est)]
                        (res,) = ep.dag.eval(kb, ins, val)
                        kb.store(res, ob, kb.add(kb.mul(kb.add(kb.mul(ni, cout_), ch), oplane_),
                                                 kb.add(kb.mul(oh, wout_), ow)))
                    kb.for_(0, nrows, row)
                kb.if_(ok, put)
            kb.for_(0, ncols, col)

        kb.for_(kb.args["lo"], kb.args["hi"], bf16_unit if low else unit)
        if gm.tiles:
            amx_end(kb)

    pbuf = ctx.const_buf(np.array(P.values, np.int64))
    args = [("x", x_buf.dtype, None), ("w", F32, None), ("params", np.dtype(np.int64), None)]
    bufs = [x_buf, ctx.const_buf(packed), pbuf]
    if koff is not None:
        args.append(("koff", np.dtype(np.int64), None))
        bufs.append(ctx.const_buf(koff))
    if quant is not None:
        args += [("mult", F32, None), ("corr", np.dtype(np.int32), None)]
        bufs += [ctx.const_buf(mult), ctx.const_buf(corr)]
    if panels is not None:
        args.append(("panels", F32, None))
        bufs.append(panels)
    for i, e in enumerate(ep.inputs):
        args.append((f"e{i}", ctx.buf(e).dtype, None))
        bufs.append(ctx.buf(e))
    args.append(("out", out_buf.dtype, None))
    bufs.append(out_buf)
    extent = n * g * n_tc * n_mc
    ctx.step(Kernel(key, args, build, scratch), bufs, extent, float(n * cout * hout * wout * kdim), [out_buf],
             label)


def _pack_panel(kb: KB, gm, row, k, kp, dst, at, act) -> None:
    """One tile's rows of B as a panel of words: bf16 pairs, or the u8 levels of the activation
    quantizer `act` (int8)."""
    if gm.isa == "avx2i8":
        pack_rows_u16(kb, lambda kk: [levels(kb, x, act) for x in row(kk)], gm.nr // gm.lanes, k, kp, dst, at)
    elif gm.int8:
        pack_rows_u8(kb, lambda kk: [levels(kb, x, act) for x in row(kk)], gm.nr // 16, k, kp, dst, at)
    else:
        pack_rows_bf16(kb, row, gm.nr // 16, k, kp, dst, at)


def _pack_panels(ctx: LowerCtx, x: Buf, koff, dims, kdim: int, kp: int, gm, pointwise: bool, act) -> Buf:
    """All of a convolution's B as VNNI panels, [n*g][tiles][kp/per_word][nr] words: every tile's
    columns (bf16, or u8 levels) packed once, in parallel, for the chunks of filter blocks to share."""
    ng, cin_g, plane, cols, nt = dims
    nr = gm.nr
    words = kp // gm.per_word * nr
    out = ctx.scratch_value(np.dtype(np.float32), ng * nt * words)
    act_key = (act.form, act.lo, act.hi, act.n, act.nan) if act is not None else None
    key = f"packb|{'pw' if pointwise else 'pad'}|{dims}|{kdim},{kp},{gm.key()}|{act_key}|{x.dtype.str}"

    def build(kb: KB) -> None:
        kb.hold_f32("x")
        xb, ob, kt = kb.args["x"], kb.args["out"], kb.args.get("koff")

        def tile(u):
            gi, t = kb.div(u, nt), kb.rem(u, nt)
            p0 = kb.mul(t, nr)
            row = _b_rows(kb, xb, kt, kb.mul(kb.mul(gi, cin_g), plane), p0, kb.imin(nr, kb.sub(cols, p0)), plane,
                          pointwise, nr // gm.lanes, gm.lanes)
            base = kb.mul(u, words)
            _pack_panel(kb, gm, row, kdim, kp, ob, lambda p, c: kb.add(base, kb.add(kb.mul(p, nr), c * gm.lanes)),
                        act)
        kb.for_(kb.args["lo"], kb.args["hi"], tile)

    args, bufs = [("x", x.dtype, x.size)], [x]
    if koff is not None:
        args.append(("koff", np.dtype(np.int64), len(koff)))
        bufs.append(ctx.const_buf(koff))
    args.append(("out", F32, out.size))
    bufs.append(out)
    ctx.step(Kernel(key, args, build), bufs, ng * nt, float(ng * nt * kp * nr), [out], "pack-bf16")
    return out


def phase_input(ctx: LowerCtx, x: Buf, shape, pb, stride, phase_hw, size: int, taps, act=None,
                dtype: np.dtype = F32, per_word: int = 1) -> Buf:
    """A zero-padded, phase-split copy of an NCHW tensor: for each channel, stride_h x stride_w
    phase images of phase_hw, image (a, b) holding padded rows a, a+s_h, ... and columns b,
    b+s_w, ...; `size` elements in all (zeros after the end). Only the images that the filter
    taps (kh, kw, dilations) read are written (a 1x1 filter of stride 2 reads one of four).
    With an activation quantizer `act` (an int8 kernel's), the copy holds its levels (as
    floats), padding the level of 0.0. `dtype` bf16: for a bf16 kernel, which packs it as it is
    (rounded once, here, to nearest even as the packing would). `per_word` 2 or 4 (channels a
    multiple of it, column stride <= 2): that many channels side by side, a word per position of
    two bf16 (dtype bf16) or four u8 levels (`act`), `size` words: the VNNI panel that a bf16 or
    int8 kernel reads its B tiles from."""
    n, c, h, w = shape
    sh, sw = stride
    hph, wph = phase_hw
    (kh, kw), dil = taps
    phases = sorted({((i * dil[0]) % sh, (j * dil[1]) % sw) for i in range(kh) for j in range(kw)})
    words = per_word > 1
    assert not words or (c % per_word == 0 and sw <= 2 and (act is None) == (per_word == 2))
    planes = n * c // per_word
    per_plane = sh * sw * hph * wph
    pad = 0.0 if act is None else float(act.z)
    act_key = None if act is None else (act.form, act.lo, act.hi, act.n, act.nan)
    key = (f"phase{shape}{pb}{stride}{phase_hw}{size}|{phases}|{act_key}|{x.dtype.str}|{np.dtype(dtype).str}|"
           f"{per_word}")
    out = ctx.scratch_value(F32 if words else np.dtype(dtype), size)
    inter = [i // 2 + 16 * (i % 2) for i in range(32)]  # a0 b0 a1 b1 ... of two 16-lane vectors

    def build(kb: KB) -> None:
        kb.hold_f32("x", "out")
        xb, ob = kb.args["x"], kb.args["out"]

        def put(vals, valid, dst, j0):  # 16 columns of a phase row: levels, padding, stored
            if act is not None:
                vals = kb.emit(arith.SIToFPOp(levels(kb, vals, act), VectorType(f32, [16])))
            vals = kb.select(valid, vals, kb.splat(pad, 16))
            kb.vstore_masked(vals, ob, kb.add(dst, j0), kb.mask(kb.imin(kb.sub(wph, j0), 16), 16))

        def plane(pl):
            for a, b in phases:
                def line(i, a=a, b=b):
                    ih = kb.sub(kb.add(kb.mul(i, sh), a), pb[0])
                    inside = kb.icmp("ult", ih, h)
                    dst = kb.add(kb.mul(pl, per_plane), kb.mul(kb.add(i, (a * sw + b) * hph), wph))
                    row = kb.add(kb.mul(pl, per_word * h * w), kb.mul(ih, w))

                    def col(j):
                        iw = kb.sub(kb.add(kb.mul(j, sw), b), pb[1])
                        ok = kb.emit_and(inside, kb.icmp("ult", iw, w))
                        val = kb.load(xb, kb.select(ok, kb.v(kb.add(row, iw)), kb.v(0)))
                        if act is not None:
                            val = kb.emit(arith.SIToFPOp(levels(kb, val, act), f32))
                        kb.store(kb.select(ok, val, kb.f(pad)), ob, kb.add(dst, j))

                    def columns(row, start, window):  # 16 columns from a window of 16 * sw inputs
                        vals = kb.vload_masked(xb, kb.add(row, start), window, 16 * sw, widen=False)
                        if sw > 1:
                            vals = kb.shuffle(vals, vals, [sw * t for t in range(16)])
                        return kb.widen(xb, vals)

                    def vcol(jv):
                        j0 = kb.mul(jv, 16)
                        start = kb.sub(kb.add(kb.mul(j0, sw), b), pb[1])
                        window = kb.lane_range(start, 1, w, 16 * sw, inside)
                        valid = kb.lane_range(start, sw, w, 16, inside) if sw > 1 else window
                        if not words:
                            put(columns(row, start, window), valid, dst, j0)
                            return
                        chans = [columns(kb.add(row, q * h * w), start, window) for q in range(per_word)]
                        if act is None:  # bf16 pairs
                            two = [kb.to_bf16(kb.select(valid, x, kb.splat(0.0, 16))) for x in chans]
                            word = kb.vbitcast(kb.shuffle(*two, inter), f32, 16)
                        else:  # u8 quads: level q in byte q
                            z = kb.splat(int(act.z), 16, np.int32)
                            lv = [kb.select(valid, levels(kb, x, act), z) for x in chans]
                            word = lv[0]
                            for q in (1, 2, 3):
                                word = kb.emit(arith.OrIOp(word, kb.emit(arith.ShLIOp(
                                    lv[q], kb.splat(8 * q, 16, np.int32)))))
                            word = kb.vbitcast(word, f32, 16)
                        kb.vstore_masked(word, ob, kb.add(dst, j0), kb.mask(kb.imin(kb.sub(wph, j0), 16), 16))
                    if sw <= 2:
                        kb.for_(0, -(-wph // 16), vcol)
                    else:
                        kb.for_(0, wph, col)
                kb.for_(0, hph, line)

        kb.for_(kb.args["lo"], kb.args["hi"], plane)
        kb.if_(kb.icmp("eq", kb.args["hi"], planes),
               lambda: kb.for_(planes * per_plane, size, lambda i: kb.store(kb.f(0.0), ob, i)))

    ctx.step(Kernel(key, [("x", x.dtype, x.size), ("out", out.dtype, size)], build), [x, out], planes,
             float(planes * per_plane), [out], "phase-split")
    return out


DW_TAPS_UNROLLED = 49  # filters up to 7x7 have their taps written out


def lower_depthwise(ctx, x_v, ep, output, wval, strides, dil, pb, x_shape, out_shape) -> None:
    """Depthwise convolution (one filter per channel): an output row is computed 16 columns at
    a time in a vector register, each filter tap adding a masked load of the input row (a
    window of 16 x stride contiguous inputs, every stride-th lane picked, for strides 1 and 2)
    times its weight; taps outside the input add nothing. The epilogue runs on the vector."""
    n, c, h, w = x_shape
    _, cout, hout, wout = out_shape
    kh, kw = wval.shape[-2:]
    if strides[1] > 2 or kh * kw > DW_TAPS_UNROLLED:
        return _lower_depthwise_rows(ctx, x_v, ep, output, wval, strides, dil, pb, x_shape, out_shape)
    mult = cout // c
    sh, sw = strides
    filt = np.require(wval.reshape(cout, kh * kw), dtype=F32, requirements="C")
    x_buf = ctx.buf(x_v)
    ep_strides = ep.strides()
    args, bufs = _depthwise_args(ctx, x_buf, filt, ep, output)
    key = f"dwv{x_shape}{out_shape}{(kh, kw)}{strides}{dil}{pb}|{ep.key()}|{[a[1].str for a in args]}"
    V = 16

    def build(kb: KB) -> None:
        kb.hold_f32("x", "out", *(f"e{i}" for i in range(len(ep.inputs))))
        xb, wb, ob = kb.args["x"], kb.args["w"], kb.args["out"]
        eps = [kb.args[f"e{i}"] for i in range(len(ep.inputs))]

        def row(u):  # u = (n, co, oh)
            oh = kb.rem(u, hout)
            nc = kb.div(u, hout)
            co = kb.rem(nc, cout)
            ni = kb.div(nc, cout)
            plane = kb.mul(kb.add(kb.mul(ni, c), kb.div(co, mult)), h * w)
            wts = [kb.broadcast(kb.load(wb, kb.add(kb.mul(co, kh * kw), t)), V) for t in range(kh * kw)]

            def chunk(q):
                ow0 = kb.mul(q, V)
                acc = kb.splat(0.0, V)
                for i in range(kh):
                    ih = kb.add(kb.sub(kb.mul(oh, sh), pb[0]), i * dil[0])
                    inside = kb.icmp("ult", ih, h)
                    for j in range(kw):
                        start = kb.add(kb.sub(kb.mul(ow0, sw), pb[1]), j * dil[1])  # input column of lane 0
                        window = kb.lane_range(start, 1, w, V * sw, inside)
                        xs = kb.vload_masked(xb, kb.add(kb.add(plane, kb.mul(ih, w)), start), window, V * sw,
                                             widen=False)
                        if sw > 1:
                            xs = kb.shuffle(xs, xs, [sw * t for t in range(V)])
                        xs = kb.widen(xb, xs)
                        valid = kb.lane_range(start, sw, w, V, inside) if sw > 1 else window
                        acc = kb.select(valid, kb.fma(xs, wts[i * kw + j], acc), acc)
                nvalid = kb.imin(kb.sub(wout, ow0), V)
                pos = [ni, co, oh, ow0]
                val = apply_epilogue_vec(kb, ep, acc, eps, pos, nvalid, V, ep_strides)
                kb.vstore_masked(val, ob, kb.lin(pos, [cout * hout * wout, hout * wout, wout, 1]), kb.mask(nvalid, V))
            kb.for_(0, -(-wout // V), chunk)

        kb.for_(kb.args["lo"], kb.args["hi"], row)

    ctx.step(Kernel(key, args, build), bufs, n * cout * hout, float(n * cout * hout * wout * kh * kw),
             [bufs[-1]], "DepthwiseConvolution")


def _depthwise_args(ctx: LowerCtx, x_buf: Buf, filt: np.ndarray, ep: Epilogue, output: SSAValue):
    """A depthwise kernel's buffers (x, w, epilogue inputs, out), as stored (bf16 where
    activations are)."""
    args = [("x", x_buf.dtype, x_buf.size), ("w", F32, filt.size)]
    bufs = [x_buf, ctx.const_buf(filt)]
    for i, e in enumerate(ep.inputs):
        b = ctx.buf(e)
        args.append((f"e{i}", b.dtype, max(int(np.prod(shape_of(e.type), dtype=np.int64)), 1)))
        bufs.append(b)
    ctx.hold_levels(output)
    out_buf = ctx.buf(output)
    args.append(("out", out_buf.dtype, out_buf.size))
    bufs.append(out_buf)
    return args, bufs


def _lower_depthwise_rows(ctx, x_v, ep, output, wval, strides, dil, pb, x_shape, out_shape) -> None:
    """Depthwise convolution of any stride and filter size: for each output row, the inner loop
    runs along the output width over the valid range of each filter tap."""
    n, c, h, w = x_shape
    _, cout, hout, wout = out_shape
    kh, kw = wval.shape[-2:]
    mult = cout // c
    filt = np.require(wval.reshape(cout, kh * kw), dtype=F32, requirements="C")
    x_buf = ctx.buf(x_v)
    ep_strides = ep.strides()
    args, bufs = _depthwise_args(ctx, x_buf, filt, ep, output)
    key = f"dw{x_shape}{out_shape}{(kh, kw)}{strides}{dil}{pb}|{ep.key()}|{[a[1].str for a in args]}"
    scratch = wout + 64

    def build(kb: KB) -> None:
        kb.hold_f32("x", "out", *(f"e{i}" for i in range(len(ep.inputs))))
        xb, wb, ob, sc, soff = kb.args["x"], kb.args["w"], kb.args["out"], kb.args["scratch"], kb.args["soff"]
        eps = [kb.args[f"e{i}"] for i in range(len(ep.inputs))]

        def row(u):  # u = (n, co, oh)
            oh = kb.rem(u, hout)
            nc = kb.div(u, hout)
            co = kb.rem(nc, cout)
            ni = kb.div(nc, cout)
            ci = kb.div(co, mult)
            plane = kb.mul(kb.add(kb.mul(ni, c), ci), h * w)
            kb.for_(0, wout, lambda j: kb.store(kb.f(0.0), sc, kb.add(soff, j)))

            def tap(t):
                i, j = kb.div(t, kw), kb.rem(t, kw)
                ih = kb.add(kb.sub(kb.mul(oh, strides[0]), pb[0]), kb.mul(i, dil[0]))

                def accumulate():
                    wt = kb.load(wb, kb.add(kb.mul(co, kh * kw), t))
                    off = kb.sub(kb.mul(j, dil[1]), pb[1])  # iw = ow*s + off
                    # valid ow: 0 <= ow*s + off < w
                    lo = kb.imax(kb.div(kb.add(kb.sub(0, off), strides[1] - 1), strides[1]) if isinstance(off, int)
                                 else _ceil_div_nonneg(kb, off, strides[1]), 0)
                    hi = kb.imin(_floor_div_bound(kb, kb.sub(w, off), strides[1]), wout)
                    base = kb.add(plane, kb.mul(ih, w))

                    def col(ow):
                        iw = kb.add(kb.mul(ow, strides[1]), off)
                        acc = kb.load(sc, kb.add(soff, ow))
                        prod = kb.fmul(wt, kb.load(xb, kb.add(base, iw)), acc=True)
                        kb.store(kb.fadd(acc, prod, acc=True), sc, kb.add(soff, ow))
                    kb.for_(lo, hi, col)
                kb.if_(kb.icmp("ult", ih, h), accumulate)
            kb.for_(0, kh * kw, tap)

            def store(ow):
                val = kb.load(sc, kb.add(soff, ow))
                ins = [kb.load(b, kb.lin([ni, co, oh, ow], st)) for b, st in zip(eps, ep_strides)]
                (res,) = ep.dag.eval(kb, ins, val)
                kb.store(res, ob, kb.lin([ni, co, oh, ow], [cout * hout * wout, hout * wout, wout, 1]))
            kb.for_(0, wout, store)

        kb.for_(kb.args["lo"], kb.args["hi"], row)

    ctx.step(Kernel(key, args, build, scratch), bufs, n * cout * hout, float(n * cout * hout * wout * kh * kw),
             [bufs[-1]], "DepthwiseConvolution")


def _ceil_div_nonneg(kb: KB, off, s: int):
    """ceil(-off / s) for a dynamic offset (may be negative)."""
    from xdsl.dialects import arith

    neg = kb.sub(0, off)
    return kb.emit(arith.CeilDivSIOp(kb.v(neg), kb.v(s)))


def _floor_div_bound(kb: KB, x, s: int):
    """ceil(x / s): the first ow with ow*s >= x, i.e. the end of the valid range."""
    from xdsl.dialects import arith

    if isinstance(x, int):
        return -(-x // s)
    return kb.emit(arith.CeilDivSIOp(kb.v(x), kb.v(s)))


def lower_conv_direct(ctx: LowerCtx, conv: OvOp, ep: Epilogue, output: SSAValue, inputs: Sequence[SSAValue]) -> None:
    """Any convolution (N-D, computed filters, other types) as a plain loop nest."""
    x_v, w_v = inputs
    xs, ws = shape_of(x_v.type), shape_of(w_v.type)
    os_ = shape_of(output.type)
    grouped = conv.IR_TYPE == "GroupConvolution"
    a = conv.attr
    nsp = len(xs) - 2
    k = ws[-nsp:]
    pb, _ = resolve_pads(xs[2:], k, a.strides, a.dilations, a.auto_pad, a.pads_begin, a.pads_end)
    cout_g = ws[1] if grouped else ws[0]
    cin_g = ws[2] if grouped else ws[1]
    dt = dtype_of(x_v.type)
    ep_strides = ep.strides()
    x_strides = broadcast_strides(xs, xs)
    o_strides = broadcast_strides(os_, os_)
    kvol = int(np.prod(k))
    key = f"convd{xs}{ws}{os_}{tuple(a.strides)}{tuple(a.dilations)}{pb}{grouped}|{ep.key()}"

    def build(kb: KB) -> None:
        xb, wb, ob = kb.args["x"], kb.args["w"], kb.args["out"]
        eps = [kb.args[f"e{i}"] for i in range(len(ep.inputs))]

        def point(u):
            idx = kb.unravel(u, os_)
            ni, co, sp = idx[0], idx[1], idx[2:]
            gi = kb.div(co, cout_g)

            def red(r, acc):
                ci = kb.div(r, kvol)
                kk = kb.unravel(kb.rem(r, kvol), k)
                inb = None
                pos = []
                for d in range(nsp):
                    ii = kb.add(kb.sub(kb.mul(sp[d], a.strides[d]), pb[d]), kb.mul(kk[d], a.dilations[d]))
                    c = kb.icmp("ult", ii, xs[2 + d])
                    inb = c if inb is None else kb.emit_and(inb, c)
                    pos.append(ii)
                xi = kb.lin([ni, kb.add(kb.mul(gi, cin_g), ci), *pos], x_strides)
                xv = kb.load(xb, kb.select(inb, kb.v(xi), kb.v(0)))
                wv = kb.load(wb, kb.add(kb.mul(co, cin_g * kvol), r))
                from passes.ov_to_loops.scalar import SCALAR
                prod = SCALAR["Multiply"](kb, None, [dt, dt], dt, xv, wv)
                # a tap on the zero padding adds 0 * w, as the reference does (NaN for w = inf)
                pad = SCALAR["Multiply"](kb, None, [dt, dt], dt, kb.const(0, dt), wv)
                prod = kb.select(inb, prod, pad)
                return [SCALAR["Add"](kb, None, [dt, dt], dt, acc, prod)]
            (acc,) = kb.for_(0, cin_g * kvol, red, init=[kb.const(0, dt)])
            ins = [kb.load(b, kb.lin(idx, st)) for b, st in zip(eps, ep_strides)]
            (res,) = ep.dag.eval(kb, ins, acc)
            kb.store(res, ob, kb.lin(idx, o_strides))

        kb.for_(kb.args["lo"], kb.args["hi"], point)

    x_buf, w_buf = ctx.buf(x_v), ctx.buf(w_v)
    args = [("x", dt, x_buf.size), ("w", dtype_of(w_v.type), w_buf.size)]
    bufs = [x_buf, w_buf]
    for i, e in enumerate(ep.inputs):
        args.append((f"e{i}", dtype_of(e.type), max(int(np.prod(shape_of(e.type), dtype=np.int64)), 1)))
        bufs.append(ctx.buf(e))
    out_buf = ctx.buf(output)
    args.append(("out", dtype_of(output.type), out_buf.size))
    bufs.append(out_buf)
    total = int(np.prod(os_))
    ctx.step(Kernel(key, args, build), bufs, total, float(total * cin_g * kvol), [out_buf], conv.IR_TYPE)


@lowering("Convolution", "GroupConvolution")
def _conv(ctx: LowerCtx, op: OvOp) -> None:
    lower_conv(ctx, op, Epilogue.identity(shape_of(op.outputs[0].type)), op.outputs[0])


for _k in ("Convolution", "GroupConvolution"):
    FUSED[_k] = lambda ctx, op: lower_anchored(ctx, op, lower_conv)
