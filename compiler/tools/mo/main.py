"""The Model Optimizer's command line, as older OpenVINO releases had it:

    from compiler.tools.mo.main import main
    main(["--input_model", "model.onnx", "--output_dir", "ir", "--mean_values", "[123.7,116.3,103.5]"])

or `python -m compiler.tools.mo --input_model model.onnx --output_dir ir`. It writes
`<output_dir>/<model_name>.xml` and `.bin` (the name defaults to the model file's, "saved_model"
for --saved_model_dir), prints the Model Optimizer's `[ SUCCESS ]` lines and returns 0, or
prints one `[ ERROR ]` line and returns 1 (2 for a bad command line). Options that only made
sense in the old tool are refused by name with what to use instead (compiler/tools/mo/__init__.py)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from compiler.tools.mo import REFUSED, convert_model
from compiler.tools.mo.options import compress_from_data_type


class _CommandLineError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage dump and exit
        raise _CommandLineError(message)


def _bool(v: str) -> bool:
    low = str(v).strip().lower()
    if low in ("true", "1", "yes", "on"):
        return True
    if low in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {v!r}")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="mo", description="Model Optimizer (legacy command line of ovcc): converts a model to "
                                       "OpenVINO IR.")
    g = p.add_argument_group("framework-agnostic parameters")
    g.add_argument("--input_model", "-w", "-m", help="the model file (or SavedModel directory)")
    g.add_argument("--framework", help="tf, onnx, caffe, mxnet, kaldi, paddle (found from the file if not given)")
    g.add_argument("--model_name", "-n", help="name of the IR files (default: the model file's name)")
    g.add_argument("--output_dir", "-o", default=".", help="directory for the IR (default: the current one)")
    g.add_argument("--input_shape", help='input shapes, e.g. "[1,3,224,224]" or "[1,3],[2]"')
    g.add_argument("--input", help='inputs, with shapes, types, frozen values and ports: "x[1,3]{f32}", '
                   '"0:node[3,4]", "name->[20 15]"')
    g.add_argument("--output", help="output tensors or nodes (cuts the graph)")
    g.add_argument("--mean_values", "-ms", help='per-channel mean, e.g. "data[123.7,116.3,103.5]"')
    g.add_argument("--scale_values", help='per-channel scale, e.g. "data[58.4,57.1,57.4]"')
    g.add_argument("--scale", "-s", help="one scale for all inputs")
    g.add_argument("--reverse_input_channels", action="store_true", help="RGB <-> BGR on 3-channel inputs")
    g.add_argument("--layout", help='"nchw", "name(nchw)" or "name(nhwc->nchw)"')
    g.add_argument("--source_layout", help="the model's layout of inputs/outputs")
    g.add_argument("--target_layout", help="the layout inputs/outputs get")
    g.add_argument("--batch", "-b", help="the batch size")
    g.add_argument("--static_shape", action="store_true", help="fold every shape computation into constants")
    g.add_argument("--data_type", help="FP16 or half stores f16 weights; FP32 or float keeps f32 (superseded by "
                   "--compress_to_fp16)")
    g.add_argument("--compress_to_fp16", nargs="?", const=True, default=None, type=_bool,
                   help="store float weights as f16 (default True)")
    g.add_argument("--freeze_placeholder_with_value", help='"name->value,...": inputs replaced by constants')
    g.add_argument("--log_level", default="ERROR", help="accepted (ovcc prints errors only)")
    g.add_argument("--silent", nargs="?", const=True, default=False, type=_bool, help="print nothing on success")
    g.add_argument("--progress", action="store_true", help="accepted (ovcc does not print progress)")
    g.add_argument("--stream_output", action="store_true", help="accepted")
    g.add_argument("--version", action="store_true", help="print the version and exit")
    tf = p.add_argument_group("TensorFlow-specific parameters")
    tf.add_argument("--saved_model_dir", help="a SavedModel directory")
    tf.add_argument("--input_meta_graph", help="a TensorFlow 1 .meta file (with its checkpoint)")
    tf.add_argument("--input_checkpoint", help="the TensorFlow 1 checkpoint of --input_meta_graph or --input_model")
    tf.add_argument("--input_model_is_text", action="store_true", help="accepted: text GraphDefs are read by their "
                    ".pbtxt suffix")
    other = p.add_argument_group("other frameworks")
    other.add_argument("--input_proto", "-d", help="Caffe: the .prototxt (with --input_model the .caffemodel)")
    other.add_argument("--input_symbol", help="MXNet: the -symbol.json file")
    other.add_argument("--counts", nargs="?", const="", help="Kaldi: the counts file (no value: the priors the "
                       ".mdl stores)")
    other.add_argument("--remove_output_softmax", action="store_true", help="Kaldi: drop the output Softmax")
    return p


def _refused(argv: list[str]) -> str | None:
    """The sentence for the first refused option on the command line, if any."""
    for a in argv:
        if a.startswith("-"):
            name = a.lstrip("-").split("=")[0]
            if REFUSED.get(name):
                return f"the Model Optimizer option --{name} is not supported: {REFUSED[name]}"
    return None


def _model_name(args: argparse.Namespace) -> str:
    if args.model_name:
        return args.model_name
    if args.input_model:
        name = Path(os.path.normpath(args.input_model)).stem
        return name if name and not name.startswith(".") else "model"
    if args.saved_model_dir:
        return "saved_model"
    if args.input_meta_graph:
        return Path(args.input_meta_graph).stem
    if args.input_symbol:
        return Path(args.input_symbol).stem.removesuffix("-symbol")
    return "model"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    t0 = time.perf_counter()
    refused = _refused(argv)
    if refused:
        print(f"[ ERROR ]  {refused}", file=sys.stderr)
        return 2
    try:
        args = build_parser().parse_args(argv)
    except _CommandLineError as e:
        print(f"[ ERROR ]  {e}", file=sys.stderr)
        return 2
    except SystemExit as e:  # --help
        return int(e.code or 0)
    if args.version:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("ovcc")
        except PackageNotFoundError:
            v = "unknown"
        print(f"Version of Model Optimizer is: ovcc {v}")
        return 0
    try:
        return _run(args, t0)
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 - one line, as the Model Optimizer printed its errors
        from dialects.errors import OvccError

        kind = "" if isinstance(e, OvccError) else f"{type(e).__name__}: "
        print(f"[ ERROR ]  {kind}{str(e).splitlines()[0] if str(e) else ''}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, t0: float) -> int:
    from compiler.api import save_model
    from passes import PIPELINES
    from passes.pipeline import run_pipeline

    extra: dict[str, Any] = {k: getattr(args, k) for k in ("input_proto", "input_symbol", "counts")
                             if getattr(args, k) is not None}
    if args.remove_output_softmax:
        extra["remove_output_softmax"] = True
    model = convert_model(args.input_model, framework=args.framework, input=args.input, output=args.output,
                          input_shape=args.input_shape, batch=args.batch, mean_values=args.mean_values,
                          scale_values=args.scale_values, scale=args.scale,
                          reverse_input_channels=args.reverse_input_channels, layout=args.layout,
                          source_layout=args.source_layout, target_layout=args.target_layout,
                          static_shape=args.static_shape, saved_model_dir=args.saved_model_dir,
                          input_meta_graph=args.input_meta_graph, input_checkpoint=args.input_checkpoint,
                          freeze_placeholder_with_value=args.freeze_placeholder_with_value, **extra)
    run_pipeline(model.module, PIPELINES["ir-O2"])  # what the Model Optimizer optimized, as IR holds it
    name = _model_name(args)
    model.friendly_name = name
    out = Path(args.output_dir) / f"{name}.xml"
    save_model(model, out, compress_to_fp16=compress_from_data_type(args.data_type, args.compress_to_fp16, True))
    if not args.silent:
        print("[ SUCCESS ] Generated IR version 11 model.")
        print(f"[ SUCCESS ] XML file: {out.resolve()}")
        print(f"[ SUCCESS ] BIN file: {out.with_suffix('.bin').resolve()}")
        print(f"[ SUCCESS ] Total execution time: {time.perf_counter() - t0:.2f} seconds. ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
