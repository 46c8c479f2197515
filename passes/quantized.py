"""Quantized regions: which Convolutions and MatMuls run on integer kernels, and what their
quantizers are. Read by `fuse` (which leaves these quantizers and weight decompressions out of
its groups, so that the kernels see them) and by the lowering (which folds them).

A weighted op runs in int8 when
- its weights are a decompression of integer constants: `Multiply(Convert(Const int8), scale)`
  (optionally with a `Subtract` of an all-zero zero point), the scale varying only along the
  output channels — what NNCF writes in OpenVINO IR, what ONNX's DequantizeLinear of a constant
  and TFLite's int8 weights convert to; and
- its activation input comes from a per-tensor quantizer that only it uses: a `FakeQuantize`
  (OpenVINO's form) or a QuantizeLinear/DequantizeLinear pair (ONNX's QDQ form), whose grid
  holds 0.0 exactly (so padding and ReLU zeros stay exact).
The kernel then packs the quantizer's integer levels (u8) instead of running the quantizer,
multiplies them with the int8 weights accumulating exactly in int32, and turns the sums into
values in its epilogue: y = d * s_c * (acc - z * sum_k w_kc), d the level step, z the level of
0.0, s_c the weights' scale. Weight decompressions are folded at compile time either way (into
integers and scales for the int8 kernels, into f32 constants otherwise), so no inference ever
dequantizes weights."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from xdsl.ir import SSAValue
from xdsl.rewriter import InsertPoint, Rewriter

from dialects.ov import Fused, OvOp, constant_of, dtype_of, shape_of

ANCHORS = ("Convolution", "GroupConvolution", "MatMul")


@dataclass(frozen=True)
class ActQuant:
    """A per-tensor activation quantizer folded into a GEMM's packing: the level of x is
    `round((x - lo) / (hi - lo) * n)` clamped to [0, n] (FakeQuantize's rule, form "fq"),
    `clamp(round(x / lo) + hi, 0, n)` with lo the scale and hi the zero point shifted to u8
    (QuantizeLinear's rule, form "qdq"), or x + lo for x already integer (form "int", x the
    f32 conversion of an integer tensor), or x itself (form "lvl": a kernel's copy of x that
    holds the levels already); a level k stands for d * (k - z)."""

    x: SSAValue
    form: str  # "fq" | "qdq" | "int" | "lvl"
    lo: float
    hi: float
    n: int
    d: float
    z: int
    nan: int = 0  # the level a NaN input gets

    def pad(self) -> float | None:
        """The value of x that a convolution's zero padding stands for (its level must be z, the
        level of 0.0 after dequantization): x = z - lo for integers made float (their zero
        point), 0.0 for the other forms where 0.0 quantizes to z; None if nothing does."""
        if self.form == "int":
            return float(self.z) - self.lo
        return 0.0 if self.level_of_zero() == self.z else None

    def as_levels(self) -> ActQuant:
        """This quantizer for a copy of x that holds its levels already (form "lvl")."""
        return ActQuant(self.x, "lvl", 0.0, 0.0, self.n, self.d, self.z, self.nan)

    def level_of_zero(self) -> int:
        x = np.float32(0.0)
        if self.form == "int":
            return int(self.lo)
        if self.form == "fq":
            v = np.float32(np.float32(x - np.float32(self.lo)) / np.float32(np.float32(self.hi) - np.float32(self.lo)))
            k = np.round(np.float32(v * np.float32(self.n)))
        else:
            k = np.round(np.float32(x / np.float32(self.lo))) + self.hi
        return int(np.clip(k, 0, self.n))


@dataclass(frozen=True)
class WeightQuant:
    q: np.ndarray  # int8 values, the weights' shape
    scale: np.ndarray  # f32, broadcastable to the weights' shape, varying along output channels only


@dataclass
class Quantized:
    """What the analysis found: weights folded at compile time (f32 values, and the integers
    where they are int8 decompressions), activation quantizers taken over by int8 kernels, and
    the ops that need no step of their own."""

    weights: dict[SSAValue, tuple[np.ndarray, WeightQuant | None]]
    acts: dict[int, ActQuant]  # id(anchor op) -> its activation quantizer
    skip: set[int]  # id() of ops folded into others
    keep: set[int]  # id() of ops that must stay ungrouped for the analysis to see them (skip and more)
    # quantizers taken over by int8 kernels that other ops read too: (its output, its ops, the
    # (id(op), operand index) uses the kernels take over)
    shared: list[tuple[SSAValue, list[OvOp], set[tuple[int, int]]]] = field(default_factory=list)
    # values that only int8 kernels read, all through quantizers of one grid: their producer may
    # store the levels (u8) instead of the values (`LowerCtx.hold_levels`)
    levels: dict[SSAValue, ActQuant] = field(default_factory=dict)


def _op(v: SSAValue, *types: str) -> OvOp | None:
    o = getattr(v, "op", None)
    return o if isinstance(o, OvOp) and not isinstance(o, Fused) and (not types or o.IR_TYPE in types) else None


def _value(v: SSAValue) -> np.ndarray | None:
    """A constant, or a Convert of one (zero points of integer type stay as such Converts)."""
    c = constant_of(v)
    if c is not None:
        return c
    conv = _op(v, "Convert")
    if conv is not None and constant_of(conv.inputs[0]) is not None:
        return constant_of(conv.inputs[0]).astype(dtype_of(conv.outputs[0].type))
    return None


def _single_use(v: SSAValue) -> bool:
    return len(list(v.uses)) == 1


def _scalar(v: SSAValue) -> float | None:
    c = _value(v)
    return float(np.asarray(c).reshape(-1)[0]) if c is not None and np.asarray(c).size == 1 else None


def _weight_chain(w: SSAValue) -> tuple[list[OvOp], np.ndarray, WeightQuant | None] | None:
    """(ops, f32 weights, int8 form or None) of a constant weight decompression (the Multiply
    by a scale may be missing: QOperator-style integer weights)."""
    mul = _op(w, "Multiply")
    if mul is None:
        tries = [([], np.ones((), np.float32), w)]
    else:
        tries = [([mul], _value(mul.inputs[1 - i]), mul.inputs[i]) for i in (0, 1)]
    for top, scale, src in tries:
        if scale is None:
            continue
        ops, zero = list(top), None
        sub = _op(src, "Subtract")
        if sub is not None and _value(sub.inputs[1]) is not None and _single_use(src):
            zero = _value(sub.inputs[1])
            ops.append(sub)
            src = sub.inputs[0]
        conv = _op(src, "Convert")
        if conv is None or (ops and not _single_use(src)) or dtype_of(conv.outputs[0].type) != np.float32:
            continue
        q = constant_of(conv.inputs[0])
        if q is None or q.dtype.kind not in "iu":
            continue
        ops.append(conv)
        # the f32 values exactly as the ops compute them (Convert, Subtract, Multiply in f32)
        vals = q.astype(np.float32)
        if zero is not None:
            vals = (vals - zero.astype(np.float32)).astype(np.float32)
        vals = (vals * scale.astype(np.float32)).astype(np.float32)
        if vals.shape != tuple(shape_of(w.type)):
            return None
        wq = None
        if q.dtype == np.int8 and (zero is None or not np.any(zero)):
            wq = WeightQuant(q, scale.astype(np.float32))
        return ops, vals, wq
    return None


def _fq_quantizer(v: SSAValue) -> tuple[list[OvOp], ActQuant] | None:
    fq = _op(v, "FakeQuantize")
    if fq is None:
        return None
    il, ih, ol, oh = (_scalar(x) for x in fq.inputs[1:])
    n = fq.attr.levels - 1
    if None in (il, ih, ol, oh) or not il < ih or not ol < oh or not 1 <= n <= 255:
        return None
    d = (oh - ol) / n
    z = -ol / d
    if abs(z - round(z)) > 1e-3 or not 0 <= round(z) <= n:
        return None
    return [fq], ActQuant(fq.inputs[0], "fq", il, ih, n, d, int(round(z)))


def _qdq_quantizer(v: SSAValue) -> tuple[list[OvOp], ActQuant] | None:
    """Multiply(Subtract(Convert(Convert(Clamp(Add(Round(Divide(x, s)), zp)))), zp'), s')."""
    mul = _op(v, "Multiply")
    if mul is None or _scalar(mul.inputs[1]) is None:
        return None
    d = _scalar(mul.inputs[1])
    ops, src, zd = [mul], mul.inputs[0], 0.0
    sub = _op(src, "Subtract")
    if sub is not None:
        if _scalar(sub.inputs[1]) is None or not _single_use(src):
            return None
        zd, src = _scalar(sub.inputs[1]), sub.inputs[0]
        ops.append(sub)
    to_f = _op(src, "Convert")
    to_i = _op(to_f.inputs[0], "Convert") if to_f is not None and _single_use(src) else None
    if to_i is None or not _single_use(to_f.inputs[0]):
        return None
    idt = dtype_of(to_i.outputs[0].type)
    if idt not in (np.dtype(np.uint8), np.dtype(np.int8)):
        return None
    clamp = _op(to_i.inputs[0], "Clamp")
    if clamp is None or not _single_use(to_i.inputs[0]):
        return None
    info = np.iinfo(idt)
    if clamp.attr.min != info.min or clamp.attr.max != info.max:
        return None
    src, zq = clamp.inputs[0], 0.0
    add = _op(src, "Add")
    if add is not None:
        if _scalar(add.inputs[1]) is None or not _single_use(src):
            return None
        zq, src = _scalar(add.inputs[1]), add.inputs[0]
    rnd = _op(src, "Round")
    if rnd is None or rnd.attr.mode != "half_to_even" or not _single_use(src):
        return None
    div = _op(rnd.inputs[0], "Divide")
    if div is None or _scalar(div.inputs[1]) is None or not _single_use(rnd.inputs[0]):
        return None
    if dtype_of(div.inputs[0].type) != np.float32 or zq != round(zq) or zd != round(zd):
        return None
    ops += [to_f, to_i, clamp] + ([add] if add is not None else []) + [rnd, div]
    shift = -int(info.min)  # int8 levels as u8
    return ops, ActQuant(div.inputs[0], "qdq", _scalar(div.inputs[1]), zq + shift, int(info.max) + shift, d,
                         int(zd) + shift, shift)


def channel_scale(anchor: OvOp, w: SSAValue, wq: WeightQuant) -> np.ndarray | None:
    """The weights' scale as one value per output channel ([Cout], or [N] for MatMul), if it
    varies along the output channels only."""
    wshape = tuple(shape_of(w.type))
    s = np.broadcast_to(wq.scale, wshape) if wq.scale.ndim <= len(wshape) else None
    if s is None:
        return None
    if anchor.IR_TYPE == "MatMul":
        axis = len(wshape) - (2 if anchor.attr.transpose_b else 1)
        if len(wshape) != 2:
            return None
        vec = np.moveaxis(s, axis, 0).reshape(wshape[axis], -1)
    elif anchor.IR_TYPE == "GroupConvolution":
        vec = s.reshape(wshape[0] * wshape[1], -1)
    else:
        vec = s.reshape(wshape[0], -1)
    if not np.all(vec == vec[:, :1]):
        return None
    return np.ascontiguousarray(vec[:, 0], dtype=np.float32)


def _int_quantizer(v: SSAValue) -> tuple[list[OvOp], ActQuant] | None:
    """An integer activation tensor made float: Subtract(Convert(x_u8 or x_i8), zp) (ONNX's
    QOperator ops); its values are the levels (int8 shifted to u8), the level step is 1."""
    ops, src, zp = [], v, 0.0
    sub = _op(src, "Subtract")
    if sub is not None:
        if _scalar(sub.inputs[1]) is None or not _single_use(src):
            return None
        zp, src = _scalar(sub.inputs[1]), sub.inputs[0]
        ops.append(sub)
    conv = _op(src, "Convert")
    if conv is None or dtype_of(conv.outputs[0].type) != np.float32 or zp != round(zp):
        return None
    idt = dtype_of(conv.inputs[0].type)
    if idt not in (np.dtype(np.uint8), np.dtype(np.int8)):
        return None
    shift = -int(np.iinfo(idt).min)
    return ops, ActQuant(src, "int", float(shift), 0.0, 255, 1.0, int(zp) + shift, shift)


def _anchor_inputs(op) -> tuple[OvOp, list[SSAValue]] | None:
    """A weighted op and its operands as values of the function (through a Fused group)."""
    if isinstance(op, Fused):
        inner = [o for o in op.block.ops if isinstance(o, OvOp)]
        if not inner or inner[0].IR_TYPE not in ANCHORS:
            return None
        outer = dict(zip(op.block.args, op.inputs))
        return inner[0], [outer.get(a) for a in inner[0].inputs]
    if isinstance(op, OvOp) and op.IR_TYPE in ANCHORS:
        return op, list(op.inputs)
    return None


def _activation_use(op, x: SSAValue) -> int:
    """The operand index through which op (an anchor, or a Fused group anchored on one) feeds x
    to the anchor's activation input only (-1 if the group's epilogue reads it too)."""
    if isinstance(op, Fused):
        inner = next(o for o in op.block.ops if isinstance(o, OvOp))
        arg = inner.inputs[0]
        if len(list(arg.uses)) != 1:
            return -1
        return next(i for i, (a, v) in enumerate(zip(op.block.args, op.inputs)) if a is arg and v is x)
    return 0


def _weight_use(use) -> bool:
    """Whether a use of a value is as the weights of a weighted op (or of its Fused group)."""
    found = _anchor_inputs(use.operation)
    if found is None:
        return False
    if isinstance(use.operation, Fused):
        inner = found[0]
        arg = use.operation.block.args[use.index]
        return [a is arg for a in inner.inputs][1:2] == [True] and len(list(arg.uses)) == 1
    return use.index == 1


def reserved(block) -> set[int]:
    """id() of the ops of every weight decompression and activation quantizer that a weighted
    op may take over: `fuse` keeps them out of its groups."""
    return analyze(block, True).keep


def analyze(block, int8: bool | str) -> Quantized:
    """Find the weight decompressions and, where `int8` kernels exist for this CPU (True, or
    the family's name), the quantized Convolutions/MatMuls of a function's block. AVX2's
    kernels leave 1x1 convolutions to the f32 kernels: measured no faster there (short K, the
    f32 kernels read the input in place while int8 packs levels)."""
    out = Quantized({}, {}, set(), set())
    # quantizer output -> (its ops, the (op, operand index) uses the int8 kernels take over)
    claims: dict[SSAValue, tuple[list[OvOp], set[tuple[int, int]]]] = {}
    for op in block.ops:
        found = _anchor_inputs(op)
        if found is None:
            continue
        anchor, (x, w) = found
        if x is None or w is None:
            continue
        if w not in out.weights:  # a decompression shared by several weighted ops serves them all
            chain = _weight_chain(w)
            if chain is None or not all(_weight_use(u) for u in w.uses):
                continue
            ops, vals, wq = chain
            out.weights[w] = (vals, wq)
            out.skip.update(id(o) for o in ops)
        vals, wq = out.weights[w]
        if not int8 or wq is None or dtype_of(x.type) != np.float32:
            continue
        if anchor.IR_TYPE == "GroupConvolution" and shape_of(w.type)[1] == 1 and shape_of(w.type)[2] == 1:
            continue  # depthwise: the vector units run it
        if int8 == "avx2" and anchor.IR_TYPE != "MatMul" and all(d == 1 for d in shape_of(w.type)[-2:]):
            continue
        if anchor.IR_TYPE == "MatMul" and (anchor.attr.transpose_a or len(shape_of(x.type)) < 2):
            continue
        if anchor.IR_TYPE != "MatMul" and len(shape_of(x.type)) not in (3, 4):
            continue
        if channel_scale(anchor, w, wq) is None:
            continue
        q = _fq_quantizer(x) or _qdq_quantizer(x) or _int_quantizer(x)
        if q is None:
            continue
        qops, act = q
        if any(p != 0 for p in getattr(anchor.attr, "pads_begin", ())) or \
                any(p != 0 for p in getattr(anchor.attr, "pads_end", ())) or \
                getattr(anchor.attr, "auto_pad", "explicit") in ("same_upper", "same_lower"):
            if act.pad() is None:  # the padding must land on the level of 0.0
                continue
        out.acts[id(anchor)] = act
        claims.setdefault(x, (qops, set()))[1].add((id(op), _activation_use(op, x)))
        out.keep.update(id(o) for o in qops)
        if act.form == "int":  # the Convert that makes the integers float stays, ungrouped
            out.keep.add(id(act.x.op))
    readers: dict[SSAValue, list[tuple[OvOp, ActQuant]]] = {}  # quantizer input -> its skipped quantizers
    for x, (qops, users) in claims.items():  # a quantizer every user takes over needs no step
        if all((id(u.operation), u.index) in users for u in x.uses):
            out.skip.update(id(o) for o in qops)
            act = next(out.acts[id(_anchor_inputs(u.operation)[0])] for u in x.uses)
            if act.form in ("fq", "qdq"):
                readers.setdefault(act.x, []).append((qops[-1], act))
        else:
            out.shared.append((x, qops, users))
    for v, qs in readers.items():
        acts = {(a.form, a.lo, a.hi, a.n, a.d, a.z, a.nan) for _, a in qs}
        if len(acts) == 1 and {id(u.operation) for u in v.uses} == {id(q) for q, _ in qs} and \
                all(u.index == 0 for u in v.uses):
            out.levels[v] = qs[0][1]
    out.keep |= out.skip
    return out


def unshare_quantizers(block) -> int:
    """A quantizer that int8 kernels take over and other ops also read (ONNX Runtime's QDQ
    models share one Q/DQ pair between a residual Add and the next convolution) would run as
    one step per op, since `fuse` keeps its ops ungrouped for the kernels to see: the other
    readers get a copy of it, which `fuse` groups into one kernel, and the original then needs
    no step at all. Returns how many were copied."""
    n = 0
    for x, qops, users in analyze(block, True).shared:
        if not all(isinstance(o, OvOp) and o.parent is block for o in qops):
            continue
        others = [u for u in list(x.uses) if (id(u.operation), u.index) not in users]
        mapping: dict[SSAValue, SSAValue] = {}
        at = qops[0]  # the chain's last op (the ops are listed from the output back)
        for o in reversed(qops):
            c = o.clone(value_mapper=mapping)
            Rewriter.insert_op(c, InsertPoint.after(at))
            at = c
        copy = mapping[x]
        for u in others:
            u.operation.operands[u.index] = copy
        n += 1
    return n


__all__ = ["ActQuant", "Quantized", "WeightQuant", "analyze"]
