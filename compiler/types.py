"""OpenVINO's value types: `Type`, `Dimension`, `Layout` (with `layout_helpers`), `Tensor`
(`PartialShape` lives with `Model` in compiler/model.py).

    Type.f32, Type(np.uint8)                      element types
    Dimension(3), Dimension(), Dimension(1, 10)  static, dynamic, bounded dims ("1..10")
    Layout("NCHW"), Layout("[N,C,H,W]"), Layout("N...C"), Layout("?C??")
    Tensor(np.zeros((1, 3))), Tensor(Type.f32, [1, 3])

A bounded dimension keeps its bounds for printing and comparison; the compiled model treats it
as dynamic (the `ov` dialect's dims are static or unknown)."""

from __future__ import annotations

from typing import Any

from dialects.errors import InputError
from dialects.ov.element_type import Type
from runtime.tensor import Tensor


class Dimension:
    """A dimension: static (`Dimension(3)`), dynamic (`Dimension()`, `Dimension(-1)`) or
    bounded (`Dimension(1, 10)`, max -1 = unbounded)."""

    def __init__(self, min_or_value: Any = -1, max_value: int | None = None):
        if isinstance(min_or_value, Dimension):
            self.min, self.max = min_or_value.min, min_or_value.max
            return
        if isinstance(min_or_value, str):
            lo, hi = _parse_dim(min_or_value)
        elif min_or_value is None:
            lo, hi = 0, -1
        elif max_value is None:
            v = int(min_or_value)
            lo, hi = (0, -1) if v < 0 else (v, v)
        else:
            lo, hi = max(int(min_or_value), 0), int(max_value)
            if hi >= 0 and hi < lo:
                raise InputError(f"Dimension({min_or_value}, {max_value}): the upper bound is below the lower one")
        self.min, self.max = lo, hi

    @classmethod
    def dynamic(cls) -> Dimension:
        return cls()

    @property
    def is_static(self) -> bool:
        return self.max >= 0 and self.min == self.max

    @property
    def is_dynamic(self) -> bool:
        return not self.is_static

    def get_length(self) -> int:
        if not self.is_static:
            raise InputError(f"dimension {self} is dynamic: it has no length")
        return self.min

    def get_min_length(self) -> int:
        return self.min

    def get_max_length(self) -> int:
        return self.max

    @property
    def min_length(self) -> int:
        return self.min

    @property
    def max_length(self) -> int:
        return self.max

    def to_dim(self) -> int | None:
        """The `ov` dialect's dim: the length, or None for any non-static dimension."""
        return self.min if self.is_static else None

    def compatible(self, other: Any) -> bool:
        o = Dimension(other)
        return (self.max < 0 or o.min <= self.max) and (o.max < 0 or self.min <= o.max)

    def __eq__(self, other: object) -> bool:
        try:
            o = Dimension(other)  # type: ignore[arg-type]
        except (TypeError, ValueError, InputError):
            return NotImplemented
        return (self.min, self.max) == (o.min, o.max)

    def __hash__(self) -> int:
        return hash((self.min, self.max))

    def __str__(self) -> str:
        if self.is_static:
            return str(self.min)
        if self.min == 0 and self.max < 0:
            return "?"
        return f"{self.min}..{self.max if self.max >= 0 else ''}"

    def __repr__(self) -> str:
        return f"<Dimension: {self}>"


def _parse_dim(s: str) -> tuple[int, int]:
    t = s.strip()
    try:
        if t in ("?", "-1", ""):
            return 0, -1
        if ".." in t:
            lo, _, hi = t.partition("..")
            return int(lo or 0), int(hi) if hi.strip() else -1
        v = int(t)
        return (0, -1) if v < 0 else (v, v)
    except ValueError:
        raise InputError(f"cannot read {s!r} as a dimension (expected N, ?, -1 or MIN..MAX)") from None


_ALIASES = {"BATCH": "N", "B": "N", "CHANNELS": "C", "CHANNEL": "C", "HEIGHT": "H", "WIDTH": "W",
            "DEPTH": "D"}


class Layout:
    """What each dimension of a tensor means, in OpenVINO's syntax: one letter per dimension
    ("NCHW", "?C??" with unnamed dims), "..." for any number of dims ("N...C"), or named
    dims in brackets ("[N,C,H,W]", "[batch,seq,?]"). Names are case-insensitive; letters other
    than N (batch), C (channels), D, H, W (depth, height, width) are custom names."""

    def __init__(self, text: Any = ""):
        if isinstance(text, Layout):
            self.__dict__.update(text.__dict__)
            return
        self.source = str(text).strip()
        self.names: dict[str, int] = {}  # name -> index (negative: counted from the end)
        self.left, self.right, self.dynamic = 0, 0, True
        if not self.source:
            return
        s = self.source
        if s.startswith("[") and s.endswith("]"):
            parts = [p.strip() for p in s[1:-1].split(",")] if s[1:-1].strip() else []
        else:
            parts, i = [], 0
            while i < len(s):
                if s.startswith("...", i):
                    parts.append("...")
                    i += 3
                else:
                    parts.append(s[i])
                    i += 1
        if parts.count("...") > 1:
            raise InputError(f"layout {self.source!r}: more than one '...'")
        ell = parts.index("...") if "..." in parts else None
        for pos, name in enumerate(parts):
            if name == "...":
                continue
            index = pos if ell is None or pos < ell else pos - len(parts)
            if name == "?":
                continue
            if not name or not all(c.isalnum() or c == "_" for c in name) or not any(c.isalnum() for c in name):
                raise InputError(f"layout {self.source!r}: {name!r} is not a dimension name (letters, digits and _, "
                                 "or ? for an unnamed dimension, ... for any number of them)")
            key = _ALIASES.get(name.upper(), name.upper())
            if key in self.names:
                raise InputError(f"layout {self.source!r}: dimension {key} appears twice")
            self.names[key] = index
        if ell is None:
            self.left, self.dynamic = len(parts), False
        else:
            self.left, self.right = ell, len(parts) - ell - 1

    @classmethod
    def scalar(cls) -> Layout:
        return cls("[]")

    @property
    def empty(self) -> bool:
        return not self.source

    def has_name(self, name: str) -> bool:
        return _ALIASES.get(name.upper(), name.upper()) in self.names

    def get_index_by_name(self, name: str) -> int:
        key = _ALIASES.get(name.upper(), name.upper())
        if key not in self.names:
            raise InputError(f"layout {self.to_string()} has no {name} dimension")
        return self.names[key]

    def index(self, name: str, rank: int) -> int:
        """The non-negative axis of `name` in a tensor of this rank."""
        i = self.get_index_by_name(name)
        if not self.dynamic and rank != self.left:
            raise InputError(f"layout {self.to_string()} has {self.left} dimensions, the tensor has {rank}")
        return i + rank if i < 0 else i

    def rank(self) -> int | None:
        return None if self.dynamic else self.left

    def names_for_rank(self, rank: int) -> list[str | None]:
        """The name of each axis of a tensor of this rank (None where unnamed)."""
        out: list[str | None] = [None] * rank
        for n, i in self.names.items():
            out[i + rank if i < 0 else i] = n
        return out

    def to_string(self) -> str:
        by_index = {i: n for n, i in self.names.items()}
        dims = [by_index.get(i, "?") for i in range(self.left)]
        if self.dynamic:
            dims += ["..."] + [by_index.get(i, "?") for i in range(-self.right, 0)]
        return "[" + ",".join(dims) + "]"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            other = Layout(other)
        if not isinstance(other, Layout):
            return NotImplemented
        return (self.names, self.left, self.right, self.dynamic, self.empty) == \
            (other.names, other.left, other.right, other.dynamic, other.empty)

    def __hash__(self) -> int:
        return hash(self.to_string())

    def __str__(self) -> str:
        return self.to_string()

    def __repr__(self) -> str:
        return f"<Layout: {self.to_string()}>"


class layout_helpers:  # noqa: N801 - OpenVINO's module name
    """`openvino.layout_helpers`: the axis of a named dimension of a layout."""

    @staticmethod
    def get_index(layout: Layout, name: str) -> int:
        return Layout(layout).get_index_by_name(name)

    @staticmethod
    def has_batch(layout: Layout) -> bool:
        return Layout(layout).has_name("N")

    @staticmethod
    def batch_idx(layout: Layout) -> int:
        return Layout(layout).get_index_by_name("N")

    @staticmethod
    def has_channels(layout: Layout) -> bool:
        return Layout(layout).has_name("C")

    @staticmethod
    def channels_idx(layout: Layout) -> int:
        return Layout(layout).get_index_by_name("C")

    @staticmethod
    def has_height(layout: Layout) -> bool:
        return Layout(layout).has_name("H")

    @staticmethod
    def height_idx(layout: Layout) -> int:
        return Layout(layout).get_index_by_name("H")

    @staticmethod
    def has_width(layout: Layout) -> bool:
        return Layout(layout).has_name("W")

    @staticmethod
    def width_idx(layout: Layout) -> int:
        return Layout(layout).get_index_by_name("W")

    get_channels_index = channels_idx
    get_batch_index = batch_idx
    get_height_index = height_idx
    get_width_index = width_idx


__all__ = ["Dimension", "Layout", "Tensor", "Type", "layout_helpers"]
