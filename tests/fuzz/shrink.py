"""Shrinking a failing spec to a minimal one that fails the same way: nodes dropped (a node an
earlier one fed is cut off, its value becoming an input with ONNX Runtime's value), inputs made
smaller along each axis, and input values made simpler, greedily, while the failure stays."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np

from tests.fuzz.generate import arrays, build
from tests.fuzz.oracle import Outcome, ort_outputs, run_spec

REGRESSIONS = Path(__file__).parent / "regressions"


def signature(spec, o: Outcome) -> tuple:
    """What makes two failures the same: the status, and for a mismatch the op that went wrong."""
    op = spec["nodes"][o.node]["op"] if o.status == "mismatch" and 0 <= o.node < len(spec["nodes"]) else ""
    return o.status, op


def _entry(name, v: np.ndarray) -> dict:
    return {"name": name, "dtype": str(v.dtype), "shape": list(v.shape), "values": v.ravel().tolist()}


def _prune(spec) -> dict:
    """Inputs and constants no node reads removed."""
    used = {n for node in spec["nodes"] for n in node["inputs"]}
    return {**spec, "inputs": [e for e in spec["inputs"] if e["name"] in used],
            "inits": [e for e in spec["inits"] if e["name"] in used]}


def _drop_node(spec, j, values) -> dict:
    """Node j removed; its outputs, where later nodes read them, are new inputs."""
    s = copy.deepcopy(spec)
    node = s["nodes"].pop(j)
    used = {n for nd in s["nodes"] for n in nd["inputs"]}
    for out in node["outputs"]:
        if out in used:
            s["inputs"].append(_entry(out, values[out]))
    return _prune(s)


def _candidates(spec, o: Outcome):
    """Smaller specs to try, the most reducing first."""
    if o.status == "mismatch" and o.node + 1 < len(spec["nodes"]):
        yield _prune({**spec, "nodes": spec["nodes"][:o.node + 1]})
    try:
        values = {**arrays(spec["inputs"]), **ort_outputs(build({**spec, "outputs": "all"}), arrays(spec["inputs"]))}
    except Exception:  # noqa: BLE001
        values = None
    if values is not None:
        for j in reversed(range(len(spec["nodes"]))):
            if len(spec["nodes"]) > 1:
                yield _drop_node(spec, j, values)
    for key, i, e in [(k, i, e) for k in ("inputs", "inits") for i, e in enumerate(spec[k])]:  # smaller
        v = arrays([e])[e["name"]]
        for ax, d in enumerate(v.shape):  # the first, last, lower or upper half of one axis
            for lo, hi in sorted({(0, 1), (d - 1, d), (0, d // 2), (d // 2, d)}, key=lambda r: r[1] - r[0]):
                if 0 < hi - lo < d:
                    s = copy.deepcopy(spec)
                    s[key][i] = _entry(e["name"], np.take(v, range(lo, hi), axis=ax))
                    yield s
    for i, e in enumerate(spec["inputs"]):  # simpler values: all, halves, quarters, ... made 0 or 1
        v = arrays([e])[e["name"]].ravel()
        for k in (1, 2, 4, 8, 16):
            for simple in (0, 1):
                for c in range(k):
                    lo, hi = c * v.size // k, (c + 1) * v.size // k
                    w = v.copy()
                    w[lo:hi] = simple
                    if hi > lo and not np.array_equal(w, v, equal_nan=v.dtype.kind == "f"):
                        s = copy.deepcopy(spec)
                        s["inputs"][i] = {**e, "values": w.tolist()}
                        yield s


def size(spec) -> tuple:
    elems = sum(int(np.prod(e["shape"], dtype=np.int64)) for e in spec["inputs"])
    return len(spec["nodes"]), elems


def shrink(spec, outcome: Outcome, budget: int = 300) -> tuple[dict, Outcome]:
    """The smallest spec found within `budget` runs that still fails as `outcome` does."""
    want = signature(spec, outcome)
    progress = True
    while progress and budget > 0:
        progress = False
        for cand in _candidates(spec, outcome):
            budget -= 1
            if budget <= 0:
                break
            o = run_spec(cand)
            if o.failed and signature(cand, o) == want:
                spec, outcome, progress = cand, o, True
                break
    return spec, outcome


def dumps(case: dict) -> str:
    """JSON with one line per input, constant and node."""
    spec = case["spec"]
    def rows(items):
        return "[" + ",".join("\n   " + json.dumps(x) for x in items) + "]"
    head = ",\n ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in case.items() if k != "spec")
    body = ",\n  ".join(f"{json.dumps(k)}: {rows(v) if k in ('inputs', 'inits', 'nodes') else json.dumps(v)}"
                        for k, v in spec.items())
    return "{" + head + ",\n \"spec\": {\n  " + body + "}}\n"


def save(spec, status: str, found: str, seed, directory: Path = REGRESSIONS) -> Path:
    """A shrunk spec as a regression example, replayed by test_regressions.py."""
    directory.mkdir(parents=True, exist_ok=True)
    ops = "-".join(sorted({n["op"] for n in spec["nodes"]}))[:60]
    path = directory / f"{status}-{ops}-{'-'.join(map(str, seed))}.json"
    path.write_text(dumps({"seed": list(seed), "found": found[:2000], "spec": spec}))
    return path
