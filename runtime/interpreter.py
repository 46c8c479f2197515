"""The reference interpreter: runs an `ov` function with numpy, op by op.

It is the oracle for every pass and every kernel: whatever it computes is what the model means."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.dialects import func
from xdsl.ir import Block, SSAValue

from dialects.errors import OvccError
from dialects.ov import Const, Fused, FusedYield, OvOp, dtype_of, format_shape, shape_of
from dialects.ov.base import compatible
from runtime.reference import REFERENCE


class InterpreterError(OvccError):
    """An op computed something its declared result types contradict, or has no semantics."""


def _last_uses(block: Block) -> dict[SSAValue, object]:
    last: dict[SSAValue, object] = {}
    for op in block.ops:
        for v in op.operands:
            last[v] = op
    return last


def evaluate(op: OvOp, inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
    """Outputs of one `ov` op for numpy inputs (None for an absent optional input)."""
    impl = REFERENCE.get(op.IR_TYPE)
    if impl is None:
        raise InterpreterError(f"{op.IR_TYPE}: no reference semantics")
    outs = impl(op, op.attr, *inputs)
    if len(outs) != len(op.outputs):
        raise InterpreterError(f"{op.IR_TYPE}: computed {len(outs)} outputs, op declares {len(op.outputs)}")
    checked = []
    for i, (v, res) in enumerate(zip(outs, op.outputs)):
        v = np.asarray(v)
        want_dtype = dtype_of(res.type)
        if v.dtype != want_dtype:
            v = v.astype(want_dtype)
        if not compatible(shape_of(res.type), v.shape):
            raise InterpreterError(f"{op.IR_TYPE}: output {i} has shape {list(v.shape)}, op declares "
                                   f"{format_shape(shape_of(res.type))}")
        checked.append(v)
    return checked


def run_block(block: Block, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    env: dict[SSAValue, np.ndarray] = dict(zip(block.args, inputs))
    last = _last_uses(block)
    for op in block.ops:
        if isinstance(op, func.ReturnOp | FusedYield):
            return [env[v] for v in op.operands]
        if isinstance(op, Const):
            outs = [op.array]
        elif isinstance(op, Fused):
            outs = run_block(op.block, [env[v] for v in op.inputs])
        elif isinstance(op, OvOp):
            outs = evaluate(op, [env[v] for v in op.inputs])
        else:
            raise InterpreterError(f"cannot interpret {op.name}")
        env.update(zip(op.results, outs))
        for v in op.operands:
            if last.get(v) is op and v in env:
                del env[v]
    raise InterpreterError("block has no terminator")


def run_function(fn: func.FuncOp, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    return run_block(fn.body.block, inputs)
