"""`PrePostProcessor`: preprocessing and postprocessing added to a model, as OpenVINO's
`openvino.preprocess` does it.

    ppp = PrePostProcessor(model)
    ppp.input().tensor().set_element_type(Type.u8).set_layout(Layout("NHWC")).set_color_format(ColorFormat.BGR)
    ppp.input().model().set_layout(Layout("NCHW"))
    ppp.input().preprocess().convert_element_type(Type.f32).convert_color(ColorFormat.RGB) \\
        .resize(ResizeAlgorithm.RESIZE_LINEAR, 224, 224).mean([123.7, 116.3, 103.5]).scale([58.4, 57.1, 57.4])
    model = ppp.build()

Each input gets new Parameters of the tensor's type and shape (one per plane of a multi-plane
color format); the steps run in the order given, then the implicit ones (conversion to the
model's element type, transposition from the current layout to the model's), and the result
replaces the old Parameter. Every step is ordinary `ov` ops (Subtract, Divide, Gather,
Transpose, Interpolate, Slice, Convert, ...), so preprocessing is optimized with the model,
runs natively and is written to IR that OpenVINO loads. NV12 and I420 inputs are decomposed
into those ops following the NV12toRGB/I420toRGB specification (BT.601: R = 1.164(Y-16) +
1.596(V-128), ...; clipped to [0, 255], rounded half to even for integer types)."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from xdsl.dialects.builtin import ArrayAttr, DictionaryAttr
from xdsl.ir import SSAValue

from compiler.frontends.builder import NAMES
from compiler.model import Model, PartialShape
from compiler.opset import InsertBuilder, Output, building, value_of
from compiler.types import Dimension, Layout
from dialects.errors import ConversionError, OvccError
from dialects.ov import Dim, dtype_of, shape_of, tensor_type
from dialects.ov.base import names_attr
from dialects.ov.element_type import Type


class ColorFormat(enum.Enum):
    UNDEFINED = "UNDEFINED"
    NV12_SINGLE_PLANE = "NV12_SINGLE_PLANE"
    NV12_TWO_PLANES = "NV12_TWO_PLANES"
    I420_SINGLE_PLANE = "I420_SINGLE_PLANE"
    I420_THREE_PLANES = "I420_THREE_PLANES"
    RGB = "RGB"
    BGR = "BGR"
    GRAY = "GRAY"
    RGBX = "RGBX"
    BGRX = "BGRX"


class ResizeAlgorithm(enum.Enum):
    RESIZE_LINEAR = "linear"
    RESIZE_CUBIC = "cubic"
    RESIZE_NEAREST = "nearest"


_PLANES = {ColorFormat.NV12_TWO_PLANES: 2, ColorFormat.I420_THREE_PLANES: 3}
_YUV = (ColorFormat.NV12_SINGLE_PLANE, ColorFormat.NV12_TWO_PLANES, ColorFormat.I420_SINGLE_PLANE,
        ColorFormat.I420_THREE_PLANES)
# BT.601 (the NV12toRGB-8 / I420toRGB-8 specification): rows R, G, B of (Y-16, U-128, V-128)
_YUV_TO_RGB = np.array([[1.164, 0.0, 1.596], [1.164, -0.391, -0.813], [1.164, 2.018, 0.0]], np.float32)


def _type(t: Any) -> Type:
    try:
        return Type(t)
    except ValueError as e:
        raise ConversionError(f"PrePostProcessor: {e}") from None


def _dims_of(shape: Any) -> tuple[Dim, ...]:
    if isinstance(shape, PartialShape):
        return tuple(shape)
    if isinstance(shape, str):
        return tuple(PartialShape(shape))
    return tuple(Dimension(d).to_dim() for d in shape)


# --- layouts ---------------------------------------------------------------------------------

def _permutation(src: Layout, dst: Layout, rank: int, what: str) -> list[int] | None:
    """`perm` with `dst[i] = src[perm[i]]` (None when nothing moves), as OpenVINO finds it:
    named dims go where `dst` names them, the others keep their order."""
    if src.empty or dst.empty or src == dst:
        return None
    for lay in (src, dst):
        if lay.rank() is not None and lay.rank() != rank:
            raise ConversionError(f"{what}: layout {lay} has {lay.rank()} dimensions, the tensor has {rank}")
    s, d = src.names_for_rank(rank), dst.names_for_rank(rank)
    if sum(n is not None for n in s) > sum(n is not None for n in d):
        inv = _permutation(dst, src, rank, what)
        if inv is None:
            return None
        res = [0] * rank
        for i, p in enumerate(inv):
            res[p] = i
        return None if res == list(range(rank)) else res
    res: list[int] = [-1] * rank
    mapped = [False] * rank
    for i, n in enumerate(s):
        if n is None:
            continue
        if n not in d:
            raise ConversionError(f"{what}: dimension {n} of layout {src} is not in layout {dst}")
        res[d.index(n)] = i
        mapped[i] = True
    free = (i for i in range(rank) if not mapped[i])
    res = [r if r >= 0 else next(free) for r in res]
    return None if res == list(range(rank)) else res


def _apply_permutation(layout: Layout, dims: Sequence[int]) -> Layout:
    if layout.empty:
        return layout
    if layout.dynamic:
        raise ConversionError(f"convert_layout: a permutation cannot be applied to layout {layout} (it has '...')")
    names = layout.names_for_rank(len(dims))
    return Layout("[" + ",".join(names[d] or "?" for d in dims) + "]")


# --- what one input is while its steps run ---------------------------------------------------

@dataclass
class _Context:
    where: str
    layout: Layout
    color: ColorFormat
    target_layout: Layout
    target_type: np.dtype
    model_shape: tuple[Dim, ...]

    def axis(self, v: SSAValue, name: str, step: str) -> int:
        if not self.layout.has_name(name):
            what = {"C": "channels", "H": "height", "W": "width"}.get(name, name)
            raise ConversionError(f"{self.where}: {step} needs the {what} ({name}) dimension, and the layout "
                                  f"{self.layout if not self.layout.empty else '(none)'} does not name it; set one "
                                  "with tensor().set_layout(...)")
        try:
            return self.layout.index(name, len(shape_of(v.type)))
        except OvccError as e:
            raise ConversionError(f"{self.where}: {step}: {e}") from None


Step = Callable[[InsertBuilder, list, _Context], list]


@dataclass
class _Steps:
    steps: list[tuple[str, Step]] = field(default_factory=list)
    # for the tensor's shape and layout: the permutations given by dims, and the last layout
    # a convert_layout named (OpenVINO's calculate_param_shape and propagate_layout)
    dim_converts: list[list[int]] = field(default_factory=list)
    forward_converts: list[list[int]] = field(default_factory=list)
    last_layout: Layout | None = None


def _one(nodes: list, ctx: _Context, step: str) -> SSAValue:
    if len(nodes) != 1:
        raise ConversionError(f"{ctx.where}: {step} cannot work on a {len(nodes)}-plane image; convert it to "
                              "RGB/BGR first with convert_color")
    return nodes[0]


def _float(v: SSAValue, ctx: _Context, step: str) -> None:
    if dtype_of(v.type).kind != "f":
        raise ConversionError(f"{ctx.where}: {step} needs a floating-point tensor, this one is "
                              f"{Type(dtype_of(v.type)).get_type_name()}; add convert_element_type(Type.f32) before it")


def _per_channel(b: InsertBuilder, v: SSAValue, values: Any, ctx: _Context, step: str) -> SSAValue:
    vals = np.atleast_1d(np.asarray(values, np.float64)).reshape(-1)
    if vals.size == 0:
        raise ConversionError(f"{ctx.where}: {step}: no values given")
    dt = dtype_of(v.type)
    if vals.size == 1:
        return b.const(vals.astype(dt))
    rank = len(shape_of(v.type))
    c = ctx.axis(v, "C", step)
    channels = shape_of(v.type)[c]
    if channels is not None and channels != vals.size:
        raise ConversionError(f"{ctx.where}: {step}: {vals.size} values for {channels} channels (shape "
                              f"{PartialShape(shape_of(v.type))}, layout {ctx.layout})")
    shape = [1] * rank
    shape[c] = vals.size
    return b.const(vals.astype(dt).reshape(shape))


def _reverse(b: InsertBuilder, v: SSAValue, ctx: _Context, step: str) -> SSAValue:
    c = ctx.axis(v, "C", step)
    n = shape_of(v.type)[c]
    if n is None:
        raise ConversionError(f"{ctx.where}: {step}: the number of channels is dynamic")
    return b.out("Gather", [v, b.const(np.arange(n - 1, -1, -1, dtype=np.int64)), b.i64(c)], batch_dims=0)


def _transpose(b: InsertBuilder, v: SSAValue, perm: Sequence[int] | None) -> SSAValue:
    return v if perm is None else b.out("Transpose", [v, b.i64(list(perm))])


def _convert_layout_to(b: InsertBuilder, v: SSAValue, ctx: _Context, dst: Layout, step: str) -> SSAValue:
    perm = _permutation(ctx.layout, dst, len(shape_of(v.type)), f"{ctx.where}: {step}")
    v = _transpose(b, v, perm)
    ctx.layout = dst
    return v


def _convert_type(b: InsertBuilder, v: SSAValue, dt: np.dtype) -> SSAValue:
    return v if dtype_of(v.type) == dt else b.out("Convert", [v], destination_type=dt)


def _dim(b: InsertBuilder, v: SSAValue, axis: int, num: int = 1, den: int = 1) -> SSAValue:
    """Dimension `axis` of `v` times num/den as a 1-element i64 tensor (a constant when known)."""
    d = shape_of(v.type)[axis]
    if d is not None:
        return b.i64([d * num // den])
    s = b.out("Gather", [b.out("ShapeOf", [v], output_type=np.dtype(np.int64)), b.i64([axis]), b.i64(0)],
              batch_dims=0)
    if num != 1:
        s = b.out("Multiply", [s, b.i64([num])])
    if den != 1:
        s = b.out("Divide", [s, b.i64([den])], m_pythondiv=True)
    return s


def _rows(b: InsertBuilder, v: SSAValue, start: SSAValue | int, stop: SSAValue | int) -> SSAValue:
    big = np.iinfo(np.int64).max
    lo = start if isinstance(start, SSAValue) else b.i64([start])
    hi = stop if isinstance(stop, SSAValue) else b.i64([big if stop < 0 else stop])
    return b.out("Slice", [v, lo, hi, b.i64([1]), b.i64([1])])


def _upsample2(b: InsertBuilder, v: SSAValue) -> SSAValue:
    """Each chroma sample repeated over its 2x2 block of pixels (NHWC)."""
    return b.out("Interpolate", [v, b.const(np.array([2.0, 2.0], np.float32)), b.i64([1, 2])], mode="nearest",
                 shape_calculation_mode="scales", coordinate_transformation_mode="asymmetric", nearest_mode="floor")


def _yuv_to_rgb(b: InsertBuilder, y: SSAValue, u: SSAValue, v: SSAValue, dst: ColorFormat) -> SSAValue:
    """Y [N,H,W,1] and subsampled U, V [N,H/2,W/2,1] (any one element type) to RGB or BGR, each
    channel computed as the specification writes it (element-wise f32 arithmetic)."""
    dt = dtype_of(y.type)
    f32 = np.dtype(np.float32)

    def k(x: float) -> SSAValue:
        return b.const(np.float32(x))

    c = b.out("Subtract", [_convert_type(b, y, f32), k(16.0)])
    d = b.out("Subtract", [_upsample2(b, _convert_type(b, u, f32)), k(128.0)])
    e = b.out("Subtract", [_upsample2(b, _convert_type(b, v, f32)), k(128.0)])
    luma = b.out("Multiply", [c, k(_YUV_TO_RGB[0, 0])])
    red = b.out("Add", [luma, b.out("Multiply", [e, k(_YUV_TO_RGB[0, 2])])])
    green = b.out("Add", [b.out("Add", [luma, b.out("Multiply", [d, k(_YUV_TO_RGB[1, 1])])]),
                          b.out("Multiply", [e, k(_YUV_TO_RGB[1, 2])])])
    blue = b.out("Add", [luma, b.out("Multiply", [d, k(_YUV_TO_RGB[2, 1])])])
    rgb = b.out("Concat", [red, green, blue] if dst == ColorFormat.RGB else [blue, green, red], axis=3)
    rgb = b.out("Clamp", [rgb], min=0.0, max=255.0)
    if dt.kind in "iub":  # ties to even, as OpenVINO's CPU plugin rounds them (its reference rounds away)
        rgb = b.out("Round", [rgb], mode="half_to_even")
    return _convert_type(b, rgb, dt)


def _split_planes(b: InsertBuilder, nodes: list, ctx: _Context) -> tuple[SSAValue, SSAValue, SSAValue]:
    """The Y, U and V planes of an NV12 or I420 image, each [N, h, w, 1]."""
    color = ctx.color
    if color == ColorFormat.NV12_TWO_PLANES:
        y, uv = nodes
        return y, _rows_channel(b, uv, 0), _rows_channel(b, uv, 1)
    if color == ColorFormat.I420_THREE_PLANES:
        return nodes[0], nodes[1], nodes[2]
    x = nodes[0]
    h = _dim(b, x, 1, 2, 3)  # the image height: the plane has 1.5x as many rows
    y = _rows(b, x, 0, h)
    rest = _rows(b, x, h, -1)  # [N, H/2, W, 1]
    if color == ColorFormat.NV12_SINGLE_PLANE:  # interleaved U, V: [N, H/2, W/2, 2]
        uv = b.out("Reshape", [rest, b.i64([0, 0, -1, 2])], special_zero=True)
        return y, _rows_channel(b, uv, 0), _rows_channel(b, uv, 1)
    # I420: all of U (H/2 x W/2), then all of V
    flat = b.out("Reshape", [rest, b.i64([0, -1])], special_zero=True)
    u_flat, v_flat = b.op("Split", [flat, b.i64(1)], num_splits=2).outputs
    shape = b.out("Concat", [b.i64([0]), _dim(b, x, 1, 1, 3), _dim(b, x, 2, 1, 2), b.i64([1])], axis=0)
    return (y, b.out("Reshape", [u_flat, shape], special_zero=True),
            b.out("Reshape", [v_flat, shape], special_zero=True))


def _rows_channel(b: InsertBuilder, v: SSAValue, c: int) -> SSAValue:
    return b.out("Slice", [v, b.i64([c]), b.i64([c + 1]), b.i64([1]), b.i64([3])])


def _convert_color(b: InsertBuilder, nodes: list, ctx: _Context, dst: ColorFormat) -> list:
    src = ctx.color
    step = f"convert_color({dst.name})"
    if src == dst:
        return nodes
    if src == ColorFormat.UNDEFINED:
        raise ConversionError(f"{ctx.where}: {step}: the tensor's color format is not set; use "
                              "tensor().set_color_format(...)")
    if src in _YUV and dst in (ColorFormat.RGB, ColorFormat.BGR):
        for v in nodes:
            if len(shape_of(v.type)) != 4:
                raise ConversionError(f"{ctx.where}: {step}: {src.name} planes must be 4-D NHWC")
        out = [_yuv_to_rgb(b, *_split_planes(b, nodes, ctx), dst)]
    elif src == ColorFormat.NV12_TWO_PLANES and dst == ColorFormat.GRAY:
        out = [nodes[0]]
    elif src in (ColorFormat.RGB, ColorFormat.BGR) and dst in (ColorFormat.RGB, ColorFormat.BGR):
        out = [_reverse(b, _one(nodes, ctx, step), ctx, step)]
    elif src in (ColorFormat.RGB, ColorFormat.BGR) and dst == ColorFormat.GRAY:
        out = [_to_gray(b, _one(nodes, ctx, step), ctx, src, step)]
    elif src in (ColorFormat.RGBX, ColorFormat.BGRX) and dst in (ColorFormat.RGB, ColorFormat.BGR):
        v = _one(nodes, ctx, step)
        c = ctx.axis(v, "C", step)
        v = b.out("Slice", [v, b.i64([0]), b.i64([3]), b.i64([1]), b.i64([c])])
        if (src == ColorFormat.RGBX) != (dst == ColorFormat.RGB):
            v = _reverse(b, v, ctx, step)
        out = [v]
    else:
        raise ConversionError(f"{ctx.where}: {step}: cannot convert {src.name} to {dst.name}")
    ctx.color = dst
    return out


def _to_gray(b: InsertBuilder, v: SSAValue, ctx: _Context, src: ColorFormat, step: str) -> SSAValue:
    shape = shape_of(v.type)
    c = ctx.axis(v, "C", step)
    if len(shape) != 4 or shape[c] != 3:
        raise ConversionError(f"{ctx.where}: {step}: needs a 4-D image with 3 channels")
    dt = dtype_of(v.type)
    perm = [0, 3, 1, 2] if c == 3 else None
    x = _convert_type(b, _transpose(b, v, perm), np.dtype(np.float32))
    w = np.array([0.299, 0.587, 0.114] if src == ColorFormat.RGB else [0.114, 0.587, 0.299], np.float32)
    x = b.out("Convolution", [x, b.const(w.reshape(1, 3, 1, 1))], strides=[1, 1], pads_begin=[0, 0],
              pads_end=[0, 0], dilations=[1, 1], auto_pad="explicit")
    if dt.kind in "iub":
        x = b.out("Round", [x], mode="half_to_even")
    x = _convert_type(b, x, dt)
    return _transpose(b, x, [0, 2, 3, 1] if c == 3 else None)


def _resize(b: InsertBuilder, nodes: list, ctx: _Context, alg: ResizeAlgorithm, h: int, w: int) -> list:
    step = f"resize({alg.name})"
    v = _one(nodes, ctx, step)
    hi, wi = ctx.axis(v, "H", step), ctx.axis(v, "W", step)
    if h < 0 or w < 0:
        tl = ctx.target_layout
        if tl.empty or not (tl.has_name("H") and tl.has_name("W")):
            raise ConversionError(f"{ctx.where}: {step}: no size given and the model's layout does not name H "
                                  "and W; give the size or set model().set_layout(...)")
        rank = len(ctx.model_shape)
        mh, mw = ctx.model_shape[tl.index("H", rank)], ctx.model_shape[tl.index("W", rank)]
        if mh is None or mw is None:
            raise ConversionError(f"{ctx.where}: {step}: no size given and the model's height/width are dynamic")
        h, w = (h if h >= 0 else mh), (w if w >= 0 else mw)
    dt = dtype_of(v.type)
    x = _convert_type(b, v, np.dtype(np.float32))
    x = b.out("Interpolate", [x, b.i64([h, w]), b.i64([hi, wi])], mode=alg.value, shape_calculation_mode="sizes",
              coordinate_transformation_mode="half_pixel", nearest_mode="round_prefer_floor", cube_coeff=-0.75)
    if dt.kind in "iub" and dt != np.float32:  # computed in f32, rounded back into the type's range
        info = np.iinfo(dt)
        x = b.out("Clamp", [b.out("Round", [x], mode="half_to_even")], min=float(info.min), max=float(info.max))
    return [_convert_type(b, x, dt)]


# --- the API -----------------------------------------------------------------------------------

class InputTensorInfo:
    """What the user's tensor is: element type, layout, shape, color format."""

    def __init__(self) -> None:
        self.element_type: Type | None = None
        self.layout: Layout | None = None
        self.shape: tuple[Dim, ...] | None = None
        self.spatial: tuple[int, int] | None | str = None  # (h, w), "dynamic", or None
        self.color = ColorFormat.UNDEFINED
        self.sub_names: list[str] = []
        self.memory_type = ""

    def set_element_type(self, element_type: Any) -> InputTensorInfo:
        self.element_type = _type(element_type)
        return self

    def set_layout(self, layout: Any) -> InputTensorInfo:
        self.layout = Layout(layout)
        return self

    def set_shape(self, shape: Any) -> InputTensorInfo:
        self.shape = _dims_of(shape)
        return self

    def set_spatial_dynamic_shape(self) -> InputTensorInfo:
        self.spatial = "dynamic"
        return self

    def set_spatial_static_shape(self, height: int, width: int) -> InputTensorInfo:
        self.spatial = (int(height), int(width))
        return self

    def set_color_format(self, color_format: ColorFormat, sub_names: Sequence[str] = ()) -> InputTensorInfo:
        self.color = ColorFormat(color_format)
        self.sub_names = list(sub_names)
        return self

    def set_memory_type(self, memory_type: str) -> InputTensorInfo:
        self.memory_type = str(memory_type)  # a GPU notion: accepted, changes nothing on the CPU
        return self

    def set_from(self, tensor: Any) -> InputTensorInfo:
        arr = tensor.data if hasattr(tensor, "data") and not isinstance(tensor, np.ndarray) else np.asarray(tensor)
        self.element_type = Type(arr.dtype)
        self.shape = tuple(arr.shape)
        return self


class PreProcessSteps:
    """The steps, in order. Each returns the object itself, so calls chain."""

    def __init__(self) -> None:
        self._s = _Steps()

    def _add(self, name: str, fn: Step) -> PreProcessSteps:
        self._s.steps.append((name, fn))
        return self

    def convert_element_type(self, element_type: Any = None) -> PreProcessSteps:
        t = _type(element_type) if element_type is not None else Type.dynamic

        def step(b, nodes, ctx):
            dt = ctx.target_type if t.is_dynamic() else t.to_dtype()
            return [_convert_type(b, v, dt) for v in nodes]
        return self._add(f"convert_element_type({t.get_type_name()})", step)

    def convert_layout(self, layout: Any = None) -> PreProcessSteps:
        if isinstance(layout, list | tuple):
            dims = [int(d) for d in layout]
            if sorted(dims) != list(range(len(dims))):
                raise ConversionError(f"PrePostProcessor: convert_layout({dims}): not a permutation")
            self._s.dim_converts.insert(0, dims)
            self._s.forward_converts.append(dims)

            def by_dims(b, nodes, ctx):
                v = _one(nodes, ctx, "convert_layout")
                if len(shape_of(v.type)) != len(dims):
                    raise ConversionError(f"{ctx.where}: convert_layout({dims}): the tensor has rank "
                                          f"{len(shape_of(v.type))}")
                ctx.layout = _apply_permutation(ctx.layout, dims)
                return [_transpose(b, v, dims)]
            return self._add(f"convert_layout({dims})", by_dims)
        dst = Layout(layout) if layout is not None else Layout()
        self._s.forward_converts = []
        self._s.last_layout = dst

        def by_layout(b, nodes, ctx):
            target = dst if not dst.empty else ctx.target_layout
            return [_convert_layout_to(b, _one(nodes, ctx, "convert_layout"), ctx, target,
                                       f"convert_layout({target})")]
        return self._add(f"convert_layout({dst})", by_layout)

    def mean(self, value: float | Sequence[float]) -> PreProcessSteps:
        def step(b, nodes, ctx):
            v = _one(nodes, ctx, "mean")
            _float(v, ctx, "mean")
            return [b.out("Subtract", [v, _per_channel(b, v, value, ctx, "mean")])]
        return self._add("mean", step)

    def scale(self, value: float | Sequence[float]) -> PreProcessSteps:
        def step(b, nodes, ctx):
            v = _one(nodes, ctx, "scale")
            _float(v, ctx, "scale")
            vals = np.atleast_1d(np.asarray(value, np.float64))
            if (vals == 0).any():
                raise ConversionError(f"{ctx.where}: scale: a scale of 0 divides by zero")
            return [b.out("Divide", [v, _per_channel(b, v, value, ctx, "scale")])]
        return self._add("scale", step)

    def reverse_channels(self) -> PreProcessSteps:
        return self._add("reverse_channels", lambda b, nodes, ctx: [
            _reverse(b, _one(nodes, ctx, "reverse_channels"), ctx, "reverse_channels")])

    def convert_color(self, dst_format: ColorFormat) -> PreProcessSteps:
        dst = ColorFormat(dst_format)
        return self._add(f"convert_color({dst.name})", lambda b, nodes, ctx: _convert_color(b, nodes, ctx, dst))

    def resize(self, algorithm: ResizeAlgorithm, dst_height: int = -1, dst_width: int = -1) -> PreProcessSteps:
        alg = ResizeAlgorithm(algorithm)
        return self._add(f"resize({alg.name})", lambda b, nodes, ctx: _resize(b, nodes, ctx, alg, int(dst_height),
                                                                             int(dst_width)))

    def crop(self, begin: Sequence[int], end: Sequence[int]) -> PreProcessSteps:
        if len(begin) != len(end):
            raise ConversionError(f"PrePostProcessor: crop: begin has {len(begin)} values, end {len(end)}")

        def step(b, nodes, ctx):
            v = _one(nodes, ctx, "crop")
            if len(begin) != len(shape_of(v.type)):
                raise ConversionError(f"{ctx.where}: crop: {len(begin)} coordinates for a tensor of rank "
                                      f"{len(shape_of(v.type))}")
            return [b.out("Slice", [v, b.i64(list(begin)), b.i64(list(end)), b.i64([1] * len(begin)),
                                    b.i64(list(range(len(begin))))])]
        return self._add(f"crop({list(begin)}, {list(end)})", step)

    def custom(self, fn: Callable[[Output], Any]) -> PreProcessSteps:
        return self._add("custom", lambda b, nodes, ctx: [_custom(b, _one(nodes, ctx, "custom"), fn, ctx.where)])


def _custom(b: InsertBuilder, v: SSAValue, fn: Callable, where: str) -> SSAValue:
    with building(b):
        try:
            res = fn(Output(v))
        except OvccError as e:
            raise ConversionError(f"{where}: custom step: {e}") from None
        except Exception as e:  # noqa: BLE001 - the user's function; report it in one line
            raise ConversionError(f"{where}: custom step {getattr(fn, '__name__', fn)!r} raised "
                                  f"{type(e).__name__}: {e}") from None
        try:
            return value_of(res, b)
        except Exception:  # noqa: BLE001
            raise ConversionError(f"{where}: custom step returned {type(res).__name__}, not an op output") from None


class InputModelInfo:
    def __init__(self) -> None:
        self.layout: Layout | None = None

    def set_layout(self, layout: Any) -> InputModelInfo:
        self.layout = Layout(layout)
        return self


class InputInfo:
    def __init__(self, index: int):
        self.index = index
        self._tensor = InputTensorInfo()
        self._steps = PreProcessSteps()
        self._model = InputModelInfo()

    def tensor(self) -> InputTensorInfo:
        return self._tensor

    def preprocess(self) -> PreProcessSteps:
        return self._steps

    def model(self) -> InputModelInfo:
        return self._model

    def get_tensor(self) -> InputTensorInfo:
        return self._tensor

    def get_preprocess(self) -> PreProcessSteps:
        return self._steps

    def get_model(self) -> InputModelInfo:
        return self._model


class OutputTensorInfo:
    def __init__(self) -> None:
        self.element_type: Type | None = None
        self.layout: Layout | None = None

    def set_element_type(self, element_type: Any) -> OutputTensorInfo:
        self.element_type = _type(element_type)
        return self

    def set_layout(self, layout: Any) -> OutputTensorInfo:
        self.layout = Layout(layout)
        return self


class PostProcessSteps:
    def __init__(self) -> None:
        self.steps: list[tuple[str, Step]] = []

    def convert_element_type(self, element_type: Any = None) -> PostProcessSteps:
        t = _type(element_type) if element_type is not None else Type.dynamic

        def step(b, nodes, ctx):
            return [_convert_type(b, nodes[0], ctx.target_type if t.is_dynamic() else t.to_dtype())]
        self.steps.append((f"convert_element_type({t.get_type_name()})", step))
        return self

    def convert_layout(self, layout: Any = None) -> PostProcessSteps:
        if isinstance(layout, list | tuple):
            dims = [int(d) for d in layout]

            def by_dims(b, nodes, ctx):
                ctx.layout = _apply_permutation(ctx.layout, dims)
                return [_transpose(b, nodes[0], dims)]
            self.steps.append((f"convert_layout({dims})", by_dims))
            return self
        dst = Layout(layout) if layout is not None else Layout()

        def by_layout(b, nodes, ctx):
            target = dst if not dst.empty else ctx.target_layout
            return [_convert_layout_to(b, nodes[0], ctx, target, f"convert_layout({target})")]
        self.steps.append((f"convert_layout({dst})", by_layout))
        return self

    def custom(self, fn: Callable[[Output], Any]) -> PostProcessSteps:
        self.steps.append(("custom", lambda b, nodes, ctx: [_custom(b, nodes[0], fn, ctx.where)]))
        return self


class OutputModelInfo:
    def __init__(self) -> None:
        self.layout: Layout | None = None

    def set_layout(self, layout: Any) -> OutputModelInfo:
        self.layout = Layout(layout)
        return self


class OutputInfo:
    def __init__(self, index: int):
        self.index = index
        self._tensor = OutputTensorInfo()
        self._steps = PostProcessSteps()
        self._model = OutputModelInfo()

    def tensor(self) -> OutputTensorInfo:
        return self._tensor

    def postprocess(self) -> PostProcessSteps:
        return self._steps

    def model(self) -> OutputModelInfo:
        return self._model


class PrePostProcessor:
    """Preprocessing of a model's inputs and postprocessing of its outputs; `build()` adds
    them to the model (in place, as OpenVINO does) and returns it."""

    def __init__(self, model: Model):
        if not isinstance(model, Model):
            raise ConversionError(f"PrePostProcessor needs a Model, got {type(model).__name__}")
        self.model = model
        self._inputs: dict[int, InputInfo] = {}
        self._outputs: dict[int, OutputInfo] = {}

    def input(self, key: int | str | None = None) -> InputInfo:
        port = self._find(self.model.input, key)
        return self._inputs.setdefault(port.index, InputInfo(port.index))

    def output(self, key: int | str | None = None) -> OutputInfo:
        port = self._find(self.model.output, key)
        return self._outputs.setdefault(port.index, OutputInfo(port.index))

    @staticmethod
    def _find(lookup, key):
        try:
            return lookup(key)
        except OvccError as e:
            raise ConversionError(f"PrePostProcessor: {e}") from None

    def build(self) -> Model:
        from passes import FRONTEND_CLEANUP
        from passes.pipeline import run_pipeline

        fn = self.model.function
        block = fn.body.block
        args = list(block.args)
        names = {a: list(p._names) for a, p in zip(args, self.model.inputs)}
        anchor = block.first_op
        for index, info in sorted(self._inputs.items()):
            self._build_input(block, anchor, args[index], names, info)
        ret = block.last_op
        for index, info in sorted(self._outputs.items()):
            self._build_output(block, ret, index, info)
        fn.arg_attrs = ArrayAttr([DictionaryAttr({NAMES: names_attr(names.get(a, []))}) for a in block.args])
        try:
            run_pipeline(self.model.module, "infer-shapes{reset=true}," + FRONTEND_CLEANUP)
        except OvccError as e:
            raise ConversionError(f"PrePostProcessor: the model does not fit the preprocessed inputs: {e}") from None
        return self.model

    def _build_input(self, block, anchor, param, names: dict, info: InputInfo) -> None:
        t, s = info._tensor, info._steps._s
        label = (names[param] or [str(info.index)])[0]
        where = f"PrePostProcessor: input {label!r}"
        model_shape = shape_of(param.type)
        model_type = dtype_of(param.type)
        rank = len(model_shape)
        model_layout = info._model.layout or Layout()
        tensor_layout = t.layout
        if tensor_layout is None:
            tensor_layout = Layout("NHWC") if t.color != ColorFormat.UNDEFINED else Layout()
        if model_layout.empty and t.layout is not None:  # the model's layout follows from the steps
            model_layout = s.last_layout if s.last_layout is not None else tensor_layout
            for dims in s.forward_converts:
                model_layout = _apply_permutation(model_layout, dims)
        shape = list(model_shape)
        if not tensor_layout.empty and not model_layout.empty and tensor_layout != model_layout:
            perm = _permutation(model_layout, tensor_layout, rank, where)
            if perm is not None:
                shape = [model_shape[p] for p in perm]
        else:  # undo the convert_layout(dims) steps to find the tensor's shape (and layout)
            layout = model_layout
            for dims in s.dim_converts:
                old, shape = shape, [None] * len(dims)
                back = [0] * len(dims)
                for i, d in enumerate(dims):
                    if d >= len(old):
                        raise ConversionError(f"{where}: convert_layout({dims}) does not fit rank {len(old)}")
                    shape[d] = old[i]
                    back[d] = i
                layout = _apply_permutation(layout, back)
            if tensor_layout.empty:
                tensor_layout = layout
        if t.shape is not None:
            shape = list(t.shape)
        elif t.spatial is not None:
            for n in ("H", "W"):
                if not tensor_layout.has_name(n):
                    raise ConversionError(f"{where}: set_spatial_*_shape needs a tensor layout with H and W "
                                          f"(it is {tensor_layout if not tensor_layout.empty else '(none)'})")
            hi, wi = tensor_layout.index("H", len(shape)), tensor_layout.index("W", len(shape))
            shape[hi], shape[wi] = (None, None) if t.spatial == "dynamic" else t.spatial
        dtype = t.element_type.to_dtype() if t.element_type is not None and t.element_type.is_static() else model_type
        planes = self._plane_shapes(shape, t.color, where)
        plane_names = self._plane_names(names[param], t, len(planes), where)
        pos = param.index
        new_args = [block.insert_arg(tensor_type(ps, dtype), pos + i) for i, ps in enumerate(planes)]
        for a, n in zip(new_args, plane_names):
            names[a] = n
        ctx = _Context(where, tensor_layout, t.color, model_layout, model_type, tuple(model_shape))
        b = InsertBuilder(block, anchor)
        nodes: list[SSAValue] = list(new_args)
        for step_name, step in s.steps:
            try:
                nodes = step(b, nodes, ctx)
            except OvccError as e:
                msg = str(e)
                raise ConversionError(msg if msg.startswith(where) else f"{where}: {step_name}: {msg}") from None
        if len(nodes) != 1:
            raise ConversionError(f"{where}: the image still has {len(nodes)} planes ({ctx.color.name}); add "
                                  "convert_color(ColorFormat.RGB) or BGR")
        if ctx.color in _YUV or ctx.color in (ColorFormat.RGBX, ColorFormat.BGRX):
            raise ConversionError(f"{where}: the model needs RGB, BGR or GRAY data, the image is still "
                                  f"{ctx.color.name}; add convert_color(...)")
        v = _convert_type(b, nodes[0], model_type)
        if not model_layout.empty and ctx.layout != model_layout:
            v = _convert_layout_to(b, v, ctx, model_layout, "the conversion to the model's layout")
        got = shape_of(v.type)
        if len(got) != rank or any(a is not None and m is not None and a != m for a, m in zip(got, model_shape)):
            raise ConversionError(f"{where}: after preprocessing the tensor is {PartialShape(got)}, the model expects "
                                  f"{PartialShape(model_shape)}")
        param.replace_all_uses_with(v)
        del names[param]
        block.erase_arg(param)

    @staticmethod
    def _plane_shapes(shape: list, color: ColorFormat, where: str) -> list[list]:
        if color in (ColorFormat.UNDEFINED, ColorFormat.GRAY):
            return [shape]
        if len(shape) != 4:
            raise ConversionError(f"{where}: color format {color.name} needs a 4-D NHWC tensor, the shape is "
                                  f"{PartialShape(shape)}")
        n, h, w, _ = shape

        def half(d: Dim) -> Dim:
            return None if d is None else d // 2
        if color in (ColorFormat.RGB, ColorFormat.BGR):
            return [[n, h, w, 3]]
        if color in (ColorFormat.RGBX, ColorFormat.BGRX):
            return [[n, h, w, 4]]
        for d in (h, w):
            if d is not None and d % 2:
                raise ConversionError(f"{where}: {color.name} needs an even image height and width, not {h}x{w}")
        if color in (ColorFormat.NV12_SINGLE_PLANE, ColorFormat.I420_SINGLE_PLANE):
            return [[n, None if h is None else h * 3 // 2, w, 1]]
        if color == ColorFormat.NV12_TWO_PLANES:
            return [[n, h, w, 1], [n, half(h), half(w), 2]]
        return [[n, h, w, 1], [n, half(h), half(w), 1], [n, half(h), half(w), 1]]

    @staticmethod
    def _plane_names(old: list[str], t: InputTensorInfo, planes: int, where: str) -> list[list[str]]:
        if t.sub_names:
            if len(t.sub_names) != planes:
                raise ConversionError(f"{where}: {len(t.sub_names)} plane names given for {planes} planes")
            return [[f"{n}/{sub}" for n in old] for sub in t.sub_names]
        return [old] if planes == 1 else [[] for _ in range(planes)]

    def _build_output(self, block, ret, index: int, info: OutputInfo) -> None:
        v = ret.operands[index]
        port = self.model.outputs[index]
        where = f"PrePostProcessor: output {port.name!r}"
        t = info._tensor
        layout = info._model.layout or Layout()
        target_type = t.element_type.to_dtype() if t.element_type is not None and t.element_type.is_static() \
            else dtype_of(v.type)
        ctx = _Context(where, layout, ColorFormat.UNDEFINED, t.layout or Layout(), target_type, shape_of(v.type))
        b = InsertBuilder(block, ret)
        nodes = [v]
        for step_name, step in info._steps.steps:
            try:
                nodes = step(b, nodes, ctx)
            except OvccError as e:
                msg = str(e)
                raise ConversionError(msg if msg.startswith(where) else f"{where}: {step_name}: {msg}") from None
        v = nodes[0]
        if t.element_type is not None and t.element_type.is_static():
            v = _convert_type(b, v, target_type)
        if not ctx.target_layout.empty and ctx.target_layout != ctx.layout:
            v = _convert_layout_to(b, v, ctx, ctx.target_layout, "the conversion to the tensor's layout")
        ret.operands = [v if i == index else o for i, o in enumerate(ret.operands)]


__all__ = ["ColorFormat", "InputInfo", "InputModelInfo", "InputTensorInfo", "OutputInfo", "OutputModelInfo",
           "OutputTensorInfo", "PostProcessSteps", "PrePostProcessor", "PreProcessSteps", "ResizeAlgorithm"]
