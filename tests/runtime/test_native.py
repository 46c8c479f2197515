"""The CPU device: native code against the reference interpreter, its runtime guarantees
(input checks, threads, dynamic shapes, the object cache) and the vector code it emits."""

import threading

import numpy as np
import pytest
from onnx import helper

import compiler as ov
from codegen.target import host
from runtime.native import emit_level
from tests.models import F32, LIGHT_MODELS, light_input, light_model, make_model, ort_run

RTOL, ATOL = 1e-4, 1e-5


def _both(model, inputs):
    want = ov.compile_model(model, "REFERENCE")(inputs)
    got = ov.compile_model(model, "CPU", F32)(inputs)
    for i in range(len(want)):
        np.testing.assert_allclose(got[i], want[i], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", LIGHT_MODELS)
def test_light_models_native_match_interpreter(name):
    m = light_model(name)
    _both(ov.convert_model(m), [light_input(m)])


def _eltwise_model():
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]), helper.make_node("Sigmoid", ["r"], ["s"]),
             helper.make_node("Mul", ["s", "c"], ["y"])]
    return make_model(nodes, [("x", np.float32, [1, 16, 12, 12])], [("y", np.float32, None)],
                      {"w": rng.standard_normal((32, 16, 3, 3)).astype(np.float32),
                       "b": rng.standard_normal(32).astype(np.float32)})


def test_kernels_use_the_widest_vector_registers():
    rng = np.random.default_rng(0)
    mm = make_model([helper.make_node("MatMul", ["x", "w"], ["y"])], [("x", np.float32, [64, 64])],
                    [("y", np.float32, None)], {"w": rng.standard_normal((64, 64)).astype(np.float32)})
    reg = {512: "%zmm", 256: "%ymm", 128: "%xmm"}[host().vector_bits]
    for m in (_eltwise_model(), mm):
        asm = emit_level(ov.convert_model(m), "asm")
        fma_lines = [ln for ln in asm.splitlines() if "vfmadd" in ln]
        assert fma_lines and all(reg in ln for ln in fma_lines[:8]), fma_lines[:3]
    relu = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", np.float32, [4096])], [("y", np.float32, None)])
    asm = emit_level(ov.convert_model(relu), "asm")
    assert any("vmaxps" in ln and reg in ln for ln in asm.splitlines())


@pytest.mark.parametrize("cols", [32, 45])  # whole vectors, and a masked tail
def test_boolean_operands_in_a_vectorized_epilogue(cols):
    """A bool mask (bytes in memory, i1 in registers) selected into a MatMul's output tile."""
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["s"]), helper.make_node("Where", ["m", "ninf", "s"], ["y"])]
    model = make_model(nodes, [("x", np.float32, [2, 3, 16]), ("m", np.bool_, [2, 1, cols])],
                       [("y", np.float32, None)], {"w": rng.standard_normal((16, cols)).astype(np.float32),
                                                   "ninf": np.array(-1e9, np.float32)})
    x = rng.standard_normal((2, 3, 16)).astype(np.float32)
    m = rng.random((2, 1, cols)) < 0.4
    _both(ov.convert_model(model), [x, m])
    np.testing.assert_allclose(ov.compile_model(ov.convert_model(model), "CPU", F32)([x, m])[0],
                               ort_run(model, {"x": x, "m": m})[0], rtol=RTOL, atol=ATOL)


def test_wrong_inputs_are_rejected_before_native_code_runs():
    compiled = ov.compile_model(ov.convert_model(_eltwise_model()), "CPU", F32)
    x = np.zeros((1, 16, 12, 12), np.float32)
    with pytest.raises(ov.InputError, match="shape"):
        compiled([np.zeros((1, 16, 12, 13), np.float32)])
    with pytest.raises(ov.InputError, match="element type"):
        compiled([x.astype(np.float64)])
    with pytest.raises(ov.InputError, match="takes 1 input"):
        compiled([x, x])
    compiled([np.asfortranarray(x)])  # non-contiguous input is copied, not read out of bounds


def test_four_threads_share_one_compiled_model():
    m = light_model("squeezenet")
    model = ov.convert_model(m)
    compiled = ov.compile_model(model, "CPU", F32)
    inputs = [light_input(m, seed=s) for s in range(4)]
    want = [ov.compile_model(model, "REFERENCE")([x])[0] for x in inputs]
    errors = []

    def worker(i):
        try:
            for _ in range(5):
                np.testing.assert_allclose(compiled([inputs[i]])[0], want[i], rtol=RTOL, atol=ATOL)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def test_dynamic_shapes_are_specialized_per_shape():
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"])]
    m = make_model(nodes, [("x", np.float32, ["n", 8])], [("y", np.float32, ["n", 4])],
                   {"w": rng.standard_normal((8, 4)).astype(np.float32)})
    compiled = ov.compile_model(ov.convert_model(m), "CPU", F32)
    for n in (1, 5, 3, 5):
        x = rng.standard_normal((n, 8)).astype(np.float32)
        np.testing.assert_allclose(compiled([x])[0], ort_run(m, {"x": x})[0], rtol=RTOL, atol=ATOL)
    assert len(compiled._specialized) == 3


def test_object_cache_hit_and_invalidation(tmp_path):
    m = _eltwise_model()
    first = ov.compile_model(ov.convert_model(m), "CPU", {**F32, "CACHE_DIR": str(tmp_path)})
    assert not first.stats.from_cache and list(tmp_path.glob("*.o"))
    second = ov.compile_model(ov.convert_model(m), "CPU", {**F32, "CACHE_DIR": str(tmp_path)})
    assert second.stats.from_cache
    x = np.random.default_rng(1).standard_normal((1, 16, 12, 12)).astype(np.float32)
    np.testing.assert_allclose(second([x])[0], first([x])[0], rtol=0, atol=0)
    # another model (a different activation) must not hit the first one's entry
    m.graph.node[2].op_type = "Tanh"
    third = ov.compile_model(ov.convert_model(m), "CPU", {**F32, "CACHE_DIR": str(tmp_path)})
    assert not third.stats.from_cache
    np.testing.assert_allclose(third([x])[0], ort_run(m, {"x": x})[0], rtol=RTOL, atol=ATOL)
    # a corrupt cache entry is not loaded blindly: the key changes with the code, and a
    # truncated object is recompiled
    for f in tmp_path.glob("*.o"):
        f.write_bytes(f.read_bytes()[:100])
    fourth = ov.compile_model(ov.convert_model(m), "CPU", {**F32, "CACHE_DIR": str(tmp_path)})
    np.testing.assert_allclose(fourth([x])[0], third([x])[0], rtol=0, atol=0)


def test_weights_changes_do_not_need_new_code(tmp_path):
    """Kernels take weights from the slot table: the same graph with other weights reuses the
    cached object code and computes with the new weights."""
    m = _eltwise_model()
    x = np.random.default_rng(1).standard_normal((1, 16, 12, 12)).astype(np.float32)
    ov.compile_model(ov.convert_model(m), "CPU", {**F32, "CACHE_DIR": str(tmp_path)})
    w = m.graph.initializer[0]
    from onnx import numpy_helper
    w.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(w) * 2, w.name))
    again = ov.compile_model(ov.convert_model(m), "CPU", {**F32, "CACHE_DIR": str(tmp_path)})
    assert again.stats.from_cache
    np.testing.assert_allclose(again([x])[0], ort_run(m, {"x": x})[0], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("out_type", [np.int8, np.bool_])
def test_non_float_outputs_of_a_vectorized_epilogue(out_type):
    """A MatMul whose fused epilogue ends in an integer or boolean tensor (a quantized output)."""
    rng = np.random.default_rng(0)
    tail = [helper.make_node("Cast", ["s"], ["y"], to=helper.np_dtype_to_tensor_dtype(np.dtype(out_type)))]
    if out_type == np.bool_:
        tail = [helper.make_node("Greater", ["s", "zero"], ["y"])]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["s"])] + tail
    model = make_model(nodes, [("x", np.float32, [3, 16])], [("y", out_type, None)],
                       {"w": rng.standard_normal((16, 45)).astype(np.float32), "zero": np.array(0.0, np.float32)})
    x = rng.standard_normal((3, 16)).astype(np.float32)
    _both(ov.convert_model(model), [x])
    np.testing.assert_array_equal(ov.compile_model(ov.convert_model(model), "CPU", F32)([x])[0],
                                  ort_run(model, {"x": x})[0])


@pytest.mark.parametrize("a_shape,b_shape,tb,const_b", [
    ((2, 37, 2048), (2048, 200), False, False),   # B panels taken in several groups, ragged N
    ((3, 1, 9, 300), (2, 300, 70), False, False),  # broadcast batch dims, runtime B
    ((40, 2048), (200, 2048), True, False),        # transposed runtime B
    ((17, 2048), (2048, 300), False, True),        # constant B packed at compile time, in groups
])
def test_matmul_blocking_matches_onnxruntime(a_shape, b_shape, tb, const_b):
    rng = np.random.default_rng(0)
    b = rng.standard_normal(b_shape).astype(np.float32)
    a = rng.standard_normal(a_shape).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["a", "b"], ["y"])]
    if tb:
        nodes = [helper.make_node("Transpose", ["b"], ["bt"], perm=[1, 0]),
                 helper.make_node("MatMul", ["a", "bt"], ["y"])]
    inputs = [("a", np.float32, list(a_shape))] + ([] if const_b else [("b", np.float32, list(b_shape))])
    model = make_model(nodes, inputs, [("y", np.float32, None)], {"b": b} if const_b else {})
    feeds = {"a": a} if const_b else {"a": a, "b": b}
    got = ov.compile_model(ov.convert_model(model), "CPU", F32)(list(feeds.values()))[0]
    np.testing.assert_allclose(got, ort_run(model, feeds)[0], rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("e_shape", [(50,), (16, 3, 50), (16, 1, 50), (3, 1), (1, 3, 50)])
@pytest.mark.parametrize("precision", ["f32", "bf16"])
def test_batched_rows_times_shared_weights_with_an_epilogue(e_shape, precision):
    """[16, 3, K] x [K, N] + e: one GEMM of 48 rows where e broadcasts over both leading dims or
    over neither; else (e [16, 1, N] or [3, 1]) 16 products of 3 rows. Both against ONNX Runtime."""
    rng = np.random.default_rng(5)
    nodes = [helper.make_node("MatMul", ["a", "w"], ["m"]), helper.make_node("Add", ["m", "e"], ["s"]),
             helper.make_node("Relu", ["s"], ["y"])]
    model = make_model(nodes, [("a", np.float32, [16, 3, 70]), ("e", np.float32, list(e_shape))],
                       [("y", np.float32, None)], {"w": rng.standard_normal((70, 50)).astype(np.float32)})
    a = rng.standard_normal((16, 3, 70)).astype(np.float32)
    e = rng.standard_normal(e_shape).astype(np.float32)
    c = ov.compile_model(ov.convert_model(model), "CPU", {"INFERENCE_PRECISION_HINT": precision})
    want = ort_run(model, {"a": a, "e": e})[0]
    # bf16 (where the CPU runs it): operands rounded to 8 bits of mantissa, sums of 70 in f32
    tol = 1e-4 if c.get_property("INFERENCE_PRECISION_HINT") == "f32" else 3e-2
    np.testing.assert_allclose(c([a, e])[0], want, rtol=tol, atol=tol * np.abs(want).max())


@pytest.mark.parametrize("cin,cout,hw,k,stride,dil,batch", [
    (16, 64, 56, 3, 1, 1, 1),   # output rows wider than a vector
    (8, 13, 7, 3, 1, 1, 2),     # rows narrower than a vector: one vector spans several rows
    (5, 24, 15, 3, 2, 1, 1),    # stride 2 (phase-split input)
    (6, 9, 11, 3, 1, 2, 2),     # dilation, partial filter rows
    (7, 10, 70, 1, 2, 1, 1),    # 1x1 of stride 2: one phase image of four is read (and written)
    (5, 12, 37, 3, 2, 2, 1),    # stride 2, dilation 2: one phase image again, rows of 3 vectors
    (4, 6, 20, 3, 3, 1, 2),     # stride 3: the column-by-column copy
])
def test_padded_convolutions_with_bias_and_activation(cin, cout, hw, k, stride, dil, batch):
    """Non-pointwise convolutions store their padded-grid tiles as masked runs per output row."""
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[k, k], pads=[dil] * 4,
                              strides=[stride] * 2, dilations=[dil] * 2), helper.make_node("Relu", ["c"], ["y"])]
    model = make_model(nodes, [("x", np.float32, [batch, cin, hw, hw])], [("y", np.float32, None)],
                       {"w": rng.standard_normal((cout, cin, k, k)).astype(np.float32),
                        "b": rng.standard_normal(cout).astype(np.float32)})
    x = rng.standard_normal((batch, cin, hw, hw)).astype(np.float32)
    got = ov.compile_model(ov.convert_model(model), "CPU", F32)([x])[0]
    np.testing.assert_allclose(got, ort_run(model, {"x": x})[0], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint32, np.uint64])
@pytest.mark.parametrize("direction", ["LEFT", "RIGHT"])
def test_bit_shifts_including_counts_beyond_the_width(dtype, direction):
    """Python integers are the oracle: a shift by the bit width or more shifts everything out
    (LLVM's shl/lshr leave that undefined, so native code must guard it)."""
    rng = np.random.default_rng(1)
    bits = np.dtype(dtype).itemsize * 8
    x = rng.integers(0, np.iinfo(dtype).max, 64, dtype=dtype, endpoint=True)
    s = rng.integers(0, bits + 8, 64).astype(dtype)
    m = make_model([helper.make_node("BitShift", ["x", "s"], ["y"], direction=direction)],
                   [("x", dtype, [64]), ("s", dtype, [64])], [("y", dtype, [64])], opset=11)
    mask = (1 << bits) - 1
    want = np.array([((int(a) << int(b)) & mask if direction == "LEFT" else int(a) >> int(b)) if b < bits else 0
                     for a, b in zip(x, s)], dtype=dtype)
    model = ov.convert_model(m)
    for device in ("REFERENCE", "CPU"):
        np.testing.assert_array_equal(ov.compile_model(model, device, F32)([x, s])[0], want)


@pytest.mark.parametrize("k, s, p, hw", [(1, 2, 0, 14), (3, 2, 1, 13), (3, 1, 1, 7), (1, 1, 1, 5), (3, 1, 1, 20)])
def test_a_residual_read_by_a_padded_or_strided_convolutions_epilogue(k, s, p, hw):
    """Conv (through the padded phase grid, whose columns are not the output's) + residual Add +
    Relu as one kernel: the residual is read in the runs of lanes that are output rows."""
    rng = np.random.default_rng(0)
    ho = (hw + 2 * p - k) // s + 1
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[k, k], strides=[s, s], pads=[p] * 4),
             helper.make_node("Add", ["c", "r"], ["a"]), helper.make_node("Relu", ["a"], ["y"])]
    m = make_model(nodes, [("x", np.float32, [1, 24, hw, hw]), ("r", np.float32, [1, 40, ho, ho])],
                   [("y", np.float32, None)], {"w": rng.standard_normal((40, 24, k, k)).astype(np.float32),
                                               "b": rng.standard_normal(40).astype(np.float32)})
    x = rng.standard_normal((1, 24, hw, hw)).astype(np.float32)
    r = rng.standard_normal((1, 40, ho, ho)).astype(np.float32)
    converted = ov.convert_model(m)
    c = ov.compile_model(converted, "CPU", F32)
    assert c.stats.steps == 2, c.stats.steps  # the phase-split copy, and the convolution with its epilogue
    np.testing.assert_allclose(c([x, r])[0], ort_run(m, {"x": x, "r": r})[0], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("c, mult, hw, k, stride, dil, pads", [
    (8, 1, 56, 3, 1, 1, [1, 1, 1, 1]),     # rows of several vectors
    (6, 1, 9, 3, 2, 1, [1, 1, 1, 1]),      # stride 2: every other lane of a 32-wide window
    (5, 1, 17, 3, 1, 1, [0, 1, 2, 0]),     # asymmetric padding, a masked tail
    (5, 2, 17, 3, 1, 1, [0, 1, 2, 0]),     # a channel multiplier
    (4, 1, 23, 5, 2, 2, [4, 3, 4, 3]),     # dilation with stride 2
    (3, 1, 12, 7, 1, 1, [3, 3, 3, 3]),     # 7x7: 49 taps written out
    (3, 1, 15, 3, 3, 1, [1, 1, 1, 1]),     # stride 3: the row-by-row kernel
    (2, 1, 10, 9, 1, 1, [4, 4, 4, 4]),     # 81 taps: the row-by-row kernel
])
def test_depthwise_convolutions_with_their_epilogue(c, mult, hw, k, stride, dil, pads):
    """Depthwise Conv + bias + Clip (ReLU6) + a residual, against ONNX Runtime."""
    rng = np.random.default_rng(0)
    cout = c * mult
    ho = (hw + pads[0] + pads[2] - dil * (k - 1) - 1) // stride + 1
    wo = (hw + pads[1] + pads[3] - dil * (k - 1) - 1) // stride + 1
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[k, k], strides=[stride] * 2,
                              dilations=[dil] * 2, pads=pads, group=c),
             helper.make_node("Clip", ["c", "lo", "hi"], ["r"]), helper.make_node("Add", ["r", "e"], ["y"])]
    m = make_model(nodes, [("x", np.float32, [2, c, hw, hw]), ("e", np.float32, [2, cout, ho, wo])],
                   [("y", np.float32, None)], {"w": rng.standard_normal((cout, 1, k, k)).astype(np.float32),
                                               "b": rng.standard_normal(cout).astype(np.float32),
                                               "lo": np.float32(0), "hi": np.float32(6)})
    x = (rng.standard_normal((2, c, hw, hw)) * 3).astype(np.float32)
    e = rng.standard_normal((2, cout, ho, wo)).astype(np.float32)
    compiled = ov.compile_model(ov.convert_model(m), "CPU", F32)
    # the epilogue runs in the convolution's kernel (a channel multiplier runs as a grouped
    # convolution, behind a padded copy)
    assert compiled.stats.steps == (1 if mult == 1 else 2)
    np.testing.assert_allclose(compiled([x, e])[0], ort_run(m, {"x": x, "e": e})[0], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("op,hw,attrs", [
    ("MaxPool", (112, 112), dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),  # ResNet's
    ("MaxPool", (37, 41), dict(kernel_shape=[3, 3], strides=[1, 1], pads=[1, 0, 1, 2])),
    ("MaxPool", (23, 35), dict(kernel_shape=[2, 3], strides=[2, 2], dilations=[2, 2], pads=[1, 1, 1, 1])),
    ("MaxPool", (20, 33), dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)),
    ("MaxPool", (19, 19), dict(kernel_shape=[7, 7], strides=[1, 1], pads=[3, 3, 3, 3])),  # 49 taps
    ("MaxPool", (19, 40), dict(kernel_shape=[3, 3], strides=[3, 3])),  # stride 3: the scalar row kernel
    ("AveragePool", (37, 37), dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
    ("AveragePool", (29, 18), dict(kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=1)),
    ("AveragePool", (25, 25), dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1, count_include_pad=1,
                                   pads=[1, 1, 1, 1])),
])
def test_pooling_rows_vectorized(op, hw, attrs):
    """Pooling 16 output columns at a time (strides 1 and 2) and row by row (others), against
    ONNX Runtime; the widths leave partial vectors and windows that hang over both edges."""
    x = np.random.default_rng(5).standard_normal((1, 3, *hw)).astype(np.float32)
    m = make_model([helper.make_node(op, ["x"], ["y"], **attrs)], [("x", np.float32, [1, 3, *hw])],
                   [("y", np.float32, None)])
    got = ov.compile_model(ov.convert_model(m), "CPU", F32)([x])[0]
    np.testing.assert_allclose(got, ort_run(m, {"x": x})[0], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_max_pooling_of_special_values_matches_the_interpreter(stride):
    """NaN, infinities and signed zeros through MaxPool, bit for bit the reference interpreter's
    (which tap wins a tie of -0.0 and +0.0, where a NaN is passed over)."""
    rng = np.random.default_rng(6)
    x = rng.choice(np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 1e-45], np.float32), (2, 4, 21, 37))
    m = make_model([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[stride] * 2,
                                     pads=[1, 1, 1, 1])], [("x", np.float32, list(x.shape))], [("y", np.float32, None)])
    got = ov.compile_model(ov.convert_model(m), "CPU", F32)([x])[0]
    want = ov.compile_model(ov.convert_model(m), "REFERENCE")([x])[0]
    assert got.shape == want.shape
    same = (got.view(np.uint32) == want.view(np.uint32)) | (np.isnan(got) & np.isnan(want))
    assert same.all(), f"{(~same).sum()} of {got.size} differ"


@pytest.mark.parametrize("batch", [1, 2])
def test_concat_inputs_written_in_place(batch):
    """Batch 1 along channels: each Concat input is one run of the output, written there by its
    producer (no copy step); a DenseNet-like chain of Concats shares one buffer. Inputs that
    are model inputs or outputs, a value given twice, and batch 2 (not contiguous) are copied.
    Against ONNX Runtime."""
    rng = np.random.default_rng(9)
    w = {f"w{i}": rng.standard_normal((8, c, 1, 1)).astype(np.float32) for i, c in enumerate([4, 12, 20, 8])}
    nodes = [helper.make_node("Conv", ["x", "w0"], ["a"], kernel_shape=[1, 1]),
             helper.make_node("Concat", ["x", "a"], ["c1"], axis=1),           # 4 + 8 = 12
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w1"], ["b"], kernel_shape=[1, 1]),
             helper.make_node("Concat", ["c1", "b"], ["c2"], axis=1),          # 12 + 8 = 20
             helper.make_node("Sigmoid", ["c2"], ["r2"]),
             helper.make_node("Conv", ["r2", "w2"], ["d"], kernel_shape=[1, 1]),
             helper.make_node("Tanh", ["d"], ["e"]),
             helper.make_node("Concat", ["e", "d", "e"], ["c3"], axis=1),       # a value twice
             helper.make_node("Conv", ["e", "w3"], ["f"], kernel_shape=[1, 1]),
             helper.make_node("Concat", ["c3", "f", "c2"], ["y"], axis=1)]
    m = make_model(nodes, [("x", np.float32, [batch, 4, 9, 11])],
                   [("y", np.float32, None), ("d", np.float32, None), ("c2", np.float32, None)], w)
    x = rng.standard_normal((batch, 4, 9, 11)).astype(np.float32)
    compiled = ov.compile_model(ov.convert_model(m), "CPU", F32)
    got = compiled([x]).to_tuple()
    want = ort_run(m, {"x": x})
    for g, e in zip(got, want):
        np.testing.assert_allclose(g, e, rtol=RTOL, atol=ATOL)
    copies = [s.label for s in compiled._last.program.steps].count("Concat")
    # batch 2: a copy per input; batch 1: the model input x and the second e only (y is
    # computed in the output's memory; d and c2, parts of it, are copied out as outputs)
    assert copies == (10 if batch == 2 else 2)
