"""The compiled-model blob of `CompiledModel.export_model()` / `Core.import_model()`: the model
(as OpenVINO IR, f32, so that the program tables are rebuilt exactly), the CPU configuration,
and the native object code of each compiled input-shape specialization, keyed as the JIT cache
keys them. No pickle: a fixed header, a JSON header and length-prefixed byte sections, with a
SHA-256 of everything. A blob made by another ovcc code generator or for other CPU features is
refused, as are truncated or altered ones. The object code is loaded only when the blob is
sealed with this user's key (the JIT cache's secret, `seal`): a blob from anybody else runs
code compiled again here from its IR, never the code it carries."""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
from dataclasses import dataclass

from dialects.errors import OvccError

MAGIC = b"OVCCBLOB"
FORMAT = 1
_HEAD = struct.Struct("<8sII")  # magic, format version, number of sections


class BlobError(OvccError):
    """A compiled-model blob that cannot be imported here (damaged, or made for another
    ovcc version or CPU)."""


@dataclass
class Blob:
    header: dict
    xml: bytes
    weights: bytes
    objects: dict[str, bytes]  # cache key -> object code


def pack(header: dict, xml: bytes, weights: bytes, objects: dict[str, bytes]) -> bytes:
    keys = sorted(objects)
    head = json.dumps({**header, "objects": keys}, sort_keys=True).encode()
    sections = [head, xml, weights] + [objects[k] for k in keys]
    body = _HEAD.pack(MAGIC, FORMAT, len(sections)) + b"".join(struct.pack("<Q", len(s)) + s for s in sections)
    return body + hashlib.sha256(body).digest()


def unpack(data: bytes, generator: str, target: str) -> Blob:
    """The blob's parts, after checking that it is whole and was made for this ovcc and CPU."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise BlobError(f"import_model: expected bytes or a binary stream, not {type(data).__name__}")
    data = bytes(data)
    if len(data) < _HEAD.size + 32 or not data.startswith(MAGIC):
        raise BlobError("import_model: not an ovcc compiled-model blob (no OVCCBLOB header)")
    body, digest = data[:-32], data[-32:]
    _, version, n = _HEAD.unpack_from(body)
    if version != FORMAT:
        raise BlobError(f"import_model: blob format {version}, this ovcc reads format {FORMAT}")
    if hashlib.sha256(body).digest() != digest:
        raise BlobError("import_model: the blob is truncated or damaged (checksum mismatch)")
    sections, pos = [], _HEAD.size
    for _ in range(n):
        if pos + 8 > len(body):
            raise BlobError("import_model: the blob is truncated (section table)")
        (size,) = struct.unpack_from("<Q", body, pos)
        pos += 8
        if pos + size > len(body):
            raise BlobError("import_model: the blob is truncated (section past the end)")
        sections.append(body[pos:pos + size])
        pos += size
    if n < 3 or pos != len(body):
        raise BlobError("import_model: malformed blob (section count)")
    try:
        header = json.loads(sections[0])
        keys = list(header["objects"])
    except (ValueError, KeyError, TypeError):
        raise BlobError("import_model: malformed blob header") from None
    if len(keys) != n - 3:
        raise BlobError("import_model: malformed blob (object count)")
    if header.get("generator") != generator:
        raise BlobError("import_model: the blob was made by another ovcc version (code generator "
                        f"{str(header.get('generator'))[:12]}, this one is {generator[:12]}); export it again")
    if header.get("target") != target:
        raise BlobError(f"import_model: the blob was compiled for another CPU ({header.get('target')}); "
                        f"this one is {target}")
    return Blob(header, sections[1], sections[2], dict(zip(keys, sections[3:])))


def seal(secret: bytes, objects: dict[str, bytes]) -> str:
    """A keyed digest of the object code: only code this user's ovcc generated (same secret as
    the JIT cache) is ever loaded from a blob; any other blob's code is compiled again from its IR."""
    h = hmac.new(secret, b"ovcc-blob-objects", hashlib.sha256)
    for k in sorted(objects):
        h.update(k.encode() + b"\0" + len(objects[k]).to_bytes(8, "little") + objects[k])
    return h.hexdigest()


def trusted(secret: bytes, blob: Blob) -> bool:
    return bool(secret) and hmac.compare_digest(str(blob.header.get("seal", "")), seal(secret, blob.objects))


__all__ = ["Blob", "BlobError", "pack", "seal", "trusted", "unpack"]
