"""GraphBuilder: how every frontend writes `ov` IR.

A frontend adds inputs, constants and ops in topological order and names the outputs; the
builder infers result types (through `dialects.ov.create`), records layer and tensor names
and wraps everything in a `func.func @main` inside a `builtin.module`.

Names live in the IR: `ov.names` on func arguments and results (the model's input and output
tensor names), `ov.name` (layer name) and `ov.tensor_names` (one list per result) on ops."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ArrayAttr, DictionaryAttr, ModuleOp, StringAttr
from xdsl.ir import Block, Operation, OpResult, Region, SSAValue

from dialects.errors import ConversionError, ShapeError
from dialects.ov import Const, OvOp, constant_of, create, dtype_of, fully_known, is_static, shape_of, tensor_type
from dialects.ov.base import Dim, TensorInfo, names_attr

NAMES = "ov.names"
LAYER_NAME = "ov.name"
TENSOR_NAMES = "ov.tensor_names"


def layer_name(op: Operation) -> str | None:
    a = op.attributes.get(LAYER_NAME)
    return a.data if isinstance(a, StringAttr) else None


def set_layer_name(op: Operation, name: str) -> None:
    op.attributes[LAYER_NAME] = StringAttr(name)


def tensor_names(op: Operation, i: int) -> list[str]:
    a = op.attributes.get(TENSOR_NAMES)
    if not isinstance(a, ArrayAttr) or i >= len(a.data):
        return []
    return [s.data for s in a.data[i].data]


def add_tensor_name(value: SSAValue, name: str) -> None:
    """Attach a tensor name to an op result (block arguments carry theirs in arg_attrs)."""
    op = getattr(value, "op", None)
    if op is None:
        return
    n = len(op.results)
    cur = [tensor_names(op, i) for i in range(n)]
    if name not in cur[value.index]:
        cur[value.index].append(name)
    op.attributes[TENSOR_NAMES] = ArrayAttr([names_attr(c) for c in cur])


def _hint(name: str) -> str | None:
    s = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return s if s and not s[0].isdigit() and s.isidentifier() else None


EAGER_FOLD_ELEMENTS = 4096


def static_value(v: SSAValue, depth: int = 16) -> np.ndarray | None:
    """The value of `v` if it can be computed at conversion time: a constant, a fully known
    shape computation, or a small op whose inputs are all such values (e.g. reduction axes
    built as `Range(1, Size(Shape(x)))` on a static `x`). Only a converter that needs a value
    fixed (an attribute) asks for it, so the graph itself keeps its shape subgraphs."""
    known = fully_known(v)
    if known is not None or depth == 0 or not isinstance(v, OpResult) or not isinstance(v.op, OvOp):
        return known
    op = v.op
    values = []
    for x in op.inputs:
        k = static_value(x, depth - 1)
        if k is None:
            return None
        values.append(k)
    try:  # the output shapes these values give, before computing anything
        outs = type(op).infer(op.attr, [TensorInfo(k.shape, k.dtype, value=k) for k in values])
    except (ShapeError, NotImplementedError):
        return None
    if not all(is_static(s) and np.prod(s, dtype=np.int64) <= EAGER_FOLD_ELEMENTS for s, _ in outs):
        return None
    from runtime.interpreter import evaluate

    return np.asarray(evaluate(op, values)[v.index])


class Folded:
    """Stands for an op computed at conversion time: just its (constant) outputs."""

    def __init__(self, outputs: list[SSAValue]):
        self.outputs = outputs


class GraphBuilder:
    def __init__(self) -> None:
        self.block = Block()
        self.input_names: list[list[str]] = []
        self._consts: dict[tuple, SSAValue] = {}

    def add_input(self, names: Sequence[str], shape: Sequence[Dim], dtype: Any) -> SSAValue:
        arg = self.block.insert_arg(tensor_type(shape, dtype), len(self.block.args))
        self.input_names.append(list(names))
        if names:
            arg.name_hint = _hint(names[0])
        return arg

    def const(self, value: Any, dtype: Any = None) -> SSAValue:
        """A constant; small ones are shared (same dtype, shape and bytes)."""
        arr = np.asarray(value, dtype=dtype)
        if arr.dtype == np.float64 and dtype is None and not isinstance(value, np.ndarray):
            arr = arr.astype(np.float32)
        key = None
        if arr.size <= 16:
            key = (arr.dtype.str, arr.shape, arr.tobytes())
            if key in self._consts:
                return self._consts[key]
        op = Const(arr)
        self.block.add_op(op)
        if key is not None:
            self._consts[key] = op.output
        return op.output

    def op(self, op_type: str, inputs: Sequence[SSAValue], **attrs: Any) -> OvOp | Folded:
        """A new op; one whose inputs are all constant and whose outputs are small is computed
        right away (as OpenVINO's frontends do), so that shape inference downstream sees values."""
        try:
            op = create(op_type, list(inputs), **attrs)
        except ShapeError as e:
            raise ConversionError(str(e)) from e
        values = [constant_of(v) for v in inputs]
        from passes.fold_constants import is_decompression

        if inputs and all(v is not None for v in values) and not is_decompression(op) and all(
                is_static(shape_of(r.type)) and np.prod(shape_of(r.type), dtype=np.int64) <= EAGER_FOLD_ELEMENTS
                for r in op.outputs):
            from runtime.interpreter import evaluate

            outs = evaluate(op, values)
            op.drop_all_references()  # the op never enters the block: release its operands
            return Folded([self.const(v) for v in outs])
        self.block.add_op(op)
        return op

    def out(self, op_type: str, inputs: Sequence[SSAValue], **attrs: Any) -> SSAValue:
        """The single result of a new op."""
        return self.op(op_type, inputs, **attrs).outputs[0]

    def add(self, op: Operation) -> Operation:
        self.block.add_op(op)
        return op

    def finish(self, outputs: Sequence[tuple[SSAValue, Sequence[str]]], name: str = "main") -> ModuleOp:
        self.block.add_op(func.ReturnOp(*[v for v, _ in outputs]))
        fn = func.FuncOp(name, ([a.type for a in self.block.args], [v.type for v, _ in outputs]),
                         Region(self.block))
        fn.arg_attrs = ArrayAttr([DictionaryAttr({NAMES: names_attr(n)}) for n in self.input_names])
        fn.res_attrs = ArrayAttr([DictionaryAttr({NAMES: names_attr(n)}) for _, n in outputs])
        return ModuleOp([fn])


class FrontendContext:
    """What every frontend's conversion context offers its converters: the builder `b`, and
    shorthands for constants and for the static type of a value."""

    b: GraphBuilder

    def const(self, value: Any, dtype: Any = None) -> SSAValue:
        return self.b.const(value, dtype)

    def i64(self, values: Any) -> SSAValue:
        return self.b.const(np.asarray(values, dtype=np.int64))

    @staticmethod
    def shape(v: SSAValue) -> tuple:
        return shape_of(v.type)

    @staticmethod
    def dtype(v: SSAValue) -> np.dtype:
        return dtype_of(v.type)

    def rank(self, v: SSAValue) -> int:
        return len(shape_of(v.type))

    @staticmethod
    def known(v: SSAValue | None) -> np.ndarray | None:
        """The value of `v` if it is known at conversion time (see `static_value`)."""
        return None if v is None else static_value(v)


def name_ops_since(b: GraphBuilder, before: Operation | None, base: str) -> None:
    """Layer names for the ops one source node became: the last gets the node's name, the
    others the name plus their op type and position."""
    ops = []
    op = before.next_op if before is not None else b.block.first_op
    while op is not None:
        ops.append(op)
        op = op.next_op
    for i, op in enumerate(ops):
        set_layer_name(op, base if i == len(ops) - 1 else f"{base}/{op.name.split('.', 1)[-1]}_{i}")
