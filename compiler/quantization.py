"""Post-training quantization with NNCF's API: `quantize(model, Dataset(...))` calibrates
activation ranges by running the model natively and returns a Model with FakeQuantize on the
activation inputs of Convolution/GroupConvolution/MatMul and int8 per-output-channel weights
(the form the int8 kernels run); `compress_weights` quantizes weights only.

Activation statistics: plain min and max over the calibration samples (NNCF averages
per-sample min/max for CNNs; plain min/max never clips a calibration value). Fast bias
correction is not implemented: the flag is accepted and ignored."""

from __future__ import annotations

import enum
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from xdsl.ir import OpResult

from compiler.model import Model
from dialects.errors import InputError
from dialects.ov import Const, OvOp, dtype_of, shape_of
from passes.common import sync_function_type
from passes.quantize import ANCHORS, activation_range, channel_axes, insert_fake_quantize, replace_weights, smooth


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
        want = p.shape
        if len(a.shape) != len(want) or any(d is not None and d >= 0 and d != s for d, s in zip(want, a.shape)):
            raise QuantizationError(f"calibration sample for input {p.any_name!r} has shape {list(a.shape)}; "
                                    f"the model expects {list(p.partial_shape)}")
        out.append(a.astype(p.dtype, copy=False))
    return out


def _progress(it: Iterable, total: int) -> Iterable:
    if os.environ.get("OVCC_PROGRESS", "1") == "0" or not sys.stderr.isatty():
        return it
    try:
        from tqdm import tqdm
    except ImportError:
        return it
    return tqdm(it, total=total, desc="calibration", file=sys.stderr)


def _calibrate(model: Model, values: list, dataset: Dataset, subset_size: int, channels: bool = False) -> list:
    """Each value's (min, max) over the first `subset_size` samples, or with `channels` its
    max |x| per channel of the last axis."""
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
    lows, highs = [], []
    samples = iter(dataset.get_inference_data())
    for _ in _progress(range(total), total):
        try:
            sample = next(samples)
        except StopIteration:
            break
        res = compiled(_feeds(sample, model))
        outs = [np.asarray(res[n_out + i]) for i in range(len(extra))]
        if channels:
            peaks = [np.abs(o).reshape(-1, o.shape[-1]).max(axis=0) for o in outs]
            highs = peaks if not highs else [np.maximum(a, b) for a, b in zip(highs, peaks)]
            lows = [True]
            continue
        lows.append([float(np.min(o)) for o in outs])
        highs.append([float(np.max(o)) for o in outs])
    if not lows:
        raise QuantizationError("the calibration dataset is empty")
    if channels:
        return highs
    return list(zip(np.min(lows, axis=0).tolist(), np.max(highs, axis=0).tolist()))


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
    values = list({id(x): x for _, x in acts}.values())
    ranges = dict(zip((id(v) for v in values), _calibrate(q, values, calibration_dataset, subset_size)
                      if values else []))
    fqs: dict[int, Any] = {}
    for op, x in acts:
        if id(x) in fqs:
            op.operands[0] = fqs[id(x)]
            continue
        lo, hi = activation_range(*ranges[id(x)], symmetric=preset is QuantizationPreset.PERFORMANCE)
        fqs[id(x)] = insert_fake_quantize(op, 0, lo, hi).outputs[0]
    for op in anchors:
        replace_weights(op, 1, channel_axes(op, len(shape_of(op.operands[1].type))))
    _cleanup(q)
    return q


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
    peaks = _calibrate(model, values, dataset, subset_size, channels=True)
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
