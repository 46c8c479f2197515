"""Paddle Python objects as files: a `paddle.nn.Layer` is traced by `paddle.jit.to_static` with
input specs taken from `example_input` (arrays or tensors) or from `input=` (shapes, types,
names), and saved with `paddle.jit.save` to a temporary directory, in the form the installed
Paddle writes (PIR `.json` for Paddle 3, `.pdmodel` before). A `paddle.jit.TranslatedLayer`
(what `paddle.jit.load` returns) is saved again the same way; Paddle 3 needs its input specs
for that too. A static `paddle.static.Program` (the old IR) is saved with
`paddle.static.save_inference_model`, feeding the variables `input=` names and fetching those
`output=` names, its parameters taken from the global scope (where its startup program put
them)."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from compiler.frontends.inputs import InputSpec
from dialects.errors import ConversionError, InputError


def _specs(paddle: Any, inputs: Sequence[InputSpec], example_input: Any) -> list | None:
    if example_input is not None:
        examples = list(example_input) if isinstance(example_input, list | tuple) else [example_input]
        out = []
        for i, e in enumerate(examples):
            arr = e.numpy() if hasattr(e, "numpy") else np.asarray(e)
            name = inputs[i].name if i < len(inputs) and inputs[i].name else None
            out.append(paddle.static.InputSpec(list(arr.shape), str(arr.dtype), name))
        return out
    if inputs:
        out = []
        for i, s in enumerate(inputs):
            shape, dtype = s.resolve(s.name or f"input {i}", None, np.dtype(np.float32))
            out.append(paddle.static.InputSpec([-1 if d is None else int(d) for d in shape], str(np.dtype(dtype)),
                                               s.name or None))
        return out
    return None


@contextlib.contextmanager
def saved_layer(layer: Any, inputs: Sequence[InputSpec], example_input: Any) -> Iterator[Path]:
    import paddle

    translated = type(layer).__name__ in ("TranslatedLayer", "PirTranslatedLayer")
    specs = _specs(paddle, inputs, example_input)
    if specs is None and not translated:
        raise InputError("convert_model: a paddle.nn.Layer needs example_input= or input= (shapes and types of its "
                         "inputs) to be traced")
    with tempfile.TemporaryDirectory(prefix="ovcc_paddle_") as tmp:
        prefix = str(Path(tmp) / "model")
        was_training = getattr(layer, "training", False)
        layer.eval()
        try:
            if translated:
                paddle.jit.save(layer, prefix, **({"input_spec": specs} if specs else {}))
            else:
                paddle.jit.save(paddle.jit.to_static(layer, input_spec=specs, full_graph=True), prefix)
        except Exception as e:  # Paddle's tracer raises many types; they are the model's problem
            if translated and specs is None:
                raise InputError(f"convert_model: Paddle cannot save this {type(layer).__name__} again without "
                                 "its input specs: give example_input= or input=") from e
            raise ConversionError(f"convert_model: paddle.jit.save of {type(layer).__name__} failed: "
                                  f"{type(e).__name__}: {' '.join(str(e).split())[:300]}") from e
        finally:
            if was_training:
                layer.train()
        for suffix in (".json", ".pdmodel"):
            p = Path(prefix + suffix)
            if p.is_file():
                yield p
                return
        raise ConversionError(f"convert_model: paddle.jit.save wrote no program for {type(layer).__name__}")


@contextlib.contextmanager
def saved_program(program: Any, inputs: Sequence[InputSpec], outputs: Sequence[str]) -> Iterator[Path]:
    import paddle

    if "pir" in type(program).__module__.split(".") or not hasattr(program, "global_block"):
        raise ConversionError("convert_model: a PIR Program object cannot be saved by name; save it with "
                              "paddle.static.save_inference_model and convert the files")
    names = [s.name for s in inputs if s.name]
    if not names or len(names) != len(inputs) or not outputs:
        raise InputError("convert_model: a paddle.static.Program needs the names of its feed variables (input=) "
                         "and of its fetch variables (output=)")
    block = program.global_block()
    missing = [n for n in [*names, *outputs] if not block.has_var(n)]
    if missing:
        raise InputError(f"convert_model: {missing[0]!r} is not a variable of the Program")
    static = paddle.in_dynamic_mode()
    if static:
        paddle.enable_static()
    try:
        with tempfile.TemporaryDirectory(prefix="ovcc_paddle_") as tmp:
            prefix = str(Path(tmp) / "model")
            try:
                paddle.static.save_inference_model(prefix, [block.var(n) for n in names],
                                                   [block.var(n) for n in outputs],
                                                   paddle.static.Executor(paddle.CPUPlace()), program=program)
            except Exception as e:  # Paddle raises many types; they are the program's problem
                raise ConversionError(f"convert_model: paddle.static.save_inference_model failed: "
                                      f"{type(e).__name__}: {' '.join(str(e).split())[:300]}") from e
            yield Path(prefix + ".pdmodel")
    finally:
        if static:
            paddle.disable_static()


__all__ = ["saved_layer", "saved_program"]
