"""Kaldi's time axis made static: which frames of each node can be computed from a window of
T input frames, and the `ov` ops that compute them.

Frames are numbered t = 0 .. T-1 across the input window. A node's value is computable on
an interval of frames: an input on [0, T); Offset(x, k) at t needs x at t + k; Append and Sum
need all their parts; IfDefined(x) is defined everywhere (zero where x is not); Const and
ReplaceIndex(x, t, c) (which reads x at frame c) too. A frame-wise component is computable
where its input is. Outputs are given for the window's frames where they are computable;
each node is computed on the frames its consumers need (a [frames, dim] tensor).

Recurrences (nnet3 LSTMs: `IfDefined(Offset(r, -3))` with r computed from the node itself)
are unrolled over the window in blocks of |offset| frames, the state starting from zeros at
the first computable frame as IfDefined says; so the model needs no state across calls. The
offsets inside one recurrent group must share their sign.

An input read only through ReplaceIndex(x, t, c) (an iVector) takes just the frames it
reads: [1, dim] for the usual c = 0."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.ir import SSAValue

from compiler.frontends.builder import FrontendContext, GraphBuilder, name_ops_since
from compiler.frontends.kaldi.descriptors import (
    Append,
    Const,
    DimRange,
    Expr,
    IfDefined,
    Offset,
    Ref,
    Refused,
    ReplaceIndex,
    Scale,
    Sum,
    refs,
)
from compiler.frontends.kaldi.nnet import Network, Node
from compiler.frontends.kaldi.ops import COMPONENTS, component_dims, splice2_context
from dialects.errors import ConversionError, ModelFileError

OPEN = 10 ** 9  # an interval end that is not bounded (|t| never comes close)


@dataclass(frozen=True)
class Frames:
    """The frames [lo, hi) (hi exclusive); an end may be open (+-OPEN)."""

    lo: int
    hi: int

    @property
    def empty(self) -> bool:
        return self.lo >= self.hi

    def __and__(self, o: Frames) -> Frames:
        return Frames(max(self.lo, o.lo), min(self.hi, o.hi))

    def hull(self, o: Frames) -> Frames:
        if self.empty:
            return o
        if o.empty:
            return self
        return Frames(min(self.lo, o.lo), max(self.hi, o.hi))

    def shift(self, k: int) -> Frames:
        return Frames(self.lo if self.lo <= -OPEN else self.lo - k, self.hi if self.hi >= OPEN else self.hi - k)

    def __len__(self) -> int:
        return max(0, self.hi - self.lo)


EVERYWHERE = Frames(-OPEN, OPEN)
NOWHERE = Frames(0, 0)


def expand_time_components(net: Network) -> None:
    """nnet1 Splice and nnet2 SpliceComponent become expression nodes over their input;
    TdnnComponent's input becomes its frames at the time offsets, spliced."""
    for node in net.nodes.values():
        if node.kind != "component" or node.component not in net.components:
            continue
        c = net.components[node.component]
        if c.kind == "Splice":
            component_dims(c)
            offsets = c.bare_value(0, "integer vector")
            node.kind, node.expr = "expr", Append(tuple(Offset(node.expr, o) for o in offsets))
        elif c.kind == "SpliceComponent":
            d, const = c.int("InputDim"), c.int("ConstComponentDim", 0)
            ctx = splice2_context(c)
            spliced = node.expr if const == 0 else DimRange(node.expr, 0, d - const)
            parts = [Offset(spliced, o) for o in ctx]
            if const:  # Kaldi copies the constant part (an iVector) from the first context frame
                parts.append(Offset(DimRange(node.expr, d - const, const), ctx[0]))
            node.kind, node.expr = "expr", Append(tuple(parts))
        elif c.kind == "TdnnComponent":
            node.expr = Append(tuple(Offset(node.expr, o) for o in c.ints("TimeOffsets")))


class Graph:
    """Dimensions, evaluation order and computable frames of a network's nodes."""

    def __init__(self, net: Network):
        self.net = net
        self.where = net.where
        self.check_references()
        self.dims: dict[str, int] = {}
        for name in net.nodes:
            self.dim_of(name, ())
        self.groups = strongly_connected(net)  # dependencies first
        self.recurrences = {g: self.recurrence(g) for g in self.groups if self.is_recurrent(g)}
        self.frames: dict[str, Frames] = {}

    # --- structure ----------------------------------------------------------------------------
    def check_references(self) -> None:
        for node in self.net.nodes.values():
            for r in refs(node.expr) if node.expr is not None else ():
                if r not in self.net.nodes:
                    raise ModelFileError(f"{self.where}: node {node.name!r} refers to {r!r}, which is not a node of "
                                         "the network")
                if self.net.nodes[r].kind == "output":
                    raise ModelFileError(f"{self.where}: node {node.name!r} reads output node {r!r}")

    def dim_of(self, name: str, stack: tuple[str, ...]) -> int:
        if name in self.dims:
            return self.dims[name]
        node = self.net.nodes[name]
        if name in stack:
            raise ModelFileError(f"{self.where}: nodes {' -> '.join(stack)} form a cycle without a component")
        if node.kind == "input":
            d = node.dim
        elif node.kind == "component":
            comp = self.net.components[node.component]
            ins, d = component_dims(comp)
            self.dims[name] = d  # a recurrence reads this node's output before its input is known
            got = self.expr_dim(node.expr, stack + (name,))
            if comp.kind == "TdnnComponent":  # its input arrives spliced at its time offsets
                got //= len(comp.ints("TimeOffsets"))
            if got != ins:
                raise ModelFileError(f"{self.where}: dimensions do not chain: node {name!r} gets {got} values "
                                     f"per frame but component {comp.name!r} ({comp.kind}) takes {ins}")
        else:
            d = self.expr_dim(node.expr, stack + (name,))
        self.dims[name] = d
        return d

    def expr_dim(self, e: Expr, stack: tuple[str, ...]) -> int:
        if isinstance(e, Ref):
            return self.dim_of(e.node, stack)
        if isinstance(e, Append):
            return sum(self.expr_dim(p, stack) for p in e.parts)
        if isinstance(e, Sum):
            dims = [self.expr_dim(p, stack) for p in e.parts]
            if len(set(dims)) != 1:
                raise ModelFileError(f"{self.where}: dimensions do not chain: Sum() of parts of dimensions {dims} "
                                     f"(in node {stack[-1]!r})")
            return dims[0]
        if isinstance(e, Const):
            return e.dim
        if isinstance(e, DimRange):
            d = self.expr_dim(e.arg, stack)
            if e.offset + e.dim > d:
                raise ModelFileError(f"{self.where}: dimensions do not chain: node {stack[-1]!r} takes dimensions "
                                     f"{e.offset}..{e.offset + e.dim - 1} of a {d}-dimensional input")
            return e.dim
        return self.expr_dim(e.children()[0], stack)

    def is_recurrent(self, group: tuple[str, ...]) -> bool:
        if len(group) > 1:
            return True
        node = self.net.nodes[group[0]]
        return node.expr is not None and group[0] in refs(node.expr)

    def recurrence(self, group: tuple[str, ...]) -> tuple[int, list[str]]:
        """(block length with its direction: -3 reads three frames back; the group's nodes in
        the order one block computes them)."""
        members = set(group)
        offsets: list[int] = []
        same_frame: dict[str, set[str]] = {n: set() for n in group}

        def walk(e: Expr, node: str, k: int, defined: bool) -> None:
            if isinstance(e, Ref):
                if e.node in members:
                    if k == 0:
                        same_frame[node].add(e.node)
                    elif not defined:
                        raise ConversionError(f"{self.where}: node {node!r} reads {e.node!r} {k} frames away in a "
                                              "recurrence without IfDefined(), so no frame of it can be computed")
                    else:
                        offsets.append(k)
                return
            if isinstance(e, ReplaceIndex) and any(r in members for r in refs(e)):
                raise ConversionError(f"{self.where}: node {node!r} uses ReplaceIndex() inside a recurrence")
            for c in e.children():
                walk(c, node, k + (e.t if isinstance(e, Offset) else 0), defined or isinstance(e, IfDefined))

        for n in group:
            walk(self.net.nodes[n].expr, n, 0, False)
        if not offsets:
            raise ModelFileError(f"{self.where}: nodes {', '.join(sorted(group))} depend on each other at the same "
                                 "frame")
        if min(offsets) < 0 < max(offsets):
            raise ConversionError(f"{self.where}: the recurrence through {', '.join(sorted(group))} reads both earlier "
                                  "and later frames; only one direction per recurrence can be unrolled")
        step = max(offsets) if offsets[0] < 0 else min(offsets)
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(n: str) -> None:
            if state.get(n) == 2:
                return
            if state.get(n) == 1:
                raise ModelFileError(f"{self.where}: nodes {', '.join(sorted(group))} depend on each other at the "
                                     "same frame")
            state[n] = 1
            for m in sorted(same_frame[n]):
                visit(m)
            state[n] = 2
            order.append(n)

        for n in group:
            visit(n)
        return step, order

    # --- frames -------------------------------------------------------------------------------
    def analyse(self, window: int, constant_inputs: set[str]) -> None:
        """Computable frames of every node for a window of `window` frames. Open ends stay
        open inside the network (the frames computed are the ones needed); outputs, and
        recurrences (which must start somewhere), keep to the window's frames."""
        self.window = window
        self.frames = {}
        inside = Frames(0, window)
        for group in self.groups:
            if group in self.recurrences:
                for n in group:
                    self.frames[n] = EVERYWHERE
                common = inside
                for n in group:
                    common = common & self.available(self.net.nodes[n].expr)
                for n in group:
                    self.frames[n] = common
                continue
            node = self.net.nodes[group[0]]
            if node.kind == "input":
                self.frames[node.name] = EVERYWHERE if node.name in constant_inputs else inside
            elif node.kind == "output":
                self.frames[node.name] = self.available(node.expr) & inside
            else:
                self.frames[node.name] = self.available(node.expr)

    def available(self, e: Expr) -> Frames:
        if isinstance(e, Ref):
            return self.frames[e.node]
        if isinstance(e, Offset):
            return self.available(e.arg).shift(e.t)
        if isinstance(e, (Append, Sum)):
            out = EVERYWHERE
            for p in e.parts:
                out = out & self.available(p)
            return out
        if isinstance(e, (IfDefined, Const)):
            return EVERYWHERE
        if isinstance(e, ReplaceIndex):
            a = self.available(e.arg)
            return EVERYWHERE if a.lo <= e.t < a.hi else NOWHERE
        return self.available(e.children()[0])

    def needed(self, outputs: list[str]) -> dict[str, Frames]:
        """The frames each node must be computed on for `outputs`."""
        need: dict[str, Frames] = {n: NOWHERE for n in self.net.nodes}
        for o in outputs:
            need[o] = self.frames[o]
        for group in reversed(self.groups):
            if group in self.recurrences:
                if any(not need[n].empty for n in group):
                    for n in group:  # the state runs from the first frame
                        need[n] = self.frames[n]
                    for n in group:
                        self.request(self.net.nodes[n].expr, self.frames[n], need)
                continue
            node = self.net.nodes[group[0]]
            if node.expr is not None and not need[node.name].empty:
                self.request(node.expr, need[node.name], need)
        return need

    def request(self, e: Expr, f: Frames, need: dict[str, Frames]) -> None:
        if f.empty:
            return
        if isinstance(e, Ref):
            need[e.node] = need[e.node].hull(f)
        elif isinstance(e, Offset):
            self.request(e.arg, Frames(f.lo + e.t, f.hi + e.t), need)
        elif isinstance(e, IfDefined):
            self.request(e.arg, f & self.available(e.arg), need)
        elif isinstance(e, ReplaceIndex):
            self.request(e.arg, Frames(e.t, e.t + 1), need)
        else:
            for c in e.children():
                self.request(c, f, need)


def strongly_connected(net: Network) -> list[tuple[str, ...]]:
    """Tarjan's strongly connected components of the node graph (edges from a node to the
    nodes it reads), dependencies before their users, iteratively."""
    deps = {n: sorted(set(refs(node.expr))) if node.expr is not None else [] for n, node in net.nodes.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[tuple[str, ...]] = []
    counter = 0
    for root in net.nodes:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on_stack.add(v)
            recurse = False
            for j in range(i, len(deps[v])):
                w = deps[v][j]
                if w not in index:
                    work.append((v, j + 1))
                    work.append((w, 0))
                    recurse = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if recurse:
                continue
            if low[v] == index[v]:
                group = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    group.append(w)
                    if w == v:
                        break
                out.append(tuple(sorted(group, key=list(net.nodes).index)))
            if work:
                u = work[-1][0]
                low[u] = min(low[u], low[v])
    return out


class KaldiContext(FrontendContext):
    """Builds the `ov` ops of one window: node values are lists of (first frame, tensor)
    blocks (one block, except for unrolled recurrences)."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.net = graph.net
        self.b = GraphBuilder()
        self.blocks: dict[str, list[tuple[int, SSAValue]]] = {}
        self._weights: dict[tuple, SSAValue] = {}

    def const(self, value, dtype=None) -> SSAValue:
        """Constants shared by content: an unrolled recurrence uses its weights once per block."""
        arr = np.asarray(value, dtype=dtype)
        if arr.size <= 16:
            return self.b.const(arr)
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        if key not in self._weights:
            self._weights[key] = self.b.const(arr)
        return self._weights[key]

    # --- helpers the component converters use ---------------------------------------------------
    def affine(self, x: SSAValue, w: np.ndarray, bias: np.ndarray | None) -> SSAValue:
        y = self.b.out("MatMul", [x, self.const(np.ascontiguousarray(w, np.float32))], transpose_b=True)
        return y if bias is None else self.b.out("Add", [y, self.const(bias.astype(np.float32))])

    def reshape(self, x: SSAValue, shape: list[int]) -> SSAValue:
        return self.b.out("Reshape", [x, self.i64(shape)], special_zero=False)

    def scale_offset(self, x: SSAValue, scale: np.ndarray, offset: np.ndarray) -> SSAValue:
        y = self.b.out("Multiply", [x, self.const(scale.astype(np.float32))])
        return self.b.out("Add", [y, self.const(offset.astype(np.float32))])

    def rows(self, v: SSAValue, lo: int, hi: int) -> SSAValue:
        if lo == 0 and hi == self.shape(v)[0]:
            return v
        return self.b.out("Slice", [v, self.i64([lo]), self.i64([hi]), self.i64([1]), self.i64([0])])

    # --- node values ------------------------------------------------------------------------------
    def node_rows(self, name: str, f: Frames) -> SSAValue:
        pieces = []
        for start, v in sorted(self.blocks.get(name, []), key=lambda p: p[0]):
            n = self.shape(v)[0]
            lo, hi = max(f.lo, start), min(f.hi, start + n)
            if lo < hi:
                pieces.append((lo, hi, self.rows(v, lo - start, hi - start)))
        if not pieces or pieces[0][0] != f.lo or pieces[-1][1] != f.hi or any(
                a[1] != b[0] for a, b in zip(pieces, pieces[1:])):
            raise ConversionError(f"{self.graph.where}: frames {f.lo}..{f.hi - 1} of node {name!r} were not computed "
                                  "(a bug in the window analysis)")
        if len(pieces) == 1:
            return pieces[0][2]
        return self.b.out("Concat", [p[2] for p in pieces], axis=0)

    def value(self, e: Expr, f: Frames) -> SSAValue:
        """The descriptor's value on frames f: [len(f), dim]."""
        b = self.b
        if isinstance(e, Ref):
            return self.node_rows(e.node, f)
        if isinstance(e, Offset):
            return self.value(e.arg, Frames(f.lo + e.t, f.hi + e.t))
        if isinstance(e, Append):
            return b.out("Concat", [self.value(p, f) for p in e.parts], axis=1)
        if isinstance(e, Sum):
            out = self.value(e.parts[0], f)
            for p in e.parts[1:]:
                out = b.out("Add", [out, self.value(p, f)])
            return out
        if isinstance(e, Scale):
            return b.out("Multiply", [self.value(e.arg, f), self.const(np.float32(e.scale))])
        if isinstance(e, Const):
            return self.const(np.full((len(f), e.dim), e.value, np.float32))
        if isinstance(e, DimRange):
            x = self.value(e.arg, f)
            if e.offset == 0 and e.dim == self.shape(x)[1]:
                return x
            return b.out("Slice", [x, self.i64([e.offset]), self.i64([e.offset + e.dim]), self.i64([1]),
                                   self.i64([1])])
        if isinstance(e, IfDefined):
            inner = f & self.graph.available(e.arg)
            if inner.empty:
                return self.const(np.zeros((len(f), self.graph.expr_dim(e.arg, ("?",))), np.float32))
            x = self.value(e.arg, inner)
            if inner == f:
                return x
            return b.out("Pad", [x, self.i64([inner.lo - f.lo, 0]), self.i64([f.hi - inner.hi, 0]),
                                 self.const(np.float32(0))], pad_mode="constant")
        if isinstance(e, ReplaceIndex):
            x = self.value(e.arg, Frames(e.t, e.t + 1))
            if len(f) == 1:
                return x
            return b.out("Broadcast", [x, self.i64([len(f), self.shape(x)[1]])], mode="numpy")
        raise ConversionError(f"{self.graph.where}: descriptor {type(e).__name__} is not supported")

    def compute(self, node: Node, f: Frames) -> SSAValue:
        x = self.value(node.expr, f)
        if node.kind != "component":
            return x
        comp = self.net.components[node.component]
        y = COMPONENTS[comp.kind].build(self, comp, x)
        return y

    def run(self, need: dict[str, Frames]) -> None:
        g = self.graph
        for group in g.groups:
            if group in g.recurrences:
                self.unroll(group, need)
                continue
            node = self.net.nodes[group[0]]
            f = need[node.name]
            if node.kind == "input" or f.empty:
                continue
            before = self.b.block.last_op
            self.blocks[node.name] = [(f.lo, self.compute(node, f))]
            name_ops_since(self.b, before, node.name)

    def unroll(self, group: tuple[str, ...], need: dict[str, Frames]) -> None:
        step, order = self.graph.recurrences[group]
        f = need[group[0]]
        if f.empty:
            return
        size = abs(step)
        starts = list(range(f.lo, f.hi, size))
        if step > 0:  # reads later frames: run backwards in time
            starts.reverse()
        for start in starts:
            block = Frames(start, min(start + size, f.hi))
            for name in order:
                before = self.b.block.last_op
                self.blocks.setdefault(name, []).append((block.lo, self.compute(self.net.nodes[name], block)))
                name_ops_since(self.b, before, f"{name}/t{block.lo}")


def refused(net: Network) -> dict[str, list[str]]:
    """Unsupported component types and descriptor kinds, with the nodes using them."""
    out: dict[str, list[str]] = {}
    for c in net.skipped:
        users = [n.name for n in net.nodes.values() if n.component == c.name] or [c.name]
        out.setdefault(c.kind, []).extend(users)

    def walk(e: Expr, node: str) -> None:
        if isinstance(e, Refused):
            out.setdefault(f"descriptor {e.kind}", []).append(node)
        for c in e.children():
            walk(c, node)

    for node in net.nodes.values():
        if node.expr is not None:
            walk(node.expr, node.name)
    return out


__all__ = ["EVERYWHERE", "Frames", "Graph", "KaldiContext", "expand_time_components", "refused",
           "strongly_connected"]
