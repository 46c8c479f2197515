"""torch.export programs (core ATen FX graphs) into the `ov` dialect.

Parameters, buffers and lifted constants become `ov.Const`; user inputs become the model's
inputs (named after the placeholders, which torch.export names after `forward`'s arguments
and dict keys); the graph's nested outputs are flattened into the model's outputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import SSAValue

from compiler.frontend import convert_node
from compiler.frontend import lookup as extension_for
from compiler.frontends.builder import FrontendContext, GraphBuilder, set_layer_name
from compiler.frontends.cut import drop_unused_inputs, unknown_names_error
from compiler.frontends.inputs import InputSpec
from dialects.errors import ConversionError, ExtensionError, InternalError, OvccError, UnsupportedOpsError
from dialects.ov import dtype_of


def torch_dtype_to_np(dt) -> np.dtype:
    import torch

    table = {torch.float32: np.float32, torch.float16: np.float16, torch.float64: np.float64,
             torch.int64: np.int64, torch.int32: np.int32, torch.int16: np.int16, torch.int8: np.int8,
             torch.uint8: np.uint8, torch.bool: np.bool_}
    if dt not in table:
        raise ConversionError(f"unsupported torch element type {dt}")
    return np.dtype(table[dt])


def to_numpy(t) -> np.ndarray:
    import torch

    t = t.detach()
    if t.dtype == torch.bfloat16:
        t = t.float()
    return t.contiguous().cpu().numpy()


class FxContext(FrontendContext):
    """Values of the graph's nodes: an SSA tensor, a Python scalar/list, or a tuple of them."""

    def __init__(self, where: str):
        self.b = GraphBuilder()
        self.where = where
        self.env: dict[Any, Any] = {}

    # --- values ------------------------------------------------------------------------------
    def get(self, a: Any) -> Any:
        import torch.fx

        if isinstance(a, torch.fx.Node):
            return self.env[a]
        if isinstance(a, list | tuple):
            return type(a)(self.get(x) for x in a)
        return a

    def const(self, value, dtype=None) -> SSAValue:
        return self.b.const(np.asarray(value, dtype=dtype))

    def tensor(self, x: Any, dtype=None) -> SSAValue:
        """A tensor operand (scalars become constants of `dtype`)."""
        if isinstance(x, SSAValue):
            if dtype is not None and dtype_of(x.type) != np.dtype(dtype):
                return self.b.out("Convert", [x], destination_type=np.dtype(dtype))
            return x
        if isinstance(x, bool | int | float | np.number):
            return self.const(x, dtype if dtype is not None else (np.float32 if isinstance(x, float) else np.int64))
        raise ConversionError(f"{self.where}: expected a tensor, got {type(x).__name__}")

    def ints(self, x: Any) -> list[int] | None:
        """A list of ints, if every element is known."""
        if isinstance(x, SSAValue):
            k = self.known(x)
            return None if k is None else [int(v) for v in np.asarray(k).reshape(-1)]
        if isinstance(x, int):
            return [x]
        out = []
        for e in x:
            if isinstance(e, SSAValue):
                k = self.known(e)
                if k is None:
                    return None
                out.append(int(np.asarray(k).reshape(-1)[0]))
            else:
                out.append(int(e))
        return out

    def shape_tensor(self, sizes: Any) -> SSAValue:
        """A 1-D i64 tensor from a list mixing ints and symbolic sizes (0-d tensors)."""
        known = self.ints(sizes)
        if known is not None:
            return self.i64(known)
        parts = []
        for e in sizes:
            if isinstance(e, SSAValue):
                e = self.tensor(e, np.int64)
                parts.append(self.b.out("Reshape", [e, self.i64([1])], special_zero=False))
            else:
                parts.append(self.i64([int(e)]))
        return self.b.out("Concat", parts, axis=0)



def named_args(node) -> dict[str, Any]:
    """Arguments by schema name, defaults filled in (trailing defaults are omitted from args)."""
    import torch

    target = node.target
    if not isinstance(target, torch._ops.OpOverload):
        return {f"arg{i}": a for i, a in enumerate(node.args)} | dict(node.kwargs)
    out = {}
    for i, a in enumerate(target._schema.arguments):
        if i < len(node.args):
            out[a.name] = node.args[i]
        elif a.name in node.kwargs:
            out[a.name] = node.kwargs[a.name]
        else:
            out[a.name] = a.default_value if a.has_default_value() else None
    return out


def type_names(target) -> tuple[str, ...]:
    """How an extension may name an op: "aten::hardtanh", or with its overload "aten::add.Tensor"."""
    import torch

    if not isinstance(target, torch._ops.OpOverload):
        return (op_key(target),)
    name = target.name()
    return (name, name.split(".")[0]) if "." in name else (name,)


def op_key(target) -> str:
    """"aten.add.Tensor" -> "add.Tensor"; builtins (operator.getitem) by name."""
    import torch

    if isinstance(target, torch._ops.OpOverload):
        name = target.name()  # aten::add.Tensor
        return name.split("::", 1)[1]
    mod = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", str(target))
    return f"operator.{name}" if mod in ("_operator", "operator") else name


def convert_exported(ep, where: str, frozen_inputs: dict | None = None,
                     input_names: list[str] | None = None, cuts: Sequence[InputSpec] = (),
                     outputs: Sequence[str] = ()) -> ModuleOp:
    """An ExportedProgram (already decomposed to core ATen) into an `ov` module.
    `frozen_inputs`: user inputs that are really weights (torch.compile passes parameters as
    inputs); their example values become constants. `cuts` name graph nodes whose values
    become new inputs, `outputs` the nodes whose values are the outputs (cutting the graph)."""
    import torch

    from compiler.frontends.torch.aten import ATEN, lookup

    ctx = FxContext(where)
    graph = ep.graph
    missing: dict[str, list[str]] = {}
    for n in graph.nodes:
        if n.op == "call_function" and lookup(op_key(n.target)) is None and \
                extension_for(*type_names(n.target)) is None:
            missing.setdefault(op_key(n.target), []).append(n.name)
    if missing:
        raise UnsupportedOpsError("PyTorch (ATen)", where, missing)
    sig = ep.graph_signature
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    user_names = set(input_names or []) | set(sig.user_inputs)
    cut_at = _cut_nodes(graph, [c for c in cuts if c.name and c.name not in user_names], outputs, where)
    state = {**ep.state_dict, **ep.constants}
    user_index = 0
    for n, spec in zip(placeholders, sig.input_specs):
        kind = spec.kind.name
        if kind == "USER_INPUT":
            val = n.meta.get("val")
            if not isinstance(val, torch.Tensor):
                const = getattr(spec.arg, "value", None)
                ctx.env[n] = const  # a Python scalar baked into the program
                continue
            if frozen_inputs and n.name in frozen_inputs:
                ctx.env[n] = ctx.b.const(to_numpy(frozen_inputs[n.name]))
                continue
            shape = [d if isinstance(d, int) else None for d in val.shape]  # SymInt: dynamic
            name = input_names[user_index] if input_names and user_index < len(input_names) else n.name
            user_index += 1
            ctx.env[n] = ctx.b.add_input([name], shape, torch_dtype_to_np(val.dtype))
        elif kind in ("PARAMETER", "BUFFER", "CONSTANT_TENSOR"):
            t = state[spec.target]
            v = ctx.b.const(to_numpy(t))
            set_layer_name(v.op, spec.target)
            ctx.env[n] = v
        else:
            raise ConversionError(f"{where}: unsupported program input kind {kind} ({n.name})")
    results = []
    for n in graph.nodes:
        if n.op == "call_function" and n.name in cut_at:
            spec = cut_at[n.name]
            val = n.meta.get("val")
            shape = [d if isinstance(d, int) else None for d in val.shape] if isinstance(val, torch.Tensor) else None
            dtype = torch_dtype_to_np(val.dtype) if isinstance(val, torch.Tensor) else np.dtype(np.float32)
            ctx.env[n] = ctx.b.const(spec.frozen(dtype)) if spec.value is not None else \
                ctx.b.add_input([n.name], *spec.resolve(n.name, shape, dtype))
        elif n.op == "call_function":
            before = ctx.b.block.last_op
            ext = extension_for(*type_names(n.target))
            try:
                if ext is not None:  # the user's conversion comes first, as in OpenVINO
                    args = {k: ctx.get(v) for k, v in named_args(n).items()}
                    res = convert_node(ext, type_names(n.target)[0], n.name, list(args.values()), args, ctx.b)
                    res = res[0] if len(res) == 1 else tuple(res)
                else:
                    res = ATEN[lookup(op_key(n.target))](ctx, n, named_args(n))
            except ExtensionError:
                raise
            except OvccError as e:
                raise ConversionError(f"{where}: node {n.name} ({op_key(n.target)}): {e}") from None
            except (ValueError, TypeError, KeyError, IndexError) as e:  # a converter's bug
                raise InternalError(f"{where}: node {n.name} ({op_key(n.target)}): "
                                    f"{type(e).__name__}: {e}") from e
            ctx.env[n] = _match_meta(ctx, n, res)
            op = before.next_op if before is not None else ctx.b.block.first_op
            while op is not None:
                set_layer_name(op, n.name)
                op = op.next_op
        elif n.op == "output":
            results = [(v, []) for v in _flatten(ctx.get(n.args[0]))]
    if outputs:
        by_name = {n.name: n for n in graph.nodes}
        results = [(ctx.env[by_name[o]], [o]) for o in outputs]
    result = [(v if isinstance(v, SSAValue) else ctx.tensor(v), names) for v, names in results]
    if cut_at or outputs:  # inputs that fed only the parts cut away go
        drop_unused_inputs(ctx.b, [v for v, _ in result])
    return ctx.b.finish(result)


def _cut_nodes(graph, cuts: Sequence[InputSpec], outputs: Sequence[str], where: str) -> dict:
    """The graph nodes that `cuts` name; one error for every name that is no node's (the
    nodes are named as `torch.export` named them: `ep.graph` shows them)."""
    names = {n.name for n in graph.nodes if n.op in ("call_function", "placeholder")}
    unknown = {c.name: "input" for c in cuts if c.name not in names} | \
        {o: "output" for o in outputs if o not in names}
    if unknown:
        raise unknown_names_error(where, unknown, names)
    return {c.name: c for c in cuts}


def _flatten(x) -> list:
    if isinstance(x, list | tuple):
        return [y for e in x for y in _flatten(e)]
    if isinstance(x, dict):
        return [y for e in x.values() for y in _flatten(e)]
    if x is None:
        return []
    return [x]


def _match_meta(ctx: FxContext, node, res):
    """Convert a result to the element type torch says the node has (type promotion rules are
    the source framework's, so its own record of the result type is the judge)."""
    import torch

    val = node.meta.get("val")
    if isinstance(res, SSAValue) and isinstance(val, torch.Tensor):
        want = torch_dtype_to_np(val.dtype)
        if ctx.dtype(res) != want:
            res = ctx.b.out("Convert", [res], destination_type=want)
    return res
