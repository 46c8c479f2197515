"""KB, the kernel builder: a small Python layer over xDSL's func/scf/arith/math/memref/vector
ops that the lowerings use to write kernels.

Index arithmetic on Python ints is folded while building, so a loop nest over static shapes
comes out with constant bounds and strides. Buffers are flat `memref<N x T>`; booleans live in
memory as i8 and are i1 in registers."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from xdsl.builder import Builder
from xdsl.dialects import arith, func, math, memref, scf, vector
from xdsl.dialects.builtin import (
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    FloatAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    MemRefType,
    VectorType,
    bf16,
    f32,
    i1,
    i8,
    i16,
    i32,
    i64,
)
from xdsl.ir import Attribute, Block, Region, SSAValue
from xdsl.rewriter import InsertPoint

from dialects.ov import xdsl_type

INDEX = IndexType()
Val = SSAValue | int
# Floating-point arithmetic is exact IEEE by default. Accumulations (sums of a reduction, a
# window, a dot product) may be reassociated and contracted into FMAs: that is what lets LLVM
# vectorize them, and it changes results only within the f32 path's tolerance (summation
# order). No flag may assume away NaN, infinities or signed zeros.
ACC = arith.FastMathFlagsAttr(("reassoc", "contract"))


def mem_type(dtype: np.dtype) -> Attribute:
    """Element type of a buffer holding `dtype` (booleans are bytes)."""
    return i8 if np.dtype(dtype) == np.bool_ else xdsl_type(dtype)


def reg_type(dtype: np.dtype) -> Attribute:
    return i1 if np.dtype(dtype) == np.bool_ else xdsl_type(dtype)


def buffer_type(dtype: np.dtype, n: int | None) -> MemRefType:
    """memref<n x T>; n None: a buffer of any size (kernels shared between shapes)."""
    from xdsl.dialects.builtin import DYNAMIC_INDEX

    return MemRefType(mem_type(dtype), [DYNAMIC_INDEX if n is None else max(int(n), 1)])


class KB:
    """Builds one `func.func` kernel. `args` are (name, type) for scalars and (name, (dtype, n))
    for buffers of n elements."""

    def __init__(self, name: str, args: Sequence[tuple[str, Attribute | tuple[np.dtype, int]]]):
        types = [buffer_type(*t) if isinstance(t, tuple) else t for _, t in args]
        block = Block(arg_types=types)
        self.func = func.FuncOp(name, (types, []), Region(block))
        self.args = {n: a for (n, _), a in zip(args, block.args)}
        self.bools: set[SSAValue] = {a for (_, t), a in zip(args, block.args)
                                     if isinstance(t, tuple) and np.dtype(t[0]) == np.bool_}
        # bf16 buffers that hold f32 activations (`hold_f32`): loads widen, stores round to nearest even
        self.bf16_held: set[SSAValue] = set()
        # u8 buffers that hold a quantizer's levels of f32 values (`hold_levels`)
        self.level_held: dict[SSAValue, object] = {}
        for (n, _), a in zip(args, block.args):
            a.name_hint = n
        self.b = Builder(InsertPoint.at_end(block))
        self._ended = False
        self.width = 1  # >1 while evaluating scalar formulas on vectors: constants become splats

    def finish(self) -> func.FuncOp:
        if not self._ended:
            self.b.insert(func.ReturnOp())
            self._ended = True
        return self.func

    def emit(self, op):
        self.b.insert(op)
        return op.results[0] if op.results else None

    # --- constants and index arithmetic ------------------------------------------------------
    def v(self, x: Val) -> SSAValue:
        """An index value (materializing a Python int)."""
        if isinstance(x, int | np.integer):
            return self.emit(arith.ConstantOp(IntegerAttr(int(x), INDEX)))
        return x

    def const(self, value, dtype: np.dtype) -> SSAValue:
        if self.width > 1:
            return self.splat(value, self.width, dtype)
        t = reg_type(dtype)
        if isinstance(t, IntegerType):
            v = int(bool(value)) if t == i1 else int(value)
            if t == i1:
                v = -1 if v else 0
            return self.emit(arith.ConstantOp(IntegerAttr(v, t)))
        return self.emit(arith.ConstantOp(FloatAttr(float(value), t)))

    def f(self, value: float) -> SSAValue:
        return self.const(value, np.float32)

    def splat(self, value, width: int, dtype=np.float32) -> SSAValue:
        t = VectorType(reg_type(dtype), [width])
        if np.dtype(dtype).kind == "f":
            attr = DenseIntOrFPElementsAttr.from_list(t, [float(value)] * width)
        elif np.dtype(dtype) == np.bool_:
            attr = DenseIntOrFPElementsAttr.from_list(t, [-1 if value else 0] * width)
        else:
            attr = DenseIntOrFPElementsAttr.from_list(t, [int(value)] * width)
        return self.emit(arith.ConstantOp(attr, t))

    def add(self, a: Val, b: Val) -> Val:
        if isinstance(a, int) and isinstance(b, int):
            return a + b
        if isinstance(a, int) and a == 0:
            return b
        if isinstance(b, int) and b == 0:
            return a
        return self.emit(arith.AddiOp(self.v(a), self.v(b)))

    def sub(self, a: Val, b: Val) -> Val:
        if isinstance(a, int) and isinstance(b, int):
            return a - b
        if isinstance(b, int) and b == 0:
            return a
        return self.emit(arith.SubiOp(self.v(a), self.v(b)))

    def mul(self, a: Val, b: Val) -> Val:
        if isinstance(a, int) and isinstance(b, int):
            return a * b
        for x, y in ((a, b), (b, a)):
            if isinstance(x, int):
                if x == 0:
                    return 0
                if x == 1:
                    return y
        return self.emit(arith.MuliOp(self.v(a), self.v(b)))

    def div(self, a: Val, b: Val) -> Val:
        """Floor division of non-negative index values."""
        if isinstance(a, int) and isinstance(b, int):
            return a // b
        if isinstance(b, int) and b == 1:
            return a
        return self.emit(arith.DivUIOp(self.v(a), self.v(b)))

    def rem(self, a: Val, b: Val) -> Val:
        if isinstance(a, int) and isinstance(b, int):
            return a % b
        if isinstance(b, int) and b == 1:
            return 0
        return self.emit(arith.RemUIOp(self.v(a), self.v(b)))

    def imin(self, a: Val, b: Val) -> Val:
        if isinstance(a, int) and isinstance(b, int):
            return min(a, b)
        return self.emit(arith.MinSIOp(self.v(a), self.v(b)))

    def imax(self, a: Val, b: Val) -> Val:
        if isinstance(a, int) and isinstance(b, int):
            return max(a, b)
        return self.emit(arith.MaxSIOp(self.v(a), self.v(b)))

    def icmp(self, pred: str, a: Val, b: Val) -> SSAValue:
        return self.emit(arith.CmpiOp(self.v(a), self.v(b), pred))

    def emit_and(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.emit(arith.AndIOp(a, b))

    def lin(self, idx: Sequence[Val], strides: Sequence[int], base: Val = 0) -> Val:
        """base + sum(idx * strides)."""
        out = base
        for i, s in zip(idx, strides):
            out = self.add(out, self.mul(i, s))
        return out

    def unravel(self, flat: Val, dims: Sequence[int]) -> list[Val]:
        """Multi-index of `flat` in row-major `dims`."""
        out: list[Val] = []
        for d in reversed(dims[1:]):
            out.append(self.rem(flat, d))
            flat = self.div(flat, d)
        out.append(flat)
        return list(reversed(out))

    # --- memory --------------------------------------------------------------------------------
    def hold_f32(self, *names: str) -> None:
        """These buffer arguments, where bf16, hold f32 values: the kernel reads and writes f32
        (bf16 activations between bf16 GEMMs, `passes.ov_to_loops.conv.bf16_activations`)."""
        for n in names:
            a = self.args.get(n)
            if a is not None and a.type.element_type == bf16:
                self.bf16_held.add(a)

    def hold_levels(self, name: str, act) -> None:
        """This u8 buffer argument holds the levels of quantizer `act` (passes.quantized.ActQuant)
        of f32 values: the kernel stores f32 values, which become their levels, and loads the
        levels as f32 numbers (which its int8 readers take as levels: ActQuant form "lvl")."""
        a = self.args.get(name)
        if a is not None:
            self.level_held[a] = act

    def _widen(self, buf: SSAValue, v: SSAValue) -> SSAValue:
        """bf16 to f32 exactly, as integers (the bits shifted up): LLVM widens bfloat vectors one
        lane at a time. u8 levels to f32 numbers."""
        if buf in self.level_held:
            n = v.type.get_shape()[0] if isinstance(v.type, VectorType) else None
            wide = self.emit(arith.ExtUIOp(v, VectorType(i32, [n]) if n else i32))
            return self.emit(arith.SIToFPOp(wide, VectorType(f32, [n]) if n else f32))
        if buf not in self.bf16_held:
            return v
        if isinstance(v.type, VectorType):
            n = v.type.get_shape()[0]
            bits = self.emit(arith.ExtUIOp(self.vbitcast(v, i16, n), VectorType(i32, [n])))
            return self.vbitcast(self.emit(arith.ShLIOp(bits, self.splat(16, n, np.int32))), f32, n)
        bits = self.emit(arith.ExtUIOp(self.emit(arith.BitcastOp(v, i16)), i32))
        return self.emit(arith.BitcastOp(self.emit(arith.ShLIOp(bits, self.const(16, np.int32))), f32))

    def _narrow(self, buf: SSAValue, v: SSAValue) -> SSAValue:
        if buf in self.level_held:
            from passes.ov_to_loops.microkernel import levels

            n = v.type.get_shape()[0] if isinstance(v.type, VectorType) else None
            t = buf.type.element_type
            return self.emit(arith.TruncIOp(levels(self, v, self.level_held[buf]), VectorType(t, [n]) if n else t))
        if buf not in self.bf16_held:
            return v
        t = VectorType(bf16, v.type.get_shape()) if isinstance(v.type, VectorType) else bf16
        return self.emit(arith.TruncFOp(v, t))

    def load(self, buf: SSAValue, idx: Val) -> SSAValue:
        v = self._widen(buf, self.emit(memref.LoadOp.get(buf, [self.v(idx)])))
        if buf in self.bools:
            return self.emit(arith.CmpiOp(v, self.emit(arith.ConstantOp(IntegerAttr(0, i8))), "ne"))
        return v

    def load_index(self, buf: SSAValue, idx: Val) -> SSAValue:
        """An integer table entry as an index value."""
        return self.emit(arith.IndexCastOp(self.load(buf, idx), INDEX))

    def store(self, value: SSAValue, buf: SSAValue, idx: Val) -> None:
        if value.type == i1:
            value = self.emit(arith.ExtUIOp(value, i8))
        self.b.insert(memref.StoreOp.get(self._narrow(buf, value), buf, [self.v(idx)]))

    def vload(self, buf: SSAValue, idx: Val, width: int) -> SSAValue:
        v = self.emit(vector.LoadOp(buf, [self.v(idx)], VectorType(buf.type.element_type, [width])))
        return self._vbool(buf, self._widen(buf, v), width)

    def _vbool(self, buf: SSAValue, v: SSAValue, width: int) -> SSAValue:
        """Booleans live as bytes in memory and as i1 in registers."""
        if buf not in self.bools:
            return v
        return self.emit(arith.CmpiOp(v, self.splat(0, width, np.int8), "ne"))

    def _vbyte(self, value: SSAValue) -> SSAValue:
        t = value.type
        if isinstance(t, VectorType) and t.element_type == i1:
            return self.emit(arith.ExtUIOp(value, VectorType(i8, t.get_shape())))
        return value

    def vstore(self, value: SSAValue, buf: SSAValue, idx: Val) -> None:
        self.b.insert(vector.StoreOp(self._narrow(buf, self._vbyte(value)), buf, [self.v(idx)]))

    def mask(self, n: Val, width: int) -> SSAValue:
        return self.emit(vector.CreateMaskOp([self.v(n)], VectorType(i1, [width])))

    def lane_range(self, start: Val, step: int, w: Val, lanes: int, inside: SSAValue) -> SSAValue:
        """The mask of the lanes l < `lanes` whose column start + step * l lies in [0, w) (none
        where `inside` is false): l from ceil(-start / step) to ceil((w - start) / step)."""
        def ceil_div(a):  # of a possibly negative a; only its value past 0 matters (clamped below)
            if step == 1:
                return a
            return self.emit(arith.DivSIOp(self.v(self.add(a, step - 1)), self.v(step)))
        lo = self.imax(ceil_div(self.sub(0, start)), 0)
        hi = self.imax(self.imin(ceil_div(self.sub(w, start)), lanes), 0)
        hi = self.select(inside, self.v(hi), self.v(0))
        return self.emit_and(self.mask(hi, lanes),
                             self.emit(arith.XOrIOp(self.mask(lo, lanes), self.splat(True, lanes, np.bool_))))

    def vload_masked(self, buf: SSAValue, idx: Val, mask: SSAValue, width: int, widen: bool = True) -> SSAValue:
        """`widen`=False: a bf16-held buffer's lanes as they are (for `widen` after a shuffle)."""
        t = VectorType(buf.type.element_type, [width])
        zero = 0.0 if not isinstance(buf.type.element_type, IntegerType) else 0
        passthru = self.emit(arith.ConstantOp(DenseIntOrFPElementsAttr.from_list(t, [zero] * width), t))
        v = self.emit(vector.MaskedLoadOp(buf, [self.v(idx)], mask, passthru, t))
        return self._vbool(buf, self._widen(buf, v) if widen else v, width)

    def widen(self, buf: SSAValue, v: SSAValue) -> SSAValue:
        """Lanes loaded from `buf` with widen=False, as f32 where the buffer holds bf16."""
        return self._widen(buf, v)

    def vstore_masked(self, value: SSAValue, buf: SSAValue, idx: Val, mask: SSAValue) -> None:
        self.b.insert(vector.MaskedStoreOp(buf, [self.v(idx)], mask, self._narrow(buf, self._vbyte(value))))

    def broadcast(self, scalar: SSAValue, width: int) -> SSAValue:
        return self.emit(vector.BroadcastOp(scalar, VectorType(scalar.type, [width])))

    def fma(self, a: SSAValue, b: SSAValue, c: SSAValue) -> SSAValue:
        return self.emit(vector.FMAOp(a, b, c))

    def vbitcast(self, x: SSAValue, element: Attribute, width: int) -> SSAValue:
        """The same bits as a vector of `width` `element`s (e.g. 16 f32 words <-> 32 bf16)."""
        return self.emit(vector.BitcastOp(x, VectorType(element, [width])))

    def shuffle(self, a: SSAValue, b: SSAValue, mask: Sequence[int]) -> SSAValue:
        """Lanes of a (0..n-1) then b (n..2n-1), picked by `mask`."""
        t = VectorType(a.type.element_type, [len(mask)])
        return self.emit(vector.ShuffleOp(a, b, DenseArrayBase.from_list(i64, list(mask)), result_type=t))

    def to_bf16(self, x: SSAValue) -> SSAValue:
        """A vector of f32 rounded to bf16, to nearest even (vcvtneps2bf16)."""
        return self.emit(arith.TruncFOp(x, VectorType(bf16, [x.type.get_shape()[0]])))

    # --- floating point ------------------------------------------------------------------------
    def fadd(self, a, b, acc: bool = False):
        """a + b; `acc`: a step of an accumulation (may be reassociated, see ACC)."""
        return self.emit(arith.AddfOp(a, b, ACC) if acc else arith.AddfOp(a, b))

    def fsub(self, a, b):
        return self.emit(arith.SubfOp(a, b))

    def fmul(self, a, b, acc: bool = False):
        return self.emit(arith.MulfOp(a, b, ACC) if acc else arith.MulfOp(a, b))

    def fdiv(self, a, b):
        return self.emit(arith.DivfOp(a, b))

    def fmax(self, a, b):
        """IEEE maximum: NaN if either operand is NaN (numpy's and ONNX Runtime's Max)."""
        return self.emit(arith.MaximumfOp(a, b))

    def fmin(self, a, b):
        return self.emit(arith.MinimumfOp(a, b))

    def fmaxnum(self, a, b):
        """The operand that is not NaN if one is (for clamping against constant bounds)."""
        return self.emit(arith.MaxnumfOp(a, b))

    def fminnum(self, a, b):
        return self.emit(arith.MinnumfOp(a, b))

    def select(self, c, a, b):
        return self.emit(arith.SelectOp(c, a, b))

    def cmpf(self, pred: str, a, b):
        return self.emit(arith.CmpfOp(a, b, pred))

    def unary_math(self, op_cls, x):
        return self.emit(op_cls(x))

    def exp(self, x):
        return self.emit(math.ExpOp(x))

    def sqrt(self, x):
        return self.emit(math.SqrtOp(x))

    # --- control flow ----------------------------------------------------------------------------
    def for_(self, lo: Val, hi: Val, body: Callable[..., Sequence[SSAValue] | None], step: Val = 1,
             init: Sequence[SSAValue] = ()) -> list[SSAValue]:
        """for iv in range(lo, hi, step): carried = body(iv, *carried). Returns the final
        carried values. A loop of static trip count 1 is emitted as its body."""
        if isinstance(lo, int) and isinstance(hi, int) and isinstance(step, int):
            if hi <= lo:
                return list(init)
            if hi - lo <= step:
                return list(body(lo, *init) or [])
        block = Block(arg_types=[INDEX] + [v.type for v in init])
        outer = self.b
        self.b = Builder(InsertPoint.at_end(block))
        new = body(block.args[0], *block.args[1:]) or []
        self.b.insert(scf.YieldOp(*new))
        self.b = outer
        loop = scf.ForOp(self.v(lo), self.v(hi), self.v(step), list(init), block)
        self.b.insert(loop)
        return list(loop.results)

    def if_(self, cond: SSAValue, then: Callable[[], Sequence[SSAValue] | None],
            otherwise: Callable[[], Sequence[SSAValue] | None] | None = None,
            result_types: Sequence[Attribute] = ()) -> list[SSAValue]:
        def region(fn):
            block = Block()
            outer = self.b
            self.b = Builder(InsertPoint.at_end(block))
            vals = (fn() if fn is not None else None) or []
            self.b.insert(scf.YieldOp(*vals))
            self.b = outer
            return Region(block)

        op = scf.IfOp(cond, list(result_types), region(then), region(otherwise) if (otherwise or result_types)
                      else None)
        self.b.insert(op)
        return list(op.results)


__all__ = ["ACC", "INDEX", "KB", "Val", "buffer_type", "f32", "mem_type", "reg_type"]
