"""OpenVINO IR v11 writer: an `ov` module to `model.xml` + `model.bin`.

Every op is written as the layer its class declares (`IR_TYPE`, `OPSET`) with its attributes
spelled as the op declares them; `ov.Fused` groups are written as the ops inside them. Constant
blobs are stored once each (identical bytes share one range of the .bin). With compression,
f32 constants are stored as f16 followed by a Convert marked as decompression, as OpenVINO does;
and as OpenVINO does, a model that is optimized already (it holds a FakeQuantize, or weights
decompressed from integers) is not compressed: f16 would move its quantizers' ranges off the
grids they were calibrated on (0.0 no longer a level) and round its weights' scales."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr as _quoteattr

import numpy as np
from xdsl.dialects import func
from xdsl.ir import Block, SSAValue

from compiler.frontends.builder import layer_name, tensor_names
from compiler.model import Model
from dialects.errors import ModelFileError, OvccError
from dialects.ov import Const, OvOp, dtype_of, ov_type_name, shape_of
from dialects.ov.fused import inline_fused

PRECISION = {"f32": "FP32", "f16": "FP16", "bf16": "BF16", "f64": "FP64", "i8": "I8", "i16": "I16",
             "i32": "I32", "i64": "I64", "u8": "U8", "u16": "U16", "u32": "U32", "u64": "U64", "boolean": "BOOL"}
F16_MAX = 65504.0


# characters XML 1.0 cannot hold, not even as references (names read from a binary file may have them)
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def quoteattr(value: str) -> str:
    return _quoteattr(_NOT_XML.sub("\ufffd", value))


def _dims(shape) -> str:
    return "".join(f"<dim>{-1 if d is None else d}</dim>" for d in shape)


@dataclass(frozen=True)
class _Port:
    """Where a value comes from in the IR: a layer's output port, with its type."""

    layer: int
    port: int
    precision: str
    dims: str


def _port_xml(pid: int, precision: str, dims: str, names: list[str] = ()) -> str:
    n = f" names={quoteattr(','.join(x.replace(',', chr(92) + ',') for x in names))}" if names else ""
    return f'<port id="{pid}" precision="{precision}"{n}>{dims}</port>'


def _type_of(v: SSAValue) -> tuple[str, str]:
    return PRECISION[ov_type_name(dtype_of(v.type))], _dims(shape_of(v.type))


@dataclass
class _Writer:
    compress: bool
    extra_names: dict[SSAValue, list[str]]
    layers: list[str] = field(default_factory=list)
    edges: list[tuple[int, int, int, int]] = field(default_factory=list)
    blobs: list[bytes] = field(default_factory=list)
    blob_offsets: dict[bytes, tuple[int, int]] = field(default_factory=dict)
    bin_size: int = 0
    source: dict[SSAValue, _Port] = field(default_factory=dict)
    used_names: set[str] = field(default_factory=set)

    def names_for(self, v: SSAValue | None, names: list[str]) -> list[str]:
        """Tensor names of a port: for model outputs the output's first (the names readers show
        for the output), then its own; each once."""
        extra = self.extra_names.get(v, []) if v is not None else []
        out = [n for n in dict.fromkeys(extra + list(names)) if n not in self.used_names]
        self.used_names.update(out)
        return out

    def blob(self, data: bytes) -> tuple[int, int]:
        key = hashlib.sha256(data).digest()
        if key not in self.blob_offsets:
            self.blob_offsets[key] = (self.bin_size, len(data))
            self.blobs.append(data)
            self.bin_size += len(data)
        return self.blob_offsets[key]

    def layer(self, type_: str, version: str, name: str, data: dict[str, str], inputs: list[_Port],
              outputs: list[tuple[str, str, list[str]]], rt_info: str = "") -> int:
        """Append a layer; `outputs` are (precision, dims, names) per output port."""
        lid = len(self.layers)
        d = (" <data " + " ".join(f"{k}={quoteattr(v)}" for k, v in data.items()) + "/>") if data else ""
        ins = "".join(_port_xml(i, p.precision, p.dims) for i, p in enumerate(inputs))
        outs = "".join(_port_xml(len(inputs) + i, prec, dims, names) for i, (prec, dims, names) in enumerate(outputs))
        body = d + (f" <rt_info>{rt_info}</rt_info>" if rt_info else "") + (f" <input>{ins}</input>" if ins else "") \
            + (f" <output>{outs}</output>" if outs else "")
        self.layers.append(f'  <layer id="{lid}" name={quoteattr(name)} type="{type_}" version="{version}">'
                           f"{body} </layer>")
        for i, p in enumerate(inputs):
            self.edges.append((p.layer, p.port, lid, i))
        return lid

    def value_layer(self, type_: str, version: str, name: str, data: dict[str, str], inputs: list[_Port],
                    outputs: list[SSAValue], own_names: list[list[str]], rt_info: str = "") -> None:
        outs = [(*_type_of(v), self.names_for(v, n)) for v, n in zip(outputs, own_names)]
        lid = self.layer(type_, version, name, data, inputs, outs, rt_info)
        for i, v in enumerate(outputs):
            self.source[v] = _Port(lid, len(inputs) + i, *_type_of(v))

    def const(self, op: Const, name: str, names: list[str]) -> None:
        arr = op.array
        compress = self.compress and arr.dtype == np.float32 and arr.size > 0 and np.isfinite(arr).all() \
            and float(np.abs(arr).max()) <= F16_MAX
        stored = arr.astype(np.float16) if compress else arr
        # an empty constant gets one byte, as OpenVINO writes it (its reader refuses a 0-byte one)
        offset, size = self.blob(np.require(stored, requirements="C").tobytes() or b"\0")
        data = {"element_type": ov_type_name(stored.dtype), "shape": ", ".join(str(d) for d in arr.shape),
                "offset": str(offset), "size": str(size)}
        if not compress:
            self.value_layer("Const", "opset1", name, data, [], [op.output], [names])
            return
        dims = _dims(arr.shape)
        lid = self.layer("Const", "opset1", name + "_compressed", data, [], [(PRECISION["f16"], dims, [])])
        self.value_layer("Convert", "opset1", name, {"destination_type": "f32"}, [_Port(lid, 0, "FP16", dims)],
                         [op.output], [names], rt_info='<attribute name="decompression" version="0"/>')

    def block(self, block: Block) -> list[SSAValue]:
        for i, op in enumerate(block.ops):
            if isinstance(op, func.ReturnOp):
                return list(op.operands)
            name = layer_name(op) or f"{op.name[3:]}_{i}"
            if isinstance(op, Const):
                self.const(op, name, tensor_names(op, 0))
            elif isinstance(op, OvOp):
                type_, version, data = op.ir_layer()
                self.value_layer(type_, version, name, data, [self.source[v] for v in op.inputs],
                                 list(op.outputs), [tensor_names(op, k) for k in range(len(op.outputs))])
            else:
                raise OvccError(f"IR writer: cannot write {op.name}")
        return []


def _serialize(model: Model, compress_to_fp16: bool) -> tuple[str, bytes]:
    fn = model.function
    ret = fn.body.block.last_op
    extra: dict[SSAValue, list[str]] = {}
    for port, v in zip(model.outputs, ret.operands):
        extra.setdefault(v, []).extend(port._names)
    w = _Writer(compress_to_fp16, extra)
    for port, arg in zip(model.inputs, fn.body.block.args):
        shape = ",".join("?" if d is None else str(d) for d in port.partial_shape)
        w.value_layer("Parameter", "opset1", port.name if port._names else f"Parameter_{port.index}",
                      {"shape": shape, "element_type": ov_type_name(port.dtype)}, [], [arg], [sorted(port.names)])
    outs = w.block(fn.body.block)
    for port, v in zip(model.outputs, outs):
        w.layer("Result", "opset1", f"{port.name}/sink_port_0", {}, [w.source[v]], [])
    edges = "\n".join(f'    <edge from-layer="{a}" from-port="{b}" to-layer="{c}" to-port="{d}"/>'
                      for a, b, c, d in w.edges)
    xml = (f'<?xml version="1.0"?>\n<net name={quoteattr(model.friendly_name)} version="11">\n <layers>\n'
           + "\n".join(w.layers) + "\n </layers>\n <edges>\n" + edges + "\n </edges>\n"
           ' <rt_info>\n  <Runtime_version value="ovcc"/>\n </rt_info>\n</net>\n')
    return xml, b"".join(w.blobs)


def is_optimized(model: Model) -> bool:
    """OpenVINO's `is_model_optimized`: a FakeQuantize, or a Multiply of integer weights made
    float (Convert of an 8-bit integer constant, optionally less a zero point) by a constant."""
    def from_integers(v: SSAValue) -> bool:
        conv = getattr(v, "op", None)
        if isinstance(conv, OvOp) and conv.IR_TYPE == "Subtract":
            conv = getattr(conv.inputs[0], "op", None)
        if not (isinstance(conv, OvOp) and conv.IR_TYPE == "Convert"):
            return False
        src = getattr(conv.inputs[0], "op", None)
        return isinstance(src, Const) and src.array.dtype.kind in "iu" and src.array.dtype.itemsize == 1

    for op in model.module.walk():
        if not isinstance(op, OvOp):
            continue
        if op.IR_TYPE == "FakeQuantize":
            return True
        if op.IR_TYPE == "Multiply" and any(from_integers(a) and isinstance(getattr(b, "op", None), Const)
                                             for a, b in (op.inputs, op.inputs[::-1])):
            return True
    return False


def prepare(model: Model, compress_to_fp16: bool = False) -> Model:
    """A copy of the model as the IR holds it: fused groups inlined, constants folded; with
    f16 compression BatchNorm is also folded into the weights first, as OpenVINO does
    (compressing the statistics apart from the weights cost resnet50 6x the error)."""
    from passes import PIPELINES
    from passes.pipeline import run_pipeline

    model = model.clone()
    inline_fused(model.function.body.block)
    run_pipeline(model.module, PIPELINES["ir"] + (",fold-batchnorm,fold-constants,dce" if compress_to_fp16 else ""))
    return model


def ir_xml_text(model: Model, compress_to_fp16: bool = True) -> str:
    compress_to_fp16 = compress_to_fp16 and not is_optimized(model)
    return _serialize(prepare(model, compress_to_fp16), compress_to_fp16)[0]


def _temp_beside(path: Path) -> tuple[int, str]:
    """A new file in `path`'s directory, created 0666 so that the kernel applies the process
    umask as it does for a plain open() (the umask is never read or changed: other threads see
    it as it was)."""
    for _ in range(100):
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def _atomic_pair(xml_path: Path, xml: str, data: bytes, bin_path: Path | None = None) -> None:
    """Write both files under temporary names, then move them into place: the old .xml goes
    first, the new .xml last, so a crash never leaves an .xml that points into the wrong .bin."""
    bin_path = bin_path or xml_path.with_suffix(".bin")
    tmps = []
    try:
        for target, payload in ((bin_path, data), (xml_path, xml.encode())):
            fd, tmp = _temp_beside(target)
            tmps.append(tmp)
            with os.fdopen(fd, "wb") as f:
                f.write(payload)
                f.flush()
                os.fsync(f.fileno())
        if xml_path.exists():
            xml_path.unlink()
        os.replace(tmps[0], bin_path)
        os.replace(tmps[1], xml_path)
    except OSError as e:
        for t in tmps:
            if os.path.exists(t):
                os.unlink(t)
        raise ModelFileError(f"{xml_path}: cannot write the IR ({e.strerror or e})") from None


def write_ir(model: Model, path: Path, compress_to_fp16: bool = True, bin_path: Path | None = None) -> None:
    """`bin_path`: where the weights go (by default beside the .xml, with its name)."""
    path = Path(path)
    if path.suffix.lower() != ".xml":
        raise ModelFileError(f"{path}: the IR file name must end in .xml")
    for p in (path, Path(bin_path) if bin_path is not None else None):
        if p is not None and not p.parent.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
    compress_to_fp16 = compress_to_fp16 and not is_optimized(model)
    xml, data = _serialize(prepare(model, compress_to_fp16), compress_to_fp16)
    _atomic_pair(path, xml, data, Path(bin_path) if bin_path is not None else None)
