"""A ProgramDesc (`.pdmodel`, `__model__`) and its parameters as a `Program`: the ops of its
first block (feed and fetch ops give the inputs and outputs, in their `col` order), and its
persistable variables read from the `.pdiparams` (in name order) or from one file each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from compiler.frontends.paddle.context import Node, Program
from compiler.frontends.paddle.schema import DTYPES, LOD_TENSOR, attr_value, read_param_files, read_params
from dialects.errors import ModelFileError

# attributes every op carries that say nothing about what it computes
_BOOKKEEPING = {"op_callstack", "op_namescope", "op_device", "op_role", "op_role_var", "with_quant_attr"}


def _node(op: Any) -> Node:
    return Node(op.type, {v.parameter: list(v.arguments) for v in op.inputs},
                {v.parameter: list(v.arguments) for v in op.outputs},
                {a.name: attr_value(a) for a in op.attrs if a.name not in _BOOKKEEPING})


def from_program_desc(program: Any, where: str, params_path: Path | None, folder: Path | None) -> Program:
    block = program.blocks[0]
    vars_ = {v.name: v for v in block.vars}
    feeds: list[tuple[int, str]] = []
    fetches: list[tuple[int, str]] = []
    nodes = []
    for op in block.ops:
        node = _node(op)
        if op.type == "feed":
            feeds += [(int(node.attrs.get("col", 0)), n) for n in node.outputs.get("Out", [])]
        elif op.type == "fetch":
            fetches += [(int(node.attrs.get("col", 0)), n) for n in node.inputs.get("X", [])]
        else:
            nodes.append(node)
    inputs = []
    for _, name in sorted(feeds):
        v = vars_.get(name)
        if v is None:
            raise ModelFileError(f"{where}: feed variable {name!r} is not declared")
        t = v.type.lod_tensor.tensor
        if t.data_type not in DTYPES:
            raise ModelFileError(f"{where}: input {name!r} has unsupported data type {t.data_type}")
        inputs.append((name, [int(d) for d in t.dims], np.dtype(DTYPES[t.data_type])))
    persistable = sorted((v.name, [int(d) for d in v.type.lod_tensor.tensor.dims]) for v in block.vars
                         if v.persistable and v.type.type == LOD_TENSOR)
    if not persistable:
        params = {}
    elif folder is not None:
        params = read_param_files(folder, persistable)
    elif params_path is None or not params_path.is_file():
        raise ModelFileError(f"{where}: the program has {len(persistable)} parameters and no .pdiparams file beside "
                             f"it ({params_path})")
    else:
        params = read_params(params_path, persistable)
    return Program(nodes, inputs, [n for _, n in sorted(fetches)], params)


__all__ = ["from_program_desc"]
