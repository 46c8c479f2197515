"""Kaldi frontend: nnet1, nnet2 and nnet3 models (binary or text; `.nnet`, `.mdl`, `.raw`,
also recognized by content) into the `ov` dialect, without Kaldi.

The window. Kaldi networks run over time: Splice/SpliceComponent contexts, TdnnComponent
time offsets and nnet3 Offset() descriptors read other frames. The converted model takes a
fixed window of T frames, `input` of shape [T, feat_dim] (frame t of the window is row t),
and outputs the frames the window determines, as the Model Optimizer did with its fixed
context:

- with left context L (frames before, e.g. 2 for Splice -2..2) and right context R, `output`
  is [T - L - R, output_dim], row j being the network's output at window frame L + j;
- IfDefined() parts make frames outside the window zero (and widen the outputs accordingly);
- by default T = L + R + 1: one output frame (with several outputs, the largest such T).
  `input="input[T,dim]"` chooses T; T must be a number (the slices are static).
  `context(path, output)` returns L, R and L + R + 1;
- Kaldi's own tools (nnet-forward, nnet3-compute) pad an utterance by repeating its first
  and last frames L and R times; pad the window the same way to reproduce their outputs;
- an input read only through ReplaceIndex(x, t, 0) (an iVector) is [1, dim];
- recurrent nnet3 layers (LSTMs: IfDefined(Offset(r, -k))) run over the window from zero
  state, so each call is independent (no state across calls).

nnet1/nnet2 models have one input `input` and one output `output`; nnet3 models keep their
node names. `output=` may also name inner nodes (bottleneck features); nnet1/nnet2 nodes are
named after their components (`AffineTransform_3`). `counts=` (a counts file, or "" for the priors in a .mdl) and
`remove_output_softmax=True` edit the output layer as the Model Optimizer's --counts and
--remove_output_softmax did (see `outputs`). Supported components are listed in
`ops.SUPPORTED`; any other component, and the descriptors Failover/Switch/Round, are
reported together in one UnsupportedOpsError."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from compiler.frontends.inputs import InputSpec
from compiler.frontends.kaldi.descriptors import Expr, Ref, ReplaceIndex
from compiler.frontends.kaldi.nnet import Network, Node, is_kaldi, read_network
from compiler.frontends.kaldi.ops import SUPPORTED
from compiler.frontends.kaldi.outputs import remove_output_softmax, subtract_priors
from compiler.frontends.kaldi.window import OPEN, Graph, KaldiContext, expand_time_components, refused
from dialects.errors import ConversionError, InputError, ModelFileError, UnsupportedOpsError

SUFFIXES = (".nnet", ".mdl", ".raw")
INNER_OUTPUT = ":output"  # output nodes made for inner nodes (":" is not allowed in Kaldi names)


@dataclass(frozen=True)
class Context:
    """The frames a network reads around each output frame, and the smallest window."""

    left: int
    right: int

    @property
    def window(self) -> int:
        return self.left + self.right + 1


def looks_like_kaldi(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return is_kaldi(f.read(80))
    except OSError:
        return False


def load(path: str | Path, outputs: Sequence[str] = (), counts: str | Path | None = None,
         remove_softmax: bool = False) -> tuple[Network, Graph, list[str]]:
    """Read and check a Kaldi model: its network, its graph and the outputs chosen."""
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise ModelFileError(f"{where}: no such file")
    data = path.read_bytes()
    if not is_kaldi(data):
        raise ModelFileError(f"{where}: not a Kaldi model (no <Nnet>, <Nnet3> or <TransitionModel> at the start)")
    net = read_network(data, where, SUPPORTED)
    bad = refused(net)
    if bad:
        raise UnsupportedOpsError("Kaldi", where, bad)
    if not net.outputs:
        raise ModelFileError(f"{where}: the network has no output node")
    names = [o.name for o in net.outputs]
    chosen = []
    for o in list(outputs) or names:
        if o not in names:  # an inner node (bottleneck features): an output node reading it
            if o not in net.nodes or net.nodes[o].kind == "input":
                raise ConversionError(f"{where}: no node named {o!r} to output (outputs: {', '.join(names)})")
            net.add(Node(o + INNER_OUTPUT, "output", expr=Ref(o)))
            o += INNER_OUTPUT
        chosen.append(o)
    if remove_softmax:
        remove_output_softmax(net, chosen)
    if counts is not None:
        subtract_priors(net, chosen, counts)
    expand_time_components(net)
    return net, Graph(net), chosen


def context(path: str | Path, output: str | None = None) -> Context:
    """Left and right context of a Kaldi model's output (the first one by default)."""
    net, graph, chosen = load(path, [output] if output else ())
    return _context(graph, _constant_inputs(net), chosen)[chosen[0]]


def _context(graph: Graph, constant: set[str], outputs: list[str]) -> dict[str, Context]:
    big = OPEN // 4
    graph.analyse(big, constant)
    out = {}
    for o in outputs:
        f = graph.frames[o]
        if f.empty:
            raise ConversionError(f"{graph.where}: output {o!r} cannot be computed from any window of frames")
        out[o] = Context(f.lo, big - f.hi)
    return out


def _constant_inputs(net: Network) -> set[str]:
    """Inputs read only through ReplaceIndex (iVectors): they take just the frames read."""
    windowed: set[str] = set()
    seen: set[str] = set()

    def walk(e: Expr, inside: bool) -> None:
        if isinstance(e, Ref):
            if net.nodes[e.node].kind == "input":
                seen.add(e.node)
                if not inside:
                    windowed.add(e.node)
            return
        for c in e.children():
            walk(c, inside or isinstance(e, ReplaceIndex))

    for node in net.nodes.values():
        if node.expr is not None:
            walk(node.expr, False)
    return seen - windowed


def convert_kaldi(path: str | Path, specs: Sequence[InputSpec] = (), outputs: Sequence[str] = (),
                  counts: str | Path | None = None, remove_output_softmax: bool = False) -> ModuleOp:
    net, graph, chosen = load(path, outputs, counts, remove_output_softmax)
    constant = _constant_inputs(net)
    ctx_of = _context(graph, constant, chosen)
    window = _window(net, specs, constant, max(c.window for c in ctx_of.values()))
    graph.analyse(window, constant)
    for o in chosen:
        if graph.frames[o].empty:
            c = ctx_of[o]
            raise ConversionError(f"{net.where}: a window of {window} frames is too short for output {o!r}: it reads "
                                  f"{c.left} frames before and {c.right} after each output frame, so it needs at "
                                  f"least {c.window}")
    need = graph.needed(chosen)
    ctx = KaldiContext(graph)
    for node in net.inputs:
        f = need[node.name]
        if f.empty:
            continue  # not read by the chosen outputs
        if node.name in constant:
            arg = ctx.b.add_input([node.name], [len(f), node.dim], np.float32)
            ctx.blocks[node.name] = [(f.lo, arg)]
        else:
            arg = ctx.b.add_input([node.name], [window, node.dim], np.float32)
            ctx.blocks[node.name] = [(0, arg)]
    ctx.run(need)
    return ctx.b.finish([(ctx.node_rows(o, graph.frames[o]), [o.removesuffix(INNER_OUTPUT)]) for o in chosen])


def _window(net: Network, specs: Sequence[InputSpec], constant: set[str], default: int) -> int:
    inputs = net.inputs
    by_name = {s.name: s for s in specs if s.name}
    unnamed = [s for s in specs if not s.name]
    if unnamed and len(unnamed) != len(inputs):
        raise InputError(f"{net.where}: {len(unnamed)} unnamed input shapes given for {len(inputs)} inputs "
                         f"({', '.join(n.name for n in inputs)})")
    frames = set()
    for i, node in enumerate(inputs):
        spec = by_name.pop(node.name, None) or (unnamed[i] if unnamed else None)
        if spec is None:
            continue
        if spec.value is not None:
            raise InputError(f"{net.where}: Kaldi inputs cannot be frozen to constants ({node.name!r})")
        if spec.dtype is not None and spec.dtype != np.float32:
            raise InputError(f"{net.where}: input {node.name!r} is float32 (got {spec.dtype})")
        shape = spec.shape
        if shape is None:
            continue
        if len(shape) != 2 or shape[1] not in (None, node.dim):
            raise InputError(f"{net.where}: input {node.name!r} is [frames, {node.dim}], got {list(shape)}")
        if node.name in constant:
            continue  # its frames are the ones the model reads
        if shape[0] is None:
            raise ConversionError(f"{net.where}: Kaldi models take a fixed window of frames: give the number of "
                                  f"frames for {node.name!r}, e.g. input=\"{node.name}[100,{node.dim}]\"")
        if shape[0] <= 0:
            raise InputError(f"{net.where}: input {node.name!r} needs at least one frame")
        frames.add(shape[0])
    if by_name:
        raise InputError(f"{net.where}: no input named {', '.join(sorted(by_name))} (inputs: "
                         f"{', '.join(n.name for n in inputs)})")
    if len(frames) > 1:
        raise InputError(f"{net.where}: the windowed inputs must share one number of frames, got {sorted(frames)}")
    return frames.pop() if frames else default


__all__ = ["Context", "SUFFIXES", "context", "convert_kaldi", "looks_like_kaldi"]
