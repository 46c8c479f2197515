"""Reference semantics of convolutions, pooling, matmul, normalizations and softmax."""

from __future__ import annotations

import itertools
import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from dialects.ov.shape_rules import deconv_pads, norm_axes, norm_axis, resolve_pads, window_out
from runtime.reference.registry import reference


def windows(x: np.ndarray, kernel, strides, dilations, pb, pe, out_dims, pad_value=0.0) -> np.ndarray:
    """[N, C, *spatial] -> view [N, C, *out_dims, *kernel] of the (padded) sliding windows."""
    n = len(kernel)
    need = [(o - 1) * s + d * (k - 1) + 1 for o, s, d, k in zip(out_dims, strides, dilations, kernel)]
    pads = [(0, 0), (0, 0)]
    for i in range(n):
        extra = max(0, need[i] - (x.shape[2 + i] + pb[i] + pe[i]))
        pads.append((pb[i], pe[i] + extra))
    xp = np.pad(x, pads, constant_values=pad_value)
    span = [d * (k - 1) + 1 for k, d in zip(kernel, dilations)]
    v = sliding_window_view(xp, span, axis=tuple(range(2, 2 + n)))
    sl = (slice(None), slice(None)) + tuple(slice(0, (o - 1) * s + 1, s) for o, s in zip(out_dims, strides)) \
        + tuple(slice(None, None, d) for d in dilations)
    return v[sl]


def _conv_pads(attr, x, kernel):
    return resolve_pads(x.shape[2:], kernel, attr.strides, attr.dilations, attr.auto_pad,
                        attr.pads_begin, attr.pads_end)


def conv(x: np.ndarray, w: np.ndarray, strides, dilations, pb, pe, out_dims) -> np.ndarray:
    n = len(strides)
    v = windows(x, w.shape[2:], strides, dilations, pb, pe, out_dims)
    y = np.tensordot(v, w, axes=([1] + list(range(2 + n, 2 + 2 * n)), list(range(1, 2 + n))))
    return np.moveaxis(y, -1, 1).astype(x.dtype)


@reference("Convolution")
def _convolution(op, attr, x, w):
    pb, pe = _conv_pads(attr, x, w.shape[2:])
    return [np.require(conv(x, w, attr.strides, attr.dilations, pb, pe, op.out_shape()[2:]), requirements="C")]


@reference("GroupConvolution")
def _group_convolution(op, attr, x, w):
    g = w.shape[0]
    pb, pe = _conv_pads(attr, x, w.shape[3:])
    xs = np.split(x, g, axis=1)
    out = op.out_shape()[2:]
    return [np.concatenate([conv(xs[i], w[i], attr.strides, attr.dilations, pb, pe, out) for i in range(g)],
                           axis=1)]


def deconv(x: np.ndarray, w: np.ndarray, attr, out_dims) -> np.ndarray:
    """Transposed convolution of x [N, Cin, *sp] with w [Cin, Cout, *k] to spatial `out_dims`."""
    n = x.ndim - 2
    k = w.shape[2:]
    s, d = attr.strides, attr.dilations
    outpad = attr.output_padding or (0,) * n
    full = [s[i] * (x.shape[2 + i] - 1) + d[i] * (k[i] - 1) + 1 for i in range(n)]
    pb = deconv_pads(attr, x.shape, k, out_dims, attr.explicit_output_shape)
    lo = [min(p, 0) for p in pb]  # negative begin pads: zeros in front of the full output
    size = [max(full[i] + outpad[i], pb[i] + out_dims[i]) - lo[i] for i in range(n)]
    y = np.zeros((x.shape[0], w.shape[1], *size), dtype=np.float64 if x.dtype == np.float64 else np.float32)
    for idx in itertools.product(*[range(kk) for kk in k]):
        contrib = np.tensordot(x, w[(slice(None), slice(None)) + idx], axes=([1], [0]))
        contrib = np.moveaxis(contrib, -1, 1)
        sl = tuple(slice(idx[i] * d[i] - lo[i], idx[i] * d[i] - lo[i] + s[i] * (x.shape[2 + i] - 1) + 1, s[i])
                   for i in range(n))
        y[(slice(None), slice(None)) + sl] += contrib
    crop = tuple(slice(pb[i] - lo[i], pb[i] - lo[i] + out_dims[i]) for i in range(n))
    return np.require(y[(slice(None), slice(None)) + crop], requirements="C").astype(x.dtype)


class _DeconvAttr:
    def __init__(self, attr, explicit_output_shape: bool):
        self.__dict__.update(vars(attr))
        self.explicit_output_shape = explicit_output_shape


@reference("ConvolutionBackpropData")
def _deconvolution(op, attr, x, w, output_shape=None):
    return [deconv(x, w, _DeconvAttr(attr, output_shape is not None), op.out_shape()[2:])]


@reference("GroupConvolutionBackpropData")
def _group_deconvolution(op, attr, x, w, output_shape=None):
    g = w.shape[0]
    a = _DeconvAttr(attr, output_shape is not None)
    xs = np.split(x, g, axis=1)
    return [np.concatenate([deconv(xs[i], w[i], a, op.out_shape()[2:]) for i in range(g)], axis=1)]


def _pool_geometry(attr, x, dilations):
    k = attr.kernel
    pb, pe = resolve_pads(x.shape[2:], k, attr.strides, dilations, attr.auto_pad, attr.pads_begin, attr.pads_end)
    out = [window_out(x.shape[2 + i], k[i], attr.strides[i], dilations[i], pb[i], pe[i], attr.auto_pad,
                      attr.rounding_type) for i in range(len(k))]
    return pb, pe, out


@reference("MaxPool")
def _max_pool(op, attr, x):
    n = len(attr.kernel)
    dil = attr.dilations or (1,) * n
    pb, pe, out = _pool_geometry(attr, x, dil)
    low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    v = windows(x, attr.kernel, attr.strides, dil, pb, pe, out, pad_value=low)
    flat = v.reshape(v.shape[:2 + n] + (-1,))
    arg = np.argmax(flat, axis=-1)
    values = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]
    koffs = np.unravel_index(arg, attr.kernel)
    coords = []
    for i in range(n):
        o = np.arange(out[i]).reshape((1, 1) + tuple(-1 if j == i else 1 for j in range(n)))
        coords.append(o * attr.strides[i] + koffs[i] * dil[i] - pb[i])
    spatial = x.shape[2:]
    idx = np.zeros(arg.shape, dtype=np.int64)
    for i in range(n):
        idx = idx * spatial[i] + coords[i]
    axis = norm_axis(attr.axis, x.ndim, "MaxPool")
    if axis <= 1:
        c = np.arange(x.shape[1]).reshape(1, -1, *([1] * n))
        idx = idx + c * math.prod(spatial)
    if axis == 0:
        b = np.arange(x.shape[0]).reshape(-1, 1, *([1] * n))
        idx = idx + b * x.shape[1] * math.prod(spatial)
    return [values.astype(x.dtype), idx.astype(op.out_dtype(1))]


@reference("AvgPool")
def _avg_pool(op, attr, x):
    n = len(attr.kernel)
    one = (1,) * n
    pb, pe, out = _pool_geometry(attr, x, one)
    v = windows(x, attr.kernel, attr.strides, one, pb, pe, out)
    total = v.sum(axis=tuple(range(-n, 0)), dtype=np.float64)
    ones = np.ones((1, 1) + x.shape[2:])
    if attr.exclude_pad:  # count only real elements
        mask, mpb, mpe = ones, pb, pe
    else:  # padding counts, the part of a window past the padding (ceil rounding) does not
        mask = np.pad(ones, [(0, 0), (0, 0)] + list(zip(pb, pe)), constant_values=1)
        mpb = mpe = (0,) * n
    count = windows(mask, attr.kernel, attr.strides, one, mpb, mpe, out).sum(axis=tuple(range(-n, 0)))
    return [(total / np.maximum(count, 1)).astype(x.dtype)]


def _adaptive_bins(size: int, out: int) -> list[tuple[int, int]]:
    return [(math.floor(i * size / out), math.ceil((i + 1) * size / out)) for i in range(out)]


def _adaptive(x, out_dims, reduce):
    n = x.ndim - 2
    bins = [_adaptive_bins(x.shape[2 + i], out_dims[i]) for i in range(n)]
    y = np.zeros(x.shape[:2] + tuple(out_dims), dtype=x.dtype)
    idx = np.zeros(y.shape, dtype=np.int64)
    for pos in itertools.product(*[range(o) for o in out_dims]):
        sl = tuple(slice(*bins[i][pos[i]]) for i in range(n))
        win = x[(slice(None), slice(None)) + sl]
        flat = win.reshape(win.shape[:2] + (-1,))
        key = (slice(None), slice(None)) + pos
        if reduce == "mean":
            y[key] = flat.mean(axis=-1, dtype=np.float64)
        else:
            arg = flat.argmax(axis=-1)
            y[key] = np.take_along_axis(flat, arg[..., None], -1)[..., 0]
            local = np.unravel_index(arg, win.shape[2:])
            flat_idx = np.zeros_like(arg)
            for i in range(n):
                flat_idx = flat_idx * x.shape[2 + i] + local[i] + bins[i][pos[i]][0]
            idx[key] = flat_idx
    return y, idx


@reference("AdaptiveAvgPool")
def _adaptive_avg(op, attr, x, out_shape):
    return [_adaptive(x, [int(v) for v in out_shape], "mean")[0]]


@reference("AdaptiveMaxPool")
def _adaptive_max(op, attr, x, out_shape):
    y, idx = _adaptive(x, [int(v) for v in out_shape], "max")
    return [y, idx.astype(op.out_dtype(1))]


@reference("MatMul")
def _matmul(op, attr, a, b):
    if attr.transpose_a and a.ndim >= 2:
        a = np.swapaxes(a, -1, -2)
    if attr.transpose_b and b.ndim >= 2:
        b = np.swapaxes(b, -1, -2)
    return [np.matmul(a, b).astype(op.out_dtype(0))]


def per_channel(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    return p.reshape((1, -1) + (1,) * (x.ndim - 2))


@reference("BatchNormInference")
def _batch_norm(op, attr, x, gamma, beta, mean, var):
    inv = gamma / np.sqrt(var + np.asarray(attr.epsilon, var.dtype))
    return [((x - per_channel(x, mean)) * per_channel(x, inv) + per_channel(x, beta)).astype(x.dtype)]


@reference("MVN")
def _mvn(op, attr, x, axes):
    ax = norm_axes([int(a) for a in axes.reshape(-1)], x.ndim, "MVN")
    x64 = x.astype(np.float64)
    y = x64 - x64.mean(axis=ax, keepdims=True)
    if attr.normalize_variance:
        var = (y * y).mean(axis=ax, keepdims=True)
        y = y / (np.sqrt(var + attr.eps) if attr.eps_mode == "inside_sqrt" else np.sqrt(var) + attr.eps)
    return [y.astype(x.dtype)]


@reference("LRN")
def _lrn(op, attr, x, axes):
    ax = norm_axes([int(a) for a in axes.reshape(-1)], x.ndim, "LRN")
    sq = x.astype(np.float64) ** 2
    before, after = (attr.size - 1) // 2, attr.size // 2
    for a in ax:
        pad = [(0, 0)] * x.ndim
        pad[a] = (before, after)
        sq = sliding_window_view(np.pad(sq, pad), attr.size, axis=a).sum(axis=-1)
    scale = attr.bias + attr.alpha / attr.size ** len(ax) * sq
    return [(x / scale ** attr.beta).astype(x.dtype)]


@reference("NormalizeL2")
def _normalize_l2(op, attr, x, axes):
    ax = norm_axes([int(a) for a in axes.reshape(-1)], x.ndim, "NormalizeL2")
    ss = (x.astype(np.float64) ** 2).sum(axis=ax, keepdims=True) if ax else x.astype(np.float64) ** 2
    den = np.sqrt(ss + attr.eps) if attr.eps_mode == "add" else np.sqrt(np.maximum(ss, attr.eps))
    return [(x / den).astype(x.dtype)]


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@reference("SoftMax")
def _softmax(op, attr, x):
    return [softmax(x, attr.axis).astype(x.dtype)]


@reference("LogSoftmax")
def _log_softmax(op, attr, x):
    m = x.max(axis=attr.axis, keepdims=True)
    return [(x - m - np.log(np.exp(x - m).sum(axis=attr.axis, keepdims=True))).astype(x.dtype)]


@reference("DepthToSpace")
def _depth_to_space(op, attr, x):
    n, c, sp = x.shape[0], x.shape[1], x.shape[2:]
    k, bs = len(sp), attr.block_size
    c2 = c // bs ** k
    if attr.mode == "blocks_first":
        y = x.reshape((n,) + (bs,) * k + (c2,) + sp)
        perm = [0, k + 1] + [j for i in range(k) for j in (k + 2 + i, 1 + i)]
    else:
        y = x.reshape((n, c2) + (bs,) * k + sp)
        perm = [0, 1] + [j for i in range(k) for j in (k + 2 + i, 2 + i)]
    return [np.require(y.transpose(perm).reshape((n, c2) + tuple(d * bs for d in sp)), requirements="C")]


@reference("SpaceToDepth")
def _space_to_depth(op, attr, x):
    n, c, sp = x.shape[0], x.shape[1], x.shape[2:]
    k, bs = len(sp), attr.block_size
    y = x.reshape((n, c) + tuple(v for d in sp for v in (d // bs, bs)))
    blocks = [3 + 2 * i for i in range(k)]
    spatial = [2 + 2 * i for i in range(k)]
    perm = [0] + (blocks + [1] if attr.mode == "blocks_first" else [1] + blocks) + spatial
    return [np.require(y.transpose(perm).reshape((n, c * bs ** k) + tuple(d // bs for d in sp)), requirements="C")]


@reference("ShuffleChannels")
def _shuffle_channels(op, attr, x):
    ax = norm_axis(attr.axis, x.ndim)
    g = attr.group
    y = x.reshape(x.shape[:ax] + (g, x.shape[ax] // g) + x.shape[ax + 1:])
    return [np.require(np.swapaxes(y, ax, ax + 1).reshape(x.shape), requirements="C")]


def _dft(op_type: str, x: np.ndarray, axes: np.ndarray, sizes: np.ndarray | None) -> np.ndarray:
    """numpy's FFTs in float64 (its pocketfft is accurate to a few ulps of double)."""
    from dialects.ov.nn import dft_plan

    ax, lengths = dft_plan(op_type, x.shape, [int(a) for a in axes.reshape(-1)],
                           None if sizes is None else [int(s) for s in sizes.reshape(-1)])
    if op_type == "RDFT":
        y = np.fft.rfftn(x.astype(np.float64), s=lengths, axes=ax)
    else:
        z = x[..., 0].astype(np.float64) + 1j * x[..., 1].astype(np.float64)
        if op_type == "IRDFT":
            return np.fft.irfftn(z, s=lengths, axes=ax).astype(x.dtype)
        y = (np.fft.fftn if op_type == "DFT" else np.fft.ifftn)(z, s=lengths, axes=ax)
    return np.stack([y.real, y.imag], axis=-1).astype(x.dtype)


def _dft_op(op, attr, x, axes, sizes=None):
    return [_dft(op.IR_TYPE, x, axes, sizes)]


for _t in ("DFT", "IDFT", "RDFT", "IRDFT"):
    reference(_t)(_dft_op)
