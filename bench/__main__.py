"""`python -m bench [--repeat N] [--json PATH] [--scale S]`: eager workloads side by side."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from bench import eager
from bench.harness import measure, table


def _check(name, reference, candidate, tol):
    got = np.asarray(candidate())
    want = reference()
    if not np.allclose(got, want, rtol=tol, atol=tol):
        raise SystemExit(f"bench: {name}: result differs from numpy; not timing it")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per peer (median)")
    parser.add_argument("--scale", type=float, default=1.0, help="size multiplier")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    results = []
    for name, np_fn, tj_fn, torch_fn, tol in eager.workloads(args.scale):
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        peers = {"numpy": np_fn, "tracejit eager": tj_fn}
        _check(name, np_fn, tj_fn, tol)
        if torch_fn is not None:
            _check(name, np_fn, torch_fn, tol)
            peers["torch eager"] = torch_fn
        results += measure(name, peers, args.repeat)
    print(table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([r.__dict__ for r in results], f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
