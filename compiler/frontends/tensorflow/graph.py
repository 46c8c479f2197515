"""A frozen TensorFlow GraphDef into the `ov` dialect.

A converter is `fn(ctx, node, ins) -> SSAValue | list`, registered with `@tf_op(...)`;
`ins` holds the node's data inputs (control inputs, `^name`, are dropped) and the result
lists the node's outputs in order. Only the nodes the outputs depend on are converted;
unsupported op types among them are reported together, before anything is built."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import SSAValue

from compiler.frontend import convert_node
from compiler.frontend import lookup as extension_for
from compiler.frontends.builder import FrontendContext, GraphBuilder, add_tensor_name, name_ops_since
from compiler.frontends.cut import as_output, drop_unused_inputs, resolve, unknown_names_error
from compiler.frontends.inputs import InputSpec
from dialects.errors import ConversionError, UnsupportedOpsError
from dialects.ov import dtype_of

Converter = Callable[["TfContext", Any, list], Any]
TF_OPS: dict[str, Converter] = {}
# ops that read complex tensors (TfContext.complex); pass-throughs keep them complex
COMPLEX_OPS = frozenset({"RFFT", "RFFT2D", "RFFT3D", "IRFFT", "IRFFT2D", "IRFFT3D", "FFT", "FFT2D", "FFT3D", "IFFT",
                         "IFFT2D", "IFFT3D", "ComplexAbs", "Real", "Imag", "Identity", "Snapshot", "StopGradient"})


def tf_op(*names: str) -> Callable[[Converter], Converter]:
    def register(fn: Converter) -> Converter:
        for n in names:
            TF_OPS[n] = fn
        return fn
    return register


def np_dtype(tf_enum: int) -> np.dtype:
    import tensorflow as tf

    d = tf.dtypes.as_dtype(tf_enum)
    if d.is_quantized or d.name in ("string", "resource", "variant", "complex64", "complex128"):
        raise ConversionError(f"unsupported TensorFlow element type {d.name}")
    return np.dtype(d.as_numpy_dtype)


def parse_input(s: str) -> tuple[str, int, bool]:
    """'name:1' -> (name, 1, False); '^name' -> (name, 0, True)."""
    control = s.startswith("^")
    name, _, idx = s.lstrip("^").partition(":")
    return name, int(idx or 0), control


_MISSING = object()


class TfContext(FrontendContext):
    def __init__(self, where: str):
        self.b = GraphBuilder()
        self.where = where
        # dilated convolutions arrive as SpaceToBatchND -> conv -> BatchToSpaceND (see ops.py)
        self.space_to_batch: dict[SSAValue, tuple] = {}
        self.dilated: dict[SSAValue, tuple] = {}
        self.library: dict[str, Any] = {}  # function name -> FunctionDef
        # complex tensors, held as float [..., 2] (real, imaginary) as OpenVINO's DFT ops hold
        # them: only the ops of COMPLEX_OPS may read one (spectra.py)
        self.complex: set[SSAValue] = set()

    # --- attributes -----------------------------------------------------------------------
    @staticmethod
    def attr(node, name: str, default: Any = _MISSING) -> Any:
        if name not in node.attr:
            if default is _MISSING:
                raise ConversionError(f"attribute {name!r} is missing")
            return default
        a = node.attr[name]
        kind = a.WhichOneof("value")
        if kind == "list":
            lst = a.list
            for f in ("i", "f", "s", "type", "b"):
                vals = list(getattr(lst, f))
                if vals:
                    return [v.decode() for v in vals] if f == "s" else vals
            return []
        if kind == "s":
            return a.s.decode()
        if kind == "type":
            return np_dtype(a.type)
        if kind == "shape":
            return None if a.shape.unknown_rank else [None if d.size < 0 else d.size for d in a.shape.dim]
        if kind == "tensor":
            import tensorflow as tf

            try:
                return tf.make_ndarray(a.tensor)
            except (ValueError, TypeError) as e:  # tensor_content of the wrong size or type
                raise ConversionError(f"attribute {name!r} holds a malformed tensor ({e})") from None
        return getattr(a, kind) if kind else default

    # --- values -----------------------------------------------------------------------------
    def ints(self, v: SSAValue) -> list[int] | None:
        k = self.known(v)
        return None if k is None else [int(x) for x in np.asarray(k).reshape(-1)]

    def as_i64(self, v: SSAValue) -> SSAValue:
        return v if dtype_of(v.type) == np.int64 else self.b.out("Convert", [v], destination_type=np.dtype(np.int64))



@dataclass
class GraphIO:
    """Which placeholders are inputs and which tensors are outputs, with the names users see."""

    inputs: list[tuple[str, list[str]]] = field(default_factory=list)   # (placeholder node, names)
    outputs: list[tuple[str, list[str]]] = field(default_factory=list)  # ("node:i", names)


def default_io(graph_def) -> GraphIO:
    """Every Placeholder is an input; every tensor of a node nobody reads is an output."""
    consumed = {parse_input(i)[0] for n in graph_def.node for i in n.input}
    read = {src for n in graph_def.node for src, _, control in map(parse_input, n.input) if not control}
    io = GraphIO()
    for n in graph_def.node:
        if n.op == "Placeholder" and n.name.startswith("unused_control_flow_input") and n.name not in read:
            continue  # left behind by TensorFlow's control flow lowering; nothing reads it
        if n.op == "Placeholder":
            io.inputs.append((n.name, [n.name]))
        elif n.name not in consumed and n.op not in ("NoOp", "Const", "Assert", "SaveV2", "RestoreV2"):
            io.outputs.append((f"{n.name}:0", [n.name]))
    return io


CALL_OPS = ("PartitionedCall", "StatefulPartitionedCall")
MAX_INLINED = 10_000  # function calls inlined into one graph (nesting included)


def inline_calls(graph_def, where: str, library: dict | None = None) -> list:
    """The graph's nodes with every call of a library function replaced by the function's body.

    Freezing inlines most calls, but not functions that must be compiled by XLA (Keras runs
    grouped convolutions that way on the CPU). A body's nodes get the call's name as a
    prefix, its arguments become Identity nodes of the call's inputs, and an IdentityN named
    like the call hands its results on, so the readers of `call:i` need no change."""
    if library is None:
        library = {f.signature.name: f for f in graph_def.library.function}
    nodes = list(graph_def.node)
    if not library or not any(n.op in CALL_OPS for n in nodes):
        return nodes
    from tensorflow.core.framework import node_def_pb2
    from tensorflow.python.framework.function_def_to_graph import function_def_to_graph_def

    out, work, inlined = [], list(reversed(nodes)), 0
    while work:
        n = work.pop()
        fname = n.attr["f"].func.name if n.op in CALL_OPS and "f" in n.attr else ""
        if fname not in library:
            out.append(n)
            continue
        inlined += 1
        if inlined > MAX_INLINED:
            raise ConversionError(f"{where}: more than {MAX_INLINED} nested function calls (recursion?)")
        fdef = library[fname]
        body, flat = function_def_to_graph_def(fdef)
        prefix = f"{n.name}/"
        args = [a.name for a in fdef.signature.input_arg]
        data_inputs = [i for i in n.input if not i.startswith("^")]
        if len(data_inputs) != len(args):
            raise ConversionError(f"{where}: call {n.name!r} of {fname!r} passes {len(data_inputs)} inputs "
                                  f"for {len(args)} arguments")
        bound = dict(zip(args, data_inputs))

        def rename(ref: str, prefix: str = prefix) -> str:
            control = ref.startswith("^")
            ref = ref.lstrip("^")
            return ("^" if control else "") + prefix + ref

        new = []
        for m in body.node:
            m2 = node_def_pb2.NodeDef()
            if m.name in bound:  # an argument placeholder
                m2.name, m2.op = prefix + m.name, "Identity"
                m2.input.append(bound[m.name])
                m2.attr["T"].CopyFrom(m.attr["dtype"])
            else:
                m2.CopyFrom(m)
                m2.name = prefix + m.name
                del m2.input[:]
                m2.input.extend(rename(i) for i in m.input)
            new.append(m2)
        ret = node_def_pb2.NodeDef()
        ret.name, ret.op = n.name, "IdentityN"
        for a in fdef.signature.output_arg:
            ref = flat.get(fdef.ret[a.name], fdef.ret[a.name])
            ret.input.append(rename(ref))
        new.append(ret)
        work.extend(reversed(new))  # bodies may call functions in turn
    return out


def convert_graph_def(graph_def, io: GraphIO, specs: Sequence[InputSpec], outputs: Sequence[str],
                      where: str) -> ModuleOp:
    from compiler.frontends.tensorflow import control, ops  # noqa: F401  (fill the table)

    nodes = {n.name: n for n in inline_calls(graph_def, where)}
    library = {f.signature.name: f for f in graph_def.library.function}
    ctx = TfContext(where)
    ctx.library = library
    by_name = {s.name: s for s in specs if s.name}
    unnamed = [s for s in specs if not s.name]
    if unnamed and len(unnamed) != len(io.inputs):
        raise ConversionError(f"{where}: {len(unnamed)} unnamed input shapes given for {len(io.inputs)} inputs")
    values: dict[tuple[str, int], Any] = {}
    for i, (pname, names) in enumerate(io.inputs):
        node = nodes.get(pname)
        if node is None:
            raise ConversionError(f"{where}: input {pname!r} is not a node of the graph")
        spec = next((by_name.pop(n) for n in [pname, *names] if n in by_name), None) or (
            unnamed[i] if unnamed else None)
        dtype = ctx.attr(node, "dtype")
        shape = ctx.attr(node, "shape", None)
        if spec is not None and spec.value is not None:
            values[(pname, 0)] = ctx.const(spec.frozen(dtype))
            continue
        if spec is not None:
            shape, dtype = spec.resolve(names[0], shape, dtype)
        elif shape is None:
            raise ConversionError(f"{where}: input {names[0]!r} has no known rank; give its shape with input=")
        values[(pname, 0)] = ctx.b.add_input(names, shape, dtype)
    edges: dict[tuple[str, int], Any] = {}  # (node, data input port) fed by a new input
    cuts, out_tensors = _cut_points(nodes, by_name, outputs, where)
    if outputs:  # the user picks output tensors (cutting the graph there)
        io = GraphIO(io.inputs, [(t, list(dict.fromkeys([o, t]))) for o, t in zip(outputs, out_tensors)])
    if not io.outputs:
        raise ConversionError(f"{where}: the graph has no outputs (every node's result is read by another node)")
    for name, spec in by_name.items():  # cut points inside the graph
        c = cuts[name]
        # a cut point without a type is f32, as the Model Optimizer makes it
        v = ctx.const(spec.frozen(np.dtype(np.float32))) if spec.value is not None else \
            ctx.b.add_input(list(dict.fromkeys([name, c.tensor or name])),
                            *spec.resolve(name, None, np.dtype(np.float32)))
        if c.tensor is not None:
            values[parse_input(c.tensor)[:2]] = v
        else:
            edges[(c.node, c.port)] = v

    targets = [parse_input(t)[:2] for t, _ in io.outputs]
    run_nodes(ctx, nodes, values, targets, where, edges=edges)

    result = []
    for tensor, names in io.outputs:
        key = parse_input(tensor)[:2]
        v = values.get(key)
        if not isinstance(v, SSAValue):
            raise ConversionError(f"{where}: output {tensor!r} is not produced by the graph")
        if v in ctx.complex:
            raise ConversionError(f"{where}: output {tensor!r} is complex (take its tf.abs, tf.math.real or "
                                  f"tf.math.imag in the model)")
        result.append((v, list(dict.fromkeys([*names, tensor]))))
    if by_name or outputs:  # placeholders that fed only the parts cut away go
        drop_unused_inputs(ctx.b, [v for v, _ in result])
    return ctx.b.finish(result)


def run_nodes(ctx: TfContext, nodes: dict, values: dict, targets: list[tuple[str, int]], where: str,
              prefix: str = "", edges: dict | None = None) -> None:
    """Convert the nodes the targets depend on, in order, adding their results to `values`
    (keyed by (node name, output index)); `prefix` goes before the names the IR records;
    `edges` feed given (node, data input port)s."""
    edges = edges or {}
    preset = set(values)  # inputs and cut points: what the nodes computing them gave is not used
    missing: dict[str, list[str]] = {}
    for n in _reachable(nodes, targets, values, edges):
        if n.op not in TF_OPS and extension_for(n.op) is None:
            missing.setdefault(n.op, []).append(prefix + n.name)
    if missing:  # (loops lowered to Enter/Merge/NextIteration/... are listed here too)
        raise UnsupportedOpsError("TensorFlow", where, missing)
    for node in _needed(nodes, targets, values, where, edges):
        ins = []
        for s in node.input:
            name, idx, control = parse_input(s)
            if control:
                continue
            if (node.name, len(ins)) in edges:
                ins.append(edges[(node.name, len(ins))])
                continue
            if (name, idx) not in values:
                raise ConversionError(f"{where}: node {prefix + node.name!r} reads {s!r}, which no node produces")
            ins.append(values[(name, idx)])
        before = ctx.b.block.last_op
        ext = extension_for(node.op)
        if node.op not in COMPLEX_OPS and any(isinstance(v, SSAValue) and v in ctx.complex for v in ins):
            raise ConversionError(f"{where}: node {prefix + node.name!r} ({node.op}) reads a complex tensor; complex "
                                  f"values are supported by {', '.join(sorted(COMPLEX_OPS))}")
        try:
            if ext is not None:  # the user's conversion comes first, as in OpenVINO
                res = convert_node(ext, node.op, prefix + node.name, ins, _attributes(ctx, node), ctx.b)
            else:
                res = TF_OPS[node.op](ctx, node, ins)
        except UnsupportedOpsError:
            raise
        except ConversionError as e:
            msg = str(e)
            raise ConversionError(msg if msg.startswith(where) else
                                  f"{where}: node {prefix + node.name!r} ({node.op}): {msg}") from None
        results = res if isinstance(res, list | tuple) else [res]
        name_ops_since(ctx.b, before, prefix + node.name)
        for i, v in enumerate(results):
            if v is None or (node.name, i) in preset:
                continue
            values[(node.name, i)] = v
            if isinstance(v, SSAValue):
                add_tensor_name(v, f"{prefix}{node.name}:{i}")


def _attributes(ctx: TfContext, node) -> dict:
    """A node's attributes as Python values (those of kinds a conversion can use)."""
    out = {}
    for k in node.attr:
        try:
            out[k] = ctx.attr(node, k)
        except (ConversionError, TypeError, ValueError):
            continue  # e.g. a function or an unsupported type: no conversion reads those as values
    return out


def _cut_points(nodes: dict, specs: dict, outputs: Sequence[str], where: str):
    """What the input names left in `specs` and the `outputs` name ("node:1" tensors or
    "0:node" input ports), and the output tensors; one error for every unknown name."""
    def is_tensor(t: str) -> bool:
        node, _, idx = t.rpartition(":")
        return node in nodes and idx.isdigit()

    def outs(n: str):
        return [f"{n}:0"] if n in nodes else None

    def ins(n: str):
        if n not in nodes:
            return None
        return [f"{src}:{idx}" for src, idx, control in map(parse_input, nodes[n].input) if not control]

    def find(name: str):
        c = resolve(name, is_tensor, outs, ins)
        if c is not None:
            return c
        # freezing a SavedModel or Keras model puts its nodes under the call's scope
        # ("StatefulPartitionedCall/dense/MatMul"): a name that ends exactly one node's name is it
        head, sep, tail = name.partition(":") if name.split(":")[0].isdigit() else ("", "", name)
        node, colon, port = tail.rpartition(":") if tail.rpartition(":")[2].isdigit() else (tail, "", "")
        scoped = [n for n in nodes if n.endswith("/" + node)]
        if len(scoped) == 1:
            return resolve(head + sep + scoped[0] + colon + port, is_tensor, outs, ins)
        return None

    cuts, unknown, out_tensors = {}, {}, []
    for name in specs:
        cuts[name] = find(name)
        if cuts[name] is None:
            unknown[name] = "input"
    for name in outputs:
        c = find(name)
        if c is None:
            unknown[name] = "output"
        else:
            out_tensors.append(as_output(c, ins))
    if unknown:
        raise unknown_names_error(where, unknown, nodes)
    return cuts, out_tensors


def call_function(ctx: TfContext, fname: str, args: list, prefix: str) -> list:
    """The results of library function `fname` applied to `args`, its body converted in place
    (names prefixed with `prefix`, e.g. a loop's name and iteration)."""
    from tensorflow.python.framework.function_def_to_graph import function_def_to_graph_def

    fdef = ctx.library.get(fname)
    if fdef is None:
        raise ConversionError(f"function {fname!r} is not in the graph's library")
    arg_names = [a.name for a in fdef.signature.input_arg]
    if len(args) != len(arg_names):
        raise ConversionError(f"function {fname!r} takes {len(arg_names)} arguments, got {len(args)}")
    body, flat = function_def_to_graph_def(fdef)
    nodes = {n.name: n for n in inline_calls(body, ctx.where, ctx.library)}
    values = {(a, 0): v for a, v in zip(arg_names, args)}
    targets = [parse_input(flat.get(fdef.ret[a.name], fdef.ret[a.name]))[:2] for a in fdef.signature.output_arg]
    run_nodes(ctx, nodes, values, targets, ctx.where, prefix)
    return [values[t] for t in targets]


def _data_inputs(node, edges: dict, given: dict) -> list[str]:
    """The nodes a node reads through data edges, less the ports `edges` feed and the tensors
    already `given` (inputs, cut points)."""
    srcs = [(src, idx) for src, idx, control in map(parse_input, node.input) if not control]
    return [src for k, (src, idx) in enumerate(srcs) if (node.name, k) not in edges and (src, idx) not in given]


def _reachable(nodes: dict, outputs: list[tuple[str, int]], given: dict, edges: dict) -> list:
    """The nodes the outputs depend on through data edges (any order; cycles allowed)."""
    seen: set[str] = set()
    stack = [name for name, idx in outputs if (name, idx) not in given]
    out = []
    while stack:
        name = stack.pop()
        if name in seen or name not in nodes:
            continue
        seen.add(name)
        out.append(nodes[name])
        stack.extend(_data_inputs(nodes[name], edges, given))
    return out


def _needed(nodes: dict, outputs: list[tuple[str, int]], given: dict, where: str, edges: dict) -> list:
    """The nodes the outputs depend on through data edges, in topological order."""
    order, state = [], {}
    for out_name, out_idx in outputs:
        if (out_name, out_idx) in given:
            continue
        if out_name not in nodes:
            raise ConversionError(f"{where}: output {out_name!r} names no node of the graph")
        stack = [(out_name, False)]
        while stack:
            name, done = stack.pop()
            if done:
                state[name] = 2
                order.append(nodes[name])
                continue
            if state.get(name):
                continue
            if name not in nodes:
                raise ConversionError(f"{where}: tensor {name!r} is read but no node produces it")
            state[name] = 1
            stack.append((name, True))
            for src in reversed(_data_inputs(nodes[name], edges, given)):
                if state.get(src) == 1:
                    raise ConversionError(f"{where}: the graph has a cycle through {src!r}")
                if not state.get(src):
                    stack.append((src, False))
    return order
