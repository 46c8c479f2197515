"""MXNet's `.params` files read without MXNet: the NDArray list that `NDArray::Save` writes
(apache/mxnet src/ndarray/ndarray.cc), little-endian.

    uint64 0x112 (list magic), uint64 0 (reserved), uint64 count, count arrays,
    uint64 count of names, each name uint64 length + bytes.

An array starts with a uint32 magic: 0xF993FAC9 (V2: int32 storage type, shape, ...),
0xF993FACA (V3, numpy shapes: ndim -1 means no array, ndim 0 is a scalar), 0xF993FAC8 (V1: no
storage type), or, in files older than V1, the number of dims itself followed by uint32 dims.
V1-V3 shapes are uint32/int32 ndim + int64 dims. After the shape (unless the array is empty):
int32 device type, int32 device id, int32 dtype flag (mshadow's TypeFlag), then the raw data.
Names carry `arg:` (parameters) and `aux:` (auxiliary states) prefixes when a model is exported."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np

from dialects.errors import ModelFileError

LIST_MAGIC = 0x112
V1, V2, V3 = 0xF993FAC8, 0xF993FAC9, 0xF993FACA
DENSE = 0
MAX_NDIM = 32
MAX_ELEMENTS = 1 << 40
# mshadow TypeFlag: float32 float64 float16 uint8 int32 int8 int64 bool int16 uint16 uint32 uint64
DTYPES = {0: np.float32, 1: np.float64, 2: np.float16, 3: np.uint8, 4: np.int32, 5: np.int8, 6: np.int64,
          7: np.bool_, 8: np.int16, 9: np.uint16, 10: np.uint32, 11: np.uint64}
BFLOAT16 = 12


class _Reader:
    def __init__(self, data: bytes, where: str):
        self.data, self.pos, self.where = data, 0, where

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ModelFileError(f"{self.where}: truncated MXNet .params file (needs {n} bytes for {what} at offset "
                                 f"{self.pos}, {len(self.data) - self.pos} left)")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def u64(self, what: str) -> int:
        return struct.unpack("<Q", self.take(8, what))[0]

    def u32(self, what: str) -> int:
        return struct.unpack("<I", self.take(4, what))[0]

    def i32(self, what: str) -> int:
        return struct.unpack("<i", self.take(4, what))[0]


def _shape(r: _Reader, what: str, numpy_shape: bool) -> tuple[int, ...] | None:
    ndim = r.i32(f"{what} rank")
    if numpy_shape and ndim == -1:
        return None
    if not 0 <= ndim <= MAX_NDIM:
        raise ModelFileError(f"{r.where}: {what} has rank {ndim} (a corrupt file?)")
    dims = struct.unpack(f"<{ndim}q", r.take(8 * ndim, f"{what} shape"))
    if any(d < 0 for d in dims):
        if numpy_shape:
            return None
        raise ModelFileError(f"{r.where}: {what} has shape {list(dims)}")
    if not numpy_shape and ndim == 0:
        return None  # a legacy-shape array of rank 0 holds nothing
    return tuple(dims)


def _array(r: _Reader, i: int) -> np.ndarray | None:
    what = f"array {i}"
    magic = r.u32(f"{what} magic")
    if magic in (V2, V3):
        stype = r.i32(f"{what} storage type")
        if stype != DENSE:
            raise ModelFileError(f"{r.where}: {what} is a sparse array (storage type {stype}); only dense arrays "
                                 "are supported")
        shape = _shape(r, what, magic == V3)
    elif magic == V1:
        shape = _shape(r, what, False)
    elif magic <= MAX_NDIM:  # before V1: the rank, then uint32 dims
        shape = struct.unpack(f"<{magic}I", r.take(4 * magic, f"{what} shape"))
        shape = tuple(shape) if magic else None
    else:
        raise ModelFileError(f"{r.where}: {what} starts with 0x{magic:08X}, not an MXNet NDArray magic "
                             "(0xF993FAC8/9/A)")
    if shape is None:
        return None
    r.i32(f"{what} device type")
    r.i32(f"{what} device id")
    flag = r.i32(f"{what} dtype")
    if flag == BFLOAT16:
        dtype = np.dtype("<u2")
    elif flag in DTYPES:
        dtype = np.dtype(DTYPES[flag]).newbyteorder("<")
    else:
        raise ModelFileError(f"{r.where}: {what} has unknown dtype flag {flag}")
    if math.prod(d for d in shape if d) >= MAX_ELEMENTS:  # even for an empty array numpy refuses these
        raise ModelFileError(f"{r.where}: {what} has shape {list(shape)} (a corrupt file?)")
    count = math.prod(shape)
    raw = r.take(count * dtype.itemsize, f"{what} data ({count} values)")
    arr = np.frombuffer(raw, dtype).reshape(shape)
    if flag == BFLOAT16:
        return (arr.astype(np.uint32) << 16).view(np.float32)
    return arr.astype(dtype.newbyteorder("="))


def read_params(path: str | Path) -> dict[str, np.ndarray | None]:
    """The named arrays of a .params file, names as stored (with their arg:/aux: prefixes)."""
    where = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ModelFileError(f"{where}: cannot read MXNet parameters: {e.strerror or e}") from e
    r = _Reader(data, where)
    magic = r.u64("the list magic")
    if magic != LIST_MAGIC:
        raise ModelFileError(f"{where}: not an MXNet .params file (starts with 0x{magic:X}, expected 0x112)")
    r.u64("the reserved field")
    count = r.u64("the array count")
    if count > len(data):
        raise ModelFileError(f"{where}: claims {count} arrays in {len(data)} bytes")
    arrays = [_array(r, i) for i in range(count)]
    nnames = r.u64("the name count")
    if nnames != count:
        raise ModelFileError(f"{where}: {count} arrays but {nnames} names" if nnames else
                             f"{where}: the arrays have no names (not a model's parameters)")
    names = []
    for i in range(nnames):
        n = r.u64(f"name {i} length")
        try:
            names.append(r.take(n, f"name {i}").decode("utf-8"))
        except UnicodeDecodeError as e:
            raise ModelFileError(f"{where}: name {i} is not UTF-8") from e
    if r.pos != len(data):
        raise ModelFileError(f"{where}: {len(data) - r.pos} bytes after the last name (a corrupt file?)")
    if len(set(names)) != len(names):
        raise ModelFileError(f"{where}: a name appears twice")
    return dict(zip(names, arrays))


__all__ = ["read_params"]
