"""recognize: find composite patterns that exporters spell out op by op and replace them
with the one op that means the same, which codegen implements in one kernel:

- GELU: x * 0.5 * (1 + erf(x / sqrt(2))) (in any order of the products) -> Gelu(erf);
- layer normalization: (x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps) over trailing axes
  -> MVN(inside_sqrt)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from dialects.ov import Const, OvOp, constant_of, create, shape_of
from passes.common import functions
from passes.dce import dce_block


def _op(v: SSAValue, t: str) -> OvOp | None:
    o = getattr(v, "op", None)
    return o if isinstance(o, OvOp) and o.IR_TYPE == t else None


def _scalar(v: SSAValue) -> float | None:
    c = constant_of(v)
    return float(c.reshape(-1)[0]) if c is not None and c.size == 1 else None


def _other(op: OvOp, v: SSAValue) -> SSAValue:
    return op.inputs[1] if op.inputs[0] is v else op.inputs[0]


def _close(a: float | None, b: float) -> bool:
    """a is b as a float32 constant spells it (a float16 model's rounding is no match: its
    pattern then stays as written, which is what it computes)."""
    return a is not None and abs(a - b) <= 2 ** -22 * abs(b)


def _erf_of_scaled(v: SSAValue) -> SSAValue | None:
    """x, if v = 1 + erf(x / sqrt(2)) (or x * (1/sqrt(2)))."""
    add = _op(v, "Add")
    if add is None:
        return None
    for e, one in ((add.inputs[0], add.inputs[1]), (add.inputs[1], add.inputs[0])):
        erf = _op(e, "Erf")
        if erf is None or not _close(_scalar(one), 1.0):
            continue
        inner = erf.inputs[0]
        div, mul = _op(inner, "Divide"), _op(inner, "Multiply")
        if div is not None and _close(_scalar(div.inputs[1]), math.sqrt(2)):
            return div.inputs[0]
        if mul is not None:
            for i in (0, 1):
                if _close(_scalar(mul.inputs[1 - i]), 1 / math.sqrt(2)):
                    return mul.inputs[i]
    return None


def _match_gelu(op: OvOp) -> SSAValue | None:
    """op = Multiply closing a GELU over x: returns x."""
    if op.IR_TYPE != "Multiply":
        return None
    for i in (0, 1):
        a, b = op.inputs[i], op.inputs[1 - i]
        x = _erf_of_scaled(b)
        if x is None:
            continue
        m = _op(a, "Multiply")  # (x * 0.5) * (1 + erf)
        if m is not None and ((m.inputs[0] is x and _close(_scalar(m.inputs[1]), 0.5))
                              or (m.inputs[1] is x and _close(_scalar(m.inputs[0]), 0.5))):
            return x
        if a is x:  # x * (1 + erf) then * 0.5: matched from the outer Multiply
            continue
    if _scalar(op.inputs[1]) is not None and _close(_scalar(op.inputs[1]), 0.5):  # (x * (1 + erf)) * 0.5
        m = _op(op.inputs[0], "Multiply")
        if m is not None:
            for i in (0, 1):
                x = _erf_of_scaled(m.inputs[1 - i])
                if x is not None and m.inputs[i] is x:
                    return x
    return None


def _match_layer_norm(op: OvOp):
    """op = Divide(d, Sqrt(Add(ReduceMean(d*d or d^2), eps))) with d = x - ReduceMean(x):
    returns (x, axes, eps)."""
    if op.IR_TYPE != "Divide":
        return None
    d, den = op.inputs
    sub = _op(d, "Subtract")
    sqrt = _op(den, "Sqrt")
    if sub is None or sqrt is None:
        return None
    mean = _op(sub.inputs[1], "ReduceMean")
    add = _op(sqrt.inputs[0], "Add")
    if mean is None or add is None or mean.inputs[0] is not sub.inputs[0] or not mean.attr.keep_dims:
        return None
    for i in (0, 1):
        var = _op(add.inputs[i], "ReduceMean")
        eps = _scalar(add.inputs[1 - i])
        if var is None or eps is None:
            continue
        sq = var.inputs[0]
        pw, mul = _op(sq, "Power"), _op(sq, "Multiply")
        ok = (pw is not None and pw.inputs[0] is d and _close(_scalar(pw.inputs[1]), 2.0)) or \
            (mul is not None and mul.inputs[0] is d and mul.inputs[1] is d)
        axes, axes2 = constant_of(mean.inputs[1]), constant_of(var.inputs[1])
        rank = len(shape_of(sub.inputs[0].type))
        if ok and var.attr.keep_dims and axes is not None and axes2 is not None and \
                _axis_set(axes, rank) == _axis_set(axes2, rank) and \
                shape_of(op.outputs[0].type) == shape_of(sub.inputs[0].type):
            return sub.inputs[0], axes, eps
    return None


def _axis_set(axes: np.ndarray, rank: int) -> set[int]:
    return {int(a) % rank for a in np.asarray(axes).reshape(-1)} if rank else set()


def recognize_block(block) -> int:
    n = 0
    for op in list(block.ops):
        if op.parent is not block or not isinstance(op, OvOp):
            continue
        x = _match_gelu(op)
        if x is not None and shape_of(x.type) == shape_of(op.outputs[0].type):
            new = create("Gelu", [x], approximation_mode="erf")
        else:
            ln = _match_layer_norm(op)
            if ln is None:
                continue
            x, axes, eps = ln
            c = Const(np.asarray(axes, np.int64).reshape(-1))
            Rewriter.insert_op(c, InsertPoint.before(op))
            new = create("MVN", [x, c.output], normalize_variance=True, eps=eps, eps_mode="inside_sqrt")
        Rewriter.insert_op(new, InsertPoint.before(op))
        for k in ("ov.name", "ov.tensor_names"):
            if k in op.attributes:
                new.attributes[k] = op.attributes[k]
        op.outputs[0].replace_all_uses_with(new.outputs[0])
        Rewriter.erase_op(op)
        n += 1
    dce_block(block)
    return n


@dataclass(frozen=True)
class Recognize(ModulePass):
    name = "recognize"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for fn in functions(op):
            recognize_block(fn.body.block)
