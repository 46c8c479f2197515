"""Value specialization: the model inputs whose values decide shapes (Reshape's target shape,
Range's bounds, ConstantOfShape's shape, TopK's k, Tile's repeats, ...), found by watching
what each op's shape inference reads: an operand whose value (or known elements) shape
inference asks for, and which is not known at compile time, is traced back to the inputs it
is computed from (not through ShapeOf, which reads only a shape). A compiled model then
specializes on those inputs' values, as it does on input shapes: each distinct value gets its
native code, compiled on first use with the value frozen to a constant."""

from __future__ import annotations

from typing import Any

import numpy as np
from xdsl.ir import BlockArgument, SSAValue

FROZEN_MAX = 64  # elements of an input worth specializing on (shape vectors, scalars)


class _Watched:
    """A TensorInfo that records whether shape inference read its value."""

    def __init__(self, info: Any):
        self._info = info
        self.read = False

    def __getattr__(self, name: str) -> Any:
        if name in ("value", "partial", "known"):
            self.read = True
        return getattr(self._info, name)


def value_inputs(model) -> list[int]:
    """Indices of the inputs whose values some op's shape inference needs and does not know."""
    from dialects.ov import OvOp
    from dialects.ov.values import fully_known, info_of

    block = model.function.body.block
    needed: list[SSAValue] = []
    for op in model.function.walk():
        if not isinstance(op, OvOp) or not op.operands:
            continue
        cls = type(op)
        watched = [_Watched(info_of(v)) for v in op.operands]
        try:
            cls.infer(op.attr, watched)
        except Exception:  # noqa: BLE001 - a rule refusing unknown values is as good as a read
            watched = [w for w in watched if w._info.value is None]
            for w in watched:
                w.read = True
        for v, w in zip(op.operands, watched):
            if w.read and fully_known(v) is None:
                needed.append(v)
    found: set[int] = set()
    seen: set[SSAValue] = set()
    while needed:
        v = needed.pop()
        if v in seen:
            continue
        seen.add(v)
        if isinstance(v, BlockArgument):
            if v.block is block:
                found.add(v.index)
            continue
        owner = v.owner
        if getattr(owner, "IR_TYPE", None) == "ShapeOf":
            continue
        needed.extend(owner.operands)
    return sorted(found)


def freeze(model, values: dict[int, np.ndarray]) -> None:
    """Make the inputs `values` names (by index) constants of those values, in place."""
    from xdsl.dialects.builtin import ArrayAttr
    from xdsl.rewriter import InsertPoint, Rewriter

    from dialects.ov import Const
    from passes.common import sync_function_type

    fn = model.function
    block = fn.body.block
    attrs = list(fn.arg_attrs.data) if fn.arg_attrs else None
    for index in sorted(values, reverse=True):
        arg = block.args[index]
        const = Const(np.ascontiguousarray(values[index]))
        Rewriter.insert_op(const, InsertPoint.at_start(block))
        arg.replace_all_uses_with(const.output)
        block.erase_arg(arg)
        if attrs is not None:
            del attrs[index]
    if attrs is not None:
        fn.arg_attrs = ArrayAttr(attrs)
    sync_function_type(fn)
