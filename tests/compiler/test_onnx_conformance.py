"""ONNX's own node conformance cases (onnx.backend.test.case.node) run through the converter
and the reference interpreter. Every case whose ops are all supported must pass, except the
ones listed with the reason below; the count of passing cases is checked so that the suite
cannot silently shrink."""

import warnings

import numpy as np
import pytest
from onnx import numpy_helper

import compiler as ov
from compiler.frontends.onnx.context import CONVERTERS
from dialects.errors import InternalError, OvccError
from tests.models import F32

# Cases that cannot pass by design, with the reason.
EXPECTED_FAILURES = {
    "test_training_dropout": "random training-mode dropout",
    "test_training_dropout_default": "random training-mode dropout",
    "test_training_dropout_default_mask": "random training-mode dropout",
    "test_training_dropout_mask": "random training-mode dropout",
    "test_not_2d": "opset 1 model", "test_not_3d": "opset 1 model", "test_not_4d": "opset 1 model",
    "test_identity_opt": "optional type input", "test_identity_sequence": "sequence type input",
    # ONNX's reference divides by the unrounded in*scale - 1; ONNX Runtime and OpenVINO by out - 1
    "test_resize_downsample_scales_linear_align_corners": "align_corners with a fractional in*scale",
    "test_resize_downsample_scales_cubic_align_corners": "align_corners with a fractional in*scale",
}
MIN_PASSING = 1458


def _cases():
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [c for c in collect_testcases()
                if all(("", n.op_type) in CONVERTERS for n in c.model.graph.node)]


def _array(x):
    return numpy_helper.to_array(x) if hasattr(x, "SerializeToString") else np.asarray(x)


def run_case(case) -> None:
    m = case.model
    inits = {t.name for t in m.graph.initializer}
    names = [i.name for i in m.graph.input if i.name not in inits]
    for inputs, outputs in case.data_sets:
        inputs = [_array(x) for x in inputs]
        try:
            out = ov.compile_model(ov.convert_model(m), "REFERENCE")(inputs)
        except OvccError:
            # shape-defining inputs (axes, sizes, ...) fed at run time: freeze them, as a
            # static-shape compiler needs them
            frozen = {n: x for k, (n, x) in enumerate(zip(names, inputs)) if k > 0 and x.size <= 64}
            model = ov.convert_model(m, input=frozen)
            out = ov.compile_model(model, "REFERENCE")([x for n, x in zip(names, inputs) if n not in frozen])
        for i, want in enumerate(outputs):
            want = _array(want)
            got = out[i]
            assert got.shape == want.shape, f"output {i}: shape {got.shape} != {want.shape}"
            if want.dtype.kind == "f":
                np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=1e-3, atol=1e-5,
                                           equal_nan=True)
            else:
                np.testing.assert_array_equal(got, want)


def test_node_conformance():
    passed, failed = 0, {}
    for case in _cases():
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run_case(case)
            passed += 1
        except InternalError as e:  # a compiler bug is never a refusal
            failed[case.name] = "internal error: " + (str(e).splitlines() or ["?"])[0][:400]
        except (OvccError, AssertionError) as e:
            failed[case.name] = (str(e).splitlines() or [type(e).__name__])[0][:400]
    unexpected = {k: v for k, v in failed.items() if k not in EXPECTED_FAILURES and
                  (v.startswith("internal error") or not _unsupported_feature(v))}
    assert not unexpected, f"{len(unexpected)} conformance cases fail: {unexpected}"
    assert passed >= MIN_PASSING, f"only {passed} conformance cases pass"


def _unsupported_feature(msg: str) -> bool:
    """Failures that are clear 'not supported' conversion errors, not wrong numbers."""
    return any(s in msg for s in ("is not supported", "unsupported ONNX element type", "unsupported element type",
                                  "must be constant", "needs static", "older than",
                                  "unsupported ONNX operations",  # inside a subgraph (sequence ops)
                                  "known at conversion time"))  # a loop whose trip count is an input


@pytest.mark.parametrize("name", ["test_conv_with_strides_padding", "test_maxpool_2d_ceil",
                                  "test_resize_upsample_scales_linear", "test_layer_normalization_4d_axis1",
                                  "test_gather_negative_indices"])
def test_selected_cases(name):
    case = next(c for c in _cases() if c.name == name)
    run_case(case)


MIN_PASSING_CPU = 1390


def run_case_cpu(case) -> None:
    """The case in native code, against the reference interpreter (shape-defining inputs
    frozen when native code needs them constant)."""
    m = case.model
    inits = {t.name for t in m.graph.initializer}
    names = [i.name for i in m.graph.input if i.name not in inits]
    for inputs, _ in case.data_sets:
        inputs = [_array(x) for x in inputs]
        try:
            model, ins = ov.convert_model(m), inputs
            want = ov.compile_model(model, "REFERENCE")(ins)
            got = ov.compile_model(model, "CPU", F32)(ins)
        except OvccError:
            frozen = {n: x for k, (n, x) in enumerate(zip(names, inputs)) if k > 0 and x.size <= 64}
            model = ov.convert_model(m, input=frozen)
            ins = [x for n, x in zip(names, inputs) if n not in frozen]
            want = ov.compile_model(model, "REFERENCE")(ins)
            got = ov.compile_model(model, "CPU", F32)(ins)
        for i in range(len(want)):
            w, g = want[i], got[i]
            assert g.shape == w.shape and g.dtype == w.dtype, f"output {i}: {g.shape} {g.dtype} != {w.shape} {w.dtype}"
            if w.dtype.kind == "f":
                tol = 2e-3 if w.dtype.itemsize == 2 else 1e-4
                np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), rtol=tol, atol=1e-5 + tol * 0.1,
                                           equal_nan=True)
            else:
                np.testing.assert_array_equal(g, w)


def test_node_conformance_native():
    """Native code computes what the interpreter computes, or refuses with a clear error."""
    passed, wrong = 0, {}
    for case in _cases():
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run_case_cpu(case)
            passed += 1
        except InternalError as e:  # a compiler bug is never a refusal
            wrong[case.name] = "internal error: " + (str(e).splitlines() or ["?"])[0][:300]
        except OvccError:
            pass  # not supported natively (data-dependent shapes, ...): a clear error is the contract
        except AssertionError as e:
            wrong[case.name] = (str(e).splitlines() or ["?"])[0][:300]
    assert not wrong, f"native code disagrees with the interpreter: {wrong}"
    assert passed >= MIN_PASSING_CPU, f"only {passed} conformance cases run natively"
