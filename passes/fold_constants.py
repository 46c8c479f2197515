"""fold-constants: evaluate every op whose inputs are all constant (with the reference
interpreter), and every shape computation whose value is known statically (ShapeOf of a
static tensor, partial shapes that became complete), replacing them by `ov.Const`.

Types are re-inferred op by op on the way, so one forward walk folds whole shape subgraphs
(ShapeOf -> Gather -> Concat -> Reshape) and ConstantOfShape-style weight generators.

Weight decompression is kept: a Convert of an 8-bit integer constant to a float type stays, as
OpenVINO keeps it (compressed weights in IR; int8 weights that the integer kernels read as
integers). With `all=true` (the CPU pipeline, before lowering) those fold too, except the ones a
Convolution or MatMul takes over (passes.quantized)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from dialects.ov import Const, OvOp, constant_of, dtype_of, fully_known, info_of, is_static, shape_of
from dialects.ov.movement import Transpose
from passes.common import functions, refine_types, sync_function_type
from passes.dce import dce_block
from runtime.interpreter import evaluate

MAX_FOLDED_BYTES = 1 << 30  # never materialize a folded tensor larger than this


def is_decompression(op: OvOp) -> bool:
    """A Convert of an 8-bit integer constant to a float type (kept: compressed weights)."""
    if op.IR_TYPE != "Convert" or dtype_of(op.outputs[0].type).kind != "f":
        return False
    c = constant_of(op.inputs[0])
    return c is not None and c.dtype.kind in "iu" and c.dtype.itemsize == 1


MOVES = ("Transpose", "Reshape", "Squeeze", "Unsqueeze")


def _decompression_parts(v):
    """(Q constant, zero point or None, scale or None) of a weight decompression
    Multiply(Subtract(Convert(Q), zero), scale) (Subtract and Multiply optional), single-use."""
    def value(x):
        c = constant_of(x)
        if c is None and isinstance(getattr(x, "op", None), OvOp) and x.op.IR_TYPE == "Convert":
            c = constant_of(x.op.inputs[0])
            c = None if c is None else c.astype(dtype_of(x.type))
        return c
    def chain_side(x):  # the weights themselves: a Subtract, or the Convert of the whole tensor
        o = getattr(x, "op", None)
        return isinstance(o, OvOp) and (o.IR_TYPE == "Subtract" or (is_decompression(o) and shape_of(x.type) ==
                                                                    shape_of(v.type)))
    scale = zero = None
    op = getattr(v, "op", None)
    if isinstance(op, OvOp) and op.IR_TYPE == "Multiply" and len(list(v.uses)) == 1:
        for i in (0, 1):
            if chain_side(op.inputs[i]) and value(op.inputs[1 - i]) is not None:
                scale, v = value(op.inputs[1 - i]), op.inputs[i]
                break
        else:
            return None
        op = getattr(v, "op", None)
    if isinstance(op, OvOp) and op.IR_TYPE == "Subtract" and len(list(v.uses)) == 1 and value(op.inputs[1]) is not None:
        zero, v = value(op.inputs[1]), op.inputs[0]
        op = getattr(v, "op", None)
    if not (isinstance(op, OvOp) and is_decompression(op) and len(list(v.uses)) == 1):
        return None
    return constant_of(op.inputs[0]), zero, scale, dtype_of(v.type)


def _move_decompressed(op: OvOp) -> list[OvOp] | None:
    """Transpose/Reshape/Squeeze/Unsqueeze of decompressed weights (TFLite's OHWI filters made
    OIHW, grouped filters reshaped): the move applied to the integers and to the scale and zero
    point instead, so that the op's consumer still sees a decompression of integer weights."""
    if op.IR_TYPE not in MOVES or any(constant_of(v) is None for v in op.inputs[1:]):
        return None
    parts = _decompression_parts(op.inputs[0])
    if parts is None:
        return None
    q, zero, scale, ft = parts
    from dialects.ov import create

    out_shape = tuple(shape_of(op.outputs[0].type))
    perm = Transpose.order(q.ndim, [info_of(v) for v in op.inputs]) if op.IR_TYPE == "Transpose" else None
    if not is_static(out_shape) or (op.IR_TYPE == "Transpose" and perm is None):
        return None

    def moved(a):  # the move in numpy, keeping the element type (integers stay integers)
        full = np.broadcast_to(a, q.shape)
        return np.ascontiguousarray(np.transpose(full, perm) if perm is not None else full.reshape(out_shape))
    new: list[OvOp] = [Const(moved(q))]
    new.append(create("Convert", [new[-1].outputs[0]], destination_type=ft))
    if zero is not None:
        new.append(Const(moved(zero.astype(ft))))
        new.append(create("Subtract", [new[-2].outputs[0], new[-1].outputs[0]]))
    if scale is not None:
        new.append(Const(moved(scale.astype(ft))))
        new.append(create("Multiply", [new[-2].outputs[0], new[-1].outputs[0]]))
    return new


def _fold(op: OvOp) -> list[np.ndarray] | None:
    if op.IR_TYPE == "Extension":  # a user's op runs its own code when the model runs, not before
        return None
    known = [fully_known(r) for r in op.outputs]
    if all(k is not None for k in known):
        return known  # shape arithmetic already known element by element
    if op.IR_TYPE == "ShapeOf" and is_static(shape_of(op.inputs[0].type)):
        return [np.array(shape_of(op.inputs[0].type), dtype=op.out_dtype(0))]
    vals = [constant_of(v) for v in op.inputs]
    if any(v is None for v in vals):
        return None
    out_bytes = 0
    for r in op.outputs:
        s = shape_of(r.type)
        if not is_static(s):
            return None
        out_bytes += int(np.prod(s, dtype=np.int64)) * op.out_dtype(op.outputs.index(r)).itemsize
    if out_bytes > MAX_FOLDED_BYTES:
        return None
    return evaluate(op, vals)


def fold_block(block: Block, fold_all: bool = False) -> int:
    folded = 0
    if fold_all:
        from passes.quantized import reserved

        keep = reserved(block)
    for op in list(block.ops):
        if not isinstance(op, OvOp):
            continue
        if is_decompression(op) and (not fold_all or id(op) in keep):
            continue
        moved = None if fold_all else _move_decompressed(op)
        if moved is not None:
            for new in moved:
                Rewriter.insert_op(new, InsertPoint.before(op))
            op.outputs[0].replace_all_uses_with(moved[-1].outputs[0])
            Rewriter.erase_op(op)
            folded += 1
            continue
        refine_types(op)
        values = _fold(op)
        if values is None:
            continue
        consts = [Const(np.asarray(v).astype(op.out_dtype(i), copy=False)) for i, v in enumerate(values)]
        for c, res in zip(consts, op.outputs):
            Rewriter.insert_op(c, InsertPoint.before(op))
            for k in ("ov.name", "ov.tensor_names"):
                if k in op.attributes and len(op.outputs) == 1:
                    c.attributes[k] = op.attributes[k]
            res.replace_all_uses_with(c.output)
        Rewriter.erase_op(op)
        folded += 1
    return folded


@dataclass(frozen=True)
class FoldConstants(ModulePass):
    name = "fold-constants"
    all: bool = False  # also fold weight decompressions that no integer kernel takes over

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for fn in functions(op):
            fold_block(fn.body.block, self.all)
            dce_block(fn.body.block)
            sync_function_type(fn)
