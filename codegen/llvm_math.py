"""Transcendental functions as inline LLVM IR, so loops that use them still vectorize (LLVM
would turn `llvm.exp.v16f32` into 16 calls to libm's expf). Scalar or vector f32 in, same out.

Polynomials are Cephes' single-precision ones (expf, logf, tanhf); erf combines a Taylor
series near zero with the Numerical Recipes erfc approximation (relative error < 1.2e-7)."""

from __future__ import annotations

import llvmlite.ir as ir

F32 = ir.FloatType()
I32 = ir.IntType(32)
FLAGS = ("fast",)


def _like(ty: ir.Type, scalar_ty: ir.Type) -> ir.Type:
    return ir.VectorType(scalar_ty, ty.count) if isinstance(ty, ir.VectorType) else scalar_ty


def const(ty: ir.Type, value) -> ir.Constant:
    if isinstance(ty, ir.VectorType):
        return ir.Constant(ty, [value] * ty.count)
    return ir.Constant(ty, value)


class MathEmitter:
    def __init__(self, b: ir.IRBuilder, module: ir.Module):
        self.b = b
        self.module = module

    def intrinsic(self, name: str, ty: ir.Type, nargs: int = 1) -> ir.Function:
        suffix = f"v{ty.count}f32" if isinstance(ty, ir.VectorType) else "f32"
        full = f"llvm.{name}.{suffix}"
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
        return b.fmul(p, b.bitcast(bits, ty), flags=FLAGS)

    def exp(self, x):
        b, ty = self.b, x.type
        floor = self.intrinsic("floor", ty)
        hi, lo = 88.3762626647949, -87.3365478515625
        xc = b.call(self.intrinsic("minnum", ty, 2), [x, self.c(ty, hi)])
        xc = b.call(self.intrinsic("maxnum", ty, 2), [xc, self.c(ty, lo)])
        n = b.call(floor, [b.fadd(b.fmul(xc, self.c(ty, 1.44269504088896341), flags=FLAGS), self.c(ty, 0.5))])
        n = b.call(self.intrinsic("minnum", ty, 2), [n, self.c(ty, 127.0)])
        r = b.fsub(xc, b.fmul(n, self.c(ty, 0.693359375)))
        r = b.fsub(r, b.fmul(n, self.c(ty, -2.12194440e-4)))
        z = b.fmul(r, r, flags=FLAGS)
        p = self.poly(r, [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1,
                          5.0000001201e-1])
        p = b.fadd(b.fadd(b.fmul(p, z, flags=FLAGS), r, flags=FLAGS), self.c(ty, 1.0), flags=FLAGS)
        y = self.ldexp(p, n)
        y = b.select(b.fcmp_ordered("<", x, self.c(ty, lo)), self.c(ty, 0.0), y)
        y = b.select(b.fcmp_ordered(">", x, self.c(ty, hi)), self.c(ty, float("inf")), y)
        return b.select(b.fcmp_unordered("uno", x, x), x, y)

    def log(self, x):
        b, ty = self.b, x.type
        ity = _like(ty, I32)
        bits = b.bitcast(x, ity)
        e = b.sub(b.and_(b.lshr(bits, const(ity, 23)), const(ity, 0xFF)), const(ity, 126))
        m = b.bitcast(b.or_(b.and_(bits, const(ity, 0x807FFFFF)), const(ity, 0x3F000000)), ty)  # [0.5, 1)
        ef = b.sitofp(e, ty)
        small = b.fcmp_ordered("<", m, self.c(ty, 0.707106781186547524))
        ef = b.select(small, b.fsub(ef, self.c(ty, 1.0)), ef)
        m = b.select(small, b.fsub(b.fadd(m, m), self.c(ty, 1.0)), b.fsub(m, self.c(ty, 1.0)))
        z = b.fmul(m, m, flags=FLAGS)
        y = self.poly(m, [7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
                          -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1])
        y = b.fmul(b.fmul(y, m, flags=FLAGS), z, flags=FLAGS)
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
        b, ty = self.b, x.type
        ax = b.call(self.intrinsic("fabs", ty), [x])
        z = b.fmul(x, x, flags=FLAGS)
        # 2/sqrt(pi) * (x - x^3/3 + x^5/10 - x^7/42 + x^9/216 - x^11/1320) for |x| < 0.5
        taylor = self.poly(z, [-1 / 1320, 1 / 216, -1 / 42, 1 / 10, -1 / 3, 1.0])
        taylor = b.fmul(b.fmul(taylor, x, flags=FLAGS), self.c(ty, 1.1283791670955126), flags=FLAGS)
        t = b.fdiv(self.c(ty, 1.0), b.fadd(self.c(ty, 1.0), b.fmul(ax, self.c(ty, 0.5))))
        p = self.poly(t, [0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806, 0.09678418,
                          0.37409196, 1.00002368, -1.26551223])
        erfc = b.fmul(t, self.exp(b.fadd(b.fneg(b.fmul(ax, ax)), p)))
        big = b.call(self.intrinsic("copysign", ty, 2), [b.fsub(self.c(ty, 1.0), erfc), x])
        return b.select(b.fcmp_ordered("<", ax, self.c(ty, 0.5)), taylor, big)

    def pow(self, x, y):
        """x**y; a negative base is allowed with an integral exponent (sign from its parity)."""
        b, ty = self.b, x.type
        ax = b.call(self.intrinsic("fabs", ty), [x])
        r = self.exp(b.fmul(y, self.log(ax)))
        yi = b.call(self.intrinsic("floor", ty), [y])
        integral = b.fcmp_ordered("==", yi, y)
        half = b.fmul(y, self.c(ty, 0.5))
        odd = b.fcmp_ordered("!=", b.call(self.intrinsic("floor", ty), [half]), half)
        neg = b.fcmp_ordered("<", x, self.c(ty, 0.0))
        r = b.select(b.and_(neg, odd), b.fneg(r), r)
        r = b.select(b.and_(neg, b.not_(integral)), self.c(ty, float("nan")), r)
        zero_base = b.fcmp_ordered("==", x, self.c(ty, 0.0))
        r = b.select(b.and_(zero_base, b.fcmp_ordered(">", y, self.c(ty, 0.0))), self.c(ty, 0.0), r)
        return b.select(b.fcmp_ordered("==", y, self.c(ty, 0.0)), self.c(ty, 1.0), r)
