"""The CPU device across input shapes and configurations: `--emit loops` shows what compiles,
specializations share one copy of the weights, their number is bounded, compiling a new shape
does not stall inferences of shapes already compiled, and bad properties are clear errors."""

import threading

import numpy as np
import pytest
from onnx import helper

import compiler as ov
import runtime.native as native
from runtime.config import ConfigError
from tests.models import make_model

F32 = {"INFERENCE_PRECISION_HINT": "f32", "CACHE_DIR": ""}


def _dynamic_mlp(k=256, dtype=np.float32):
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((k, k)) / np.sqrt(k)).astype(dtype)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"])]
    return ov.convert_model(make_model(nodes, [("x", dtype, ["n", k])], [("y", dtype, ["n", k])], {"w": w})), w


def test_emit_loops_is_the_loop_ir_that_compiles_for_a_float16_model(monkeypatch):
    model, _ = _dynamic_mlp(64, np.float16)
    model.reshape([[3, 64]])
    compiled_text = []
    import runtime.jit as jit

    key = jit.cache_key
    monkeypatch.setattr(jit, "cache_key", lambda text, target: compiled_text.append(text) or key(text, target))
    ov.compile_model(model.clone(), "CPU", F32)
    assert native.emit_level(model.clone(), "loops") == compiled_text[0]


def test_specializations_share_one_copy_of_the_weights():
    model, w = _dynamic_mlp()
    compiled = ov.compile_model(model, "CPU", F32)
    for n in (1, 2, 5):
        x = np.ones((n, w.shape[0]), np.float32)
        np.testing.assert_allclose(compiled([x])[0], np.maximum(x @ w, 0), rtol=1e-4, atol=1e-5)
    big = [{id(s.array) for s in exe.program.slots if s.kind == "const" and s.array.nbytes >= w.nbytes}
           for exe in compiled._specialized.values()]
    assert len(big) == 3 and all(b and b == big[0] for b in big)


def test_the_specialization_cache_is_bounded():
    model, w = _dynamic_mlp(16)
    compiled = ov.compile_model(model, "CPU", F32)
    for n in range(1, native.MAX_SPECIALIZATIONS + 4):
        compiled([np.ones((n, 16), np.float32)])
    assert len(compiled._specialized) == native.MAX_SPECIALIZATIONS
    assert (1,) not in {k[0][:1] for k in compiled._specialized}  # the least recently used went first
    assert compiled([np.ones((2, 16), np.float32)])[0].shape == (2, 16)


def test_compiling_a_new_shape_does_not_stall_compiled_shapes(monkeypatch):
    model, w = _dynamic_mlp(16)
    compiled = ov.compile_model(model, "CPU", F32)
    compiled([np.ones((1, 16), np.float32)])
    release, started = threading.Event(), threading.Event()
    real = native.compile_program

    def slow(m, *a, **k):
        started.set()
        release.wait(30)
        return real(m, *a, **k)
    monkeypatch.setattr(native, "compile_program", slow)
    other = threading.Thread(target=lambda: compiled([np.ones((7, 16), np.float32)]))
    other.start()
    assert started.wait(10)
    done = threading.Event()
    t = threading.Thread(target=lambda: (compiled([np.ones((1, 16), np.float32)]), done.set()))
    t.start()
    assert done.wait(10), "an inference of a compiled shape waited for another shape's compilation"
    release.set()
    other.join(30)
    t.join(30)
    assert (((7, 16),)) in compiled._specialized


@pytest.mark.parametrize("config, words", [
    ({"INFERENCE_NUM_THREADS": "abc"}, "INFERENCE_NUM_THREADS"),
    ({"OPTIMIZATION_LEVEL": "O3"}, "OPTIMIZATION_LEVEL"),
    ({"INFERENCE_PRECISION_HINT": "int4"}, "INFERENCE_PRECISION_HINT"),
    ({"EXECUTION_MODE_HINT": "FAST"}, "EXECUTION_MODE_HINT"),
    ({"PERF_COUNT": "maybe"}, "PERF_COUNT"),
    ({"NUM_THREADS": 2}, "unsupported property NUM_THREADS"),
])
def test_bad_properties_are_clear_errors(config, words):
    model, _ = _dynamic_mlp(16)
    with pytest.raises(ConfigError, match=words) as e:
        ov.compile_model(model, "CPU", config)
    assert "\n" not in str(e.value)


def _shape_from_inputs():
    """Output shapes that input values decide: Reshape's target, Range's bounds,
    ConstantOfShape's shape, Tile's repeats (a CompileError before: "output shape is not
    static (it depends on input values)")."""
    from onnx import TensorProto

    nodes = [helper.make_node("Reshape", ["x", "s"], ["y"]), helper.make_node("Range", ["a", "b", "d"], ["r"]),
             helper.make_node("ConstantOfShape", ["s"], ["z"],
                              value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.5])),
             helper.make_node("Tile", ["x", "rep"], ["t"])]
    return make_model(nodes, [("x", np.float32, [2, 6]), ("s", np.int64, [2]), ("a", np.float32, []),
                              ("b", np.float32, []), ("d", np.float32, []), ("rep", np.int64, [2])],
                      [("y", np.float32, None), ("r", np.float32, None), ("z", np.float32, None),
                       ("t", np.float32, None)])


def _feeds(s, a, b, d, rep):
    x = np.arange(12, dtype=np.float32).reshape(2, 6)
    return {"x": x, "s": np.array(s, np.int64), "a": np.array(a, np.float32), "b": np.array(b, np.float32),
            "d": np.array(d, np.float32), "rep": np.array(rep, np.int64)}


@pytest.mark.parametrize("device", ["CPU", "REFERENCE"])
def test_inputs_that_decide_shapes_are_specialized_on_their_values(device):
    from tests.models import ort_run

    m = _shape_from_inputs()
    compiled = ov.compile_model(ov.convert_model(m), device, F32 if device == "CPU" else None)
    calls = [([3, 4], 0, 5, 1, [1, 2]), ([4, 3], 1, 2, 0.25, [2, 1]), ([3, 4], 0, 5, 1, [1, 2]),
             ([12, 1], -3, 3, 2, [3, 3])]
    for args in calls:
        feeds = _feeds(*args)
        for got, want in zip(compiled(feeds).values(), ort_run(m, feeds)):
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=1e-6)
    if device == "CPU":
        assert len(compiled._specialized) == 3  # the repeated value was a cache hit
        assert compiled.stats.specialized_on == ("s", "a", "b", "d", "rep")


def test_value_specializations_are_bounded(monkeypatch):
    monkeypatch.setattr(native, "MAX_SPECIALIZATIONS", 3)
    compiled = ov.compile_model(ov.convert_model(_shape_from_inputs()), "CPU", F32)
    for k, shape in enumerate(([3, 4], [4, 3], [2, 6], [6, 2], [12, 1]), 1):
        out = compiled(_feeds(shape, 0, k, 1, [1, 1]))
        assert out[0].shape == tuple(shape) and out[1].shape == (k,)
    assert len(compiled._specialized) == 3


def test_a_shape_deciding_input_too_large_to_specialize_on_is_a_clear_error():
    from dialects.errors import CompileError, InternalError

    nodes = [helper.make_node("ConstantOfShape", ["s"], ["z"]), helper.make_node("ReduceSum", ["z"], ["y"])]
    m = make_model(nodes, [("s", np.int64, [100])], [("y", np.float32, None)])
    compiled = ov.compile_model(ov.convert_model(m), "CPU", F32)
    with pytest.raises(CompileError) as e:
        compiled([np.ones(100, np.int64)])
    assert not isinstance(e.value, InternalError)


def test_models_whose_shapes_follow_from_shapes_alone_are_not_specialized_on_values():
    """Shape subgraphs (Shape -> Gather -> Concat -> Reshape) read only input shapes."""
    from runtime.values import value_inputs

    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Reshape", ["y", "s"], ["z"]),
             helper.make_node("Add", ["z", "x"], ["w"])]
    m = make_model(nodes, [("x", np.float32, ["n", 4]), ("y", np.float32, ["m"])], [("w", np.float32, None)])
    assert value_inputs(ov.convert_model(m)) == []
    model, _ = _dynamic_mlp(16)
    assert value_inputs(model) == []
