"""`ov.Const`: a constant tensor whose data are raw little-endian bytes.

Weights are never unpacked into Python objects: the data live in one `BytesAttr`, numpy views
them without copying, and the textual form is one hex string (printing and parsing cost one
`bytes.hex` / `bytes.fromhex`)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from xdsl.dialects.builtin import BytesAttr, TensorType
from xdsl.irdl import IRDLOperation, irdl_op_definition, prop_def, result_def, traits_def
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.traits import ConstantLike, Pure
from xdsl.utils.exceptions import VerifyException

from dialects.ov.base import OPS, OvOp, dtype_of, format_shape, is_static, shape_of, tensor_type


@irdl_op_definition
class Const(IRDLOperation):
    """A constant tensor (opset1 `Const` layer)."""

    name = "ov.Const"
    IR_TYPE: ClassVar[str] = "Const"
    OPSET: ClassVar[str] = "opset1"
    INPUTS: ClassVar[tuple[str, ...]] = ()
    OUTPUTS: ClassVar[tuple[str, ...]] = ("output",)
    ATTRS: ClassVar[dict] = {}

    value = prop_def(BytesAttr)
    output = result_def(TensorType)
    traits = traits_def(Pure(), ConstantLike())

    def __init__(self, array: np.ndarray):
        array = np.require(array, requirements="C")
        super().__init__(properties={"value": BytesAttr(array.tobytes())},
                         result_types=[tensor_type(array.shape, array.dtype)])

    @property
    def outputs(self):  # the uniform accessor every ov op has
        return self.results

    @property
    def inputs(self):
        return self.operands

    @property
    def array(self) -> np.ndarray:
        """The data, as a read-only numpy view (no copy)."""
        t = self.output.type
        return np.frombuffer(self.value.data, dtype=dtype_of(t)).reshape(shape_of(t))

    def verify_(self) -> None:
        shape = shape_of(self.output.type)
        if not is_static(shape):
            raise VerifyException(f"Const: shape {format_shape(shape)} must be static")
        need = int(np.prod(shape, dtype=np.int64)) * dtype_of(self.output.type).itemsize
        if len(self.value.data) != need:
            raise VerifyException(f"Const: {len(self.value.data)} bytes of data for "
                                  f"{format_shape(shape)} {dtype_of(self.output.type)} ({need} bytes)")

    def print(self, printer: Printer) -> None:
        printer.print_string(' "0x' + self.value.data.hex().upper() + '"')
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        printer.print_attribute(self.output.type)

    @classmethod
    def parse(cls, parser: Parser) -> Const:
        text = parser.parse_str_literal("hex data of the constant")
        attrs = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        t = parser.parse_type()
        if not text.startswith("0x"):
            parser.raise_error("ov.Const data must be a hex string starting with 0x")
        op = cls.create(properties={"value": BytesAttr(bytes.fromhex(text[2:]))}, result_types=[t],
                        attributes=attrs)
        return op


OPS["Const"] = Const  # type: ignore[assignment]


def const_value(op: IRDLOperation) -> np.ndarray | None:
    return op.array if isinstance(op, Const) else None


__all__ = ["Const", "const_value", "OvOp"]
