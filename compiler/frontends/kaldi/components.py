"""A Kaldi component as read from a file: its type, its name and the `<Token> value...`
items of its body, with typed accessors for the converters.

Bodies are read generically (every value announces its kind, see `stream`), so the many
optional fields that Kaldi versions added and dropped over the years need no code; only the
fields holding integer vectors must be known by name, since in binary an integer vector does
not announce itself."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from compiler.frontends.kaldi.stream import Flag, KaldiStream, Scalar
from dialects.errors import ModelFileError

# fields whose value is an integer vector (SumGroup sizes, nnet2 splice context, TDNN time
# offsets, permutations)
INT_VECTOR_FIELDS = frozenset({"<Sizes>", "<Context>", "<TimeOffsets>", "<ColumnMap>", "<Reorder>"})


@dataclass
class Component:
    """`kind` is the type without brackets ("AffineComponent", nnet1's "AffineTransform");
    `fields` maps each `<Token>` of the body to the values after it; `bare` holds values
    that follow no token (nnet1 keeps its weights that way)."""

    kind: str
    name: str
    where: str
    fields: dict[str, list] = field(default_factory=dict)
    bare: list = field(default_factory=list)
    dims: tuple[int, int] | None = None  # nnet1's header: (input, output)

    def error(self, msg: str) -> ModelFileError:
        return ModelFileError(f"{self.where}: component {self.name!r} ({self.kind}): {msg}")

    def has(self, token: str) -> bool:
        return f"<{token}>" in self.fields

    def _values(self, token: str, default: object = None) -> list | None:
        vals = self.fields.get(f"<{token}>")
        if vals is None:
            if default is not None:
                return None
            raise self.error(f"has no <{token}>")
        if not vals:
            raise self.error(f"<{token}> has no value")
        return vals

    def _one(self, token: str, kind: type, default: object = None):
        vals = self._values(token, default)
        if vals is None:
            return None
        v = vals[0]
        if not isinstance(v, kind):
            raise self.error(f"<{token}> holds {_kind(v)}, expected {_kind_name(kind)}")
        return v

    def int(self, token: str, default: int | None = None) -> int:
        v = self._one(token, Scalar, default)
        if v is None:
            return default  # type: ignore[return-value]
        try:
            return v.as_int()
        except ValueError:
            raise self.error(f"<{token}> is not an integer") from None

    def float(self, token: str, default: float | None = None) -> float:
        v = self._one(token, Scalar, default)
        return default if v is None else v.as_float()  # type: ignore[return-value]

    def flag(self, token: str, default: bool | None = None) -> bool:
        v = self._one(token, Flag, default)
        return default if v is None else v.value  # type: ignore[return-value]

    def vector(self, token: str) -> np.ndarray:
        v = self._one(token, np.ndarray)
        if v.ndim == 2 and v.shape[0] == 1:  # a one-row matrix written by hand
            v = v[0]
        if v.ndim != 1:
            raise self.error(f"<{token}> is a matrix, expected a vector")
        return v

    def optional_vector(self, token: str) -> np.ndarray | None:
        return self.vector(token) if self.has(token) else None

    def matrix(self, token: str) -> np.ndarray:
        v = self._one(token, np.ndarray)
        if v.ndim == 1:
            v = v.reshape(1, -1) if v.size else v.reshape(0, 0)
        return v

    def ints(self, token: str) -> list[int]:
        v = self._one(token, list)
        return v

    def bare_value(self, index: int, kind: str) -> np.ndarray | list:
        if index >= len(self.bare):
            raise self.error(f"has no {kind} (the file ends early or the component is malformed)")
        v = self.bare[index]
        if kind == "matrix" and isinstance(v, np.ndarray) and v.ndim == 2:
            return v
        if kind == "vector" and isinstance(v, np.ndarray) and v.ndim == 1:
            return v
        if kind == "integer vector" and isinstance(v, list):
            return v
        raise self.error(f"expected a {kind}, found {_kind(v)}")


def read_body(s: KaldiStream, comp: Component, end_tokens: frozenset[str] | set[str],
              bare_int_vectors: bool = False) -> str:
    """Read `<Token> value...` items (and bare values) into `comp` until one of `end_tokens`;
    returns the end token met (left in the stream)."""
    current: list | None = None
    while True:
        if s.at_end():
            raise s.error(f"file ends inside component {comp.name!r} ({comp.kind}) (truncated?)")
        tok = s.peek_token()
        if tok is not None:
            if tok in end_tokens:
                return tok
            s.word()
            current = comp.fields.setdefault(tok, [])
            if tok in INT_VECTOR_FIELDS:
                current.append(s.value(int_vector=True))
                current = None
            continue
        if current is None:
            comp.bare.append(s.value(int_vector=bare_int_vectors))
            continue
        v = s.value()
        # a token holds one value, or several numbers (<AlphaInOut> 4 4); a vector or matrix
        # after a token's number follows no token (nnet1: <MaxNorm> 0 then the weights)
        if not current or (isinstance(v, Scalar) and all(isinstance(x, Scalar) for x in current)):
            current.append(v)
        else:
            comp.bare.append(v)
            current = None


def _kind(v: object) -> str:
    if isinstance(v, Scalar):
        return "a number"
    if isinstance(v, Flag):
        return "a bool"
    if isinstance(v, np.ndarray):
        return "a matrix" if v.ndim == 2 else "a vector"
    if isinstance(v, list):
        return "an integer vector"
    return type(v).__name__


def _kind_name(kind: type) -> str:
    return {Scalar: "a number", Flag: "a bool", np.ndarray: "a vector or matrix", list: "an integer vector"}[kind]


__all__ = ["Component", "INT_VECTOR_FIELDS", "read_body"]
