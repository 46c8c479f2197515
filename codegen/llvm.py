"""Loop dialect -> LLVM IR (llvmlite.ir), then optimization for the host CPU and object code.

One table maps each arith/math/vector op to its LLVM instruction; control flow (scf.for, scf.if),
memory (memref, vector load/store, masked ops) and the `loops` ops are translated by hand.
xDSL ships no arith/func/scf -> llvm conversions, so this emitter is the bridge."""

from __future__ import annotations

import llvmlite.binding as llvm
import llvmlite.ir as ir
from xdsl.dialects import arith, func, memref, scf, vector
from xdsl.dialects.builtin import (
    BFloat16Type,
    DenseIntOrFPElementsAttr,
    Float16Type,
    Float32Type,
    Float64Type,
    FloatAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    MemRefType,
    ModuleOp,
    VectorType,
)
from xdsl.dialects.llvm import LLVMPointerType
from xdsl.ir import Attribute, Block, Operation, SSAValue

from codegen.llvm_math import MathEmitter, type_suffix
from codegen.target import Target, host
from dialects.errors import CompileError
from dialects.loops import BarrierOp, CallPointerOp, ViewOp

PTR = ir.PointerType()
I64 = ir.IntType(64)
I8 = ir.IntType(8)


class BFloatType(ir.types._BaseFloatType):  # noqa: SLF001 - llvmlite has no bfloat type
    """LLVM's `bfloat`, the element type of bf16 buffers and vectors."""

    null = "0.0"
    intrinsic_name = "bf16"

    def __str__(self) -> str:
        return "bfloat"


BFloatType._create_instance()
BF16 = BFloatType()

CMPI = {"eq": "==", "ne": "!=", "slt": "<", "sle": "<=", "sgt": ">", "sge": ">=",
        "ult": "<", "ule": "<=", "ugt": ">", "uge": ">="}
CMPF = ["false", "oeq", "ogt", "oge", "olt", "ole", "one", "ord", "ueq", "ugt", "uge", "ult", "ule", "une", "uno",
        "true"]
CMPF_LL = {"oeq": "==", "ogt": ">", "oge": ">=", "olt": "<", "ole": "<=", "one": "!=", "ord": "ord",
           "ueq": "==", "ugt": ">", "uge": ">=", "ult": "<", "ule": "<=", "une": "!=", "uno": "uno"}
ICMP_PREDICATES = ["eq", "ne", "slt", "sle", "sgt", "sge", "ult", "ule", "ugt", "uge"]


def ll_type(t: Attribute) -> ir.Type:
    if isinstance(t, IndexType):
        return I64
    if isinstance(t, IntegerType):
        return ir.IntType(t.width.data)
    if isinstance(t, Float32Type):
        return ir.FloatType()
    if isinstance(t, Float64Type):
        return ir.DoubleType()
    if isinstance(t, Float16Type):
        return ir.HalfType()
    if isinstance(t, BFloat16Type):
        return BF16
    if isinstance(t, VectorType):
        return ir.VectorType(ll_type(t.element_type), t.get_shape()[0])
    if isinstance(t, MemRefType | LLVMPointerType):
        return PTR
    raise CompileError(f"LLVM emitter: unsupported type {t}")


def _is_float(t: ir.Type) -> bool:
    e = t.element if isinstance(t, ir.VectorType) else t
    return isinstance(e, ir.FloatType | ir.DoubleType | ir.HalfType)


def _is_signed_int_type(t: Attribute) -> bool:
    e = t.element_type if isinstance(t, VectorType) else t
    return isinstance(e, IntegerType) and e.signedness.data.name != "UNSIGNED"


class FunctionEmitter:
    def __init__(self, mod: ir.Module, fn: ir.Function, target: Target, td: llvm.TargetData):
        self.mod = mod
        self.fn = fn
        self.target = target
        self.td = td
        self.flags: tuple[str, ...] = ()
        self.vals: dict[SSAValue, ir.Value] = {}
        self.b = ir.IRBuilder(fn.append_basic_block("entry"))
        self.m = MathEmitter(self.b, mod)

    def intrinsic(self, name: str, ret: ir.Type, args: list[ir.Type]) -> ir.Function:
        fn = self.mod.globals.get(name)
        if fn is None:
            fn = ir.Function(self.mod, ir.FunctionType(ret, args), name)
        return fn

    def external(self, name: str, ret: ir.Type, args: list[ir.Type]) -> ir.Function:
        return self.intrinsic(name, ret, args)

    def get(self, v: SSAValue) -> ir.Value:
        return self.vals[v]

    def block(self, block: Block) -> None:
        for op in block.ops:
            self.op(op)

    # --- ops ------------------------------------------------------------------------------------
    def op(self, op: Operation) -> None:
        b = self.b
        handler = getattr(self, "op_" + op.name.replace(".", "_"), None)
        if handler is not None:
            handler(op)
            return
        simple = SIMPLE.get(op.name)
        if simple is not None:
            args = [self.get(v) for v in op.operands]
            fm = getattr(op, "fastmath", None)
            self.flags = tuple(sorted(fm.data)) if fm is not None and fm.data else ()
            self.vals[op.results[0]] = simple(self, b, *args)
            return
        raise CompileError(f"LLVM emitter: no translation for {op.name}")

    def op_arith_constant(self, op: arith.ConstantOp) -> None:
        t = ll_type(op.result.type)
        v = op.value
        if isinstance(v, IntegerAttr):
            self.vals[op.result] = ir.Constant(t, v.value.data)
        elif isinstance(v, FloatAttr):
            self.vals[op.result] = ir.Constant(t, v.value.data)
        elif isinstance(v, DenseIntOrFPElementsAttr):
            vals = list(v.get_values())
            self.vals[op.result] = ir.Constant(t, vals)
        else:
            raise CompileError(f"LLVM emitter: constant {v}")

    def op_arith_cmpi(self, op: arith.CmpiOp) -> None:
        pred = ICMP_PREDICATES[op.predicate.value.data]
        a, c = self.get(op.lhs), self.get(op.rhs)
        fn = self.b.icmp_unsigned if pred.startswith("u") else self.b.icmp_signed
        if pred in ("eq", "ne"):
            fn = self.b.icmp_signed
        self.vals[op.result] = fn(CMPI[pred], a, c)

    def op_arith_cmpf(self, op: arith.CmpfOp) -> None:
        pred = CMPF[op.predicate.value.data]
        a, c = self.get(op.lhs), self.get(op.rhs)
        if pred == "true" or pred == "false":
            t = ir.IntType(1) if not isinstance(a.type, ir.VectorType) else ir.VectorType(ir.IntType(1), a.type.count)
            self.vals[op.result] = ir.Constant(t, 1 if pred == "true" else 0)
            return
        fn = self.b.fcmp_unordered if pred.startswith("u") else self.b.fcmp_ordered
        self.vals[op.result] = fn(CMPF_LL[pred], a, c)

    def _convert(self, op, kind: str) -> None:
        x = self.get(op.input)
        t = ll_type(op.result.type)
        self.vals[op.result] = getattr(self.b, kind)(x, t)

    def op_arith_sitofp(self, op):
        self._convert(op, "sitofp")

    def op_arith_uitofp(self, op):
        self._convert(op, "uitofp")

    def op_arith_fptosi(self, op):
        self._convert(op, "fptosi")

    def op_arith_fptoui(self, op):
        self._convert(op, "fptoui")

    def op_arith_extf(self, op):
        self._convert(op, "fpext")

    def op_arith_truncf(self, op):
        x, t = self.get(op.input), ll_type(op.result.type)
        scalar = lambda ty: ty.element if isinstance(ty, ir.VectorType) else ty  # noqa: E731
        if isinstance(scalar(x.type), ir.DoubleType) and isinstance(scalar(t), ir.HalfType):
            self.vals[op.result] = self._double_to_half(x, t)
            return
        self._convert(op, "fptrunc")

    def _double_to_half(self, x, t):
        """f64 -> f16 without the `__truncdfhf2` libcall LLVM would emit (not in the JIT's
        process): to f32 rounded to odd, then to f16 rounded to nearest, which rounds as once
        (f32 keeps more than twice f16's 11 bits)."""
        b = self.b

        def like(elem):
            return ir.VectorType(elem, x.type.count) if isinstance(x.type, ir.VectorType) else elem

        f = b.fptrunc(x, like(ir.FloatType()))
        back = b.fpext(f, x.type)
        inexact = b.fcmp_ordered("!=", back, x)
        zero = ir.Constant(x.type, [0.0] * x.type.count) if isinstance(x.type, ir.VectorType) else \
            ir.Constant(x.type, 0.0)
        larger = b.select(b.fcmp_ordered("<", x, zero), b.fcmp_ordered("<", back, x),
                          b.fcmp_ordered(">", back, x))  # rounded away from zero
        i32 = like(ir.IntType(32))
        bits = b.sub(b.bitcast(f, i32), b.zext(larger, i32))  # toward zero
        bits = b.or_(bits, b.zext(inexact, i32))  # odd when inexact
        return b.fptrunc(b.bitcast(bits, like(ir.FloatType())), t)

    def op_arith_extsi(self, op):
        self._convert(op, "sext")

    def op_arith_extui(self, op):
        self._convert(op, "zext")

    def op_arith_trunci(self, op):
        self._convert(op, "trunc")

    def op_arith_bitcast(self, op):
        self._convert(op, "bitcast")

    def op_arith_index_cast(self, op):
        x = self.get(op.input)
        t = ll_type(op.result.type)
        if x.type.width == t.width:
            self.vals[op.result] = x
        elif x.type.width > t.width:
            self.vals[op.result] = self.b.trunc(x, t)
        else:
            self.vals[op.result] = self.b.sext(x, t)

    def _libm(self, name: str, *xs: ir.Value) -> ir.Value:
        """A scalar libm call, lane by lane for vectors (rare ops: trigonometry, general powers):
        libm's results are correctly rounded or within an ulp, which no short polynomial is over
        the whole range."""
        x = xs[0]
        if isinstance(x.type, ir.VectorType):
            out = ir.Constant(x.type, None)
            for i in range(x.type.count):
                lane = [self.b.extract_element(v, ir.Constant(ir.IntType(32), i)) for v in xs]
                out = self.b.insert_element(out, self._libm(name, *lane), ir.Constant(ir.IntType(32), i))
            return out
        if isinstance(x.type, ir.HalfType):
            wide = [self.b.fpext(v, ir.FloatType()) for v in xs]
            return self.b.fptrunc(self._libm(name, *wide), x.type)
        suffix = "f" if isinstance(x.type, ir.FloatType) else ""
        fn = self.external(name + suffix, x.type, [x.type] * len(xs))
        return self.b.call(fn, list(xs))

    def op_math_powf(self, op):
        self.vals[op.result] = self._libm("pow", self.get(op.lhs), self.get(op.rhs))

    def op_math_fma(self, op):
        a, c, d = (self.get(v) for v in op.operands)
        self.vals[op.result] = self.b.call(self.m.intrinsic("fma", a.type, 3), [a, c, d])

    def op_math_absi(self, op):
        x = self.get(op.operand)
        neg = self.b.icmp_signed("<", x, ir.Constant(x.type, 0))
        self.vals[op.result] = self.b.select(neg, self.b.neg(x), x)

    # memory
    def _elem_ptr(self, ref: SSAValue, idx: SSAValue, inbounds: bool = True) -> ir.Value:
        elem = ll_type(ref.type.element_type)
        return self.b.gep(self.get(ref), [self.get(idx)], inbounds=inbounds, source_etype=elem)

    def op_memref_load(self, op: memref.LoadOp) -> None:
        elem = ll_type(op.memref.type.element_type)
        ptr = self._elem_ptr(op.memref, op.indices[0])
        self.vals[op.res] = self.b.load(ptr, typ=elem, align=max(1, elem.get_abi_size(self.td)))

    def op_memref_store(self, op: memref.StoreOp) -> None:
        elem = ll_type(op.memref.type.element_type)
        ptr = self._elem_ptr(op.memref, op.indices[0])
        self.b.store(self.get(op.value), ptr, align=max(1, elem.get_abi_size(self.td)))

    # A vector of i1 in memory is bit-packed in LLVM, but a boolean buffer holds one byte per
    # element (as a scalar i1 store writes it): vectors of booleans go through <n x i8>.
    @staticmethod
    def _bytes_of(t: ir.VectorType) -> ir.VectorType:
        """How a vector is moved to and from memory: booleans as bytes, bf16 as 16-bit integers
        (LLVM expands masked moves of bfloat vectors into one lane at a time)."""
        if t.element == ir.IntType(1):
            return ir.VectorType(ir.IntType(8), t.count)
        if isinstance(t.element, BFloatType):
            return ir.VectorType(ir.IntType(16), t.count)
        return t

    def _to_memory(self, v: ir.Value) -> ir.Value:
        t = self._bytes_of(v.type)
        if t is v.type:
            return v
        return self.b.bitcast(v, t) if isinstance(v.type.element, BFloatType) else self.b.zext(v, t)

    def _from_memory(self, v: ir.Value, t: ir.VectorType) -> ir.Value:
        if v.type == t:
            return v
        if isinstance(t.element, BFloatType):
            return self.b.bitcast(v, t)
        return self.b.icmp_unsigned("!=", v, ir.Constant(v.type, 0))

    def op_vector_load(self, op: vector.LoadOp) -> None:
        t = ll_type(op.result.type)
        ptr = self._elem_ptr(op.base, op.indices[0])
        m = self._bytes_of(t)
        self.vals[op.result] = self._from_memory(self.b.load(ptr, typ=m, align=m.element.get_abi_size(self.td)), t)

    def op_vector_store(self, op: vector.StoreOp) -> None:
        v = self._to_memory(self.get(op.vector))
        ptr = self._elem_ptr(op.base, op.indices[0])
        self.b.store(v, ptr, align=v.type.element.get_abi_size(self.td))

    def _masked_name(self, kind: str, t: ir.VectorType) -> str:
        return f"llvm.masked.{kind}.{type_suffix(t)}.p0"

    def op_vector_maskedload(self, op) -> None:
        want = ll_type(op.result.type)
        t = self._bytes_of(want)
        ptr = self._elem_ptr(op.base, op.indices[0])
        mask = self.get(op.mask)
        fn = self.intrinsic(self._masked_name("load", t), t, [PTR, ir.IntType(32), mask.type, t])
        align = ir.Constant(ir.IntType(32), t.element.get_abi_size(self.td))
        loaded = self.b.call(fn, [ptr, align, mask, self._to_memory(self.get(op.pass_thru))])
        self.vals[op.result] = self._from_memory(loaded, want)

    def op_vector_maskedstore(self, op) -> None:
        # not inbounds: a masked vector may start before its buffer (lanes off), e.g. a
        # convolution's grid row that wraps into the next output row
        v = self._to_memory(self.get(op.value_to_store))
        ptr = self._elem_ptr(op.base, op.indices[0], inbounds=False)
        mask = self.get(op.mask)
        fn = self.intrinsic(self._masked_name("store", v.type), ir.VoidType(), [v.type, PTR, ir.IntType(32), mask.type])
        self.b.call(fn, [v, ptr, ir.Constant(ir.IntType(32), v.type.element.get_abi_size(self.td)), mask])

    def op_vector_create_mask(self, op) -> None:
        t = ll_type(op.results[0].type)
        n = self.b.trunc(self.get(op.operands[0]), ir.IntType(32))
        iota = ir.Constant(ir.VectorType(ir.IntType(32), t.count), list(range(t.count)))
        splat = self._splat(n, t.count)
        self.vals[op.results[0]] = self.b.icmp_signed("<", iota, splat)

    def _splat(self, scalar: ir.Value, n: int) -> ir.Value:
        vt = ir.VectorType(scalar.type, n)
        undef = ir.Constant(vt, None)
        one = self.b.insert_element(undef, scalar, ir.Constant(ir.IntType(32), 0))
        return self.b.shuffle_vector(one, undef, ir.Constant(ir.VectorType(ir.IntType(32), n), [0] * n))

    def op_vector_broadcast(self, op) -> None:
        t = ll_type(op.vector.type)
        self.vals[op.vector] = self._splat(self.get(op.source), t.count)

    def op_vector_shuffle(self, op) -> None:
        mask = ir.Constant(ir.VectorType(ir.IntType(32), len(op.mask.get_values())), list(op.mask.get_values()))
        self.vals[op.results[0]] = self.b.shuffle_vector(self.get(op.v1), self.get(op.v2), mask)

    def op_vector_bitcast(self, op) -> None:
        self.vals[op.result] = self.b.bitcast(self.get(op.source), ll_type(op.result.type))

    def op_vector_fma(self, op) -> None:
        a, c, d = self.get(op.lhs), self.get(op.rhs), self.get(op.acc)
        self.vals[op.res] = self.b.call(self.m.intrinsic("fma", a.type, 3), [a, c, d])

    # control flow
    def op_scf_for(self, op: scf.ForOp) -> None:
        b = self.b
        lo, hi, step = self.get(op.lb), self.get(op.ub), self.get(op.step)
        inits = [self.get(v) for v in op.iter_args]
        pre = b.block
        head = self.fn.append_basic_block("for.body")
        exit_ = self.fn.append_basic_block("for.exit")
        enter = b.icmp_signed("<", lo, hi)
        b.cbranch(enter, head, exit_)
        b.position_at_end(head)
        body = op.body.block
        iv = b.phi(I64)
        iv.add_incoming(lo, pre)
        phis = []
        for arg, init in zip(body.args[1:], inits):
            p = b.phi(init.type)
            p.add_incoming(init, pre)
            phis.append(p)
            self.vals[arg] = p
        self.vals[body.args[0]] = iv
        for child in body.ops:
            if isinstance(child, scf.YieldOp):
                new = [self.get(v) for v in child.operands]
                continue
            self.op(child)
        latch = b.block
        nxt = b.add(iv, step)
        iv.add_incoming(nxt, latch)
        for p, v in zip(phis, new):
            p.add_incoming(v, latch)
        b.cbranch(b.icmp_signed("<", nxt, hi), head, exit_)
        b.position_at_end(exit_)
        for res, init, v in zip(op.results, inits, new):
            out = b.phi(init.type)
            out.add_incoming(init, pre)
            out.add_incoming(v, latch)
            self.vals[res] = out

    def op_scf_if(self, op: scf.IfOp) -> None:
        b = self.b
        cond = self.get(op.cond)
        then_bb = self.fn.append_basic_block("if.then")
        else_bb = self.fn.append_basic_block("if.else")
        end_bb = self.fn.append_basic_block("if.end")
        b.cbranch(cond, then_bb, else_bb)
        incoming = []
        for region, bb in ((op.true_region, then_bb), (op.false_region, else_bb)):
            b.position_at_end(bb)
            vals = []
            if region.blocks:
                for child in region.block.ops:
                    if isinstance(child, scf.YieldOp):
                        vals = [self.get(v) for v in child.operands]
                        continue
                    self.op(child)
            incoming.append((vals, b.block))
            b.branch(end_bb)
        b.position_at_end(end_bb)
        for i, res in enumerate(op.results):
            p = b.phi(ll_type(res.type))
            for vals, bb in incoming:
                p.add_incoming(vals[i], bb)
            self.vals[res] = p

    def op_func_call(self, op: func.CallOp) -> None:
        callee = self.mod.globals[op.callee.root_reference.data]
        self.b.call(callee, [self.get(v) for v in op.arguments])

    def op_func_return(self, op) -> None:
        self.b.ret_void()

    def op_loops_view(self, op: ViewOp) -> None:
        table = self.get(op.table)
        slot_ptr = self.b.gep(table, [ir.Constant(I64, op.slot.value.data)], inbounds=True, source_etype=PTR)
        base = self.b.load(slot_ptr, typ=PTR, align=8)
        self.vals[op.result] = self.b.gep(base, [ir.Constant(I64, op.offset.value.data)], inbounds=True,
                                          source_etype=ir.IntType(8))

    def op_loops_dot_bf16(self, op) -> None:
        acc, a, c = self.get(op.acc), self.get(op.a), self.get(op.b)
        fn = self.intrinsic("llvm.x86.avx512bf16.dpbf16ps.512", acc.type, [acc.type, a.type, c.type])
        self.vals[op.result] = self.b.call(fn, [acc, a, c])

    def op_loops_dot_u8s8(self, op) -> None:
        acc, a, c = self.get(op.acc), self.get(op.a), self.get(op.b)
        fn = self.intrinsic("llvm.x86.avx512.vpdpbusd.512", acc.type, [acc.type, a.type, c.type])
        self.vals[op.result] = self.b.call(fn, [acc, a, c])

    def op_loops_dot_i16(self, op) -> None:
        acc, a, c = self.get(op.acc), self.get(op.a), self.get(op.b)
        fn = self.intrinsic("llvm.x86.avx2.pmadd.wd", acc.type, [a.type, c.type])
        self.vals[op.result] = self.b.add(acc, self.b.call(fn, [a, c]))

    def op_loops_tile_config(self, op) -> None:
        """The 64-byte tile configuration (palette 1) on the stack, then ldtilecfg."""
        cfg = [0] * 64
        cfg[0] = 1
        for t, (rows, colsb) in enumerate(zip(op.rows.get_values(), op.colsb.get_values())):
            cfg[16 + 2 * t], cfg[17 + 2 * t] = colsb & 0xFF, colsb >> 8
            cfg[48 + t] = rows
        arr_t = ir.ArrayType(I8, 64)
        with self.b.goto_entry_block():
            slot = self.b.alloca(arr_t)
        self.b.store(ir.Constant(arr_t, cfg), slot, align=64)
        self.b.call(self.intrinsic("llvm.x86.ldtilecfg", ir.VoidType(), [PTR]), [slot])

    def op_loops_tile_zero(self, op) -> None:
        self.b.call(self.intrinsic("llvm.x86.tilezero", ir.VoidType(), [I8]), [ir.Constant(I8, op.tile.value.data)])

    def _tile_mem(self, op, name: str) -> None:
        ptr = self._elem_ptr(op.buf, op.index, inbounds=False)
        fn = self.intrinsic(f"llvm.x86.{name}", ir.VoidType(), [I8, PTR, I64])
        self.b.call(fn, [ir.Constant(I8, op.tile.value.data), ptr, self.get(op.stride)])

    def op_loops_tile_load(self, op) -> None:
        self._tile_mem(op, "tileloadd64")

    def op_loops_tile_store(self, op) -> None:
        self._tile_mem(op, "tilestored64")

    def op_loops_tile_dot(self, op) -> None:
        name = "tdpbf16ps" if op.kind.data == "bf16" else f"tdpb{op.kind.data}"
        fn = self.intrinsic(f"llvm.x86.{name}", ir.VoidType(), [I8, I8, I8])
        self.b.call(fn, [ir.Constant(I8, getattr(op, k).value.data) for k in ("c", "a", "b")])

    def op_loops_tile_release(self, op) -> None:
        self.b.call(self.intrinsic("llvm.x86.tilerelease", ir.VoidType(), []), [])

    def op_loops_remf(self, op) -> None:
        self.vals[op.result] = self.b.frem(self.get(op.lhs), self.get(op.rhs))

    def op_loops_all_true(self, op) -> None:
        m = self.get(op.mask)
        n = m.type.count
        bits = self.b.bitcast(m, ir.IntType(n))
        self.vals[op.result] = self.b.icmp_unsigned("==", bits, ir.Constant(ir.IntType(n), (1 << n) - 1))

    def op_loops_cycles(self, op) -> None:
        fn = self.intrinsic("llvm.readcyclecounter", I64, [])
        self.vals[op.result] = self.b.call(fn, [])

    def op_loops_barrier(self, op: BarrierOp) -> None:
        self.b.call(self.mod.globals["ovcc_barrier"], [self.get(op.state), self.get(op.nthreads)])

    def op_loops_call_pointer(self, op: CallPointerOp) -> None:
        args = [self.get(v) for v in op.args]
        self.b.call(_PointerCallee(self.get(op.callee), ir.FunctionType(ir.VoidType(), [PTR] * len(args))), args)


class _PointerCallee:
    """A function pointer as llvmlite's call instruction takes a callee (with opaque pointers
    the value itself carries no function type)."""

    def __init__(self, value: ir.Value, function_type: ir.FunctionType):
        self.value = value
        self.type = value.type
        self.function_type = function_type

    def get_reference(self) -> str:
        return self.value.get_reference()


def _fbin(name):
    def emit(self, b, x, y):
        return getattr(b, name)(x, y, flags=self.flags)  # the op's own fast-math flags
    return emit


def _ibin(name):
    def emit(self, b, x, y):
        return getattr(b, name)(x, y)
    return emit


def _fmax(self, b, x, y):
    """IEEE maximum (MLIR's maximumf): NaN when either operand is NaN."""
    return b.call(self.m.intrinsic("maximum", x.type, 2), [x, y])


def _fmin(self, b, x, y):
    return b.call(self.m.intrinsic("minimum", x.type, 2), [x, y])


def _fmaxnum(self, b, x, y):
    """maxnum (MLIR's maxnumf): the other operand when one is NaN."""
    return b.call(self.m.intrinsic("maxnum", x.type, 2), [x, y])


def _fminnum(self, b, x, y):
    return b.call(self.m.intrinsic("minnum", x.type, 2), [x, y])


def _imax(signed):
    def emit(self, b, x, y):
        cmp = b.icmp_signed if signed else b.icmp_unsigned
        return b.select(cmp(">", x, y), x, y)
    return emit


def _imin(signed):
    def emit(self, b, x, y):
        cmp = b.icmp_signed if signed else b.icmp_unsigned
        return b.select(cmp("<", x, y), x, y)
    return emit


def _intr(name, nargs=1):
    def emit(self, b, *xs):
        return b.call(self.m.intrinsic(name, xs[0].type, nargs), list(xs))
    return emit


def _math(name):
    def emit(self, b, x):
        if name in ("exp", "log", "tanh", "erf") and _is_float(x.type) and \
                isinstance(x.type.element if isinstance(x.type, ir.VectorType) else x.type, ir.FloatType):
            return getattr(self.m, name)(x)
        return self._libm(name, x)
    return emit


def _floordivsi(self, b, x, y):
    q = b.sdiv(x, y)
    r = b.srem(x, y)
    adjust = b.and_(b.icmp_signed("!=", r, ir.Constant(r.type, 0)),
                    b.icmp_signed("!=", b.icmp_signed("<", r, ir.Constant(r.type, 0)),
                                  b.icmp_signed("<", y, ir.Constant(y.type, 0))))
    return b.select(adjust, b.sub(q, ir.Constant(q.type, 1)), q)


def _ceildivsi(self, b, x, y):
    q = b.sdiv(x, y)
    r = b.srem(x, y)
    zero = ir.Constant(r.type, 0)
    adjust = b.and_(b.icmp_signed("!=", r, zero),
                    b.icmp_signed("==", b.icmp_signed(">", r, zero), b.icmp_signed(">", y, zero)))
    return b.select(adjust, b.add(q, ir.Constant(q.type, 1)), q)


SIMPLE = {
    "arith.addf": _fbin("fadd"), "arith.subf": _fbin("fsub"), "arith.mulf": _fbin("fmul"),
    "arith.divf": _fbin("fdiv"), "arith.remf": _fbin("frem"),
    "arith.negf": lambda self, b, x: b.fneg(x, flags=self.flags),
    "arith.maximumf": _fmax, "arith.minimumf": _fmin, "arith.maxnumf": _fmaxnum, "arith.minnumf": _fminnum,
    "arith.addi": _ibin("add"), "arith.subi": _ibin("sub"), "arith.muli": _ibin("mul"),
    "arith.divsi": _ibin("sdiv"), "arith.divui": _ibin("udiv"), "arith.remsi": _ibin("srem"),
    "arith.remui": _ibin("urem"), "arith.andi": _ibin("and_"), "arith.ori": _ibin("or_"),
    "arith.xori": _ibin("xor"), "arith.shli": _ibin("shl"), "arith.shrsi": _ibin("ashr"),
    "arith.shrui": _ibin("lshr"), "arith.floordivsi": _floordivsi, "arith.ceildivsi": _ceildivsi,
    "arith.maxsi": _imax(True), "arith.minsi": _imin(True), "arith.maxui": _imax(False),
    "arith.minui": _imin(False),
    "arith.select": lambda self, b, c, x, y: b.select(c, x, y),
    "math.sqrt": _intr("sqrt"), "math.absf": _intr("fabs"), "math.floor": _intr("floor"),
    "math.ceil": _intr("ceil"), "math.round": _intr("round"), "math.roundeven": _intr("roundeven"),
    "math.trunc": _intr("trunc"), "math.copysign": _intr("copysign", 2),
    "math.exp": _math("exp"), "math.log": _math("log"), "math.tanh": _math("tanh"), "math.erf": _math("erf"),
    "math.sin": _math("sin"), "math.cos": _math("cos"), "math.tan": _math("tan"), "math.asin": _math("asin"),
    "math.acos": _math("acos"), "math.atan": _math("atan"), "math.sinh": _math("sinh"), "math.cosh": _math("cosh"),
    "math.asinh": _math("asinh"), "math.acosh": _math("acosh"), "math.atanh": _math("atanh"),
    "math.log1p": _math("log1p"), "math.expm1": _math("expm1"),
}


def _declare_barrier(mod: ir.Module, target: Target) -> None:
    """void ovcc_barrier(i64* state, i64 n): state[0] counts arrivals, state[1] is the
    generation; the last thread to arrive resets the count and bumps the generation, the
    others spin (pausing, then yielding the CPU) until the generation changes."""
    fn = ir.Function(mod, ir.FunctionType(ir.VoidType(), [PTR, I64]), "ovcc_barrier")
    fn.linkage = "internal"
    state, n = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    gen_ptr = b.gep(state, [ir.Constant(I64, 1)], inbounds=True, source_etype=I64)
    gen = b.load_atomic(gen_ptr, "acquire", 8, typ=I64)
    arrived = b.atomic_rmw("add", state, ir.Constant(I64, 1), "acq_rel")
    last = b.icmp_signed("==", arrived, b.sub(n, ir.Constant(I64, 1)))
    release = fn.append_basic_block("release")
    spin = fn.append_basic_block("spin")
    done = fn.append_basic_block("done")
    b.cbranch(last, release, spin)
    b.position_at_end(release)
    b.atomic_rmw("xchg", state, ir.Constant(I64, 0), "monotonic")
    b.atomic_rmw("add", gen_ptr, ir.Constant(I64, 1), "release")
    b.ret_void()
    b.position_at_end(spin)
    count = b.phi(I64)
    count.add_incoming(ir.Constant(I64, 0), fn.entry_basic_block)
    now = b.load_atomic(gen_ptr, "acquire", 8, typ=I64)
    moved = b.icmp_signed("!=", now, gen)
    wait = fn.append_basic_block("wait")
    b.cbranch(moved, done, wait)
    b.position_at_end(wait)
    if "x86" in target.triple:
        pause = ir.Function(mod, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse2.pause")
        b.call(pause, [])
    nxt = b.add(count, ir.Constant(I64, 1))
    yield_now = b.icmp_signed(">", nxt, ir.Constant(I64, 2000))
    do_yield = fn.append_basic_block("yield")
    back = fn.append_basic_block("back")
    b.cbranch(yield_now, do_yield, back)
    b.position_at_end(do_yield)
    sched_yield = ir.Function(mod, ir.FunctionType(ir.IntType(32), []), "sched_yield")
    b.call(sched_yield, [])
    b.branch(back)
    b.position_at_end(back)
    count.add_incoming(nxt, back)
    b.branch(spin)
    b.position_at_end(done)
    b.ret_void()


def emit_module(module: ModuleOp, target: Target | None = None, exported: tuple[str, ...] = ()) -> ir.Module:
    """llvmlite IR for a loop-dialect module; functions not in `exported` are internal."""
    target = target or host()
    mod = ir.Module("ovcc")
    tm = target.machine()
    mod.triple = target.triple
    mod.data_layout = str(tm.target_data)
    td = llvm.create_target_data(mod.data_layout)
    _declare_barrier(mod, target)
    funcs = [op for op in module.body.block.ops if isinstance(op, func.FuncOp)]
    lfuncs = {}
    for f in funcs:
        ins = [ll_type(t) for t in f.function_type.inputs.data]
        fn = ir.Function(mod, ir.FunctionType(ir.VoidType(), ins), f.sym_name.data)
        if f.sym_name.data not in exported:
            fn.linkage = "internal"
        fn.attributes.add("nounwind")
        if f.sym_name.data not in exported:
            fn.attributes.add("noinline")
        for a, t in zip(fn.args, f.function_type.inputs.data):
            if isinstance(t, MemRefType):
                a.add_attribute("noalias")
        lfuncs[f.sym_name.data] = (f, fn)
    for f, fn in lfuncs.values():
        em = FunctionEmitter(mod, fn, target, td)
        for arg, v in zip(f.body.block.args, fn.args):
            em.vals[arg] = v
        em.block(f.body.block)
    return mod


def optimize(ref: llvm.ModuleRef, tm: llvm.TargetMachine, level: int = 3) -> None:
    pto = llvm.create_pipeline_tuning_options(speed_level=level)
    pto.slp_vectorization = True
    pto.loop_vectorization = True
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(ref, pb)


def compile_to_object(mod: ir.Module, target: Target | None = None, opt: int = 3) -> tuple[bytes, llvm.ModuleRef]:
    target = target or host()
    tm = target.machine(opt)
    try:
        ref = llvm.parse_assembly(str(mod))
        ref.verify()
    except RuntimeError as e:
        detail = " ".join(line.strip() for line in str(e).splitlines()[:3])
        raise CompileError(f"generated LLVM IR does not verify: {detail[:400]}") from None
    if opt:
        optimize(ref, tm, opt)
    return tm.emit_object(ref), ref


def assembly(mod: ir.Module, target: Target | None = None) -> str:
    target = target or host()
    tm = target.machine()
    ref = llvm.parse_assembly(str(mod))
    optimize(ref, tm)
    return tm.emit_assembly(ref)
