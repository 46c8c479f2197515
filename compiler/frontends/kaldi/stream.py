"""Kaldi's serialization (base/io-funcs, matrix/kaldi-vector, matrix/kaldi-matrix), read
without Kaldi.

A binary file starts with "\\0B"; a text file has no header. Tokens (`<AffineComponent>`,
`<LinearParams>`, ...) are whitespace-terminated words in both forms. Values:

| value | binary | text |
| --- | --- | --- |
| integer / float | one size byte (4, 8; negative for unsigned) + little-endian bytes | a number |
| bool | `T` or `F` | `T` or `F` |
| float vector | `FV ` (`DV ` for double) + int32 size + data | `[ 1 2 3 ]` on one line |
| float matrix | `FM ` (`DM `) + int32 rows + int32 cols + data | `[` rows on separate lines `]` |
| integer vector | size byte 4 + int32 count + int32 data | `[ 1 2 3 ]` |

A binary scalar does not say whether it is an int32 or a float (both have size byte 4), so
scalars are kept as raw bytes (`Scalar`) and interpreted by the reader that asks for them.
Integer vectors cannot be told apart from scalars either: the caller says where one is
expected (`int_vector`)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from dialects.errors import ModelFileError

_SCALAR_SIZES = {4: ("<i", "<f"), 8: ("<q", "<d"), 2: ("<h", None), 1: ("<b", None),
                 -4: ("<I", None), -8: ("<Q", None), -2: ("<H", None), -1: ("<B", None)}


@dataclass(frozen=True)
class Scalar:
    """A number as read: raw little-endian bytes with their size byte (binary), or its text."""

    raw: bytes | str
    size: int = 0

    def as_int(self) -> int:
        if isinstance(self.raw, str):
            try:
                return int(self.raw)
            except ValueError:
                f = float(self.raw)  # text integers written as "4.0" by hand-made files
                if f != int(f):
                    raise ValueError(f"{self.raw!r} is not an integer") from None
                return int(f)
        return int(struct.unpack(_SCALAR_SIZES[self.size][0], self.raw)[0])

    def as_float(self) -> float:
        if isinstance(self.raw, str):
            return float(self.raw)
        fmt = _SCALAR_SIZES[self.size][1]
        if fmt is None:
            return float(self.as_int())
        return float(struct.unpack(fmt, self.raw)[0])


@dataclass(frozen=True)
class Flag:
    """A bool value (`T`/`F`)."""

    value: bool


class KaldiStream:
    """A cursor over a Kaldi file's bytes (binary or text form). Every read raises
    ModelFileError naming the file and the byte offset when the data is not what it must be."""

    def __init__(self, data: bytes, where: str, pos: int = 0, binary: bool | None = None):
        self.data = data
        self.where = where
        self.pos = pos
        if binary is None:
            binary = data[pos:pos + 2] == b"\0B"
            if binary:
                self.pos += 2
        self.binary = binary

    # --- errors and low-level access -------------------------------------------------------
    def error(self, msg: str) -> ModelFileError:
        return ModelFileError(f"{self.where}: {msg} (at byte {self.pos})")

    def at_end(self) -> bool:
        self.skip_space()
        return self.pos >= len(self.data)

    def skip_space(self) -> None:
        data, n = self.data, len(self.data)
        while self.pos < n and data[self.pos] in b" \t\n\r":
            self.pos += 1

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise self.error(f"file ends inside {what} (truncated?)")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def peek_char(self) -> str:
        """The next non-space character ('' at the end)."""
        self.skip_space()
        return chr(self.data[self.pos]) if self.pos < len(self.data) else ""

    # --- tokens ------------------------------------------------------------------------------
    def word(self, what: str = "a token") -> str:
        """The next whitespace-terminated word (Kaldi's ReadToken)."""
        self.skip_space()
        start = self.pos
        data, n = self.data, len(self.data)
        while self.pos < n and data[self.pos] not in b" \t\n\r":
            self.pos += 1
        if self.pos == start:
            raise self.error(f"file ends where {what} was expected (truncated?)")
        if self.pos < n:
            self.pos += 1  # the one space that terminates a token
        raw = data[start:self.pos].rstrip()
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise self.error(f"expected {what}, found binary data") from None

    def peek_token(self) -> str | None:
        """The next `<Token>` without consuming it (None if the next item is a value)."""
        save = self.pos
        try:
            if self.peek_char() != "<":
                return None
            return self.word()
        finally:
            self.pos = save

    def expect(self, token: str) -> None:
        start = self.pos
        got = self.word(token)
        if got != token:
            self.pos = start
            raise self.error(f"expected {token}, found {_shown(got)}")

    def line(self) -> str:
        """The rest of the current line (for nnet3's config section)."""
        end = self.data.find(b"\n", self.pos)
        if end < 0:
            raise self.error("file ends inside the network's config lines (truncated?)")
        raw = self.data[self.pos:end]
        self.pos = end + 1
        try:
            return raw.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError:
            raise self.error("config line is not text") from None

    def skip_past(self, token: str) -> None:
        """Move past the next occurrence of `token` (skipping a section we do not read)."""
        at = self.data.find(token.encode(), self.pos)
        if at < 0:
            raise self.error(f"no {token} after this point (truncated?)")
        self.pos = at + len(token)

    # --- values ------------------------------------------------------------------------------
    def scalar(self, what: str = "a number") -> Scalar:
        if self.binary:
            size = struct.unpack("<b", self.take(1, what))[0]
            if size not in _SCALAR_SIZES:
                self.pos -= 1
                raise self.error(f"expected {what}, found byte 0x{self.data[self.pos]:02x}")
            return Scalar(self.take(abs(size), what), size)
        word = self.word(what)
        try:
            float(word)
        except ValueError:
            raise self.error(f"expected {what}, found {_shown(word)}") from None
        return Scalar(word)

    def int(self, what: str = "an integer") -> int:
        s = self.scalar(what)
        try:
            return s.as_int()
        except ValueError:
            raise self.error(f"expected {what}, found {s.raw!r}") from None

    def float(self, what: str = "a number") -> float:
        return self.scalar(what).as_float()

    def flag(self, what: str = "a bool") -> bool:
        c = self.peek_char()
        if c not in ("T", "F"):
            raise self.error(f"expected {what} (T or F), found {_shown(c)}")
        self.pos += 1
        return c == "T"

    def vector(self, what: str = "a vector") -> np.ndarray:
        if self.binary:
            self.skip_space()
            tag = self.word(what)
            if tag not in ("FV", "DV"):
                raise self.error(f"expected {what} (FV or DV), found {_shown(tag)}")
            n = self.int(f"the size of {what}")
            if n < 0:
                raise self.error(f"{what} has negative size {n}")
            dtype = "<f4" if tag == "FV" else "<f8"
            width = 4 if tag == "FV" else 8
            return np.frombuffer(self.take(n * width, what), dtype).astype(np.float32)
        rows = self._text_brackets(what)
        if len(rows) > 1:
            raise self.error(f"expected {what}, found a matrix")
        return rows[0] if rows else np.zeros(0, np.float32)

    def matrix(self, what: str = "a matrix") -> np.ndarray:
        if self.binary:
            self.skip_space()
            tag = self.word(what)
            if tag in ("CM", "CM2", "CM3"):
                raise self.error(f"{what} is a compressed matrix ({tag}), which is not supported")
            if tag not in ("FM", "DM"):
                raise self.error(f"expected {what} (FM or DM), found {_shown(tag)}")
            rows = self.int(f"the rows of {what}")
            cols = self.int(f"the columns of {what}")
            if rows < 0 or cols < 0:
                raise self.error(f"{what} has negative size {rows}x{cols}")
            dtype, width = ("<f4", 4) if tag == "FM" else ("<f8", 8)
            data = self.take(rows * cols * width, what)
            return np.frombuffer(data, dtype).astype(np.float32).reshape(rows, cols)
        rows = self._text_brackets(what)
        if not rows:
            return np.zeros((0, 0), np.float32)
        if len({len(r) for r in rows}) != 1:
            raise self.error(f"{what} has rows of different lengths")
        return np.stack(rows)

    def int_vector(self, what: str = "an integer vector") -> list[int]:
        if self.binary:
            size = self.take(1, what)[0]
            if size != 4:
                self.pos -= 1
                raise self.error(f"expected {what} of int32, found element size {size}")
            n = struct.unpack("<i", self.take(4, what))[0]
            if n < 0:
                raise self.error(f"{what} has negative size {n}")
            return [int(v) for v in np.frombuffer(self.take(4 * n, what), "<i4")]
        rows = self._text_brackets(what)
        values = rows[0] if rows else np.zeros(0)
        if len(rows) > 1 or np.any(values != np.round(values)):
            raise self.error(f"expected {what}")
        return [int(v) for v in values]

    def _text_brackets(self, what: str) -> list[np.ndarray]:
        """The rows of a text `[ ... ]` (one row for a vector, newline- or ';'-separated rows
        for a matrix)."""
        self.skip_space()
        if self.data[self.pos:self.pos + 2] == b"[]":
            self.pos += 2
            return []
        if self.pos >= len(self.data) or self.data[self.pos] != ord("["):
            found = self.word(what) if self.pos < len(self.data) else ""
            raise self.error(f"expected {what} ([ ... ]), found {_shown(found)}")
        end = self.data.find(b"]", self.pos)
        if end < 0:
            raise self.error(f"file ends inside {what} (truncated?)")
        body = self.data[self.pos + 1:end].replace(b";", b"\n")
        self.pos = end + 1
        rows = []
        for line in body.split(b"\n"):
            if line.strip():
                try:
                    rows.append(np.array(line.split(), dtype=np.float32))
                except ValueError:
                    raise self.error(f"{what} holds something that is not a number") from None
        return rows

    def value(self, int_vector: bool = False) -> object:
        """Whatever value comes next, told apart by its first bytes: Scalar, Flag, a float
        vector (1-D array), a matrix (2-D array) or, when asked, an integer vector."""
        if int_vector:
            return self.int_vector()
        self.skip_space()
        if self.pos >= len(self.data):
            raise self.error("file ends where a value was expected (truncated?)")
        head = self.data[self.pos:self.pos + 3]
        if self.binary:
            if head[:2] in (b"FV", b"DV"):
                return self.vector()
            if head[:2] in (b"FM", b"DM", b"CM"):
                return self.matrix()
            if head[:1] in (b"T", b"F"):
                return Flag(self.flag())
            return self.scalar("a value")
        if head[:1] == b"[":
            close = self.data.find(b"]", self.pos)
            inner = self.data[self.pos:close if close >= 0 else len(self.data)]
            return self.matrix() if b"\n" in inner or b";" in inner else self.vector()
        if head[:1] in (b"T", b"F") and (len(head) < 2 or head[1:2] in b" \t\r\n<"):
            return Flag(self.flag())
        return self.scalar("a value")


def _shown(word: str) -> str:
    return repr(word[:40]) if word else "the end of the file"


__all__ = ["Flag", "KaldiStream", "Scalar"]
