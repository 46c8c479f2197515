"""Graph passes over the `ov` dialect, each an xDSL ModulePass with a registered name, and
the named pipelines that `-O0/-O1/-O2` stand for."""

from __future__ import annotations

from collections.abc import Callable

from xdsl.passes import ModulePass

from passes.cse import CommonSubexpressionElimination
from passes.dce import DeadCodeElimination
from passes.decompose import Decompose, WidenHalf
from passes.fold_batchnorm import FoldBatchNorm
from passes.fold_constants import FoldConstants
from passes.fold_input_scale import FoldInputScale
from passes.fuse import Fuse
from passes.infer_shapes import InferShapes
from passes.recognize import Recognize
from passes.simplify import Simplify

PASSES: dict[str, type[ModulePass]] = {p.name: p for p in (
    InferShapes, FoldConstants, DeadCodeElimination, CommonSubexpressionElimination, Simplify, FoldBatchNorm,
    FoldInputScale, Recognize, Decompose, WidenHalf, Fuse)}

# What every frontend runs after converting, as OpenVINO's frontends do: shapes propagated,
# constant (and shape) subgraphs folded, dead ops removed.
FRONTEND_CLEANUP = "infer-shapes,fold-constants,dce"

PIPELINES: dict[str, str] = {
    "ir": FRONTEND_CLEANUP,  # what save_model writes
    "O0": "infer-shapes",
    "O1": FRONTEND_CLEANUP + ",simplify,cse,fold-batchnorm,fold-input-scale,fold-constants,dce",
    "O2": FRONTEND_CLEANUP + ",simplify,cse,recognize,fold-batchnorm,fold-input-scale,fold-constants,simplify,cse,dce,"
          "fuse",
}
# What the IR written at each level gets: the level's pipeline without what IR cannot hold
# (ov.Fused groups); -O0 writes the graph as converted.
PIPELINES.update({"ir-O0": PIPELINES["O0"], "ir-O1": PIPELINES["O1"], "ir-O2": PIPELINES["O2"].removesuffix(",fuse")})
# What native code generation needs whatever the optimization level (a legalization); the
# first part runs before the optimization pipeline.
CODEGEN_FIRST = "widen-half"
CODEGEN = "widen-half,decompose,infer-shapes,fold-constants{all=true}"


def registry() -> dict[str, Callable[[], type[ModulePass]]]:
    return {name: (lambda p=p: p) for name, p in PASSES.items()}
