"""Reference semantics of Interpolate (separable nearest, linear and cubic resizing)."""

from __future__ import annotations

import numpy as np

from dialects.ov.shape_rules import norm_axes
from runtime.reference.registry import reference


def source_coords(mode: str, out_len: int, in_len: int, scale: float) -> np.ndarray:
    """Coordinate in the input of each output index, per coordinate_transformation_mode
    (align_corners uses the integer output length, as ONNX Runtime and OpenVINO do)."""
    x = np.arange(out_len, dtype=np.float64)
    if mode == "half_pixel":
        return (x + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (x + 0.5) / scale - 0.5 if out_len > 1 else np.zeros_like(x)
    if mode == "asymmetric":
        return x / scale
    if mode == "tf_half_pixel_for_nn":
        return (x + 0.5) / scale
    if mode == "align_corners":
        return np.zeros_like(x) if out_len == 1 else x * (in_len - 1) / (out_len - 1)
    raise ValueError(f"Interpolate: unknown coordinate_transformation_mode {mode}")


def nearest_index(mode: str, c: np.ndarray, scale: float) -> np.ndarray:
    if mode == "round_prefer_floor":
        r = np.ceil(c - 0.5)
    elif mode == "round_prefer_ceil":
        r = np.floor(c + 0.5)
    elif mode == "floor":
        r = np.floor(c)
    elif mode == "ceil":
        r = np.ceil(c)
    else:  # simple
        r = np.ceil(c) if scale < 1 else np.trunc(c)
    return r.astype(np.int64)


def cubic_weights(t: np.ndarray, a: float) -> list[np.ndarray]:
    def near(d):  # |d| <= 1
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d):  # 1 < |d| < 2
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def resize_axis(x: np.ndarray, axis: int, out_len: int, scale: float, attr) -> np.ndarray:
    in_len = x.shape[axis]
    c = source_coords(attr.coordinate_transformation_mode, out_len, in_len, scale)
    shape = [1] * x.ndim
    shape[axis] = out_len

    def take(i):
        return np.take(x, np.clip(i, 0, in_len - 1), axis=axis).astype(np.float64)

    if attr.mode == "nearest":
        return np.take(x, np.clip(nearest_index(attr.nearest_mode, c, scale), 0, in_len - 1), axis=axis)
    if attr.mode in ("linear", "linear_onnx", "bilinear_pillow"):
        c = np.clip(c, 0, in_len - 1)
        x0 = np.floor(c).astype(np.int64)
        w = (c - x0).reshape(shape)
        return (take(x0) * (1 - w) + take(x0 + 1) * w).astype(x.dtype)
    x0 = np.floor(c).astype(np.int64)
    ws = cubic_weights(c - x0, attr.cube_coeff)
    y = sum(take(x0 + off) * w.reshape(shape) for off, w in zip((-1, 0, 1, 2), ws))
    return y.astype(x.dtype)


@reference("Interpolate")
def _interpolate(op, attr, x, param, axes=None):
    rank = x.ndim
    ax = tuple(range(rank)) if axes is None else norm_axes([int(v) for v in axes.reshape(-1)], rank)
    pb = list(attr.pads_begin) + [0] * (rank - len(attr.pads_begin))
    pe = list(attr.pads_end) + [0] * (rank - len(attr.pads_end))
    if any(pb) or any(pe):
        x = np.pad(x, list(zip(pb, pe)))
    param = param.reshape(-1)
    for j, a in enumerate(ax):
        if attr.shape_calculation_mode == "scales":
            scale = float(param[j])
            n = int(np.floor(x.shape[a] * scale + 1e-5))  # x is already padded
        else:
            n = int(param[j])
            scale = n / x.shape[a]
        if n != x.shape[a] or attr.shape_calculation_mode == "scales":
            x = resize_axis(x, a, n, scale, attr)
    return [np.require(x, requirements="C")]
