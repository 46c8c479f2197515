"""The public API, named after OpenVINO's: convert_model, read_model, save_model,
compile_model and Core."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from compiler.frontends.inputs import parse_inputs
from compiler.model import Model
from dialects.errors import CompileError, ModelFileError, OvccError
from runtime.progress import phase

DEVICES = ("CPU", "REFERENCE")


def _outputs(output: Any) -> list[str]:
    if output is None:
        return []
    if isinstance(output, str):
        return [s.strip() for s in output.split(",") if s.strip()]
    return [str(o) for o in output]


def _is_instance_of(obj: Any, module: str, names: Sequence[str]) -> bool:
    """isinstance against a framework class without importing the framework."""
    for klass in type(obj).__mro__:
        if klass.__module__.split(".")[0] == module and klass.__name__ in names:
            return True
    return False


def _cleanup(model: Model) -> Model:
    from passes import FRONTEND_CLEANUP
    from passes.pipeline import run_pipeline

    run_pipeline(model.module, FRONTEND_CLEANUP)
    return model


def convert_model(input_model: Any, *, example_input: Any = None, input: Any = None, output: Any = None,
                  share_weights: bool = True, verbose: bool = False, **kwargs: Any) -> Model:
    """Convert a model from a file or a framework object into a `Model` of the `ov` dialect.

    `input` sets input names/shapes/types (and cuts the graph at named tensors), `output`
    picks output tensors (and cuts the graph there). `example_input` is what PyTorch models
    are traced with."""
    extension = kwargs.pop("extension", None)
    if extension is not None:
        from compiler.frontend import split_extensions, using
        from compiler.op import register

        convs, ops = split_extensions(extension)
        for cls in ops:
            register(cls)
        with using(convs):
            return convert_model(input_model, example_input=example_input, input=input, output=output,
                                 share_weights=share_weights, verbose=verbose, **kwargs)
    with phase("convert"):
        return _convert(input_model, parse_inputs(input), _outputs(output), example_input, kwargs)


def _convert(input_model: Any, specs, outs, example_input: Any, kwargs: dict[str, Any]) -> Model:
    if isinstance(input_model, str | os.PathLike):
        return _cleanup(_convert_path(Path(input_model), specs, outs, example_input, kwargs))
    if _is_instance_of(input_model, "onnx", ["ModelProto"]):
        from compiler.frontends.onnx import convert_onnx

        return _cleanup(Model(convert_onnx(input_model, specs, outs)))
    if _is_instance_of(input_model, "torch", ["Module", "ExportedProgram", "ScriptModule", "ScriptFunction"]):
        from compiler.frontends.torch import convert_torch

        return _cleanup(Model(convert_torch(input_model, example_input, specs, outs)))
    if "tensorflow" in sys.modules or "keras" in sys.modules:
        if _is_instance_of(input_model, "keras", ["Model", "Layer"]) or _is_instance_of(
                input_model, "tensorflow", ["Module", "Function", "ConcreteFunction", "GraphDef"]) or \
                _is_instance_of(input_model, "tf_keras", ["Model"]):
            from compiler.frontends.tensorflow import convert_tensorflow

            return _cleanup(Model(convert_tensorflow(input_model, specs, outs, example_input, **kwargs)))
    if _is_instance_of(input_model, "paddle", ["Layer", "Program"]):
        from compiler.frontends.paddle import convert_paddle

        return _cleanup(Model(convert_paddle(input_model, specs, outs, example_input)))
    if isinstance(input_model, Model):
        return input_model
    raise OvccError(f"convert_model: cannot convert an object of type {type(input_model).__module__}."
                    f"{type(input_model).__name__} (supported: paths to .onnx/.xml/.pb/.tflite/.pt2/.pt/.caffemodel/"
                    ".pdmodel/.json/-symbol.json files or SavedModel directories, onnx.ModelProto, torch.nn.Module, "
                    "torch.export.ExportedProgram, torch.jit.ScriptModule, tf.keras.Model, tf.Module, paddle.nn.Layer)")


KNOWN_SUFFIXES = (".onnx", ".xml", ".pt2", ".pt", ".pth", ".ts", ".torchscript", ".caffemodel", ".prototxt", ".pdmodel",
                  ".pdiparams", ".json", ".params", ".pb", ".pbtxt", ".tflite", ".keras", ".h5", ".hdf5")


def content_suffix(path: Path) -> str | None:
    """The suffix a model file's contents say it should have (a TorchScript archive named .jit,
    a Keras HDF5 file named .model, ONNX without a suffix), or None if they do not tell."""
    import zipfile

    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError:
        return None
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return ".h5"
    if head[4:8] == b"TFL3":  # the flatbuffer file identifier of TFLite models
        return ".tflite"
    if head.startswith(b"PK\x03\x04") and zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except (zipfile.BadZipFile, OSError):
            return None
        if {"config.json", "metadata.json"} <= set(names):
            return ".keras"
        if any(n.endswith("/archive_format") or n == "archive_format" for n in names):
            return ".pt2"
        if any(n.startswith("code/") or "/code/" in n for n in names):
            return ".ts"  # TorchScript
        return None
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith((b"<?xml", b"<net")):
        return ".xml"
    if head[:1] == b"\x08":  # an ONNX ModelProto starts with its ir_version field
        import onnx

        try:
            m = onnx.load_model(str(path), load_external_data=False)
        except Exception:  # noqa: BLE001 - not ONNX after all
            return None
        if 1 <= m.ir_version and m.graph.node:
            return ".onnx"
    return None


def _convert_path(path: Path, specs, outs, example_input, kwargs) -> Model:
    suffix = path.suffix.lower()
    if not path.exists():
        raise ModelFileError(f"{path}: no such file or directory")
    if suffix not in KNOWN_SUFFIXES and path.is_file():
        found = content_suffix(path)
        if found in (".h5", ".keras", ".pt2"):  # readers that go by the name: give them one
            import tempfile

            with tempfile.TemporaryDirectory(prefix="ovcc-") as d:
                named = Path(d) / (path.stem + found)
                named.symlink_to(path.resolve())
                model = _convert_path(named, specs, outs, example_input, kwargs)
            model.friendly_name = path.stem
            return model
        if found == ".tflite":
            from compiler.frontends.tensorflow.tflite import convert_tflite

            return Model(convert_tflite(path, specs, outs), path.stem)
        suffix = found or suffix
    if suffix == ".hdf5":
        suffix = ".h5"
    if suffix == ".onnx":
        from compiler.frontends.onnx import convert_onnx

        return Model(convert_onnx(path, specs, outs), path.stem)
    if suffix == ".xml":
        from compiler.frontends.ir_reader import read_ir

        return Model(read_ir(path, kwargs.get("weights"), specs, outs), path.stem)
    if suffix in (".pt2", ".pt", ".pth", ".ts", ".torchscript"):
        from compiler.frontends.torch import convert_torch

        return Model(convert_torch(path, example_input, specs, outs), path.stem)
    if suffix in (".caffemodel", ".prototxt"):
        from compiler.frontends.caffe import convert_caffe

        return Model(convert_caffe(path, specs, outs, kwargs.get("input_proto")), path.stem)
    from compiler.frontends import paddle

    if paddle.is_paddle_path(path):
        return Model(paddle.convert_paddle(path, specs, outs), path.stem)
    if suffix in (".json", ".params"):
        from compiler.frontends.mxnet import convert_mxnet

        stem = path.name.removesuffix("-symbol.json") if suffix == ".json" else path.stem
        return Model(convert_mxnet(path, specs, outs, kwargs.get("params"), kwargs.get("input_symbol")), stem)
    if suffix in (".pb", ".pbtxt", ".tflite", ".keras", ".h5") or path.is_dir() or path.suffix.lower() == ".hdf5":
        from compiler.frontends.tensorflow import convert_tensorflow

        return Model(convert_tensorflow(path, specs, outs, example_input, **kwargs), path.stem)
    from compiler.frontends import kaldi

    if suffix in kaldi.SUFFIXES or kaldi.looks_like_kaldi(path):
        return Model(kaldi.convert_kaldi(path, specs, outs, kwargs.get("counts"),
                                         bool(kwargs.get("remove_output_softmax"))), path.stem)
    raise ModelFileError(f"{path}: unknown model format (expected .onnx, .xml, .pb, .pbtxt, .tflite, .pt2, .pt, "
                         ".caffemodel, .prototxt, .pdmodel, a Paddle PIR .json, an MXNet -symbol.json/.params, "
                         "a Kaldi .nnet/.mdl/.raw, or a "
                         "SavedModel directory)")


def read_model(model: str | os.PathLike, weights: str | os.PathLike | None = None) -> Model:
    """Read a model file: OpenVINO IR (.xml, with its .bin), ONNX, or any format convert_model reads."""
    path = Path(model)
    if path.suffix.lower() == ".xml":
        from compiler.frontends.ir_reader import read_ir

        if not path.is_file():
            raise ModelFileError(f"{path}: no such file")
        return _cleanup(Model(read_ir(path, weights), path.stem))
    return convert_model(path)


def save_model(model: Model, output_model: str | os.PathLike, compress_to_fp16: bool = True) -> None:
    """Write OpenVINO IR v11: `output_model` (.xml) and the .bin beside it."""
    from codegen.ir_writer import write_ir

    write_ir(model, Path(output_model), compress_to_fp16=compress_to_fp16)


def serialize(model: Model, xml_path: str | os.PathLike, bin_path: str | os.PathLike | None = None) -> None:
    """The older name of save_model (`ov.serialize(model, "m.xml", "m.bin")`): writes the model
    as it holds its weights, f32 unless mo.convert_model was asked to compress them."""
    from codegen.ir_writer import write_ir

    write_ir(model, Path(xml_path), compress_to_fp16=getattr(model, "compressed_weights", False),
             bin_path=Path(bin_path) if bin_path is not None else None)


def compile_model(model: Model | str | os.PathLike, device_name: str = "CPU", config: dict | None = None):
    """Compile for a device: "CPU" (native code) or "REFERENCE" (the numpy interpreter)."""
    if not isinstance(model, Model):
        model = read_model(model)
    device = (device_name or "CPU").upper()
    if device == "REFERENCE":
        from runtime.compiled import ReferenceCompiledModel

        return ReferenceCompiledModel(model)
    if device == "CPU":
        from runtime.native import compile_cpu

        return compile_cpu(model, config or {})
    raise CompileError(f"unknown device {device_name!r}: available devices are {', '.join(DEVICES)}")


class Core:
    """OpenVINO's entry object: read_model, compile_model, available_devices, add_extension."""

    def __init__(self) -> None:
        self.properties: dict[str, Any] = {}
        self.extensions: list = []

    @property
    def available_devices(self) -> list[str]:
        return list(DEVICES)

    def add_extension(self, extension: Any) -> None:
        """Frontend extensions (OpExtension, ConversionExtension) used by this Core's read_model,
        and custom op classes (compiler.Op subclasses), registered for every model."""
        from compiler.frontend import split_extensions
        from compiler.op import register

        convs, ops = split_extensions(extension)
        for cls in ops:
            register(cls)
        self.extensions.extend(convs)

    def read_model(self, model: str | os.PathLike, weights: str | os.PathLike | None = None) -> Model:
        from compiler.frontend import using

        with using(self.extensions):
            return read_model(model, weights)

    def compile_model(self, model: Model | str | os.PathLike, device_name: str = "CPU",
                      config: dict | None = None):
        if not isinstance(model, Model):
            model = self.read_model(model)
        return compile_model(model, device_name, {**self.properties, **(config or {})})

    def import_model(self, model_stream: Any, device_name: str = "CPU", config: dict | None = None):
        """A CompiledModel from `CompiledModel.export_model()`'s bytes (or a binary stream of
        them), running the native code in the blob (no LLVM compilation) when this user's ovcc
sealed it, else compiling it again from the blob's IR. A blob from another
        ovcc version or CPU, or a damaged one, raises BlobError."""
        import tempfile

        from codegen.target import host
        from compiler.frontends.ir_reader import read_ir
        from runtime.blob import trusted, unpack
        from runtime.jit import generator_version, user_secret
        from runtime.native import NativeCompiledModel

        if (device_name or "CPU").upper() != "CPU":
            raise CompileError(f"import_model: only the CPU device imports compiled models, not {device_name!r}")
        data = model_stream.read() if hasattr(model_stream, "read") else model_stream
        blob = unpack(data, generator_version(), host().key())
        with tempfile.TemporaryDirectory(prefix="ovcc-import-") as tmp:
            xml = Path(tmp) / "model.xml"
            xml.write_bytes(blob.xml)
            xml.with_suffix(".bin").write_bytes(blob.weights)
            model = _cleanup(Model(read_ir(xml), "model"))
        settings = {**blob.header.get("config", {}), **self.properties, **(config or {})}
        objects = blob.objects if trusted(user_secret(), blob) else None  # else compiled again from the IR
        return NativeCompiledModel(model, settings, objects)

    def set_property(self, properties: dict[str, Any]) -> None:
        self.properties.update(properties)

    def get_property(self, key: str) -> Any:
        return self.properties.get(key)
