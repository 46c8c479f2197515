"""The table from op type to its numpy reference implementation.

An implementation is `fn(op, attr, *inputs) -> list[np.ndarray]`: `op` is the `ov` operation
(for its result types), `attr` its attributes as Python values, `inputs` numpy arrays (None
for an absent optional input)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Impl = Callable[..., list[np.ndarray]]
REFERENCE: dict[str, Impl] = {}


def reference(op_type: str) -> Callable[[Impl], Impl]:
    def register(fn: Impl) -> Impl:
        REFERENCE[op_type] = fn
        return fn
    return register
