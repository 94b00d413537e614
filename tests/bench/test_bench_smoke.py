"""`python -m bench` end to end at a tiny scale: the JSON report's structure, never timings.

The harness runs in a subprocess from the repository root, as a user runs it: under plain
`pytest`, sys.path holds tests/ and tests/bench/ but not the root, so an in-process
`import bench` would find this folder as a namespace package instead of the harness.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IDS = ["W1", "W2", "W3", "W4", "W5"]
COMPILED = ["tracejit traced", "torch.compile", "jax.jit"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--scale", "1e-4", "--repeat", "1", "--json", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(path.read_text())
    data["stdout"] = done.stdout
    return data


def _available(report) -> list[str]:
    return [p for p in report["peers"] if p not in report["skipped"]]


def test_every_workload_ran_with_numpy_and_tracejit(report):
    assert sorted({w["id"] for w in report["workloads"]}) == IDS
    assert sum(w["id"] == "W4" for w in report["workloads"]) == 2  # batch 1 and batch 64
    assert {"numpy", "tracejit eager", "tracejit traced"} <= set(_available(report))
    assert report["failed"] == {}


def test_every_available_peer_was_verified_then_timed(report):
    per_call = {(r["workload"], r["peer"]): r for r in report["results"]
                if r["kind"] == "per call"}
    for w in report["workloads"]:
        assert sorted(w["checks"]) == sorted(_available(report))
        for peer, check in w["checks"].items():
            assert check["verified"], (w["name"], peer, check)
            r = per_call[w["name"], peer]
            assert r["verified"] and len(r["runs"]) == report["repeat"]
            assert 0 < r["min_s"] <= r["median_s"] <= r["max_s"]


def test_compiled_peers_report_first_call_and_fresh_process_compiles(report):
    compiled = [p for p in _available(report) if p in COMPILED]
    kinds = {(r["kind"], r["peer"]) for r in report["results"] if r["median_s"] > 0}
    first_calls = [r for r in report["results"] if r["kind"] == "first call"]
    assert len(first_calls) == len(compiled) * len(report["workloads"])
    for peer in compiled:
        for kind in ("cold compile", "warm compile", "import"):
            assert (kind, peer) in kinds


def test_missing_jax_is_skipped_with_a_note(report):
    try:
        import jax  # noqa: F401
    except ImportError:
        assert "jax.jit" in report["skipped"]
        assert "skipped jax.jit: jax cannot be imported" in report["stdout"]
    else:
        assert "jax.jit" in _available(report)


def test_table_shows_ratios_to_numpy_and_torch_eager(report):
    header = report["stdout"].splitlines()[0].split()
    assert header[:4] == ["workload", "kind", "peer", "median"]
    assert "numpy" in header and "eager" in header
