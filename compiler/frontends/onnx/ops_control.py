"""ONNX control flow: If, Loop and Scan, resolved at conversion time.

The `ov` dialect has no loop or branch op. An If whose condition folds to a constant becomes
its branch; one whose condition depends on the data computes both branches and selects
(branches are pure). A Loop runs its body once per iteration while the trip count and the
condition fold to constants (a static loop); a Scan unrolls over its static sequence length,
in either direction, stacking its scan outputs along their axes."""

from __future__ import annotations

import numpy as np

from compiler.frontends.onnx.context import OnnxContext, onnx_op
from dialects.errors import ConversionError, ShapeError

MAX_ITERATIONS = 4096


def _subgraph(node, name: str):
    for a in node.attribute:
        if a.name == name:
            return a.g
    raise ConversionError(f"attribute {name} is missing")


def _run(ctx: OnnxContext, g, args, prefix):
    from compiler.frontends.onnx import run_subgraph  # (that module imports this one)

    return run_subgraph(ctx, g, args, prefix)


def _scalar_value(ctx: OnnxContext, v):
    k = ctx.known(v)
    return None if k is None else np.asarray(k).reshape(-1)[0]


def _const_like(ctx: OnnxContext, vi, value, dtype):
    """A constant for subgraph input `vi`, shaped as it declares (scalar or [1])."""
    rank = len(vi.type.tensor_type.shape.dim) if vi.type.HasField("tensor_type") else 0
    return ctx.const(np.full([1] * rank, value, dtype))


@onnx_op("If")
def _if(ctx: OnnxContext, node, ins):
    then_g, else_g = _subgraph(node, "then_branch"), _subgraph(node, "else_branch")
    name = node.name or node.output[0]
    for g in (then_g, else_g):
        if len(g.output) != len(node.output):
            raise ctx.error(node, f"branch {g.name!r} gives {len(g.output)} outputs for the node's "
                                  f"{len(node.output)}")
    taken = _scalar_value(ctx, ins[0])
    if taken is not None:
        return _run(ctx, then_g if bool(taken) else else_g, [], f"{name}/{'then' if taken else 'else'}/")
    cond = ins[0]
    if any(d != 1 for d in ctx.shape(cond)):
        raise ctx.error(node, "a data-dependent condition must hold one value")
    if ctx.rank(cond):
        cond = ctx.b.out("Reshape", [cond, ctx.i64([])], special_zero=False)
    branches = []
    for tag, g in (("then", then_g), ("else", else_g)):
        try:
            branches.append(_run(ctx, g, [], f"{name}/{tag}/"))
        except (ConversionError, ShapeError) as e:
            raise ctx.error(node, f"the condition depends on {_deciding(ctx, cond)} and the {tag} branch cannot be "
                                  f"converted for these input shapes ({e}); freeze what decides the condition with "
                                  "input= (input={name: value}) or give static shapes") from None
    out = []
    for k, (t, e) in enumerate(zip(*branches)):
        if ctx.dtype(t) != ctx.dtype(e):
            raise ctx.error(node, "the branches give results of different types")
        st, se = ctx.shape(t), ctx.shape(e)
        if len(st) != len(se) or any(a != b for a, b in zip(st, se)):
            # a Select would broadcast one branch's result to the other's shape: a wrong answer
            raise ctx.error(node, f"the condition depends on {_deciding(ctx, cond)} and the branches give output {k} "
                                  f"with different shapes ({list(st)} and {list(se)}); freeze what decides the "
                                  "condition with input= or give static shapes")
        out.append(ctx.b.out("Select", [cond, t, e]))
    return out


def _deciding(ctx: OnnxContext, v) -> str:
    """What a value depends on, for an error: the values or the shapes of model inputs."""
    from xdsl.ir import BlockArgument

    names = ctx.b.input_names
    seen, todo, values, shapes = set(), [(v, False)], set(), set()
    while todo:
        x, via_shape = todo.pop()
        if (x, via_shape) in seen:
            continue
        seen.add((x, via_shape))
        if isinstance(x, BlockArgument):
            name = names[x.index][0] if x.index < len(names) and names[x.index] else f"input {x.index}"
            (shapes if via_shape else values).add(repr(name))
        else:
            shape_op = getattr(x.owner, "IR_TYPE", None) == "ShapeOf"
            todo.extend((o, via_shape or shape_op) for o in x.owner.operands)
    parts = ([f"the value of input {', '.join(sorted(values))}"] if values else []) + \
        ([f"the shape of input {', '.join(sorted(shapes))}"] if shapes else [])
    return " and ".join(parts) or "values computed in the model"


def _stack(ctx: OnnxContext, items: list, axis: int):
    parts = [ctx.b.out("Unsqueeze", [v, ctx.i64(axis)]) for v in items]
    return parts[0] if len(parts) == 1 else ctx.b.out("Concat", parts, axis=axis)


@onnx_op("Loop")
def _loop(ctx: OnnxContext, node, ins):
    body = _subgraph(node, "body")
    name = node.name or node.output[0]
    trip = _scalar_value(ctx, ins[0]) if ins and ins[0] is not None else None
    if ins and ins[0] is not None and trip is None:
        raise ctx.error(node, "the trip count must be known at conversion time (loops are unrolled)")
    has_cond = len(ins) > 1 and ins[1] is not None
    cond = _scalar_value(ctx, ins[1]) if has_cond else True
    if cond is None:
        raise ctx.error(node, "the loop condition must be known at conversion time (loops are unrolled)")
    state = list(ins[2:])
    n_state = len(state)
    scans: list[list] = [[] for _ in range(len(body.output) - 1 - n_state)]
    i = 0
    while bool(cond) and (trip is None or i < int(trip)):
        if i == MAX_ITERATIONS:
            raise ctx.error(node, f"the loop runs more than {MAX_ITERATIONS} iterations")
        args = [_const_like(ctx, body.input[0], i, np.int64), _const_like(ctx, body.input[1], True, np.bool_), *state]
        outs = _run(ctx, body, args, f"{name}/iteration_{i}/")
        state = outs[1:1 + n_state]
        for k, v in enumerate(outs[1 + n_state:]):
            scans[k].append(v)
        cond = _scalar_value(ctx, outs[0])
        if cond is None:
            raise ctx.error(node, "the loop condition depends on the data (loops are unrolled at conversion time)")
        i += 1
    if scans and i == 0:
        raise ctx.error(node, "a loop that runs no iteration has scan outputs of unknown shape")
    return [*state, *(_stack(ctx, items, 0) for items in scans)]


@onnx_op("Scan")
def _scan(ctx: OnnxContext, node, ins):
    if ctx.opset < 9:
        raise ctx.error(node, "Scan before opset 9 (with sequence_lens) is not supported")
    body = _subgraph(node, "body")
    name = node.name or node.output[0]
    m = ctx.attr(node, "num_scan_inputs")
    n_state = len(ins) - m
    state, xs = list(ins[:n_state]), ins[n_state:]
    in_axes = list(ctx.attr(node, "scan_input_axes", [0] * m))
    in_dirs = list(ctx.attr(node, "scan_input_directions", [0] * m))
    k = len(body.output) - n_state
    out_axes = list(ctx.attr(node, "scan_output_axes", [0] * k))
    out_dirs = list(ctx.attr(node, "scan_output_directions", [0] * k))
    lengths = set()
    for x, ax in zip(xs, in_axes):
        ax = ax + ctx.rank(x) if ax < 0 else ax
        lengths.add(ctx.shape(x)[ax])
    if None in lengths or len(lengths) != 1:
        raise ctx.error(node, "the scan inputs need one static sequence length")
    steps = lengths.pop()
    if steps == 0:
        raise ctx.error(node, "an empty scan")
    if steps > MAX_ITERATIONS:
        raise ctx.error(node, f"the scan runs more than {MAX_ITERATIONS} iterations")
    outs_per_step: list[list] = [[] for _ in range(k)]
    for t in range(steps):
        slices = []
        for x, ax, d in zip(xs, in_axes, in_dirs):
            ax = ax + ctx.rank(x) if ax < 0 else ax
            slices.append(ctx.b.out("Gather", [x, ctx.i64(steps - 1 - t if d else t), ctx.i64(ax)], batch_dims=0))
        outs = _run(ctx, body, [*state, *slices], f"{name}/iteration_{t}/")
        state = outs[:n_state]
        for j, v in enumerate(outs[n_state:]):
            outs_per_step[j].append(v)
    results = []
    for items, ax, d in zip(outs_per_step, out_axes, out_dirs):
        ax = ax + ctx.rank(items[0]) + 1 if ax < 0 else ax
        results.append(_stack(ctx, items[::-1] if d else items, ax))
    return [*state, *results]
