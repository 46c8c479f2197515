"""INT8 kernels: quantized Convolutions/MatMuls (an activation quantizer in front, int8 weights
behind a decompression) on AMX-INT8 tiles, AVX512-VNNI or AVX2 (vpmaddwd), against numpy's exact integer
products; the f32 fallback where the CPU has neither (or OVCC_INT8_ISA=none); which ops the
int8 kernels take over and which they leave alone."""

import numpy as np
import pytest
from onnx import TensorProto, helper

import compiler as ov
from codegen.target import host
from tests.models import F32, make_model

ISAS = host().int8_isas()


def needs(isa):
    return pytest.mark.skipif(isa not in ISAS, reason=f"this CPU has no {isa} int8 kernels (LLVM host features give "
                                                      f"{', '.join(ISAS) or 'neither AMX-INT8 nor AVX512-VNNI'})")


EACH_ISA = [pytest.param(i, marks=needs(i)) for i in ("amx", "vnni", "avx2")]


def _q(name, scale, zp, zp_type=TensorProto.UINT8):
    return [helper.make_tensor(f"{name}_s", TensorProto.FLOAT, [], [scale]),
            helper.make_tensor(f"{name}_z", zp_type, [], [zp])]


def _qdq_model(kind, x_shape, w, xs, xz, ws, *, stride=1, pad=0, group=1):
    """x -> QuantizeLinear(xs, xz: u8) -> DequantizeLinear -> Conv/MatMul with int8 weights w
    (per output channel scales ws) behind a DequantizeLinear."""
    axis = 0 if kind == "conv" else 1
    nodes = [helper.make_node("QuantizeLinear", ["x", "x_s", "x_z"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "x_s", "x_z"], ["xd"]),
             helper.make_node("DequantizeLinear", ["w", "w_s", "w_z"], ["wd"], axis=axis)]
    if kind == "conv":
        k = w.shape[-1]
        nodes.append(helper.make_node("Conv", ["xd", "wd"], ["y"], kernel_shape=[k, k], strides=[stride] * 2,
                                      pads=[pad] * 4, group=group))
    else:
        nodes.append(helper.make_node("MatMul", ["xd", "wd"], ["y"]))
    m = make_model(nodes, [("x", np.float32, list(x_shape))], [("y", np.float32, None)],
                   {"w": w, "w_s": ws.astype(np.float32), "w_z": np.zeros(ws.shape, np.int8)})
    m.graph.initializer.extend(_q("x", xs, xz))
    return m


def _levels(x, xs, xz):
    """QuantizeLinear's u8 levels: round half to even, saturate (the specification's formula)."""
    return np.clip(np.rint(x.astype(np.float64) / np.float64(np.float32(xs))) + xz, 0, 255).astype(np.int64)


def _conv_exact(xq, w, stride, pad, group):
    """Integer convolution in int64 (exact), by im2col."""
    n, c, h, wd = xq.shape
    co, cg, k, _ = w.shape
    xp = np.pad(xq, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    out = np.zeros((n, co, oh, ow), np.int64)
    per = co // group
    for g in range(group):
        xs = xp[:, g * cg:(g + 1) * cg]
        cols = np.stack([xs[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride]
                         for i in range(k) for j in range(k)], axis=2)  # n, cg, k*k, oh, ow
        wg = w[g * per:(g + 1) * per].reshape(per, cg, k * k).astype(np.int64)
        out[:, g * per:(g + 1) * per] = np.einsum("nckhw,ock->nohw", cols, wg)
    return out


CONVS = [  # cin, cout, k, stride, pad, hw, group
    (16, 32, 1, 1, 0, 8, 1), (13, 37, 3, 1, 1, 9, 1), (8, 40, 3, 2, 1, 11, 1), (64, 64, 3, 1, 1, 14, 1),
    (32, 48, 3, 1, 1, 7, 2), (3, 17, 7, 2, 3, 20, 1), (256, 96, 3, 1, 1, 6, 1),
    (128, 64, 3, 2, 1, 15, 2), (64, 40, 5, 1, 2, 10, 1)]  # whole K steps per group: tiles read the levels' copy


def _conv_case(cin, cout, k, s, p, hw, g, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.3, 1, (1, cin, hw, hw)).astype(np.float32)
    w = rng.integers(-128, 128, (cout, cin // g, k, k)).astype(np.int8)
    ws = rng.uniform(0.001, 0.01, cout)
    xs, xz = 0.02, 100
    m = _qdq_model("conv", x.shape, w, xs, xz, ws, stride=s, pad=p, group=g)
    # padding is the level of 0.0, i.e. the zero point: exact sums of (level - zp) * w
    acc = _conv_exact(_levels(x, xs, xz) - xz, w, s, p, g)
    want = acc * (np.float64(np.float32(xs)) * ws.astype(np.float32).astype(np.float64))[None, :, None, None]
    return m, x, want, np.abs(want)


@pytest.mark.parametrize("isa", EACH_ISA)
@pytest.mark.parametrize("cin, cout, k, s, p, hw, g", CONVS)
def test_int8_convolution_kernels_against_exact_integer_products(isa, cin, cout, k, s, p, hw, g):
    m, x, want, scale = _conv_case(cin, cout, k, s, p, hw, g)
    c = ov.compile_model(ov.convert_model(m), "CPU", {**F32, "OVCC_INT8_ISA": isa})
    got = c([x])[0]
    if isa == "avx2" and k == 1:  # AVX2's int8 kernels leave 1x1 convolutions to the f32 kernels
        assert c.stats.int8_isa == isa and c.stats.int8_ops == 0
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
        return
    assert c.stats.int8_isa == isa and c.stats.int8_ops == 1
    # the int32 sum is exact; y = (xs * ws) * acc rounds in f32: the scale product, acc past
    # 2^24, the product (three roundings of 2^-24 each)
    assert np.max(np.abs(got - want) / (scale + 1e-30)) < 2e-7 * 2.5


MATMULS = [((1, 64), 48), ((5, 33), 70), ((40, 100), 65), ((3, 7, 96), 80), ((64, 256), 128)]


@pytest.mark.parametrize("isa", EACH_ISA)
@pytest.mark.parametrize("a_shape, n", MATMULS)
def test_int8_matmul_kernels_against_exact_integer_products(isa, a_shape, n):
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, a_shape).astype(np.float32)
    k = a_shape[-1]
    w = rng.integers(-128, 128, (k, n)).astype(np.int8)
    ws = rng.uniform(0.001, 0.01, n)
    xs, xz = 0.015, 128
    m = _qdq_model("matmul", x.shape, w, xs, xz, ws)
    c = ov.compile_model(ov.convert_model(m), "CPU", {**F32, "OVCC_INT8_ISA": isa})
    assert c.stats.int8_isa == isa and c.stats.int8_ops == 1
    acc = (_levels(x, xs, xz) - xz) @ w.astype(np.int64)
    want = acc * (np.float64(np.float32(xs)) * ws.astype(np.float32).astype(np.float64))
    assert np.max(np.abs(c([x])[0] - want) / (np.abs(want) + 1e-30)) < 2e-7 * 2.5  # as for convolutions


@pytest.mark.parametrize("isa", EACH_ISA)
def test_int8_sums_past_int16_are_exact(isa):
    """u8 255 x s8 -128 over a long K: pair sums that a saturating vpmaddubsw would clip."""
    k = 1024
    x = np.full((2, k), 255 * 0.01, np.float32)
    w = np.full((k, 16), -128, np.int8)
    m = _qdq_model("matmul", x.shape, w, 0.01, 0, np.ones(16))
    c = ov.compile_model(ov.convert_model(m), "CPU", {**F32, "OVCC_INT8_ISA": isa})
    assert c.stats.int8_ops == 1
    np.testing.assert_array_equal(c([x])[0], np.full((2, 16), 255 * -128 * k * np.float32(0.01), np.float32))


@pytest.mark.parametrize("config", [{"OVCC_INT8_ISA": "none"}, {}])
def test_without_int8_kernels_quantized_ops_run_in_f32_kernels(config):
    """The f32 path (forced, or the CPU's only one): same results as the reference interpreter."""
    m, x, want, scale = _conv_case(13, 37, 3, 1, 1, 9, 1)
    c = ov.compile_model(ov.convert_model(m), "CPU", {**F32, **config})
    if config or not ISAS:
        assert c.stats.int8_ops == 0 and (config or c.stats.int8_isa is None)
    np.testing.assert_allclose(c([x])[0], want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    ref = ov.compile_model(ov.convert_model(m), "REFERENCE")([x])[0]
    np.testing.assert_allclose(c([x])[0], ref, rtol=1e-5, atol=1e-5 * np.abs(want).max())


@pytest.mark.skipif(not ISAS, reason="this CPU has neither AMX-INT8 nor AVX512-VNNI")
def test_what_the_int8_kernels_leave_to_the_vector_units():
    """Depthwise convolutions stay in f32 kernels; a float (unquantized) activation too."""
    rng = np.random.default_rng(2)
    depthwise = _qdq_model("conv", (1, 8, 6, 6), rng.integers(-128, 128, (8, 1, 3, 3)).astype(np.int8),
                           0.02, 100, np.full(8, 0.01), pad=1, group=8)
    c = ov.compile_model(ov.convert_model(depthwise), "CPU", F32)
    assert c.stats.int8_ops == 0
    w = rng.integers(-128, 128, (16, 8)).astype(np.int8)
    nodes = [helper.make_node("DequantizeLinear", ["w", "w_s", "w_z"], ["wd"], axis=1),
             helper.make_node("MatMul", ["x", "wd"], ["y"])]
    weight_only = make_model(nodes, [("x", np.float32, [4, 16])], [("y", np.float32, None)],
                             {"w": w, "w_s": np.full(8, 0.01, np.float32), "w_z": np.zeros(8, np.int8)})
    c = ov.compile_model(ov.convert_model(weight_only), "CPU", F32)
    assert c.stats.int8_ops == 0
    x = rng.standard_normal((4, 16)).astype(np.float32)
    np.testing.assert_allclose(c([x])[0], x @ (w.astype(np.float32) * np.float32(0.01)), rtol=1e-5, atol=1e-6)


def _matmul_case(rng, nodes, x_shape, k, n, xs=0.015, xz=128):
    w = rng.integers(-128, 128, (k, n)).astype(np.int8)
    ws = rng.uniform(0.001, 0.01, n).astype(np.float32)
    m = make_model(nodes, [("x", np.float32, list(x_shape))], [("y", np.float32, None)],
                   {"w": w, "w_s": ws, "w_z": np.zeros(n, np.int8)})
    m.graph.initializer.extend(_q("x", xs, xz))
    return m, w, ws


@pytest.mark.parametrize("isa", EACH_ISA)
def test_a_transposed_activation_is_quantized_after_its_transpose(isa):
    """x -> Transpose -> QuantizeLinear -> DequantizeLinear -> MatMul (ONNX Runtime's QDQ form of
    PyTorch's attention input projection): transpose sinking stops at the quantizer, so the int8
    kernel still takes the MatMul over."""
    rng = np.random.default_rng(3)
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0, 2]),
             helper.make_node("QuantizeLinear", ["t", "x_s", "x_z"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "x_s", "x_z"], ["xd"]),
             helper.make_node("DequantizeLinear", ["w", "w_s", "w_z"], ["wd"], axis=1),
             helper.make_node("MatMul", ["xd", "wd"], ["y"])]
    m, w, ws = _matmul_case(rng, nodes, (1, 24, 64), 64, 32)
    x = rng.normal(0, 1, (1, 24, 64)).astype(np.float32)
    c = ov.compile_model(ov.convert_model(m), "CPU", {**F32, "OVCC_INT8_ISA": isa})
    assert c.stats.int8_ops == 1
    acc = (_levels(x.transpose(1, 0, 2), 0.015, 128) - 128) @ w.astype(np.int64)
    want = acc * (np.float64(np.float32(0.015)) * ws.astype(np.float64))
    assert np.max(np.abs(c([x])[0] - want) / (np.abs(want) + 1e-30)) < 2e-7 * 2.5


@pytest.mark.parametrize("isa", EACH_ISA)
def test_int8_weights_shared_by_two_matmuls(isa):
    """One weight decompression feeding two quantized MatMuls (tied layers): both on int8 kernels."""
    rng = np.random.default_rng(4)
    nodes = [helper.make_node("QuantizeLinear", ["x", "x_s", "x_z"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "x_s", "x_z"], ["xd"]),
             helper.make_node("DequantizeLinear", ["w", "w_s", "w_z"], ["wd"], axis=1),
             helper.make_node("MatMul", ["xd", "wd"], ["h"]),
             helper.make_node("QuantizeLinear", ["h", "x_s", "x_z"], ["hq"]),
             helper.make_node("DequantizeLinear", ["hq", "x_s", "x_z"], ["hd"]),
             helper.make_node("MatMul", ["hd", "wd"], ["y"])]
    m, w, ws = _matmul_case(rng, nodes, (6, 48), 48, 48)
    x = rng.normal(0, 1, (6, 48)).astype(np.float32)
    c = ov.compile_model(ov.convert_model(m), "CPU", {**F32, "OVCC_INT8_ISA": isa})
    assert c.stats.int8_ops == 2
    ref = ov.compile_model(ov.convert_model(m), "REFERENCE")([x])[0]
    # the reference computes the products in f32 (sums of K f32 terms): within its rounding
    np.testing.assert_allclose(c([x])[0], ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


@pytest.mark.parametrize("isa", EACH_ISA)
@pytest.mark.parametrize("cin, cout, k, s, p, hw", [(64, 48, 1, 2, 0, 14), (32, 40, 3, 2, 1, 13), (64, 64, 3, 1, 1, 7)])
def test_int8_convolution_with_a_residual_in_its_epilogue(isa, cin, cout, k, s, p, hw):
    """A strided or padded int8 convolution + residual Add + Relu as one kernel (the residual is
    read in runs of lanes that are output rows) against the exact integer product."""
    m, x, want, scale = _conv_case(cin, cout, k, s, p, hw, 1)
    ho = want.shape[-1]
    m.graph.node[-1].output[0] = "c"
    m.graph.node.extend([helper.make_node("Add", ["c", "r"], ["a"]), helper.make_node("Relu", ["a"], ["y"])])
    m.graph.input.append(helper.make_tensor_value_info("r", TensorProto.FLOAT, [1, cout, ho, ho]))
    r = np.random.default_rng(5).normal(0, np.abs(want).mean(), (1, cout, ho, ho)).astype(np.float32)
    c = ov.compile_model(ov.convert_model(m), "CPU", {**F32, "OVCC_INT8_ISA": isa})
    got = c([x, r])[0]
    exact = np.maximum(want + r, 0)
    rel = np.max(np.abs(got - exact) / (scale + np.abs(r) + 1e-30))
    if isa == "avx2" and k == 1:  # left to the f32 kernels (f32 sums)
        assert c.stats.int8_ops == 0 and rel < 1e-5
        return
    assert c.stats.int8_ops == 1 and c.stats.steps == 2, (c.stats.int8_ops, c.stats.steps)
    assert rel < 2e-7 * 3.5  # the three roundings of the plain case, the Add's


@pytest.mark.parametrize("isa", EACH_ISA)
@pytest.mark.parametrize("cin, k, s, p", [(16, 3, 1, 1), (16, 3, 2, 1), (16, 1, 2, 0), (64, 3, 1, 1), (64, 3, 2, 1)])
def test_int8_convolution_of_special_values_matches_the_interpreter(isa, cin, k, s, p):
    """NaN, infinities, values past the grid and halfway between levels, through a padded or
    strided int8 convolution (whose phase-split copy holds the levels, as floats or, with whole
    K steps of channels, as the kernel's words) as the interpreter quantizes them."""
    m, x, _, _ = _conv_case(cin, 24, k, s, p, 9, 1)
    xs, xz = 0.02, 100
    special = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, (155.5 - xz) * xs, (0.5 - xz) * xs, -0.0,
                        np.float32(1e-40), (255 - xz) * xs, (-xz) * xs, 2.5 * xs], np.float32)
    x.flat[::7] = np.resize(special, x.flat[::7].shape)
    c = ov.compile_model(ov.convert_model(m), "CPU", {**F32, "OVCC_INT8_ISA": isa})
    got = c([x])[0]
    want = ov.compile_model(ov.convert_model(m), "REFERENCE")([x])[0]
    assert np.isfinite(want).all()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


def _qdq(x, name, out):
    return [helper.make_node("QuantizeLinear", [x, f"{name}_s", f"{name}_z"], [f"{name}_q"]),
            helper.make_node("DequantizeLinear", [f"{name}_q", f"{name}_s", f"{name}_z"], [out])]


def _conv_node(x, name, out, k, stride, pad):
    return [helper.make_node("DequantizeLinear", [f"{name}_w", f"{name}_ws", f"{name}_wz"], [f"{name}_wd"], axis=0),
            helper.make_node("Conv", [x, f"{name}_wd", f"{name}_b"], [out], kernel_shape=[k, k],
                             strides=[stride] * 2, pads=[pad] * 4)]


@pytest.mark.parametrize("isa", EACH_ISA)
def test_int8_levels_stored_between_quantized_convolutions(isa):
    """A tensor that only int8 kernels read, all through one quantizer, is stored as its u8
    levels by the kernel that computes it (ties, saturation, inf and NaN as the quantizer rounds
    them); its readers (a padded, a strided and a 1x1 convolution) take the levels as they are.
    Power-of-two scales keep every sum exact, so the result must equal the interpreter's."""
    rng = np.random.default_rng(7)
    c = 64
    x = rng.normal(0, 2, (1, c, 10, 10)).astype(np.float32)
    x.flat[::13] = np.resize(np.array([np.nan, np.inf, -np.inf, 4.0, -4.015625], np.float32), x.flat[::13].shape)
    inits = {}
    for name, cout, k in (("a", c, 3), ("b", c, 3), ("b2", c, 1), ("c", 32, 1)):
        inits[f"{name}_w"] = rng.integers(-128, 128, (cout, c, k, k)).astype(np.int8)
        inits[f"{name}_ws"] = np.exp2(-rng.integers(7, 10, cout)).astype(np.float32)
        inits[f"{name}_wz"] = np.zeros(cout, np.int8)
        inits[f"{name}_b"] = (rng.integers(-512, 512, cout) * 2.0 ** -6).astype(np.float32)
    inits["a_b"][:4] = [np.inf, -np.inf, np.nan, 1e30]
    nodes = (_qdq("x", "q0", "xd") + _conv_node("xd", "a", "ya", 3, 1, 1) +
             [helper.make_node("Relu", ["ya"], ["ra"])] + _qdq("ra", "q1", "rd") +
             _conv_node("rd", "b", "yb", 3, 2, 1) + _conv_node("rd", "b2", "y2", 1, 2, 0) +
             _qdq("yb", "q2", "bd") + _conv_node("bd", "c", "y1", 1, 1, 0))
    m = make_model(nodes, [("x", np.float32, list(x.shape))], [("y1", np.float32, None), ("y2", np.float32, None)],
                   inits)
    for name, scale, zp in (("q0", 2.0 ** -4, 128), ("q1", 2.0 ** -1, 0), ("q2", 2.0 ** 1, 128)):
        m.graph.initializer.extend(_q(name, scale, zp))
    compiled = ov.compile_model(ov.convert_model(m), "CPU", {**F32, "OVCC_INT8_ISA": isa})
    want = ov.compile_model(ov.convert_model(m), "REFERENCE")([x])
    got = compiled([x])
    if isa == "avx2":  # 1x1 convolutions stay in f32 kernels there, which read the values
        assert compiled.stats.int8_ops == 2 and compiled.stats.int8_levels == 0, compiled.stats
    else:
        assert compiled.stats.int8_ops == 4 and compiled.stats.int8_levels == 2, compiled.stats
    for i in range(2):
        assert np.isfinite(want[i]).all() and np.ptp(want[i]) > 0
        np.testing.assert_array_equal(got[i], want[i])
