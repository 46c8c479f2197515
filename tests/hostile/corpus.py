"""The hostile-input corpus: broken, mutated and malicious model files for every reader.

`generate(root, rng, scale)` writes one directory per case under `root` and returns the cases.
Each case is a model file (or SavedModel directory) made from a valid seed by one mutation:
truncation, bit flips, or a structural edit that a reader must detect (wrong sizes, offsets,
indices, dims, types, edges, paths, cycles, XML entities, pickles that would run code). Random
mutations may leave a file valid (`must_fail=False`): those must then convert and compile.
ONNX and IR seeds are built here; the framework-written seeds are files in seeds/
(make_seeds.py)."""

from __future__ import annotations

import io
import json
import pickle
import shutil
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SEEDS = Path(__file__).parent / "seeds"
MARKER = "CODE_WAS_EXECUTED"  # a malicious pickle creates this directory in its case's directory


@dataclass(frozen=True)
class Case:
    name: str  # unique, also the case's directory
    family: str  # onnx, ir, tflite, tensorflow, torch
    entry: str  # the model path, relative to the case directory
    must_fail: bool  # a reader must refuse it (False: a random mutation that may be valid)

    def path(self, root: Path) -> Path:
        return root / self.name / self.entry


# --- seeds ---------------------------------------------------------------------------------

def onnx_seed() -> onnx.ModelProto:
    """x[1,3,8,8] -> Conv -> Relu -> Reshape -> MatMul -> Add -> y[1,5]."""
    rng = np.random.default_rng(0)
    inits = {"w": rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "b": np.zeros(4, np.float32),
             "shape": np.array([1, -1], np.int64), "m": rng.standard_normal((144, 5)).astype(np.float32),
             "c": np.ones(5, np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["h"], name="conv", kernel_shape=[3, 3]),
             helper.make_node("Relu", ["h"], ["r"], name="relu"),
             helper.make_node("Reshape", ["r", "shape"], ["f"], name="flat"),
             helper.make_node("MatMul", ["f", "m"], ["p"], name="mm"),
             helper.make_node("Add", ["p", "c"], ["y"], name="add")]
    g = helper.make_graph(nodes, "seed", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def onnx_if_seed() -> onnx.ModelProto:
    """y = If(c) then (x + w) else (x - w), w an initializer of the then-branch."""
    def branch(op, name):
        w = numpy_helper.from_array(np.arange(4, dtype=np.float32), "w" + name)
        return helper.make_graph([helper.make_node(op, ["x", "w" + name], ["o" + name])], name, [],
                                 [helper.make_tensor_value_info("o" + name, TensorProto.FLOAT, [4])], [w])
    g = helper.make_graph([helper.make_node("If", ["c"], ["y"], then_branch=branch("Add", "t"),
                                            else_branch=branch("Sub", "e"))], "cond",
                          [helper.make_tensor_value_info("c", TensorProto.BOOL, []),
                           helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def ir_seed(compress: bool) -> tuple[str, bytes]:
    """The ONNX seed as OpenVINO IR written by ovcc (xml text, bin bytes)."""
    import tempfile

    import compiler as ov

    with tempfile.TemporaryDirectory() as d:
        xml = Path(d) / "m.xml"
        ov.save_model(ov.convert_model(onnx_seed()), xml, compress_to_fp16=compress)
        return xml.read_text(), xml.with_suffix(".bin").read_bytes()


# --- byte-level mutations ------------------------------------------------------------------

def truncations(data: bytes, rng: np.random.Generator, n: int) -> Iterator[tuple[str, bytes]]:
    yield "empty", b""
    for k in sorted(set(int(c) for c in rng.integers(1, max(2, len(data) - 1), n - 1))):
        yield f"cut{k}", data[:k]


def bit_flips(data: bytes, rng: np.random.Generator, n: int) -> Iterator[tuple[str, bytes]]:
    for i in range(n):
        buf = bytearray(data)
        for pos in rng.integers(0, len(buf), int(rng.integers(1, 9))):
            buf[pos] ^= 1 << int(rng.integers(0, 8))
        yield f"flip{i}", bytes(buf)


def word_smashes(data: bytes, rng: np.random.Generator, n: int) -> Iterator[tuple[str, bytes]]:
    """Aligned 32-bit words overwritten with huge, negative or out-of-file values (flatbuffer
    offsets, vector lengths, indices)."""
    values = [0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, len(data), len(data) + 4, 0xFFFFFFF0, 0x40000000]
    for i in range(n):
        buf = bytearray(data)
        pos = 4 * int(rng.integers(0, len(buf) // 4))
        buf[pos:pos + 4] = int(values[int(rng.integers(0, len(values)))]).to_bytes(4, "little")
        yield f"word{i}_{pos}", bytes(buf)


# --- ONNX ----------------------------------------------------------------------------------

OnnxEdit = Callable[[onnx.ModelProto, np.random.Generator], None]


def _init(m: onnx.ModelProto, name: str) -> TensorProto:
    return next(t for t in m.graph.initializer if t.name == name)


def _node(m: onnx.ModelProto, name: str) -> onnx.NodeProto:
    return next(n for n in m.graph.node if n.name == name)


def _external(t: TensorProto, location: str, offset: str = "0", length: str | None = None) -> None:
    t.ClearField("raw_data")
    t.ClearField("float_data")
    t.ClearField("int64_data")
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", offset), ("length", length)):
        if v is not None:
            e = t.external_data.add()
            e.key, e.value = k, v


def _set_attr(node: onnx.NodeProto, attr: onnx.AttributeProto) -> None:
    for i, a in enumerate(node.attribute):
        if a.name == attr.name:
            del node.attribute[i]
            break
    node.attribute.append(attr)


def _huge(rng) -> list[int]:
    return [int(v) for v in rng.choice([2**31, 2**40, 2**62, 2**63 - 1, 10**12, 65536 * 65536], 2)]


ONNX_EDITS: dict[str, OnnxEdit] = {
    "raw_data_short": lambda m, r: setattr(_init(m, "w"), "raw_data",
                                           _init(m, "w").raw_data[:-4 * int(r.integers(1, 9))]),
    "raw_data_long": lambda m, r: setattr(_init(m, "m"), "raw_data", _init(m, "m").raw_data + b"\0" * 4),
    "dims_wrong": lambda m, r: _init(m, "w").dims.__setitem__(0, int(r.integers(5, 99))),
    "dims_negative": lambda m, r: _init(m, "m").dims.__setitem__(1, -int(r.integers(1, 9))),
    "dims_huge": lambda m, r: (_init(m, "w").ClearField("dims"), _init(m, "w").dims.extend(_huge(r))),
    "dims_huge_empty_data": lambda m, r: (_init(m, "c").ClearField("dims"), _init(m, "c").ClearField("raw_data"),
                                          _init(m, "c").dims.extend(_huge(r))),
    "dims_many": lambda m, r: _init(m, "b").dims.extend([1] * int(r.integers(65, 300))),  # numpy: 64 at most
    "data_type_undefined": lambda m, r: setattr(_init(m, "w"), "data_type", 0),
    "data_type_bogus": lambda m, r: setattr(_init(m, "w"), "data_type", int(r.integers(30, 1000))),
    "data_type_string": lambda m, r: setattr(_init(m, "m"), "data_type", TensorProto.STRING),
    "data_type_mismatch": lambda m, r: setattr(_init(m, "shape"), "data_type", TensorProto.FLOAT16),
    "shape_init_garbage": lambda m, r: _init(m, "shape").CopyFrom(numpy_helper.from_array(
        r.integers(-2**62, 2**62, int(r.integers(1, 6))).astype(np.int64), "shape")),
    "shape_init_two_minus_one": lambda m, r: _init(m, "shape").CopyFrom(numpy_helper.from_array(
        np.array([-1, -1], np.int64), "shape")),
    "ext_parent": lambda m, r: _external(_init(m, "w"), "../w.bin"),
    "ext_absolute": lambda m, r: _external(_init(m, "w"), "/etc/passwd"),
    "ext_missing": lambda m, r: _external(_init(m, "w"), "nowhere.bin"),
    "ext_empty_location": lambda m, r: _external(_init(m, "w"), ""),
    "ext_offset_huge": lambda m, r: _external(_init(m, "w"), "data.bin", str(2**62)),
    "ext_offset_negative": lambda m, r: _external(_init(m, "w"), "data.bin", "-16"),
    "ext_offset_text": lambda m, r: _external(_init(m, "w"), "data.bin", "zero"),
    "ext_length_huge": lambda m, r: _external(_init(m, "w"), "data.bin", "0", str(2**40)),
    "ext_length_short": lambda m, r: _external(_init(m, "w"), "data.bin", "0", "12"),
    "ext_symlink_out": lambda m, r: _external(_init(m, "w"), "link.bin"),
    "ext_directory": lambda m, r: _external(_init(m, "w"), "."),
    "ext_nul": lambda m, r: _external(_init(m, "w"), "data\0.bin"),
    "cycle": lambda m, r: (_node(m, "conv").input.__setitem__(0, "r")),
    "cycle_long": lambda m, r: (_node(m, "conv").input.__setitem__(0, "p")),
    "self_loop": lambda m, r: (_node(m, "relu").input.__setitem__(0, "r")),
    "missing_input": lambda m, r: _node(m, "mm").input.__setitem__(1, "nothing"),
    "missing_graph_input": lambda m, r: m.graph.ClearField("input"),
    "output_not_produced": lambda m, r: setattr(m.graph.output[0], "name", "nowhere"),
    "duplicate_output": lambda m, r: _node(m, "add").output.__setitem__(0, "p"),
    "no_nodes": lambda m, r: m.graph.ClearField("node"),
    "no_graph": lambda m, r: m.ClearField("graph"),
    "too_few_inputs": lambda m, r: (_node(m, "mm").ClearField("input"), _node(m, "mm").input.append("f")),
    "too_many_inputs": lambda m, r: _node(m, "relu").input.extend(["h", "h", "h"]),
    "no_outputs": lambda m, r: _node(m, "conv").ClearField("output"),
    "kernel_float": lambda m, r: _set_attr(_node(m, "conv"), helper.make_attribute("kernel_shape", 3.5)),
    "kernel_huge": lambda m, r: _set_attr(_node(m, "conv"), helper.make_attribute("kernel_shape", _huge(r))),
    "kernel_rank": lambda m, r: _set_attr(_node(m, "conv"), helper.make_attribute("kernel_shape", [3, 3, 3, 3])),
    "strides_zero": lambda m, r: _set_attr(_node(m, "conv"), helper.make_attribute("strides", [0, 0])),
    "strides_negative": lambda m, r: _set_attr(_node(m, "conv"), helper.make_attribute("strides", [-1, 1])),
    "strides_huge": lambda m, r: _set_attr(_node(m, "conv"), helper.make_attribute("strides", _huge(r))),
    "pads_negative": lambda m, r: _set_attr(_node(m, "conv"), helper.make_attribute("pads", [-9, -9, -9, -9])),
    "pads_huge": lambda m, r: _set_attr(_node(m, "conv"), helper.make_attribute("pads", [2**40] * 4)),
    "pads_wrong_count": lambda m, r: _set_attr(_node(m, "conv"), helper.make_attribute("pads", [1, 1, 1])),
    "dilations_zero": lambda m, r: _set_attr(_node(m, "conv"), helper.make_attribute("dilations", [0, 0])),
    "group_zero": lambda m, r: _set_attr(_node(m, "conv"), helper.make_attribute("group", 0)),
    "group_wrong": lambda m, r: _set_attr(_node(m, "conv"), helper.make_attribute("group", 7)),
    "auto_pad_bogus": lambda m, r: _set_attr(_node(m, "conv"), helper.make_attribute("auto_pad", "SIDEWAYS")),
    "attr_empty": lambda m, r: _node(m, "conv").attribute.add(),
    "unknown_op": lambda m, r: setattr(_node(m, "relu"), "op_type", "NoSuchOp"),
    "unknown_domain": lambda m, r: setattr(_node(m, "relu"), "domain", "com.evil"),
    "empty_op_type": lambda m, r: setattr(_node(m, "relu"), "op_type", ""),
    "opset_old": lambda m, r: setattr(m.opset_import[0], "version", 1),
    "opset_future": lambda m, r: setattr(m.opset_import[0], "version", 10000),
    "opset_negative": lambda m, r: setattr(m.opset_import[0], "version", -5),
    "no_opset": lambda m, r: m.ClearField("opset_import"),
    "input_no_type": lambda m, r: m.graph.input[0].ClearField("type"),
    "input_elem_undefined": lambda m, r: setattr(m.graph.input[0].type.tensor_type, "elem_type", 0),
    "input_elem_bogus": lambda m, r: setattr(m.graph.input[0].type.tensor_type, "elem_type", 4242),
    "input_sequence": lambda m, r: m.graph.input[0].type.CopyFrom(
        helper.make_sequence_type_proto(helper.make_tensor_type_proto(TensorProto.FLOAT, [1]))),
    "input_dims_huge": lambda m, r: [setattr(d, "dim_value", v) for d, v in
                                     zip(m.graph.input[0].type.tensor_type.shape.dim, _huge(r) * 2)],
    "input_rank_wrong": lambda m, r: m.graph.input[0].type.tensor_type.shape.dim.pop(),
    "input_dims_negative": lambda m, r: setattr(m.graph.input[0].type.tensor_type.shape.dim[1], "dim_value", -3),
    "input_dims_symbolic": lambda m, r: [setattr(d, "dim_param", "N") for d in
                                         m.graph.input[0].type.tensor_type.shape.dim],
    "initializer_unnamed": lambda m, r: setattr(_init(m, "m"), "name", ""),
    "initializer_duplicate": lambda m, r: m.graph.initializer.append(numpy_helper.from_array(
        np.zeros(3, np.float32), "w")),
    "constant_no_value": lambda m, r: _node(m, "mm").CopyFrom(helper.make_node("Constant", [], ["p"], name="mm")),
    "constant_two_values": lambda m, r: _node(m, "mm").CopyFrom(helper.make_node(
        "Constant", [], ["p"], name="mm", value_float=1.0, value_int=2)),
    "ir_version_zero": lambda m, r: setattr(m, "ir_version", 0),
    "ir_version_future": lambda m, r: setattr(m, "ir_version", 99),
}


# edits that leave a valid model: a dynamic input; an attribute without a name (ignored, as
# unknown attributes are)
ONNX_VALID_EDITS = ("input_dims_negative", "input_dims_symbolic", "attr_empty")


def _deep_if(depth: int) -> onnx.ModelProto:
    leaf = helper.make_graph([helper.make_node("Identity", ["x"], ["y0"])], "leaf", [],
                             [helper.make_tensor_value_info("y0", TensorProto.FLOAT, [4])])
    body = leaf
    for i in range(depth):
        out = f"y{i + 1}"
        body = helper.make_graph([helper.make_node("If", ["c"], [out], then_branch=body, else_branch=leaf)],
                                 f"level{i}", [], [helper.make_tensor_value_info(out, TensorProto.FLOAT, [4])])
    g = helper.make_graph(list(body.node), "deep", [helper.make_tensor_value_info("c", TensorProto.BOOL, []),
                                                     helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                          list(body.output))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    def varint(v: int) -> bytes:
        out = b""
        while True:
            out += bytes([(v & 0x7F) | (0x80 if v > 0x7F else 0)])
            v >>= 7
            if not v:
                return out
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def _nested_graphs(depth: int) -> bytes:
    """A ModelProto whose If nodes nest `depth` graphs deep, written field by field (the
    protobuf library refuses to build it)."""
    g = _field(1, _field(4, b"Identity"))
    for _ in range(depth):
        attr = _field(1, b"then_branch") + _field(6, g) + bytes([0xA0, 0x01, 5])  # type = GRAPH
        g = _field(1, _field(4, b"If") + _field(5, attr))
    return bytes([0x08, 8]) + _field(7, g) + _field(8, _field(2, bytes([17])))


IF_EDITS: dict[str, OnnxEdit] = {
    "if_branch_ext_parent": lambda m, r: _external(_branch(m, "then").initializer[0], "../w.bin"),
    "if_branch_ext_absolute": lambda m, r: _external(_branch(m, "else").initializer[0], "/dev/zero", "0", "16"),
    "if_branch_ext_symlink": lambda m, r: _external(_branch(m, "then").initializer[0], "link.bin"),
    "if_branch_ext_missing": lambda m, r: _external(_branch(m, "then").initializer[0], "nowhere.bin"),
    "if_branch_outputs": lambda m, r: _branch(m, "else").output.append(_branch(m, "else").output[0]),
    "if_branch_missing_input": lambda m, r: _branch(m, "then").node[0].input.__setitem__(1, "undefined"),
    "if_no_else": lambda m, r: m.graph.node[0].attribute.pop(),
    "if_branch_wrong_type": lambda m, r: setattr(_branch(m, "then").initializer[0], "data_type", 7),
    "if_condition_missing": lambda m, r: m.graph.node[0].input.__setitem__(0, "undefined"),
}


def _branch(m: onnx.ModelProto, which: str) -> onnx.GraphProto:
    return next(a.g for a in m.graph.node[0].attribute if a.name.startswith(which))


def onnx_cases(rng, scale: int) -> Iterator[tuple[str, dict, bool]]:
    """(name, {relative path: bytes or ("symlink", target)}, must_fail)."""
    seed = onnx_seed()
    data = seed.SerializeToString()
    w = numpy_helper.to_array(_init(seed, "w")).tobytes()
    side = {"data.bin": w, "link.bin": ("symlink", "../outside.bin"), "../outside.bin": w}
    for name, blob in truncations(data, rng, 12 * scale):
        yield f"onnx_trunc_{name}", {"m.onnx": blob}, True
    for name, blob in bit_flips(data, rng, 15 * scale):
        yield f"onnx_{name}", {"m.onnx": blob}, False
    for name, blob in word_smashes(data, rng, 5 * scale):
        yield f"onnx_{name}", {"m.onnx": blob}, False
    yield "onnx_garbage", {"m.onnx": rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()}, True
    yield "onnx_zeros", {"m.onnx": bytes(4096)}, True
    yield "onnx_text", {"m.onnx": b"ir_version: 8\ngraph { node { op_type: 'Relu' } }\n"}, True
    for name, edit in ONNX_EDITS.items():
        for k in range(1 if scale == 1 else scale):
            m = onnx_seed()
            edit(m, rng)
            yield f"onnx_{name}{'' if k == 0 else k}", {"m.onnx": m.SerializeToString(), **side}, \
                name not in ONNX_VALID_EDITS
    for name, edit in IF_EDITS.items():
        m = onnx_if_seed()
        edit(m, rng)
        yield f"onnx_{name}", {"m.onnx": m.SerializeToString(), **side}, True
    deep = _deep_if(20).SerializeToString()
    yield "onnx_if_deep_nesting", {"m.onnx": deep}, False
    yield "onnx_nesting_past_protobuf_limit", {"m.onnx": _nested_graphs(300)}, True
    for name, blob in truncations(deep, rng, 3 * scale):
        yield f"onnx_if_deep_trunc_{name}", {"m.onnx": blob}, True


# --- OpenVINO IR ---------------------------------------------------------------------------

def _xml_edit(xml: str, fn) -> str:
    import xml.etree.ElementTree as ET

    root = ET.fromstring(xml)
    fn(root)
    return ET.tostring(root, encoding="unicode")


def _layer(root, type_: str, k: int = 0):
    return [lay for lay in root.iter("layer") if lay.get("type") == type_][k]


def _data(root, type_: str, k: int = 0):
    return _layer(root, type_, k).find("data")


def _set(el, key, value):
    el.set(key, value)


def _edges(root):
    return root.find("edges")


IR_EDITS: dict[str, Callable] = {
    "offset_past_end": lambda r, g: _set(_data(r, "Const"), "offset", str(10**6)),
    "offset_negative": lambda r, g: _set(_data(r, "Const"), "offset", "-8"),
    "offset_text": lambda r, g: _set(_data(r, "Const"), "offset", "0x10"),
    "offset_huge": lambda r, g: _set(_data(r, "Const"), "offset", str(2**63)),
    "size_small": lambda r, g: _set(_data(r, "Const"), "size", "4"),
    "size_big": lambda r, g: _set(_data(r, "Const"), "size", str(2**40)),
    "size_negative": lambda r, g: _set(_data(r, "Const"), "size", "-1"),
    "size_missing": lambda r, g: _data(r, "Const").attrib.pop("size"),
    "const_shape_huge": lambda r, g: _set(_data(r, "Const"), "shape", ", ".join(str(v) for v in _huge(g))),
    "const_shape_dynamic": lambda r, g: _set(_data(r, "Const"), "shape", "?, 3"),
    "const_shape_negative": lambda r, g: _set(_data(r, "Const"), "shape", "-4, 3"),
    "const_shape_text": lambda r, g: _set(_data(r, "Const"), "shape", "four"),
    "const_shape_many": lambda r, g: _set(_data(r, "Const"), "shape", ", ".join(["1"] * 500)),
    "const_type_bogus": lambda r, g: _set(_data(r, "Const"), "element_type", "f99"),
    "const_type_missing": lambda r, g: _data(r, "Const").attrib.pop("element_type"),
    "const_type_string": lambda r, g: _set(_data(r, "Const"), "element_type", "string"),
    "const_type_u1": lambda r, g: _set(_data(r, "Const"), "element_type", "u1"),
    "const_type_dynamic": lambda r, g: _set(_data(r, "Const"), "element_type", "dynamic"),
    "const_no_data": lambda r, g: _layer(r, "Const").remove(_data(r, "Const")),
    "param_shape_huge": lambda r, g: _set(_data(r, "Parameter"), "shape", "1, 3, 4294967296, 4294967296"),
    "param_shape_text": lambda r, g: _set(_data(r, "Parameter"), "shape", "1,3,x,8"),
    "param_shape_rank0": lambda r, g: _set(_data(r, "Parameter"), "shape", ""),
    "param_shape_dynamic_rank": lambda r, g: _set(_data(r, "Parameter"), "shape", "..."),
    "param_type_bogus": lambda r, g: _set(_data(r, "Parameter"), "element_type", "q7"),
    "param_type_bool": lambda r, g: _set(_data(r, "Parameter"), "element_type", "boolean"),
    "precision_bogus": lambda r, g: _set(next(r.iter("port")), "precision", "GARBAGE"),
    "dims_text": lambda r, g: setattr(next(r.iter("dim")), "text", "many"),
    "dims_huge": lambda r, g: setattr(next(r.iter("dim")), "text", str(2**70)),
    "edge_removed": lambda r, g: _edges(r).remove(_edges(r)[int(g.integers(0, len(_edges(r))))]),
    "edge_duplicated": lambda r, g: _edges(r).append(_edges(r)[1]),
    "edge_missing_layer": lambda r, g: _set(_edges(r)[0], "from-layer", "999"),
    "edge_missing_port": lambda r, g: _set(_edges(r)[0], "to-port", "77"),
    "edge_port_text": lambda r, g: _set(_edges(r)[0], "from-port", "zero"),
    "edge_no_attrs": lambda r, g: _edges(r)[0].attrib.clear(),
    "edges_gone": lambda r, g: r.remove(_edges(r)),
    "edge_cycle": lambda r, g: _cycle(r),
    "edge_self": lambda r, g: _self_edge(r),
    "layer_id_duplicate": lambda r, g: _set(list(r.iter("layer"))[2], "id", list(r.iter("layer"))[1].get("id")),
    "layer_id_missing": lambda r, g: list(r.iter("layer"))[2].attrib.pop("id"),
    "layer_type_missing": lambda r, g: list(r.iter("layer"))[2].attrib.pop("type"),
    "layer_version_missing": lambda r, g: list(r.iter("layer"))[2].attrib.pop("version"),
    "layer_type_unknown": lambda r, g: _set(_layer(r, "ReLU"), "type", "Explode"),
    "layer_version_unknown": lambda r, g: _set(_layer(r, "ReLU"), "version", "opset99"),
    "layer_version_text": lambda r, g: _set(_layer(r, "ReLU"), "version", "experimental"),
    "layer_type_constant": lambda r, g: _set(_layer(r, "Const"), "type", "Constant"),
    "attr_strides_text": lambda r, g: _set(_data(r, "Convolution"), "strides", "a, b"),
    "attr_strides_zero": lambda r, g: _set(_data(r, "Convolution"), "strides", "0, 0"),
    "attr_strides_count": lambda r, g: _set(_data(r, "Convolution"), "strides", "1, 1, 1, 1, 1"),
    "attr_pads_negative": lambda r, g: _set(_data(r, "Convolution"), "pads_begin", "-100, -100"),
    "attr_pads_huge": lambda r, g: _set(_data(r, "Convolution"), "pads_end", f"{2**40}, {2**40}"),
    "attr_dilations_zero": lambda r, g: _set(_data(r, "Convolution"), "dilations", "0, 0"),
    "attr_auto_pad_bogus": lambda r, g: _set(_data(r, "Convolution"), "auto_pad", "sideways"),
    "attr_missing_required": lambda r, g: _data(r, "Convolution").attrib.clear(),
    "attr_special_zero_text": lambda r, g: _set(_data(r, "Reshape"), "special_zero", "maybe"),
    "net_version_12": lambda r, g: _set(r, "version", "12"),
    "net_version_missing": lambda r, g: r.attrib.pop("version"),
    "no_layers": lambda r, g: r.remove(r.find("layers")),
    "no_results": lambda r, g: r.find("layers").remove(_layer(r, "Result")),
    "ports_swapped": lambda r, g: _swap_inputs(r, "MatMul"),
    "input_port_extra": lambda r, g: _layer(r, "ReLU").find("input").append(_layer(r, "ReLU").find("input/port")),
    "output_port_gone": lambda r, g: _layer(r, "ReLU").remove(_layer(r, "ReLU").find("output")),
}


def _cycle(root) -> None:
    """The first op's input 0 fed from the last op before the Result."""
    import xml.etree.ElementTree as ET

    layers = [lay for lay in root.iter("layer") if lay.get("type") not in ("Parameter", "Const", "Result")]
    first, last = layers[0], layers[-1]
    for e in list(_edges(root)):
        if e.get("to-layer") == first.get("id") and e.get("to-port") == "0":
            _edges(root).remove(e)
    port = last.find("output/port").get("id")
    ET.SubElement(_edges(root), "edge", {"from-layer": last.get("id"), "from-port": port,
                                         "to-layer": first.get("id"), "to-port": "0"})


def _self_edge(root) -> None:
    relu = _layer(root, "ReLU")
    for e in _edges(root):
        if e.get("to-layer") == relu.get("id"):
            e.set("from-layer", relu.get("id"))
            e.set("from-port", relu.find("output/port").get("id"))


def _swap_inputs(root, type_: str) -> None:
    lay = _layer(root, type_)
    a, b = [e for e in _edges(root) if e.get("to-layer") == lay.get("id")][:2]
    pa, pb = a.get("to-port"), b.get("to-port")
    a.set("to-port", pb)
    b.set("to-port", pa)


# edits OpenVINO's reader accepts too: port precisions and dims are labels (the reader
# re-infers them), a boolean that is not "true" reads as false
IR_VALID_EDITS = ("precision_bogus", "dims_text", "dims_huge", "param_type_bool", "const_shape_many",
                  "input_port_extra", "attr_special_zero_text")

XML_BOMBS = {
    "billion_laughs": '<?xml version="1.0"?>\n<!DOCTYPE net [<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {c} "{("&" + p + ";") * 10}">' for p, c in zip("abcdefgh", "bcdefghi")) +
        ']>\n<net name="&i;" version="11"><layers/></net>\n',
    "external_entity": '<?xml version="1.0"?>\n<!DOCTYPE net [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
                       '<net name="&x;" version="11"><layers/></net>\n',
    "external_dtd": '<?xml version="1.0"?>\n<!DOCTYPE net SYSTEM "http://127.0.0.1:9/evil.dtd">\n'
                    '<net version="11"><layers/></net>\n',
    "parameter_entity": '<?xml version="1.0"?>\n<!DOCTYPE net [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>\n'
                        '<net version="11"/>\n',
    "quadratic_blowup": '<?xml version="1.0"?>\n<!DOCTYPE net [<!ENTITY a "' + "x" * 50000 + '">]>\n<net name="'
                        + "&a;" * 2000 + '" version="11"/>\n',
    "xinclude": '<?xml version="1.0"?>\n<net version="11" xmlns:xi="http://www.w3.org/2001/XInclude">'
                '<xi:include href="/etc/passwd" parse="text"/><layers/></net>\n',
    "deep_nesting": '<?xml version="1.0"?>\n<net version="11">' + "<a>" * 100000 + "</a>" * 100000 + "</net>\n",
    "not_xml": "\x00\x01\x02 this is not xml at all",
    "wrong_root": '<?xml version="1.0"?>\n<model version="11"/>\n',
    "utf16_garbage": "\ufeff\ud7ff" * 100,
}


def ir_cases(rng, scale: int) -> Iterator[tuple[str, dict, bool]]:
    for compress in (False, True):
        xml, bin_ = ir_seed(compress)
        tag = "f16" if compress else "f32"
        both = {"m.bin": bin_}
        for name, blob in truncations(xml.encode(), rng, 6 * scale):
            yield f"ir_{tag}_xml_trunc_{name}", {"m.xml": blob, **both}, True
        for name, blob in truncations(bin_, rng, 6 * scale):
            yield f"ir_{tag}_bin_trunc_{name}", {"m.xml": xml.encode(), "m.bin": blob}, True
        for name, blob in bit_flips(xml.encode(), rng, 6 * scale):
            yield f"ir_{tag}_xml_{name}", {"m.xml": blob, **both}, False
        for name, blob in bit_flips(bin_, rng, 2 * scale):
            yield f"ir_{tag}_bin_{name}", {"m.xml": xml.encode(), "m.bin": blob}, False
        yield f"ir_{tag}_bin_missing", {"m.xml": xml.encode()}, True
        yield f"ir_{tag}_bin_is_directory", {"m.xml": xml.encode(), "m.bin/x": b""}, True
        if compress:
            continue
        for name, edit in IR_EDITS.items():
            yield f"ir_{name}", {"m.xml": _xml_edit(xml, lambda r, e=edit: e(r, rng)).encode(), **both}, \
                name not in IR_VALID_EDITS
    for name, text in XML_BOMBS.items():
        yield f"ir_bomb_{name}", {"m.xml": text.encode("utf-8", "surrogatepass"), "m.bin": b""}, True


# --- TensorFlow Lite -----------------------------------------------------------------------

def _tflite_schema():
    from compiler.frontends.tensorflow.tflite import schema

    return schema()


def _tflite_edit(data: bytes, fn) -> bytes:
    import flatbuffers

    fb = _tflite_schema()
    model = fb.ModelT.InitFromPackedBuf(bytearray(data), 0)
    fn(model)
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _sg(m):
    return m.subgraphs[0]


def _conv_op(m):
    return next(op for op in _sg(m).operators if len(op.inputs) >= 2)


TFLITE_EDITS: dict[str, Callable] = {
    "buffer_index_past_end": lambda m, g: setattr(_sg(m).tensors[_conv_op(m).inputs[1]], "buffer", 10**6),
    "buffer_index_negative": lambda m, g: setattr(_sg(m).tensors[_conv_op(m).inputs[1]], "buffer", 2**32 - 1),
    "buffer_short": lambda m, g: setattr(m.buffers[_sg(m).tensors[_conv_op(m).inputs[1]].buffer], "data",
                                         m.buffers[_sg(m).tensors[_conv_op(m).inputs[1]].buffer].data[:5]),
    "buffer_offset_bad": lambda m, g: (setattr(m.buffers[1], "offset", 2**40), setattr(m.buffers[1], "size", 64)),
    "tensor_index_past_end": lambda m, g: _conv_op(m).inputs.__setitem__(0, 9999),
    "tensor_index_negative_two": lambda m, g: _conv_op(m).inputs.__setitem__(0, -2),
    "output_index_past_end": lambda m, g: _conv_op(m).outputs.__setitem__(0, 9999),
    "subgraph_input_past_end": lambda m, g: _sg(m).inputs.__setitem__(0, 4242),
    "subgraph_output_past_end": lambda m, g: _sg(m).outputs.__setitem__(0, 4242),
    "no_subgraphs": lambda m, g: setattr(m, "subgraphs", []),
    "no_operators": lambda m, g: setattr(_sg(m), "operators", []),
    "opcode_index_past_end": lambda m, g: setattr(_conv_op(m), "opcodeIndex", 500),
    "opcode_builtin_bogus": lambda m, g: [setattr(c, "builtinCode", 9999) or setattr(c, "deprecatedBuiltinCode", 127)
                                          for c in m.operatorCodes],
    "shape_huge": lambda m, g: setattr(_sg(m).tensors[_conv_op(m).inputs[1]], "shape",
                                       [2**31 - 1, 2**31 - 1, 65536, 65536]),
    "shape_negative": lambda m, g: setattr(_sg(m).tensors[_conv_op(m).inputs[1]], "shape", [-5, 3, 3, 3]),
    "shape_rank_wrong": lambda m, g: setattr(_sg(m).tensors[_conv_op(m).inputs[1]], "shape", [4]),
    "input_shape_huge": lambda m, g: setattr(_sg(m).tensors[_sg(m).inputs[0]], "shape", [1, 2**31 - 1, 2**31 - 1, 3]),
    "input_shape_zero": lambda m, g: setattr(_sg(m).tensors[_sg(m).inputs[0]], "shape", [0, 8, 8, 3]),
    "tensor_type_bogus": lambda m, g: setattr(_sg(m).tensors[_conv_op(m).inputs[1]], "type", 99),
    "tensor_type_string": lambda m, g: setattr(_sg(m).tensors[_conv_op(m).inputs[1]], "type", 5),
    "options_missing": lambda m, g: (setattr(_conv_op(m), "builtinOptions", None),
                                     setattr(_conv_op(m), "builtinOptionsType", 0)),
    "quantization_bogus": lambda m, g: _bogus_quant(m),
    "version_bogus": lambda m, g: setattr(m, "version", 99),
}


# edits that leave a model TFLite runs: an empty batch, a huge input, default options, quantization
# parameters on a float tensor (ignored), another schema version number
TFLITE_VALID_EDITS = ("input_shape_huge", "input_shape_zero", "options_missing", "quantization_bogus",
                      "version_bogus")


def _bogus_quant(m) -> None:
    fb = _tflite_schema()
    q = fb.QuantizationParametersT()
    q.scale, q.zeroPoint, q.quantizedDimension = [0.5, 0.25], [0, 0, 0], 7
    _sg(m).tensors[_conv_op(m).inputs[1]].quantization = q


def tflite_cases(rng, scale: int) -> Iterator[tuple[str, dict, bool]]:
    data = (SEEDS / "small.tflite").read_bytes()
    for name, blob in truncations(data, rng, 6 * scale):
        yield f"tflite_trunc_{name}", {"m.tflite": blob}, True
    for name, blob in bit_flips(data, rng, 8 * scale):
        yield f"tflite_{name}", {"m.tflite": blob}, False
    for name, blob in word_smashes(data, rng, 12 * scale):
        yield f"tflite_{name}", {"m.tflite": blob}, False
    yield "tflite_garbage", {"m.tflite": rng.integers(0, 256, 2048, dtype=np.uint8).tobytes()}, True
    yield "tflite_root_offset_huge", {"m.tflite": (2**31).to_bytes(4, "little") + data[4:]}, True
    yield "tflite_wrong_identifier", {"m.tflite": data[:4] + b"XXXX" + data[8:]}, False
    for name, edit in TFLITE_EDITS.items():
        yield f"tflite_{name}", {"m.tflite": _tflite_edit(data, lambda m, e=edit: e(m, rng))}, \
            name not in TFLITE_VALID_EDITS


# --- TensorFlow GraphDef and SavedModel ----------------------------------------------------

def tensorflow_cases(rng, scale: int) -> Iterator[tuple[str, dict, bool]]:
    pb = (SEEDS / "small.pb").read_bytes()
    pbtxt = (SEEDS / "small.pbtxt").read_bytes()
    for name, blob in truncations(pb, rng, 4 * scale):
        yield f"pb_trunc_{name}", {"m.pb": blob}, name == "empty"
    for name, blob in bit_flips(pb, rng, 5 * scale):
        yield f"pb_{name}", {"m.pb": blob}, False
    yield "pb_garbage", {"m.pb": rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()}, True
    for name, blob in truncations(pbtxt, rng, 3 * scale):
        yield f"pbtxt_trunc_{name}", {"m.pbtxt": blob}, False
    text = pbtxt.decode()
    for name, new in [("pbtxt_bad_token", text.replace("node {", "node {{", 1)),
                      ("pbtxt_binary", "\x00\xff" * 50),
                      ("pbtxt_shape_huge", text.replace("size: 3", "size: 4611686018427387904", 1)),
                      ("pbtxt_unknown_op", text.replace('op: "Relu"', 'op: "LaunchMissiles"', 1)),
                      ("pbtxt_dangling_input", text.replace('input: "x"', 'input: "ghost"', 1)),
                      ("pbtxt_cycle", text.replace('input: "x"', 'input: "Identity"', 1)),
                      ("pbtxt_bad_tensor_content", _bad_tensor_content(text))]:
        yield name, {"m.pbtxt": new.encode("utf-8", "surrogatepass")}, True
    sm = SEEDS / "saved_model"
    files = {str(p.relative_to(sm)): p.read_bytes() for p in sm.rglob("*") if p.is_file()}

    def saved(**changes):
        out = {f"sm/{k}": v for k, v in files.items()}
        out.update({f"sm/{k}": v for k, v in changes.items() if v is not None})
        for k, v in changes.items():
            if v is None:
                out.pop(f"sm/{k}")
        return out
    proto = files["saved_model.pb"]
    yield "savedmodel_pb_garbage", saved(**{"saved_model.pb": b"\x08\x01garbage" * 20}), True
    yield "savedmodel_pb_empty", saved(**{"saved_model.pb": b""}), True
    yield "savedmodel_no_variables", saved(**{"variables/variables.index": None,
                                              "variables/variables.data-00000-of-00001": None}), True
    yield "savedmodel_variables_garbage", saved(**{"variables/variables.data-00000-of-00001": b"\xff" * 211}), False
    yield "savedmodel_index_garbage", saved(**{"variables/variables.index": b"\x00" * 197}), True
    for name, blob in truncations(proto, rng, 3 * scale):
        yield f"savedmodel_trunc_{name}", saved(**{"saved_model.pb": blob}), True
    for name, blob in bit_flips(proto, rng, 2 * scale):
        yield f"savedmodel_{name}", saved(**{"saved_model.pb": blob}), False
    yield "savedmodel_not_a_dir_entry", {"sm/nothing_here": b""}, True


def _bad_tensor_content(text: str) -> str:
    i = text.find("tensor_content:")
    if i < 0:
        return text + "\nnode { name: 'c' op: 'Const' attr { key: 'value' value { tensor { dtype: DT_FLOAT " \
                      "tensor_shape { dim { size: 1000 } } tensor_content: 'abc' } } } }\n"
    j = text.find("\n", i)
    return text[:i] + 'tensor_content: "\\001\\002\\003"' + text[j:]


# --- PyTorch archives ----------------------------------------------------------------------

class _Exec:
    """Pickles to a call of os.mkdir(MARKER): a pickle that runs code when it is loaded."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        import os

        return os.mkdir, (self.path,)


def evil_pickle(case_dir: str) -> bytes:
    return pickle.dumps(_Exec(f"{case_dir}/{MARKER}"), protocol=2)


def _rezip(data: bytes, replace: dict[str, bytes | None], add: dict[str, bytes] | None = None) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for info in src.infolist():
            key = next((k for k in replace if info.filename.endswith(k)), None)
            if key is None:
                z.writestr(info, src.read(info.filename))
            elif replace[key] is not None:
                z.writestr(info, replace[key])
        for name, blob in (add or {}).items():
            z.writestr(name, blob)
    return out.getvalue()


def torch_cases(rng, scale: int, case_dir: Callable[[str], str]) -> Iterator[tuple[str, dict, bool]]:
    """`case_dir(name)` is the absolute directory of a case (where a pickle would leave MARKER)."""
    pt2 = (SEEDS / "small.pt2").read_bytes()
    pt = (SEEDS / "small.pt").read_bytes()
    for name, blob in truncations(pt2, rng, 3 * scale):
        yield f"pt2_trunc_{name}", {"m.pt2": blob}, True
    for name, blob in bit_flips(pt2, rng, 3 * scale):
        yield f"pt2_{name}", {"m.pt2": blob}, False
    for name, blob in truncations(pt, rng, 2 * scale):
        yield f"pt_trunc_{name}", {"m.pt": blob}, True
    yield "pt2_not_zip", {"m.pt2": b"PK\x03\x04" + bytes(200)}, True
    yield "pt_not_zip", {"m.pt": rng.integers(0, 256, 1000, dtype=np.uint8).tobytes()}, True
    config = json.loads(zipfile.ZipFile(io.BytesIO(pt2)).read("small/data/weights/model_weights_config.json"))

    def pickled_weight(name):
        c = json.loads(json.dumps(config))
        c["config"]["0.weight"]["use_pickle"] = True
        return _rezip(pt2, {"weights/model_weights_config.json": json.dumps(c).encode(),
                            "weights/weight_0": evil_pickle(case_dir(name))})

    def opaque_constant(name, prefix):
        c = {"config": {"evil": {"path_name": f"{prefix}0", "is_param": False, "use_pickle": True,
                                 "tensor_meta": None}}}
        return _rezip(pt2, {"constants/model_constants_config.json": json.dumps(c).encode()},
                      {f"small/data/constants/{prefix}0": evil_pickle(case_dir(name))})
    evil = {
        "pt2_pickled_weight_executes": lambda n: {"m.pt2": pickled_weight(n)},
        "pt2_opaque_constant_executes": lambda n: {"m.pt2": opaque_constant(n, "opaque_obj_")},
        "pt2_custom_object_executes": lambda n: {"m.pt2": opaque_constant(n, "custom_obj_")},
        "pt2_tensor_constant_executes": lambda n: {"m.pt2": opaque_constant(n, "tensor_")},
        "pt2_sample_inputs_execute": lambda n: {"m.pt2": _rezip(pt2, {"sample_inputs/model.pt": evil_pickle(
            case_dir(n))})},
        "pt2_sample_inputs_zip_execute": lambda n: {"m.pt2": _rezip(pt2, {"sample_inputs/model.pt": _torch_save_zip(
            evil_pickle(case_dir(n)))})},
        "pt_saved_module_executes": lambda n: {"m.pt": _torch_save_zip(evil_pickle(case_dir(n)))},
        "pt_script_data_executes": lambda n: {"m.pt": _rezip(pt, {"/data.pkl": evil_pickle(case_dir(n))})},
        "pt_script_constants_execute": lambda n: {"m.pt": _rezip(pt, {"/constants.pkl": evil_pickle(case_dir(n))})},
        "pt_script_traced_inputs_execute": lambda n: {"m.pt": _rezip(pt, {"/traced_inputs.pkl": evil_pickle(
            case_dir(n))})},
        "pt_raw_pickle_executes": lambda n: {"m.pt": evil_pickle(case_dir(n))},
        "pt2_raw_pickle_executes": lambda n: {"m.pt2": evil_pickle(case_dir(n))},
    }
    for name, make in evil.items():  # torch.jit.load ignores traced_inputs.pkl: the file stays valid
        yield name, make(name), name != "pt_script_traced_inputs_execute"
    yield "pt2_model_json_garbage", {"m.pt2": _rezip(pt2, {"models/model.json": b"{not json"})}, True
    yield "pt2_model_json_empty_graph", {"m.pt2": _rezip(pt2, {"models/model.json": b"{}"})}, True
    yield "pt2_weights_config_garbage", {"m.pt2": _rezip(pt2, {"weights/model_weights_config.json": b"[1,2"})}, True
    yield "pt2_weight_missing", {"m.pt2": _rezip(pt2, {"weights/weight_2": None})}, True
    yield "pt2_weight_short", {"m.pt2": _rezip(pt2, {"weights/weight_2": b"\0" * 16})}, True
    yield "pt2_version_bogus", {"m.pt2": _rezip(pt2, {"archive_version": b"99999"})}, False
    yield "pt_code_garbage", {"m.pt": _rezip(pt, {"modules/linear.py": b"def forward(self, x):\n  return (((\n"})}, \
        True
    yield "pt_code_missing", {"m.pt": _rezip(pt, {"modules/linear.py": None})}, True
    yield "pt_zip_entry_traversal", {"m.pt": _rezip(pt, {}, {"../../evil.py": b"x = 1"})}, False


def _torch_save_zip(data_pkl: bytes) -> bytes:
    """A torch.save-style archive (archive/data.pkl, no code/) around a pickle."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", data_pkl)
        z.writestr("archive/version", b"3\n")
        z.writestr("archive/byteorder", b"little")
    return out.getvalue()


# --- the corpus ----------------------------------------------------------------------------

FAMILIES = ("onnx", "ir", "tflite", "tensorflow", "torch")
ENTRY = {"onnx": "m.onnx", "tflite": "m.tflite"}


def generate(root: Path, rng: np.random.Generator, scale: int = 1, families=FAMILIES) -> list[Case]:
    """Write the cases under `root` (one directory each) and return them."""
    root = Path(root)
    makers = {"onnx": lambda: onnx_cases(rng, scale), "ir": lambda: ir_cases(rng, scale),
              "tflite": lambda: tflite_cases(rng, scale), "tensorflow": lambda: tensorflow_cases(rng, scale),
              "torch": lambda: torch_cases(rng, scale, lambda n: str((root / n).resolve()))}
    cases = []
    for family in families:
        for name, files, must_fail in makers[family]():
            d = root / name
            if d.exists():
                shutil.rmtree(d)
            d.mkdir(parents=True)
            for rel, content in files.items():
                p = d / rel
                p.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(content, tuple):
                    p.symlink_to(content[1])
                else:
                    p.write_bytes(content)
            entry = next((k for k in ("m.onnx", "m.xml", "m.tflite", "m.pb", "m.pbtxt", "m.pt2", "m.pt")
                          if k in files), "sm")
            cases.append(Case(name, family, entry, must_fail))
    return cases
