"""What is statically known about an SSA value: its type, its constant value, and for small
integer vectors (shapes under computation) the elements that are known.

Partial values let shape inference see through shape subgraphs: `Reshape(x, Concat(Gather(
ShapeOf(x), 0), [12, 64]))` on an `x` of shape [?, 768] gives [?, 12, 64] before any folding.
Ops take part by defining a classmethod `partial(a, ins) -> tuple | None`."""

from __future__ import annotations

import numpy as np
from xdsl.ir import OpResult, SSAValue

from dialects.ov.base import OvOp, TensorInfo, dtype_of, shape_of
from dialects.ov.constant import Const

MAX_PARTIAL = 64  # longest integer vector tracked element-wise


def _small_int_vector(v: SSAValue) -> bool:
    shape = shape_of(v.type)
    return (len(shape) <= 1 and all(d is not None and d <= MAX_PARTIAL for d in shape)
            and dtype_of(v.type).kind in "iub")


def info_of(v: SSAValue) -> TensorInfo:
    info = TensorInfo(shape_of(v.type), dtype_of(v.type))
    if isinstance(v, OpResult):
        owner = v.op
        if isinstance(owner, Const):
            info.value = owner.array
        elif isinstance(owner, OvOp) and _small_int_vector(v):
            rule = getattr(type(owner), "partial", None)
            if rule is not None:
                known = rule(owner.attr, [info_of(x) for x in owner.inputs])
                if known is not None and len(info.shape) == 1 and len(known) == info.shape[0]:
                    info.partial = tuple(known)
                elif known is not None and len(info.shape) == 0 and len(known) == 1:
                    info.partial = tuple(known)
    return info


def constant_of(v: SSAValue) -> np.ndarray | None:
    """The value of `v` if it is the result of an `ov.Const`."""
    return v.op.array if isinstance(v, OpResult) and isinstance(v.op, Const) else None


def fully_known(v: SSAValue) -> np.ndarray | None:
    """The value of `v` if it is constant or a fully known small integer vector."""
    info = info_of(v)
    if info.value is not None:
        return info.value
    if info.partial is not None and all(x is not None for x in info.partial):
        return np.array(info.partial, dtype=info.dtype).reshape(info.shape)
    return None
