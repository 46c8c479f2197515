"""The one place that decides what the host CPU can do: LLVM's name for it, its features, the
vector width the kernels are generated for, and which low-precision kernel families it runs
(AMX tiles, AVX512-BF16, AVX512-VNNI). Read at run time from LLVM's host feature map, never
from the CPU's name (wrong on some VMs) and never hard-coded."""

from __future__ import annotations

import ctypes
import functools
import threading
from dataclasses import dataclass

import llvmlite
import llvmlite.binding as llvm


@functools.cache
def _init() -> None:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()


@dataclass(frozen=True)
class Target:
    triple: str
    cpu: str
    features: str
    vector_bits: int  # widest vector registers the kernels use

    @property
    def vector_width(self) -> int:
        """float32 lanes per vector register."""
        return self.vector_bits // 32

    def has(self, *features: str) -> bool:
        """Whether every named LLVM feature ("avx512bf16", "amx-bf16", ...) is enabled."""
        enabled = {f[1:] for f in self.features.split(",") if f.startswith("+")}
        return all(f in enabled for f in features)

    def bf16_isas(self) -> list[str]:
        """The bf16 kernel families this CPU runs, best first: "amx" (AMX-BF16 tiles, if Linux
        grants the tile state), "avx512bf16" (vdpbf16ps)."""
        out = []
        if self.has("amx-tile", "amx-bf16", "avx512bf16") and amx_permitted():
            out.append("amx")
        if self.has("avx512bf16", "avx512bw"):
            out.append("avx512bf16")
        return out

    def int8_isas(self) -> list[str]:
        """The int8 kernel families this CPU runs, best first: "amx" (AMX-INT8 tiles), "vnni"
        (AVX512-VNNI vpdpbusd), "avx2" (AVX2 vpmaddwd on i16 pairs)."""
        out = []
        if self.has("amx-tile", "amx-int8", "avx512vnni") and amx_permitted():
            out.append("amx")
        if self.has("avx512vnni", "avx512bw"):
            out.append("vnni")
        if self.has("avx2"):
            out.append("avx2")
        return out

    def key(self) -> str:
        return f"{self.triple}|{self.cpu}|{self.features}|llvmlite {llvmlite.__version__}"

    def machine(self, opt: int = 3) -> llvm.TargetMachine:
        _init()
        target = llvm.Target.from_triple(self.triple)
        return target.create_target_machine(cpu=self.cpu, features=self.features, opt=opt, jit=True,
                                            reloc="pic", codemodel="jitdefault")


@functools.cache
def host() -> Target:
    _init()
    feats = llvm.get_host_cpu_features()
    enabled = {k for k, v in feats.items() if v}
    flat = feats.flatten()
    if "avx512f" in enabled:
        bits = 512
        # LLVM prefers 256-bit vectors on several AVX-512 CPUs; our kernels want the full width
        flat += ",-prefer-256-bit,+prefer-no-gather"
    elif "avx2" in enabled or "avx" in enabled:
        bits = 256
    else:
        bits = 128
    return Target(llvm.get_process_triple(), llvm.get_host_cpu_name(), flat, bits)


_AMX_LOCK = threading.Lock()
_AMX: bool | None = None
AMX_DENIED = ""  # why the tile state was refused, if it was


def amx_permitted() -> bool:
    """Ask Linux once per process for the AMX tile state (arch_prctl ARCH_REQ_XCOMP_PERM,
    XFEATURE_XTILEDATA): without it the first tile instruction is SIGILL."""
    global _AMX, AMX_DENIED
    with _AMX_LOCK:
        if _AMX is None:
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                rc = libc.syscall(158, 0x1023, 18)  # SYS_arch_prctl (x86-64), ARCH_REQ_XCOMP_PERM, XTILEDATA
                _AMX = rc == 0
                if not _AMX:
                    AMX_DENIED = f"arch_prctl(ARCH_REQ_XCOMP_PERM) failed with errno {ctypes.get_errno()}"
            except (OSError, AttributeError) as e:
                _AMX, AMX_DENIED = False, f"cannot ask for the AMX tile state: {e}"
        return _AMX
