"""From a static-shape `ov` function to a `Program`: kernels of the loop dialect, the steps that
call them, a static memory plan, and the `ovcc_graph` entry function.

Every tensor lives in one place: a model input or output buffer, a constant (weights, possibly
packed by the lowering for its kernel), or a range of the arena. Reshape-like ops are views
(aliases); everything else is a step that calls a kernel with a range [lo, hi) of its parallel
extent. The graph function runs the steps in order on every thread: a parallel step splits
its extent between the threads, a serial one runs on thread 0, and a barrier separates steps
that touch memory another thread may still be using."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.dialects.llvm import LLVMPointerType
from xdsl.ir import SSAValue

from dialects.errors import CompileError
from dialects.loops import BarrierOp, CyclesOp, ViewOp
from dialects.ov import Const, dtype_of, format_shape, is_static, shape_of
from passes.ov_to_loops.kb import INDEX, KB, buffer_type

ALIGN = 64
ENTRY = "ovcc_graph"
PARALLEL_MIN_COST = 60_000  # below this much work (in multiply-adds or elements) a step runs on one thread


@dataclass(frozen=True)
class Buf:
    """Where a tensor's data are: slot (0 = arena) and byte offset, its dtype and element count."""

    slot: int
    offset: int
    dtype: np.dtype
    size: int
    value_id: int = -1  # the tensor whose memory this is (for the hazard analysis)

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize


@dataclass
class Kernel:
    """A kernel function: `key` identifies it (equal keys share one function); `build(kb)`
    writes its body; `buffers` are the (name, dtype, size) of its buffer arguments."""

    key: str
    buffers: list[tuple[str, np.dtype, int]]
    build: Callable[[KB], None]
    scratch_elems: int = 0  # f32 elements of per-thread scratch

    @property
    def name(self) -> str:
        return "k_" + hashlib.sha1(self.key.encode()).hexdigest()[:12]


@dataclass
class Step:
    kernel: Kernel
    args: list[Buf]
    extent: int
    cost: float
    reads: list[Buf]
    writes: list[Buf]
    label: str = ""
    parallel: bool = False


@dataclass
class Slot:
    kind: str  # "arena" | "input" | "output" | "const" | "profile" | "callback"
    index: int = 0  # input/output position; for a callback, how many buffer addresses it takes
    array: np.ndarray | None = None
    # "callback": Python code a step calls with its buffers' addresses (the runtime puts a
    # native function pointer to it in the slot)
    callback: Callable[[list[int]], None] | None = None


@dataclass
class Program:
    module: ModuleOp
    slots: list[Slot]
    arena_bytes: int
    scratch_offset: int
    scratch_bytes_per_thread: int
    steps: list[Step]
    bf16_activations: int = 0  # tensors stored as bf16 between bf16 layers (conv.bf16_activations)
    int8_levels: int = 0  # tensors stored as u8 levels between int8 kernels (LowerCtx.hold_levels)

    @property
    def constants(self) -> list[np.ndarray]:
        return [s.array for s in self.slots if s.kind == "const"]

    def release_ir(self) -> None:
        """Drop what only code generation needed (the loop module, the kernels' builders and
        the `ov` values they captured), once the native code exists."""
        self.module = None
        for s in self.steps:
            s.kernel.build = None


@dataclass
class _Value:
    id: int
    dtype: np.dtype
    shape: tuple[int, ...]
    alias_of: int | None = None  # same memory as another value
    alias_offset: int = 0  # bytes into that value's memory (a Concat's part, written in place)
    fixed: Buf | None = None  # input, output or constant storage
    first: int = -1  # step index of definition
    last: int = -1  # step index of last use

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


class LowerCtx:
    """State of one lowering; the op lowerings call into it. `const_pool` (shared by the
    specializations of one compiled model) holds the aligned, packed constants by content, so
    that every input shape reuses one copy of the weights."""

    def __init__(self, const_pool: dict[tuple, np.ndarray] | None = None, precision: str = "f32",
                 bf16_isa: str | None = None, int8_isa: str | None = None) -> None:
        self.precision = precision  # what Convolution/MatMul compute in: "f32" | "bf16"
        self.bf16_isa = bf16_isa  # the bf16 kernel family: "amx" | "avx512bf16"
        self.int8_isa = int8_isa  # the int8 kernel family for quantized ops: "amx" | "vnni" | None
        self.quantized = None  # passes.quantized.Quantized of the function being lowered
        self.bf16_activations = 0  # how many values are stored as bf16
        self.level_acts: dict[int, object] = {}  # value id -> the quantizer whose levels it holds (u8)
        self.slots: list[Slot] = [Slot("arena")]
        self.values: dict[SSAValue, _Value] = {}
        self.infos: list[_Value] = []
        self.steps: list[Step] = []
        self._const_cache: dict[tuple, int] = {}
        self.const_pool = const_pool if const_pool is not None else {}

    # --- values -------------------------------------------------------------------------------
    def value(self, v: SSAValue) -> _Value:
        if v not in self.values:
            shape = shape_of(v.type)
            if not is_static(shape):
                raise CompileError(f"tensor of shape {format_shape(shape)} is not static; native code needs "
                                   "static shapes (dynamic inputs are specialized per shape)")
            info = _Value(len(self.infos), dtype_of(v.type), tuple(shape))
            self.infos.append(info)
            self.values[v] = info
        return self.values[v]

    def root(self, info: _Value) -> _Value:
        while info.alias_of is not None:
            info = self.infos[info.alias_of]
        return info

    def alias(self, result: SSAValue, source: SSAValue) -> None:
        """`result` shares `source`'s memory (Reshape and friends)."""
        r, s = self.value(result), self.value(source)
        r.alias_of = self.root(s).id

    def offset_in_root(self, info: _Value) -> int:
        off = 0
        while info.alias_of is not None:
            off += info.alias_offset
            info = self.infos[info.alias_of]
        return off

    def place_inside(self, part: SSAValue, whole: SSAValue, byte_offset: int) -> bool:
        """Let `part` live in `whole`'s memory from `byte_offset` on (a Concat's input where the
        Concat's output has it contiguously: its producer then writes it in place), if both are
        intermediate values with memory of their own; returns whether it did."""
        p, w = self.value(part), self.value(whole)
        if p.alias_of is not None or p.fixed is not None or isinstance(getattr(part, "op", None), Const) or \
                self.root(w).fixed is not None or self.root(w) is p or p.dtype != w.dtype:
            return False
        p.alias_of, p.alias_offset = w.id, byte_offset
        return True

    def const_slot(self, array: np.ndarray) -> int:
        arr = np.require(array, requirements=["C"])
        key = (arr.dtype.str, arr.shape, hashlib.sha1(arr.data).hexdigest())
        if key not in self._const_cache:
            aligned = self.const_pool.get(key)
            if aligned is None:
                aligned = self.const_pool[key] = _aligned_copy(arr)
            self.slots.append(Slot("const", array=aligned))
            self._const_cache[key] = len(self.slots) - 1
        return self._const_cache[key]

    def weight_value(self, v: SSAValue) -> np.ndarray | None:
        """A weighted op's weights at compile time: a constant, or a weight decompression folded
        (passes.quantized)."""
        if self.quantized is not None and v in self.quantized.weights:
            return self.quantized.weights[v][0]
        from dialects.ov import constant_of

        return constant_of(v)

    def int8_plan(self, anchor, w: SSAValue):
        """(activation quantizer, int8 weights, per-output-channel scale) when `anchor` runs on
        the int8 kernels, else None."""
        if self.quantized is None or id(anchor) not in self.quantized.acts:
            return None
        from passes.quantized import channel_scale

        wq = self.quantized.weights[w][1]
        act = self.quantized.acts[id(anchor)]
        if self.value(act.x).id in self.level_acts:  # its producer stored the levels
            act = act.as_levels()
        return act, wq, channel_scale(anchor, w, wq)

    def hold_levels(self, v: SSAValue) -> bool:
        """Store `v` as the u8 levels of the quantizer that every reader of it applies (they
        are int8 kernels that take the levels: `Quantized.levels`), if it may: a kernel about
        to write v calls this, and then writes f32 values that the store turns into levels
        (`KB.hold_levels`). A quarter of the memory traffic, and no quantizing by the readers."""
        act = self.quantized.levels.get(v) if self.quantized is not None else None
        info = self.value(v)
        if act is None or info.alias_of is not None or info.fixed is not None or \
                info.dtype != np.float32:
            return False
        info.dtype = np.dtype(np.uint8)
        self.level_acts[info.id] = act
        return True
    def callback_buf(self, fn: Callable[[list[int]], None], nargs: int) -> Buf:
        """A slot the runtime fills with a native pointer to `fn` (a step's kernel calls it)."""
        self.slots.append(Slot("callback", nargs, callback=fn))
        return Buf(len(self.slots) - 1, 0, np.dtype(np.uint8), 1)

    def const_buf(self, array: np.ndarray) -> Buf:
        """A buffer holding this array (packed weights, index tables, ...)."""
        arr = np.asarray(array)
        return Buf(self.const_slot(arr), 0, arr.dtype, max(arr.size, 1))

    def buf(self, v: SSAValue) -> Buf:
        """Storage of a value; placeholders for arena values are resolved by `plan`."""
        own = self.value(v)
        info = self.root(own)
        if info.fixed is not None:
            f = info.fixed
            if own is info:
                return f
            return Buf(f.slot, f.offset + self.offset_in_root(own), own.dtype, max(own.size, 1), f.value_id)
        if isinstance(getattr(v, "op", None), Const):
            info.fixed = Buf(self.const_slot(v.op.array), 0, info.dtype, max(info.size, 1), info.id)
            return info.fixed
        # its own id: a value placed inside another later on (place_inside) resolves through it
        return Buf(-1, 0, own.dtype, max(own.size, 1), own.id)

    def scratch_value(self, dtype: np.dtype, size: int) -> Buf:
        """Arena memory for a temporary that no SSA value stands for (planned like one)."""
        info = _Value(len(self.infos), np.dtype(dtype), (int(size),))
        self.infos.append(info)
        return Buf(-1, 0, info.dtype, max(int(size), 1), info.id)

    def step(self, kernel: Kernel, args: Sequence[Buf], extent: int, cost: float, writes: Sequence[Buf],
             label: str = "") -> None:
        for (name, dtype, _), buf in zip(kernel.buffers, args):
            if np.dtype(dtype) != np.dtype(buf.dtype):  # a kernel written for one element type only
                raise CompileError(f"{label or 'an op'}: {np.dtype(buf.dtype)} data are not supported on CPU "
                                   f"(argument {name} must be {np.dtype(dtype)})")
        roots = [self.root(self.infos[b.value_id]).id if b.value_id >= 0 else -1 for b in args]
        held = [(name, self.level_acts[r]) for (name, _, _), r in zip(kernel.buffers, roots) if r in self.level_acts]
        if held:  # the kernel reads and writes f32 values; its loads and stores convert (KB.hold_levels)
            inner = kernel.build

            def build(kb: KB, inner=inner, held=held) -> None:
                for name, act in held:
                    kb.hold_levels(name, act)
                inner(kb)
            kernel = Kernel(kernel.key + "|levels:" + repr([(n, a.form, a.lo, a.hi, a.n, a.nan) for n, a in held]),
                            kernel.buffers, build, kernel.scratch_elems)
        writes_ = list(writes)
        reads = [a for a in args if a not in writes_]
        self.steps.append(Step(kernel, list(args), max(int(extent), 1), cost, reads, writes_, label))


def _aligned_copy(arr: np.ndarray) -> np.ndarray:
    raw = np.empty(arr.nbytes + ALIGN, np.uint8)
    off = (-raw.ctypes.data) % ALIGN
    out = raw[off:off + arr.nbytes].view(arr.dtype).reshape(arr.shape)
    out[...] = arr
    return out


# --- memory plan ------------------------------------------------------------------------------

def _plan_memory(ctx: LowerCtx) -> int:
    """Assign arena offsets to intermediate values (best fit over lifetimes); returns bytes."""
    for i, s in enumerate(ctx.steps):
        for b in s.writes + s.reads:
            if b.value_id < 0:
                continue
            info = ctx.root(ctx.infos[b.value_id])
            if info.first < 0:
                info.first = i
            info.last = max(info.last, i)
    todo = [v for v in ctx.infos if v.alias_of is None and v.fixed is None and v.first >= 0]
    todo.sort(key=lambda v: (-v.size * v.dtype.itemsize, v.first))
    placed: list[tuple[int, int, int, int]] = []  # (offset, end, first, last)
    offsets: dict[int, int] = {}
    for v in todo:
        nbytes = -(-max(v.size, 1) * v.dtype.itemsize // ALIGN) * ALIGN
        busy = sorted((o, e) for o, e, f, la in placed if not (la < v.first or f > v.last))
        off = 0
        for o, e in busy:
            if off + nbytes <= o:
                break
            off = max(off, e)
        placed.append((off, off + nbytes, v.first, v.last))
        offsets[v.id] = off
    for v in todo:
        v.fixed = Buf(0, offsets[v.id], v.dtype, max(v.size, 1), v.id)
    return max((e for _, e, _, _ in placed), default=0)


def _resolve(ctx: LowerCtx, b: Buf) -> Buf:
    if b.slot >= 0:
        return b
    own = ctx.infos[b.value_id]
    info = ctx.root(own)
    f = info.fixed
    return Buf(f.slot, f.offset + ctx.offset_in_root(own) + b.offset, b.dtype, b.size, info.id)


# --- the graph function ----------------------------------------------------------------------

def build_program(ctx: LowerCtx, profile: bool = False) -> Program:
    arena = _plan_memory(ctx)
    for s in ctx.steps:
        s.args = [_resolve(ctx, b) for b in s.args]
        s.reads = [_resolve(ctx, b) for b in s.reads]
        s.writes = [_resolve(ctx, b) for b in s.writes]
    scratch = max((s.kernel.scratch_elems * 4 for s in ctx.steps), default=0)
    scratch = -(-scratch // ALIGN) * ALIGN
    scratch_offset = -(-arena // ALIGN) * ALIGN
    kernels: dict[str, Kernel] = {}
    for s in ctx.steps:
        kernels.setdefault(s.kernel.key, s.kernel)
    funcs = [_build_kernel(k) for k in kernels.values()]
    if profile:
        ctx.slots.append(Slot("profile"))
    read_only = {i for i, sl in enumerate(ctx.slots) if sl.kind in ("input", "const")}
    graph = _build_graph(ctx.steps, scratch_offset, scratch, len(ctx.slots) - 1 if profile else None, read_only)
    module = ModuleOp([*funcs, graph])
    return Program(module, ctx.slots, scratch_offset, scratch_offset, scratch, ctx.steps, ctx.bf16_activations,
                   len(ctx.level_acts))


def _build_kernel(k: Kernel) -> func.FuncOp:
    args: list = [(n, (dt, size)) for n, dt, size in k.buffers] + [("lo", INDEX), ("hi", INDEX)]
    if k.scratch_elems:
        args += [("scratch", (np.dtype(np.float32), None)), ("soff", INDEX)]
    kb = KB(k.name, args)
    k.build(kb)
    return kb.finish()


class _Pending:
    """The memory that the steps since the last barrier read and write, indexed by slot and
    64 KiB bucket, parallel steps apart from serial ones: checking a new step costs what its
    buffers span, not what every pending step touched (that scan made lowering quadratic in
    graph length). Two serial steps never conflict (thread 0 runs both, in order)."""

    SHIFT = 16

    def __init__(self, read_only: set[int]):
        self.read_only = read_only  # slots no step writes (inputs, constants): never a conflict
        # (parallel?) -> {"r"|"w": {(slot, bucket): [(offset, end)]}}
        self.index: dict[bool, dict[str, dict[tuple[int, int], list[tuple[int, int]]]]] = {
            p: {"r": {}, "w": {}} for p in (False, True)}

    def _buckets(self, b: Buf):
        end = b.offset + max(b.nbytes, 1)
        for k in range(b.offset >> self.SHIFT, ((end - 1) >> self.SHIFT) + 1):
            yield (b.slot, k), b.offset, end

    def conflicts(self, s: Step, parallel: bool) -> bool:
        """Whether s touches memory a pending step uses, where either of them is parallel."""
        def hit(kind: str, b: Buf) -> bool:
            for p in ((False, True) if parallel else (True,)):
                index = self.index[p][kind]
                for key, lo, hi in self._buckets(b):
                    if any(o < hi and lo < e for o, e in index.get(key, ())):
                        return True
            return False
        return any(hit("r", w) or hit("w", w) for w in s.writes) or \
            any(hit("w", r) for r in s.reads if r.slot not in self.read_only)

    def add(self, s: Step, parallel: bool) -> None:
        for kind, bufs in (("r", s.reads), ("w", s.writes)):
            index = self.index[parallel][kind]
            for b in bufs:
                if b.slot in self.read_only:
                    continue
                for key, lo, hi in self._buckets(b):
                    index.setdefault(key, []).append((lo, hi))

    def clear(self) -> None:
        for p in self.index.values():
            for d in p.values():
                d.clear()


def _build_graph(steps: list[Step], scratch_offset: int, scratch_bytes: int,
                 profile_slot: int | None = None, read_only: set[int] = frozenset()) -> func.FuncOp:
    ptr = LLVMPointerType()
    kb = KB(ENTRY, [("table", ptr), ("tid", INDEX), ("nthreads", INDEX), ("barrier", ptr)])
    table, tid, nthr, bar = (kb.args[n] for n in ("table", "tid", "nthreads", "barrier"))
    pending = _Pending(set(read_only))  # what the steps since the last barrier touch
    prof = kb.emit(ViewOp(table, profile_slot, 0, buffer_type(np.dtype(np.int64), 2 * len(steps)))) \
        if profile_slot is not None else None

    def stamp(i):  # thread 0's cycle counter into profile[i]
        kb.if_(kb.icmp("eq", tid, 0), lambda: kb.store(kb.emit(CyclesOp()), prof, i))

    for i, s in enumerate(steps):
        parallel = s.cost >= PARALLEL_MIN_COST and s.extent > 1
        if pending.conflicts(s, parallel):
            kb.b.insert(BarrierOp(bar, nthr))
            pending.clear()
        s.parallel = parallel
        if prof is not None:
            stamp(2 * i)
        views = [kb.emit(ViewOp(table, b.slot, b.offset, buffer_type(dt, size)))
                 for b, (_, dt, size) in zip(s.args, s.kernel.buffers)]
        extra = []
        if s.kernel.scratch_elems:  # each thread's scratch starts `soff` elements in
            sv = kb.emit(ViewOp(table, 0, scratch_offset, buffer_type(np.dtype(np.float32), None)))
            extra = [sv, kb.mul(tid, scratch_bytes // 4)]
        if parallel:
            lo = kb.div(kb.mul(tid, s.extent), nthr)
            hi = kb.div(kb.mul(kb.add(tid, 1), s.extent), nthr)
            kb.b.insert(func.CallOp(s.kernel.name, [*views, kb.v(lo), kb.v(hi), *[kb.v(e) for e in extra]], []))
        else:
            def call(s=s, views=views, extra=extra):
                kb.b.insert(func.CallOp(s.kernel.name, [*views, kb.v(0), kb.v(s.extent),
                                                        *[kb.v(e) for e in extra]], []))
            kb.if_(kb.icmp("eq", tid, 0), call)
        pending.add(s, parallel)
        if prof is not None:
            stamp(2 * i + 1)
    kb.b.insert(BarrierOp(bar, nthr))  # outputs are complete when every thread returns
    return kb.finish()


__all__ = ["ENTRY", "Buf", "Kernel", "LowerCtx", "Program", "Slot", "Step", "build_program"]
