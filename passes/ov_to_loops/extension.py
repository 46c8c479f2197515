"""ov.Extension on the CPU: one step that calls back into the op's Python code.

The step's kernel calls a function pointer (`loops.call_pointer`) that the runtime sets to a
ctypes callback; the callback views the step's buffers as numpy arrays, runs the op's
`evaluate` and writes its outputs into place. Everything around the step stays native; the
step runs on one thread, and the arrays it reads are complete (the barriers see its buffers)."""

from __future__ import annotations

import ctypes

import numpy as np

from dialects.errors import ExtensionError
from dialects.loops import CallPointerOp
from dialects.ov import dtype_of, shape_of
from dialects.ov.extension import custom_impl
from passes.ov_to_loops.lower import lowering
from passes.ov_to_loops.program import Kernel, LowerCtx


def _view(address: int, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    n = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = (ctypes.c_uint8 * max(n, 1)).from_address(address)
    return np.frombuffer(raw, np.uint8, n).view(dtype).reshape(shape)


@lowering("Extension")
def lower_extension(ctx: LowerCtx, op) -> None:
    attrs = op.attr
    custom_impl(attrs.type_name)  # registered now, or no compiled model
    ins = [(tuple(shape_of(v.type)), dtype_of(v.type)) for v in op.inputs]
    outs = [(tuple(shape_of(r.type)), dtype_of(r.type)) for r in op.outputs]

    def run(addresses: list[int]) -> None:
        arrays = [_view(a, s, d) for a, (s, d) in zip(addresses, ins)]
        results = custom_impl(attrs.type_name).evaluate(attrs, arrays)
        for k, (value, a, (s, d)) in enumerate(zip(results, addresses[len(ins):], outs)):
            value = np.asarray(value)
            if value.shape != s:
                raise ExtensionError(f"custom op {attrs.type_name!r}: evaluate gave output {k} of shape "
                                     f"{list(value.shape)}, validate_and_infer_types said {list(s)}")
            _view(a, s, d)[...] = value.astype(d, copy=False)

    bufs = [ctx.buf(v) for v in op.inputs] + [ctx.buf(r) for r in op.outputs]
    callee = ctx.callback_buf(run, len(bufs))
    specs = [(f"a{i}", b.dtype, b.size) for i, b in enumerate(bufs)]

    def build(kb) -> None:
        kb.b.insert(CallPointerOp(kb.args["fn"], [kb.args[n] for n, _, _ in specs]))

    key = "callback:" + ",".join(f"{np.dtype(d).str}x{n}" for _, d, n in specs)
    kernel = Kernel(key, [("fn", np.dtype(np.uint8), 1), *specs], build)
    ctx.step(kernel, [callee, *bufs], 1, 0.0, bufs[len(op.inputs):], f"Extension {attrs.type_name}")
