"""Progress bars on stderr (tqdm's) for long work: calibration, and the phases of converting and
compiling a model (convert, optimize, lower, LLVM). Drawn only when stderr is a terminal,
OVCC_PROGRESS is not "0" and tqdm is installed; a phase's bar appears only once the phase has
run for DELAY seconds, so a short compilation prints nothing and pays one clock read per step.
A phase that makes no steps for long (one LLVM call) still shows its elapsed time: a timer
thread draws the bar."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

DELAY = 2.0  # seconds a phase runs before its bar appears (OVCC_PROGRESS_DELAY overrides)
REFRESH = 0.5  # seconds between redraws of a phase's bar


def enabled() -> bool:
    if os.environ.get("OVCC_PROGRESS", "1") == "0" or not sys.stderr.isatty():
        return False
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True


def progress(it: Iterable, total: int, desc: str) -> Iterable:
    """`it`, with a bar of `total` steps when bars are enabled."""
    if not enabled():
        return it
    from tqdm import tqdm

    return tqdm(it, total=total, desc=desc, file=sys.stderr)


class Phase:
    """The bar of one phase of `total` steps: `step()` after each; drawn after `delay` s."""

    def __init__(self, name: str, total: int, delay: float):
        self.name, self.total = name, total
        self.start = time.perf_counter()
        self.done = 0
        self.bar: Any = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None
        if delay <= 0:
            self._draw()
        else:
            self._timer = threading.Thread(target=self._tick, args=(delay,), daemon=True, name="ovcc-progress")
            self._timer.start()

    def _draw(self) -> None:
        from tqdm import tqdm

        with self._lock:
            if self.bar is None:
                self.bar = tqdm(total=self.total, initial=self.done, desc=self.name, file=sys.stderr, leave=True)
                self.bar.start_t -= time.perf_counter() - self.start  # the elapsed time of the whole phase
            else:
                self.bar.refresh()

    def _tick(self, delay: float) -> None:
        if self._stop.wait(delay):
            return
        while True:
            self._draw()
            if self._stop.wait(REFRESH):
                return

    def step(self, label: str = "", total: int | None = None) -> None:
        """One step done (`label` shown beside the bar); `total` corrects the step count."""
        with self._lock:
            self.done += 1
            if total is not None:
                self.total = total
            if self.bar is not None:
                self.bar.total = self.total
                if label:
                    self.bar.set_postfix_str(label, refresh=False)
                self.bar.update(1)

    def close(self) -> None:
        self._stop.set()
        if self._timer is not None:
            self._timer.join()
        if self.bar is not None:
            self.bar.close()


@contextmanager
def phase(name: str, total: int = 1) -> Iterator[Phase | None]:
    """A bar for the work inside the `with` (None when bars are disabled); a phase of one
    step counts its step on leaving."""
    if not enabled():
        yield None
        return
    bar = Phase(name, total, float(os.environ.get("OVCC_PROGRESS_DELAY", DELAY)))
    try:
        yield bar
        if total == 1 and bar.done == 0:
            bar.step()
    finally:
        bar.close()
