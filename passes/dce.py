"""dce: erase ops whose results nobody uses."""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.rewriter import Rewriter
from xdsl.traits import IsTerminator

from passes.common import functions


def dce_block(block) -> int:
    removed = 0
    op = block.last_op
    while op is not None:
        prev = op.prev_op
        if not op.has_trait(IsTerminator) and all(not r.uses for r in op.results):
            Rewriter.erase_op(op)
            removed += 1
        op = prev
    return removed


@dataclass(frozen=True)
class DeadCodeElimination(ModulePass):
    name = "dce"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for fn in functions(op):
            dce_block(fn.body.block)
