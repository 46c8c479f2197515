"""Seeded random ONNX graphs of elementwise and reduction ops, as JSON-able specs.

A spec is a plain dict: {"opset", "inputs": [{name, dtype, shape, values}], "inits": [same],
"nodes": [{op, inputs, outputs, attrs}], "outputs": "all" or "leaves"}. With "all", every node
output is a graph output, so that a wrong number is pinned to the node that made it (see
oracle.py); with "leaves", only the values no node reads are, so that O2 fuses across nodes.
Operands whose values ONNX leaves undefined (an integer divisor of 0 or -1, a shift of the bit
width or more, a float cast to an integer out of its range, an integer Pow or ReduceProd that
overflows) are fresh inputs or constants drawn from the defined range, never an intermediate.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

DIMS = (1, 1, 2, 3, 7, 17, 33)  # 17 and 33: beyond one 16-lane vector, with a remainder
MAX_ELEMENTS = 2500
FLOAT_SPECIALS = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-40, -1e-40, 1e-45, 3e38, -3e38, 1e-38, 1.0,
                           -1.0, 0.5, 1.5, 2.5, -2.5, 1e-30, 1e30, 88.7, -88.7, 100.0], np.float32)

FLOAT = "float32"
INTS = ("int32", "int64")
ANY_NUM = (FLOAT, "int32", "int64")

UNARY_FLOAT = ("Sqrt", "Exp", "Log", "Tanh", "Sigmoid", "Relu", "LeakyRelu", "Elu", "Selu", "Erf", "Floor",
               "Ceil", "Round", "Reciprocal")
BINARY = ("Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min")
VARIADIC = ("Sum", "Mean", "Max", "Min")
COMPARE = ("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual")
LOGIC = ("And", "Or", "Xor")
BITWISE = ("BitwiseAnd", "BitwiseOr", "BitwiseXor")
REDUCE = ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
          "ReduceLogSumExp", "ReduceSumSquare")
OPS = (UNARY_FLOAT + BINARY + ("Sum", "Mean") + COMPARE + LOGIC + BITWISE + REDUCE
       + ("Abs", "Neg", "Sign", "Clip", "Where", "Not", "BitShift", "BitwiseNot", "IsNaN", "IsInf", "Cast",
          "ArgMax", "ArgMin", "Softmax", "LogSoftmax"))
REDUCE_TYPES = {"ReduceSum": ANY_NUM, "ReduceMax": ANY_NUM + ("int8", "uint8"),
                "ReduceMin": ANY_NUM + ("int8", "uint8"), "ReduceProd": ANY_NUM}  # the others: float


def float_values(rng, shape) -> np.ndarray:
    n = int(np.prod(shape, dtype=np.int64))
    kind = rng.integers(4)
    if kind == 0:
        v = rng.standard_normal(n)
    elif kind == 1:
        v = rng.uniform(-10, 10, n) * 10.0 ** rng.integers(-3, 4)
    elif kind == 2:
        v = np.round(rng.uniform(-8, 8, n) * 2) / 2  # halves: ties of Round, exact integers
    else:
        v = rng.uniform(0.01, 5, n)  # positive: the domain of Log, Sqrt, a Pow base
    v = v.astype(np.float32)
    special = rng.random(n) < rng.choice([0.0, 0.05, 0.3])
    v[special] = rng.choice(FLOAT_SPECIALS, int(special.sum()))
    return v.reshape(shape)


def int_values(rng, dtype, shape, lo=None, hi=None, limits=True) -> np.ndarray:
    info = np.iinfo(dtype)
    n = int(np.prod(shape, dtype=np.int64))
    if lo is not None:
        return rng.integers(lo, hi + 1, n).astype(dtype).reshape(shape)
    if rng.random() < 0.5:
        v = rng.integers(max(info.min, -20), min(info.max, 20) + 1, n)
    else:
        v = rng.integers(info.min, int(info.max) + 1, n, dtype=np.int64 if dtype != "uint64" else np.uint64)
    v = v.astype(dtype)
    if limits:
        special = rng.random(n) < 0.15
        v[special] = rng.choice(np.array([info.min, info.max, 0, 1, max(info.min, -1)], dtype), int(special.sum()))
    return v.reshape(shape)


def values(rng, dtype, shape) -> np.ndarray:
    if dtype == FLOAT:
        return float_values(rng, shape)
    if dtype == "bool":
        return rng.random(int(np.prod(shape, dtype=np.int64))).reshape(shape) < 0.5
    return int_values(rng, dtype, shape)


def random_shape(rng) -> list[int]:
    while True:
        shape = [int(rng.choice(DIMS)) for _ in range(rng.choice([0, 1, 1, 2, 2, 3, 3, 4]))]
        if np.prod(shape, dtype=np.int64) <= MAX_ELEMENTS:
            return shape


def broadcast_partner(rng, shape) -> list[int]:
    """A shape that broadcasts with `shape` (numpy rules): leading dims dropped or added, dims
    set to 1, 1-dims expanded."""
    s = list(shape)
    if s and rng.random() < 0.3:
        s = s[rng.integers(1, len(s) + 1):]
    orig = list(shape[len(shape) - len(s):])
    s = [1 if rng.random() < 0.25 else d for d in s]
    s = [int(rng.choice(DIMS)) if d == 1 and o == 1 and rng.random() < 0.3 else d for d, o in zip(s, orig)]
    if len(s) == len(shape) < 4 and rng.random() < 0.15:
        s = [int(rng.choice(DIMS))] + s
    out = np.broadcast_shapes(tuple(shape), tuple(s))
    if np.prod(out, dtype=np.int64) > MAX_ELEMENTS:
        return list(shape)
    return s


class Graph:
    def __init__(self, rng, opset):
        self.rng, self.opset = rng, opset
        self.inputs, self.inits, self.nodes = [], [], []
        self.pool: list[tuple[str, str, list[int]]] = []  # values a node may consume
        self.max_inputs = int(rng.integers(1, 5))
        self.n = 0

    def name(self, prefix):
        self.n += 1
        return f"{prefix}{self.n}"

    def fresh(self, dtype, shape, vals=None, const=None) -> str:
        """A new graph input (or, for an operand with a restricted range, perhaps a constant)."""
        vals = values(self.rng, dtype, shape) if vals is None else np.asarray(vals).astype(dtype).reshape(shape)
        if const is None:
            const = len(self.inputs) >= self.max_inputs
        name = self.name("c" if const else "x")
        entry = {"name": name, "dtype": dtype, "shape": list(shape), "values": vals.ravel().tolist()}
        (self.inits if const else self.inputs).append(entry)
        if not const:
            self.pool.append((name, dtype, list(shape)))
        return name

    def operand(self, dtypes, shape=None) -> tuple[str, str, list[int]] | None:
        """An earlier value of one of `dtypes` (broadcasting with `shape` if given), else a new input."""
        ok = [v for v in self.pool if v[1] in dtypes and (shape is None or _broadcasts(v[2], shape))]
        if ok and (rng_pick := self.rng.random()) < 0.8:
            recent = ok[-3:] if rng_pick < 0.5 else ok
            return recent[self.rng.integers(len(recent))]
        # a new input, or a constant (which O2 may fold, alone or with the nodes reading it)
        const = len(self.inputs) >= self.max_inputs or self.rng.random() < 0.15
        if const and self.rng.random() < 0.5:
            return None
        dtype = str(self.rng.choice(list(dtypes)))
        s = random_shape(self.rng) if shape is None else broadcast_partner(self.rng, shape)
        name = self.fresh(dtype, s, const=const)
        if const:
            self.pool.append((name, dtype, s))
        return name, dtype, s

    def node(self, op, ins, dtype, shape, **attrs) -> None:
        out = self.name("v")
        self.nodes.append({"op": op, "inputs": list(ins), "outputs": [out], "attrs": attrs})
        self.pool.append((out, dtype, list(shape)))


def _broadcasts(a, b) -> bool:
    try:
        out = np.broadcast_shapes(tuple(a), tuple(b))
    except ValueError:
        return False
    return np.prod(out, dtype=np.int64) <= MAX_ELEMENTS


def _bshape(*shapes):
    return list(np.broadcast_shapes(*map(tuple, shapes)))


def _restricted(g: Graph, dtype, shape, lo, hi, exclude=()) -> str:
    """A fresh operand with values in [lo, hi] minus `exclude` (an input or a constant)."""
    v = g.rng.integers(lo, hi + 1, int(np.prod(shape, dtype=np.int64)))
    for e in exclude:
        v[v == e] = hi if hi not in exclude else lo
    return g.fresh(dtype, shape, v, const=bool(g.rng.random() < 0.5) or len(g.inputs) >= g.max_inputs)


def add_node(g: Graph, op: str) -> bool:
    """Append one `op` node reading earlier values; False if no valid operands could be found."""
    rng = g.rng
    if op in UNARY_FLOAT or op in ("IsNaN", "IsInf", "Softmax", "LogSoftmax"):
        a = g.operand((FLOAT,))
        if a is None or (op in ("Softmax", "LogSoftmax") and not a[2]):
            return False
        attrs = {}
        if op == "LeakyRelu" and rng.random() < 0.5:
            attrs["alpha"] = float(rng.choice([0.01, 0.2, 1.5]))
        if op == "Elu" and rng.random() < 0.5:
            attrs["alpha"] = float(rng.choice([0.5, 2.0]))
        if op == "IsInf":
            attrs = {k: int(rng.integers(2)) for k in ("detect_negative", "detect_positive") if rng.random() < 0.4}
        if op in ("Softmax", "LogSoftmax") and rng.random() < 0.7:
            attrs["axis"] = int(rng.integers(-len(a[2]), len(a[2])))
        g.node(op, [a[0]], "bool" if op.startswith("Is") else FLOAT, a[2], **attrs)
        return True
    if op in ("Abs", "Neg", "Sign"):
        types = ANY_NUM + ("int8",) + (("uint8",) if op != "Neg" else ())
        a = g.operand(types)
        if a is None:
            return False
        g.node(op, [a[0]], a[1], a[2])
        return True
    if op in ("Add", "Sub", "Mul", "Max", "Min"):
        a = g.operand(ANY_NUM)
        if a is None:
            return False
        b = g.operand((a[1],), a[2])
        if b is None:
            return False
        g.node(op, [a[0], b[0]], a[1], _bshape(a[2], b[2]))
        return True
    if op in ("Div", "Mod"):
        a = g.operand(ANY_NUM)
        if a is None:
            return False
        attrs = {}
        if a[1] == FLOAT:
            b = g.operand((FLOAT,), a[2])
            if b is None:
                return False
            b = b[0], b[2]
            if op == "Mod":
                attrs["fmod"] = 1  # ONNX: fmod=0 is for integers only
        else:  # integer divisor: never 0, never -1 (INT_MIN / -1 overflows)
            s = broadcast_partner(rng, a[2])
            b = _restricted(g, a[1], s, -9, 9, exclude=(0, -1)), s
            if op == "Mod":
                attrs["fmod"] = int(rng.integers(2))
        g.node(op, [a[0], b[0]], a[1], _bshape(a[2], b[1]), **attrs)
        return True
    if op == "Pow":
        if rng.random() < 0.7:
            a = g.operand((FLOAT,))
            if a is None:
                return False
            b = g.operand((FLOAT,), a[2])
            if b is None:
                return False
            g.node(op, [a[0], b[0]], FLOAT, _bshape(a[2], b[2]))
        else:  # integer Pow: a fresh base in [-6, 6] and exponent in [0, 7] (no overflow in int32)
            dt = str(rng.choice(INTS))
            sa = random_shape(rng)
            sb = broadcast_partner(rng, sa)
            a = _restricted(g, dt, sa, -6, 6)
            b = _restricted(g, str(rng.choice(INTS)), sb, 0, 7)
            g.node(op, [a, b], dt, _bshape(sa, sb))
        return True
    if op in ("Sum", "Mean") or (op in VARIADIC and rng.random() < 0.3):
        types = (FLOAT,) if op in ("Sum", "Mean") else ANY_NUM
        a = g.operand(types)
        if a is None:
            return False
        ins, shapes = [a[0]], [a[2]]
        for _ in range(int(rng.integers(0, 4))):
            b = g.operand((a[1],), _bshape(*shapes))
            if b is None:
                break
            ins.append(b[0])
            shapes.append(b[2])
        g.node(op, ins, a[1], _bshape(*shapes))
        return True
    if op in COMPARE:
        types = ANY_NUM + (("bool",) if op == "Equal" else ())
        a = g.operand(types)
        if a is None:
            return False
        b = g.operand((a[1],), a[2])
        if b is None:
            return False
        g.node(op, [a[0], b[0]], "bool", _bshape(a[2], b[2]))
        return True
    if op in LOGIC or op in BITWISE:
        types = ("bool",) if op in LOGIC else ("int8", "uint8", "int32", "int64")
        a = g.operand(types)
        if a is None:
            return False
        b = g.operand((a[1],), a[2])
        if b is None:
            return False
        g.node(op, [a[0], b[0]], a[1], _bshape(a[2], b[2]))
        return True
    if op in ("Not", "BitwiseNot"):
        a = g.operand(("bool",) if op == "Not" else ("int8", "uint8", "int32", "int64"))
        if a is None:
            return False
        g.node(op, [a[0]], a[1], a[2])
        return True
    if op == "BitShift":  # ONNX Runtime: uint8, uint32, uint64; a shift below the bit width
        a = g.operand(("uint8",))
        if a is None:
            return False
        s = broadcast_partner(rng, a[2])
        b = _restricted(g, "uint8", s, 0, 7)
        g.node(op, [a[0], b], "uint8", _bshape(a[2], s), direction=str(rng.choice(["LEFT", "RIGHT"])))
        return True
    if op == "Where":
        c = g.operand(("bool",))
        if c is None:
            return False
        x = g.operand(ANY_NUM + ("uint8",), c[2])
        if x is None:
            return False
        y = g.operand((x[1],), _bshape(c[2], x[2]))
        if y is None:
            return False
        g.node(op, [c[0], x[0], y[0]], x[1], _bshape(c[2], x[2], y[2]))
        return True
    if op == "Clip":
        a = g.operand(ANY_NUM + ("int8", "uint8"))
        if a is None:
            return False
        dt = a[1]
        ins = [a[0]]
        bounds = sorted(values(rng, dt, [2]).tolist()) if dt != FLOAT else sorted(rng.uniform(-3, 3, 2).tolist())
        if rng.random() < 0.1:
            bounds = bounds[::-1]  # min > max: every value is max (ONNX)
        for k in range(2):
            if rng.random() < 0.7:
                ins.append(g.fresh(dt, [], [bounds[k]], const=bool(rng.random() < 0.6)))
            elif k == 0:
                ins.append("")
        while ins[-1] == "":
            ins.pop()
        g.node(op, ins, dt, a[2])
        return True
    if op == "Cast":
        to = str(rng.choice([FLOAT, "int32", "int64", "uint8", "int8", "bool"]))
        if rng.random() < 0.6:
            a = g.operand((FLOAT, "int32", "int64", "uint8", "int8", "bool"))
            if a is None:
                return False
            if a[1] == FLOAT and to != FLOAT and to != "bool":  # float to integer: a fresh in-range source
                info = np.iinfo(to)
                lo, hi = max(info.min, -1e6), min(info.max, 1e6)
                v = np.clip(float_values(rng, a[2]).astype(np.float64), lo, hi)
                v = np.where(np.isfinite(v), v, 0).astype(np.float32)
                v = np.clip(v, np.nextafter(np.float32(lo - 1), np.float32(0)),
                            np.nextafter(np.float32(hi + 1), np.float32(0)))
                a = (g.fresh(FLOAT, a[2], v, const=len(g.inputs) >= g.max_inputs), FLOAT, a[2])
        else:
            a = g.operand(("int32", "int64", "uint8", "int8", "bool"))
            if a is None:
                return False
        g.node(op, [a[0]], to, a[2], to=int(helper.np_dtype_to_tensor_dtype(np.dtype(to))))
        return True
    if op in REDUCE:
        a = g.operand(REDUCE_TYPES.get(op, (FLOAT,)))
        if a is None:
            return False
        if op == "ReduceProd" and a[1] != FLOAT:  # an integer product that cannot overflow
            v = rng.integers(-1, 2, int(np.prod(a[2], dtype=np.int64)))
            v[rng.choice(v.size, min(v.size, 8), replace=False)] = rng.choice([-3, -2, 2, 3], min(v.size, 8))
            a = (g.fresh(a[1], a[2], v, const=len(g.inputs) >= g.max_inputs), a[1], a[2])
        r = len(a[2])
        keep = int(rng.integers(2))
        axes = None
        if r and rng.random() < 0.75:
            axes = sorted(int(x) for x in rng.choice(r, int(rng.integers(1, r + 1)), replace=False))
            axes = [x - r if rng.random() < 0.3 else x for x in axes]
        red = set(range(r)) if axes is None else {x % r for x in axes}
        shape = [1 if i in red else d for i, d in enumerate(a[2]) if keep or i not in red]
        ins, attrs = [a[0]], {"keepdims": keep}
        if axes is not None:
            if op == "ReduceSum" or g.opset >= 18:
                ins.append(g.fresh("int64", [len(axes)], axes, const=True))
            else:
                attrs["axes"] = axes
        elif (op == "ReduceSum" or g.opset >= 18) and rng.random() < 0.3:
            # axes as an input: an empty one reduces all axes, or none with noop_with_empty_axes
            if rng.random() < 0.5:
                ins.append(g.fresh("int64", [0], [], const=True))
            if rng.random() < 0.5:
                attrs["noop_with_empty_axes"] = 1
                shape = a[2]
        g.node(op, ins, a[1], shape, **attrs)
        return True
    if op in ("ArgMax", "ArgMin"):
        a = g.operand((FLOAT, "int32"))
        if a is None or not a[2]:
            return False
        r = len(a[2])
        axis, keep = int(rng.integers(-r, r)), int(rng.integers(2))
        shape = [1 if i == axis % r else d for i, d in enumerate(a[2]) if keep or i != axis % r]
        g.node(op, [a[0]], "int64", shape, axis=axis, keepdims=keep, select_last_index=int(rng.integers(2)))
        return True
    raise ValueError(op)


def generate(seed) -> dict:
    """The spec of one random graph; `seed` is anything numpy's default_rng takes."""
    rng = np.random.default_rng(seed)
    g = Graph(rng, opset=int(rng.choice([17, 17, 18])))
    ops = [o for o in OPS if g.opset >= 18 or not o.startswith("Bitwise")]
    target = int(rng.integers(2, 9))
    tries = 0
    while len(g.nodes) < target and tries < 100:
        tries += 1
        add_node(g, str(rng.choice(ops)))
    return {"opset": g.opset, "inputs": g.inputs, "inits": g.inits, "nodes": g.nodes,
            "outputs": "leaves" if rng.random() < 0.3 else "all"}


def arrays(entries) -> dict[str, np.ndarray]:
    out = {}
    for e in entries:
        v = np.array(e["values"], dtype=np.float64 if e["dtype"] == FLOAT else None)
        out[e["name"]] = v.astype(e["dtype"]).reshape(e["shape"])
    return out


def build(spec) -> onnx.ModelProto:
    """The ONNX model of a spec: every node output a graph output, or only the leaves."""
    def vi(e):
        return helper.make_tensor_value_info(e["name"], helper.np_dtype_to_tensor_dtype(np.dtype(e["dtype"])),
                                             e["shape"])
    nodes = [helper.make_node(n["op"], n["inputs"], n["outputs"], name=f"n{k}", **n["attrs"])
             for k, n in enumerate(spec["nodes"])]
    outs = [o for n in spec["nodes"] for o in n["outputs"]]
    if spec.get("outputs") == "leaves":  # only the values no node reads: O2 may fuse the rest away
        read = {i for n in spec["nodes"] for i in n["inputs"]}
        outs = [o for o in outs if o not in read] or outs[-1:]
    outs = [helper.make_empty_tensor_value_info(o) for o in outs]
    inits = [numpy_helper.from_array(v, k) for k, v in arrays(spec["inits"]).items()]
    graph = helper.make_graph(nodes, "fuzz", [vi(e) for e in spec["inputs"]], outs, inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", spec["opset"])])
    m.ir_version = 8
    m = onnx.shape_inference.infer_shapes(m, strict_mode=True)
    inferred = {v.name: v for v in m.graph.value_info}
    for o in m.graph.output:  # outputs typed as ONNX infers them
        if o.name in inferred:
            o.CopyFrom(inferred[o.name])
    del m.graph.value_info[:]
    return m
