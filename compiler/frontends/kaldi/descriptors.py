"""nnet3 descriptors (nnet3/nnet-descriptor.h) and config lines (nnet3/nnet-parse.cc).

A descriptor says how a node's input is glued together from other nodes' outputs, frame by
frame:

    <descriptor> ::= <node-name>
                   | Append(<d>, <d>, ...)        concatenation of features
                   | Sum(<d>, <d>, ...)           element-wise sum
                   | Scale(<float>, <d>)          times a constant
                   | Const(<float>, <dim>)        a constant vector
                   | Offset(<d>, <t> [, <x>])     the value at frame t + <t>
                   | IfDefined(<d>)               the value where it can be computed, else zero
                   | ReplaceIndex(<d>, t, <t>)    the value at frame <t>, for every frame
                   | Failover / Switch / Round    (parsed, refused by the converter)

`DimRange` is not Kaldi syntax: it expresses dim-range-nodes and the parts of nnet2's
SpliceComponent."""

from __future__ import annotations

import re
from dataclasses import dataclass


class Expr:
    """A descriptor expression."""

    def children(self) -> tuple[Expr, ...]:
        return ()


@dataclass(frozen=True)
class Ref(Expr):
    node: str


@dataclass(frozen=True)
class Append(Expr):
    parts: tuple[Expr, ...]

    def children(self):
        return self.parts


@dataclass(frozen=True)
class Sum(Expr):
    parts: tuple[Expr, ...]

    def children(self):
        return self.parts


@dataclass(frozen=True)
class Scale(Expr):
    scale: float
    arg: Expr

    def children(self):
        return (self.arg,)


@dataclass(frozen=True)
class Const(Expr):
    value: float
    dim: int


@dataclass(frozen=True)
class Offset(Expr):
    arg: Expr
    t: int

    def children(self):
        return (self.arg,)


@dataclass(frozen=True)
class IfDefined(Expr):
    arg: Expr

    def children(self):
        return (self.arg,)


@dataclass(frozen=True)
class ReplaceIndex(Expr):
    arg: Expr
    t: int

    def children(self):
        return (self.arg,)


@dataclass(frozen=True)
class DimRange(Expr):
    arg: Expr
    offset: int
    dim: int

    def children(self):
        return (self.arg,)


@dataclass(frozen=True)
class Refused(Expr):
    """A descriptor kind the converter does not support (named in the error)."""

    kind: str
    args: tuple[Expr, ...]

    def children(self):
        return self.args


def refs(e: Expr) -> list[str]:
    """Every node name `e` reads."""
    if isinstance(e, Ref):
        return [e.node]
    return [n for c in e.children() for n in refs(c)]


class DescriptorError(ValueError):
    """A malformed descriptor or config line (the caller adds the file name)."""


_TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.\-]*|-?[0-9][0-9.eE+\-]*|-?\.[0-9][0-9eE+\-]*|[(),])")


def parse_descriptor(text: str) -> Expr:
    tokens = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise DescriptorError(f"cannot read descriptor {text!r} near {text[pos:]!r}")
        tokens.append(m.group(1))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    parser = _Parser(tokens, text)
    e = parser.expr()
    if parser.i != len(tokens):
        raise DescriptorError(f"descriptor {text!r} has text after its end: {' '.join(tokens[parser.i:])!r}")
    return e


class _Parser:
    def __init__(self, tokens: list[str], text: str):
        self.tokens, self.text, self.i = tokens, text, 0

    def next(self) -> str:
        if self.i >= len(self.tokens):
            raise DescriptorError(f"descriptor {self.text!r} ends early")
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, tok: str) -> None:
        got = self.next()
        if got != tok:
            raise DescriptorError(f"descriptor {self.text!r}: expected {tok!r}, found {got!r}")

    def integer(self) -> int:
        tok = self.next()
        try:
            return int(tok)
        except ValueError:
            raise DescriptorError(f"descriptor {self.text!r}: expected an integer, found {tok!r}") from None

    def number(self) -> float:
        tok = self.next()
        try:
            return float(tok)
        except ValueError:
            raise DescriptorError(f"descriptor {self.text!r}: expected a number, found {tok!r}") from None

    def args(self) -> list[Expr]:
        out = [self.expr()]
        while self.tokens[self.i:self.i + 1] == [","]:
            self.i += 1
            out.append(self.expr())
        self.expect(")")
        return out

    def expr(self) -> Expr:
        name = self.next()
        if self.tokens[self.i:self.i + 1] != ["("]:
            if name in "(),":
                raise DescriptorError(f"descriptor {self.text!r}: unexpected {name!r}")
            return Ref(name)
        self.i += 1
        if name in ("Append", "Sum"):
            parts = tuple(self.args())
            return parts[0] if len(parts) == 1 else (Append(parts) if name == "Append" else Sum(parts))
        if name == "Scale":
            scale = self.number()
            self.expect(",")
            arg = self.expr()
            self.expect(")")
            return Scale(scale, arg)
        if name == "Const":
            value = self.number()
            self.expect(",")
            dim = self.integer()
            self.expect(")")
            if dim <= 0:
                raise DescriptorError(f"descriptor {self.text!r}: Const needs a positive dimension")
            return Const(value, dim)
        if name == "Offset":
            arg = self.expr()
            self.expect(",")
            t = self.integer()
            x = 0
            if self.tokens[self.i:self.i + 1] == [","]:
                self.i += 1
                x = self.integer()
            self.expect(")")
            if x != 0:
                return Refused("Offset on the x index", (arg,))
            return Offset(arg, t)
        if name == "IfDefined":
            arg = self.expr()
            self.expect(")")
            return IfDefined(arg)
        if name == "ReplaceIndex":
            arg = self.expr()
            self.expect(",")
            var = self.next()
            self.expect(",")
            value = self.integer()
            self.expect(")")
            if var == "t":
                return ReplaceIndex(arg, value)
            if var == "x":
                return Refused("ReplaceIndex of x", (arg,))
            raise DescriptorError(f"descriptor {self.text!r}: ReplaceIndex needs t or x, found {var!r}")
        if name in ("Failover", "Switch"):
            return Refused(name, tuple(self.args()))
        if name == "Round":
            arg = self.expr()
            self.expect(",")
            self.integer()
            self.expect(")")
            return Refused("Round", (arg,))
        raise DescriptorError(f"descriptor {self.text!r}: unknown descriptor {name}()")


def parse_config_line(line: str) -> tuple[str, dict[str, str]]:
    """`first-token key=value key=value ...`; a value runs up to the space before the next
    `key=` (so descriptors may hold spaces), as Kaldi's ConfigLine does."""
    line = line.split("#", 1)[0].strip()
    first, _, rest = line.partition(" ")
    if "=" in first:
        first, rest = "", line
    values: dict[str, str] = {}
    keys = list(re.finditer(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_\-.]*)=", rest))
    if rest.strip() and (not keys or rest[:keys[0].start()].strip()):
        raise DescriptorError(f"config line {line!r} is not of the form name=value ...")
    for k, m in enumerate(keys):
        end = keys[k + 1].start() if k + 1 < len(keys) else len(rest)
        key = m.group(1)
        if key in values:
            raise DescriptorError(f"config line {line!r} sets {key} twice")
        values[key] = rest[m.end():end].strip().strip("\"'")
    return first, values


__all__ = ["Append", "Const", "DescriptorError", "DimRange", "Expr", "IfDefined", "Offset", "Ref",
           "Refused", "ReplaceIndex", "Scale", "Sum", "parse_config_line", "parse_descriptor", "refs"]
