"""The Inference Engine API of older OpenVINO releases, as a thin layer over `Core` and
`CompiledModel`, so that code written for it runs with `compiler` in place of `openvino`:

    from compiler.inference_engine import IECore
    ie = IECore()
    net = ie.read_network(model="ir/model.xml", weights="ir/model.bin")
    exec_net = ie.load_network(network=net, device_name="CPU")
    result = exec_net.infer(inputs={"input": data})
    output = result["output"]

Names are the old API's: inputs and outputs by the tensor names the model carries (the
"blob" names), precisions as strings ("FP32", "FP16", "U8", "I32", ...), layouts as "NCHW",
"NC", ... (from the rank, as the old API defaulted them). Setting an input's precision or
layout (`net.input_info["x"].precision = "U8"`) adds the conversion as preprocessing."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from compiler.api import Core
from compiler.model import Model
from dialects.errors import InputError
from dialects.ov import ov_type_name

PRECISIONS = {"f32": "FP32", "f16": "FP16", "bf16": "BF16", "f64": "FP64", "i8": "I8", "i16": "I16", "i32": "I32",
              "i64": "I64", "u8": "U8", "u16": "U16", "u32": "U32", "u64": "U64", "boolean": "BOOL"}
_TYPES = {v: k for k, v in PRECISIONS.items()}
LAYOUTS = {0: "SCALAR", 1: "C", 2: "NC", 3: "CHW", 4: "NCHW", 5: "NCDHW"}
StatusCode = type("StatusCode", (), {"OK": 0, "GENERAL_ERROR": -1, "RESULT_NOT_READY": -9, "INFER_NOT_STARTED": -11})


def _precision(dtype: np.dtype) -> str:
    return PRECISIONS[ov_type_name(dtype)]


class TensorDesc:
    def __init__(self, precision: str, dims: list, layout: str):
        self.precision = precision
        self.dims = dims
        self.layout = layout

    def __repr__(self) -> str:
        return f"<TensorDesc: {self.precision} {self.dims} {self.layout}>"


class DataPtr:
    """One input or output of a network: name, shape, precision, layout."""

    def __init__(self, port: Any, precision: str | None = None, layout: str | None = None):
        self.name = port.name
        self._shape = [d if d is not None else -1 for d in port.partial_shape]
        self._precision = precision or _precision(port.dtype)
        self._layout = layout or LAYOUTS.get(len(self._shape), "ANY")

    @property
    def shape(self) -> list[int]:
        return list(self._shape)

    @property
    def precision(self) -> str:
        return self._precision

    @property
    def layout(self) -> str:
        return self._layout

    @property
    def tensor_desc(self) -> TensorDesc:
        return TensorDesc(self._precision, self.shape, self._layout)

    def __repr__(self) -> str:
        return f"<DataPtr {self.name!r} {self._precision} {self._shape} {self._layout}>"


class InputInfoPtr:
    """An input of an IENetwork; its precision and layout can be set (the network then expects
    data of that type and layout, converted as preprocessing)."""

    def __init__(self, network: IENetwork, index: int):
        self._net = network
        self._index = index

    @property
    def name(self) -> str:
        return self._net._model.inputs[self._index].name

    @property
    def input_data(self) -> DataPtr:
        port = self._net._model.inputs[self._index]
        want = self._net._wanted.get(self._index, {})
        shape_port = port
        if "layout" in want and want["layout"] != LAYOUTS.get(len(port.partial_shape)):
            from compiler.preprocess import _permutation
            from compiler.types import Layout

            perm = _permutation(Layout(LAYOUTS[len(port.partial_shape)]), Layout(want["layout"]),
                                len(port.partial_shape), "layout") or range(len(port.partial_shape))
            shape_port = _Shaped(port, [tuple(port.partial_shape)[p] for p in perm])
        return DataPtr(shape_port, want.get("precision"), want.get("layout"))

    @property
    def precision(self) -> str:
        return self.input_data.precision

    @precision.setter
    def precision(self, value: str) -> None:
        key = str(value).upper()
        if key not in _TYPES:
            raise InputError(f"input {self.name!r}: unknown precision {value!r} (known: {', '.join(_TYPES)})")
        self._net._wanted.setdefault(self._index, {})["precision"] = key

    @property
    def layout(self) -> str:
        return self.input_data.layout

    @layout.setter
    def layout(self, value: str) -> None:
        from compiler.types import Layout

        Layout(value)  # a bad layout is refused here
        self._net._wanted.setdefault(self._index, {})["layout"] = str(value).upper()

    @property
    def tensor_desc(self) -> TensorDesc:
        return self.input_data.tensor_desc


class _Shaped:
    """A port seen with another shape (an input whose layout is to be changed)."""

    def __init__(self, port: Any, shape: list):
        self.name, self.dtype, self.partial_shape = port.name, port.dtype, shape


class IENetwork:
    """A model read by IECore.read_network (or made from a Model)."""

    def __init__(self, model: Model):
        self._model = model
        self._wanted: dict[int, dict[str, str]] = {}  # input index -> precision/layout the user set

    @property
    def name(self) -> str:
        return self._model.friendly_name

    @property
    def input_info(self) -> dict[str, InputInfoPtr]:
        return {p.name: InputInfoPtr(self, p.index) for p in self._model.inputs}

    @property
    def inputs(self) -> dict[str, DataPtr]:
        return {n: i.input_data for n, i in self.input_info.items()}

    @property
    def outputs(self) -> dict[str, DataPtr]:
        return {p.name: DataPtr(p) for p in self._model.outputs}

    @property
    def batch_size(self) -> int:
        shape = list(self._model.inputs[0].partial_shape)
        return shape[0] if shape and shape[0] is not None else -1

    @batch_size.setter
    def batch_size(self, n: int) -> None:
        shapes = []
        for p in self._model.inputs:
            s = list(p.partial_shape)
            if not s:
                raise InputError(f"input {p.name!r} is a scalar: it has no batch")
            s[0] = int(n)
            shapes.append(s)
        self._model.reshape(shapes)

    def reshape(self, input_shapes: dict[str, Any]) -> None:
        self._model.reshape({k: list(v) for k, v in input_shapes.items()})

    def serialize(self, path_to_xml: str | os.PathLike, path_to_bin: str | os.PathLike = "") -> None:
        from compiler.api import serialize

        serialize(self._prepared(), path_to_xml, path_to_bin or None)

    def get_function(self) -> Model:
        return self._model

    def _prepared(self) -> Model:
        """The model with the precisions and layouts set on its inputs."""
        if not self._wanted:
            return self._model
        from compiler.preprocess import PrePostProcessor
        from compiler.types import Layout, Type

        model = self._model.clone()
        ppp = PrePostProcessor(model)
        for index, want in self._wanted.items():
            info = ppp.input(index)
            if "precision" in want:
                info.tensor().set_element_type(Type(_TYPES[want["precision"]]))
            if "layout" in want:
                rank = len(model.inputs[index].partial_shape)
                info.tensor().set_layout(Layout(want["layout"]))
                info.model().set_layout(Layout(LAYOUTS[rank]))
        return ppp.build()


class Blob:
    """Data of one input or output of a request (`buffer` is the array)."""

    def __init__(self, buffer: np.ndarray, layout: str | None = None):
        self.buffer = buffer
        self.tensor_desc = TensorDesc(_precision(buffer.dtype), list(buffer.shape),
                                      layout or LAYOUTS.get(buffer.ndim, "ANY"))


class InferRequest:
    """One request of an ExecutableNetwork."""

    def __init__(self, exec_net: ExecutableNetwork, index: int):
        self._exec = exec_net
        self._index = index
        self._request = exec_net._compiled.create_infer_request()
        self._inputs = {p.name: np.zeros([d or 1 for d in p.shape], p.dtype) for p in exec_net._compiled.inputs}
        self._outputs: dict[str, np.ndarray] = {}

    def _feed(self, inputs: Mapping[str, Any] | None) -> list[np.ndarray]:
        if inputs:
            for name, value in inputs.items():
                if name not in self._inputs:
                    raise InputError(f"no input named {name!r} (inputs: {', '.join(self._inputs)})")
                port = next(p for p in self._exec._compiled.inputs if p.name == name)
                # the old API copied data into its blobs, converting the element type
                self._inputs[name] = np.asarray(value, dtype=port.dtype)
        return [self._inputs[p.name] for p in self._exec._compiled.inputs]

    def infer(self, inputs: Mapping[str, Any] | None = None) -> None:
        self._request.infer(self._feed(inputs))
        self._collect()

    def async_infer(self, inputs: Mapping[str, Any] | None = None) -> None:
        self._request.start_async(self._feed(inputs))

    def wait(self, timeout: int = -1) -> int:
        self._request.wait()
        self._collect()
        return StatusCode.OK

    def _collect(self) -> None:
        if self._request.results is not None:
            self._outputs = {p.name: self._request.results[p.index] for p in self._exec._compiled.outputs}

    @property
    def input_blobs(self) -> dict[str, Blob]:
        return {n: Blob(a) for n, a in self._inputs.items()}

    @property
    def output_blobs(self) -> dict[str, Blob]:
        return {n: Blob(a) for n, a in self._outputs.items()}

    def set_blob(self, blob_name: str, blob: Blob) -> None:
        self._feed({blob_name: blob.buffer})

    @property
    def latency(self) -> float:
        return self._request.latency

    def get_perf_counts(self) -> dict[str, dict[str, Any]]:
        info = self._exec._compiled.profiling_info() if hasattr(self._exec._compiled, "profiling_info") else []
        return {f"{label} ({kernel})": {"status": "EXECUTED", "real_time": share, "exec_type": kernel}
                for kernel, label, share, _ in info}


class _Results(dict):
    """Output name -> array; also found by any other name the output tensor has."""

    def __init__(self, data: dict[str, np.ndarray], aliases: dict[str, str]):
        super().__init__(data)
        self._aliases = aliases

    def __missing__(self, key: str) -> np.ndarray:
        if key in self._aliases:
            return self[self._aliases[key]]
        raise KeyError(f"no output named {key!r} (outputs: {', '.join(self)})")


class ExecutableNetwork:
    """A network loaded on a device: `infer`, and `num_requests` requests for asynchronous use."""

    def __init__(self, network: IENetwork, compiled: Any, num_requests: int):
        self._network = network
        self._compiled = compiled
        self.requests = [InferRequest(self, i) for i in range(max(int(num_requests), 1))]
        self._aliases = {n: p.name for p in compiled.outputs for n in p.names}
        self._lock = threading.Lock()

    @property
    def input_info(self) -> dict[str, InputInfoPtr]:
        return self._network.input_info

    @property
    def inputs(self) -> dict[str, DataPtr]:
        return self._network.inputs

    @property
    def outputs(self) -> dict[str, DataPtr]:
        return self._network.outputs

    def infer(self, inputs: Mapping[str, Any] | None = None) -> dict[str, np.ndarray]:
        request = self.requests[0]
        with self._lock:
            request.infer(inputs)
            return _Results(dict(request._outputs), self._aliases)

    def start_async(self, request_id: int, inputs: Mapping[str, Any] | None = None) -> None:
        self.requests[request_id].async_infer(inputs)

    def wait(self, num_requests: int = -1, timeout: int | None = None) -> int:
        for r in self.requests[: None if num_requests < 0 else num_requests]:
            r.wait()
        return StatusCode.OK

    def get_idle_request_id(self) -> int:
        for i, r in enumerate(self.requests):
            if r._request._thread is None:
                return i
        return -1

    def get_exec_graph_info(self) -> IENetwork:
        """The graph as the device runs it (after its optimizations)."""
        from passes import PIPELINES
        from passes.pipeline import run_pipeline

        model = self._network._prepared().clone()
        run_pipeline(model.module, PIPELINES["O2"] if self._compiled.device == "CPU" else PIPELINES["O0"])
        return IENetwork(model)

    def get_metric(self, name: str) -> Any:
        if name == "OPTIMAL_NUMBER_OF_INFER_REQUESTS":
            return len(self.requests)
        if name == "NETWORK_NAME":
            return self._network.name
        raise InputError(f"unknown metric {name!r}")


_CONFIG_KEYS = {"CPU_THREADS_NUM": "INFERENCE_NUM_THREADS", "PERF_COUNT": "PERF_COUNT", "CACHE_DIR": "CACHE_DIR",
                "INFERENCE_PRECISION_HINT": "INFERENCE_PRECISION_HINT", "OPTIMIZATION_LEVEL": "OPTIMIZATION_LEVEL"}


class IECore:
    """The old API's entry object, over `compiler.Core`."""

    def __init__(self, xml_config_file: str = "") -> None:
        self._core = Core()
        self._config: dict[str, dict[str, Any]] = {}

    @property
    def available_devices(self) -> list[str]:
        return self._core.available_devices

    def read_network(self, model: str | os.PathLike | Model, weights: str | os.PathLike | None = None,
                     init_from_buffer: bool = False) -> IENetwork:
        if init_from_buffer:
            raise InputError("read_network(init_from_buffer=True) is not supported; write the IR to files first")
        if isinstance(model, Model):
            return IENetwork(model)
        return IENetwork(self._core.read_model(model, weights or None))

    def load_network(self, network: IENetwork | str | os.PathLike, device_name: str = "CPU",
                     config: dict[str, Any] | None = None, num_requests: int = 1) -> ExecutableNetwork:
        if not isinstance(network, IENetwork):
            network = self.read_network(network)
        device = device_name.upper()
        cfg = {**self._config.get(device, {}), **self._translate(config or {})}
        compiled = self._core.compile_model(network._prepared(), device, cfg)
        return ExecutableNetwork(network, compiled, num_requests if num_requests > 0 else 1)

    def add_extension(self, extension: Any, device_name: str = "CPU") -> None:
        self._core.add_extension(extension)

    @staticmethod
    def _translate(config: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for k, v in config.items():
            key = _CONFIG_KEYS.get(k, k)
            out[key] = {"YES": True, "NO": False}.get(str(v).upper(), v) if key == "PERF_COUNT" else v
        return out

    def set_config(self, config: dict[str, Any], device_name: str) -> None:
        self._config.setdefault(device_name.upper(), {}).update(self._translate(config))

    def get_config(self, device_name: str, config_name: str) -> Any:
        key = _CONFIG_KEYS.get(config_name, config_name)
        value = self._config.get(device_name.upper(), {}).get(key)
        if value is not None:
            return value
        if key == "INFERENCE_NUM_THREADS":
            return os.cpu_count() or 1
        if key == "PERF_COUNT":
            return "NO"
        raise InputError(f"{device_name}: unknown or unset config key {config_name!r}")

    def get_metric(self, device_name: str, metric_name: str) -> Any:
        device = device_name.upper()
        if device not in self.available_devices:
            raise InputError(f"unknown device {device_name!r} (available: {', '.join(self.available_devices)})")
        metrics = {
            "AVAILABLE_DEVICES": [""],
            "FULL_DEVICE_NAME": _cpu_name() if device == "CPU" else "numpy reference interpreter",
            "OPTIMIZATION_CAPABILITIES": ["FP32", "FP16", "INT8", "BIN"] if device == "CPU" else ["FP32"],
            "RANGE_FOR_ASYNC_INFER_REQUESTS": (1, 1, 1),
            "RANGE_FOR_STREAMS": (1, 1),
            "SUPPORTED_CONFIG_KEYS": sorted(_CONFIG_KEYS),
        }
        metrics["SUPPORTED_METRICS"] = sorted(metrics) + ["SUPPORTED_METRICS"]
        if metric_name not in metrics:
            raise InputError(f"{device_name}: unknown metric {metric_name!r} (known: {', '.join(sorted(metrics))})")
        return metrics[metric_name]

    def query_network(self, network: IENetwork, device_name: str, config: dict[str, Any] | None = None
                      ) -> dict[str, str]:
        """Each layer of the network, and the device that would run it (every layer runs on the
        device asked for, or compilation fails with the reason)."""
        from compiler.frontends.builder import layer_name

        device = device_name.upper()
        if device not in self.available_devices:
            raise InputError(f"unknown device {device_name!r} (available: {', '.join(self.available_devices)})")
        ops = network._model.function.body.block.ops
        return {layer_name(op) or f"{op.name[3:]}_{i}": device for i, op in enumerate(ops) if op.name.startswith("ov.")}

    def get_versions(self, device_name: str) -> dict[str, Any]:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("ovcc")
        except PackageNotFoundError:
            v = "unknown"
        return {device_name: type("Version", (), {"description": "ovcc", "build_number": v, "major": 0, "minor": 1})}


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "CPU"


__all__ = ["Blob", "DataPtr", "ExecutableNetwork", "IECore", "IENetwork", "InferRequest", "InputInfoPtr",
           "StatusCode", "TensorDesc"]
