"""Every shrunk failure the fuzzer found (tests/fuzz/regressions/*.json) replayed: it must now
pass, or it is an open bug marked there with "xfail": "reason" (strict: fixing it fails the
test until the mark is removed)."""

import json
import warnings
from pathlib import Path

import pytest

from tests.fuzz.oracle import run_spec

FILES = sorted((Path(__file__).parent / "regressions").glob("*.json"))


def _param(path):
    case = json.loads(path.read_text())
    marks = [pytest.mark.xfail(strict=True, reason=case["xfail"])] if case.get("xfail") else []
    return pytest.param(case, id=path.stem, marks=marks)


@pytest.mark.parametrize("case", [_param(p) for p in FILES])
def test_regression(case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        o = run_spec(case["spec"])
    assert not o.failed, f"{o.status} {o.device}: {o.detail}"
