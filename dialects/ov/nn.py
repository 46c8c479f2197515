"""Neural-network operations: convolutions, pooling, matrix multiplication, normalizations,
softmax, resizing and channel/space rearrangements."""

from __future__ import annotations

import math

import numpy as np

from dialects.errors import ShapeError
from dialects.ov.base import Bool, Float, Int, Ints, OpSpec, OvOp, Str, Type, format_shape, ov_op
from dialects.ov.shape_rules import broadcast, conv_shape, norm_axes, norm_axis

AUTO_PAD = ("explicit", "same_upper", "same_lower", "valid", "notset")


def _need_rank(who: str, shape, lo: int, hi: int | None = None) -> None:
    if len(shape) < lo or (hi is not None and len(shape) > hi):
        raise ShapeError(f"{who}: input of rank {len(shape)} ({format_shape(shape)}) is not supported")


class _ConvBase(OpSpec):
    INPUTS = ("data", "filter")
    strides = Ints()
    pads_begin = Ints()
    pads_end = Ints()
    dilations = Ints()
    auto_pad = Str("explicit", AUTO_PAD)


@ov_op
class Convolution(_ConvBase):
    """N-D convolution (cross-correlation); filter [C_out, C_in, k...]."""

    @classmethod
    def infer(cls, a, ins):
        x, w = ins
        _need_rank("Convolution", x.shape, 3)
        if len(w.shape) != len(x.shape):
            raise ShapeError(f"Convolution: filter rank {len(w.shape)} differs from data rank {len(x.shape)}")
        if x.shape[1] is not None and w.shape[1] is not None and x.shape[1] != w.shape[1]:
            raise ShapeError(f"Convolution: data has {x.shape[1]} channels, filter expects {w.shape[1]}")
        k = list(w.shape[2:])
        sp = conv_shape(x.shape, k, a.strides, a.dilations, a.pads_begin, a.pads_end, a.auto_pad, "Convolution")
        return [((x.shape[0], w.shape[0], *sp), x.dtype)]


@ov_op
class GroupConvolution(_ConvBase):
    """Grouped convolution; filter [G, C_out/G, C_in/G, k...]."""

    @classmethod
    def infer(cls, a, ins):
        x, w = ins
        _need_rank("GroupConvolution", x.shape, 3)
        if len(w.shape) != len(x.shape) + 1:
            raise ShapeError("GroupConvolution: filter must be [G, C_out/G, C_in/G, k...]")
        g, cin = w.shape[0], w.shape[2]
        if None not in (x.shape[1], g, cin) and x.shape[1] != g * cin:
            raise ShapeError(f"GroupConvolution: data has {x.shape[1]} channels, filter expects {g}x{cin}")
        k = list(w.shape[3:])
        sp = conv_shape(x.shape, k, a.strides, a.dilations, a.pads_begin, a.pads_end, a.auto_pad,
                        "GroupConvolution")
        cout = None if g is None or w.shape[1] is None else g * w.shape[1]
        return [((x.shape[0], cout, *sp), x.dtype)]


def _deconv_spatial(a, x_shape, k, out_shape_known):
    n = len(k)
    if out_shape_known is not None:
        if len(out_shape_known) != n:
            raise ShapeError("ConvolutionBackpropData: output_shape needs one value per spatial dim")
        return list(out_shape_known)
    op = a.output_padding or (0,) * n
    out = []
    for i in range(n):
        d = x_shape[2 + i]
        if d is None:
            out.append(None)
        elif a.auto_pad in ("same_upper", "same_lower"):
            out.append(d * a.strides[i] + op[i])
        elif k[i] is None:  # a filter computed at run time
            out.append(None)
        else:
            pb = a.pads_begin[i] if a.auto_pad != "valid" else 0
            pe = a.pads_end[i] if a.auto_pad != "valid" else 0
            out.append(a.strides[i] * (d - 1) + a.dilations[i] * (k[i] - 1) + 1 - pb - pe + op[i])
    return out


@ov_op
class ConvolutionBackpropData(_ConvBase):
    """Transposed convolution; filter [C_in, C_out, k...]."""

    INPUTS = ("data", "filter", "?output_shape")
    output_padding = Ints(())

    @classmethod
    def infer(cls, a, ins):
        x, w = ins[:2]
        _need_rank("ConvolutionBackpropData", x.shape, 3)
        known = ins[2].known() if len(ins) > 2 else None
        sp = _deconv_spatial(a, x.shape, list(w.shape[2:]), known)
        return [((x.shape[0], w.shape[1], *sp), x.dtype)]


@ov_op
class GroupConvolutionBackpropData(_ConvBase):
    """Grouped transposed convolution; filter [G, C_in/G, C_out/G, k...]."""

    INPUTS = ("data", "filter", "?output_shape")
    output_padding = Ints(())

    @classmethod
    def infer(cls, a, ins):
        x, w = ins[:2]
        known = ins[2].known() if len(ins) > 2 else None
        sp = _deconv_spatial(a, x.shape, list(w.shape[3:]), known)
        cout = None if None in (w.shape[0], w.shape[2]) else w.shape[0] * w.shape[2]
        return [((x.shape[0], cout, *sp), x.dtype)]


class _PoolBase(OpSpec):
    INPUTS = ("data",)
    strides = Ints()
    pads_begin = Ints()
    pads_end = Ints()
    kernel = Ints()
    rounding_type = Str("floor", ("floor", "ceil", "ceil_torch"))
    auto_pad = Str("explicit", AUTO_PAD)


@ov_op
class MaxPool(_PoolBase):
    """Max pooling with dilations; second output: flat indices of the maxima."""

    OPSET = "opset14"
    OUTPUTS = ("output", "indices")
    dilations = Ints(())
    index_element_type = Type(np.dtype(np.int64))
    axis = Int(0)

    @classmethod
    def infer(cls, a, ins):
        x = ins[0].shape
        _need_rank("MaxPool", x, 3)
        dil = a.dilations or (1,) * len(a.kernel)
        sp = conv_shape(x, a.kernel, a.strides, dil, a.pads_begin, a.pads_end, a.auto_pad, "MaxPool",
                        a.rounding_type)
        shape = (x[0], x[1], *sp)
        return [(shape, ins[0].dtype), (shape, np.dtype(a.index_element_type))]

    def ir_layer(self) -> tuple[str, str, dict[str, str]]:
        """Empty dilations mean ones here; OpenVINO's MaxPool needs them spelled out."""
        kind, version, data = OvOp.ir_layer(self)
        if not self.attr.dilations:
            data["dilations"] = ", ".join("1" for _ in self.attr.kernel)
        return kind, version, data


@ov_op
class AvgPool(_PoolBase):
    OPSET = "opset14"
    exclude_pad = Bool(ir_name="exclude-pad")

    @classmethod
    def infer(cls, a, ins):
        x = ins[0].shape
        _need_rank("AvgPool", x, 3)
        sp = conv_shape(x, a.kernel, a.strides, (1,) * len(a.kernel), a.pads_begin, a.pads_end, a.auto_pad,
                        "AvgPool", a.rounding_type)
        return [((x[0], x[1], *sp), ins[0].dtype)]


@ov_op
class AdaptiveAvgPool(OpSpec):
    OPSET = "opset8"
    INPUTS = ("data", "output_shape")

    @classmethod
    def infer(cls, a, ins):
        x = ins[0].shape
        k = ins[1].known()
        n = len(x) - 2
        sp = list(k) if k is not None else [None] * n
        if len(sp) != n:
            raise ShapeError(f"{cls.IR_TYPE}: output_shape needs {n} values")
        return [((x[0], x[1], *sp), ins[0].dtype)]


@ov_op
class AdaptiveMaxPool(OpSpec):
    OPSET = "opset8"
    INPUTS = ("data", "output_shape")
    OUTPUTS = ("output", "indices")
    index_element_type = Type(np.dtype(np.int64))

    @classmethod
    def infer(cls, a, ins):
        ((shape, dtype),) = AdaptiveAvgPool.infer(a, ins)
        return [(shape, dtype), (shape, np.dtype(a.index_element_type))]


@ov_op
class MatMul(OpSpec):
    """Batched matrix product with numpy semantics for 1-D operands and broadcast batch dims."""

    INPUTS = ("a", "b")
    transpose_a = Bool(False)
    transpose_b = Bool(False)

    @classmethod
    def infer(cls, a, ins):
        A, B = ins[0].shape, ins[1].shape
        if ins[0].dtype != ins[1].dtype:
            raise ShapeError("MatMul: operand element types differ")
        if not A or not B:
            raise ShapeError("MatMul: operands must have rank >= 1")
        A2 = (1, A[0]) if len(A) == 1 else (A[:-2] + (A[-1], A[-2]) if a.transpose_a else A)
        B2 = (B[0], 1) if len(B) == 1 else (B[:-2] + (B[-1], B[-2]) if a.transpose_b else B)
        ka, kb = A2[-1], B2[-2]
        if ka is not None and kb is not None and ka != kb:
            raise ShapeError(f"MatMul: inner dimensions differ ({format_shape(A)} x {format_shape(B)}, "
                             f"transpose_a={a.transpose_a}, transpose_b={a.transpose_b})")
        batch = broadcast(A2[:-2], B2[:-2], "MatMul")
        out = list(batch) + ([A2[-2]] if len(A) > 1 else []) + ([B2[-1]] if len(B) > 1 else [])
        return [(tuple(out), ins[0].dtype)]


@ov_op
class BatchNormInference(OpSpec):
    """(x - mean) / sqrt(variance + epsilon) * gamma + beta along axis 1."""

    OPSET = "opset5"
    INPUTS = ("data", "gamma", "beta", "mean", "variance")
    epsilon = Float()

    @classmethod
    def infer(cls, a, ins):
        _need_rank("BatchNormInference", ins[0].shape, 2)
        c = ins[0].shape[1]
        for x in ins[1:]:
            if len(x.shape) != 1 or (c is not None and x.shape[0] is not None and x.shape[0] != c):
                raise ShapeError(f"BatchNormInference: parameters must be [{c}], got {format_shape(x.shape)}")
        return [(ins[0].shape, ins[0].dtype)]


@ov_op
class MVN(OpSpec):
    """Mean-variance normalization over `axes`."""

    OPSET = "opset6"
    INPUTS = ("data", "axes")
    normalize_variance = Bool(True)
    eps = Float()
    eps_mode = Str("inside_sqrt", ("inside_sqrt", "outside_sqrt"))

    @classmethod
    def infer(cls, a, ins):
        axes = ins[1].known()
        if axes is not None and None not in axes:
            norm_axes(axes, len(ins[0].shape), "MVN")
        return [(ins[0].shape, ins[0].dtype)]


@ov_op
class LRN(OpSpec):
    """Local response normalization: x / (bias + alpha / size^len(axes) * sum(x^2 over the
    window))^beta; the window spans (size-1)//2 before and size//2 after each position."""

    INPUTS = ("data", "axes")
    alpha = Float()
    beta = Float()
    bias = Float()
    size = Int()

    @classmethod
    def infer(cls, a, ins):
        return [(ins[0].shape, ins[0].dtype)]


@ov_op
class NormalizeL2(OpSpec):
    INPUTS = ("data", "axes")
    eps = Float()
    eps_mode = Str("add", ("add", "max"))

    @classmethod
    def infer(cls, a, ins):
        return [(ins[0].shape, ins[0].dtype)]


@ov_op
class SoftMax(OpSpec):
    OPSET = "opset8"
    INPUTS = ("data",)
    axis = Int(1)

    @classmethod
    def infer(cls, a, ins):
        norm_axis(a.axis, len(ins[0].shape), cls.IR_TYPE)
        return [(ins[0].shape, ins[0].dtype)]


@ov_op
class LogSoftmax(OpSpec):
    OPSET = "opset5"
    INPUTS = ("data",)
    axis = Int(1)

    @classmethod
    def infer(cls, a, ins):
        norm_axis(a.axis, len(ins[0].shape), cls.IR_TYPE)
        return [(ins[0].shape, ins[0].dtype)]


INTERP_MODES = ("nearest", "linear", "linear_onnx", "cubic", "bilinear_pillow", "bicubic_pillow")
COORD_MODES = ("half_pixel", "pytorch_half_pixel", "asymmetric", "tf_half_pixel_for_nn", "align_corners")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "simple")


@ov_op
class Interpolate(OpSpec):
    """Resize along `axes` (all axes when absent) to `sizes` or by `scales`."""

    OPSET = "opset11"
    INPUTS = ("image", "scales_or_sizes", "?axes")
    mode = Str(choices=INTERP_MODES)
    shape_calculation_mode = Str(choices=("sizes", "scales"))
    coordinate_transformation_mode = Str("half_pixel", COORD_MODES)
    nearest_mode = Str("round_prefer_floor", NEAREST_MODES)
    antialias = Bool(False)
    pads_begin = Ints(())
    pads_end = Ints(())
    cube_coeff = Float(-0.75)

    @classmethod
    def axes_of(cls, rank: int, ins) -> tuple[int, ...] | None:
        if len(ins) < 3:
            return tuple(range(rank))
        axes = ins[2].known()
        return None if axes is None or None in axes else norm_axes(axes, rank, "Interpolate")

    @classmethod
    def out_dim(cls, a, d: int, i: int, param) -> int:
        pad = (a.pads_begin[i] if i < len(a.pads_begin) else 0) + (a.pads_end[i] if i < len(a.pads_end) else 0)
        if a.shape_calculation_mode == "sizes":
            return int(param)
        return int(math.floor((d + pad) * float(param) + 1e-5))

    @classmethod
    def infer(cls, a, ins):
        x = ins[0].shape
        axes = cls.axes_of(len(x), ins)
        out = [None if d is None else d + (a.pads_begin[i] if i < len(a.pads_begin) else 0)
               + (a.pads_end[i] if i < len(a.pads_end) else 0) for i, d in enumerate(x)]
        if axes is None:
            return [(tuple([None] * len(x)), ins[0].dtype)]
        vals = ins[1].value if ins[1].value is not None else ins[1].known()
        for j, ax in enumerate(axes):
            if vals is None or (a.shape_calculation_mode == "sizes" and vals[j] is None):
                out[ax] = None
            elif a.shape_calculation_mode == "sizes":
                out[ax] = int(vals[j])
            else:
                out[ax] = None if x[ax] is None else cls.out_dim(a, x[ax], ax, np.asarray(vals).reshape(-1)[j])
        return [(tuple(out), ins[0].dtype)]


@ov_op
class DepthToSpace(OpSpec):
    INPUTS = ("data",)
    mode = Str(choices=("blocks_first", "depth_first"))
    block_size = Int(1)

    @classmethod
    def infer(cls, a, ins):
        x = ins[0].shape
        _need_rank("DepthToSpace", x, 3)
        n = len(x) - 2
        bs = a.block_size
        c = x[1]
        if c is not None and c % (bs ** n):
            raise ShapeError(f"DepthToSpace: {c} channels are not divisible by block_size^{n}")
        return [((x[0], None if c is None else c // bs ** n,
                  *[None if d is None else d * bs for d in x[2:]]), ins[0].dtype)]


@ov_op
class SpaceToDepth(OpSpec):
    INPUTS = ("data",)
    mode = Str(choices=("blocks_first", "depth_first"))
    block_size = Int(1)

    @classmethod
    def infer(cls, a, ins):
        x = ins[0].shape
        _need_rank("SpaceToDepth", x, 3)
        n = len(x) - 2
        bs = a.block_size
        for d in x[2:]:
            if d is not None and d % bs:
                raise ShapeError(f"SpaceToDepth: spatial size {d} is not divisible by {bs}")
        return [((x[0], None if x[1] is None else x[1] * bs ** n,
                  *[None if d is None else d // bs for d in x[2:]]), ins[0].dtype)]


@ov_op
class ShuffleChannels(OpSpec):
    INPUTS = ("data",)
    axis = Int(1)
    group = Int(1)

    @classmethod
    def infer(cls, a, ins):
        ax = norm_axis(a.axis, len(ins[0].shape), "ShuffleChannels")
        c = ins[0].shape[ax]
        if c is not None and c % a.group:
            raise ShapeError(f"ShuffleChannels: {c} channels not divisible into {a.group} groups")
        return [(ins[0].shape, ins[0].dtype)]


# --- discrete Fourier transforms (OpenVINO's DFT/IDFT of opset7, RDFT/IRDFT of opset9) ---------

def dft_plan(op_type: str, shape, axes, sizes) -> tuple[list[int], list[int | None]]:
    """(axes as dims of the signal, output length along each): complex data [..., 2] (DFT, IDFT,
    IRDFT) has its signal in the dims before the last; `sizes` (signal_size, -1 = the input's)
    pads or trims each axis. RDFT's last axis gives N // 2 + 1 bins; IRDFT's is real of length
    signal_size, or 2 * (bins - 1) by default."""
    complex_in = op_type != "RDFT"
    rank = len(shape) - (1 if complex_in else 0)
    if complex_in and (not shape or shape[-1] not in (2, None)):
        raise ShapeError(f"{op_type}: complex data must end in a dimension of 2 (real, imaginary)")
    ax = norm_axes(list(axes), rank, op_type)
    if len(set(ax)) != len(ax):
        raise ShapeError(f"{op_type}: repeated axes {list(axes)}")
    if sizes is not None and len(sizes) != len(ax):
        raise ShapeError(f"{op_type}: signal_size needs one value per axis ({len(ax)})")
    out = []
    for i, a in enumerate(ax):
        s = None if sizes is None else int(sizes[i])
        if s is not None and s != -1 and s < 1:
            raise ShapeError(f"{op_type}: signal_size {s} along axis {a} is not positive")
        n = shape[a]
        if s is None or s == -1:
            s = (None if n is None else 2 * (n - 1)) if op_type == "IRDFT" and i == len(ax) - 1 else n
        if op_type == "IRDFT" and i == len(ax) - 1 and s is not None and s < 1:
            raise ShapeError("IRDFT: the last axis needs at least 2 bins, or a signal_size")
        out.append(s)
    return ax, out


class _DFT(OpSpec):
    OPSET = "opset7"
    INPUTS = ("data", "axes", "?signal_size")

    @classmethod
    def infer(cls, a, ins):
        axes = ins[1].known()
        if axes is None or None in axes:
            raise ShapeError(f"{cls.IR_TYPE}: axes must be constant")
        sizes = None
        if len(ins) > 2:
            sizes = ins[2].known()
            if sizes is None or None in sizes:
                raise ShapeError(f"{cls.IR_TYPE}: signal_size must be constant")
        x = list(ins[0].shape)
        ax, lengths = dft_plan(cls.IR_TYPE, x, axes, sizes)
        out = list(x)
        for i, (d, n) in enumerate(zip(ax, lengths)):
            last = i == len(ax) - 1
            out[d] = (None if n is None else n // 2 + 1) if cls.IR_TYPE == "RDFT" and last else n
        if cls.IR_TYPE == "RDFT":
            out.append(2)
        elif cls.IR_TYPE == "IRDFT":
            out.pop()
        return [(tuple(out), ins[0].dtype)]


@ov_op
class DFT(_DFT):
    """Complex-to-complex DFT along `axes`: data [..., 2]."""


@ov_op
class IDFT(_DFT):
    """The inverse DFT (divided by the product of the transformed lengths)."""


@ov_op
class RDFT(_DFT):
    """Real-to-complex DFT: the last axis keeps its N // 2 + 1 non-negative frequencies."""
    OPSET = "opset9"


@ov_op
class IRDFT(_DFT):
    """Complex-to-real inverse DFT of a one-sided spectrum (Hermitian symmetry assumed)."""
    OPSET = "opset9"
