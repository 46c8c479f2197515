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


def resize_tables(attr, in_len: int, out_len: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """For each output index: the input indices it reads and their weights, [out_len, taps]
    (1 tap for nearest, 2 for linear, 4 for cubic; indices clamped into the input)."""
    c = source_coords(attr.coordinate_transformation_mode, out_len, in_len, scale)
    if attr.mode == "nearest":
        idx = np.clip(nearest_index(attr.nearest_mode, c, scale), 0, in_len - 1)
        return idx[:, None], np.ones((out_len, 1))
    if attr.mode in ("linear", "linear_onnx", "bilinear_pillow"):
        c = np.clip(c, 0, in_len - 1)
        x0 = np.floor(c).astype(np.int64)
        w = c - x0
        return np.clip(np.stack([x0, x0 + 1], 1), 0, in_len - 1), np.stack([1 - w, w], 1)
    x0 = np.floor(c).astype(np.int64)
    ws = cubic_weights(c - x0, attr.cube_coeff)
    idx = np.stack([x0 + off for off in (-1, 0, 1, 2)], 1)
    return np.clip(idx, 0, in_len - 1), np.stack(ws, 1)


def resize_axis(x: np.ndarray, axis: int, out_len: int, scale: float, attr) -> np.ndarray:
    idx, w = resize_tables(attr, x.shape[axis], out_len, scale)
    shape = [1] * x.ndim
    shape[axis] = out_len
    y = sum(np.take(x, idx[:, t], axis=axis).astype(np.float64) * w[:, t].reshape(shape) for t in range(idx.shape[1]))
    return np.asarray(y).astype(x.dtype)


def interpolate_plan(attr, in_shape, param, axes) -> tuple[list[int], list[tuple[int, int, float]]]:
    """Padded input shape and, per resized axis, (axis, output length, scale)."""
    rank = len(in_shape)
    pb = list(attr.pads_begin) + [0] * (rank - len(attr.pads_begin))
    pe = list(attr.pads_end) + [0] * (rank - len(attr.pads_end))
    shape = [d + b + e for d, b, e in zip(in_shape, pb, pe)]
    plan = []
    param = np.asarray(param).reshape(-1)
    for j, a in enumerate(axes):
        if attr.shape_calculation_mode == "scales":
            scale = float(param[j])
            n = int(np.floor(shape[a] * scale + 1e-5))
        else:
            n = int(param[j])
            scale = n / shape[a]
        if n != shape[a] or attr.shape_calculation_mode == "scales":
            plan.append((a, n, scale))
        shape[a] = n
    return shape, plan


@reference("Interpolate")
def _interpolate(op, attr, x, param, axes=None):
    rank = x.ndim
    ax = tuple(range(rank)) if axes is None else norm_axes([int(v) for v in axes.reshape(-1)], rank)
    pb = list(attr.pads_begin) + [0] * (rank - len(attr.pads_begin))
    pe = list(attr.pads_end) + [0] * (rank - len(attr.pads_end))
    _, plan = interpolate_plan(attr, x.shape, param, ax)
    if any(pb) or any(pe):
        x = np.pad(x, list(zip(pb, pe)))
    for a, n, scale in plan:
        x = resize_axis(x, a, n, scale, attr)
    return [np.require(x, requirements="C")]
