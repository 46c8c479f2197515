"""Execution: the numpy reference interpreter, the JIT engine and compiled models."""
