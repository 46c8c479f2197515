"""ovcc: a model compiler for CPU inference, with OpenVINO's Python API.

    import compiler as ov
    model = ov.convert_model("model.onnx")
    ov.save_model(model, "model.xml")
    compiled = ov.compile_model(model)          # native code for this CPU
    result = compiled({"x": x})["y"]

Importing this package is cheap: torch and TensorFlow are imported only when a model of
theirs is converted."""

import importlib
from typing import Any

from compiler.api import Core, compile_model, convert_model, read_model, save_model, serialize
from compiler.model import Model, PartialShape, Port
from compiler.op import DiscreteTypeInfo, Op
from compiler.types import Dimension, Layout, Tensor, Type, layout_helpers
from dialects.errors import (
    CompileError,
    ConversionError,
    ExtensionError,
    InputError,
    InternalError,
    ModelFileError,
    OvccError,
    ShapeError,
    UnsupportedOpsError,
)
from runtime.async_queue import AsyncInferQueue
from runtime.compiled import InferCancelled, InferRequest, ProfilingInfo

__all__ = ["AsyncInferQueue", "CompileError", "ConversionError", "Core", "Dimension", "DiscreteTypeInfo",
           "ExtensionError", "InferCancelled", "InferRequest", "InputError", "InternalError", "Layout", "Model",
           "ModelFileError", "Op", "OvccError", "PartialShape", "Port", "ProfilingInfo", "ShapeError", "Tensor",
           "Type", "UnsupportedOpsError", "compile_model", "convert_model", "layout_helpers", "read_model",
           "save_model", "serialize"]

# submodules OpenVINO's users reach as attributes (ov.preprocess.PrePostProcessor, ov.opset8.relu),
# imported on first use so that `import compiler` stays cheap
_SUBMODULES = {"preprocess": "compiler.preprocess", "opset": "compiler.opset", "tools": "compiler.tools",
               "frontend": "compiler.frontend", "inference_engine": "compiler.inference_engine"}


# post-training quantization (NNCF's names), from compiler.quantization on first use
_QUANTIZATION = ("quantize", "compress_weights", "Dataset", "QuantizationPreset", "ModelType", "TargetDevice",
                 "IgnoredScope", "CompressWeightsMode", "QuantizationError")


def __getattr__(name: str) -> Any:
    if name in _QUANTIZATION:
        return getattr(importlib.import_module("compiler.quantization"), name)
    if name in _SUBMODULES:
        return importlib.import_module(_SUBMODULES[name])
    if name.startswith("opset") and name[5:].isdigit():  # ov.opset8, ov.opset13: one factory module
        return importlib.import_module("compiler.opset")
    raise AttributeError(f"module 'compiler' has no attribute {name!r}")
