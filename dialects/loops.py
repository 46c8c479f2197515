"""The `loops` dialect: what the loop level needs beyond xDSL's func/scf/arith/math/memref/
vector dialects.

Kernels work on flat `memref<N x T>` buffers with explicit index arithmetic. The graph function
receives a table of base pointers (arena, inputs, outputs, constants); `loops.view` turns one
slot of it plus a byte offset into a typed buffer, and `loops.barrier` synchronizes the threads
that run the graph together."""

from __future__ import annotations

from xdsl.dialects.builtin import IntegerAttr, MemRefType, i64
from xdsl.dialects.llvm import LLVMPointerType
from xdsl.ir import Dialect, SSAValue
from xdsl.irdl import IRDLOperation, irdl_op_definition, operand_def, prop_def, result_def


@irdl_op_definition
class ViewOp(IRDLOperation):
    """A typed buffer at `offset` bytes into the memory that slot `slot` of `table` points to."""

    name = "loops.view"
    table = operand_def(LLVMPointerType)
    slot = prop_def(IntegerAttr)
    offset = prop_def(IntegerAttr)
    result = result_def(MemRefType)
    assembly_format = "$table `[` $slot `]` `+` $offset attr-dict `:` type($table) `->` type($result)"

    def __init__(self, table: SSAValue, slot: int, offset: int, memref_type: MemRefType):
        super().__init__(operands=[table], result_types=[memref_type],
                         properties={"slot": IntegerAttr(slot, i64), "offset": IntegerAttr(offset, i64)})


@irdl_op_definition
class BarrierOp(IRDLOperation):
    """All `nthreads` threads wait here until each has arrived (`state` holds two i64 counters)."""

    name = "loops.barrier"
    state = operand_def(LLVMPointerType)
    nthreads = operand_def()
    assembly_format = "$state `,` $nthreads attr-dict `:` type($state) `,` type($nthreads)"

    def __init__(self, state: SSAValue, nthreads: SSAValue):
        super().__init__(operands=[state, nthreads])


@irdl_op_definition
class CyclesOp(IRDLOperation):
    """The CPU's cycle counter (for per-step profiles)."""

    name = "loops.cycles"
    result = result_def(i64)
    assembly_format = "attr-dict"

    def __init__(self):
        super().__init__(result_types=[i64])


LOOPS = Dialect("loops", [ViewOp, BarrierOp, CyclesOp], [])
