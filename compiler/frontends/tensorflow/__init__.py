"""TensorFlow frontend: Keras models (Sequential, functional, subclassed, .keras/.h5 files),
tf.Module objects and tf.functions, SavedModel directories, frozen GraphDef files (.pb,
.pbtxt) and TensorFlow Lite flatbuffers (.tflite).

Everything but TFLite goes the same way: a concrete function, its variables frozen into
constants (TensorFlow's own `convert_variables_to_constants_v2`, which also inlines calls and
lowers control flow), its GraphDef converted op by op (`graph.py`). TFLite files are read
with the flatbuffer schema TensorFlow ships, without importing TensorFlow (`tflite.py`).
TensorFlow itself is imported only here, when a TensorFlow model is converted."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xdsl.dialects.builtin import ModuleOp

from compiler.frontends.inputs import InputSpec
from compiler.frontends.tensorflow.graph import GraphIO, convert_graph_def, default_io
from dialects.errors import ConversionError, ModelFileError, OvccError


def _tf():
    if "tensorflow" not in sys.modules:  # first import: keep TensorFlow's C++ logging off stderr
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        # TensorFlow only traces and freezes here; its oneDNN kernels (and their banner) are unused
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    try:
        import tensorflow as tf
    except ImportError as e:
        raise ConversionError("converting TensorFlow models needs TensorFlow: pip install 'ovcc[tensorflow]'"
                              ) from e
    return tf


def convert_tensorflow(model: Any, specs: Sequence[InputSpec] = (), outputs: Sequence[str] = (),
                       example_input: Any = None, signature: str | None = None, **_: Any) -> ModuleOp:
    """Convert a TensorFlow model object or file. `signature` picks a SavedModel signature."""
    if isinstance(model, str | os.PathLike):
        path = Path(model)
        if path.suffix.lower() == ".tflite":
            from compiler.frontends.tensorflow.tflite import convert_tflite

            return convert_tflite(path, specs, outputs)
        where = str(path)
    else:
        where = f"TensorFlow {type(model).__name__}"
    try:
        graph_def, io = _capture(model, specs, example_input, signature, where)
        return convert_graph_def(graph_def, io, specs, outputs, where)
    except OvccError:
        raise
    except Exception as e:  # noqa: BLE001 - TensorFlow raises many types; report them in one line
        msg = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
        raise ConversionError(f"{where}: {type(e).__name__}: {msg}") from None


def _capture(model, specs, example_input, signature, where):
    tf = _tf()
    if isinstance(model, str | os.PathLike):
        path = Path(model)
        if not path.exists():
            raise ModelFileError(f"{path}: no such file or directory")
        if path.is_dir() or path.name in ("saved_model.pb", "saved_model.pbtxt"):
            root = path if path.is_dir() else path.parent
            return _saved_model(tf, root, signature, where)
        suffix = path.suffix.lower()
        if suffix in (".pb", ".pbtxt"):
            gd = _read_graph_def(tf, path)
            return gd, default_io(gd)
        if suffix in (".keras", ".h5", ".hdf5"):
            import keras

            try:
                model = keras.models.load_model(str(path), compile=False, safe_mode=True)
            except Exception as e:  # noqa: BLE001
                raise ModelFileError(f"{path}: cannot load the Keras model ({type(e).__name__}: "
                                     f"{str(e).splitlines()[0][:200] if str(e) else ''})") from None
        else:
            raise ModelFileError(f"{path}: not a TensorFlow model (expected a SavedModel directory, .pb, .pbtxt, "
                                 ".tflite, .keras or .h5)")
    if isinstance(model, tf.compat.v1.GraphDef):
        return model, default_io(model)
    return _freeze(tf, _concrete_function(tf, model, specs, example_input, where), where)


def _read_graph_def(tf, path: Path):
    from google.protobuf import text_format
    from google.protobuf.message import DecodeError

    gd = tf.compat.v1.GraphDef()
    data = path.read_bytes()
    try:
        if path.suffix.lower() == ".pbtxt":
            text_format.Parse(data.decode("utf-8"), gd)
        else:
            gd.ParseFromString(data)
    except (DecodeError, text_format.ParseError, UnicodeDecodeError) as e:
        raise ModelFileError(f"{path}: not a valid TensorFlow GraphDef ({str(e).splitlines()[0][:200]})") from None
    if not gd.node:
        raise ModelFileError(f"{path}: not a valid TensorFlow GraphDef (no nodes)")
    if any(n.op in ("VarHandleOp", "VariableV2", "ReadVariableOp") for n in gd.node):
        raise ConversionError(f"{path}: the graph reads variables; freeze it first (or give the SavedModel "
                              "directory instead)")
    return gd


def _saved_model(tf, root: Path, signature: str | None, where: str):
    if not (root / "saved_model.pb").is_file() and not (root / "saved_model.pbtxt").is_file():
        raise ModelFileError(f"{root}: not a SavedModel directory (no saved_model.pb)")
    try:
        loaded = tf.saved_model.load(str(root))
    except Exception as e:  # noqa: BLE001
        raise ModelFileError(f"{root}: cannot load the SavedModel ({type(e).__name__}: "
                             f"{str(e).strip().splitlines()[0][:200] if str(e).strip() else ''})") from None
    sigs = dict(getattr(loaded, "signatures", {}) or {})
    if signature is not None:
        if signature not in sigs:
            raise ConversionError(f"{where}: no signature {signature!r} (it has: {', '.join(sorted(sigs)) or 'none'})")
        fn = sigs[signature]
    elif "serving_default" in sigs:
        fn = sigs["serving_default"]
    elif len(sigs) == 1:
        fn = next(iter(sigs.values()))
    elif sigs:
        raise ConversionError(f"{where}: the SavedModel has several signatures ({', '.join(sorted(sigs))}); pick "
                              "one with signature=")
    else:
        call = loaded.__call__ if callable(loaded) else None
        fns = getattr(call, "concrete_functions", None) or []
        if len(fns) != 1:
            raise ConversionError(f"{where}: the SavedModel has no signatures to convert")
        fn = fns[0]
    return _freeze(tf, fn, where, keep_alive=loaded)


def _specs_from_example(tf, example_input, specs: Sequence[InputSpec], where: str) -> list:
    import numpy as np

    if example_input is not None:
        xs = list(example_input) if isinstance(example_input, list | tuple) else [example_input]
        return [tf.TensorSpec(np.shape(x), tf.as_dtype(np.asarray(x).dtype), name=f"input_{i}" if len(xs) > 1
                              else "input") for i, x in enumerate(xs)]
    if specs and all(s.shape is not None for s in specs):
        return [tf.TensorSpec(list(s.shape), tf.as_dtype(s.dtype or np.float32), name=s.name or f"input_{i}")
                for i, s in enumerate(specs)]
    raise ConversionError(f"{where}: the model has no input signature; give example_input (arrays) or input= "
                          "with shapes")


def _concrete_function(tf, model, specs, example_input, where):
    import keras

    if isinstance(model, tf.types.experimental.ConcreteFunction):
        return model
    if isinstance(model, keras.Model | keras.layers.Layer):
        return _keras_function(tf, keras, model, specs, example_input, where)
    if isinstance(model, tf.types.experimental.PolymorphicFunction):
        if model.input_signature is not None:
            return model.get_concrete_function()
        return model.get_concrete_function(*_specs_from_example(tf, example_input, specs, where))
    if isinstance(model, tf.Module):
        sigs = dict(getattr(model, "signatures", {}) or {})
        if "serving_default" in sigs:
            return sigs["serving_default"]
        call = model.__call__ if callable(model) else None
        if isinstance(call, tf.types.experimental.PolymorphicFunction):
            return _concrete_function(tf, call, specs, example_input, where)
        fns = [getattr(model, n) for n in dir(type(model)) if not n.startswith("_") and isinstance(
            getattr(model, n, None), tf.types.experimental.PolymorphicFunction)]
        if len(fns) == 1:
            return _concrete_function(tf, fns[0], specs, example_input, where)
        raise ConversionError(f"{where}: cannot tell which tf.function of the module to convert (give the "
                              "function itself, e.g. convert_model(module.f))")
    raise ConversionError(f"{where}: cannot convert {type(model).__name__}")


def _keras_function(tf, keras, model, specs, example_input, where):
    try:  # functional and Sequential models know their inputs; subclassed ones do not
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if inputs:
        names = [getattr(t, "name", None) or f"input_{i}" for i, t in enumerate(inputs)]
        sig = [tf.TensorSpec(list(t.shape), t.dtype, name=n) for t, n in zip(inputs, names)]
        struct = getattr(model, "_inputs_struct", None)
    else:
        sig = _specs_from_example(tf, example_input, specs, where)
        struct = None

    def call(*xs):
        arg = xs[0] if len(xs) == 1 else list(xs)
        if struct is not None and len(xs) > 1:
            arg = tf.nest.pack_sequence_as(struct, list(xs))
        return model(arg, training=False)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tf.function(call).get_concrete_function(*sig)


def _freeze(tf, fn, where: str, keep_alive: Any = None) -> tuple[Any, GraphIO]:
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    del keep_alive  # held by the caller's frame until freezing is done
    # functional While/If stay as they are (unrolled and resolved by control.py)
    frozen = convert_variables_to_constants_v2(fn, lower_control_flow=False)
    gd = frozen.graph.as_graph_def()
    io = GraphIO()
    for t in frozen.inputs:
        name = t.name.split(":")[0]
        io.inputs.append((name, [name]))
    from tensorflow.python.util import nest

    flat = nest.flatten_with_joined_string_paths(fn.structured_outputs)
    if len(flat) != len(frozen.outputs):
        raise ConversionError(f"{where}: {len(flat)} structured outputs but {len(frozen.outputs)} graph outputs")
    for i, ((path, _), t) in enumerate(zip(flat, frozen.outputs)):
        name = f"output_{path}" if path.isdigit() else path or f"output_{i}"
        io.outputs.append((t.name, [name]))
    return gd, io


__all__ = ["convert_tensorflow"]
