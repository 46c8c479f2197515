"""Registry: the one kind of table that maps a key (an op type, a framework op name) to the
function that handles it — reference semantics, lowerings, IR mappings, frontend converters.

Registering a key twice is an error (two modules claiming one op is always a bug), and a
registry whose keys must be `ov` ops refuses any other name, so a typo fails at import time
instead of leaving an op without its implementation."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Generic, TypeVar

F = TypeVar("F")


class RegistryError(Exception):
    """A registry was given a duplicate key or a name that is not an `ov` op (a compiler bug)."""


class Registry(Generic[F]):
    """`what` names the table in errors ("reference", "ONNX converter", ...). With
    `ov_ops=True` every key (or, for tuple keys, `key_op(key)`) must be an op of the `ov`
    dialect."""

    def __init__(self, what: str, *, ov_ops: bool = False, key_op: Callable[[Hashable], str] | None = None):
        self.what = what
        self.ov_ops = ov_ops
        self.key_op = key_op or (lambda k: k)  # type: ignore[assignment,return-value]
        self._table: dict[Hashable, F] = {}

    def add(self, key: Hashable, fn: F) -> F:
        if key in self._table:
            old = self._table[key]
            raise RegistryError(f"{self.what} registry: {key!r} is registered twice "
                                f"({_where(old)} and {_where(fn)})")
        if self.ov_ops:
            from dialects.ov import OPS

            name = self.key_op(key)
            if OPS and name not in OPS:
                raise RegistryError(f"{self.what} registry: {name!r} is not an op of the ov dialect")
        self._table[key] = fn
        return fn

    def register(self, *keys: Hashable) -> Callable[[F], F]:
        """Decorator: `@REG.register("Add", "Subtract")`."""
        def deco(fn: F) -> F:
            for k in keys:
                self.add(k, fn)
            return fn
        return deco

    def __getitem__(self, key: Hashable) -> F:
        return self._table[key]

    def get(self, key: Hashable, default: F | None = None) -> F | None:
        return self._table.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._table

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)

    def keys(self):
        return self._table.keys()

    def items(self):
        return self._table.items()

    def missing(self, keys: Iterable[Hashable]) -> list[Hashable]:
        """The keys among `keys` that have no entry, in order."""
        return [k for k in keys if k not in self._table]

    def check_ov_ops(self) -> list[str]:
        """Keys that are not `ov` ops (for registries filled before the dialect was loaded)."""
        from dialects.ov import OPS

        return sorted({str(self.key_op(k)) for k in self._table if self.key_op(k) not in OPS})


def _where(fn: object) -> str:
    mod = getattr(fn, "__module__", "?")
    name = getattr(fn, "__qualname__", repr(fn))
    return f"{mod}.{name}"


__all__ = ["Registry", "RegistryError"]
