"""Infrastructure of the `ov` dialect: element types, tensor types, attribute declarations and
the `ov_op` decorator that turns a small declarative class into an xDSL operation.

An op declares, once, on its class:
  - `INPUTS` / `OUTPUTS`: port names in the order of the OpenVINO specification; a leading
    `*` marks a variadic port (any number, including none), a leading `?` an optional one;
  - its attributes as `Int`, `Float`, `Bool`, `Str`, `Ints`, `Floats` or `Type` fields, named as
    the opset specification names them (`ir_name=` where the spelling is no Python name);
  - `OPSET`: the opset in which this version of the op first appeared (what the IR writer emits);
  - `infer(a, ins)`: shape and element-type inference from the attribute values and the inputs.
The verifier, the printer/parser, the IR writer and reader, the interpreter and the lowering all
read that one declaration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, ClassVar

import ml_dtypes
import numpy as np
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    ArrayAttr,
    BoolAttr,
    DenseArrayBase,
    FloatAttr,
    IntegerAttr,
    IntegerType,
    Signedness,
    StringAttr,
    TensorType,
    bf16,
    f16,
    f32,
    f64,
    i1,
    i8,
    i16,
    i32,
    i64,
)
from xdsl.ir import Attribute, SSAValue, TypeAttribute
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_op_definition,
    prop_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from dialects.errors import ShapeError

Dim = int | None  # None: a dynamic dimension
Shape = tuple[Dim, ...]

ui8 = IntegerType(8, Signedness.UNSIGNED)
ui16 = IntegerType(16, Signedness.UNSIGNED)
ui32 = IntegerType(32, Signedness.UNSIGNED)
ui64 = IntegerType(64, Signedness.UNSIGNED)

# (OpenVINO element type name, numpy dtype, xDSL element type)
ELEMENT_TYPES: list[tuple[str, np.dtype, Attribute]] = [
    ("f32", np.dtype(np.float32), f32),
    ("f16", np.dtype(np.float16), f16),
    ("bf16", np.dtype(ml_dtypes.bfloat16), bf16),
    ("f64", np.dtype(np.float64), f64),
    ("i8", np.dtype(np.int8), i8),
    ("i16", np.dtype(np.int16), i16),
    ("i32", np.dtype(np.int32), i32),
    ("i64", np.dtype(np.int64), i64),
    ("u8", np.dtype(np.uint8), ui8),
    ("u16", np.dtype(np.uint16), ui16),
    ("u32", np.dtype(np.uint32), ui32),
    ("u64", np.dtype(np.uint64), ui64),
    ("boolean", np.dtype(np.bool_), i1),
]
_BY_NAME = {n: (d, t) for n, d, t in ELEMENT_TYPES}
_BY_DTYPE = {d: (n, t) for n, d, t in ELEMENT_TYPES}
_BY_XDSL = {t: (n, d) for n, d, t in ELEMENT_TYPES}


def np_dtype(t: Attribute | str | np.dtype | type) -> np.dtype:
    """numpy dtype of an xDSL element type, an OpenVINO type name or anything numpy accepts."""
    if isinstance(t, str) and t in _BY_NAME:
        return _BY_NAME[t][0]
    if isinstance(t, Attribute):
        if t not in _BY_XDSL:
            raise ShapeError(f"unsupported element type {t}")
        return _BY_XDSL[t][1]
    d = np.dtype(t)
    if d not in _BY_DTYPE:
        raise ShapeError(f"unsupported element type {d}")
    return d


def xdsl_type(d: np.dtype | str | type) -> Attribute:
    return _BY_DTYPE[np_dtype(d)][1]


def ov_type_name(d: np.dtype | str | type) -> str:
    """OpenVINO's lower-case element type name ("f32", "i64", "boolean")."""
    return _BY_DTYPE[np_dtype(d)][0]


def tensor_type(shape: Sequence[Dim], dtype: np.dtype | str | type) -> TensorType:
    return TensorType(xdsl_type(dtype), [DYNAMIC_INDEX if d is None else int(d) for d in shape])


def shape_of(t: Attribute) -> Shape:
    if not isinstance(t, TensorType):
        raise ShapeError(f"expected a tensor type, got {t}")
    return tuple(None if d == DYNAMIC_INDEX else d for d in t.get_shape())


def dtype_of(t: Attribute) -> np.dtype:
    if not isinstance(t, TensorType):
        raise ShapeError(f"expected a tensor type, got {t}")
    return np_dtype(t.element_type)


def format_shape(shape: Sequence[Dim]) -> str:
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def is_static(shape: Sequence[Dim]) -> bool:
    return all(d is not None for d in shape)


@dataclass
class TensorInfo:
    """What shape inference knows about one input: its type and, when known, its value.

    `value` is set for constants (and values computed only from constants); `partial` holds the
    known elements (None where unknown) of a 1-D integer tensor such as a ShapeOf result."""

    shape: Shape
    dtype: np.dtype
    value: np.ndarray | None = None
    partial: tuple[int | None, ...] | None = None

    @property
    def rank(self) -> int:
        return len(self.shape)

    def known(self) -> tuple[int | None, ...] | None:
        """Known elements of a small 1-D (or scalar) integer tensor."""
        if self.value is not None:
            v = np.asarray(self.value).reshape(-1)
            if v.dtype.kind == "f" and not np.all(np.isfinite(v) & (v == np.trunc(v))):
                return None  # a float constant such as inf or 0.5 is no integer (int(inf) raised)
            return tuple(int(x) for x in v)
        return self.partial


# ----------------------------------------------------------------------------------------
# Attribute declarations


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


class AttrSpec:
    """One attribute of an op: its Python value type, xDSL representation and IR spelling."""

    constraint: ClassVar[Any] = Attribute

    def __init__(self, default: Any = REQUIRED, *, ir_name: str | None = None, doc: str = ""):
        self.default = default
        self.ir_name = ir_name
        self.doc = doc
        self.name = ""  # set by ov_op

    def to_attr(self, v: Any) -> Attribute:
        raise NotImplementedError

    def from_attr(self, a: Attribute) -> Any:
        raise NotImplementedError

    def to_ir(self, v: Any) -> str:
        """Value as OpenVINO IR writes it in `<data>`."""
        return str(v)

    def from_ir(self, s: str) -> Any:
        raise NotImplementedError

    def check(self, v: Any) -> Any:
        """Normalize a Python value given by a frontend or pass (raises on a wrong kind)."""
        return self.from_attr(self.to_attr(v))


class Int(AttrSpec):
    constraint = IntegerAttr

    def to_attr(self, v: Any) -> Attribute:
        return IntegerAttr(int(v), i64)

    def from_attr(self, a: Attribute) -> int:
        return int(a.value.data)  # type: ignore[attr-defined]

    def from_ir(self, s: str) -> int:
        return int(float(s))


class Float(AttrSpec):
    constraint = FloatAttr

    def to_attr(self, v: Any) -> Attribute:
        return FloatAttr(float(v), f64)

    def from_attr(self, a: Attribute) -> float:
        return float(a.value.data)  # type: ignore[attr-defined]

    def to_ir(self, v: Any) -> str:
        return repr(float(v))

    def from_ir(self, s: str) -> float:
        return float(s)


class Bool(AttrSpec):
    constraint = IntegerAttr

    def to_attr(self, v: Any) -> Attribute:
        return BoolAttr.from_bool(bool(v))

    def from_attr(self, a: Attribute) -> bool:
        return bool(a.value.data)  # type: ignore[attr-defined]

    def to_ir(self, v: Any) -> str:
        return "true" if v else "false"

    def from_ir(self, s: str) -> bool:
        return s.strip().lower() in ("true", "1")


class Str(AttrSpec):
    """A string; with `choices`, an enumeration compared case-insensitively as OpenVINO does."""

    constraint = StringAttr

    def __init__(self, default: Any = REQUIRED, choices: Sequence[str] = (), **kw: Any):
        super().__init__(default, **kw)
        self.choices = tuple(choices)

    def to_attr(self, v: Any) -> Attribute:
        s = str(v)
        if self.choices:
            low = s.lower()
            if low not in self.choices:
                raise ShapeError(f"attribute {self.name}: {s!r} is not one of {', '.join(self.choices)}")
            s = low
        return StringAttr(s)

    def from_attr(self, a: Attribute) -> str:
        return a.data  # type: ignore[attr-defined]

    def from_ir(self, s: str) -> str:
        return s


class Ints(AttrSpec):
    constraint = DenseArrayBase

    def to_attr(self, v: Any) -> Attribute:
        return DenseArrayBase.from_list(i64, [int(x) for x in v])

    def from_attr(self, a: Attribute) -> tuple[int, ...]:
        return tuple(int(x) for x in a.get_values())  # type: ignore[attr-defined]

    def to_ir(self, v: Any) -> str:
        return ", ".join(str(int(x)) for x in v)

    def from_ir(self, s: str) -> tuple[int, ...]:
        return tuple(int(float(x)) for x in s.replace(",", " ").split())


class Floats(AttrSpec):
    constraint = DenseArrayBase

    def to_attr(self, v: Any) -> Attribute:
        return DenseArrayBase.from_list(f64, [float(x) for x in v])

    def from_attr(self, a: Attribute) -> tuple[float, ...]:
        return tuple(float(x) for x in a.get_values())  # type: ignore[attr-defined]

    def to_ir(self, v: Any) -> str:
        return ", ".join(repr(float(x)) for x in v)

    def from_ir(self, s: str) -> tuple[float, ...]:
        return tuple(float(x) for x in s.replace(",", " ").split())


class Type(AttrSpec):
    """An element type, held as a numpy dtype; written with OpenVINO's names ("f32")."""

    constraint = TypeAttribute

    def to_attr(self, v: Any) -> Attribute:
        return xdsl_type(v)

    def from_attr(self, a: Attribute) -> np.dtype:
        return np_dtype(a)

    def to_ir(self, v: Any) -> str:
        return ov_type_name(v)

    def from_ir(self, s: str) -> np.dtype:
        name = s.strip().lower()
        aliases = {"fp32": "f32", "fp16": "f16", "bool": "boolean", "fp64": "f64"}
        return np_dtype(aliases.get(name, name))


# ----------------------------------------------------------------------------------------
# Ops

OPS: dict[str, type[OvOp]] = {}  # "Convolution" -> class, every op of the dialect
_RESERVED = set(dir(IRDLOperation)) | {"inputs", "outputs", "attr"}


class OpSpec:
    """Base of the declarative op classes that `ov_op` turns into xDSL operations. Shared
    bases (e.g. all binary ops) derive from it too; their members are copied into each op."""

    OPSET = "opset1"
    IR_TYPE = ""  # OpenVINO layer type; the class name unless given
    INPUTS: tuple[str, ...] = ()
    OUTPUTS: tuple[str, ...] = ("output",)
    FAMILY = ""  # "unary", "binary", "reduce": ops that share one lowering and reference rule


class OvOp(IRDLOperation):
    """Base class of every `ov` operation made by `ov_op`."""

    OPSET: ClassVar[str] = "opset1"
    IR_TYPE: ClassVar[str] = ""
    INPUTS: ClassVar[tuple[str, ...]] = ()
    OUTPUTS: ClassVar[tuple[str, ...]] = ("output",)
    ATTRS: ClassVar[dict[str, AttrSpec]] = {}
    FAMILY: ClassVar[str] = ""

    @property
    def attr(self) -> SimpleNamespace:
        """The op's attributes as Python values: `op.attr.strides`."""
        return SimpleNamespace(**{n: s.from_attr(self.properties[s.ir_name or n])
                                  for n, s in self.ATTRS.items()})

    def ir_layer(self) -> tuple[str, str, dict[str, str]]:
        """The IR layer this op is written as: type, opset version, `<data>` attributes."""
        return self.IR_TYPE, self.OPSET, {s.ir_name or n: s.to_ir(getattr(self.attr, n)) for n, s in self.ATTRS.items()}

    def out_dtype(self, i: int = 0) -> np.dtype:
        return dtype_of(self.outputs[i].type)

    def out_shape(self, i: int = 0) -> Shape:
        return shape_of(self.outputs[i].type)

    @classmethod
    def arity(cls, names: tuple[str, ...]) -> tuple[int, int | None]:
        lo = sum(1 for n in names if n[0] not in "*?")
        hi = None if any(n[0] == "*" for n in names) else len(names)
        return lo, hi

    @classmethod
    def attr_props(cls, attrs: dict[str, Any]) -> dict[str, Attribute]:
        """xDSL properties from Python attribute values (defaults filled in)."""
        unknown = set(attrs) - set(cls.ATTRS)
        if unknown:
            raise ShapeError(f"{cls.IR_TYPE}: unknown attribute(s) {', '.join(sorted(unknown))}")
        props = {}
        for n, s in cls.ATTRS.items():
            v = attrs.get(n, s.default)
            if v is REQUIRED:
                raise ShapeError(f"{cls.IR_TYPE}: attribute {n} is required")
            props[s.ir_name or n] = s.to_attr(v)
        return props

    @classmethod
    def infer(cls, a: SimpleNamespace, ins: list[TensorInfo]) -> list[tuple[Shape, np.dtype]]:
        raise NotImplementedError(f"{cls.IR_TYPE}: no shape inference")

    def verify_(self) -> None:
        for names, vals, what in ((self.INPUTS, self.inputs, "inputs"),
                                  (self.OUTPUTS, self.outputs, "outputs")):
            lo, hi = self.arity(names)
            if len(vals) < lo or (hi is not None and len(vals) > hi):
                want = f"{lo}" if lo == hi else f"{lo} to {hi if hi is not None else 'any'}"
                raise VerifyException(f"{self.IR_TYPE}: expected {want} {what}, got {len(vals)}")
        from dialects.ov.values import info_of  # values imports this module

        try:
            inferred = self.infer(self.attr, [info_of(v) for v in self.inputs])
        except ShapeError as e:
            raise VerifyException(str(e)) from e
        if len(inferred) != len(self.outputs):
            raise VerifyException(f"{self.IR_TYPE}: inference gives {len(inferred)} outputs, op has "
                                  f"{len(self.outputs)}")
        for i, ((shape, dtype), res) in enumerate(zip(inferred, self.outputs)):
            have, have_dtype = shape_of(res.type), dtype_of(res.type)
            if have_dtype != dtype or not compatible(shape, have):
                raise VerifyException(
                    f"{self.IR_TYPE}: output {i} is {format_shape(have)} {ov_type_name(have_dtype)}, but "
                    f"its inputs give {format_shape(shape)} {ov_type_name(dtype)}")


def compatible(inferred: Sequence[Dim], declared: Sequence[Dim]) -> bool:
    """Declared dims may refine inferred dynamic ones, never contradict static ones."""
    return len(inferred) == len(declared) and all(
        a is None or b is None or a == b for a, b in zip(inferred, declared))


def _input_accessor(index: int, variadic_tail: bool) -> property:
    def get(self: OvOp) -> Any:
        if variadic_tail:
            return self.inputs[index:]
        return self.inputs[index] if index < len(self.inputs) else None

    return property(get)


def ov_op(cls: type) -> type[OvOp]:
    """Turn a declarative `OpSpec` class into an xDSL IRDL operation of the `ov` dialect."""
    ns: dict[str, Any] = {}
    specs: dict[str, AttrSpec] = {}
    for klass in reversed(cls.__mro__[:-1]):  # shared bases first, the op's own members last
        for k, v in klass.__dict__.items():
            if isinstance(v, AttrSpec):
                v.name = k
                specs[k] = v
            elif not (k.startswith("__") and k != "__doc__"):
                ns[k] = v
    ir_type = cls.__dict__.get("IR_TYPE") or cls.__name__
    for i, n in enumerate(ns["INPUTS"]):
        bare = n.lstrip("*?")
        assert bare not in _RESERVED and bare not in specs, f"{ir_type}: input name {bare} clashes"
        ns[bare] = _input_accessor(i, n.startswith("*"))
    ns.update(IR_TYPE=ir_type, ATTRS=specs, name="ov." + ir_type, __module__=cls.__module__,
              __qualname__=cls.__qualname__)
    ns["__annotations__"] = {k: ClassVar for k in ns if k.isupper()}
    ns["inputs"] = var_operand_def(TensorType)
    ns["outputs"] = var_result_def(TensorType)
    ns["traits"] = traits_def(Pure())
    ns["irdl_options"] = (ParsePropInAttrDict(),)
    ns["assembly_format"] = "($inputs^)? attr-dict `:` functional-type($inputs, $outputs)"
    for k, s in specs.items():
        ns["p_" + k] = prop_def(s.constraint, prop_name=s.ir_name or k)
    new = irdl_op_definition(type(cls.__name__, (OvOp,), ns))
    OPS[ir_type] = new
    return new


def create(op: type[OvOp] | str, inputs: Sequence[SSAValue], **attrs: Any) -> OvOp:
    """Build an op with its result types inferred from its inputs (the one way ops are made)."""
    from dialects.ov.values import info_of

    cls = OPS[op] if isinstance(op, str) else op
    props = cls.attr_props(attrs)
    a = SimpleNamespace(**{n: s.from_attr(props[s.ir_name or n]) for n, s in cls.ATTRS.items()})
    lo, hi = cls.arity(cls.INPUTS)
    if len(inputs) < lo or (hi is not None and len(inputs) > hi):
        raise ShapeError(f"{cls.IR_TYPE}: expected {lo}..{hi} inputs, got {len(inputs)}")
    outs = cls.infer(a, [info_of(v) for v in inputs])
    return cls.create(operands=list(inputs), result_types=[tensor_type(s, d) for s, d in outs],
                      properties=props)


def names_attr(names: Sequence[str]) -> ArrayAttr:
    return ArrayAttr([StringAttr(n) for n in names])
