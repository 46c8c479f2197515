"""What `benchmark_app --report/--plot` write: the summary of every engine as JSON (with the
host CPU features that decide ovcc's kernels), and a PNG of the latency distributions and
throughputs. Both are written to a temporary file first and then renamed, so a reader never
sees half a file."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

# the features that choose ovcc's Convolution/MatMul kernels (f32, bf16, int8)
FEATURES = ("avx2", "fma", "avx512f", "avx512bf16", "avx512vnni", "avxvnni")


def host_cpu() -> dict[str, Any]:
    """The host's CPU name and, of its features, those that matter to ovcc (every amx-*)."""
    import llvmlite.binding as llvm

    flags = {f[1:]: f[0] == "+" for f in llvm.get_host_cpu_features().flatten().split(",") if f}
    return {"name": llvm.get_host_cpu_name(),
            "features": {k: v for k, v in sorted(flags.items()) if k in FEATURES or k.startswith("amx-")}}


def _atomic(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    target = Path(path)
    tmp = str(target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp"))  # mode per umask
    try:
        write(tmp)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_report(path: str | os.PathLike, report: dict[str, Any]) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")

    _atomic(path, write)


def write_plot(path: str | os.PathLike, latencies: dict[str, list[float]], fps: dict[str, float],
               title: str) -> None:
    """Latency box plots per engine (left) and throughput bars (right), as a small PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(latencies)
    fig, (lat, thr) = plt.subplots(1, 2, figsize=(8, 3.2), gridspec_kw={"width_ratios": [3, 2]})
    lat.boxplot([latencies[n] for n in names], showfliers=False)
    lat.set_xticks(range(1, len(names) + 1), names)
    lat.set_ylabel("latency (ms)")
    lat.set_title("latency per inference")
    lat.grid(axis="y", alpha=0.3)
    bars = thr.bar(names, [fps[n] for n in names], color=["C0", "C1", "C2", "C3"][:len(names)])
    thr.bar_label(bars, fmt="%.0f")
    thr.margins(y=0.15)
    thr.set_ylabel("FPS")
    thr.set_title("throughput")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    try:
        _atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=80))
    finally:
        plt.close(fig)
