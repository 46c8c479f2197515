"""infer-shapes: propagate types from the function arguments through every op, so that a
reshaped input or a folded shape subgraph makes the ops after it static."""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from dialects.ov import Fused, OvOp
from passes.common import functions, refine_types, sync_function_type


def infer_block(block, reset: bool = False) -> None:
    for op in block.ops:
        if isinstance(op, OvOp):
            refine_types(op, reset)
        elif isinstance(op, Fused):
            for arg, v in zip(op.block.args, op.inputs):
                arg._type = v.type  # noqa: SLF001
            infer_block(op.block, reset)
            for res, v in zip(op.outputs, op.block.last_op.operands):
                res._type = v.type  # noqa: SLF001


@dataclass(frozen=True)
class InferShapes(ModulePass):
    name = "infer-shapes"
    reset: bool = False  # forget inferred dims first (after a reshape of the inputs)

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for fn in functions(op):
            infer_block(fn.body.block, self.reset)
            sync_function_type(fn)
