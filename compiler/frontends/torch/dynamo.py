"""`torch.compile(model, backend="ovcc")`: the FX graphs Dynamo captures are compiled by ovcc's
CPU pipeline, with the CPU config given as `options={"config": {...}}` (as OpenVINO's backend
takes it). Parameters (which Dynamo passes as graph inputs) are taken as constants, so the
kernels see the weights; a graph ovcc cannot convert runs eagerly, with a warning naming why.

With `dynamic=True` Dynamo passes symbolic sizes as graph inputs of their own (SymInts). Each
one is the size of some input tensor's dim; it is read from that tensor inside the graph
instead, and the graph is converted once with those dims dynamic (dims Dynamo found equal share
one symbol), so that ovcc's compiled model specializes natively on each concrete shape.

Registered through the `torch_dynamo_backends` entry point of the ovcc distribution."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

from dialects.errors import OvccError


def ovcc_backend(gm, example_inputs: Sequence, **kwargs) -> Callable:
    import numpy as np
    import torch

    import compiler as ov
    from compiler.frontends.torch.fx import convert_exported
    from compiler.model import Model

    where = f"torch.compile graph {getattr(gm, '_get_name', lambda: 'GraphModule')()}"
    tensors = [x for x in example_inputs if isinstance(x, torch.Tensor)]
    dynamic_shapes = None
    if len(tensors) != len(example_inputs):
        found = _sizes_from_tensors(gm)
        if isinstance(found, str):
            warnings.warn(f"{where}: {found}; running eagerly (use dynamic=False)", stacklevel=2)
            return gm.forward
        gm, dynamic_shapes = found
    try:
        # export traces on its own, outside the tracing context of the Dynamo frame being
        # compiled (whose guards it would otherwise inherit, naming Dynamo's sources)
        with warnings.catch_warnings(), torch._guards.tracing(None):
            warnings.simplefilter("ignore")
            ep = torch.export.export(gm, tuple(tensors), dynamic_shapes=dynamic_shapes,
                                     strict=False).run_decompositions()
        users = [n.name for n, s in zip([n for n in ep.graph.nodes if n.op == "placeholder"],
                                        ep.graph_signature.input_specs) if s.kind.name == "USER_INPUT"]
        weights = {name: x for name, x in zip(users, tensors) if isinstance(x, torch.nn.Parameter)}
        runtime = [i for i, x in enumerate(example_inputs)
                   if isinstance(x, torch.Tensor) and not isinstance(x, torch.nn.Parameter)]
        model = Model(convert_exported(ep, where, weights))
        from passes import FRONTEND_CLEANUP
        from passes.pipeline import run_pipeline

        run_pipeline(model.module, FRONTEND_CLEANUP)
        compiled = ov.compile_model(model, "CPU", dict((kwargs.get("options") or {}).get("config") or {}))
    except OvccError as e:
        warnings.warn(f"{where}: ovcc cannot compile this graph, running it eagerly: {e}", stacklevel=2)
        return gm.forward
    except Exception as e:  # torch.export refusing the rewritten graph (a guard it cannot keep)
        if dynamic_shapes is None:
            raise
        warnings.warn(f"{where}: torch.export cannot keep these sizes symbolic ({type(e).__name__}: "
                      f"{str(e).splitlines()[0] if str(e) else ''}); running eagerly (use dynamic=False)",
                      stacklevel=2)
        return gm.forward

    def run(*args):
        arrays = [args[i].detach().contiguous().numpy() for i in runtime]
        out = compiled(arrays)
        return tuple(torch.from_numpy(np.asarray(out[i])) for i in range(len(out)))

    return run


def _sizes_from_tensors(gm):
    """`gm` with each SymInt input replaced by a read of the tensor dim it is the size of, and
    torch.export's dynamic_shapes for the tensor inputs (one Dim per symbol), or why not. The
    graph is copied into a plain one (own input names, no Dynamo metadata)."""
    import torch

    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    values = [n.meta.get("example_value") for n in placeholders]
    graph = torch.fx.Graph()
    env, dims, symbols, shapes = {}, {}, {}, []
    for k, (n, v) in enumerate(zip(placeholders, values)):
        if isinstance(v, torch.Tensor):
            env[n] = graph.placeholder(f"input_{k}")
            spec = {}
            for i, d in enumerate(v.shape):
                if _symbol(d):
                    dims.setdefault(str(d), (env[n], i))
                    spec[i] = symbols.setdefault(str(d), torch.export.Dim(_dim_name(str(d))))
            shapes.append(spec or None)
        elif not isinstance(v, torch.SymInt):
            return f"an input of type {type(v).__name__}"
    for n, v in zip(placeholders, values):
        if isinstance(v, torch.SymInt):
            if str(v) not in dims:
                return f"the symbolic size {v} is not the size of an input tensor's dim"
            env[n] = graph.call_function(torch.ops.aten.sym_size.int, dims[str(v)])
    for n in gm.graph.nodes:
        if n.op != "placeholder":
            env[n] = graph.node_copy(n, lambda x: env[x])
            env[n].meta = {}
    copy = torch.fx.GraphModule(gm, graph)
    return copy, tuple(shapes)


def _symbol(d) -> bool:
    """Whether a dim of a Dynamo example value is a free symbol (not one specialized to a number)."""
    import torch

    return isinstance(d, torch.SymInt) and str(d).isidentifier()


def _dim_name(symbol: str) -> str:
    return "d_" + "".join(c if c.isalnum() else "_" for c in symbol)
