"""MXNet's `-symbol.json` graphs read with the standard library.

    {"nodes": [{"op": "Convolution", "name": "conv0", "attrs": {"kernel": "(3, 3)", ...},
                "inputs": [[node, output, version], ...]}, ...],
     "arg_nodes": [...], "heads": [[node, output, version], ...], "attrs": {"mxnet_version": [...]}}

`op == "null"` nodes are variables (inputs, parameters, auxiliary states). Attribute values are
strings as MXNet's parameter parser reads them ("(3, 3)", "True", "1e-05", "None"); files older
than MXNet 0.9 keep them under "param" and "attr" instead of "attrs"."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from dialects.errors import ModelFileError


@dataclass
class Node:
    index: int
    op: str
    name: str
    attrs: dict[str, str]
    inputs: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Symbol:
    nodes: list[Node]
    heads: list[tuple[int, int]]


def _entry(e, where: str, n: int, what: str) -> tuple[int, int]:
    if not isinstance(e, list) or len(e) not in (2, 3) or not all(isinstance(v, int) for v in e):
        raise ModelFileError(f"{where}: {what} {e!r} is not [node, output(, version)]")
    if not 0 <= e[0] < n or e[1] < 0:
        raise ModelFileError(f"{where}: {what} refers to node {e[0]} of {n}")
    return e[0], e[1]


def read_symbol(path: str | Path) -> Symbol:
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ModelFileError(f"{where}: cannot read MXNet symbol: {e}") from e
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        raise ModelFileError(f"{where}: not valid JSON: {e}") from e
    if not isinstance(doc, dict) or not isinstance(doc.get("nodes"), list) or not isinstance(doc.get("heads"), list):
        raise ModelFileError(f"{where}: not an MXNet symbol (no \"nodes\" and \"heads\" lists)")
    raw = doc["nodes"]
    nodes = []
    for i, d in enumerate(raw):
        if not isinstance(d, dict) or not isinstance(d.get("op"), str) or not isinstance(d.get("name"), str):
            raise ModelFileError(f"{where}: node {i} has no op and name")
        attrs: dict[str, str] = {}
        for key in ("param", "attr", "attrs"):
            a = d.get(key, {})
            if not isinstance(a, dict) or not all(isinstance(v, str) for v in a.values()):
                raise ModelFileError(f"{where}: node {d['name']!r}: {key} must map names to strings")
            attrs.update(a)
        ins = d.get("inputs", [])
        if not isinstance(ins, list):
            raise ModelFileError(f"{where}: node {d['name']!r}: inputs must be a list")
        entries = [_entry(e, where, len(raw), f"an input of node {d['name']!r}") for e in ins]
        if any(src >= i for src, _ in entries):
            raise ModelFileError(f"{where}: node {d['name']!r} reads a later node (nodes must be in topological "
                                 "order)")
        nodes.append(Node(i, d["op"], d["name"], attrs, entries))
    heads = [_entry(e, where, len(raw), "a head") for e in doc["heads"]]
    if not heads:
        raise ModelFileError(f"{where}: the symbol has no outputs (heads)")
    return Symbol(nodes, heads)


# --- attribute values -------------------------------------------------------------------------
def parse_bool(s: str) -> bool:
    low = s.strip().lower()
    if low in ("true", "1"):
        return True
    if low in ("false", "0"):
        return False
    raise ValueError(f"expected a boolean, got {s!r}")


def parse_tuple(s: str) -> list[int | None]:
    """"(3, 3)", "[1,2]", "(3,)", "3", "()" and "None" entries as in MXNet's tuple parser."""
    t = s.strip()
    if t in ("None", ""):
        return []
    if t[0] in "([" and t[-1] in ")]":
        t = t[1:-1]
    out: list[int | None] = []
    for part in t.split(","):
        p = part.strip()
        if not p:
            continue
        out.append(None if p == "None" else int(float(p)) if "e" in p.lower() or "." in p else int(p))
    return out


__all__ = ["Node", "Symbol", "parse_bool", "parse_tuple", "read_symbol"]
