"""The part of Paddle's `framework.proto` (paddle/fluid/framework/framework.proto) that the Paddle
frontend reads, as a schema for `proto_schema.build_messages`, and the readers of the files
`paddle.jit.save` writes: the program (`.pdmodel`, a ProgramDesc; `__model__` in the older
directory form) and the parameters (`.pdiparams`, one record per persistable variable in name
order; in the directory form one such record per file, named after its variable).

A parameter record: uint32 version, uint64 number of LoD levels, each level as uint64 byte size
and its offsets, uint32 tensor version, int32 size of the TensorDesc that follows, the TensorDesc
protobuf (data type, dims), then the raw little-endian data."""

from __future__ import annotations

import struct
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from dialects.errors import ModelFileError

# VarType.Type: the tensor element types
DTYPES = {0: np.bool_, 1: np.int16, 2: np.int32, 3: np.int64, 4: np.float16, 5: np.float32, 6: np.float64,
          20: np.uint8, 21: np.int8}
BF16, COMPLEX64, COMPLEX128 = 22, 23, 24
LOD_TENSOR, FEED_MINIBATCH, FETCH_LIST = 7, 9, 10

_MESSAGES = {
    "ProgramDesc": [("blocks", 1, "BlockDesc", "repeated"), ("version", 4, "Version")],
    "Version": [("version", 1, "int64")],
    "BlockDesc": [("idx", 1, "int32"), ("parent_idx", 2, "int32"), ("vars", 3, "VarDesc", "repeated"),
                  ("ops", 4, "OpDesc", "repeated"), ("forward_block_idx", 5, "int32", "optional", -1)],
    "VarDesc": [("name", 1, "string"), ("type", 2, "VarType"), ("persistable", 3, "bool", "optional", False),
                ("need_check_feed", 4, "bool"), ("is_parameter", 5, "bool"), ("stop_gradient", 6, "bool")],
    "VarType": [("type", 1, "int32"), ("lod_tensor", 3, "LoDTensorDesc"),
                ("tensor_array", 4, "LoDTensorArrayDesc")],
    "TensorDesc": [("data_type", 1, "int32"), ("dims", 2, "int64", "repeated")],
    "LoDTensorDesc": [("tensor", 1, "TensorDesc"), ("lod_level", 2, "int32")],
    "LoDTensorArrayDesc": [("tensor", 1, "TensorDesc"), ("lod_level", 2, "int32")],
    "OpDesc": [("inputs", 1, "OpVar", "repeated"), ("outputs", 2, "OpVar", "repeated"), ("type", 3, "string"),
               ("attrs", 4, "OpAttr", "repeated"), ("is_target", 5, "bool")],
    "OpVar": [("parameter", 1, "string"), ("arguments", 2, "string", "repeated")],
    "OpAttr": [("name", 1, "string"), ("type", 2, "int32"), ("i", 3, "int32"), ("f", 4, "float"),
               ("s", 5, "string"), ("ints", 6, "int32", "repeated"), ("floats", 7, "float", "repeated"),
               ("strings", 8, "string", "repeated"), ("b", 10, "bool"), ("bools", 11, "bool", "repeated"),
               ("block_idx", 12, "int32"), ("l", 13, "int64"), ("blocks_idx", 14, "int32", "repeated"),
               ("longs", 15, "int64", "repeated"), ("float64s", 16, "double", "repeated"),
               ("var_name", 17, "string"), ("vars_name", 18, "string", "repeated"), ("float64", 19, "double"),
               ("scalar", 20, "Scalar"), ("scalars", 21, "Scalar", "repeated")],
    "Scalar": [("type", 1, "int32"), ("b", 2, "bool"), ("i", 3, "int64"), ("r", 4, "double")],
}
# AttrType -> the OpAttr field holding its value
ATTR_FIELDS = {0: "i", 1: "f", 2: "s", 3: "ints", 4: "floats", 5: "strings", 6: "b", 7: "bools", 8: "block_idx",
               9: "l", 10: "blocks_idx", 11: "longs", 12: "float64s", 13: "var_name", 14: "vars_name",
               15: "float64", 16: "scalar", 17: "scalars"}
_REPEATED_ATTRS = {3, 4, 5, 7, 10, 11, 12, 14}


@cache
def _messages() -> dict[str, type]:
    from compiler.frontends.proto_schema import build_messages

    return build_messages("ovcc.paddle", _MESSAGES)


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())[:300]


def read_bytes(path: Path, what: str) -> bytes:
    if not path.is_file():
        raise ModelFileError(f"{path}: no such {what}")
    try:
        return path.read_bytes()
    except OSError as e:
        raise ModelFileError(f"{path}: cannot read the {what} ({e.strerror})") from None


def read_program(path: Path) -> Any:
    """The ProgramDesc of a `.pdmodel` (or `__model__`) file."""
    from google.protobuf.message import DecodeError

    from compiler.frontends.proto_schema import first_non_text

    data = read_bytes(path, "Paddle program")
    if not data:
        raise ModelFileError(f"{path}: the Paddle program is empty")
    program = _messages()["ProgramDesc"]()
    try:
        program.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise ModelFileError(f"{path}: truncated or malformed Paddle program ({_one_line(e) or 'cannot decode'})"
                             ) from None
    bad = first_non_text(program)
    if bad is not None:
        raise ModelFileError(f"{path}: malformed Paddle program (field {bad} is not UTF-8 text)")
    if not program.blocks or not program.blocks[0].ops:
        raise ModelFileError(f"{path}: not a Paddle program (no operators in its first block)")
    return program


def attr_value(a: Any) -> Any:
    """The Python value of an OpAttr."""
    field = ATTR_FIELDS.get(a.type)
    if field is None:
        return None
    if field in ("scalar", "scalars"):
        scalars = [a.scalar] if field == "scalar" else list(a.scalars)
        vals = [s.b if s.type == 1 else s.i if s.type == 2 else s.r for s in scalars]
        return vals[0] if field == "scalar" else vals
    v = getattr(a, field)
    return list(v) if a.type in _REPEATED_ATTRS else v


class ParamReader:
    """Reads parameter records one after the other from the bytes of a `.pdiparams` file."""

    def __init__(self, data: bytes, where: str):
        self.data, self.where, self.pos = data, where, 0

    def _take(self, n: int, name: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ModelFileError(f"{self.where}: ends inside the record of parameter {name!r} (a truncated file, "
                                 "or the parameters of another model?)")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def read(self, name: str, shape: list[int] | None = None) -> np.ndarray:
        from google.protobuf.message import DecodeError

        (version,) = struct.unpack("<I", self._take(4, name))
        if version != 0:
            raise ModelFileError(f"{self.where}: parameter {name!r} has record version {version} (only 0 is known)")
        (levels,) = struct.unpack("<Q", self._take(8, name))
        if levels > 64:
            raise ModelFileError(f"{self.where}: parameter {name!r}: {levels} LoD levels, a malformed record")
        for _ in range(levels):
            (size,) = struct.unpack("<Q", self._take(8, name))
            self._take(size, name)
        self._take(4, name)  # the tensor's version
        (desc_size,) = struct.unpack("<i", self._take(4, name))
        desc = _messages()["TensorDesc"]()
        try:
            desc.ParseFromString(self._take(desc_size, name))
        except (DecodeError, RuntimeError, ValueError):
            raise ModelFileError(f"{self.where}: parameter {name!r} has a malformed tensor description") from None
        dt = DTYPES.get(desc.data_type)
        if desc.data_type == BF16:
            import ml_dtypes

            dt = ml_dtypes.bfloat16
        if dt is None:
            raise ModelFileError(f"{self.where}: parameter {name!r} has unsupported data type {desc.data_type}")
        dims = [int(d) for d in desc.dims]
        if any(d < 0 for d in dims):
            raise ModelFileError(f"{self.where}: parameter {name!r} has dims {dims}")
        if shape is not None and [d for d in shape if d >= 0] and len(shape) == len(dims) and any(
                s >= 0 and s != d for s, d in zip(shape, dims)):
            raise ModelFileError(f"{self.where}: parameter {name!r} is stored with shape {dims}, the program "
                                 f"declares {shape}")
        dtype = np.dtype(dt).newbyteorder("<")
        count = int(np.prod(dims, dtype=np.int64))
        raw = self._take(count * dtype.itemsize, name)
        arr = np.frombuffer(raw, dtype).reshape(dims)
        return arr.astype(np.float32) if desc.data_type == BF16 else arr.astype(dtype.newbyteorder("="))


def read_params(path: Path, names: list[tuple[str, list[int] | None]]) -> dict[str, np.ndarray]:
    """The parameters `names` (with the shapes the program declares), stored in this order."""
    data = read_bytes(path, "Paddle parameters file")
    reader = ParamReader(data, str(path))
    params = {name: reader.read(name, shape) for name, shape in names}
    if reader.pos != len(data):
        raise ModelFileError(f"{path}: {len(data) - reader.pos} bytes left after the {len(names)} parameters the "
                             "program declares (the parameters of another model?)")
    return params


def read_param_files(folder: Path, names: list[tuple[str, list[int] | None]]) -> dict[str, np.ndarray]:
    """The directory form: one record per file, named after its variable."""
    params = {}
    for name, shape in names:
        p = folder / name
        reader = ParamReader(read_bytes(p, f"Paddle parameter file (of variable {name!r})"), str(p))
        params[name] = reader.read(name, shape)
    return params


__all__ = ["ATTR_FIELDS", "DTYPES", "ParamReader", "attr_value", "read_bytes", "read_param_files", "read_params",
           "read_program"]
