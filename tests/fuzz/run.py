"""A longer random run of the differential fuzzer (`make fuzz`): graphs generated from one seed,
each run in a worker process (a crash of native code kills the worker, not the run), counts
printed, and each failure shrunk and written to tests/fuzz/regressions/.

    python -m tests.fuzz.run --seed random --count 500
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures as cf
import secrets
import sys
import time
from pathlib import Path

from tests.fuzz.generate import generate
from tests.fuzz.shrink import REGRESSIONS, save


def _one(seed: list[int], do_shrink: bool) -> dict:
    import warnings

    from tests.fuzz.oracle import run_spec
    from tests.fuzz.shrink import shrink

    warnings.simplefilter("ignore")
    spec = generate(seed)
    o = run_spec(spec)
    out = {"status": o.status, "device": o.device, "detail": o.detail, "refusals": o.refusals,
           "ops": [n["op"] for n in spec["nodes"]], "spec": spec}
    if o.failed:
        small, so = shrink(spec, o) if do_shrink else (spec, o)
        out.update(spec=small, detail=so.detail, device=so.device, status=so.status)
    return out


class Counts:
    def __init__(self):
        self.status = collections.Counter()
        self.ops = collections.Counter()
        self.bad_by_device = collections.Counter()
        self.refusals = collections.Counter()
        self.failures: list[tuple[list[int], dict]] = []

    def add(self, seed, r: dict) -> None:
        self.status[r["status"]] += 1
        self.ops.update(r["ops"])
        for dev, msg in r["refusals"].items():
            self.refusals[f"{dev}: {msg[:120]}"] += 1
        if r["status"] != "ok":
            self.bad_by_device[f"{r['status']} {r['device']}"] += 1
            self.failures.append((seed, r))

    def report(self, elapsed: float) -> str:
        from tests.fuzz.generate import OPS

        lines = [f"graphs run: {sum(self.status.values())} in {elapsed:.0f} s; " +
                 ", ".join(f"{k}: {v}" for k, v in sorted(self.status.items())),
                 f"ops covered: {len(self.ops)}/{len(OPS)} ({sum(self.ops.values())} nodes); "
                 f"not generated: {sorted(set(OPS) - set(self.ops)) or 'none'}",
                 "per op: " + ", ".join(f"{k} {v}" for k, v in sorted(self.ops.items())),
                 f"failures by device: {dict(self.bad_by_device) or 'none'}"]
        lines += [f"refusal x{n}: {m}" for m, n in self.refusals.most_common(20)]
        for seed, r in self.failures:
            lines.append(f"FAIL {seed} {r['status']} {r['device']}: {r['detail'][:400]}")
        return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", default="random", help="an integer, or 'random'")
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--out", type=Path, default=REGRESSIONS, help="where shrunk failures are written")
    ap.add_argument("--no-shrink", action="store_true")
    args = ap.parse_args(argv)
    seed = secrets.randbelow(2 ** 31) if args.seed == "random" else int(args.seed)
    print(f"seed {seed}, {args.count} graphs", flush=True)
    counts, t0 = Counts(), time.time()
    pool = cf.ProcessPoolExecutor(1)
    for i in range(args.start, args.start + args.count):
        s = [seed, i]
        try:
            r = pool.submit(_one, s, not args.no_shrink).result(timeout=600)
        except Exception as e:  # noqa: BLE001 - the worker died (native code crashed), hung, or the fuzzer broke
            pool.shutdown(wait=False, cancel_futures=True)
            pool = cf.ProcessPoolExecutor(1)
            spec = generate(s)
            r = {"status": "crash", "device": "process", "detail": f"worker died or raised: {type(e).__name__}: {e}",
                 "refusals": {}, "ops": [n["op"] for n in spec["nodes"]], "spec": spec}
        counts.add(s, r)
        if r["status"] != "ok":
            path = save(r["spec"], r["status"], f"{r['device']}: {r['detail']}", s, args.out)
            print(f"{s}: {r['status']} {r['device']} -> {path}", flush=True)
        if (i + 1 - args.start) % 100 == 0:
            print(f"... {i + 1 - args.start} graphs, {dict(counts.status)}", flush=True)
    pool.shutdown()
    print(counts.report(time.time() - t0))
    return 1 if counts.failures else 0


if __name__ == "__main__":
    sys.exit(main())
