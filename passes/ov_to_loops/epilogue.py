"""Epilogues of the weighted ops: the element-wise ops fused after a Convolution or MatMul
(bias, activation, residual add, ...) applied to each block of the GEMM result before it is
stored, and the lowering of a Fused group anchored on such an op."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from xdsl.ir import SSAValue

from dialects.ov import OvOp, dtype_of, shape_of
from passes.ov_to_loops.elementwise import Dag, broadcast_strides, dag_from_ops, input_view
from passes.ov_to_loops.kb import KB
from passes.ov_to_loops.program import LowerCtx


@dataclass
class Epilogue:
    """Element-wise ops applied to the GEMM result (`acc`) before it is stored."""

    dag: Dag
    inputs: list[SSAValue]
    views: list[tuple[int, ...]]
    out_shape: tuple[int, ...]

    @staticmethod
    def identity(out_shape) -> Epilogue:
        return Epilogue(Dag([], [("acc", 0)]), [], [], tuple(out_shape))

    def key(self) -> str:
        return self.dag.key() + repr(self.views) + repr([dtype_of(v.type).str for v in self.inputs])

    def strides(self) -> list[list[int]]:
        return [broadcast_strides(self.out_shape, v) for v in self.views]


def epilogue_from_group(ops: Sequence[OvOp], anchor: OvOp, inputs: Sequence[SSAValue], output: SSAValue) -> Epilogue:
    out_shape = shape_of(output.type)
    slopes = {op.inputs[1] for op in ops if op.IR_TYPE == "PRelu"}
    dag = dag_from_ops(ops, inputs, [output], acc=anchor.outputs[0])
    views = [input_view(out_shape, shape_of(v.type), v in slopes) for v in inputs]
    return Epilogue(dag, list(inputs), views, tuple(out_shape))


def apply_epilogue_vec(kb: KB, ep: Epilogue, acc, bufs, pos: list, nvalid, v: int, strides, lanes=None):
    """Epilogue on one vector of C whose elements differ only in the last index (contiguous
    output positions). `pos` is the output multi-index of lane 0 (the last entry being the
    last-dim index); inputs are read in the first `nvalid` lanes, or in the lanes of the mask
    `lanes` when given (lane 0's position may then lie before the buffer: it is not read)."""
    vals = []
    mask = lanes if lanes is not None else kb.mask(nvalid, v) if nvalid is not None else None
    for buf, st in zip(bufs, strides):
        base = kb.lin(pos, st)
        if st[-1] == 0:
            vals.append(kb.broadcast(kb.load(buf, base), v))
        elif mask is not None:
            vals.append(kb.vload_masked(buf, base, mask, v))
        else:
            vals.append(kb.vload(buf, base, v))
    kb.width = v
    try:
        (out,) = ep.dag.eval(kb, vals, acc)
    finally:
        kb.width = 1
    return out


def lower_anchored(ctx: LowerCtx, op, lower: Callable) -> None:
    """A Fused group anchored on a Convolution/MatMul: the other ops become its epilogue and
    `lower(ctx, anchor, epilogue, output, anchor_inputs)` lowers the whole group."""
    inner = [o for o in op.block.ops if isinstance(o, OvOp)]
    anchor = inner[0]
    outer = dict(zip(op.block.args, op.inputs))
    ext = [a for a in op.block.args if any(a in o.inputs for o in inner[1:])]
    ep = epilogue_from_group(inner[1:], anchor, ext, op.block.last_op.operands[0])
    ep.inputs = [outer[a] for a in ext]
    lower(ctx, anchor, ep, op.outputs[0], [outer[a] for a in anchor.inputs])
