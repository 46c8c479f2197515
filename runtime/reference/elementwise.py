"""Reference semantics of the element-wise ops."""

from __future__ import annotations

import math

import numpy as np

from runtime.reference.registry import reference

_erf = np.vectorize(math.erf, otypes=[np.float64])


def erf(x: np.ndarray) -> np.ndarray:
    return _erf(x.astype(np.float64)).astype(x.dtype) if x.size else x.copy()


def sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


def _int_div(a: np.ndarray, b: np.ndarray, python: bool) -> np.ndarray:
    if python:
        return np.floor_divide(a, b)
    # truncation toward zero from the floor quotient (|INT_MIN| does not exist in the type)
    q = np.floor_divide(a, b)
    inexact = (a - q * b != 0) & ((a < 0) != (b < 0))
    return (q + inexact.astype(q.dtype)).astype(np.result_type(a, b))


def divide(attr, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "iu":
        with np.errstate(divide="ignore"):
            return _int_div(a, np.where(b == 0, 1, b), attr.m_pythondiv)
    with np.errstate(divide="ignore", invalid="ignore"):
        return a / b


def power(attr, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "iu":
        return int_power(a, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.power(a, b)


def int_power(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact integer a ** b, wrapping as repeated multiplication in the type does; a negative
    exponent truncates 1 / a**|b| toward zero (1 for a = 1, +-1 for a = -1, else 0)."""
    a, b = np.broadcast_arrays(a, np.asarray(b).astype(a.dtype))
    e = np.abs(b.astype(np.int64)) if a.dtype.kind == "i" else b.astype(np.uint64)
    result, base = np.ones_like(a), a.copy()
    with np.errstate(over="ignore"):
        while np.any(e):
            odd = (e & 1).astype(bool)
            result = np.where(odd, result * base, result)
            base = base * base
            e = e >> 1
    if a.dtype.kind == "i":
        recip = np.where(a == 1, 1, np.where(a == -1, np.where(b & 1, -1, 1), 0)).astype(a.dtype)
        result = np.where(b < 0, recip, result)
    return result.astype(a.dtype)


UNARY = {
    "Abs": np.abs, "Acos": np.arccos, "Acosh": np.arccosh, "Asin": np.arcsin, "Asinh": np.arcsinh,
    "Atan": np.arctan, "Atanh": np.arctanh, "Ceiling": np.ceil, "Cos": np.cos, "Cosh": np.cosh,
    "Erf": erf, "Exp": np.exp, "Floor": np.floor, "Log": np.log, "Negative": np.negative,
    "ReLU": lambda x: np.maximum(x, 0).astype(x.dtype), "Sigmoid": sigmoid, "Sign": np.sign,
    "Sin": np.sin, "Sinh": np.sinh, "Sqrt": np.sqrt, "Tan": np.tan, "Tanh": np.tanh,
    "HSwish": lambda x: x * np.clip(x + 3, 0, 6) / 6,
    "HSigmoid": lambda x: np.clip(x + 3, 0, 6) / 6,
    "Mish": lambda x: x * np.tanh(np.logaddexp(0, x)),
    "SoftPlus": lambda x: np.logaddexp(0, x).astype(x.dtype),
    "SoftSign": lambda x: x / (1 + np.abs(x)),
    "LogicalNot": np.logical_not,
    "BitwiseNot": lambda x: np.logical_not(x) if x.dtype == np.bool_ else np.invert(x),
    "IsNaN": np.isnan, "IsFinite": np.isfinite,
}

BINARY = {
    "Add": lambda attr, a, b: a + b,
    "Subtract": lambda attr, a, b: a - b,
    "Multiply": lambda attr, a, b: a * b,
    "Divide": divide,
    "Power": power,
    "Maximum": lambda attr, a, b: np.maximum(a, b),
    "Minimum": lambda attr, a, b: np.minimum(a, b),
    "SquaredDifference": lambda attr, a, b: (a - b) * (a - b),
    "FloorMod": lambda attr, a, b: np.mod(a, b) if a.dtype.kind == "f" else np.mod(a, np.where(b == 0, 1, b)),
    "Mod": lambda attr, a, b: np.fmod(a, b) if a.dtype.kind == "f" else np.fmod(a, np.where(b == 0, 1, b)),
    "Equal": lambda attr, a, b: a == b,
    "NotEqual": lambda attr, a, b: a != b,
    "Less": lambda attr, a, b: a < b,
    "LessEqual": lambda attr, a, b: a <= b,
    "Greater": lambda attr, a, b: a > b,
    "GreaterEqual": lambda attr, a, b: a >= b,
    "LogicalAnd": lambda attr, a, b: np.logical_and(a, b),
    "LogicalOr": lambda attr, a, b: np.logical_or(a, b),
    "LogicalXor": lambda attr, a, b: np.logical_xor(a, b),
    "BitwiseAnd": lambda attr, a, b: a & b,
    "BitwiseOr": lambda attr, a, b: a | b,
    "BitwiseXor": lambda attr, a, b: a ^ b,
    "BitwiseLeftShift": lambda attr, a, b: _shift(np.left_shift, a, b),
    "BitwiseRightShift": lambda attr, a, b: _shift(np.right_shift, a, b),
}


def _shift(fn, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Shifts by the bit width or more (or by a negative count) shift everything out."""
    bits = a.dtype.itemsize * 8
    b64 = np.asarray(b).astype(np.int64)
    out = fn(a, np.clip(b64, 0, bits - 1).astype(a.dtype))
    if fn is np.left_shift:
        return np.where((b64 >= bits) | (b64 < 0), a.dtype.type(0), out).astype(a.dtype)
    spill = fn(a, a.dtype.type(bits - 1)) if a.dtype.kind == "i" else a.dtype.type(0)
    return np.where((b64 >= bits) | (b64 < 0), spill, out).astype(a.dtype)


def _make_unary(fn):
    def run(op, attr, x):
        with np.errstate(all="ignore"):
            return [np.asarray(fn(x)).astype(op.out_dtype(0), copy=False)]
    return run


def _make_binary(fn):
    def run(op, attr, a, b):
        with np.errstate(all="ignore"):
            return [np.asarray(fn(attr, a, b)).astype(op.out_dtype(0), copy=False)]
    return run


for _n, _f in UNARY.items():
    reference(_n)(_make_unary(_f))
for _n, _f in BINARY.items():
    reference(_n)(_make_binary(_f))


@reference("IsInf")
def _isinf(op, attr, x):
    return [(np.isposinf(x) & attr.detect_positive) | (np.isneginf(x) & attr.detect_negative)]


@reference("Clamp")
def _clamp(op, attr, x):
    lo, hi = attr.min, attr.max
    if x.dtype.kind in "iu":
        lo, hi = math.ceil(lo), math.floor(hi)
    return [np.clip(x, lo, hi).astype(x.dtype)]


@reference("Elu")
def _elu(op, attr, x):
    with np.errstate(over="ignore"):
        return [np.where(x > 0, x, attr.alpha * (np.exp(x) - 1)).astype(x.dtype)]


@reference("Gelu")
def _gelu(op, attr, x):
    if attr.approximation_mode == "tanh":
        y = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    else:
        y = 0.5 * x * (1 + erf(x / np.sqrt(2).astype(x.dtype)))
    return [y.astype(x.dtype)]


@reference("Round")
def _round(op, attr, x):
    if attr.mode == "half_to_even":
        return [np.round(x)]
    return [(np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(x.dtype)]


def convert(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Element type conversion: floats to integers truncate toward zero and saturate."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return x != 0
    if dtype.kind in "iu" and x.dtype.kind == "f":
        info = np.iinfo(dtype)
        with np.errstate(invalid="ignore"):
            t = np.trunc(np.nan_to_num(x.astype(np.float64)))
        return np.clip(t, info.min, info.max).astype(dtype)
    return x.astype(dtype)


@reference("Convert")
def _convert(op, attr, x):
    return [convert(x, attr.destination_type)]


@reference("Swish")
def _swish(op, attr, x, beta=None):
    b = np.float32(1) if beta is None else beta
    return [(x * sigmoid((b * x).astype(x.dtype))).astype(x.dtype)]


def channel_broadcast(data: np.ndarray, param: np.ndarray) -> np.ndarray:
    """A 1-D per-channel parameter of size C applies along axis 1 (PRelu's rule)."""
    if param.size == 1:  # one value for all, also for a rank-0 data (not broadcast to [1])
        return param.reshape(())
    if param.ndim == 1 and data.ndim >= 2 and param.shape[0] == data.shape[1] and param.shape[0] != 1:
        return param.reshape((1, -1) + (1,) * (data.ndim - 2))
    return param


@reference("PRelu")
def _prelu(op, attr, x, slope):
    return [np.where(x >= 0, x, x * channel_broadcast(x, slope)).astype(x.dtype)]


@reference("Selu")
def _selu(op, attr, x, alpha, lam):
    alpha, lam = alpha.reshape(()), lam.reshape(())  # one value each: a rank-0 x stays rank 0
    with np.errstate(over="ignore"):
        return [(lam * np.where(x > 0, x, alpha * (np.exp(x) - 1))).astype(x.dtype)]


@reference("HardSigmoid")
def _hard_sigmoid(op, attr, x, alpha, beta):
    return [np.clip(alpha * x + beta, 0, 1).astype(x.dtype)]


@reference("Select")
def _select(op, attr, c, a, b):
    return [np.where(c, a, b).astype(op.out_dtype(0))]


@reference("FakeQuantize")
def _fake_quantize(op, attr, x, il, ih, ol, oh):
    n = attr.levels - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.round((x - il) / (ih - il) * n) / n * (oh - ol) + ol
    y = np.where(x <= np.minimum(il, ih), ol, np.where(x > np.maximum(il, ih), oh, q))
    return [y.astype(x.dtype)]
