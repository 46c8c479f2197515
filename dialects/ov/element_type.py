"""`Type`: OpenVINO's element type object (`Type.f32`, `Type.u8`, ...), as the public API hands
it out and takes it.

It is a thin name over the dialect's element types (`base.ELEMENT_TYPES`): it compares equal to
another Type, to its OpenVINO name ("f32") and to the numpy dtype it stands for, and numpy
accepts it wherever a dtype goes (`np.dtype(Type.f32)`, `arr.astype(Type.u8)`). `Type.dynamic`
stands for "no type given" (e.g. `convert_element_type()` without an argument)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from dialects.ov.base import ELEMENT_TYPES, np_dtype, ov_type_name

# numpy's names for the types where OpenVINO prints another one (str(Type.f32) == "<Type: 'float32'>")
_C_NAMES = {"boolean": "char", "bf16": "bfloat16", "f16": "float16", "f32": "float32", "f64": "double",
            "i8": "int8_t", "i16": "int16_t", "i32": "int32_t", "i64": "int64_t", "u8": "uint8_t",
            "u16": "uint16_t", "u32": "uint32_t", "u64": "uint64_t"}


class _TypeMeta(type):
    def __getattr__(cls, name: str) -> Type:
        if name in cls._by_name:
            return cls._by_name[name]
        raise AttributeError(f"Type has no element type {name!r} (known: {', '.join(cls._by_name)})")


class Type(metaclass=_TypeMeta):
    """An element type: `Type.f32`, `Type(np.float32)`, `Type("u8")`."""

    _by_name: ClassVar[dict[str, Type]] = {}
    name: str

    def __new__(cls, value: Any = "dynamic") -> Type:
        if isinstance(value, Type):
            return value
        if isinstance(value, str) and value.strip().lower() in ("dynamic", "undefined", ""):
            return cls._by_name["dynamic"]
        if isinstance(value, str):
            aliases = {"fp32": "f32", "fp16": "f16", "fp64": "f64", "bool": "boolean", "float": "f32",
                       "half": "f16"}
            value = aliases.get(value.strip().lower(), value.strip().lower())
        try:
            return cls._by_name[ov_type_name(np_dtype(value))]
        except Exception as e:
            raise ValueError(f"unknown element type {value!r} (known: {', '.join(cls._by_name)})") from e

    @classmethod
    def _make(cls, name: str) -> Type:
        obj = object.__new__(cls)
        obj.name = name
        cls._by_name[name] = obj
        return obj

    # --- what OpenVINO's Type offers -------------------------------------------------------
    def get_type_name(self) -> str:
        return self.name

    @property
    def type_name(self) -> str:
        return self.name

    def to_dtype(self) -> np.dtype:
        if self.name == "dynamic":
            raise ValueError("Type.dynamic has no numpy dtype")
        return np_dtype(self.name)

    @property
    def dtype(self) -> np.dtype:  # lets numpy take a Type wherever it takes a dtype
        return self.to_dtype()

    def is_dynamic(self) -> bool:
        return self.name == "dynamic"

    def is_static(self) -> bool:
        return not self.is_dynamic()

    def is_real(self) -> bool:
        return self.is_static() and self.to_dtype().kind == "f" or self.name == "bf16"

    def is_integral(self) -> bool:
        return self.is_static() and not self.is_real()

    def is_integral_number(self) -> bool:
        return self.is_integral() and self.name != "boolean"

    def is_signed(self) -> bool:
        return self.is_static() and self.to_dtype().kind in "fi" or self.name == "bf16"

    @property
    def bitwidth(self) -> int:
        return 8 * self.size

    @property
    def size(self) -> int:
        return 0 if self.is_dynamic() else self.to_dtype().itemsize

    def get_size(self) -> int:
        return self.size

    def compatible(self, other: Any) -> bool:
        other = Type(other)
        return self.is_dynamic() or other.is_dynamic() or self == other

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Type):
            return self is other
        if isinstance(other, str):
            try:
                return Type(other) is self
            except ValueError:
                return False
        try:
            return self.is_static() and np.dtype(other) == self.to_dtype()  # type: ignore[arg-type]
        except TypeError:
            return False

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"<Type: '{_C_NAMES.get(self.name, self.name)}'>"

    __str__ = __repr__


for _name, _, _ in ELEMENT_TYPES:
    Type._make(_name)
Type._make("dynamic")
Type._by_name["undefined"] = Type._by_name["dynamic"]  # OpenVINO's older name for it
Type._by_name["bool"] = Type._by_name["boolean"]

__all__ = ["Type"]
