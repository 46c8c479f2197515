"""The state of one Caffe network conversion and the table of layer converters.

A converter is `fn(ctx, layer, ins) -> list[SSAValue]`, registered in `LAYERS` under the Caffe
layer type; `ins` holds the values of the layer's bottoms and the result one value per top.
Trained parameters come from `ctx.blob(layer, i, shape)`, which checks them against the shape
the layer needs, as Caffe does when it copies trained layers into a net."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from xdsl.ir import SSAValue

from compiler.frontends.builder import FrontendContext, GraphBuilder
from dialects.errors import ConversionError, ModelFileError
from dialects.ov import format_shape
from dialects.registry import Registry

Converter = Callable[["CaffeContext", Any, list[SSAValue]], list[SSAValue]]
LAYERS: Registry[Converter] = Registry("Caffe layer")


def needs_weights(layer: Any) -> bool:
    """Whether a layer computes with trained blobs (so a prototxt alone cannot run it)."""
    t = layer.type
    if t in ("Convolution", "Deconvolution", "InnerProduct", "PReLU", "Normalize"):
        return True
    if t == "BatchNorm":
        return global_stats(layer)
    if t in ("Scale", "Bias"):  # a second bottom gives the scale (or bias) itself
        return len(layer.bottom) == 1 or (t == "Scale" and layer.scale_param.bias_term)
    return False


def global_stats(layer: Any) -> bool:
    """BatchNorm uses its stored statistics unless told otherwise (the TEST phase default)."""
    p = layer.batch_norm_param
    return p.use_global_stats if p.HasField("use_global_stats") else True


class CaffeContext(FrontendContext):
    def __init__(self, where: str, weights: dict[str, list], weights_where: str):
        self.b = GraphBuilder()
        self.where = where
        self.weights = weights
        self.weights_where = weights_where

    def error(self, layer: Any, msg: str) -> ConversionError:
        return ConversionError(f"{self.where}: layer {layer.name!r} ({layer.type}): {msg}")

    # --- trained parameters --------------------------------------------------------------
    def _blob_protos(self, layer: Any) -> list:
        return self.weights.get(layer.name) or list(layer.blobs)  # a prototxt may hold blobs itself

    def blob(self, layer: Any, i: int, shape: Sequence[int]) -> np.ndarray:
        """Blob `i` of `layer` as a float32 array of `shape`. A blob of the legacy 4-D shape
        (num, channels, height, width) with the right number of values is reshaped, as Caffe
        does; so is one that differs from `shape` only by axes of size 1 ([1, C] for [C])."""
        protos = self._blob_protos(layer)
        if i >= len(protos):
            raise ModelFileError(f"{self.weights_where}: layer {layer.name!r} ({layer.type}) has {len(protos)} "
                                 f"blobs, it needs at least {i + 1}")
        p = protos[i]
        values = _blob_values(p, self.weights_where, layer.name, i)
        stored = list(p.shape.dim) if p.HasField("shape") else [p.num, p.channels, p.height, p.width]
        want = [int(d) for d in shape]
        same_count = values.size == int(np.prod(want, dtype=np.int64))
        legacy = not p.HasField("shape") and same_count
        squeezed = [d for d in stored if d != 1] == [d for d in want if d != 1]
        if stored != want and not legacy and not squeezed:
            raise ModelFileError(f"{self.weights_where}: layer {layer.name!r} ({layer.type}) blob {i} has shape "
                                 f"{format_shape(stored)}, the layer needs {format_shape(want)}")
        if not legacy and values.size != int(np.prod(stored, dtype=np.int64)):
            raise ModelFileError(f"{self.weights_where}: layer {layer.name!r} blob {i} holds {values.size} values "
                                 f"for shape {format_shape(stored)}")
        return values.reshape(want)

    # --- values --------------------------------------------------------------------------
    def static_shape(self, layer: Any, v: SSAValue, what: str = "input") -> tuple[int, ...]:
        shape = self.shape(v)
        if None in shape:
            raise self.error(layer, f"needs a static {what} shape, got {format_shape(shape)}")
        return shape

    def channels(self, layer: Any, v: SSAValue) -> int:
        shape = self.shape(v)
        if len(shape) < 2 or shape[1] is None:
            raise self.error(layer, f"needs a known number of channels (axis 1), got {format_shape(shape)}")
        return shape[1]

    def axis(self, layer: Any, axis: int, rank: int) -> int:
        """Caffe's CanonicalAxisIndex: negative axes count from the end."""
        if not -rank <= axis < rank:
            raise self.error(layer, f"axis {axis} is out of range for an input of rank {rank}")
        return axis + rank if axis < 0 else axis

    def broadcast_to(self, v: SSAValue, axis: int, rank: int) -> SSAValue:
        """A parameter covering axes [axis, axis + its rank) of a rank-`rank` tensor, shaped to
        broadcast along the others (Caffe's Scale and Bias)."""
        shape = self.shape(v)
        if not shape or len(shape) == rank:
            return v
        new = [1] * axis + [-1 if d is None else d for d in shape] + [1] * (rank - axis - len(shape))
        return self.b.out("Reshape", [v, self.i64(new)], special_zero=False)


def _blob_values(p: Any, where: str, layer: str, i: int) -> np.ndarray:
    if p.data:
        return np.asarray(p.data, np.float32)
    if p.double_data:
        return np.asarray(p.double_data, np.float64).astype(np.float32)
    if p.HasField("raw_data"):
        kinds = {0: np.float64, 1: np.float32, 2: np.float16}
        if p.raw_data_type not in kinds:
            raise ModelFileError(f"{where}: layer {layer!r} blob {i} stores integer raw data")
        dt = np.dtype(kinds[p.raw_data_type]).newbyteorder("<")
        if len(p.raw_data) % dt.itemsize:
            raise ModelFileError(f"{where}: layer {layer!r} blob {i}: raw data of {len(p.raw_data)} bytes")
        return np.frombuffer(p.raw_data, dt).astype(np.float32)
    return np.zeros(0, np.float32)


__all__ = ["LAYERS", "CaffeContext", "global_stats", "needs_weights"]
