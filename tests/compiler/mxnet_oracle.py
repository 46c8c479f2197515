"""MXNet as the oracle of the MXNet frontend tests: MXNet 1.9.1 (the last release) needs
numpy < 1.24 and Python <= 3.11, so it lives in a virtualenv of its own, made once with pip
and reused: $OVCC_MXNET_VENV, by default ~/.cache/ovcc/mxnet-venv. `build_models(folder)` runs
tests/compiler/mxnet_build_models.py there, which exports the test models into `folder` with
MXNet's outputs for seeded inputs. When the virtualenv cannot be made (no network, no Python
3.11), `MxnetUnavailable` says why and the tests skip with that reason."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

PINS = ["mxnet==1.9.1", "numpy<1.24"]
SCRIPT = Path(__file__).with_name("mxnet_build_models.py")


class MxnetUnavailable(Exception):
    pass


def venv_dir() -> Path:
    return Path(os.environ.get("OVCC_MXNET_VENV") or Path.home() / ".cache" / "ovcc" / "mxnet-venv")


def _base_python() -> str:
    if sys.version_info[:2] <= (3, 11):
        return getattr(sys, "_base_executable", None) or sys.executable
    found = shutil.which("python3.11")
    if found is None:
        raise MxnetUnavailable("MXNet 1.9.1 needs Python <= 3.11 (numpy < 1.24), and no python3.11 is on PATH")
    return found


def _run(cmd: list[str], timeout: float, what: str) -> None:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise MxnetUnavailable(f"{what} failed: {e}") from e
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or [""]
        raise MxnetUnavailable(f"{what} failed (exit {r.returncode}): {tail[0]}")


def ensure_venv() -> Path:
    """The virtualenv's python, made on first use (a lock keeps parallel test workers from
    making it twice)."""
    venv = venv_dir()
    python = venv / "bin" / "python"
    stamp = venv / ".ovcc-ready"
    if stamp.is_file() and python.exists():
        return python
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / (venv.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.is_file() and python.exists():
            return python
        shutil.rmtree(venv, ignore_errors=True)
        _run([_base_python(), "-m", "venv", str(venv)], 300, "creating the MXNet virtualenv")
        _run([str(python), "-m", "pip", "install", "-q", *PINS], 1200, f"pip install {' '.join(PINS)}")
        _run([str(python), "-c", "import mxnet"], 120, "importing mxnet in its virtualenv")
        stamp.write_text(" ".join(PINS) + "\n")
    return python


def build_models(folder: Path) -> Path:
    python = ensure_venv()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MXNET_ENGINE_TYPE": "NaiveEngine", "PYTHONWARNINGS": "ignore"}
    env.pop("PYTHONPATH", None)
    r = subprocess.run([str(python), str(SCRIPT), str(folder)], capture_output=True, text=True, timeout=600, env=env)
    if r.returncode != 0:  # MXNet runs but the script fails: a test bug, not a reason to skip
        raise RuntimeError(f"{SCRIPT.name} failed:\n{r.stderr[-4000:]}")
    return folder


if __name__ == "__main__":  # make the virtualenv ahead of the tests: python -m tests.compiler.mxnet_oracle
    print(ensure_venv())
