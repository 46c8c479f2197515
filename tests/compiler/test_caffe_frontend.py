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


def _openvino_run(model: ov.Model, folder, inputs: dict[str, np.ndarray], names: list[str]) -> list[np.ndarray]:
    """Our IR of `model`, run by OpenVINO."""
    import openvino

    ov.save_model(model, folder / "ir.xml", compress_to_fp16=False)
    results = openvino.Core().compile_model(str(folder / "ir.xml"), "CPU", OV_F32)(inputs)
    return [results[n] for n in names]


def _check(got, want, rtol=RTOL, atol=ATOL):
    for g, w in zip(got, want):
        scale = float(np.abs(w).max()) or 1.0
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol * max(scale, 1.0))


# (name, kernel, stride, pad) on a 9x8 input: sizes where Caffe's ceil rounding and its correction matter
POOLS = [(f"{pool}_k{k}s{st}p{pd}", k, st, pd) for pool in ("max", "ave")
         for k, st, pd in [(2, 2, 0), (3, 2, 0), (3, 2, 1), (2, 2, 1), (3, 3, 1), (4, 3, 2), (5, 2, 2), (3, 1, 1)]]

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
    ("pool_geometries", {"x": (1, 2, 9, 8)}, "".join(
        f'layer {{ name: "{n}" type: "Pooling" bottom: "x" top: "{n}" pooling_param {{ pool: {n[:3].upper()} '
        f'kernel_size: {k} stride: {st} pad: {pd} }} }}\n' for n, k, st, pd in POOLS), {}, [n for n, *_ in POOLS]),
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
    ("interp_zoom_and_size", {"x": (1, 2, 4, 5)},
     'layer { name: "z" type: "Interp" bottom: "x" top: "z" interp_param { zoom_factor: 3 } }\n'
     'layer { name: "s" type: "Interp" bottom: "x" top: "s" interp_param { height: 7 width: 3 } }', {}, ["z", "s"]),
    ("normalize", {"x": (2, 3, 4, 5)},
     'layer { name: "a" type: "Normalize" bottom: "x" top: "a" norm_param { across_spatial: false '
     'channel_shared: false } }\n'
     'layer { name: "b" type: "Normalize" bottom: "x" top: "b" norm_param { eps: 0.01 } }',
     {"a": [(3,)], "b": [(1,)]}, ["a", "b"]),
    ("lrn_within_channel", {"x": (1, 3, 6, 5)},
     'layer { name: "y" type: "LRN" bottom: "x" top: "y" lrn_param { local_size: 3 alpha: 0.5 '
     'norm_region: WITHIN_CHANNEL } }', {}, ["y"]),
    ("dropout_scaled_at_test", {"x": (2, 3)},  # Faster R-CNN's fork, whose field OpenCV reads too
     'layer { name: "y" type: "Dropout" bottom: "x" top: "y" dropout_param { dropout_ratio: 0.2 '
     'scale_train: false } }', {}, ["y"]),
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
def test_layer_matches_opencv_and_its_ir_runs_in_openvino(case, tmp_path):
    name, shapes, layers, wspec, outs = case
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    weights = _weights(rng, wspec) if wspec else None  # a weightless net converts from its prototxt alone
    proto, model = write_net(tmp_path, _inputs_decl(shapes) + layers, weights)
    inputs = {n: rand(rng, *s) for n, s in shapes.items()}
    layer_names, blobs = zip(*[(o.split("=")[0], o.split("=")[-1]) for o in outs])
    want = opencv_run(proto, model, inputs, list(layer_names))
    converted = ov.convert_model(str(model or proto))
    results = ov.compile_model(converted, "CPU", OV_F32)(inputs)
    _check([results[b] for b in blobs], want)
    _check(_openvino_run(converted, tmp_path, inputs, list(blobs)), want)


# --- classic topologies, against OpenCV, and our IR in OpenVINO ---------------------------------
def _conv(name, bottom, n, k, extra="", top=None):
    return (f'layer {{ name: "{name}" type: "Convolution" bottom: "{bottom}" top: "{top or name}" '
            f'param {{ lr_mult: 1 decay_mult: 1 }} convolution_param {{ num_output: {n} kernel_size: {k} {extra} '
            'weight_filler { type: "xavier" } } }\n')


def _relu(name, blob):
    return f'layer {{ name: "{name}" type: "ReLU" bottom: "{blob}" top: "{blob}" }}\n'


def _bn_scale(prefix, blob):
    return (f'layer {{ name: "bn{prefix}" type: "BatchNorm" bottom: "{blob}" top: "{blob}" '
            'batch_norm_param { use_global_stats: true } }\n'
            f'layer {{ name: "scale{prefix}" type: "Scale" bottom: "{blob}" top: "{blob}" '
            'scale_param { bias_term: true } }\n')


LENET = '''name: "LeNet"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 1 dim: 16 dim: 16 } } }
''' + _conv("conv1", "data", 4, 5) + '''
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
        pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
''' + _conv("conv2", "pool1", 6, 3) + '''
layer { name: "pool2" type: "Pooling" bottom: "conv2" top: "pool2"
        pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "ip1" type: "InnerProduct" bottom: "pool2" top: "ip1" inner_product_param { num_output: 10 } }
layer { name: "relu1" type: "ReLU" bottom: "ip1" top: "ip1" }
layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2" inner_product_param { num_output: 5 } }
layer { name: "prob" type: "Softmax" bottom: "ip2" top: "prob" }
'''
LENET_WEIGHTS = {"conv1": [(4, 1, 5, 5), (4,)], "conv2": [(6, 4, 3, 3), (6,)], "ip1": [(10, 54), (10,)],
                 "ip2": [(5, 10), (5,)]}

VGG = 'name: "VGG-style"\ninput: "data"\ninput_dim: 1\ninput_dim: 3\ninput_dim: 16\ninput_dim: 16\n' + (
    _conv("conv1_1", "data", 8, 3, "pad: 1") + _relu("relu1_1", "conv1_1")
    + _conv("conv1_2", "conv1_1", 8, 3, "pad: 1") + _relu("relu1_2", "conv1_2")
    + 'layer { name: "pool1" type: "Pooling" bottom: "conv1_2" top: "pool1" '
      'pooling_param { pool: MAX kernel_size: 2 stride: 2 } }\n'
    + 'layer { name: "conv2_1" type: "Convolution" bottom: "pool1" top: "conv2_1" convolution_param { '
      'num_output: 8 kernel_h: 3 kernel_w: 3 pad_h: 1 pad_w: 1 } }\n' + _relu("relu2_1", "conv2_1")
    + 'layer { name: "pool2" type: "Pooling" bottom: "conv2_1" top: "pool2" '
      'pooling_param { pool: MAX kernel_size: 2 stride: 2 } }\n'
    + 'layer { name: "fc6" type: "InnerProduct" bottom: "pool2" top: "fc6" inner_product_param { num_output: 16 } }\n'
    + _relu("relu6", "fc6")
    + 'layer { name: "drop6" type: "Dropout" bottom: "fc6" top: "fc6" dropout_param { dropout_ratio: 0.5 } }\n'
    + 'layer { name: "fc7" type: "InnerProduct" bottom: "fc6" top: "fc7" inner_product_param { num_output: 10 } }\n'
    + 'layer { name: "prob" type: "Softmax" bottom: "fc7" top: "prob" }\n')
VGG_WEIGHTS = {"conv1_1": [(8, 3, 3, 3), (8,)], "conv1_2": [(8, 8, 3, 3), (8,)], "conv2_1": [(8, 8, 3, 3), (8,)],
               "fc6": [(16, 128), (16,)], "fc7": [(10, 16), (10,)]}

RESNET = 'name: "ResNet block"\ninput: "data"\ninput_shape { dim: 1 dim: 3 dim: 32 dim: 32 }\n' + (
    _conv("conv1", "data", 8, 7, "pad: 3 stride: 2 bias_term: false") + _bn_scale("_conv1", "conv1")
    + _relu("conv1_relu", "conv1")
    + 'layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" '
      'pooling_param { pool: MAX kernel_size: 3 stride: 2 } }\n'
    + _conv("res2a_branch1", "pool1", 16, 1, "bias_term: false") + _bn_scale("2a_branch1", "res2a_branch1")
    + _conv("res2a_branch2a", "pool1", 4, 1, "bias_term: false") + _bn_scale("2a_branch2a", "res2a_branch2a")
    + _relu("res2a_branch2a_relu", "res2a_branch2a")
    + _conv("res2a_branch2b", "res2a_branch2a", 4, 3, "pad: 1 bias_term: false")
    + _bn_scale("2a_branch2b", "res2a_branch2b") + _relu("res2a_branch2b_relu", "res2a_branch2b")
    + _conv("res2a_branch2c", "res2a_branch2b", 16, 1, "bias_term: false") + _bn_scale("2a_branch2c", "res2a_branch2c")
    + 'layer { name: "res2a" type: "Eltwise" bottom: "res2a_branch1" bottom: "res2a_branch2c" top: "res2a" }\n'
    + _relu("res2a_relu", "res2a"))
RESNET_WEIGHTS = {"conv1": [(8, 3, 7, 7)], "bn_conv1": "bn8", "scale_conv1": [(8,), (8,)],
                  "res2a_branch1": [(16, 8, 1, 1)], "bn2a_branch1": "bn16", "scale2a_branch1": [(16,), (16,)],
                  "res2a_branch2a": [(4, 8, 1, 1)], "bn2a_branch2a": "bn4", "scale2a_branch2a": [(4,), (4,)],
                  "res2a_branch2b": [(4, 4, 3, 3)], "bn2a_branch2b": "bn4", "scale2a_branch2b": [(4,), (4,)],
                  "res2a_branch2c": [(16, 4, 1, 1)], "bn2a_branch2c": "bn16", "scale2a_branch2c": [(16,), (16,)]}

SQUEEZENET = 'name: "SqueezeNet fire"\nlayer { name: "data" type: "Input" top: "data" input_param { shape { ' \
    'dim: 1 dim: 3 dim: 25 dim: 25 } } }\n' + (
        _conv("conv1", "data", 8, 3, "stride: 2") + _relu("relu_conv1", "conv1")
        # 12 -> ceil(9 / 2) + 1 = 6 windows: Caffe's ceil rounding
        + 'layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" '
          'pooling_param { pool: MAX kernel_size: 3 stride: 2 } }\n'
        + _conv("fire2/squeeze1x1", "pool1", 4, 1) + _relu("fire2/relu_squeeze1x1", "fire2/squeeze1x1")
        + _conv("fire2/expand1x1", "fire2/squeeze1x1", 8, 1) + _relu("fire2/relu_expand1x1", "fire2/expand1x1")
        + _conv("fire2/expand3x3", "fire2/squeeze1x1", 8, 3, "pad: 1")
        + _relu("fire2/relu_expand3x3", "fire2/expand3x3")
        + 'layer { name: "fire2/concat" type: "Concat" bottom: "fire2/expand1x1" bottom: "fire2/expand3x3" '
          'top: "fire2/concat" }\n'
        + 'layer { name: "drop9" type: "Dropout" bottom: "fire2/concat" top: "fire2/concat" '
          'dropout_param { dropout_ratio: 0.5 } }\n'
        + _conv("conv10", "fire2/concat", 5, 1) + _relu("relu_conv10", "conv10")
        + 'layer { name: "pool10" type: "Pooling" bottom: "conv10" top: "pool10" '
          'pooling_param { pool: AVE global_pooling: true } }\n'
        + 'layer { name: "prob" type: "Softmax" bottom: "pool10" top: "prob" }\n')
SQUEEZENET_WEIGHTS = {"conv1": [(8, 3, 3, 3), (8,)], "fire2/squeeze1x1": [(4, 8, 1, 1), (4,)],
                      "fire2/expand1x1": [(8, 4, 1, 1), (8,)], "fire2/expand3x3": [(8, 4, 3, 3), (8,)],
                      "conv10": [(5, 16, 1, 1), (5,)]}


def _v1_conv(name, bottom, n, k, extra=""):
    return (f'layers {{ name: "{name}" type: CONVOLUTION bottom: "{bottom}" top: "{name}" blobs_lr: 1 blobs_lr: 2 '
            f'weight_decay: 1 convolution_param {{ num_output: {n} kernel_size: {k} {extra} }} }}\n'
            f'layers {{ name: "{name}_relu" type: RELU bottom: "{name}" top: "{name}" }}\n')


GOOGLENET_V1 = 'name: "GoogLeNet inception (V1 layers)"\ninput: "data"\n' + "".join(
    f"input_dim: {d}\n" for d in (1, 3, 20, 20)) + (
    _v1_conv("conv1/7x7_s2", "data", 8, 7, "pad: 3 stride: 2")
    + 'layers { name: "pool1/3x3_s2" type: POOLING bottom: "conv1/7x7_s2" top: "pool1/3x3_s2" '
      'pooling_param { pool: MAX kernel_size: 3 stride: 2 } }\n'
    + 'layers { name: "pool1/norm1" type: LRN bottom: "pool1/3x3_s2" top: "pool1/norm1" '
      'lrn_param { local_size: 5 alpha: 0.1 beta: 0.75 } }\n'
    + _v1_conv("inception_3a/1x1", "pool1/norm1", 4, 1)
    + _v1_conv("inception_3a/3x3_reduce", "pool1/norm1", 4, 1)
    + _v1_conv("inception_3a/3x3", "inception_3a/3x3_reduce", 6, 3, "pad: 1")
    + _v1_conv("inception_3a/5x5_reduce", "pool1/norm1", 2, 1)
    + _v1_conv("inception_3a/5x5", "inception_3a/5x5_reduce", 3, 5, "pad: 2")
    + 'layers { name: "inception_3a/pool" type: POOLING bottom: "pool1/norm1" top: "inception_3a/pool" '
      'pooling_param { pool: MAX kernel_size: 3 stride: 1 pad: 1 } }\n'
    + _v1_conv("inception_3a/pool_proj", "inception_3a/pool", 3, 1)
    + 'layers { name: "inception_3a/output" type: CONCAT bottom: "inception_3a/1x1" bottom: "inception_3a/3x3" '
      'bottom: "inception_3a/5x5" bottom: "inception_3a/pool_proj" top: "inception_3a/output" }\n')
GOOGLENET_WEIGHTS = {"conv1/7x7_s2": [(8, 3, 7, 7), (8,)], "inception_3a/1x1": [(4, 8, 1, 1), (4,)],
                     "inception_3a/3x3_reduce": [(4, 8, 1, 1), (4,)], "inception_3a/3x3": [(6, 4, 3, 3), (6,)],
                     "inception_3a/5x5_reduce": [(2, 8, 1, 1), (2,)], "inception_3a/5x5": [(3, 2, 5, 5), (3,)],
                     "inception_3a/pool_proj": [(3, 8, 1, 1), (3,)]}


def _mbox(src, n_loc, n_conf):
    out = ""
    for kind, n in (("loc", n_loc), ("conf", n_conf)):
        base = f"{src}_mbox_{kind}"
        out += (_conv(base, src, n, 3, "pad: 1")
                + f'layer {{ name: "{base}_perm" type: "Permute" bottom: "{base}" top: "{base}_perm" '
                  'permute_param { order: 0 order: 2 order: 3 order: 1 } }\n'
                + f'layer {{ name: "{base}_flat" type: "Flatten" bottom: "{base}_perm" top: "{base}_flat" '
                  'flatten_param { axis: 1 } }\n')
    return out


SSD_HEAD = 'name: "SSD head"\nlayer { name: "data" type: "Input" top: "data" input_param { shape { ' \
    'dim: 1 dim: 3 dim: 16 dim: 16 } } }\n' + (
        _conv("conv4_3", "data", 8, 3, "pad: 1") + _relu("relu4_3", "conv4_3")
        + 'layer { name: "conv4_3_norm" type: "Normalize" bottom: "conv4_3" top: "conv4_3_norm" '
          'norm_param { across_spatial: false scale_filler { type: "constant" value: 20 } channel_shared: false } }\n'
        + _mbox("conv4_3_norm", 8, 6)
        + 'layer { name: "pool5" type: "Pooling" bottom: "conv4_3" top: "pool5" '
          'pooling_param { pool: MAX kernel_size: 2 stride: 2 } }\n'
        + _conv("fc7", "pool5", 8, 3, "pad: 1") + _relu("relu7", "fc7") + _mbox("fc7", 12, 9)
        + 'layer { name: "mbox_loc" type: "Concat" bottom: "conv4_3_norm_mbox_loc_flat" bottom: "fc7_mbox_loc_flat" '
          'top: "mbox_loc" concat_param { axis: 1 } }\n'
        + 'layer { name: "mbox_conf" type: "Concat" bottom: "conv4_3_norm_mbox_conf_flat" '
          'bottom: "fc7_mbox_conf_flat" top: "mbox_conf" concat_param { axis: 1 } }\n'
        + 'layer { name: "mbox_conf_reshape" type: "Reshape" bottom: "mbox_conf" top: "mbox_conf_reshape" '
          'reshape_param { shape { dim: 0 dim: -1 dim: 3 } } }\n'
        + 'layer { name: "mbox_conf_softmax" type: "Softmax" bottom: "mbox_conf_reshape" top: "mbox_conf_softmax" '
          'softmax_param { axis: 2 } }\n'
        + 'layer { name: "mbox_conf_flatten" type: "Flatten" bottom: "mbox_conf_softmax" top: "mbox_conf_flatten" '
          'flatten_param { axis: 1 } }\n')
SSD_WEIGHTS = {"conv4_3": [(8, 3, 3, 3), (8,)], "conv4_3_norm": [(8,)],
               "conv4_3_norm_mbox_loc": [(8, 8, 3, 3), (8,)], "conv4_3_norm_mbox_conf": [(6, 8, 3, 3), (6,)],
               "fc7": [(8, 8, 3, 3), (8,)], "fc7_mbox_loc": [(12, 8, 3, 3), (12,)],
               "fc7_mbox_conf": [(9, 8, 3, 3), (9,)]}

# (id, prototxt, weights, input shape, outputs in Caffe's order ("layer" or "layer=its top blob"), V1 caffemodel)
TOPOLOGIES = [
    ("lenet", LENET, LENET_WEIGHTS, (2, 1, 16, 16), ["prob"], False),
    ("vgg", VGG, VGG_WEIGHTS, (1, 3, 16, 16), ["prob"], False),
    ("resnet_block", RESNET, RESNET_WEIGHTS, (1, 3, 32, 32), ["res2a_relu=res2a"], False),
    ("squeezenet_fire", SQUEEZENET, SQUEEZENET_WEIGHTS, (1, 3, 25, 25), ["prob"], False),
    ("googlenet_inception_v1", GOOGLENET_V1, GOOGLENET_WEIGHTS, (1, 3, 20, 20), ["inception_3a/output"], True),
    ("ssd_head", SSD_HEAD, SSD_WEIGHTS, (1, 3, 16, 16), ["mbox_conf_flatten", "mbox_loc"], False),
]


def _topology_weights(rng, spec):
    out = {}
    for name, shapes in spec.items():
        if isinstance(shapes, str):  # "bnC": BatchNorm's stored sums and their normalizer
            c, factor = int(shapes[2:]), np.float32(rng.uniform(0.5, 8.0))
            out[name] = [rand(rng, c, scale=0.3) * factor, rng.uniform(0.5, 2.0, c).astype(np.float32) * factor,
                         np.array([factor], np.float32)]
        else:
            out[name] = [rand(rng, *s, scale=0.4) for s in shapes]
    return out


@pytest.mark.parametrize("case", TOPOLOGIES, ids=[c[0] for c in TOPOLOGIES])
def test_topology_matches_opencv_and_its_ir_runs_in_openvino(case, tmp_path):
    name, prototxt, wspec, shape, outs, v1 = case
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    proto, model = write_net(tmp_path, prototxt, _topology_weights(rng, wspec), v1=v1)
    x = rand(rng, *shape)
    layers, blobs = zip(*[(o.split("=")[0], o.split("=")[-1]) for o in outs])
    want = opencv_run(proto, model, {"data": x}, list(layers))
    converted = ov.convert_model(str(model))
    assert [o.any_name for o in converted.outputs] == list(blobs)
    results = ov.compile_model(converted, "CPU", OV_F32)([x])
    _check([results[b] for b in blobs], want)
    _check(_openvino_run(converted, tmp_path, {"data": x}, list(blobs)), want)


# --- where OpenCV departs from Caffe: numpy from Caffe's formulas ------------------------------
def _convert_run(tmp_path, prototxt: str, weights: dict | None, inputs: dict, names: list[str], **kw):
    proto, model = write_net(tmp_path, _inputs_decl({n: x.shape for n, x in inputs.items()}) + prototxt, weights)
    converted = ov.convert_model(str(model or proto), **kw)
    results = ov.compile_model(converted, "CPU", OV_F32)(inputs)
    got = [results[n] for n in names]
    _check(_openvino_run(converted, tmp_path, inputs, names), got)
    return got


def test_inner_product_transpose_follows_caffe(tmp_path):
    # OpenCV ignores `transpose`; Caffe then stores W as [K, N] and computes x W
    rng = np.random.default_rng(1)
    x, w, b = rand(rng, 2, 3, 4), rand(rng, 12, 5), rand(rng, 5)
    (y,) = _convert_run(tmp_path, 'layer { name: "y" type: "InnerProduct" bottom: "x" top: "y" '
                        'inner_product_param { num_output: 5 transpose: true } }', {"y": [w, b]}, {"x": x}, ["y"])
    _check([y], [x.reshape(2, 12) @ w + b])


def _caffe_lrn_across(x, n, alpha, beta, k):
    pre = (n - 1) // 2
    sq = np.pad(x.astype(np.float64) ** 2, [(0, 0), (pre, n - 1 - pre), (0, 0), (0, 0)])
    return x / (k + alpha / n * sum(sq[:, i:i + x.shape[1]] for i in range(n))) ** beta


def _caffe_lrn_within(x, n, alpha, beta):
    # Caffe: x * (1 + alpha * AVE-pool(x^2, n x n, pad (n-1)/2))^-beta, each window counted n^2
    pre = (n - 1) // 2
    sq = np.pad(x.astype(np.float64) ** 2, [(0, 0), (0, 0), (pre, pre), (pre, pre)])
    h, w = x.shape[2:]
    pooled = sum(sq[:, :, i:i + h, j:j + w] for i in range(n) for j in range(n)) / n ** 2
    return x * (1 + alpha * pooled) ** -beta


def test_lrn_k_follows_caffe(tmp_path):
    # OpenCV drops k; WITHIN_CHANNEL never reads it in Caffe
    x = rand(np.random.default_rng(2), 1, 6, 5, 5)
    got = _convert_run(tmp_path, 'layer { name: "a" type: "LRN" bottom: "x" top: "a" lrn_param { local_size: 5 '
                       'alpha: 0.4 beta: 0.6 k: 2.5 } }\n'
                       'layer { name: "w" type: "LRN" bottom: "x" top: "w" lrn_param { local_size: 3 alpha: 0.4 '
                       'beta: 0.6 k: 2.5 norm_region: WITHIN_CHANNEL } }', None, {"x": x}, ["a", "w"])
    _check(got, [_caffe_lrn_across(x, 5, 0.4, 0.6, 2.5), _caffe_lrn_within(x, 3, 0.4, 0.6)])


def test_permute_appends_the_axes_order_leaves_out(tmp_path):
    # OpenCV needs every axis listed; SSD's Permute puts the missing ones after, in order
    x = rand(np.random.default_rng(3), 2, 3, 4, 5)
    (y,) = _convert_run(tmp_path, 'layer { name: "y" type: "Permute" bottom: "x" top: "y" '
                        'permute_param { order: 2 order: 0 } }', None, {"x": x}, ["y"])
    _check([y], [x.transpose(2, 0, 1, 3)])


def test_bias_layer(tmp_path):
    # OpenCV has no Bias layer
    rng = np.random.default_rng(4)
    x, b, learned, bias = rand(rng, 2, 3, 4, 5), rand(rng, 4, 5), rand(rng, 3, 4), rand(rng, 4, 5)
    got = _convert_run(tmp_path, 'layer { name: "b1" type: "Bias" bottom: "x" top: "b1" bias_param { num_axes: 2 } }\n'
                       'layer { name: "b2" type: "Bias" bottom: "x" bottom: "b" top: "b2" bias_param { axis: -2 } }\n'
                       # a Scale whose factor is a bottom keeps its bias as its first blob
                       'layer { name: "s" type: "Scale" bottom: "x" bottom: "b" top: "s" scale_param { axis: 2 '
                       'bias_term: true } }', {"b1": [learned], "s": [bias]}, {"x": x, "b": b}, ["b1", "b2", "s"])
    _check(got, [x + learned[None, :, :, None], x + b, x * b + bias])


def test_batch_norm_without_statistics_yet(tmp_path):
    # a factor of 0 (no moving average yet) zeroes mean and variance, as Caffe's 1 / factor does
    x = rand(np.random.default_rng(16), 2, 3, 2, 2)
    stats = [np.full(3, 5.0, np.float32), np.full(3, 7.0, np.float32), np.zeros(1, np.float32)]
    (y,) = _convert_run(tmp_path, 'layer { name: "y" type: "BatchNorm" bottom: "x" top: "y" }', {"y": stats},
                        {"x": x}, ["y"])
    _check([y], [x / np.sqrt(np.float32(1e-5))])


def test_scalar_blobs_as_caffe_stores_them(tmp_path):
    # a shared PReLU slope and Normalize scale are 0-d blobs in Caffe's files (OpenCV fails on them)
    rng = np.random.default_rng(5)
    x = rand(rng, 2, 3, 4, 4)
    slope, scale = np.array(0.3, np.float32), np.array(2.5, np.float32)
    got = _convert_run(tmp_path, 'layer { name: "p" type: "PReLU" bottom: "x" top: "p" prelu_param { '
                       'channel_shared: true } }\n'
                       'layer { name: "n" type: "Normalize" bottom: "x" top: "n" }', {"p": [slope], "n": [scale]},
                       {"x": x}, ["p", "n"])
    norm = np.sqrt((x.astype(np.float64) ** 2).sum(axis=(1, 2, 3), keepdims=True) + 1e-10)
    _check(got, [np.where(x > 0, x, 0.3 * x), x / norm * 2.5])


def _align_corners_resize(x, h, w):
    """Caffe's caffe_cpu_interp2: bilinear with the corner pixels of input and output aligned."""
    hi, wi = x.shape[2:]
    ry = (hi - 1) / (h - 1) if h > 1 else 0.0
    rx = (wi - 1) / (w - 1) if w > 1 else 0.0
    out = np.zeros(x.shape[:2] + (h, w), np.float64)
    for i in range(h):
        y0 = int(ry * i)
        ly, y1 = ry * i - y0, min(y0 + 1, hi - 1)
        for j in range(w):
            x0 = int(rx * j)
            lx, x1 = rx * j - x0, min(x0 + 1, wi - 1)
            out[:, :, i, j] = ((1 - ly) * ((1 - lx) * x[:, :, y0, x0] + lx * x[:, :, y0, x1])
                               + ly * ((1 - lx) * x[:, :, y1, x0] + lx * x[:, :, y1, x1]))
    return out


def test_interp_shrink_and_crop_follow_caffe(tmp_path):
    # OpenCV fails on shrink_factor and ignores pad_beg/pad_end; Caffe crops -pad_beg (on both axes)
    # and -pad_end, then sizes the output by shrink first and zoom second
    x = rand(np.random.default_rng(6), 1, 2, 9, 8)
    got = _convert_run(tmp_path, 'layer { name: "s" type: "Interp" bottom: "x" top: "s" interp_param { '
                       'shrink_factor: 2 } }\n'
                       'layer { name: "c" type: "Interp" bottom: "x" top: "c" interp_param { shrink_factor: 2 '
                       'zoom_factor: 3 pad_beg: -1 pad_end: -2 } }', None, {"x": x}, ["s", "c"])
    crop = x[:, :, 1:7, 1:6]  # 6 x 5 -> shrink (6-1)//2+1 = 3, (5-1)//2+1 = 3 -> zoom 3 + 2*2 = 7
    _check(got, [_align_corners_resize(x, 5, 4), _align_corners_resize(crop, 7, 7)])


def test_batch_norm_without_global_stats_uses_the_batch(tmp_path):
    # OpenCV crashes on a BatchNorm with use_global_stats false (and no blobs)
    x = rand(np.random.default_rng(7), 3, 4, 2, 3)
    (y,) = _convert_run(tmp_path, 'layer { name: "y" type: "BatchNorm" bottom: "x" top: "y" batch_norm_param { '
                        'use_global_stats: false eps: 0.01 } }', None, {"x": x}, ["y"])
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    _check([y], [(x - mean) / np.sqrt(((x - mean) ** 2).mean(axis=(0, 2, 3), keepdims=True) + 0.01)])


def test_deprecated_slice_dim_and_concat_dim(tmp_path):
    # OpenCV ignores these aliases of `axis` (Caffe reads them first)
    x = rand(np.random.default_rng(8), 2, 6, 3)
    got = _convert_run(tmp_path, 'layer { name: "s" type: "Slice" bottom: "x" top: "a" top: "b" slice_param { '
                       'slice_dim: 2 slice_point: 1 } }\n'
                       'layer { name: "c" type: "Concat" bottom: "b" bottom: "a" top: "c" concat_param { '
                       'concat_dim: 2 } }', None, {"x": x}, ["c"])
    _check(got, [np.concatenate([x[:, :, 1:], x[:, :, :1]], axis=2)])


def test_reshape_after_the_last_axis(tmp_path):
    # axis -1 with num_axes 0 inserts the shape after the last axis (OpenCV fails on it)
    x = rand(np.random.default_rng(9), 2, 3)
    (y,) = _convert_run(tmp_path, 'layer { name: "y" type: "Reshape" bottom: "x" top: "y" reshape_param { '
                        'shape { dim: 1 dim: 1 } axis: -1 num_axes: 0 } }', None, {"x": x}, ["y"])
    assert y.shape == (2, 3, 1, 1)
    _check([y], [x.reshape(2, 3, 1, 1)])


# --- the net as Caffe builds it for inference ----------------------------------------------------
def test_layers_outside_the_test_phase_are_skipped(tmp_path):
    """Caffe's FilterNet for the TEST phase (OpenCV keeps every layer, so it runs the filtered net)."""
    rng = np.random.default_rng(10)
    kept = ('layer { name: "ip" type: "InnerProduct" bottom: "x" top: "ip" inner_product_param { num_output: 3 } }\n'
            'layer { name: "prob" type: "Softmax" bottom: "ip" top: "prob" include { phase: TEST } }\n')
    skipped = ('layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" '
               'include { phase: TRAIN } }\n'
               'layer { name: "acc" type: "Accuracy" bottom: "ip" bottom: "label" top: "acc" '
               'exclude { phase: TEST } }\n'
               'layer { name: "dbg" type: "Python" bottom: "ip" top: "dbg" include { stage: "debug" } }\n'
               'layer { name: "deep" type: "Power" bottom: "ip" top: "deep" include { min_level: 1 } }\n')
    weights = {"ip": [rand(rng, 3, 4), rand(rng, 3)]}
    x = rand(rng, 2, 4)
    decl = _inputs_decl({"x": (2, 4)})
    proto, model = write_net(tmp_path / "all", decl + kept + skipped, weights)
    cv_proto, cv_model = write_net(tmp_path / "test", decl + kept, weights)
    converted = ov.convert_model(str(model))
    assert [o.any_name for o in converted.outputs] == ["prob"]
    _check([ov.compile_model(converted, "CPU", OV_F32)([x])[0]], opencv_run(cv_proto, cv_model, {"x": x}, ["prob"]))
    # a net state with that stage and level keeps those layers (and they are refused or run)
    with pytest.raises(ov.UnsupportedOpsError, match=r"Python \(dbg\)"):
        write_net(tmp_path / "staged", 'state { stage: "debug" level: 1 }\n' + decl + kept + skipped, weights)
        ov.convert_model(str(tmp_path / "staged" / "net.caffemodel"))


def test_outputs_are_the_unconsumed_blobs_in_caffes_order_and_can_be_chosen(tmp_path):
    rng = np.random.default_rng(11)
    prototxt = ('layer { name: "z_branch" type: "TanH" bottom: "x" top: "zz" }\n'
                'layer { name: "a_branch" type: "Sigmoid" bottom: "x" top: "aa" }\n'
                'layer { name: "relu" type: "ReLU" bottom: "aa" top: "aa" }\n'
                'layer { name: "mid" type: "AbsVal" bottom: "x" top: "mid" }\n'
                'layer { name: "silence" type: "Silence" bottom: "mid" }\n')
    proto, _ = write_net(tmp_path, _inputs_decl({"x": (2, 3)}) + prototxt)
    x = rand(rng, 2, 3)
    model = ov.convert_model(str(proto))
    assert [o.any_name for o in model.outputs] == ["aa", "zz"]  # by name, as Caffe's std::set keeps them
    compiled = ov.compile_model(model, "CPU", OV_F32)
    _check([compiled([x])["aa"], compiled([x])["zz"]], [np.maximum(1 / (1 + np.exp(-x)), 0), np.tanh(x)])
    picked = ov.convert_model(str(proto), output="mid")
    assert [o.any_name for o in picked.outputs] == ["mid"]
    _check([ov.compile_model(picked, "CPU", OV_F32)([x])[0]], [np.abs(x)])


def test_input_declarations_and_shape_overrides(tmp_path):
    """`input` + `input_dim`, `input` + `input_shape` and Input layers declare inputs; convert_model's
    `input=` gives them other shapes (a dynamic batch included)."""
    rng = np.random.default_rng(12)
    body = ('layer { name: "more" type: "Input" top: "y" top: "z" input_param { shape { dim: 2 dim: 5 } } }\n'
            'layer { name: "sum" type: "Eltwise" bottom: "y" bottom: "z" top: "sum" }\n'
            'layer { name: "fc" type: "InnerProduct" bottom: "x" top: "fc" inner_product_param { num_output: 5 } }\n'
            'layer { name: "out" type: "Eltwise" bottom: "fc" bottom: "sum" top: "out" }\n')
    w, b = rand(rng, 5, 12), rand(rng, 5)
    proto, model = write_net(tmp_path, 'input: "x"\ninput_dim: 2\ninput_dim: 3\ninput_dim: 2\ninput_dim: 2\n' + body,
                             {"fc": [w, b]})
    m = ov.convert_model(str(model))
    assert [(i.any_name, list(i.partial_shape)) for i in m.inputs] == [("x", [2, 3, 2, 2]), ("y", [2, 5]),
                                                                       ("z", [2, 5])]
    dyn = ov.convert_model(str(model), input={"x": [-1, 3, 2, 2], "y": [-1, 5], "z": [-1, 5]})
    assert list(dyn.inputs[0].partial_shape) == [None, 3, 2, 2]
    x, y, z = rand(rng, 4, 3, 2, 2), rand(rng, 4, 5), rand(rng, 4, 5)
    got = ov.compile_model(dyn, "CPU", OV_F32)({"x": x, "y": y, "z": z})[0]
    _check([got], [x.reshape(4, 12) @ w.T + b + y + z])
    with pytest.raises(ov.InputError, match="'nope' is not an input"):
        ov.convert_model(str(model), input={"nope": [1, 2]})


def test_legacy_4d_blobs_and_v1_caffemodel_with_a_current_prototxt(tmp_path):
    # old Caffe stored every blob as num/channels/height/width (a bias as 1x1x1xN)
    rng = np.random.default_rng(13)
    w, b = rand(rng, 4, 2, 3, 3), rand(rng, 4)
    x = rand(rng, 1, 2, 5, 5)
    prototxt = _inputs_decl({"x": (1, 2, 5, 5)}) + _conv("c", "x", 4, 3) + \
        'layer { name: "ip" type: "InnerProduct" bottom: "c" top: "ip" inner_product_param { num_output: 2 } }\n'
    wi, bi = rand(rng, 2, 36), rand(rng, 2)
    proto, model = write_net(tmp_path, prototxt, {"c": [w, b], "ip": [wi, bi]}, v1=True, legacy_4d=True)
    want = opencv_run(proto, model, {"x": x}, ["ip"])
    _check(_ovcc_run(model, {"x": x}, ["ip"]), want)


# --- files and the API ---------------------------------------------------------------------------
TINY = _inputs_decl({"data": (1, 2, 4, 4)}) + _conv("conv", "data", 3, 3, "pad: 1") + _relu("relu", "conv")


def _tiny_weights():
    rng = np.random.default_rng(14)
    return {"conv": [rand(rng, 3, 2, 3, 3), rand(rng, 3)]}


@pytest.mark.parametrize("proto_name,model_name", [
    ("net.prototxt", "net.caffemodel"), ("deploy.prototxt", "bvlc_net.caffemodel"),
    ("ResNet-50-deploy.prototxt", "ResNet-50-model.caffemodel"),
    ("res10_deploy.prototxt", "res10_iter_140000.caffemodel"),
])
def test_the_prototxt_is_found_beside_the_caffemodel(tmp_path, proto_name, model_name):
    (tmp_path / proto_name).write_text(TINY)
    from tests.compiler.caffe_nets import caffemodel_bytes

    (tmp_path / model_name).write_bytes(caffemodel_bytes(_tiny_weights()))
    (tmp_path / "train_val.prototxt").write_text("garbage that must not be read")
    assert ov.convert_model(str(tmp_path / model_name)).outputs[0].any_name == "conv"


def test_input_proto_names_the_description_in_the_api_and_the_driver(tmp_path):
    from compiler.cli import main

    proto, model = write_net(tmp_path / "a", TINY, _tiny_weights())
    elsewhere = tmp_path / "b" / "weights.caffemodel"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(model.read_bytes())
    with pytest.raises(ov.ModelFileError, match="no network description found beside it"):
        ov.convert_model(str(elsewhere))
    x = rand(np.random.default_rng(15), 1, 2, 4, 4)
    want = opencv_run(proto, model, {"data": x}, ["relu"])
    _check(_ovcc_run(elsewhere, {"data": x}, ["conv"], input_proto=str(proto)), want)
    xml = tmp_path / "out.xml"
    assert main([str(elsewhere), "--input_proto", str(proto), "--output_model", str(xml),
                 "--compress_to_fp16=False"]) == 0
    _check(_openvino_run(ov.read_model(xml), tmp_path, {"data": x}, ["conv"]), want)


def test_unsupported_layers_are_listed_in_one_error(tmp_path):
    prototxt = _inputs_decl({"data": (1, 3, 8, 8)}) + (
        'layer { name: "pb1" type: "PriorBox" bottom: "data" bottom: "data" top: "pb1" }\n'
        'layer { name: "pb2" type: "PriorBox" bottom: "data" bottom: "data" top: "pb2" }\n'
        'layer { name: "py" type: "Python" bottom: "data" top: "py" }\n'
        'layer { name: "det" type: "DetectionOutput" bottom: "pb1" bottom: "pb2" bottom: "py" top: "det" }\n'
        'layer { name: "ok" type: "ReLU" bottom: "data" top: "ok" }\n')
    proto, _ = write_net(tmp_path, prototxt)
    with pytest.raises(ov.UnsupportedOpsError) as e:
        ov.convert_model(str(proto))
    assert e.value.ops == {"PriorBox": ["pb1", "pb2"], "Python": ["py"], "DetectionOutput": ["det"]}
    assert "\n" not in str(e.value)


def test_a_prototxt_alone_converts_only_without_weighted_layers(tmp_path):
    proto, _ = write_net(tmp_path, TINY + 'layer { name: "bn" type: "BatchNorm" bottom: "conv" top: "bn" }\n')
    with pytest.raises(ov.ModelFileError, match=r"layers conv \(Convolution\), bn \(BatchNorm\) need trained weights"):
        ov.convert_model(str(proto))


def _one_line_error(path, match: str, **kw):
    with pytest.raises(ov.ModelFileError) as e:
        ov.convert_model(str(path), **kw)
    msg = str(e.value)
    assert "\n" not in msg and match in msg, msg
    return msg


def test_bad_files_fail_with_one_line_naming_the_file(tmp_path):
    proto, model = write_net(tmp_path, TINY, _tiny_weights())
    data = model.read_bytes()
    model.write_bytes(data[:len(data) // 2])
    assert str(model) in _one_line_error(model, "truncated or malformed caffemodel")
    model.write_bytes(b"")
    _one_line_error(model, "is empty")
    model.write_bytes(np.random.default_rng(0).bytes(300))
    _one_line_error(model, "caffemodel")

    w = _tiny_weights()
    w["conv"][0] = w["conv"][0][:, :1]  # a filter for 1 input channel, the layer gets 2
    write_net(tmp_path, TINY, w)
    _one_line_error(model, "layer 'conv' (Convolution) blob 0 has shape [3,1,3,3], the layer needs [3,2,3,3]")
    write_net(tmp_path, TINY, {"conv": _tiny_weights()["conv"][:1]})
    _one_line_error(model, "layer 'conv' (Convolution) has 1 blobs, it needs at least 2")
    write_net(tmp_path, TINY, {"other": _tiny_weights()["conv"]})
    _one_line_error(model, "holds no weights for layers conv (Convolution)")

    write_net(tmp_path, TINY, _tiny_weights())
    proto.write_text('layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { '
                     'num_output: 3 kernel_size: 3 ')  # cut short
    assert str(proto) in _one_line_error(model, "not a valid Caffe prototxt")
    proto.write_bytes(b"\x08\x96\x01\xff\xfe binary")
    _one_line_error(model, "not a Caffe prototxt")
    proto.write_text("this is { not: a network")
    _one_line_error(model, "not a valid Caffe prototxt")
    proto.write_text("name: \"empty\"\n")
    _one_line_error(model, "no layers")
    proto.unlink()
    _one_line_error(model, "no network description found")
    _one_line_error(model, "no such Caffe prototxt", input_proto=str(tmp_path / "missing.prototxt"))
    _one_line_error(tmp_path / "missing.caffemodel", "no such file")


def test_an_input_named_after_an_inner_blob_cuts_the_net_there(tmp_path):
    rng = np.random.default_rng(17)
    proto, model = write_net(tmp_path, LENET, _topology_weights(rng, LENET_WEIGHTS))
    x = rand(rng, 2, 1, 16, 16)
    pool1, prob = opencv_run(proto, model, {"data": x}, ["pool1", "prob"])
    cut = ov.convert_model(str(model), input={"pool1": [2, 4, 6, 6]})
    assert [i.any_name for i in cut.inputs] == ["pool1"]  # "data" feeds nothing the outputs need
    _check([ov.compile_model(cut, "CPU", OV_F32)([pool1])["prob"]], [prob])
    # with an in-place layer, the name belongs to the blob's last version: ip1 after its ReLU
    (ip1,) = opencv_run(proto, model, {"data": x}, ["relu1"])
    cut = ov.convert_model(str(model), input="ip1[2,10]", output="prob")
    _check([ov.compile_model(cut, "CPU", OV_F32)([ip1])[0]], [prob])
