"""The `ov` -> loop dialect lowering: dispatches every op to its lowering and assembles the
Program (kernels, steps, memory plan, graph function)."""

from __future__ import annotations

from collections.abc import Callable

from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp

from dialects.errors import CompileError
from dialects.ov import Const, Fused, OvOp, constant_of, format_shape, is_static, shape_of
from passes.ov_to_loops.elementwise import ELEMENTWISE, copy_kernel, lower_eltwise
from passes.ov_to_loops.program import Buf, LowerCtx, Program, Slot, build_program
from passes.quantized import analyze

Lowering = Callable[[LowerCtx, OvOp], None]
LOWERINGS: dict[str, Lowering] = {}
FUSED: dict[str, Callable[[LowerCtx, Fused], None]] = {}
ALIASES = frozenset({"Reshape", "Squeeze", "Unsqueeze"})  # results are views of input 0
# Ops with no native lowering, and why (the error a CPU compilation of one gives).
NO_CPU: dict[str, str] = {
    "NonZero": "the size of its output depends on the data, which compiled CPU code does not support "
               "(use the REFERENCE device)",
}


def lowering(*op_types: str) -> Callable[[Lowering], Lowering]:
    def register(fn: Lowering) -> Lowering:
        for t in op_types:
            LOWERINGS[t] = fn
        return fn
    return register


def has_lowering(op_type: str) -> bool:
    _load()
    return op_type in LOWERINGS or op_type in ELEMENTWISE or op_type in ALIASES or op_type == "Const"


def _load() -> None:
    # register the lowerings
    from passes.ov_to_loops import conv, extension, matmul, misc, movement, pooling, reduce, spectral  # noqa: F401
    from passes.ov_to_loops.elementwise import lower_fused_eltwise

    FUSED["eltwise"] = lower_fused_eltwise


def lower_module(module: ModuleOp, profile: bool = False, const_pool: dict | None = None, precision: str = "f32",
                 bf16_isa: str | None = None, int8_isa: str | None = None) -> Program:
    _load()
    fn = next(op for op in module.body.block.ops if isinstance(op, func.FuncOp))
    block = fn.body.block
    missing = sorted({op.IR_TYPE for op in block.walk() if isinstance(op, OvOp) and not has_lowering(op.IR_TYPE)})
    if missing:
        raise CompileError("no CPU lowering for: " + ", ".join(
            f"{t} ({NO_CPU[t]})" if t in NO_CPU else t for t in missing))
    for op in block.walk():
        if isinstance(op, OvOp):
            for r in op.outputs:
                if not is_static(shape_of(r.type)):
                    raise CompileError(f"{op.IR_TYPE}: output shape {format_shape(shape_of(r.type))} is not static "
                                       "(it depends on input values); native code needs static shapes")
            # an empty constant operand (a Reshape to a scalar's shape []) is read by no kernel
            if any(0 in shape_of(v.type) for v in list(op.inputs) + list(op.outputs)
                   if not (v in op.inputs and constant_of(v) is not None)):
                raise CompileError(f"{op.IR_TYPE}: tensors with zero elements are not supported on CPU")
    ctx = LowerCtx(const_pool, precision, bf16_isa, int8_isa)
    ctx.quantized = analyze(block, int8_isa or False)
    from passes.ov_to_loops.conv import BF16, bf16_activations

    held = bf16_activations(ctx, block)
    for v in held:
        ctx.value(v).dtype = BF16
    ctx.bf16_activations = len(held)
    for i, arg in enumerate(block.args):
        ctx.slots.append(Slot("input", i))
        info = ctx.value(arg)
        info.fixed = Buf(len(ctx.slots) - 1, 0, info.dtype, max(info.size, 1), info.id)
    outputs = []
    for op in block.ops:
        if isinstance(op, func.ReturnOp):
            outputs = list(op.operands)
            break
        if isinstance(op, Const) or id(op) in ctx.quantized.skip:
            continue  # constants, and quantizers and weight decompressions folded into the GEMMs
        if isinstance(op, Fused):
            FUSED[op.kind.data](ctx, op)
        elif op.IR_TYPE in ALIASES:
            ctx.alias(op.outputs[0], op.inputs[0])
        elif op.IR_TYPE in ELEMENTWISE:
            lower_eltwise(ctx, op)
        else:
            LOWERINGS[op.IR_TYPE](ctx, op)
    written = {ctx.root(ctx.infos[b.value_id]).id for s in ctx.steps for b in s.writes if b.value_id >= 0}
    for j, v in enumerate(outputs):
        ctx.slots.append(Slot("output", j))
        slot = len(ctx.slots) - 1
        info = ctx.value(v)
        root = ctx.root(info)
        out = Buf(slot, 0, info.dtype, max(info.size, 1), -1)
        if root.fixed is None and root.id in written and ctx.offset_in_root(info) == 0 and info.size == root.size:
            root.fixed = Buf(slot, 0, root.dtype, max(root.size, 1), root.id)
        else:  # an input, a constant, or a value another output already holds
            copy_kernel(ctx, ctx.buf(v), out, info.shape, info.dtype)
    return build_program(ctx, profile)
