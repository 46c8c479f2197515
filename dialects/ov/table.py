"""The op table: for every `ov` op, its opset, attributes, where its reference semantics and
native lowering live, and which frontends emit it. `python -m dialects.ov.table` writes it to
docs/ops.md; tests/test_op_table.py checks that file is current and that every op is complete.

Which frontends emit an op is found by a static scan of their source (converting a small model
of every framework op would cost minutes): an op counts as emitted by a module when its type
name appears there as a string literal that is not a dict key, a decorator argument (those
name the framework's ops a converter handles) or a comparison operand, or when the module
refers to the op's class imported from `dialects.ov` (`Const(...)`). Shared helper modules
(`compiler/frontends/*.py`) count for every frontend that imports them; the IR reader is not
scanned (it makes whatever op the IR names). The scan may count an
op a converter only mentions; it does not miss one a converter writes by name."""

from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path

from dialects.ov import OPS
from dialects.ov.base import REQUIRED

ROOT = Path(__file__).resolve().parents[2]
FRONTENDS = ROOT / "compiler" / "frontends"
# Where custom ops (`compiler.Op` subclasses, usable from every frontend) become `ov` ops.
EXTENSIONS = ROOT / "compiler" / "op.py"

# Ops no frontend emits (by the scan), and why they are in the dialect: IR written by OpenVINO
# holds them.
IR_ONLY: dict[str, str] = {
    "ScatterUpdate": "the framework scatters we convert (ONNX ScatterElements/ScatterND, TensorFlow and PyTorch "
                     "scatters) become ScatterElementsUpdate or ScatterNDUpdate",
    "ShuffleChannels": "no converter makes it (Caffe's ShuffleChannel layer is not supported; ONNX and PyTorch "
                       "channel shuffles arrive as Reshape-Transpose-Reshape and stay so)",
}


def _frontend_of(path: Path) -> str:
    """The frontend a source file belongs to: its package, TFLite apart from TensorFlow."""
    rel = path.relative_to(FRONTENDS)
    if len(rel.parts) == 1:
        return rel.stem
    return "tflite" if rel.stem.startswith("tflite") else rel.parts[0]


def _scan_module(path: Path) -> tuple[set[str], set[str]]:
    """Op types the module's source emits, and the shared helper modules it imports."""
    tree = ast.parse(path.read_text(), str(path))
    skip: set[int] = set()
    classes: set[str] = set()
    helpers: set[str] = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Dict):
            skip |= {id(k) for k in n.keys if k is not None}
        elif isinstance(n, ast.Compare):
            skip |= {id(x) for x in (n.left, *n.comparators)}
        elif isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            skip |= {id(a) for d in n.decorator_list if isinstance(d, ast.Call) for a in ast.walk(d)}
        elif isinstance(n, ast.ImportFrom) and n.module:
            if n.module.startswith("dialects.ov"):
                classes |= {a.asname or a.name for a in n.names if a.name in OPS}
            parts = n.module.split(".")
            if parts[:2] == ["compiler", "frontends"] and len(parts) == 3:
                helpers.add(parts[2])
            elif n.module == "compiler.frontends":
                helpers |= {a.name for a in n.names}
    ops = {n.value for n in ast.walk(tree)
           if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in OPS and id(n) not in skip}
    ops |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in classes}
    return ops, helpers


@cache
def emitters() -> dict[str, tuple[str, ...]]:
    """Op type -> the frontends whose source emits it (see the module docstring)."""
    by_module: dict[str, tuple[set[str], set[str]]] = {}
    owner: dict[str, str] = {}
    for path in sorted(FRONTENDS.rglob("*.py")):
        key = str(path.relative_to(FRONTENDS))
        by_module[key] = _scan_module(path)
        owner[key] = _frontend_of(path)
    helper_ops = {Path(k).stem: v for k, v in by_module.items() if "/" not in k}

    def closure(ops: set[str], helpers: set[str], seen: set[str]) -> set[str]:
        out = set(ops)
        for h in helpers - seen:
            if h in helper_ops:
                seen.add(h)
                out |= closure(*helper_ops[h], seen)
        return out

    found: dict[str, set[str]] = {}
    for key, (ops, helpers) in by_module.items():
        fe = owner[key]
        if "/" not in key:
            continue  # shared helpers count through the frontends that import them
        for t in closure(ops, helpers, set()):
            found.setdefault(t, set()).add(fe)
    ext_ops, _ = _scan_module(EXTENSIONS)
    for t in ext_ops:
        found.setdefault(t, set()).add("extensions")
    return {t: tuple(sorted(found.get(t, ()))) for t in OPS}


def _where(fn: object) -> str:
    """module:function; a function made by a factory (a closure) is named by its factory."""
    return f"{fn.__module__}:{fn.__qualname__.split('.<locals>')[0]}"  # type: ignore[attr-defined]


def reference_of(op_type: str) -> str:
    """module:function of the op's reference implementation."""
    from runtime.interpreter import run_block
    from runtime.reference import REFERENCE

    if op_type == "Const":
        return _where(run_block)  # the interpreter hands out the data itself
    return _where(REFERENCE[op_type]) if op_type in REFERENCE else ""


def lowering_of(op_type: str) -> str:
    """module:function of the op's native lowering, or why it has none."""
    from passes.ov_to_loops import lower
    from passes.ov_to_loops.elementwise import ELEMENTWISE, lower_eltwise
    from passes.ov_to_loops.program import LowerCtx

    lower.has_lowering(op_type)  # loads the lowering modules
    if op_type in lower.NO_CPU:
        return "none: " + lower.NO_CPU[op_type]
    if op_type == "Const":
        return _where(LowerCtx.buf) + " (a constant buffer)"
    if op_type in lower.ALIASES:
        return _where(lower.lower_module) + " (a view of its input)"
    if op_type in ELEMENTWISE:
        return _where(lower_eltwise)
    return _where(lower.LOWERINGS[op_type]) if op_type in lower.LOWERINGS else ""


def _attrs(cls: type) -> str:
    specs = getattr(cls, "ATTRS", {})
    return ", ".join((s.ir_name or n) + ("" if s.default is REQUIRED else f"={s.to_ir(s.default)}")
                     for n, s in specs.items())


def markdown() -> str:
    """docs/ops.md: one row per op of the dialect."""
    lines = ["# The `ov` dialect's ops", "",
             "Generated by `python -m dialects.ov.table` (tests/test_op_table.py checks it is current; do not "
             "edit). Attributes show their defaults; frontends are found by a static scan of their source "
             "(see `dialects/ov/table.py`).", "",
             "| op | opset | attributes | reference | lowering | frontends |",
             "| --- | --- | --- | --- | --- | --- |"]
    found = emitters()
    for t in sorted(OPS):
        cls = OPS[t]
        fes = ", ".join(found[t]) or "IR only: " + IR_ONLY.get(t, "")
        cells = [t, cls.OPSET, _attrs(cls), reference_of(t), lowering_of(t), fes]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


DOC = ROOT / "docs" / "ops.md"


def main() -> None:
    DOC.write_text(markdown())
    print(f"wrote {DOC} ({len(OPS)} ops)", file=sys.stderr)


if __name__ == "__main__":
    main()
