"""fold-input-scale: a per-channel Multiply or Divide by a constant applied to the input of a
Convolution, GroupConvolution or MatMul with constant weights is folded into those weights
(scaling input channel c scales every weight that reads it). An Add or Subtract of a
per-channel constant folds too where that is exact: before a MatMul, or a convolution without
padding; it becomes a bias Add after the op. This is how preprocessing (mean and scale values)
disappears into a model's first layer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from dialects.ov import Const, OvOp, constant_of, create, dtype_of, shape_of
from passes.common import functions
from passes.dce import dce_block
from passes.fold_batchnorm import channel_vector

WEIGHTED = ("Convolution", "GroupConvolution", "MatMul")
SCALES = ("Multiply", "Divide")
SHIFTS = ("Add", "Subtract")


def _input_axis(op: OvOp) -> int | None:
    """The axis of the op's data input that its weights index by input channel."""
    rank = len(shape_of(op.inputs[0].type))
    if op.IR_TYPE == "MatMul":
        return None if op.attr.transpose_a or rank < 2 else rank - 1
    return 1


def _weights(op: OvOp) -> np.ndarray | None:
    w = constant_of(op.inputs[1])
    if w is None or not isinstance(getattr(op.inputs[1], "op", None), Const) or \
            dtype_of(op.inputs[1].type) != np.float32:
        return None
    if op.IR_TYPE == "MatMul" and w.ndim != 2:
        return None
    return w


def _scaled(op: OvOp, w: np.ndarray, s: np.ndarray) -> np.ndarray:
    """The weights with input channel c multiplied by s[c]."""
    if op.IR_TYPE == "Convolution":  # [O, C, k...]
        return w * s.reshape((1, -1) + (1,) * (w.ndim - 2))
    if op.IR_TYPE == "GroupConvolution":  # [G, O/G, C/G, k...]
        g, _, cg = w.shape[:3]
        return w * s.reshape((g, 1, cg) + (1,) * (w.ndim - 3))
    return w * (s.reshape(1, -1) if op.attr.transpose_b else s.reshape(-1, 1))


def _bias(op: OvOp, w: np.ndarray, t: np.ndarray) -> np.ndarray | None:
    """What adding t[c] to input channel c adds to each output channel, if that is exact."""
    if op.IR_TYPE == "MatMul":
        return (w @ t if op.attr.transpose_b else t @ w).astype(np.float32)
    if any(op.attr.pads_begin) or any(op.attr.pads_end) or op.attr.auto_pad not in ("explicit", "valid", "notset"):
        return None  # padded borders see zeros, not the shift
    if op.IR_TYPE == "Convolution":  # every output sums t[c] times all of its kernel's taps on c
        return (w.reshape(w.shape[0], w.shape[1], -1).sum(-1) @ t).astype(np.float32)
    g, og, cg = w.shape[:3]
    taps = w.reshape(g, og, cg, -1).sum(-1)
    return np.einsum("goc,gc->go", taps, t.reshape(g, cg)).reshape(g * og).astype(np.float32)


def fold_block(block: Block) -> int:
    changed = 0
    for op in list(block.ops):
        if not isinstance(op, OvOp) or op.IR_TYPE not in WEIGHTED:
            continue
        while True:
            pre = getattr(op.inputs[0], "op", None)
            if not isinstance(pre, OvOp) or pre.IR_TYPE not in SCALES + SHIFTS or len(list(pre.outputs[0].uses)) != 1:
                break
            x, k = pre.inputs
            kv = constant_of(k)
            w = _weights(op)
            axis = _input_axis(op)
            if kv is None or w is None or axis is None or dtype_of(x.type) != np.float32 or \
                    shape_of(x.type) != shape_of(pre.outputs[0].type):
                break
            vec = channel_vector(kv, shape_of(x.type), axis)
            if vec is None:
                break
            vec = vec.astype(np.float64)
            if pre.IR_TYPE in SCALES:
                if pre.IR_TYPE == "Divide" and (vec == 0).any():
                    break
                s = 1.0 / vec if pre.IR_TYPE == "Divide" else vec
                new_w = _scaled(op, w.astype(np.float64), s).astype(np.float32)
                c = Const(new_w)
                Rewriter.insert_op(c, InsertPoint.before(op))
                op.operands[1] = c.output
            else:
                bias = _bias(op, w.astype(np.float64), vec if pre.IR_TYPE == "Add" else -vec)
                if bias is None:
                    break
                out_rank = len(shape_of(op.outputs[0].type))
                shape = (-1,) if op.IR_TYPE == "MatMul" else (1, -1) + (1,) * (out_rank - 2)
                bc = Const(bias.reshape(shape))
                Rewriter.insert_op(bc, InsertPoint.after(op))
                add = create("Add", [op.outputs[0], bc.output])
                Rewriter.insert_op(add, InsertPoint.after(bc))
                op.outputs[0].replace_uses_with_if(add.outputs[0], lambda use, add=add: use.operation is not add)
            op.operands[0] = x
            Rewriter.erase_op(pre)
            changed += 1
    return changed


@dataclass(frozen=True)
class FoldInputScale(ModulePass):
    name = "fold-input-scale"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for fn in functions(op):
            fold_block(fn.body.block)
            dce_block(fn.body.block)
