"""Building `ov` ops from Python, as OpenVINO's `opsetN` factory modules do: for a preprocessing
`custom` step and for the functions of `ConversionExtension`s.

    import compiler.opset as ops
    ppp.input().preprocess().custom(lambda x: ops.abs(x))
    ConversionExtension("MyRelu", lambda node: ops.relu(node.get_input(0)))

Every `ov` op is a factory named in snake case (`ops.max_pool`, `ops.matmul`, `ops.relu`,
`ops.soft_max` or `ops.softmax`); positional arguments are the op's inputs (numpy arrays and
Python numbers become constants), then its attributes in the order the op declares them;
keywords are attributes by their opset names. Ops are built where the caller asked (ops exist
only inside a step or a conversion being run); a factory called anywhere else says so.

`Output` is one result of an op (OpenVINO's `Output<Node>`), `Node` the op itself."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from xdsl.ir import Block, Operation, SSAValue

from compiler.frontends.builder import layer_name, set_layer_name, tensor_names
from dialects.errors import ConversionError, ShapeError
from dialects.ov import OPS, Const, OvOp, create, dtype_of, shape_of
from dialects.ov.element_type import Type


class InsertBuilder:
    """Adds ops to an existing block before `anchor` (or at its end): the builder of graph
    edits (preprocessing), with GraphBuilder's `op`/`out`/`const`."""

    def __init__(self, block: Block, anchor: Operation | None):
        self.block = block
        self.anchor = anchor

    def add(self, op: Operation) -> Operation:
        if self.anchor is None:
            self.block.add_op(op)
        else:
            self.block.insert_op_before(op, self.anchor)
        return op

    def op(self, op_type: str, inputs: Sequence[SSAValue], **attrs: Any) -> OvOp:
        try:
            return self.add(create(op_type, list(inputs), **attrs))  # type: ignore[return-value]
        except ShapeError as e:
            raise ConversionError(str(e)) from None

    def out(self, op_type: str, inputs: Sequence[SSAValue], **attrs: Any) -> SSAValue:
        return self.op(op_type, inputs, **attrs).outputs[0]

    def const(self, value: Any, dtype: Any = None) -> SSAValue:
        arr = np.asarray(value, dtype=dtype)
        if arr.dtype == np.float64 and dtype is None and not isinstance(value, np.ndarray):
            arr = arr.astype(np.float32)
        return self.add(Const(arr)).output

    def i64(self, values: Any) -> SSAValue:
        return self.const(np.asarray(values, np.int64))


_STATE = threading.local()


@contextlib.contextmanager
def building(builder: Any) -> Iterator[None]:
    """Within this block, factories add their ops with `builder` (a GraphBuilder or an
    InsertBuilder)."""
    stack = _STATE.__dict__.setdefault("stack", [])
    stack.append(builder)
    try:
        yield
    finally:
        stack.pop()


def current_builder() -> Any:
    stack = getattr(_STATE, "stack", None)
    if not stack:
        raise ConversionError("compiler.opset: ops can only be built inside a preprocessing custom step or an "
                              "extension's conversion function")
    return stack[-1]


class Output:
    """One result of an op: OpenVINO's `Output<Node>`."""

    def __init__(self, value: SSAValue):
        self.value = value

    def get_node(self) -> Node:
        op = getattr(self.value, "op", None)
        if op is None:
            raise ConversionError("this output is a model input (a Parameter), not the result of an op")
        return Node(op)

    @property
    def node(self) -> Node:
        return self.get_node()

    def get_index(self) -> int:
        return getattr(self.value, "index", 0)

    def get_partial_shape(self):
        from compiler.model import PartialShape

        return PartialShape(shape_of(self.value.type))

    def get_shape(self) -> tuple[int, ...]:
        return self.get_partial_shape().to_shape()

    @property
    def shape(self) -> tuple[int, ...]:
        return self.get_shape()

    def get_element_type(self) -> Type:
        return Type(dtype_of(self.value.type))

    @property
    def element_type(self) -> Type:
        return self.get_element_type()

    def get_names(self) -> set[str]:
        op = getattr(self.value, "op", None)
        return set(tensor_names(op, self.value.index)) if op is not None else set()

    def get_any_name(self) -> str:
        names = sorted(self.get_names())
        if not names:
            raise ConversionError("this tensor has no name")
        return names[0]

    def __repr__(self) -> str:
        return f"<Output: {self.get_partial_shape()} {self.get_element_type().get_type_name()}>"


class Node:
    """An op, as OpenVINO's `Node`; where one output is wanted, a one-output Node stands for it."""

    def __init__(self, op: Operation):
        self.op = op

    def output(self, i: int = 0) -> Output:
        return Output(self.op.results[i])

    def outputs(self) -> list[Output]:
        return [Output(r) for r in self.op.results]

    def get_output_size(self) -> int:
        return len(self.op.results)

    def get_input_size(self) -> int:
        return len(self.op.operands)

    def input_value(self, i: int) -> Output:
        return Output(self.op.operands[i])

    def get_type_name(self) -> str:
        return getattr(self.op, "IR_TYPE", self.op.name)

    def get_friendly_name(self) -> str:
        return layer_name(self.op) or self.get_type_name()

    def set_friendly_name(self, name: str) -> None:
        set_layer_name(self.op, name)

    def get_output_partial_shape(self, i: int = 0):
        return self.output(i).get_partial_shape()

    def get_output_element_type(self, i: int = 0) -> Type:
        return self.output(i).get_element_type()

    def get_attributes(self) -> dict[str, Any]:
        return dict(vars(self.op.attr)) if isinstance(self.op, OvOp) else {}

    def __repr__(self) -> str:
        return f"<Node: {self.get_type_name()} '{self.get_friendly_name()}'>"


def value_of(x: Any, builder: Any = None, dtype: Any = None) -> SSAValue:
    """An SSA value for an input given as an Output, a one-output Node, a custom Op, an SSA
    value, or a constant (numpy array, Python number or list)."""
    if isinstance(x, Output):
        return x.value
    if isinstance(x, Node) or hasattr(x, "_ovcc_node"):
        node = x if isinstance(x, Node) else x._ovcc_node()
        if node.get_output_size() != 1:
            raise ConversionError(f"{node.get_type_name()} has {node.get_output_size()} outputs; pick one with "
                                  ".output(i)")
        return node.op.results[0]
    if isinstance(x, SSAValue):
        return x
    b = builder or current_builder()
    # Python numbers and lists stay as the builders take them (floats become f32)
    return b.const(x if dtype is None else np.asarray(x, dtype=dtype))


def _op_type(name: str) -> str | None:
    key = name.replace("_", "").lower()
    for t in OPS:
        if t.lower() == key:
            return t
    return None


def make(op_type: str, *args: Any, name: str | None = None, **attrs: Any) -> Node:
    """The factory behind every op: inputs first, then attributes (see the module docstring)."""
    cls = OPS[op_type]
    lo, hi = cls.arity(cls.INPUTS)
    variadic = hi is None
    inputs: list[Any] = []
    rest = list(args)
    if variadic and rest and isinstance(rest[0], list | tuple) and not isinstance(rest[0], np.ndarray) and \
            all(isinstance(v, Output | Node) for v in rest[0]):
        inputs, rest = list(rest[0]), rest[1:]
    else:
        n_in = len(rest) if variadic else min(len(rest), hi)
        # a string or Type is never an input: it starts the attributes
        for i, a in enumerate(rest[:n_in]):
            if isinstance(a, str | Type) or (i >= lo and a is None):
                n_in = i
                break
        inputs, rest = rest[:n_in], rest[n_in:]
    names = list(cls.ATTRS)
    if len(rest) > len(names):
        raise ConversionError(f"{op_type}: {len(rest)} attribute values given, it has {len(names)} "
                              f"({', '.join(names)})")
    for n, v in zip(names, rest):
        attrs.setdefault(n, v)
    attrs = {k: (v.to_dtype() if isinstance(v, Type) else v) for k, v in attrs.items()}
    b = current_builder()
    values = [value_of(x, b) for x in inputs if x is not None]
    op = b.op(op_type, values, **attrs)
    if not isinstance(op, Operation):  # GraphBuilder folded it: its outputs are constants
        return Node(op.outputs[0].op) if len(op.outputs) == 1 else _Folded(op.outputs)
    if name:
        set_layer_name(op, name)
    return Node(op)


class _Folded(Node):
    """The constant outputs of an op a builder computed right away."""

    def __init__(self, outputs: list[SSAValue]):
        super().__init__(outputs[0].op)
        self._outs = outputs

    def output(self, i: int = 0) -> Output:
        return Output(self._outs[i])

    def outputs(self) -> list[Output]:
        return [Output(v) for v in self._outs]

    def get_output_size(self) -> int:
        return len(self._outs)


def constant(value: Any, dtype: Any = None, name: str | None = None) -> Node:
    b = current_builder()
    v = b.const(np.asarray(value, dtype=Type(dtype).to_dtype() if dtype is not None else None))
    if name:
        set_layer_name(v.op, name)
    return Node(v.op)


def __getattr__(name: str) -> Any:
    op_type = _op_type(name)
    if op_type is None or name.startswith("__"):
        raise AttributeError(f"compiler.opset has no op {name!r}")

    def factory(*args: Any, **kwargs: Any) -> Node:
        return make(op_type, *args, **kwargs)

    factory.__name__ = name
    factory.__doc__ = f"Build an `ov.{op_type}` op (inputs {', '.join(OPS[op_type].INPUTS)}; attributes " \
                      f"{', '.join(OPS[op_type].ATTRS) or 'none'})."
    return factory


__all__ = ["InsertBuilder", "Node", "Output", "building", "constant", "current_builder", "make", "value_of"]
