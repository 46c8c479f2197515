"""decompose: rewrite composite ops that codegen does not implement in a given form into
simpler ops with the same meaning: MVN and NormalizeL2 over non-adjacent axes become
reductions and element-wise ops. Every CPU compilation runs it (it is a legalization)."""

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


def decompose_op(op: OvOp) -> bool:
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
            for o in list(fn.body.block.ops):
                if isinstance(o, OvOp):
                    decompose_op(o)
