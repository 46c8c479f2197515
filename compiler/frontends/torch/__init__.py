"""PyTorch frontend: nn.Module, torch.export.ExportedProgram, .pt2 files, TorchScript modules,
functions and files, converted straight into the `ov` dialect (not through ONNX).

Every kind is brought to one form, a core-ATen ExportedProgram: modules are captured with
torch.export (falling back to torch.jit.trace, with the reason reported, where export fails);
TorchScript is frozen and captured the same way by exporting a module that calls it. Files
are never unpickled: `torch.save`d whole modules are refused."""

from __future__ import annotations

import contextlib
import inspect
import os
import pickle
import threading
import types
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xdsl.dialects.builtin import ModuleOp

from compiler.frontends.inputs import InputSpec
from dialects.errors import ConversionError, ModelFileError, OvccError


def _torch():
    try:
        import torch
    except ImportError:  # pragma: no cover - the torch extra is not installed
        raise ConversionError("converting PyTorch models needs torch: pip install ovcc[torch]") from None
    return torch


def _as_torch(x: Any):
    torch = _torch()
    import numpy as np

    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x))
    if isinstance(x, list | tuple):
        return type(x)(_as_torch(v) for v in x)
    if isinstance(x, dict):
        return {k: _as_torch(v) for k, v in x.items()}
    return x


def _args(example_input: Any) -> tuple[tuple, dict]:
    """example_input as (args, kwargs): a tensor, a tuple/list of inputs, or a dict by name."""
    ex = _as_torch(example_input)
    if isinstance(ex, dict):
        return (), ex
    if isinstance(ex, tuple | list):
        return tuple(ex), {}
    return (ex,), {}


def _dynamic_shapes(fn, args: tuple, kwargs: dict, specs: Sequence[InputSpec]):
    """torch.export's dynamic_shapes for the dims that `input=` marks dynamic (None)."""
    if not specs or all(s.shape is None or all(d is not None for d in s.shape) for s in specs):
        return None
    from torch.export import Dim

    try:
        params = [p for p in inspect.signature(fn).parameters if p != "self"]
    except (TypeError, ValueError):
        params = []
    by_name = {s.name: s for s in specs if s.name}
    unnamed = [s for s in specs if not s.name]

    def dims(spec, value):
        if spec is None or spec.shape is None or not hasattr(value, "shape"):
            return None
        return {i: Dim.AUTO for i, d in enumerate(spec.shape) if d is None} or None

    if kwargs:
        return {k: dims(by_name.get(k), v) for k, v in kwargs.items()}
    out = []
    for i, v in enumerate(args):
        name = params[i] if i < len(params) else None
        spec = by_name.get(name) if name in by_name else (unnamed[i] if i < len(unnamed) else None)
        out.append(dims(spec, v))
    return tuple(out)


def _export(module, args, kwargs, dynamic_shapes, where: str):
    torch = _torch()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.export.export(module, args, kwargs, dynamic_shapes=dynamic_shapes, strict=False)


class _CallScript:
    """A module whose forward calls a TorchScript module or function (so that torch.export
    can capture it as ATen ops)."""

    def __new__(cls, fn):
        torch = _torch()

        class Wrapper(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, *a, **k):
                return self.inner(*a, **k)

        return Wrapper(fn)


_UNPICKLING = threading.Lock()


@contextlib.contextmanager
def _weights_only_unpickling(torch, path: Path):
    """While torch.export.load reads a .pt2, no pickle in it may run code: torch.load is held
    to weights_only=True (torch's allow-list unpickler; torch.export.load would fall back to the
    full unpickler for weights, tensor constants and sample inputs), and the plain-pickle and
    TorchScript-object unpicklers it uses for opaque and custom objects refuse."""
    from torch.export.pt2_archive import _package

    def refuse(*_a, **_k):
        raise ModelFileError(f"{path}: holds pickled Python objects; ovcc never unpickles model files")

    real_load = torch.load

    def weights_only_load(f, *args, **kwargs):
        kwargs["weights_only"] = True
        try:
            return real_load(f, *args, **kwargs)
        except pickle.UnpicklingError:
            refuse()

    with _UNPICKLING:
        saved = torch.load, _package.pickle, torch._C._pickle_load_obj
        torch.load, torch._C._pickle_load_obj = weights_only_load, refuse
        _package.pickle = types.SimpleNamespace(loads=refuse, load=refuse)
        try:
            yield
        finally:
            torch.load, _package.pickle, torch._C._pickle_load_obj = saved


def _load_file(path: Path):
    torch = _torch()
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file")
    if path.suffix.lower() == ".pt2":
        try:
            with _weights_only_unpickling(torch, path):
                return torch.export.load(str(path))
        except ModelFileError:
            raise
        except Exception as e:  # noqa: BLE001 - any failure of a foreign file becomes one line
            raise ModelFileError(f"{path}: not a valid torch.export program ({type(e).__name__}: "
                                 f"{str(e).splitlines()[0][:200] if str(e) else ''})") from None
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: not a TorchScript archive (expected a zip written by torch.jit.save)")
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    if not any("/code/" in n or n.startswith("code/") for n in names) and any(n.endswith("data.pkl") for n in names):
        raise ModelFileError(f"{path}: a pickled module (torch.save); ovcc never unpickles model files. Save it "
                             "with torch.export.save(torch.export.export(model, args), 'm.pt2') or "
                             "torch.jit.save(torch.jit.trace(model, args), 'm.pt')")
    try:
        return torch.jit.load(str(path), map_location="cpu")
    except Exception as e:  # noqa: BLE001
        raise ModelFileError(f"{path}: cannot load TorchScript ({type(e).__name__}: {str(e).splitlines()[0][:200]})"
                             ) from None


def _script_arg_names(fn) -> list[str] | None:
    try:
        schema = fn.schema if hasattr(fn, "schema") else fn.forward.schema
        return [a.name for a in schema.arguments if a.name != "self"]
    except (AttributeError, RuntimeError):
        return None


def to_exported_program(model: Any, example_input: Any, specs: Sequence[InputSpec], where: str):
    """(ExportedProgram, input names to use instead of the placeholders' or None)."""
    torch = _torch()
    if isinstance(model, str | os.PathLike):
        model = _load_file(Path(model))
    if isinstance(model, torch.export.ExportedProgram):
        return model, None
    script_types = (torch.jit.ScriptModule, torch.jit.ScriptFunction)
    if example_input is None and isinstance(model, torch.nn.Module) and not isinstance(model, script_types):
        return _export_without_example(model, specs, where), None
    if example_input is None:
        raise ConversionError(f"{where}: TorchScript models need example_input (a tensor, tuple, list or dict of "
                              "inputs) to be converted")
    args, kwargs = _args(example_input)
    if isinstance(model, script_types):
        if isinstance(model, torch.jit.ScriptModule):
            model = model.eval()
            try:
                model = torch.jit.freeze(model)
            except Exception:  # noqa: BLE001 - already frozen or a traced module: use as is
                pass
        fn = model
        dyn = _dynamic_shapes(getattr(fn, "forward", fn), args, kwargs, specs)
        try:
            return _export(_CallScript(fn), args, kwargs, dyn, where), _script_arg_names(fn)
        except Exception as e:  # noqa: BLE001 - some TorchScript graphs only go through the converter
            if kwargs or not isinstance(fn, torch.jit.ScriptModule):
                raise
            first = e
        # torch's own TorchScript -> ExportedProgram converter handles graphs (e.g. traced
        # nn.MultiheadAttention) whose ops cannot be re-run under export tracing.
        from torch._export.converter import TS2EPConverter

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return TS2EPConverter(fn, args).convert(), _script_arg_names(fn)
        except Exception:  # noqa: BLE001 - report the first, more telling failure
            raise first from None
    if not isinstance(model, torch.nn.Module):
        raise ConversionError(f"{where}: cannot convert {type(model).__name__}")
    model = model.eval()
    dyn = _dynamic_shapes(model.forward, args, kwargs, specs)
    try:
        return _export(model, args, kwargs, dyn, where), None
    except Exception as e:  # noqa: BLE001 - fall back to tracing, and say why
        reason = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
        if kwargs:
            raise ConversionError(f"{where}: torch.export failed ({reason})") from None
        warnings.warn(f"{where}: torch.export failed ({reason}); converting by torch.jit.trace instead",
                      stacklevel=3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(model, args, check_trace=False)
        names = [p for p in inspect.signature(model.forward).parameters]
        return _export(_CallScript(traced), args, {}, dyn, where), names


def _export_without_example(model, specs: Sequence[InputSpec], where: str):
    """Export a module with example inputs built from input= or read off its TorchScript
    (compiler/frontends/torch/examples.py), dims that they do not fix left dynamic."""
    from compiler.frontends.torch.examples import from_script, from_specs

    model = model.eval()
    found = from_specs(model, specs) or from_script(model)
    if found is None:
        raise ConversionError(f"{where}: cannot tell the shapes of the module's inputs (its first layers do not "
                              "say them); give example_input (a tensor, tuple, list or dict of inputs) or input= "
                              "with shapes, e.g. input=[1, 3, 224, 224]")
    args, dyn = found
    try:
        return _export(model, args, {}, dyn, where)
    except Exception as e:  # noqa: BLE001 - export failures are the model's, reported in one line
        reason = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
        raise ConversionError(f"{where}: torch.export with example inputs of shapes "
                              f"{[list(a.shape) for a in args]} failed ({reason}); give example_input") from None


def _decompositions():
    """torch.export's default decompositions, less the ops an active extension converts (so
    they reach it whole)."""
    from compiler.frontend import active_op_types

    torch = _torch()
    table = torch.export.default_decompositions()
    for name in active_op_types():
        ns, _, rest = name.partition("::")
        base, _, overload = rest.partition(".")
        packet = getattr(getattr(torch.ops, ns, None), base, None) if rest else None
        if packet is None:
            continue
        for ov_name in [overload] if overload else packet.overloads():
            op = getattr(packet, ov_name, None)
            if op is not None and op in table:
                del table[op]
    return table


def convert_torch(model: Any, example_input: Any = None, specs: Sequence[InputSpec] = (),
                  outputs: Sequence[str] = ()) -> ModuleOp:
    _torch()  # a clear error when torch is not installed
    from compiler.frontends.torch.fx import convert_exported

    where = str(model) if isinstance(model, str | os.PathLike) else f"PyTorch {type(model).__name__}"
    try:
        ep, names = to_exported_program(model, example_input, specs, where)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ep = ep.run_decompositions(_decompositions())
    except OvccError:
        raise
    except Exception as e:  # noqa: BLE001 - capture failures are the model's, reported in one line
        raise ConversionError(f"{where}: could not capture the model ({type(e).__name__}: "
                              f"{str(e).splitlines()[0][:300] if str(e) else ''})") from None
    return convert_exported(ep, where, input_names=names, cuts=specs, outputs=outputs)
