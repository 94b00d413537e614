"""Command line: python -m tests.fuzz.api_fuzz --programs 10000 --modes eager,trace,script,saveload
--jobs 2 --seed 0 [--out results.json] [--backend llvm|eager]; `--modes compile` runs
tracejit.compile (30% of its programs with graph breaks injected)."""

from __future__ import annotations

import argparse
import json
import sys

from .driver import format_failures, format_table, run


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.fuzz.api_fuzz", description=__doc__)
    ap.add_argument("--programs", type=int, default=1000)
    ap.add_argument("--modes", default="eager,trace,script,saveload")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backend", default="llvm", choices=["llvm", "eager"])
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds per program and mode")
    ap.add_argument("--shrink-budget", type=int, default=250, help="tries per failure")
    ap.add_argument("--out", help="write the full report (table, repros) as JSON here")
    a = ap.parse_args(argv)
    report = run(a.programs, a.modes.split(","), a.jobs, a.seed, a.backend, a.timeout,
                 a.shrink_budget, log=lambda s: print(s, file=sys.stderr))
    print(format_table(report))
    print(f"\n{a.programs} programs x {len(report['modes'])} modes in {report['wall_s']:.0f}s "
          f"wall ({a.jobs} jobs); {len(report['failures'])} distinct failure signatures\n")
    print(format_failures(report))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(report, f, indent=1)
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
