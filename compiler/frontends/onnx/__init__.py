"""ONNX frontend: `.onnx` files and `onnx.ModelProto` objects into the `ov` dialect."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import BlockArgument, SSAValue

from compiler.frontend import convert_node
from compiler.frontend import lookup as extension_for
from compiler.frontends.builder import GraphBuilder, add_tensor_name, layer_name, name_ops_since, set_layer_name
from compiler.frontends.cut import as_output, resolve, unknown_names_error
from compiler.frontends.inputs import InputSpec
from compiler.frontends.onnx import (  # noqa: F401  (fill the table)
    ops_attention,
    ops_control,
    ops_extra,
    ops_math,
    ops_nn,
    ops_quant,
    ops_rnn,
    ops_tensor,
)
from compiler.frontends.onnx.context import CONVERTERS, OnnxContext, np_dtype_of_onnx, tensor_to_numpy
from dialects.errors import ConversionError, InternalError, ModelFileError, OvccError, UnsupportedOpsError

MIN_OPSET = 7


def load_onnx(path: str | os.PathLike) -> onnx.ModelProto:
    """Read an ONNX file (and its external data), turning every failure into a ModelFileError."""
    p = Path(path)
    if not p.is_file():
        raise ModelFileError(f"{p}: no such file")
    try:
        model = onnx.load(str(p), load_external_data=False)
    except Exception as e:  # protobuf raises DecodeError, RuntimeWarning-like errors, ...
        raise ModelFileError(f"{p}: not a valid ONNX model ({type(e).__name__}: {str(e)[:200]})") from None
    if not model.HasField("graph") or (not model.graph.node and not model.graph.output):
        raise ModelFileError(f"{p}: not a valid ONNX model (no graph)")
    _load_external_data(model, p.parent, p)
    return model


def _load_external_data(model: onnx.ModelProto, base: Path, where: Path) -> None:
    """Read every tensor's external data (subgraphs' included) relative to the model file's
    directory `base`; no location may be absolute or lead outside `base` (symlinks resolved)."""
    from onnx.external_data_helper import load_external_data_for_tensor

    root = base.resolve()
    for t in _external_tensors(model):
        info = {e.key: e.value for e in t.external_data}
        loc = info.get("location", "")
        try:
            target = (base / loc).resolve()
            outside = not loc or os.path.isabs(loc) or root not in target.parents
            present = not outside and target.is_file()
            offset, length = int(info.get("offset") or 0), info.get("length")
            length = None if length in (None, "") else int(length)
        except (OSError, ValueError):
            raise ModelFileError(f"{where}: initializer {t.name!r} has a malformed external data entry "
                                 f"(location {loc!r}, offset {info.get('offset')!r}, length {info.get('length')!r})"
                                 ) from None
        if outside:
            raise ModelFileError(f"{where}: initializer {t.name!r} points outside the model directory ({loc!r})")
        if not present:
            raise ModelFileError(f"{where}: external data file {loc!r} for initializer {t.name!r} is missing")
        size = target.stat().st_size
        if offset < 0 or offset > size or (length is not None and (length < 0 or offset + length > size)):
            raise ModelFileError(f"{where}: external data for {t.name!r} lies beyond the end of {loc!r}")
        try:
            load_external_data_for_tensor(t, str(base))
        except Exception as e:
            raise ModelFileError(f"{where}: cannot read external data for {t.name!r}: {e}") from None
        del t.external_data[:]
        t.data_location = onnx.TensorProto.DEFAULT


def _refuse_external_data(model: onnx.ModelProto, where: str) -> None:
    """An in-memory ModelProto has no directory its external data could be relative to (ONNX
    Runtime reads it relative to the current directory, which silently loads whatever file is
    there): refuse it, as loading the file does the right thing."""
    for t in _external_tensors(model):
        loc = {e.key: e.value for e in t.external_data}.get("location", "")
        raise ModelFileError(f"{where}: initializer {t.name!r} keeps its data in the external file {loc!r}, "
                             "which an in-memory ModelProto cannot locate: pass the .onnx path instead, or load "
                             "it with onnx.load(path) first")


def _external_tensors(model: onnx.ModelProto):
    from onnx.external_data_helper import uses_external_data

    return (t for t in _all_tensors(model.graph) if uses_external_data(t))


def _all_tensors(g: onnx.GraphProto):
    """Every TensorProto of a graph: initializers (sparse ones too), tensor attributes, and
    those of every subgraph (If/Loop/Scan bodies), at any depth."""
    yield from g.initializer
    for sp in g.sparse_initializer:
        yield sp.values
        yield sp.indices
    for node in g.node:
        for a in node.attribute:
            if a.HasField("t"):
                yield a.t
            yield from a.tensors
            for sp in ([a.sparse_tensor] if a.HasField("sparse_tensor") else []) + list(a.sparse_tensors):
                yield sp.values
                yield sp.indices
            if a.HasField("g"):
                yield from _all_tensors(a.g)
            for sub in a.graphs:
                yield from _all_tensors(sub)


def _check_text(g: onnx.GraphProto, where: str) -> None:
    """Names are text: protobuf hands a string field holding bytes that are not UTF-8 over as
    bytes, which no name lookup expects (a mutated file once got this far)."""
    def names(graph):
        for v in (*graph.input, *graph.output, *graph.value_info):
            yield "value", v.name
        for t in graph.initializer:
            yield "initializer", t.name
        for node in graph.node:
            for f in (node.name, node.op_type, node.domain, *node.input, *node.output):
                yield f"{node.op_type!r} node", f
            for a in node.attribute:
                yield f"{node.op_type!r} node's attribute", a.name
                for sub in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                    yield from names(sub)

    for what, name in names(g):
        if not isinstance(name, str):
            raise ModelFileError(f"{where}: not a valid ONNX model (a {what} name is not UTF-8 text: {name[:40]!r})")


def convert_onnx(model: onnx.ModelProto | str | os.PathLike, inputs: Sequence[InputSpec] = (),
                 outputs: Sequence[str] = ()) -> ModuleOp:
    """Convert an ONNX model. `inputs` override input shapes/types or cut the graph at named
    tensors; `outputs` choose (and cut at) named output tensors."""
    if isinstance(model, onnx.ModelProto):
        where = f"ONNX model {model.graph.name or '(unnamed)'}"
        _refuse_external_data(model, where)
    else:
        where = str(model)
        model = load_onnx(model)
    try:
        return _convert(model, inputs, outputs, where)
    except OvccError:
        raise
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as e:  # a converter's bug
        raise InternalError(f"{where}: conversion failed: {type(e).__name__}: {e}") from e


def _convert(model: onnx.ModelProto, inputs: Sequence[InputSpec], outputs: Sequence[str], where: str) -> ModuleOp:
    g = model.graph
    if not 1 <= model.ir_version <= onnx.IR_VERSION:
        raise ModelFileError(f"{where}: not a valid ONNX model (IR version {model.ir_version}; this onnx package "
                             f"reads 1 to {onnx.IR_VERSION})")
    opsets = {(o.domain or ""): o.version for o in model.opset_import}
    if "" not in opsets and "ai.onnx" not in opsets:
        raise ModelFileError(f"{where}: not a valid ONNX model (it imports no version of the default opset)")
    _check_text(g, where)
    version = opsets.get("", opsets.get("ai.onnx"))
    if version < MIN_OPSET:
        raise ConversionError(f"{where}: ONNX opset {version} is older than {MIN_OPSET}, the oldest supported")
    if version > onnx.defs.onnx_opset_version():
        raise ConversionError(f"{where}: ONNX opset {version} is newer than {onnx.defs.onnx_opset_version()}, the "
                              "newest this onnx package defines")
    missing: dict[str, list[str]] = {}
    for n in _all_nodes(g):  # subgraphs (If/Loop/Scan bodies) included
        _check_schema(n, opsets, where)
        if (n.domain if n.domain != "ai.onnx" else "", n.op_type) not in CONVERTERS and \
                extension_for(*_type_names(n)) is None:
            key = n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}"
            missing.setdefault(key, []).append(n.name or n.output[0])
    if missing:
        raise UnsupportedOpsError("ONNX", where, missing)

    inits = {t.name: t for t in g.initializer}
    b = GraphBuilder()
    ctx = OnnxContext(b, opsets, where)
    ctx.inits = inits
    specs = {s.name: s for s in inputs if s.name}
    unnamed = [s for s in inputs if not s.name]
    graph_inputs = [i for i in g.input if i.name not in inits]
    if unnamed and len(unnamed) != len(graph_inputs):
        raise ConversionError(f"{where}: {len(unnamed)} unnamed input shapes given for {len(graph_inputs)} inputs")
    for i, vi in enumerate(graph_inputs):
        spec = specs.pop(vi.name, None) or (unnamed[i] if unnamed else None)
        tt = vi.type.tensor_type
        if not vi.type.HasField("tensor_type"):
            raise ConversionError(f"{where}: input {vi.name!r} is not a tensor")
        shape = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tt.shape.dim]
        dtype = np_dtype_of_onnx(tt.elem_type, f"{where}: input {vi.name!r}")
        if spec is not None and spec.value is not None:
            ctx.values[vi.name] = ctx.const(spec.frozen(dtype))
            continue
        if spec is not None:
            shape, dtype = spec.resolve(vi.name, shape, dtype)
        ctx.values[vi.name] = b.add_input([vi.name], shape, dtype)
    cut = bool(outputs) or bool(specs)  # specs left over name tensors inside the graph
    edges: dict[tuple[int, int], SSAValue] = {}  # (node index, input port) fed by a new input
    cuts, out_names = _cut_points(g, specs, outputs, where)
    for name, spec in specs.items():  # cut points inside the graph
        c = cuts[name]
        # a cut point without a type is f32, as the Model Optimizer makes it
        names = list(dict.fromkeys([name, c.tensor or name]))
        v = ctx.const(spec.frozen(np.dtype(np.float32))) if spec.value is not None else \
            b.add_input(names, *spec.resolve(name, None, np.dtype(np.float32)))
        if c.tensor is not None:
            ctx.values[c.tensor] = v
        else:
            edges[(_node_index(g, c.node), c.port)] = v
    out_names = out_names or [o.name for o in g.output]
    needed = _needed_nodes(g, out_names, set(ctx.values), set(inits), where, set(edges))
    if cut:  # inputs that only fed the parts cut away go too
        used = {name for i, n in enumerate(g.node) if i in needed
                for k, name in enumerate(_reads(n)) if (i, k) not in edges} | set(out_names)
        _drop_unused_inputs(b, ctx, used)
    _run_nodes(ctx, g, needed, inits, edges=edges, keep={c.tensor for c in cuts.values() if c.tensor})

    result = []
    for name in out_names:
        if name not in ctx.values:
            if name in inits:
                _initializer(ctx, inits[name])
            else:
                raise ConversionError(f"{where}: output {name!r} is not produced by the graph")
        result.append((ctx.values[name], [name]))
    return b.finish(result)


def _check_schema(node: onnx.NodeProto, opsets: dict[str, int], where: str) -> None:
    """The node's input and output counts and its attributes' types are those its ONNX schema
    allows (converters rely on them); nodes of domains onnx does not define are not checked."""
    domain = "" if node.domain == "ai.onnx" else node.domain
    try:
        schema = onnx.defs.get_schema(node.op_type, opsets.get(domain, 1), domain)
    except onnx.defs.SchemaError:
        return
    name = node.name or (node.output[0] if node.output else node.op_type)
    for what, n, lo, hi in (("inputs", len(node.input), schema.min_input, schema.max_input),
                            ("outputs", len(node.output), schema.min_output, schema.max_output)):
        if not lo <= n <= hi:
            raise ConversionError(f"{where}: node {name!r} ({node.op_type}) has {n} {what}, its schema allows "
                                  f"{lo}{'' if hi == lo else f' to {hi}'}")
    for a in node.attribute:
        spec = schema.attributes.get(a.name)
        if spec is not None and a.type and not a.ref_attr_name and a.type != spec.type:
            raise ConversionError(f"{where}: node {name!r} ({node.op_type}): attribute {a.name!r} is "
                                  f"{onnx.AttributeProto.AttributeType.Name(a.type)}, its schema says "
                                  f"{onnx.AttributeProto.AttributeType.Name(spec.type)}")


def _type_names(node: onnx.NodeProto) -> tuple[str, ...]:
    """How an extension may name the node's type: "MyOp", or with its domain "my.domain.MyOp"."""
    domain = node.domain if node.domain != "ai.onnx" else ""
    return (node.op_type, f"{domain}.{node.op_type}") if domain else (node.op_type,)


def _attributes(ctx: OnnxContext, node: onnx.NodeProto) -> dict:
    out = {}
    for k, v in ctx.attrs(node).items():
        if isinstance(v, bytes):
            v = v.decode()
        elif isinstance(v, onnx.TensorProto):
            v = tensor_to_numpy(v, ctx.where)
        elif isinstance(v, list) and v and isinstance(v[0], bytes):
            v = [x.decode() for x in v]
        out[k] = v
    return out


def _all_nodes(g: onnx.GraphProto):
    for n in g.node:
        yield n
        for a in n.attribute:
            for sub in ([a.g] if a.type == onnx.AttributeProto.GRAPH else
                        list(a.graphs) if a.type == onnx.AttributeProto.GRAPHS else []):
                yield from _all_nodes(sub)


def _run_nodes(ctx: OnnxContext, g: onnx.GraphProto, needed: set[int], inits: dict, prefix: str = "",
               edges: dict | None = None, keep: set[str] = frozenset()) -> None:
    """Convert the needed nodes of `g` in order into `ctx.values`; `prefix` goes before the
    names the IR records (a subgraph's iteration); `edges` feed given node input ports, and
    the tensors in `keep` (cut points) keep the values they have."""
    b, where = ctx.b, ctx.where
    for index, node in enumerate(g.node):
        if index not in needed:
            continue
        ins: list[SSAValue | None] = []
        for k, name in enumerate(node.input):
            if edges and (index, k) in edges:
                ins.append(edges[(index, k)])
            elif not name:
                ins.append(None)
            elif name in ctx.values:
                ins.append(ctx.values[name])
            elif name in inits:
                ins.append(_initializer(ctx, inits[name]))
            else:
                raise ConversionError(f"{where}: node {node.name or node.output[0]!r} uses tensor {name!r}, "
                                      "which no node or input produces")
        before = b.block.last_op
        key = (node.domain if node.domain != "ai.onnx" else "", node.op_type)
        ext = extension_for(*_type_names(node))
        try:
            if ext is not None:  # the user's conversion comes first, as in OpenVINO
                results = convert_node(ext, node.op_type, node.name or node.output[0], ins, _attributes(ctx, node), b)
            else:
                results = CONVERTERS[key](ctx, node, ins)
        except ConversionError as e:
            if str(e).startswith(where):
                raise
            raise ctx.error(node, str(e)) from e
        name_ops_since(b, before, prefix + (node.name or node.output[0]))
        for name, v in zip(node.output, results):
            if name and v is not None and name not in keep:
                ctx.values[name] = v
                add_tensor_name(v, prefix + name)


def run_subgraph(ctx: OnnxContext, g: onnx.GraphProto, args: list, prefix: str) -> list:
    """The outputs of subgraph `g` (a branch or loop body) with its inputs bound to `args`; it
    sees the enclosing scopes' values."""
    if len(args) != len(g.input):
        raise ConversionError(f"{ctx.where}: subgraph {g.name!r} takes {len(g.input)} inputs, got {len(args)}")
    saved, saved_inits = ctx.values, ctx.inits
    ctx.values = dict(saved)
    try:
        ctx.values.update({vi.name: v for vi, v in zip(g.input, args)})
        ctx.inits = inits = {**saved_inits, **{t.name: t for t in g.initializer}}
        out_names = [o.name for o in g.output]
        _run_nodes(ctx, g, _needed_nodes(g, out_names, set(ctx.values), set(inits), ctx.where), inits, prefix)
        return [ctx.values[n] if n in ctx.values else _initializer(ctx, inits[n]) for n in out_names]
    finally:
        ctx.values, ctx.inits = saved, saved_inits


def _free_names(g: onnx.GraphProto) -> set[str]:
    """Names a subgraph reads from its enclosing scopes."""
    bound = {i.name for i in g.input} | {t.name for t in g.initializer} | {o for n in g.node for o in n.output}
    used = {name for n in g.node for name in _reads(n)} | {o.name for o in g.output}
    return {n for n in used - bound if n}


def _reads(node: onnx.NodeProto) -> list[str]:
    """A node's inputs, and what its subgraphs read from outside them."""
    names = list(node.input)
    for a in node.attribute:
        for sub in ([a.g] if a.type == onnx.AttributeProto.GRAPH else
                    list(a.graphs) if a.type == onnx.AttributeProto.GRAPHS else []):
            names.extend(sorted(_free_names(sub)))
    return names


def _needed_nodes(g: onnx.GraphProto, outputs: list[str], given: set[str], inits: set[str], where: str,
                  edges: set[tuple[int, int]] = frozenset()) -> set[int]:
    """Indices of the nodes the outputs depend on (stopping at inputs, initializers and the
    input ports in `edges`)."""
    nodes = list(g.node)
    producer = {}
    for i, n in enumerate(nodes):
        for o in n.output:
            if o:
                producer[o] = i
    needed: set[int] = set()
    stack = [o for o in outputs]
    seen: set[str] = set()
    while stack:
        name = stack.pop()
        if name in seen or name in given or name in inits or not name:
            continue
        seen.add(name)
        i = producer.get(name)
        if i is None:
            raise ConversionError(f"{where}: tensor {name!r} is neither an input nor produced by any node")
        if i not in needed:
            needed.add(i)
            stack.extend(n for k, n in enumerate(_reads(nodes[i])) if (i, k) not in edges)
    return needed


def _node_index(g: onnx.GraphProto, name: str) -> int:
    return next(i for i, n in enumerate(g.node) if n.name == name)


def _cut_points(g: onnx.GraphProto, specs: dict, outputs: Sequence[str], where: str):
    """What the input names left in `specs` and the `outputs` name in the graph (tensors or
    node ports), and the output tensors; one error for all names the graph does not have."""
    tensors = {i.name for i in g.input} | {t.name for t in g.initializer} | {o for n in g.node for o in n.output if o}
    nodes = {n.name: n for n in g.node if n.name}

    def outs(name):
        return list(nodes[name].output) if name in nodes else None

    def ins(name):
        return list(nodes[name].input) if name in nodes else None

    cuts, unknown = {}, {}
    for name in specs:
        c = resolve(name, tensors.__contains__, outs, ins)
        if c is None:
            unknown[name] = "input"
        cuts[name] = c
    out_tensors = []
    for name in outputs:
        c = resolve(name, tensors.__contains__, outs, ins)
        if c is None:
            unknown[name] = "output"
        else:
            out_tensors.append(as_output(c, ins))
    if unknown:
        raise unknown_names_error(where, unknown, tensors | set(nodes))
    return cuts, out_tensors


def _initializer(ctx: OnnxContext, t: onnx.TensorProto) -> SSAValue:
    v = ctx.const(tensor_to_numpy(t, ctx.where))
    if layer_name(v.op) is None:
        set_layer_name(v.op, t.name)
        add_tensor_name(v, t.name)
    ctx.values[t.name] = v
    return v


def _drop_unused_inputs(b: GraphBuilder, ctx: OnnxContext, used: set[str]) -> None:
    """Inputs that no needed node reads (dummy inputs, inputs of cut-away parts) are dropped."""
    for name in [n for n, v in ctx.values.items() if n not in used and isinstance(v, BlockArgument)]:
        arg = ctx.values.pop(name)
        b.input_names.pop(arg.index)
        b.block.erase_arg(arg)


__all__ = ["convert_onnx", "load_onnx", "tensor_to_numpy"]
