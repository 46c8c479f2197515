"""The differential fuzzer, derandomized: a fixed set of seeded random graphs of elementwise
and reduction ops (generate.py) runs on native code at O0 and O2 and on the REFERENCE
interpreter, each node output matching ONNX Runtime's (oracle.py). No graph may crash, go
wrong, be refused (every op generated is supported) or be invalid.
A longer random run, shrinking what fails into tests/fuzz/regressions/: `make fuzz`."""

import warnings

import pytest

from tests.fuzz.generate import OPS, generate
from tests.fuzz.oracle import run_spec

SEED = 19
CHUNKS, PER_CHUNK = 8, 90  # 720 graphs: about 60 s on one core, 7 s a chunk


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_random_graphs_match_onnx_runtime(chunk):
    bad = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(chunk * PER_CHUNK, (chunk + 1) * PER_CHUNK):
            o = run_spec(generate([SEED, i]))
            if o.failed:
                bad.append(f"[{SEED}, {i}] {o.status} {o.device}: {o.detail[:600]}")
    assert not bad, "\n".join(bad) + "\n(shrink with: python -m tests.fuzz.run --seed 19 --start I --count 1)"


def test_the_seeded_graphs_cover_every_op():
    """Generation alone (cheap): every op of the list appears in the CI graphs."""
    seen = {n["op"] for i in range(CHUNKS * PER_CHUNK) for n in generate([SEED, i])["nodes"]}
    assert seen == set(OPS), sorted(set(OPS) - seen)
