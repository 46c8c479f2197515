"""Discrete Fourier transforms (DFT, IDFT, RDFT, IRDFT) as one pass per transformed axis: each
pass multiplies the signal along its axis by the transform's matrix, built here in float64
and rounded once to f32 (a direct product, O(N * K) per line: the lengths of spectrogram front
ends). The products run in f32 whatever the inference precision, as OpenVINO's DFT nodes do."""

from __future__ import annotations

import numpy as np

from dialects.errors import CompileError
from dialects.ov import OvOp, constant_of, dtype_of, shape_of
from dialects.ov.nn import dft_plan
from passes.ov_to_loops.kb import KB
from passes.ov_to_loops.lower import lowering
from passes.ov_to_loops.program import Buf, Kernel, LowerCtx

F32 = np.dtype(np.float32)
MAX_MATRIX = 1 << 22  # entries of one transform matrix (16 MiB of f32)


def dft_matrix(kind: str, m: int, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(Re, Im) of the [m, k] matrix that takes m input samples (or bins) to k outputs of a
    transform of length n: e^(-2 pi i jk / n) forward ("fwd", "r2c"), e^(2 pi i jk / n) / n
    inverse ("inv"), and for "c2r" the one-sided spectrum's bins counted twice where their
    conjugates are missing (all but bin 0 and, for even n, bin n / 2). Angles from (j * k) mod n
    in integers, so that large products lose nothing."""
    j = np.arange(m, dtype=np.int64)[:, None]
    kk = np.arange(k, dtype=np.int64)[None, :]
    theta = 2 * np.pi * ((j * kk) % n) / n
    sign = -1.0 if kind in ("fwd", "r2c") else 1.0
    re, im = np.cos(theta), sign * np.sin(theta)
    if kind in ("inv", "c2r"):
        re, im = re / n, im / n
    if kind == "c2r":
        twice = np.full((m, 1), 2.0)
        twice[0] = 1.0
        if n % 2 == 0 and m > n // 2:
            twice[n // 2] = 1.0
        re, im = re * twice, im * twice
    return re, im


def _axis_pass(ctx: LowerCtx, src: Buf, dst: Buf, dims: list[int], axis: int, kind: str, n: int, k: int,
               label: str) -> list[int]:
    """One axis of `dims` (the signal's dims; complex data carry a trailing pair besides) from
    length dims[axis] to k outputs; returns the new dims."""
    a = int(np.prod(dims[:axis], dtype=np.int64))
    b = int(np.prod(dims[axis + 1:], dtype=np.int64))
    length = dims[axis]
    m = min(length, n // 2 + 1 if kind == "c2r" else n)  # samples (bins) the product reads
    if m * k > MAX_MATRIX:
        raise CompileError(f"{label}: a transform of length {n} along an axis of {length} needs a "
                           f"{m} x {k} matrix; lengths up to about 2048 are supported")
    cin = 1 if kind == "r2c" else 2
    cout = 1 if kind == "c2r" else 2
    kv = -(-k // 16)
    re, im = dft_matrix(kind, m, n, k)
    w = np.zeros((2, m, kv * 16), F32)
    w[0, :, :k], w[1, :, :k] = re, im
    key = f"dft{kind}|{a},{length},{b},{m},{k}"

    def build(kb: KB) -> None:
        xb, wb, ob = kb.args["x"], kb.args["w"], kb.args["out"]
        sc, soff = kb.args["scratch"], kb.args["soff"]

        def unit(u):  # u = ((a, b), k-chunk)
            kc, line = kb.rem(u, kv), kb.div(u, kv)
            bi, ai = kb.rem(line, b), kb.div(line, b)
            k0 = kb.mul(kc, 16)

            def step(j, acc_r, acc_i):
                at = kb.mul(kb.add(kb.mul(kb.add(kb.mul(ai, length), j), b), bi), cin)
                xr = kb.broadcast(kb.load(xb, at), 16)
                wr = kb.vload(wb, kb.add(kb.mul(j, kv * 16), k0), 16)
                wi = kb.vload(wb, kb.add(kb.mul(j, kv * 16), kb.add(k0, m * kv * 16)), 16)
                acc_r, acc_i = kb.fma(xr, wr, acc_r), kb.fma(xr, wi, acc_i)
                if cin == 2:
                    xi = kb.broadcast(kb.load(xb, kb.add(at, 1)), 16)
                    acc_r = kb.fma(kb.fsub(kb.splat(0.0, 16), xi), wi, acc_r)
                    acc_i = kb.fma(xi, wr, acc_i)
                return [acc_r, acc_i]
            acc_r, acc_i = kb.for_(0, m, step, init=[kb.splat(0.0, 16), kb.splat(0.0, 16)])
            valid = kb.imin(kb.sub(k, k0), 16)
            base = kb.mul(kb.add(kb.mul(kb.add(kb.mul(ai, k), k0), b), bi), cout)
            if b == 1 and cout == 1:
                kb.vstore_masked(acc_r, ob, base, kb.mask(valid, 16))
            elif b == 1:  # (re, im) pairs side by side
                lo = kb.shuffle(acc_r, acc_i, [i // 2 + 16 * (i % 2) for i in range(16)])
                hi = kb.shuffle(acc_r, acc_i, [8 + i // 2 + 16 * (i % 2) for i in range(16)])
                kb.vstore_masked(lo, ob, base, kb.mask(kb.imin(kb.mul(valid, 2), 16), 16))
                kb.vstore_masked(hi, ob, kb.add(base, 16), kb.mask(kb.imax(kb.sub(kb.mul(valid, 2), 16), 0), 16))
            else:  # outputs B * cout apart: through scratch, one element at a time
                kb.vstore(acc_r, sc, soff)
                kb.vstore(acc_i, sc, kb.add(soff, 16))

                def put(t):
                    at = kb.add(base, kb.mul(t, b * cout))
                    kb.store(kb.load(sc, kb.add(soff, t)), ob, at)
                    if cout == 2:
                        kb.store(kb.load(sc, kb.add(soff, kb.add(t, 16))), ob, kb.add(at, 1))
                kb.for_(0, valid, put)
        kb.for_(kb.args["lo"], kb.args["hi"], unit)

    n_in, n_out = a * length * b * cin, a * k * b * cout
    ctx.step(Kernel(key, [("x", F32, n_in), ("w", F32, w.size), ("out", F32, n_out)], build, 32),
             [src, ctx.const_buf(w), dst], a * b * kv, float(4 * a * b * m * k * cin), [dst], label)
    out = list(dims)
    out[axis] = k
    return out


def _dft(ctx: LowerCtx, op: OvOp) -> None:
    t = op.IR_TYPE
    x = op.inputs[0]
    if dtype_of(x.type) != F32:
        raise CompileError(f"{t}: {dtype_of(x.type)} data are not supported on CPU (f32 only)")
    axes, sizes = constant_of(op.inputs[1]), constant_of(op.inputs[2]) if len(op.inputs) > 2 else None
    shape = list(shape_of(x.type))
    ax, lengths = dft_plan(t, shape, [int(v) for v in np.asarray(axes).reshape(-1)],
                           None if sizes is None else [int(v) for v in np.asarray(sizes).reshape(-1)])
    dims = shape if t == "RDFT" else shape[:-1]
    plan = list(zip(ax, lengths))
    if t == "RDFT":  # the real axis first, then complex passes
        passes = [(plan[-1], "r2c")] + [(p, "fwd") for p in plan[:-1]]
    elif t == "IRDFT":  # complex passes first, the real axis last
        passes = [(p, "inv") for p in plan[:-1]] + [(plan[-1], "c2r")]
    else:
        passes = [(p, "fwd" if t == "DFT" else "inv") for p in plan]
    cur = ctx.buf(x)
    for i, ((axis, n), kind) in enumerate(passes):
        k = n // 2 + 1 if kind == "r2c" else n
        last = i == len(passes) - 1
        size = int(np.prod(dims, dtype=np.int64)) // dims[axis] * k * (1 if kind == "c2r" else 2)
        nxt = ctx.buf(op.outputs[0]) if last else ctx.scratch_value(F32, size)
        dims = _axis_pass(ctx, cur, nxt, dims, axis, kind, n, k, t)
        cur = nxt


for _t in ("DFT", "IDFT", "RDFT", "IRDFT"):
    lowering(_t)(_dft)
