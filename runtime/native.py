"""The CPU device: models compiled to native code by ovcc's own pipeline (graph passes,
lowering to the loop dialect, LLVM for the host CPU), run with one native call per thread.

A model with dynamic input dims is specialized to each new set of input shapes on first use
(and kept). Each inference gets an arena from a pool, so concurrent inferences on one compiled
model are safe; a parallel inference uses the shared worker threads, and an inference that
finds them busy runs on its own thread rather than waiting."""

from __future__ import annotations

import ctypes
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dialects.errors import CompileError, InternalError, OvccError
from runtime.callbacks import Callbacks
from runtime.compiled import CompiledModelBase, ports_of
from runtime.pool import runner

GRAPH_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p)
_PARALLEL = threading.Lock()  # held by the one inference that uses the worker threads


@dataclass
class CompileStats:
    seconds_optimize: float = 0.0  # the graph passes
    seconds_lower: float = 0.0  # ov -> loops
    seconds_llvm: float = 0.0
    from_cache: bool = False
    from_blob: bool = False  # object code from an imported blob (no LLVM ran)
    kernels: int = 0
    steps: int = 0
    arena_bytes: int = 0
    precision: str = "f32"  # what Convolution/MatMul compute in
    bf16_isa: str | None = None
    note: str = ""  # why a precision request runs otherwise (e.g. AMX refused by the kernel)
    int8_isa: str | None = None  # the int8 kernel family quantized ops may use
    int8_ops: int = 0  # Convolutions/MatMuls that run on int8 kernels
    bf16_activations: int = 0  # tensors stored as bf16 between bf16 convolutions
    int8_levels: int = 0  # tensors stored as their quantizer's u8 levels between int8 kernels
    specialized_on: tuple[str, ...] = ()  # inputs whose values this code was compiled for


class _Request:
    """The per-inference memory: arena (with the threads' scratch after it), slot table,
    barrier counters."""

    def __init__(self, exe: Executable):
        size = exe.program.arena_bytes + exe.program.scratch_bytes_per_thread * exe.max_threads + 64
        self.raw = np.zeros(size + 64, np.uint8)
        self.arena = self.raw.ctypes.data + (-self.raw.ctypes.data % 64)
        self.table = (ctypes.c_void_p * len(exe.program.slots))()
        for i, p in exe.const_ptrs.items():
            self.table[i] = p
        self.table[0] = self.arena
        self.barrier = np.zeros(2, np.int64)
        self.profile = np.zeros(2 * len(exe.program.steps), np.int64)
        for i, s in enumerate(exe.program.slots):
            if s.kind == "profile":
                self.table[i] = self.profile.ctypes.data
        for i, p in exe.callbacks.pointers.items():
            self.table[i] = p


# Below this many multiply-adds (the steps' cost estimates) one thread is faster: measured on
# the benchmark MLP (3.2M, memory-bound), 0.43 ms on one thread against 0.52 ms on two.
SMALL_PROGRAM_COST = 8e6


class Executable:
    """One compiled specialization: native code, constants, and a pool of requests."""

    def __init__(self, program, library, max_threads: int, stats: CompileStats,
                 output_shapes: list[tuple[int, ...]]):
        self.program = program
        self.output_shapes = output_shapes
        self.library = library
        self.max_threads = max_threads
        self.stats = stats
        self.fn = GRAPH_FN(library.symbols["ovcc_graph"])
        self.fn_ptr = library.symbols["ovcc_graph"]
        self.const_ptrs = {i: s.array.ctypes.data for i, s in enumerate(program.slots) if s.kind == "const"}
        self.callbacks = Callbacks(program.slots)  # custom ops: their Python code, as native function pointers
        self.inputs = {s.index: i for i, s in enumerate(program.slots) if s.kind == "input"}
        self.outputs = {s.index: i for i, s in enumerate(program.slots) if s.kind == "output"}
        self._free: list[_Request] = []
        self._lock = threading.Lock()
        self.any_parallel = any(s.parallel for s in program.steps)
        # waking a second thread costs tens of microseconds; a small program runs on one
        self.worth_threads = sum(s.cost for s in program.steps) >= SMALL_PROGRAM_COST
        self.last_profile: np.ndarray | None = None
        self.key = ""  # the JIT cache key of its object code

    def _acquire(self) -> _Request:
        with self._lock:
            return self._free.pop() if self._free else _Request(self)

    def run(self, arrays: list[np.ndarray], out_specs: list[tuple[tuple[int, ...], np.dtype]],
            nthreads: int) -> list[np.ndarray]:
        req = self._acquire()
        try:
            outs = [np.empty(shape, dtype) for shape, dtype in out_specs]
            for k, slot in self.inputs.items():
                req.table[slot] = arrays[k].ctypes.data
            for k, slot in self.outputs.items():
                req.table[slot] = outs[k].ctypes.data
            table = ctypes.addressof(req.table)
            bar = req.barrier.ctypes.data
            if nthreads > 1 and self.any_parallel and self.worth_threads and _PARALLEL.acquire(blocking=False):
                try:
                    runner(nthreads)(self.fn_ptr, table, nthreads, bar)
                finally:
                    _PARALLEL.release()
            else:
                self.fn(table, 0, 1, bar)
            self.last_profile = req.profile.reshape(-1, 2).copy()
            self.callbacks.raise_pending()
            return outs
        finally:
            with self._lock:
                self._free.append(req)


def cpu_pipeline(opt_spec: str) -> str:
    """The pass pipeline every CPU compilation runs around an optimization pipeline: the one
    place that assembles it, for compile_model and for `ovcc --emit loops/llvm/asm` alike."""
    from passes import CODEGEN, CODEGEN_FIRST

    return ",".join((CODEGEN_FIRST, opt_spec, CODEGEN))


@dataclass(frozen=True)
class Precision:
    """What a compiled model computes its Convolutions and MatMuls in, and why."""

    name: str  # "f32" | "bf16"
    isa: str | None = None  # the bf16 kernel family ("amx", "avx512bf16")
    note: str = ""  # why a bf16 request runs otherwise
    int8: str | None = None  # the int8 kernel family of quantized ops ("amx", "vnni", "avx2"), None: f32 kernels


def choose_precision(config) -> Precision:
    """OpenVINO's CPU rule: bf16 by default where the CPU has native bf16 and the execution
    mode is PERFORMANCE; f32 when asked for, in ACCURACY mode, or without native bf16.
    Quantized Convolutions/MatMuls run on the int8 kernels whatever the precision (as
    OpenVINO's low-precision transformations do), where the CPU has them."""
    import dataclasses

    from codegen.target import host

    int8 = host().int8_isas()
    if config.int8_isa is not None:
        int8 = [i for i in int8 if i == config.int8_isa]
    return dataclasses.replace(_float_precision(config), int8=int8[0] if int8 else None)


def _float_precision(config) -> Precision:
    from codegen.target import AMX_DENIED, host

    if config.execution_mode == "ACCURACY" or config.precision_hint == "f32":
        return Precision("f32")
    isas = host().bf16_isas()
    if config.bf16_isa is not None:
        if config.bf16_isa in isas:
            return Precision("bf16", config.bf16_isa)
        why = AMX_DENIED if config.bf16_isa == "amx" and AMX_DENIED else "the CPU lacks it"
        if not isas:
            return Precision("f32", note=f"OVCC_BF16_ISA={config.bf16_isa} asked for, but {why}")
        return Precision("bf16", isas[0], note=f"OVCC_BF16_ISA={config.bf16_isa} asked for, but {why}")
    if not isas:
        note = "bf16 asked for, but the CPU has no native bf16" if config.precision_hint == "bf16" else ""
        return Precision("f32", note=note)
    note = "" if isas[0] == "amx" or not host().has("amx-bf16") else f"AMX unavailable: {AMX_DENIED}"
    return Precision("bf16", isas[0], note)


def compile_program(model, cache_dir: Path | None, max_threads: int, profile: bool = False,
                    opt_level: str = "O2", const_pool: dict | None = None,
                    precision: Precision = Precision("f32"), objects: dict[str, bytes] | None = None) -> Executable:
    """Graph passes, lowering and native code for a model with static shapes."""
    from codegen.llvm import compile_to_object, emit_module
    from codegen.target import host
    from passes import PIPELINES
    from passes.ov_to_loops.lower import lower_module
    from passes.ov_to_loops.program import ENTRY
    from passes.pipeline import run_pipeline
    from runtime.jit import cache_key, load
    from runtime.progress import phase

    stats = CompileStats()
    t0 = time.perf_counter()
    with phase("optimize") as bar:
        run_pipeline(model.module, cpu_pipeline(PIPELINES[opt_level]), on_pass=bar and bar.step)
    stats.seconds_optimize = time.perf_counter() - t0
    t0 = time.perf_counter()
    with phase("lower"):
        program = lower_module(model.module, profile, const_pool, precision.name, precision.isa, precision.int8)
        text = str(program.module)
    stats.seconds_lower = time.perf_counter() - t0
    t0 = time.perf_counter()
    key = cache_key(text, host())

    def compile_fn() -> bytes:
        if objects and key in objects:  # imported with the model (runtime.blob)
            stats.from_blob = True
            return objects[key]
        with phase("LLVM"):
            obj, _ = compile_to_object(emit_module(program.module, exported=(ENTRY,)))
        return obj

    library = load([ENTRY], cache_dir, key, compile_fn)
    stats.seconds_llvm = time.perf_counter() - t0
    stats.from_cache = library.from_cache
    stats.kernels = sum(1 for _ in program.module.body.block.ops) - 1
    stats.steps = len(program.steps)
    stats.arena_bytes = program.arena_bytes
    stats.precision = precision.name
    stats.bf16_isa = precision.isa
    stats.note = precision.note
    stats.int8_isa = precision.int8
    stats.int8_ops = sum(1 for s in program.steps if any(f"|{i}:" in s.kernel.key for i in ("vnni", "amx8", "avx2i8")))
    stats.bf16_activations = program.bf16_activations
    stats.int8_levels = program.int8_levels
    program.release_ir()
    exe = Executable(program, library, max_threads, stats, [p.shape for p in model.outputs])
    exe.key = key
    return exe


MAX_SPECIALIZATIONS = 16  # input shapes kept compiled per model (least recently used go first)


class _Compiling:
    """A specialization being compiled by one thread while others wait for it."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.exe: Executable | None = None
        self.error: BaseException | None = None


class NativeCompiledModel(CompiledModelBase):
    device = "CPU"

    def __init__(self, model, config: dict[str, Any], objects: dict[str, bytes] | None = None):
        from runtime.config import parse

        super().__init__(ports_of(model.inputs), ports_of(model.outputs))
        self.model = model
        self.raw_config = dict(config)
        self._objects = objects
        self.config = parse(config)
        self.precision = choose_precision(self.config)
        self.nthreads = self.config.threads_per_stream  # threads of one inference
        self.perf_count = self.config.perf_count
        self.opt_level = self.config.opt_level
        self.cache_dir = self.config.cache_dir
        self._specialized: OrderedDict[tuple, Executable] = OrderedDict()
        self._compiling: dict[tuple, _Compiling] = {}
        self._lock = threading.Lock()
        self._const_pool: dict[tuple, np.ndarray] = {}  # packed weights, shared by every input shape
        self._last: Executable | None = None
        from runtime.values import value_inputs

        self._value_inputs = value_inputs(model)  # inputs whose values decide shapes
        if not self._value_inputs and all(d is not None for p in self.inputs for d in p.shape):
            self._executable([p.shape for p in self.inputs])

    def _executable(self, shapes: list[tuple[int, ...]], frozen: dict[int, np.ndarray] | None = None) -> Executable:
        """The specialization for these input shapes (and the values of the inputs in
        `frozen`), compiled on first use. Compiling a new one holds no lock that inferences of
        those already compiled need."""
        frozen = frozen or {}
        key = tuple(tuple(s) for s in shapes) + tuple((i, a.dtype.str, a.tobytes()) for i, a in sorted(frozen.items()))
        with self._lock:
            exe = self._specialized.get(key)
            if exe is not None:
                self._specialized.move_to_end(key)
                return exe
            job = self._compiling.get(key)
            owner = job is None
            if owner:
                job = self._compiling[key] = _Compiling()
        if not owner:
            job.done.wait()
            if job.error is not None:
                raise job.error
            return job.exe
        try:
            job.exe = self._compile(shapes, frozen)
        except BaseException as e:
            job.error = e
            raise
        finally:
            with self._lock:
                if job.exe is not None:
                    self._specialized[key] = job.exe
                    while len(self._specialized) > MAX_SPECIALIZATIONS:
                        self._specialized.popitem(last=False)
                del self._compiling[key]
            job.done.set()
        return job.exe

    def _compile(self, shapes: list[tuple[int, ...]], frozen: dict[int, np.ndarray]) -> Executable:
        m = self.model.clone()
        if frozen:
            from runtime.values import freeze

            freeze(m, frozen)
            shapes = [s for i, s in enumerate(shapes) if i not in frozen]
        if frozen or any(d is None for p in self.inputs for d in p.shape):
            m.reshape([list(s) for s in shapes])
        try:
            exe = compile_program(m, self.cache_dir, self.nthreads, self.perf_count, self.opt_level,
                                  self._const_pool, self.precision, self._objects)
            exe.stats.specialized_on = tuple(self.inputs[i].any_name for i in sorted(frozen))
            return exe
        except OvccError:
            raise
        except Exception as e:  # a compiler bug must not look like bad user input
            raise InternalError(f"CPU compilation failed: {type(e).__name__}: {e}") from e

    @property
    def stats(self) -> CompileStats | None:
        """Compile statistics of the specialization that ran last (or was compiled first)."""
        exe = self._last or next(iter(self._specialized.values()), None)
        return exe.stats if exe is not None else None

    def get_property(self, name: str) -> Any:
        c = self.config
        values = {"INFERENCE_NUM_THREADS": self.nthreads, "PERF_COUNT": c.perf_count, "OPTIMIZATION_LEVEL": c.opt_level,
                  "CACHE_DIR": str(c.cache_dir) if c.cache_dir else "", "EXECUTION_MODE_HINT": c.execution_mode,
                  "INFERENCE_PRECISION_HINT": self.precision.name, "PERFORMANCE_HINT": c.performance_hint,
                  "NUM_STREAMS": c.streams, "OPTIMAL_NUMBER_OF_INFER_REQUESTS": c.streams,
                  "PERFORMANCE_HINT_NUM_REQUESTS": c.hint_num_requests}
        if name not in values:
            from runtime.config import ConfigError

            raise ConfigError(f"CPU: unknown property {name!r} (known: {', '.join(values)})")
        return values[name]

    def export_model(self, stream: Any = None) -> bytes | None:
        """The compiled model as bytes (`runtime.blob`): the model, its configuration and the
        native code of every input shape compiled so far; written to `stream` if one is given."""
        from codegen.ir_writer import _serialize, prepare
        from codegen.target import host
        from runtime.blob import BlobError, pack, seal
        from runtime.jit import generator_version, user_secret

        with self._lock:
            exes = list(self._specialized.values())
        if any(exe.callbacks.pointers for exe in exes):
            raise BlobError("export_model: a model with custom Python ops cannot be exported")
        xml, weights = _serialize(prepare(self.model), False)
        config = {k: str(v) for k, v in self.raw_config.items() if k != "CACHE_DIR"}
        objects = {exe.key: exe.library.obj for exe in exes}
        header = {"generator": generator_version(), "target": host().key(), "config": config}
        secret = user_secret()
        if secret:
            header["seal"] = seal(secret, objects)
        data = pack(header, xml.encode(), weights, objects)
        if stream is None:
            return data
        stream.write(data)
        return None

    def profiling_info(self) -> list[tuple[str, str, float, float]]:
        """Per step of the last inference (PERF_COUNT=True), as thread 0 saw it: (kernel, op,
        share of the time running the step, share of the time waiting before it)."""
        exe = self._last
        if exe is None or exe.last_profile is None or not self.perf_count:
            return []
        p = exe.last_profile
        total = float(p[-1, 1] - p[0, 0]) or 1.0
        waits = np.concatenate([[0], p[1:, 0] - p[:-1, 1]])
        return [(s.kernel.name, s.label, float(e - b) / total, float(w) / total)
                for s, (b, e), w in zip(exe.program.steps, p, waits)]

    def _infer(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        from runtime.values import FROZEN_MAX

        frozen = {i: arrays[i] for i in self._value_inputs if arrays[i].size <= FROZEN_MAX}
        exe = self._executable([a.shape for a in arrays], frozen)
        self._last = exe
        specs = [(exe.output_shapes[k], p.dtype) for k, p in enumerate(self.outputs)]
        if frozen:
            arrays = [a for i, a in enumerate(arrays) if i not in frozen]
        return exe.run(arrays, specs, self.nthreads)


def compile_cpu(model, config: dict[str, Any]) -> NativeCompiledModel:
    return NativeCompiledModel(model, config)


def emit_level(model, level: str, opt_spec: str | None = None, **pipeline_options: Any) -> str:
    """The model at the loop level (`loops`), as LLVM IR (`llvm`) or host assembly (`asm`):
    what compile_model generates, after the same pipeline (`opt_spec`, default O2)."""
    from codegen.llvm import assembly, emit_module
    from passes import PIPELINES
    from passes.ov_to_loops.lower import lower_module
    from passes.ov_to_loops.program import ENTRY
    from passes.pipeline import run_pipeline

    if any(d is None for p in model.inputs for d in p.partial_shape):
        raise CompileError("--emit loops/llvm/asm needs static input shapes (use --input to set them)")
    stats = pipeline_options.get("stats")
    t0 = time.perf_counter()
    run_pipeline(model.module, cpu_pipeline(opt_spec or PIPELINES["O2"]), **pipeline_options)
    t1 = time.perf_counter()
    program = lower_module(model.module)
    if level == "loops":
        text = str(program.module)
    else:
        t2 = time.perf_counter()
        mod = emit_module(program.module, exported=(ENTRY,))
        text = str(mod) if level == "llvm" else assembly(mod)
    t3 = time.perf_counter()
    if stats is not None:
        stats.phases["optimize"] = stats.phases.get("optimize", 0.0) + t1 - t0
        stats.phases["lower"] = (t2 if level != "loops" else t3) - t1
        if level != "loops":
            stats.phases["LLVM"] = t3 - t2
    return text
