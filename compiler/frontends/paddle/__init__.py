"""PaddlePaddle frontend: inference programs as `paddle.jit.save` writes them, into the `ov`
dialect, read without Paddle installed.

- `.pdmodel` (a ProgramDesc protobuf, `schema`) + `.pdiparams`; or a directory holding
  `__model__` and one file per parameter (the older form);
- `.json` (a Paddle 3 PIR program, `pir`) + `.pdiparams`;
- the path of either file of a pair; the other is found beside it by its stem.
`paddle.nn.Layer` objects (and `paddle.jit.TranslatedLayer`s) and static `Program`s are saved to
a temporary directory first (`objects`), which imports Paddle only then."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from compiler.frontends.builder import add_tensor_name, name_ops_since
from compiler.frontends.inputs import InputSpec
from compiler.frontends.paddle import ops_math, ops_nn, ops_rnn, ops_tensor  # noqa: F401  (fill the table)
from compiler.frontends.paddle.context import OPS, PaddleContext, Program
from dialects.errors import ConversionError, InputError, InternalError, ModelFileError, OvccError, UnsupportedOpsError

SUFFIXES = (".pdmodel", ".pdiparams", ".json")
DIRECTORY_PROGRAM = "__model__"


def is_paddle_path(path: Path) -> bool:
    suffix = path.suffix.lower()
    if suffix in (".pdmodel", ".pdiparams") or path.name == DIRECTORY_PROGRAM:
        return True
    if path.is_dir():
        return (path / DIRECTORY_PROGRAM).is_file()
    return suffix == ".json" and (path.with_suffix(".pdiparams").is_file() or _pir_magic(path))


def _pir_magic(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:
        return False
    return b'"magic"' in head and b'"pir"' in head


def load_program(path: Path) -> tuple[Program, str]:
    """The program of a Paddle model path, and the file to name in messages."""
    from compiler.frontends.paddle.pir import read_pir
    from compiler.frontends.paddle.program import from_program_desc
    from compiler.frontends.paddle.schema import read_program

    if path.is_dir():
        path = path / DIRECTORY_PROGRAM
    if path.name == DIRECTORY_PROGRAM:
        return from_program_desc(read_program(path), str(path), None, path.parent), str(path)
    suffix = path.suffix.lower()
    if suffix == ".pdiparams":
        for other in (".json", ".pdmodel"):
            if path.with_suffix(other).is_file():
                return load_program(path.with_suffix(other))
        raise ModelFileError(f"{path}: no program beside these parameters (looked for {path.stem}.json and "
                             f"{path.stem}.pdmodel)")
    params = path.with_suffix(".pdiparams")
    if suffix == ".json":
        return read_pir(path, params), str(path)
    return from_program_desc(read_program(path), str(path), params, None), str(path)


def convert_paddle(model: Any, inputs: Sequence[InputSpec] = (), outputs: Sequence[str] = (),
                   example_input: Any = None) -> ModuleOp:
    """Convert a Paddle model file (see the module's doc) or a `paddle.nn.Layer`."""
    if not isinstance(model, str | os.PathLike):
        from compiler.frontends.paddle.objects import saved_layer, saved_program

        if type(model).__name__ == "Program":
            with saved_program(model, inputs, outputs) as path:  # feeds and fetches are the ones named
                return convert_paddle(path, [s for s in inputs if s.shape is not None or s.dtype is not None
                                             or s.value is not None])
        with saved_layer(model, inputs, example_input) as path:
            return convert_paddle(path, inputs, outputs)
    program, where = load_program(Path(model))
    try:
        return convert_program(program, where, inputs, outputs)
    except OvccError:
        raise
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as e:  # a converter's bug
        raise InternalError(f"{where}: conversion failed: {type(e).__name__}: {e}") from e


def convert_program(program: Program, where: str, inputs: Sequence[InputSpec] = (),
                    outputs: Sequence[str] = ()) -> ModuleOp:
    missing: dict[str, list[str]] = {}
    for node in program.nodes:
        if node.type not in OPS:
            missing.setdefault(node.type, []).append(node.name)
    if missing:
        raise UnsupportedOpsError("Paddle", where, missing)
    produced = {n for node in program.nodes for names in node.outputs.values() for n in names}
    known = produced | {n for n, _, _ in program.feeds} | set(program.params)
    unknown = [o for o in outputs if o not in known]
    if unknown:
        raise ConversionError(f"{where}: output {unknown[0]!r} is not a variable of the program")
    ctx = PaddleContext(where)
    ctx.nodes = program.nodes
    feeds = {n: (shape, dt) for n, shape, dt in program.feeds}
    named = {s.name: s for s in inputs if s.name}
    unnamed = [s for s in inputs if not s.name]
    if unnamed and len(unnamed) != len(program.feeds):
        raise InputError(f"{where}: {len(unnamed)} unnamed input shapes given for {len(program.feeds)} inputs")
    for n in named:
        if n not in feeds and n not in produced:
            raise InputError(f"{where}: {n!r} is not an input or a variable of the program (inputs: "
                             f"{', '.join(feeds)})")
    for i, (name, shape, dt) in enumerate(program.feeds):
        spec = named.get(name) or (unnamed[i] if unnamed else None)
        if spec is not None and spec.value is not None:
            ctx.values[name] = ctx.const(spec.value)
            continue
        dims: list = [None if d < 0 else int(d) for d in shape]
        if spec is not None:
            dims, dt = spec.resolve(name, dims, dt)
        ctx.values[name] = ctx.b.add_input([name], dims, dt)
    for name, arr in program.params.items():
        ctx.values[name] = ctx.const(arr)
    cuts = {n: s for n, s in named.items() if n not in feeds}
    for name, spec in cuts.items():
        if spec.value is not None:
            ctx.values[name] = ctx.const(spec.value)
        else:
            shape, dt = spec.resolve(name, None, np.dtype(np.float32))
            ctx.values[name] = ctx.b.add_input([name], shape, dt)
    for node in program.nodes:
        if node.outputs and all(n in cuts for names in node.outputs.values() for n in names):
            continue
        if any(n not in ctx.values for names in node.inputs.values() for n in names):
            absent = next(n for names in node.inputs.values() for n in names if n not in ctx.values)
            raise ConversionError(f"{where}: op {node.type} ({node.name}) reads {absent!r}, which nothing "
                                  "produces before it")
        before = ctx.b.block.last_op
        try:
            results = OPS[node.type](ctx, node)
        except ConversionError as e:
            if str(e).startswith(where):
                raise
            raise ctx.error(node, str(e)) from e
        name_ops_since(ctx.b, before, node.name)
        for slot, value in results.items():
            names = node.outputs.get(slot, [])
            vals = value if isinstance(value, list) else [value]
            if len(names) > len(vals):
                raise ctx.error(node, f"has {len(names)} {slot} outputs, the op computes {len(vals)}")
            for n, v in zip(names, vals):
                if n not in cuts:
                    ctx.values[n] = v
                    add_tensor_name(v, n)
    out_names = list(outputs) or program.fetches
    if not out_names:
        raise ModelFileError(f"{where}: the program fetches nothing (no outputs)")
    for n in out_names:
        if n not in ctx.values:
            raise ConversionError(f"{where}: output {n!r} is not computed by the program")
    return ctx.b.finish([(ctx.values[n], [n]) for n in out_names])


__all__ = ["SUFFIXES", "convert_paddle", "convert_program", "is_paddle_path", "load_program"]
