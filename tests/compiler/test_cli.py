"""The `ovcc` driver: help, emitted levels, IR output and exit codes."""

import re
import subprocess
import sys

import numpy as np
import onnx
from onnx import helper
from xdsl.parser import Parser

from compiler.cli import main
from passes.pipeline import context
from tests.models import light_model, make_model


def _run(args, capsys):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_help_documents_every_flag():
    out = subprocess.run([sys.executable, "-m", "compiler.cli", "--help"], capture_output=True, text=True).stdout
    for flag in ("--output_model", "--input", "--output", "--compress_to_fp16", "--emit", "-O", "--pass-pipeline",
                 "--print-ir-after-all", "--stats", "--benchmark", "--list-passes"):
        assert flag in out, flag


def test_emit_hl_parses_back_to_an_equal_module(tmp_path, capsys):
    path = tmp_path / "sq.onnx"
    onnx.save(light_model("squeezenet"), str(path))
    code, out, _ = _run([path, "--emit", "hl"], capsys)
    assert code == 0 and "ov.Convolution" in out
    module = Parser(context(), out).parse_module()
    module.verify()
    assert str(module) == out.rstrip("\n")
    import compiler as ov
    from passes import PIPELINES
    from passes.pipeline import run_pipeline

    expected = ov.convert_model(path)
    run_pipeline(expected.module, PIPELINES["O2"])
    assert module.is_structurally_equivalent(expected.module)


def test_default_writes_ir_named_after_the_input(tmp_path, capsys, monkeypatch):
    path = tmp_path / "mlp.onnx"
    m = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", np.float32, [1, 4])], [("y", np.float32, [1, 4])])
    onnx.save(m, str(path))
    monkeypatch.chdir(tmp_path)
    code, out, _ = _run([path, "--input", "x[1,4]"], capsys)
    assert code == 0 and (tmp_path / "mlp.xml").exists() and (tmp_path / "mlp.bin").exists()
    code, _, _ = _run([path, "--output_model", tmp_path / "o" / "m.xml", "--compress_to_fp16=False"], capsys)
    assert code == 0 and (tmp_path / "o" / "m.xml").exists()


def test_bad_input_gives_one_line_and_exit_code_1(tmp_path, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00\x01garbage")
    code, out, err = _run([bad, "--emit", "hl"], capsys)
    assert code == 1 and err.startswith("ovcc: error:") and str(bad) in err and err.count("\n") == 1
    code, _, err = _run([tmp_path / "nope.onnx"], capsys)
    assert code == 1 and "no such file" in err


def test_bad_command_line_exit_code_2(capsys):
    try:
        main(["x.onnx", "--emit", "nonsense"])
    except SystemExit as e:
        assert e.code == 2
    else:
        raise AssertionError("argparse should exit")


def test_stats_and_pipeline_flags(tmp_path, capsys):
    path = tmp_path / "r.onnx"
    onnx.save(light_model("resnet50"), str(path))
    code, out, err = _run([path, "--pass-pipeline", "fold-constants,dce", "--stats", "--emit", "hl"], capsys)
    assert code == 0 and "fold-constants" in err and "ops before" in err
    assert re.search(r"^phases: convert [\d.]+ s, optimize [\d.]+ s$", err, re.M), err


def test_stats_prints_every_phase_of_a_compilation(tmp_path, capsys):
    path = tmp_path / "relu.onnx"
    onnx.save(make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", np.float32, [2, 3])],
                         [("y", np.float32, None)]), str(path))
    code, _, err = _run([path, "--stats", "--emit", "llvm"], capsys)
    assert code == 0 and re.search(r"^phases: convert [\d.]+ s, optimize [\d.]+ s, lower [\d.]+ s, LLVM [\d.]+ s$",
                                   err, re.M), err
    code, _, err = _run([path, "--pass-pipeline", "no-such-pass", "--emit", "hl"], capsys)
    assert code == 1 and "no-such-pass" in err
