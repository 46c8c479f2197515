"""fold-batchnorm: BatchNormInference with constant statistics becomes a per-channel scale
and shift; a scale (or a Multiply by a per-channel constant) right after a Convolution,
GroupConvolution or MatMul with constant weights is folded into those weights. What remains
of the shift is a bias Add, which the fusion pass then puts into the producer's kernel.

Chains of constant Multiply/Add steps are first brought into one scale and one shift, as
OpenVINO's linear-operation fusion does: (x + b) * c becomes x * c + b * c, x * a * c becomes
x * (a * c), x + b + d becomes x + (b + d). A chain conv -> Add -> Multiply -> Add (a folded
BatchNorm followed by a Caffe2-style scale layer) so ends as one set of weights and one bias,
which is also what keeps f16-compressed IR as close to f32 as OpenVINO's own."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from dialects.ov import Const, OvOp, constant_of, create, dtype_of, is_static, shape_of
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


def _linear_step(v: SSAValue, kind: str) -> tuple[OvOp, SSAValue, np.ndarray] | None:
    """(op, x, k) when `v` is op(x, k): a `kind` (Add or Multiply) of f32 values by a finite
    constant k, used only once, whose output has x's shape (k does not broadcast x)."""
    op = getattr(v, "op", None)
    if not isinstance(op, OvOp) or op.IR_TYPE != kind or len(list(op.outputs[0].uses)) != 1 \
            or dtype_of(op.outputs[0].type) != np.float32:
        return None
    for i in (0, 1):
        k = constant_of(op.inputs[1 - i])
        x = op.inputs[i]
        if k is not None and constant_of(x) is None and shape_of(x.type) == shape_of(op.outputs[0].type) \
                and np.all(np.isfinite(k)):
            return op, x, np.asarray(k, np.float32)
    return None


def _fuse_linear(op: OvOp) -> bool:
    """One step of bringing constant Multiply/Add chains into a scale and a shift (module doc)."""
    if op.IR_TYPE not in ("Add", "Multiply"):
        return False
    outer = _linear_step(op.outputs[0], op.IR_TYPE)
    if outer is None:
        return False
    _, y, k = outer
    for inner_kind in ("Add", "Multiply") if op.IR_TYPE == "Multiply" else ("Add",):
        inner = _linear_step(y, inner_kind)
        if inner is None:
            continue
        inner_op, x, k0 = inner
        with np.errstate(all="ignore"):
            folded = (k0 * k) if op.IR_TYPE == "Multiply" else (k0 + k)
        if not np.all(np.isfinite(folded)):
            continue
        if inner_kind == op.IR_TYPE:  # x * a * c or x + b + d
            new = [_insert(create(op.IR_TYPE, [x, _insert(Const(folded), op).output]), op)]
        else:  # (x + b) * c: x * c + b * c
            scaled = _insert(create("Multiply", [x, _insert(Const(k), op).output]), op)
            new = [scaled, _insert(create("Add", [scaled.outputs[0], _insert(Const(folded), op).output]), op)]
        _copy_names(op, new[-1])
        op.outputs[0].replace_all_uses_with(new[-1].outputs[0])
        Rewriter.erase_op(op)
        Rewriter.erase_op(inner_op)
        for n in new:
            if n.IR_TYPE == "Multiply":
                _fold_multiply(n)
        return True
    return False


def _fold_multiply(op: OvOp) -> bool:
    """A Multiply by a per-channel constant right after a weighted op goes into its weights."""
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
            return True
    return False


def fold_block(block: Block) -> int:
    changed = 0
    for op in list(block.ops):
        if not isinstance(op, OvOp):
            continue
        if _fuse_linear(op):
            changed += 1
        elif op.IR_TYPE == "BatchNormInference":
            vals = [constant_value(v) for v in op.inputs[1:]]
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
        elif op.IR_TYPE == "Multiply" and _fold_multiply(op):
            changed += 1
    return changed


def constant_value(v: SSAValue, depth: int = 8) -> np.ndarray | None:
    """The value of `v` if it is a constant or a small expression of constants: a BatchNorm's
    statistics may come decompressed (ONNX Runtime's quantizer writes its scale as
    DequantizeLinear of int8), which fold-constants keeps as weight decompression."""
    c = constant_of(v)
    if c is not None or depth == 0:
        return c
    op = getattr(v, "op", None)
    if not isinstance(op, OvOp) or len(op.outputs) != 1 or not is_static(shape_of(v.type)) \
            or int(np.prod(shape_of(v.type))) > 1 << 16:
        return None
    ins = [constant_value(x, depth - 1) for x in op.inputs]
    if any(x is None for x in ins):
        return None
    from runtime.interpreter import evaluate

    with np.errstate(all="ignore"):
        return evaluate(op, ins)[0]


def _copy_names(src, dst) -> None:
    for k in ("ov.name", "ov.tensor_names"):
        if k in src.attributes:
            dst.attributes[k] = src.attributes[k]


@dataclass(frozen=True)
class FoldBatchNorm(ModulePass):
    name = "fold-batchnorm"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for fn in functions(op):
            for _ in range(8):  # a BatchNorm becomes a Multiply and an Add, which may fuse further
                if not fold_block(fn.body.block):
                    break
            dce_block(fn.body.block)
