"""Channels-last (NHWC) spatial ops for the TensorFlow and TFLite frontends.

OpenVINO's spatial ops take channels first. A channels-last op converts as Transpose (to
NCHW) -> op -> Transpose (back), as OpenVINO's TensorFlow frontend does; the `simplify` pass
then sinks and cancels the Transposes between consecutive ops, so a compiled graph does not
pay for them. Weights are laid out by the callers (in numpy when they are constants)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.ir import SSAValue

from compiler.frontends.builder import GraphBuilder
from dialects.errors import ConversionError
from dialects.ov import constant_of, dtype_of, shape_of


def to_first(rank: int) -> list[int]:
    """NHWC -> NCHW order (any rank >= 3)."""
    return [0, rank - 1] + list(range(1, rank - 1))


def to_last(rank: int) -> list[int]:
    """NCHW -> NHWC order."""
    return [0] + list(range(2, rank)) + [1]


def transpose(b: GraphBuilder, x: SSAValue, perm: Sequence[int]) -> SSAValue:
    return b.out("Transpose", [x, b.const(np.array(perm, np.int64))])


def permute(b: GraphBuilder, w: SSAValue, perm: Sequence[int]) -> SSAValue:
    """A weight in another layout: computed now when constant, else a Transpose."""
    k = constant_of(w)
    if k is not None:
        return b.const(np.ascontiguousarray(k.transpose(perm)))
    return transpose(b, w, perm)


def channels_first(b: GraphBuilder, x: SSAValue, channels_last: bool, fn) -> SSAValue:
    """fn(x in NCHW) -> y in NCHW, wrapped in layout Transposes when x is channels-last."""
    if not channels_last:
        return fn(x)
    r = len(shape_of(x.type))
    return transpose(b, fn(transpose(b, x, to_first(r))), to_last(r))


def pad_attrs(padding: str | Sequence[tuple[int, int]], n: int) -> dict:
    """TensorFlow padding ("SAME", "VALID" or explicit (begin, end) pairs) as OpenVINO attributes."""
    if isinstance(padding, str):
        p = padding.upper()
        if p not in ("SAME", "VALID"):
            raise ConversionError(f"padding {padding!r} is not SAME, VALID or EXPLICIT")
        return {"auto_pad": "same_upper" if p == "SAME" else "valid", "pads_begin": [0] * n, "pads_end": [0] * n}
    pairs = list(padding)
    return {"auto_pad": "explicit", "pads_begin": [int(a) for a, _ in pairs], "pads_end": [int(e) for _, e in pairs]}


def conv(b: GraphBuilder, x: SSAValue, w_oihw: SSAValue, strides, dilations, padding, channels_last: bool,
         groups: int = 1) -> SSAValue:
    """Convolution with an OI[spatial] filter (GroupConvolution when groups > 1: the filter
    is then [groups, O/groups, I/groups, spatial...])."""
    n = len(shape_of(x.type)) - 2
    attrs = dict(strides=[int(s) for s in strides], dilations=[int(d) for d in dilations], **pad_attrs(padding, n))
    op = "GroupConvolution" if groups > 1 else "Convolution"
    return channels_first(b, x, channels_last, lambda t: b.out(op, [t, w_oihw], **attrs))


def grouped_filter(b: GraphBuilder, w_oihw: SSAValue, groups: int) -> SSAValue:
    """[O, I/g, k...] -> [g, O/g, I/g, k...]."""
    shape = shape_of(w_oihw.type)
    if shape[0] is None or shape[0] % groups:
        raise ConversionError(f"grouped convolution: {shape[0]} output channels do not split into {groups} groups")
    target = np.array([groups, shape[0] // groups] + [-1 if d is None else d for d in shape[1:]], np.int64)
    return b.out("Reshape", [w_oihw, b.const(target)], special_zero=False)


def pool(b: GraphBuilder, kind: str, x: SSAValue, kernel, strides, padding, channels_last: bool) -> SSAValue:
    n = len(shape_of(x.type)) - 2
    attrs = dict(kernel=[int(k) for k in kernel], strides=[int(s) for s in strides], rounding_type="floor",
                 **pad_attrs(padding, n))
    if kind == "max":
        return channels_first(b, x, channels_last,
                              lambda t: b.op("MaxPool", [t], dilations=[1] * n, **attrs).outputs[0])
    # TensorFlow averages over the window's elements inside the input only
    return channels_first(b, x, channels_last, lambda t: b.out("AvgPool", [t], exclude_pad=True, **attrs))


def deconv(b: GraphBuilder, x: SSAValue, w_iohw: SSAValue, out_spatial: Sequence[int], strides, dilations,
           padding, channels_last: bool) -> SSAValue:
    """Transposed convolution producing `out_spatial` (TensorFlow's Conv2DBackpropInput and
    TFLite's TRANSPOSE_CONV): the padding of the forward convolution from the output to x,
    any leftover rows as output_padding."""
    in_shape = shape_of(x.type)
    n = len(in_shape) - 2
    spatial_in = in_shape[1:-1] if channels_last else in_shape[2:]
    k = shape_of(w_iohw.type)[2:]
    if any(d is None for d in spatial_in) or any(d is None for d in k):
        raise ConversionError("transposed convolution needs static spatial input and filter sizes")
    begin, end, extra = [], [], []
    for i in range(n):
        s, d, o, size_in = int(strides[i]), int(dilations[i]), int(out_spatial[i]), int(spatial_in[i])
        span = (k[i] - 1) * d + 1
        if isinstance(padding, str) and padding.upper() == "SAME":
            total = max((size_in - 1) * s + span - o, 0)
            pb = total // 2
        elif isinstance(padding, str):
            total, pb = 0, 0
        else:
            pb, pe = padding[i]
            total = pb + pe
        natural = (size_in - 1) * s + span - total
        if o < natural or o - natural >= s:
            raise ConversionError(f"transposed convolution: output size {o} does not fit input size {size_in}, "
                                  f"stride {s}, kernel {k[i]}")
        begin.append(pb)
        end.append(total - pb)
        extra.append(o - natural)
    attrs = dict(strides=[int(s) for s in strides], dilations=[int(d) for d in dilations], pads_begin=begin,
                 pads_end=end, auto_pad="explicit", output_padding=extra)
    return channels_first(b, x, channels_last, lambda t: b.out("ConvolutionBackpropData", [t, w_iohw], **attrs))


def resize(b: GraphBuilder, x: SSAValue, size: SSAValue, mode: str, align_corners: bool, half_pixel: bool
           ) -> SSAValue:
    """TensorFlow's ResizeBilinear/ResizeNearestNeighbor on NHWC images (Interpolate works on
    the H and W axes directly, no Transposes needed)."""
    if align_corners:
        coord, nearest = "align_corners", "round_prefer_ceil"
    elif half_pixel:
        coord, nearest = ("half_pixel", "floor") if mode != "nearest" else ("tf_half_pixel_for_nn", "floor")
    else:
        coord, nearest = "asymmetric", "floor"
    size = b.out("Convert", [size], destination_type=np.dtype(np.int64))
    return b.out("Interpolate", [x, size, b.const(np.array([1, 2], np.int64))], mode=mode,
                 shape_calculation_mode="sizes", coordinate_transformation_mode=coord, nearest_mode=nearest)


def _i64(b: GraphBuilder, v) -> SSAValue:
    return b.const(np.array(v, np.int64))


def space_to_batch(b: GraphBuilder, x: SSAValue, block: list[int], pads: list[list[int]]) -> SSAValue:
    """TensorFlow's SpaceToBatchND on channels-last data: [N, S1.., C] -> [N*prod(block),
    (S1+pads)/b1.., C], as Pad, Reshape, Transpose, Reshape."""
    shape = shape_of(x.type)
    m = len(block)
    spatial = shape[1:1 + m]
    if any(d is None for d in spatial):
        raise ConversionError("space-to-batch needs static spatial sizes")
    tail = len(shape) - 1 - m
    x = b.out("Pad", [x, _i64(b, [0] + [p[0] for p in pads] + [0] * tail),
                      _i64(b, [0] + [p[1] for p in pads] + [0] * tail), b.const(np.zeros((), dtype_of(x.type)))],
              pad_mode="constant")
    padded = [d + p[0] + p[1] for d, p in zip(spatial, pads)]
    if any(d % k for d, k in zip(padded, block)):
        raise ConversionError(f"space-to-batch: padded sizes {padded} do not divide into blocks {block}")
    rest = [-1 if d is None else d for d in shape[1 + m:]]
    split = [0]
    for d, k in zip(padded, block):
        split += [d // k, k]
    x = b.out("Reshape", [x, _i64(b, split + rest)], special_zero=True)
    perm = [2 + 2 * i for i in range(m)] + [0] + [1 + 2 * i for i in range(m)] + list(
        range(1 + 2 * m, 1 + 2 * m + len(rest)))
    x = b.out("Transpose", [x, _i64(b, perm)])
    return b.out("Reshape", [x, _i64(b, [-1] + [d // k for d, k in zip(padded, block)] + rest)], special_zero=False)


def batch_to_space(b: GraphBuilder, x: SSAValue, block: list[int], crops: list[list[int]]) -> SSAValue:
    """TensorFlow's BatchToSpaceND, the inverse of space_to_batch (crops instead of pads)."""
    shape = shape_of(x.type)
    m = len(block)
    spatial = list(shape[1:1 + m])
    if any(d is None for d in spatial):
        raise ConversionError("batch-to-space needs static spatial sizes")
    rest = [-1 if d is None else d for d in shape[1 + m:]]
    x = b.out("Reshape", [x, _i64(b, list(block) + [-1] + spatial + rest)], special_zero=False)
    perm = [m]
    for i in range(m):
        perm += [m + 1 + i, i]
    perm += list(range(2 * m + 1, 2 * m + 1 + len(rest)))
    x = b.out("Transpose", [x, _i64(b, perm)])
    x = b.out("Reshape", [x, _i64(b, [0] + [d * k for d, k in zip(spatial, block)] + rest)], special_zero=True)
    return crop(b, x, crops)


def crop(b: GraphBuilder, x: SSAValue, crops: list[list[int]]) -> SSAValue:
    """Remove crops[i] = (begin, end) elements from spatial dim i (channels-last data)."""
    if not any(c for pair in crops for c in pair):
        return x
    m = len(crops)
    spatial = shape_of(x.type)[1:1 + m]
    begin = [0] + [c[0] for c in crops]
    end = [0] + [d - c[1] for d, c in zip(spatial, crops)]
    return b.out("StridedSlice", [x, _i64(b, begin), _i64(b, end), _i64(b, [1] * (m + 1))],
                 begin_mask=[1] + [0] * m, end_mask=[1] + [0] * m)
