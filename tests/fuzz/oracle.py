"""Runs one spec (generate.py) on ONNX Runtime, native code at O0 and O2 and the REFERENCE
interpreter, and judges each node output against ONNX Runtime's.

Floats match at the f32 path's tolerance (rtol 1e-4, atol 1e-5) widened only by the rounding a
summation order may change (n * eps * sum |x|); NaN must be NaN where ONNX Runtime has NaN,
infinities match by sign; integers and bools match exactly. A node whose inputs already differ
(within tolerance, say by a transcendental's last ulp) is judged against ONNX Runtime run on the
node alone with the device's own inputs, so an error propagated through a discontinuous op
(Floor, a comparison) is not taken for a bug, while the node that first went wrong is.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field

import numpy as np
import onnx

import compiler as ov
from dialects.errors import InternalError, OvccError
from tests.fuzz.generate import arrays, build

DEVICES = {"O0": ("CPU", {"INFERENCE_PRECISION_HINT": "f32", "OPTIMIZATION_LEVEL": "O0"}),
           "O2": ("CPU", {"INFERENCE_PRECISION_HINT": "f32", "OPTIMIZATION_LEVEL": "O2"}),
           "REFERENCE": ("REFERENCE", None)}
EPS = float(np.finfo(np.float32).eps)
FMAX = float(np.finfo(np.float32).max)


@dataclass
class Outcome:
    # "ok", "mismatch", "crash" (a compiler bug), "refused", "invalid" (a generator bug). Every op
    # generated is one ovcc supports, and every graph valid: a refusal too is a failure (the
    # interpreter's own check of its output shapes raises an OvccError, say)
    status: str
    detail: str = ""
    device: str = ""
    node: int = -1
    refusals: dict = field(default_factory=dict)  # device -> message

    @property
    def failed(self) -> bool:
        return self.status != "ok"


def ort_outputs(model: onnx.ModelProto, feeds) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, feeds)))


def device_outputs(model, device, feeds: dict) -> dict[str, np.ndarray]:
    dev, config = DEVICES[device]
    cm = ov.compile_model(ov.convert_model(model), dev, config)
    names = [i.name for i in model.graph.input]
    res = cm([feeds[n] for n in names]).to_tuple()
    return {o.name: np.asarray(r) for o, r in zip(model.graph.output, res)}


def _extra(node, ins: list[np.ndarray]):
    """The rounding error beyond rtol/atol, per output element, that another valid evaluation
    order may make: n * eps * sum |x| over each reduced line, relative n * eps for a product."""
    op = node["op"]
    x = ins[0].astype(np.float64) if ins and ins[0].dtype == np.float32 else None
    if x is None:
        return 0.0
    with np.errstate(all="ignore"):
        fin = np.where(np.isfinite(x), x, 0)
        if op in ("Sum", "Mean"):
            tot = sum(np.abs(np.where(np.isfinite(v), v, 0).astype(np.float64)) for v in ins)
            return len(ins) * 2 * EPS * tot / (len(ins) if op == "Mean" else 1)
        if op.startswith("Reduce"):
            axes, keep = _axes(node, ins)
            n = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))

            def total(v):
                return v.sum(axis=axes, keepdims=keep)
            if op in ("ReduceSum", "ReduceL1", "ReduceMean", "ReduceSumSquare"):
                t = total(fin * fin if op == "ReduceSumSquare" else np.abs(fin))
                return n * 2 * EPS * t / (n if op == "ReduceMean" else 1)
            if op == "ReduceL2":
                t = total(fin * fin)
                ds = n * 2 * EPS * t
                return np.where(t > 0, ds / (2 * np.sqrt(t)), 0)
            if op == "ReduceLogSumExp":  # log of a sum of relative error n eps, shifted by the max
                return 4 * EPS * (n + np.abs(fin).max(axis=axes, keepdims=keep))
            if op == "ReduceProd":
                return n * 2 * EPS * np.abs(np.prod(fin, axis=axes, keepdims=keep))
        if op == "LogSoftmax" and x.ndim:
            ax = node["attrs"].get("axis", -1)
            return 8 * EPS * (np.abs(fin) + np.abs(fin).max(axis=ax, keepdims=True))
    return 0.0


def _axes(node, ins) -> tuple[tuple[int, ...], bool]:
    """The axes a Reduce* node reduces (all of them if none are given), and keepdims."""
    a, r = node["attrs"], ins[0].ndim
    axes = a.get("axes", ins[1].tolist() if len(ins) > 1 else None)
    if not axes:  # none given, or an empty axes input: all of them, or none with noop_with_empty_axes
        return (() if a.get("noop_with_empty_axes") else tuple(range(r))), bool(a.get("keepdims", 1))
    return tuple(x % r for x in axes), bool(a.get("keepdims", 1))


def _undefined(node, ins: list[np.ndarray]):
    """Output positions whose value ONNX leaves undefined (or the evaluation order decides), or None.

    ArgMax/ArgMin of a line with a NaN: the spec says nothing, and ONNX Runtime 1.31 is not even
    consistent with itself (the first NaN wins without select_last_index; with it, NaN is
    skipped unless it is the first element). A float sum whose terms can overflow: left to right
    [3e38, 3e38, -inf] is NaN, in another order -inf. A float product that some order of its
    factors overflows or underflows ([1e30, 1e30, 1e-30] is inf or 1e30), unless a zero or an
    infinity decides it in every order."""
    op, x = node["op"], ins[0]
    if x.dtype != np.float32:
        return None
    if op in ("ArgMax", "ArgMin"):
        a = node["attrs"]
        return np.isnan(x).any(axis=a.get("axis", 0), keepdims=bool(a.get("keepdims", 1)))
    with np.errstate(all="ignore"):
        if op in ("Sum", "Mean"):
            tot = sum(np.where(np.isfinite(v), np.abs(v.astype(np.float64)), 0) for v in ins)
            return tot > FMAX / 2
        if op in ("ReduceSum", "ReduceMean", "ReduceL1", "ReduceL2", "ReduceSumSquare"):
            axes, keep = _axes(node, ins)
            t = np.where(np.isfinite(x), np.abs(x.astype(np.float64)), 0)
            if op in ("ReduceL2", "ReduceSumSquare"):
                t = t * t
            return t.sum(axis=axes, keepdims=keep) > FMAX / 2
        if op == "ReduceProd":
            axes, keep = _axes(node, ins)
            a = np.abs(x.astype(np.float64))
            fin = np.isfinite(a) & (a > 0)
            lg = np.log(np.where(fin, a, 1))
            over = np.where(lg > 0, lg, 0).sum(axis=axes, keepdims=keep) > np.log(FMAX) - 1
            under = np.where(lg < 0, lg, 0).sum(axis=axes, keepdims=keep) < np.log(np.finfo(np.float32).tiny) + 1
            zero = (a == 0).any(axis=axes, keepdims=keep)
            inf = np.isinf(a).any(axis=axes, keepdims=keep)
            nan = np.isnan(a).any(axis=axes, keepdims=keep)
            defined = nan | (zero & inf) | (zero & ~over) | (inf & ~under) | (~zero & ~inf & ~over & ~under)
            return ~defined
    return None


def numpy_oracle(node, ins: list[np.ndarray], want: np.ndarray):
    """The expected output where ONNX Runtime 1.31 departs from the ONNX spec, else None.

    ReduceMax/ReduceMin: ONNX's reference (np.maximum.reduce) propagates NaN, ONNX Runtime drops
    it ([nan, inf] -> inf). ReduceSum of integers: ONNX Runtime sums in double and saturates
    (int64 sums above 2**53 lose their low bits); exact, wrapping sums are the integer type's.
    Integer Mod with fmod=1: ONNX Runtime goes through a double fmod (int64 beyond 2**53 wrong).
    ReduceLogSumExp of a line with a NaN and a +inf: NaN (ONNX's reference), ONNX Runtime: inf."""
    op, x = node["op"], ins[0]
    if op == "ReduceLogSumExp":
        axes, keep = _axes(node, ins)
        return np.where(np.isnan(x).any(axis=axes, keepdims=keep), np.float32(np.nan), want)
    if op in ("ReduceMax", "ReduceMin") and x.dtype == np.float32:
        axes, keep = _axes(node, ins)
        return (np.max if op == "ReduceMax" else np.min)(x, axis=axes, keepdims=keep)
    if op == "ReduceSum" and x.dtype.kind in "iu":
        axes, keep = _axes(node, ins)
        return np.sum(x, axis=axes, keepdims=keep, dtype=x.dtype)
    if op == "Mod" and x.dtype.kind in "iu" and node["attrs"].get("fmod"):
        return np.fmod(*np.broadcast_arrays(x, ins[1])).astype(x.dtype)
    return None


def alternative(node, ins: list[np.ndarray]):
    """A second acceptable result: ReduceL2 summing its squares in double (the REFERENCE
    interpreter's) does not overflow where f32 does, and is then the more exact answer."""
    if node["op"] == "ReduceL2" and ins[0].dtype == np.float32:
        axes, keep = _axes(node, ins)
        return np.sqrt(np.sum(ins[0].astype(np.float64) ** 2, axis=axes, keepdims=keep)).astype(np.float32)
    return None


def _check(node, got, want, ins) -> str:
    """close() of one node output against ONNX Runtime's (or the numpy oracle's) result."""
    override = numpy_oracle(node, ins, want)
    if override is not None:
        want = np.asarray(override).astype(want.dtype).reshape(want.shape)
    mask = _undefined(node, ins)
    diff = close(*_masked(got, want, mask), _extra(node, ins))
    alt = alternative(node, ins) if diff else None
    if alt is not None and np.shape(alt) == np.shape(want) and not close(*_masked(got, alt, mask), _extra(node, ins)):
        return ""
    return diff


def _masked(got, want, mask):
    if mask is None or np.shape(got) != np.shape(mask) or np.shape(want) != np.shape(mask):
        return got, want
    return np.where(mask, 0, got).astype(got.dtype), np.where(mask, 0, want).astype(want.dtype)


def close(got: np.ndarray, want: np.ndarray, extra=0.0, rel=1.0) -> str:
    """'' when `got` matches `want`, else what differs."""
    got, want = np.asarray(got), np.asarray(want)
    if got.dtype != want.dtype or got.shape != want.shape:
        return f"{got.dtype}{list(got.shape)} != {want.dtype}{list(want.shape)}"
    if want.dtype != np.float32:
        bad = got != want
    else:
        g, w = got.astype(np.float64), want.astype(np.float64)
        with np.errstate(all="ignore"):
            ok = (np.isnan(g) & np.isnan(w)) | (g == w)
            ok |= np.isfinite(g) & np.isfinite(w) & (np.abs(g - w) <= 1e-5 + 1e-4 * rel * np.abs(w) + extra)
            # overflow at the edge of the range: FLT_MAX-ish against inf of the same sign
            ok |= np.isinf(g) & (np.abs(w) >= FMAX * (1 - 1e-4)) & (np.sign(g) == np.sign(w))
            ok |= np.isinf(w) & (np.abs(g) >= FMAX * (1 - 1e-4)) & (np.sign(g) == np.sign(w))
        bad = ~ok
    if not bad.any():
        return ""
    idx = np.argwhere(bad)[:3] if bad.ndim else [()]
    parts = [f"at {tuple(int(i) for i in k)}: got {got[tuple(k)]!r} want {want[tuple(k)]!r}" for k in idx]
    return f"{int(bad.sum())}/{bad.size} differ, " + "; ".join(parts)


def _same(a, b) -> bool:
    """Identical values, -0.0 and 0.0 told apart (ONNX Runtime's Where turns a selected -0.0 into
    0.0, so a Reciprocal after it is judged on the device's own -0.0)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind == "f":
        return bool(np.all(((a == b) & (np.signbit(a) == np.signbit(b))) | (np.isnan(a) & np.isnan(b))))
    return bool(np.all(a == b))


def single_node_spec(spec, k, feeds: dict) -> dict:
    """Node k alone, its non-constant inputs fed with `feeds`."""
    node = spec["nodes"][k]
    inits = [e for e in spec["inits"] if e["name"] in node["inputs"]]
    names = {e["name"] for e in inits}
    inputs = [{"name": n, "dtype": str(feeds[n].dtype), "shape": list(feeds[n].shape),
               "values": feeds[n].ravel().tolist()} for n in dict.fromkeys(node["inputs"]) if n and n not in names]
    return {"opset": spec["opset"], "inputs": inputs, "inits": inits, "nodes": [node]}


def judge(spec, want: dict, got: dict, feeds: dict) -> tuple[int, str]:
    """(index of the first node whose output is wrong, what differs), or (-1, '')."""
    consts = arrays(spec["inits"])
    for k, node in enumerate(spec["nodes"]):
        ins_w = [feeds.get(n, want.get(n, consts.get(n))) for n in node["inputs"] if n]
        ins_g = [feeds.get(n, got.get(n, consts.get(n))) for n in node["inputs"] if n]
        for out in node["outputs"]:
            if out not in got and spec.get("outputs") == "leaves":
                continue  # not an output of the device's model
            if out not in got:
                return k, f"{out} missing"
            diff = _check(node, got[out], want[out], ins_w)
            if not diff:
                continue
            if any(a is None for a in ins_g):
                return k, f"{diff} (an input of the node is not an output)"
            if all(_same(a, b) for a, b in zip(ins_g, ins_w)):
                return k, diff
            local = single_node_spec(spec, k, {n: v for n, v in zip([n for n in node["inputs"] if n], ins_g)})
            try:
                lw = ort_outputs(build(local), {e["name"]: v for e, v in
                                                zip(local["inputs"], arrays(local["inputs"]).values())})
            except Exception as e:  # noqa: BLE001 - ONNX Runtime refusing the device's inputs
                return k, f"{diff} (ONNX Runtime on the node alone: {type(e).__name__})"
            ldiff = _check(node, got[out], lw[out], ins_g)
            if ldiff:
                return k, f"{ldiff} (node alone on the device's inputs)"
    return -1, ""


def _judge_leaves(spec, device, want: dict, got: dict, feeds: dict) -> tuple[int, str]:
    """A model whose intermediate values are not outputs (so that O2 fuses across nodes) went
    wrong somewhere: judged with every value an output, and then each of its outputs against the
    same device's result with every value an output, on the same inputs."""
    full = {**spec, "outputs": "all"}
    model = build(full)
    got_full = device_outputs(model, device, feeds)
    k, diff = judge(full, want, got_full, feeds)
    if k >= 0:
        return k, diff
    consts = arrays(spec["inits"])
    for k, node in enumerate(spec["nodes"]):
        ins = [feeds.get(n, got_full.get(n, consts.get(n))) for n in node["inputs"] if n]
        for out in node["outputs"]:
            if out in got and (diff := _check(node, got[out], got_full[out], ins)):
                return k, f"{diff} (fused: against the same device with every value an output)"
    return -1, ""


def _is_bug(e: BaseException) -> bool:
    return isinstance(e, InternalError) or not isinstance(e, OvccError)


def run_spec(spec, devices=tuple(DEVICES)) -> Outcome:
    try:
        model = build(spec)
        onnx.checker.check_model(model, full_check=True)
        feeds = arrays(spec["inputs"])
        want = ort_outputs(build({**spec, "outputs": "all"}), feeds)  # every value, to judge by
    except Exception as e:  # noqa: BLE001
        return Outcome("invalid", f"{type(e).__name__}: {str(e)[:500]}")
    refusals = {}
    for device in devices:
        try:
            got = device_outputs(model, device, feeds)
        except Exception as e:  # noqa: BLE001
            if _is_bug(e):
                tb = "".join(traceback.format_exception(e)[-6:])
                return Outcome("crash", f"{type(e).__name__}: {e}\n{tb}", device, refusals=refusals)
            refusals[device] = f"{type(e).__name__}: {e}"
            continue
        k, diff = judge(spec, want, got, feeds)
        if k >= 0 and spec.get("outputs") == "leaves":
            k, diff = _judge_leaves(spec, device, want, got, feeds)
        if k >= 0:
            n = spec["nodes"][k]
            return Outcome("mismatch", f"node {k} {n['op']}{n['attrs'] or ''}: {diff}", device, k, refusals)
    if refusals:
        return Outcome("refused", "; ".join(f"{d}: {m}" for d, m in refusals.items()), next(iter(refusals)),
                       refusals=refusals)
    return Outcome("ok")
