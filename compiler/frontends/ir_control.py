"""OpenVINO IR control flow: TensorIterator-1, Loop-5 and If-8, resolved while reading, as the
ONNX frontend resolves If/Loop/Scan (the `ov` dialect has no loop or branch op).

A TensorIterator runs its body once per part of its sliced inputs (the count is static: the
sliced axis is); a Loop runs while its trip count and condition fold to constants; an If whose
condition folds becomes its branch, one whose condition depends on the data computes both
branches and selects. Back edges carry a body Result into a body Parameter of the next
iteration; outputs with an `axis` concatenate every iteration's value, the others are the last
iteration's. The semantics follow OpenVINO's operation specifications; where a combination of
port-map attributes is not pinned down by them (a |stride| other than 1 or part_size, start/end
windows of outputs), the layer is refused, not guessed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from xdsl.ir import SSAValue

from compiler.frontends.ir_upgrades import upgrade
from dialects.errors import ConversionError, ModelFileError

if TYPE_CHECKING:
    from compiler.frontends.ir_reader import _Layer as Layer
    from compiler.frontends.ir_reader import _Reader as Reader

MAX_ITERATIONS = 4096


def _child(layer: Layer, tag: str):
    el = layer.el.find(tag)
    if el is None:
        raise ModelFileError(f"{layer.where}: no <{tag}>")
    return el


def _int(m, key: str, layer: Layer, default: int | None = None) -> int:
    v = m.get(key)
    if v is None:
        if default is None:
            raise ModelFileError(f"{layer.where}: a port_map entry has no {key!r}")
        return default
    try:
        return int(v)
    except ValueError:
        raise ModelFileError(f"{layer.where}: port_map {key}={v!r} is not an integer") from None


def _body(layer: Layer, tag: str = "body"):
    from compiler.frontends.ir_reader import Body

    return Body(_child(layer, tag), f"{layer.where} {tag}")


def _back_edges(layer: Layer) -> dict[str, str]:
    """{body Parameter id: body Result id that feeds it in the next iteration}."""
    edges = {}
    for e in layer.el.findall("back_edges/edge"):
        frm, to = e.get("from-layer"), e.get("to-layer")
        if frm is None or to is None:
            raise ModelFileError(f"{layer.where}: a back edge lacks from-layer/to-layer")
        edges[to] = frm
    return edges


def _slices(r: Reader, layer: Layer, x: SSAValue, m) -> tuple[int, int, int, int, int]:
    """(axis, first index, part size, direction, number of parts) of a sliced input, checked
    against x's shape."""
    shape = r.shape(x)
    axis = _int(m, "axis", layer)
    axis = axis + len(shape) if axis < 0 else axis
    if not 0 <= axis < len(shape):
        raise ModelFileError(f"{layer.where}: sliced axis {axis} of a rank-{len(shape)} input")
    dim = shape[axis]
    if dim is None:
        raise ConversionError(f"the sliced axis {axis} must have a static size")
    part, stride = _int(m, "part_size", layer, 1), _int(m, "stride", layer, 1)
    start, end = _int(m, "start", layer, 0), _int(m, "end", layer, -1)
    start, end = (v if v >= 0 else dim + v for v in (start, end))  # OpenVINO: both ends included
    if part < 1 or abs(stride) not in (1, part) or not (0 <= start < dim and 0 <= end < dim):
        raise ConversionError(f"slicing with start {start}, end {end}, stride {stride}, part_size "
                              f"{part} of an axis of {dim} is not supported")
    lo, hi = min(start, end), max(start, end)
    if (hi - lo + 1) % part:
        raise ConversionError(f"{hi - lo + 1} elements do not split into parts of {part}")
    return axis, lo, part, 1 if stride > 0 else -1, (hi - lo + 1) // part


def _part(r: Reader, x: SSAValue, axis: int, lo: int, part: int, k: int) -> SSAValue:
    return r.b.out("Slice", [x, r.i64([lo + k * part]), r.i64([lo + (k + 1) * part]), r.i64([1]), r.i64([axis])])


def _concat(r: Reader, layer: Layer, items: list[SSAValue], m, rank: int) -> SSAValue:
    axis = _int(m, "axis", layer)
    axis = axis + rank if axis < 0 else axis
    if _int(m, "stride", layer, 1) < 0:
        items = items[::-1]
    if (_int(m, "start", layer, 0), _int(m, "end", layer, -1)) not in ((0, -1), (-1, 0)):
        raise ConversionError("an output written into part of its axis is not supported")
    return items[0] if len(items) == 1 else r.b.out("Concat", items, axis=axis)


def _outputs(r: Reader, layer: Layer, per_iteration: list[dict[str, SSAValue]], initial: dict[str, SSAValue],
             back: dict[str, str]) -> list[SSAValue]:
    """The layer's outputs from the port map's output entries."""
    outs: dict[int, SSAValue] = {}
    for m in _child(layer, "port_map").findall("output"):
        ext, rid = m.get("external_port_id"), m.get("internal_layer_id")
        if ext == "-1":  # Loop's execution condition
            continue
        idx = layer.out_index(ext)
        if m.get("axis") is not None:
            if not per_iteration:
                raise ConversionError("no iteration runs, so a concatenated output has no shape")
            items = [res[rid] for res in per_iteration]
            outs[idx] = _concat(r, layer, items, m, len(r.shape(items[0])))
        elif per_iteration:
            outs[idx] = per_iteration[-1][rid]
        else:  # no iteration: a Result carried by a back edge is its Parameter's initial value
            fed = [p for p, res in back.items() if res == rid and p in initial]
            if not fed:
                raise ConversionError(f"no iteration runs and output {ext} has no initial value")
            outs[idx] = initial[fed[0]]
    if sorted(outs) != list(range(len(layer.out_ports))):
        raise ModelFileError(f"{layer.where}: the port map does not give every output of the layer")
    return [outs[i] for i in range(len(outs))]


@upgrade("TensorIterator", "opset1")
def _tensor_iterator(r: Reader, layer: Layer, ins: list[SSAValue]) -> list[SSAValue]:
    body = _body(layer)
    back = _back_edges(layer)
    state: dict[str, SSAValue] = {}
    sliced = []
    counts = set()
    for m in _child(layer, "port_map").findall("input"):
        x = ins[layer.in_index(m.get("external_port_id"))]
        pid = m.get("internal_layer_id")
        if m.get("axis") is None:
            state[pid] = x
            continue
        axis, lo, part, direction, n = _slices(r, layer, x, m)
        counts.add(n)
        sliced.append((pid, x, axis, lo, part, direction))
    if len(counts) != 1:
        raise ConversionError("no sliced input gives the number of iterations" if not counts
                              else f"sliced inputs give {sorted(counts)} iterations")
    n = counts.pop()
    if n > MAX_ITERATIONS:
        raise ConversionError(f"{n} iterations (more than {MAX_ITERATIONS})")
    initial = dict(state)
    per_iteration = []
    for i in range(n):
        args = dict(state)
        for pid, x, axis, lo, part, direction in sliced:
            args[pid] = _part(r, x, axis, lo, part, i if direction > 0 else n - 1 - i)
        res = body(r, args)
        per_iteration.append(res)
        for pid, rid in back.items():
            state[pid] = res[rid]
    return _outputs(r, layer, per_iteration, initial, back)


@upgrade("Loop", "opset5")
def _loop(r: Reader, layer: Layer, ins: list[SSAValue]) -> list[SSAValue]:
    body = _body(layer)
    back = _back_edges(layer)
    trip, cond = (r.known(v) for v in ins[:2])
    if trip is None or cond is None:
        raise ConversionError("the trip count and the execution condition must be known at "
                              "conversion time (loops are unrolled)")
    trip_n, go = int(np.asarray(trip).reshape(-1)[0]), bool(np.asarray(cond).reshape(-1)[0])
    state: dict[str, SSAValue] = {}
    counter = None
    for m in _child(layer, "port_map").findall("input"):
        pid = m.get("internal_layer_id")
        if m.get("purpose") == "current_iteration":
            counter = body.by_id.get(pid)
            if counter is None or counter.type != "Parameter":
                raise ModelFileError(f"{layer.where}: the current-iteration input {pid} is not a body Parameter")
            continue
        if m.get("axis") is not None:
            raise ConversionError("sliced Loop inputs are not supported")
        state[pid] = ins[layer.in_index(m.get("external_port_id"))]
    cond_id = next((m.get("internal_layer_id") for m in _child(layer, "port_map").findall("output")
                    if m.get("purpose") == "execution_condition"), None)
    initial = dict(state)
    per_iteration = []
    i = 0
    while go and (trip_n < 0 or i < trip_n):
        if i == MAX_ITERATIONS:
            raise ConversionError(f"the loop runs more than {MAX_ITERATIONS} iterations")
        args = dict(state)
        if counter is not None:
            from compiler.frontends.ir_reader import _dims, _element_type

            shape = _dims(counter.data.get("shape", ""), counter.where)
            args[counter.id] = r.const(np.full([d or 1 for d in shape], i, _element_type(counter)))
        res = body(r, args)
        per_iteration.append(res)
        for pid, rid in back.items():
            state[pid] = res[rid]
        if cond_id is not None:
            c = r.known(res[cond_id])
            if c is None:
                raise ConversionError("the loop condition depends on the data (loops are unrolled "
                                      "at conversion time)")
            go = bool(np.asarray(c).reshape(-1)[0])
        i += 1
    return _outputs(r, layer, per_iteration, initial, back)


@upgrade("If", "opset8")
def _if(r: Reader, layer: Layer, ins: list[SSAValue]) -> list[SSAValue]:
    def branch(tag: str) -> dict[int, SSAValue]:
        body = _body(layer, f"{tag}_body")
        pm = _child(layer, f"{tag}_port_map")
        args = {m.get("internal_layer_id"): ins[layer.in_index(m.get("external_port_id"))]
                for m in pm.findall("input")}
        res = body(r, args)
        outs = {layer.out_index(m.get("external_port_id")): res[m.get("internal_layer_id")]
                for m in pm.findall("output")}
        if sorted(outs) != list(range(len(layer.out_ports))):
            raise ModelFileError(f"{layer.where}: the {tag} branch does not give every output of the layer")
        return outs

    cond = ins[0]
    known = r.known(cond)
    if known is not None:
        taken = branch("then" if bool(np.asarray(known).reshape(-1)[0]) else "else")
        return [taken[i] for i in range(len(taken))]
    if any(d != 1 for d in r.shape(cond)):
        raise ConversionError("a data-dependent condition must hold one value")
    if r.rank(cond):
        cond = r.b.out("Reshape", [cond, r.i64([])], special_zero=False)
    then, other = branch("then"), branch("else")
    out = []
    for i in range(len(then)):
        t, e = then[i], other[i]
        if r.dtype(t) != r.dtype(e) or r.shape(t) != r.shape(e) or None in r.shape(t):
            raise ConversionError(f"with a data-dependent condition both branches must give "
                                  f"output {i} with one static shape and type")
        out.append(r.b.out("Select", [cond, t, e]))
    return out
