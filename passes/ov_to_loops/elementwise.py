"""Element-wise kernels: one op, or a fused chain of them, as one loop nest.

A chain is a small DAG of scalar formulas (`scalar.SCALAR`) over inputs that broadcast to the
output shape (an element-wise op commutes with broadcasting, so every node is computed per
output element). The loop nest collapses dims where all buffers are contiguous, keeps the last
dim innermost with unit stride for the output, and cuts it into blocks, so that LLVM vectorizes
the inner loop and both cores share the blocks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
from xdsl.ir import SSAValue

from dialects.ov import OPS, OvOp, dtype_of, shape_of
from passes.ov_to_loops.kb import KB
from passes.ov_to_loops.program import Buf, Kernel, LowerCtx
from passes.ov_to_loops.scalar import SCALAR

ELEMENTWISE = frozenset(SCALAR)
BLOCK = 4096


@dataclass(frozen=True)
class Node:
    op_type: str
    attr: tuple  # (name, value) pairs
    args: tuple[tuple[str, int], ...]  # ("in", k) external input, ("node", j), ("acc", 0)
    in_dtypes: tuple[str, ...]
    out_dtype: str


@dataclass
class Dag:
    nodes: list[Node]
    outputs: list[tuple[str, int]]

    def key(self) -> str:
        return repr((self.nodes, self.outputs))

    def eval(self, kb: KB, inputs: Sequence[SSAValue], acc: SSAValue | None = None) -> list[SSAValue]:
        vals: list[SSAValue] = []

        def get(ref):
            kind, i = ref
            return inputs[i] if kind == "in" else vals[i] if kind == "node" else acc

        for n in self.nodes:
            attr = SimpleNamespace(**dict(n.attr))
            dts = [np.dtype(d) for d in n.in_dtypes]
            vals.append(SCALAR[n.op_type](kb, attr, dts, np.dtype(n.out_dtype), *[get(a) for a in n.args]))
        return [get(o) for o in self.outputs]


def dag_from_ops(ops: Sequence[OvOp], inputs: Sequence[SSAValue], outputs: Sequence[SSAValue],
                 acc: SSAValue | None = None) -> Dag:
    """The DAG of element-wise `ops` (in order) reading `inputs` (and `acc`)."""
    refs: dict[SSAValue, tuple[str, int]] = {v: ("in", i) for i, v in enumerate(inputs)}
    if acc is not None:
        refs[acc] = ("acc", 0)
    nodes: list[Node] = []
    for op in ops:
        attr = tuple((n, _hashable(getattr(op.attr, n))) for n in op.ATTRS)
        nodes.append(Node(op.IR_TYPE, attr, tuple(refs[v] for v in op.inputs),
                          tuple(dtype_of(v.type).str for v in op.inputs), dtype_of(op.outputs[0].type).str))
        refs[op.outputs[0]] = ("node", len(nodes) - 1)
    return Dag(nodes, [refs[v] for v in outputs])


def _hashable(v):
    if isinstance(v, np.dtype):
        return v.str
    return v


def input_view(out_shape: tuple[int, ...], in_shape: tuple[int, ...], prelu_slope: bool = False) -> tuple[int, ...]:
    """The input's shape aligned to the output's rank (PRelu: a [C] slope goes on axis 1)."""
    r = len(out_shape)
    if prelu_slope and len(in_shape) == 1 and r >= 2 and in_shape[0] == out_shape[1] and in_shape[0] != 1:
        return (1, in_shape[0]) + (1,) * (r - 2)
    return (1,) * (r - len(in_shape)) + tuple(in_shape)


def broadcast_strides(out_shape: Sequence[int], view: Sequence[int]) -> list[int]:
    strides, acc = [], 1
    for d in reversed(view):
        strides.append(acc)
        acc *= d
    strides = list(reversed(strides))
    return [0 if v == 1 and o != 1 else s for o, v, s in zip(out_shape, view, strides)]


def collapse(shape: Sequence[int], strides_list: Sequence[Sequence[int]]) -> tuple[list[int], list[list[int]]]:
    """Merge adjacent dims that every buffer walks contiguously."""
    keep = [i for i, d in enumerate(shape) if d != 1] or [len(shape) - 1]
    dims = [shape[i] for i in keep]
    sts = [[s[i] for i in keep] for s in strides_list]
    i = len(dims) - 2
    while i >= 0:
        if all(s[i] == s[i + 1] * dims[i + 1] for s in sts):
            dims[i:i + 2] = [dims[i] * dims[i + 1]]
            for s in sts:
                s[i:i + 2] = [s[i + 1]]
        i -= 1
    return dims, sts


def eltwise_kernel(out_shape: tuple[int, ...], in_dtypes: Sequence[np.dtype], in_views: Sequence[tuple[int, ...]],
                   dag: Dag, out_dtypes: Sequence[np.dtype], held: Sequence[int] = ()) -> tuple[Kernel, int, float]:
    """`held`: outputs computed in f32 and stored as bf16 (conv.bf16_activations)."""
    n_out = len(out_dtypes)
    if not out_shape:  # a scalar is a one-element vector
        out_shape, in_views = (1,), [(1,) for _ in in_views]
    total = int(np.prod(out_shape, dtype=np.int64))
    out_strides = broadcast_strides(out_shape, out_shape)
    strides = [broadcast_strides(out_shape, v) for v in in_views]
    dims, sts = collapse(out_shape, [out_strides] * n_out + strides)
    inner = dims[-1]
    outer_dims = dims[:-1]
    outer = int(np.prod(outer_dims, dtype=np.int64)) if outer_dims else 1
    block = max(1, min(inner, BLOCK))
    nblk = -(-inner // block)
    extent = outer * nblk
    key = f"eltwise{dims}{sts}{[d.str for d in in_dtypes]}{[d.str for d in out_dtypes]}{list(held)}{dag.key()}"
    in_sizes = [int(np.prod(v, dtype=np.int64)) for v in in_views]

    def build(kb: KB) -> None:
        kb.hold_f32(*(f"out{i}" for i in held))
        ins = [kb.args[f"in{i}"] for i in range(len(in_views))]
        outs = [kb.args[f"out{i}"] for i in range(n_out)]

        def unit(u):
            o = kb.div(u, nblk)
            j0 = kb.mul(kb.rem(u, nblk), block)
            j1 = kb.imin(kb.add(j0, block), inner)
            oidx = kb.unravel(o, outer_dims) if outer_dims else []
            bases = [kb.lin(oidx, s[:-1]) for s in sts]

            def elem(j):
                vals = [kb.load(buf, kb.add(bases[n_out + k], kb.mul(j, sts[n_out + k][-1])))
                        for k, buf in enumerate(ins)]
                for k, r in enumerate(dag.eval(kb, vals)):
                    kb.store(r, outs[k], kb.add(bases[k], j))
            kb.for_(j0, j1, elem)

        kb.for_(kb.args["lo"], kb.args["hi"], unit)

    bufs = [(f"in{i}", np.dtype(d), s) for i, (d, s) in enumerate(zip(in_dtypes, in_sizes))] + \
        [(f"out{i}", np.dtype(d), total) for i, d in enumerate(out_dtypes)]
    return Kernel(key, bufs, build), extent, float(total * max(1, len(dag.nodes)))


def lower_eltwise_group(ctx: LowerCtx, ops: Sequence[OvOp], inputs: Sequence[SSAValue],
                        outputs: Sequence[SSAValue], label: str = "", outer_inputs: Sequence[SSAValue] = (),
                        outer_outputs: Sequence[SSAValue] = ()) -> None:
    """`inputs`/`outputs` as the ops see them; `outer_*` the values holding their memory (the
    Fused op's operands and results, when the group sits inside one)."""
    out_shape = shape_of(outputs[0].type)
    dag = dag_from_ops(ops, inputs, outputs)
    slopes = {op.inputs[1] for op in ops if op.IR_TYPE == "PRelu"}
    views = [input_view(out_shape, shape_of(v.type), v in slopes) for v in inputs]
    for v in outer_outputs or outputs:
        ctx.hold_levels(v)
    out_bufs = [ctx.buf(v) for v in (outer_outputs or outputs)]
    held = [i for i, (v, b) in enumerate(zip(outputs, out_bufs)) if b.dtype != dtype_of(v.type)]  # bf16 storage
    kernel, extent, cost = eltwise_kernel(out_shape, [dtype_of(v.type) for v in inputs], views, dag,
                                          [b.dtype for b in out_bufs], held)
    ctx.step(kernel, [ctx.buf(v) for v in (outer_inputs or inputs)] + out_bufs, extent, cost, out_bufs, label)


def lower_fused_eltwise(ctx: LowerCtx, fused) -> None:
    ops = [o for o in fused.block.ops if isinstance(o, OvOp)]
    lower_eltwise_group(ctx, ops, list(fused.block.args), list(fused.block.last_op.operands),
                        "+".join(o.IR_TYPE for o in ops), list(fused.inputs), list(fused.outputs))


def lower_eltwise(ctx: LowerCtx, op: OvOp) -> None:
    lower_eltwise_group(ctx, [op], list(op.inputs), list(op.outputs), op.IR_TYPE)


def copy_kernel(ctx: LowerCtx, src: Buf, dst: Buf, shape: tuple[int, ...], dtype: np.dtype) -> None:
    """dst = src (an output that is an input, a constant or another output)."""
    dag = Dag([], [("in", 0)])
    kernel, extent, cost = eltwise_kernel(shape, [dtype], [shape], dag, [dtype])
    ctx.step(kernel, [src, dst], extent, cost, [dst], "copy")


assert ELEMENTWISE <= set(OPS)
