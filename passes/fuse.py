"""fuse: group ops that codegen turns into one kernel, as `ov.Fused` ops.

- anchored groups: a Convolution, GroupConvolution or MatMul followed by a chain of element-wise
  ops (bias, activation, residual add, ...) of the same output shape;
- element-wise chains: consecutive element-wise ops of the same output shape.

A value joins its consumer's group only when that consumer is its single user, so no value
that something else needs is ever hidden inside a group. The group keeps the exact meaning of
its ops; the IR writer writes them unfused."""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from dialects.ov import Fused, FusedYield, OvOp, shape_of
from passes.common import functions
from passes.ov_to_loops.scalar import SCALAR
from passes.quantized import reserved, unshare_quantizers

ANCHORS = ("Convolution", "GroupConvolution", "MatMul")
ELEMENTWISE = frozenset(SCALAR)


def _single_user(v: SSAValue):
    uses = list(v.uses)
    return uses[0].operation if len(uses) == 1 else None


def _joinable(op, value: SSAValue, shape) -> bool:
    return (isinstance(op, OvOp) and op.IR_TYPE in ELEMENTWISE and len(op.outputs) == 1
            and shape_of(op.outputs[0].type) == shape and op.parent is value.owner.parent)


def collect(anchor: OvOp, allow_chain: bool = True, keep: frozenset[int] = frozenset()) -> list[OvOp]:
    """The anchor and the element-wise chain that only it feeds (up to an op in `keep`)."""
    group = [anchor]
    shape = shape_of(anchor.outputs[0].type)
    cur = anchor.outputs[0]
    while allow_chain:
        user = _single_user(cur)
        if user is None or not _joinable(user, cur, shape) or id(user) in keep:
            break
        group.append(user)
        cur = user.outputs[0]
    return group


def make_fused(group: list[OvOp], kind: str) -> Fused:
    """Move `group` (in order, each feeding the next) into a new Fused op placed where the
    last op was."""
    members = set(group)
    inputs: list[SSAValue] = []
    for op in group:
        for v in op.operands:
            owner = getattr(v, "op", None)
            if owner not in members and v not in inputs:
                inputs.append(v)
    ext = inputs
    block = Block(arg_types=[v.type for v in ext])
    mapping = dict(zip(ext, block.args))
    last = group[-1]
    result = last.outputs[0]
    fused = Fused(ext, [result.type], kind, Region(block))
    for k in ("ov.name", "ov.tensor_names"):
        if k in last.attributes:
            fused.attributes[k] = last.attributes[k]
    Rewriter.insert_op(fused, InsertPoint.before(last))
    for op in group:
        op.detach()
        for i, v in enumerate(op.operands):
            if v in mapping:
                op.operands[i] = mapping[v]
        block.add_op(op)
    result.replace_all_uses_with(fused.outputs[0])
    block.add_op(FusedYield([result]))
    return fused


def fuse_block(block: Block, eltwise_chains: bool = True) -> int:
    n = 0
    unshare_quantizers(block)
    keep = reserved(block)  # quantizers and weight decompressions the int8 kernels take over
    for op in list(block.ops):
        if op.parent is not block or not isinstance(op, OvOp) or id(op) in keep:
            continue
        if op.IR_TYPE in ANCHORS:
            group = collect(op, keep=keep)
            if len(group) > 1:
                make_fused(group, op.IR_TYPE)
                n += 1
        elif eltwise_chains and op.IR_TYPE in ELEMENTWISE and len(op.outputs) == 1:
            producer = [getattr(v, "op", None) for v in op.inputs]
            # start chains at their first op only
            if any(isinstance(p, OvOp) and p.IR_TYPE in ELEMENTWISE and _single_user(p.outputs[0]) is op
                   and id(p) not in keep and shape_of(p.outputs[0].type) == shape_of(op.outputs[0].type)
                   for p in producer):
                continue
            group = collect(op, keep=keep)
            if len(group) > 1:
                make_fused(group, "eltwise")
                n += 1
    return n


@dataclass(frozen=True)
class Fuse(ModulePass):
    name = "fuse"
    eltwise: bool = True  # also fuse chains of element-wise ops without an anchor

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for fn in functions(op):
            fuse_block(fn.body.block, self.eltwise)
