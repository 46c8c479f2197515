"""Hostile inputs: every reader, fed the seeded corpus of broken and malicious files (see
corpus.py), refuses each with an OvccError naming the file (the driver's exit code 1), or,
for a mutation that left the file valid, converts, compiles and runs it; no case crashes its
worker, hangs, blows up its memory, exits as an internal error or runs code from a pickle.
A larger random run: `make fuzz-readers`."""

import numpy as np

from tests.hostile.corpus import generate
from tests.hostile.runner import run, summary

SEED = 19


def test_the_seeded_hostile_corpus_is_refused_cleanly(tmp_path):
    cases = generate(tmp_path, np.random.default_rng(SEED))
    assert len(cases) >= 300 and len({c.family for c in cases}) == 5
    outcomes = run(cases, tmp_path, workers=2, log_path=tmp_path / "workers.log")
    print(summary(outcomes))
    bad = [o for o in outcomes if not o.good]
    assert not bad, summary(outcomes)
    # the deliberately broken files are refused, not accepted
    assert all(o.verdict == "refused" for o in outcomes if o.case.must_fail)


def test_a_name_that_is_not_utf8_is_a_clear_refusal(tmp_path):
    """Found by `make fuzz-readers` (a mutated word in a node name): protobuf returns such a
    string field as bytes, and the converter took a TypeError."""
    import onnx
    import pytest
    from onnx import helper

    import compiler as ov
    from dialects.errors import InternalError, ModelFileError

    node = helper.make_node("Relu", ["x"], ["y"], name="NAME")
    vi = [helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, [2]) for n in "xy"]
    model = helper.make_model(helper.make_graph([node], "g", vi[:1], vi[1:]))
    data = model.SerializeToString()
    path = tmp_path / "m.onnx"
    path.write_bytes(data.replace(b"NAME", b"\xf0\xff\xff\xff"))
    with pytest.raises(ModelFileError, match="m.onnx.*not UTF-8") as e:
        ov.convert_model(path)
    assert not isinstance(e.value, InternalError)


def test_caffe_and_paddle_names_that_are_not_utf8_are_clear_refusals(tmp_path):
    """The same for the protobuf files read through our own schemas (proto2 hands the field
    over as bytes there too)."""
    import pytest

    import compiler as ov
    from compiler.frontends.caffe.schema import net_message, weights_message
    from compiler.frontends.paddle.schema import _messages
    from dialects.errors import InternalError, ModelFileError

    net = net_message()()
    net.name = "n"
    net.input.append("data")
    net.input_dim.extend([1, 2, 3, 3])
    layer = net.layer.add()
    layer.name, layer.type = "relu", "ReLU"
    layer.bottom.append("data")
    layer.top.append("out")
    (tmp_path / "n.prototxt").write_text(str(net))
    weights = weights_message()()
    w = weights.layer.add()
    w.name, w.type = "NAME", "ReLU"
    (tmp_path / "n.caffemodel").write_bytes(weights.SerializeToString().replace(b"NAME", b"\xf0\xff\xff\xff"))
    program = _messages()["ProgramDesc"]()
    op = program.blocks.add().ops.add()
    op.type = "NAME"
    (tmp_path / "p.pdmodel").write_bytes(program.SerializeToString().replace(b"NAME", b"\xf0\xff\xff\xff"))
    (tmp_path / "p.pdiparams").write_bytes(b"")
    for path in (tmp_path / "n.caffemodel", tmp_path / "p.pdmodel"):
        with pytest.raises(ModelFileError, match="not UTF-8") as e:
            ov.convert_model(path, **({"input_proto": tmp_path / "n.prototxt"} if path.suffix == ".caffemodel" else {}))
        assert not isinstance(e.value, InternalError) and str(path) in str(e.value)
