"""Cold and warm compile: a compiled peer's time to its first result, in a fresh process.

Each repeat gives every compiled peer an empty cache folder (TORCHINDUCTOR_CACHE_DIR,
JAX_COMPILATION_CACHE_DIR, and TRACEJIT_CACHE_DIR for tracejit's future disk cache) and runs
two fresh processes on it: "cold compile" fills the cache, "warm compile" finds it filled.
A probe times importing the peer's framework ("import") apart from compiling plus the first
run on inputs built beforehand. Run alone: `python -m bench.compile_probe PEER WORKLOAD SCALE`.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import Result

MARK = "compile-probe-result: "
KINDS = ("cold compile", "warm compile")
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
    verified, error = max_error(w, built[peer], w.reference())
    return {"workload": w.name, "import_s": import_s, "first_result_s": built[peer].first_call_s,
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


def measure_compiles(workload_id: str, peers: list[str], scale: float,
                     repeat: int) -> tuple[list[Result], dict[str, str]]:
    """Results of kinds "cold compile", "warm compile" and "import" for each peer, and
    {peer: error} for peers whose probe failed or disagreed with numpy."""
    runs: dict[tuple[str, str], list[float]] = {}
    failed: dict[str, str] = {}
    name = workload_id
    for _ in range(repeat):
        for peer in peers:  # peers alternate, sharing the machine's noise
            if peer in failed:
                continue
            with tempfile.TemporaryDirectory(prefix="tracejit-bench-cache-") as cache:
                for kind in KINDS:
                    out = _run_probe(peer, workload_id, scale, cache)
                    if "error" in out or not out["verified"]:
                        failed[peer] = out.get("error") or (
                            f"result differs from numpy (max abs error {out['max_abs_err']:.3g})")
                        break
                    name = out["workload"]
                    runs.setdefault((peer, kind), []).append(out["first_result_s"])
                    runs.setdefault((peer, "import"), []).append(out["import_s"])
    results = [Result(name, peer, statistics.median(r), r, kind=kind)
               for (peer, kind), r in runs.items() if peer not in failed]
    order = {kind: k for k, kind in enumerate((*KINDS, "import"))}
    return sorted(results, key=lambda r: order[r.kind]), failed


def main(argv: list[str]) -> int:
    peer, workload_id, scale = argv
    print(MARK + json.dumps(probe(peer, workload_id, float(scale))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
