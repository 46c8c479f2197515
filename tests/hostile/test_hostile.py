"""Hostile inputs: every reader, fed the seeded corpus of broken and malicious files (see
corpus.py), refuses each with an OvccError naming the file (the driver's exit code 1), or,
for a mutation that left the file valid, converts, compiles and runs it; no case crashes its
worker, hangs, blows up its memory, exits as an internal error or runs code from a pickle.
A larger random run: `make fuzz-readers`."""

import numpy as np

from tests.hostile.corpus import generate
from tests.hostile.runner import run, summary

SEED = 19


def test_the_seeded_hostile_corpus_is_refused_cleanly(tmp_path):
    cases = generate(tmp_path, np.random.default_rng(SEED))
    assert len(cases) >= 300 and len({c.family for c in cases}) == 5
    outcomes = run(cases, tmp_path, workers=2, log_path=tmp_path / "workers.log")
    print(summary(outcomes))
    bad = [o for o in outcomes if not o.good]
    assert not bad, summary(outcomes)
    # the deliberately broken files are refused, not accepted
    assert all(o.verdict == "refused" for o in outcomes if o.case.must_fail)
