"""The `loops` dialect: what the loop level needs beyond xDSL's func/scf/arith/math/memref/
vector dialects.

Kernels work on flat `memref<N x T>` buffers with explicit index arithmetic. The graph function
receives a table of base pointers (arena, inputs, outputs, constants); `loops.view` turns one
slot of it plus a byte offset into a typed buffer, and `loops.barrier` synchronizes the threads
that run the graph together.

Low-precision dot products, which no generic op expresses: `loops.dot_bf16` (AVX512-BF16's
pairwise bf16 dot product into f32 lanes), `loops.dot_u8s8` (AVX512-VNNI's u8 x s8 dot
product of byte quadruples into i32 lanes), `loops.dot_i16` (AVX2's vpmaddwd of i16 pairs
into i32 lanes, plus the accumulator) and the AMX tile ops. AMX tiles are named by number
(0-7), as the instructions name them: a kernel configures the tiles it uses
(`loops.tile_config`), loads, multiplies and stores them, and releases them."""

from __future__ import annotations

from xdsl.dialects.builtin import DenseArrayBase, IntegerAttr, MemRefType, StringAttr, VectorType, i1, i64
from xdsl.dialects.llvm import LLVMPointerType
from xdsl.ir import Dialect, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_op_definition,
    operand_def,
    prop_def,
    result_def,
    var_operand_def,
)


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


@irdl_op_definition
class RemFOp(IRDLOperation):
    """C's fmod: the exact remainder of lhs / rhs truncated toward zero (MLIR's arith.remf,
    which xDSL does not define)."""

    name = "loops.remf"
    lhs = operand_def()
    rhs = operand_def()
    result = result_def()
    assembly_format = "$lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->` type($result)"

    def __init__(self, lhs: SSAValue, rhs: SSAValue):
        super().__init__(operands=[lhs, rhs], result_types=[lhs.type])


@irdl_op_definition
class AllTrueOp(IRDLOperation):
    """Whether every lane of a vector of i1 is set (MLIR's vector.reduction <and> on i1)."""

    name = "loops.all_true"
    mask = operand_def(VectorType)
    result = result_def(i1)
    assembly_format = "$mask attr-dict `:` type($mask)"

    def __init__(self, mask: SSAValue):
        super().__init__(operands=[mask], result_types=[i1])


@irdl_op_definition
class DotBF16Op(IRDLOperation):
    """acc[i] + a[2i] * b[2i] + a[2i+1] * b[2i+1]: 16 f32 lanes from 32 bf16 pairs (vdpbf16ps)."""

    name = "loops.dot_bf16"
    acc = operand_def(VectorType)
    a = operand_def(VectorType)
    b = operand_def(VectorType)
    result = result_def(VectorType)
    assembly_format = "$acc `,` $a `,` $b attr-dict `:` type($acc) `,` type($a) `,` type($b) `->` type($result)"

    def __init__(self, acc: SSAValue, a: SSAValue, b: SSAValue):
        super().__init__(operands=[acc, a, b], result_types=[acc.type])


@irdl_op_definition
class DotU8S8Op(IRDLOperation):
    """acc[i] + sum of the four products of bytes 4i..4i+3, u8 of `a` times s8 of `b` (vpdpbusd:
    16 i32 lanes from 64 byte pairs, exact)."""

    name = "loops.dot_u8s8"
    acc = operand_def(VectorType)
    a = operand_def(VectorType)
    b = operand_def(VectorType)
    result = result_def(VectorType)
    assembly_format = "$acc `,` $a `,` $b attr-dict `:` type($acc) `,` type($a) `,` type($b) `->` type($result)"

    def __init__(self, acc: SSAValue, a: SSAValue, b: SSAValue):
        super().__init__(operands=[acc, a, b], result_types=[acc.type])


@irdl_op_definition
class DotI16Op(IRDLOperation):
    """acc[i] + a[2i] * b[2i] + a[2i+1] * b[2i+1]: 8 i32 lanes from 16 signed i16 pairs
    (vpmaddwd then vpaddd; exact while the pair sums fit i32, as u8 x s8 sums do)."""

    name = "loops.dot_i16"
    acc = operand_def(VectorType)
    a = operand_def(VectorType)
    b = operand_def(VectorType)
    result = result_def(VectorType)
    assembly_format = "$acc `,` $a `,` $b attr-dict `:` type($acc) `,` type($a) `,` type($b) `->` type($result)"

    def __init__(self, acc: SSAValue, a: SSAValue, b: SSAValue):
        super().__init__(operands=[acc, a, b], result_types=[acc.type])


@irdl_op_definition
class TileConfigOp(IRDLOperation):
    """Configure AMX tiles 0-7: `rows[t]` rows of `colsb[t]` bytes each (0: unused)."""

    name = "loops.tile_config"
    rows = prop_def(DenseArrayBase)
    colsb = prop_def(DenseArrayBase)
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "attr-dict"

    def __init__(self, rows: list[int], colsb: list[int]):
        super().__init__(properties={"rows": DenseArrayBase.from_list(i64, rows),
                                     "colsb": DenseArrayBase.from_list(i64, colsb)})


@irdl_op_definition
class TileZeroOp(IRDLOperation):
    name = "loops.tile_zero"
    tile = prop_def(IntegerAttr)
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "attr-dict"

    def __init__(self, tile: int):
        super().__init__(properties={"tile": IntegerAttr(tile, i64)})


@irdl_op_definition
class TileLoadOp(IRDLOperation):
    """Load tile `tile` from `buf` at element `index`, rows `stride` bytes apart."""

    name = "loops.tile_load"
    buf = operand_def(MemRefType)
    index = operand_def()
    stride = operand_def()
    tile = prop_def(IntegerAttr)
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$buf `[` $index `]` `,` $stride attr-dict `:` type($buf) `,` type($index) `,` type($stride)"

    def __init__(self, tile: int, buf: SSAValue, index: SSAValue, stride: SSAValue):
        super().__init__(operands=[buf, index, stride], properties={"tile": IntegerAttr(tile, i64)})


@irdl_op_definition
class TileStoreOp(IRDLOperation):
    name = "loops.tile_store"
    buf = operand_def(MemRefType)
    index = operand_def()
    stride = operand_def()
    tile = prop_def(IntegerAttr)
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$buf `[` $index `]` `,` $stride attr-dict `:` type($buf) `,` type($index) `,` type($stride)"

    def __init__(self, tile: int, buf: SSAValue, index: SSAValue, stride: SSAValue):
        super().__init__(operands=[buf, index, stride], properties={"tile": IntegerAttr(tile, i64)})


@irdl_op_definition
class TileDotOp(IRDLOperation):
    """Tile c += tile a x tile b: `kind` "bf16" (tdpbf16ps: f32 += bf16 pairs) or one of "ssd",
    "sud", "usd", "uud" (tdpb*d: i32 += groups of four signed/unsigned bytes)."""

    name = "loops.tile_dot"
    kind = prop_def(StringAttr)
    c = prop_def(IntegerAttr)
    a = prop_def(IntegerAttr)
    b = prop_def(IntegerAttr)
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "attr-dict"

    def __init__(self, kind: str, c: int, a: int, b: int):
        super().__init__(properties={"kind": StringAttr(kind), "c": IntegerAttr(c, i64), "a": IntegerAttr(a, i64),
                                     "b": IntegerAttr(b, i64)})


@irdl_op_definition
class TileReleaseOp(IRDLOperation):
    name = "loops.tile_release"
    assembly_format = "attr-dict"

    def __init__(self):
        super().__init__()


@irdl_op_definition
class CallPointerOp(IRDLOperation):
    """Call the function whose address `callee` holds, with these buffers' addresses: a step
    that runs outside the generated code (a custom op's Python code, through a ctypes callback)."""

    name = "loops.call_pointer"
    callee = operand_def(MemRefType)
    args = var_operand_def(MemRefType)
    assembly_format = "$callee `(` $args `)` attr-dict `:` type($callee) `,` type($args)"

    def __init__(self, callee: SSAValue, args: list[SSAValue]):
        super().__init__(operands=[callee, args])


LOOPS = Dialect("loops", [ViewOp, BarrierOp, CyclesOp, RemFOp, AllTrueOp, DotBF16Op, DotU8S8Op, DotI16Op,
                          TileConfigOp, TileZeroOp, TileLoadOp, TileStoreOp, TileDotOp, TileReleaseOp,
                          CallPointerOp], [])
