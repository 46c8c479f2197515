"""Shape arithmetic shared by the ops' inference, the interpreter and the lowering."""

from __future__ import annotations

import math
from collections.abc import Sequence

from dialects.errors import ShapeError
from dialects.ov.base import Dim, Shape, format_shape


def broadcast(a: Sequence[Dim], b: Sequence[Dim], who: str = "") -> Shape:
    """numpy broadcasting of two shapes; a dynamic dim meeting a static one takes the static
    one unless that is 1."""
    n = max(len(a), len(b))
    a = (1,) * (n - len(a)) + tuple(a)
    b = (1,) * (n - len(b)) + tuple(b)
    out: list[Dim] = []
    for x, y in zip(a, b):
        if x == 1:
            out.append(y)
        elif y == 1:
            out.append(x)
        elif x is None:
            out.append(y)
        elif y is None or x == y:
            out.append(x)
        else:
            raise ShapeError(f"{who}: shapes {format_shape(a)} and {format_shape(b)} do not broadcast")
    return tuple(out)


def broadcast_all(shapes: Sequence[Sequence[Dim]], who: str = "") -> Shape:
    out: Shape = ()
    for s in shapes:
        out = broadcast(out, s, who)
    return out


def norm_axis(axis: int, rank: int, who: str = "") -> int:
    if not -rank <= axis < max(rank, 1):
        raise ShapeError(f"{who}: axis {axis} is out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def norm_axes(axes: Sequence[int], rank: int, who: str = "") -> tuple[int, ...]:
    out = tuple(norm_axis(int(a), rank, who) for a in axes)
    if len(set(out)) != len(out):
        raise ShapeError(f"{who}: repeated axes {list(axes)}")
    return out


def prod(dims: Sequence[Dim]) -> Dim:
    if any(d is None for d in dims):
        return None
    return math.prod(dims)  # type: ignore[arg-type]


def resolve_pads(in_dims: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                 dilations: Sequence[int], auto_pad: str, pads_begin: Sequence[int],
                 pads_end: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Explicit begin/end pads for convolution and pooling windows under `auto_pad`."""
    if auto_pad == "explicit" or auto_pad == "notset":
        return tuple(pads_begin), tuple(pads_end)
    if auto_pad == "valid":
        return (0,) * len(kernel), (0,) * len(kernel)
    pb, pe = [], []
    for i, k, s, d in zip(in_dims, kernel, strides, dilations):
        out = -(-i // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - i, 0)
        small, big = total // 2, total - total // 2
        pb.append(small if auto_pad == "same_upper" else big)
        pe.append(big if auto_pad == "same_upper" else small)
    return tuple(pb), tuple(pe)


def window_out(in_dim: Dim, k: Dim, s: int, d: int, pb: int, pe: int, auto_pad: str,
               rounding: str = "floor") -> Dim:
    """Output size of a sliding window (convolution or pooling) along one axis; a window size
    not known yet (a filter computed at run time) leaves it unknown unless padding is SAME."""
    if (k is not None and k < 1) or s < 1 or d < 1:
        raise ShapeError(f"window size {k}, stride {s} and dilation {d} must be positive")
    if in_dim is None:
        return None
    if auto_pad in ("same_upper", "same_lower"):
        return -(-in_dim // s)
    if k is None:
        return None
    if auto_pad == "valid":
        pb = pe = 0
    span = in_dim + pb + pe - d * (k - 1) - 1
    if span < 0:
        raise ShapeError(f"window of size {k} (dilation {d}) does not fit input size {in_dim} "
                         f"with pads {pb},{pe}")
    if rounding == "floor":
        return span // s + 1
    out = -(-span // s) + 1
    if rounding == "ceil_torch" and (out - 1) * s >= in_dim + pb:
        out -= 1  # the last window must start inside the input or its left padding
    return out


def conv_shape(data: Sequence[Dim], spatial_kernel: Sequence[Dim], strides: Sequence[int],
               dilations: Sequence[int], pads_begin: Sequence[int], pads_end: Sequence[int],
               auto_pad: str, who: str, rounding: str = "floor") -> list[Dim]:
    n = len(spatial_kernel)
    for name, v in (("strides", strides), ("dilations", dilations)):
        if len(v) != n:
            raise ShapeError(f"{who}: {name} has {len(v)} values for {n} spatial dims")
    if auto_pad == "explicit" and (len(pads_begin) != n or len(pads_end) != n):
        raise ShapeError(f"{who}: pads_begin/pads_end need {n} values")
    pb = pads_begin if len(pads_begin) == n else (0,) * n
    pe = pads_end if len(pads_end) == n else (0,) * n
    try:
        return [window_out(data[2 + i], spatial_kernel[i], strides[i], dilations[i], pb[i], pe[i],
                           auto_pad, rounding) for i in range(n)]
    except ShapeError as e:
        raise ShapeError(f"{who}: {e}") from e


def slice_len(start: int, stop: int, step: int) -> int:
    """Length of a normalized slice (`stop` may be -1 with a negative step: before index 0)."""
    if step > 0:
        return max(0, -(-(stop - start) // step))
    return max(0, -(-(start - stop) // -step))


def clamp_slice(dim: int, start: int | None, stop: int | None, step: int) -> tuple[int, int]:
    """Normalize start/stop for one axis as numpy, ONNX Slice and TensorFlow do; None = full."""
    if step == 0:
        raise ShapeError("slice step must not be 0")
    if step > 0:
        s = 0 if start is None else (start + dim if start < 0 else start)
        e = dim if stop is None else (stop + dim if stop < 0 else stop)
        return min(max(s, 0), dim), min(max(e, 0), dim)
    s = dim - 1 if start is None else (start + dim if start < 0 else start)
    e = -1 if stop is None else (stop + dim if stop < 0 else stop)
    return min(max(s, -1), dim - 1), min(max(e, -1), dim - 1)


def strided_slice_items(shape: Sequence[Dim], begin: Sequence[int], end: Sequence[int],
                        strides: Sequence[int], begin_mask: Sequence[int], end_mask: Sequence[int],
                        new_axis_mask: Sequence[int], shrink_axis_mask: Sequence[int],
                        ellipsis_mask: Sequence[int]) -> list[tuple]:
    """StridedSlice as a list of items over the input axes, in order:
    ("slice", axis, start, stop, step) | ("index", axis, i) | ("new",).
    start/stop are normalized for static dims and None for dynamic ones."""

    def bit(mask: Sequence[int], i: int) -> bool:
        return i < len(mask) and bool(mask[i])

    n = len(begin)
    strides = list(strides) if strides else [1] * n
    consumed = sum(1 for i in range(n) if not bit(new_axis_mask, i) and not bit(ellipsis_mask, i))
    items: list[tuple] = []
    axis = 0
    for i in range(n):
        if bit(ellipsis_mask, i):
            for _ in range(len(shape) - consumed):
                items.append(("slice", axis, None, None, 1))
                axis += 1
        elif bit(new_axis_mask, i):
            items.append(("new",))
        elif bit(shrink_axis_mask, i):
            if axis >= len(shape):
                raise ShapeError("StridedSlice: more sliced axes than the input has")
            items.append(("index", axis, int(begin[i])))
            axis += 1
        else:
            if axis >= len(shape):
                raise ShapeError("StridedSlice: more sliced axes than the input has")
            b = None if bit(begin_mask, i) else int(begin[i])
            e = None if bit(end_mask, i) else int(end[i])
            items.append(("slice", axis, b, e, int(strides[i])))
            axis += 1
    while axis < len(shape):
        items.append(("slice", axis, None, None, 1))
        axis += 1
    out = []
    for it in items:
        if it[0] == "slice" and shape[it[1]] is not None:
            s, e = clamp_slice(shape[it[1]], it[2], it[3], it[4])
            out.append(("slice", it[1], s, e, it[4]))
        elif it[0] == "index" and shape[it[1]] is not None:
            d = shape[it[1]]
            idx = it[2] + d if it[2] < 0 else it[2]
            if not 0 <= idx < d:
                raise ShapeError(f"StridedSlice: index {it[2]} is out of range for size {d}")
            out.append(("index", it[1], idx))
        else:
            out.append(it)
    return out


def strided_slice_shape(shape: Sequence[Dim], items: list[tuple]) -> Shape:
    out: list[Dim] = []
    for it in items:
        if it[0] == "new":
            out.append(1)
        elif it[0] == "slice":
            out.append(None if shape[it[1]] is None else slice_len(it[2], it[3], it[4]))
    return tuple(out)


def deconv_pads(attr, x_shape: Sequence[int], kernel: Sequence[int], out_dims: Sequence[int],
                explicit_output_shape: bool) -> list[int]:
    """Begin pads of a transposed convolution: the explicit ones, or, when the output size is
    given or auto_pad asks for it, what distributes the total padding. The padding crops the
    full output, so OpenVINO puts the odd one at the start for same_upper (the kept window
    ends at the full output's end, as a same_upper convolution's input padding does) and at
    the end for same_lower and explicit."""
    n = len(kernel)
    s, d = attr.strides, attr.dilations
    outpad = attr.output_padding or (0,) * n
    pb = []
    for i in range(n):
        full = s[i] * (x_shape[2 + i] - 1) + d[i] * (kernel[i] - 1) + 1
        total = full + outpad[i] - out_dims[i]
        if attr.auto_pad == "explicit" and not explicit_output_shape:
            pb.append(attr.pads_begin[i])
        elif attr.auto_pad == "valid":
            pb.append(0)
        elif attr.auto_pad == "same_upper":
            pb.append(total - int(total / 2))
        else:
            pb.append(int(total / 2))  # halves round towards zero (an output larger than the full one: < 0)
    return pb
