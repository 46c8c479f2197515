"""Caffe frontend: a network description (`.prototxt`) and its trained weights (`.caffemodel`)
into the `ov` dialect, read without Caffe (see `schema`).

`convert_caffe("net.caffemodel")` looks for the description beside the weights (`net.prototxt`,
`net_deploy.prototxt`, `deploy.prototxt`, ...); `input_proto=` names it otherwise. A prototxt
alone converts when no layer needs trained weights. The net is run as Caffe runs it for
inference: in the TEST phase (layers that a rule keeps out of it are skipped), and its outputs
are the blobs no layer consumes, in Caffe's order (by name)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from compiler.frontends.builder import add_tensor_name, name_ops_since
from compiler.frontends.caffe import layers_math, layers_nn, layers_tensor  # noqa: F401  (fill the table)
from compiler.frontends.caffe.context import LAYERS, CaffeContext, needs_weights
from compiler.frontends.caffe.schema import read_caffemodel, read_prototxt
from compiler.frontends.inputs import InputSpec
from dialects.errors import ConversionError, InputError, InternalError, ModelFileError, OvccError, UnsupportedOpsError

TEST = 1  # caffe.Phase
INPUT = "Input"  # a layer that only declares inputs


def find_prototxt(caffemodel: Path) -> Path:
    """The network description beside a caffemodel, by the names Caffe model releases use."""
    folder, stem = caffemodel.parent, caffemodel.stem
    # "ResNet-50-model", "res10_300x300_ssd_iter_140000", "bvlc_alexnet" ...
    bases = [stem, re.sub(r"([_.-]?(model|weights|iter_\d+|pretrained))+$", "", stem, flags=re.I)]
    names = []
    for base in dict.fromkeys(b for b in bases if b):
        names += [base, f"{base}_deploy", f"{base}-deploy", f"{base}.deploy", f"deploy_{base}"]
    names.append("deploy")
    for name in dict.fromkeys(names):
        p = folder / f"{name}.prototxt"
        if p.is_file():
            return p
    deploys = sorted(p for p in folder.glob("*.prototxt") if "deploy" in p.name.lower())
    if len(deploys) == 1:
        return deploys[0]
    raise ModelFileError(f"{caffemodel}: no network description found beside it (looked for {stem}.prototxt and "
                         "deploy.prototxt); name it with input_proto= (ovcc --input_proto)")


def convert_caffe(path: str | os.PathLike, inputs: Sequence[InputSpec] = (), outputs: Sequence[str] = (),
                  input_proto: str | os.PathLike | None = None) -> ModuleOp:
    """Convert a Caffe model given by its .caffemodel (the prototxt found beside it or named by
    `input_proto`) or by a weightless .prototxt."""
    p = Path(path)
    if p.suffix.lower() == ".prototxt":
        if input_proto is not None:
            raise ModelFileError(f"{p}: input_proto names the description of a .caffemodel, and this is a prototxt")
        proto, weights_path = p, None
    else:
        weights_path = p
        proto = Path(input_proto) if input_proto is not None else find_prototxt(p)
        if not proto.is_file():
            raise ModelFileError(f"{proto}: no such Caffe prototxt (the network description of {p})")
    net = read_prototxt(proto)
    weights = read_caffemodel(weights_path) if weights_path is not None else None
    try:
        return _convert(net, weights, inputs, outputs, str(proto), str(weights_path or proto))
    except OvccError:
        raise
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as e:  # a converter's bug
        raise InternalError(f"{proto}: conversion failed: {type(e).__name__}: {e}") from e


def _meets(rule: Any, level: int, stages: set[str]) -> bool:
    """Caffe's StateMeetsRule for the TEST phase."""
    if rule.HasField("phase") and rule.phase != TEST:
        return False
    if (rule.HasField("min_level") and level < rule.min_level) or (rule.HasField("max_level")
                                                                  and level > rule.max_level):
        return False
    return all(s in stages for s in rule.stage) and not any(s in stages for s in rule.not_stage)


def inference_layers(net: Any) -> list:
    """The layers of the TEST-phase net (Caffe's FilterNet)."""
    level, stages = net.state.level, set(net.state.stage)
    kept = []
    for layer in net.layer:
        if layer.include:
            keep = any(_meets(r, level, stages) for r in layer.include)
        else:
            keep = not any(_meets(r, level, stages) for r in layer.exclude)
        if keep:
            kept.append(layer)
    return kept


def _legacy_inputs(net: Any, where: str) -> list[tuple[str, list[int]]]:
    """Inputs declared by NetParameter's `input` with `input_shape` or `input_dim` (4 per input)."""
    names = list(net.input)
    if net.input_shape:
        if len(net.input_shape) != len(names):
            raise ModelFileError(f"{where}: {len(names)} inputs but {len(net.input_shape)} input_shape entries")
        return [(n, list(s.dim)) for n, s in zip(names, net.input_shape)]
    dims = list(net.input_dim)
    if len(dims) != 4 * len(names):
        raise ModelFileError(f"{where}: {len(names)} inputs need {4 * len(names)} input_dim values, got {len(dims)}")
    return [(n, dims[4 * i:4 * i + 4]) for i, n in enumerate(names)]


def _input_layer_tops(layer: Any, where: str) -> list[tuple[str, list[int]]]:
    shapes = [list(s.dim) for s in layer.input_param.shape]
    if len(shapes) not in (1, len(layer.top)):
        raise ModelFileError(f"{where}: Input layer {layer.name!r} has {len(layer.top)} tops and {len(shapes)} shapes")
    if not shapes:
        raise ModelFileError(f"{where}: Input layer {layer.name!r} declares no shape")
    return [(top, shapes[0] if len(shapes) == 1 else shapes[i]) for i, top in enumerate(layer.top)]


Version = tuple[str, int]  # a blob and how many layers wrote it before (in-place layers rewrite it)


def _blob_versions(layers: list, declared: list[str], where: str) -> tuple[list, dict[str, Version], set[str]]:
    """Each layer with the blob versions it reads and writes, the last version of every blob, and
    the blobs no layer reads after they were written (Caffe's net outputs)."""
    current: dict[str, Version] = {name: (name, 0) for name in declared}
    available = set(declared)
    steps = []
    for layer in layers:
        if layer.type == INPUT:
            continue
        ins = []
        for name in layer.bottom:
            if name not in current:
                raise ConversionError(f"{where}: layer {layer.name!r} reads blob {name!r}, which no layer or input "
                                      "produces before it")
            ins.append(current[name])
            available.discard(name)
        outs = []
        for name in layer.top:
            current[name] = (name, current[name][1] + 1 if name in current else 0)
            outs.append(current[name])
            available.add(name)
        steps.append((layer, ins, outs))
    return steps, current, available


def _needed(steps: list, wanted: list[Version], given: set[Version]) -> tuple[set[int], set[Version]]:
    """The steps the wanted versions depend on, stopping at the given ones; and the versions
    reached that no step produces (inputs)."""
    producer = {v: i for i, (_, _, outs) in enumerate(steps) for v in outs}
    needed: set[int] = set()
    reached: set[Version] = set()
    stack = list(wanted)
    while stack:
        v = stack.pop()
        if v in reached:
            continue
        reached.add(v)
        i = producer.get(v)
        if v not in given and i is not None and i not in needed:
            needed.add(i)
            stack.extend(steps[i][1])
    return needed, {v for v in reached if v in given or v not in producer}


def _convert(net: Any, weights: dict | None, inputs: Sequence[InputSpec], outputs: Sequence[str], where: str,
             weights_where: str) -> ModuleOp:
    layers = inference_layers(net)
    missing: dict[str, list[str]] = {}
    for layer in layers:
        if layer.type not in LAYERS and layer.type != INPUT:
            missing.setdefault(layer.type, []).append(layer.name)
    if missing:
        raise UnsupportedOpsError("Caffe", where, missing)
    unweighted = [f"{layer.name} ({layer.type})" for layer in layers if needs_weights(layer)
                  and not (weights or {}).get(layer.name) and not layer.blobs]
    if unweighted:
        listed = ", ".join(unweighted[:6]) + (", ..." if len(unweighted) > 6 else "")
        if weights is None:
            raise ModelFileError(f"{where}: layers {listed} need trained weights: convert the .caffemodel (with this "
                                 "prototxt beside it or named by input_proto)")
        raise ModelFileError(f"{weights_where}: holds no weights for layers {listed} (a truncated file, or the "
                             f"weights of another network than {where}?)")

    declared = _legacy_inputs(net, where)
    for layer in layers:
        if layer.type == INPUT:
            declared += _input_layer_tops(layer, where)
    steps, current, available = _blob_versions(layers, [name for name, _ in declared], where)
    unknown = [o for o in outputs if o not in current]
    if unknown:
        raise ConversionError(f"{where}: output {unknown[0]!r} is not a blob of the network")
    out_names = list(outputs) or sorted(available)  # in name order, as Caffe keeps them (a std::set)
    # an input named after an inner blob cuts the net there: its last version becomes an input
    cuts = {s.name: s for s in inputs if s.name and s.name in current and s.name not in dict(declared)}
    given = {(n, 0) for n, _ in declared} | {current[n] for n in cuts}
    needed, reached = _needed(steps, [current[n] for n in out_names], given)
    if not cuts and not outputs:
        reached |= {(n, 0) for n, _ in declared}  # Caffe's inputs stay, used or not

    ctx = CaffeContext(where, weights or {}, weights_where)
    values = _add_inputs(ctx, [(n, shape) for n, shape in declared if (n, 0) in reached], declared,
                         [s for s in inputs if s.name not in cuts])
    for name, spec in cuts.items():
        if spec.value is not None:
            values[current[name]] = ctx.const(spec.value)
        else:
            shape, dtype = spec.resolve(name, None, np.dtype(np.float32))
            values[current[name]] = ctx.b.add_input([name], shape, dtype)
    for i, (layer, ins, outs) in enumerate(steps):
        if i not in needed:
            continue
        before = ctx.b.block.last_op
        try:
            results = LAYERS[layer.type](ctx, layer, [values[v] for v in ins])
        except ConversionError as e:
            if str(e).startswith(where):
                raise
            raise ctx.error(layer, str(e)) from e
        name_ops_since(ctx.b, before, layer.name)
        if len(results) != len(outs):
            raise ctx.error(layer, f"has {len(outs)} tops, the layer computes {len(results)}")
        for v, r in zip(outs, results):
            values.setdefault(v, r)  # a cut keeps its input
    for name, v in current.items():  # each blob's name goes to its last version
        if v in values:
            add_tensor_name(values[v], name)
    return ctx.b.finish([(values[current[n]], [n]) for n in out_names])


def _add_inputs(ctx: CaffeContext, kept: list[tuple[str, list[int]]], declared: list[tuple[str, list[int]]],
                specs: Sequence[InputSpec]) -> dict[Version, Any]:
    """The model inputs for the declared inputs in `kept`, with the shapes and types `specs` give."""
    named = {s.name: s for s in specs if s.name}
    unnamed = [s for s in specs if not s.name]
    if unnamed and len(unnamed) != len(declared):
        raise InputError(f"{ctx.where}: {len(unnamed)} unnamed input shapes given for {len(declared)} inputs")
    unknown = [n for n in named if n not in dict(declared)]
    if unknown:
        raise InputError(f"{ctx.where}: {unknown[0]!r} is not an input or a blob of the network (inputs: "
                         f"{', '.join(d for d, _ in declared)})")
    position = {name: i for i, (name, _) in enumerate(declared)}
    values = {}
    for name, shape in kept:
        spec = named.get(name) or (unnamed[position[name]] if unnamed else None)
        if spec is not None and spec.value is not None:
            values[(name, 0)] = ctx.const(spec.value)
            continue
        dims: list = [int(d) for d in shape]
        dtype = np.dtype(np.float32)
        if spec is not None:
            dims, dtype = spec.resolve(name, dims, dtype)
        values[(name, 0)] = ctx.b.add_input([name], dims, dtype)
    return values


__all__ = ["convert_caffe", "find_prototxt", "inference_layers"]
