"""The CPU device's configuration: OpenVINO's property names and values, checked once when a
model is compiled, so that a misspelt value is a clear error instead of a silent default.

Precision follows OpenVINO's CPU plugin: with EXECUTION_MODE_HINT "PERFORMANCE" (the default)
and a CPU that has native bf16 (AMX-BF16 or AVX512-BF16), Convolution and MatMul run in bf16
unless INFERENCE_PRECISION_HINT asks for f32; "ACCURACY" always runs f32. bf16 asked for on a
CPU without it runs f32: a hint, not an error (`CompiledModel.get_property` says what runs)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dialects.errors import OvccError


class ConfigError(OvccError):
    """A property of compile_model / Core.set_property that the CPU device does not support, or
    a value it cannot take."""


PROPERTIES = ("INFERENCE_NUM_THREADS", "PERF_COUNT", "CACHE_DIR", "OPTIMIZATION_LEVEL", "INFERENCE_PRECISION_HINT",
              "EXECUTION_MODE_HINT", "PERFORMANCE_HINT", "NUM_STREAMS", "PERFORMANCE_HINT_NUM_REQUESTS",
              "OVCC_BF16_ISA", "OVCC_INT8_ISA")
PERFORMANCE_HINTS = ("LATENCY", "THROUGHPUT", "CUMULATIVE_THROUGHPUT")
PRECISIONS = {"f32": "f32", "fp32": "f32", "float32": "f32", "bf16": "bf16", "bfloat16": "bf16"}
BF16_ISAS = ("amx", "avx512bf16")  # OVCC_BF16_ISA: force one bf16 kernel family (tests, comparisons)
INT8_ISAS = ("amx", "vnni", "avx2", "none")  # OVCC_INT8_ISA: force one int8 kernel family, or f32 kernels


@dataclass(frozen=True)
class CpuConfig:
    threads: int
    perf_count: bool
    cache_dir: Path | None
    opt_level: str
    precision_hint: str | None  # as asked ("f32", "bf16"), None: the default
    execution_mode: str  # "PERFORMANCE" | "ACCURACY"
    bf16_isa: str | None  # forced bf16 kernel family, None: the best the CPU has
    int8_isa: str | None = None  # forced int8 kernel family ("none": f32 kernels), None: the best
    performance_hint: str = "LATENCY"
    num_streams: int | None = None  # None: what the performance hint implies
    hint_num_requests: int = 0  # PERFORMANCE_HINT_NUM_REQUESTS: 0 = no limit

    @property
    def streams(self) -> int:
        """How many inferences run at once, as OpenVINO's CPU plugin decides: NUM_STREAMS if
        given, else one per core for the throughput hints (at most PERFORMANCE_HINT_NUM_REQUESTS),
        one for LATENCY."""
        if self.num_streams is not None:
            return self.num_streams
        if self.performance_hint == "LATENCY":
            return 1
        n = os.cpu_count() or 1
        return max(1, min(n, self.hint_num_requests)) if self.hint_num_requests else n

    @property
    def threads_per_stream(self) -> int:
        return max(1, self.threads // self.streams)


def _name(value: Any) -> str:
    """A type or enum value as a lower-case name: "bf16", Type.bf16, an enum's name."""
    for attr in ("to_string", "get_type_name"):
        fn = getattr(value, attr, None)
        if callable(fn):
            return str(fn()).lower()
    name = getattr(value, "name", None)
    return str(name if isinstance(name, str) else value).strip().lower()


def parse(config: dict[str, Any] | None) -> CpuConfig:
    config = dict(config or {})
    unknown = sorted(k for k in config if k not in PROPERTIES)
    if unknown:
        raise ConfigError(f"CPU: unsupported propert{'ies' if len(unknown) > 1 else 'y'} {', '.join(unknown)} "
                          f"(supported: {', '.join(PROPERTIES)})")
    raw = config.get("INFERENCE_NUM_THREADS")
    try:
        threads = int(raw) if raw not in (None, "", 0, "0") else (os.cpu_count() or 1)
    except (TypeError, ValueError):
        raise ConfigError(f"CPU: INFERENCE_NUM_THREADS must be a whole number, not {raw!r}") from None
    if threads < 1:
        raise ConfigError(f"CPU: INFERENCE_NUM_THREADS must be at least 1, not {threads}")
    perf = config.get("PERF_COUNT", False)
    perf_s = str(perf).strip().lower()
    if perf_s not in ("true", "false", "1", "0", "yes", "no", ""):
        raise ConfigError(f"CPU: PERF_COUNT must be True or False, not {perf!r}")
    level = str(config.get("OPTIMIZATION_LEVEL", "O2")).strip().upper()
    level = level if level.startswith("O") else "O" + level
    if level not in ("O0", "O1", "O2"):
        raise ConfigError(f"CPU: OPTIMIZATION_LEVEL must be O0, O1 or O2, not {config['OPTIMIZATION_LEVEL']!r}")
    cache = config.get("CACHE_DIR", os.environ.get("OVCC_CACHE_DIR"))
    if cache is None:
        from runtime.jit import default_cache_dir

        cache_dir: Path | None = default_cache_dir()
    else:
        cache_dir = Path(cache) if str(cache) else None
    hint = config.get("INFERENCE_PRECISION_HINT")
    precision = None
    if hint not in (None, ""):
        precision = PRECISIONS.get(_name(hint))
        if precision is None:
            raise ConfigError(f"CPU: INFERENCE_PRECISION_HINT {hint!r} is not supported (use f32 or bf16)")
    mode = _name(config.get("EXECUTION_MODE_HINT", "PERFORMANCE")).upper()
    if mode not in ("PERFORMANCE", "ACCURACY"):
        raise ConfigError(f"CPU: EXECUTION_MODE_HINT must be PERFORMANCE or ACCURACY, not "
                          f"{config['EXECUTION_MODE_HINT']!r}")
    isa = config.get("OVCC_BF16_ISA") or os.environ.get("OVCC_BF16_ISA") or None
    if isa is not None and str(isa).lower() not in BF16_ISAS:
        raise ConfigError(f"CPU: OVCC_BF16_ISA must be one of {', '.join(BF16_ISAS)}, not {isa!r}")
    perf_hint = _name(config.get("PERFORMANCE_HINT", "LATENCY")).upper()
    if perf_hint not in PERFORMANCE_HINTS:
        raise ConfigError(f"CPU: PERFORMANCE_HINT must be one of {', '.join(PERFORMANCE_HINTS)}, not "
                          f"{config['PERFORMANCE_HINT']!r}")
    streams = config.get("NUM_STREAMS")
    if streams is not None:
        if str(streams).upper() in ("AUTO", "-1"):
            streams = None
        else:
            try:
                streams = int(streams)
            except (TypeError, ValueError):
                raise ConfigError(f"CPU: NUM_STREAMS must be a whole number or AUTO, not {streams!r}") from None
            if streams < 1:
                raise ConfigError(f"CPU: NUM_STREAMS must be at least 1, not {streams}")
    raw_req = config.get("PERFORMANCE_HINT_NUM_REQUESTS", 0)
    try:
        num_requests = int(raw_req)
    except (TypeError, ValueError):
        raise ConfigError(f"CPU: PERFORMANCE_HINT_NUM_REQUESTS must be a whole number, not {raw_req!r}") from None
    if num_requests < 0:
        raise ConfigError(f"CPU: PERFORMANCE_HINT_NUM_REQUESTS must be 0 or more, not {num_requests}")
    i8 = config.get("OVCC_INT8_ISA") or os.environ.get("OVCC_INT8_ISA") or None
    if i8 is not None and str(i8).lower() not in INT8_ISAS:
        raise ConfigError(f"CPU: OVCC_INT8_ISA must be one of {', '.join(INT8_ISAS)}, not {i8!r}")
    return CpuConfig(threads, perf_s in ("true", "1", "yes"), cache_dir, level, precision, mode,
                     str(isa).lower() if isa else None, str(i8).lower() if i8 else None, perf_hint, streams,
                     num_requests)


__all__ = ["BF16_ISAS", "ConfigError", "CpuConfig", "PROPERTIES", "parse"]
