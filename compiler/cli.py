"""`ovcc`: convert a model to OpenVINO IR as `ovc` does, and drive the compiler as clang or
mlir-opt do (print any level, choose the pass pipeline, benchmark the compiled model).

    ovcc model.onnx                                   writes model.xml + model.bin
    ovcc model.onnx --output_model out/m.xml --input "x[1,3,224,224]" --compress_to_fp16=False
    ovcc model.onnx --emit hl                         prints the `ov` module (also loops|llvm|asm|ir)
    ovcc model.onnx --pass-pipeline "fold-constants,dce" --print-ir-after-all --emit hl
    ovcc model.onnx --benchmark --niter 100
    ovcc benchmark -m model.onnx -t 10 --compare ort,openvino    benchmark_app (its own flags)

Exit codes: 0 success, 1 bad input or unsupported model (one line on stderr), 2 bad command
line, 3 internal compiler error."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

EMIT_LEVELS = ("hl", "ir", "loops", "llvm", "asm")


def _bool(v: str) -> bool:
    low = v.strip().lower()
    if low in ("true", "1", "yes", "on"):
        return True
    if low in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {v!r}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ovcc", description="ovcc: model compiler for CPU inference (OpenVINO-compatible).",
        epilog="`ovcc benchmark -m MODEL ...` runs benchmark_app (see `ovcc benchmark -h`). "
               "Exit codes: 0 ok, 1 bad input/unsupported model, 2 bad command line, 3 internal error.")
    p.add_argument("input_model", help="model file: .onnx, .xml (OpenVINO IR), .pb, .tflite, .pt2, .caffemodel "
                                       "(or a weightless .prototxt), Paddle .pdmodel/.json (+ .pdiparams), an MXNet "
                                       "-symbol.json (or its .params), a "
                                       "Kaldi .nnet/.mdl/.raw, or a SavedModel directory")
    conv = p.add_argument_group("conversion (as OpenVINO's ovc)")
    conv.add_argument("--output_model", "-o", metavar="PATH",
                      help="where to write the IR (.xml, the .bin goes beside it); default: the input's name "
                           "with .xml in the current directory")
    conv.add_argument("--input", metavar="SPEC",
                      help='input names, shapes and types, e.g. "x[1,3,224,224]" or "x[?,128]{i64},mask[?,128]"; '
                           "naming an inner tensor cuts the graph there")
    conv.add_argument("--output", metavar="NAMES", help="comma-separated output tensor names (cuts the graph)")
    conv.add_argument("--input_proto", metavar="PATH", help="Caffe: the network description (.prototxt) of the "
                      ".caffemodel given (default: found beside it, e.g. NAME.prototxt or deploy.prototxt)")
    conv.add_argument("--input_symbol", metavar="PATH", help="MXNet: the -symbol.json of the .params given (default: "
                      "PREFIX-symbol.json beside PREFIX-NNNN.params)")
    conv.add_argument("--params", metavar="PATH", help="MXNet: the .params of the -symbol.json given (default: the "
                      "PREFIX-NNNN.params beside it, the latest epoch)")
    conv.add_argument("--signature", metavar="NAME", help="SavedModel signature to convert (default: "
                      "serving_default, or the only one)")
    conv.add_argument("--counts", nargs="?", const="", metavar="FILE",
                      help="Kaldi: subtract log-priors from the last layer's bias: a counts file, or \"\" (or no "
                           "value) for the priors stored in the .mdl")
    conv.add_argument("--remove_output_softmax", action="store_true",
                      help="Kaldi: drop the Softmax/LogSoftmax that computes the output")
    conv.add_argument("--compress_to_fp16", type=_bool, default=None, nargs="?", const=True,
                      metavar="{True,False}",
                      help="store float weights as f16 in the IR (default True, as ovc)")
    from compiler.tools.mo.options import add_legacy_arguments

    add_legacy_arguments(p)
    comp = p.add_argument_group("compiler driver")
    comp.add_argument("--emit", choices=EMIT_LEVELS,
                      help="print one level instead of writing IR: hl (ov dialect), ir (OpenVINO XML), "
                           "loops (loop dialect), llvm (LLVM IR), asm (host assembly)")
    comp.add_argument("-O", dest="opt", choices=("0", "1", "2"), default="2",
                      help="optimization level: the pipeline named O0/O1/O2 (default 2); the IR written gets "
                           "its representable part (-O0: the graph as converted)")
    comp.add_argument("--pass-pipeline", metavar="PASSES",
                      help='run this comma-separated pass pipeline instead of -O, e.g. "fold-constants,dce"')
    comp.add_argument("--print-ir-after-all", action="store_true", help="print the module after every pass")
    comp.add_argument("--stats", action="store_true",
                      help="print op counts, time per pass and per phase (convert, optimize, lower, LLVM)")
    comp.add_argument("--list-passes", action="store_true", help="list the registered passes and exit")
    run = p.add_argument_group("benchmark")
    run.add_argument("--benchmark", action="store_true", help="compile for the CPU and time inference on random "
                                                             "inputs")
    run.add_argument("--niter", type=int, default=50, help="benchmark iterations (default 50)")
    run.add_argument("--device", default="CPU", choices=("CPU", "REFERENCE"), help="device for --benchmark")
    p.add_argument("--traceback", action="store_true", help="show the Python traceback of internal errors")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["benchmark"]:  # a SavedModel directory of that name is given as ./benchmark
        from compiler.tools.benchmark_app import main as benchmark_app

        return benchmark_app(argv[1:], prog="ovcc benchmark")
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 - the driver turns every failure into one line
        from dialects.errors import InternalError, OvccError

        if isinstance(e, InternalError):
            if args.traceback:
                raise
            print(f"ovcc: internal error: {e} (rerun with --traceback for details)", file=sys.stderr)
            return 3
        if isinstance(e, OvccError):
            print(f"ovcc: error: {e}", file=sys.stderr)
            return 1
        if args.traceback:
            raise
        print(f"ovcc: internal error: {type(e).__name__}: {e} (rerun with --traceback for details)",
              file=sys.stderr)
        return 3


def _run(args: argparse.Namespace) -> int:
    import compiler as ov
    from compiler.tools.mo.options import compress_from_data_type, legacy_kwargs
    from passes import PASSES, PIPELINES
    from passes.pipeline import PipelineStats, run_pipeline

    if args.list_passes:
        for name, cls in sorted(PASSES.items()):
            doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
            print(f"{name:<28}{doc}")
        return 0
    extra = {"signature": args.signature} if args.signature else {}
    if args.input_proto:
        extra["input_proto"] = args.input_proto
    for key in ("input_symbol", "params"):
        if getattr(args, key):
            extra[key] = getattr(args, key)
    if args.counts is not None:
        extra["counts"] = args.counts
    if args.remove_output_softmax:
        extra["remove_output_softmax"] = True
    legacy = legacy_kwargs(args)
    t0 = time.perf_counter()
    if legacy or args.data_type:  # the Model Optimizer's options: converted as mo did
        from compiler.tools import mo

        model = mo.convert_model(args.input_model, input=args.input, output=args.output, **extra, **legacy)
    else:
        model = ov.convert_model(args.input_model, input=args.input, output=args.output, **extra)
    compress = compress_from_data_type(args.data_type, args.compress_to_fp16, True)
    stats = PipelineStats(phases={"convert": time.perf_counter() - t0}) if args.stats else None
    spec = args.pass_pipeline or PIPELINES["O" + args.opt]
    if args.emit in ("loops", "llvm", "asm"):  # the pipeline compile_model runs, around `spec`
        from runtime.native import emit_level

        print(emit_level(model, args.emit, spec, print_after_all=args.print_ir_after_all, stats=stats))
        if stats is not None:
            print(stats.table(), file=sys.stderr)
            print(stats.phase_line(), file=sys.stderr)
        return 0
    if args.emit in (None, "ir"):
        spec = args.pass_pipeline or PIPELINES["ir-O" + args.opt]
    t0 = time.perf_counter()
    run_pipeline(model.module, spec, print_after_all=args.print_ir_after_all, stats=stats)
    if stats is not None:
        stats.phases["optimize"] = time.perf_counter() - t0
        print(stats.table(), file=sys.stderr)
        print("ops: " + ", ".join(f"{k}={v}" for k, v in sorted(model.op_counts().items())), file=sys.stderr)
    if args.benchmark:
        return _benchmark(model, args, stats)
    if stats is not None:
        print(stats.phase_line(), file=sys.stderr)
    if args.emit == "hl":
        print(model)
    elif args.emit == "ir":
        from codegen.ir_writer import ir_xml_text

        print(ir_xml_text(model, compress_to_fp16=compress))
    else:
        out = Path(args.output_model) if args.output_model else Path(Path(args.input_model).stem + ".xml")
        ov.save_model(model, out, compress_to_fp16=compress)
        print(f"[ SUCCESS ] XML file: {out}\n[ SUCCESS ] BIN file: {out.with_suffix('.bin')}")
    return 0


def _benchmark(model, args: argparse.Namespace, stats=None) -> int:
    import numpy as np

    import compiler as ov

    t0 = time.perf_counter()
    compiled = ov.compile_model(model, args.device)
    t_compile = time.perf_counter() - t0
    compiled_stats = getattr(compiled, "stats", None)  # the CPU's (the reference device compiles nothing)
    if stats is not None:
        if compiled_stats is not None:  # compile_model's own passes, lowering and LLVM
            stats.phases.update({"optimize (compile_model)": compiled_stats.seconds_optimize,
                                 "lower": compiled_stats.seconds_lower, "LLVM": compiled_stats.seconds_llvm})
        print(stats.phase_line(), file=sys.stderr)
    rng = np.random.default_rng(0)
    inputs = []
    for p in compiled.inputs:
        shape = [d if d is not None else 1 for d in p.shape]
        inputs.append(rng.standard_normal(shape).astype(p.dtype) if p.dtype.kind == "f"
                      else rng.integers(0, 2, shape).astype(p.dtype))
    compiled(inputs)
    times = []
    for _ in range(args.niter):
        t = time.perf_counter()
        compiled(inputs)
        times.append(time.perf_counter() - t)
    times.sort()
    print(f"device {args.device}: compile {t_compile:.2f} s, latency median {times[len(times) // 2] * 1e3:.3f} ms, "
          f"min {times[0] * 1e3:.3f} ms over {args.niter} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
