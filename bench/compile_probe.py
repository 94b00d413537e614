"""Cold and warm compile: what compiling adds to a compiled peer's first result, in a fresh process.

Each repeat gives every compiled peer an empty cache folder (TORCHINDUCTOR_CACHE_DIR,
JAX_COMPILATION_CACHE_DIR, TRACEJIT_CACHE_DIR) and runs two fresh processes on it: "cold
compile" fills the cache, "warm compile" finds it filled. A probe imports the peer's framework
(timed apart, as "import"), builds the inputs, then times the first result: from building the
compiled callable (`tracejit.trace`, `torch.compile`, `jax.jit`) to its first output, which
includes one run of the workload. The compile time reported is that first result minus the
median of three later calls in the same process (what one run costs), so a large workload's run
time is not counted as compile time; the JSON keeps both numbers.

Before the first probe, tracejit's modules are byte-compiled (`compileall`, as installing a
wheel does): with PYTHONDONTWRITEBYTECODE set, every probe would otherwise compile the modules
tracejit imports lazily from source, and count that as compile time.
Run alone: `python -m bench.compile_probe PEER WORKLOAD SCALE`.
"""

from __future__ import annotations

import compileall
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.harness import Result, time_run

MARK = "compile-probe-result: "
KINDS = ("cold compile", "warm compile")
LATER_CALLS = 3  # calls after the first whose median is subtracted from it
_ROOT = Path(__file__).resolve().parent.parent  # where `python -m bench...` finds bench/


def probe(peer: str, workload_id: str, scale: float) -> dict:
    """Import, build inputs, then compile and run once; the times in seconds, and the check."""
    from bench.peers import build_peers, import_framework, max_error
    from bench.workloads import WORKLOADS

    t0 = time.perf_counter()
    import_framework(peer)
    import_s = time.perf_counter() - t0
    w = WORKLOADS[workload_id][0](scale)
    built, skipped, failed = build_peers(w, [peer])
    if peer not in built:
        return {"error": {**skipped, **failed}[peer]}
    verified, error = max_error(w, built[peer], w.reference())  # also the second call
    call_s = statistics.median(time_run(built[peer].call, 1) for _ in range(LATER_CALLS))
    first_s = built[peer].first_call_s
    return {"workload": w.name, "import_s": import_s, "first_result_s": first_s,
            "call_s": call_s, "compile_s": max(first_s - call_s, 0.0),
            "verified": verified, "max_abs_err": error}


def _run_probe(peer: str, workload_id: str, scale: float, cache: str) -> dict:
    env = {**os.environ,
           "TORCHINDUCTOR_CACHE_DIR": os.path.join(cache, "inductor"),
           "JAX_COMPILATION_CACHE_DIR": os.path.join(cache, "jax"),
           "TRACEJIT_CACHE_DIR": os.path.join(cache, "tracejit")}
    done = subprocess.run([sys.executable, "-m", "bench.compile_probe", peer, workload_id,
                           repr(scale)], cwd=_ROOT, env=env, capture_output=True, text=True,
                          timeout=900)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith(MARK)]
    if done.returncode or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        return {"error": f"probe exited {done.returncode}: " + " | ".join(tail)}
    return json.loads(lines[-1][len(MARK):])


def byte_compile_tracejit() -> None:
    """Write the .pyc files of tracejit's packages (quietly; a read-only install already has
    them or cannot be helped)."""
    folders = set()
    for name in ("tracejit", "tracejit.ir", "tracejit.passes", "tracejit.runtime", "tracejit.nn"):
        folders.update(Path(p) for p in importlib.import_module(name).__path__)
    for folder in sorted(folders):
        compileall.compile_dir(str(folder), maxlevels=0, quiet=2)


def measure_compiles(workload_id: str, peers: list[str], scale: float, repeat: int,
                     on_probe: Callable[[str, str, int], None] | None = None,
                     ) -> tuple[list[Result], dict[str, str]]:
    """Results of kinds "cold compile", "warm compile" and "import" for each peer, and
    {peer: error} for peers whose probe failed or disagreed with numpy. `on_probe(peer, kind,
    k)` is called before each probe process (repeat k)."""
    runs: dict[tuple[str, str], list[dict]] = {}
    failed: dict[str, str] = {}
    name = workload_id
    if "tracejit traced" in peers:
        byte_compile_tracejit()
    for k in range(repeat):
        for peer in peers:  # peers alternate, sharing the machine's noise
            if peer in failed:
                continue
            with tempfile.TemporaryDirectory(prefix="tracejit-bench-cache-") as cache:
                for kind in KINDS:
                    if on_probe is not None:
                        on_probe(peer, kind, k)
                    out = _run_probe(peer, workload_id, scale, cache)
                    if "error" in out or not out["verified"]:
                        failed[peer] = out.get("error") or (
                            f"result differs from numpy (max abs error {out['max_abs_err']:.3g})")
                        break
                    name = out["workload"]
                    runs.setdefault((peer, kind), []).append(out)
    results = []
    for (peer, kind), outs in runs.items():
        if peer in failed:
            continue
        compile_s = [o["compile_s"] for o in outs]
        extra = {"first_result_s": [o["first_result_s"] for o in outs],
                 "call_s": [o["call_s"] for o in outs]}
        results.append(Result(name, peer, statistics.median(compile_s), compile_s, kind=kind,
                              extra=extra))
        if kind == KINDS[0]:
            imports = [o["import_s"] for o in [*outs, *runs.get((peer, KINDS[1]), [])]]
            results.append(Result(name, peer, statistics.median(imports), imports, kind="import"))
    order = {kind: k for k, kind in enumerate((*KINDS, "import"))}
    return sorted(results, key=lambda r: order[r.kind]), failed


def main(argv: list[str]) -> int:
    peer, workload_id, scale = argv
    print(MARK + json.dumps(probe(peer, workload_id, float(scale))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
