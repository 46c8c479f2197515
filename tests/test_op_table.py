"""Every op of the `ov` dialect is complete: it has reference semantics, a native lowering (or
a stated reason in NO_CPU), attributes that survive the IR writer and reader, a frontend that
emits it (or a stated reason in IR_ONLY), a sample on which REFERENCE and CPU agree, and a row
in docs/ops.md that is current."""

from __future__ import annotations

import json

import numpy as np
import pytest

import compiler as ov
from codegen.ir_writer import write_ir
from compiler.frontends.builder import GraphBuilder
from compiler.model import Model
from dialects.errors import CompileError
from dialects.ov import OPS, Const, OvOp, create, shape_of
from dialects.ov.extension import CUSTOM_OPS
from dialects.ov.table import DOC, IR_ONLY, emitters, markdown
from passes.ov_to_loops.lower import NO_CPU, has_lowering
from runtime.reference import REFERENCE
from tests.op_samples import SAMPLES, P, Sample

F32 = {"INFERENCE_PRECISION_HINT": "f32"}
ALL = sorted(OPS)


class _Scale:
    """The custom op the Extension sample uses: its input times the `factor` attribute."""

    def infer(self, attrs, ins):
        return [(ins[0].shape, ins[0].dtype)]

    def evaluate(self, attrs, inputs):
        return [inputs[0] * np.float32(json.loads(attrs.attributes)["factor"])]


@pytest.fixture(autouse=True)
def _one_op_models(monkeypatch):
    """Constant folding off, so that an op whose sample inputs are all constant (Range) or
    known from shapes (ShapeOf) reaches the IR writer and the lowering instead of the folder."""
    monkeypatch.setattr("passes.fold_constants._fold", lambda op: None)
    monkeypatch.setattr("compiler.frontends.builder.EAGER_FOLD_ELEMENTS", -1)
    monkeypatch.setitem(CUSTOM_OPS, "OpTableScale", _Scale())


def one_op_model(op_type: str, sample: Sample) -> tuple[Model, list[np.ndarray]]:
    """A model of one `op_type` op over the sample's inputs, and the values of its inputs."""
    b = GraphBuilder()
    if op_type == "Const":
        outs = [b.const(sample.inputs[0])]
    else:
        ins = [b.add_input([f"in{i}"], x.value.shape, x.value.dtype) if isinstance(x, P) else b.const(x)
               for i, x in enumerate(sample.inputs)]
        outs = list(b.add(create(op_type, ins, **sample.attrs)).outputs)
    module = b.finish([(v, [f"out{i}"]) for i, v in enumerate(outs)], name=op_type)
    return Model(module, op_type), [x.value for x in sample.inputs if isinstance(x, P)]


def samples(op_type: str) -> list[tuple[str, Sample]]:
    return [(f"{op_type} sample {i}" + (f" ({s.note})" if s.note else ""), s)
            for i, s in enumerate(SAMPLES.get(op_type, []))]


def the_op(model: Model, op_type: str):
    ops = [op for op in model.function.body.block.ops if getattr(op, "IR_TYPE", None) == op_type]
    assert len(ops) == 1, f"expected one {op_type} op, found {len(ops)}"
    return ops[0]


def assert_same(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype, \
        f"{what}: {got.dtype}{list(got.shape)}, want {want.dtype}{list(want.shape)}"
    if want.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def test_every_op_has_a_sample_and_every_sample_an_op():
    missing = sorted(set(OPS) - set(SAMPLES))
    assert not missing, f"ops without a sample in tests/op_samples.py: {missing}"
    assert not set(SAMPLES) - set(OPS), f"samples of no op: {sorted(set(SAMPLES) - set(OPS))}"


@pytest.mark.parametrize("op_type", ALL)
def test_reference_semantics(op_type):
    if op_type == "Const":
        pytest.skip("the interpreter hands out a constant's data itself")
    assert op_type in REFERENCE, f"{op_type} has no reference implementation in runtime/reference"


@pytest.mark.parametrize("op_type", ALL)
def test_native_lowering_or_a_reason(op_type):
    assert has_lowering(op_type) != (op_type in NO_CPU), \
        f"{op_type}: lowered {has_lowering(op_type)}, in NO_CPU {op_type in NO_CPU}: exactly one must hold"


@pytest.mark.parametrize("op_type", ALL)
def test_emitted_by_a_frontend_or_ir_only(op_type):
    emitted = emitters()[op_type]
    assert bool(emitted) != (op_type in IR_ONLY), \
        f"{op_type}: emitted by {emitted or 'no frontend'}, in IR_ONLY {op_type in IR_ONLY}: exactly one must hold"


# ops whose IR spells a default out, so that what reads back is the same IR, not the same attributes
WRITTEN_OUT = {"MaxPool": "empty dilations (ones) are written as ones: OpenVINO's MaxPool needs them"}


@pytest.mark.parametrize("op_type", ALL)
def test_attributes_round_trip_through_ir(op_type, tmp_path):
    for what, sample in samples(op_type):
        model, _ = one_op_model(op_type, sample)
        path = tmp_path / f"{len(what)}.xml"
        write_ir(model, path, compress_to_fp16=False)
        back = ov.read_model(path)
        if op_type == "Const":
            (ret,) = back.function.body.block.last_op.operands
            assert isinstance(ret.op, Const), what
            assert_same(ret.op.array, sample.inputs[0], what)
            continue
        mine, theirs = the_op(model, op_type), the_op(back, op_type)
        assert theirs.ir_layer() == mine.ir_layer(), what
        if op_type in WRITTEN_OUT:
            continue
        keep = {k: v for k, v in vars(mine.attr).items() if k != "instance"}  # a live object's id, not IR
        assert {k: v for k, v in vars(theirs.attr).items() if k != "instance"} == keep, what
        assert [r.type for r in theirs.outputs] == [r.type for r in mine.outputs], what


@pytest.mark.parametrize("op_type", ALL)
def test_reference_and_cpu_agree(op_type):
    for what, sample in samples(op_type):
        model, feeds = one_op_model(op_type, sample)
        want = ov.compile_model(model, "REFERENCE")(feeds).to_tuple()
        if op_type in NO_CPU:
            with pytest.raises(CompileError, match=f"no CPU lowering for: {op_type} "):
                ov.compile_model(model, "CPU", F32)(feeds)
            continue
        got = ov.compile_model(model, "CPU", F32)(feeds).to_tuple()
        assert len(got) == len(want), what
        for k, (g, w) in enumerate(zip(got, want)):
            assert_same(np.asarray(g), np.asarray(w), f"{what}, output {k}")


@pytest.mark.parametrize("op_type", ["MVN", "NormalizeL2"])
def test_decompose_removes_normalizations_over_non_adjacent_axes(op_type):
    """The samples marked "decomposed" check the decomposition, not the op's own lowering."""
    from passes.pipeline import run_pipeline

    for what, sample in samples(op_type):
        if "decomposed" not in sample.note:
            continue
        model, _ = one_op_model(op_type, sample)
        run_pipeline(model.module, "decompose")
        assert not [op for op in model.function.body.block.walk()
                    if isinstance(op, OvOp) and op.IR_TYPE == op_type], what
        assert shape_of(model.function.body.block.last_op.operands[0].type) == sample.inputs[0].value.shape


def test_docs_ops_md_is_current():
    assert DOC.read_text() == markdown(), "docs/ops.md is stale: run `python -m dialects.ov.table`"


# Disagreements with OpenVINO that the table's samples found


@pytest.mark.parametrize("auto_pad, rows", [("same_upper", slice(1, None)), ("same_lower", slice(None, -1))])
@pytest.mark.parametrize("device", ["REFERENCE", "CPU"])
def test_transposed_convolution_crops_the_odd_padding_where_openvino_does(auto_pad, rows, device):
    """Given an output shape one row short of the full output, same_upper crops the first row
    and same_lower the last (OpenVINO's infer_conv_backprop_auto_padding; we had them swapped)."""
    x, w = np.ones((1, 1, 3, 3), np.float32), np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
    attrs = dict(strides=(2, 2), pads_begin=(0, 0), pads_end=(0, 0), dilations=(1, 1))
    full, _ = one_op_model("ConvolutionBackpropData", Sample([P(x), w], attrs))
    cut, _ = one_op_model("ConvolutionBackpropData",
                          Sample([P(x), w, np.array([6, 7])], {**attrs, "auto_pad": auto_pad}))
    (want,) = ov.compile_model(full, "REFERENCE")([x]).to_tuple()
    (got,) = ov.compile_model(cut, device, F32)([x]).to_tuple()
    np.testing.assert_array_equal(got, want[:, :, rows, :])
