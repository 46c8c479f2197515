"""`ov.Extension`: an operation the user defines in Python (a `compiler.Op` subclass), which the
dialect holds as its type name, version and attributes, and runs through the user's code.

`CUSTOM_OPS` maps each registered type name to its implementation: shape inference (the
class's `validate_and_infer_types`) and evaluation (its `evaluate`). The reference interpreter
calls `evaluate` directly, the CPU device as one callback step of the native program, and the
IR writer writes the op as a layer of its own type, so that OpenVINO loads it with the same
extension registered."""

from __future__ import annotations

import json
from typing import Any, Protocol

import numpy as np

from dialects.errors import ShapeError
from dialects.ov.base import Int, OpSpec, Shape, Str, TensorInfo, ov_op


class CustomImpl(Protocol):
    def infer(self, attrs: Any, ins: list[TensorInfo]) -> list[tuple[Shape, np.dtype]]:
        """Output shapes and types for these inputs (`attrs` is the op's attribute namespace)."""

    def evaluate(self, attrs: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """The outputs for these inputs."""


CUSTOM_OPS: dict[str, CustomImpl] = {}  # type name -> implementation (registered by compiler.op)


def custom_impl(type_name: str) -> CustomImpl:
    impl = CUSTOM_OPS.get(type_name)
    if impl is None:
        raise ShapeError(f"custom op {type_name!r} is not registered: add its class with Core.add_extension(...) or "
                         "convert_model(..., extension=...)")
    return impl


@ov_op
class Extension(OpSpec):
    """A user's operation: `type_name` and `version` are the layer's type and version in IR,
    `attributes` its attributes (a JSON object of strings), `instance` the Python object that
    made it (-1: one is made from the class when needed, e.g. after reading IR)."""

    INPUTS = ("*args",)
    OUTPUTS = ("*results",)
    type_name = Str()
    version = Str("extension")
    attributes = Str("{}")
    instance = Int(-1)

    @classmethod
    def infer(cls, a, ins):
        return custom_impl(a.type_name).infer(a, ins)

    def ir_layer(self) -> tuple[str, str, dict[str, str]]:
        a = self.attr
        return a.type_name, a.version, {str(k): str(v) for k, v in json.loads(a.attributes).items()}


__all__ = ["CUSTOM_OPS", "CustomImpl", "Extension", "custom_impl"]
