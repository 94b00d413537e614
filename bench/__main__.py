"""`python -m bench [--workloads W1,W3] [--peers P,Q] [--repeat N] [--scale S] [--json PATH]`:
the CPU-backend milestone's workloads, every peer side by side in one process.

Each peer's result is checked against numpy before it is timed; a peer that disagrees, or fails
to build, is reported and not timed (the exit status is then 1). Compiled peers also report
their first call (compile included) and, for W1, cold and warm compiles in fresh processes.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys

import numpy as np

from bench import compile_probe, peers, workloads
from bench.harness import Result, measure, table

BASELINES = ("numpy", "torch eager")


def _note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_workload(w: workloads.Workload, names: list[str], repeat: int, report: dict):
    """Build, check and time the peers of one workload; record the checks in `report`."""
    built, skipped, failed = w.peers(names)
    for name, why in skipped.items():
        if name not in report["skipped"]:
            report["skipped"][name] = why
            _note(f"bench: skipping {name}: {why}")
    for name, error in failed.items():
        report["failed"][f"{w.name} / {name}"] = error
        _note(f"bench: {w.name}: {name} failed to build: {error}")
    reference = w.reference()
    checks, timed = {}, {}
    for name, peer in built.items():
        ok, error = peers.max_error(w, peer, reference)
        checks[name] = {"verified": ok, "max_abs_err": error}
        if ok:
            timed[name] = peer.call
        else:
            report["failed"][f"{w.name} / {name}"] = f"differs from numpy by {error:.3g}"
            _note(f"bench: {w.name}: {name} differs from numpy by {error:.3g}; not timing it")
    report["workloads"].append({"id": w.id, "name": w.name, "tolerance": w.tol,
                                "checks": checks})
    first = [Result(w.name, name, p.first_call_s, [p.first_call_s], kind="first call")
             for name, p in built.items() if p.first_call_s is not None and name in timed]
    return measure(w.name, timed, repeat) + first


def _machine() -> dict:
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for name in ("torch", "jax"):
        module = sys.modules.get(name)
        versions[name] = getattr(module, "__version__", None)
    return {"platform": platform.platform(), "processor": platform.machine(), **versions}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", help="comma list of W1..W5 (default: all)")
    parser.add_argument("--peers", help=f"comma list of peers (default: all of "
                                        f"{', '.join(peers.PEERS)})")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per peer (median)")
    parser.add_argument("--scale", type=float, default=1.0, help="size multiplier")
    parser.add_argument("--no-compile-probe", action="store_true",
                        help="skip W1's cold and warm compiles in fresh processes")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    try:
        ids, names = workloads.select(args.workloads), peers.select(args.peers)
    except ValueError as e:
        parser.error(str(e))
    report = {"argv": sys.argv[1:] if argv is None else list(argv), "scale": args.scale,
              "repeat": args.repeat, "peers": names, "skipped": {}, "failed": {},
              "workloads": []}
    results: list[Result] = []
    for wid in ids:
        for build in workloads.WORKLOADS[wid]:
            w = build(args.scale)
            _note(f"measuring {w.name} ...")
            results += run_workload(w, names, args.repeat, report)
    if "W1" in ids and not args.no_compile_probe:
        compiled = [n for n in names if n in peers.COMPILED and n not in report["skipped"]]
        _note(f"measuring W1 cold and warm compiles in fresh processes: {', '.join(compiled)}")
        probed, failed = compile_probe.measure_compiles("W1", compiled, args.scale, args.repeat)
        results += probed
        for name, error in failed.items():
            report["failed"][f"W1 compile probe / {name}"] = error
            _note(f"bench: W1 compile probe: {name} failed: {error}")
    print(table(results, baselines=BASELINES))
    for name, why in report["skipped"].items():
        print(f"skipped {name}: {why}")
    report["machine"] = _machine()
    report["results"] = [r.to_json() for r in results]
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
