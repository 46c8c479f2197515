"""Emitters: the loop dialect to native code through LLVM (llvmlite), and the `ov` dialect
to OpenVINO IR (.xml + .bin)."""
