"""What every compiled model shares, whatever runs it: checking inputs before anything runs,
results indexable by position and by name, and infer requests.

Devices: "CPU" (native code, `runtime.native`) and "REFERENCE" (the numpy interpreter)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np

from dialects.errors import InputError
from dialects.ov import format_shape, ov_type_name
from runtime.tensor import Tensor


class PortInfo:
    """Name, shape (None = dynamic dim) and dtype of a compiled model's input or output."""

    def __init__(self, index: int, names: Sequence[str], shape: Sequence[int | None], dtype: np.dtype):
        self.index = index
        self.names = set(names)
        self._names = list(names)
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)

    @property
    def any_name(self) -> str:
        return sorted(self.names)[0] if self.names else str(self.index)

    def get_any_name(self) -> str:
        return self.any_name

    @property
    def name(self) -> str:
        return self._names[0] if self._names else str(self.index)

    @property
    def element_type(self) -> str:
        return ov_type_name(self.dtype)

    def __repr__(self) -> str:
        return f"<Port {self.index} {self._names} {format_shape(self.shape)} {self.element_type}>"


class Results(Mapping):
    """Outputs of one inference: `r[0]`, `r["logits"]`, `r[port]`, `list(r.values())`."""

    def __init__(self, ports: Sequence[PortInfo], arrays: Sequence[np.ndarray]):
        self._ports = list(ports)
        self._arrays = list(arrays)

    def _index(self, key: Any) -> int:
        if isinstance(key, int | np.integer):
            if not -len(self._arrays) <= key < len(self._arrays):
                raise KeyError(f"the model has {len(self._arrays)} outputs, not {key + 1}")
            return int(key) % len(self._arrays)
        if isinstance(key, str):
            for p in self._ports:
                if key in p.names:
                    return p.index
            raise KeyError(f"no output named {key!r} (outputs: {[p.name for p in self._ports]})")
        if hasattr(key, "index"):
            return key.index
        raise KeyError(key)

    def __getitem__(self, key: Any) -> np.ndarray:
        return self._arrays[self._index(key)]

    def __iter__(self) -> Iterator:
        return iter(self._ports)

    def __len__(self) -> int:
        return len(self._arrays)

    def to_tuple(self) -> tuple[np.ndarray, ...]:
        return tuple(self._arrays)

    def to_dict(self) -> dict[str, np.ndarray]:
        return {p.name: a for p, a in zip(self._ports, self._arrays)}


def check_inputs(ports: Sequence[PortInfo], given: Any) -> list[np.ndarray]:
    """Match user inputs (a list, tuple, dict by name/index/port, or a single array) to the
    model's inputs, and check count, element type and shape. Never lets a bad input through."""
    n = len(ports)
    if isinstance(given, dict):
        arrays: list[Any] = [None] * n
        for key, v in given.items():
            if isinstance(key, str):
                match = [p for p in ports if key in p.names]
                if not match:
                    raise InputError(f"no input named {key!r} (inputs: {[p.name for p in ports]})")
                i = match[0].index
            elif isinstance(key, int):
                if not 0 <= key < n:
                    raise InputError(f"input index {key} is out of range: the model has {n} inputs")
                i = key
            elif hasattr(key, "index"):
                i = key.index
            else:
                raise InputError(f"cannot use {key!r} as an input key")
            arrays[i] = v
        missing = [ports[i].name for i, a in enumerate(arrays) if a is None]
        if missing:
            raise InputError(f"missing input(s): {', '.join(missing)}")
    elif isinstance(given, list | tuple):
        arrays = list(given)
    else:
        arrays = [given]
    if len(arrays) != n:
        raise InputError(f"the model takes {n} input(s) ({', '.join(p.name for p in ports)}), got {len(arrays)}")
    out = []
    for p, a in zip(ports, arrays):
        if isinstance(a, Tensor):
            a = a.data
        if isinstance(a, np.ndarray):
            if a.dtype != p.dtype:
                given = ov_type_name(a.dtype) if a.dtype.kind in "fiub" else str(a.dtype)
                raise InputError(f"input {p.name!r}: element type {given} given, the model expects {p.element_type}")
        else:
            try:
                a = np.asarray(a, dtype=p.dtype)
            except (TypeError, ValueError) as e:
                raise InputError(f"input {p.name!r}: cannot convert {type(a).__name__} to {p.element_type}: "
                                 f"{e}") from None
        if a.ndim != len(p.shape) or any(d is not None and d != s for d, s in zip(p.shape, a.shape)):
            raise InputError(f"input {p.name!r}: shape {list(a.shape)} given, the model expects "
                             f"{format_shape(p.shape)}")
        out.append(np.require(a, requirements="C"))
    return out


class CompiledModelBase:
    """A model ready to run; subclasses implement `_infer(arrays) -> list[np.ndarray]`."""

    device = ""

    def __init__(self, inputs: Sequence[PortInfo], outputs: Sequence[PortInfo]):
        self.inputs = list(inputs)
        self.outputs = list(outputs)

    def input(self, key: int | str | None = None) -> PortInfo:
        return _pick(self.inputs, key, "input")

    def output(self, key: int | str | None = None) -> PortInfo:
        return _pick(self.outputs, key, "output")

    def _infer(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError

    def infer_new_request(self, inputs: Any) -> Results:
        arrays = check_inputs(self.inputs, inputs)
        return Results(self.outputs, self._infer(arrays))

    def __call__(self, inputs: Any = None) -> Results:
        return self.infer_new_request(inputs)

    def create_infer_request(self) -> InferRequest:
        return InferRequest(self)


def _pick(ports: list[PortInfo], key: int | str | None, what: str) -> PortInfo:
    if key is None:
        if len(ports) != 1:
            raise InputError(f"the model has {len(ports)} {what}s; name one")
        return ports[0]
    if isinstance(key, int):
        return ports[key]
    for p in ports:
        if key in p.names:
            return p
    raise InputError(f"no {what} named {key!r}")


class InferCancelled(InputError):
    """`wait` on a request that `cancel` stopped (OpenVINO: "Infer Request was canceled")."""


@dataclass(frozen=True)
class ProfilingInfo:
    """One step of the last inference (OpenVINO's ProfilingInfo fields): the step's op
    (`node_name`, `node_type`), its kernel (`exec_type`), and its time as the first thread saw
    it (`real_time`, `cpu_time`: its share of the inference's cycles times the latency)."""

    node_name: str
    node_type: str
    exec_type: str
    status: str
    real_time: timedelta
    cpu_time: timedelta


class InferRequest:
    """One inference at a time, optionally asynchronous (`start_async` + `wait`). Inputs can be
    given to `infer` or set beforehand (`set_tensor`, `set_input_tensor`); results are read as
    Tensors (`get_tensor`, `get_output_tensor`) or from `results`."""

    def __init__(self, compiled: CompiledModelBase):
        self.compiled = compiled
        self.results: Results | None = None
        self.latency = 0.0  # milliseconds of the last inference
        self._inputs: dict[int, Any] = {}
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._callback_error: BaseException | None = None
        self._callback: Any = None
        self._userdata: Any = None
        self._done = threading.Event()
        self._done.set()
        self._on_done: Any = None  # AsyncInferQueue's hook: the request is idle again
        self._cancelled = False

    def infer(self, inputs: Any = None) -> Results:
        if inputs is None:
            missing = [p.name for p in self.compiled.inputs if p.index not in self._inputs]
            if missing:
                raise InputError(f"missing input(s): {', '.join(missing)} (give them to infer() or set_tensor())")
            inputs = [self._inputs[p.index] for p in self.compiled.inputs]
        t0 = time.perf_counter()
        self.results = self.compiled.infer_new_request(inputs)
        self.latency = (time.perf_counter() - t0) * 1e3
        return self.results

    def start_async(self, inputs: Any = None, userdata: Any = None) -> None:
        """Run one inference on a thread of its own (native code runs outside the GIL, so
        requests overlap); `wait`/`wait_for` join it, the callback (if set) runs on that thread
        with `(request, userdata)` once the results are in."""
        self.wait()
        self._error = None
        self._cancelled = False
        self._userdata = userdata
        self._done.clear()

        def run() -> None:
            try:
                self.infer(inputs)
            except BaseException as e:  # re-raised in wait()
                self._error = e
            if self._cancelled:  # its results are dropped and its callback is not called
                self.results = None
                self._error = InferCancelled("Infer Request was canceled")
            callback = self._callback
            if callback is not None and self._error is None:
                try:
                    callback(self, userdata)
                except BaseException as e:  # reported by wait(), never lost
                    self._callback_error = e
            self._done.set()
            if self._on_done is not None:
                self._on_done()

        self._thread = threading.Thread(target=run, daemon=True, name="ovcc-infer-request")
        self._thread.start()

    def set_callback(self, callback: Any, userdata: Any = None) -> None:
        """Called as `callback(request, userdata)` after each `start_async` completes (the
        userdata given to `start_async` takes precedence when it is not None)."""
        if callback is None:
            self._callback = None
            return
        if not callable(callback):
            raise InputError(f"set_callback needs a callable, not {type(callback).__name__}")
        if userdata is None:
            self._callback = callback
        else:
            self._callback = lambda req, data: callback(req, userdata if data is None else data)

    def wait_for(self, timeout: int) -> bool:
        """Wait at most `timeout` milliseconds (negative: without limit); True when the request
        has finished (its error, if any, is raised then)."""
        if timeout < 0:
            self.wait()
            return True
        if not self._done.wait(timeout / 1e3):
            return False
        self.wait()
        return True

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            err, self._error = self._error, None
            raise err
        if self._callback_error is not None:
            err, self._callback_error = self._callback_error, None
            raise err

    def cancel(self) -> None:
        """Cancel a running `start_async`: native code is not interrupted, but its results are
        dropped, its callback is not called and `wait` raises `InferCancelled`; a request that
        has finished (or never started) is left as it is."""
        if not self._done.is_set():
            self._cancelled = True

    def get_profiling_info(self) -> list[ProfilingInfo]:
        """Per step of the compiled model's last inference (empty unless it was compiled with
        PERF_COUNT True; the steps of concurrent requests are not told apart)."""
        rows = getattr(self.compiled, "profiling_info", lambda: [])()
        ms = self.latency / max(1.0, sum(r[2] for r in rows))  # shares of thread 0's cycles may overlap a little
        return [ProfilingInfo(label, label, kernel, "EXECUTED", timedelta(milliseconds=share * ms),
                              timedelta(milliseconds=share * ms)) for kernel, label, share, _ in rows]

    @property
    def profiling_info(self) -> list[ProfilingInfo]:
        return self.get_profiling_info()

    @property
    def is_ready(self) -> bool:
        return self._done.is_set()

    @property
    def userdata(self) -> Any:
        return self._userdata

    def _port(self, key: Any) -> tuple[str, PortInfo]:
        for what, ports in (("input", self.compiled.inputs), ("output", self.compiled.outputs)):
            for p in ports:
                if p is key or (isinstance(key, str) and key in p.names):
                    return what, p
        if hasattr(key, "index") and hasattr(key, "names"):  # a Port of the model
            names = set(key.names)
            for what, ports in (("input", self.compiled.inputs), ("output", self.compiled.outputs)):
                for p in ports:
                    if p.names & names:
                        return what, p
        raise InputError(f"no input or output named {key!r}")

    def set_tensor(self, key: Any, tensor: Any) -> None:
        what, p = self._port(key)
        if what != "input":
            raise InputError(f"{p.name!r} is an output; only inputs can be set")
        self._inputs[p.index] = tensor

    def set_input_tensor(self, index_or_tensor: Any, tensor: Any = None) -> None:
        if tensor is None:
            index_or_tensor, tensor = 0, index_or_tensor
        self._inputs[int(index_or_tensor)] = tensor

    def set_input_tensors(self, tensors: Any) -> None:
        items = tensors.items() if isinstance(tensors, dict) else enumerate(tensors)
        for k, t in items:
            if isinstance(k, int):
                self.set_input_tensor(k, t)
            else:
                self.set_tensor(k, t)

    def get_tensor(self, key: Any) -> Tensor:
        what, p = self._port(key)
        if what == "input":
            if p.index not in self._inputs:
                raise InputError(f"input {p.name!r} has not been set")
            return Tensor(self._inputs[p.index])
        return self.get_output_tensor(p.index)

    def get_input_tensor(self, index: int = 0) -> Tensor:
        if index not in self._inputs:
            raise InputError(f"input {index} has not been set")
        return Tensor(self._inputs[index])

    def get_output_tensor(self, index: int = 0) -> Tensor:
        if self.results is None:
            raise InputError("no inference has run on this request yet")
        return Tensor(self.results[index])


class ReferenceCompiledModel(CompiledModelBase):
    """Runs the model with the numpy reference interpreter (device "REFERENCE"). A model with
    dynamic input dims is specialized to each new input shape first, as the CPU device does."""

    device = "REFERENCE"

    def __init__(self, model: Any):
        self.model = model
        self._specialized: dict[tuple, Any] = {}
        self._lock = threading.Lock()
        super().__init__(ports_of(model.inputs), ports_of(model.outputs))

    def _infer(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        from runtime.interpreter import run_function

        model = self.model
        if any(d is None for p in self.inputs for d in p.shape):
            key = tuple(a.shape for a in arrays)
            with self._lock:
                if key not in self._specialized:
                    m = model.clone()
                    m.reshape([list(a.shape) for a in arrays])
                    self._specialized[key] = m
                model = self._specialized[key]
        return [np.require(a, requirements="C") for a in run_function(model.function, arrays)]


def ports_of(model_ports: Sequence[Any]) -> list[PortInfo]:
    return [PortInfo(p.index, p._names, tuple(p.partial_shape), p.dtype) for p in model_ports]
