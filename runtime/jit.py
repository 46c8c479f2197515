"""Turning LLVM IR into callable native code: object code is cached on disk, keyed by a hash of
the IR text and the CPU (like OpenVINO's CACHE_DIR), and loaded with LLVM's ORC JIT."""

from __future__ import annotations

import ctypes
import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import llvmlite.binding as llvm

from codegen.target import Target, host

_LOCK = threading.Lock()
_JIT: llvm.LLJIT | None = None
VERSION = "ovcc-native-1"  # bump when generated code changes meaning for the same IR


def default_cache_dir() -> Path:
    env = os.environ.get("OVCC_CACHE_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ovcc"


def cache_key(ir_text: str, target: Target) -> str:
    h = hashlib.sha256()
    for part in (VERSION, target.key(), ir_text):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _jit() -> llvm.LLJIT:
    global _JIT
    if _JIT is None:
        _JIT = llvm.create_lljit_compiler(host().machine())
    return _JIT


@dataclass
class Library:
    """Loaded native code; keep it alive while its functions are in use."""

    lib: object
    symbols: dict[str, int]
    from_cache: bool

    def function(self, name: str, restype, *argtypes):
        return ctypes.CFUNCTYPE(restype, *argtypes)(self.symbols[name])


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        if os.path.exists(tmp):
            os.unlink(tmp)


_counter = 0


def _read_entry(path: Path) -> bytes | None:
    """A cached object, if the file is there and its checksum holds (a damaged entry is
    recompiled, never loaded)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    digest, obj = data[:32], data[32:]
    return obj if len(data) > 32 and hashlib.sha256(obj).digest() == digest else None


def load(exported: list[str], cache_dir: Path | None, key: str, compile_fn) -> Library:
    """Object code for `key` from the cache, or compiled by `compile_fn() -> bytes` (and cached)."""
    global _counter
    obj = None
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"{key}.o"
        obj = _read_entry(path)
    from_cache = obj is not None
    if obj is None:
        obj = compile_fn()
        if path is not None:
            _write_atomic(path, hashlib.sha256(obj).digest() + obj)
    with _LOCK:
        _counter += 1
        builder = llvm.JITLibraryBuilder().add_object_img(obj)
        for name in exported:
            builder = builder.export_symbol(name)
        lib = builder.link(_jit(), f"ovcc_{_counter}")
    return Library(lib, {name: lib[name] for name in exported}, from_cache)
