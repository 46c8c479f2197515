"""Cut points: where `input=` and `output=` name a place inside a graph, and the one error that
lists every name that is nowhere in it.

A name is a tensor name of the frontend's graph, or a node name with a Model Optimizer port:
"0:node" is input port 0 of `node` (a new input feeds only that port; as an output, the tensor
that feeds it), "node:1" is output 1 of `node` ("node" alone: output 0). A name that is a tensor
name is always taken as one (TensorFlow's tensors are named "node:1" anyway)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from dialects.errors import ConversionError


@dataclass(frozen=True)
class CutPoint:
    """A tensor (`tensor`), or input port `port` of node `node` (`tensor` None)."""

    name: str  # as the user wrote it
    tensor: str | None = None
    node: str | None = None
    port: int = 0


def resolve(name: str, is_tensor: Callable[[str], bool], node_outputs: Callable[[str], list[str] | None],
            node_inputs: Callable[[str], list[str] | None]) -> CutPoint | None:
    """What `name` means in a graph with these tensors and nodes (None: nothing).

    `node_outputs(n)` / `node_inputs(n)` give the tensor names of a node's outputs / inputs, or
    None when there is no node `n`."""
    if is_tensor(name):
        return CutPoint(name, tensor=name)
    head, sep, tail = name.partition(":")
    if sep and head.isdigit():  # "0:node": an input port
        ins = node_inputs(tail)
        if ins is not None and int(head) < len(ins):
            return CutPoint(name, tensor=None, node=tail, port=int(head))
        return None
    node, sep, port = name.rpartition(":")
    if sep and port.isdigit():  # "node:1": an output port
        outs = node_outputs(node)
        if outs is not None and int(port) < len(outs) and outs[int(port)]:
            return CutPoint(name, tensor=outs[int(port)])
        return None
    outs = node_outputs(name)
    if outs:
        return CutPoint(name, tensor=outs[0])
    return None


def as_output(cut: CutPoint, node_inputs: Callable[[str], list[str] | None]) -> str:
    """The tensor an output cut point names (an input port stands for the tensor it reads)."""
    if cut.tensor is not None:
        return cut.tensor
    return node_inputs(cut.node)[cut.port]  # type: ignore[index]


def drop_unused_inputs(b: Any, keep: Iterable[Any] = ()) -> None:
    """Erase what the builder made that the values in `keep` (the outputs) do not depend on,
    and the inputs left unread (those of the parts cut away)."""
    live: set = set()
    stack = list(keep)
    while stack:
        v = stack.pop()
        op = getattr(v, "op", None)
        if op is None or op in live:
            continue
        live.add(op)
        stack.extend(op.operands)
        for region in op.regions:  # values a nested body reads from outside
            for inner in region.walk():
                stack.extend(inner.operands)
    for op in reversed(list(b.block.ops)):  # users before what they use
        if op not in live:
            b.block.erase_op(op, safe_erase=False)
    kept = set(keep)
    for arg in reversed(list(b.block.args)):
        if arg.first_use is None and arg not in kept:
            b.input_names.pop(arg.index)
            b.block.erase_arg(arg)


def unknown_names_error(where: str, unknown: dict[str, str], known: Iterable[str]) -> ConversionError:
    """One error for every name given that the graph does not have, each with the nearest
    names it does have. `unknown` maps each name to what it was given as ("input", "output")."""
    pool = sorted(set(known))
    parts = []
    for name, what in unknown.items():
        near = difflib.get_close_matches(name, pool, n=3, cutoff=0.5)
        if not near:  # a name inside a scope ("model/dense/MatMul" for "MatMul")
            near = [p for p in pool if name in p][:3]
        hint = f" (nearest: {', '.join(near)})" if near else ""
        parts.append(f"{what} {name!r}{hint}")
    return ConversionError(f"{where}: no tensor or node named: " + "; ".join(parts))


__all__ = ["CutPoint", "as_output", "drop_unused_inputs", "resolve", "unknown_names_error"]
