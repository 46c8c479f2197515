"""Native numerics against outside oracles: special values (NaN, infinities, subnormals, huge
and tiny operands), exact integer arithmetic, and transcendental functions within 2 ulp over
the whole float range. Each case here once returned a wrong number without an error."""

import math
import subprocess
import sys

import numpy as np
import pytest
from onnx import helper

import compiler as ov
from compiler.frontends.builder import GraphBuilder
from compiler.model import Model
from tests.models import make_model, ort_run

F32 = {"INFERENCE_PRECISION_HINT": "f32"}


def native(model, *inputs, config=None):
    return ov.compile_model(ov.convert_model(model), "CPU", {**F32, **(config or {})})(list(inputs)).to_tuple()


def one_node(op, inputs, out_dtype=None, **attrs):
    """A one-node ONNX model over arrays `inputs` (named a, b, c, ...)."""
    names = "abcdefgh"[:len(inputs)]
    node = helper.make_node(op, list(names), ["y"], **attrs)
    out = out_dtype or inputs[0].dtype
    return make_model([node], [(n, x.dtype, list(x.shape)) for n, x in zip(names, inputs)], [("y", out, None)])


def ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Distance in float32 units in the last place (NaN == NaN; NaN vs a number: huge)."""
    def ordered(a):
        i = a.view(np.int32).astype(np.int64)
        return np.where(i < 0, -(i & 0x7FFFFFFF), i)
    d = np.abs(ordered(got) - ordered(want))
    nan_g, nan_w = np.isnan(got), np.isnan(want)
    return np.where(nan_g & nan_w, 0, np.where(nan_g | nan_w, 1 << 40, d))


def whole_range(n: int = 100_000) -> np.ndarray:
    """Random bit patterns (every exponent, subnormals, NaNs), a dense middle range, and the
    values at the edges of each function's range."""
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2 ** 32, n, dtype=np.uint64).astype(np.uint32).view(np.float32)
    edges = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1e-40, 1.1754942e-38, 1.17549435e-38,
                      3.4028235e38, -3.4028235e38, 88.37, 88.5, 88.72, 88.73, -87.3, -87.5, -103.9, -104.1, 0.5,
                      0.625, -0.625, 9.0, -9.0, 20.0, 44.0], np.float32)
    return np.concatenate([bits, edges, rng.uniform(-20, 20, n).astype(np.float32)])


EXACT = {  # float64 math rounded once to float32: what a correctly rounded function returns
    "Exp": np.exp, "Log": np.log, "Tanh": np.tanh, "Sigmoid": lambda v: 1 / (1 + np.exp(-v)),
    "Erf": np.vectorize(math.erf, otypes=[np.float64]),
}


@pytest.mark.parametrize("op", sorted(EXACT))
def test_transcendentals_within_2_ulp_over_the_whole_float_range(op):
    x = whole_range()
    with np.errstate(all="ignore"):
        want = EXACT[op](x.astype(np.float64)).astype(np.float32)
    (got,) = native(one_node(op, [x]), x)
    u = ulps(got, want)
    worst = int(np.argmax(u))
    assert u.max() <= 2, f"{op}({x[worst]!r}) = {got[worst]!r}, correctly rounded {want[worst]!r}"


def test_exp_and_log_at_the_edges_of_the_float_range():
    x = np.array([88.5, 88.7, -88.0, -100.0, -103.0], np.float32)
    (got,) = native(one_node("Exp", [x]), x)
    np.testing.assert_allclose(got, np.exp(x.astype(np.float64)).astype(np.float32), rtol=3e-7)
    assert got[0] == pytest.approx(2.72309e38, rel=1e-5) and got[-1] > 0  # not inf, not 0
    y = np.array([1e-40, 1e-45, 1.1e-38, 0.0, -0.0, -1.0, np.inf], np.float32)
    (got,) = native(one_node("Log", [y]), y)
    with np.errstate(all="ignore"):
        want = np.log(y.astype(np.float64)).astype(np.float32)
    np.testing.assert_allclose(got, want, rtol=3e-7)
    assert got[0] == pytest.approx(-92.1034, rel=1e-6)


def test_nan_propagates_through_relu_max_min_and_clip_as_onnx_runtime():
    x = np.array([np.nan, 1, -1, np.nan, 0, 2.5, -np.inf], np.float32)
    y = np.array([1, np.nan, np.nan, np.nan, 0, -7, np.inf], np.float32)
    lo, hi = np.array(-0.5, np.float32), np.array(0.5, np.float32)
    for model, feeds in [(one_node("Relu", [x]), [x]), (one_node("Max", [x, y]), [x, y]),
                         (one_node("Min", [x, y]), [x, y]), (one_node("Clip", [x, lo, hi]), [x, lo, hi])]:
        (want,) = ort_run(model, dict(zip("abc", feeds)))
        for level in ("O0", "O2"):
            (got,) = native(model, *feeds, config={"OPTIMIZATION_LEVEL": level})
            np.testing.assert_array_equal(got, want)


def test_comparisons_with_nan_and_infinities_as_onnx_runtime():
    x = np.array([np.nan, 1, np.inf, -np.inf, 0.0, np.nan], np.float32)
    y = np.array([np.nan, np.nan, np.inf, np.inf, -0.0, 1], np.float32)
    for op in ("Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual"):
        model = one_node(op, [x, y], out_dtype=np.bool_)
        (want,) = ort_run(model, {"a": x, "b": y})
        (got,) = native(model, x, y)
        np.testing.assert_array_equal(got, want, err_msg=op)


def test_float_mod_is_exact_fmod():
    a = np.array([1e10, -1e30, 0.49, 5.5, -5.5, 3, -3, 7.25, -0.0, 1e-40], np.float32)
    b = np.array([7, 7.3, 1e-40, np.inf, np.inf, -2, 2, 0.5, 3, 3e-41], np.float32)
    model = one_node("Mod", [a, b], fmod=1)
    (want,) = ort_run(model, {"a": a, "b": b})
    np.testing.assert_array_equal(want, np.fmod(a, b))
    (got,) = native(model, a, b)
    np.testing.assert_array_equal(got, want)
    assert got[0] == 4.0


def test_float_floor_mod_follows_the_divisor_sign_exactly():
    a = np.array([1e10, -1e10, 5.5, -5.5, 3, -3, 0.49, -0.49], np.float32)
    b = np.array([7, 7, 2, 2, -2, -2, 1e-40, -1e-40], np.float32)
    g = GraphBuilder()  # FloorMod (TensorFlow's and PyTorch's remainder) has numpy's mod as its oracle
    xa, xb = g.add_input(["a"], a.shape, np.float32), g.add_input(["b"], b.shape, np.float32)
    m = Model(g.finish([(g.out("FloorMod", [xa, xb]), ["y"])]))
    (got,) = ov.compile_model(m, "CPU", F32)([a, b]).to_tuple()
    np.testing.assert_array_equal(got, np.mod(a, b))


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_integer_pow_is_exact(dtype):
    a = np.array([3, 2, -3, 7, 1, -1, -1, 2, 0, 5, 10], dtype)
    b = np.array([15, 30, 5, 11, -4, -3, -4, -1, 0, 0, 9], dtype)
    model = one_node("Pow", [a, b])
    (want,) = ort_run(model, {"a": a, "b": b})
    (got,) = native(model, a, b)
    np.testing.assert_array_equal(got, want)
    assert got[0] == 3 ** 15 and got[1] == 2 ** 30


def test_integer_pow_wraps_like_repeated_multiplication():
    a = np.array([7, -3, 250], np.int64)
    b = np.array([40, 41, 3], np.int64)
    (got,) = native(one_node("Pow", [a, b]), a, b)
    want = [(int(x) ** int(y) + 2 ** 63) % 2 ** 64 - 2 ** 63 for x, y in zip(a, b)]
    assert got.tolist() == want


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int8, np.int32, np.uint32])
def test_bitwise_not_of_every_integer_type(dtype):
    info = np.iinfo(dtype)
    x = np.array([info.min, info.max, 0, 1, info.max // 3], dtype)
    model = make_model([helper.make_node("BitwiseNot", ["a"], ["y"])], [("a", dtype, [5])], [("y", dtype, [5])],
                       opset=18)
    (want,) = ort_run(model, {"a": x})
    (got,) = native(model, x)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, np.invert(x))


def test_layer_norm_lookalike_with_variance_not_kept_is_not_recognized():
    # mean over axis 1 kept, variance over axis 1 not kept: it broadcasts across rows
    nodes = [helper.make_node("ReduceMean", ["x"], ["m"], axes=[1], keepdims=1),
             helper.make_node("Sub", ["x", "m"], ["d"]),
             helper.make_node("Mul", ["d", "d"], ["d2"]),
             helper.make_node("ReduceMean", ["d2"], ["v"], axes=[1], keepdims=0),
             helper.make_node("Add", ["v", "eps"], ["ve"]),
             helper.make_node("Sqrt", ["ve"], ["s"]),
             helper.make_node("Div", ["d", "s"], ["y"])]
    model = make_model(nodes, [("x", np.float32, [4, 4])], [("y", np.float32, [4, 4])],
                       initializers={"eps": np.float32(1e-5)}, opset=13)
    x = np.random.default_rng(1).standard_normal((4, 4)).astype(np.float32) * 3
    (want,) = ort_run(model, {"x": x})
    (got,) = native(model, x, config={"OPTIMIZATION_LEVEL": "O2"})
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_reshape_chain_with_a_dynamic_dimension_simplifies(tmp_path):
    nodes = [helper.make_node("Reshape", ["x", "s1"], ["r1"]), helper.make_node("Reshape", ["r1", "s2"], ["y"])]
    model = make_model(nodes, [("x", np.float32, ["n", 6])], [("y", np.float32, None)],
                       initializers={"s1": np.array([-1, 2, 3], np.int64), "s2": np.array([-1, 3], np.int64)})
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    r = subprocess.run([sys.executable, "-m", "compiler.cli", str(path), "--emit", "hl"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    x = np.arange(24, dtype=np.float32).reshape(4, 6)
    (got,) = native(model, x, config={"OPTIMIZATION_LEVEL": "O2"})
    np.testing.assert_array_equal(got, ort_run(model, {"x": x})[0])


# Found by the differential fuzzer (tests/fuzz): each returned a wrong number or crashed.

def both(model, *inputs):
    """Outputs of native code at O0 and O2 and of the REFERENCE interpreter."""
    ref = ov.compile_model(ov.convert_model(model), "REFERENCE")(list(inputs)).to_tuple()
    return [native(model, *inputs, config={"OPTIMIZATION_LEVEL": lv}) for lv in ("O0", "O2")] + [ref]


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceL1", "ReduceL2", "ReduceMax", "ReduceProd", "ReduceSumSquare",
                                "ReduceLogSumExp"])
def test_reducing_a_rank_0_tensor_reduces_its_one_element(op):
    # native code refused the empty axes list ("zero elements"); the interpreter took it for a no-op
    x = np.array(-0.5, np.float32)
    model = one_node(op, [x], keepdims=0)
    (want,) = ort_run(model, {"a": x})
    for (got,) in both(model, x):
        assert got.shape == () and got == want


@pytest.mark.parametrize("op", ["Selu", "LeakyRelu"])
def test_activations_of_a_rank_0_tensor_stay_rank_0(op):
    x = np.array(-0.25, np.float32)
    model = one_node(op, [x])
    (want,) = ort_run(model, {"a": x})
    for (got,) in both(model, x):
        assert got.shape == () and got == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
def test_arg_max_over_an_axis_of_one_element(op):
    x = np.array([[3.0], [-1.0]], np.float32)
    for last in (0, 1):
        model = one_node(op, [x], out_dtype=np.int64, axis=1, select_last_index=last)
        for (got,) in both(model, x):
            np.testing.assert_array_equal(got, [[0], [0]])


def test_integer_division_of_int_min_truncates_toward_zero():
    a = np.array([-2 ** 31, -2 ** 31, -2 ** 31 + 1, 7, -7], np.int32)
    b = np.array([2, -3, 2, -2, 2], np.int32)
    model = one_node("Div", [a, b])
    (want,) = ort_run(model, {"a": a, "b": b})
    np.testing.assert_array_equal(want, [-2 ** 30, 715827882, -2 ** 30 + 1, -3, -3])
    for (got,) in both(model, a, b):
        np.testing.assert_array_equal(got, want)


def test_reduce_log_sum_exp_with_infinities():
    # the max subtracted for stability made inf - inf = NaN
    x = np.array([[np.inf, 1.0], [-np.inf, -np.inf], [np.inf, -np.inf], [3.0, -np.inf]], np.float32)
    model = one_node("ReduceLogSumExp", [x], axes=[1], keepdims=0)
    for (got,) in both(model, x):
        np.testing.assert_array_equal(got, np.array([np.inf, -np.inf, np.inf, 3.0], np.float32))


def test_int64_clip_bounds_beyond_2_to_the_53_are_exact():
    # Clamp's bounds are doubles: 1457655838308367515 became ...616
    x = np.array([-2 ** 62, 0, 2 ** 62, 1457655838308367516], np.int64)
    lo, hi = np.array(1457655838308367515, np.int64), np.array(2 ** 62 - 1, np.int64)
    model = make_model([helper.make_node("Clip", ["a", "lo", "hi"], ["y"])], [("a", np.int64, [4])],
                       [("y", np.int64, [4])], initializers={"lo": lo, "hi": hi})
    want = np.clip(x, lo, hi)
    for (got,) in both(model, x):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
def test_arg_max_of_a_line_with_nan_is_the_same_on_every_device(op):
    """Found by the fuzzer: native TopK let a NaN win only as the first element of its line,
    the interpreter never. ONNX leaves it open; both now rank NaN after every number."""
    x = np.array([[np.nan, 1, 2, 3], [1, np.nan, 2, 3], [np.nan, np.nan, 5, np.nan], [np.nan] * 4], np.float32)
    model = one_node(op, [x], out_dtype=np.int64, axis=1, keepdims=0)
    want = [3, 3, 2, 0] if op == "ArgMax" else [1, 0, 2, 0]
    for (got,) in both(model, x):
        np.testing.assert_array_equal(got, want)


def test_top_k_ranks_nan_after_every_number():
    x = np.array([[np.nan, 4, -np.inf, np.nan, 1]], np.float32)
    k = np.array([5], np.int64)
    for largest, order in ((1, [1, 4, 2, 0, 3]), (0, [2, 4, 1, 0, 3])):
        model = make_model([helper.make_node("TopK", ["x", "k"], ["v", "i"], axis=1, largest=largest)],
                           [("x", np.float32, [1, 5])], [("v", np.float32, None), ("i", np.int64, None)],
                           initializers={"k": k})
        for got_v, got_i in both(model, x):
            np.testing.assert_array_equal(got_i, [order])
            np.testing.assert_array_equal(got_v, x[:, order])


@pytest.mark.parametrize("op", ["ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceSum", "ReduceMax"])
def test_reduce_with_noop_empty_axes_reduces_each_element_alone(op):
    # ReduceL1/L2 with noop_with_empty_axes returned x, not |x| (ONNX's reference and ONNX Runtime)
    x = np.array([[-1.5, 2.0], [-0.0, -3.0]], np.float32)
    model = make_model([helper.make_node(op, ["a"], ["y"], noop_with_empty_axes=1)], [("a", np.float32, [2, 2])],
                       [("y", np.float32, None)], opset=18)
    (want,) = ort_run(model, {"a": x})
    for (got,) in both(model, x):
        np.testing.assert_array_equal(got, want)


def test_a_constant_that_folds_to_infinity_feeding_a_comparison():
    # shape inference read the folded constant (1e30 ** 2 = inf) as integers: OverflowError
    c = np.array([[1e30]], np.float32)
    nodes = [helper.make_node("ReduceSumSquare", ["c"], ["s"], axes=[0], keepdims=0),
             helper.make_node("Less", ["s", "a"], ["y"])]
    model = make_model(nodes, [("a", np.float32, [1])], [("y", np.bool_, None)], initializers={"c": c})
    x = np.array([0.0], np.float32)
    for (got,) in both(model, x):
        np.testing.assert_array_equal(got, [False])


def test_double_to_half_rounds_once():
    """f64 -> f16 compiles without the `__truncdfhf2` libcall (the JIT could not find it on a
    CPU without native f16 conversion) and rounds as numpy's single rounding does, also at
    the half-way points between halves where rounding through f32 to nearest twice is wrong."""
    rng = np.random.default_rng(0)
    h = rng.integers(0, 0x7C00, 20000).astype(np.uint16).view(np.float16)
    mid = (h.astype(np.float64) + np.nextafter(h, np.float16(np.inf)).astype(np.float64)) / 2
    x = np.concatenate([mid, mid * (1 + 1e-12), mid * (1 - 1e-12), -mid, rng.standard_normal(1000) * 1e3,
                        [np.nan, np.inf, -np.inf, 0.0, -0.0, 65504.0, 65520.0, 65519.99, 1e300, 5e-324, 2.98e-8, 6e-8]])
    (got,) = native(one_node("Cast", [x], np.float16, to=10), x)
    with np.errstate(over="ignore"):
        want = x.astype(np.float16)
    same = (got.view(np.uint16) == want.view(np.uint16)) | (np.isnan(got) & np.isnan(want))
    assert same.all(), (x[~same][:5], got[~same][:5], want[~same][:5])


@pytest.mark.parametrize("c", [0.0365, 3.0, 0.1, 1.9999999, 1.5 * 2.0 ** -60, 1e18, -0.5, 2.0 ** 61])
def test_a_quantizers_rounded_quotient_is_the_correctly_rounded_division(c):
    """Round(x / c) for a constant c (a quantizer's scale), bit for bit numpy's: a product by
    the reciprocal would be a step off next to halfway points. Every 997th float32 bit pattern,
    the values on and next to the halfway points (k + 1/2) * c, and specials."""
    c = np.float32(c)
    sweep = (np.arange(0, 1 << 32, 997, dtype=np.uint64)).astype(np.uint32).view(np.float32)
    k = np.arange(-300, 301, dtype=np.float32)
    half = ((k + np.float32(0.5)) * c).astype(np.float32)
    near = np.concatenate([half, np.nextafter(half, np.float32(np.inf)), np.nextafter(half, np.float32(-np.inf)),
                           k * c, [np.float32(2.0 ** 64) * c, np.float32(2.0 ** 24) * c * np.float32(1.5)]])
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1.1754942e-38, 3.4028235e38,
                        -3.4028235e38, 0.25 * c, -0.25 * c], np.float32)
    x = np.concatenate([sweep, near, special]).astype(np.float32)
    model = make_model([helper.make_node("Div", ["x", "c"], ["q"]), helper.make_node("Round", ["q"], ["y"])],
                       [("x", np.float32, [x.size])], [("y", np.float32, None)], {"c": np.array(c, np.float32)})
    (got,) = native(model, x)
    with np.errstate(all="ignore"):
        want = np.round(x / c)
    same = (got.view(np.uint32) == want.view(np.uint32)) | (np.isnan(got) & np.isnan(want))
    assert same.all(), f"{(~same).sum()} differ, e.g. x={x[~same][:4]} got {got[~same][:4]} want {want[~same][:4]}"


@pytest.mark.parametrize("group", [4, 1])
def test_infinite_weights_next_to_the_padding_give_nan_as_the_reference(group):
    """A padded convolution is one of the zero-padded input: a tap on the padding adds 0 * w,
    NaN where w is infinite. Depthwise (group 4) and dense convolutions alike, every output
    NaN where the reference interpreter's is and equal elsewhere."""
    rng = np.random.default_rng(12)
    x = rng.standard_normal((1, 4, 19, 19)).astype(np.float32)
    x[0, 1, 9, 9] = np.nan
    w = rng.standard_normal((4, 4 // group, 3, 3)).astype(np.float32)
    w[0, 0, 0, 0], w[2, 0, 2, 1] = np.inf, -np.inf
    node = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=group)
    m = make_model([node], [("x", np.float32, list(x.shape))], [("y", np.float32, None)], {"w": w})
    (got,) = native(m, x)
    want = ov.compile_model(ov.convert_model(m), "REFERENCE")([x])[0]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("size, alpha, beta, bias", [(5, 1e-4, 0.75, 1.0), (4, 0.3, 0.6, 2.0), (3, 0.5, 1.0, 0.5),
                                                     (2, 0.01, 2.0, -1.0), (5, 0.01, 3.0, -3.0), (3, 0.1, 0.5, 1.0),
                                                     (1, 0.7, -0.4, 0.1)])
def test_lrn_across_channels_matches_onnxruntime_and_the_interpreter(size, alpha, beta, bias):
    """Cross-channel LRN (one vector pass over the positions) for every kind of beta (square
    roots, integral powers of a negative base, general powers), odd and even windows, against
    ONNX Runtime on ordinary values (where it runs them: odd windows, beta > 0) and the
    interpreter (in float64), also with NaN, infinities and values whose squares overflow."""
    rng = np.random.default_rng(size)
    x = (rng.standard_normal((2, 7, 5, 9)) * 3).astype(np.float32)
    model = one_node("LRN", [x], size=size, alpha=alpha, beta=beta, bias=bias)
    (got,) = native(model, x)
    if size % 2 and beta > 0:
        np.testing.assert_allclose(got, ort_run(model, {"a": x})[0], rtol=2e-5, atol=1e-6)
    want = ov.compile_model(ov.convert_model(model), "REFERENCE")([x])[0]
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)
    x.flat[::11] = np.resize(np.array([np.nan, np.inf, -np.inf, 1e20, -3e19, 1e-40, 0.0], np.float32),
                             x.flat[::11].shape)
    (got,) = native(model, x)
    want = ov.compile_model(ov.convert_model(model), "REFERENCE")([x])[0]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6 * np.nanmax(np.abs(np.where(np.isinf(want), 0, want))),
                               equal_nan=True)
