"""One or more tiny samples for every op of the `ov` dialect: inputs and (where the op has
any) non-default attribute values. tests/test_op_table.py builds a one-op model from each,
round-trips it through IR and runs it on REFERENCE and CPU; an op without a sample fails there.

An input wrapped in `P(...)` is a model input; a bare array is a constant."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

RNG = np.random.default_rng(20)


@dataclass
class P:
    """A model input (Parameter) with this value."""

    value: np.ndarray


@dataclass
class Sample:
    inputs: list[Any]
    attrs: dict[str, Any] = field(default_factory=dict)
    note: str = ""  # what this sample covers, when an op has several


def S(*inputs: Any, note: str = "", **attrs: Any) -> Sample:
    return Sample([x if isinstance(x, P) else np.asarray(x) for x in inputs], attrs, note)


def f32(*shape: int, lo: float = -2.0, hi: float = 2.0) -> np.ndarray:
    return RNG.uniform(lo, hi, shape).astype(np.float32)


def i64(*v: Any) -> np.ndarray:
    return np.array(v, np.int64)


def ints(*shape: int, lo: int = -9, hi: int = 10, dtype: Any = np.int32) -> np.ndarray:
    return RNG.integers(lo, hi, shape).astype(dtype)


def bools(*shape: int) -> np.ndarray:
    return RNG.integers(0, 2, shape).astype(np.bool_)


def _unary(lo: float = -2.0, hi: float = 2.0) -> list[Sample]:
    return [S(P(f32(2, 3, 5, lo=lo, hi=hi)))]


def _binary(a: np.ndarray, b: np.ndarray, **attrs: Any) -> list[Sample]:
    return [S(P(a), P(b), **attrs)]


def _with_specials() -> np.ndarray:
    return np.array([[0.0, -1.5, np.nan, np.inf], [-np.inf, 3.0, -0.0, 1e30]], np.float32)


_TIES = np.array([[-2.5, -1.5, -0.5, 0.5], [1.5, 2.5, 0.4, -0.6]], np.float32)
_SMALL_INTS = ints(2, 3, lo=-20, hi=21)
_NONZERO_DIVISORS = np.array([3, -4, 5], np.int32)

SAMPLES: dict[str, list[Sample]] = {
    **{op: _unary() for op in ("Abs", "Atan", "Ceiling", "Cos", "Cosh", "Erf", "Exp", "Floor", "Negative",
                               "ReLU", "Sigmoid", "Sign", "Sin", "Sinh", "Tan", "Tanh", "HSwish", "HSigmoid",
                               "Mish", "SoftPlus", "SoftSign", "Asinh")},
    "Acos": _unary(-0.95, 0.95), "Asin": _unary(-0.95, 0.95), "Atanh": _unary(-0.95, 0.95),
    "Acosh": _unary(1.05, 4.0), "Log": _unary(0.05, 9.0), "Sqrt": _unary(0.0, 9.0),
    "BitwiseNot": [S(P(ints(2, 5)))],
    "LogicalNot": [S(P(bools(2, 5)))],
    "IsNaN": [S(P(_with_specials()))],
    "IsFinite": [S(P(_with_specials()))],
    "IsInf": [S(P(_with_specials()), detect_negative=False)],
    "Add": _binary(f32(2, 3), f32(3)),
    "Subtract": _binary(f32(2, 3), f32(2, 3), auto_broadcast="none"),
    "Multiply": _binary(f32(2, 3, 4), f32(4), auto_broadcast="pdpd"),
    "Power": _binary(f32(2, 3, lo=0.1, hi=3.0), f32(3, lo=-2.0, hi=2.0)),
    "Maximum": _binary(f32(2, 3), f32(2, 1)),
    "Minimum": _binary(ints(2, 3), ints(3)),
    "SquaredDifference": _binary(f32(2, 3), f32(3)),
    "FloorMod": _binary(_SMALL_INTS, _NONZERO_DIVISORS) + _binary(f32(2, 3, lo=-7, hi=7), np.array(
        [2.5, -1.5, 3.0], np.float32)),
    "Mod": _binary(_SMALL_INTS, _NONZERO_DIVISORS) + _binary(f32(2, 3, lo=-7, hi=7), np.array(
        [2.5, -1.5, 3.0], np.float32)),
    "LogicalAnd": _binary(bools(2, 3), bools(3)),
    "LogicalOr": _binary(bools(2, 3), bools(2, 3), auto_broadcast="none"),
    "LogicalXor": _binary(bools(2, 3), bools(1, 3)),
    "BitwiseAnd": _binary(ints(2, 3), ints(3)),
    "BitwiseOr": _binary(ints(2, 3, lo=0, hi=255, dtype=np.uint8), ints(3, lo=0, hi=255, dtype=np.uint8)),
    "BitwiseXor": _binary(bools(2, 3), bools(3)),
    "BitwiseLeftShift": _binary(ints(2, 3, lo=-50, hi=50), ints(3, lo=0, hi=6)),
    "BitwiseRightShift": _binary(ints(2, 3, lo=-50, hi=50), ints(3, lo=0, hi=6)),
    **{op: _binary(np.array([[1, 2, 3], [3, 2, 1]], np.float32), np.array([2, 2, 1], np.float32))
       for op in ("Equal", "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual")},
    "Divide": _binary(f32(2, 3), f32(3, lo=0.5, hi=2.0)) + _binary(_SMALL_INTS, _NONZERO_DIVISORS,
                                                                   m_pythondiv=False) + [
        S(P(_SMALL_INTS), P(_NONZERO_DIVISORS), note="python (floor) division of integers")],
    "Clamp": [S(P(f32(2, 5)), min=-0.5, max=0.7)],
    "Elu": [S(P(f32(2, 5)), alpha=0.5)],
    "Gelu": [S(P(f32(2, 5)), approximation_mode="tanh"), S(P(f32(2, 5)))],
    "Round": [S(P(_TIES), mode="half_away_from_zero"), S(P(_TIES))],
    "Convert": [S(P(np.array([[2.7, -2.7, 0.5, -0.5], [1e3, -1.5, 127.9, -128.9]], np.float32)),
                  destination_type=np.int32),
                S(P(np.array([0, 1, 255, 128], np.uint8)), destination_type=np.float32),
                S(P(f32(2, 3)), destination_type=np.bool_)],
    "Swish": [S(P(f32(2, 5)), np.float32(0.7)), S(P(f32(2, 5)), note="beta absent")],
    "PRelu": [S(P(f32(2, 3, 4)), f32(3, lo=0.0, hi=0.5))],
    "Selu": [S(P(f32(2, 5)), np.array([1.67], np.float32), np.array([1.05], np.float32))],
    "HardSigmoid": [S(P(f32(2, 5, lo=-6, hi=6)), np.float32(0.3), np.float32(0.4))],
    "Select": [S(P(bools(2, 3)), P(f32(2, 3)), P(f32(3))),
               S(P(bools(2, 3)), P(f32(2, 3)), P(f32(2, 3)), auto_broadcast="none")],
    "FakeQuantize": [S(P(f32(2, 3, 4, lo=-3, hi=3)), np.float32(-1.0), np.array([[1.5], [2.0], [1.0]],
                                                                                  np.float32),
                       np.float32(-0.5), np.float32(0.5), levels=5)],
    "Extension": [S(P(f32(2, 3)), type_name="OpTableScale", version="test", attributes='{"factor": "3"}')],
    "Reshape": [S(P(f32(2, 6)), i64(0, 3, -1), special_zero=True), S(P(f32(2, 6)), i64(3, 4))],
    "Transpose": [S(P(f32(2, 3, 4)), i64(2, 0, 1))],
    "Squeeze": [S(P(f32(2, 1, 3, 1)), i64(-1)), S(P(f32(2, 1, 3, 1)), note="axes absent")],
    "Unsqueeze": [S(P(f32(2, 3)), i64(0, 3))],
    "Concat": [S(P(f32(2, 1)), P(f32(2, 3)), P(f32(2, 2)), axis=-1)],
    "Split": [S(P(f32(2, 6)), np.int64(1), num_splits=3)],
    "VariadicSplit": [S(P(f32(2, 6)), i64(-1), i64(1, -1, 2))],
    "ShapeOf": [S(P(f32(2, 3, 4)), output_type=np.int32)],
    "Gather": [S(P(f32(2, 3, 4)), np.array([[0, -1], [2, 1]], np.int32), i64(1), batch_dims=1),
               S(P(f32(3, 4)), np.array([2, 0, -3], np.int64), i64(0))],
    "GatherElements": [S(P(f32(3, 4)), np.array([[0, 3], [1, -1], [2, 2]], np.int64), axis=1)],
    "GatherND": [S(P(f32(2, 3, 4)), np.array([[[1], [0]], [[2], [2]]], np.int32), batch_dims=1),
                 S(P(f32(3, 4)), np.array([[0, 1], [2, 3]], np.int64))],
    "ScatterUpdate": [S(P(f32(3, 4)), i64(3, 0), P(f32(3, 2)), i64(1))],
    "ScatterElementsUpdate": [S(P(f32(3, 4)), np.array([[0, 0], [3, 1], [2, 2]], np.int64), P(f32(3, 2)), i64(1),
                                reduction="sum", use_init_val=False),
                              S(P(ints(3, 4)), np.array([[0, 0], [3, 1], [2, 2]], np.int64), P(ints(3, 2)), i64(1),
                                reduction="max", use_init_val=False),
                              S(P(f32(3, 4)), np.array([[0, 1], [3, 1], [2, 0]], np.int64), P(f32(3, 2)), i64(1))],
    "ScatterNDUpdate": [S(P(f32(4, 3)), np.array([[1], [3], [1]], np.int64), P(f32(3, 3)), reduction="max"),
                        S(P(f32(4, 3)), np.array([[1, 2], [3, 0]], np.int64), P(f32(2)))],
    "Broadcast": [S(P(f32(3)), i64(2, 3, 4), i64(1), mode="explicit"), S(P(f32(3, 1)), i64(2, 3, 4)),
                  S(P(f32(3, 1)), i64(1, 4), mode="bidirectional")],
    "Tile": [S(P(f32(2, 3)), i64(2, 1, 2))],
    "Slice": [S(P(f32(5, 6)), i64(-1, 0), i64(-6, 6), i64(-2, 2), i64(0, 1)),
              S(P(f32(5, 6)), i64(1), i64(4), i64(1), note="axes absent")],
    "StridedSlice": [S(P(f32(4, 5, 6)), i64(1, 0, 0), i64(3, 0, 5), i64(1, 1, 2), begin_mask=(0, 1, 0),
                       end_mask=(0, 1, 0), shrink_axis_mask=(1, 0, 0)),
                     S(P(f32(4, 5)), i64(0, 3), i64(0, 0), i64(1, -1), begin_mask=(1, 0), end_mask=(1, 1),
                       new_axis_mask=(1, 0))],
    "Pad": [S(P(f32(2, 3)), i64(1, 0), i64(0, 2), pad_mode="reflect"),
            S(P(f32(2, 3)), i64(1, -1), i64(0, 2), np.float32(7.0)),
            S(P(f32(2, 3)), i64(1, 2), i64(2, 1), pad_mode="symmetric")],
    "Range": [S(np.float32(1.0), np.float32(4.0), np.float32(0.5), output_type=np.float32),
              S(np.int64(10), np.int64(-2), np.int64(-3), output_type=np.int32)],
    "Reverse": [S(P(f32(2, 3, 4)), i64(0, 2)), S(P(f32(2, 3)), np.array([False, True]), mode="mask")],
    "Roll": [S(P(f32(3, 4)), i64(1, -5), i64(0, 1))],
    "OneHot": [S(P(np.array([[0, 3, -1], [2, -4, 1]], np.int64)), np.int64(4), np.float32(5.0), np.float32(-1.0),
                 axis=1, negative_indices_mode="normalize"),
               S(P(np.array([0, 3, -1, 7], np.int32)), np.int32(4), np.float32(1.0), np.float32(0.0))],
    "NonZero": [S(P(np.array([[0, 1.5, 0], [2, 0, -1]], np.float32)), output_type=np.int32)],
    "TopK": [S(P(np.array([[3, 1, 2, 1, 5], [0, 4, 4, 2, 1], [1, 1, 0, 2, 2]], np.float32)), np.int64(2), axis=0,
               mode="min", sort="index", index_element_type=np.int64, stable=True),
             S(P(f32(3, 5)), np.int64(3), axis=-1, mode="max", sort="value")],
    "CumSum": [S(P(f32(2, 4)), np.int64(1), exclusive=True, reverse=True), S(P(ints(3, 2)), np.int32(0))],
    **{op: [S(P(f32(2, 3, 4, lo=0.5, hi=1.5)), i64(0, 2), keep_dims=True), S(P(f32(2, 3, 4)), i64(-1))]
       for op in ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2")},
    **{op: [S(P(bools(2, 3, 4)), i64(1), keep_dims=True)] for op in ("ReduceLogicalAnd", "ReduceLogicalOr")},
    "Convolution": [S(P(f32(1, 2, 5, 5)), f32(3, 2, 3, 3), strides=(2, 1), pads_begin=(1, 0), pads_end=(0, 1),
                      dilations=(1, 2)),
                    S(P(f32(1, 2, 5, 6)), f32(4, 2, 3, 2), strides=(1, 2), pads_begin=(0, 0), pads_end=(0, 0),
                      dilations=(1, 1), auto_pad="same_upper")],
    "GroupConvolution": [S(P(f32(1, 4, 5, 5)), f32(2, 3, 2, 3, 3), strides=(1, 1), pads_begin=(1, 1),
                           pads_end=(1, 1), dilations=(1, 1)),
                         S(P(f32(1, 3, 6, 6)), f32(3, 1, 1, 3, 3), strides=(2, 2), pads_begin=(0, 0),
                           pads_end=(0, 0), dilations=(1, 1), auto_pad="same_lower", note="depthwise")],
    "ConvolutionBackpropData": [
        S(P(f32(1, 2, 3, 3)), f32(2, 3, 3, 3), strides=(2, 2), pads_begin=(1, 0), pads_end=(1, 1),
          dilations=(1, 1), output_padding=(1, 0)),
        S(P(f32(1, 2, 3, 3)), f32(2, 3, 3, 3), i64(6, 7), strides=(2, 2), pads_begin=(0, 0), pads_end=(0, 0),
          dilations=(1, 1), auto_pad="same_upper", note="with output_shape"),
        S(P(f32(1, 2, 3, 3)), f32(2, 3, 3, 3), i64(6, 6), strides=(2, 2), pads_begin=(0, 0), pads_end=(0, 0),
          dilations=(1, 1), auto_pad="same_lower", note="with output_shape"),
        S(P(f32(1, 2, 3, 3)), f32(2, 3, 3, 3), i64(6, 6), strides=(2, 2), pads_begin=(0, 0), pads_end=(0, 0),
          dilations=(1, 1), note="explicit, with output_shape")],
    "GroupConvolutionBackpropData": [
        S(P(f32(1, 4, 3, 3)), f32(2, 2, 3, 3, 3), strides=(2, 1), pads_begin=(0, 1), pads_end=(1, 0),
          dilations=(1, 2)),
        S(P(f32(1, 4, 3, 3)), f32(2, 2, 3, 3, 3), i64(6, 5), strides=(2, 2), pads_begin=(0, 0), pads_end=(0, 0),
          dilations=(1, 1), auto_pad="same_upper", note="with output_shape")],
    "MaxPool": [S(P(f32(1, 2, 6, 6)), strides=(2, 2), pads_begin=(1, 1), pads_end=(0, 0), kernel=(3, 3),
                  rounding_type="ceil", dilations=(1, 2), index_element_type=np.int32, axis=2),
                S(P(f32(1, 2, 5, 5)), strides=(2, 2), pads_begin=(0, 0), pads_end=(0, 0), kernel=(2, 2),
                  auto_pad="same_upper")],
    "AvgPool": [S(P(f32(1, 2, 6, 6)), strides=(2, 2), pads_begin=(1, 1), pads_end=(1, 1), kernel=(3, 3),
                  rounding_type="ceil", exclude_pad=True),
                S(P(f32(1, 2, 5, 5)), strides=(2, 1), pads_begin=(1, 1), pads_end=(1, 1), kernel=(3, 2),
                  exclude_pad=False)],
    "AdaptiveAvgPool": [S(P(f32(1, 2, 7, 5)), i64(3, 2))],
    "AdaptiveMaxPool": [S(P(f32(1, 2, 7, 5)), i64(3, 2), index_element_type=np.int32)],
    "MatMul": [S(P(f32(2, 4, 3)), P(f32(5, 4)), transpose_a=True, transpose_b=True),
               S(P(f32(3, 4)), f32(4)), S(P(f32(2, 1, 3, 4)), P(f32(3, 4, 2)))],
    "BatchNormInference": [S(P(f32(2, 3, 4)), f32(3), f32(3), f32(3), f32(3, lo=0.1, hi=2.0), epsilon=1e-3)],
    "MVN": [S(P(f32(2, 3, 4)), i64(1, 2), normalize_variance=True, eps=1e-3, eps_mode="outside_sqrt"),
            S(P(f32(2, 3, 4)), i64(0, 2), normalize_variance=False, eps=1e-5, note="non-adjacent axes (decomposed)")],
    "LRN": [S(P(f32(1, 5, 3, 3)), i64(1), alpha=0.02, beta=0.6, bias=2.0, size=3),
            S(P(f32(1, 2, 4, 4)), i64(2, 3), alpha=1e-4, beta=0.75, bias=1.0, size=3)],
    "NormalizeL2": [S(P(f32(2, 3, 4)), i64(1), eps=1e-3, eps_mode="max"),
                    S(P(f32(2, 3, 4)), i64(1, 2), eps=1e-6, eps_mode="add"),
                    S(P(f32(2, 3, 4)), i64(0, 2), eps=1e-6, eps_mode="add", note="non-adjacent axes (decomposed)"),
                    S(P(f32(2, 3, 4)), np.zeros(0, np.int64), eps=1e-6, eps_mode="max", note="no axes")],
    "DFT": [S(P(f32(2, 6, 2)), i64(1)), S(P(f32(3, 4, 5, 2)), i64(2, 0), i64(6, -1), note="padded, two axes")],
    "IDFT": [S(P(f32(2, 6, 2)), i64(-1), i64(4), note="trimmed")],
    "RDFT": [S(P(f32(2, 7)), i64(1)), S(P(f32(3, 4, 5)), i64(0, 2), note="two axes")],
    "IRDFT": [S(P(f32(2, 4, 2)), i64(1)), S(P(f32(3, 4, 3, 2)), i64(0, 2), i64(5, 5), note="two axes, odd length")],
    "SoftMax": [S(P(f32(2, 3, 4)), axis=-2)],
    "LogSoftmax": [S(P(f32(2, 3, 4)), axis=0)],
    "Interpolate": [
        S(P(f32(1, 2, 3, 4)), i64(5, 6), i64(2, 3), mode="linear_onnx", shape_calculation_mode="sizes",
          coordinate_transformation_mode="align_corners"),
        S(P(f32(1, 2, 3, 4)), np.array([2.0, 1.5], np.float32), i64(2, 3), mode="nearest",
          shape_calculation_mode="scales", coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
        S(P(f32(1, 1, 4, 4)), i64(6, 3), i64(2, 3), mode="cubic", shape_calculation_mode="sizes", cube_coeff=-0.5),
        S(P(f32(1, 2, 3, 4)), i64(1, 2, 5, 5), mode="linear", shape_calculation_mode="sizes",
          pads_begin=(0, 0, 1, 0), pads_end=(0, 0, 0, 1), note="padded, axes absent")],
    "DepthToSpace": [S(P(f32(1, 8, 2, 3)), mode="depth_first", block_size=2),
                     S(P(f32(1, 8, 2, 3)), mode="blocks_first", block_size=2)],
    "SpaceToDepth": [S(P(f32(1, 2, 4, 6)), mode="depth_first", block_size=2),
                     S(P(f32(1, 2, 4, 6)), mode="blocks_first", block_size=2)],
    "ShuffleChannels": [S(P(f32(1, 6, 2, 2)), axis=1, group=3), S(P(f32(2, 3, 6)), axis=-1, group=2)],
    "Const": [S(f32(2, 3))],
}
