"""Example inputs for a PyTorch module converted without `example_input`, as OpenVINO converts
`convert_model(module)`: torch.export needs example tensors to trace with, so they are built

  1. from `input=` shapes and types (a `?` dim is traced at an example size and stays dynamic), or
  2. from the module's TorchScript (`torch.jit.script`): each input's rank, channels and type
     come from the first layer that reads it (a convolution's weights give the rank and the
     channel count, a linear layer's its features, an embedding's says the input holds
     indices); every other dim is traced at an example size and stays dynamic.

Neither: None (the caller asks for example_input)."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np

from compiler.frontends.inputs import InputSpec

BATCH = 2  # torch.export specializes dims of size 1: examples trace with 2 and more
SIZE = 32  # spatial and sequence dims
# ops that read their first input elementwise (keep its shape): look through them to the layer
PASS_THROUGH = {"aten::to", "aten::contiguous", "aten::float", "aten::relu", "aten::sigmoid", "aten::tanh",
                "aten::mul", "aten::div", "aten::add", "aten::sub", "aten::clone", "aten::dropout",
                "aten::type_as", "aten::detach"}


def _params(module) -> list[inspect.Parameter]:
    try:
        sig = inspect.signature(module.forward)
    except (TypeError, ValueError):
        return []
    return [p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _tensor(torch, shape: Sequence[int], dtype: Any):
    g = torch.Generator().manual_seed(0)
    if dtype.is_floating_point:
        return torch.rand(tuple(shape), generator=g, dtype=dtype)
    return torch.zeros(tuple(shape), dtype=dtype)  # valid indices for embeddings and gathers


def from_specs(module, specs: Sequence[InputSpec]) -> tuple[tuple, tuple] | None:
    """(args, dynamic_shapes) from input= shapes, one per positional parameter of forward."""
    import torch
    from torch.export import Dim

    if not specs or any(s.shape is None for s in specs):
        return None
    params = _params(module)
    by_name = {s.name: s for s in specs if s.name}
    if by_name:
        chosen = [by_name.get(p.name) for p in params]
        if set(by_name) - {p.name for p in params} or None in chosen[:len(by_name)]:
            return None
        chosen = [c for c in chosen if c is not None]
    else:
        chosen = list(specs)
    args, dyn = [], []
    for spec in chosen:
        shape = [d if d is not None else (BATCH if i == 0 else SIZE) for i, d in enumerate(spec.shape)]
        dtype = torch.from_numpy(np.zeros(0, spec.dtype or np.float32)).dtype
        args.append(_tensor(torch, shape, dtype))
        dyn.append({i: Dim.AUTO for i, d in enumerate(spec.shape) if d is None} or None)
    return tuple(args), tuple(dyn)


def from_script(module) -> tuple[tuple, tuple] | None:
    """(args, dynamic_shapes) read off the module's TorchScript, or None."""
    import torch
    from torch.export import Dim

    try:
        scripted = torch.jit.freeze(torch.jit.script(module.eval()))
    except Exception:  # noqa: BLE001 - code TorchScript cannot compile: no example from it
        return None
    graph = scripted.graph
    inputs = list(graph.inputs())[1:]  # the first is `self`
    args, dyn = [], []
    for v in inputs:
        found = _first_layer(v)
        if found is None:
            return None
        shape, dtype = found
        args.append(_tensor(torch, shape, dtype))
        dyn.append({i: Dim.AUTO for i in range(len(shape))})
    return tuple(args), tuple(dyn)


def _const(v) -> Any:
    node = v.node()
    return node.output().toIValue() if node.kind() == "prim::Constant" else None


def _first_layer(v, depth: int = 0):
    """(example shape, dtype) for a graph input from the first layer that reads it."""
    import torch

    for use in v.uses():
        node, k = use.user, use.offset
        kind = node.kind()
        ins = list(node.inputs())
        if kind in ("aten::conv1d", "aten::conv2d", "aten::conv3d", "aten::_convolution") and k == 0:
            w = _const(ins[1])
            if not isinstance(w, torch.Tensor):
                continue
            groups = _const(ins[8] if kind == "aten::_convolution" else ins[6])
            channels = w.shape[1] * (groups if isinstance(groups, int) else 1)
            return [BATCH, channels] + [SIZE] * (w.dim() - 2), torch.float32
        if kind in ("aten::linear", "aten::matmul") and k == 0:
            w = _const(ins[1])
            if isinstance(w, torch.Tensor) and w.dim() == 2:
                features = w.shape[1] if kind == "aten::linear" else w.shape[0]
                return [BATCH, features], torch.float32
        if kind == "aten::embedding" and k == 1:
            return [BATCH, SIZE // 4], torch.int64
        if kind in PASS_THROUGH and k == 0 and depth < 8:
            found = _first_layer(node.output(), depth + 1)
            if found is not None:
                return found
    return None


__all__ = ["from_script", "from_specs"]
