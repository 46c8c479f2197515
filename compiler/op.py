"""Custom operations written in Python, as OpenVINO's `openvino.Op`:

    class Identity(ov.Op):
        class_type_info = ov.DiscreteTypeInfo("Identity", "extension")

        def __init__(self, inputs=None, attrs=None):
            super().__init__(self)
            if inputs is not None:
                self.set_arguments(inputs)
                self.constructor_validate_and_infer_types()

        def validate_and_infer_types(self):
            self.set_output_type(0, self.get_input_element_type(0), self.get_input_partial_shape(0))

        def evaluate(self, outputs, inputs):
            outputs[0].shape = inputs[0].shape
            inputs[0].copy_to(outputs[0])
            return True

        def has_evaluate(self):
            return True

An instance built inside a conversion (a ConversionExtension's function, an OpExtension) or a
preprocessing step becomes an `ov.Extension` op; registered (`Core.add_extension(Identity)`,
`convert_model(..., extension=Identity)`), the class is what infers shapes when the model is
reshaped, what the REFERENCE device and the CPU device's callback step run, and what reads the
op back from IR. `visit_attributes(visitor)` with `visitor.on_attributes(dict)` names the
attributes written to IR."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from compiler.model import PartialShape
from compiler.opset import Node, Output, current_builder, value_of
from dialects.errors import ExtensionError, OvccError, ShapeError
from dialects.ov import create, dtype_of, shape_of
from dialects.ov.element_type import Type
from dialects.ov.extension import CUSTOM_OPS
from runtime.tensor import Tensor


class DiscreteTypeInfo:
    def __init__(self, name: str, version_id: str = "extension"):
        self.name = name
        self.version_id = version_id

    def __repr__(self) -> str:
        return f"<DiscreteTypeInfo: {self.name} {self.version_id}>"


class _AttributeVisitor:
    """What `visit_attributes` is given: collects the attributes (writing IR) or fills them in
    (an op read back from IR)."""

    def __init__(self, values: dict[str, str] | None = None):
        self.values = values
        self.seen: dict[str, Any] = {}

    def on_attributes(self, attributes: dict) -> None:
        if self.values is not None:  # restoring: values read from IR, in the type the dict holds
            for k in list(attributes):
                if k in self.values:
                    attributes[k] = _like(attributes[k], self.values[k])
        self.seen.update(attributes)

    def on_attribute(self, name: str, value: Any) -> None:
        self.seen[name] = value


def _like(old: Any, text: str) -> Any:
    if isinstance(old, bool):
        return text.strip().lower() in ("true", "1")
    for t in (int, float):
        if isinstance(old, t):
            return t(text)
    return text


def _to_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list | tuple | np.ndarray):
        return ", ".join(_to_text(x) for x in np.asarray(v).reshape(-1).tolist())
    return str(v)


_LIVE: dict[int, Op] = {}  # the instances that built ov.Extension ops (their `instance` attribute)
_LOCK = threading.RLock()


class Op:
    """Base class of a Python custom op (see the module docstring)."""

    class_type_info: ClassVar[DiscreteTypeInfo | None] = None

    def __init__(self, *_: Any) -> None:  # OpenVINO's subclasses call super().__init__(self)
        self._args: list = []
        self._infos: list[tuple[tuple, np.dtype]] = []
        self._out: dict[int, tuple[tuple, np.dtype]] = {}
        self._op = None
        self._name: str | None = None

    # --- identity ---------------------------------------------------------------------------
    def get_type_info(self) -> DiscreteTypeInfo:
        info = type(self).class_type_info
        return info if info is not None else DiscreteTypeInfo(type(self).__name__, "extension")

    def get_type_name(self) -> str:
        return self.get_type_info().name

    def get_friendly_name(self) -> str:
        return self._name or self.get_type_name()

    def set_friendly_name(self, name: str) -> None:
        self._name = name

    # --- inputs -------------------------------------------------------------------------------
    def set_arguments(self, inputs: Sequence[Any]) -> None:
        b = current_builder()
        self._args = [value_of(x, b) for x in inputs]
        self._infos = [(tuple(shape_of(v.type)), dtype_of(v.type)) for v in self._args]

    def get_input_size(self) -> int:
        return len(self._infos)

    def get_input_element_type(self, i: int) -> Type:
        return Type(self._infos[i][1])

    def get_input_partial_shape(self, i: int) -> PartialShape:
        return PartialShape(self._infos[i][0])

    def get_input_shape(self, i: int) -> tuple[int, ...]:
        return self.get_input_partial_shape(i).to_shape()

    def input_value(self, i: int) -> Output:
        return Output(self._args[i])

    # --- outputs ------------------------------------------------------------------------------
    def set_output_type(self, i: int, element_type: Any, shape: Any) -> None:
        self._out[i] = (tuple(PartialShape(shape)), Type(element_type).to_dtype())

    def get_output_size(self) -> int:
        return len(self._out)

    def get_output_element_type(self, i: int) -> Type:
        return Type(self._out[i][1])

    def get_output_partial_shape(self, i: int) -> PartialShape:
        return PartialShape(self._out[i][0])

    def output(self, i: int = 0) -> Output:
        if self._op is None:
            raise ExtensionError(f"custom op {self.get_type_name()!r}: it has no outputs until "
                                 "constructor_validate_and_infer_types() has built it")
        return Output(self._op.results[i])

    def outputs(self) -> list[Output]:
        return [self.output(i) for i in range(self.get_output_size())]

    def _ovcc_node(self) -> Node:
        return Node(self._op)

    # --- what subclasses override ---------------------------------------------------------------
    def validate_and_infer_types(self) -> None:
        self.set_output_type(0, self.get_input_element_type(0), self.get_input_partial_shape(0))

    def evaluate(self, outputs: list[Tensor], inputs: list[Tensor]) -> bool:
        return False

    def has_evaluate(self) -> bool:
        return type(self).evaluate is not Op.evaluate

    def visit_attributes(self, visitor: Any) -> bool:
        return True

    def clone_with_new_inputs(self, new_inputs: Sequence[Any]) -> Op:
        return type(self)(new_inputs)

    # --- building the ov op -------------------------------------------------------------------
    def constructor_validate_and_infer_types(self) -> None:
        """Infer the output types and add the op to the graph being built."""
        self._infer_checked()
        register(type(self))
        visitor = _AttributeVisitor()
        self.visit_attributes(visitor)
        with _LOCK:
            _LIVE[id(self)] = self
        info = self.get_type_info()
        op = create("Extension", self._args, type_name=info.name, version=info.version_id,
                    attributes=json.dumps({k: _to_text(v) for k, v in visitor.seen.items()}), instance=id(self))
        self._op = current_builder().add(op)
        if self._name:
            Node(op).set_friendly_name(self._name)

    def _infer_checked(self) -> None:
        self._out = {}
        try:
            self.validate_and_infer_types()
        except OvccError:
            raise
        except Exception as e:  # noqa: BLE001 - the user's code: one line naming the op
            raise ExtensionError(f"custom op {self.get_type_name()!r}: validate_and_infer_types raised "
                                 f"{type(e).__name__}: {e}") from None
        if not self._out:
            raise ExtensionError(f"custom op {self.get_type_name()!r}: validate_and_infer_types set no output "
                                 "type (call set_output_type)")


class _Impl:
    """How the dialect runs one registered class (dialects/ov/extension.py)."""

    def __init__(self, cls: type[Op]):
        self.cls = cls
        self._restored: dict[str, Op] = {}  # attributes (JSON) -> an instance made for them

    def _instance(self, attrs: Any) -> Op:
        live = _LIVE.get(attrs.instance)
        if live is not None and type(live) is self.cls:
            return live
        if attrs.attributes not in self._restored:
            self._restored[attrs.attributes] = self._restore(attrs)
        return self._restored[attrs.attributes]

    def _restore(self, attrs: Any) -> Op:
        # read back from IR: made from the class (without inputs, as OpenVINO makes it), attributes restored
        try:
            obj = self.cls()
        except TypeError:  # a constructor that wants inputs
            obj = self.cls.__new__(self.cls)
            Op.__init__(obj)
        try:
            obj.visit_attributes(_AttributeVisitor(json.loads(attrs.attributes)))
        except Exception as e:  # noqa: BLE001 - the user's code: one line naming the op
            raise ExtensionError(f"custom op {attrs.type_name!r}: visit_attributes raised {type(e).__name__}: "
                                 f"{e}") from None
        return obj

    def infer(self, attrs: Any, ins: list) -> list:
        with _LOCK:
            obj = self._instance(attrs)
            saved = obj._infos, obj._out
            obj._infos = [(tuple(i.shape), i.dtype) for i in ins]
            try:
                obj._infer_checked()
                n = max(obj._out) + 1
                return [obj._out[k] for k in range(n)]
            except ExtensionError as e:
                raise ShapeError(str(e)) from None
            finally:
                obj._infos, obj._out = saved

    def evaluate(self, attrs: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
        name = attrs.type_name
        with _LOCK:
            obj = self._instance(attrs)
            if not obj.has_evaluate():
                raise ExtensionError(f"custom op {name!r} has no evaluate(), so it cannot run")
            saved = obj._infos, obj._out
            obj._infos = [(tuple(a.shape), a.dtype) for a in inputs]
            try:
                obj._infer_checked()
                outs = [Tensor(np.zeros([d or 0 for d in obj._out[k][0]], obj._out[k][1]))
                        for k in range(max(obj._out) + 1)]
                try:
                    ok = obj.evaluate(outs, [Tensor(np.asarray(a)) for a in inputs])
                except Exception as e:  # noqa: BLE001 - the user's code: one line naming the op
                    raise ExtensionError(f"custom op {name!r}: evaluate raised {type(e).__name__}: {e}") from None
                if ok is False:
                    raise ExtensionError(f"custom op {name!r}: evaluate returned False")
                return [t.data for t in outs]
            finally:
                obj._infos, obj._out = saved


def register(cls: type[Op]) -> None:
    """Make a custom op class known (by its type name) to shape inference, both devices and the
    IR reader."""
    if not (isinstance(cls, type) and issubclass(cls, Op)):
        raise ExtensionError(f"{cls!r} is not a compiler.Op subclass")
    info = cls.class_type_info.name if cls.class_type_info is not None else cls.__name__
    CUSTOM_OPS[info] = _Impl(cls)


__all__ = ["DiscreteTypeInfo", "Op", "register"]
