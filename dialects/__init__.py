"""IR definitions: the high-level `ov` dialect and the loop-level `loops` dialect."""
