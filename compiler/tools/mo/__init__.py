"""The Model Optimizer's Python API as older OpenVINO releases had it:

    from compiler.tools import mo
    model = mo.convert_model("model.onnx", mean_values=[123.7, 116.3, 103.5], scale_values=[58.4, 57.1, 57.4],
                             reverse_input_channels=True, layout="nchw", input_shape=[1, 3, 224, 224])

It converts as `compiler.convert_model` does and then applies the options the Model Optimizer
had and `ovc` dropped (compiler/tools/mo/options.py, with the Model Optimizer's semantics).
TensorFlow 1 models given as a meta graph or a graph with a checkpoint are frozen first."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from compiler.api import convert_model as _convert
from compiler.frontends.inputs import parse_inputs
from compiler.model import Model
from compiler.tools.mo.options import apply, compress_from_data_type, legacy_options, parse_input_shape
from dialects.errors import ConversionError

# Options some guides or old releases had that do not apply here: name -> what to do instead
REFUSED = {
    "tensorflow_use_custom_operations_config": "it configured the old TensorFlow frontend's subgraph replacements; "
                                               "register an extension (compiler.frontend.ConversionExtension) for "
                                               "the ops instead",
    "transformations_config": "it configured the old frontends' subgraph replacements; use an extension "
                              "(compiler.frontend.ConversionExtension) instead",
    "tensorflow_custom_operations_config_update": "it rewrote the old frontends' replacement configs; nothing "
                                                  "needs it",
    "tensorflow_object_detection_api_pipeline_config": "convert the exported SavedModel of the detection model "
                                                       "instead",
    "tensorflow_custom_layer_libraries": "register the custom ops as extensions (compiler.frontend)",
    "tensorboard_logdir": "print the converted model with `ovcc --emit hl` instead",
    "input_meta_info": "no Model Optimizer release had it; give input shapes and types with --input",
    "disable_nhwc_to_nchw": "layouts stay as the model has them; ask for another with --layout "
                            "\"name(nhwc->nchw)\"",
    "disable_fusing": "choose the optimizations with ovcc -O0/-O1/-O2",
    "disable_resnet_optimization": "choose the optimizations with ovcc -O0/-O1/-O2",
    "finegrain_fusing": "choose the optimizations with ovcc -O0/-O1/-O2",
    "enable_concat_optimization": "choose the optimizations with ovcc -O0/-O1/-O2",
    "disable_weights_compression": "use --compress_to_fp16=False",
    "mean_file": "give the mean as --mean_values",
    "mean_file_offsets": "give the mean as --mean_values",
    "k": "register the custom layers as extensions (compiler.frontend)",
    "caffe_parser_path": "Caffe files are read without Caffe's parser",
    "transform": "its LowLatency2/MakeStateful transformations are not implemented",
    "use_legacy_frontend": "there is one frontend per framework",
    "use_new_frontend": "there is one frontend per framework",
    "legacy_mxnet_model": "convert a model saved by MXNet 1.0 or later",
    "nd_prefix_name": "convert the .json symbol with its .params file",
    "pretrained_model_name": "convert the .json symbol with its .params file",
    "save_params_from_nd": "convert the .json symbol with its .params file",
    "enable_ssd_gluoncv": "its GluonCV SSD rewrites are not implemented",
    "extensions": "pass extension objects with extension= (libraries of compiled extensions cannot be loaded)",
    "silent": None, "log_level": None, "progress": None, "stream_output": None,  # accepted, change nothing
}

FRAMEWORKS = ("tf", "onnx", "caffe", "mxnet", "kaldi", "paddle", "pytorch", "tflite")


def refuse_unsupported(options: dict[str, Any]) -> None:
    for name, value in options.items():
        if name in REFUSED and REFUSED[name] is not None and value not in (None, False, "", ()):
            raise ConversionError(f"the Model Optimizer option --{name} is not supported: {REFUSED[name]}")


def _tf1_model(input_model: Any, input_meta_graph: Any, input_checkpoint: Any) -> Any:
    """A TensorFlow 1 meta graph, or a graph with variables and a checkpoint, frozen to a
    GraphDef (the Model Optimizer took these directly)."""
    if input_meta_graph is None and input_checkpoint is None:
        return input_model
    from compiler.frontends.tensorflow.checkpoint import freeze_checkpoint

    return freeze_checkpoint(meta_graph=input_meta_graph, graph=input_model, checkpoint=input_checkpoint)


def convert_model(input_model: Any = None, *, framework: str | None = None, input: Any = None,  # noqa: A002
                  output: Any = None, input_shape: Any = None, example_input: Any = None, batch: Any = None,
                  mean_values: Any = None, scale_values: Any = None, scale: Any = None,
                  reverse_input_channels: bool = False, layout: Any = None, source_layout: Any = None,
                  target_layout: Any = None, static_shape: bool = False, data_type: str | None = None,
                  compress_to_fp16: bool | None = None, extension: Any = None, saved_model_dir: Any = None,
                  input_meta_graph: Any = None, input_checkpoint: Any = None,
                  freeze_placeholder_with_value: str | None = None, **kwargs: Any) -> Model:
    """Convert a model with the Model Optimizer's options (see compiler/tools/mo/options.py)."""
    refuse_unsupported(kwargs)
    kwargs = {k: v for k, v in kwargs.items() if k not in REFUSED}
    if framework is not None and str(framework).lower() not in FRAMEWORKS:
        raise ConversionError(f"--framework {framework!r}: expected one of {', '.join(FRAMEWORKS)}")
    if input_model is None and kwargs.get("input_symbol") is not None:  # MXNet: the symbol alone
        input_model = kwargs.pop("input_symbol")
    sources = [s for s in (input_model, saved_model_dir, input_meta_graph) if s is not None]
    if len(sources) > 1 and not (input_checkpoint is not None and input_meta_graph is None):
        raise ConversionError("give the model once: --input_model, --saved_model_dir or --input_meta_graph")
    model_in = _tf1_model(input_model if input_model is not None else saved_model_dir, input_meta_graph,
                          input_checkpoint)
    if model_in is None:
        raise ConversionError("no model given (--input_model, --saved_model_dir or --input_meta_graph)")
    specs = parse_inputs(input)
    if freeze_placeholder_with_value:
        specs += parse_inputs(",".join(p.strip() for p in str(freeze_placeholder_with_value).split(",")))
    specs = parse_input_shape(input_shape, specs)
    opts = legacy_options(mean_values, scale_values, scale, reverse_input_channels, layout, source_layout,
                          target_layout, batch, static_shape)
    model = _convert(model_in, example_input=example_input, input=specs or None, output=output,
                     extension=extension, **kwargs)
    if isinstance(model_in, str | os.PathLike):
        model.friendly_name = Path(model_in).stem or model.friendly_name
    model = apply(model, opts)
    if opts.static_shape:
        from passes.pipeline import run_pipeline

        run_pipeline(model.module, "infer-shapes,fold-constants,dce")
    model.compressed_weights = compress_from_data_type(data_type, compress_to_fp16, False)
    return model


__all__ = ["REFUSED", "convert_model"]
