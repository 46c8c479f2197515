"""Running textual pass pipelines ("fold-constants,dce") with optional IR printing after each
pass and per-pass statistics."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline
from xdsl.utils.exceptions import ArgSpecParseError, ParseError

from dialects.errors import OvccError


class PipelineError(OvccError):
    """A textual pass pipeline names an unknown pass or is malformed."""


@dataclass
class PassStat:
    name: str
    ops_before: int
    ops_after: int
    seconds: float


@dataclass
class PipelineStats:
    passes: list[PassStat] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)  # seconds of convert, optimize, lower, LLVM

    def table(self) -> str:
        rows = [f"{'pass':<28}{'ops before':>12}{'ops after':>12}{'ms':>10}"]
        rows += [f"{s.name:<28}{s.ops_before:>12}{s.ops_after:>12}{s.seconds * 1000:>10.1f}" for s in self.passes]
        return "\n".join(rows)

    def phase_line(self) -> str:
        return "phases: " + ", ".join(f"{k} {v:.3f} s" for k, v in self.phases.items())


def count_ops(module: ModuleOp) -> int:
    """Ops of the model function, a fused group counting as one; constants not counted."""
    from passes.common import functions

    return sum(1 for fn in functions(module) for op in fn.body.block.ops
               if op.name.startswith("ov.") and op.name != "ov.Const")


def context() -> Context:
    from xdsl.dialects import func
    from xdsl.dialects.builtin import Builtin

    from dialects.ov import OV

    ctx = Context()
    for d in (Builtin, func.Func, OV):
        ctx.load_dialect(d)
    return ctx


def parse_pipeline(spec: str) -> tuple[ModulePass, ...]:
    from passes import PIPELINES, registry

    spec = ",".join(PIPELINES.get(p.strip(), p.strip()) for p in spec.split(",") if p.strip())
    try:
        return PassPipeline.parse_spec(registry(), spec).passes
    except (ArgSpecParseError, ParseError, ValueError, KeyError, TypeError) as e:
        from passes import PASSES

        raise PipelineError(f"pass pipeline {spec!r}: {e} (known passes: {', '.join(sorted(PASSES))})") from None


def run_pipeline(module: ModuleOp, spec: str, *, print_after_all: bool = False, out: TextIO | None = None,
                 stats: PipelineStats | None = None,
                 on_pass: Callable[[str, int], None] | None = None) -> ModuleOp:
    """Run the passes of `spec` on `module`; `on_pass(name, count)` after each (a progress bar)."""
    ctx = context()
    passes = parse_pipeline(spec)
    for p in passes:
        before = count_ops(module) if stats is not None else 0
        t0 = time.perf_counter()
        p.apply(ctx, module)
        dt = time.perf_counter() - t0
        if stats is not None:
            stats.passes.append(PassStat(p.name, before, count_ops(module), dt))
        if on_pass is not None:
            on_pass(p.name, len(passes))
        if print_after_all:
            stream = out or sys.stderr
            print(f"// -----// IR Dump After {p.name} //----- //", file=stream)
            print(module, file=stream)
    return module
