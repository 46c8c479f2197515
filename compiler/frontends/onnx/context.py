"""The state of one ONNX graph conversion and the table of op converters.

A converter is `fn(ctx, node, ins) -> list[SSAValue | None]`, registered with `@onnx_op(...)`;
`ins` holds the node's inputs (None for an omitted optional input) and the result lists the
node's outputs in order. Converters build `ov` ops through `ctx.b` (a GraphBuilder)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper
from xdsl.ir import SSAValue

from compiler.frontends.builder import FrontendContext, GraphBuilder
from dialects.errors import ConversionError

Converter = Callable[["OnnxContext", onnx.NodeProto, list], list]
CONVERTERS: dict[tuple[str, str], Converter] = {}  # (domain, op_type) -> converter


def onnx_op(*names: str, domain: str = "") -> Callable[[Converter], Converter]:
    def register(fn: Converter) -> Converter:
        for n in names:
            CONVERTERS[(domain, n)] = fn
        return fn
    return register


def np_dtype_of_onnx(elem_type: int, where: str) -> np.dtype:
    try:
        d = np.dtype(helper.tensor_dtype_to_np_dtype(elem_type))
    except Exception as e:
        raise ConversionError(f"{where}: unsupported ONNX element type {elem_type}") from e
    if d.kind not in "fiub":
        raise ConversionError(f"{where}: unsupported ONNX element type {d}")
    return d


def tensor_to_numpy(t: onnx.TensorProto, where: str) -> np.ndarray:
    if t.data_location == onnx.TensorProto.EXTERNAL or t.external_data:
        # numpy_helper would read it relative to the current directory: only the loader, which
        # knows the model's directory and checks the path, may read external data
        raise ConversionError(f"{where}: tensor {t.name!r} refers to external data that was not loaded")
    if t.data_type not in onnx.helper.get_all_tensor_dtypes():
        raise ConversionError(f"{where}: tensor {t.name!r} has an unknown data type {t.data_type}")
    try:
        arr = numpy_helper.to_array(t)
    except Exception as e:
        raise ConversionError(f"{where}: tensor {t.name!r} cannot be read ({e})") from e
    if arr.dtype.kind not in "fiub":
        raise ConversionError(f"{where}: tensor {t.name!r} has unsupported type {arr.dtype}")
    dims = tuple(t.dims)
    if arr.shape != dims:
        if arr.size != int(np.prod(dims, dtype=np.int64)):
            raise ConversionError(f"{where}: tensor {t.name!r} holds {arr.size} values for shape {list(dims)}")
        arr = arr.reshape(dims)
    return arr


class OnnxContext(FrontendContext):
    def __init__(self, builder: GraphBuilder, opsets: dict[str, int], where: str):
        self.b = builder
        self.opsets = opsets
        self.where = where
        self.values: dict[str, SSAValue] = {}
        self.inits: dict[str, onnx.TensorProto] = {}  # initializers in scope (a subgraph sees its parents')

    @property
    def opset(self) -> int:
        return self.opsets.get("", self.opsets.get("ai.onnx", 1))

    def error(self, node: onnx.NodeProto, msg: str) -> ConversionError:
        return ConversionError(f"{self.where}: node {node.name or node.output[0]!r} ({node.op_type}): {msg}")

    # --- attributes ---------------------------------------------------------------------
    @staticmethod
    def attrs(node: onnx.NodeProto) -> dict[str, Any]:
        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    @staticmethod
    def attr(node: onnx.NodeProto, name: str, default: Any = None) -> Any:
        for a in node.attribute:
            if a.name == name:
                v = helper.get_attribute_value(a)
                return v.decode() if isinstance(v, bytes) else v
        return default

    # --- values -------------------------------------------------------------------------
    def need_const(self, node: onnx.NodeProto, v: SSAValue | None, what: str) -> np.ndarray:
        k = self.known(v)
        if k is None:
            raise self.error(node, f"{what} must be constant")
        return k

