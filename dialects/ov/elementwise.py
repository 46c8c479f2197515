"""Element-wise operations: unary math and activations, binary arithmetic with numpy-style
broadcasting, comparisons, logic, conversion and selection."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from dialects.errors import ShapeError
from dialects.ov.base import OPS, Bool, Float, Int, OpSpec, OvOp, Str, TensorInfo, Type, ov_op, ov_type_name
from dialects.ov.shape_rules import broadcast, broadcast_all

BOOL = np.dtype(np.bool_)
BROADCAST_MODES = ("numpy", "none", "pdpd")


def _same_dtype(who: str, ins: list[TensorInfo]) -> np.dtype:
    d = ins[0].dtype
    for x in ins[1:]:
        if x.dtype != d:
            raise ShapeError(f"{who}: element types differ ({ov_type_name(d)} and {ov_type_name(x.dtype)})")
    return d


class Unary(OpSpec):
    """y = f(x), element by element."""

    FAMILY = "unary"
    INPUTS = ("data",)
    RESULT_DTYPE: np.dtype | None = None  # None: the input's

    @classmethod
    def infer(cls, a, ins):
        return [(ins[0].shape, cls.RESULT_DTYPE or ins[0].dtype)]


class Binary(OpSpec):
    """y = f(a, b) with numpy-style broadcasting."""

    FAMILY = "binary"
    INPUTS = ("a", "b")
    RESULT_DTYPE: np.dtype | None = None

    @classmethod
    def infer(cls, a, ins):
        dtype = _same_dtype(cls.IR_TYPE, ins)
        if a.auto_broadcast == "none" and ins[0].shape != ins[1].shape:
            raise ShapeError(f"{cls.IR_TYPE}: auto_broadcast=none needs equal shapes")
        return [(broadcast(ins[0].shape, ins[1].shape, cls.IR_TYPE), cls.RESULT_DTYPE or dtype)]

    @classmethod
    def partial(cls, a: SimpleNamespace, ins: list[TensorInfo]):
        fn = _PARTIAL_ARITH.get(cls.IR_TYPE)
        ka, kb = ins[0].known(), ins[1].known()
        if fn is None or ka is None or kb is None:
            return None
        if len(ka) == 1:
            ka = ka * len(kb)
        if len(kb) == 1:
            kb = kb * len(ka)
        if len(ka) != len(kb):
            return None
        return tuple(None if x is None or y is None else fn(x, y) for x, y in zip(ka, kb))


def _floor_div(x: int, y: int) -> int | None:
    return x // y if y else None


_PARTIAL_ARITH = {"Add": lambda x, y: x + y, "Subtract": lambda x, y: x - y,
                  "Multiply": lambda x, y: x * y, "Divide": _floor_div,
                  "Maximum": max, "Minimum": min}


def _unary(name: str, opset: str = "opset1", dtype: np.dtype | None = None, doc: str = "") -> type[OvOp]:
    cls = ov_op(type(name, (Unary,), {"OPSET": opset, "RESULT_DTYPE": dtype, "__doc__": doc,
                                      "__module__": __name__}))
    globals()[name] = cls
    return cls


def _binary(name: str, dtype: np.dtype | None = None, doc: str = "", **extra) -> type[OvOp]:
    ns = {"OPSET": "opset1", "RESULT_DTYPE": dtype, "__doc__": doc, "__module__": __name__,
          "auto_broadcast": Str("numpy", BROADCAST_MODES), **extra}
    cls = ov_op(type(name, (Binary,), ns))
    globals()[name] = cls
    return cls


for _name, _opset in [("Abs", "opset1"), ("Acos", "opset1"), ("Acosh", "opset4"), ("Asin", "opset1"),
                      ("Asinh", "opset4"), ("Atan", "opset1"), ("Atanh", "opset4"),
                      ("Ceiling", "opset1"), ("Cos", "opset1"), ("Cosh", "opset1"), ("Erf", "opset1"),
                      ("Exp", "opset1"), ("Floor", "opset1"), ("Log", "opset1"), ("Negative", "opset1"),
                      ("ReLU", "opset1"), ("Sigmoid", "opset1"), ("Sign", "opset1"), ("Sin", "opset1"),
                      ("Sinh", "opset1"), ("Sqrt", "opset1"), ("Tan", "opset1"), ("Tanh", "opset1"),
                      ("HSwish", "opset4"), ("HSigmoid", "opset5"), ("Mish", "opset4"),
                      ("SoftPlus", "opset4"), ("SoftSign", "opset9"), ("BitwiseNot", "opset13")]:
    _unary(_name, _opset)
for _name in ("LogicalNot",):
    _unary(_name, "opset1", BOOL)
for _name in ("IsNaN", "IsFinite"):
    _unary(_name, "opset10", BOOL)

for _name in ("Add", "Subtract", "Multiply", "Power", "Maximum", "Minimum", "SquaredDifference",
              "FloorMod", "Mod", "LogicalAnd", "LogicalOr", "LogicalXor"):
    _binary(_name)
for _name in ("BitwiseAnd", "BitwiseOr", "BitwiseXor"):
    _binary(_name).OPSET = "opset13"
for _name in ("BitwiseLeftShift", "BitwiseRightShift"):  # a shift by the bit width or more gives 0 (or the sign)
    _binary(_name).OPSET = "opset15"
for _name in ("Equal", "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual"):
    _binary(_name, BOOL)
_binary("Divide", doc="Division; integer division rounds toward -inf when m_pythondiv.",
        m_pythondiv=Bool(True))


@ov_op
class IsInf(Unary):
    OPSET = "opset10"
    RESULT_DTYPE = BOOL
    detect_negative = Bool(True)
    detect_positive = Bool(True)


@ov_op
class Clamp(Unary):
    """min(max(x, min), max)."""

    min = Float()
    max = Float()


@ov_op
class Elu(Unary):
    alpha = Float()


@ov_op
class Gelu(Unary):
    OPSET = "opset7"
    approximation_mode = Str("erf", ("erf", "tanh"))


@ov_op
class Round(Unary):
    OPSET = "opset5"
    mode = Str("half_to_even", ("half_to_even", "half_away_from_zero"))


@ov_op
class Convert(Unary):
    """Element type conversion (float to integer truncates toward zero, as in C)."""

    destination_type = Type()

    @classmethod
    def infer(cls, a, ins):
        return [(ins[0].shape, np.dtype(a.destination_type))]

    @classmethod
    def partial(cls, a, ins):
        return ins[0].known() if np.dtype(a.destination_type).kind in "iu" else None


@ov_op
class Swish(OpSpec):
    """x * sigmoid(beta * x); beta defaults to 1."""

    OPSET = "opset4"
    INPUTS = ("data", "?beta")

    @classmethod
    def infer(cls, a, ins):
        return [(ins[0].shape, ins[0].dtype)]


class _WithScalars(OpSpec):
    """An activation of `data` whose parameters are extra (broadcastable) inputs."""

    @classmethod
    def infer(cls, a, ins):
        _same_dtype(cls.IR_TYPE, ins)
        return [(ins[0].shape, ins[0].dtype)]


@ov_op
class PRelu(OpSpec):
    """x if x >= 0 else slope * x; a 1-D slope of size C applies along axis 1."""

    INPUTS = ("data", "slope")

    @classmethod
    def infer(cls, a, ins):
        _same_dtype(cls.IR_TYPE, ins)
        return [(ins[0].shape, ins[0].dtype)]


@ov_op
class Selu(_WithScalars):
    INPUTS = ("data", "alpha", "lambda_")


@ov_op
class HardSigmoid(_WithScalars):
    INPUTS = ("data", "alpha", "beta")


@ov_op
class Select(OpSpec):
    """cond ? then : else, with numpy broadcasting of all three."""

    INPUTS = ("cond", "then_", "else_")
    auto_broadcast = Str("numpy", BROADCAST_MODES)

    @classmethod
    def infer(cls, a, ins):
        if ins[0].dtype != BOOL:
            raise ShapeError(f"Select: condition must be boolean, got {ov_type_name(ins[0].dtype)}")
        dtype = _same_dtype("Select", ins[1:])
        return [(broadcast_all([x.shape for x in ins], "Select"), dtype)]


@ov_op
class FakeQuantize(OpSpec):
    """Quantize-dequantize to `levels` levels between broadcast input/output ranges."""

    INPUTS = ("data", "input_low", "input_high", "output_low", "output_high")
    levels = Int()
    auto_broadcast = Str("numpy", BROADCAST_MODES)

    @classmethod
    def infer(cls, a, ins):
        shape = ins[0].shape
        for x in ins[1:]:
            if broadcast(shape, x.shape, "FakeQuantize") != tuple(shape):
                raise ShapeError("FakeQuantize: range inputs must broadcast to the data shape")
        return [(shape, ins[0].dtype)]


UNARY_OPS = sorted(n for n, c in OPS.items() if c.FAMILY == "unary")
BINARY_OPS = sorted(n for n, c in OPS.items() if c.FAMILY == "binary")
