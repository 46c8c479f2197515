"""Caffe frontend: prototxt/caffemodel pairs written here (classic topologies and one layer at
a time) run by ovcc's native code and compared with OpenCV's DNN module, which reads Caffe files
without Caffe; where OpenCV departs from Caffe's definition, numpy written from Caffe's formula
is the oracle instead. Our IR of the nets runs in OpenVINO to the same outputs."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import compiler as ov
from tests.compiler.caffe_nets import OV_F32, opencv_run, rand, write_net

RTOL, ATOL = 1e-4, 1e-5


def _inputs_decl(shapes: dict[str, tuple]) -> str:
    return "".join(f'input: "{n}"\ninput_shape {{ {" ".join(f"dim: {d}" for d in s)} }}\n' for n, s in shapes.items())


def _ovcc_run(model_path, inputs: dict[str, np.ndarray], names: list[str], **kw) -> list[np.ndarray]:
    compiled = ov.compile_model(ov.convert_model(str(model_path), **kw), "CPU", OV_F32)
    results = compiled(inputs)
    return [results[n] for n in names]


def _check(got, want, rtol=RTOL, atol=ATOL):
    for g, w in zip(got, want):
        scale = float(np.abs(w).max()) or 1.0
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol * max(scale, 1.0))


# --- one layer at a time, against OpenCV ---------------------------------------------------
# (id, input shapes, layers, weights {layer: [blob shapes]}, outputs: "layer" or "layer=its top blob")
LAYER_CASES = [
    ("conv_group_dilation", {"x": (2, 6, 9, 8)},
     'layer { name: "y" type: "Convolution" bottom: "x" top: "y" convolution_param { num_output: 4 group: 2 '
     'kernel_size: 3 pad: 2 dilation: 2 stride: 1 } }', {"y": [(4, 3, 3, 3), (4,)]}, ["y"]),
    ("conv_hw_spelling", {"x": (1, 3, 11, 10)},
     'layer { name: "y" type: "Convolution" bottom: "x" top: "y" convolution_param { num_output: 5 bias_term: false '
     'kernel_h: 3 kernel_w: 2 pad_h: 1 pad_w: 0 stride_h: 2 stride_w: 3 } }', {"y": [(5, 3, 3, 2)]}, ["y"]),
    ("conv_repeated_spelling", {"x": (1, 4, 10, 9)},
     'layer { name: "y" type: "Convolution" bottom: "x" top: "y" convolution_param { num_output: 4 group: 4 '
     'kernel_size: 3 kernel_size: 1 pad: 1 pad: 0 stride: 2 stride: 1 } }', {"y": [(4, 1, 3, 1), (4,)]}, ["y"]),
    ("deconv_group_stride", {"x": (1, 4, 5, 6)},
     'layer { name: "y" type: "Deconvolution" bottom: "x" top: "y" convolution_param { num_output: 6 group: 2 '
     'kernel_size: 3 stride: 2 pad: 1 } }', {"y": [(4, 3, 3, 3), (6,)]}, ["y"]),
    ("deconv_plain", {"x": (2, 3, 4, 4)},
     'layer { name: "y" type: "Deconvolution" bottom: "x" top: "y" convolution_param { num_output: 2 '
     'kernel_size: 4 stride: 2 bias_term: false } }', {"y": [(3, 2, 4, 4)]}, ["y"]),
    ("inner_product_axis", {"x": (2, 3, 4, 5)},
     'layer { name: "y" type: "InnerProduct" bottom: "x" top: "y" inner_product_param { num_output: 7 axis: 2 } }',
     {"y": [(7, 20), (7,)]}, ["y"]),
    ("max_pool_ceil_pad_correction", {"x": (1, 2, 7, 7)},
     # ceil((7 + 2 - 3) / 3) + 1 = 3 windows, kept (window 2 starts at 5 < 7 + 1); 8x8 with pad 1, stride 2,
     # kernel 2: ceil(8 / 2) + 1 = 5 drops to 4 as window 4 would start in the padding
     'layer { name: "y" type: "Pooling" bottom: "x" top: "y" pooling_param { pool: MAX kernel_size: 3 stride: 3 '
     'pad: 1 } }', {}, ["y"]),
    ("max_pool_last_window_dropped", {"x": (1, 2, 8, 8)},
     'layer { name: "y" type: "Pooling" bottom: "x" top: "y" pooling_param { pool: MAX kernel_size: 2 stride: 2 '
     'pad: 1 } }', {}, ["y"]),
    ("ave_pool_pad_counts", {"x": (1, 3, 7, 6)},
     'layer { name: "y" type: "Pooling" bottom: "x" top: "y" pooling_param { pool: AVE kernel_size: 3 stride: 2 '
     'pad: 1 } }', {}, ["y"]),
    ("ave_pool_ceil_overhang", {"x": (1, 2, 6, 9)},
     'layer { name: "y" type: "Pooling" bottom: "x" top: "y" pooling_param { pool: AVE kernel_h: 3 kernel_w: 2 '
     'stride_h: 2 stride_w: 2 } }', {}, ["y"]),
    ("global_pools", {"x": (2, 3, 5, 4)},
     'layer { name: "a" type: "Pooling" bottom: "x" top: "a" pooling_param { pool: AVE global_pooling: true } }\n'
     'layer { name: "m" type: "Pooling" bottom: "x" top: "m" pooling_param { pool: MAX global_pooling: true } }',
     {}, ["a", "m"]),
    ("relu_negative_slope_prelu", {"x": (2, 3, 4, 4)},
     'layer { name: "r" type: "ReLU" bottom: "x" top: "r" relu_param { negative_slope: 0.2 } }\n'
     'layer { name: "p" type: "PReLU" bottom: "x" top: "p" }\n'
     'layer { name: "s" type: "PReLU" bottom: "x" top: "s" prelu_param { channel_shared: true } }',
     {"p": [(3,)], "s": [(1,)]}, ["r", "p", "s"]),  # Caffe stores the shared slope as a scalar: OpenCV fails on it
    ("activations", {"x": (2, 3, 4, 5)},
     'layer { name: "sig" type: "Sigmoid" bottom: "x" top: "sig" }\n'
     'layer { name: "tanh" type: "TanH" bottom: "x" top: "tanh" }\n'
     'layer { name: "elu" type: "ELU" bottom: "x" top: "elu" elu_param { alpha: 0.7 } }\n'
     'layer { name: "abs" type: "AbsVal" bottom: "x" top: "abs" }\n'
     'layer { name: "bnll" type: "BNLL" bottom: "x" top: "bnll" }\n'
     'layer { name: "pow" type: "Power" bottom: "abs" top: "pow" power_param { power: 1.5 scale: 0.5 shift: 0.25 } }',
     {}, ["sig", "tanh", "elu", "bnll", "pow"]),
    ("eltwise_ops", {"a": (2, 3, 4, 4), "b": (2, 3, 4, 4), "c": (2, 3, 4, 4)},
     'layer { name: "sum" type: "Eltwise" bottom: "a" bottom: "b" bottom: "c" top: "sum" '
     'eltwise_param { operation: SUM coeff: 0.5 coeff: -1 coeff: 2 } }\n'
     'layer { name: "prod" type: "Eltwise" bottom: "a" bottom: "b" top: "prod" eltwise_param { operation: PROD } }\n'
     'layer { name: "max" type: "Eltwise" bottom: "a" bottom: "b" bottom: "c" top: "max" '
     'eltwise_param { operation: MAX } }', {}, ["sum", "prod", "max"]),
    ("slice_split_concat", {"x": (2, 7, 3, 2)},
     'layer { name: "sl" type: "Slice" bottom: "x" top: "s1" top: "s2" top: "s3" slice_param { axis: 1 '
     'slice_point: 2 slice_point: 5 } }\n'
     'layer { name: "eq" type: "Slice" bottom: "x" top: "e1" top: "e2" slice_param { axis: -1 } }\n'
     'layer { name: "sp" type: "Split" bottom: "s3" top: "t1" top: "t2" }\n'
     'layer { name: "cat" type: "Concat" bottom: "t1" bottom: "s1" bottom: "t2" top: "cat" }\n'
     'layer { name: "cat2" type: "Concat" bottom: "e2" bottom: "e1" top: "cat2" concat_param { axis: 3 } }',
     {}, ["cat", "cat2"]),
    ("softmax_axis", {"x": (2, 3, 4, 5)},
     'layer { name: "y" type: "Softmax" bottom: "x" top: "y" softmax_param { axis: 2 } }', {}, ["y"]),
    ("lrn_across", {"x": (2, 7, 5, 5)},
     'layer { name: "y" type: "LRN" bottom: "x" top: "y" lrn_param { local_size: 3 alpha: 0.3 beta: 0.6 } }',
     {}, ["y"]),  # OpenCV drops k: see test_lrn_follows_caffe
    ("flatten_reshape", {"x": (2, 3, 4, 5)},
     'layer { name: "f" type: "Flatten" bottom: "x" top: "f" flatten_param { axis: 1 end_axis: 2 } }\n'
     'layer { name: "r" type: "Reshape" bottom: "f" top: "r" reshape_param { shape { dim: 4 dim: -1 } axis: 1 '
     'num_axes: 1 } }\n'
     'layer { name: "q" type: "Reshape" bottom: "x" top: "q" reshape_param { shape { dim: 0 dim: -1 dim: 2 } '
     'axis: 1 num_axes: 2 } }', {}, ["r", "q"]),
    ("crop_permute", {"x": (1, 3, 8, 9), "ref": (1, 2, 5, 4)},
     'layer { name: "c" type: "Crop" bottom: "x" bottom: "ref" top: "c" crop_param { axis: 2 offset: 2 offset: 3 } }\n'
     'layer { name: "p" type: "Permute" bottom: "c" top: "p" permute_param { order: 0 order: 3 order: 1 order: 2 } }',
     {}, ["p"]),
    ("scale_bias_variants", {"x": (2, 3, 4, 5), "s": (3, 4)},
     'layer { name: "s1" type: "Scale" bottom: "x" top: "s1" scale_param { bias_term: true } }\n'
     'layer { name: "s2" type: "Scale" bottom: "x" bottom: "s" top: "s2" }\n'
     'layer { name: "s3" type: "Scale" bottom: "x" top: "s3" scale_param { axis: 2 num_axes: -1 } }',
     {"s1": [(3,), (3,)], "s3": [(4, 5)]}, ["s1", "s2", "s3"]),
    ("batch_norm_factor", {"x": (2, 4, 3, 3)},
     'layer { name: "y" type: "BatchNorm" bottom: "x" top: "y" batch_norm_param { eps: 0.001 } }',
     {"y": "batchnorm"}, ["y"]),
    ("dropout_in_place", {"x": (2, 6)},
     'layer { name: "ip" type: "InnerProduct" bottom: "x" top: "ip" inner_product_param { num_output: 3 } }\n'
     'layer { name: "drop" type: "Dropout" bottom: "ip" top: "ip" dropout_param { dropout_ratio: 0.3 } }\n'
     'layer { name: "y" type: "ReLU" bottom: "ip" top: "ip" }', {"ip": [(3, 6), (3,)]}, ["y=ip"]),
]


def _weights(rng, spec: dict) -> dict:
    out = {}
    for name, shapes in spec.items():
        if shapes == "batchnorm":  # sums of a moving average and its normalizer
            factor = np.float32(4.0)
            out[name] = [rand(rng, 4) * factor, (rng.random(4).astype(np.float32) + 0.5) * factor,
                         np.array([factor], np.float32)]
        else:
            out[name] = [rand(rng, *s, scale=0.5) for s in shapes]
    return out


@pytest.mark.parametrize("case", LAYER_CASES, ids=[c[0] for c in LAYER_CASES])
def test_layer_matches_opencv(case, tmp_path):
    name, shapes, layers, wspec, outs = case
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    weights = _weights(rng, wspec) if wspec else None  # a weightless net converts from its prototxt alone
    proto, model = write_net(tmp_path, _inputs_decl(shapes) + layers, weights)
    inputs = {n: rand(rng, *s) for n, s in shapes.items()}
    layer_names, blobs = zip(*[(o.split("=")[0], o.split("=")[-1]) for o in outs])
    want = opencv_run(proto, model, inputs, list(layer_names))
    _check(_ovcc_run(model or proto, inputs, list(blobs)), want)
