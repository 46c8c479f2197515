"""fold-batchnorm: BatchNormInference with constant statistics becomes a per-channel scale
and shift; a scale (or a Multiply by a per-channel constant) right after a Convolution,
GroupConvolution or MatMul with constant weights is folded into those weights. What remains
of the shift is a bias Add, which the fusion pass then puts into the producer's kernel."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from dialects.ov import Const, OvOp, constant_of, create, dtype_of, shape_of
from passes.common import functions
from passes.dce import dce_block

WEIGHTED = ("Convolution", "GroupConvolution", "MatMul")


def _insert(op, before):
    Rewriter.insert_op(op, InsertPoint.before(before))
    return op


def channel_vector(value: np.ndarray, out_shape: tuple, axis: int) -> np.ndarray | None:
    """The per-channel vector (along `axis`) a constant broadcasts as, if it varies only there."""
    v = np.asarray(value)
    r = len(out_shape)
    if v.ndim > r:
        return None
    full = v.reshape((1,) * (r - v.ndim) + v.shape)
    if any(d != 1 for i, d in enumerate(full.shape) if i != axis):
        return None
    c = out_shape[axis]
    vec = full.reshape(-1)
    if vec.size == 1:
        return np.full(c, vec[0], dtype=v.dtype)
    return vec if vec.size == c else None


def _channel_axis(producer: OvOp) -> int:
    return len(shape_of(producer.outputs[0].type)) - 1 if producer.IR_TYPE == "MatMul" else 1


def _scaled_weights(producer: OvOp, scale: np.ndarray) -> np.ndarray | None:
    w = constant_of(producer.inputs[1])
    if w is None or dtype_of(producer.inputs[1].type) != np.float32:
        return None
    if producer.IR_TYPE == "Convolution":
        return (w * scale.reshape((-1,) + (1,) * (w.ndim - 1))).astype(w.dtype)
    if producer.IR_TYPE == "GroupConvolution":
        g, cg = w.shape[:2]
        return (w * scale.reshape((g, cg) + (1,) * (w.ndim - 2))).astype(w.dtype)
    if w.ndim < 2:
        return None
    if producer.attr.transpose_b:  # B is [..., N, K]
        return (w * scale.reshape(-1, 1)).astype(w.dtype)
    return (w * scale.reshape(1, -1)).astype(w.dtype)


def _fold_scale(producer: OvOp, scale: np.ndarray) -> bool:
    """Multiply the producer's output channels by `scale` through its weights (only finite
    scales: an infinite one times a zero weight is NaN where the product of the sum is not)."""
    if not np.all(np.isfinite(scale)) or len(list(producer.outputs[0].uses)) != 1 or \
            not isinstance(getattr(producer.inputs[1], "op", None), Const):
        return False
    if producer.IR_TYPE == "MatMul" and len(shape_of(producer.inputs[0].type)) < 2:
        return False
    w = _scaled_weights(producer, scale)
    if w is None:
        return False
    c = _insert(Const(w), producer)
    producer.operands[1] = c.output
    return True


def _biased_producer(x: SSAValue) -> tuple[OvOp, np.ndarray, OvOp] | None:
    """(convolution, per-channel bias, the Add) when `x` is Add(convolution, constant bias),
    each used only once, the Add not broadcasting the convolution's output."""
    add = getattr(x, "op", None)
    if not isinstance(add, OvOp) or add.IR_TYPE != "Add" or len(list(add.outputs[0].uses)) != 1:
        return None
    for i in (0, 1):
        conv, k = getattr(add.inputs[i], "op", None), constant_of(add.inputs[1 - i])
        if isinstance(conv, OvOp) and conv.IR_TYPE in WEIGHTED[:2] and k is not None \
                and len(list(conv.outputs[0].uses)) == 1 and shape_of(x.type) == shape_of(conv.outputs[0].type) \
                and dtype_of(x.type) == np.float32:
            bias = channel_vector(k, shape_of(x.type), 1)
            if bias is not None:
                return conv, bias.astype(np.float32), add
    return None


def fold_block(block: Block) -> int:
    changed = 0
    for op in list(block.ops):
        if not isinstance(op, OvOp):
            continue
        if op.IR_TYPE == "BatchNormInference":
            vals = [constant_of(v) for v in op.inputs[1:]]
            if any(v is None for v in vals) or dtype_of(op.outputs[0].type) != np.float32:
                continue
            g, b, m, v = (np.asarray(a, np.float64) for a in vals)
            scale = g / np.sqrt(v + op.attr.epsilon)
            shift = (b - m * scale).astype(np.float32)
            scale = scale.astype(np.float32)
            x = op.inputs[0]
            rank = len(shape_of(x.type))
            shape = (1, -1) + (1,) * (rank - 2)
            prod = getattr(x, "op", None)
            biased = _biased_producer(x)
            if biased is not None and _fold_scale(biased[0], scale):
                # conv -> Add(bias) -> BN: the scale goes into the weights, bias * scale into the shift
                # (as OpenVINO folds it, so f16 compression sees one set of weights, not three)
                conv, bias, add = biased
                shift = (shift + bias * scale).astype(np.float32)
                scaled = conv.outputs[0]
                add.outputs[0].replace_all_uses_with(scaled)
                Rewriter.erase_op(add)
            elif isinstance(prod, OvOp) and prod.IR_TYPE in WEIGHTED[:2] and _fold_scale(prod, scale):
                scaled: SSAValue = x
            else:
                k = _insert(Const(scale.reshape(shape)), op)
                scaled = _insert(create("Multiply", [x, k.output]), op).outputs[0]
            t = _insert(Const(shift.reshape(shape)), op)
            out = _insert(create("Add", [scaled, t.output]), op)
            _copy_names(op, out)
            op.outputs[0].replace_all_uses_with(out.outputs[0])
            Rewriter.erase_op(op)
            changed += 1
        elif op.IR_TYPE == "Multiply":
            for i in (0, 1):
                x, k = op.inputs[i], op.inputs[1 - i]
                prod = getattr(x, "op", None)
                kv = constant_of(k)
                if kv is None or not isinstance(prod, OvOp) or prod.IR_TYPE not in WEIGHTED:
                    continue
                out_shape = shape_of(op.outputs[0].type)
                if out_shape != shape_of(x.type):
                    continue
                scale = channel_vector(kv, out_shape, _channel_axis(prod))
                if scale is not None and _fold_scale(prod, scale.astype(np.float32)):
                    _copy_names(op, prod)
                    op.outputs[0].replace_all_uses_with(x)
                    Rewriter.erase_op(op)
                    changed += 1
                    break
    return changed


def _copy_names(src, dst) -> None:
    for k in ("ov.name", "ov.tensor_names"):
        if k in src.attributes:
            dst.attributes[k] = src.attributes[k]


@dataclass(frozen=True)
class FoldBatchNorm(ModulePass):
    name = "fold-batchnorm"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for fn in functions(op):
            fold_block(fn.body.block)
            dce_block(fn.body.block)
