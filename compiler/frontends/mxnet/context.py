"""The state of one MXNet symbol conversion and the table of op converters.

A converter is `fn(ctx, node, ins) -> list[SSAValue]`, registered in `OPS` under the MXNet op
name (aliases registered together); `ins` holds the node's inputs (parameters as constants) and
the result one value per output of the op. Attributes are read with `ctx.int/float/bool/tuple`,
which apply MXNet's defaults and name the node when a value does not parse."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from xdsl.ir import SSAValue

from compiler.frontends.builder import FrontendContext, GraphBuilder
from compiler.frontends.mxnet.symbol import Node, parse_bool, parse_tuple
from dialects.errors import ConversionError
from dialects.registry import Registry

Converter = Callable[["MxContext", Node, list[SSAValue]], list[SSAValue]]
OPS: Registry[Converter] = Registry("MXNet op")


def register(*names: str) -> Callable[[Converter], Converter]:
    def deco(fn: Converter) -> Converter:
        for n in names:
            OPS.add(n, fn)
        return fn
    return deco


_NONE = object()


class MxContext(FrontendContext):
    def __init__(self, where: str):
        self.b = GraphBuilder()
        self.where = where

    def error(self, node: Node, msg: str) -> ConversionError:
        return ConversionError(f"{self.where}: node {node.name!r} ({node.op}): {msg}")

    def _get(self, node: Node, key: str, default: Any, parse: Callable[[str], Any]) -> Any:
        s = node.attrs.get(key)
        if s is None or (s.strip() == "None" and parse is not parse_tuple):
            if default is _NONE:
                raise self.error(node, f"attribute {key!r} is required")
            return default
        try:
            return parse(s)
        except (ValueError, TypeError) as e:
            raise self.error(node, f"attribute {key}={s!r} does not parse: {e}") from e

    def int(self, node: Node, key: str, default: Any = _NONE) -> Any:
        return self._get(node, key, default, lambda s: int(float(s)) if "." in s or "e" in s.lower() else int(s))

    def float(self, node: Node, key: str, default: Any = _NONE) -> Any:
        return self._get(node, key, default, float)

    def bool(self, node: Node, key: str, default: Any = _NONE) -> Any:
        return self._get(node, key, default, parse_bool)

    def str(self, node: Node, key: str, default: Any = _NONE) -> Any:
        return self._get(node, key, default, lambda s: s.strip().strip("'\""))

    def tuple(self, node: Node, key: str, default: Any = _NONE) -> Any:
        return self._get(node, key, default, parse_tuple)

    def axis(self, node: Node, axis: int, rank: int) -> int:
        if not -rank <= axis < rank:
            raise self.error(node, f"axis {axis} is out of range for an input of rank {rank}")
        return axis + rank if axis < 0 else axis

    def static_shape(self, node: Node, v: SSAValue) -> tuple[int, ...]:
        s = self.shape(v)
        if None in s:
            raise self.error(node, f"needs a static input shape, got {list(s)}")
        return s

    def scalar(self, v: float, like: SSAValue) -> SSAValue:
        return self.const(np.asarray(v, dtype=self.dtype(like)))

    def param(self, node: Node, v: SSAValue, what: str) -> np.ndarray:
        """The value of a parameter input (a constant)."""
        k = self.known(v)
        if k is None:
            raise self.error(node, f"its {what} must be a parameter stored in the .params file")
        return k


__all__ = ["OPS", "MxContext", "register"]
