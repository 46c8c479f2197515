"""The output-layer edits the Model Optimizer offered for Kaldi acoustic models.

- `counts`: a counts file (Kaldi's text vector `[ c0 c1 ... ]`, e.g. from `analyze-counts`,
  or a binary vector) or "" for the priors stored in a .mdl. The counts become log-priors
  C_i = log(C_i / sum_j C_j) and are subtracted from the bias of the last affine layer (the
  one before a final softmax), which turns posteriors into scaled likelihoods. As the Model
  Optimizer did, counts below 1e-10 are raised to 1e-10 and their log-prior is raised by
  half the largest float32, so those outputs become very unlikely instead of infinite.
  When that layer has no bias, a FixedBias node after it does the subtraction.
- `remove_output_softmax`: the output reads the input of a final Softmax/LogSoftmax."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from compiler.frontends.kaldi.components import Component
from compiler.frontends.kaldi.descriptors import Ref
from compiler.frontends.kaldi.nnet import Network, Node
from compiler.frontends.kaldi.ops import bias_of, component_dims, with_bias
from compiler.frontends.kaldi.stream import KaldiStream
from dialects.errors import ConversionError, ModelFileError

SOFTMAX_KINDS = ("SoftmaxComponent", "LogSoftmaxComponent", "Softmax")
COUNT_CUTOFF = 1.00000001e-10


def read_counts(path: str | Path) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise ModelFileError(f"{p}: no such counts file")
    data = p.read_bytes()
    s = KaldiStream(data, str(p))
    if s.binary or s.peek_char() == "[":
        counts = s.vector("the counts")
    else:  # numbers without brackets, as the Model Optimizer also accepted
        try:
            counts = np.array(data.decode("ascii").split(), dtype=np.float64)
        except (UnicodeDecodeError, ValueError):
            raise ModelFileError(f"{p}: not a counts file (expected [ c0 c1 ... ])") from None
    if counts.size == 0 or not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise ModelFileError(f"{p}: counts must be a non-empty vector of non-negative numbers")
    return counts.astype(np.float64)


def log_priors(counts: np.ndarray) -> np.ndarray:
    c = np.array(counts, np.float64)
    low = c < COUNT_CUTOFF
    c[low] = COUNT_CUTOFF
    out = np.log(c / c.sum())
    out[low] += np.finfo(np.float32).max / 2
    return out


def _producer(net: Network, output: Node) -> Node | None:
    if isinstance(output.expr, Ref):
        node = net.nodes[output.expr.node]
        return node if node.kind == "component" else None
    return None


def _is_softmax(net: Network, node: Node | None) -> bool:
    return node is not None and net.components[node.component].kind in SOFTMAX_KINDS


def remove_output_softmax(net: Network, outputs: list[str]) -> None:
    for name in outputs:
        out = net.nodes[name]
        node = _producer(net, out)
        if _is_softmax(net, node):
            out.expr = node.expr


def subtract_priors(net: Network, outputs: list[str], counts: str | Path) -> None:
    where = net.where
    if str(counts) == "":
        if net.priors is None or net.priors.size == 0:
            raise ConversionError(f"{where}: counts='' asks for the priors stored in the model, but it holds none "
                                  "(give a counts file)")
        counts_vec, source = net.priors.astype(np.float64), "the model's priors"
    else:
        counts_vec, source = read_counts(counts), str(counts)
    target = "output" if "output" in outputs else (outputs[0] if len(outputs) == 1 else None)
    if target is None:
        raise ConversionError(f"{where}: counts apply to one output, but the model has {', '.join(outputs)} "
                              "(choose one with output=)")
    out = net.nodes[target]
    node = _producer(net, out)
    consumer = out
    if _is_softmax(net, node):
        consumer, node = node, _producer(net, node)
    if not isinstance(consumer.expr, Ref):
        raise ConversionError(f"{where}: output {target!r} is not computed by a single node, so there is no last "
                              "layer to subtract the priors from")
    dim = _dim_of(net, consumer.expr.node)
    if dim is not None and dim != counts_vec.size:
        raise ConversionError(f"{where}: {source} has {counts_vec.size} values for an output of dimension {dim}")
    shift = log_priors(counts_vec)
    comp = net.components.get(node.component) if node is not None else None
    bias = bias_of(comp) if comp is not None else None
    if bias is not None and bias.size == shift.size:
        new = with_bias(comp, bias.astype(np.float64) - shift)
        new.name = f"{comp.name}.with_priors"
        net.components[new.name] = new
        node.component = new.name
        return
    fixed = Component("FixedBiasComponent", f"{consumer.expr.node}.priors", where,
                      fields={"<Bias>": [(-shift).astype(np.float32)]})
    net.components[fixed.name] = fixed
    net.add(Node(fixed.name, "component", expr=consumer.expr, component=fixed.name))
    consumer.expr = Ref(fixed.name)


def _dim_of(net: Network, name: str) -> int | None:
    node = net.nodes[name]
    if node.kind == "component":
        return component_dims(net.components[node.component])[1]
    return node.dim or None


__all__ = ["log_priors", "read_counts", "remove_output_softmax", "subtract_priors"]
