"""Paddle's `rnn` op in its LSTM mode (what `paddle.nn.LSTM` writes), unrolled over a static
sequence length as the ONNX frontend unrolls its recurrent layers: the `ov` dialect has no loop.

The input is time-major [T, N, I]; PreState holds h0 and c0, each [layers * directions, N, H];
WeightList holds every cell's input and recurrent weights ([4H, I], [4H, H]; cell k is layer
k // directions, direction k % directions), then every cell's two biases. The gates come in
the order i, f, c, o: c' = f c + i tanh(g_c), h' = o tanh(c')."""

from __future__ import annotations

from compiler.frontends.paddle.context import OPS, Node, PaddleContext


def _step_input(ctx: PaddleContext, proj, t: int):
    return ctx.b.out("Gather", [proj, ctx.i64(t), ctx.i64(0)], batch_dims=0)


@OPS.register("rnn")
def _rnn(ctx: PaddleContext, node: Node):
    mode = str(ctx.attr(node, "mode", "LSTM"))
    if mode != "LSTM":
        raise ctx.error(node, f"mode {mode} is not supported (only LSTM)")
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
    if len(states) != 2:
        raise ctx.error(node, f"an LSTM needs 2 initial states (h, c), got {len(states)}")
    h0, c0 = states
    inp = x
    final_h, final_c = [], []
    for layer in range(layers):
        outs = []
        for d in range(dirs):
            k = layer * dirs + d
            w_ih, w_hh = weights[2 * k], weights[2 * k + 1]
            bias = ctx.b.out("Add", [weights[2 * cells + 2 * k], weights[2 * cells + 2 * k + 1]])
            proj = ctx.b.out("Add", [ctx.b.out("MatMul", [inp, w_ih], transpose_b=True), bias])
            h = ctx.b.out("Gather", [h0, ctx.i64(k), ctx.i64(0)], batch_dims=0)
            c = ctx.b.out("Gather", [c0, ctx.i64(k), ctx.i64(0)], batch_dims=0)
            ys = [None] * seq
            for t in (range(seq - 1, -1, -1) if d == 1 else range(seq)):
                gates = ctx.b.out("Add", [_step_input(ctx, proj, t), ctx.b.out("MatMul", [h, w_hh], transpose_b=True)])
                i, f, g, o = ctx.b.op("Split", [gates, ctx.i64(-1)], num_splits=4).outputs
                c = ctx.b.out("Add", [ctx.b.out("Multiply", [ctx.b.out("Sigmoid", [f]), c]),
                                      ctx.b.out("Multiply", [ctx.b.out("Sigmoid", [i]), ctx.b.out("Tanh", [g])])])
                h = ctx.b.out("Multiply", [ctx.b.out("Sigmoid", [o]), ctx.b.out("Tanh", [c])])
                ys[t] = ctx.b.out("Unsqueeze", [h, ctx.i64([0])])
            outs.append(ctx.b.out("Concat", ys, axis=0) if seq > 1 else ys[0])
            final_h.append(ctx.b.out("Unsqueeze", [h, ctx.i64([0])]))
            final_c.append(ctx.b.out("Unsqueeze", [c, ctx.i64([0])]))
        inp = outs[0] if dirs == 1 else ctx.b.out("Concat", outs, axis=2)
    return {"Out": inp, "State": [ctx.b.out("Concat", final_h, axis=0), ctx.b.out("Concat", final_c, axis=0)]}
