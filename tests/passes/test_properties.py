"""Property-based tests that guard every pass: on random valid graphs, a pass leaves a module
that verifies and computes what the original computed; the passes that should be idempotent
are; fusion never hides a value that something outside the group uses; and native code
computes what the interpreter computes."""

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import find as hypothesis_find

import compiler as ov
from compiler.frontends.builder import GraphBuilder
from compiler.model import Model
from dialects.ov import Fused
from passes import PASSES, PIPELINES
from passes.pipeline import run_pipeline
from runtime.interpreter import run_function
from tests.models import F32
from tests.strategies import graphs

SETTINGS = settings(max_examples=30, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
IDEMPOTENT = ["dce", "cse", "fold-constants", "simplify", "fuse", "fold-batchnorm", "recognize", "decompose"]


def outputs(model, inputs):
    return run_function(model.function, inputs)


def assert_same(a, b, rtol=1e-5, atol=1e-6):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.shape == y.shape and x.dtype == y.dtype
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


def fusion_is_sound(model) -> bool:
    """Inside every Fused group, each op's result feeds exactly one op of the group, except the
    result the group yields."""
    for op in model.function.walk():
        if isinstance(op, Fused):
            yielded = set(op.block.last_op.operands)
            for inner in op.block.ops:
                for r in inner.results:
                    if r not in yielded and len(list(r.uses)) != 1:
                        return False
    return True


def _graph(build, *input_specs):
    """A hand-reduced regression case in the generator's form: (Model, inputs)."""
    rng = np.random.default_rng(7)
    b = GraphBuilder()
    args, arrays = [], []
    for i, (shape, dtype) in enumerate(input_specs):
        args.append(b.add_input([f"in{i}"], shape, dtype))
        arrays.append(rng.random(shape) < 0.4 if dtype == np.bool_ else rng.standard_normal(shape).astype(dtype))
    outs = build(b, rng, *args)
    return Model(b.finish([(v, [f"out{i}"]) for i, v in enumerate(outs)])), arrays


def _i64(b, v):
    return b.const(np.array(v, np.int64))


# Failures found while building the project, reduced and kept: they run before the generated
# examples on every test they concern.
REGRESSIONS = [
    # a bool operand loaded as a vector inside a MatMul's fused epilogue (bytes vs i1)
    _graph(lambda b, rng, x, m: [b.out("Select", [m, b.const(np.float32(-1e9)), b.out(
        "MatMul", [x, b.const(rng.standard_normal((16, 45)).astype(np.float32))])])],
        ([2, 3, 16], np.float32), ([2, 1, 45], np.bool_)),
    # an integer result of a vectorized epilogue (quantized outputs)
    _graph(lambda b, rng, x: [b.out("Convert", [b.out("MatMul", [x, b.const(rng.standard_normal((16, 45)).astype(
        np.float32))])], destination_type=np.dtype(np.int8))], ([3, 16], np.float32)),
    # Transposes sunk through Pad and a keep_dims=False reduction (NHWC models)
    _graph(lambda b, rng, x: [b.out("ReduceMean", [b.out("ReLU", [b.out("Pad", [
        b.out("Transpose", [x, _i64(b, [0, 3, 1, 2])]), _i64(b, [0, 0, 1, 2]), _i64(b, [0, 0, 0, 1]),
        b.const(np.float32(0.5))], pad_mode="constant")]), _i64(b, [2, 3])], keep_dims=False)],
        ([2, 5, 6, 3], np.float32)),
]


def regressions(test):
    for case in REGRESSIONS:
        test = example(case=case)(test)
    return test


@pytest.mark.parametrize("name", sorted(PASSES))
@SETTINGS
@given(case=graphs())
@regressions
def test_pass_preserves_meaning(name, case):
    model, inputs = case
    want = outputs(model, inputs)
    m = model.clone()
    run_pipeline(m.module, name)
    m.module.verify()
    assert_same(outputs(m, inputs), want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", IDEMPOTENT)
@SETTINGS
@given(case=graphs())
def test_pass_is_idempotent(name, case):
    model, _ = case
    once = model.clone()
    run_pipeline(once.module, name)
    twice = once.clone()
    run_pipeline(twice.module, name)
    assert str(twice) == str(once)


@pytest.mark.parametrize("level", ["O0", "O1", "O2"])
@SETTINGS
@given(case=graphs())
@regressions
def test_pipelines_preserve_meaning_and_fuse_soundly(level, case):
    model, inputs = case
    want = outputs(model, inputs)
    m = model.clone()
    run_pipeline(m.module, PIPELINES[level])
    m.module.verify()
    assert fusion_is_sound(m)
    assert_same(outputs(m, inputs), want, rtol=1e-4, atol=1e-5)


@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(case=graphs(max_ops=6))
@regressions
def test_native_code_matches_interpreter(case):
    model, inputs = case
    want = outputs(model, inputs)
    got = ov.compile_model(model, "CPU", F32)(inputs)
    assert_same([got[i] for i in range(len(want))], want, rtol=1e-4, atol=1e-5)


def _broken_fuse(model):
    """A fusion that forgets to check that a value has no other users."""
    import passes.fuse as fuse

    original = fuse._single_user
    fuse._single_user = lambda v: next(iter(v.uses)).operation if list(v.uses) else None
    try:
        run_pipeline(model.module, "fuse")
    finally:
        fuse._single_user = original


def test_property_catches_a_broken_fusion():
    """The soundness and equivalence properties find a graph that a careless fusion breaks."""

    def broken(case):
        model, inputs = case
        m = model.clone()
        try:
            _broken_fuse(m)
            m.module.verify()
            return not fusion_is_sound(m) or not all(
                np.allclose(a, b) for a, b in zip(outputs(m, inputs), outputs(model, inputs)))
        except Exception:  # noqa: BLE001 - invalid IR is also a caught break
            return True

    counterexample = hypothesis_find(graphs(max_ops=5), broken,
                                     settings=settings(max_examples=1000, deadline=None, database=None,
                                                       derandomize=True,  # a fixed search, not luck
                                                       suppress_health_check=list(HealthCheck)))
    model, _ = counterexample
    assert broken(counterexample)
    good = model.clone()
    run_pipeline(good.module, "fuse")
    assert fusion_is_sound(good)
