"""Paddle's `rnn` op (what `paddle.nn.LSTM`, `GRU` and `SimpleRNN` write), unrolled over a
static sequence length as the ONNX frontend unrolls its recurrent layers: the `ov` dialect has
no loop.

The input is time-major [T, N, I]; PreState holds the initial states (h0 and c0 for an LSTM,
h0 otherwise), each [layers * directions, N, H]; WeightList holds every cell's input and
recurrent weights ([G H, I], [G H, H]; cell k is layer k // directions, direction k %
directions), then every cell's two biases. LSTM gates i, f, c, o: c' = f c + i tanh(g_c),
h' = o tanh(c'). GRU gates r, z, c: c = tanh(x_c + r (h W_c + b_hc)), h' = z h + (1 - z) c.
RNN_TANH / RNN_RELU: h' = act(x W_ih + b_ih + h W_hh + b_hh)."""

from __future__ import annotations

from compiler.frontends.paddle.context import OPS, Node, PaddleContext


def _step_input(ctx: PaddleContext, proj, t: int):
    return ctx.b.out("Gather", [proj, ctx.i64(t), ctx.i64(0)], batch_dims=0)


def _lstm_step(ctx: PaddleContext, xt, ht, h, c):
    i, f, g, o = ctx.b.op("Split", [ctx.b.out("Add", [xt, ht]), ctx.i64(-1)], num_splits=4).outputs
    c = ctx.b.out("Add", [ctx.b.out("Multiply", [ctx.b.out("Sigmoid", [f]), c]),
                          ctx.b.out("Multiply", [ctx.b.out("Sigmoid", [i]), ctx.b.out("Tanh", [g])])])
    return ctx.b.out("Multiply", [ctx.b.out("Sigmoid", [o]), ctx.b.out("Tanh", [c])]), c


def _gru_step(ctx: PaddleContext, xt, ht, h, c):
    xr, xz, xc = ctx.b.op("Split", [xt, ctx.i64(-1)], num_splits=3).outputs
    hr, hz, hc = ctx.b.op("Split", [ht, ctx.i64(-1)], num_splits=3).outputs
    r = ctx.b.out("Sigmoid", [ctx.b.out("Add", [xr, hr])])
    z = ctx.b.out("Sigmoid", [ctx.b.out("Add", [xz, hz])])
    cand = ctx.b.out("Tanh", [ctx.b.out("Add", [xc, ctx.b.out("Multiply", [r, hc])])])
    # h' = z h + (1 - z) cand = cand + z (h - cand)
    return ctx.b.out("Add", [cand, ctx.b.out("Multiply", [z, ctx.b.out("Subtract", [h, cand])])]), None


def _simple_step(act: str):
    def step(ctx: PaddleContext, xt, ht, h, c):
        return ctx.b.out(act, [ctx.b.out("Add", [xt, ht])]), None
    return step


STEPS = {"LSTM": _lstm_step, "GRU": _gru_step, "RNN_TANH": _simple_step("Tanh"), "RNN_RELU": _simple_step("ReLU")}


@OPS.register("rnn")
def _rnn(ctx: PaddleContext, node: Node):
    mode = str(ctx.attr(node, "mode", "LSTM"))
    if mode not in STEPS:
        raise ctx.error(node, f"unknown mode {mode!r}")
    x = ctx.x(node, "Input")
    shape = ctx.shape(x)
    if shape[0] is None:
        raise ctx.error(node, f"needs a static sequence length, got input shape {shape}")
    if ctx.inp(node, "SequenceLength") is not None:
        raise ctx.error(node, "sequence lengths are not supported")
    seq = shape[0]
    layers = int(ctx.attr(node, "num_layers", 1))
    dirs = 2 if ctx.attr(node, "is_bidirec", False) else 1
    weights = ctx.ins(node, "WeightList")
    cells = layers * dirs
    if len(weights) != 4 * cells:
        raise ctx.error(node, f"has {len(weights)} weights, {layers} layers x {dirs} directions need {4 * cells}")
    states = ctx.ins(node, "PreState")
    lstm = mode == "LSTM"
    if len(states) != (2 if lstm else 1):
        raise ctx.error(node, f"{mode} needs {2 if lstm else 1} initial states, got {len(states)}")
    h0, c0 = states[0], states[-1]
    inp = x
    final_h, final_c = [], []
    for layer in range(layers):
        outs = []
        for d in range(dirs):
            k = layer * dirs + d
            w_ih, w_hh = weights[2 * k], weights[2 * k + 1]
            b_ih, b_hh = weights[2 * cells + 2 * k], weights[2 * cells + 2 * k + 1]
            proj = ctx.b.out("Add", [ctx.b.out("MatMul", [inp, w_ih], transpose_b=True), b_ih])
            h = ctx.b.out("Gather", [h0, ctx.i64(k), ctx.i64(0)], batch_dims=0)
            c = ctx.b.out("Gather", [c0, ctx.i64(k), ctx.i64(0)], batch_dims=0) if lstm else None
            ys = [None] * seq
            for t in (range(seq - 1, -1, -1) if d == 1 else range(seq)):
                xt = _step_input(ctx, proj, t)
                ht = ctx.b.out("Add", [ctx.b.out("MatMul", [h, w_hh], transpose_b=True), b_hh])
                h, c = STEPS[mode](ctx, xt, ht, h, c)
                ys[t] = ctx.b.out("Unsqueeze", [h, ctx.i64([0])])
            outs.append(ctx.b.out("Concat", ys, axis=0) if seq > 1 else ys[0])
            final_h.append(ctx.b.out("Unsqueeze", [h, ctx.i64([0])]))
            if lstm:
                final_c.append(ctx.b.out("Unsqueeze", [c, ctx.i64([0])]))
        inp = outs[0] if dirs == 1 else ctx.b.out("Concat", outs, axis=2)
    state = [ctx.b.out("Concat", final_h, axis=0)]
    if lstm:
        state.append(ctx.b.out("Concat", final_c, axis=0))
    return {"Out": inp, "State": state}
