"""Kaldi model files into one `Network` of nodes, for all three formats:

- nnet1 (`nnet-train-frmshuff` and friends, `final.nnet`): `<Nnet>`, then components, each a
  `<Type> output-dim input-dim` header, its data and `<!EndOfComponent>`, then `</Nnet>`.
- nnet2 (`final.mdl` of nnet2 recipes): `<Nnet> <NumComponents> n <Components>`, components
  `<TypeComponent> ... </TypeComponent>`, `</Components> </Nnet>`, then (in a .mdl) the
  priors vector.
- nnet3 (`final.raw`, `final.mdl`): `<Nnet3>`, a newline, config lines (`input-node`,
  `component-node`, `dim-range-node`, `output-node`) up to a blank line, `<NumComponents>`,
  `<ComponentName> name <TypeComponent> ... </TypeComponent>` each, `</Nnet3>`; a .mdl adds
  `<LeftContext> <RightContext> <Priors>`.

A `.mdl` starts with a `<TransitionModel>` (the HMM), which is skipped. nnet1 and nnet2
networks are chains: they become nnet3-like nodes named after their components."""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field

import numpy as np

from compiler.frontends.kaldi.components import Component, read_body
from compiler.frontends.kaldi.descriptors import (
    DescriptorError,
    DimRange,
    Expr,
    Ref,
    parse_config_line,
    parse_descriptor,
)
from compiler.frontends.kaldi.ops import component_dims
from compiler.frontends.kaldi.stream import KaldiStream
from dialects.errors import ModelFileError

TOP_TOKENS = ("<Nnet>", "<Nnet3>", "<TransitionModel>")

# every nnet1 component marker (nnet/nnet-component.cc), matched case-insensitively: a
# component without <!EndOfComponent> (old files) ends where the next marker starts
NNET1_MARKERS = {m.lower(): m for m in (
    "AffineTransform", "LinearTransform", "ConvolutionalComponent", "Convolutional2DComponent",
    "LstmProjected", "LstmProjectedStreams", "BlstmProjected", "BlstmProjectedStreams", "RecurrentComponent",
    "Softmax", "HiddenSoftmax", "BlockSoftmax", "Sigmoid", "Tanh", "ParametricRelu", "Dropout",
    "LengthNormComponent", "Splice", "Copy", "AddShift", "Rescale", "KlHmm", "AveragePoolingComponent",
    "AveragePooling2DComponent", "MaxPoolingComponent", "MaxPooling2DComponent", "FramePoolingComponent",
    "ParallelComponent", "MultiBasisComponent", "SentenceAveragingComponent", "SimpleSentenceAveragingComponent",
    "Rbm", "Fsmn", "DeepFsmn", "UniFsmn", "UniDeepFsmn")}


@dataclass
class Node:
    """kind: "input" (dim), "component" (expr feeds component), "expr" (a value computed by
    its expression: dim-range nodes, splices) or "output" (expr)."""

    name: str
    kind: str
    expr: Expr | None = None
    component: str | None = None
    dim: int = 0


@dataclass
class Network:
    where: str
    format: str
    nodes: dict[str, Node] = field(default_factory=dict)
    components: dict[str, Component] = field(default_factory=dict)
    priors: np.ndarray | None = None
    skipped: list[Component] = field(default_factory=list)  # components not read (unsupported)

    def add(self, node: Node) -> None:
        if node.name in self.nodes:
            raise ModelFileError(f"{self.where}: node {node.name!r} is defined twice")
        self.nodes[node.name] = node

    @property
    def outputs(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.kind == "output"]

    @property
    def inputs(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.kind == "input"]


def is_kaldi(data: bytes) -> bool:
    """Whether `data` starts like a Kaldi model (binary or text)."""
    head = data[2:] if data[:2] == b"\0B" else data
    head = head[:64].lstrip()
    return any(head.startswith(t.encode()) and head[len(t):len(t) + 1] in (b" ", b"\n", b"\r", b"\t")
               for t in TOP_TOKENS)


def read_network(data: bytes, where: str, parsed: Container[str]) -> Network:
    """`parsed`: the component types whose bodies are read (the others are skipped to their
    end marker and kept in `skipped`, for the unsupported-components error)."""
    s = KaldiStream(data, where)
    tok = s.peek_token()
    if tok == "<TransitionModel>":
        s.word()
        s.skip_past("</TransitionModel>")
        tok = s.peek_token()
    if tok == "<Nnet3>":
        return _read_nnet3(s, parsed)
    if tok == "<Nnet>":
        s.word()
        if s.peek_token() == "<NumComponents>":
            return _read_nnet2(s, parsed)
        return _read_nnet1(s, parsed)
    found = s.word() if not s.at_end() else ""
    raise ModelFileError(f"{where}: not a Kaldi model: expected <Nnet>, <Nnet3> or <TransitionModel>, "
                         f"found {found[:40]!r}")


def _chain(net: Network, comps: list[Component], input_dim: int) -> None:
    """nnet1/nnet2: input -> component 0 -> component 1 -> ... -> output."""
    net.add(Node("input", "input", dim=input_dim))
    prev = "input"
    for c in comps:
        net.components[c.name] = c
        net.add(Node(c.name, "component", expr=Ref(prev), component=c.name))
        prev = c.name
    net.add(Node("output", "output", expr=Ref(prev)))


def _read_nnet1(s: KaldiStream, parsed: Container[str]) -> Network:
    net = Network(s.where, "nnet1")
    comps: list[Component] = []
    ends = {"<!EndOfComponent>", "</Nnet>"} | {f"<{m}>" for m in NNET1_MARKERS.values()}
    while True:
        tok = s.word("a component or </Nnet>")
        if tok == "</Nnet>":
            break
        if tok == "<!EndOfComponent>":
            continue
        marker = NNET1_MARKERS.get(tok.strip("<>").lower()) if tok.startswith("<") and tok.endswith(">") else None
        if marker is None:
            raise s.error(f"unknown token {tok[:40]!r} where an nnet1 component was expected")
        out_dim = s.int(f"the output dimension of {marker}")
        in_dim = s.int(f"the input dimension of {marker}")
        comp = Component(marker, f"{marker}_{len(comps)}", s.where, dims=(in_dim, out_dim))
        if marker in parsed:
            read_body(s, comp, ends | {tok}, bare_int_vectors=marker in ("Splice", "Copy"))
            comps.append(comp)
            continue
        net.skipped.append(comp)
        try:
            s.skip_past("<!EndOfComponent>")
        except ModelFileError:
            break  # nested networks may hide the end: the unsupported error says enough
    if comps and not net.skipped:
        _chain(net, comps, comps[0].dims[0])
    return net


def _read_nnet2(s: KaldiStream, parsed: Container[str]) -> Network:
    net = Network(s.where, "nnet2")
    s.expect("<NumComponents>")
    n = s.int("the number of components")
    if not 0 < n < 100000:
        raise s.error(f"implausible number of components {n}")
    s.expect("<Components>")
    comps = _read_components(s, net, n, parsed, named=False)
    s.expect("</Components>")
    s.expect("</Nnet>")
    if not s.at_end():
        net.priors = s.vector("the priors")
    if comps and not net.skipped:
        _chain(net, comps, component_dims(comps[0])[0])
    return net


def _read_components(s: KaldiStream, net: Network, n: int, parsed: Container[str], named: bool) -> list[Component]:
    comps = []
    for i in range(n):
        if named:
            s.expect("<ComponentName>")
            name = s.word("a component name")
        tok = s.word("a component")
        if not (tok.startswith("<") and tok.endswith(">") and len(tok) > 2) or tok.startswith("</"):
            raise s.error(f"unknown token {tok[:40]!r} where a component was expected")
        kind = tok[1:-1]
        comp = Component(kind, name if named else f"{kind}_{i}", s.where)
        end = f"</{kind}>"
        if kind in parsed:
            read_body(s, comp, {end})
            s.word()
            comps.append(comp)
        else:
            s.skip_past(end)
            net.skipped.append(comp)
    return comps


def _read_nnet3(s: KaldiStream, parsed: Container[str]) -> Network:
    net = Network(s.where, "nnet3")
    s.expect("<Nnet3>")
    first = s.line()
    if first.strip():
        raise s.error(f"expected a newline after <Nnet3>, found {first[:40]!r}")
    lines = []
    while True:
        line = s.line()
        if not line.strip():
            break
        lines.append(line)
    s.expect("<NumComponents>")
    n = s.int("the number of components")
    if not 0 <= n < 100000:
        raise s.error(f"implausible number of components {n}")
    for c in _read_components(s, net, n, parsed, named=True):
        if c.name in net.components:
            raise s.error(f"component {c.name!r} is defined twice")
        net.components[c.name] = c
    s.expect("</Nnet3>")
    if s.peek_token() == "<LeftContext>":  # AmNnetSimple
        s.word()
        s.int("the left context")
        s.expect("<RightContext>")
        s.int("the right context")
        s.expect("<Priors>")
        net.priors = s.vector("the priors")
    for line in lines:
        _config_node(net, line)
    return net


def _config_node(net: Network, line: str) -> None:
    where = net.where
    try:
        first, values = parse_config_line(line)
        name = values.get("name")
        if not name:
            raise DescriptorError(f"config line {line!r} has no name=")

        def need(key: str) -> str:
            if key not in values:
                raise DescriptorError(f"config line {line!r} has no {key}=")
            return values[key]

        if first == "input-node":
            net.add(Node(name, "input", dim=_positive(need("dim"), line)))
        elif first == "component-node":
            comp = need("component")
            if comp not in net.components and comp not in {c.name for c in net.skipped}:
                raise DescriptorError(f"component-node {name!r} uses component {comp!r}, which the file does "
                                      "not define")
            net.add(Node(name, "component", expr=parse_descriptor(need("input")), component=comp))
        elif first == "output-node":
            net.add(Node(name, "output", expr=parse_descriptor(need("input"))))
        elif first == "dim-range-node":
            src = need("input-node")
            expr = DimRange(Ref(src), _natural(need("dim-offset"), line), _positive(need("dim"), line))
            net.add(Node(name, "expr", expr=expr))
        else:
            raise DescriptorError(f"unknown config line {first!r}: {line[:80]!r}")
    except DescriptorError as e:
        raise ModelFileError(f"{where}: {e}") from None


def _positive(v: str, line: str) -> int:
    n = _natural(v, line)
    if n <= 0:
        raise DescriptorError(f"config line {line!r}: dimension {v} is not positive")
    return n


def _natural(v: str, line: str) -> int:
    try:
        n = int(v)
    except ValueError:
        raise DescriptorError(f"config line {line!r}: {v!r} is not an integer") from None
    if n < 0:
        raise DescriptorError(f"config line {line!r}: {v} is negative")
    return n


__all__ = ["NNET1_MARKERS", "Network", "Node", "is_kaldi", "read_network"]
