"""`Model`: a converted model in memory (an xDSL module holding one `func.func @main` of `ov`
ops), with OpenVINO's accessors for inputs, outputs and reshaping."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ArrayAttr, DictionaryAttr, ModuleOp, StringAttr

from compiler.frontends.builder import NAMES
from compiler.frontends.inputs import parse_inputs
from dialects.errors import InputError
from dialects.ov import Dim, OvOp, ov_type_name, shape_of, tensor_type
from dialects.ov.base import dtype_of
from dialects.ov.element_type import Type


class PartialShape(tuple):
    """A shape whose dims may be dynamic; prints as OpenVINO does: [?,3,224,224], [1..8,3].

    Built from ints (-1 dynamic), None, `Dimension`s or a string ("[?,3,224,224]"). Iterating
    gives ints and None (the `ov` dialect's dims, bounds dropped); indexing gives a `Dimension`
    (`shape[1].get_length()`), as OpenVINO's does."""

    def __new__(cls, dims: Any = ()) -> PartialShape:
        from compiler.types import Dimension

        if isinstance(dims, str):
            text = dims.strip().strip("[]").strip()
            dims = [t for t in text.split(",")] if text else []
        full = tuple(Dimension(d) for d in dims)
        obj = super().__new__(cls, [d.to_dim() for d in full])
        obj._dims = full
        return obj

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            return PartialShape(self._dims[key])
        return self._dims[key]

    @property
    def rank(self) -> int:
        return len(self)

    def get_dimension(self, i: int) -> Any:
        return self._dims[i]

    @property
    def is_static(self) -> bool:
        return all(d is not None for d in self)

    @property
    def is_dynamic(self) -> bool:
        return not self.is_static

    def to_shape(self) -> tuple[int, ...]:
        if not self.is_static:
            raise InputError(f"shape {self} is dynamic")
        return tuple(self)  # type: ignore[return-value]

    def get_shape(self) -> tuple[int, ...]:
        return self.to_shape()

    def get_min_shape(self) -> tuple[int, ...]:
        return tuple(d.get_min_length() for d in self._dims)

    def get_max_shape(self) -> tuple[int, ...]:
        return tuple(d.get_max_length() for d in self._dims)

    def compatible(self, other: Any) -> bool:
        o = other if isinstance(other, PartialShape) else PartialShape(other)
        return len(o) == len(self) and all(a.compatible(b) for a, b in zip(self._dims, o._dims))

    def to_string(self) -> str:
        return "[" + ",".join(str(d) for d in self._dims) + "]"

    def __str__(self) -> str:
        return self.to_string()

    def __repr__(self) -> str:
        return f"<PartialShape: {self.to_string()}>"


class Port:
    """An input or output of a model (OpenVINO's `Output<Node>`)."""

    def __init__(self, index: int, names: Sequence[str], shape: Sequence[Dim], dtype: np.dtype):
        self.index = index
        self.names = set(names)
        self._names = list(names)
        self.partial_shape = PartialShape(shape)
        self.dtype = np.dtype(dtype)

    @property
    def any_name(self) -> str:
        if not self._names:
            raise InputError(f"port {self.index} has no tensor name")
        return sorted(self.names)[0]

    @property
    def name(self) -> str:
        return self._names[0] if self._names else f"{self.index}"

    @property
    def shape(self) -> tuple[int, ...]:
        return self.partial_shape.to_shape()

    @property
    def element_type(self) -> Type:
        return Type(self.dtype)

    def get_any_name(self) -> str:
        return self.any_name

    def get_names(self) -> set[str]:
        return set(self.names)

    def get_partial_shape(self) -> PartialShape:
        return self.partial_shape

    def get_shape(self) -> tuple[int, ...]:
        return self.shape

    def get_element_type(self) -> Type:
        return self.element_type

    def __repr__(self) -> str:
        return f"<Port {self.index} {self._names} {self.partial_shape} {ov_type_name(self.dtype)}>"


def _names(attrs: ArrayAttr | None, i: int) -> list[str]:
    if attrs is None or i >= len(attrs.data):
        return []
    d = attrs.data[i]
    if isinstance(d, DictionaryAttr) and NAMES in d.data:
        return [s.data for s in d.data[NAMES].data]
    return []


class Model:
    """A model in the `ov` dialect."""

    def __init__(self, module: ModuleOp, friendly_name: str = "main"):
        self.module = module
        self.friendly_name = friendly_name
        # weights meant to be stored as f16 (mo.convert_model(compress_to_fp16=True)); serialize obeys it
        self.compressed_weights = False
        # a stateful source model's variables, made explicit (TFLite resource variables): input
        # `name` is a variable's value before a call, output `name/next` its value after;
        # these are the values its initialization gives them (what the first call is fed)
        self.initial_state: dict[str, np.ndarray] = dict(getattr(module, "ovcc_initial_state", {}))

    @property
    def function(self) -> func.FuncOp:
        return next(op for op in self.module.body.block.ops if isinstance(op, func.FuncOp))

    @property
    def inputs(self) -> list[Port]:
        fn = self.function
        return [Port(i, _names(fn.arg_attrs, i), shape_of(a.type), dtype_of(a.type))
                for i, a in enumerate(fn.body.block.args)]

    @property
    def outputs(self) -> list[Port]:
        fn = self.function
        ret = fn.body.block.last_op
        return [Port(i, _names(fn.res_attrs, i), shape_of(v.type), dtype_of(v.type))
                for i, v in enumerate(ret.operands)]

    def _port(self, ports: list[Port], key: int | str | None, what: str) -> Port:
        if key is None:
            if len(ports) != 1:
                raise InputError(f"the model has {len(ports)} {what}s; name one")
            return ports[0]
        if isinstance(key, int):
            if not 0 <= key < len(ports):
                raise InputError(f"the model has no {what} {key} (it has {len(ports)})")
            return ports[key]
        for p in ports:
            if key in p.names:
                return p
        raise InputError(f"the model has no {what} named {key!r} "
                         f"(it has {', '.join(n for p in ports for n in p._names) or 'unnamed ones'})")

    def input(self, key: int | str | None = None) -> Port:
        return self._port(self.inputs, key, "input")

    def output(self, key: int | str | None = None) -> Port:
        return self._port(self.outputs, key, "output")

    def get_ops(self) -> list:
        return list(self.function.body.block.ops)

    @property
    def ops(self) -> list:
        return self.get_ops()

    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for op in self.function.walk():
            if isinstance(op, OvOp) or op.name in ("ov.Const", "ov.Fused"):
                counts[op.name[3:]] = counts.get(op.name[3:], 0) + 1
        return counts

    def clone(self) -> Model:
        copy = Model(self.module.clone(), self.friendly_name)
        copy.compressed_weights = self.compressed_weights
        copy.initial_state = {k: v.copy() for k, v in self.initial_state.items()}
        return copy

    def reshape(self, shapes: Any) -> None:
        """Set new input shapes (a shape, a list of shapes, a dict name -> shape, or a string
        "x[1,3,224,224]") and re-infer the whole model."""
        from passes import FRONTEND_CLEANUP
        from passes.pipeline import run_pipeline

        specs = parse_inputs(shapes)
        ins = self.inputs
        block = self.function.body.block
        if specs and all(s.name is None for s in specs):
            if len(specs) != len(ins):
                raise InputError(f"reshape: {len(specs)} shapes given for {len(ins)} inputs")
            pairs = list(zip(ins, specs))
        else:
            pairs = [(self.input(s.name), s) for s in specs]
        for port, spec in pairs:
            shape, dtype = spec.resolve(port.name, port.partial_shape, port.dtype)
            block.args[port.index]._type = tensor_type(shape, dtype)  # noqa: SLF001
        run_pipeline(self.module, "infer-shapes{reset=true}," + FRONTEND_CLEANUP)

    def set_output_names(self, index: int, names: Sequence[str]) -> None:
        fn = self.function
        attrs = list(fn.res_attrs.data) if fn.res_attrs else []
        attrs[index] = DictionaryAttr({NAMES: ArrayAttr([StringAttr(n) for n in names])})
        fn.res_attrs = ArrayAttr(attrs)

    def __str__(self) -> str:
        return str(self.module)

    def __repr__(self) -> str:
        ins = ", ".join(f"{p.name}{p.partial_shape}" for p in self.inputs)
        outs = ", ".join(f"{p.name}{p.partial_shape}" for p in self.outputs)
        return f"<Model {self.friendly_name}: ({ins}) -> ({outs}), {len(self.get_ops())} ops>"
