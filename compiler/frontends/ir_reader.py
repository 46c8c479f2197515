"""OpenVINO IR (v10/v11 .xml + .bin) reader into the `ov` dialect.

The XML goes through defusedxml (no DTDs, entities or external references). Every structural
problem (missing .bin, blobs outside it, wrong sizes, unknown layers, dangling or duplicate
edges, cycles) is a ModelFileError naming the file and the layer. Older op versions are
mapped onto the version the dialect defines (`UPGRADES`)."""

from __future__ import annotations

import heapq
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import SSAValue

from compiler.frontends import ir_control  # noqa: F401  (registers TensorIterator, Loop and If)
from compiler.frontends.builder import FrontendContext, GraphBuilder, add_tensor_name, set_layer_name
from compiler.frontends.cut import as_output, drop_unused_inputs, resolve, unknown_names_error
from compiler.frontends.inputs import InputSpec
from compiler.frontends.ir_upgrades import UPGRADES, layer_attrs
from dialects.errors import ConversionError, ModelFileError, OvccError, ShapeError, UnsupportedOpsError
from dialects.ov import OPS
from dialects.ov.base import Type
from dialects.ov.extension import CUSTOM_OPS

_TYPE = Type()


class _Layer:
    def __init__(self, el, where: str):
        self.el = el
        for key in ("id", "type", "version"):
            if el.get(key) is None:
                raise ModelFileError(f"{where}: a <layer> has no {key!r} attribute")
        self.id = el.get("id")
        self.name = el.get("name") or f"layer_{self.id}"
        self.type = el.get("type")
        self.version = el.get("version")
        data = el.find("data")
        self.data: dict[str, str] = dict(data.attrib) if data is not None else {}
        self.in_ports = [p.get("id") for p in el.findall("input/port")]
        self.out_ports = [p for p in el.findall("output/port")]
        self.where = f"{where}: layer {self.name!r} (id {self.id}, {self.type})"
        rt = el.find("rt_info")
        self.decompression = rt is not None and any(a.get("name") == "decompression" for a in rt.iter("attribute"))

    def out_index(self, port_id: str) -> int:
        for i, p in enumerate(self.out_ports):
            if p.get("id") == port_id:
                return i
        raise ModelFileError(f"{self.where}: has no output port {port_id}")

    def in_index(self, port_id: str) -> int:
        if port_id not in self.in_ports:
            raise ModelFileError(f"{self.where}: has no input port {port_id}")
        return self.in_ports.index(port_id)

    def port_names(self, i: int) -> list[str]:
        raw = self.out_ports[i].get("names") if i < len(self.out_ports) else None
        if not raw:
            return []
        parts, cur, esc = [], "", False
        for ch in raw:
            if esc:
                cur += ch
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == ",":
                parts.append(cur.strip())
                cur = ""
            else:
                cur += ch
        parts.append(cur.strip())
        return [p for p in parts if p]


def _dims(text: str, where: str) -> list[int | None]:
    text = text.strip()
    if not text:
        return []
    out: list[int | None] = []
    for tok in text.split(","):
        t = tok.strip()
        if t in ("?", "-1") or ".." in t:
            out.append(None)
        else:
            try:
                v = int(t)
            except ValueError:
                raise ModelFileError(f"{where}: bad dimension {t!r} in shape {text!r}") from None
            if v < 0:
                raise ModelFileError(f"{where}: bad dimension {t!r} in shape {text!r}")
            out.append(v)
    return out


def _element_type(layer: _Layer, key: str = "element_type") -> np.dtype:
    v = layer.data.get(key)
    if v is None:
        raise ModelFileError(f"{layer.where}: missing attribute {key!r}")
    try:
        return np.dtype(_TYPE.from_ir(v))
    except (OvccError, TypeError, ValueError):
        raise ModelFileError(f"{layer.where}: unsupported element type {v!r}") from None


class _Reader(FrontendContext):
    def __init__(self, where: str, weights: bytes):
        self.where = where
        self.weights = weights
        self.b = GraphBuilder()

    def const_layer(self, layer: _Layer) -> SSAValue:
        dtype = _element_type(layer)
        shape = _dims(layer.data.get("shape", ""), layer.where)
        if None in shape:
            raise ModelFileError(f"{layer.where}: constant shape must be static")
        try:
            offset, size = int(layer.data["offset"]), int(layer.data["size"])
        except (KeyError, ValueError):
            raise ModelFileError(f"{layer.where}: needs integer 'offset' and 'size' attributes") from None
        need = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if offset < 0 or size < 0 or offset + size > len(self.weights):
            raise ModelFileError(f"{layer.where}: data at offset {offset} size {size} lies beyond the end of the "
                                 f".bin ({len(self.weights)} bytes)")
        if size != need and not (need == 0 and size <= dtype.itemsize):  # OpenVINO gives an empty one a byte
            raise ModelFileError(f"{layer.where}: {size} bytes of data for shape {shape} of {dtype} "
                                 f"({need} bytes needed)")
        arr = np.frombuffer(self.weights, dtype=dtype, count=need // dtype.itemsize, offset=offset).reshape(shape)
        from dialects.ov import Const

        return self.b.add(Const(arr)).output

    def op(self, layer: _Layer, ins: list[SSAValue]) -> list[SSAValue]:
        fn = UPGRADES.get((layer.type, layer.version))
        if fn is not None:
            return fn(self, layer, ins)
        if layer.type not in OPS and layer.type in CUSTOM_OPS:  # a registered custom op (compiler.Op)
            return list(self.b.op("Extension", ins, type_name=layer.type, version=layer.version,
                                  attributes=json.dumps(layer.data)).outputs)
        cls = OPS[layer.type]
        return list(self.b.op(layer.type, ins, **layer_attrs(layer, cls)).outputs)


def _known(layer: _Layer) -> bool:
    if layer.type in ("Parameter", "Result", "Const") or (layer.type not in OPS and layer.type in CUSTOM_OPS):
        return True
    if layer.type == "Extension":  # our container for custom ops, never a layer type of its own
        return False
    if (layer.type, layer.version) in UPGRADES:
        return True
    cls = OPS.get(layer.type)
    if cls is None:
        return False
    since = _version_number(cls.OPSET)
    return since <= _version_number(layer.version) <= max(NEWEST_OPSET, since)


# OpenVINO 2026 defines opset1 ... opset16 (its opset17 holds only ops new in it); later
# versions do not exist, so an op's semantics there are unknown.
NEWEST_OPSET = 16


def _version_number(v: str) -> int:
    m = re.fullmatch(r"opset(\d{1,4})", v)
    return int(m.group(1)) if m else -1


def read_ir(xml_path: str | os.PathLike, weights: str | os.PathLike | None = None,
            inputs: Sequence[InputSpec] = (), outputs: Sequence[str] = ()) -> ModuleOp:
    """Read an IR pair. `inputs` override Parameters' shapes and types or cut the graph at
    tensors and layer ports; `outputs` choose (and cut at) output tensors."""
    xml_path = Path(xml_path)
    where = str(xml_path)
    if not xml_path.is_file():
        raise ModelFileError(f"{where}: no such file")
    try:
        root = SafeET.parse(str(xml_path), forbid_dtd=True).getroot()
    except DefusedXmlException as e:
        raise ModelFileError(f"{where}: refused unsafe XML ({type(e).__name__})") from None
    except SafeET.ParseError as e:
        raise ModelFileError(f"{where}: malformed XML ({e})") from None
    if root.tag != "net":
        raise ModelFileError(f"{where}: not an OpenVINO IR (root element <{root.tag}>, expected <net>)")
    if root.get("version") not in ("10", "11"):
        raise ModelFileError(f"{where}: IR version {root.get('version')!r} is not supported (10 or 11)")
    bin_path = Path(weights) if weights is not None else xml_path.with_suffix(".bin")
    layers, by_id = _layers(root, where)
    unknown: dict[str, list[str]] = {}
    everywhere = [_Layer(el, where) for el in root.find("layers").iter("layer")]  # bodies' layers too
    for lay in everywhere:
        if not _known(lay):
            unknown.setdefault(f"{lay.type}-{lay.version}", []).append(lay.name)
    if unknown:
        raise UnsupportedOpsError("OpenVINO IR", where, unknown)
    needs_bin = any(lay.type == "Const" for lay in everywhere)
    if needs_bin and not bin_path.is_file():
        raise ModelFileError(f"{where}: weights file {bin_path} is missing")
    data = bin_path.read_bytes() if needs_bin else b""
    try:
        return _build(root, layers, by_id, where, data, list(inputs), list(outputs))
    except (ShapeError, ConversionError) as e:
        if isinstance(e, ConversionError) and str(e).startswith(where):
            raise  # about what input=/output= asked for, not about the file
        raise ModelFileError(f"{where}: {e}") from None


Incoming = dict[str, dict[int, tuple[str, int]]]


def _incoming(root, layers: list[_Layer], by_id: dict[str, _Layer], where: str) -> Incoming:
    """{layer id: {input index: (source layer id, output index)}} from the <edges> of `root`
    (the net, or a body), every input port fed exactly once."""
    incoming: dict[str, dict[int, tuple[str, int]]] = {lay.id: {} for lay in layers}
    edges_el = root.find("edges")
    for e in (edges_el.findall("edge") if edges_el is not None else []):
        f_l, f_p, t_l, t_p = (e.get(k) for k in ("from-layer", "from-port", "to-layer", "to-port"))
        if None in (f_l, f_p, t_l, t_p):
            raise ModelFileError(f"{where}: an <edge> lacks from-layer/from-port/to-layer/to-port")
        if f_l not in by_id or t_l not in by_id:
            raise ModelFileError(f"{where}: edge {f_l}:{f_p} -> {t_l}:{t_p} refers to a missing layer")
        src, dst = by_id[f_l], by_id[t_l]
        out_i = src.out_index(f_p)
        in_i = dst.in_index(t_p)
        if in_i in incoming[t_l]:
            raise ModelFileError(f"{dst.where}: input port {t_p} has two incoming edges")
        incoming[t_l][in_i] = (f_l, out_i)
    for lay in layers:
        missing = [lay.in_ports[i] for i in range(len(lay.in_ports)) if i not in incoming[lay.id]]
        if missing:
            raise ModelFileError(f"{lay.where}: input port(s) {', '.join(missing)} have no incoming edge")
    return incoming


def _layers(root, where: str) -> tuple[list[_Layer], dict[str, _Layer]]:
    layers_el = root.find("layers")
    if layers_el is None:
        raise ModelFileError(f"{where}: no <layers>")
    layers = [_Layer(el, where) for el in layers_el.findall("layer")]
    by_id: dict[str, _Layer] = {}
    for lay in layers:
        if lay.id in by_id:
            raise ModelFileError(f"{where}: duplicate layer id {lay.id}")
        by_id[lay.id] = lay
    return layers, by_id


class Body:
    """A body network of TensorIterator, Loop or If (its own layers and edges, constants in
    the model's .bin), built into the reader's graph once per call with values for its
    Parameters, by layer id; the call returns the values of its Results, by layer id."""

    def __init__(self, el, where: str):
        self.where = where
        self.layers, self.by_id = _layers(el, where)
        self.incoming = _incoming(el, self.layers, self.by_id, where)
        self.order = _topological(self.layers, self.incoming, where)

    def ids(self, kind: str) -> list[str]:
        return [lay.id for lay in self.layers if lay.type == kind]

    MAX_DEPTH = 16  # bodies inside bodies (OpenVINO's own models nest two or three)

    def __call__(self, r: _Reader, args: dict[str, SSAValue]) -> dict[str, SSAValue]:
        r.depth = getattr(r, "depth", 0) + 1
        try:
            if r.depth > self.MAX_DEPTH:
                raise ModelFileError(f"{self.where}: bodies nested more than {self.MAX_DEPTH} deep")
            return self._run(r, args)
        finally:
            r.depth -= 1

    def _run(self, r: _Reader, args: dict[str, SSAValue]) -> dict[str, SSAValue]:
        values: dict[tuple[str, int], SSAValue] = {}
        results: dict[str, SSAValue] = {}
        for lay in self.order:
            ins = [values[self.incoming[lay.id][i]] for i in range(len(lay.in_ports))]
            try:
                if lay.type == "Parameter":
                    if lay.id not in args:
                        raise ModelFileError(f"{lay.where}: no input of the layer feeds this body Parameter")
                    out = [args[lay.id]]
                elif lay.type == "Const":
                    out = [r.const_layer(lay)]
                elif lay.type == "Result":
                    results[lay.id] = ins[0]
                    continue
                else:
                    out = r.op(lay, ins)
            except OvccError as e:
                if isinstance(e, ModelFileError):
                    raise
                raise ModelFileError(f"{lay.where}: {e}") from None
            if len(out) < len(lay.out_ports):
                raise ModelFileError(f"{lay.where}: declares {len(lay.out_ports)} outputs, the op has {len(out)}")
            for i, v in enumerate(out):
                values[(lay.id, i)] = v
        return results


def _build(root, layers: list[_Layer], by_id: dict[str, _Layer], where: str, data: bytes,
           specs: list[InputSpec], out_names: list[str]) -> ModuleOp:
    incoming = _incoming(root, layers, by_id, where)
    order = _topological(layers, incoming, where)
    r = _Reader(where, data)
    cuts = _Cuts(layers, incoming, specs, out_names, where)
    values: dict[tuple[str, int], SSAValue] = {}
    outputs = []
    params = iter(cuts.unnamed)
    for lay in order:
        ins = [cuts.new_input(r.b, "edge", (lay.id, i)) or values[incoming[lay.id][i]]
               for i in range(len(lay.in_ports))]
        try:
            if lay.type == "Parameter":
                names = lay.port_names(0) or [lay.name]
                shape, dtype = _dims(lay.data.get("shape", ""), lay.where), _element_type(lay)
                spec = cuts.params.get(lay.id) or next(params, None)
                if spec is not None and spec.value is not None:
                    results = [r.b.const(spec.frozen(dtype))]
                else:
                    if spec is not None:
                        shape, dtype = spec.resolve(names[0], shape, dtype)
                    results = [r.b.add_input(names, shape, dtype)]
            elif lay.type == "Const":
                results = [r.const_layer(lay)]
                set_layer_name(results[0].op, lay.name)
            elif lay.type == "Result":
                src_l, src_i = incoming[lay.id][0]
                names = by_id[src_l].port_names(src_i)
                if "output_names" in lay.data:
                    names = [n for n in lay.data["output_names"].split(",") if n]
                outputs.append((layers.index(lay), ins[0], names))
                continue
            else:
                before = r.b.block.last_op
                results = r.op(lay, ins)
                new = before.next_op if before is not None else r.b.block.first_op
                while new is not None:
                    set_layer_name(new, lay.name)
                    new = new.next_op
        except OvccError as e:
            if isinstance(e, ModelFileError):
                raise
            raise ModelFileError(f"{lay.where}: {e}") from None
        if len(results) < len(lay.out_ports):
            raise ModelFileError(f"{lay.where}: declares {len(lay.out_ports)} outputs, the op has {len(results)}")
        for i, v in enumerate(results):
            values[(lay.id, i)] = cuts.new_input(r.b, "tensor", (lay.id, i)) or v
            if lay.type not in ("Parameter",):
                for n in lay.port_names(i):
                    add_tensor_name(v, n)
    if cuts.outputs:
        outputs = [(k, values[key], names) for k, (key, names) in enumerate(cuts.outputs)]
    if not outputs:
        raise ModelFileError(f"{where}: the model has no Result layer")
    result = [(v, names) for _, v, names in sorted(outputs, key=lambda o: o[0])]
    if cuts.any:
        drop_unused_inputs(r.b, [v for v, _ in result])
    return r.b.finish(result)


class _Cuts:
    """What `input=`/`output=` name in an IR: Parameters to reshape or freeze, tensors and
    layer input ports that new inputs replace, and the output tensors."""

    def __init__(self, layers: list[_Layer], incoming: dict, specs: list[InputSpec], out_names: list[str],
                 where: str):
        self.unnamed = [s for s in specs if not s.name]
        self.params: dict[str, InputSpec] = {}
        self.outputs: list[tuple[tuple[str, int], list[str]]] = []
        self._new: dict[tuple[str, tuple[str, int]], tuple[InputSpec, str]] = {}
        self._made: dict[tuple[str, tuple[str, int]], SSAValue] = {}
        named = [s for s in specs if s.name]
        self.any = bool(out_names)
        if not named and not out_names:
            return
        by_name = {lay.name: lay for lay in layers}
        tensor_of: dict[str, tuple[str, int]] = {}
        for lay in layers:
            for i in range(len(lay.out_ports)):
                for n in lay.port_names(i):
                    tensor_of.setdefault(n, (lay.id, i))

        def key(lay_id: str, i: int) -> str:  # an unnamed tensor, by where it comes from
            return f"\0{lay_id}:{i}"

        def parse(t: str) -> tuple[str, int]:
            if t in tensor_of:
                return tensor_of[t]
            lay_id, _, i = t[1:].rpartition(":")
            return lay_id, int(i)

        def outs(n: str):
            lay = by_name.get(n)
            return None if lay is None else [key(lay.id, i) for i in range(len(lay.out_ports))]

        def ins(n: str):
            lay = by_name.get(n)
            return None if lay is None else [key(*incoming[lay.id][i]) for i in range(len(lay.in_ports))]

        unknown = {}
        kinds = {lay.id: lay.type for lay in layers}
        for spec in named:
            c = resolve(spec.name, tensor_of.__contains__, outs, ins)
            if c is None:
                unknown[spec.name] = "input"
            elif c.tensor is not None and kinds[parse(c.tensor)[0]] == "Parameter":
                self.params[parse(c.tensor)[0]] = spec
            elif c.tensor is not None:
                named = c.tensor if not c.tensor.startswith("\0") else spec.name
                self._new[("tensor", parse(c.tensor))] = (spec, named)
            else:
                self._new[("edge", (by_name[c.node].id, c.port))] = (spec, spec.name)
        for name in out_names:
            c = resolve(name, tensor_of.__contains__, outs, ins)
            if c is None:
                unknown[name] = "output"
            else:
                t = parse(as_output(c, ins))
                own = next(lay for lay in layers if lay.id == t[0]).port_names(t[1])
                self.outputs.append((t, list(dict.fromkeys([name, *own]))))
        if unknown:
            raise unknown_names_error(where, unknown, list(tensor_of) + list(by_name))
        self.any = bool(self._new) or bool(out_names)

    def new_input(self, b: GraphBuilder, kind: str, k: tuple[str, int]) -> SSAValue | None:
        """The new input that replaces this tensor or feeds this (layer, input port), made when
        the graph first reaches it; None if there is none."""
        if (kind, k) not in self._made:
            spec_name = self._new.get((kind, k))
            if spec_name is None:
                return None
            spec, name = spec_name
            # a cut point without a type is f32, as the Model Optimizer makes it
            self._made[(kind, k)] = b.const(spec.frozen(np.dtype(np.float32))) if spec.value is not None else \
                b.add_input(list(dict.fromkeys([spec.name, name])), *spec.resolve(spec.name, None,
                                                                                  np.dtype(np.float32)))
        return self._made[(kind, k)]


def _topological(layers: list[_Layer], incoming, where: str) -> list[_Layer]:
    users: dict[str, list[str]] = {lay.id: [] for lay in layers}
    indeg = {lay.id: len(incoming[lay.id]) for lay in layers}
    for lay in layers:
        for src, _ in incoming[lay.id].values():
            users[src].append(lay.id)
    index = {lay.id: i for i, lay in enumerate(layers)}
    # Kahn's algorithm taking the earliest layer in the document first: a file in topological
    # order (every file we or OpenVINO write) reads back in exactly that order.
    ready = [index[lay.id] for lay in layers if indeg[lay.id] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        lay = layers[heapq.heappop(ready)]
        order.append(lay)
        for u in users[lay.id]:
            indeg[u] -= 1
            if indeg[u] == 0:
                heapq.heappush(ready, index[u])
    if len(order) != len(layers):
        stuck = sorted((lay for lay in layers if indeg[lay.id] > 0), key=lambda x: x.id)
        raise ModelFileError(f"{where}: the graph has a cycle through layer {stuck[0].name!r} (id {stuck[0].id})")
    return order
