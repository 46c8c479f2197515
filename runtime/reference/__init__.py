"""numpy reference implementations of every `ov` op: the definition of what each op means."""

from runtime.reference import elementwise, extension, movement, nn, resize  # noqa: F401  (fill the table)
from runtime.reference.registry import REFERENCE

__all__ = ["REFERENCE"]
