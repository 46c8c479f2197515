"""The `input=` argument of convert_model and `--input` of the driver, in OpenVINO's forms:
"x[1,3,224,224]", "x[?,3,-1,224]{f32},mask[1,128]{i64}", [1, 3, 224, 224], ("x", [1, 3]),
[("x", [1, 3], np.float32), "y"], {"x": [1, 3]}, {"x": ([1, 3], "f32")}; a numpy array as the
value in the dict form freezes that input to a constant: {"axes": np.array([0, 1])}, and so does
the Model Optimizer's "->value" in a string ("axes[2]{i64}->[0 1]", "is_training->False").
Names may carry the Model Optimizer's ports: "0:node" (input port 0 of node), "node:1" (its
output 1); each frontend resolves them (compiler/frontends/cut.py)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dialects.errors import InputError
from dialects.ov import Dim, format_shape, np_dtype


@dataclass(frozen=True)
class InputSpec:
    name: str | None
    shape: tuple[Dim, ...] | None = None
    dtype: np.dtype | None = None
    value: np.ndarray | None = None  # freeze the input to this constant

    def frozen(self, dtype: np.dtype) -> np.ndarray:
        """The frozen value, of this spec's type or else of the input's own type `dtype`."""
        v = np.asarray(self.value)
        if self.dtype is None:
            v = v.astype(dtype)
        if self.shape is not None and None not in self.shape and v.shape != tuple(self.shape):
            if v.size != int(np.prod(self.shape, dtype=np.int64)):
                raise InputError(f"input {self.name!r}: the value has {v.size} elements, the shape "
                                 f"{format_shape(self.shape)} needs {int(np.prod(self.shape, dtype=np.int64))}")
            v = v.reshape(self.shape)
        return v

    def resolve(self, name: str, shape: Sequence[Dim] | None, dtype: np.dtype) -> tuple[list[Dim], np.dtype]:
        """The shape and type of input `name` after this override."""
        if self.shape is None:
            if shape is None:
                raise InputError(f"input {name!r}: a shape is needed to cut the graph there")
            new_shape = list(shape)
        else:
            if shape is not None and len(shape) != len(self.shape):
                raise InputError(f"input {name!r}: shape {format_shape(self.shape)} has rank {len(self.shape)}, "
                                 f"the model's input has rank {len(shape)} ({format_shape(shape)})")
            new_shape = list(self.shape)
        return new_shape, self.dtype if self.dtype is not None else dtype


def _dim(tok: Any) -> Dim:
    if tok is None:
        return None
    if hasattr(tok, "to_dim"):  # a compiler.Dimension (bounds are dropped: the dim is dynamic)
        return tok.to_dim()
    if isinstance(tok, str):
        t = tok.strip()
        if t in ("?", "-1", "") or ".." in t:
            return None
        return int(t)
    v = int(tok)
    return None if v < 0 else v


def _shape(v: Any) -> tuple[Dim, ...]:
    if isinstance(v, str):  # "[1,3,224,224]", the Model Optimizer's "[1 3 224 224]" and "(1,3)"
        v = v.strip().strip("[]()")
        return tuple(_dim(t) for t in re.split(r"[,\s]+", v.strip())) if v.strip() else ()
    if hasattr(v, "__iter__"):
        return tuple(_dim(d) for d in v)
    raise InputError(f"cannot read {v!r} as a shape")


def _dtype(v: Any) -> np.dtype | None:
    if v is None:
        return None
    try:
        return np_dtype(v.strip().lower() if isinstance(v, str) else v)
    except Exception as e:
        raise InputError(f"unknown element type {v!r}") from e


_SPEC = re.compile(r"\s*([^\[\]{},]+?)?\s*(\[[^\]]*\])?\s*(\{[^}]*\})?\s*"
                   r"(?:->\s*(\[[^\]]*\]|[^,\[\]]+?))?\s*(?:,|$)")


def _literal(tok: str) -> Any:
    t = tok.strip()
    if t.lower() in ("true", "false"):
        return t.lower() == "true"
    try:
        return int(t)
    except ValueError:
        try:
            return float(t)
        except ValueError:
            raise InputError(f"cannot read {tok!r} as a value to freeze an input with") from None


def _value(text: str, dtype: np.dtype | None) -> np.ndarray:
    """A "->" value: "150", "False", "[20 15]" or "[20,15]"."""
    t = text.strip()
    items = [x for x in re.split(r"[,\s]+", t.strip("[]").strip()) if x] if t.startswith("[") else [t]
    arr = np.array([_literal(x) for x in items])
    if not t.startswith("["):
        arr = arr.reshape(())
    return arr.astype(dtype) if dtype is not None else arr


def parse_input_string(s: str) -> list[InputSpec]:
    out = []
    pos = 0
    while pos < len(s):
        m = _SPEC.match(s, pos)
        if not m or m.end() == pos:
            raise InputError(f"cannot parse input specification {s!r} near {s[pos:]!r}")
        name, shape, dtype, value = m.group(1), m.group(2), m.group(3), m.group(4)
        dt = _dtype(dtype.strip("{}")) if dtype else None
        out.append(InputSpec(name.strip() if name else None, _shape(shape) if shape else None, dt,
                             _value(value, dt) if value is not None else None))
        pos = m.end()
    return out


def parse_inputs(arg: Any) -> list[InputSpec]:
    if arg is None:
        return []
    if isinstance(arg, InputSpec):
        return [arg]
    if isinstance(arg, str):
        return parse_input_string(arg)
    if isinstance(arg, dict):
        out = []
        for name, v in arg.items():
            if isinstance(v, np.ndarray):
                out.append(InputSpec(name, tuple(v.shape), v.dtype, v))
            elif isinstance(v, tuple) and len(v) == 2 and not isinstance(v[1], int | type(None)):
                out.append(InputSpec(name, _shape(v[0]), _dtype(v[1])))
            else:
                out.append(InputSpec(name, _shape(v)))
        return out
    if isinstance(arg, tuple) and arg and isinstance(arg[0], str) and len(arg) <= 3 and (
            len(arg) == 1 or not isinstance(arg[1], str)):  # one ("name", shape[, type])
        return parse_inputs([arg])
    if isinstance(arg, list | tuple):
        if all(isinstance(d, int | type(None)) for d in arg) and arg:
            return [InputSpec(None, _shape(arg))]
        out = []
        for item in arg:
            if isinstance(item, InputSpec):
                out.append(item)
            elif isinstance(item, str):
                out.extend(parse_input_string(item))
            elif isinstance(item, tuple) and item and isinstance(item[0], str):
                out.append(InputSpec(item[0], _shape(item[1]) if len(item) > 1 else None,
                                     _dtype(item[2]) if len(item) > 2 else None))
            elif isinstance(item, list | tuple):
                out.append(InputSpec(None, _shape(item)))
            else:
                raise InputError(f"cannot read {item!r} as an input specification")
        return out
    raise InputError(f"cannot read {arg!r} as an input specification")
