"""ONNX recurrent layers (LSTM, GRU, RNN), unrolled over a static sequence length.

The `ov` dialect has no loop op, so a layer becomes one step subgraph per time step: the input
projection of all steps is a single MatMul up front, each step adds its recurrent MatMul and
the gate math, and the steps' hidden states are concatenated into Y. Every attribute of the
ONNX specification is followed: directions (forward, reverse, bidirectional), both layouts,
initial states, peepholes, `clip`, `input_forget`, `linear_before_reset`, custom activations
with their alpha/beta, and `sequence_lens` (a finished sequence keeps its state and writes
zeros to Y, and runs backwards from its own last step in the reverse direction)."""

from __future__ import annotations

import numpy as np

from compiler.frontends.onnx.context import OnnxContext, onnx_op

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
DEFAULT_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}
# activations that take parameters, with their defaults (alpha, beta)
PARAMS = {"LeakyRelu": (0.01,), "ThresholdedRelu": (1.0,), "ScaledTanh": (1.0, 1.0), "HardSigmoid": (0.2, 0.5),
          "Elu": (1.0,), "Affine": (1.0, 0.0)}


class _Activation:
    def __init__(self, name: str, params: tuple[float, ...]):
        self.name, self.params = name, params

    def __call__(self, ctx: OnnxContext, x):
        b, n, p = ctx.b, self.name.lower(), self.params
        f32 = ctx.dtype(x)

        def c(v):
            return ctx.const(np.asarray(v, f32))
        if n == "sigmoid":
            return b.out("Sigmoid", [x])
        if n == "tanh":
            return b.out("Tanh", [x])
        if n == "relu":
            return b.out("ReLU", [x])
        if n == "leakyrelu":
            return b.out("Select", [b.out("Greater", [x, c(0)]), x, b.out("Multiply", [x, c(p[0])])])
        if n == "thresholdedrelu":
            return b.out("Select", [b.out("Greater", [x, c(p[0])]), x, c(0)])
        if n == "scaledtanh":
            return b.out("Multiply", [b.out("Tanh", [b.out("Multiply", [x, c(p[1])])]), c(p[0])])
        if n == "hardsigmoid":
            return b.out("Clamp", [b.out("Add", [b.out("Multiply", [x, c(p[0])]), c(p[1])])], min=0.0, max=1.0)
        if n == "elu":
            return b.out("Elu", [x], alpha=float(p[0]))
        if n == "softsign":
            return b.out("SoftSign", [x])
        if n == "softplus":
            return b.out("SoftPlus", [x])
        if n == "affine":
            return b.out("Add", [b.out("Multiply", [x, c(p[0])]), c(p[1])])
        raise ValueError(self.name)


def _activations(ctx: OnnxContext, node, kind: str, num_dir: int) -> list[list[_Activation]]:
    names = ctx.attr(node, "activations") or DEFAULT_ACTIVATIONS[kind] * num_dir
    names = [a.decode() if isinstance(a, bytes) else a for a in names]
    per_dir = len(DEFAULT_ACTIVATIONS[kind])
    if len(names) != per_dir * num_dir:
        raise ctx.error(node, f"{len(names)} activations given, {kind} needs {per_dir} per direction")
    alphas = list(ctx.attr(node, "activation_alpha") or [])
    betas = list(ctx.attr(node, "activation_beta") or [])
    out = []
    for name in names:
        key = next((k for k in ("Sigmoid", "Tanh", "Relu", "Softsign", "Softplus", *PARAMS)
                    if k.lower() == name.lower()), None)
        if key is None:
            raise ctx.error(node, f"activation {name} is not supported")
        defaults = PARAMS.get(key, ())
        params = []
        for i, d in enumerate(defaults):
            src = alphas if i == 0 else betas
            params.append(src.pop(0) if src else d)
        out.append(_Activation(key, tuple(params)))
    return [out[d * per_dir:(d + 1) * per_dir] for d in range(num_dir)]


def _take(ctx: OnnxContext, v, index: int, axis: int):
    """v[index] along axis, that axis removed."""
    return ctx.b.out("Gather", [v, ctx.i64(index), ctx.i64(axis)], batch_dims=0)


def _split(ctx: OnnxContext, v, parts: int, axis: int) -> list:
    if parts == 1:
        return [v]
    return list(ctx.b.op("Split", [v, ctx.i64(axis)], num_splits=parts).outputs)


def _reverse_within(ctx: OnnxContext, x, lens, seq: int):
    """x [seq, batch, ...] with each batch's first lens[b] steps reversed (ONNX ReverseSequence)."""
    b = ctx.b
    t = ctx.const(np.arange(seq, dtype=np.int64).reshape(seq, 1))
    last = b.out("Subtract", [b.out("Unsqueeze", [lens, ctx.i64(0)]), ctx.i64(1)])  # [1, batch]
    src = b.out("Select", [b.out("Less", [t, b.out("Add", [last, ctx.i64(1)])]), b.out("Subtract", [last, t]), t])
    idx = src
    for _ in range(ctx.rank(x) - 2):
        idx = b.out("Unsqueeze", [idx, ctx.i64(-1)])
    idx = b.out("Broadcast", [idx, b.out("ShapeOf", [x], output_type=np.int64)], mode="numpy")
    return b.out("GatherElements", [x, idx], axis=0)


class _DynamicQuantized:
    """The GEMMs of ONNX Runtime's DynamicQuantizeLSTM (com.microsoft): int8 (or uint8)
    weights [dirs, K, 4H] with a scale per direction or per output column and one zero point
    per direction; each GEMM input (all the steps' X at once, then each step's previous hidden
    state for the whole batch) quantized to uint8 on its own range at run time, multiplied
    with the weight levels in exact integer arithmetic (float32 sums of integer products stay
    exact below 2^24) and scaled by input scale times weight scale, as its kernel does."""

    def __init__(self, ctx: OnnxContext, node, ins):
        self.w = self._weights(ctx, node, ins[1], ins[8], ins[9], "W")
        self.r = self._weights(ctx, node, ins[2], ins[10], ins[11], "R")

    @staticmethod
    def _weights(ctx: OnnxContext, node, w, scale, zp, what: str):
        levels = ctx.need_const(node, w, f"{what} (quantized weights)")
        zps = ctx.need_const(node, zp, f"the {what} zero point")
        if levels.dtype.kind not in "iu" or levels.ndim != 3:
            raise ctx.error(node, f"{what} must be int8/uint8 weights [directions, K, 4*hidden], got {levels.dtype} "
                                  f"{list(levels.shape)}")
        if ctx.rank(scale) not in (1, 2) or zps.ndim not in (1, 2):
            raise ctx.error(node, f"the {what} scale and zero point must be [directions] or [directions, 4*hidden]")
        if zps.ndim == 2 and (np.any(zps != 0) if levels.dtype.kind == "i" else np.any(zps != zps.flat[0])):
            need = "zero" if levels.dtype.kind == "i" else "one value"
            raise ctx.error(node, f"the {what} zero point must be {need} for per-channel weights (as ONNX Runtime "
                                  "requires)")
        out = []
        for d in range(levels.shape[0]):
            s = ctx.b.out("Gather", [scale, ctx.i64(d), ctx.i64(0)], batch_dims=0)  # scalar or [4H]
            z = np.float32(zps[d].reshape(-1)[0])  # the kernel reads one zero point per direction
            out.append((ctx.const(levels[d].astype(np.float32) - z), s))
        return out

    @staticmethod
    def gemm(ctx: OnnxContext, a, weights):
        from compiler.frontends.onnx.ops_quant import dynamic_u8

        b = ctx.b
        levels, w_scale = weights
        q, scale, zp = dynamic_u8(ctx, a)
        acc = b.out("MatMul", [b.out("Subtract", [q, zp]), levels])
        return b.out("Multiply", [acc, b.out("Multiply", [scale, w_scale])])


def _rnn(kind: str, quantized: bool = False):
    def convert(ctx: OnnxContext, node, ins):
        b = ctx.b
        x, w, r = ins[0], ins[1], ins[2]
        quant = _DynamicQuantized(ctx, node, ins) if quantized else None
        bias = ins[3] if len(ins) > 3 else None
        lens = ins[4] if len(ins) > 4 else None
        init_h = ins[5] if len(ins) > 5 else None
        init_c = ins[6] if len(ins) > 6 and kind == "LSTM" else None
        peep = ins[7] if len(ins) > 7 and kind == "LSTM" else None
        direction = ctx.attr(node, "direction", "forward")
        if direction not in ("forward", "reverse", "bidirectional"):
            raise ctx.error(node, f"direction {direction!r} is not valid")
        num_dir = 2 if direction == "bidirectional" else 1
        layout = ctx.attr(node, "layout", 0)
        if layout:
            x = b.out("Transpose", [x, ctx.i64([1, 0, 2])])
            init_h = None if init_h is None else b.out("Transpose", [init_h, ctx.i64([1, 0, 2])])
            init_c = None if init_c is None else b.out("Transpose", [init_c, ctx.i64([1, 0, 2])])
        if ctx.rank(x) != 3:
            raise ctx.error(node, f"X must have rank 3 ([seq, batch, input]), it has shape {list(ctx.shape(x))}")
        seq, batch, _ = ctx.shape(x)
        if seq is None:
            raise ctx.error(node, f"{kind} is unrolled over time and needs a static sequence length (give the "
                                  "input shapes with input=)")
        hidden = ctx.attr(node, "hidden_size") or ctx.shape(r)[1 if quantized else -1]
        if hidden is None:
            raise ctx.error(node, "hidden_size is unknown")
        clip = ctx.attr(node, "clip")
        input_forget = bool(ctx.attr(node, "input_forget", 0))
        before_reset = bool(ctx.attr(node, "linear_before_reset", 0))
        acts = _activations(ctx, node, kind, num_dir)
        dt = ctx.dtype(x)
        known_lens = ctx.known(lens) if lens is not None else None
        if known_lens is not None and np.all(known_lens == seq):
            lens = None  # every sequence is full length
        if lens is not None:
            lens = b.out("Convert", [lens], destination_type=np.dtype(np.int64))
        zeros = b.out("Broadcast", [ctx.const(np.zeros((), dt)), b.out(
            "Concat", [b.out("Gather", [b.out("ShapeOf", [x], output_type=np.int64), ctx.i64([1]), ctx.i64(0)],
                             batch_dims=0), ctx.i64([hidden])], axis=0)], mode="numpy")

        def clipped(v):
            return v if clip is None else b.out("Clamp", [v], min=-float(clip), max=float(clip))

        ys, hs, cs = [], [], []
        for d in range(num_dir):
            backward = direction == "reverse" or d == 1
            f, gact = acts[d][0], acts[d][1] if len(acts[d]) > 1 else None
            hact = acts[d][2] if len(acts[d]) > 2 else None
            xs = x if not backward else (_reverse_within(ctx, x, lens, seq) if lens is not None else
                                         b.out("Reverse", [x, ctx.i64([0])], mode="index"))
            wb = rb = step_bias = None
            if quant is not None:
                rd = quant.r[d]
                # one quantization range for the steps up to the longest sequence
                proj = quant.gemm(ctx, xs if lens is None else b.out("Select", [b.out("Less", [ctx.const(
                    np.arange(seq, dtype=np.int64).reshape(seq, 1, 1)), b.out("ReduceMax", [lens, ctx.i64([0])],
                    keep_dims=False)]), xs, ctx.const(np.zeros((), dt))]), quant.w[d])
                if bias is not None:  # added after both products, in the kernel's order
                    step_bias = b.out("Add", _split(ctx, _take(ctx, bias, d, 0), 2, 0))
            else:
                wd, rd = _take(ctx, w, d, 0), _take(ctx, r, d, 0)        # [g*H, I], [g*H, H]
                proj = b.out("MatMul", [xs, wd], transpose_b=True)       # [seq, batch, g*H]
            if bias is not None and quant is None:
                wb, rb = _split(ctx, _take(ctx, bias, d, 0), 2, 0)
                if kind == "GRU" and before_reset:
                    rb_parts = _split(ctx, rb, 3, 0)
                    proj = b.out("Add", [proj, b.out("Add", [wb, b.out("Concat", [rb_parts[0], rb_parts[1], b.out(
                        "Multiply", [rb_parts[2], ctx.const(np.zeros((), dt))])], axis=0)])])
                    rb = rb_parts[2]
                else:
                    proj = b.out("Add", [proj, b.out("Add", [wb, rb])])
            r_parts = _split(ctx, rd, 3, 0) if kind == "GRU" else None
            p_parts = _split(ctx, _take(ctx, peep, d, 0), 3, 0) if peep is not None else None
            h = _take(ctx, init_h, d, 0) if init_h is not None else zeros
            c = (_take(ctx, init_c, d, 0) if init_c is not None else zeros) if kind == "LSTM" else None
            outs = []
            for t in range(seq):
                xt = _take(ctx, proj, t, 0)                              # [batch, g*H]
                if kind == "GRU":
                    xz, xr, xh = _split(ctx, xt, 3, 1)
                    rz = b.out("MatMul", [h, b.out("Concat", r_parts[:2], axis=0)], transpose_b=True)
                    hz, hr = _split(ctx, rz, 2, 1)
                    z = f(ctx, clipped(b.out("Add", [xz, hz])))
                    rr = f(ctx, clipped(b.out("Add", [xr, hr])))
                    if before_reset:
                        hh = b.out("MatMul", [h, r_parts[2]], transpose_b=True)
                        if rb is not None:
                            hh = b.out("Add", [hh, rb])
                        hh = b.out("Multiply", [rr, hh])
                    else:
                        hh = b.out("MatMul", [b.out("Multiply", [rr, h]), r_parts[2]], transpose_b=True)
                    cand = gact(ctx, clipped(b.out("Add", [xh, hh])))
                    one = ctx.const(np.ones((), dt))
                    new_h = b.out("Add", [b.out("Multiply", [b.out("Subtract", [one, z]), cand]),
                                          b.out("Multiply", [z, h])])
                    new_c = None
                else:
                    if quant is not None:
                        # the kernel's recurrent input is last step's output row (zeros once a
                        # sequence has ended) when Y is computed, else the carried state
                        h_in = outs[-1] if outs and node.output[0] else h
                        gates = b.out("Add", [xt, quant.gemm(ctx, h_in, rd)])
                        if step_bias is not None:
                            gates = b.out("Add", [gates, step_bias])
                    else:
                        gates = b.out("Add", [xt, b.out("MatMul", [h, rd], transpose_b=True)])
                    if kind == "RNN":
                        new_h, new_c = f(ctx, clipped(gates)), None
                    else:
                        gi, go, gf, gc = _split(ctx, gates, 4, 1)
                        if p_parts is not None:
                            gi = b.out("Add", [gi, b.out("Multiply", [p_parts[0], c])])
                            gf = b.out("Add", [gf, b.out("Multiply", [p_parts[2], c])])
                        i_t = f(ctx, clipped(gi))
                        f_t = (b.out("Subtract", [ctx.const(np.ones((), dt)), i_t]) if input_forget
                               else f(ctx, clipped(gf)))
                        new_c = b.out("Add", [b.out("Multiply", [f_t, c]),
                                              b.out("Multiply", [i_t, gact(ctx, clipped(gc))])])
                        if p_parts is not None:
                            go = b.out("Add", [go, b.out("Multiply", [p_parts[1], new_c])])
                        new_h = b.out("Multiply", [f(ctx, clipped(go)), hact(ctx, new_c)])
                if lens is not None:  # finished sequences keep their state and write zeros
                    live = b.out("Unsqueeze", [b.out("Less", [ctx.i64(t), lens]), ctx.i64(1)])
                    outs.append(b.out("Select", [live, new_h, ctx.const(np.zeros((), dt))]))
                    new_h = b.out("Select", [live, new_h, h])
                    new_c = None if new_c is None else b.out("Select", [live, new_c, c])
                else:
                    outs.append(new_h)
                h, c = new_h, new_c
            steps = [b.out("Unsqueeze", [o, ctx.i64(0)]) for o in outs]
            y = b.out("Concat", steps, axis=0) if len(steps) > 1 else steps[0]   # [seq, batch, H]
            if backward:
                y = _reverse_within(ctx, y, lens, seq) if lens is not None else b.out("Reverse", [y, ctx.i64([0])],
                                                                                      mode="index")
            ys.append(b.out("Unsqueeze", [y, ctx.i64(1)]))
            hs.append(b.out("Unsqueeze", [h, ctx.i64(0)]))
            if c is not None:
                cs.append(b.out("Unsqueeze", [c, ctx.i64(0)]))

        def cat(vs, axis):
            return vs[0] if len(vs) == 1 else b.out("Concat", vs, axis=axis)
        y, y_h = cat(ys, 1), cat(hs, 0)                                   # [seq, dir, batch, H], [dir, batch, H]
        y_c = cat(cs, 0) if cs else None
        if layout:
            y = b.out("Transpose", [y, ctx.i64([2, 0, 1, 3])])
            y_h = b.out("Transpose", [y_h, ctx.i64([1, 0, 2])])
            y_c = None if y_c is None else b.out("Transpose", [y_c, ctx.i64([1, 0, 2])])
        return [y, y_h, y_c] if kind == "LSTM" else [y, y_h]
    return convert


for _k in GATES:
    onnx_op(_k)(_rnn(_k))
onnx_op("DynamicQuantizeLSTM", domain="com.microsoft")(_rnn("LSTM", quantized=True))
