"""MXNet as the oracle of the MXNet frontend tests: MXNet 1.9.1 (the last release) needs
numpy < 1.24 and Python <= 3.11, so it lives in a virtualenv of its own, made once with pip
and reused: $OVCC_MXNET_VENV, by default ~/.cache/ovcc/mxnet-venv. `build_models(folder)` runs
tests/compiler/mxnet_build_models.py there, which exports the test models into `folder` with
MXNet's outputs for seeded inputs.

The small models are committed, built this way, in tests/data/mxnet (FIXTURES; `make
mxnet-fixtures` rewrites them: python -m tests.compiler.mxnet_oracle --fixtures), so their tests
need no MXNet; the model-zoo networks are built live. The tests make the default virtualenv on
first use; one named by $OVCC_MXNET_VENV only `python -m tests.compiler.mxnet_oracle` makes
(`make mxnet-oracle`), so OVCC_MXNET_VENV=/nonexistent turns the live oracle off at once. When
there is no virtualenv and it cannot be made (no network, no Python 3.11), `MxnetUnavailable`
says why and the tests skip with that reason."""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PINS = ["mxnet==1.9.1", "numpy<1.24"]
SCRIPT = Path(__file__).with_name("mxnet_build_models.py")
FIXTURES = Path(__file__).parents[1] / "data" / "mxnet"


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


def ensure_venv(create: bool | None = None) -> Path:
    """The virtualenv's python, made on first use (a lock keeps parallel test workers from
    making it twice). `create` None: only the default virtualenv is made, not $OVCC_MXNET_VENV."""
    venv = venv_dir()
    python = venv / "bin" / "python"
    stamp = venv / ".ovcc-ready"
    if stamp.is_file() and python.exists():
        return python
    if create is False or (create is None and os.environ.get("OVCC_MXNET_VENV")):
        raise MxnetUnavailable(f"no MXNet virtualenv at {venv} ($OVCC_MXNET_VENV); "
                               "`make mxnet-oracle` makes it")
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


def build_models(folder: Path, fixtures: bool = False, create: bool | None = None) -> Path:
    """Every test model into `folder`, or with `fixtures` the committed set (no model zoo)."""
    python = ensure_venv(create)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MXNET_ENGINE_TYPE": "NaiveEngine", "PYTHONWARNINGS": "ignore"}
    env.pop("PYTHONPATH", None)
    cmd = [str(python), str(SCRIPT), str(folder)] + (["--fixtures"] if fixtures else [])
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    if r.returncode != 0:  # MXNet runs but the script fails: a test bug, not a reason to skip
        raise RuntimeError(f"{SCRIPT.name} failed:\n{r.stderr[-4000:]}")
    return folder


def write_fixtures(folder: Path = FIXTURES) -> None:
    """Rebuild the committed set in `folder`: its old models (*-symbol.json, *.params, *.npz) are
    replaced; other files (README.md) stay."""
    with tempfile.TemporaryDirectory() as tmp:
        build_models(Path(tmp), fixtures=True, create=True)
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            if old.name.endswith(("-symbol.json", ".params", ".npz")):
                old.unlink()
        for new in sorted(Path(tmp).iterdir()):
            shutil.copyfile(new, folder / new.name)
            print(folder / new.name)


if __name__ == "__main__":  # python -m tests.compiler.mxnet_oracle [--fixtures [DIR]]
    cli = argparse.ArgumentParser(description="Make MXNet's virtualenv; with --fixtures, rewrite the "
                                              "committed MXNet test models.")
    cli.add_argument("--fixtures", nargs="?", const=FIXTURES, type=Path, metavar="DIR")
    args = cli.parse_args()
    try:
        print(ensure_venv(create=True))
        if args.fixtures is not None:
            write_fixtures(args.fixtures)
    except MxnetUnavailable as e:
        sys.exit(f"MXNet oracle unavailable: {e}")
