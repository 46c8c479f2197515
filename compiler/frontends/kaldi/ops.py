"""What each Kaldi component computes, frame by frame, in `ov` ops; and its dimensions.

Every converter takes the component's input as a [frames, input-dim] tensor and returns
[frames, output-dim]. The formulas follow Kaldi's component code (nnet3/nnet-simple-component,
nnet3/nnet-normalize-component, nnet3/nnet-general-component, nnet2/nnet-component,
nnet/nnet-*.h):

- affine: y = x W^T + b (W is output-dim x input-dim); linear: y = x W^T.
- NormalizeComponent: per block of block-dim values, y = x / sqrt(max(2^-66, x.x / (D r^2)))
  with r = target-rms (1 in nnet2); add-log-stddev appends 0.5 log(max(x.x/(D r^2), 2^-66))
  + log(r) after each block.
- BatchNormComponent (test mode, as decoding runs it): y = (x - mean) r (var + eps)^-1/2 per
  block-dim column, from the stored statistics.
- Pnorm: y_j = (sum over group j of |x|^p)^(1/p), groups of input-dim/output-dim
  consecutive values (p = 2 in nnet3).
- SumGroup: y_j = the sum of the j-th group of <Sizes> consecutive values.
- ElementwiseProduct: the product of the input-dim/output-dim consecutive chunks.
- LstmNonlinearity: input [i f g o c_prev] (+ three dropout scales); with the peephole
  weights w_ic, w_fc, w_oc: i = s(i + w_ic c_prev), f = s(f + w_fc c_prev),
  c = f c_prev + i tanh(g), o = s(o + w_oc c), m = o tanh(c); output [c m].
- nnet3 DropoutComponent in test mode: y = (1 - dropout-proportion) x; NoOp, GeneralDropout,
  BackpropTruncation, ClipGradient, ScaleGradient and nnet1 Dropout: y = x (at inference).

Components with time structure (nnet1 Splice, nnet2 SpliceComponent, nnet3 TdnnComponent)
are rewritten into descriptors by `window.expand_time_components`; their frame-wise part (the
TDNN's affine) is converted here."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from xdsl.ir import SSAValue

from compiler.frontends.kaldi.components import Component
from dialects.registry import Registry

SQUARED_NORM_FLOOR = 2.0 ** -66


@dataclass(frozen=True)
class Rule:
    """`dims(component) -> (input-dim, output-dim)`; `build(ctx, component, x) -> y`
    (None for the components with time structure, handled in `window`)."""

    dims: Callable[[Component], tuple[int, int]]
    build: Callable | None = None


COMPONENTS: Registry[Rule] = Registry("Kaldi component")


def component(*kinds: str, dims: Callable[[Component], tuple[int, int]]):
    def register(fn):
        for k in kinds:
            COMPONENTS.add(k, Rule(dims, fn))
        return fn
    return register


def component_dims(c: Component) -> tuple[int, int]:
    rule = COMPONENTS.get(c.kind)
    if rule is None:
        raise c.error("unsupported component")
    try:
        ins, outs = rule.dims(c)
    except (ValueError, ZeroDivisionError, IndexError) as e:
        raise c.error(f"inconsistent parameters ({e})") from None
    if c.dims is not None and c.dims != (ins, outs):  # nnet1's header
        raise c.error(f"the header says {c.dims[0]} -> {c.dims[1]} but the parameters are {ins} -> {outs}")
    if ins <= 0 or outs <= 0:
        raise c.error(f"dimensions {ins} -> {outs} are not positive")
    return ins, outs


# --- dimension rules ----------------------------------------------------------------------
def _dim(c: Component) -> tuple[int, int]:
    if c.dims is not None:
        return c.dims[0], c.dims[0]
    d = c.int("Dim") if c.has("Dim") else c.int("InputDim")
    return d, d


def _in_out(c: Component) -> tuple[int, int]:
    return c.int("InputDim"), c.int("OutputDim")


def _affine_params(c: Component) -> tuple[np.ndarray, np.ndarray | None]:
    """(W [out, in], b [out] or None) of any affine-like component."""
    if c.kind == "AffineTransform":
        w, b = c.bare_value(0, "matrix"), c.bare_value(1, "vector")
    elif c.kind == "LinearTransform":
        w, b = c.bare_value(0, "matrix"), None
    elif c.kind == "LinearComponent":
        w, b = c.matrix("Params"), None
    else:
        w = c.matrix("LinearParams")
        b = c.optional_vector("BiasParams")
        if b is not None and b.size == 0:  # TdnnComponent without bias
            b = None
    if b is not None and b.shape[0] != w.shape[0]:
        raise c.error(f"the bias has {b.shape[0]} values for {w.shape[0]} outputs")
    return w, b


AFFINE_KINDS = ("AffineComponent", "NaturalGradientAffineComponent", "FixedAffineComponent",
                "AffineComponentPreconditioned", "AffineComponentPreconditionedOnline", "AffineTransform",
                "LinearTransform", "LinearComponent")


def _affine_dims(c: Component) -> tuple[int, int]:
    w, _ = _affine_params(c)
    return w.shape[1], w.shape[0]


def _tdnn_dims(c: Component) -> tuple[int, int]:
    w, _ = _affine_params(c)
    n = len(c.ints("TimeOffsets"))
    if n == 0 or w.shape[1] % n:
        raise c.error(f"{w.shape[1]} weight columns do not split into {n} time offsets")
    return w.shape[1] // n, w.shape[0]


# --- converters ---------------------------------------------------------------------------
@component(*AFFINE_KINDS, dims=_affine_dims)
def affine(ctx, c: Component, x: SSAValue) -> SSAValue:
    w, b = _affine_params(c)
    return ctx.affine(x, w, b)


@component("TdnnComponent", dims=_tdnn_dims)
def tdnn(ctx, c: Component, x: SSAValue) -> SSAValue:
    # the input arrives spliced at the time offsets (window.expand_time_components)
    w, b = _affine_params(c)
    return ctx.affine(x, w, b)


def _unary(op: str):
    def build(ctx, c, x):
        return ctx.b.out(op, [x])
    return build


for _kinds, _op in ((("SigmoidComponent", "Sigmoid"), "Sigmoid"), (("TanhComponent", "Tanh"), "Tanh"),
                    (("RectifiedLinearComponent",), "ReLU"), (("SoftHingeComponent",), "SoftPlus")):
    component(*_kinds, dims=_dim)(_unary(_op))


@component("SoftmaxComponent", "Softmax", dims=_dim)
def softmax(ctx, c, x):
    return ctx.b.out("SoftMax", [x], axis=1)


@component("LogSoftmaxComponent", dims=_dim)
def log_softmax(ctx, c, x):
    return ctx.b.out("LogSoftmax", [x], axis=1)


@component("NoOpComponent", "GeneralDropoutComponent", "BackpropTruncationComponent", "ClipGradientComponent",
           "ScaleGradientComponent", dims=_dim)
def identity(ctx, c, x):
    return x


@component("Dropout", dims=_dim)
def nnet1_dropout(ctx, c, x):
    return x  # nnet-forward runs with dropout off


@component("DropoutComponent", dims=_dim)
def dropout(ctx, c, x):
    keep = 1.0 - c.float("DropoutProportion", 0.0)
    return x if keep == 1.0 else ctx.b.out("Multiply", [x, ctx.const(np.float32(keep))])


def _normalize_dims(c: Component) -> tuple[int, int]:
    d = c.int("InputDim") if c.has("InputDim") else c.int("Dim")
    block = c.int("BlockDim", d)
    if block <= 0 or d % block:
        raise ValueError(f"block-dim {block} does not divide {d}")
    return d, d + (d // block if c.flag("AddLogStddev", False) else 0)


@component("NormalizeComponent", dims=_normalize_dims)
def normalize(ctx, c, x):
    d, _ = _normalize_dims(c)
    block = c.int("BlockDim", d)
    rms = c.float("TargetRms", 1.0)
    add_log = c.flag("AddLogStddev", False)
    b = ctx.b
    rows = ctx.shape(x)[0]
    xb = ctx.reshape(x, [rows * (d // block), block]) if block != d else x
    sumsq = b.out("ReduceSum", [b.out("Multiply", [xb, xb]), ctx.i64([1])], keep_dims=True)
    p = b.out("Maximum", [b.out("Multiply", [sumsq, ctx.const(np.float32(1.0 / (block * rms * rms)))]),
                          ctx.const(np.float32(SQUARED_NORM_FLOOR))])
    y = b.out("Divide", [xb, b.out("Sqrt", [p])])
    if add_log:
        log_std = b.out("Add", [b.out("Multiply", [b.out("Log", [p]), ctx.const(np.float32(0.5))]),
                                ctx.const(np.float32(np.log(rms)))])
        y = b.out("Concat", [y, log_std], axis=1)
    return ctx.reshape(y, [rows, ctx.shape(y)[1] * (d // block)]) if block != d else y


def _batchnorm_dims(c: Component) -> tuple[int, int]:
    d = c.int("Dim")
    block = c.int("BlockDim", d)
    if block <= 0 or d % block:
        raise ValueError(f"block-dim {block} does not divide {d}")
    return d, d


@component("BatchNormComponent", dims=_batchnorm_dims)
def batchnorm(ctx, c, x):
    d, _ = _batchnorm_dims(c)
    mean, var = c.vector("StatsMean"), c.vector("StatsVar")
    if mean.shape != var.shape or d % max(mean.size, 1):
        raise c.error(f"statistics of {mean.size} and {var.size} values for dimension {d}")
    if c.float("Count", 1.0) <= 0:
        raise c.error("has no statistics (count 0), so it has no test-mode transform")
    scale = c.float("TargetRms", 1.0) * (np.maximum(var.astype(np.float64), 0) + c.float("Epsilon", 1e-3)) ** -0.5
    reps = d // mean.size
    return ctx.scale_offset(x, np.tile(scale, reps), np.tile(-mean * scale, reps))


def _pnorm_groups(ctx, c, x, reduce):
    i, o = _in_out(c)
    rows = ctx.shape(x)[0]
    return ctx.reshape(reduce(ctx.reshape(x, [rows, o, i // o])), [rows, o])


def _group_dims(c):
    i, o = _in_out(c)
    if i % o:
        raise ValueError(f"input-dim {i} is not a multiple of output-dim {o}")
    return i, o


@component("PnormComponent", dims=_group_dims)
def pnorm(ctx, c, x):
    p = c.float("P", 2.0)
    b = ctx.b

    def reduce(g):
        if p == 2.0:
            return b.out("ReduceL2", [g, ctx.i64([2])])
        if p == 1.0:
            return b.out("ReduceL1", [g, ctx.i64([2])])
        s = b.out("ReduceSum", [b.out("Power", [b.out("Abs", [g]), ctx.const(np.float32(p))]), ctx.i64([2])])
        return b.out("Power", [s, ctx.const(np.float32(1.0 / p))])
    return _pnorm_groups(ctx, c, x, reduce)


@component("MaxoutComponent", dims=_group_dims)
def maxout(ctx, c, x):
    return _pnorm_groups(ctx, c, x, lambda g: ctx.b.out("ReduceMax", [g, ctx.i64([2])]))


@component("ElementwiseProductComponent", dims=_group_dims)
def elementwise_product(ctx, c, x):
    i, o = _in_out(c)
    rows = ctx.shape(x)[0]
    chunks = ctx.reshape(x, [rows, i // o, o])
    return ctx.b.out("ReduceProd", [chunks, ctx.i64([1])])


def _sumgroup_dims(c):
    sizes = c.ints("Sizes")
    if not sizes or min(sizes) <= 0:
        raise ValueError(f"group sizes {sizes}")
    return sum(sizes), len(sizes)


@component("SumGroupComponent", dims=_sumgroup_dims)
def sum_group(ctx, c, x):
    sizes = c.ints("Sizes")
    m = np.zeros((sum(sizes), len(sizes)), np.float32)
    m[np.arange(sum(sizes)), np.repeat(np.arange(len(sizes)), sizes)] = 1.0
    return ctx.b.out("MatMul", [x, ctx.const(m)])


def _vector_dims(token: str):
    def dims(c):
        n = c.vector(token).size
        return n, n
    return dims


@component("FixedScaleComponent", dims=_vector_dims("Scales"))
def fixed_scale(ctx, c, x):
    return ctx.b.out("Multiply", [x, ctx.const(c.vector("Scales"))])


@component("FixedBiasComponent", dims=_vector_dims("Bias"))
def fixed_bias(ctx, c, x):
    return ctx.b.out("Add", [x, ctx.const(c.vector("Bias"))])


@component("PerElementScaleComponent", "NaturalGradientPerElementScaleComponent", dims=_vector_dims("Params"))
def per_element_scale(ctx, c, x):
    return ctx.b.out("Multiply", [x, ctx.const(c.vector("Params"))])


def _tiled(c: Component, token: str, dim: int) -> np.ndarray:
    v = c.vector(token)
    if v.size == 0 or dim % v.size:
        raise c.error(f"<{token}> has {v.size} values, which do not tile dimension {dim}")
    return np.tile(v, dim // v.size)


def _offset_dims(c):
    d = c.int("Dim", c.vector("Offsets").size)
    return d, d


@component("PerElementOffsetComponent", dims=_offset_dims)
def per_element_offset(ctx, c, x):
    return ctx.b.out("Add", [x, ctx.const(_tiled(c, "Offsets", _offset_dims(c)[0]))])


@component("ScaleAndOffsetComponent", dims=_dim)
def scale_and_offset(ctx, c, x):
    d = _dim(c)[0]
    return ctx.scale_offset(x, _tiled(c, "Scales", d), _tiled(c, "Offsets", d))


@component("ScaleComponent", dims=_dim)
def scale(ctx, c, x):
    return ctx.b.out("Multiply", [x, ctx.const(np.float32(c.float("Scale")))])


def _permute_dims(c):
    n = len(c.ints("ColumnMap"))
    return n, n


@component("PermuteComponent", dims=_permute_dims)
def permute(ctx, c, x):
    cols = c.ints("ColumnMap")
    if sorted(cols) != list(range(len(cols))):
        raise c.error("<ColumnMap> is not a permutation")
    return ctx.b.out("Gather", [x, ctx.i64(cols), ctx.i64(1)])


# --- nnet1 ----------------------------------------------------------------------------------
def _nnet1_dims(c: Component) -> tuple[int, int]:
    return c.dims  # type: ignore[return-value]


@component("AddShift", dims=_nnet1_dims)
def add_shift(ctx, c, x):
    return ctx.b.out("Add", [x, ctx.const(_bare_vector(c))])


@component("Rescale", dims=_nnet1_dims)
def rescale(ctx, c, x):
    return ctx.b.out("Multiply", [x, ctx.const(_bare_vector(c))])


def _bare_vector(c: Component) -> np.ndarray:
    v = c.bare_value(0, "vector")
    if v.size != c.dims[0]:
        raise c.error(f"{v.size} values for dimension {c.dims[0]}")
    return v


@component("Copy", dims=_nnet1_dims)
def copy_columns(ctx, c, x):
    idx = np.asarray(c.bare_value(0, "integer vector"), np.int64) - 1  # 1-based in the file
    if idx.size != c.dims[1] or (idx.size and (idx.min() < 0 or idx.max() >= c.dims[0])):
        raise c.error(f"copy indices {list(idx + 1)[:8]} do not fit {c.dims[0]} -> {c.dims[1]}")
    return ctx.b.out("Gather", [x, ctx.const(idx), ctx.i64(1)])


# --- LSTM -----------------------------------------------------------------------------------
def _lstm_dims(c: Component) -> tuple[int, int]:
    params = c.matrix("Params")
    if params.shape[0] != 3:
        raise ValueError(f"peephole parameters are {params.shape[0]}x{params.shape[1]}, expected 3 rows")
    cell = params.shape[1]
    return 5 * cell + (3 if c.flag("UseDropout", False) else 0), 2 * cell


@component("LstmNonlinearityComponent", dims=_lstm_dims)
def lstm_nonlinearity(ctx, c, x):
    w = c.matrix("Params")
    cell = w.shape[1]
    in_dim = _lstm_dims(c)[0]
    b = ctx.b
    lengths = [cell] * 5 + ([1, 1, 1] if in_dim > 5 * cell else [])
    parts = b.op("VariadicSplit", [x, ctx.i64(1), ctx.i64(lengths)]).outputs
    i_in, f_in, g_in, o_in, c_prev = parts[:5]

    def gate(pre, peep, state):
        return b.out("Sigmoid", [b.out("Add", [pre, b.out("Multiply", [state, ctx.const(peep)])])])

    i_t, f_t = gate(i_in, w[0], c_prev), gate(f_in, w[1], c_prev)
    if len(parts) > 5:  # dropout scales on the i, f and o gates
        i_t = b.out("Multiply", [i_t, parts[5]])
        f_t = b.out("Multiply", [f_t, parts[6]])
    c_t = b.out("Add", [b.out("Multiply", [f_t, c_prev]), b.out("Multiply", [i_t, b.out("Tanh", [g_in])])])
    o_t = gate(o_in, w[2], c_t)
    if len(parts) > 5:
        o_t = b.out("Multiply", [o_t, parts[7]])
    m_t = b.out("Multiply", [o_t, b.out("Tanh", [c_t])])
    return b.out("Concat", [c_t, m_t], axis=1)


# --- components with time structure (expanded into descriptors) ---------------------------
def _splice1_dims(c: Component) -> tuple[int, int]:
    offsets = c.bare_value(0, "integer vector")
    if not offsets or c.dims[1] != len(offsets) * c.dims[0]:
        raise ValueError(f"{len(offsets)} frame offsets do not make {c.dims[0]} -> {c.dims[1]}")
    return c.dims


def splice2_context(c: Component) -> list[int]:
    if c.has("Context"):
        return c.ints("Context")
    return list(range(-c.int("LeftContext"), c.int("RightContext") + 1))


def _splice2_dims(c: Component) -> tuple[int, int]:
    d, const = c.int("InputDim"), c.int("ConstComponentDim", 0)
    ctx = splice2_context(c)
    if not ctx or not 0 <= const < d:
        raise ValueError(f"context {ctx} with const-component-dim {const} of {d}")
    return d, len(ctx) * (d - const) + const


COMPONENTS.add("Splice", Rule(_splice1_dims))
COMPONENTS.add("SpliceComponent", Rule(_splice2_dims))

# the types whose bodies are read; everything else is reported unsupported
SUPPORTED = frozenset(COMPONENTS.keys())



def with_bias(c: Component, bias: np.ndarray) -> Component | None:
    """A copy of affine-like `c` with its bias replaced (None if `c` has no bias)."""
    if c.kind not in AFFINE_KINDS and c.kind != "TdnnComponent":
        return None
    _, b = _affine_params(c)
    if b is None:
        return None
    out = copy.copy(c)
    if c.kind == "AffineTransform":
        out.bare = [c.bare[0], bias.astype(np.float32)] + c.bare[2:]
    else:
        out.fields = dict(c.fields)
        out.fields["<BiasParams>"] = [bias.astype(np.float32)]
    return out


def bias_of(c: Component) -> np.ndarray | None:
    if c.kind not in AFFINE_KINDS and c.kind != "TdnnComponent":
        return None
    return _affine_params(c)[1]


__all__ = ["AFFINE_KINDS", "COMPONENTS", "SUPPORTED", "bias_of", "component_dims", "splice2_context", "with_bias"]
