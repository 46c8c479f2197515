"""Progress bars of the compile phases: none with OVCC_PROGRESS=0, on a stderr that is not a
terminal, or for phases shorter than the delay; on a (fake) terminal a bar per phase, drawn
for a step that makes no progress once the delay has passed."""

from __future__ import annotations

import sys
import time

import numpy as np
from onnx import helper

import compiler as ov
from runtime.progress import phase, progress
from tests.models import F32, make_model


def _compile() -> None:
    nodes = [helper.make_node("Relu", ["x"], ["y"])]
    model = ov.convert_model(make_model(nodes, [("x", np.float32, [2, 3])], [("y", np.float32, None)]))
    ov.compile_model(model, "CPU", {**F32, "CACHE_DIR": ""})  # no cache: LLVM runs


def _tty(monkeypatch) -> None:
    """A stderr that says it is a terminal (patched in the test itself: capsys's stderr during
    the test is another object than during fixture setup)."""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    monkeypatch.delenv("OVCC_PROGRESS", raising=False)


def test_a_bar_per_phase_when_forced(monkeypatch, capsys):
    _tty(monkeypatch)
    monkeypatch.setenv("OVCC_PROGRESS_DELAY", "0")
    _compile()
    err = capsys.readouterr().err
    for name in ("convert", "optimize", "lower", "LLVM"):
        assert f"{name}: 100%" in err, err


def test_ovcc_progress_0_prints_nothing(monkeypatch, capsys):
    _tty(monkeypatch)
    monkeypatch.setenv("OVCC_PROGRESS_DELAY", "0")
    monkeypatch.setenv("OVCC_PROGRESS", "0")
    _compile()
    assert capsys.readouterr().err == ""


def test_no_bar_off_a_terminal_or_for_a_short_phase(monkeypatch, capsys):
    _tty(monkeypatch)
    _compile()  # a terminal, but every phase ends well before the 2 s delay
    monkeypatch.setenv("OVCC_PROGRESS_DELAY", "0")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    _compile()
    assert capsys.readouterr().err == ""


def test_a_long_step_is_drawn_after_the_delay(monkeypatch, capsys):
    _tty(monkeypatch)
    monkeypatch.setenv("OVCC_PROGRESS_DELAY", "0.05")
    with phase("LLVM") as bar:
        assert bar is not None
        time.sleep(0.4)  # one opaque call: the timer thread draws the bar meanwhile
        assert bar.bar is not None
    assert "LLVM: 100%" in capsys.readouterr().err


def test_calibration_bar_only_on_a_terminal(monkeypatch):
    steps = range(3)
    assert progress(steps, 3, "calibration") is steps  # pytest's stderr is not a terminal
    _tty(monkeypatch)
    assert progress(steps, 3, "calibration") is not steps
    monkeypatch.setenv("OVCC_PROGRESS", "0")
    assert progress(steps, 3, "calibration") is steps
