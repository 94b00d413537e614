"""`python -m bench [--workloads W1,W3] [--peers P,Q] [--repeat N] [--scale S] [--json PATH]`
(also `tracejit bench ...`): the CPU-backend milestone's workloads, every installed peer side by
side in one process, and the memory-bandwidth yardstick measured in the same run.

Each peer's result is checked against numpy before it is timed; a peer that disagrees, or fails
to build, is reported and not timed (the exit status is then 1). Timed runs interleave the peers
(bench/harness.py). Compiled peers also report their first call (compile included) and, for W1,
cold and warm compiles in fresh processes (bench/compile_probe.py). Progress goes to stderr,
the table to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys

import numpy as np

from bench import compile_probe, peers, workloads
from bench.harness import PER_CALL, Result, measure, table
from bench.progress import Progress

BASELINES = ("numpy", "torch eager")


def available_peers(names: list[str], progress: Progress) -> tuple[list[str], dict[str, str]]:
    """The peers of `names` whose framework imports here, and {peer: why} for the others."""
    found, skipped = [], {}
    for name in names:
        try:
            peers.import_framework(name)
            found.append(name)
        except peers.PeerUnavailable as e:
            skipped[name] = str(e)
            if not progress.quiet:  # the table's footer says it again
                progress.note(f"bench: skipping {name}: {e}")
    return found, skipped


def run_workload(w: workloads.Workload, names: list[str], repeat: int, report: dict,
                 progress: Progress) -> list[Result]:
    """Build, check and time the peers of one workload; record the checks in `report`."""
    built = {}
    for name in names:
        if name in w.not_run:  # Python control flow on tensor values, say (W7)
            progress.step(f"{w.name}: {name} (not run)")
            report["not_run"][f"{w.name} / {name}"] = w.not_run[name]
            continue
        progress.step(f"{w.name}: {name} (build{', compile' if name in peers.COMPILED else ''}"
                      f", check)")
        done, _, failed = peers.build_peers(w, [name])
        built.update(done)
        for error in failed.values():
            report["failed"][f"{w.name} / {name}"] = error
            progress.note(f"bench: {w.name}: {name} failed to build: {error}")
    reference = w.reference()
    checks, timed = {}, {}
    for name, peer in built.items():
        ok, error = peers.max_error(w, peer, reference)
        checks[name] = {"verified": ok, "max_abs_err": error}
        if ok:
            timed[name] = peer.call
        else:
            report["failed"][f"{w.name} / {name}"] = f"differs from numpy by {error:.3g}"
            progress.note(f"bench: {w.name}: {name} differs from numpy by {error:.3g}; "
                          "not timing it")
    report["workloads"].append({"id": w.id, "name": w.name, "tolerance": w.tol,
                                "bytes": w.bytes, "checks": checks})
    what = f"{w.name}: timing {len(timed)} peers x {repeat} runs"
    progress.step(what)
    results = measure(w.name, timed, repeat,
                      on_run=lambda k: progress.update(f"{what} (run {k + 1}/{repeat})"))
    for r in results:
        r.extra["bytes"] = w.bytes
    first = [Result(w.name, name, p.first_call_s, [p.first_call_s], kind="first call")
             for name, p in built.items() if p.first_call_s is not None and name in timed]
    return results + first


def yardstick_summary(results: list[Result]) -> dict | None:
    """The yardstick's best bandwidth, and each workload's best per-call bandwidth against it."""
    per_call = [r for r in results if r.kind == PER_CALL and r.extra.get("bytes")]
    stick = [r for r in per_call if r.workload.startswith(workloads.YARDSTICK)]
    if not stick:
        return None
    best = min(stick, key=lambda r: r.median_s)
    gbps = best.extra["bytes"] / best.median_s / 1e9
    summary = {"workload": best.workload, "peer": best.peer, "bytes": best.extra["bytes"],
               "gbps": gbps, "workloads": {}}
    for r in per_call:
        rate = r.extra["bytes"] / r.median_s / 1e9
        mine = summary["workloads"].setdefault(r.workload, {"peer": r.peer, "gbps": rate})
        if rate > mine["gbps"]:
            mine.update(peer=r.peer, gbps=rate)
    return summary


def _describe(summary: dict) -> list[str]:
    lines = [f"memory-bandwidth yardstick: {summary['workload']} moves "
             f"{summary['bytes'] / 1e6:.3g} MB per call, at best {summary['gbps']:.1f} GB/s "
             f"({summary['peer']})"]
    for name, best in summary["workloads"].items():
        if name != summary["workload"]:
            lines.append(f"  {name}: {best['gbps']:.1f} GB/s at best ({best['peer']}), "
                         f"{best['gbps'] / summary['gbps']:.0%} of the yardstick")
    return lines


def _machine() -> dict:
    from importlib.metadata import version

    import llvmlite
    import llvmlite.binding as llvm

    cpu = llvm.get_host_cpu_name()
    versions = {"python": platform.python_version(), "numpy": np.__version__,
                "llvmlite": llvmlite.__version__, "tracejit": version("tracejit")}
    for name in ("torch", "jax"):
        module = sys.modules.get(name)
        versions[name] = getattr(module, "__version__", None)
    return {"platform": platform.platform(), "processor": platform.machine(), "cpu": cpu,
            "cores": os.cpu_count(), **versions}


def build_parser(prog: str = "python -m bench") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The harness's options (shared with `tracejit bench`)."""
    parser.add_argument("--workloads", help="comma list of W1..W7 (default: all)")
    parser.add_argument("--peers", help=f"comma list of peers (default: all of "
                                        f"{', '.join(peers.PEERS)})")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per peer (median)")
    parser.add_argument("--scale", type=float, default=1.0, help="size multiplier")
    parser.add_argument("--no-compile-probe", action="store_true",
                        help="skip W1's cold and warm compiles in fresh processes")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress display on stderr (failures are still reported)")


def execute(args: argparse.Namespace, parser: argparse.ArgumentParser, argv: list[str]) -> int:
    """Run the harness with options `parser` parsed from `argv`; the exit status."""
    try:
        ids, names = workloads.select(args.workloads), peers.select(args.peers)
    except ValueError as e:
        parser.error(str(e))
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, got {args.repeat}")
    progress = Progress(0, quiet=args.quiet)
    found, skipped = available_peers(names, progress)
    builders = [workloads.bandwidth] + [b for wid in ids for b in workloads.WORKLOADS[wid]]
    probing = "W1" in ids and not args.no_compile_probe
    compiled = [n for n in found if n in peers.COMPILED] if probing else []
    progress.total = len(builders) * (len(found) + 1) + 2 * args.repeat * len(compiled)
    report = {"argv": argv, "scale": args.scale, "repeat": args.repeat, "peers": names,
              "skipped": skipped, "failed": {}, "not_run": {}, "workloads": []}
    results: list[Result] = []
    for build in builders:
        results += run_workload(build(args.scale), found, args.repeat, report, progress)
    if compiled:
        def on_probe(peer, kind, k):
            progress.step(f"W1 {kind} in a fresh process: {peer} ({k + 1}/{args.repeat})")

        probed, failed = compile_probe.measure_compiles("W1", compiled, args.scale, args.repeat,
                                                        on_probe)
        results += probed
        for name, error in failed.items():
            report["failed"][f"W1 compile probe / {name}"] = error
            progress.note(f"bench: W1 compile probe: {name} failed: {error}")
    progress.close()
    _output(results, report, args.json)
    return 1 if report["failed"] else 0


def _output(results: list[Result], report: dict, path: str | None) -> None:
    """The table and the yardstick's summary on stdout; everything in the JSON file at `path`."""
    print(table(results, baselines=BASELINES))
    summary = yardstick_summary(results)
    if summary:
        print("\n".join(_describe(summary)))
    for name, why in report["skipped"].items():
        print(f"skipped {name}: {why}")
    for name, why in report["not_run"].items():
        print(f"not run: {name}: {why}")
    report["machine"] = _machine()
    report["yardstick"] = summary
    report["results"] = [r.to_json() for r in results]
    if path:
        with open(path, "w") as f:
            json.dump(report, f, indent=1)


def main(argv: list[str] | None = None, prog: str = "python -m bench") -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    return execute(args, parser, sys.argv[1:] if argv is None else list(argv))


if __name__ == "__main__":
    raise SystemExit(main())
