"""The scalar formula of every element-wise `ov` op, one table: op type -> how to compute one
element from its inputs' elements. Kernels evaluate these inside loops that LLVM vectorizes;
transcendental math ops become vectorizable polynomials in the LLVM emitter."""

from __future__ import annotations

import math as pymath
from collections.abc import Callable

import numpy as np
from xdsl.dialects import arith, math
from xdsl.dialects.builtin import VectorType

from dialects.loops import RemFOp
from passes.ov_to_loops.kb import KB, reg_type

Formula = Callable[..., object]  # (kb, attr, in_dtypes, out_dtype, *values) -> value


def is_float(dt: np.dtype) -> bool:
    return np.dtype(dt).kind == "f"


def is_unsigned(dt: np.dtype) -> bool:
    return np.dtype(dt).kind in "ub"


def _f(kb: KB, v, dt):
    return kb.const(v, dt)


def _binop(fop, iop, uop=None):
    def emit(kb, attr, dts, odt, a, b):
        if is_float(dts[0]):
            return kb.emit(fop(a, b))
        return kb.emit((uop if uop is not None and is_unsigned(dts[0]) else iop)(a, b))
    return emit


def _max(kb, attr, dts, odt, a, b):
    if is_float(dts[0]):
        return kb.fmax(a, b)
    return kb.emit((arith.MaxUIOp if is_unsigned(dts[0]) else arith.MaxSIOp)(a, b))


def _min(kb, attr, dts, odt, a, b):
    if is_float(dts[0]):
        return kb.fmin(a, b)
    return kb.emit((arith.MinUIOp if is_unsigned(dts[0]) else arith.MinSIOp)(a, b))


def _nonzero_divisor(kb, dt, b):
    return kb.select(kb.emit(arith.CmpiOp(b, _f(kb, 0, dt), "eq")), _f(kb, 1, dt), b)


def _divide(kb, attr, dts, odt, a, b):
    dt = dts[0]
    if is_float(dt):  # a true division: a reciprocal's rounding can flip a later Round (quantizers)
        return kb.emit(arith.DivfOp(a, b))
    b = _nonzero_divisor(kb, dt, b)
    if is_unsigned(dt):
        return kb.emit(arith.DivUIOp(a, b))
    return kb.emit((arith.FloorDivSIOp if attr.m_pythondiv else arith.DivSIOp)(a, b))


def _fmod_float(kb, a, b, dt):
    """C fmod, exactly (LLVM's frem): the remainder of the division truncated toward zero."""
    return kb.emit(RemFOp(a, b))


def _floor_mod(kb, attr, dts, odt, a, b):
    dt = dts[0]
    if is_float(dt):  # numpy's mod: the sign of the divisor
        r = _fmod_float(kb, a, b, dt)
        zero = _f(kb, 0.0, dt)
        wrong = kb.emit(arith.XOrIOp(kb.cmpf("olt", r, zero), kb.cmpf("olt", b, zero)))
        fix = kb.emit(arith.AndIOp(wrong, kb.cmpf("one", r, zero)))
        r = kb.select(fix, kb.emit(arith.AddfOp(r, b)), r)
        return kb.select(kb.cmpf("oeq", r, zero), kb.emit(math.CopySignOp(zero, b)), r)
    b = _nonzero_divisor(kb, dt, b)
    if is_unsigned(dt):
        return kb.emit(arith.RemUIOp(a, b))
    r = kb.emit(arith.RemSIOp(a, b))
    zero = _f(kb, 0, dt)
    wrong_sign = kb.emit(arith.XOrIOp(kb.emit(arith.CmpiOp(r, zero, "slt")), kb.emit(arith.CmpiOp(b, zero, "slt"))))
    fix = kb.emit(arith.AndIOp(wrong_sign, kb.emit(arith.CmpiOp(r, zero, "ne"))))
    return kb.select(fix, kb.emit(arith.AddiOp(r, b)), r)


def _mod(kb, attr, dts, odt, a, b):
    dt = dts[0]
    if is_float(dt):
        return _fmod_float(kb, a, b, dt)
    b = _nonzero_divisor(kb, dt, b)
    return kb.emit((arith.RemUIOp if is_unsigned(dt) else arith.RemSIOp)(a, b))


def _power(kb, attr, dts, odt, a, b):
    if is_float(dts[0]):
        return kb.emit(math.PowFOp(a, b))
    return _int_power(kb, a, b, np.dtype(dts[0]))


def _int_power(kb, a, b, dt: np.dtype):
    """a ** b in exact integer arithmetic (wrapping as repeated multiplication does), by
    squaring over every bit of the exponent. A negative exponent truncates 1 / a**|b| toward
    zero: 1 for a = 1, +-1 for a = -1, 0 otherwise."""
    bits = dt.itemsize * 8
    one, zero = _f(kb, 1, dt), _f(kb, 0, dt)
    signed = not is_unsigned(dt)
    e = kb.emit(math.AbsIOp(b)) if signed else b
    result, base = one, a
    for i in range(bits - (1 if signed else 0)):
        bit = kb.emit(arith.CmpiOp(kb.emit(arith.AndIOp(e, _f(kb, 1 << i, dt))), zero, "ne"))
        result = kb.select(bit, kb.emit(arith.MuliOp(result, base)), result)
        base = kb.emit(arith.MuliOp(base, base))
    if not signed:
        return result
    odd = kb.emit(arith.CmpiOp(kb.emit(arith.AndIOp(b, one)), zero, "ne"))
    minus_one = _f(kb, -1, dt)
    recip = kb.select(kb.emit(arith.CmpiOp(a, one, "eq")), one,
                      kb.select(kb.emit(arith.CmpiOp(a, minus_one, "eq")), kb.select(odd, minus_one, one), zero))
    return kb.select(kb.emit(arith.CmpiOp(b, zero, "slt")), recip, result)


def _cmp(fpred, spred, upred):
    def emit(kb, attr, dts, odt, a, b):
        if is_float(dts[0]):
            return kb.cmpf(fpred, a, b)
        return kb.emit(arith.CmpiOp(a, b, upred if is_unsigned(dts[0]) else spred))
    return emit


def _logic(op):
    return lambda kb, attr, dts, odt, a, b: kb.emit(op(a, b))


def _shift(left: bool):
    """Integer shifts; counts of the bit width or more shift everything out (LLVM leaves them
    undefined), as do negative counts."""
    def emit(kb, attr, dts, odt, a, b):
        dt = dts[0]
        bits = np.dtype(dt).itemsize * 8
        out_of_range = kb.emit(arith.CmpiOp(b, _f(kb, bits - 1, dt), "ugt"))  # also catches negatives
        count = kb.select(out_of_range, _f(kb, 0, dt), b)
        if left:
            return kb.select(out_of_range, _f(kb, 0, dt), kb.emit(arith.ShLIOp(a, count)))
        if is_unsigned(dt):
            return kb.select(out_of_range, _f(kb, 0, dt), kb.emit(arith.ShRUIOp(a, count)))
        spill = kb.emit(arith.ShRSIOp(a, _f(kb, bits - 1, dt)))
        return kb.select(out_of_range, spill, kb.emit(arith.ShRSIOp(a, count)))
    return emit


def _sq_diff(kb, attr, dts, odt, a, b):
    d = _binop(arith.SubfOp, arith.SubiOp)(kb, attr, dts, odt, a, b)
    return _binop(arith.MulfOp, arith.MuliOp)(kb, attr, dts, odt, d, d)


def _math1(op):
    def emit(kb, attr, dts, odt, x):
        if not is_float(dts[0]):
            f = kb.emit(arith.SIToFPOp(x, reg_type(np.float64)))
            return kb.emit(arith.FPToSIOp(kb.emit(op(f)), reg_type(dts[0])))
        return kb.emit(op(x))
    return emit


def _sigmoid(kb, x, dt):
    """1 / (1 + e**-x), as e / (1 + e) with e = e**x for negative x so that tiny results keep
    their precision (down to subnormals) instead of becoming 0."""
    one = _f(kb, 1.0, dt)
    e = kb.exp(kb.emit(arith.NegfOp(kb.emit(math.AbsFOp(x)))))
    den = kb.fadd(one, e)
    return kb.select(kb.cmpf("olt", x, _f(kb, 0.0, dt)), kb.fdiv(e, den), kb.fdiv(one, den))


def _softplus(kb, x, dt):
    soft = kb.emit(math.LogOp(kb.fadd(_f(kb, 1.0, dt), kb.exp(x))))
    return kb.select(kb.cmpf("ogt", x, _f(kb, 20.0, dt)), x, soft)


def _relu(kb, attr, dts, odt, x):
    zero = _f(kb, 0, dts[0])
    if is_float(dts[0]):  # NaN stays NaN
        return kb.select(kb.cmpf("olt", x, zero), zero, x)
    return kb.emit(arith.MaxSIOp(x, zero))


def _abs(kb, attr, dts, odt, x):
    if is_float(dts[0]):
        return kb.emit(math.AbsFOp(x))
    if is_unsigned(dts[0]):
        return x
    return kb.emit(math.AbsIOp(x))


def _neg(kb, attr, dts, odt, x):
    if is_float(dts[0]):
        return kb.emit(arith.NegfOp(x))
    return kb.emit(arith.SubiOp(_f(kb, 0, dts[0]), x))


def _sign(kb, attr, dts, odt, x):
    dt = dts[0]
    zero, one, m1 = _f(kb, 0, dt), _f(kb, 1, dt), _f(kb, -1 if not is_unsigned(dt) else 0, dt)
    if is_float(dt):
        return kb.select(kb.cmpf("ogt", x, zero), one, kb.select(kb.cmpf("olt", x, zero), m1, x))
    pos = kb.emit(arith.CmpiOp(x, zero, "ugt" if is_unsigned(dt) else "sgt"))
    neg = kb.emit(arith.CmpiOp(x, zero, "slt"))
    return kb.select(pos, one, kb.select(neg, m1, zero))


def _int_identity(op):
    def emit(kb, attr, dts, odt, x):
        return kb.emit(op(x)) if is_float(dts[0]) else x
    return emit


def _gelu(kb, attr, dts, odt, x):
    dt = dts[0]
    half = _f(kb, 0.5, dt)
    if attr.approximation_mode == "tanh":
        x3 = kb.fmul(kb.fmul(x, x), x)
        inner = kb.fmul(_f(kb, pymath.sqrt(2 / pymath.pi), dt), kb.fadd(x, kb.fmul(_f(kb, 0.044715, dt), x3)))
        t = kb.emit(math.TanhOp(inner))
    else:
        t = kb.emit(math.ErfOp(kb.fmul(x, _f(kb, 1 / pymath.sqrt(2), dt))))
    return kb.fmul(kb.fmul(half, x), kb.fadd(_f(kb, 1.0, dt), t))


def _hsigmoid_of(kb, x, dt):
    r = kb.fmin(kb.fmax(kb.fadd(x, _f(kb, 3.0, dt)), _f(kb, 0.0, dt)), _f(kb, 6.0, dt))
    return kb.fmul(r, _f(kb, 1 / 6, dt))


def _clamp(kb, attr, dts, odt, x):
    dt = dts[0]
    lo, hi = attr.min, attr.max
    if is_float(dt):
        return kb.fmin(kb.fmax(x, _f(kb, lo, dt)), _f(kb, hi, dt))
    info = np.iinfo(dt)
    lo, hi = max(pymath.ceil(lo), info.min), min(pymath.floor(hi), info.max)
    mx, mn = (arith.MaxUIOp, arith.MinUIOp) if is_unsigned(dt) else (arith.MaxSIOp, arith.MinSIOp)
    return kb.emit(mn(kb.emit(mx(x, _f(kb, lo, dt))), _f(kb, hi, dt)))


def _elu(kb, attr, dts, odt, x):
    dt = dts[0]
    neg = kb.fmul(_f(kb, attr.alpha, dt), kb.fsub(kb.exp(x), _f(kb, 1.0, dt)))
    return kb.select(kb.cmpf("ogt", x, _f(kb, 0.0, dt)), x, neg)


def _round(kb, attr, dts, odt, x):
    if not is_float(dts[0]):
        return x
    return kb.emit((math.RoundEvenOp if attr.mode == "half_to_even" else math.RoundOp)(x))


def convert_value(kb: KB, x, src: np.dtype, dst: np.dtype):
    src, dst = np.dtype(src), np.dtype(dst)
    if src == dst:
        return x
    t = reg_type(dst) if kb.width == 1 else VectorType(reg_type(dst), [kb.width])
    if dst == np.bool_:
        if is_float(src):
            return kb.cmpf("une", x, _f(kb, 0.0, src))
        return kb.emit(arith.CmpiOp(x, _f(kb, 0, src), "ne"))
    if is_float(src) and is_float(dst):
        return kb.emit((arith.ExtFOp if dst.itemsize > src.itemsize else arith.TruncFOp)(x, t))
    if is_float(src):  # truncate toward zero, saturating
        info = np.iinfo(dst)
        lo, hi = _f(kb, float(info.min), src), _f(kb, float(info.max), src)
        clamped = kb.fmin(kb.fmax(x, lo), hi)
        clamped = kb.select(kb.cmpf("uno", x, x), _f(kb, 0.0, src), clamped)
        return kb.emit((arith.FPToUIOp if is_unsigned(dst) else arith.FPToSIOp)(clamped, t))
    if is_float(dst):
        return kb.emit((arith.UIToFPOp if is_unsigned(src) else arith.SIToFPOp)(x, t))
    if dst.itemsize > src.itemsize or src == np.bool_:
        return kb.emit((arith.ExtUIOp if is_unsigned(src) else arith.ExtSIOp)(x, t))
    if dst.itemsize < src.itemsize:
        return kb.emit(arith.TruncIOp(x, t))
    return x  # same width, other signedness: the same bits


def _select(kb, attr, dts, odt, c, a, b):
    return kb.select(c, a, b)


def _prelu(kb, attr, dts, odt, x, slope):
    dt = dts[0]
    zero = _f(kb, 0, dt)
    if is_float(dt):
        return kb.select(kb.cmpf("oge", x, zero), x, kb.fmul(x, slope))
    return kb.select(kb.emit(arith.CmpiOp(x, zero, "sge")), x, kb.emit(arith.MuliOp(x, slope)))


def _selu(kb, attr, dts, odt, x, alpha, lam):
    dt = dts[0]
    neg = kb.fmul(alpha, kb.fsub(kb.exp(x), _f(kb, 1.0, dt)))
    return kb.fmul(lam, kb.select(kb.cmpf("ogt", x, _f(kb, 0.0, dt)), x, neg))


def _hard_sigmoid(kb, attr, dts, odt, x, alpha, beta):
    dt = dts[0]
    return kb.fmin(kb.fmax(kb.fadd(kb.fmul(alpha, x), beta), _f(kb, 0.0, dt)), _f(kb, 1.0, dt))


def _swish(kb, attr, dts, odt, x, beta=None):
    dt = dts[0]
    bx = x if beta is None else kb.fmul(beta, x)
    return kb.fmul(x, _sigmoid(kb, bx, dt))


def _is_inf(kb, attr, dts, odt, x):
    dt = dts[0]
    inf = _f(kb, float("inf"), dt)
    pos = kb.cmpf("oeq", x, inf) if attr.detect_positive else kb.const(False, np.bool_)
    neg = kb.cmpf("oeq", x, _f(kb, float("-inf"), dt)) if attr.detect_negative else kb.const(False, np.bool_)
    return kb.emit(arith.OrIOp(pos, neg))


def _fake_quantize(kb, attr, dts, odt, x, il, ih, ol, oh):
    dt = dts[0]
    n = _f(kb, attr.levels - 1, dt)
    q = kb.emit(math.RoundEvenOp(kb.fmul(kb.fdiv(kb.fsub(x, il), kb.fsub(ih, il)), n)))
    q = kb.fadd(kb.fmul(kb.fdiv(q, n), kb.fsub(oh, ol)), ol)
    below = kb.cmpf("ole", x, kb.fmin(il, ih))
    above = kb.cmpf("ogt", x, kb.fmax(il, ih))
    return kb.select(below, ol, kb.select(above, oh, q))


def _bool_not(kb, attr, dts, odt, x):
    dt = np.dtype(dts[0])
    if dt == np.bool_:
        return kb.emit(arith.XOrIOp(x, kb.const(True, np.bool_)))
    ones = (1 << (dt.itemsize * 8)) - 1 if is_unsigned(dt) else -1  # all bits set
    return kb.emit(arith.XOrIOp(x, _f(kb, ones, dt)))


SCALAR: dict[str, Formula] = {
    "Add": _binop(arith.AddfOp, arith.AddiOp),
    "Subtract": _binop(arith.SubfOp, arith.SubiOp),
    "Multiply": _binop(arith.MulfOp, arith.MuliOp),
    "Divide": _divide, "Power": _power, "Maximum": _max, "Minimum": _min, "SquaredDifference": _sq_diff,
    "FloorMod": _floor_mod, "Mod": _mod,
    "Equal": _cmp("oeq", "eq", "eq"), "NotEqual": _cmp("une", "ne", "ne"), "Less": _cmp("olt", "slt", "ult"),
    "LessEqual": _cmp("ole", "sle", "ule"), "Greater": _cmp("ogt", "sgt", "ugt"),
    "GreaterEqual": _cmp("oge", "sge", "uge"),
    "LogicalAnd": _logic(arith.AndIOp), "LogicalOr": _logic(arith.OrIOp), "LogicalXor": _logic(arith.XOrIOp),
    "BitwiseLeftShift": _shift(True), "BitwiseRightShift": _shift(False),
    "BitwiseAnd": _logic(arith.AndIOp), "BitwiseOr": _logic(arith.OrIOp), "BitwiseXor": _logic(arith.XOrIOp),
    "LogicalNot": _bool_not, "BitwiseNot": _bool_not,
    "Abs": _abs, "Negative": _neg, "Sign": _sign, "ReLU": _relu,
    "Ceiling": _int_identity(math.CeilOp), "Floor": _int_identity(math.FloorOp),
    "Exp": _math1(math.ExpOp), "Log": _math1(math.LogOp), "Sqrt": _math1(math.SqrtOp), "Erf": _math1(math.ErfOp),
    "Tanh": _math1(math.TanhOp), "Sin": _math1(math.SinOp), "Cos": _math1(math.CosOp), "Tan": _math1(math.TanOp),
    "Asin": _math1(math.AsinOp), "Acos": _math1(math.AcosOp), "Atan": _math1(math.AtanOp),
    "Sinh": _math1(math.SinhOp), "Cosh": _math1(math.CoshOp), "Asinh": _math1(math.AsinhOp),
    "Acosh": _math1(math.AcoshOp), "Atanh": _math1(math.AtanhOp),
    "Sigmoid": lambda kb, attr, dts, odt, x: _sigmoid(kb, x, dts[0]),
    "HSwish": lambda kb, attr, dts, odt, x: kb.fmul(x, _hsigmoid_of(kb, x, dts[0])),
    "HSigmoid": lambda kb, attr, dts, odt, x: _hsigmoid_of(kb, x, dts[0]),
    "SoftPlus": lambda kb, attr, dts, odt, x: _softplus(kb, x, dts[0]),
    "Mish": lambda kb, attr, dts, odt, x: kb.fmul(x, kb.emit(math.TanhOp(_softplus(kb, x, dts[0])))),
    "SoftSign": lambda kb, attr, dts, odt, x: kb.fdiv(x, kb.fadd(_f(kb, 1.0, dts[0]), kb.emit(math.AbsFOp(x)))),
    "IsNaN": lambda kb, attr, dts, odt, x: kb.cmpf("uno", x, x),
    "IsFinite": lambda kb, attr, dts, odt, x: kb.cmpf("olt", kb.emit(math.AbsFOp(x)), _f(kb, float("inf"), dts[0])),
    "IsInf": _is_inf, "Gelu": _gelu, "Clamp": _clamp, "Elu": _elu, "Round": _round,
    "Convert": lambda kb, attr, dts, odt, x: convert_value(kb, x, dts[0], odt),
    "Select": _select, "PRelu": _prelu, "Selu": _selu, "HardSigmoid": _hard_sigmoid, "Swish": _swish,
    "FakeQuantize": _fake_quantize,
}
