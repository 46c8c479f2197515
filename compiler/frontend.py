"""Frontend extensions, as OpenVINO's `openvino.frontend`: how a framework op that ovcc does not
know (or should convert another way) becomes `ov` ops.

    OpExtension("Elu", "MyElu", {"alpha": "a"})                # one op, attributes renamed
    OpExtension("Clamp", "MyClip", {}, {"min": 0.0, "max": 6.0})   # or set
    ConversionExtension("MyOp", lambda node: [ops.relu(node.get_input(0))])
    ConversionExtension("aten::hardtanh", convert_hardtanh)    # PyTorch ops by their ATen names

They are given to `convert_model(..., extension=[...])` or `Core.add_extension(...)`, with
custom op classes (`compiler.Op` subclasses) the same way. The ONNX, TensorFlow, TensorFlow Lite
and PyTorch frontends look an op type up among the extensions first (ONNX types may carry their
domain: "my.domain.MyOp"). A conversion function receives a `NodeContext` and returns the op's
outputs (an Output, a Node, or a list of them), built with `compiler.opset`."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from compiler.opset import Output, building, value_of
from dialects.errors import ConversionError, ExtensionError, OvccError
from dialects.ov import OPS, REQUIRED, constant_of


class NodeContext:
    """A framework node, as a conversion function sees it."""

    def __init__(self, op_type: str, name: str, inputs: Sequence[Any], attributes: dict[str, Any], builder: Any):
        self._type = op_type
        self._name = name
        self._inputs = list(inputs)
        self._attrs = attributes
        self._b = builder

    def get_op_type(self) -> str:
        return self._type

    def get_name(self) -> str:
        return self._name

    def get_input_size(self) -> int:
        return len(self._inputs)

    def get_input(self, i: int) -> Output:
        if not 0 <= i < len(self._inputs):
            raise ConversionError(f"node {self._name!r} ({self._type}) has {len(self._inputs)} inputs, not {i + 1}")
        v = self._inputs[i]
        if v is None:
            raise ConversionError(f"node {self._name!r} ({self._type}): input {i} is not given")
        return Output(value_of(v, self._b))

    def has_attribute(self, name: str) -> bool:
        return name in self._attrs

    def get_attribute(self, name: str, default: Any = REQUIRED) -> Any:
        if name in self._attrs:
            return self._attrs[name]
        if default is REQUIRED:
            raise ConversionError(f"node {self._name!r} ({self._type}) has no attribute {name!r} (it has: "
                                  f"{', '.join(sorted(self._attrs)) or 'none'})")
        return default

    def get_values_from_const_input(self, i: int, default: Any = None) -> Any:
        v = self._inputs[i] if 0 <= i < len(self._inputs) else None
        if v is None:
            return default
        known = constant_of(v) if hasattr(v, "type") else np.asarray(v)
        if known is None:
            raise ConversionError(f"node {self._name!r} ({self._type}): input {i} is not a constant")
        arr = np.asarray(known)
        return arr.item() if arr.ndim == 0 else arr

    def get_attribute_names(self) -> list[str]:
        return list(self._attrs)


class ConversionExtension:
    """`fn(node: NodeContext)` converts every node of type `op_type`."""

    def __init__(self, op_type: str, fn: Callable[[NodeContext], Any]):
        self.op_type = op_type
        self.fn = fn

    def convert(self, node: NodeContext) -> list:
        try:
            return _results(self.fn(node))
        except OvccError:
            raise
        except Exception as e:  # noqa: BLE001 - the user's function: one line naming the node
            raise ExtensionError(f"the conversion extension for {self.op_type!r} (node {node.get_name()!r}) raised "
                                 f"{type(e).__name__}: {e}") from None


class OpExtension:
    """A framework op that is one `ov` op (or custom op class): `OpExtension(fw_type)` when the
    names agree, `OpExtension(ov_type, fw_type, attr_names_map, attr_values_map)` otherwise.
    Each attribute of the `ov` op takes, in order: its value in `attr_values_map`, the framework
    attribute `attr_names_map` names, the framework attribute of its own name, its default."""

    def __init__(self, ov_type: Any, fw_type: str | None = None, attr_names_map: dict[str, str] | None = None,
                 attr_values_map: dict[str, Any] | None = None):
        if isinstance(fw_type, dict):  # OpExtension(type, {names}) : fw and ov types agree
            ov_type, fw_type, attr_names_map, attr_values_map = ov_type, ov_type, fw_type, attr_names_map
        self.ov_type = ov_type
        self.op_type = fw_type if fw_type is not None else (ov_type if isinstance(ov_type, str) else
                                                            ov_type.__name__)
        self.names = dict(attr_names_map or {})
        self.values = dict(attr_values_map or {})

    def convert(self, node: NodeContext) -> list:
        from compiler.op import Op

        inputs = [node.get_input(i) for i in range(node.get_input_size()) if node._inputs[i] is not None]
        if isinstance(self.ov_type, type) and issubclass(self.ov_type, Op):
            obj = self.ov_type.__new__(self.ov_type)
            Op.__init__(obj)
            obj.set_arguments(inputs)
            attrs = {**{k: node.get_attribute(f) for k, f in self.names.items() if node.has_attribute(f)},
                     **self.values}
            obj.visit_attributes(_Setter(attrs))
            obj.constructor_validate_and_infer_types()
            return [o.value for o in obj.outputs()]
        op_type = _ov_op_type(self.ov_type)
        cls = OPS[op_type]
        attrs = {}
        for name, spec in cls.ATTRS.items():
            if name in self.values:
                attrs[name] = self.values[name]
            elif name in self.names and node.has_attribute(self.names[name]):
                attrs[name] = node.get_attribute(self.names[name])
            elif node.has_attribute(name):
                attrs[name] = node.get_attribute(name)
            elif spec.default is REQUIRED:
                raise ConversionError(f"node {node.get_name()!r} ({node.get_op_type()}): OpExtension to {op_type} "
                                      f"needs attribute {name!r}; map it with attr_names_map or attr_values_map")
        try:
            op = node._b.op(op_type, [i.value for i in inputs], **attrs)
        except OvccError as e:
            raise ConversionError(f"node {node.get_name()!r} ({node.get_op_type()}) as {op_type}: {e}") from None
        return list(op.outputs)


class _Setter:
    """A visitor that sets a custom op's attributes (for OpExtension to a custom op class)."""

    def __init__(self, values: dict[str, Any]):
        self.values = values

    def on_attributes(self, attributes: dict) -> None:
        for k in list(attributes):
            if k in self.values:
                attributes[k] = self.values[k]


def _ov_op_type(name: str) -> str:
    """An `ov` op by OpenVINO's name, in the IR's spelling or Python's ("Relu" is ReLU)."""
    key = str(name).replace("_", "").lower()
    for t in OPS:
        if t.lower() == key and t != "Extension":
            return t
    raise ConversionError(f"OpExtension: {name!r} is not an op of the ov dialect")


def _results(res: Any) -> list:
    if isinstance(res, tuple | list):
        return [value_of(r) for r in res]
    if hasattr(res, "outputs") and callable(res.outputs) and not isinstance(res, Output):
        return [o.value for o in res.outputs()]
    return [value_of(res)]


Extension = OpExtension | ConversionExtension

_STATE = threading.local()


def _flatten(extensions: Any) -> list:
    if extensions is None:
        return []
    if isinstance(extensions, list | tuple):
        return [e for x in extensions for e in _flatten(x)]
    return [extensions]


def split_extensions(extensions: Any) -> tuple[list[Extension], list[type]]:
    """Frontend extensions and custom op classes; anything else is refused by name."""
    from compiler.op import Op

    convs, ops = [], []
    for e in _flatten(extensions):
        if isinstance(e, OpExtension | ConversionExtension):
            convs.append(e)
        elif isinstance(e, type) and issubclass(e, Op):
            ops.append(e)
        elif isinstance(e, str):
            raise ConversionError(f"extension {e!r}: libraries of compiled extensions cannot be loaded; give "
                                  "OpExtension/ConversionExtension objects or compiler.Op classes")
        else:
            raise ConversionError(f"extension {e!r}: expected an OpExtension, a ConversionExtension or a "
                                  "compiler.Op subclass")
    return convs, ops


@contextlib.contextmanager
def using(extensions: Iterable[Extension]) -> Iterator[None]:
    """Within this block, the frontends look op types up in `extensions` first."""
    stack = _STATE.__dict__.setdefault("stack", [])
    stack.append(list(extensions))
    try:
        yield
    finally:
        stack.pop()


def lookup(*op_types: str) -> Extension | None:
    """The extension registered for any of these spellings of an op type (the last given wins)."""
    for exts in reversed(getattr(_STATE, "stack", [])):
        for e in reversed(exts):
            if e.op_type in op_types:
                return e
    return None


def active_op_types() -> list[str]:
    """The op types the extensions in force convert."""
    return [e.op_type for exts in getattr(_STATE, "stack", []) for e in exts]


def convert_node(ext: Extension, op_type: str, name: str, inputs: Sequence[Any], attributes: dict[str, Any],
                 builder: Any) -> list:
    """Run an extension on one framework node; its results are the node's outputs."""
    node = NodeContext(op_type, name, inputs, attributes, builder)
    with building(builder):
        return ext.convert(node)


__all__ = ["ConversionExtension", "NodeContext", "OpExtension", "active_op_types", "convert_node", "lookup",
           "split_extensions", "using"]
