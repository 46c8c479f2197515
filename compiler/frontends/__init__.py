"""Frontends: each turns a framework's model into a module of the `ov` dialect."""
