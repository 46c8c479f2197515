"""cse: ops of the same kind with the same operands and properties compute the same value once
(every `ov` op is pure). Layer and tensor names (`ov.*` attributes) do not make ops different;
the surviving op keeps its own names."""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block
from xdsl.passes import ModulePass
from xdsl.rewriter import Rewriter

from dialects.ov import Const, OvOp
from passes.common import functions
from passes.dce import dce_block


def _key(op) -> tuple | None:
    if isinstance(op, Const):
        return ("Const", op.output.type, op.value.data)
    if isinstance(op, OvOp):
        props = tuple(sorted(op.properties.items()))
        return (op.name, tuple(op.operands), props, tuple(r.type for r in op.results))
    return None


def cse_block(block: Block) -> int:
    seen: dict[tuple, object] = {}
    removed = 0
    for op in list(block.ops):
        key = _key(op)
        if key is None:
            continue
        first = seen.get(key)
        if first is None:
            seen[key] = op
            continue
        for old, new in zip(op.results, first.results):
            old.replace_all_uses_with(new)
        Rewriter.erase_op(op)
        removed += 1
    return removed


@dataclass(frozen=True)
class CommonSubexpressionElimination(ModulePass):
    name = "cse"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for fn in functions(op):
            while cse_block(fn.body.block):  # merging two ops can make their users equal
                pass
            dce_block(fn.body.block)
