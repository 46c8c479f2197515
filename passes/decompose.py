"""decompose: rewrite composite ops that codegen does not implement in a given form into
simpler ops with the same meaning: MVN and NormalizeL2 over non-adjacent axes become
reductions and element-wise ops, and Concat loses operands with no elements. Every CPU
compilation runs it (it is a legalization).

widen-half: ops on float16 tensors compute in float32 between Converts (as OpenVINO's CPU
plugin does with an f32 inference precision), each float16 result still rounded to float16;
CPU compilation runs it first, so that fusion sees the float32 ops."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from dialects.ov import Const, OvOp, constant_of, create, dtype_of, shape_of
from dialects.ov.shape_rules import norm_axes
from passes.common import functions
from passes.dce import dce_block


def _adjacent(axes) -> bool:
    a = sorted(axes)
    return not a or a == list(range(a[0], a[-1] + 1))


class _At:
    def __init__(self, anchor):
        self.anchor = anchor

    def op(self, t, ins, **attrs):
        o = create(t, ins, **attrs)
        Rewriter.insert_op(o, InsertPoint.before(self.anchor))
        return o.outputs[0]

    def const(self, v, dt):
        c = Const(np.asarray(v, dt))
        Rewriter.insert_op(c, InsertPoint.before(self.anchor))
        return c.output


def _drop_empty_concat_inputs(op: OvOp) -> bool:
    """Concat operands with no elements (a running buffer's first slice in an unrolled loop)
    contribute nothing; native code does not handle zero-sized tensors."""
    keep = [v for v in op.inputs if 0 not in shape_of(v.type)]
    if len(keep) == len(op.inputs) or not keep:
        return False
    if len(keep) == 1 and keep[0].type == op.outputs[0].type:
        op.outputs[0].replace_all_uses_with(keep[0])
    else:
        new = _At(op).op("Concat", keep, **vars(op.attr))
        op.outputs[0].replace_all_uses_with(new)
    Rewriter.erase_op(op)
    return True


def decompose_op(op: OvOp) -> bool:
    if op.IR_TYPE == "Concat":
        return _drop_empty_concat_inputs(op)
    if op.IR_TYPE not in ("MVN", "NormalizeL2"):
        return False
    c = constant_of(op.inputs[1])
    if c is None:
        return False
    x = op.inputs[0]
    axes = list(norm_axes([int(v) for v in c.reshape(-1)], len(shape_of(x.type))))
    if _adjacent(axes) and axes:
        return False
    at = _At(op)
    dt = dtype_of(x.type)
    ax = at.const(axes, np.int64)
    a = op.attr
    if op.IR_TYPE == "MVN":
        d = at.op("Subtract", [x, at.op("ReduceMean", [x, ax], keep_dims=True)])
        y = d
        if a.normalize_variance:
            var = at.op("ReduceMean", [at.op("Multiply", [d, d]), ax], keep_dims=True)
            eps = at.const(a.eps, dt)
            den = at.op("Sqrt", [at.op("Add", [var, eps])]) if a.eps_mode == "inside_sqrt" else \
                at.op("Add", [at.op("Sqrt", [var]), eps])
            y = at.op("Divide", [d, den])
    else:
        sq = at.op("Multiply", [x, x])
        ss = at.op("ReduceSum", [sq, ax], keep_dims=True) if axes else sq
        eps = at.const(a.eps, dt)
        ss = at.op("Add", [ss, eps]) if a.eps_mode == "add" else at.op("Maximum", [ss, eps])
        y = at.op("Divide", [x, at.op("Sqrt", [ss])])
    op.outputs[0].replace_all_uses_with(y)
    Rewriter.erase_op(op)
    return True


@dataclass(frozen=True)
class Decompose(ModulePass):
    name = "decompose"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for fn in functions(op):
            if any([decompose_op(o) for o in list(fn.body.block.ops) if isinstance(o, OvOp)]):
                dce_block(fn.body.block)


F16, F32 = np.dtype(np.float16), np.dtype(np.float32)


def widen_half(op: OvOp) -> bool:
    """An op with float16 operands recomputed in float32, its float16 results rounded back."""
    if op.IR_TYPE in ("Convert", "Const") or not any(dtype_of(v.type) == F16 for v in op.inputs):
        return False
    at = _At(op)
    ins = [at.op("Convert", [v], destination_type=F32) if dtype_of(v.type) == F16 else v for v in op.inputs]
    try:
        wide = create(op.IR_TYPE, ins, **vars(op.attr))
    except Exception:  # an op whose attributes pin the type: it stays in float16
        for v in ins:
            if v not in op.inputs and not v.uses:
                Rewriter.erase_op(v.op)
        return False
    Rewriter.insert_op(wide, InsertPoint.before(op))
    for old, new in zip(op.outputs, wide.outputs):
        if dtype_of(old.type) != dtype_of(new.type):
            new = at.op("Convert", [new], destination_type=dtype_of(old.type))
        old.replace_all_uses_with(new)
    Rewriter.erase_op(op)
    return True


@dataclass(frozen=True)
class WidenHalf(ModulePass):
    name = "widen-half"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for fn in functions(op):
            for o in list(fn.body.block.ops):
                if isinstance(o, OvOp):
                    widen_half(o)
