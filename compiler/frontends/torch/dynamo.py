"""`torch.compile(model, backend="ovcc")`: the FX graphs Dynamo captures are compiled by ovcc's
CPU pipeline, with the CPU config given as `options={"config": {...}}` (as OpenVINO's backend
takes it). Parameters (which Dynamo passes as graph inputs) are taken as constants, so the
kernels see the weights; a graph ovcc cannot convert runs eagerly, with a warning naming why.

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
    if not all(isinstance(x, torch.Tensor) for x in example_inputs):
        warnings.warn(f"{where}: symbolic sizes among the inputs; running eagerly (use dynamic=False)",
                      stacklevel=2)
        return gm.forward
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ep = torch.export.export(gm, tuple(example_inputs), strict=False).run_decompositions()
        users = [n.name for n, s in zip([n for n in ep.graph.nodes if n.op == "placeholder"],
                                        ep.graph_signature.input_specs) if s.kind.name == "USER_INPUT"]
        weights = {name: x for name, x in zip(users, example_inputs) if isinstance(x, torch.nn.Parameter)}
        runtime = [i for i, x in enumerate(example_inputs) if not isinstance(x, torch.nn.Parameter)]
        model = Model(convert_exported(ep, where, weights))
        from passes import FRONTEND_CLEANUP
        from passes.pipeline import run_pipeline

        run_pipeline(model.module, FRONTEND_CLEANUP)
        compiled = ov.compile_model(model, "CPU", dict((kwargs.get("options") or {}).get("config") or {}))
    except OvccError as e:
        warnings.warn(f"{where}: ovcc cannot compile this graph, running it eagerly: {e}", stacklevel=2)
        return gm.forward

    def run(*args):
        arrays = [args[i].detach().contiguous().numpy() for i in runtime]
        out = compiled(arrays)
        return tuple(torch.from_numpy(np.asarray(out[i])) for i in range(len(out)))

    return run
