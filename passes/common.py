"""Helpers shared by the graph passes: walking the model function, re-inferring result types,
replacing values."""

from __future__ import annotations

from collections.abc import Iterator

from xdsl.dialects import func
from xdsl.dialects.builtin import FunctionType, ModuleOp
from xdsl.ir import Block, Operation, SSAValue
from xdsl.rewriter import Rewriter

from dialects.errors import ShapeError
from dialects.ov import OvOp, info_of, tensor_type
from dialects.ov.base import compatible, shape_of


def functions(module: ModuleOp) -> Iterator[func.FuncOp]:
    for op in module.body.block.ops:
        if isinstance(op, func.FuncOp):
            yield op


def main_block(module: ModuleOp) -> Block:
    return next(functions(module)).body.block


def set_type(v: SSAValue, t) -> None:
    """Change the type of a value in place (xDSL keeps it in a private field)."""
    v._type = t  # noqa: SLF001


def refine_types(op: OvOp, reset: bool = False) -> bool:
    """Re-run shape inference on `op` and tighten its result types (or, with `reset`, replace
    them by what inference gives); True if any changed."""
    inferred = op.infer(op.attr, [info_of(v) for v in op.inputs])
    changed = False
    for (shape, dtype), res in zip(inferred, op.outputs):
        old = shape_of(res.type)
        if reset:
            merged = tuple(shape)
        elif not compatible(shape, old):
            raise ShapeError(f"{op.IR_TYPE}: inputs now give {list(shape)} but the result was {list(old)}")
        else:
            merged = tuple(o if s is None else s for s, o in zip(shape, old))
        new = tensor_type(merged, dtype)
        if new != res.type:
            set_type(res, new)
            changed = True
    return changed


def sync_function_type(fn: func.FuncOp) -> None:
    """Make the function type agree with the block arguments and the returned values."""
    ret = fn.body.block.last_op
    outs = [v.type for v in ret.operands] if ret is not None else []
    fn.function_type = FunctionType.from_lists([a.type for a in fn.body.block.args], outs)


def replace_values(op: Operation, new_values: list[SSAValue]) -> None:
    """Replace all uses of op's results and erase it."""
    for old, new in zip(op.results, new_values):
        old.replace_all_uses_with(new)
    Rewriter.erase_op(op)
