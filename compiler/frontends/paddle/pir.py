"""A Paddle 3 PIR program (`.json`, as `paddle.jit.save` writes it) and its `.pdiparams` as a
`Program` in the legacy op vocabulary, read with the standard library.

The JSON holds `program.regions[0].blocks[0].ops`; an op is `{"#": "<dialect>.<name>", "A":
attributes, "I": operands, "O": results}` where dialect 1 is `pd_op` and 0 `builtin`, operands
and results are value ids (`{"%": n}`, 0 for an absent optional operand), and attributes are
`{"N": name, "AT": {"#": type, "D": data}}`. `"p"` ops are the parameters (`"A": [.., name]`),
stored in the `.pdiparams` in name order; `data` and `fetch` ops are the inputs and outputs.
`builtin.combine` packs values into a vector (concat's inputs), `builtin.split` unpacks one
(split's results). `PIR_OPS` maps each `pd_op` onto its legacy op: which legacy slot each
operand and result fills (a tensor operand the legacy op takes as an attribute gets a slot
named after that attribute), and how attributes are renamed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from compiler.frontends.paddle.context import Node, Program
from compiler.frontends.paddle.schema import read_bytes, read_params
from dialects.errors import ModelFileError

_UNARY = ["relu", "relu6", "sigmoid", "tanh", "exp", "log", "sqrt", "rsqrt", "abs", "erf", "floor", "ceil",
          "square", "silu", "swish", "mish", "softplus", "softsign", "sin", "cos", "reciprocal", "sign", "logical_not"]
_BINARY = {"add": "elementwise_add", "subtract": "elementwise_sub", "multiply": "elementwise_mul",
           "divide": "elementwise_div", "maximum": "elementwise_max", "minimum": "elementwise_min",
           "elementwise_pow": "elementwise_pow", "floor_divide": "elementwise_floordiv",
           "remainder": "elementwise_mod", "equal": "equal", "not_equal": "not_equal", "less_than": "less_than",
           "less_equal": "less_equal", "greater_than": "greater_than", "greater_equal": "greater_equal",
           "logical_and": "logical_and", "logical_or": "logical_or"}
_INTERP = (["X", "OutSize", "SizeTensor", "Scale"], ["Out"], {"data_format": "data_layout"})
_CONV = (["Input", "Filter"], ["Output"], {})
_CONV_T = (["Input", "Filter", "output_size"], ["Output"], {})
_REDUCE = (["X", "dim"], ["Out"], {"keepdim": "keep_dim"})

# pd_op name -> (legacy type, operand slots, result slots, attribute renames)
PIR_OPS: dict[str, tuple[str, list[str], list[str], dict[str, str]]] = {
    **{u: (u, ["X"], ["Out"], {}) for u in _UNARY},
    **{p: (legacy, ["X", "Y"], ["Out"], {}) for p, legacy in _BINARY.items()},
    "conv2d": ("conv2d", *_CONV), "depthwise_conv2d": ("depthwise_conv2d", *_CONV),
    "conv2d_transpose": ("conv2d_transpose", *_CONV_T),
    "depthwise_conv2d_transpose": ("depthwise_conv2d_transpose", *_CONV_T),
    "batch_norm": ("batch_norm", ["X", "Mean", "Variance", "Scale", "Bias"], ["Y"], {"data_format": "data_layout"}),
    "batch_norm_": ("batch_norm", ["X", "Mean", "Variance", "Scale", "Bias"], ["Y"], {"data_format": "data_layout"}),
    "pool2d": ("pool2d", ["X", "ksize"], ["Out"], {}),
    "max_pool2d_with_index": ("max_pool2d_with_index", ["X"], ["Out", "Mask"], {"kernel_size": "ksize"}),
    "leaky_relu": ("leaky_relu", ["X"], ["Out"], {"negative_slope": "alpha"}),
    "hardswish": ("hard_swish", ["X"], ["Out"], {}),
    "hardsigmoid": ("hard_sigmoid", ["X"], ["Out"], {}),
    "gelu": ("gelu", ["X"], ["Out"], {}),
    "elu": ("elu", ["X"], ["Out"], {}),
    "matmul": ("matmul_v2", ["X", "Y"], ["Out"], {"transpose_x": "trans_x", "transpose_y": "trans_y"}),
    "softmax": ("softmax", ["X"], ["Out"], {}),
    "log_softmax": ("log_softmax", ["X"], ["Out"], {}),
    "layer_norm": ("layer_norm", ["X", "Scale", "Bias"], ["Y"], {}),
    "reshape": ("reshape2", ["X", "Shape"], ["Out"], {}),
    "transpose": ("transpose2", ["X"], ["Out"], {"perm": "axis"}),
    "concat": ("concat", ["X", "AxisTensor"], ["Out"], {}),
    "split": ("split", ["X", "sections", "AxisTensor"], ["Out"], {}),
    "split_with_num": ("split", ["X", "AxisTensor"], ["Out"], {}),
    "slice": ("slice", ["Input", "StartsTensor", "EndsTensor"], ["Out"], {}),
    "strided_slice": ("strided_slice", ["Input", "StartsTensor", "EndsTensor", "StridesTensor"], ["Out"], {}),
    "squeeze": ("squeeze2", ["X", "axes"], ["Out"], {}),
    "unsqueeze": ("unsqueeze2", ["X", "AxesTensor"], ["Out"], {}),
    "flatten": ("flatten_contiguous_range", ["X"], ["Out"], {}),
    "scale": ("scale", ["X", "ScaleTensor"], ["Out"], {}),
    "full": ("fill_constant", [], ["Out"], {}),
    "full_int_array": ("assign_value", [], ["Out"], {}),
    "assign_value": ("assign_value", [], ["Out"], {}),
    "assign_value_": ("assign_value", ["_Dest"], ["Out"], {}),  # its operand is only overwritten
    "full_like": ("fill_any_like", ["X", "ValueTensor"], ["Out"], {}),
    "shape": ("shape", ["Input"], ["Out"], {}),
    "shape64": ("shape64", ["Input"], ["Out"], {}),
    "cast": ("cast", ["X"], ["Out"], {"dtype": "out_dtype"}),
    "gather": ("gather", ["X", "Index", "Axis"], ["Out"], {}),
    "argmax": ("arg_max", ["X", "axis"], ["Out"], {}),
    "argmin": ("arg_min", ["X", "axis"], ["Out"], {}),
    "topk": ("top_k_v2", ["X", "k"], ["Out", "Indices"], {}),
    "bilinear_interp": ("bilinear_interp_v2", *_INTERP),
    "nearest_interp": ("nearest_interp_v2", *_INTERP),
    "bicubic_interp": ("bicubic_interp_v2", *_INTERP),
    "linear_interp": ("linear_interp_v2", *_INTERP),
    "trilinear_interp": ("trilinear_interp_v2", *_INTERP),
    "pad3d": ("pad3d", ["X", "Paddings"], ["Out"], {"pad_value": "value"}),
    "dropout": ("dropout", ["X", "Seed", "dropout_prob"], ["Out"], {"mode": "dropout_implementation"}),
    "embedding": ("lookup_table_v2", ["Ids", "W"], ["Out"], {}),
    "where": ("where", ["Condition", "X", "Y"], ["Out"], {}),
    "clip": ("clip", ["X", "Min", "Max"], ["Out"], {}),
    "pow": ("pow", ["X"], ["Out"], {"y": "factor"}),
    "sum": ("reduce_sum", *_REDUCE), "mean": ("reduce_mean", *_REDUCE), "max": ("reduce_max", *_REDUCE),
    "min": ("reduce_min", *_REDUCE), "prod": ("reduce_prod", *_REDUCE),
    "assign": ("assign", ["X"], ["Out"], {}),
    "expand": ("expand_v2", ["X", "Shape"], ["Out"], {}),
    "tile": ("tile", ["X", "RepeatTimes"], ["Out"], {}),
    "stack": ("stack", ["X"], ["Y"], {}),
    "cumsum": ("cumsum", ["X", "axis"], ["Out"], {}),
    "rnn": ("rnn", ["Input", "PreState", "WeightList", "SequenceLength"],  # its dropout state is unused
            ["Out", "DropoutStateOut", "State", "Reserve"], {}),
}


def _attr(at: Any) -> Any:
    """The Python value of a PIR attribute {"#": type, "D": data}."""
    if not isinstance(at, dict):
        return at
    kind, data = at.get("#", ""), at.get("D")
    if kind.endswith("a_array"):
        return [_attr(a) for a in data]
    return data


def _attrs(entries: Any) -> dict[str, Any]:
    out = {}
    for e in entries or []:
        if isinstance(e, dict) and "N" in e:
            out[e["N"]] = _attr(e.get("AT"))
    return out


def _ids(vals: Any) -> list[int]:
    return [int(v.get("%", 0)) if isinstance(v, dict) else 0 for v in vals or []]


def _tensor_type(tt: Any, where: str) -> tuple[str, list[int]]:
    d = (tt or {}).get("D") or []
    if len(d) < 2:
        raise ModelFileError(f"{where}: a value without a tensor type")
    return str(d[0].get("#", "")).rsplit("t_", 1)[-1], [int(x) for x in d[1]]


_PIR_DTYPES = {"f32": np.float32, "f64": np.float64, "f16": np.float16, "i8": np.int8, "ui8": np.uint8,
               "i16": np.int16, "i32": np.int32, "i64": np.int64, "bool": np.bool_}


def read_pir(path: Path, params_path: Path) -> Program:
    where = str(path)
    try:
        doc = json.loads(read_bytes(path, "Paddle PIR program"))
        ops = doc["program"]["regions"][0]["blocks"][0]["ops"]
        if doc.get("base_code", {}).get("magic") != "pir" or not isinstance(ops, list):
            raise KeyError("magic")
    except (ValueError, UnicodeDecodeError) as e:
        raise ModelFileError(f"{path}: not a Paddle PIR program (invalid JSON: {str(e)[:120]})") from None
    except RecursionError:
        raise ModelFileError(f"{path}: not a Paddle PIR program (JSON nested too deeply)") from None
    except (KeyError, IndexError, TypeError, AttributeError):
        raise ModelFileError(f"{path}: not a Paddle PIR program (no program.regions[0].blocks[0].ops with the "
                             "\"pir\" magic)") from None
    try:
        return _program(ops, where, params_path)
    except (KeyError, IndexError, TypeError, AttributeError, ValueError, RecursionError) as e:
        raise ModelFileError(f"{path}: malformed Paddle PIR program ({type(e).__name__}: {str(e)[:120]})") from None


def _program(ops: list, where: str, params_path: Path) -> Program:
    def name(i: int) -> str:
        return f"%{i}"

    vectors: dict[int, list[str]] = {}  # a vector value -> its elements
    for op in ops:
        kind = op["#"]
        if kind == "0.combine":
            vectors[_ids(op["O"])[0]] = [name(i) for i in _ids(op["I"])]
        elif kind == "0.split":
            vectors[_ids(op["I"])[0]] = [name(i) for i in _ids(op["O"])]

    params: list[tuple[str, list[int]]] = []
    param_values: dict[str, str] = {}  # value name -> parameter name
    feeds, fetches, nodes, unknown = [], [], [], {}
    for op in ops:
        kind = op["#"]
        if kind == "p":
            pname = str(op["A"][-1])
            vid = int(op["O"]["%"])
            oa = op.get("OA") or [1]
            if not oa[0]:  # not persistable (e.g. an LSTM's dropout state): not stored
                continue
            params.append((pname, _tensor_type(op["O"].get("TT"), where)[1]))
            param_values[name(vid)] = pname
            continue
        dialect, _, opname = kind.partition(".")
        if dialect == "0" and opname in ("combine", "split"):
            continue
        attrs = _attrs(op.get("A"))
        ins, outs = _ids(op.get("I")), _ids(op.get("O"))
        if opname == "data":
            dtype, shape = _tensor_type(op["O"][0].get("TT"), where)
            if dtype not in _PIR_DTYPES:
                raise ModelFileError(f"{where}: input {attrs.get('name')!r} has unsupported type {dtype}")
            feeds.append((str(attrs.get("name", name(outs[0]))), name(outs[0]), shape, np.dtype(_PIR_DTYPES[dtype])))
            continue
        if opname == "fetch":
            fetches.append((int(attrs.get("col", len(fetches))), name(ins[0]), str(attrs.get("name", ""))))
            continue
        if dialect != "1" or opname not in PIR_OPS:
            unknown.setdefault(f"pd_op.{opname}" if dialect == "1" else kind, []).append(name(outs[0]) if outs
                                                                                         else kind)
            continue
        legacy, in_slots, out_slots, renames = PIR_OPS[opname]
        node = Node(legacy, {}, {}, {renames.get(k, k): v for k, v in attrs.items() if k != "struct_name"})
        for slot, i in zip(in_slots, ins):
            if i:
                node.inputs[slot] = vectors.get(i, [name(i)])
        for k, i in enumerate(outs):
            slot = out_slots[k] if k < len(out_slots) else f"_{k}"
            node.outputs[slot] = vectors.get(i, [name(i)])
        nodes.append(node)
    if unknown:
        from dialects.errors import UnsupportedOpsError

        raise UnsupportedOpsError("Paddle", where, unknown)
    names = sorted(params)
    if names and not params_path.is_file():
        raise ModelFileError(f"{where}: the program has {len(names)} parameters and no .pdiparams file beside it "
                             f"({params_path})")
    stored = read_params(params_path, names) if names else {}
    values = {v: stored[p] for v, p in param_values.items()}
    renamed = {}
    for feed_name, value, _, _ in feeds:
        renamed[value] = feed_name
    for _, value, fname in fetches:
        renamed.setdefault(value, fname or value)
    for node in nodes:  # inputs keep their names; results fetched are named as fetch names them
        for slots in (node.inputs, node.outputs):
            for slot, vs in slots.items():
                slots[slot] = [renamed.get(v, v) for v in vs]
    return Program(nodes, [(n, shape, dt) for n, _, shape, dt in feeds], [renamed.get(v, v) for _, v, _ in
                                                                          sorted(fetches)],
                   {renamed.get(v, v): a for v, a in values.items()})


__all__ = ["PIR_OPS", "read_pir"]
