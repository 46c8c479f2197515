"""OpenVINO IR layers that are not one `ov` op of the same version: older versions mapped onto
the one the dialect defines, and ops OpenVINO writes that the dialect builds from others
(ScaledDotProductAttention, ConvertLike, GroupNormalization, Eye, ...), each to its
specification. `UPGRADES` maps (type, version) to the function that builds the layer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from xdsl.ir import SSAValue

from dialects.errors import ConversionError, ModelFileError, OvccError
from dialects.ov import OPS
from dialects.ov.base import REQUIRED

if TYPE_CHECKING:
    from compiler.frontends.ir_reader import _Layer as Layer
    from compiler.frontends.ir_reader import _Reader as Reader


def layer_attrs(layer: Layer, op_cls, rename: dict[str, str] | None = None,
                ignore: Sequence[str] = ()) -> dict[str, Any]:
    """The layer's attributes as the op class spells them. An attribute the class does not
    define is refused, not dropped: it may change what the op computes (AvgPool-16's
    `dilations`); `ignore` names those the caller handles itself."""
    attrs = {}
    data = {(rename or {}).get(k, k): v for k, v in layer.data.items()}
    known = {spec.ir_name or name for name, spec in op_cls.ATTRS.items()} | set(ignore)
    extra = sorted(k for k in data if k not in known)
    if extra:
        raise ConversionError(f"attribute(s) {', '.join(extra)} of {layer.type}-{layer.version} are not supported")
    for name, spec in op_cls.ATTRS.items():
        key = spec.ir_name or name
        if key in data:
            try:
                attrs[name] = spec.from_ir(data[key])
            except (ValueError, OvccError) as e:
                raise ModelFileError(f"{layer.where}: bad value {data[key]!r} for attribute {key}: {e}") from None
        elif spec.default is REQUIRED:
            raise ModelFileError(f"{layer.where}: missing attribute {key!r}")
    return attrs


# --- older op versions ---------------------------------------------------------------------

Upgrade = Callable[["Reader", "Layer", list[SSAValue]], list[SSAValue]]
UPGRADES: dict[tuple[str, str], Upgrade] = {}


def upgrade(op_type: str, *versions: str):
    def register(fn: Upgrade) -> Upgrade:
        for v in versions:
            UPGRADES[(op_type, v)] = fn
        return fn
    return register


@upgrade("MaxPool", "opset1", "opset8")
def _max_pool(r: Reader, layer: Layer, ins):
    attrs = layer_attrs(layer, OPS["MaxPool"])
    if layer.version == "opset1":
        attrs["dilations"] = [1] * len(attrs["kernel"])
    op = r.b.op("MaxPool", ins, **attrs)
    return list(op.outputs)[: len(layer.out_ports)]


@upgrade("AvgPool", "opset1")
def _avg_pool(r: Reader, layer: Layer, ins):
    return [r.b.out("AvgPool", ins, **layer_attrs(layer, OPS["AvgPool"]))]


@upgrade("SoftMax", "opset1")
def _softmax1(r: Reader, layer: Layer, ins):
    return [r.b.out("SoftMax", ins, **layer_attrs(layer, OPS["SoftMax"]))]


@upgrade("Gather", "opset1", "opset7")
def _gather(r: Reader, layer: Layer, ins):
    return [r.b.out("Gather", ins, **layer_attrs(layer, OPS["Gather"]))]


@upgrade("ShapeOf", "opset1")
def _shape_of(r: Reader, layer: Layer, ins):
    return [r.b.out("ShapeOf", ins, output_type=np.int64)]


@upgrade("Gelu", "opset2")
def _gelu(r: Reader, layer: Layer, ins):
    return [r.b.out("Gelu", ins, approximation_mode="erf")]


@upgrade("BatchNormInference", "opset1")
def _batch_norm(r: Reader, layer: Layer, ins):
    gamma, beta, data, mean, var = ins  # opset1 puts the data third
    return [r.b.out("BatchNormInference", [data, gamma, beta, mean, var],
                    **layer_attrs(layer, OPS["BatchNormInference"]))]


@upgrade("TopK", "opset1", "opset3")
def _topk(r: Reader, layer: Layer, ins):
    attrs = layer_attrs(layer, OPS["TopK"])
    op = r.b.op("TopK", ins, **attrs)
    return list(op.outputs)


@upgrade("Broadcast", "opset1")
def _broadcast(r: Reader, layer: Layer, ins):
    return [r.b.out("Broadcast", ins, mode=layer.data.get("mode", "numpy").lower())]


@upgrade("Pad", "opset1")
def _pad(r: Reader, layer: Layer, ins):
    return [r.b.out("Pad", ins, pad_mode=layer.data.get("pad_mode", "constant").lower())]


@upgrade("MVN", "opset1")
def _mvn1(r: Reader, layer: Layer, ins):
    x = ins[0]
    rank = len(x.type.get_shape())
    across = layer.data.get("across_channels", "false").lower() in ("true", "1")
    axes = list(range(1 if across else 2, rank))
    return [r.b.out("MVN", [x, r.b.const(np.array(axes, np.int64))], eps=float(layer.data.get("eps", "1e-9")),
                    normalize_variance=layer.data.get("normalize_variance", "true").lower() in ("true", "1"),
                    eps_mode="outside_sqrt")]


@upgrade("Interpolate", "opset4")
def _interpolate4(r: Reader, layer: Layer, ins):
    attrs = layer_attrs(layer, OPS["Interpolate"])
    image, sizes, scales = ins[0], ins[1], ins[2]
    rest = ins[3:]
    param = sizes if attrs["shape_calculation_mode"] == "sizes" else scales
    return [r.b.out("Interpolate", [image, param, *rest], **attrs)]


@upgrade("OneHot", "opset1")
def _one_hot1(r: Reader, layer: Layer, ins):
    """OneHot-1: a negative index is off everywhere."""
    return [r.b.out("OneHot", ins, **layer_attrs(layer, OPS["OneHot"], ignore=["negative_indices_mode"]),
                    negative_indices_mode="ignore_negative")]


@upgrade("AvgPool", "opset16")
def _avg_pool16(r: Reader, layer: Layer, ins):
    """AvgPool-16 adds `dilations`: undilated it is AvgPool-14; dilated, window sums over window
    counts, both depthwise convolutions with a filter of ones."""
    attrs = layer_attrs(layer, OPS["AvgPool"], ignore=["dilations"])
    dil = OPS["AvgPool"].ATTRS["kernel"].from_ir(layer.data["dilations"]) if "dilations" in layer.data else []
    if all(d == 1 for d in dil):
        return [r.b.out("AvgPool", ins, **attrs)]
    return [_dilated_avg_pool(r, layer, ins[0], attrs, list(dil))]


def _dilated_avg_pool(r: Reader, layer: Layer, x, a: dict[str, Any], dil: list[int]):
    from dialects.ov.shape_rules import resolve_pads, window_out

    shape = r.shape(x)
    n = len(shape) - 2
    if None in shape or len(dil) != n:
        raise ConversionError(f"dilated average pooling needs static dimensions and {n} dilations")
    k, s = list(a["kernel"]), list(a.get("strides", [1] * n))
    auto = a.get("auto_pad", "explicit")
    pb, pe = resolve_pads(shape[2:], k, s, dil, auto, a.get("pads_begin", [0] * n), a.get("pads_end", [0] * n))
    out = [window_out(shape[2 + i], k[i], s[i], dil[i], pb[i], pe[i], auto, a.get("rounding_type", "floor"))
           for i in range(n)]
    # ceil rounding: the last windows reach past the end padding; those positions never count
    extra = [max(0, (out[i] - 1) * s[i] + dil[i] * (k[i] - 1) + 1 - (shape[2 + i] + pb[i] + pe[i])) for i in range(n)]
    c, dt = shape[1], r.dtype(x)
    ones = r.const(np.ones((c, 1, 1, *k), dt))

    def window_sum(v, begin, end):
        return r.b.out("GroupConvolution", [v, ones], strides=s, dilations=dil, pads_begin=begin, pads_end=end,
                       auto_pad="explicit")
    total = window_sum(x, pb, [pe[i] + extra[i] for i in range(n)])
    counted = np.ones((1, c, *shape[2:]), dt)
    if not a.get("exclude_pad", False):
        counted = np.pad(counted, [(0, 0), (0, 0)] + [(pb[i], pe[i]) for i in range(n)], constant_values=1)
        count = window_sum(r.const(counted), [0] * n, extra)
    else:
        count = window_sum(r.const(counted), pb, [pe[i] + extra[i] for i in range(n)])
    return r.b.out("Divide", [total, count])


@upgrade("ConvertLike", "opset1")
def _convert_like(r: Reader, layer: Layer, ins):
    return [r.b.out("Convert", [ins[0]], destination_type=r.dtype(ins[1]))]


@upgrade("PReLU", "opset1")  # OpenVINO writes PRelu-1 so
def _prelu(r: Reader, layer: Layer, ins):
    return [r.b.out("PRelu", ins)]


@upgrade("Identity", "opset16")
def _identity(r: Reader, layer: Layer, ins):
    return [ins[0]]


@upgrade("Einsum", "opset7")
def _einsum(r: Reader, layer: Layer, ins):
    from compiler.frontends.einsum import einsum

    if "equation" not in layer.data:
        raise ModelFileError(f"{layer.where}: missing attribute 'equation'")
    try:
        return [einsum(r.b, layer.data["equation"], ins)]
    except ValueError as e:
        raise ConversionError(str(e)) from None


@upgrade("ReverseSequence", "opset1")
def _reverse_sequence(r: Reader, layer: Layer, ins):
    from compiler.frontends.scans import reverse_sequence

    try:
        return [reverse_sequence(r, ins[0], ins[1], _int(layer, "seq_axis", 1), _int(layer, "batch_axis", 0))]
    except ValueError as e:
        raise ConversionError(str(e)) from None


@upgrade("GridSample", "opset9")
def _grid_sample(r: Reader, layer: Layer, ins):
    from compiler.frontends.sampling import grid_sample_2d

    if len(r.shape(ins[0])) != 4:
        raise ConversionError("GridSample-9 samples 4-D data")
    try:
        return [grid_sample_2d(r, ins[0], ins[1], layer.data.get("mode", "bilinear"),
                               layer.data.get("padding_mode", "zeros"), _bool(layer, "align_corners", False))]
    except ValueError as e:
        raise ConversionError(str(e)) from None


@upgrade("GroupNormalization", "opset12")
def _group_norm(r: Reader, layer: Layer, ins):
    """Normalized over each group of num_groups channels (and the spatial dims), then a scale
    and a bias per channel."""
    x, scale, bias = ins
    b, rank = r.b, len(r.shape(x))
    g = _int(layer, "num_groups", None)
    if g is None or g < 1:
        raise ModelFileError(f"{layer.where}: needs a positive 'num_groups'")
    grouped = b.out("Reshape", [x, r.i64([0, g, -1])], special_zero=True)
    y = b.out("MVN", [grouped, r.i64([2])], normalize_variance=True, eps=_float(layer, "epsilon"),
              eps_mode="inside_sqrt")
    y = b.out("Reshape", [y, b.out("ShapeOf", [x], output_type=np.int64)], special_zero=False)
    per_channel = r.i64([1, -1] + [1] * (rank - 2))
    y = b.out("Multiply", [y, b.out("Reshape", [scale, per_channel], special_zero=False)])
    return [b.out("Add", [y, b.out("Reshape", [bias, per_channel], special_zero=False)])]


@upgrade("Eye", "opset9")
def _eye(r: Reader, layer: Layer, ins):
    """Ones where column - row = diagonal_index, batch_shape leading dims if given."""
    from dialects.ov.base import Type

    b = r.b
    out_type = np.dtype(Type().from_ir(layer.data.get("output_type", "f32")))

    def scalar(v):
        return b.out("Reshape", [b.out("Convert", [v], destination_type=np.dtype(np.int64)), r.i64([])],
                     special_zero=False)
    rows, cols, diag = (scalar(v) for v in ins[:3])
    zero, one = r.i64(0), r.i64(1)
    i = b.out("Unsqueeze", [b.out("Range", [zero, rows, one], output_type=np.dtype(np.int64)), r.i64([1])])
    j = b.out("Range", [zero, cols, one], output_type=np.dtype(np.int64))
    eye = b.out("Convert", [b.out("Equal", [b.out("Subtract", [j, i]), diag])], destination_type=out_type)
    if len(ins) > 3:
        shape = b.out("Concat", [b.out("Convert", [ins[3]], destination_type=np.dtype(np.int64)),
                                 b.out("ShapeOf", [eye], output_type=np.int64)], axis=0)
        eye = b.out("Broadcast", [eye, shape], mode="numpy")
    return [eye]


@upgrade("ScaledDotProductAttention", "opset13")
def _sdpa(r: Reader, layer: Layer, ins):
    """softmax(Q K^T * scale + bias) V, as the specification's pseudo-code: scale 1/sqrt(E) unless
    given; the bias a causal upper triangle of -inf, or a boolean mask's False as -inf, or a
    float mask added; with a `sink` input (the 6th), one more logit per row that takes part in
    the softmax and is dropped after it."""
    b = r.b
    q, k, v = ins[:3]
    mask = ins[3] if len(ins) > 3 else None
    scale = ins[4] if len(ins) > 4 else None
    sink = ins[5] if len(ins) > 5 else None
    dt = r.dtype(q)

    def like(x):
        return x if r.dtype(x) == dt else b.out("Convert", [x], destination_type=dt)
    if scale is None:
        e = b.out("Gather", [b.out("ShapeOf", [q], output_type=np.int64), r.i64(-1), r.i64(0)], batch_dims=0)
        scale = b.out("Divide", [r.const(np.ones((), dt)), b.out("Sqrt", [like(e)])])
    w = b.out("Multiply", [b.out("MatMul", [q, k], transpose_b=True), like(scale)])
    neg_inf, zero = r.const(np.array(-np.inf, dt)), r.const(np.zeros((), dt))
    if _bool(layer, "causal", False):
        def length(x):
            return b.out("Gather", [b.out("ShapeOf", [x], output_type=np.int64), r.i64(-2), r.i64(0)], batch_dims=0)
        rows = b.out("Unsqueeze", [b.out("Range", [r.i64(0), length(q), r.i64(1)], output_type=np.dtype(np.int64)),
                                   r.i64([1])])
        cols = b.out("Range", [r.i64(0), length(k), r.i64(1)], output_type=np.dtype(np.int64))
        w = b.out("Add", [w, b.out("Select", [b.out("Greater", [cols, rows]), neg_inf, zero])])
    elif mask is not None:
        bias = b.out("Select", [mask, zero, neg_inf]) if r.dtype(mask) == np.bool_ else like(mask)
        w = b.out("Add", [w, bias])
    if sink is not None:
        lead = b.out("Slice", [b.out("ShapeOf", [w], output_type=np.int64), r.i64([0]), r.i64([-1]), r.i64([1]),
                               r.i64([0])])
        sink = b.out("Broadcast", [like(sink), b.out("Concat", [lead, r.i64([1])], axis=0)], mode="numpy")
        width = b.out("Gather", [b.out("ShapeOf", [w], output_type=np.int64), r.i64([-1]), r.i64(0)], batch_dims=0)
        p = b.out("SoftMax", [b.out("Concat", [w, sink], axis=-1)], axis=-1)
        w = b.out("Slice", [p, r.i64([0]), width, r.i64([1]), r.i64([-1])])
    else:
        w = b.out("SoftMax", [w], axis=-1)
    return [b.out("MatMul", [w, v])]


def _int(layer: Layer, key: str, default: int | None) -> int | None:
    try:
        return int(layer.data[key]) if key in layer.data else default
    except ValueError:
        raise ModelFileError(f"{layer.where}: attribute {key} must be an integer, not {layer.data[key]!r}") from None


def _float(layer: Layer, key: str) -> float:
    try:
        return float(layer.data[key])
    except (KeyError, ValueError):
        raise ModelFileError(f"{layer.where}: needs a number for attribute {key!r}") from None


def _bool(layer: Layer, key: str, default: bool) -> bool:
    v = layer.data.get(key)
    if v is None:
        return default
    if v.lower() not in ("true", "false", "1", "0"):
        raise ModelFileError(f"{layer.where}: attribute {key} must be true or false, not {v!r}")
    return v.lower() in ("true", "1")


# Recurrent sequences. OpenVINO's layout is batch-first with the gates in its own order; the
# ONNX converter unrolls the same cells over time, so the inputs are rearranged into ONNX's
# layout=1 form (gates i,o,f,c for LSTM; z,r,h for both GRUs; biases split into input and
# recurrent halves) and converted by it.
_SEQUENCES = {"LSTMSequence": "LSTM", "GRUSequence": "GRU", "RNNSequence": "RNN"}


def _sequence(kind: str):
    def build(r: Reader, layer: Layer, ins):
        from onnx import helper

        from compiler.frontends.onnx.context import CONVERTERS, OnnxContext

        b = r.b
        lstm = kind == "LSTM"
        x, h0 = ins[0], ins[1]
        c0 = ins[2] if lstm else None
        lens, w, rec, bias = ins[3:7] if lstm else ins[2:6]
        hidden = _int(layer, "hidden_size", None)
        if hidden is None or hidden < 1:
            raise ModelFileError(f"{layer.where}: needs a positive 'hidden_size'")
        before_reset = _bool(layer, "linear_before_reset", False)
        dt = r.dtype(x)

        def chunks(v, n):
            return list(b.op("Split", [v, r.i64(1)], num_splits=n).outputs)

        def cat(vs):
            return b.out("Concat", vs, axis=1)
        if lstm:  # f, i, c, o -> i, o, f, c
            def order(v):
                f, i, c, o = chunks(v, 4)
                return cat([i, o, f, c])
            w, rec, bias = order(w), order(rec), order(bias)
        zeros = b.out("Multiply", [bias, r.const(np.zeros((), dt))])
        if kind == "GRU" and before_reset:  # [z, r, h_input, h_recurrent] -> input and recurrent halves
            bz, br, bwh, brh = chunks(bias, 4)
            nil = b.out("Multiply", [bz, r.const(np.zeros((), dt))])
            bias = cat([bz, br, bwh, nil, nil, brh])
        else:
            bias = cat([bias, zeros])
        attrs: dict[str, Any] = {"hidden_size": hidden, "layout": 1,
                                 "direction": layer.data.get("direction", "forward").lower()}
        if "activations" in layer.data:
            acts = [a.strip().capitalize() for a in layer.data["activations"].split(",") if a.strip()]
            attrs["activations"] = acts * (2 if attrs["direction"] == "bidirectional" else 1)  # shared by both
        for key in ("activations_alpha", "activations_beta"):
            if layer.data.get(key, "").strip():
                params = [float(t) for t in layer.data[key].split(",")]
                attrs[key.replace("activations", "activation")] = params * (2 if attrs["direction"] == "bidirectional"
                                                                             else 1)
        if _float_or_none(layer, "clip"):
            attrs["clip"] = _float(layer, "clip")
        if kind == "GRU":
            attrs["linear_before_reset"] = int(before_reset)
        names = ["x", "w", "r", "b", "lens", "h0"] + (["c0"] if lstm else [])
        node = helper.make_node(kind, names, ["y", "y_h"] + (["y_c"] if lstm else []), name=layer.name, **attrs)
        ctx = OnnxContext(b, {"": 14}, f"as ONNX {kind}")
        outs = CONVERTERS[("", kind)](ctx, node, [x, w, rec, bias, lens, h0] + ([c0] if lstm else []))
        y = b.out("Transpose", [outs[0], r.i64([0, 2, 1, 3])])  # [batch, seq, dir, H] -> [batch, dir, seq, H]
        return [y, *outs[1:]]
    return build


for _type, _kind in _SEQUENCES.items():
    upgrade(_type, "opset5")(_sequence(_kind))


def _float_or_none(layer: Layer, key: str) -> float | None:
    return _float(layer, key) if layer.data.get(key, "").strip() else None
