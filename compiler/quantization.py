"""Post-training quantization with NNCF's API: `quantize(model, Dataset(...))` calibrates
activation ranges by running the model natively and returns a Model with FakeQuantize on the
activation inputs of Convolution/GroupConvolution/MatMul and int8 per-output-channel weights
(the form the int8 kernels run); `compress_weights` quantizes weights only.

Activation statistics: plain min and max over the calibration samples (NNCF averages
per-sample min/max for CNNs; plain min/max never clips a calibration value). Fast bias
correction as NNCF's: each quantized layer's bias absorbs the shift between its f32 output
mean and what the quantized layer gives for its mean input; SmoothQuant for transformers."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from xdsl.ir import OpResult
from xdsl.rewriter import InsertPoint, Rewriter

from compiler.model import Model
from dialects.errors import InputError
from dialects.ov import Const, OvOp, dtype_of, shape_of
from passes.common import sync_function_type
from passes.quantize import ANCHORS, activation_range, channel_axes, insert_fake_quantize, replace_weights, smooth
from runtime.progress import progress


class QuantizationError(InputError):
    """Bad arguments to quantize / compress_weights (dataset, samples, options)."""


class QuantizationPreset(enum.Enum):
    PERFORMANCE = "performance"  # symmetric activations
    MIXED = "mixed"  # asymmetric activations


class ModelType(enum.Enum):
    TRANSFORMER = "transformer"


class TargetDevice(enum.Enum):
    ANY = "ANY"
    CPU = "CPU"


class CompressWeightsMode(enum.Enum):
    INT8_SYM = "int8_sym"
    INT8_ASYM = "int8_asym"


@dataclass
class IgnoredScope:
    """Ops left in float: by layer name (a framework node's name also names the ops converted
    from it, "conv2" -> "conv2/Convolution_0"), by op type, or by a regular expression on the
    layer name."""

    names: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)

    def matches(self, op: OvOp) -> bool:
        from compiler.frontends.builder import layer_name

        name = layer_name(op) or ""
        return any(name == n or name.startswith(n + "/") for n in self.names) or op.IR_TYPE in self.types or \
            any(re.fullmatch(p, name) for p in self.patterns)


class Dataset:
    """Calibration samples: `data_source` is any iterable; `transform_fn` turns an item into the
    model's inputs (an array, a list/tuple of arrays, or a dict name -> array)."""

    def __init__(self, data_source: Iterable, transform_fn: Callable[[Any], Any] | None = None):
        self._source = data_source
        self._transform = transform_fn

    def get_data(self, indices: Sequence[int] | None = None) -> Iterable:
        if indices is None:
            yield from self._source
            return
        wanted = set(indices)
        for i, item in enumerate(self._source):
            if i in wanted:
                yield item

    def get_inference_data(self, indices: Sequence[int] | None = None) -> Iterable:
        for item in self.get_data(indices):
            yield self._transform(item) if self._transform is not None else item

    def get_length(self) -> int | None:
        return len(self._source) if hasattr(self._source, "__len__") else None


def _enum(cls: type[enum.Enum], value: Any, what: str) -> Any:
    if value is None or isinstance(value, cls):
        return value
    for m in cls:
        if str(value).lower() in (m.name.lower(), str(m.value).lower()):
            return m
    raise QuantizationError(f"{what}: {value!r} is not one of {', '.join(m.name for m in cls)}")


def _anchors(model: Model, scope: IgnoredScope | None) -> list[OvOp]:
    return [op for op in model.function.body.block.ops
            if isinstance(op, OvOp) and op.IR_TYPE in ANCHORS and not (scope and scope.matches(op))]


def _float_const(v: Any) -> bool:
    return isinstance(getattr(v, "op", None), Const) and dtype_of(v.type) == np.float32


def _weights(op: OvOp) -> bool:
    """Constant f32 weights the int8 kernels can take (2-D for MatMul)."""
    w = op.operands[1]
    if not _float_const(w):
        return False
    if op.IR_TYPE == "MatMul":
        return len(shape_of(w.type)) == 2 and not op.attr.transpose_a
    return True


def _feeds(sample: Any, model: Model) -> list[np.ndarray]:
    """The sample as a list of arrays in input order, checked against the model's inputs."""
    ins = model.inputs
    if isinstance(sample, dict):
        names = {n: p for p in ins for n in p.names}
        unknown = [k for k in sample if k not in names]
        if unknown or len(sample) != len(ins):
            raise QuantizationError(f"calibration sample has inputs {sorted(sample)}; the model's inputs are "
                                    f"{[p.any_name for p in ins]}")
        by_port = {names[k].index: v for k, v in sample.items()}
        arrays = [by_port.get(p.index) for p in ins]
        if any(a is None for a in arrays):
            raise QuantizationError(f"calibration sample names the same input twice: {sorted(sample)}")
    elif isinstance(sample, (list, tuple)):
        arrays = list(sample)
    else:
        arrays = [sample]
    if len(arrays) != len(ins):
        raise QuantizationError(f"calibration sample has {len(arrays)} inputs; the model has {len(ins)}")
    out = []
    for p, a in zip(ins, arrays):
        a = np.asarray(a)
        if not p.partial_shape.compatible(list(a.shape)):  # dynamic dims take any size
            raise QuantizationError(f"calibration sample for input {p.any_name!r} has shape {list(a.shape)}; "
                                    f"the model expects {list(p.partial_shape)}")
        out.append(a.astype(p.dtype, copy=False))
    return out


def _calibrate(model: Model, values: list, dataset: Dataset, subset_size: int, kind: str = "range",
               axes: list[int] | None = None) -> list:
    """Each value over the first `subset_size` samples: its (min, max) (`kind` "range"), per
    channel of axis `axes[i]` (default the last) its max |x| ("peak"), or (min, max, per-channel
    mean) ("stats")."""
    from compiler.api import compile_model

    probe = model.clone()
    orig_ops = list(model.function.walk())
    probe_ops = list(probe.function.walk())
    where = {id(op): i for i, op in enumerate(orig_ops)}
    args = probe.function.body.block.args
    extra = [probe_ops[where[id(v.op)]].results[v.index] if isinstance(v, OpResult) else args[v.index]
             for v in values]
    ret = probe.function.body.block.last_op
    n_out = len(ret.operands)
    ret.operands = list(ret.operands) + extra
    sync_function_type(probe.function)
    compiled = compile_model(probe, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    length = dataset.get_length()
    total = subset_size if length is None else min(subset_size, length)
    axes = axes or [-1] * len(values)
    lows, highs, sums, count = [], [], [], 0
    samples = iter(dataset.get_inference_data())
    for _ in progress(range(total), total, "calibration"):
        try:
            sample = next(samples)
        except StopIteration:
            break
        res = compiled(_feeds(sample, model))
        outs = [np.asarray(res[n_out + i]) for i in range(len(extra))]
        count += 1
        if kind in ("range", "stats"):
            lows.append([float(np.min(o)) for o in outs])
            highs.append([float(np.max(o)) for o in outs])
            if kind == "range":
                continue
        per_channel = [np.moveaxis(o, a, -1).reshape(-1, o.shape[a]).astype(np.float64) if o.ndim else None
                       for o, a in zip(outs, axes)]
        if kind == "peak":
            now = [np.abs(o).max(axis=0) for o in per_channel]
            sums = now if not sums else [np.maximum(a, b) for a, b in zip(sums, now)]
        else:
            now = [None if o is None else o.mean(axis=0) for o in per_channel]
            sums = now if not sums else [None if a is None else a + b for a, b in zip(sums, now)]
    if not count:
        raise QuantizationError("the calibration dataset is empty")
    if kind == "peak":
        return sums
    ranges = list(zip(np.min(lows, axis=0).tolist(), np.max(highs, axis=0).tolist()))
    if kind == "stats":
        return [(lo, hi, None if m is None else m / count) for (lo, hi), m in zip(ranges, sums)]
    return ranges


def quantize(model: Model, calibration_dataset: Dataset, *, preset: QuantizationPreset | str | None = None,
             target_device: TargetDevice | str = "ANY", subset_size: int = 300, fast_bias_correction: bool = True,
             model_type: ModelType | str | None = None, ignored_scope: IgnoredScope | None = None) -> Model:
    """An int8 copy of `model` (nncf.quantize): FakeQuantize on the activation inputs of its
    Convolutions and MatMuls, int8 weights per output channel."""
    if not isinstance(model, Model):
        raise QuantizationError(f"quantize takes a compiler.Model, not {type(model).__name__}")
    if not isinstance(calibration_dataset, Dataset):
        raise QuantizationError(f"calibration_dataset must be a compiler.Dataset, not "
                                f"{type(calibration_dataset).__name__}")
    if not isinstance(subset_size, int) or subset_size < 1:
        raise QuantizationError(f"subset_size must be a positive integer, not {subset_size!r}")
    if ignored_scope is not None and not isinstance(ignored_scope, IgnoredScope):
        raise QuantizationError("ignored_scope must be a compiler.IgnoredScope")
    model_type = _enum(ModelType, model_type, "model_type")
    preset = _enum(QuantizationPreset, preset, "preset") or (
        QuantizationPreset.MIXED if model_type is ModelType.TRANSFORMER else QuantizationPreset.PERFORMANCE)
    _enum(TargetDevice, target_device, "target_device")
    sensitive = ("SoftMax", "Softmax", "LogSoftmax", "MVN") if model_type is ModelType.TRANSFORMER else ()

    q = model.clone()
    anchors = [op for op in _anchors(q, ignored_scope) if _weights(op)]
    if model_type is ModelType.TRANSFORMER:
        _smooth_matmuls(q, anchors, sensitive, calibration_dataset, subset_size)
    acts = []
    for op in anchors:
        x = op.operands[0]
        producer = getattr(x, "op", None)
        if dtype_of(x.type) != np.float32 or (isinstance(producer, OvOp) and producer.IR_TYPE in sensitive):
            continue
        acts.append((op, x))
    # layers whose bias absorbs their mean shift, with their f32 weights (before rounding)
    corrected = [(op, b, _value_of(op.operands[1])) for op in anchors if fast_bias_correction and
                 (b := _bias_add(op)) is not None and _static(shape_of(op.operands[0].type))]
    values = list({id(x): x for x in [x for _, x in acts] + [op.operands[0] for op, *_ in corrected]}.values())
    axis = {}
    for op in anchors:
        axis.setdefault(id(op.operands[0]), -1 if op.IR_TYPE == "MatMul" else 1)
    stats = dict(zip((id(v) for v in values), _calibrate(q, values, calibration_dataset, subset_size, "stats",
                                                         [axis.get(id(v), -1) for v in values]) if values else []))
    corrected = [(op, b, w, stats[id(op.operands[0])][2]) for op, b, w in corrected]
    fqs: dict[int, Any] = {}
    for op, x in acts:
        if id(x) in fqs:
            op.operands[0] = fqs[id(x)]
            continue
        lo, hi, _ = stats[id(x)]
        lo, hi = activation_range(lo, hi, symmetric=preset is QuantizationPreset.PERFORMANCE)
        fqs[id(x)] = insert_fake_quantize(op, 0, lo, hi).outputs[0]
    for op in anchors:
        replace_weights(op, 1, channel_axes(op, len(shape_of(op.operands[1].type))))
    _correct_biases(corrected)
    _cleanup(q)
    return q


BIAS_SHIFT_THRESHOLD = 2.0  # NNCF's: a shift larger than this times the bias is not applied


def _bias_add(op: OvOp) -> tuple[OvOp, int, np.ndarray] | None:
    """(Add, index of its bias operand, bias) of a weighted op whose only user adds a constant
    per output channel (axis 1 of a convolution, the last of a MatMul)."""
    from dialects.ov import constant_of

    uses = list(op.outputs[0].uses)
    if len(uses) != 1 or not isinstance(uses[0].operation, OvOp) or uses[0].operation.IR_TYPE != "Add":
        return None
    add, i = uses[0].operation, 1 - uses[0].index
    bias = constant_of(add.operands[i])
    out = shape_of(op.outputs[0].type)
    if bias is None or bias.dtype != np.float32 or tuple(shape_of(add.outputs[0].type)) != tuple(out):
        return None
    axis = 1 if op.IR_TYPE != "MatMul" else len(out) - 1
    full = (1,) * (len(out) - bias.ndim) + bias.shape
    if len(full) != len(out) or any(d != 1 for k, d in enumerate(full) if k != axis):
        return None
    return add, i, bias


def _value_of(v) -> np.ndarray | None:
    """A value computed from constants only (a weight decompression), by the reference ops."""
    from dialects.ov import constant_of
    from runtime.interpreter import evaluate

    c = constant_of(v)
    if c is not None:
        return c
    op = getattr(v, "op", None)
    if not isinstance(op, OvOp) or op.IR_TYPE not in ("Convert", "Subtract", "Multiply", "Reshape", "Transpose"):
        return None
    ins = [_value_of(x) for x in op.operands]
    return None if any(x is None for x in ins) else evaluate(op, ins)[v.index]


def _static(shape) -> bool:
    return all(d is not None and d > 0 for d in shape)


def _channel_means(y: np.ndarray, axis: int) -> np.ndarray:
    return np.moveaxis(y, axis, -1).reshape(-1, y.shape[axis]).astype(np.float64).mean(axis=0)


def _correct_biases(layers: list) -> None:
    """Fast bias correction (after NNCF's FastBiasCorrection), for each (quantized layer, its
    bias Add, its f32 weights, the per-channel mean of its f32 input over the calibration
    samples): that mean, broadcast to the input's shape, runs through the layer with its f32
    weights and with its int8 ones (the reference ops); their difference per output channel,
    the mean shift that rounding the weights causes, is added to the bias. Both sides see the
    same input, so the borders of padded convolutions (where a constant image and the data
    differ) cancel out."""
    from runtime.interpreter import evaluate

    for op, (add, i, bias), w, x_mean in layers:
        wq = _value_of(op.operands[1])
        xshape = tuple(shape_of(op.operands[0].type))
        matmul = op.IR_TYPE == "MatMul"
        axis = len(xshape) - 1 if matmul else 1
        if w is None or wq is None or x_mean is None or x_mean.shape != (xshape[axis],):
            continue
        shape = [1] * len(xshape)
        shape[axis] = xshape[axis]
        blob = np.broadcast_to(x_mean.astype(np.float32).reshape(shape), xshape).copy()
        out_axis = -1 if matmul else 1
        shift = _channel_means(evaluate(op, [blob, w])[0], out_axis) - \
            _channel_means(evaluate(op, [blob, wq])[0], out_axis)
        flat = bias.reshape(-1).astype(np.float64)
        if np.max(np.abs(shift)) > BIAS_SHIFT_THRESHOLD * max(float(np.max(np.abs(flat))), 1e-8):
            continue
        new = Const((flat + shift).astype(np.float32).reshape(bias.shape))
        Rewriter.insert_op(new, InsertPoint.before(add))
        add.operands[i] = new.output


SMOOTH_QUANT_ALPHA = 0.95  # NNCF's default for MatMuls (its convolutions are not smoothed)


def _smooth_matmuls(model: Model, anchors: list[OvOp], sensitive: tuple, dataset: Dataset, subset_size: int) -> None:
    """SmoothQuant on the MatMuls with constant weights, grouped by the activation they read
    (one calibration pass for the per-channel peaks of those activations)."""
    groups: dict[int, list[OvOp]] = {}
    for op in anchors:
        x = op.operands[0]
        producer = getattr(x, "op", None)
        if op.IR_TYPE != "MatMul" or dtype_of(x.type) != np.float32 or not shape_of(x.type) or \
                (isinstance(producer, OvOp) and producer.IR_TYPE in sensitive):
            continue
        groups.setdefault(id(x), []).append(op)
    if not groups:
        return
    values = [g[0].operands[0] for g in groups.values()]
    peaks = _calibrate(model, values, dataset, subset_size, "peak")
    for group, peak in zip(groups.values(), peaks):
        smooth(group, peak, SMOOTH_QUANT_ALPHA)


def compress_weights(model: Model, mode: CompressWeightsMode | str = CompressWeightsMode.INT8_ASYM,
                     ignored_scope: IgnoredScope | None = None) -> Model:
    """A copy of `model` whose Convolution/MatMul weights are int8 (or u8 with zero points)
    per output channel, decompressed to f32 in the graph (nncf.compress_weights)."""
    if not isinstance(model, Model):
        raise QuantizationError(f"compress_weights takes a compiler.Model, not {type(model).__name__}")
    mode = _enum(CompressWeightsMode, mode, "mode")
    if mode is None:
        raise QuantizationError("mode must be INT8_SYM or INT8_ASYM")
    q = model.clone()
    for op in _anchors(q, ignored_scope):
        if _weights(op):
            replace_weights(op, 1, channel_axes(op, len(shape_of(op.operands[1].type))),
                            symmetric=mode is CompressWeightsMode.INT8_SYM)
    _cleanup(q)
    return q


def _cleanup(model: Model) -> None:
    from passes.dce import dce_block

    dce_block(model.function.body.block)
