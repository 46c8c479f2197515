"""Einsum as Transpose/Reshape/MatMul/ReduceSum (OpenVINO's Einsum-7 decomposed the way its
own transformation does): operands are contracted pairwise, left to right; each contraction
groups the indices into batch (kept, in both), free (kept, in one) and contracted (in both,
not kept) and runs as one batched MatMul. Indices only one operand has and nothing later
needs are summed first. Ellipses and implicit outputs follow numpy.einsum; an index repeated
within one operand (a diagonal) is not supported."""

from __future__ import annotations

import string
from collections.abc import Sequence

import numpy as np
from xdsl.ir import SSAValue

from compiler.frontends.builder import GraphBuilder
from dialects.errors import ConversionError
from dialects.ov import shape_of


def parse(equation: str, ranks: Sequence[int]) -> tuple[list[str], str]:
    eq = equation.replace(" ", "")
    lhs, arrow, out = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise ConversionError(f"einsum {equation!r} names {len(terms)} operands, {len(ranks)} given")
    letters = {c for c in eq if c.isalpha()}
    spare = [c for c in string.ascii_letters if c not in letters]
    ell = 0
    for t, r in zip(terms, ranks):
        if "..." in t:
            ell = max(ell, r - (len(t) - 3))
    ell_letters = "".join(spare[:ell])
    expanded = []
    for t, r in zip(terms, ranks):
        if "..." in t:
            k = r - (len(t) - 3)
            t = t.replace("...", ell_letters[ell - k:])
        if len(t) != r or (t and not t.isalpha()):
            raise ConversionError(f"einsum {equation!r}: term {t!r} does not match an operand of rank {r}")
        if len(set(t)) != len(t):
            raise ConversionError(f"einsum {equation!r}: an index repeated within one operand (a diagonal) "
                                  "is not supported")
        expanded.append(t)
    if arrow:
        out = out.replace("...", ell_letters)
    else:
        counts = {c: sum(t.count(c) for t in expanded) for c in letters}
        out = ell_letters + "".join(sorted(c for c in letters if counts[c] == 1))
    return expanded, out


def _dims(b: GraphBuilder, x: SSAValue, groups: Sequence[Sequence[int]]) -> list[SSAValue | int]:
    """Per group of axes of x, the product of their sizes (an int when static)."""
    shape = shape_of(x.type)
    out: list[SSAValue | int] = []
    shape_v = None
    for g in groups:
        if all(shape[a] is not None for a in g):
            out.append(int(np.prod([shape[a] for a in g], dtype=np.int64)))
            continue
        if shape_v is None:
            shape_v = b.out("ShapeOf", [x])
        part = b.out("Gather", [shape_v, b.const(np.array(list(g), np.int64)), b.const(np.int64(0))])
        out.append(b.out("ReduceProd", [part, b.const(np.array([0], np.int64))], keep_dims=True))
    return out


def _shape(b: GraphBuilder, dims: Sequence[SSAValue | int]) -> SSAValue:
    if all(isinstance(d, int) for d in dims):
        return b.const(np.array(dims, np.int64))
    parts = [d if isinstance(d, SSAValue) else b.const(np.array([d], np.int64)) for d in dims]
    return b.out("Concat", parts, axis=0)


def _reshape(b: GraphBuilder, x: SSAValue, dims) -> SSAValue:
    return b.out("Reshape", [x, _shape(b, dims)], special_zero=False)


def _arrange(b: GraphBuilder, x: SSAValue, term: str, order: str) -> SSAValue:
    if term == order:
        return x
    return b.out("Transpose", [x, b.const(np.array([term.index(c) for c in order], np.int64))])


def _sum_out(b: GraphBuilder, x: SSAValue, term: str, keep: set[str]) -> tuple[SSAValue, str]:
    axes = [i for i, c in enumerate(term) if c not in keep]
    if not axes:
        return x, term
    x = b.out("ReduceSum", [x, b.const(np.array(axes, np.int64))], keep_dims=False)
    return x, "".join(c for c in term if c in keep)


def _contract(b: GraphBuilder, x: SSAValue, xt: str, y: SSAValue, yt: str, keep: set[str]) -> tuple[SSAValue, str]:
    x, xt = _sum_out(b, x, xt, keep | set(yt))
    y, yt = _sum_out(b, y, yt, keep | set(xt))
    batch = "".join(c for c in xt if c in yt and c in keep)
    red = "".join(c for c in xt if c in yt and c not in keep)
    fx = "".join(c for c in xt if c not in yt)
    fy = "".join(c for c in yt if c not in xt)
    xs, ys = shape_of(x.type), shape_of(y.type)
    for c in batch + red:
        a, e = xs[xt.index(c)], ys[yt.index(c)]
        if a is not None and e is not None and a != e:
            raise ConversionError(f"einsum: index {c!r} has size {a} in one operand and {e} in the other")
    x = _arrange(b, x, xt, batch + fx + red)
    y = _arrange(b, y, yt, batch + red + fy)
    nb = len(batch)
    singles = [[i] for i in range(nb)]
    x_batch = _dims(b, x, singles)
    fx_dims = _dims(b, x, [[nb + i] for i in range(len(fx))])
    fy_dims = _dims(b, y, [[nb + len(red) + i] for i in range(len(fy))])
    nx, ny = nb + len(fx), nb + len(red)
    x2 = _reshape(b, x, x_batch + _dims(b, x, [range(nb, nx), range(nx, nx + len(red))]))
    y2 = _reshape(b, y, x_batch + _dims(b, y, [range(nb, ny), range(ny, ny + len(fy))]))
    z = b.out("MatMul", [x2, y2])
    return _reshape(b, z, x_batch + fx_dims + fy_dims), batch + fx + fy


def einsum(b: GraphBuilder, equation: str, operands: Sequence[SSAValue]) -> SSAValue:
    terms, out = parse(equation, [len(shape_of(v.type)) for v in operands])
    x, xt = operands[0], terms[0]
    for i in range(1, len(operands)):
        later = set(out).union(*terms[i + 1:])
        x, xt = _contract(b, x, xt, operands[i], terms[i], later)
    x, xt = _sum_out(b, x, xt, set(out))
    return _arrange(b, x, xt, out)
