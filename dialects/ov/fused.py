"""`ov.Fused`: a group of `ov` ops that codegen turns into one kernel.

The fusion pass moves a producer (Convolution, GroupConvolution, MatMul or an element-wise op)
and the chain of element-wise consumers that only it feeds into the single block of a Fused op.
The block's arguments stand for the group's inputs; `ov.FusedYield` returns its outputs. The
group keeps the exact meaning of the ops inside (the interpreter runs the block), and the IR
writer writes the inner ops, so fusion never changes what OpenVINO sees."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from xdsl.dialects.builtin import StringAttr, TensorType
from xdsl.ir import Block, Region, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    irdl_op_definition,
    prop_def,
    region_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.traits import IsolatedFromAbove, IsTerminator, Pure
from xdsl.utils.exceptions import VerifyException


@irdl_op_definition
class FusedYield(IRDLOperation):
    name = "ov.FusedYield"
    values = var_operand_def(TensorType)
    traits = traits_def(IsTerminator(), Pure())
    assembly_format = "($values^ `:` type($values))? attr-dict"

    def __init__(self, values: Sequence[SSAValue]):
        super().__init__(operands=[list(values)])


@irdl_op_definition
class Fused(IRDLOperation):
    """One kernel's worth of ops; `kind` names the anchor ("Convolution", "MatMul", "eltwise")."""

    name = "ov.Fused"
    IR_TYPE: ClassVar[str] = "Fused"
    inputs = var_operand_def(TensorType)
    outputs = var_result_def(TensorType)
    kind = prop_def(StringAttr)
    body = region_def("single_block")
    traits = traits_def(Pure(), IsolatedFromAbove())

    def __init__(self, inputs: Sequence[SSAValue], result_types: Sequence, kind: str, body: Region):
        super().__init__(operands=[list(inputs)], result_types=[list(result_types)],
                         properties={"kind": StringAttr(kind)}, regions=[body])

    @property
    def block(self) -> Block:
        return self.body.block

    def verify_(self) -> None:
        args = self.block.args
        if [a.type for a in args] != [v.type for v in self.inputs]:
            raise VerifyException("Fused: block arguments must match the op's inputs")
        term = self.block.last_op
        if not isinstance(term, FusedYield):
            raise VerifyException("Fused: body must end with ov.FusedYield")
        if [v.type for v in term.values] != [r.type for r in self.outputs]:
            raise VerifyException("Fused: yielded values must match the op's results")




def inline_fused(block: Block) -> None:
    """Replace every Fused op in `block` by the ops of its body (what the IR writer writes)."""
    from xdsl.rewriter import Rewriter

    for op in list(block.ops):
        if not isinstance(op, Fused):
            continue
        inner = op.block
        for arg, v in zip(inner.args, op.inputs):
            arg.replace_all_uses_with(v)
        term = inner.last_op
        for res, v in zip(op.outputs, term.operands):
            res.replace_all_uses_with(v)
        Rewriter.erase_op(term)
        for child in list(inner.ops):
            child.detach()
            block.insert_op_before(child, op)
        Rewriter.erase_op(op)
