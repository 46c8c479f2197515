"""TensorFlow Lite flatbuffers (.tflite) into the `ov` dialect.

The file is read with the flatbuffer schema that TensorFlow ships
(`tensorflow/lite/python/schema_py_generated.py`, loaded by path so that TensorFlow itself is
not imported). Quantized models compute in float: constant tensors (weights, biases) are
dequantized (per tensor or per channel), quantized activations keep their rounding through
FakeQuantize, as OpenVINO's TFLite frontend does. A quantized model input stays integer and
is dequantized on entry; a quantized output is quantized back, so the model is fed and read
like the TFLite interpreter."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import SSAValue

from compiler.frontend import convert_node
from compiler.frontend import lookup as extension_for
from compiler.frontends.builder import FrontendContext, GraphBuilder, add_tensor_name, name_ops_since
from compiler.frontends.cut import drop_unused_inputs, unknown_names_error
from compiler.frontends.inputs import InputSpec
from dialects.errors import ConversionError, ModelFileError, UnsupportedOpsError
from dialects.ov import dtype_of

_SCHEMA = None


def schema():
    """The flatbuffer schema module from the installed tensorflow package (not imported)."""
    global _SCHEMA
    if _SCHEMA is None:
        spec = importlib.util.find_spec("tensorflow")
        if spec is None or not spec.submodule_search_locations:
            raise ConversionError("reading .tflite files needs the TensorFlow package (for its flatbuffer "
                                  "schema): pip install 'ovcc[tensorflow]'")
        path = Path(spec.submodule_search_locations[0]) / "lite" / "python" / "schema_py_generated.py"
        mspec = importlib.util.spec_from_file_location("ovcc_tflite_schema", path)
        mod = importlib.util.module_from_spec(mspec)
        mspec.loader.exec_module(mod)
        _SCHEMA = mod
    return _SCHEMA


def _names(enum) -> dict[int, str]:
    return {v: k for k, v in vars(enum).items() if not k.startswith("_") and isinstance(v, int)}


NP_TYPES = {"FLOAT32": np.float32, "FLOAT16": np.float16, "FLOAT64": np.float64, "INT8": np.int8,
            "UINT8": np.uint8, "INT16": np.int16, "UINT16": np.uint16, "INT32": np.int32, "UINT32": np.uint32,
            "INT64": np.int64, "UINT64": np.uint64, "BOOL": np.bool_}

def densify(values: np.ndarray, sparsity, shape: list[int]) -> np.ndarray:
    """The dense array of a TFLite sparse tensor: `values` in the order of the traversal of its
    n + k dims (`traversal_order`: the n dims, then k block dims of the sizes `block_map`
    blocks them by), each dim dense (all dense_size positions) or SPARSE_CSR (positions
    array_indices[array_segments[p]:array_segments[p + 1]] under parent position p), as
    TFLite's FormatConverter reads it. Level by level over all paths at once, in order."""
    order = [int(v) for v in (sparsity.traversalOrder if sparsity.traversalOrder is not None else [])]
    bmap = [int(v) for v in (sparsity.blockMap if sparsity.blockMap is not None else [])]
    dims = list(sparsity.dimMetadata or [])
    n = len(shape)
    if sorted(order) != list(range(n + len(bmap))) or len(dims) != len(order) or any(not 0 <= b < n for b in bmap):
        raise ValueError(f"traversal order {order} and block map {bmap} do not fit rank {n}")
    if sorted(order[:n]) != list(range(n)):
        raise ValueError(f"traversal order {order}: block dims must come after the tensor's dims")
    idx = np.zeros((1, 0), np.int64)  # one row of traversal indices per path so far
    parent = np.zeros(1, np.int64)  # each path's position at its level (DENSE) or in the indices (CSR)
    sizes = []
    for level, dm in enumerate(dims):
        if dm.format == 0:  # DENSE
            size = int(dm.denseSize)
            if size < 0:
                raise ValueError(f"dim {level}: dense size {size}")
            sizes.append(size)
            child = np.tile(np.arange(size, dtype=np.int64), len(parent))
            parent = (np.repeat(parent, size) * size + child)
            idx = np.concatenate([np.repeat(idx, size, axis=0), child[:, None]], axis=1)
        else:  # SPARSE_CSR
            seg = np.asarray(dm.arraySegments.values if dm.arraySegments is not None else [], np.int64)
            ind = np.asarray(dm.arrayIndices.values if dm.arrayIndices is not None else [], np.int64)
            if seg.size < int(parent.max(initial=-1)) + 2 or np.any(np.diff(seg) < 0) or seg[0] < 0 \
                    or seg[-1] > ind.size:
                raise ValueError(f"dim {level}: malformed segments")
            counts = seg[parent + 1] - seg[parent]
            pos = np.repeat(seg[parent] - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
            child = ind[pos]
            sizes.append(None)
            parent = pos
            idx = np.concatenate([np.repeat(idx, counts, axis=0), child[:, None]], axis=1)
    if idx.shape[0] != values.size:
        raise ValueError(f"{values.size} values for {idx.shape[0]} stored positions")
    block = [1] * n
    for j, b in enumerate(bmap):  # a block dim's size: its dense size in the traversal
        level = order.index(n + j)
        if sizes[level] is None:
            raise ValueError("a block dim must be dense")
        block[b] = sizes[level]
    orig = np.zeros((idx.shape[0], n), np.int64)
    for level in range(n):
        orig[:, order[level]] = idx[:, level]
    for level in range(n, len(order)):
        b = bmap[order[level] - n]
        orig[:, b] = orig[:, b] * block[b] + idx[:, level]
    if np.any(orig < 0) or np.any(orig >= np.asarray(shape, np.int64)):
        raise ValueError(f"an index lies outside the shape {shape}")
    out = np.zeros(shape, values.dtype)
    out[tuple(orig.T)] = values
    return out


@dataclass
class Variable:
    """A resource variable during conversion: its value at the start of a call (the model input
    `name`, made on its first read), its latest value in the call (`value`), whether the call
    assigns it (then the model output `name/next`), and what CALL_ONCE initializes it to."""

    name: str
    initial: np.ndarray | None = None
    input: SSAValue | None = None
    value: SSAValue | None = None
    assigned: bool = False


Converter = Any
TFLITE_OPS: dict[str, Converter] = {}
COMPLEX_OPS = frozenset({"RFFT2D", "COMPLEX_ABS", "REAL", "IMAG", "RESHAPE"})  # operators that read complex tensors


def tfl_op(*names: str):
    def register(fn):
        for n in names:
            TFLITE_OPS[n] = fn
        return fn
    return register


class TfliteContext(FrontendContext):
    def __init__(self, model, data: bytes, where: str):
        fb = schema()
        self.fb = fb
        self.model = model
        self.data = data
        self.where = where
        self.sg = model.subgraphs[0]
        self.b = GraphBuilder()
        self.values: dict[int, SSAValue] = {}
        self.prefix = ""  # before the names of a called subgraph's tensors (loop iteration)
        # dilated convolutions arrive as SPACE_TO_BATCH_ND -> conv -> BATCH_TO_SPACE_ND
        self.space_to_batch: dict[SSAValue, tuple] = {}
        self.dilated: dict[SSAValue, tuple] = {}
        self.type_names = _names(fb.TensorType)
        # complex tensors as float [..., 2] (compiler.frontends.spectra): only COMPLEX_OPS read them
        self.complex: set[SSAValue] = set()
        # resource variables, made explicit state (tflite_ops: VAR_HANDLE, READ_VARIABLE, ...)
        self.handles: dict[tuple[int, int], str] = {}  # (id(subgraph), tensor) -> variable name
        self.variables: dict[str, Variable] = {}
        self.initializing = False  # inside CALL_ONCE's subgraph
        self.pad_names = _names(fb.Padding)
        self.act_names = _names(fb.ActivationFunctionType)

    # --- tensors ---------------------------------------------------------------------------
    def tensor(self, i: int):
        return self.sg.tensors[i]

    def np_type(self, i: int) -> np.dtype:
        name = self.type_names.get(self.tensor(i).type, "?")
        if name not in NP_TYPES:
            raise ConversionError(f"tensor {self.tensor_name(i)!r} has unsupported type {name}")
        return np.dtype(NP_TYPES[name])

    def tensor_name(self, i: int) -> str:
        n = self.tensor(i).name
        return n.decode(errors="replace") if isinstance(n, bytes) else str(n)

    def tensor_shape(self, i: int) -> list:
        t = self.tensor(i)
        sig = getattr(t, "shapeSignature", None)
        dims = sig if sig is not None and len(sig) else t.shape
        return [None if d < 0 else int(d) for d in (dims.tolist() if dims is not None else [])]

    def quant(self, i: int):
        """(scales, zero points, axis) of a quantized tensor, else None."""
        q = self.tensor(i).quantization
        if q is None or q.scale is None or len(q.scale) == 0:
            return None
        zp = q.zeroPoint if q.zeroPoint is not None and len(q.zeroPoint) else np.zeros(len(q.scale), np.int64)
        return np.asarray(q.scale, np.float32), np.asarray(zp, np.int64), int(q.quantizedDimension)

    def raw(self, i: int) -> np.ndarray | None:
        t = self.tensor(i)
        buf = self.model.buffers[t.buffer] if t.buffer < len(self.model.buffers) else None
        if buf is None:
            return None
        data = buf.data
        if (data is None or len(data) == 0) and getattr(buf, "offset", 0) > 1:
            data = np.frombuffer(self.data, np.uint8, int(buf.size), int(buf.offset))
        shape = [int(d) for d in t.shape.tolist()] if t.shape is not None else []
        if (data is None or len(data) == 0) and 0 in shape:
            return np.zeros(shape, self.np_type(i))  # an empty constant (RESHAPE to a scalar has shape [])
        if data is None or len(data) == 0:
            return None
        dt = self.np_type(i)
        if len(data) % dt.itemsize:
            raise ModelFileError(f"{self.where}: tensor {self.tensor_name(i)!r} has {len(data)} bytes of data, not a "
                                 f"whole number of {dt} values")
        arr = np.frombuffer(np.asarray(data, np.uint8).tobytes(), dt)
        if t.sparsity is not None:  # TFLite's sparse format (DENSIFY reads such constants)
            try:
                return densify(arr, t.sparsity, shape)
            except ValueError as e:
                raise ModelFileError(f"{self.where}: sparse tensor {self.tensor_name(i)!r}: {e}") from None
        if arr.size != int(np.prod(shape, dtype=np.int64)):
            raise ModelFileError(f"{self.where}: tensor {self.tensor_name(i)!r} holds {arr.size} values for shape "
                                 f"{shape}")
        return arr.reshape(shape)

    def is_quantized_activation(self, i: int) -> bool:
        return self.quant(i) is not None and self.np_type(i).kind in "iu"

    def get(self, i: int) -> SSAValue | None:
        if i < 0:
            return None
        if i in self.values:
            return self.values[i]
        raw = self.raw(i)
        if raw is None:
            raise ConversionError(f"tensor {self.tensor_name(i)!r} is read before any op produces it")
        q = self.quant(i)
        if q is not None and raw.dtype.kind in "iu" and raw.dtype.itemsize == 1 and raw.ndim >= 2:
            v = self._decompressed(raw, *q)  # int8 weights stay integers for the int8 kernels
        else:
            if q is not None and raw.dtype.kind in "iu":
                raw = dequantize(raw, *q)
            v = self.b.const(raw)
        self.values[i] = v
        return v

    def _decompressed(self, q: np.ndarray, scales: np.ndarray, zps: np.ndarray, axis: int) -> SSAValue:
        """(q - zero point) * scale as ops on the integer constant (what `dequantize` computes)."""
        shape = [1] * q.ndim
        if scales.size > 1:
            shape[axis] = -1
        v = self.b.out("Convert", [self.b.const(q)], destination_type=np.dtype(np.float32))
        if np.any(zps):
            v = self.b.out("Subtract", [v, self.b.const(zps.astype(np.float32).reshape(shape))])
        return self.b.out("Multiply", [v, self.b.const(scales.astype(np.float32).reshape(shape))])

    def ints(self, i: int) -> list[int] | None:
        k = self.known(self.get(i))
        return None if k is None else [int(x) for x in np.asarray(k).reshape(-1)]

    def as_i64(self, v: SSAValue) -> SSAValue:
        return v if dtype_of(v.type) == np.int64 else self.b.out("Convert", [v], destination_type=np.dtype(np.int64))

    # --- options ------------------------------------------------------------------------------
    @staticmethod
    def opt(op, name: str, default=None):
        o = op.builtinOptions
        return default if o is None else getattr(o, name, default)

    def padding(self, op) -> str:
        return self.pad_names.get(self.opt(op, "padding", 0), "SAME")

    def activation(self, op, y: SSAValue) -> SSAValue:
        act = self.act_names.get(self.opt(op, "fusedActivationFunction", 0), "NONE")
        if act == "NONE":
            return y
        if act == "RELU":
            return self.b.out("ReLU", [y])
        if act == "RELU6":
            return self.b.out("Clamp", [y], min=0.0, max=6.0)
        if act == "RELU_N1_TO_1":
            return self.b.out("Clamp", [y], min=-1.0, max=1.0)
        if act == "TANH":
            return self.b.out("Tanh", [y])
        raise ConversionError(f"fused activation {act} is not supported")


def dequantize(q: np.ndarray, scales: np.ndarray, zps: np.ndarray, axis: int) -> np.ndarray:
    x = q.astype(np.float32)
    if scales.size == 1:
        return ((x - np.float32(zps.reshape(-1)[0])) * scales.reshape(-1)[0]).astype(np.float32)
    shape = [1] * q.ndim
    shape[axis] = -1
    return ((x - zps.reshape(shape).astype(np.float32)) * scales.reshape(shape)).astype(np.float32)


def _q_range(dt: np.dtype, scale: float, zp: int) -> tuple[float, float, int]:
    info = np.iinfo(dt)
    return (info.min - zp) * scale, (info.max - zp) * scale, int(info.max) - int(info.min) + 1


def fake_quantize(ctx: TfliteContext, x: SSAValue, i: int) -> SSAValue:
    scales, zps, _ = ctx.quant(i)
    if scales.size != 1:
        raise ConversionError(f"per-channel quantized activation {ctx.tensor_name(i)!r} is not supported")
    lo, hi, levels = _q_range(ctx.np_type(i), float(scales[0]), int(zps[0]))
    lo_v, hi_v = ctx.const(np.float32(lo)), ctx.const(np.float32(hi))
    return ctx.b.out("FakeQuantize", [x, lo_v, hi_v, lo_v, hi_v], levels=levels)


# ops whose outputs are some of their inputs' values (no rounding when the grids agree)
VALUE_PRESERVING = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS", "TRANSPOSE", "STRIDED_SLICE", "SLICE", "GATHER", "GATHER_ND",
                    "CONCATENATION", "PACK", "UNPACK", "SPLIT", "SPLIT_V", "MAX_POOL_2D", "REDUCE_MAX", "REDUCE_MIN",
                    "PAD", "PADV2", "MIRROR_PAD", "TILE", "BROADCAST_TO", "DEPTH_TO_SPACE", "SPACE_TO_DEPTH",
                    "RESIZE_NEAREST_NEIGHBOR", "RELU", "RELU6", "RELU_N1_TO_1", "MAXIMUM", "MINIMUM"}


def _same_quant(ctx: TfliteContext, ins: list[int], out: int) -> bool:
    """The output holds values of the first input's grid (moves, max pooling, ...): no rounding."""
    if not ins or ins[0] < 0 or ctx.raw(ins[0]) is not None or not ctx.is_quantized_activation(ins[0]):
        return False
    a, b = ctx.quant(ins[0]), ctx.quant(out)
    return ctx.np_type(ins[0]) == ctx.np_type(out) and np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def read_tflite(path: Path):
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file")
    data = path.read_bytes()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelFileError(f"{path}: not a TensorFlow Lite model (no TFL3 flatbuffer identifier)")
    fb = schema()
    try:
        model = fb.ModelT.InitFromPackedBuf(bytearray(data), 0)
    except Exception as e:  # noqa: BLE001 - a corrupt flatbuffer fails anywhere in the generated code
        raise ModelFileError(f"{path}: corrupt TensorFlow Lite flatbuffer ({type(e).__name__}: {e})") from None
    if not model.subgraphs:
        raise ModelFileError(f"{path}: the TensorFlow Lite model has no subgraph")
    _check_structure(model, len(data), str(path))
    return model, data


def _ints(v) -> list[int]:
    return [] if v is None else [int(x) for x in (v.tolist() if hasattr(v, "tolist") else v)]


def _check_structure(model, size: int, where: str) -> None:
    """Every index in the flatbuffer points at something that exists: subgraph and operator
    tensors, operator codes, buffers, and external buffer ranges inside the file; shapes are
    non-negative. (The flatbuffer itself only guarantees that it decodes.)"""
    buffers = model.buffers or []
    codes = len(model.operatorCodes or [])
    for b, buf in enumerate(buffers):
        offset, length = int(getattr(buf, "offset", 0) or 0), int(getattr(buf, "size", 0) or 0)
        if offset > 1 and (length < 0 or offset + length > size):
            raise ModelFileError(f"{where}: buffer {b} (offset {offset}, size {length}) lies beyond the end of the "
                                 f"file ({size} bytes)")
    for s, sg in enumerate(model.subgraphs):
        tensors = sg.tensors or []
        for t, tensor in enumerate(tensors):
            if int(tensor.buffer) >= len(buffers) and int(tensor.buffer) != 0:
                raise ModelFileError(f"{where}: subgraph {s} tensor {t} refers to buffer {tensor.buffer} of "
                                     f"{len(buffers)}")
            if any(d < 0 for d in _ints(tensor.shape)):
                raise ModelFileError(f"{where}: subgraph {s} tensor {t} has a negative dimension in shape "
                                     f"{_ints(tensor.shape)}")
            if not isinstance(tensor.name, bytes | str | None):
                raise ModelFileError(f"{where}: subgraph {s} tensor {t} has a malformed name")
        n = len(tensors)
        for what, ids in (("input", _ints(sg.inputs)), ("output", _ints(sg.outputs))):
            bad = [i for i in ids if not 0 <= i < n]
            if bad:
                raise ModelFileError(f"{where}: subgraph {s} {what} {bad[0]} is not one of its {n} tensors")
        for k, op in enumerate(sg.operators or []):
            if not 0 <= int(op.opcodeIndex) < codes:
                raise ModelFileError(f"{where}: subgraph {s} operator {k} uses operator code {op.opcodeIndex} of "
                                     f"{codes}")
            bad = [i for i in _ints(op.inputs) if not -1 <= i < n] + [i for i in _ints(op.outputs) if not 0 <= i < n]
            if bad:
                raise ModelFileError(f"{where}: subgraph {s} operator {k} refers to tensor {bad[0]} of {n}")


def convert_tflite(path: str | Path, specs: Sequence[InputSpec] = (), outputs: Sequence[str] = ()) -> ModuleOp:
    path = Path(path)
    where = str(path)
    model, data = read_tflite(path)
    ctx = TfliteContext(model, data, where)
    try:
        return _convert(ctx, specs, outputs)
    except ConversionError as e:
        if str(e).startswith(where):
            raise
        raise ConversionError(f"{where}: {e}") from None
    except (ModelFileError, UnsupportedOpsError):
        raise
    except (IndexError, KeyError, ValueError, TypeError, AttributeError) as e:
        raise ModelFileError(f"{where}: malformed TensorFlow Lite model ({type(e).__name__}: {e})") from None


def _op_names(ctx: TfliteContext, sg=None) -> list[str]:
    ops = _names(ctx.fb.BuiltinOperator)
    out = []
    for op in (sg or ctx.sg).operators if (sg or ctx.sg).operators is not None else []:
        oc = ctx.model.operatorCodes[op.opcodeIndex]
        code = max(int(oc.builtinCode), int(oc.deprecatedBuiltinCode))
        if ops.get(code) == "CUSTOM":
            cc = oc.customCode
            out.append("CUSTOM:" + (cc.decode() if isinstance(cc, bytes) else str(cc)))
        else:
            out.append(ops.get(code, f"builtin#{code}"))
    return out


def _signature(ctx: TfliteContext) -> tuple[dict[int, list[str]], list[int], list[int]]:
    """Signature names of tensors, and the subgraph's inputs and outputs in the signature's
    order (the source model's; the subgraph's own order may differ)."""
    names: dict[int, list[str]] = {}
    sg = ctx.sg
    inputs = sg.inputs.tolist() if sg.inputs is not None else []
    outputs = sg.outputs.tolist() if sg.outputs is not None else []
    for sd in ctx.model.signatureDefs or []:
        if getattr(sd, "subgraphIndex", 0) != 0:
            continue
        for tm in list(sd.inputs or []) + list(sd.outputs or []):
            n = tm.name.decode() if isinstance(tm.name, bytes) else str(tm.name)
            names.setdefault(int(tm.tensorIndex), []).append(n)
        sig_in = [int(t.tensorIndex) for t in sd.inputs or []]
        sig_out = [int(t.tensorIndex) for t in sd.outputs or []]
        if sorted(sig_in) == sorted(inputs):
            inputs = sig_in
        if sorted(sig_out) == sorted(outputs):
            outputs = sig_out
        break
    return names, inputs, outputs


def _convert(ctx: TfliteContext, specs: Sequence[InputSpec], outputs: Sequence[str]) -> ModuleOp:
    from compiler.frontends.tensorflow import tflite_ops  # noqa: F401  (fills the table)

    sg, where = ctx.sg, ctx.where
    missing: dict[str, list[str]] = {}
    for sub in ctx.model.subgraphs:  # loop and branch bodies too
        ctx.sg = sub
        for name, op in zip(_op_names(ctx), sub.operators if sub.operators is not None else []):
            if name not in TFLITE_OPS and extension_for(*_type_names(name)) is None:
                outs = op.outputs.tolist() if op.outputs is not None else []
                missing.setdefault(name, []).append(ctx.tensor_name(outs[0]) if outs else "?")
    ctx.sg = sg
    if missing:
        raise UnsupportedOpsError("TensorFlow Lite", where, missing)
    sig_names, inputs, out_ids = _signature(ctx)

    by_name = {s.name: s for s in specs if s.name}
    unnamed = [s for s in specs if not s.name]
    if unnamed and len(unnamed) != len(inputs):
        raise ConversionError(f"{where}: {len(unnamed)} unnamed input shapes given for {len(inputs)} inputs")
    for k, i in enumerate(inputs):
        names = list(dict.fromkeys(sig_names.get(i, []) + [ctx.tensor_name(i)]))
        spec = next((by_name.pop(n) for n in names if n in by_name), None) or (unnamed[k] if unnamed else None)
        shape, dtype = ctx.tensor_shape(i), ctx.np_type(i)
        if spec is not None and spec.value is not None:
            ctx.values[i] = ctx.const(spec.frozen(dtype))
            continue
        if spec is not None:
            shape, dtype = spec.resolve(names[0], shape, dtype)
        v = ctx.b.add_input(names, shape, dtype)
        if ctx.is_quantized_activation(i):  # integer input: dequantize on entry
            scales, zps, _ = ctx.quant(i)
            f = ctx.b.out("Convert", [v], destination_type=np.dtype(np.float32))
            v = ctx.b.out("Multiply", [ctx.b.out("Subtract", [f, ctx.const(np.float32(zps[0]))]),
                                       ctx.const(np.float32(scales[0]))])
        ctx.values[i] = v
    lookup = {n: i for i in range(len(sg.tensors)) for n in [ctx.tensor_name(i), *sig_names.get(i, [])]}
    unknown = {n: "input" for n in by_name if n not in lookup} | {o: "output" for o in outputs if o not in lookup}
    if unknown:
        raise unknown_names_error(where, unknown, lookup)
    for name, spec in by_name.items():  # cut points inside the graph (a new input without a type is f32)
        i = lookup[name]
        ctx.values[i] = ctx.const(spec.frozen(np.dtype(np.float32))) if spec.value is not None else \
            ctx.b.add_input([name], *spec.resolve(name, None, np.dtype(np.float32)))

    run_ops(ctx, keep=set(ctx.values))

    if outputs:
        out_ids = [lookup[o] for o in outputs]
    result = []
    state = [(var.value, [f"{var.name}/next"]) for var in ctx.variables.values() if var.assigned]
    for i in out_ids:
        v = ctx.get(i)
        if v in ctx.complex:
            raise ConversionError(f"{ctx.where}: output {ctx.tensor_name(i)!r} is complex (COMPLEX_ABS, REAL or "
                                  f"IMAG of it can be an output)")
        if ctx.is_quantized_activation(i) and dtype_of(v.type).kind == "f":  # back to the integer type
            scales, zps, _ = ctx.quant(i)
            info = np.iinfo(ctx.np_type(i))
            qv = ctx.b.out("Add", [ctx.b.out("Round", [ctx.b.out("Divide", [v, ctx.const(np.float32(scales[0]))])],
                                             mode="half_away_from_zero"), ctx.const(np.float32(zps[0]))])
            qv = ctx.b.out("Clamp", [qv], min=float(info.min), max=float(info.max))
            v = ctx.b.out("Convert", [qv], destination_type=ctx.np_type(i))
        result.append((v, list(dict.fromkeys(sig_names.get(i, []) + [ctx.tensor_name(i)]))))
    result += state
    if by_name or outputs:  # inputs that fed only the parts cut away go
        drop_unused_inputs(ctx.b, [v for v, _ in result])
    module = ctx.b.finish(result)
    module.ovcc_initial_state = {var.name: var.initial for var in ctx.variables.values()
                                 if var.initial is not None and (var.input is not None or var.assigned)}
    return module


def _type_names(name: str) -> tuple[str, ...]:
    """How an extension may name an operator: "CONV_2D", or a custom one "CUSTOM:MyOp" or "MyOp"."""
    return (name, name.split(":", 1)[1]) if name.startswith("CUSTOM:") else (name,)


def _options(op) -> dict:
    """An operator's options: the builtin ones by field name, a custom one's flexbuffer map."""
    if op.builtinOptions is not None:
        return {k: v for k, v in vars(op.builtinOptions).items() if not k.startswith("_")}
    raw = getattr(op, "customOptions", None)
    if raw is None or not len(raw):
        return {}
    try:
        from flatbuffers import flexbuffers

        value = flexbuffers.Loads(bytes(np.asarray(raw, np.uint8)))
    except Exception:  # noqa: BLE001 - not a flexbuffer map: the options stay opaque
        return {}
    return dict(value) if isinstance(value, dict) else {}


def run_ops(ctx: TfliteContext, keep: set[int] = frozenset()) -> None:
    """Convert the operators of the current subgraph, in order, into `ctx.values`; the tensors
    in `keep` (cut points) keep the values they have."""
    for name, op in zip(_op_names(ctx), ctx.sg.operators if ctx.sg.operators is not None else []):
        ins = op.inputs.tolist() if op.inputs is not None else []
        outs = op.outputs.tolist() if op.outputs is not None else []
        before = ctx.b.block.last_op
        layer = ctx.prefix + (ctx.tensor_name(outs[0]) if outs else name)
        ext = extension_for(*_type_names(name))
        if name not in COMPLEX_OPS and any(i >= 0 and ctx.values.get(i) in ctx.complex for i in ins):
            raise ConversionError(f"{ctx.where}: operator {layer!r} ({name}) reads a complex tensor; complex values "
                                  f"are supported by {', '.join(sorted(COMPLEX_OPS))}")
        try:
            if ext is not None:  # the user's conversion comes first, as in OpenVINO
                res = convert_node(ext, name, layer, [ctx.get(i) for i in ins], _options(op), ctx.b)
            else:
                res = TFLITE_OPS[name](ctx, op, ins, outs)
        except ConversionError as e:
            msg = str(e)
            raise ConversionError(msg if msg.startswith(ctx.where) else
                                  f"{ctx.where}: operator {layer!r} ({name}): {msg}") from None
        results = res if isinstance(res, list | tuple) else [res]
        for i, v in zip(outs, results):
            if v is None or i in keep:
                continue
            if ctx.is_quantized_activation(i) and dtype_of(v.type).kind == "f" and name != "DENSIFY" and not (
                    name in VALUE_PRESERVING and _same_quant(ctx, ins, i)):  # (DENSIFY: a constant's values)
                v = fake_quantize(ctx, v, i)
            ctx.values[i] = v
            add_tensor_name(v, ctx.prefix + ctx.tensor_name(i))
        name_ops_since(ctx.b, before, layer)


def call_subgraph(ctx: TfliteContext, index: int, args: list, prefix: str) -> list:
    """The outputs of subgraph `index` (a loop condition or body, a branch) on `args`."""
    if not 0 < index < len(ctx.model.subgraphs):
        raise ConversionError(f"subgraph {index} does not exist")
    saved = ctx.sg, ctx.values, ctx.prefix
    ctx.sg, ctx.values, ctx.prefix = ctx.model.subgraphs[index], {}, prefix
    try:
        inputs = ctx.sg.inputs.tolist() if ctx.sg.inputs is not None else []
        if len(inputs) != len(args):
            raise ConversionError(f"subgraph {index} takes {len(inputs)} inputs, got {len(args)}")
        ctx.values.update(zip(inputs, args))
        run_ops(ctx)
        return [ctx.get(i) for i in (ctx.sg.outputs.tolist() if ctx.sg.outputs is not None else [])]
    finally:
        ctx.sg, ctx.values, ctx.prefix = saved
