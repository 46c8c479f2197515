"""Transcendental functions as inline LLVM IR, so loops that use them still vectorize (LLVM
would turn `llvm.exp.v16f32` into 16 calls to libm's expf). Scalar or vector f32 in, same out.

Polynomials are Cephes' single-precision ones (expf, logf, tanhf); erf is a polynomial near
zero and 1 - exp(polynomial) beyond (fitted here, no division)."""

from __future__ import annotations

import llvmlite.ir as ir

F32 = ir.FloatType()
I32 = ir.IntType(32)
# Polynomials may contract into FMAs (more accurate, not less); nothing else: a flag that
# assumes no NaN or infinity would let LLVM drop the special-value selects below.
FLAGS = ("contract",)


def _like(ty: ir.Type, scalar_ty: ir.Type) -> ir.Type:
    return ir.VectorType(scalar_ty, ty.count) if isinstance(ty, ir.VectorType) else scalar_ty


def const(ty: ir.Type, value) -> ir.Constant:
    if isinstance(ty, ir.VectorType):
        return ir.Constant(ty, [value] * ty.count)
    return ir.Constant(ty, value)


def type_suffix(ty: ir.Type) -> str:
    """LLVM's overloaded-intrinsic suffix of a scalar or vector type: f32, v16f32, v8f64, i32."""
    if isinstance(ty, ir.VectorType):
        return f"v{ty.count}{type_suffix(ty.element)}"
    if isinstance(ty, ir.IntType):
        return f"i{ty.width}"
    return ty.intrinsic_name  # f32, f64, f16, bf16


class MathEmitter:
    def __init__(self, b: ir.IRBuilder, module: ir.Module):
        self.b = b
        self.module = module

    def intrinsic(self, name: str, ty: ir.Type, nargs: int = 1) -> ir.Function:
        full = f"llvm.{name}.{type_suffix(ty)}"
        fn = self.module.globals.get(full)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(ty, [ty] * nargs), full)
        return fn

    def c(self, ty, v):
        return const(ty, v)

    def poly(self, x, coeffs):
        """Horner: ((c0*x + c1)*x + c2)..."""
        b, ty = self.b, x.type
        acc = self.c(ty, coeffs[0])
        for c in coeffs[1:]:
            acc = b.fadd(b.fmul(acc, x, flags=FLAGS), self.c(ty, c), flags=FLAGS)
        return acc

    def select_gt(self, x, bound, a, b_):
        return self.b.select(self.b.fcmp_ordered(">", x, self.c(x.type, bound)), a, b_)

    def ldexp(self, p, n_f):
        """p * 2**n for integral-valued float n in [-126, 127]."""
        b, ty = self.b, p.type
        ity = _like(ty, I32)
        n = b.fptosi(n_f, ity)
        bits = b.shl(b.add(n, const(ity, 127)), const(ity, 23))
        return b.fmul(p, b.bitcast(bits, ty))

    def exp(self, x):
        """e**x over the whole float range: finite up to ln(FLT_MAX), subnormal results down to
        the smallest subnormal (the scaling 2**n is applied in two normal halves)."""
        b, ty = self.b, x.type
        floor = self.intrinsic("floor", ty)
        hi, lo = 88.72283935546875, -103.97208404541016  # e**hi < FLT_MAX; e**lo < 2**-150
        xc = b.call(self.intrinsic("minnum", ty, 2), [x, self.c(ty, hi)])
        xc = b.call(self.intrinsic("maxnum", ty, 2), [xc, self.c(ty, lo)])
        n = b.call(floor, [b.fadd(b.fmul(xc, self.c(ty, 1.44269504088896341)), self.c(ty, 0.5))])
        r = b.fsub(xc, b.fmul(n, self.c(ty, 0.693359375)))  # exact: n has at most 8 bits
        r = b.fsub(r, b.fmul(n, self.c(ty, -2.12194440e-4)))
        z = b.fmul(r, r)
        p = self.poly(r, [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1,
                          5.0000001201e-1])
        p = b.fadd(b.fadd(b.fmul(p, z, flags=FLAGS), r, flags=FLAGS), self.c(ty, 1.0), flags=FLAGS)
        n1 = b.call(floor, [b.fmul(n, self.c(ty, 0.5))])  # n in [-150, 128]: both halves in [-75, 64]
        y = self.ldexp(self.ldexp(p, n1), b.fsub(n, n1))
        y = b.select(b.fcmp_ordered("<", x, self.c(ty, lo)), self.c(ty, 0.0), y)
        y = b.select(b.fcmp_ordered(">", x, self.c(ty, hi)), self.c(ty, float("inf")), y)
        return b.select(b.fcmp_unordered("uno", x, x), x, y)

    def log(self, x):
        """ln(x); subnormal inputs are scaled by 2**24 first (their exponent field is zero)."""
        b, ty = self.b, x.type
        ity = _like(ty, I32)
        tiny = b.fcmp_ordered("<", x, self.c(ty, 1.1754943508222875e-38))  # below the smallest normal
        xs = b.select(tiny, b.fmul(x, self.c(ty, 16777216.0)), x)
        bits = b.bitcast(xs, ity)
        e = b.sub(b.and_(b.lshr(bits, const(ity, 23)), const(ity, 0xFF)), const(ity, 126))
        e = b.sub(e, b.select(tiny, const(ity, 24), const(ity, 0)))
        m = b.bitcast(b.or_(b.and_(bits, const(ity, 0x807FFFFF)), const(ity, 0x3F000000)), ty)  # [0.5, 1)
        ef = b.sitofp(e, ty)
        small = b.fcmp_ordered("<", m, self.c(ty, 0.707106781186547524))
        ef = b.select(small, b.fsub(ef, self.c(ty, 1.0)), ef)
        m = b.select(small, b.fsub(b.fadd(m, m), self.c(ty, 1.0)), b.fsub(m, self.c(ty, 1.0)))
        z = b.fmul(m, m)
        y = self.poly(m, [7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
                          -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1])
        y = b.fmul(b.fmul(y, m), z)
        y = b.fadd(y, b.fmul(ef, self.c(ty, -2.12194440e-4)))
        y = b.fsub(y, b.fmul(z, self.c(ty, 0.5)))
        r = b.fadd(b.fadd(m, y), b.fmul(ef, self.c(ty, 0.693359375)))
        r = b.select(b.fcmp_ordered("==", x, self.c(ty, 0.0)), self.c(ty, float("-inf")), r)
        r = b.select(b.fcmp_ordered("==", x, self.c(ty, float("inf"))), x, r)
        return b.select(b.fcmp_unordered("ult", x, self.c(ty, 0.0)), self.c(ty, float("nan")), r)

    def tanh(self, x):
        b, ty = self.b, x.type
        ax = b.call(self.intrinsic("fabs", ty), [x])
        z = b.fmul(x, x, flags=FLAGS)
        small = self.poly(z, [-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1,
                              -3.33332819422e-1])
        small = b.fadd(b.fmul(b.fmul(small, z, flags=FLAGS), x, flags=FLAGS), x, flags=FLAGS)
        e = self.exp(b.fadd(ax, ax))
        big = b.fsub(self.c(ty, 1.0), b.fdiv(self.c(ty, 2.0), b.fadd(e, self.c(ty, 1.0))))
        big = b.call(self.intrinsic("copysign", ty, 2), [big, x])
        return b.select(b.fcmp_ordered("<", ax, self.c(ty, 0.625)), small, big)

    def erf(self, x):
        """erf without a division: x + x * P(x^2) below 0.921875, 1 - exp(R(|x|)) above, R a
        polynomial for log(erfc) on [0.921875, 4] (|x| clamped there: erf is 1.0 in f32 from
        3.92 on). Coefficients fitted for this project (Lawson-weighted least squares of the
        relative error of erf, float64): within 1 ulp of the correctly rounded erf."""
        b, ty = self.b, x.type
        ax = b.call(self.intrinsic("fabs", ty), [x])
        s = b.fmul(x, x, flags=FLAGS)
        small = self.poly(s, [-5.991075886413455e-4, 4.993224050849676e-3, -2.6766646653413773e-2,
                              0.1128181666135788, -0.37612494826316833, 0.12837915122509003])
        small = b.fadd(b.fmul(small, x, flags=FLAGS), x, flags=FLAGS)
        t = b.select(b.fcmp_ordered(">", ax, self.c(ty, 4.0)), self.c(ty, 4.0), ax)  # NaN stays NaN
        r = self.poly(t, [1.9571628945413977e-4, -3.0410499311983585e-3, 2.2218279540538788e-2,
                          -0.10391367226839066, -0.6372026801109314, -1.127663493156433, -1.9861143664456904e-4])
        big = b.call(self.intrinsic("copysign", ty, 2), [b.fsub(self.c(ty, 1.0), self.exp(r)), x])
        return b.select(b.fcmp_ordered("<", ax, self.c(ty, 0.921875)), small, big)
