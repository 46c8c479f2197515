"""Runs hostile-input cases in worker subprocesses and judges how each ended.

A worker (`python -m tests.hostile.runner --worker ROOT`) takes cases one per line on stdin,
runs each through the `ovcc` driver (`compiler.cli.main`, which converts and writes IR) and,
when that succeeds, reads the IR back and compiles and runs it natively; it reports a line
before and after each case, so the case that kills a worker is known. Workers limit their own
address space (RLIMIT_AS) and CPU time; the parent kills a worker whose case exceeds the time
limit and starts a new one for the rest.

    python -m tests.hostile.runner                      # the seeded corpus CI runs
    python -m tests.hostile.runner --seed random --scale 5    # a larger random run (make fuzz-readers)"""

from __future__ import annotations

import argparse
import json
import os
import queue
import secrets
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tests.hostile.corpus import FAMILIES, MARKER, Case, generate

REPO = Path(__file__).resolve().parents[2]
TIME_LIMIT = 60.0  # seconds per case, imports of the frameworks included
MEMORY_LIMIT = 6 << 30  # bytes of address space per worker (TensorFlow alone maps ~2 GiB)

# How a case may end: refused with an OvccError naming the file, or (for a mutation that left
# the file valid) converted, compiled and run.
GOOD = ("refused", "ok")


@dataclass
class Outcome:
    case: Case
    verdict: str  # refused, ok, accepted-broken, unnamed, wrapped-bug, internal, compile-error, crash, hang, executed
    detail: str = ""

    @property
    def good(self) -> bool:
        return self.verdict == "refused" or (self.verdict == "ok" and not self.case.must_fail)


# --- worker side ---------------------------------------------------------------------------

def _limit_self(memory: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _run_one(root: Path, name: str, entry: str, out_dir: Path) -> dict:
    import contextlib
    import io

    import numpy as np

    path = root / name / entry
    err = io.StringIO()
    out = out_dir / "out.xml"
    from compiler import cli

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = cli.main([str(path), "--output_model", str(out)])
    msg = err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else ""
    import compiler as ov

    if path.suffix == ".pt" and code == 1 and "example_input" in msg:
        # the driver cannot trace TorchScript; the API can, given an example input
        try:
            ov.save_model(ov.convert_model(path, example_input=np.zeros((1, 3, 8, 8), np.float32)), out)
            code, msg = 0, ""
        except ov.OvccError as e:
            code, msg = 1, f"ovcc: error: {e}"
        except Exception as e:  # noqa: BLE001 - what the driver would call an internal error
            code, msg = 3, f"ovcc: internal error: {type(e).__name__}: {e}"
    result = {"code": code, "msg": msg[:500]}
    if code == 0:
        try:
            compiled = ov.compile_model(ov.read_model(out), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
            shapes = [p.shape for p in compiled.inputs]
            # run it on zeros when its inputs are static and of a sane size (a valid file may ask for 1 TiB)
            if all(d is not None for s in shapes for d in s) and sum(int(np.prod(s)) for s in shapes) < 1 << 24:
                compiled([np.zeros(p.shape, p.dtype) for p in compiled.inputs])
            result["compile"] = "ok"
        except ov.OvccError as e:
            result["compile"] = f"error: {type(e).__name__}: {e}"[:500]
        except Exception as e:  # noqa: BLE001
            result["compile"] = f"internal: {type(e).__name__}: {e}"[:500]
    result["executed"] = (root / name / MARKER).exists()
    return result


def worker(root: Path, memory: int) -> None:
    _limit_self(memory)
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # frameworks' own prints must not reach the protocol pipe
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import warnings

    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as out_dir:
        for line in sys.stdin:
            job = json.loads(line)
            proto.write(f"S {job['i']}\n")
            result = _run_one(root, job["name"], job["entry"], Path(out_dir))
            proto.write("R " + json.dumps({"i": job["i"], **result}) + "\n")


# --- parent side ---------------------------------------------------------------------------

class _Worker:
    def __init__(self, root: Path, memory: int, log):
        env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.hostile.runner", "--worker", str(root),
                                      "--memory", str(memory)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=log, cwd=str(REPO), env=env, start_new_session=True)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)
        self.buf = b""

    def send(self, job: dict) -> None:
        self.proc.stdin.write((json.dumps(job) + "\n").encode())
        self.proc.stdin.flush()

    def line(self, deadline: float) -> str | None:
        """The next protocol line, or None on a timeout or when the worker is gone."""
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not self.sel.select(left):
                return None
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def kill(self) -> str:
        """Stop the worker; how it ended (signal name or exit code)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        rc = self.proc.wait()
        return signal.Signals(-rc).name if rc < 0 else f"exit code {rc}"


# A refusal that quotes one of these is a bug of ours wrapped into an OvccError, not a refusal.
PYTHON_BUGS = ("TypeError", "KeyError", "IndexError", "AttributeError", "AssertionError", "ZeroDivisionError",
               "RecursionError", "MemoryError", "OverflowError", "NameError", "UnboundLocalError",
               "NotImplementedError", "conversion failed:")
# ... unless the framework's own loader raised it, on its own file format
LIBRARY_LOADERS = ("not a valid torch.export program (", "cannot load TorchScript (", "cannot load the SavedModel (",
                   "cannot load the Keras model (", "not a valid ONNX model (", "not a valid TensorFlow GraphDef (",
                   "corrupt TensorFlow Lite flatbuffer (")


def _judge(case: Case, root: Path, r: dict) -> Outcome:
    path = str(root / case.name / case.entry)
    if r["executed"]:
        return Outcome(case, "executed", "a pickle in the file ran code")
    if r["code"] == 1:
        if any(b in r["msg"] for b in PYTHON_BUGS) and not any(w in r["msg"] for w in LIBRARY_LOADERS):
            return Outcome(case, "wrapped-bug", r["msg"])
        named = path in r["msg"] or str(Path(path).parent) in r["msg"]
        return Outcome(case, "refused" if named else "unnamed", r["msg"])
    if r["code"] != 0:
        return Outcome(case, "internal", r["msg"])
    if r.get("compile") != "ok":  # a model that converted must compile and run
        return Outcome(case, "compile-error", r.get("compile", ""))
    return Outcome(case, "accepted-broken" if case.must_fail else "ok")


def run(cases: list[Case], root: Path, workers: int = 2, time_limit: float = TIME_LIMIT,
        memory: int = MEMORY_LIMIT, log_path: Path | None = None) -> list[Outcome]:
    """Every case's outcome, in the order of `cases`."""
    jobs: queue.Queue = queue.Queue()
    for i in range(len(cases)):
        jobs.put(i)
    outcomes: dict[int, Outcome] = {}
    log = open(log_path or os.devnull, "ab")

    def drive():
        w = None
        while True:
            try:
                i = jobs.get_nowait()
            except queue.Empty:
                break
            case = cases[i]
            if w is None:
                w = _Worker(root, memory, log)
            w.send({"i": i, "name": case.name, "entry": case.entry})
            deadline = time.monotonic() + time_limit
            started = w.line(deadline)
            done = w.line(deadline) if started is not None else None
            if done is None or not done.startswith("R "):
                timed_out = time.monotonic() >= deadline
                how = w.kill()
                outcomes[i] = Outcome(case, "hang" if timed_out else "crash",
                                      f"over {time_limit:.0f} s" if timed_out else f"worker died ({how})")
                w = None
                continue
            outcomes[i] = _judge(case, root, json.loads(done[2:]))
        if w is not None:
            w.proc.stdin.close()
            w.proc.wait()

    threads = [threading.Thread(target=drive) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    return [outcomes[i] for i in range(len(cases))]


def summary(outcomes: list[Outcome]) -> str:
    by = Counter(o.verdict for o in outcomes)
    fams = Counter(o.case.family for o in outcomes)
    lines = [f"{len(outcomes)} cases ({', '.join(f'{f} {n}' for f, n in fams.items())}): "
             + ", ".join(f"{k} {v}" for k, v in sorted(by.items()))]
    for k in ("crash", "hang", "internal", "executed"):
        lines.append(f"  {k}: {by.get(k, 0)}")
    for o in outcomes:
        if not o.good:
            lines.append(f"  BAD {o.verdict:<15} {o.case.name}: {o.detail[:300]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worker", metavar="ROOT", help=argparse.SUPPRESS)
    p.add_argument("--memory", type=int, default=MEMORY_LIMIT, help="address-space limit per worker (bytes)")
    p.add_argument("--seed", default="19", help="corpus seed, or 'random'")
    p.add_argument("--scale", type=int, default=1, help="multiplies the number of random mutations")
    p.add_argument("--families", default=",".join(FAMILIES))
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--keep", metavar="DIR", help="write the corpus here and keep it")
    args = p.parse_args(argv)
    if args.worker:
        worker(Path(args.worker), args.memory)
        return 0
    import numpy as np

    seed = secrets.randbits(32) if args.seed == "random" else int(args.seed)
    root = Path(args.keep or tempfile.mkdtemp(prefix="ovcc-hostile-"))
    t0 = time.monotonic()
    cases = generate(root, np.random.default_rng(seed), args.scale, args.families.split(","))
    outcomes = run(cases, root, args.workers, memory=args.memory, log_path=root / "workers.log")
    print(f"seed {seed}, corpus in {root}, {time.monotonic() - t0:.0f} s")
    print(summary(outcomes))
    return 0 if all(o.good for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
