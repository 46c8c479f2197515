"""cse: ops of the same kind with the same operands and attributes compute the same value
once (xDSL's common subexpression elimination; every `ov` op is pure)."""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.transforms.common_subexpression_elimination import cse

from passes.common import functions


@dataclass(frozen=True)
class CommonSubexpressionElimination(ModulePass):
    name = "cse"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for fn in functions(op):
            cse(fn.body.block)
