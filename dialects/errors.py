"""The one hierarchy of errors that ovcc shows its users.

Every message is one line that names the file, op, node or input concerned and what is wrong
with it. Code deep inside the compiler raises these (or lets its callers wrap library errors
into them), so the API and the `ovcc` driver never show a raw traceback for bad input.
"""


class OvccError(Exception):
    """Base class of every error a user of ovcc is meant to read."""


class ModelFileError(OvccError):
    """A model file is missing, truncated, malformed or not of a supported format."""


class UnsupportedOpsError(OvccError):
    """A model uses operations that ovcc cannot convert; the message lists all of them."""

    def __init__(self, framework: str, where: str, ops: dict[str, list[str]]):
        self.ops = ops
        parts = [f"{op} ({', '.join(nodes[:5])}{', ...' if len(nodes) > 5 else ''})"
                 for op, nodes in sorted(ops.items())]
        super().__init__(f"{where}: unsupported {framework} operations: " + "; ".join(parts))


class ConversionError(OvccError):
    """A supported op is used in a way ovcc cannot convert (attribute value, dynamic input, ...)."""


class ShapeError(OvccError):
    """Types or shapes of an op's inputs are inconsistent."""


class InputError(OvccError):
    """Inputs given to a compiled model or a reshape do not match what the model expects."""


class ExtensionError(OvccError):
    """A user's extension (a conversion function, a custom op's code) raised; the message names
    the op and what was raised."""


class CompileError(OvccError):
    """Lowering or native code generation failed for a model that converted fine."""


class InternalError(OvccError):
    """A bug in ovcc: an unexpected exception inside a converter, a pass or the code generator,
    reported in one line with the exception's type (the `ovcc` driver exits with code 3). It is
    never a "clear refusal": tests treat it as a failure."""
