"""MXNet frontend: models built and exported by MXNet 1.9.1 itself (Gluon HybridBlocks and a
symbol-API checkpoint, tests/compiler/mxnet_build_models.py, run in MXNet's own virtualenv by
tests/compiler/mxnet_oracle.py), converted without MXNet and run by ovcc's native code; MXNet's
outputs for the same seeded inputs are the oracle. The small models are committed with MXNet's
outputs (tests/data/mxnet, `make mxnet-fixtures`) and need no MXNet; the Gluon model-zoo
networks are built live and skip when MXNet's virtualenv cannot be made. Our IR of the models
runs in OpenVINO to the same outputs. Bad files fail with one line naming the file."""

from __future__ import annotations

import json
import shutil
import struct

import numpy as np
import pytest

import compiler as ov
from compiler.frontends.mxnet.params import DTYPES, V1, V2, V3, read_params
from dialects.errors import ConversionError, InputError, ModelFileError, UnsupportedOpsError
from tests.compiler.mxnet_oracle import FIXTURES, MxnetUnavailable, build_models
from tests.models import F32

COMMITTED = ["resblock", "mobilenet_block", "mlp", "reshape_codes", "pools", "misc", "text", "text_clipped",
             "softmax_output"]
ZOO = ["zoo_mobilenetv2_0_25", "zoo_mobilenet0_25", "zoo_resnet18_v1"]
SOFTMAX_EPOCH = "0003"


@pytest.fixture(scope="module")
def mx_dir():
    """The committed models (tests/data/mxnet), as MXNet 1.9.1 wrote them."""
    return FIXTURES


@pytest.fixture(scope="module")
def mx_live(tmp_path_factory):
    """Every model, built now by MXNet in its virtualenv (skips when it cannot be made)."""
    try:
        return build_models(tmp_path_factory.mktemp("mxnet"))
    except MxnetUnavailable as e:
        pytest.skip(f"MXNet oracle unavailable: {e}")


def _folder(request, name):
    """Where model `name` and MXNet's outputs for it are: committed, or for a zoo net built live."""
    return request.getfixturevalue("mx_live" if name in ZOO else "mx_dir")


def _expected(folder, name):
    """The model's inputs by name and MXNet's outputs, from NAME.npz (in/INPUT..., out/0, out/1, ...)."""
    with np.load(folder / f"{name}.npz") as exp:
        inputs = {k[3:]: exp[k] for k in exp.files if k.startswith("in/")}
        outs = [exp[f"out/{k}"] for k in range(sum(f.startswith("out/") for f in exp.files))]
    return inputs, outs


def _symbol(folder, name):
    return folder / f"{name}-symbol.json"


def _check(got, want, rtol=1e-4, atol=1e-5):
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        assert g.shape == w.shape, f"output {k}: shape {g.shape}, MXNet {w.shape}"
        scale = max(float(np.abs(w).max()), 1.0)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol * scale, err_msg=f"output {k}")


def _shapes(inputs):
    return {n: list(v.shape) for n, v in inputs.items()}


@pytest.mark.parametrize("name", COMMITTED + ZOO)
def test_native_matches_mxnet(request, name):
    folder = _folder(request, name)
    inputs, want = _expected(folder, name)
    model = ov.convert_model(str(_symbol(folder, name)), input=_shapes(inputs))
    results = ov.compile_model(model, "CPU", F32)(inputs)
    _check([results[k] for k in range(len(want))], want)


def test_committed_models_are_what_mxnet_builds(mx_dir, mx_live):
    """The committed set is the live build's small models: the same files, or where MXNet's
    kernels round differently on this CPU, the same inputs and weights and outputs within 1e-5."""
    committed = sorted(p.name for p in mx_dir.iterdir() if p.name != "README.md")
    assert committed == sorted(p.name for p in mx_live.iterdir() if not p.name.startswith("zoo_"))
    assert sorted({n.split("-")[0].split(".")[0] for n in committed} - {"dtypes"}) == sorted(COMMITTED)
    for n in committed:
        if (mx_dir / n).read_bytes() == (mx_live / n).read_bytes():
            continue
        assert n.endswith(".npz"), f"{n} differs from what MXNet writes now (make mxnet-fixtures)"
        with np.load(mx_dir / n) as old, np.load(mx_live / n) as new:
            assert old.files == new.files, n
            for k in old.files:
                if k.startswith("in/"):
                    np.testing.assert_array_equal(old[k], new[k], err_msg=f"{n} {k}")
                else:
                    np.testing.assert_allclose(old[k], new[k], rtol=1e-5, atol=1e-6, err_msg=f"{n} {k}")


@pytest.mark.parametrize("name", ["resblock", "mobilenet_block", "misc"])
def test_our_ir_runs_in_openvino(mx_dir, name, tmp_path):
    import openvino

    inputs, want = _expected(mx_dir, name)
    model = ov.convert_model(str(_symbol(mx_dir, name)), input=_shapes(inputs))
    ov.save_model(model, tmp_path / "m.xml", compress_to_fp16=False)
    results = openvino.Core().compile_model(str(tmp_path / "m.xml"), "CPU", F32)(inputs)
    _check([results[k] for k in range(len(want))], want)


def test_input_shape_from_the_first_convolution(mx_dir):
    """No input= needed when a Convolution reads the input: [?, C, ?, ?], specialized per call."""
    inputs, want = _expected(mx_dir, "resblock")
    model = ov.convert_model(str(_symbol(mx_dir, "resblock")))
    assert str(model.inputs[0].partial_shape) == "[?,4,?,?]"
    _check([ov.compile_model(model, "CPU", F32)(inputs)[0]], want)


def test_a_shape_is_asked_for_when_nothing_gives_it(mx_dir):
    with pytest.raises(InputError, match="shape of input 'data' is not known"):
        ov.convert_model(str(_symbol(mx_dir, "mlp")))


def test_output_names_follow_mxnet(mx_dir):
    model = ov.convert_model(str(_symbol(mx_dir, "softmax_output")), input="data[4,2,3]")
    for port, node in zip(model.outputs, ["softmax", "softmax_m", "softmax_f", "softmax_p"]):
        assert port.get_names() == {node, f"{node}_output"}
    assert [i.any_name for i in model.inputs] == ["data"]  # the labels only train


def test_params_beside_the_symbol_and_the_symbol_beside_the_params(mx_dir, tmp_path):
    inputs, want = _expected(mx_dir, "softmax_output")
    params = mx_dir / f"softmax_output-{SOFTMAX_EPOCH}.params"
    by_params = ov.convert_model(str(params), input="data[4,2,3]")
    _check(list(ov.compile_model(by_params, "CPU", F32)(inputs).values())[:4], want)
    elsewhere = tmp_path / "weights.params"
    shutil.copy(params, elsewhere)
    for model in (ov.convert_model(str(elsewhere), input="data[4,2,3]",
                                   input_symbol=str(_symbol(mx_dir, "softmax_output"))),
                  ov.convert_model(str(_symbol(mx_dir, "softmax_output")), input="data[4,2,3]", params=elsewhere)):
        _check([ov.compile_model(model, "CPU", F32)(inputs)[k] for k in range(4)], want)


def test_outputs_can_name_inner_nodes(mx_dir):
    """output="fc" cuts the checkpoint after its FullyConnected: x W^T + b with the stored W, b."""
    inputs, _ = _expected(mx_dir, "softmax_output")
    stored = read_params(mx_dir / f"softmax_output-{SOFTMAX_EPOCH}.params")
    model = ov.convert_model(str(_symbol(mx_dir, "softmax_output")), input="data[4,2,3]", output="fc")
    got = ov.compile_model(model, "CPU", F32)(inputs)["fc_output"]
    want = inputs["data"].reshape(4, 6) @ stored["arg:fc_weight"].T + stored["arg:fc_bias"]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_ovcc_and_the_model_optimizer_command_lines(mx_dir, tmp_path):
    import openvino

    from compiler.cli import main as ovcc
    from compiler.tools.mo.main import main as mo

    inputs, want = _expected(mx_dir, "mlp")
    assert ovcc([str(_symbol(mx_dir, "mlp")), "--input", "data[3,2,5]", "--output_model", str(tmp_path / "a.xml"),
                 "--compress_to_fp16=False"]) == 0
    assert mo(["--input_model", str(mx_dir / "mlp-0000.params"), "--input_symbol", str(_symbol(mx_dir, "mlp")),
               "--input_shape", "[3,2,5]", "--output_dir", str(tmp_path), "--model_name", "b",
               "--compress_to_fp16=False"]) == 0
    assert mo(["--input_symbol", str(_symbol(mx_dir, "mlp")), "--input_shape", "[3,2,5]", "--output_dir",
               str(tmp_path), "--silent", "--compress_to_fp16=False"]) == 0  # params found beside it
    for xml in ("a.xml", "b.xml", "mlp.xml"):
        results = openvino.Core().compile_model(str(tmp_path / xml), "CPU", F32)(inputs)
        _check([results[k] for k in range(2)], want)


def test_params_dtypes_as_mxnet_saves_them(mx_dir):
    arrays = read_params(mx_dir / "dtypes.params")
    for name in ["float32", "float64", "float16", "uint8", "int32", "int8", "int64"]:
        a = arrays[f"arg:{name}"]
        assert a.dtype == np.dtype(name)
        want = np.arange(6).reshape(2, 3) - (0 if name[0] == "u" else 2)
        np.testing.assert_array_equal(a, want.astype(name))


def test_truncated_params_fail_naming_the_file(mx_dir, tmp_path):
    data = (mx_dir / "resblock-0000.params").read_bytes()
    sym = tmp_path / "cut-symbol.json"
    shutil.copy(_symbol(mx_dir, "resblock"), sym)
    for n in (0, 7, 30, 100, len(data) // 2, len(data) - 3):
        (tmp_path / "cut-0000.params").write_bytes(data[:n])
        with pytest.raises(ModelFileError, match=r"cut-0000\.params: truncated") as e:
            ov.convert_model(str(sym), input="data[2,4,8,8]")
        assert "\n" not in str(e.value)


def test_wrong_magic_numbers(mx_dir, tmp_path):
    data = bytearray((mx_dir / "mlp-0000.params").read_bytes())
    bad = tmp_path / "bad.params"
    bad.write_bytes(struct.pack("<Q", 0x113) + data[8:])
    with pytest.raises(ModelFileError, match=r"bad\.params: not an MXNet \.params file"):
        read_params(bad)
    data[24:28] = struct.pack("<I", 0xF993FACF)  # the first array's magic
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"bad\.params: array 0 starts with 0xF993FACF"):
        read_params(bad)
    bad.write_bytes(bytes(data) + b"\0")
    with pytest.raises(ModelFileError, match="bad.params"):
        read_params(bad)


def test_missing_and_malformed_files(mx_dir, tmp_path):
    sym = tmp_path / "alone-symbol.json"
    shutil.copy(_symbol(mx_dir, "mlp"), sym)
    with pytest.raises(ModelFileError, match=r"alone-symbol\.json: no parameters found beside it"):
        ov.convert_model(str(sym), input="data[3,2,5]")
    with pytest.raises(ModelFileError, match=r"nothing-symbol\.json: no such file"):
        ov.convert_model(str(tmp_path / "nothing-symbol.json"))
    shutil.copy(mx_dir / "mlp-0000.params", tmp_path / "orphan-0000.params")
    with pytest.raises(ModelFileError, match=r"orphan-0000\.params: no symbol found beside it"):
        ov.convert_model(str(tmp_path / "orphan-0000.params"))
    shutil.copy(mx_dir / "mlp-0000.params", tmp_path / "alone-0000.params")
    sym.write_text('{"nodes": [')
    with pytest.raises(ModelFileError, match=r"alone-symbol\.json: not valid JSON"):
        ov.convert_model(str(sym), input="data[3,2,5]")
    sym.write_text('{"nodes": [{"op": "null", "name": "data", "inputs": []}], "heads": [[3, 0, 0]]}')
    with pytest.raises(ModelFileError, match=r"alone-symbol\.json: a head refers to node 3"):
        ov.convert_model(str(sym), input="data[3,2,5]")


def write_params(path, arrays: dict, magic: int = V2) -> None:
    """An NDArray list as MXNet's NDArray::Save writes it, in the array format `magic` (V1, V2, V3,
    or 0 for the one before V1: rank and uint32 dims, no magic)."""
    flags = {v: k for k, v in DTYPES.items()}
    out = [struct.pack("<QQQ", 0x112, 0, len(arrays))]
    for a in arrays.values():
        if magic == 0:
            out.append(struct.pack(f"<I{a.ndim}I", a.ndim, *a.shape))
        else:
            out.append(struct.pack("<I", magic) + (struct.pack("<i", 0) if magic in (V2, V3) else b"")
                       + struct.pack(f"<i{a.ndim}q", a.ndim, *a.shape))
        out.append(struct.pack("<iii", 1, 0, flags[a.dtype.type]) + a.tobytes())
    out.append(struct.pack("<Q", len(arrays)))
    out += [struct.pack("<Q", len(n.encode())) + n.encode() for n in arrays]
    path.write_bytes(b"".join(out))


@pytest.mark.parametrize("magic", [V1, V2, V3, 0], ids=["v1", "v2", "v3", "before_v1"])
def test_every_array_format_reads(mx_dir, tmp_path, magic):
    arrays = read_params(mx_dir / "mlp-0000.params")
    write_params(tmp_path / "w.params", arrays, magic)
    for k, v in read_params(tmp_path / "w.params").items():
        np.testing.assert_array_equal(v, arrays[k])
    inputs, want = _expected(mx_dir, "mlp")
    model = ov.convert_model(str(_symbol(mx_dir, "mlp")), input=_shapes(inputs), params=tmp_path / "w.params")
    _check([ov.compile_model(model, "CPU", F32)(inputs)[k] for k in range(2)], want)


def test_params_that_do_not_fit_the_symbol(mx_dir, tmp_path):
    sym = tmp_path / "swap-symbol.json"
    shutil.copy(_symbol(mx_dir, "resblock"), sym)
    shutil.copy(mx_dir / "mlp-0000.params", tmp_path / "swap-0000.params")
    with pytest.raises(ModelFileError, match=r"swap-0000\.params: holds no arrays for parameters batchnorm0_beta, "):
        ov.convert_model(str(sym), input="data[2,4,8,8]")
    arrays = read_params(mx_dir / "resblock-0000.params")
    name = next(k for k in arrays if k.endswith("conv0_weight"))
    arrays[name] = arrays[name][:, :2].copy()
    write_params(tmp_path / "swap-0000.params", arrays)
    with pytest.raises(ConversionError, match=r"swap-symbol\.json: node '.*conv0_fwd' \(Convolution\): weight"):
        ov.convert_model(str(sym), input="data[2,4,8,8]")


def test_unsupported_ops_are_listed_in_one_error(mx_dir, tmp_path):
    doc = json.loads(_symbol(mx_dir, "mlp").read_text())
    renamed = 0
    for node in doc["nodes"]:
        if node["op"] == "Activation":
            node["op"] = "_contrib_Mystery" if renamed % 2 else "RNN"
            renamed += 1
    (tmp_path / "u-symbol.json").write_text(json.dumps(doc))
    shutil.copy(mx_dir / "mlp-0000.params", tmp_path / "u-0000.params")
    with pytest.raises(UnsupportedOpsError) as e:
        ov.convert_model(str(tmp_path / "u-symbol.json"), input="data[3,2,5]")
    msg = str(e.value)
    assert "RNN (" in msg and "_contrib_Mystery (" in msg and "\n" not in msg
    assert set(e.value.ops) == {"RNN", "_contrib_Mystery"}


@pytest.mark.parametrize("name,shape", [("resblock", "data[2,4,8,8]"), ("reshape_codes", "data[2,3,4,5]")])
def test_mutated_files_convert_or_fail_with_a_refusal(mx_dir, tmp_path, name, shape):
    """Seeded edits of a model's files (bytes of the .params, attributes, inputs, ops and heads of
    the symbol): each converts or raises an OvccError that is not an internal error."""
    from dialects.errors import InternalError, OvccError

    rng = np.random.default_rng(7)
    params = (mx_dir / f"{name}-0000.params").read_bytes()
    text = _symbol(mx_dir, name).read_text()
    for i in range(60):
        p, doc = bytearray(params), json.loads(text)
        nodes = doc["nodes"]
        node = nodes[int(rng.integers(len(nodes)))]
        kind = i % 5
        if kind == 0:
            for k in rng.integers(0, len(p), 3):
                p[k] = int(rng.integers(256))
        elif kind == 1 and node.get("attrs"):
            key = sorted(node["attrs"])[int(rng.integers(len(node["attrs"])))]
            node["attrs"][key] = ["(", "-5", "abc", "(0, 0)", "1e30", "()", "None", "True", "(-9, 3)"][i % 9]
        elif kind == 2:
            node["inputs"] = node["inputs"][:int(rng.integers(3))]
        elif kind == 3:
            node["op"] = ["Reshape", "Pooling", "Convolution", "Concat", "FullyConnected", "BatchNorm", "null"][i % 7]
        else:
            doc["heads"] = [[int(rng.integers(len(nodes))), int(rng.integers(3)), 0]]
        (tmp_path / "f-0000.params").write_bytes(bytes(p))
        (tmp_path / "f-symbol.json").write_text(json.dumps(doc))
        try:
            ov.convert_model(str(tmp_path / "f-symbol.json"), input=shape)
        except InternalError as e:
            pytest.fail(f"mutation {i}: {e}")
        except OvccError as e:
            assert "\n" not in str(e)
