"""bf16 inference on the CPU: OpenVINO's precision hints and defaults, the AMX and AVX512-BF16
kernels against numpy products of bf16-rounded operands, whole models against ONNX Runtime
within what OpenVINO's own bf16 achieves on the same inputs, concurrency and the object cache."""

import threading

import ml_dtypes
import numpy as np
import pytest
from onnx import helper

import codegen.target as target
import compiler as ov
from codegen.target import host
from tests.models import F32, light_input, light_model, make_model, ort_run

ISAS = host().bf16_isas()
NATIVE_BF16 = bool(ISAS)


def needs(isa):
    return pytest.mark.skipif(isa not in ISAS, reason=f"this CPU has no {isa} (LLVM host features: "
                                                      f"{', '.join(ISAS) or 'no native bf16'})")


def bf(a):
    return np.asarray(a, np.float32).astype(ml_dtypes.bfloat16).astype(np.float64)


def _conv_model(cin, cout, k, s, p, hw, g=1, seed=0, d=1):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((cout, cin // g, k, k)).astype(np.float32)
    node = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[k, k], strides=[s, s], pads=[p] * 4, group=g,
                            dilations=[d, d])
    x = rng.standard_normal((1, cin, hw, hw)).astype(np.float32)
    return make_model([node], [("x", np.float32, [1, cin, hw, hw])], [("y", np.float32, None)], {"w": w}), x, w


def _conv_ref(x, w, s, p, g, d=1):
    """The convolution of the bf16-rounded operands in float64, and of their magnitudes (the
    scale an f32 accumulation's error is relative to)."""
    import torch

    def conv(a, b):
        return torch.nn.functional.conv2d(torch.tensor(a), torch.tensor(b), stride=s, padding=p, groups=g,
                                          dilation=d).numpy()
    return conv(bf(x), bf(w)), conv(np.abs(bf(x)), np.abs(bf(w)))


@pytest.mark.skipif(not NATIVE_BF16, reason="this CPU has no native bf16: the default is f32")
def test_default_precision_is_bf16_where_the_cpu_has_it_as_in_openvino():
    m, x, _ = _conv_model(8, 16, 3, 1, 1, 6)
    c = ov.compile_model(ov.convert_model(m), "CPU")
    assert c.get_property("INFERENCE_PRECISION_HINT") == "bf16"
    assert c.stats.precision == "bf16" and c.stats.bf16_isa == ISAS[0]


@pytest.mark.parametrize("config", [{"EXECUTION_MODE_HINT": "ACCURACY"}, {"INFERENCE_PRECISION_HINT": "f32"},
                                    {"INFERENCE_PRECISION_HINT": "FP32"},
                                    {"EXECUTION_MODE_HINT": "ACCURACY", "INFERENCE_PRECISION_HINT": "bf16"}])
def test_accuracy_mode_and_the_f32_hint_run_f32(config):
    m, x, w = _conv_model(8, 16, 3, 1, 1, 6)
    c = ov.compile_model(ov.convert_model(m), "CPU", config)
    assert c.get_property("INFERENCE_PRECISION_HINT") == "f32"
    assert c.get_property("EXECUTION_MODE_HINT") == config.get("EXECUTION_MODE_HINT", "PERFORMANCE")
    np.testing.assert_allclose(c([x])[0], ov.compile_model(ov.convert_model(m), "REFERENCE")([x])[0],
                               rtol=1e-4, atol=1e-4)


class _TypeLike:  # OpenVINO's Type objects answer to_string()
    def to_string(self):
        return "bf16"


@pytest.mark.parametrize("hint", ["bf16", "BF16", "bfloat16", _TypeLike()])
def test_the_bf16_hint_in_openvinos_spellings(hint):
    m, _, _ = _conv_model(8, 16, 3, 1, 1, 6)
    c = ov.compile_model(ov.convert_model(m), "CPU", {"INFERENCE_PRECISION_HINT": hint})
    assert c.get_property("INFERENCE_PRECISION_HINT") == ("bf16" if NATIVE_BF16 else "f32")


def test_bf16_asked_for_without_native_bf16_runs_f32_and_says_so(monkeypatch):
    monkeypatch.setattr(target.Target, "bf16_isas", lambda self: [])
    m, x, _ = _conv_model(8, 16, 3, 1, 1, 6)
    c = ov.compile_model(ov.convert_model(m), "CPU", {"INFERENCE_PRECISION_HINT": "bf16", "CACHE_DIR": ""})
    assert c.get_property("INFERENCE_PRECISION_HINT") == "f32"
    assert "no native bf16" in c.stats.note


@needs("avx512bf16")
def test_refused_amx_permission_falls_back_and_says_why(monkeypatch):
    monkeypatch.setattr(target, "amx_permitted", lambda: False)
    monkeypatch.setattr(target, "AMX_DENIED", "arch_prctl(ARCH_REQ_XCOMP_PERM) failed with errno 22")
    m, x, _ = _conv_model(8, 16, 3, 1, 1, 6)
    c = ov.compile_model(ov.convert_model(m), "CPU", {"CACHE_DIR": "", "OVCC_BF16_ISA": "amx"})
    assert c.stats.bf16_isa == "avx512bf16" and "errno 22" in c.stats.note


# 512 -> 96 3x3: several chunks of filter blocks, panels packed before the kernel
CONVS = [(16, 32, 1, 1, 0, 8, 1), (13, 37, 3, 1, 1, 9, 1), (8, 40, 3, 2, 1, 11, 1), (64, 64, 3, 1, 1, 14, 1),
         (32, 48, 3, 1, 1, 7, 2), (3, 17, 7, 2, 3, 20, 1), (48, 33, 1, 1, 0, 13, 1),
         (512, 96, 3, 1, 1, 6, 1), (1024, 80, 1, 1, 0, 5, 1),
         # whole K steps of channels per group: B's tiles read straight from the phase-split copy
         (128, 48, 3, 2, 1, 15, 2), (64, 40, 5, 1, 2, 10, 1), (64, 32, 3, 1, 2, 12, 1, 2)]


@pytest.mark.parametrize("isa", [pytest.param(i, marks=needs(i)) for i in ("amx", "avx512bf16")])
@pytest.mark.parametrize("case", CONVS)
def test_bf16_convolution_kernels_against_numpy(isa, case):
    cin, cout, k, s, p, hw, g, *d = case
    d = d[0] if d else 1
    m, x, w = _conv_model(cin, cout, k, s, p, hw, g, d=d)
    c = ov.compile_model(ov.convert_model(m), "CPU", {"OVCC_BF16_ISA": isa})
    assert c.stats.bf16_isa == isa
    ref, scale = _conv_ref(x, w, s, p, g, d)
    # products of bf16 values are exact in f32; only the f32 accumulation rounds
    assert np.max(np.abs(c([x])[0] - ref) / (scale + 1e-30)) < 1e-6


MATMULS = [((1, 64), (64, 48), False, True), ((5, 33), (33, 70), False, True), ((40, 100), (100, 65), False, True),
           ((2, 3, 17, 40), (2, 3, 40, 29), False, False), ((2, 20, 64), (2, 50, 64), True, False),
           ((64, 96), (96, 80), False, True), ((3, 7, 9), (9, 13), False, True)]


@pytest.mark.parametrize("isa", [pytest.param(i, marks=needs(i)) for i in ("amx", "avx512bf16")])
@pytest.mark.parametrize("ash, bsh, tb, const", MATMULS)
def test_bf16_matmul_kernels_against_numpy(isa, ash, bsh, tb, const):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(ash).astype(np.float32), rng.standard_normal(bsh).astype(np.float32)
    perm = list(range(len(bsh) - 2)) + [len(bsh) - 1, len(bsh) - 2]
    nodes = ([helper.make_node("Transpose", ["b"], ["bt"], perm=perm)] if tb else []) + \
        [helper.make_node("MatMul", ["a", "bt" if tb else "b"], ["y"])]
    ins = [("a", np.float32, list(ash))] + ([] if const else [("b", np.float32, list(bsh))])
    m = make_model(nodes, ins, [("y", np.float32, None)], {"b": b} if const else {})
    c = ov.compile_model(ov.convert_model(m), "CPU", {"OVCC_BF16_ISA": isa})
    bb = np.swapaxes(b, -1, -2) if tb else b
    ref, scale = bf(a) @ bf(bb), np.abs(bf(a)) @ np.abs(bf(bb))
    got = c([a] + ([] if const else [b]))[0]
    assert np.max(np.abs(got - ref) / (scale + 1e-30)) < 1e-6


def _openvino_bf16_error(model, x, want):
    import openvino

    core = openvino.Core()
    ovm = core.compile_model(core.read_model(model.SerializeToString(), b""), "CPU",
                             {"INFERENCE_PRECISION_HINT": "bf16"})
    return float(np.abs(ovm([x])[0] - want).max())


def _transformer_block():
    """A BERT-style encoder layer (multi-head attention with softmax, layer norms, GELU MLP) as
    ONNX, exported from PyTorch."""
    import io

    import onnx
    import torch

    class Layer(torch.nn.Module):
        def __init__(self, d=64, heads=4, ff=128):
            super().__init__()
            self.h, self.qkv, self.o = heads, torch.nn.Linear(d, 3 * d), torch.nn.Linear(d, d)
            self.n1, self.n2 = torch.nn.LayerNorm(d), torch.nn.LayerNorm(d)
            self.ff = torch.nn.Sequential(torch.nn.Linear(d, ff), torch.nn.GELU(), torch.nn.Linear(ff, d))

        def forward(self, x):
            b, t, d = x.shape
            q, k, v = self.qkv(x).reshape(b, t, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
            att = torch.softmax(q @ k.transpose(-1, -2) / (d // self.h) ** 0.5, dim=-1)
            x = self.n1(x + self.o((att @ v).transpose(1, 2).reshape(b, t, d)))
            return self.n2(x + self.ff(x))

    torch.manual_seed(0)
    x = torch.randn(1, 32, 64)
    buf = io.BytesIO()
    torch.onnx.export(Layer().eval(), (x,), buf, input_names=["x"], output_names=["y"], opset_version=17,
                      dynamo=False)
    return onnx.load_from_string(buf.getvalue()), x.numpy()


@pytest.mark.skipif(not NATIVE_BF16, reason="this CPU has no native bf16")
@pytest.mark.parametrize("name", ["squeezenet", "inception_v1", "resnet50", "densenet121", "shufflenet", "transformer"])
def test_bf16_models_are_as_close_to_onnxruntime_as_openvinos_bf16(name):
    model, x = _transformer_block() if name == "transformer" else (light_model(name), None)
    if x is None:
        x = light_input(model)
    inits = {t.name for t in model.graph.initializer}
    name_in = next(i.name for i in model.graph.input if i.name not in inits)
    want = ort_run(model, {name_in: x})[0]
    got = ov.compile_model(ov.convert_model(model), "CPU")([x])[0]
    ours = float(np.abs(got - want).max())
    theirs = _openvino_bf16_error(model, x, want)
    cosine = float(np.dot(got.ravel(), want.ravel()) / (np.linalg.norm(got) * np.linalg.norm(want)))
    assert cosine >= 0.999, cosine
    assert ours <= 2 * theirs + 1e-6 * np.abs(want).max(), (ours, theirs)


@pytest.mark.skipif(not NATIVE_BF16, reason="this CPU has no native bf16")
def test_four_threads_on_one_bf16_model_get_sequential_results():
    m, _, _ = _conv_model(32, 48, 3, 1, 1, 12)
    c = ov.compile_model(ov.convert_model(m), "CPU")
    rng = np.random.default_rng(3)
    xs = [rng.standard_normal((1, 32, 12, 12)).astype(np.float32) for _ in range(8)]
    want = [c([x])[0] for x in xs]
    got: dict[int, list] = {}

    def work(t):
        got[t] = [c([x])[0] for _ in range(5) for x in xs]
    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for t in range(4):
        for i, g in enumerate(got[t]):
            np.testing.assert_array_equal(g, want[i % len(xs)])


@pytest.mark.skipif(not NATIVE_BF16, reason="this CPU has no native bf16")
def test_the_object_cache_is_keyed_by_precision(tmp_path):
    m, x, _ = _conv_model(8, 16, 3, 1, 1, 6)
    f32 = ov.compile_model(ov.convert_model(m), "CPU", {**F32, "CACHE_DIR": str(tmp_path)})
    bf16 = ov.compile_model(ov.convert_model(m), "CPU", {"CACHE_DIR": str(tmp_path)})
    assert not f32.stats.from_cache and not bf16.stats.from_cache
    assert len(list(tmp_path.glob("*.o"))) == 2
    again = ov.compile_model(ov.convert_model(m), "CPU", {"CACHE_DIR": str(tmp_path)})
    assert again.stats.from_cache and again.stats.precision == "bf16"
    assert not np.array_equal(f32([x])[0], bf16([x])[0])


@pytest.mark.parametrize("isa", [pytest.param(i, marks=needs(i)) for i in ("amx", "avx512bf16")])
@pytest.mark.parametrize("cin, cout, k, s, p, hw", [(64, 48, 1, 2, 0, 14), (32, 40, 3, 2, 1, 13), (64, 64, 3, 1, 1, 7)])
def test_bf16_convolution_with_a_residual_in_its_epilogue(isa, cin, cout, k, s, p, hw):
    """A strided or padded bf16 convolution + residual Add + Relu as one kernel (the residual is
    read in runs of lanes that are output rows; the epilogue stays f32)."""
    m, x, w = _conv_model(cin, cout, k, s, p, hw)
    ho = (hw + 2 * p - k) // s + 1
    m.graph.node[-1].output[0] = "c"
    m.graph.node.extend([helper.make_node("Add", ["c", "r"], ["a"]), helper.make_node("Relu", ["a"], ["y"])])
    m.graph.input.append(helper.make_tensor_value_info("r", 1, [1, cout, ho, ho]))
    r = np.random.default_rng(5).standard_normal((1, cout, ho, ho)).astype(np.float32) * 10
    c = ov.compile_model(ov.convert_model(m), "CPU", {"OVCC_BF16_ISA": isa})
    assert c.stats.bf16_isa == isa and c.stats.steps == 2
    ref, scale = _conv_ref(x, w, s, p, 1)
    got = c([x, r])[0]
    # the f32 sum, then the f32 Add: one more rounding, relative to the larger of the two
    assert np.max(np.abs(got - np.maximum(ref + r, 0)) / (scale + np.abs(r) + 1e-30)) < 1e-6


@pytest.mark.parametrize("isa", [pytest.param(i, marks=needs(i)) for i in ("amx", "avx512bf16")])
@pytest.mark.parametrize("k2, s2", [(1, 1), (3, 1), (3, 2)])
def test_activations_between_bf16_convolutions_are_stored_as_bf16(isa, k2, s2):
    """As OpenVINO does: a bf16 convolution's result that only bf16 convolutions read (as their
    input and as a residual in their epilogue) is stored rounded to bf16, to nearest even. The
    numbers are those of bf16-rounded operands with f32 sums, the residual rounded to bf16 too;
    an element of `a` on the edge of a bf16 rounding may round either way (f32 vs exact sums)."""
    rng = np.random.default_rng(7)
    c1, c2, hw = 32, 48, 13
    w1 = rng.standard_normal((c2, c1, 3, 3)).astype(np.float32)
    w2 = rng.standard_normal((c2, c2, k2, k2)).astype(np.float32) * 0.2
    b1, b2 = rng.standard_normal(c2).astype(np.float32), rng.standard_normal(c2).astype(np.float32)
    p2 = k2 // 2
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c"], kernel_shape=[3, 3], pads=[1] * 4),
             helper.make_node("Relu", ["c"], ["a"]),
             helper.make_node("Conv", ["a", "w2", "b2"], ["d"], kernel_shape=[k2, k2], pads=[p2] * 4, strides=[s2] * 2)]
    if s2 == 1:  # the residual: `a` again
        nodes += [helper.make_node("Add", ["d", "a"], ["e"]), helper.make_node("Relu", ["e"], ["y"])]
    else:
        nodes += [helper.make_node("Relu", ["d"], ["y"])]
    m = make_model(nodes, [("x", np.float32, [1, c1, hw, hw])], [("y", np.float32, None)],
                   {"w1": w1, "b1": b1, "w2": w2, "b2": b2})
    x = rng.standard_normal((1, c1, hw, hw)).astype(np.float32)
    c = ov.compile_model(ov.convert_model(m), "CPU", {"OVCC_BF16_ISA": isa})
    assert c.stats.bf16_isa == isa and c.stats.bf16_activations == 1
    got = c([x])[0]
    import torch

    def conv(a, b, s, p):
        return torch.nn.functional.conv2d(torch.tensor(a), torch.tensor(b), stride=s, padding=p).numpy()
    a = bf(np.maximum(conv(bf(x), bf(w1), 1, 1) + b1.reshape(1, -1, 1, 1), 0))  # stored as bf16
    d = conv(a, bf(w2), s2, p2) + b2.reshape(1, -1, 1, 1)
    scale = conv(np.abs(a), np.abs(bf(w2)), s2, p2) + np.abs(b2).reshape(1, -1, 1, 1)
    if s2 == 1:
        d, scale = d + a, scale + np.abs(a)
    want = np.maximum(d, 0)
    err = np.abs(got - want) / (scale + 1e-30)
    assert np.mean(err < 1e-5) > 0.99  # all but the elements next to a rounding edge of `a`
    assert err.max() < 2.0 ** -7  # those are one bf16 step of an element of `a` off


@pytest.mark.parametrize("isa", [pytest.param(i, marks=needs(i)) for i in ("amx", "avx512bf16")])
def test_a_max_pool_between_bf16_convolutions_reads_and_writes_bf16(isa):
    """conv -> MaxPool -> conv: both tensors stored as bf16 (a maximum of bf16-rounded values is
    the rounding of the maximum), the numbers those of bf16-rounded operands."""
    rng = np.random.default_rng(8)
    w1 = rng.standard_normal((32, 16, 3, 3)).astype(np.float32)
    w2 = rng.standard_normal((24, 32, 1, 1)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c"], kernel_shape=[3, 3], pads=[1] * 4),
             helper.make_node("Relu", ["c"], ["a"]),
             helper.make_node("MaxPool", ["a"], ["p"], kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4),
             helper.make_node("Conv", ["p", "w2"], ["y"], kernel_shape=[1, 1])]
    m = make_model(nodes, [("x", np.float32, [1, 16, 37, 37])], [("y", np.float32, None)], {"w1": w1, "w2": w2})
    x = rng.standard_normal((1, 16, 37, 37)).astype(np.float32)
    c = ov.compile_model(ov.convert_model(m), "CPU", {"OVCC_BF16_ISA": isa})
    assert c.stats.bf16_activations == 2
    import torch

    a = torch.relu(torch.nn.functional.conv2d(torch.tensor(bf(x)), torch.tensor(bf(w1)), padding=1))
    p = torch.nn.functional.max_pool2d(torch.tensor(bf(a.numpy())), 3, 2, 1)
    want = torch.nn.functional.conv2d(p, torch.tensor(bf(w2))).numpy()
    scale = torch.nn.functional.conv2d(p.abs(), torch.tensor(np.abs(bf(w2)))).numpy()
    err = np.abs(c([x])[0] - want) / (scale + 1e-30)
    assert np.mean(err < 1e-5) > 0.99 and err.max() < 2.0 ** -7  # `a` next to a rounding edge: one step


@pytest.mark.parametrize("isa", [pytest.param(i, marks=needs(i)) for i in ("amx", "avx512bf16")])
def test_an_element_wise_prologue_of_a_bf16_convolution_stores_bf16(isa):
    """A pre-activation (BatchNorm as Mul + Add, ReLU: DenseNet's) whose result only a bf16
    convolution reads writes it as bf16, which the convolution would round it to anyway: the
    numbers are exactly those of bf16-rounded operands."""
    rng = np.random.default_rng(10)
    s, b = rng.standard_normal((1, 24, 1, 1)).astype(np.float32), rng.standard_normal((1, 24, 1, 1)).astype(np.float32)
    w = rng.standard_normal((40, 24, 1, 1)).astype(np.float32)
    nodes = [helper.make_node("Mul", ["x", "s"], ["m"]), helper.make_node("Add", ["m", "b"], ["a"]),
             helper.make_node("Relu", ["a"], ["r"]), helper.make_node("Conv", ["r", "w"], ["y"], kernel_shape=[1, 1])]
    m = make_model(nodes, [("x", np.float32, [1, 24, 15, 15])], [("y", np.float32, None)], {"s": s, "b": b, "w": w})
    x = rng.standard_normal((1, 24, 15, 15)).astype(np.float32)
    c = ov.compile_model(ov.convert_model(m), "CPU", {"OVCC_BF16_ISA": isa})
    assert c.stats.bf16_activations == 1
    r = np.maximum(x * s + b, 0)  # f32, as the element-wise kernel computes it
    ref, scale = _conv_ref(r, w, 1, 0, 1)
    assert np.max(np.abs(c([x])[0] - ref) / (scale + 1e-30)) < 1e-6


@pytest.mark.parametrize("isa", [pytest.param(i, marks=needs(i)) for i in ("amx", "avx512bf16")])
@pytest.mark.parametrize("stride", [1, 2])
def test_a_depthwise_convolution_between_bf16_convolutions_reads_and_writes_bf16(isa, stride):
    """MobileNet's expand -> depthwise -> project: both tensors stored as bf16; the depthwise
    convolution computes in f32 (f32 weights) from the bf16 values, as OpenVINO's bf16 does."""
    import torch

    rng = np.random.default_rng(11)
    w1 = rng.standard_normal((32, 8, 1, 1)).astype(np.float32)
    wd = rng.standard_normal((32, 1, 3, 3)).astype(np.float32)
    w2 = rng.standard_normal((16, 32, 1, 1)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c"], kernel_shape=[1, 1]), helper.make_node("Relu", ["c"], ["a"]),
             helper.make_node("Conv", ["a", "wd"], ["d"], kernel_shape=[3, 3], pads=[1] * 4, strides=[stride] * 2,
                              group=32),
             helper.make_node("Conv", ["d", "w2"], ["y"], kernel_shape=[1, 1])]
    m = make_model(nodes, [("x", np.float32, [1, 8, 21, 21])], [("y", np.float32, None)],
                   {"w1": w1, "wd": wd, "w2": w2})
    x = rng.standard_normal((1, 8, 21, 21)).astype(np.float32)
    c = ov.compile_model(ov.convert_model(m), "CPU", {"OVCC_BF16_ISA": isa})
    assert c.stats.bf16_activations == 2

    def conv(a, b, **kw):
        return torch.nn.functional.conv2d(torch.tensor(a), torch.tensor(b), **kw).numpy()
    a = bf(np.maximum(conv(bf(x), bf(w1)), 0))
    d = bf(conv(a, wd.astype(np.float64), padding=1, stride=stride, groups=32))
    want, scale = conv(d, bf(w2)), conv(np.abs(d), np.abs(bf(w2)))
    err = np.abs(c([x])[0] - want) / (scale + 1e-30)
    assert np.mean(err < 1e-5) > 0.98 and err.max() < 2.0 ** -6  # elements next to a rounding edge: a step
