"""MXNet frontend: a symbol (`prefix-symbol.json`) with its parameters (`prefix-NNNN.params`)
into the `ov` dialect, read without MXNet (`symbol`, `params`).

`convert_mxnet("prefix-symbol.json")` takes the parameters beside it (the one
`prefix-NNNN.params`, the latest epoch if there are several); `params=` names them. Given a
`.params` file, the symbol is `prefix-symbol.json` beside it, or `input_symbol=` (the Model
Optimizer's --input_symbol). Variables whose names the parameters hold (`arg:`/`aux:`
prefixes stripped) become constants; the others are the model's inputs, except the labels
that only the training heads (SoftmaxOutput, *RegressionOutput) read. Input shapes come from
`input=` (by name, or in order), else from a variable's `__shape__`, else from a Convolution
that reads it ([?, C, ?, ?]). Outputs are the symbol's heads, named after their nodes
(`name_output` as MXNet lists them, also `name`); `output=` picks node names instead.
Supported ops are the keys of `context.OPS`; any other op is listed in one UnsupportedOpsError."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from compiler.frontends.builder import add_tensor_name, name_ops_since
from compiler.frontends.inputs import InputSpec
from compiler.frontends.mxnet import ops_nn, ops_tensor  # noqa: F401  (fill the table)
from compiler.frontends.mxnet.context import OPS, MxContext
from compiler.frontends.mxnet.params import DTYPES, read_params
from compiler.frontends.mxnet.symbol import Node, Symbol, parse_tuple, read_symbol
from dialects.errors import ConversionError, InputError, InternalError, ModelFileError, OvccError, UnsupportedOpsError

SYMBOL_SUFFIX = "-symbol.json"
LABEL_READERS = {"SoftmaxOutput": 1, "Softmax": 1, "LinearRegressionOutput": 1, "MAERegressionOutput": 1,
                 "LogisticRegressionOutput": 1, "SVMOutput": 1}
# ops whose inputs after the first are trained parameters (the .params file must hold them)
# how many inputs an op reads at least (1 unless listed)
MIN_INPUTS = {"Convolution": 2, "Deconvolution": 2, "FullyConnected": 2, "BatchNorm": 5, "LayerNorm": 3,
              "Embedding": 2, "dot": 2, "batch_dot": 2}
WEIGHTED = ("Convolution", "Deconvolution", "FullyConnected", "BatchNorm", "LayerNorm", "Embedding", "LeakyReLU")
_PARAMS = re.compile(r"^(?P<prefix>.*)-(?P<epoch>\d+)\.params$")


def is_mxnet_path(path: Path) -> bool:
    return path.name.endswith(SYMBOL_SUFFIX) or path.suffix.lower() == ".params"


def find_params(symbol: Path) -> Path:
    prefix = symbol.name[:-len(SYMBOL_SUFFIX)] if symbol.name.endswith(SYMBOL_SUFFIX) else symbol.stem
    found = []
    for p in symbol.parent.glob(f"{glob_escape(prefix)}-*.params"):
        m = _PARAMS.match(p.name)
        if m and m.group("prefix") == prefix:
            found.append((int(m.group("epoch")), p))
    if not found:
        raise ModelFileError(f"{symbol}: no parameters found beside it (looked for {prefix}-NNNN.params); name them "
                             "with params=")
    return max(found)[1]


def glob_escape(s: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", s)


def find_symbol(params: Path) -> Path:
    m = _PARAMS.match(params.name)
    prefix = m.group("prefix") if m else params.stem
    p = params.with_name(prefix + SYMBOL_SUFFIX)
    if not p.is_file():
        raise ModelFileError(f"{params}: no symbol found beside it (looked for {p.name}); name it with input_symbol= "
                             "(--input_symbol)")
    return p


def convert_mxnet(path: str | os.PathLike, inputs: Sequence[InputSpec] = (), outputs: Sequence[str] = (),
                  params: str | os.PathLike | None = None, input_symbol: str | os.PathLike | None = None) -> ModuleOp:
    p = Path(path)
    if p.suffix.lower() == ".params":
        if params is not None:
            raise ModelFileError(f"{p}: give the parameters once (as the model or as params=)")
        symbol_path = Path(input_symbol) if input_symbol is not None else find_symbol(p)
        params_path = p
    else:
        symbol_path = p
        params_path = Path(params) if params is not None else find_params(p)
    for f in (symbol_path, params_path):
        if not f.is_file():
            raise ModelFileError(f"{f}: no such file")
    symbol = read_symbol(symbol_path)
    stored = read_params(params_path)
    weights: dict[str, np.ndarray | None] = {}
    for name, arr in stored.items():
        weights[name.split(":", 1)[1] if name.startswith(("arg:", "aux:")) else name] = arr
    try:
        return _convert(symbol, weights, inputs, outputs, str(symbol_path), str(params_path))
    except OvccError:
        raise
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as e:  # a converter's bug
        raise InternalError(f"{symbol_path}: conversion failed: {type(e).__name__}: {e}") from e


_BINARY = {OPS[name] for name in ops_tensor.TWO_INPUT_OPS}


def _needed(symbol: Symbol, heads: list[tuple[int, int]]) -> set[int]:
    seen: set[int] = set()
    stack = [n for n, _ in heads]
    while stack:
        i = stack.pop()
        if i in seen:
            continue
        seen.add(i)
        node = symbol.nodes[i]
        skip = LABEL_READERS.get(node.op)
        stack.extend(src for k, (src, _) in enumerate(node.inputs) if skip is None or k < skip)
    return seen


def _heads(symbol: Symbol, outputs: Sequence[str], where: str) -> list[tuple[int, int]]:
    if not outputs:
        return list(symbol.heads)
    by_name = {}
    for n in symbol.nodes:
        by_name.setdefault(n.name, (n.index, 0))
        by_name.setdefault(n.name + "_output", (n.index, 0))
        for k in range(8):
            by_name.setdefault(f"{n.name}_output{k}", (n.index, k))
    heads = []
    for o in outputs:
        if o not in by_name:
            raise ConversionError(f"{where}: output {o!r} is not a node of the symbol")
        heads.append(by_name[o])
    return heads


def _input_shape(node: Node, symbol: Symbol, weights: dict, where: str) -> list | None:
    shape = parse_tuple(node.attrs.get("__shape__", ""))
    if shape and all(d for d in shape):
        return [int(d) for d in shape]
    for user in symbol.nodes:  # the first Convolution reading it gives the rank and channels
        if user.op == "Convolution" and user.inputs and user.inputs[0][0] == node.index and len(user.inputs) > 1:
            w = weights.get(symbol.nodes[user.inputs[1][0]].name)
            groups = user.attrs.get("num_group", "1").strip()
            if w is not None and w.ndim >= 3 and groups.isdigit():
                return [None, int(w.shape[1]) * int(groups)] + [None] * (w.ndim - 2)
    return None


def _convert(symbol: Symbol, weights: dict, specs: Sequence[InputSpec], outputs: Sequence[str], where: str,
             params_where: str) -> ModuleOp:
    heads = _heads(symbol, outputs, where)
    needed = _needed(symbol, heads)
    nodes = [n for n in symbol.nodes if n.index in needed]
    missing: dict[str, list[str]] = {}
    for n in nodes:
        if n.op != "null" and n.op not in OPS:
            missing.setdefault(n.op, []).append(n.name)
    if missing:
        raise UnsupportedOpsError("MXNet", where, missing)
    absent = sorted({symbol.nodes[src].name for n in nodes if n.op in WEIGHTED for src, _ in n.inputs[1:]
                     if symbol.nodes[src].op == "null" and symbol.nodes[src].name not in weights})
    if absent:
        listed = ", ".join(absent[:6]) + (", ..." if len(absent) > 6 else "")
        raise ModelFileError(f"{params_where}: holds no arrays for parameters {listed} of {where}")
    data_vars = [n for n in nodes if n.op == "null" and n.name not in weights]
    named = {s.name: s for s in specs if s.name}
    unnamed = [s for s in specs if not s.name]
    unknown = [k for k in named if k not in {n.name for n in data_vars}]
    if unknown:
        raise InputError(f"{where}: {unknown[0]!r} is not an input of the symbol (inputs: "
                         f"{', '.join(n.name for n in data_vars)})")
    if unnamed and len(unnamed) != len(data_vars):
        raise InputError(f"{where}: {len(unnamed)} unnamed input shapes given for {len(data_vars)} inputs")
    ctx = MxContext(where)
    values: dict[tuple[int, int], Any] = {}
    for n in nodes:
        if n.op != "null":
            continue
        if n.name in weights:
            arr = weights[n.name]
            if arr is None:
                raise ModelFileError(f"{params_where}: parameter {n.name!r} is an empty array")
            values[(n.index, 0)] = ctx.const(arr)
            continue
        spec = named.get(n.name) or (unnamed[data_vars.index(n)] if unnamed else None)
        if spec is not None and spec.value is not None:
            values[(n.index, 0)] = ctx.const(spec.value)
            continue
        flag = n.attrs.get("__dtype__", "0")
        dtype = np.dtype(DTYPES.get(int(flag), np.float32) if flag.isdigit() else np.float32)
        shape = _input_shape(n, symbol, weights, where)
        if spec is not None:
            shape, dtype = spec.resolve(n.name, shape, dtype)
        if shape is None:
            raise InputError(f"{where}: the shape of input {n.name!r} is not known: give it with input= (e.g. "
                             f"\"{n.name}[1,3,224,224]\")")
        values[(n.index, 0)] = ctx.b.add_input([n.name], shape, dtype)
    for n in nodes:
        if n.op == "null":
            continue
        skip = LABEL_READERS.get(n.op)
        srcs = n.inputs[:skip] if skip is not None else n.inputs
        ins = []
        for src in srcs:
            if src not in values:
                raise ConversionError(f"{where}: node {n.name!r} reads output {src[1]} of "
                                      f"{symbol.nodes[src[0]].name!r}, which does not have it")
            ins.append(values[src])
        need = MIN_INPUTS.get(n.op, 2 if OPS[n.op] in _BINARY else 1)
        if n.op == "LeakyReLU" and n.attrs.get("act_type", "").strip() == "prelu":
            need = 2
        if len(ins) < need:
            raise ConversionError(f"{where}: node {n.name!r} ({n.op}) has {len(ins)} inputs, needs {need}")
        before = ctx.b.block.last_op
        try:
            results = OPS[n.op](ctx, n, ins)
        except ConversionError as e:
            if str(e).startswith(where):
                raise
            raise ctx.error(n, str(e)) from e
        except IndexError as e:
            raise ctx.error(n, f"has {len(ins)} inputs, too few for the op") from e
        name_ops_since(ctx.b, before, n.name)
        for k, r in enumerate(results):
            values[(n.index, k)] = r
            if len(results) == 1:
                add_tensor_name(r, n.name + "_output")
            else:
                add_tensor_name(r, f"{n.name}_output{k}")
            if k == 0:
                add_tensor_name(r, n.name)
    outs = []
    for h in heads:
        if h not in values:
            raise ConversionError(f"{where}: head {symbol.nodes[h[0]].name!r} has no output {h[1]}")
        node = symbol.nodes[h[0]]
        name = node.name if node.op == "null" else (
            f"{node.name}_output" if (h[0], 1) not in values else f"{node.name}_output{h[1]}")
        outs.append((values[h], [name] + ([node.name] if h[1] == 0 and name != node.name else [])))
    return ctx.b.finish(outs)


__all__ = ["convert_mxnet", "find_params", "find_symbol", "is_mxnet_path"]
