"""GEMM micro-kernels: C[M, N] += A[M, K] x B[K, N] on one MR x NR block of C, and how each
kernel family wants its operands laid out. The convolution and MatMul lowerings (conv.py,
matmul.py) choose which rows of A and columns of B a block reads; a micro-kernel only
multiplies and adds, and hands back the block as f32 vectors of V lanes for the epilogue.

Kernel families (`Gemm.isa`):
- "f32": MR x NR/V vector accumulators, one broadcast of A and NR/V loads of B per k, FMAs.
- "avx512bf16": the same block; operands are bf16 and k advances by pairs: a pair of A's
  elements is broadcast as one 32-bit word and `vdpbf16ps` adds both products into f32 lanes.
- "avx2i8" (int8 on AVX2): a 6 x 16 block of i32 accumulators (8 lanes a ymm); k advances by
  pairs: a pair of A's int8 values, widened to two i16, is broadcast as one 32-bit word, and
  `vpmaddwd` multiplies it with B's pairs of u8 levels (as i16) into i32 lanes, exact (never
  `vpmaddubsw`, which saturates), and `vpaddd` adds them up.
- "amx": a 32 x 32 block in four AMX tiles (2 x 2), k advancing by 32 (one tile of A is 16 rows
  x 32 bf16, one tile of B 16 pairs of rows x 16 columns); C is stored to scratch and reloaded
  as vectors.

bf16 operands live in memory as 32-bit words, each a pair of bf16 values adjacent along K
(the "VNNI layout" both bf16 instructions read): packed A is [block][K/2][MR] words (AVX512-BF16)
or [block][K/32][MR rows][16 words] (AMX tiles), packed B [panel][K/2][NR] words. Buffers and
scratch stay f32-typed; bf16 vectors are bitcasts of word vectors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import ml_dtypes
import numpy as np
from xdsl.dialects.builtin import bf16, f32
from xdsl.ir import SSAValue

from codegen.target import host
from dialects.loops import (
    DotBF16Op,
    DotI16Op,
    DotU8S8Op,
    TileConfigOp,
    TileDotOp,
    TileLoadOp,
    TileReleaseOp,
    TileStoreOp,
    TileZeroOp,
)
from passes.ov_to_loops.kb import KB

F32 = np.dtype(np.float32)
BF16 = np.dtype(ml_dtypes.bfloat16)


def blocking() -> tuple[int, int, int]:
    """(MR, NR, V) of the f32 kernel: rows x columns of the register block, floats per vector."""
    v = host().vector_width
    mr = {16: 8, 8: 6}.get(v, 4)
    return mr, 2 * v, v


@dataclass(frozen=True)
class Gemm:
    """One kernel family and its blocking: MR x NR block, V f32 lanes per vector, K taken in
    steps of KU (padded with zeros to a multiple of it)."""

    isa: str  # "f32" | "avx512bf16" | "amx" (bf16) | "vnni" | "amx8" | "avx2i8" (int8)
    mr: int
    nr: int
    v: int
    ku: int

    @property
    def bf16(self) -> bool:
        return self.isa in ("avx512bf16", "amx")

    @property
    def int8(self) -> bool:
        return self.isa in ("vnni", "amx8", "avx2i8")

    @property
    def per_word(self) -> int:
        """K elements per 32-bit word of packed operands: 1 (f32), 2 (bf16 or i16 pairs), 4 (bytes)."""
        return 2 if self.bf16 or self.isa == "avx2i8" else 4 if self.int8 else 1

    @property
    def lanes(self) -> int:
        """32-bit words per vector of a packed panel (and lanes of the accumulators)."""
        return 8 if self.isa == "avx2i8" else 16

    @property
    def tiles(self) -> bool:
        return self.isa in ("amx", "amx8")

    def kpad(self, k: int) -> int:
        return -(-k // self.ku) * self.ku

    def key(self) -> str:
        return f"{self.isa}:{self.mr}x{self.nr}/{self.v}/{self.ku}"


def dequantized(v: SSAValue, depth: int = 6) -> bool:
    """Whether `v` comes from a quantizer (FakeQuantize) or a dequantized integer tensor through
    a few element-wise ops: such inputs lie on a quantization grid that bf16 rounding would move
    off, so their Convolution/MatMul stays f32 (quantized models keep their quantizers' results)."""
    from dialects.ov import Fused, OvOp, dtype_of

    op = getattr(v, "op", None)
    if depth == 0 or op is None:
        return False
    ops = [o for o in op.block.ops if isinstance(o, OvOp)] if isinstance(op, Fused) else [op]
    for o in ops:
        if not isinstance(o, OvOp):
            continue
        if o.IR_TYPE == "FakeQuantize" or (o.IR_TYPE == "Convert" and dtype_of(o.inputs[0].type).kind in "iu"):
            return True
    if isinstance(op, Fused) or (isinstance(op, OvOp) and op.IR_TYPE in ("Multiply", "Subtract", "Add", "Convert",
                                                                           "Reshape", "Transpose", "MaxPool")):
        return any(dequantized(x, depth - 1) for x in op.operands)
    return False


def gemm_int8(int8_isa: str, rows: int) -> Gemm:
    """The int8 kernel family: AMX-INT8 tiles (32 x 32 blocks, K by 64) where 16 rows fill a
    tile, AVX512-VNNI otherwise (K by 4); on AVX2, 6 x 16 blocks of i16 pairs (K by 2)."""
    mr, _, _ = blocking()
    if int8_isa == "avx2":
        return Gemm("avx2i8", 6, 16, 8, 2)
    if int8_isa == "amx" and rows >= 16:
        return Gemm("amx8", 32, 32, 16, 64)
    return Gemm("vnni", mr, 32, 16, 4)


def gemm_for(precision: str, bf16_isa: str | None, rows: int) -> Gemm:
    """The kernel family for a GEMM whose blocks have up to `rows` rows of A: bf16 on AMX tiles
    where 16 rows fill a tile, on AVX512-BF16 otherwise (matrix-vector products gain nothing
    from tiles), f32 when the precision is f32."""
    mr, nr, v = blocking()
    if precision != "bf16" or bf16_isa is None or v != 16:
        return Gemm("f32", mr, nr, v, 1)
    if bf16_isa == "amx" and rows >= 16:
        return Gemm("amx", 32, 32, 16, 32)
    return Gemm("avx512bf16", mr, 32, 16, 2)


MIN_CHAINS = 8  # independent FMA chains that hide the FMA latency (4 cycles, 2 ports)


def microkernel(kb: KB, mr: int, nvec: int, v: int, k_lo, k_hi, a_elem, b_vec) -> list[SSAValue]:
    """acc[r][c] = sum_k a_elem(r, k) * b_vec(k, c): mr x nvec vector accumulators. A block of
    few rows (a matrix-vector product) keeps `split` partial sums per accumulator over
    interleaved k, so that enough FMAs are in flight, and adds them up at the end."""
    zero = kb.splat(0.0, v)
    n = mr * nvec
    split = max(1, min(4, MIN_CHAINS // n))

    def step_at(k, acc):
        bs = [b_vec(k, c) for c in range(nvec)]
        out = []
        for r in range(mr):
            a = kb.broadcast(a_elem(r, k), v)
            out += [kb.fma(a, bs[c], acc[r * nvec + c]) for c in range(nvec)]
        return out

    if split == 1:
        return kb.for_(k_lo, k_hi, lambda k, *acc: step_at(k, acc), init=[zero] * n)
    count = kb.sub(k_hi, k_lo)
    main_hi = kb.add(k_lo, kb.mul(kb.div(count, split), split))

    def steps(k, *acc):
        out = []
        for j in range(split):
            out += step_at(kb.add(k, j), acc[j * n:(j + 1) * n])
        return out
    parts = kb.for_(k_lo, main_hi, steps, step=split, init=[zero] * (n * split))
    acc = kb.for_(main_hi, k_hi, lambda k, *a: step_at(k, a), init=parts[:n])
    for j in range(1, split):
        acc = [kb.fadd(a, p, acc=True) for a, p in zip(acc, parts[j * n:(j + 1) * n])]
    return acc


# --- bf16: operand packing ----------------------------------------------------------------------

def bf16_words(pairs: np.ndarray) -> np.ndarray:
    """[..., 2] float values -> [...] f32-typed words holding the two bf16 values (RNE)."""
    return np.ascontiguousarray(np.asarray(pairs, F32).astype(BF16)).view(np.float32)[..., 0]


def int8_words(quads: np.ndarray) -> np.ndarray:
    """[..., 4] int8 values -> [...] f32-typed words holding the four bytes."""
    return np.ascontiguousarray(np.asarray(quads, np.int8)).view(np.float32)[..., 0]


def i16_words(pairs: np.ndarray) -> np.ndarray:
    """[..., 2] integers (int16 range) -> [...] f32-typed words holding the two i16 values."""
    return np.ascontiguousarray(np.asarray(pairs, np.int16)).view(np.float32)[..., 0]


def pack_a(wflat: np.ndarray, g: Gemm) -> np.ndarray:
    """Constant A, [G][M][K], as the kernel family reads it, rows zero-padded to a multiple of
    MR and K to a multiple of KU: f32 [G][M/MR][K][MR]; AVX512-BF16 words [G][M/MR][K/2][MR];
    AMX words [G][M/32][K/32][32][16]; int8 (A of int8 values): VNNI words [G][M/MR][K/4][MR],
    AMX-INT8 words [G][M/32][K/64][32][16]."""
    groups, m, k = wflat.shape
    mb, kp = -(-m // g.mr), g.kpad(k)
    if g.isa == "avx2i8":
        a16 = np.zeros((groups, mb * g.mr, kp), np.int16)
        a16[:, :m, :k] = wflat
        return np.ascontiguousarray(i16_words(a16.reshape(groups, mb, g.mr, kp // 2, 2)).transpose(0, 1, 3, 2))
    if g.int8:
        a8 = np.zeros((groups, mb * g.mr, kp), np.int8)
        a8[:, :m, :k] = wflat
        a8 = a8.reshape(groups, mb, g.mr, kp // 4, 4)
        if g.isa == "vnni":
            return np.ascontiguousarray(int8_words(a8).transpose(0, 1, 3, 2))
        tiles = a8.reshape(groups, mb, g.mr, kp // 64, 16, 4).transpose(0, 1, 3, 2, 4, 5)
        return np.ascontiguousarray(int8_words(tiles))
    a = np.zeros((groups, mb * g.mr, kp), F32)
    a[:, :m, :k] = wflat
    a = a.reshape(groups, mb, g.mr, kp)
    if g.isa == "f32":
        return np.ascontiguousarray(a.transpose(0, 1, 3, 2))
    if g.isa == "avx512bf16":
        return np.ascontiguousarray(bf16_words(a.reshape(groups, mb, g.mr, kp // 2, 2)).transpose(0, 1, 3, 2))
    tiles = a.reshape(groups, mb, g.mr, kp // 32, 16, 2).transpose(0, 1, 3, 2, 4, 5)
    return np.ascontiguousarray(bf16_words(tiles))


def pack_b(bmat: np.ndarray, g: Gemm) -> np.ndarray:
    """Constant B, [BB][K][N], in panels of NR columns, zero-padded: f32 [BB][N/NR][K][NR];
    bf16 words [BB][N/NR][K/2][NR] (both bf16 families); int8 words [BB][N/NR][K/4][NR]."""
    bb, k, n = bmat.shape
    nb, kp = -(-n // g.nr), g.kpad(k)
    if g.isa == "avx2i8":
        b16 = np.zeros((bb, kp, nb * g.nr), np.int16)
        b16[:, :k, :n] = bmat
        return np.ascontiguousarray(i16_words(b16.reshape(bb, kp // 2, 2, nb, g.nr).transpose(0, 3, 1, 4, 2)))
    if g.int8:
        b8 = np.zeros((bb, kp, nb * g.nr), np.int8)
        b8[:, :k, :n] = bmat
        b8 = b8.reshape(bb, kp // 4, 4, nb, g.nr).transpose(0, 3, 1, 4, 2)
        return np.ascontiguousarray(int8_words(b8))
    p = np.zeros((bb, kp, nb * g.nr), F32)
    p[:, :k, :n] = bmat
    p = p.reshape(bb, kp, nb, g.nr).transpose(0, 2, 1, 3)
    if g.isa == "f32":
        return np.ascontiguousarray(p)
    return np.ascontiguousarray(bf16_words(p.reshape(bb, nb, kp // 2, 2, g.nr).transpose(0, 1, 2, 4, 3)))


def pack_rows_bf16(kb: KB, row: Callable, nvec: int, k, kp, dst: SSAValue, at: Callable) -> None:
    """Write B's rows as a VNNI panel into `dst` (an f32-typed buffer): `row(k)` gives row k as
    `nvec` f32 vectors of 16 lanes, `at(p, c)` the word index of vector c of pair p. Pair p
    holds rows 2p and 2p + 1; rows from `k` on are zeros, up to `kp` (K padded; k, kp may be
    run-time values)."""
    zero = kb.splat(0.0, 16)
    inter = [i // 2 + 16 * (i % 2) for i in range(32)]  # a0 b0 a1 b1 ... of two 16-lane vectors

    def put(p, r0, r1):
        for c in range(nvec):
            pair = kb.shuffle(kb.to_bf16(r0[c]), kb.to_bf16(r1[c]), inter)
            kb.vstore(kb.vbitcast(pair, f32, 16), dst, at(p, c))
    full = kb.div(k, 2)
    kb.for_(0, full, lambda p: put(p, row(kb.mul(p, 2)), row(kb.add(kb.mul(p, 2), 1))))
    odd = kb.rem(k, 2)
    if not (isinstance(odd, int) and odd == 0):
        def last():
            put(full, row(kb.sub(k, 1)), [zero] * nvec)
        if isinstance(odd, int):
            last()
        else:
            kb.if_(kb.icmp("ne", odd, 0), last)
    kb.for_(kb.add(full, odd), kb.div(kp, 2), lambda p: put(p, [zero] * nvec, [zero] * nvec))


def pack_rows_u8(kb: KB, row: Callable, nvec: int, k, kp, dst: SSAValue, at: Callable) -> None:
    """Write B's rows as an int8 VNNI panel: `row(k)` gives row k as `nvec` vectors of 16 i32
    levels (0..255); word c of quad p holds rows 4p..4p+3 of 16 columns, a byte each. Rows
    from `k` on are zeros, up to `kp`."""
    from xdsl.dialects import arith

    zero = kb.splat(0, 16, np.int32)

    def put(p, rows):
        for c in range(nvec):
            w = rows[0][c]
            for j in (1, 2, 3):
                w = kb.emit(arith.OrIOp(w, kb.emit(arith.ShLIOp(rows[j][c], kb.splat(8 * j, 16, np.int32)))))
            kb.vstore(kb.vbitcast(w, f32, 16), dst, at(p, c))

    def full(p):
        base = kb.mul(p, 4)
        put(p, [row(kb.add(base, j)) for j in range(4)])
    kb.for_(0, kb.div(k, 4), full)
    rem = kb.rem(k, 4)
    last = kb.div(k, 4)

    def tail():  # the quad k lies in: rows past k are zeros
        base = kb.mul(last, 4)
        rows = []
        for j in range(4):
            r = row(kb.imin(kb.add(base, j), kb.sub(k, 1)))
            keep = kb.icmp("slt", kb.add(base, j), k)
            rows.append([kb.select(kb.broadcast(keep, 16), v, zero) for v in r])
        put(last, rows)
    if not (isinstance(rem, int) and rem == 0):
        if isinstance(rem, int):
            tail()
        else:
            kb.if_(kb.icmp("ne", rem, 0), tail)
    kb.for_(kb.div(kb.add(k, 3), 4), kb.div(kp, 4), lambda p: put(p, [[zero] * nvec] * 4))


def pack_rows_u16(kb: KB, row: Callable, nvec: int, k, kp, dst: SSAValue, at: Callable) -> None:
    """Write B's rows as an i16-pair panel: `row(k)` gives row k as `nvec` vectors of 8 i32
    levels (0..255); word c of pair p holds rows 2p (low half) and 2p + 1 (high half) of 8
    columns. Rows from `k` on are zeros, up to `kp`."""
    from xdsl.dialects import arith

    zero = kb.splat(0, 8, np.int32)
    sixteen = kb.splat(16, 8, np.int32)

    def put(p, r0, r1):
        for c in range(nvec):
            w = kb.emit(arith.OrIOp(r0[c], kb.emit(arith.ShLIOp(r1[c], sixteen))))
            kb.vstore(kb.vbitcast(w, f32, 8), dst, at(p, c))
    full = kb.div(k, 2)
    kb.for_(0, full, lambda p: put(p, row(kb.mul(p, 2)), row(kb.add(kb.mul(p, 2), 1))))
    odd = kb.rem(k, 2)
    if not (isinstance(odd, int) and odd == 0):
        def last():
            put(full, row(kb.sub(k, 1)), [zero] * nvec)
        if isinstance(odd, int):
            last()
        else:
            kb.if_(kb.icmp("ne", odd, 0), last)
    kb.for_(kb.add(full, odd), kb.div(kp, 2), lambda p: put(p, [zero] * nvec, [zero] * nvec))


def levels(kb: KB, x: SSAValue, act) -> SSAValue:
    """The quantizer's integer level (0..n, as i32 lanes) of each lane of f32 vector x, computed
    as the quantizer's op computes it (passes.quantized.ActQuant), so that the level is the one
    the reference gets. NaN gets `act.nan`: level 0 for FakeQuantize (whose NaN output no level
    holds), the level of integer 0 for QDQ (the reference converts NaN to 0)."""
    from xdsl.dialects import arith, math
    from xdsl.dialects.builtin import VectorType, i32

    w = x.type.get_shape()[0] if isinstance(x.type, VectorType) else None
    f = (lambda c: kb.splat(float(c), w)) if w else (lambda c: kb.f(float(c)))  # noqa: E731
    to_i32 = VectorType(i32, [w]) if w else i32
    if act.form == "lvl":  # levels already (as floats)
        return kb.emit(arith.FPToSIOp(x, to_i32))
    if act.form == "int":  # integer values as floats: the level is the value, shifted to u8
        q = kb.fadd(x, f(act.lo))
    elif act.form == "fq":
        t = kb.fmul(kb.fdiv(kb.fsub(x, f(act.lo)), f(np.float32(act.hi) - np.float32(act.lo))), f(act.n))
        q = kb.emit(math.RoundEvenOp(t))
        q = kb.select(kb.cmpf("ole", x, f(act.lo)), f(0.0), kb.select(kb.cmpf("ogt", x, f(act.hi)), f(act.n), q))
    else:
        q = kb.fadd(kb.emit(math.RoundEvenOp(kb.fdiv(x, f(act.lo)))), f(act.hi))
        q = kb.fminnum(kb.fmaxnum(q, f(0.0)), f(act.n))
    q = kb.select(kb.cmpf("uno", x, x), f(act.nan), q)
    return kb.emit(arith.FPToSIOp(q, to_i32))


def dequantize(kb: KB, raw: SSAValue, corr: SSAValue, mult: SSAValue) -> SSAValue:
    """An int8 GEMM's sums as values: mult * (acc - corr), `raw` the i32 sums (or their bits in
    an f32-typed vector, as AMX leaves them in scratch)."""
    from xdsl.dialects import arith
    from xdsl.dialects.builtin import IntegerType, VectorType, i32

    w = raw.type.get_shape()[0]
    if not isinstance(raw.type.element_type, IntegerType):
        raw = kb.vbitcast(raw, i32, w)
    acc = kb.emit(arith.SubiOp(raw, corr))
    return kb.fmul(kb.emit(arith.SIToFPOp(acc, VectorType(f32, [w]))), mult)


def bytes_as_words(kb: KB, lvls: list[SSAValue]) -> SSAValue:
    """Four vectors of 16 i32 levels (consecutive elements) as 16 words of four bytes each."""
    from xdsl.dialects import arith
    from xdsl.dialects.builtin import VectorType, i8

    b = [kb.emit(arith.TruncIOp(x, VectorType(i8, [16]))) for x in lvls]
    lo, hi = kb.shuffle(b[0], b[1], list(range(32))), kb.shuffle(b[2], b[3], list(range(32)))
    return kb.vbitcast(kb.shuffle(lo, hi, list(range(64))), f32, 16)


def load_s8(kb: KB, buf: SSAValue, idx) -> SSAValue:
    """16 words of an int8 panel as 64 bytes."""
    from xdsl.dialects.builtin import i8

    return kb.vbitcast(kb.vload(buf, idx, 16), i8, 64)


def microkernel_vnni(kb: KB, mr: int, nvec: int, q_lo, q_hi, a_word, b_vec, a_unsigned: bool) -> list[SSAValue]:
    """acc[r][c] = sum over quads q of A's quad (r, q) . B's quad vector (q, c) in exact int32,
    by vpdpbusd: `a_word(r, q)` is a word of four int8, `b_vec(q, c)` 64 bytes. The unsigned
    operand goes first: A's bytes when `a_unsigned` (MatMul: activations in A), else B's."""
    from xdsl.dialects.builtin import i8

    zero = kb.splat(0, 16, np.int32)

    def step(q, *acc):
        bs = [b_vec(q, c) for c in range(nvec)]
        out = []
        for r in range(mr):
            a = kb.vbitcast(kb.broadcast(a_word(r, q), 16), i8, 64)
            for c in range(nvec):
                u, s8 = (a, bs[c]) if a_unsigned else (bs[c], a)
                out.append(kb.emit(DotU8S8Op(acc[r * nvec + c], u, s8)))
        return out
    return kb.for_(q_lo, q_hi, step, init=[zero] * (mr * nvec))


def load_i16(kb: KB, buf: SSAValue, idx) -> SSAValue:
    """8 words of an i16-pair panel as 16 i16 values."""
    from xdsl.dialects.builtin import i16

    return kb.vbitcast(kb.vload(buf, idx, 8), i16, 16)


def microkernel_avx2i8(kb: KB, mr: int, nvec: int, p_lo, p_hi, a_word, b_vec) -> list[SSAValue]:
    """acc[r][c] = sum over pairs p of A's pair (r, p) . B's pair vector (p, c) in exact int32,
    by vpmaddwd + vpaddd: `a_word(r, p)` is a word (f32-typed) of two i16, `b_vec(p, c)` 16 i16."""
    from xdsl.dialects.builtin import i16

    zero = kb.splat(0, 8, np.int32)

    def step(p, *acc):
        bs = [b_vec(p, c) for c in range(nvec)]
        out = []
        for r in range(mr):
            a = kb.vbitcast(kb.broadcast(a_word(r, p), 8), i16, 16)
            out += [kb.emit(DotI16Op(acc[r * nvec + c], a, bs[c])) for c in range(nvec)]
        return out
    return kb.for_(p_lo, p_hi, step, init=[zero] * (mr * nvec))


def load_bf16(kb: KB, buf: SSAValue, idx) -> SSAValue:
    """16 words of a VNNI panel as 32 bf16 values."""
    return kb.vbitcast(kb.vload(buf, idx, 16), bf16, 32)


def microkernel_bf16(kb: KB, mr: int, nvec: int, kp_lo, kp_hi, a_word, b_vec) -> list[SSAValue]:
    """acc[r][c] = sum over pairs p of A's pair (r, p) . B's pair vector (p, c), by vdpbf16ps:
    `a_word(r, p)` is a word (f32-typed) holding two bf16, `b_vec(p, c)` 32 bf16 values."""
    zero = kb.splat(0.0, 16)

    def step(p, *acc):
        bs = [b_vec(p, c) for c in range(nvec)]
        out = []
        for r in range(mr):
            a = kb.vbitcast(kb.broadcast(a_word(r, p), 16), bf16, 32)
            out += [kb.emit(DotBF16Op(acc[r * nvec + c], a, bs[c])) for c in range(nvec)]
        return out
    return kb.for_(kp_lo, kp_hi, step, init=[zero] * (mr * nvec))


AMX_TILES = 8  # tiles 0-3: C (2 x 2), 4-5: A, 6-7: B; every tile 16 rows x 64 bytes


def amx_begin(kb: KB) -> None:
    kb.b.insert(TileConfigOp([16] * AMX_TILES, [64] * AMX_TILES))


def amx_end(kb: KB) -> None:
    kb.b.insert(TileReleaseOp())


@dataclass
class ScratchBlock:
    """A block of C stored in scratch, row-major with `ld` floats per row (AMX's result): its
    vectors are loaded where the epilogue needs them, so a store loop can run over rows."""

    buf: SSAValue
    at: object
    ld: int

    def vec(self, kb: KB, r, c: int, v: int = 16) -> SSAValue:
        return kb.vload(self.buf, kb.add(self.at, kb.add(kb.mul(r, self.ld), c * v)), v)


def for_rows(kb: KB, acc, mr: int, rows, body: Callable) -> None:
    """body(r, vec(c)) for each row r < rows (a Python int or a run-time value <= mr) of a
    block: unrolled over the registers of a register block, a loop over a ScratchBlock."""
    if isinstance(acc, ScratchBlock):
        kb.for_(0, rows, lambda r: body(r, lambda c: acc.vec(kb, r, c)))
        return
    nvec = len(acc) // mr
    for r in range(mr):
        def one(r=r):
            body(r, lambda c: acc[r * nvec + c])
        if isinstance(rows, int):
            if r < rows:
                one()
        else:
            kb.if_(kb.icmp("slt", r, rows), one)


def amx_compute(kb: KB, nks, a_tile: Callable, b_tile: Callable, kind: str = "bf16") -> None:
    """A 32 x 32 block of C in tiles 0-3 = sum over k steps of A(32 x 32 bf16) x B(32 x 32 bf16):
    `a_tile(ks, i)` / `b_tile(ks, j)` give (buffer, word index, row stride in bytes) of A's tile
    i (rows 16i..16i+15) and B's tile j (columns 16j..16j+15) at k step ks. `kind`: "bf16", or
    for int8 "sud" (A signed, B unsigned) / "usd" (A unsigned, B signed) with i32 sums."""
    for t in range(4):
        kb.b.insert(TileZeroOp(t))

    def step(ks):
        for i in range(2):
            buf, idx, stride = a_tile(ks, i)
            kb.b.insert(TileLoadOp(4 + i, buf, kb.v(idx), kb.v(stride)))
        for j in range(2):
            buf, idx, stride = b_tile(ks, j)
            kb.b.insert(TileLoadOp(6 + j, buf, kb.v(idx), kb.v(stride)))
        for i in range(2):
            for j in range(2):
                kb.b.insert(TileDotOp(kind, 2 * i + j, 4 + i, 6 + j))
    kb.for_(0, nks, step)


def amx_store(kb: KB, c_buf: SSAValue, c_at) -> ScratchBlock:
    """Tiles 0-3 (a 32 x 32 f32 block of C) into `c_buf` at word `c_at`."""
    for i in range(2):
        for j in range(2):
            kb.b.insert(TileStoreOp(2 * i + j, c_buf, kb.v(kb.add(c_at, i * 16 * 32 + j * 16)), kb.v(128)))
    return ScratchBlock(c_buf, c_at, 32)


def amx_pipelined(kb: KB, lo, hi, compute: Callable, c_buf: SSAValue, c_at, epilogue: Callable) -> None:
    """for i in [lo, hi): compute(i) into tiles, then epilogue(i, block): each block's epilogue
    (vector work) runs while the tiles compute the next block. C blocks alternate between two
    32 x 32 buffers at `c_at`; the epilogue of block i is emitted after the tile instructions of
    block i + 1, so that the core overlaps them."""
    def at(i):
        return kb.add(c_at, kb.mul(kb.rem(i, 2), 32 * 32))

    def step(i):
        compute(i)
        kb.if_(kb.icmp("sgt", i, lo), lambda: epilogue(kb.sub(i, 1), ScratchBlock(c_buf, at(kb.sub(i, 1)), 32)))
        amx_store(kb, c_buf, at(i))
    kb.for_(lo, hi, step)
    last = kb.sub(hi, 1)
    kb.if_(kb.icmp("sgt", hi, lo), lambda: epilogue(last, ScratchBlock(c_buf, at(last), 32)))
