"""ONNX's backend API (`onnx.backend.base.Backend`) over ovcc, so that ONNX's own test runner
runs against it:

    import onnx.backend.test
    import compiler.onnx_backend as backend
    tests = onnx.backend.test.BackendTest(backend, __name__)

Models run compiled for the CPU in f32 (the precision ONNX's expected outputs are computed in;
pass `config=` to prepare for other properties) or with device "REFERENCE" on the numpy
interpreter. Inputs that fix output shapes (Reshape's shape, Resize's sizes...) must be
constants for a static-shape compiler: a model that needs them is converted again at run time
with those (small, non-first) inputs frozen to the values given."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep

import compiler as ov
from dialects.errors import OvccError

F32 = {"INFERENCE_PRECISION_HINT": "f32"}
DEVICES = ("CPU", "REFERENCE")
FROZEN_MAX = 64  # elements of an input frozen as a shape-defining constant


def _device(device: str) -> str:
    return str(device).split(":")[0].upper()


class OvccRep(BackendRep):
    def __init__(self, model: onnx.ModelProto, device: str, config: dict[str, Any]):
        self.model = model
        self.device = _device(device)
        self.config = config if self.device == "CPU" else None
        inits = {t.name for t in model.graph.initializer}
        self.input_names = [i.name for i in model.graph.input if i.name not in inits]
        try:
            self.compiled = ov.compile_model(ov.convert_model(model), self.device, self.config)
        except OvccError:
            self.compiled = None  # needs shape-defining inputs: compiled in run()

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        if isinstance(inputs, dict):
            arrays = [np.asarray(inputs[n]) for n in self.input_names]
        elif isinstance(inputs, list | tuple):
            arrays = [np.asarray(x) for x in inputs]
        else:
            arrays = [np.asarray(inputs)]
        if self.compiled is not None:
            return self.compiled(arrays).to_tuple()
        frozen = {n: x for k, (n, x) in enumerate(zip(self.input_names, arrays)) if k > 0 and x.size <= FROZEN_MAX}
        compiled = ov.compile_model(ov.convert_model(self.model, input=frozen), self.device, self.config)
        return compiled([x for n, x in zip(self.input_names, arrays) if n not in frozen]).to_tuple()


class OvccBackend(Backend):
    @classmethod
    def is_compatible(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> bool:
        return cls.supports_device(device)

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> OvccRep:
        if not cls.supports_device(device):
            raise ov.CompileError(f"onnx_backend: unknown device {device!r} (devices: {', '.join(DEVICES)})")
        config = {**F32, **kwargs.get("config", {})}
        return OvccRep(model, device, config)

    @classmethod
    def run_model(cls, model: onnx.ModelProto, inputs: Any, device: str = "CPU", **kwargs: Any):
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(cls, node: onnx.NodeProto, inputs: Any, device: str = "CPU",
                 outputs_info: Sequence[tuple[np.dtype, tuple]] | None = None, **kwargs: Any):
        """One node as a model of its own (input types from the arrays given, output types
        inferred by ONNX's shape inference)."""
        from onnx import helper

        arrays = [np.asarray(x) for x in (inputs.values() if isinstance(inputs, dict) else inputs)]
        names = [n for n in node.input if n]
        graph_inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
                        for n, a in zip(names, arrays)]
        graph_outputs = [helper.make_empty_tensor_value_info(n) for n in node.output if n]
        opset = kwargs.get("opset_version", onnx.defs.onnx_opset_version())
        model = helper.make_model(helper.make_graph([node], "node", graph_inputs, graph_outputs),
                                  opset_imports=[helper.make_opsetid("", opset)])
        inferred = onnx.shape_inference.infer_shapes(model)
        del model.graph.output[:]
        model.graph.output.extend(inferred.graph.output)
        return cls.run_model(model, arrays, device, **kwargs)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return _device(device) in DEVICES


prepare = OvccBackend.prepare
run_model = OvccBackend.run_model
run_node = OvccBackend.run_node
supports_device = OvccBackend.supports_device
is_compatible = OvccBackend.is_compatible

__all__ = ["OvccBackend", "OvccRep", "prepare", "run_model", "run_node", "supports_device"]
