"""Turning LLVM IR into callable native code: object code is cached on disk (like OpenVINO's
CACHE_DIR) and loaded with LLVM's ORC JIT.

A cache entry's name is a hash of everything that decides the object code: the loop IR, the
target (CPU, features, llvmlite), and the code generator itself (a hash of its source files and
the package version), so an upgraded emitter never runs an older one's output. Each entry
carries a keyed checksum (HMAC with a secret kept beside the cache): a damaged file, or one that
this cache did not write, is recompiled, never executed."""

from __future__ import annotations

import ctypes
import functools
import hashlib
import hmac
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import llvmlite.binding as llvm

from codegen.target import Target, host

_LOCK = threading.Lock()
_JIT: llvm.LLJIT | None = None
GENERATOR_SOURCES = ("codegen", "dialects/loops.py", "runtime/jit.py")  # what turns loop IR into objects


def default_cache_dir() -> Path:
    env = os.environ.get("OVCC_CACHE_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ovcc"


@functools.cache
def generator_version() -> str:
    """A hash of the code generator's sources and the installed package version."""
    from importlib import metadata

    try:
        version = metadata.version("ovcc")
    except metadata.PackageNotFoundError:
        version = "source tree"
    return sources_hash(Path(__file__).resolve().parent.parent, version)


def sources_hash(root: Path, version: str) -> str:
    h = hashlib.sha256(version.encode() + b"\0")
    for rel in GENERATOR_SOURCES:
        p = root / rel
        for f in sorted(p.rglob("*.py")) if p.is_dir() else [p]:
            h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def cache_key(ir_text: str, target: Target) -> str:
    h = hashlib.sha256()
    for part in (generator_version(), target.key(), ir_text):
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
    obj: bytes = b""  # the object code (what export_model packs)

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


def _secret(cache_dir: Path) -> bytes:
    """The cache's HMAC key, created once (readable by its owner only)."""
    path = cache_dir / ".ovcc-cache-key"
    try:
        return path.read_bytes()
    except OSError:
        pass
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = os.urandom(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_bytes()
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


def user_secret() -> bytes:
    """This user's key (the default cache directory's), b"" when it cannot be made."""
    try:
        return _secret(default_cache_dir())
    except OSError:
        return b""


def _mac(secret: bytes, name: str, obj: bytes) -> bytes:
    return hmac.new(secret, name.encode() + b"\0" + obj, hashlib.sha256).digest()


def _read_entry(path: Path, secret: bytes) -> bytes | None:
    """A cached object, if the file is there and its keyed checksum holds."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    digest, obj = data[:32], data[32:]
    if len(data) <= 32 or not hmac.compare_digest(digest, _mac(secret, path.name, obj)):
        return None
    return obj


def load(exported: list[str], cache_dir: Path | None, key: str, compile_fn) -> Library:
    """Object code for `key` from the cache, or compiled by `compile_fn() -> bytes` (and cached)."""
    global _counter
    obj = None
    path = None
    secret = b""
    if cache_dir is not None:
        path = Path(cache_dir) / f"{key}.o"
        try:
            secret = _secret(Path(cache_dir))
        except OSError:  # an unwritable cache directory: compile without caching
            path = None
        else:
            obj = _read_entry(path, secret)
    from_cache = obj is not None
    if obj is None:
        obj = compile_fn()
        if path is not None:
            _write_atomic(path, _mac(secret, path.name, obj) + obj)
    with _LOCK:
        _counter += 1
        builder = llvm.JITLibraryBuilder().add_object_img(obj)
        for name in exported:
            builder = builder.export_symbol(name)
        lib = builder.link(_jit(), f"ovcc_{_counter}")
    return Library(lib, {name: lib[name] for name in exported}, from_cache, obj)
