"""The Model Optimizer's model-preparation options, with its semantics, on top of
PrePostProcessor and reshape: `mean_values`, `scale_values`, `scale`, `reverse_input_channels`,
`layout` / `source_layout` / `target_layout`, `input_shape`, `batch`, `static_shape`,
`data_type`. Each takes what the `mo` command line took (strings) or what `mo.convert_model`
took (Python values).

As the Model Optimizer does it: the mean is subtracted first and then the scale applied,
whatever the order of the options; channels are reversed only for inputs with 3 channels
(and before the mean, so that the values go in the model's channel order): Parameter ->
reverse -> mean -> scale -> model. Without a layout, an input's channel axis is the one
dimension of size 3 (of a 3-, 4- or 5-D input, at the positions CHW/HWC, NCHW/NHWC or
NCDHW/NDHWC allow); with mean or scale values of another length, a layout must say it."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from compiler.frontends.inputs import InputSpec, parse_inputs
from compiler.model import Model
from compiler.types import Layout
from dialects.errors import ConversionError, OvccError


@dataclass
class LegacyOptions:
    mean: dict[str, np.ndarray] | list[np.ndarray] = field(default_factory=dict)
    scale_values: dict[str, np.ndarray] | list[np.ndarray] = field(default_factory=dict)
    scale: float | None = None
    reverse_input_channels: bool = False
    layouts: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)  # name -> (source, target)
    batch: int | None = None
    static_shape: bool = False

    @property
    def any(self) -> bool:
        return bool(self.mean or self.scale_values or self.scale is not None or self.reverse_input_channels
                    or self.layouts or self.batch or self.static_shape)


def _error(msg: str) -> ConversionError:
    return ConversionError(f"Model Optimizer options: {msg}")


# --- parsing ----------------------------------------------------------------------------------

_GROUP = re.compile(r"([^\[\](),]*)\s*[(\[]([^\])]*)[)\]]\s*,?")


def parse_values(arg: Any, what: str) -> dict[str, np.ndarray] | list[np.ndarray]:
    """mean/scale values: "data[255,255,255],info[255]", "[1,2,3],[4,5,6]", "(1,2,3)", a dict
    name -> values, one list of numbers, or a list of lists (one per input)."""
    if arg is None or (isinstance(arg, str | tuple | list | dict) and not arg):
        return {}
    if isinstance(arg, dict):
        return {str(k): np.atleast_1d(np.asarray(v, np.float64)) for k, v in arg.items()}
    if isinstance(arg, str):
        text = arg.strip()
        groups, pos = [], 0
        while pos < len(text):
            m = _GROUP.match(text, pos)
            if not m or m.end() == pos:
                raise _error(f"--{what} {arg!r}: expected values in brackets, e.g. data[255,255,255],info[255] or "
                             "[1,2,3]")
            try:
                vals = np.array([float(v) for v in re.split(r"[,\s]+", m.group(2).strip()) if v], np.float64)
            except ValueError:
                raise _error(f"--{what} {arg!r}: {m.group(2)!r} are not numbers") from None
            groups.append((m.group(1).strip(), vals))
            pos = m.end()
        named = [bool(n) for n, _ in groups]
        if any(named) and not all(named):
            raise _error(f"--{what} {arg!r}: give a name for every group of values or for none")
        return {n: v for n, v in groups} if all(named) else [v for _, v in groups]
    vals = np.asarray(arg, dtype=object if any(isinstance(v, list | tuple | np.ndarray) for v in arg) else np.float64)
    if vals.dtype == object:
        return [np.atleast_1d(np.asarray(v, np.float64)) for v in arg]
    return [np.atleast_1d(vals.astype(np.float64))]


def _split_top(s: str) -> list[str]:
    """Split at commas outside brackets and parentheses."""
    out, depth, cur = [], 0, ""
    for ch in s:
        depth += ch in "[(" and 1 or (ch in "])" and -1 or 0)
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return [p.strip() for p in out if p.strip()]


def _arrow(s: str) -> tuple[str | None, str | None]:
    src, sep, dst = s.partition("->")
    return (src.strip() or None, (dst.strip() or None) if sep else None)


LayoutPairs = dict[str, tuple[str | None, str | None]]


def parse_layouts(layout: Any = None, source: Any = None, target: Any = None) -> LayoutPairs:
    """name -> (source layout, target layout); "" names the model's only input. Strings as the
    Model Optimizer took them ("nhwc", "name1(nchw),name2(nc)", "name(nhwc->nchw)",
    "name[n,h,w,c]->[n,c,h,w]"), or dicts / Layouts / (source, target) tuples."""
    if layout and (source or target):
        raise _error("--layout cannot be combined with --source_layout or --target_layout; use one or the other")
    out: dict[str, tuple[str | None, str | None]] = {}

    def put(name: str, src: str | None, dst: str | None, which: str | None) -> None:
        old = out.get(name, (None, None))
        for lay in (src, dst):
            if lay is not None:
                try:
                    Layout(lay)  # refuses bad letters here, naming the layout
                except OvccError as e:
                    raise _error(str(e)) from None
        out[name] = (src, dst) if which is None else ((src, old[1]) if which == "source" else (old[0], dst))

    for arg, which in ((layout, None), (source, "source"), (target, "target")):
        if not arg:
            continue
        if isinstance(arg, dict):
            for name, v in arg.items():
                if isinstance(v, tuple):
                    put(str(name), *(None if x is None else str(x) for x in v), which)
                elif which == "target":
                    put(str(name), None, str(v), which)
                else:
                    put(str(name), *(_arrow(str(v)) if which is None else (str(v), None)), which)
            continue
        if isinstance(arg, Layout):
            arg = arg.source
        text = str(arg).strip()
        parts = _split_top(text)
        if len(parts) == 1 and "(" not in parts[0] and not re.match(r"^[^\[]+\[", parts[0]):
            src, dst = _arrow(parts[0]) if which is None else (parts[0], None)
            put("", src if which != "target" else None, dst if which != "target" else parts[0], which)
            continue
        for p in parts:
            m = re.fullmatch(r"(.+?)\((.+)\)", p) or re.fullmatch(r"([^\[]+)(\[.*)", p)
            if not m:
                raise _error(f"layout {p!r}: expected name(nchw), name[n,c,h,w] or name(nhwc->nchw)")
            name, body = m.group(1).strip(), m.group(2).strip()
            if which is None:
                put(name, *_arrow(body), None)
            elif which == "source":
                put(name, body, None, "source")
            else:
                put(name, None, body, "target")
    return out


def parse_input_shape(input_shape: Any, inputs: Sequence[InputSpec]) -> list[InputSpec]:
    """--input_shape merged into the --input specs (names from --input, shapes from here)."""
    if input_shape is None or (isinstance(input_shape, str | list | tuple) and not input_shape):
        return list(inputs)
    if isinstance(input_shape, str):
        shapes = [s.shape for s in parse_inputs(",".join(f"[{g}]" for g in re.findall(r"[\[(]([^\])]*)[\])]",
                                                                                        input_shape)))]
        if not shapes:
            raise _error(f"--input_shape {input_shape!r}: expected shapes in brackets, e.g. [1,3,224,224]")
    else:
        specs = parse_inputs(input_shape)
        shapes = [s.shape for s in specs]
    if any(s.shape is not None for s in inputs):
        raise _error("shapes are given both in --input and in --input_shape; give them in one place")
    if not inputs:
        return [InputSpec(None, tuple(s)) for s in shapes]
    if len(shapes) != len(inputs):
        raise _error(f"{len(inputs)} inputs named in --input, but {len(shapes)} shapes in --input_shape")
    return [InputSpec(i.name, tuple(s), i.dtype, i.value) for i, s in zip(inputs, shapes)]


def compress_from_data_type(data_type: str | None, compress_to_fp16: bool | None, default: bool) -> bool:
    """Whether to store f16 weights: --compress_to_fp16 when given; else --data_type (which it
    superseded: FP16/half compresses, FP32/float keeps f32, as the scripts that say so expect)."""
    if data_type is not None:
        dt = str(data_type).strip().lower()
        if dt not in ("fp16", "half", "fp32", "float"):
            raise _error(f"--data_type {data_type!r}: expected FP16, FP32, half or float")
        if compress_to_fp16 is None:
            return dt in ("fp16", "half")
    return default if compress_to_fp16 is None else bool(compress_to_fp16)


def legacy_options(mean_values: Any = None, scale_values: Any = None, scale: Any = None,
                   reverse_input_channels: bool = False, layout: Any = None, source_layout: Any = None,
                   target_layout: Any = None, batch: Any = None, static_shape: bool = False) -> LegacyOptions:
    if scale is not None:
        try:
            scale = float(scale)
        except (TypeError, ValueError):
            raise _error(f"--scale {scale!r}: expected one number") from None
        if scale == 0:
            raise _error("--scale 0 divides by zero")
    if batch is not None:
        try:
            batch = int(batch)
        except (TypeError, ValueError):
            raise _error(f"--batch {batch!r}: expected a positive integer") from None
        if batch <= 0:
            raise _error(f"--batch {batch}: expected a positive integer")
    return LegacyOptions(parse_values(mean_values, "mean_values"), parse_values(scale_values, "scale_values"),
                         scale, bool(reverse_input_channels), parse_layouts(layout, source_layout, target_layout),
                         batch, bool(static_shape))


# --- applying them ------------------------------------------------------------------------------

def _port_index(model: Model, name: str, what: str) -> int | None:
    ports = model.inputs if what == "input" else model.outputs
    for p in ports:
        if name in p.names:
            return p.index
    return None


def _by_input(model: Model, values: Any, what: str) -> dict[int, np.ndarray]:
    if isinstance(values, list):
        if len(values) != len(model.inputs):
            raise _error(f"{len(values)} groups of {what} for {len(model.inputs)} inputs; name the inputs, e.g. "
                         f"{model.inputs[0].name}[...]")
        return dict(enumerate(values))
    out = {}
    for name, v in values.items():
        i = _port_index(model, name, "input")
        if i is None:
            raise _error(f"{what} for {name!r}, which is not an input of the model (inputs: "
                         f"{', '.join(p.name for p in model.inputs)})")
        out[i] = v
    return out


def _channel_axis(shape: tuple, n: int, name: str, strict: bool) -> int | None:
    """The one dimension of size `n` where a channel axis can be (None if there is none)."""
    allowed = {3: (0, 2), 4: (1, 3), 5: (1, 4)}.get(len(shape))
    found = [i for i, d in enumerate(shape) if d == n]
    if len(found) == 1 and allowed is not None and found[0] in allowed:
        return found[0]
    if strict:
        why = "several dimensions could be it" if len(found) > 1 else "no dimension fits"
        raise _error(f"input {name!r} {list(shape)}: cannot tell its channels dimension ({why}); give its layout, "
                     "e.g. --layout nchw")
    return None


def apply(model: Model, opts: LegacyOptions) -> Model:
    """Add what the options ask for to a converted model (in place; also returned)."""
    from compiler.preprocess import PrePostProcessor

    if not opts.any:
        return model
    if opts.batch:
        shapes = []
        for p in model.inputs:
            lay = _layout_for(opts, model, p.index)[0]
            axis = Layout(lay).index("N", len(p.partial_shape)) if lay and Layout(lay).has_name("N") else 0
            s = list(p.partial_shape)
            if not s:
                raise _error(f"--batch: input {p.name!r} is a scalar")
            s[axis] = opts.batch
            shapes.append(s)
        try:
            model.reshape(shapes)
        except OvccError as e:
            raise _error(f"--batch {opts.batch}: {e}") from None
    if opts.static_shape:
        dynamic = [p.name for p in model.inputs if p.partial_shape.is_dynamic]
        if dynamic:
            raise _error(f"--static_shape needs static input shapes; {', '.join(dynamic)} "
                         f"{'has' if len(dynamic) == 1 else 'have'} dynamic dims (give them with --input or "
                         "--input_shape)")
    means = _by_input(model, opts.mean, "mean_values") if opts.mean else {}
    scales = _by_input(model, opts.scale_values, "scale_values") if opts.scale_values else {}
    if opts.scale is not None:
        for p in model.inputs:
            scales.setdefault(p.index, np.array([opts.scale]))
    ppp = PrePostProcessor(model)
    reversed_any = False
    for p in model.inputs:
        src, dst = _layout_for(opts, model, p.index)
        shape = tuple(p.partial_shape)
        n = max(len(means.get(p.index, ())), len(scales.get(p.index, ())))
        if means.get(p.index) is not None and scales.get(p.index) is not None and \
                len(means[p.index]) > 1 and len(scales[p.index]) > 1 and len(means[p.index]) != len(scales[p.index]):
            raise _error(f"input {p.name!r}: {len(means[p.index])} mean values but {len(scales[p.index])} scale values")
        if src is None and n > 1:
            if n != 3:
                raise _error(f"input {p.name!r}: {n} mean/scale values (not 3); give the input's layout, e.g. "
                             "--layout nchw")
            c = _channel_axis(shape, 3, p.name, strict=True)
            src = "".join("C" if i == c else "?" for i in range(len(shape)))
        reverse = False
        if opts.reverse_input_channels:
            lay = Layout(src) if src else None
            if lay is None:
                c = _channel_axis(shape, 3, p.name, strict=False)
                if c is not None:
                    src = "".join("C" if i == c else "?" for i in range(len(shape)))
                    reverse = True
            elif lay.has_name("C"):
                c = lay.index("C", len(shape))
                reverse = shape[c] in (3, None)
        info = ppp.input(p.index)
        if src:
            info.model().set_layout(src)
        if dst:
            info.tensor().set_layout(dst)
        steps = info.preprocess()
        if reverse:
            steps.reverse_channels()
        if p.index in means:
            steps.mean(means[p.index].tolist())
        if p.index in scales:
            steps.scale(scales[p.index].tolist())
        reversed_any = reversed_any or reverse
    if opts.reverse_input_channels and not reversed_any:
        raise _error("--reverse_input_channels: no input has 3 channels (inputs: "
                     f"{', '.join(f'{p.name}{p.partial_shape}' for p in model.inputs)}); give the layout if the "
                     "channels dimension is dynamic")
    for name, (src, dst) in opts.layouts.items():
        if not name or _port_index(model, name, "input") is not None:
            continue
        k = _port_index(model, name, "output")
        if k is None:
            raise _error(f"layout for {name!r}, which is neither an input nor an output of the model")
        if src:
            ppp.output(k).model().set_layout(src)
        if dst:
            ppp.output(k).tensor().set_layout(dst)
    return ppp.build()


def _layout_for(opts: LegacyOptions, model: Model, index: int) -> tuple[str | None, str | None]:
    port = model.inputs[index]
    if "" in opts.layouts:
        if len(model.inputs) > 1:
            raise _error(f"a layout without a name is only for a model with one input; this one has "
                         f"{len(model.inputs)} ({', '.join(p.name for p in model.inputs)}): write name(layout)")
        return opts.layouts[""]
    for name, v in opts.layouts.items():
        if name in port.names:
            return v
    return None, None


# --- the same options on a command line --------------------------------------------------------

def add_legacy_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("Model Optimizer options (legacy mo; applied as preprocessing)")
    g.add_argument("--mean_values", "-ms", metavar="VALUES", help='per-channel mean, e.g. "data[123.7,116.3,103.5]" '
                   'or "[123.7,116.3,103.5]"; subtracted before the scale')
    g.add_argument("--scale_values", metavar="VALUES", help='per-channel scale, e.g. "data[58.4,57.1,57.4]"')
    g.add_argument("--scale", "-s", metavar="VALUE", help="one scale for every input (after the mean)")
    g.add_argument("--reverse_input_channels", action="store_true",
                   help="RGB <-> BGR for inputs with 3 channels (before mean and scale)")
    g.add_argument("--layout", metavar="LAYOUT", help='"nchw", "name(nchw),name2(nc)", or "name(nhwc->nchw)" to change '
                   "the input's layout")
    g.add_argument("--source_layout", metavar="LAYOUT", help="the model's layout of inputs/outputs")
    g.add_argument("--target_layout", metavar="LAYOUT", help="the layout inputs/outputs get")
    g.add_argument("--input_shape", metavar="SHAPES", help='input shapes, e.g. "[1,3,224,224]" or "[1,3],[2]"')
    g.add_argument("--batch", "-b", metavar="N", help="the batch size (the N dimension, or the first)")
    g.add_argument("--static_shape", action="store_true", help="require static input shapes and fold every "
                   "shape computation into constants")
    g.add_argument("--data_type", metavar="{FP16,FP32}", help="superseded by --compress_to_fp16: FP16 stores f16 "
                   "weights, FP32 keeps f32")


def legacy_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The legacy options given on a command line, as mo.convert_model keywords."""
    keys = ("mean_values", "scale_values", "scale", "layout", "source_layout", "target_layout", "input_shape",
            "batch")
    out: dict[str, Any] = {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}
    for k in ("reverse_input_channels", "static_shape"):
        if getattr(args, k, False):
            out[k] = True
    return out


__all__ = ["LegacyOptions", "add_legacy_arguments", "apply", "compress_from_data_type", "legacy_kwargs",
           "legacy_options", "parse_input_shape", "parse_layouts", "parse_values"]
