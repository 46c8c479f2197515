"""The one place that decides what the host CPU can do: LLVM's name for it, its features, and
the vector width the kernels are generated for. Read at run time, never hard-coded."""

from __future__ import annotations

import functools
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
