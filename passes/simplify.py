"""simplify: algebraic clean-ups that keep values bit-identical.

- identity ops go: x*1, x+0, x-0, x/1, x**1 (when the constant does not broadcast x to a larger
  shape), Reshape/Squeeze/Unsqueeze to the same shape, Transpose by the identity order,
  Convert to the same type, Concat of one input; x**2 becomes x*x;
- Reshape/Squeeze/Unsqueeze chains collapse into one Reshape; Transpose chains compose into
  one Transpose (and vanish when they cancel);
- transpose sinking: a Transpose feeding a chain of element-wise ops (whose other operands are
  constants or Transposes by the same order) moves below them, so that pairs of Transposes
  meet and cancel (TensorFlow's NHWC models convert with a Transpose around every NCHW op);
  Reduce*, Pad, Concat, Interpolate, Slice and plain StridedSlice pass Transposes through too (axes,
  pads and slice bounds mapped through the order)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from dialects.ov import Const, OvOp, constant_of, create, dtype_of, shape_of
from dialects.ov.movement import Transpose
from dialects.ov.values import info_of
from passes.common import functions
from passes.dce import dce_block
from passes.ov_to_loops.scalar import SCALAR

RESHAPES = ("Reshape", "Squeeze", "Unsqueeze")
NEUTRAL = {"Multiply": 1, "Add": 0, "Subtract": 0, "Divide": 1, "Power": 1}


def _insert(op, before):
    Rewriter.insert_op(op, InsertPoint.before(before))
    return op


def _replace(op: OvOp, value: SSAValue) -> None:
    """Uses of op's (single) result now use `value`; the result's names move along."""
    owner = getattr(value, "op", None)
    if owner is not None and "ov.tensor_names" in op.attributes and len(owner.results) == 1:
        owner.attributes["ov.tensor_names"] = op.attributes["ov.tensor_names"]
    op.outputs[0].replace_all_uses_with(value)
    Rewriter.erase_op(op)


def _perm(op: OvOp) -> tuple[int, ...] | None:
    return Transpose.order(len(shape_of(op.inputs[0].type)), [info_of(v) for v in op.inputs])


def _transpose(value: SSAValue, perm, before) -> SSAValue:
    c = _insert(Const(np.array(perm, np.int64)), before)
    return _insert(create("Transpose", [value, c.output]), before).outputs[0]


def _identity(op: OvOp) -> SSAValue | None:
    """The value op merely passes on, if it does nothing."""
    t = op.IR_TYPE
    same_type = op.outputs[0].type == op.inputs[0].type
    if t in NEUTRAL and same_type:
        k = constant_of(op.inputs[1])
        if k is not None and k.size and np.all(k == NEUTRAL[t]):
            return op.inputs[0]
    if t in ("Multiply", "Add") and op.outputs[0].type == op.inputs[1].type:
        k = constant_of(op.inputs[0])
        if k is not None and k.size and np.all(k == NEUTRAL[t]):
            return op.inputs[1]
    if t in RESHAPES + ("Convert", "Broadcast", "Tile") and same_type:
        return op.inputs[0]
    if t == "Transpose" and (p := _perm(op)) is not None and list(p) == sorted(p):
        return op.inputs[0]
    if t == "Concat" and len(op.inputs) == 1:
        return op.inputs[0]
    return None


def _merge(op: OvOp) -> bool:
    """Fold op into its producer of the same kind."""
    src = op.inputs[0]
    prod = getattr(src, "op", None)
    if not isinstance(prod, OvOp):
        return False
    if op.IR_TYPE == "Transpose" and prod.IR_TYPE == "Transpose":
        # composed even when the inner Transpose has other users: it stays for them, and
        # the composition is usually the identity (NHWC -> NCHW -> NHWC)
        p1, p2 = _perm(prod), _perm(op)
        if p1 is None or p2 is None:
            return False
        _replace(op, _transpose(prod.inputs[0], [p1[i] for i in p2], op))
        return True
    if len(list(src.uses)) != 1:
        return False
    if op.IR_TYPE in RESHAPES and prod.IR_TYPE in RESHAPES:
        target = _reshape_target(op)
        if target is None:
            return False
        new = _insert(create("Reshape", [prod.inputs[0], _insert(Const(target), op).output], special_zero=False), op)
        _replace(op, new.outputs[0])
        Rewriter.erase_op(prod)
        return True
    return False


def _reshape_target(op: OvOp) -> np.ndarray | None:
    """A Reshape pattern that gives op's result from any tensor of the same element count: the
    static result shape, or (with dynamic dims) op's own pattern if it refers to no input dim
    (no 0 under special_zero) and has at most one -1."""
    shape = shape_of(op.outputs[0].type)
    if all(d is not None for d in shape):
        return np.array(shape, np.int64)
    if op.IR_TYPE != "Reshape":
        return None
    pattern = constant_of(op.inputs[1])
    if pattern is None:
        return None
    pattern = np.asarray(pattern, np.int64).reshape(-1)
    if (op.attr.special_zero and np.any(pattern == 0)) or np.sum(pattern == -1) > 1:
        return None
    return pattern


def _power_of_two(op: OvOp) -> bool:
    """Power(x, 2) -> x * x, which is what powf computes for that exponent, exactly."""
    if op.IR_TYPE != "Power" or dtype_of(op.inputs[0].type).kind != "f" or op.outputs[0].type != op.inputs[0].type:
        return False
    k = constant_of(op.inputs[1])
    if k is None or not k.size or not np.all(k == 2):
        return False
    _replace(op, _named(_insert(create("Multiply", [op.inputs[0], op.inputs[0]]), op), op).outputs[0])
    return True


def _sink_transpose(op: OvOp) -> bool:
    """Elementwise(Transpose(x, p), c) -> Transpose(Elementwise(x, c'), p). Not into a
    quantizer (Divide feeding Round: its zero point is a decompressed constant, so the Transpose
    would stop in the middle of it, and the int8 kernels would no longer see Q(x))."""
    if op.IR_TYPE not in SCALAR or len(op.outputs) != 1 or _quantizer_head(op):
        return False
    out_rank = len(shape_of(op.outputs[0].type))
    perm = None
    for v in op.inputs:
        prod = getattr(v, "op", None)
        if isinstance(prod, OvOp) and prod.IR_TYPE == "Transpose" and len(list(v.uses)) == 1:
            perm = _perm(prod)
            break
    if perm is None or len(perm) != out_rank:
        return False
    inv = [perm.index(i) for i in range(len(perm))]
    new_inputs = []
    for v in op.inputs:
        prod = getattr(v, "op", None)
        if isinstance(prod, OvOp) and prod.IR_TYPE == "Transpose" and _perm(prod) == perm:
            new_inputs.append(prod.inputs[0])
            continue
        k = constant_of(v)
        if k is None:
            return False
        k = k.reshape((1,) * (out_rank - k.ndim) + k.shape)  # align, then undo the permutation
        new_inputs.append(_insert(Const(np.require(k.transpose(inv), requirements="C")), op).output)
    try:
        inner = _insert(create(op.IR_TYPE, new_inputs, **{n: getattr(op.attr, n) for n in op.ATTRS}), op)
    except Exception:  # noqa: BLE001 - a shape that does not work in the other layout: leave it
        return False
    if "ov.name" in op.attributes:
        inner.attributes["ov.name"] = op.attributes["ov.name"]
    _replace(op, _transpose(inner.outputs[0], perm, op))
    return True


def _quantizer_head(op: OvOp) -> bool:
    """The Divide of a QuantizeLinear: x / scale with one user, a Round."""
    if op.IR_TYPE != "Divide" or constant_of(op.inputs[1]) is None or len(list(op.outputs[0].uses)) != 1:
        return False
    user = next(iter(op.outputs[0].uses)).operation
    return isinstance(user, OvOp) and user.IR_TYPE == "Round"


def _named(new: OvOp, old: OvOp) -> OvOp:
    if "ov.name" in old.attributes:
        new.attributes["ov.name"] = old.attributes["ov.name"]
    return new


def _sole_transpose(v: SSAValue):
    prod = getattr(v, "op", None)
    if isinstance(prod, OvOp) and prod.IR_TYPE == "Transpose" and len(list(v.uses)) == 1:
        return prod
    return None


def _sink_through(op: OvOp) -> bool:
    """Reduce/Pad/Concat of Transposed data -> the same op on the data (axes and pads mapped
    through the order), Transposed after."""
    t = op.IR_TYPE
    if t.startswith("Reduce"):
        tr = _sole_transpose(op.inputs[0])
        axes = constant_of(op.inputs[1])
        if tr is None or axes is None or (perm := _perm(tr)) is None:
            return False
        r = len(perm)
        axes = sorted({int(a) % r for a in np.asarray(axes).reshape(-1)})
        mapped = np.array(sorted(perm[a] for a in axes), np.int64)
        inner = _named(_insert(create(t, [tr.inputs[0], _insert(Const(mapped), op).output],
                                      keep_dims=op.attr.keep_dims), op), op)
        if op.attr.keep_dims:
            _replace(op, _transpose(inner.outputs[0], perm, op))
            return True
        kept = [perm[i] for i in range(r) if i not in axes]  # source axes, in output order
        order = [sorted(kept).index(k) for k in kept]
        _replace(op, _transpose(inner.outputs[0], order, op) if order != sorted(order) else inner.outputs[0])
        return True
    if t == "Pad":
        tr = _sole_transpose(op.inputs[0])
        pb, pe = constant_of(op.inputs[1]), constant_of(op.inputs[2])
        if tr is None or pb is None or pe is None or (perm := _perm(tr)) is None:
            return False
        inv = [perm.index(i) for i in range(len(perm))]
        new_pads = [_insert(Const(np.ascontiguousarray(np.asarray(v)[inv])), op).output for v in (pb, pe)]
        inner = _named(_insert(create("Pad", [tr.inputs[0], *new_pads, *op.inputs[3:]], pad_mode=op.attr.pad_mode),
                               op), op)
        _replace(op, _transpose(inner.outputs[0], perm, op))
        return True
    if t == "Interpolate" and len(op.inputs) == 3:
        tr = _sole_transpose(op.inputs[0])
        axes = constant_of(op.inputs[2])
        if tr is None or axes is None or (perm := _perm(tr)) is None:
            return False
        r = len(perm)
        inv = [perm.index(i) for i in range(r)]
        attrs = {n: getattr(op.attr, n) for n in op.ATTRS}
        for k in ("pads_begin", "pads_end"):
            if attrs[k]:
                attrs[k] = [attrs[k][inv[i]] for i in range(r)]
        mapped = np.array([perm[int(a) % r] for a in np.asarray(axes).reshape(-1)], np.int64)
        inner = _named(_insert(create(t, [tr.inputs[0], op.inputs[1], _insert(Const(mapped), op).output], **attrs),
                               op), op)
        _replace(op, _transpose(inner.outputs[0], perm, op))
        return True
    if t == "StridedSlice" and len(op.inputs) == 4:
        tr = _sole_transpose(op.inputs[0])
        if tr is None or (perm := _perm(tr)) is None:
            return False
        r = len(perm)
        vals = [constant_of(v) for v in op.inputs[1:]]
        masks = {n: list(getattr(op.attr, n)) for n in op.ATTRS}
        if any(v is None or v.size != r for v in vals) or any(
                any(masks[n]) for n in ("new_axis_mask", "shrink_axis_mask", "ellipsis_mask")):
            return False
        inv = [perm.index(i) for i in range(r)]
        new_vals = [_insert(Const(np.ascontiguousarray(np.asarray(v)[inv])), op).output for v in vals]
        for n in ("begin_mask", "end_mask"):
            m = masks[n] + [0] * (r - len(masks[n]))
            masks[n] = [m[inv[i]] for i in range(r)]
        inner = _named(_insert(create(t, [tr.inputs[0], *new_vals], **masks), op), op)
        _replace(op, _transpose(inner.outputs[0], perm, op))
        return True
    if t == "Slice":
        tr = _sole_transpose(op.inputs[0])
        if tr is None or (perm := _perm(tr)) is None:
            return False
        r = len(perm)
        n = shape_of(op.inputs[1].type)[0]
        axes = constant_of(op.inputs[4]) if len(op.inputs) > 4 else np.arange(n if n is not None else -1)
        if axes is None or n is None:
            return False
        mapped = np.array([perm[int(a) % r] for a in np.asarray(axes).reshape(-1)], np.int64)
        inner = _named(_insert(create(t, [tr.inputs[0], *op.inputs[1:4], _insert(Const(mapped), op).output]), op),
                       op)
        _replace(op, _transpose(inner.outputs[0], perm, op))
        return True
    if t == "Concat":
        perms = []
        for v in op.inputs:
            prod = getattr(v, "op", None)
            if isinstance(prod, OvOp) and prod.IR_TYPE == "Transpose":
                perms.append(_perm(prod))
        if not perms or perms[0] is None or any(p != perms[0] for p in perms) or not any(
                _sole_transpose(v) for v in op.inputs):
            return False
        perm = perms[0]
        inv = [perm.index(i) for i in range(len(perm))]
        parts = []
        for v in op.inputs:
            prod = getattr(v, "op", None)
            if isinstance(prod, OvOp) and prod.IR_TYPE == "Transpose":
                parts.append(prod.inputs[0])
                continue
            k = constant_of(v)
            if k is None:
                return False
            parts.append(_insert(Const(np.ascontiguousarray(k.transpose(inv))), op).output)
        axis = perm[op.attr.axis % len(perm)]
        inner = _named(_insert(create("Concat", parts, axis=axis), op), op)
        _replace(op, _transpose(inner.outputs[0], perm, op))
        return True
    return False


def simplify_block(block: Block) -> int:
    changed, total = True, 0
    while changed:
        changed = False
        for op in list(block.ops):
            if op.parent is not block or not isinstance(op, OvOp):
                continue
            ident = _identity(op) if len(op.outputs) == 1 else None
            if ident is not None and dtype_of(ident.type) == dtype_of(op.outputs[0].type):
                _replace(op, ident)
                changed = True
            elif _merge(op) or _power_of_two(op) or _sink_transpose(op) or _sink_through(op):
                changed = True
            total += changed
        dce_block(block)
    return total


@dataclass(frozen=True)
class Simplify(ModulePass):
    name = "simplify"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for fn in functions(op):
            simplify_block(fn.body.block)
