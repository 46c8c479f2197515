"""Kaldi nnet1/nnet2/nnet3 models: written by tests/compiler/kaldi_writer.py in Kaldi's binary
and text forms, converted, and checked against the frame-by-frame numpy oracle written from
Kaldi's component formulas (reference interpreter), native code against the interpreter,
and our IR in the real OpenVINO runtime."""

import subprocess
import sys

import numpy as np
import openvino
import pytest

import compiler as ov
from compiler.frontends.kaldi import context
from dialects.errors import ConversionError, InputError, ModelFileError, UnsupportedOpsError
from tests.compiler.kaldi_writer import (
    Affine,
    Append,
    BatchNorm,
    Const,
    FrameOracle,
    IfDefined,
    LstmNonlinearity,
    N,
    Net3,
    Nonlinear,
    Normalize,
    Offset,
    ReplaceIndex,
    Scale,
    Simple,
    Splice2,
    Sum,
    Tdnn,
    backprop_truncation,
    dropout,
    elementwise_product,
    fixed_bias,
    fixed_scale,
    general_dropout,
    n1_add_shift,
    n1_affine,
    n1_copy,
    n1_linear,
    n1_rescale,
    n1_simple,
    n1_splice,
    nnet1_file,
    nnet2_file,
    noop,
    per_element_offset,
    per_element_scale,
    permute,
    pnorm,
    scale_and_offset,
    sigmoid,
    sum_group,
)

F32 = {"INFERENCE_PRECISION_HINT": "f32"}
FORMS = [pytest.param(True, id="binary"), pytest.param(False, id="text")]


def rand(rng, *shape, scale=0.5):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def close(got, want, rtol=1e-4):
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-5 * max(1.0, float(np.abs(want).max())))


def run(model, feeds, device="REFERENCE"):
    compiled = ov.compile_model(model, device, F32 if device == "CPU" else None)
    return [compiled(feeds)[i] for i in range(len(compiled.outputs))]


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- every frame-wise component against its numpy formula ---------------------------------------
def _components(rng):
    d = 8
    return {
        "affine": Affine(rand(rng, 6, d), rand(rng, 6), "AffineComponent"),
        "ng-affine": Affine(rand(rng, 6, d), rand(rng, 6)),
        "fixed-affine": Affine(rand(rng, 6, d), rand(rng, 6), "FixedAffineComponent"),
        "linear": Affine(rand(rng, 6, d), None, "LinearComponent"),
        **{k: Nonlinear(k, d) for k in ("SigmoidComponent", "TanhComponent", "RectifiedLinearComponent",
                                        "SoftmaxComponent", "LogSoftmaxComponent")},
        "normalize": Normalize(d),
        "normalize-rms-logstddev-blocks": Normalize(d, target_rms=0.5, add_log_stddev=True, block_dim=4),
        "batchnorm-blocks": BatchNorm(d, rand(rng, 4), np.abs(rand(rng, 4)) + 0.1, epsilon=1e-3, target_rms=0.8),
        "noop": noop(d),
        "dropout-test-mode": dropout(d, 0.25),
        "general-dropout": general_dropout(d),
        "backprop-truncation": backprop_truncation(d),
        "pnorm": pnorm(d, 4),
        "sum-group": sum_group([3, 1, 4]),
        "elementwise-product": elementwise_product(d, 4),
        "fixed-scale": fixed_scale(rand(rng, d)),
        "fixed-bias": fixed_bias(rand(rng, d)),
        "scale-and-offset": scale_and_offset(d, rand(rng, 4), rand(rng, 4)),
        "per-element-scale": per_element_scale(rand(rng, d)),
        "per-element-offset": per_element_offset(d, rand(rng, 4)),
        "permute": permute([3, 0, 7, 1, 6, 2, 5, 4]),
        "lstm-nonlinearity": LstmNonlinearity(rand(rng, 3, 2)),  # 5 x 2 inputs
        "lstm-nonlinearity-dropout-scales": LstmNonlinearity(rand(rng, 3, 1), use_dropout=True),  # 5 + 3
        "nnet2-soft-hinge": Nonlinear("SoftHingeComponent", d, nnet2=True),
        "nnet2-pnorm-p3": pnorm(d, 2, p=3.0),
        "nnet2-maxout": Simple("MaxoutComponent", [("<InputDim>", "int", d), ("<OutputDim>", "int", 4)],
                               lambda x: x.reshape(len(x), 4, 2).max(2)),
        "nnet2-scale": Simple("ScaleComponent", [("<Dim>", "int", d), ("<Scale>", "float", -1.5)], lambda x: -1.5 * x),
    }


COMPONENT_NAMES = list(_components(np.random.default_rng(0)))


@pytest.mark.parametrize("name", COMPONENT_NAMES)
def test_each_component_computes_its_formula(name, tmp_path):
    rng = np.random.default_rng(COMPONENT_NAMES.index(name))
    comp = _components(rng)[name]
    dim = {"lstm-nonlinearity": 10}.get(name, 8)
    net = Net3({"input": dim}, [("component-node", "c", "c", "input"), ("output-node", "output", "c")], {"c": comp})
    path = write(tmp_path, "m.raw", net.file(binary=True))
    x = rand(rng, 3, dim, scale=1.0)
    got = run(ov.convert_model(path, input=f"input[3,{dim}]"), [x])[0]
    close(got, comp.forward(x.astype(np.float64)))


# --- nnet3 -------------------------------------------------------------------------------------------
def tdnn_network(rng):
    """A TDNN-F-like network: spliced input and iVector, TdnnComponent, batchnorm, a
    scaled bypass, normalization, two outputs."""
    c = {
        "lda": Affine(rand(rng, 12, 5 * 3 + 3), rand(rng, 12), "FixedAffineComponent"),
        "tdnn1.affine": Affine(rand(rng, 10, 12), rand(rng, 10)),
        "tdnn1.relu": Nonlinear("RectifiedLinearComponent", 10),
        "tdnn1.batchnorm": BatchNorm(10, rand(rng, 10), np.abs(rand(rng, 10)) + 0.2),
        "tdnn1.dropout": general_dropout(10),
        "tdnnf2.linear": Tdnn([-1, 0], rand(rng, 4, 20), None),
        "tdnnf2.affine": Tdnn([0, 1], rand(rng, 10, 8), rand(rng, 10)),
        "tdnnf2.relu": Nonlinear("RectifiedLinearComponent", 10),
        "tdnnf2.noop": noop(10),
        "prefinal.linear": Affine(rand(rng, 6, 10), None, "LinearComponent"),
        "prefinal.norm": Normalize(6, target_rms=0.5, add_log_stddev=True),
        "output.affine": Affine(rand(rng, 4, 7), rand(rng, 4)),
        "output.log-softmax": Nonlinear("LogSoftmaxComponent", 4),
        "xent.affine": Affine(rand(rng, 3, 10), rand(rng, 3), "AffineComponent"),
    }
    lines = [
        ("component-node", "lda", "lda", Append(Offset("input", -1), "input", Offset("input", 1),
                                                ReplaceIndex("ivector", 0))),
        ("component-node", "tdnn1.affine", "tdnn1.affine", "lda"),
        ("component-node", "tdnn1.relu", "tdnn1.relu", "tdnn1.affine"),
        ("component-node", "tdnn1.batchnorm", "tdnn1.batchnorm", "tdnn1.relu"),
        ("component-node", "tdnn1.dropout", "tdnn1.dropout", "tdnn1.batchnorm"),
        ("component-node", "tdnnf2.linear", "tdnnf2.linear", "tdnn1.dropout"),
        ("component-node", "tdnnf2.affine", "tdnnf2.affine", "tdnnf2.linear"),
        ("component-node", "tdnnf2.relu", "tdnnf2.relu", "tdnnf2.affine"),
        ("component-node", "tdnnf2.noop", "tdnnf2.noop", Sum(Scale(0.66, "tdnn1.dropout"), "tdnnf2.relu")),
        ("component-node", "prefinal.linear", "prefinal.linear", "tdnnf2.noop"),
        ("component-node", "prefinal.norm", "prefinal.norm", "prefinal.linear"),
        ("dim-range-node", "prefinal.part", "prefinal.norm", 1, 5),
        ("component-node", "output.affine", "output.affine", Append(Offset("prefinal.part", -2), Const(0.5, 2))),
        ("component-node", "output.log-softmax", "output.log-softmax", "output.affine"),
        ("output-node", "output", "output.log-softmax"),
        ("component-node", "xent.affine", "xent.affine", Append("prefinal.part", IfDefined(Offset("input", 3)))),
        ("output-node", "output-xent", "xent.affine"),
    ]
    return Net3({"input": 5, "ivector": 3}, lines, c)


@pytest.mark.parametrize("binary", FORMS)
def test_nnet3_tdnn_matches_the_frame_oracle(binary, tmp_path):
    rng = np.random.default_rng(1)
    net = tdnn_network(rng)
    path = write(tmp_path, "final.raw", net.file(binary))
    frames = 12
    model = ov.convert_model(path, input=f"input[{frames},5]")
    assert [(p.any_name, tuple(p.shape)) for p in model.inputs] == [("input", (frames, 5)), ("ivector", (1, 3))]
    x, ivector = rand(rng, frames, 5, scale=1.0), rand(rng, 1, 3, scale=1.0)
    got = run(model, [x, ivector])
    oracle = FrameOracle(net, {"input": x, "ivector": ivector})
    for name, value in zip(("output", "output-xent"), got):
        first, want = oracle.output(name, frames)
        assert value.shape == want.shape, name
        close(value, want)
    assert first == 2  # output-xent: the lda splice's frame before it
    native = run(model, [x, ivector], "CPU")
    for a, b in zip(native, got):
        close(a, b)


def test_nnet3_context_and_default_window(tmp_path):
    rng = np.random.default_rng(2)
    path = write(tmp_path, "final.raw", tdnn_network(rng).file(True))
    # output: lda -1..+1, tdnnf2.linear -1, tdnnf2.affine +1, output.affine -2: 4 left, 0 right;
    # output-xent skips output.affine's -2
    assert context(path) == context(path, "output")
    assert (context(path).left, context(path).right, context(path).window) == (4, 0, 5)
    assert (context(path, "output-xent").left, context(path, "output-xent").right) == (2, 2)
    model = ov.convert_model(path)
    assert tuple(model.inputs[0].shape) == (5, 5)
    assert [tuple(p.shape) for p in model.outputs] == [(1, 4), (1, 3)]
    with pytest.raises(ConversionError, match=r"a window of 4 frames is too short for output 'output'.*at least 5"):
        ov.convert_model(path, input="input[4,5]")
    with pytest.raises(ConversionError, match="fixed window of frames"):
        ov.convert_model(path, input="input[?,5]")
    with pytest.raises(InputError, match=r"input 'input' is \[frames, 5\]"):
        ov.convert_model(path, input="input[9,6]")
    only = ov.convert_model(path, input="input[9,5]", output="output-xent")
    assert [p.any_name for p in only.outputs] == ["output-xent"]
    inner = ov.convert_model(path, input="input[9,5]", output="tdnn1.batchnorm,output")
    assert [(p.any_name, tuple(p.shape)) for p in inner.outputs] == [("tdnn1.batchnorm", (7, 10)), ("output", (5, 4))]
    x, ivector = rand(rng, 9, 5, scale=1.0), rand(rng, 1, 3, scale=1.0)
    first, want = FrameOracle(tdnn_network(np.random.default_rng(2)), {"input": x, "ivector": ivector}).output(
        "tdnn1.batchnorm", 9)
    assert first == 1
    close(run(inner, [x, ivector])[0], want)
    with pytest.raises(ConversionError, match="no node named 'tdnn9' to output"):
        ov.convert_model(path, output="tdnn9")


def lstm_network(rng, delay=-3, cell=3, proj=2):
    """nnet3's lstmp layer: W_all over [input, r(t+delay)], LstmNonlinearity over
    [W_all, c(t+delay)], projection, backprop truncation, dim ranges."""
    c = {
        "lstm1.W_all": Affine(rand(rng, 4 * cell, 4 + proj), rand(rng, 4 * cell)),
        "lstm1.lstm_nonlin": LstmNonlinearity(rand(rng, 3, cell)),
        "lstm1.W_rp": Affine(rand(rng, proj, cell), None, "LinearComponent"),
        "lstm1.cr_trunc": backprop_truncation(cell + proj),
        "output.affine": Affine(rand(rng, 3, proj), rand(rng, 3)),
        "output.softmax": Nonlinear("SoftmaxComponent", 3),
    }
    lines = [
        ("component-node", "lstm1.W_all", "lstm1.W_all", Append("input", IfDefined(Offset("lstm1.r_trunc", delay)))),
        ("component-node", "lstm1.lstm_nonlin", "lstm1.lstm_nonlin",
         Append("lstm1.W_all", IfDefined(Offset("lstm1.c_trunc", delay)))),
        ("dim-range-node", "lstm1.c", "lstm1.lstm_nonlin", 0, cell),
        ("dim-range-node", "lstm1.m", "lstm1.lstm_nonlin", cell, cell),
        ("component-node", "lstm1.W_rp", "lstm1.W_rp", "lstm1.m"),
        ("component-node", "lstm1.cr_trunc", "lstm1.cr_trunc", Append("lstm1.c", "lstm1.W_rp")),
        ("dim-range-node", "lstm1.c_trunc", "lstm1.cr_trunc", 0, cell),
        ("dim-range-node", "lstm1.r_trunc", "lstm1.cr_trunc", cell, proj),
        ("component-node", "output.affine", "output.affine", "lstm1.W_rp"),
        ("component-node", "output.softmax", "output.softmax", "output.affine"),
        ("output-node", "output", "output.softmax"),
    ]
    return Net3({"input": 4}, lines, c)


@pytest.mark.parametrize("delay", [-3, -1, 2], ids=["forward-3", "forward-1", "backward+2"])
def test_nnet3_lstm_runs_over_the_window_from_zero_state(delay, tmp_path):
    rng = np.random.default_rng(3)
    net = lstm_network(rng, delay)
    path = write(tmp_path, "lstm.raw", net.file(True))
    frames = 10
    model = ov.convert_model(path, input=f"input[{frames},4]")
    x = rand(rng, frames, 4, scale=1.0)
    got = run(model, [x])[0]
    first, want = FrameOracle(net, {"input": x}).output("output", frames)
    assert first == 0 and got.shape == (frames, 3)
    close(got, want)
    close(run(model, [x], "CPU")[0], got)


# --- nnet1 and nnet2 --------------------------------------------------------------------------------
def nnet1_components(rng):
    return [
        n1_splice(3, [-2, -1, 0, 1, 2]),
        n1_add_shift(rand(rng, 15)),
        n1_rescale(rand(rng, 15) + 1),
        n1_affine(rand(rng, 8, 15), rand(rng, 8)),
        n1_simple("Sigmoid", 8, sigmoid),
        n1_linear(rand(rng, 6, 8)),
        n1_simple("Tanh", 6, np.tanh),
        n1_copy(6, [6, 1, 2, 2, 5]),
        n1_simple("Dropout", 5, lambda x: x, [("<DropoutRate>", "float", 0.2)]),
        n1_affine(rand(rng, 4, 5), rand(rng, 4)),
        n1_simple("Softmax", 4, lambda x: np.exp(x) / np.exp(x).sum(1, keepdims=True)),
    ]


@pytest.mark.parametrize("binary", FORMS)
def test_nnet1_chain_with_splice(binary, tmp_path):
    rng = np.random.default_rng(4)
    comps = nnet1_components(rng)
    path = write(tmp_path, "final.nnet", nnet1_file(comps, binary))
    assert (context(path).left, context(path).right) == (2, 2)
    frames = 9
    model = ov.convert_model(path, input=f"input[{frames},3]")
    x = rand(rng, frames, 3, scale=1.0)
    got = run(model, [x])[0]
    first, want = FrameOracle.chain(comps, x).output("output", frames)
    assert first == 2 and got.shape == (5, 4)
    close(got, want)
    close(run(model, [x], "CPU")[0], got)


def nnet2_components(rng):
    return [
        Splice2(4, [-1, 0, 1], const=1),  # 3 x 3 spliced + 1 constant (an iVector part)
        Affine(rand(rng, 8, 10), rand(rng, 8), "AffineComponentPreconditionedOnline"),
        Simple("PnormComponent", [("<InputDim>", "int", 8), ("<OutputDim>", "int", 4), ("<P>", "float", 2.0)],
               lambda x: np.sqrt((x.reshape(len(x), 4, 2) ** 2).sum(2))),
        Normalize(4, nnet2=True),
        Affine(rand(rng, 6, 4), rand(rng, 6), "AffineComponent"),
        Nonlinear("TanhComponent", 6, nnet2=True),
        Affine(rand(rng, 5, 6), rand(rng, 5), "FixedAffineComponent"),
        Nonlinear("SoftmaxComponent", 5, nnet2=True),
    ]


@pytest.mark.parametrize("binary", FORMS)
def test_nnet2_mdl_with_priors(binary, tmp_path):
    rng = np.random.default_rng(5)
    comps = nnet2_components(rng)
    priors = np.array([0.1, 0.2, 0.3, 0.15, 0.25], np.float32)
    path = write(tmp_path, "final.mdl", nnet2_file(comps, binary, priors=priors, transition=True))
    frames = 6
    x = rand(rng, frames, 4, scale=1.0)
    first, want = FrameOracle.chain(comps, x).output("output", frames)
    got = run(ov.convert_model(path, input=f"input[{frames},4]"), [x])[0]
    assert first == 1
    close(got, want)
    # counts="" uses the priors: log-likelihoods = pre-softmax - log(prior / sum)
    _, logits = FrameOracle.chain(comps[:-1], x).output("output", frames)
    scaled = ov.convert_model(path, input=f"input[{frames},4]", counts="", remove_output_softmax=True)
    close(run(scaled, [x])[0], logits - np.log(priors / priors.sum()))


def test_counts_file_through_the_cli_into_openvino(tmp_path):
    rng = np.random.default_rng(6)
    comps = nnet1_components(rng)
    path = write(tmp_path, "final.nnet", nnet1_file(comps, True))
    counts = tmp_path / "ali_train_pdf.counts"
    counts.write_text("[ 120 30 0 50 ]\n")
    xml = tmp_path / "out" / "m.xml"
    proc = subprocess.run([sys.executable, "-m", "compiler.cli", str(path), "--counts", str(counts),
                           "--remove_output_softmax", "--input", "input[7,3]", "-o", str(xml),
                           "--compress_to_fp16=False"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    x = rand(rng, 7, 3, scale=1.0)
    core = openvino.Core()
    got = core.compile_model(core.read_model(str(xml)), "CPU", F32)([x])[0]
    _, logits = FrameOracle.chain(comps[:-1], x).output("output", 7)
    c = np.array([120, 30, 1.00000001e-10, 50])  # the Model Optimizer's floor for empty counts
    prior = np.log(c / c.sum())
    prior[2] += np.finfo(np.float32).max / 2
    want = logits - prior
    close(np.delete(got, 2, 1), np.delete(want, 2, 1))
    assert np.all(got[:, 2] < -1e37)


def test_nnet3_mdl_priors_fold_into_the_output_bias(tmp_path):
    rng = np.random.default_rng(7)
    net = lstm_network(rng)
    priors = np.array([0.5, 0.2, 0.3], np.float32)
    path = write(tmp_path, "final.mdl", net.file(False, priors=priors, transition=True))
    model = ov.convert_model(path, input="input[6,4]", counts="", remove_output_softmax=True)
    assert "SoftMax" not in model.op_counts()
    x = rand(rng, 6, 4, scale=1.0)
    net.lines[-1] = ("output-node", "output", N("output.affine"))
    _, logits = FrameOracle(net, {"input": x}).output("output", 6)
    close(run(model, [x])[0], logits - np.log(priors))


@pytest.mark.parametrize("name", ["final.raw", "final.mdl", "nnet3_model", "nnet.final"])
def test_recognized_by_content_or_extension(name, tmp_path):
    rng = np.random.default_rng(8)
    net = lstm_network(rng)
    path = write(tmp_path, name, net.file(name != "nnet3_model", transition=name == "final.mdl"))
    model = ov.read_model(path)
    assert [p.any_name for p in model.outputs] == ["output"]


# --- the IR in OpenVINO ------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["tdnn", "lstm"])
def test_ir_runs_in_openvino(which, tmp_path):
    rng = np.random.default_rng(9)
    net = tdnn_network(rng) if which == "tdnn" else lstm_network(rng)
    path = write(tmp_path, "final.raw", net.file(True))
    model = ov.convert_model(path, input="input[9,5]" if which == "tdnn" else "input[9,4]")
    feeds = [rand(rng, *p.shape, scale=1.0) for p in model.inputs]
    xml = tmp_path / "m.xml"
    ov.save_model(model, xml, compress_to_fp16=False)
    core = openvino.Core()
    compiled = core.compile_model(core.read_model(str(xml)), "CPU", F32)
    result = compiled(feeds)
    for i, want in enumerate(run(model, feeds)):
        close(result[i], want)


# --- refusals and bad files ---------------------------------------------------------------------------
def one_line(e):
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_unsupported_components_and_descriptors_in_one_error(tmp_path):
    rng = np.random.default_rng(10)
    conv = Simple("ConvolutionComponent", [("<InputDim>", "int", 4)], None)
    pool = Simple("StatisticsPoolingComponent", [("<InputDim>", "int", 4), ("<Context>", "int_vector", [0, 1])],
                  None)
    net = Net3({"input": 4}, [
        ("component-node", "cnn1", "cnn1", "input"),
        ("component-node", "stats", "stats", "cnn1"),
        ("component-node", "a", "a", "stats"),
        ("output-node", "output", "a"),
    ], {"cnn1": conv, "stats": pool, "a": Affine(rand(rng, 2, 4), rand(rng, 2))})
    config = net.config()
    config[3] = "component-node name=a component=a input=Switch(stats, Round(input, 2))"
    path = write(tmp_path, "m.raw", net.file(True, config=config))
    with pytest.raises(UnsupportedOpsError) as e:
        ov.convert_model(path)
    msg = one_line(e)
    assert str(path) in msg
    for what in ("ConvolutionComponent (cnn1)", "StatisticsPoolingComponent (stats)", "descriptor Switch (a)",
                 "descriptor Round (a)"):
        assert what in msg
    bad1 = write(tmp_path, "m.nnet", nnet1_file([n1_simple("ParametricRelu", 3, None,
                                                            [("<AlphaLearnRateCoef>", "float", 1.0)]),
                                                 n1_simple("KlHmm", 3, None)], True))
    with pytest.raises(UnsupportedOpsError, match=r"unsupported Kaldi operations: KlHmm .*; ParametricRelu "):
        ov.convert_model(bad1)


def test_truncated_files_fail_with_the_file_named(tmp_path):
    rng = np.random.default_rng(11)
    files = {"n3.raw": tdnn_network(rng).file(True), "n3t.raw": lstm_network(rng).file(False),
             "n2.mdl": nnet2_file(nnet2_components(rng), True, priors=np.full(5, 0.2), transition=True),
             "n1.nnet": nnet1_file(nnet1_components(rng), True)}
    for name, data in files.items():
        for cut in np.linspace(1, len(data) - 12, 25).astype(int):
            path = write(tmp_path, name, data[:cut])
            with pytest.raises(ModelFileError) as e:
                ov.convert_model(path)
            assert str(path) in one_line(e), (name, cut)


def test_unknown_token(tmp_path):
    rng = np.random.default_rng(12)
    data = lstm_network(rng).file(True)
    path = write(tmp_path, "m.raw", data.replace(b"<NumComponents>", b"<NumBogus>"))
    with pytest.raises(ModelFileError, match=r"m\.raw: expected <NumComponents>, found '<NumBogus>'") as e:
        ov.convert_model(path)
    one_line(e)
    path = write(tmp_path, "m.nnet", nnet1_file(nnet1_components(rng), False).replace(b"<Sigmoid>", b"<Sigmoyd>"))
    with pytest.raises(ModelFileError, match=r"m\.nnet: unknown token '<Sigmoyd>'"):
        ov.convert_model(path)
    path = write(tmp_path, "x.mdl", b"\0B<Nnet4> ")
    with pytest.raises(ModelFileError, match="not a Kaldi model"):
        ov.convert_model(path)


def test_dimensions_that_do_not_chain(tmp_path):
    rng = np.random.default_rng(13)
    net = tdnn_network(rng)
    net.components["tdnn1.affine"] = Affine(rand(rng, 10, 11), rand(rng, 10))
    path = write(tmp_path, "m.raw", net.file(True))
    with pytest.raises(ModelFileError, match=r"m\.raw: dimensions do not chain: node 'tdnn1.affine' gets 12 values "
                                             r"per frame but component 'tdnn1.affine' \(NaturalGradientAffineComponent"
                                             r"\) takes 11") as e:
        ov.convert_model(path)
    one_line(e)
    comps = nnet1_components(rng)
    comps[5] = n1_linear(rand(rng, 6, 7))
    path = write(tmp_path, "m.nnet", nnet1_file(comps, True))
    with pytest.raises(ModelFileError, match=r"m\.nnet: dimensions do not chain: node 'LinearTransform_5' gets 8"):
        ov.convert_model(path)


def test_descriptor_naming_a_missing_node(tmp_path):
    rng = np.random.default_rng(14)
    net = lstm_network(rng)
    config = net.config()
    config[-1] = "output-node name=output input=Append(output.softmax, Offset(lstm2.r, -1)) objective=linear"
    path = write(tmp_path, "m.raw", net.file(True, config=config))
    with pytest.raises(ModelFileError, match=r"m\.raw: node 'output' refers to 'lstm2.r', which is not a node") as e:
        ov.convert_model(path)
    one_line(e)
