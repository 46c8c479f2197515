"""The state of one Paddle program conversion, the op form converters read, and their table.

Both program forms become a list of `Node`s in the legacy (ProgramDesc) op vocabulary: an op
type, its inputs and outputs by slot name (each a list of variable names), its attributes. PIR
programs are mapped onto it by `pir` (their tensor operands that the legacy op holds as an
attribute, such as pool2d's kernel size, get a slot named after that attribute; `ints` reads
either). A converter is `fn(ctx, node) -> {output slot: value or list of values}`, registered
in `OPS` under the legacy op type."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from xdsl.ir import SSAValue

from compiler.frontends.builder import FrontendContext, GraphBuilder
from dialects.errors import ConversionError
from dialects.ov import format_shape
from dialects.registry import Registry


@dataclass
class Node:
    type: str
    inputs: dict[str, list[str]]
    outputs: dict[str, list[str]]
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        for names in self.outputs.values():
            if names:
                return names[0]
        return self.type


@dataclass
class Program:
    """A program ready to convert: its ops in order, its inputs (name, shape, dtype), its outputs
    (variable names, in fetch order) and its parameters (name -> array)."""

    nodes: list[Node]
    feeds: list[tuple[str, list[int], np.dtype]]
    fetches: list[str]
    params: dict[str, np.ndarray]


Converter = Callable[["PaddleContext", Node], dict[str, Any]]
OPS: Registry[Converter] = Registry("Paddle op")


class PaddleContext(FrontendContext):
    def __init__(self, where: str):
        self.b = GraphBuilder()
        self.where = where
        self.values: dict[str, SSAValue] = {}
        self.nodes: list[Node] = []  # the whole program, for converters that look at its users

    def error(self, node: Node, msg: str) -> ConversionError:
        return ConversionError(f"{self.where}: op {node.type} ({node.name}): {msg}")

    # --- inputs and attributes -----------------------------------------------------------
    def ins(self, node: Node, slot: str) -> list[SSAValue]:
        return [self.values[n] for n in node.inputs.get(slot, [])]

    def inp(self, node: Node, slot: str) -> SSAValue | None:
        vals = self.ins(node, slot)
        return vals[0] if vals else None

    def x(self, node: Node, slot: str = "X") -> SSAValue:
        v = self.inp(node, slot)
        if v is None:
            raise self.error(node, f"has no input {slot}")
        return v

    @staticmethod
    def attr(node: Node, name: str, default: Any = None) -> Any:
        v = node.attrs.get(name)
        return default if v is None else v

    def known_input(self, node: Node, *slots: str) -> np.ndarray | None:
        """The value of the first of `slots` that the node has: one tensor, or a list of
        one-element tensors concatenated; None if none is given. Raises if it is not known."""
        for slot in slots:
            vals = self.ins(node, slot)
            if not vals:
                continue
            known = [self.known(v) for v in vals]
            if any(k is None for k in known):
                raise self.error(node, f"needs its input {slot} known at conversion time")
            return np.concatenate([np.asarray(k).reshape(-1) for k in known]) if len(known) > 1 \
                else np.asarray(known[0])
        return None

    def ints(self, node: Node, attr: str, *slots: str, default: Any = None) -> list[int]:
        """A list of integers given by a tensor input (`slots`, or the slot named like the
        attribute, as the PIR mapping names them) or else by the attribute."""
        k = self.known_input(node, *(slots or ()), attr)
        if k is not None:
            return [int(v) for v in np.asarray(k).reshape(-1)]
        v = self.attr(node, attr, default)
        if v is None:
            raise self.error(node, f"has no {attr}")
        return [int(i) for i in (v if isinstance(v, list | tuple) else [v])]

    def scalar(self, node: Node, attr: str, slot: str | None = None, default: Any = None) -> float:
        k = self.known_input(node, slot or attr)
        if k is not None:
            return float(np.asarray(k).reshape(-1)[0])
        return float(self.attr(node, attr, default))

    def static_shape(self, node: Node, v: SSAValue) -> tuple[int, ...]:
        shape = self.shape(v)
        if None in shape:
            raise self.error(node, f"needs a static input shape, got {format_shape(shape)}")
        return shape

    def axis(self, node: Node, axis: int, rank: int) -> int:
        if not -rank <= axis < max(rank, 1):
            raise self.error(node, f"axis {axis} is out of range for an input of rank {rank}")
        return axis + rank if axis < 0 else axis

    def to_nchw(self, v: SSAValue) -> SSAValue:
        r = self.rank(v)
        return self.b.out("Transpose", [v, self.i64([0, r - 1, *range(1, r - 1)])])

    def from_nchw(self, v: SSAValue) -> SSAValue:
        r = self.rank(v)
        return self.b.out("Transpose", [v, self.i64([0, *range(2, r), 1])])


__all__ = ["OPS", "Node", "PaddleContext", "Program"]
