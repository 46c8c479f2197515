"""ovcc: a model compiler for CPU inference, with OpenVINO's Python API.

    import compiler as ov
    model = ov.convert_model("model.onnx")
    ov.save_model(model, "model.xml")
    compiled = ov.compile_model(model)          # native code for this CPU
    result = compiled({"x": x})["y"]

Importing this package is cheap: torch and TensorFlow are imported only when a model of
theirs is converted."""

from compiler.api import Core, compile_model, convert_model, read_model, save_model
from compiler.model import Model, PartialShape, Port
from dialects.errors import (
    CompileError,
    ConversionError,
    InputError,
    InternalError,
    ModelFileError,
    OvccError,
    ShapeError,
    UnsupportedOpsError,
)

__all__ = ["CompileError", "ConversionError", "Core", "InputError", "InternalError", "Model", "ModelFileError",
           "OvccError", "PartialShape", "Port", "ShapeError", "UnsupportedOpsError", "compile_model", "convert_model",
           "read_model", "save_model"]
