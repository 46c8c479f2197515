"""The part of Caffe's `caffe.proto` (BVLC/caffe, src/caffe/proto/caffe.proto) that the Caffe
frontend reads, as a schema for `proto_schema.build_messages`, and the two readers: the network
description (`.prototxt`, protobuf text format) and the trained weights (`.caffemodel`, binary).

Layer parameters are read from the prototxt only, where field names count; their numbers follow
caffe.proto and its best-known forks (SSD's Permute and Normalize, PSPNet/Deeplab's Interp).
From the caffemodel only layer names and blobs are read (as Caffe's CopyTrainedLayersFrom does),
through a schema that declares nothing else, so that a fork's other fields never get in the way.
Legacy V1 `layers` are turned into `layer`s of the current format on reading."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from dialects.errors import ModelFileError

_BLOBS = {
    "BlobShape": [("dim", 1, "int64", "packed")],
    "BlobProto": [("shape", 7, "BlobShape"), ("data", 5, "float", "packed"), ("double_data", 8, "double", "packed"),
                  ("raw_data_type", 10, "BlobProto.RawType"), ("raw_data", 12, "bytes"),  # NVIDIA Caffe's f16 blobs
                  ("num", 1, "int32"), ("channels", 2, "int32"), ("height", 3, "int32"), ("width", 4, "int32")],
}
_BLOB_ENUMS = {"BlobProto.RawType": {"DOUBLE": 0, "FLOAT": 1, "FLOAT16": 2, "INT": 3, "UINT": 4}}

_U = "uint32"
PARAMS = {  # LayerParameter field -> (number, message name, fields)
    "batch_norm_param": (139, "BatchNormParameter", [
        ("use_global_stats", 1, "bool"), ("eps", 3, "float", "optional", 1e-5)]),
    "bias_param": (141, "BiasParameter", [
        ("axis", 1, "int32", "optional", 1), ("num_axes", 2, "int32", "optional", 1)]),
    "concat_param": (104, "ConcatParameter", [
        ("concat_dim", 1, _U, "optional", 1), ("axis", 2, "int32", "optional", 1)]),
    "convolution_param": (106, "ConvolutionParameter", [
        ("num_output", 1, _U), ("bias_term", 2, "bool", "optional", True), ("pad", 3, _U, "repeated"),
        ("kernel_size", 4, _U, "repeated"), ("group", 5, _U, "optional", 1), ("stride", 6, _U, "repeated"),
        ("pad_h", 9, _U), ("pad_w", 10, _U), ("kernel_h", 11, _U), ("kernel_w", 12, _U), ("stride_h", 13, _U),
        ("stride_w", 14, _U), ("axis", 16, "int32", "optional", 1), ("dilation", 18, _U, "repeated")]),
    "crop_param": (144, "CropParameter", [
        ("axis", 1, "int32", "optional", 2), ("offset", 2, _U, "repeated")]),
    "dropout_param": (108, "DropoutParameter", [
        ("dropout_ratio", 1, "float", "optional", 0.5),
        ("scale_train", 2, "bool", "optional", True)]),  # Faster R-CNN's fork: scale at test time instead
    "eltwise_param": (110, "EltwiseParameter", [
        ("operation", 1, "EltwiseParameter.EltwiseOp", "optional", "SUM"), ("coeff", 2, "float", "repeated")]),
    "elu_param": (140, "ELUParameter", [("alpha", 1, "float", "optional", 1.0)]),
    "flatten_param": (135, "FlattenParameter", [
        ("axis", 1, "int32", "optional", 1), ("end_axis", 2, "int32", "optional", -1)]),
    "inner_product_param": (117, "InnerProductParameter", [
        ("num_output", 1, _U), ("bias_term", 2, "bool", "optional", True), ("axis", 5, "int32", "optional", 1),
        ("transpose", 6, "bool", "optional", False)]),
    "input_param": (143, "InputParameter", [("shape", 1, "BlobShape", "repeated")]),
    "interp_param": (2143, "InterpParameter", [  # PSPNet/Deeplab's fork (which numbers it 143)
        ("height", 1, "int32"), ("width", 2, "int32"), ("zoom_factor", 3, "int32", "optional", 1),
        ("shrink_factor", 4, "int32", "optional", 1), ("pad_beg", 5, "int32"), ("pad_end", 6, "int32")]),
    "lrn_param": (118, "LRNParameter", [
        ("local_size", 1, _U, "optional", 5), ("alpha", 2, "float", "optional", 1.0),
        ("beta", 3, "float", "optional", 0.75),
        ("norm_region", 4, "LRNParameter.NormRegion", "optional", "ACROSS_CHANNELS"),
        ("k", 5, "float", "optional", 1.0)]),
    "norm_param": (206, "NormalizeParameter", [  # SSD's fork
        ("across_spatial", 1, "bool", "optional", True), ("channel_shared", 3, "bool", "optional", True),
        ("eps", 4, "float", "optional", 1e-10)]),
    "permute_param": (202, "PermuteParameter", [("order", 1, _U, "repeated")]),  # SSD's fork
    "pooling_param": (121, "PoolingParameter", [
        ("pool", 1, "PoolingParameter.PoolMethod", "optional", "MAX"), ("kernel_size", 2, _U),
        ("stride", 3, _U, "optional", 1), ("pad", 4, _U, "optional", 0), ("kernel_h", 5, _U), ("kernel_w", 6, _U),
        ("stride_h", 7, _U), ("stride_w", 8, _U), ("pad_h", 9, _U), ("pad_w", 10, _U),
        ("global_pooling", 12, "bool", "optional", False),
        ("ceil_mode", 13, "bool", "optional", True)]),  # BVLC/caffe#3057, read by OpenCV
    "power_param": (122, "PowerParameter", [
        ("power", 1, "float", "optional", 1.0), ("scale", 2, "float", "optional", 1.0),
        ("shift", 3, "float", "optional", 0.0)]),
    "prelu_param": (131, "PReLUParameter", [("channel_shared", 2, "bool", "optional", False)]),
    "relu_param": (123, "ReLUParameter", [("negative_slope", 1, "float", "optional", 0.0)]),
    "reshape_param": (133, "ReshapeParameter", [
        ("shape", 1, "BlobShape"), ("axis", 2, "int32", "optional", 0), ("num_axes", 3, "int32", "optional", -1)]),
    "scale_param": (142, "ScaleParameter", [
        ("axis", 1, "int32", "optional", 1), ("num_axes", 2, "int32", "optional", 1),
        ("bias_term", 4, "bool", "optional", False)]),
    "slice_param": (126, "SliceParameter", [
        ("slice_dim", 1, _U, "optional", 1), ("slice_point", 2, _U, "repeated"),
        ("axis", 3, "int32", "optional", 1)]),
    "softmax_param": (125, "SoftmaxParameter", [("axis", 2, "int32", "optional", 1)]),
}
_PARAM_ENUMS = {
    "EltwiseParameter.EltwiseOp": {"PROD": 0, "SUM": 1, "MAX": 2},
    "LRNParameter.NormRegion": {"ACROSS_CHANNELS": 0, "WITHIN_CHANNEL": 1},
    "PoolingParameter.PoolMethod": {"MAX": 0, "AVE": 1, "STOCHASTIC": 2},
}

# V1LayerParameter's type enum and where it kept the parameters it shares with LayerParameter
V1_TYPES = {
    "NONE": 0, "ABSVAL": 35, "ACCURACY": 1, "ARGMAX": 30, "BNLL": 2, "CONCAT": 3, "CONTRASTIVE_LOSS": 37,
    "CONVOLUTION": 4, "DATA": 5, "DECONVOLUTION": 39, "DROPOUT": 6, "DUMMY_DATA": 32, "EUCLIDEAN_LOSS": 7,
    "ELTWISE": 25, "EXP": 38, "FLATTEN": 8, "HDF5_DATA": 9, "HDF5_OUTPUT": 10, "HINGE_LOSS": 28, "IM2COL": 11,
    "IMAGE_DATA": 12, "INFOGAIN_LOSS": 13, "INNER_PRODUCT": 14, "LRN": 15, "MEMORY_DATA": 29,
    "MULTINOMIAL_LOGISTIC_LOSS": 16, "MVN": 34, "POOLING": 17, "POWER": 26, "RELU": 18, "SIGMOID": 19,
    "SIGMOID_CROSS_ENTROPY_LOSS": 27, "SILENCE": 36, "SOFTMAX": 20, "SOFTMAX_LOSS": 21, "SPLIT": 22, "SLICE": 33,
    "TANH": 23, "WINDOW_DATA": 24, "THRESHOLD": 31,
}
V1_TYPE_NAMES = {  # the layer type names Caffe's UpgradeV1LayerType gives them
    "ABSVAL": "AbsVal", "ACCURACY": "Accuracy", "ARGMAX": "ArgMax", "BNLL": "BNLL", "CONCAT": "Concat",
    "CONTRASTIVE_LOSS": "ContrastiveLoss", "CONVOLUTION": "Convolution", "DATA": "Data",
    "DECONVOLUTION": "Deconvolution", "DROPOUT": "Dropout", "DUMMY_DATA": "DummyData",
    "EUCLIDEAN_LOSS": "EuclideanLoss", "ELTWISE": "Eltwise", "EXP": "Exp", "FLATTEN": "Flatten",
    "HDF5_DATA": "HDF5Data", "HDF5_OUTPUT": "HDF5Output", "HINGE_LOSS": "HingeLoss", "IM2COL": "Im2col",
    "IMAGE_DATA": "ImageData", "INFOGAIN_LOSS": "InfogainLoss", "INNER_PRODUCT": "InnerProduct", "LRN": "LRN",
    "MEMORY_DATA": "MemoryData", "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss", "MVN": "MVN",
    "POOLING": "Pooling", "POWER": "Power", "RELU": "ReLU", "SIGMOID": "Sigmoid",
    "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss", "SILENCE": "Silence", "SOFTMAX": "Softmax",
    "SOFTMAX_LOSS": "SoftmaxWithLoss", "SPLIT": "Split", "SLICE": "Slice", "TANH": "TanH",
    "WINDOW_DATA": "WindowData", "THRESHOLD": "Threshold",
}
V1_PARAMS = {"concat_param": 9, "convolution_param": 10, "dropout_param": 12, "eltwise_param": 24,
             "inner_product_param": 17, "lrn_param": 18, "pooling_param": 19, "power_param": 21,
             "relu_param": 30, "softmax_param": 39, "slice_param": 31}

_STATE = {
    "NetState": [("phase", 1, "Phase", "optional", "TEST"), ("level", 2, "int32"), ("stage", 3, "string", "repeated")],
    "NetStateRule": [("phase", 1, "Phase"), ("min_level", 2, "int32"), ("max_level", 3, "int32"),
                     ("stage", 4, "string", "repeated"), ("not_stage", 5, "string", "repeated")],
}


def _net_schema() -> tuple[dict, dict]:
    layer = [("name", 1, "string"), ("type", 2, "string"), ("bottom", 3, "string", "repeated"),
             ("top", 4, "string", "repeated"), ("blobs", 7, "BlobProto", "repeated"),
             ("include", 8, "NetStateRule", "repeated"), ("exclude", 9, "NetStateRule", "repeated")]
    layer += [(field, num, msg) for field, (num, msg, _) in PARAMS.items()]
    v1 = [("bottom", 2, "string", "repeated"), ("top", 3, "string", "repeated"), ("name", 4, "string"),
          ("type", 5, "V1LayerParameter.LayerType"), ("blobs", 6, "BlobProto", "repeated"),
          ("include", 32, "NetStateRule", "repeated"), ("exclude", 33, "NetStateRule", "repeated"),
          ("layer", 1, "V0LayerParameter")]
    v1 += [(field, num, PARAMS[field][1]) for field, num in V1_PARAMS.items()]
    messages = {
        **_BLOBS, **_STATE, **{msg: fields for _, msg, fields in PARAMS.values()},
        "V0LayerParameter": [("name", 1, "string")],
        "LayerParameter": layer, "V1LayerParameter": v1,
        "NetParameter": [("name", 1, "string"), ("layers", 2, "V1LayerParameter", "repeated"),
                         ("input", 3, "string", "repeated"), ("input_dim", 4, "int32", "repeated"),
                         ("state", 6, "NetState"), ("input_shape", 8, "BlobShape", "repeated"),
                         ("layer", 100, "LayerParameter", "repeated")],
    }
    enums = {"Phase": {"TRAIN": 0, "TEST": 1}, "V1LayerParameter.LayerType": V1_TYPES,
             **_BLOB_ENUMS, **_PARAM_ENUMS}
    return messages, enums


@cache
def net_message() -> type:
    """NetParameter as far as a network description goes."""
    from compiler.frontends.proto_schema import build_messages

    messages, enums = _net_schema()
    return build_messages("ovcc.caffe", messages, enums)["NetParameter"]


@cache
def weights_message() -> type:
    """NetParameter as far as the weights go: layer names, types and blobs."""
    from compiler.frontends.proto_schema import build_messages

    messages = {**_BLOBS,
                "LayerParameter": [("name", 1, "string"), ("type", 2, "string"),
                                   ("blobs", 7, "BlobProto", "repeated")],
                "V1LayerParameter": [("name", 4, "string"), ("blobs", 6, "BlobProto", "repeated")],
                "NetParameter": [("name", 1, "string"), ("layers", 2, "V1LayerParameter", "repeated"),
                                 ("layer", 100, "LayerParameter", "repeated")]}
    return build_messages("ovcc.caffe_weights", messages, _BLOB_ENUMS)["NetParameter"]


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())[:300]


def _read_bytes(path: Path, what: str) -> bytes:
    if not path.is_file():
        raise ModelFileError(f"{path}: no such {what}")
    try:
        return path.read_bytes()
    except OSError as e:
        raise ModelFileError(f"{path}: cannot read the {what} ({e.strerror})") from None


def read_prototxt(path: Path) -> Any:
    """The network description, its V1 layers upgraded."""
    from google.protobuf import text_format

    data = _read_bytes(path, "Caffe prototxt")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ModelFileError(f"{path}: not a Caffe prototxt (not text: a .caffemodel given as the prototxt?)") from None
    net = net_message()()
    try:
        # real prototxts carry many fields that inference never reads (fillers, learning rates,
        # engines): they are skipped; a misspelt field we do read shows up as its default
        text_format.Parse(text, net, allow_unknown_field=True)
    except text_format.ParseError as e:
        raise ModelFileError(f"{path}: not a valid Caffe prototxt ({_one_line(e)})") from None
    if net.layers and net.layer:
        raise ModelFileError(f"{path}: mixes V1 'layers' and current 'layer' entries")
    for v1 in net.layers:
        if v1.HasField("layer"):
            raise ModelFileError(f"{path}: layer {v1.layer.name!r} is in Caffe's V0 format; upgrade the file "
                                 "with Caffe's upgrade_net_proto_text tool first")
        _upgrade_v1(v1, net.layer.add(), net)
    del net.layers[:]
    if not net.layer and not net.input:
        raise ModelFileError(f"{path}: not a Caffe network description (no layers)")
    return net


def _upgrade_v1(v1: Any, layer: Any, net: Any) -> None:
    type_name = v1.DESCRIPTOR.fields_by_name["type"].enum_type.values_by_number[v1.type].name
    layer.name = v1.name
    layer.type = V1_TYPE_NAMES.get(type_name, type_name)
    layer.bottom.extend(v1.bottom)
    layer.top.extend(v1.top)
    layer.blobs.extend(v1.blobs)
    layer.include.extend(v1.include)
    layer.exclude.extend(v1.exclude)
    for field in V1_PARAMS:
        if v1.HasField(field):
            getattr(layer, field).CopyFrom(getattr(v1, field))


def read_caffemodel(path: Path) -> dict[str, list]:
    """{layer name: its blobs} of a trained model."""
    from google.protobuf.message import DecodeError

    from compiler.frontends.proto_schema import first_non_text

    data = _read_bytes(path, "Caffe model")
    if not data:
        raise ModelFileError(f"{path}: the caffemodel is empty")
    net = weights_message()()
    try:
        net.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise ModelFileError(f"{path}: truncated or malformed caffemodel ({_one_line(e) or 'cannot decode'})") from None
    bad = first_non_text(net)
    if bad is not None:
        raise ModelFileError(f"{path}: malformed caffemodel (field {bad} is not UTF-8 text)")
    weights: dict[str, list] = {}
    for layer in list(net.layers) + list(net.layer):
        if layer.blobs:  # as Caffe copies them: a later layer of the same name wins
            weights[layer.name] = list(layer.blobs)
    if not net.layer and not net.layers:
        raise ModelFileError(f"{path}: not a caffemodel (no layers in it)")
    return weights


__all__ = ["net_message", "read_caffemodel", "read_prototxt", "weights_message"]
