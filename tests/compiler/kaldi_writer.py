"""Kaldi model files for the tests, written without Kaldi, and the oracle that says what they
compute.

`Writer` writes Kaldi's serialization (binary "\\0B" or text) as base/io-funcs and
matrix/kaldi-{vector,matrix} do; the component classes write their bodies in the order
Kaldi's Write() methods use, and compute their outputs in numpy from the formulas of Kaldi's
documentation and component code. `FrameOracle` evaluates a network frame by frame the way
nnet3's computation graph defines it (a value at frame t is computable or not; IfDefined
turns "not" into zeros), independently of the frontend's interval analysis."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

Get = Callable[[int], "np.ndarray | None"]  # the component's input at frame t + k


class Writer:
    def __init__(self, binary: bool):
        self.binary = binary
        self.out = bytearray(b"\0B" if binary else b"")

    def raw(self, s: str | bytes) -> Writer:
        self.out += s.encode() if isinstance(s, str) else s
        return self

    def token(self, t: str) -> Writer:
        return self.raw(t + " ")

    def int(self, v: int) -> Writer:
        return self.raw(b"\x04" + struct.pack("<i", v)) if self.binary else self.raw(f"{v} ")

    def float(self, v: float) -> Writer:
        return self.raw(b"\x04" + struct.pack("<f", v)) if self.binary else self.raw(f"{v:.9g} ")

    def double(self, v: float) -> Writer:
        return self.raw(b"\x08" + struct.pack("<d", v)) if self.binary else self.raw(f"{v:.17g} ")

    def bool(self, v: bool) -> Writer:
        return self.raw(("T" if v else "F") + ("" if self.binary else " "))

    def vector(self, v) -> Writer:
        v = np.asarray(v, np.float32)
        if self.binary:
            return self.token("FV").int(v.size).raw(v.astype("<f4").tobytes())
        return self.raw(" [ " + "".join(f"{x:.9g} " for x in v) + "]\n")

    def matrix(self, m) -> Writer:
        m = np.asarray(m, np.float32)
        if self.binary:
            return self.token("FM").int(m.shape[0]).int(m.shape[1]).raw(m.astype("<f4").tobytes())
        if m.size == 0:
            return self.raw(" [ ]\n")
        return self.raw(" [" + "".join("\n  " + "".join(f"{x:.9g} " for x in row) for row in m) + "]\n")

    def int_vector(self, v) -> Writer:
        if self.binary:
            return self.raw(b"\x04" + struct.pack("<i", len(v)) + np.asarray(v, "<i4").tobytes())
        return self.raw("[ " + "".join(f"{int(x)} " for x in v) + "]\n")

    def field(self, token: str, kind: str, value) -> Writer:
        self.token(token)
        return getattr(self, kind)(value)

    def data(self) -> bytes:
        return bytes(self.out)


def transition_model(w: Writer) -> None:
    """A small but complete-looking <TransitionModel> (the reader skips it)."""
    w.token("<TransitionModel>").token("<Topology>").token("<TopologyEntry>").token("<ForPhones>")
    w.raw("1 2 3 " if not w.binary else b"").token("</ForPhones>").token("<State>").int(0).token("<PdfClass>").int(0)
    w.token("<Transition>").int(0).float(0.75).token("<Transition>").int(1).float(0.25).token("</State>")
    w.token("</TopologyEntry>").token("</Topology>").token("<Triples>").int(2)
    w.int(1).int(0).int(0).int(2).int(0).int(1).token("</Triples>").token("<LogProbs>").vector([-0.3, -1.4])
    w.token("</LogProbs>").token("</TransitionModel>")


# --- components -------------------------------------------------------------------------------
def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class Comp:
    """A component: `write(w)` writes its body (type token included), `at(get, t)` is its
    output at frame t given its input at t + k (`get(k)`), None when not computable."""

    def at(self, get: Get, t: int):
        x = get(0)
        return None if x is None else self.forward(x[None].astype(np.float64))[0]

    def forward(self, x):
        raise NotImplementedError

    def write(self, w: Writer) -> None:
        raise NotImplementedError


@dataclass
class Affine(Comp):
    w: np.ndarray
    b: np.ndarray | None
    kind: str = "NaturalGradientAffineComponent"

    def forward(self, x):
        y = x @ self.w.T.astype(np.float64)
        return y if self.b is None else y + self.b

    def write(self, w):
        k = self.kind
        w.token(f"<{k}>")
        if k == "NaturalGradientAffineComponent":
            w.field("<MaxChange>", "float", 0.75).field("<LearningRate>", "float", 1e-3)
            w.field("<LinearParams>", "matrix", self.w).field("<BiasParams>", "vector", self.b)
            w.field("<RankIn>", "int", 20).field("<RankOut>", "int", 80).field("<UpdatePeriod>", "int", 4)
            w.field("<NumSamplesHistory>", "float", 2000).field("<Alpha>", "float", 4)
        elif k == "AffineComponent":
            w.field("<LearningRate>", "float", 1e-3).field("<LinearParams>", "matrix", self.w)
            w.field("<BiasParams>", "vector", self.b).field("<IsGradient>", "bool", False)
            w.field("<OrthonormalConstraint>", "float", 0)
        elif k == "FixedAffineComponent":
            w.field("<LinearParams>", "matrix", self.w).field("<BiasParams>", "vector", self.b)
        elif k == "AffineComponentPreconditionedOnline":  # nnet2
            w.field("<LearningRate>", "float", 1e-3).field("<LinearParams>", "matrix", self.w)
            w.field("<BiasParams>", "vector", self.b).field("<RankIn>", "int", 20).field("<RankOut>", "int", 80)
            w.field("<UpdatePeriod>", "int", 4).field("<NumSamplesHistory>", "float", 2000)
            w.field("<Alpha>", "float", 4).field("<MaxChangePerSample>", "float", 0.075)
        elif k == "LinearComponent":
            w.field("<LearningRate>", "float", 1e-3).field("<Params>", "matrix", self.w)
            w.field("<OrthonormalConstraint>", "float", -1).field("<UseNaturalGradient>", "bool", True)
            w.token("<RankInOut>").int(20).int(20).field("<Alpha>", "float", 4)
            w.field("<NumSamplesHistory>", "float", 2000).field("<UpdatePeriod>", "int", 4)
        else:
            raise ValueError(k)
        w.token(f"</{k}>")


@dataclass
class Tdnn(Comp):
    offsets: list[int]
    w: np.ndarray
    b: np.ndarray | None

    def at(self, get, t):
        xs = [get(o) for o in self.offsets]
        if any(x is None for x in xs):
            return None
        y = self.w.astype(np.float64) @ np.concatenate(xs)
        return y if self.b is None else y + self.b

    def write(self, w):
        w.token("<TdnnComponent>").field("<MaxChange>", "float", 0.75).field("<LearningRate>", "float", 1e-3)
        w.field("<TimeOffsets>", "int_vector", self.offsets).field("<LinearParams>", "matrix", self.w)
        w.field("<BiasParams>", "vector", self.b if self.b is not None else np.zeros(0))
        w.field("<OrthonormalConstraint>", "float", -1).field("<UseNaturalGradient>", "bool", True)
        w.field("<NumSamplesHistory>", "float", 2000).token("<AlphaInOut>").float(4).float(4)
        w.token("<RankInOut>").int(20).int(80).token("</TdnnComponent>")


NONLINEAR = {"SigmoidComponent": sigmoid, "TanhComponent": np.tanh,
             "RectifiedLinearComponent": lambda x: np.maximum(x, 0),
             "SoftmaxComponent": lambda x: np.exp(x - x.max(1, keepdims=True)) / np.exp(
                 x - x.max(1, keepdims=True)).sum(1, keepdims=True),
             "LogSoftmaxComponent": lambda x: x - x.max(1, keepdims=True) - np.log(
                 np.exp(x - x.max(1, keepdims=True)).sum(1, keepdims=True)),
             "SoftHingeComponent": lambda x: np.log1p(np.exp(x))}


@dataclass
class Nonlinear(Comp):
    kind: str
    dim: int
    nnet2: bool = False

    def forward(self, x):
        return NONLINEAR[self.kind](x)

    def write(self, w):
        w.token(f"<{self.kind}>").field("<Dim>", "int", self.dim)
        if self.nnet2:
            w.field("<ValueSum>", "vector", np.zeros(self.dim)).field("<DerivSum>", "vector", np.zeros(self.dim))
            w.field("<Count>", "double", 0.0)
        else:
            w.field("<ValueAvg>", "vector", np.full(self.dim, 0.5)).field("<DerivAvg>", "vector", np.full(self.dim, .2))
            w.field("<Count>", "float", 128.0).field("<OderivRms>", "vector", np.ones(self.dim))
            w.field("<OderivCount>", "float", 128.0).field("<NumDimsSelfRepaired>", "float", 0)
            w.field("<NumDimsProcessed>", "float", 0).field("<SelfRepairScale>", "float", 1e-5)
        w.token(f"</{self.kind}>")


@dataclass
class Normalize(Comp):
    dim: int
    target_rms: float = 1.0
    add_log_stddev: bool = False
    block_dim: int | None = None
    nnet2: bool = False

    def forward(self, x):
        bd = self.block_dim or self.dim
        rows = x.reshape(x.shape[0] * (self.dim // bd), bd)
        p = np.maximum((rows ** 2).sum(1, keepdims=True) / (bd * self.target_rms ** 2), 2.0 ** -66)
        y = rows / np.sqrt(p)
        if self.add_log_stddev:
            y = np.concatenate([y, 0.5 * np.log(p) + np.log(self.target_rms)], 1)
        return y.reshape(x.shape[0], -1)

    def write(self, w):
        w.token("<NormalizeComponent>")
        if self.nnet2:
            w.field("<Dim>", "int", self.dim).field("<ValueSum>", "vector", np.zeros(self.dim))
            w.field("<DerivSum>", "vector", np.zeros(self.dim)).field("<Count>", "double", 0.0)
        else:
            w.field("<InputDim>", "int", self.dim)
            if self.block_dim:
                w.field("<BlockDim>", "int", self.block_dim)
            w.field("<TargetRms>", "float", self.target_rms).field("<AddLogStddev>", "bool", self.add_log_stddev)
        w.token("</NormalizeComponent>")


@dataclass
class BatchNorm(Comp):
    dim: int
    mean: np.ndarray
    var: np.ndarray
    epsilon: float = 1e-3
    target_rms: float = 1.0

    def forward(self, x):
        reps = self.dim // self.mean.size
        scale = self.target_rms / np.sqrt(np.tile(self.var, reps) + self.epsilon)
        return (x - np.tile(self.mean, reps)) * scale

    def write(self, w):
        w.token("<BatchNormComponent>").field("<Dim>", "int", self.dim).field("<BlockDim>", "int", self.mean.size)
        w.field("<Epsilon>", "float", self.epsilon).field("<TargetRms>", "float", self.target_rms)
        w.field("<TestMode>", "bool", False).field("<Count>", "float", 1000.0)
        w.field("<StatsMean>", "vector", self.mean).field("<StatsVar>", "vector", self.var)
        w.token("</BatchNormComponent>")


@dataclass
class Simple(Comp):
    """Components written as a list of (token, writer kind, value) with a numpy formula."""

    kind: str
    body: list
    fn: Callable

    def forward(self, x):
        return self.fn(x)

    def write(self, w):
        w.token(f"<{self.kind}>")
        for item in self.body:
            if isinstance(item, str):
                w.token(item)
            else:
                tok, kind, value = item
                w.field(tok, kind, value)
        w.token(f"</{self.kind}>")


def noop(dim):
    return Simple("NoOpComponent", [("<Dim>", "int", dim), ("<BackpropScale>", "float", 1.0)], lambda x: x)


def dropout(dim, p):
    return Simple("DropoutComponent", [("<Dim>", "int", dim), ("<DropoutProportion>", "float", p),
                                       ("<DropoutPerFrame>", "bool", False), ("<TestMode>", "bool", False)],
                  lambda x: x * (1 - p))


def general_dropout(dim):
    return Simple("GeneralDropoutComponent", [("<Dim>", "int", dim), ("<BlockDim>", "int", dim),
                                              ("<TimePeriod>", "int", 0), ("<DropoutProportion>", "float", 0.5),
                                              ("<Continuous>", "bool", True)], lambda x: x)


def backprop_truncation(dim):
    return Simple("BackpropTruncationComponent", [
        ("<Dim>", "int", dim), ("<Scale>", "float", 1.0), ("<ClippingThreshold>", "float", 30),
        ("<ZeroingThreshold>", "float", 15), ("<ZeroingInterval>", "int", 20), ("<RecurrenceInterval>", "int", 3),
        ("<NumElementsClipped>", "double", 0), ("<NumElementsZeroed>", "double", 0),
        ("<NumElementsProcessed>", "double", 0), ("<NumZeroingBoundaries>", "double", 0)], lambda x: x)


def pnorm(i, o, p=None):
    def fn(x):
        g = np.abs(x.reshape(x.shape[0], o, i // o))
        q = 2.0 if p is None else p
        return (g ** q).sum(2) ** (1 / q)
    body = [("<InputDim>", "int", i), ("<OutputDim>", "int", o)] + ([("<P>", "float", p)] if p is not None else [])
    return Simple("PnormComponent", body, fn)


def sum_group(sizes):
    edges = np.cumsum([0] + list(sizes))
    return Simple("SumGroupComponent", [("<Sizes>", "int_vector", sizes)],
                  lambda x: np.stack([x[:, a:b].sum(1) for a, b in zip(edges[:-1], edges[1:])], 1))


def elementwise_product(i, o):
    return Simple("ElementwiseProductComponent", [("<InputDim>", "int", i), ("<OutputDim>", "int", o)],
                  lambda x: np.prod(x.reshape(x.shape[0], i // o, o), 1))


def fixed_scale(s):
    return Simple("FixedScaleComponent", [("<Scales>", "vector", s)], lambda x: x * s)


def fixed_bias(b):
    return Simple("FixedBiasComponent", [("<Bias>", "vector", b)], lambda x: x + b)


def scale_and_offset(dim, scales, offsets):
    reps = dim // len(scales)
    return Simple("ScaleAndOffsetComponent", [
        ("<LearningRate>", "float", 1e-3), ("<Dim>", "int", dim), ("<Scales>", "vector", scales),
        ("<Offsets>", "vector", offsets), ("<UseNaturalGradient>", "bool", True), ("<Rank>", "int", 20)],
        lambda x: x * np.tile(scales, reps) + np.tile(offsets, reps))


def per_element_scale(s):
    return Simple("PerElementScaleComponent", [("<LearningRate>", "float", 1e-3), ("<Params>", "vector", s),
                                               ("<IsGradient>", "bool", False)], lambda x: x * s)


def per_element_offset(dim, o):
    reps = dim // len(o)
    return Simple("PerElementOffsetComponent", [
        ("<LearningRate>", "float", 1e-3), ("<Offsets>", "vector", o), ("<Dim>", "int", dim),
        ("<UseNaturalGradient>", "bool", True)], lambda x: x + np.tile(o, reps))


def permute(column_map):
    return Simple("PermuteComponent", [("<ColumnMap>", "int_vector", column_map)], lambda x: x[:, column_map])


@dataclass
class LstmNonlinearity(Comp):
    params: np.ndarray  # 3 x C: w_ic, w_fc, w_oc
    use_dropout: bool = False  # then 3 more inputs: scales of the i, f and o gates

    def forward(self, x):
        c = self.params.shape[1]
        i_in, f_in, g_in, o_in, c_prev = (x[:, k * c:(k + 1) * c] for k in range(5))
        i_s, f_s, o_s = (x[:, 5 * c + k:5 * c + k + 1] for k in range(3)) if self.use_dropout else (1, 1, 1)
        w_ic, w_fc, w_oc = self.params.astype(np.float64)
        i = sigmoid(i_in + w_ic * c_prev)
        f = sigmoid(f_in + w_fc * c_prev)
        c_t = f * f_s * c_prev + i * i_s * np.tanh(g_in)
        o = sigmoid(o_in + w_oc * c_t)
        return np.concatenate([c_t, o * o_s * np.tanh(c_t)], 1)

    def write(self, w):
        c = self.params.shape[1]
        w.token("<LstmNonlinearityComponent>").field("<MaxChange>", "float", 0.75)
        w.field("<LearningRate>", "float", 1e-3).field("<Params>", "matrix", self.params)
        w.field("<ValueAvg>", "matrix", np.zeros((5, c))).field("<DerivAvg>", "matrix", np.zeros((5, c)))
        w.field("<SelfRepairConfig>", "vector", np.full(10, 0.1)).field("<SelfRepairProb>", "vector", np.zeros(5))
        w.field("<UseDropout>", "bool", self.use_dropout).field("<Count>", "float", 0)
        w.token("</LstmNonlinearityComponent>")


@dataclass
class Splice2(Comp):
    """nnet2 SpliceComponent: frames at the context offsets, the last `const` dims from
    the first context frame."""

    dim: int
    context: list[int]
    const: int = 0

    def at(self, get, t):
        xs = [get(o) for o in self.context]
        if any(x is None for x in xs):
            return None
        d = self.dim - self.const
        return np.concatenate([x[:d] for x in xs] + ([xs[0][d:]] if self.const else []))

    def write(self, w):
        w.token("<SpliceComponent>").field("<InputDim>", "int", self.dim)
        w.field("<Context>", "int_vector", self.context).field("<ConstComponentDim>", "int", self.const)
        w.token("</SpliceComponent>")


# --- nnet1 components ---------------------------------------------------------------------------
@dataclass
class Nnet1(Comp):
    """An nnet1 component: `<Marker> out in` then its data."""

    marker: str
    in_dim: int
    out_dim: int
    data: list = field(default_factory=list)  # (token or None, writer kind, value)
    fn: Callable | None = None
    offsets: list[int] | None = None  # Splice

    def at(self, get, t):
        if self.offsets is not None:
            xs = [get(o) for o in self.offsets]
            return None if any(x is None for x in xs) else np.concatenate(xs)
        return super().at(get, t)

    def forward(self, x):
        return self.fn(x)

    def write(self, w):
        w.token(f"<{self.marker}>").int(self.out_dim).int(self.in_dim)
        if not w.binary:
            w.raw("\n")
        for tok, kind, value in self.data:
            if tok:
                w.token(tok)
            getattr(w, kind)(value)
        w.token("<!EndOfComponent>")
        if not w.binary:
            w.raw("\n")


def n1_affine(w_, b):
    return Nnet1("AffineTransform", w_.shape[1], w_.shape[0],
                 [("<LearnRateCoef>", "float", 1.0), ("<BiasLearnRateCoef>", "float", 1.0),
                  ("<MaxNorm>", "float", 0.0), (None, "matrix", w_), (None, "vector", b)],
                 lambda x: x @ w_.T.astype(np.float64) + b)


def n1_linear(w_):
    return Nnet1("LinearTransform", w_.shape[1], w_.shape[0], [("<LearnRateCoef>", "float", 1.0),
                                                               (None, "matrix", w_)], lambda x: x @ w_.T)


def n1_splice(dim, offsets):
    return Nnet1("Splice", dim, dim * len(offsets), [(None, "int_vector", offsets)], offsets=offsets)


def n1_simple(marker, dim, fn, data=()):
    return Nnet1(marker, dim, dim, list(data), fn)


def n1_add_shift(v):
    return n1_simple("AddShift", len(v), lambda x: x + v, [("<LearnRateCoef>", "float", 0.0), (None, "vector", v)])


def n1_rescale(v):
    return n1_simple("Rescale", len(v), lambda x: x * v, [("<LearnRateCoef>", "float", 0.0), (None, "vector", v)])


def n1_copy(in_dim, indices_1based):
    idx = np.asarray(indices_1based) - 1
    return Nnet1("Copy", in_dim, len(idx), [(None, "int_vector", indices_1based)], lambda x: x[:, idx])


# --- networks ------------------------------------------------------------------------------------
def nnet1_file(comps: list[Nnet1], binary: bool) -> bytes:
    w = Writer(binary)
    w.token("<Nnet>")
    if not binary:
        w.raw("\n")
    for c in comps:
        c.write(w)
    w.token("</Nnet>")
    return w.data()


def nnet2_file(comps: list[Comp], binary: bool, priors=None, transition: bool = False) -> bytes:
    w = Writer(binary)
    if transition:
        transition_model(w)
    w.token("<Nnet>").field("<NumComponents>", "int", len(comps)).token("<Components>")
    for c in comps:
        c.write(w)
        if not binary:
            w.raw("\n")
    w.token("</Components>").token("</Nnet>")
    if priors is not None:
        w.vector(priors)
    return w.data()


# nnet3 descriptors, written as Kaldi text and evaluated per frame by FrameOracle
@dataclass(frozen=True)
class D:
    kind: str
    args: tuple = ()

    def text(self) -> str:
        k, a = self.kind, self.args
        if k == "node":
            return a[0]
        if k in ("Append", "Sum"):
            return f"{k}({', '.join(x.text() for x in a)})"
        if k == "Offset":
            return f"Offset({a[0].text()}, {a[1]})"
        if k == "Scale":
            return f"Scale({a[0]}, {a[1].text()})"
        if k == "Const":
            return f"Const({a[0]}, {a[1]})"
        if k == "IfDefined":
            return f"IfDefined({a[0].text()})"
        if k == "ReplaceIndex":
            return f"ReplaceIndex({a[0].text()}, t, {a[1]})"
        return f"{k}({', '.join(x.text() if isinstance(x, D) else str(x) for x in a)})"


def N(name):  # noqa: N802 - descriptor constructors read like Kaldi's syntax
    return D("node", (name,))


def Offset(d, t):  # noqa: N802
    return D("Offset", (_d(d), t))


def Append(*ds):  # noqa: N802
    return D("Append", tuple(_d(x) for x in ds))


def Sum(*ds):  # noqa: N802
    return D("Sum", tuple(_d(x) for x in ds))


def Scale(c, d):  # noqa: N802
    return D("Scale", (c, _d(d)))


def Const(v, dim):  # noqa: N802
    return D("Const", (v, dim))


def IfDefined(d):  # noqa: N802
    return D("IfDefined", (_d(d),))


def ReplaceIndex(d, t):  # noqa: N802
    return D("ReplaceIndex", (_d(d), t))


def _d(x):
    return N(x) if isinstance(x, str) else x


@dataclass
class Net3:
    """An nnet3 network: config lines and components (in file order)."""

    inputs: dict[str, int]
    # ("component-node", name, component, D) | ("dim-range-node", name, src, offset, dim) | ("output-node", name, D)
    lines: list[tuple]
    components: dict[str, Comp]

    def config(self) -> list[str]:
        out = [f"input-node name={n} dim={d}" for n, d in self.inputs.items()]
        for line in self.lines:
            if line[0] == "component-node":
                out.append(f"component-node name={line[1]} component={line[2]} input={_d(line[3]).text()}")
            elif line[0] == "dim-range-node":
                out.append(f"dim-range-node name={line[1]} input-node={line[2]} dim-offset={line[3]} dim={line[4]}")
            else:
                out.append(f"output-node name={line[1]} input={_d(line[2]).text()} objective=linear")
        return out

    def file(self, binary: bool, priors=None, transition: bool = False, config: list[str] | None = None) -> bytes:
        w = Writer(binary)
        if transition:
            transition_model(w)
        w.token("<Nnet3>").raw("\n")
        for line in config if config is not None else self.config():
            w.raw(line + "\n")
        w.raw("\n").field("<NumComponents>", "int", len(self.components))
        if not binary:
            w.raw("\n")
        for name, c in self.components.items():
            w.token("<ComponentName>").token(name)
            c.write(w)
            if not binary:
                w.raw("\n")
        w.token("</Nnet3>")
        if transition:
            w.field("<LeftContext>", "int", 0).field("<RightContext>", "int", 0)
            w.token("<Priors>").vector(priors if priors is not None else np.zeros(0))
        return w.data()


class FrameOracle:
    """Values of an nnet3 network (or an nnet1/nnet2 chain) frame by frame: `inputs[name]`
    holds rows for frames start .. start + n - 1 (`starts`, default 0); a value is None
    where it cannot be computed."""

    def __init__(self, net: Net3, inputs: dict[str, np.ndarray], starts: dict[str, int] | None = None):
        self.net = net
        self.inputs = {k: np.asarray(v, np.float64) for k, v in inputs.items()}
        self.starts = starts or {}
        self.kinds = {line[1]: line for line in net.lines}
        self.memo: dict = {}

    @classmethod
    def chain(cls, comps: list[Comp], x: np.ndarray) -> FrameOracle:
        lines, prev = [], "input"
        for i in range(len(comps)):
            lines.append(("component-node", f"c{i}", f"c{i}", N(prev)))
            prev = f"c{i}"
        lines.append(("output-node", "output", N(prev)))
        net = Net3({"input": x.shape[1]}, lines, {f"c{i}": c for i, c in enumerate(comps)})
        return cls(net, {"input": x})

    def node(self, name: str, t: int):
        key = (name, t)
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = None  # a cycle at the same frame is not computable
        if name in self.inputs:
            x, s = self.inputs[name], self.starts.get(name, 0)
            out = x[t - s] if 0 <= t - s < len(x) else None
        else:
            line = self.kinds[name]
            if line[0] == "component-node":
                comp = self.net.components[line[2]]
                out = comp.at(lambda k: self.desc(line[3], t + k), t)
            elif line[0] == "dim-range-node":
                src = self.node(line[2], t)
                out = None if src is None else src[line[3]:line[3] + line[4]]
            else:
                out = self.desc(line[2], t)
        self.memo[key] = out
        return out

    def desc(self, d: D, t: int):
        d = _d(d)
        k, a = d.kind, d.args
        if k == "node":
            return self.node(a[0], t)
        if k == "Offset":
            return self.desc(a[0], t + a[1])
        if k in ("Append", "Sum"):
            parts = []
            for x in a:  # stop at the first part that is not computable
                parts.append(self.desc(x, t))
                if parts[-1] is None:
                    return None
            return np.concatenate(parts) if k == "Append" else np.sum(parts, 0)
        if k == "Scale":
            v = self.desc(a[1], t)
            return None if v is None else a[0] * v
        if k == "Const":
            return np.full(a[1], a[0], np.float64)
        if k == "IfDefined":
            v = self.desc(a[0], t)
            return v if v is not None else np.zeros(self.desc_dim(a[0]))
        if k == "ReplaceIndex":
            return self.desc(a[0], a[1])
        raise ValueError(k)

    def desc_dim(self, d: D) -> int:
        """The dimension of an IfDefined() argument (inputs and dim-range nodes here)."""
        k, a = d.kind, d.args
        if k == "node":
            if a[0] in self.inputs:
                return self.inputs[a[0]].shape[1]
            line = self.kinds[a[0]]
            if line[0] == "dim-range-node":
                return line[4]
            raise ValueError(f"no dimension known for {a[0]}")
        if k == "Append":
            return sum(self.desc_dim(x) for x in a)
        return self.desc_dim(a[0])

    def output(self, name: str, frames: int) -> tuple[int, np.ndarray]:
        """(first frame, rows) of output `name` over window frames 0 .. frames-1."""
        vals = [(t, self.node(name, t)) for t in range(frames)]
        ts = [t for t, v in vals if v is not None]
        assert ts and ts == list(range(ts[0], ts[-1] + 1)), f"output frames {ts} are not contiguous"
        return ts[0], np.stack([v for _, v in vals if v is not None]).astype(np.float32)
