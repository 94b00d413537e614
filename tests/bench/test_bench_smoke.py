"""`python -m bench` end to end at a tiny scale: the JSON report's structure, never timings;
the progress display, and `tracejit bench`. The cold and warm compile probes run for tracejit
and jax.jit only: torch.compile's cold compile alone takes 10 s or more here.

The harness runs in a subprocess from the repository root, as a user runs it: under plain
`pytest`, sys.path holds tests/ and tests/bench/ but not the root, so an in-process
`import bench` would find this folder as a namespace package instead of the harness.
"""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IDS = ["W1", "W2", "W3", "W4", "W5", "yardstick"]  # W6 (100 steps) has its own test below
TINY = ["--scale", "1e-4", "--repeat", "1"]
COMPILED = ["tracejit traced", "tracejit script", "tracejit compile", "torch.compile", "jax.jit"]


def _bench(directory: Path, *args: str) -> dict:
    """The JSON report of `python -m bench ARGS` at a tiny scale, with its stdout and stderr."""
    path = directory / "report.json"
    done = subprocess.run([sys.executable, "-m", "bench", *TINY, *args, "--json", str(path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(path.read_text())
    data["stdout"], data["stderr"] = done.stdout, done.stderr
    return data


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return _bench(tmp_path_factory.mktemp("bench"), "--no-compile-probe", "--workloads",
                  "W1,W2,W3,W4,W5")


@pytest.fixture(scope="module")
def probes(tmp_path_factory):
    return _bench(tmp_path_factory.mktemp("probes"), "--workloads", "W1", "--peers",
                  "tracejit traced,jax.jit")


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


def test_compiled_peers_report_their_first_call(report):
    compiled = [p for p in _available(report) if p in COMPILED]
    first_calls = [r for r in report["results"] if r["kind"] == "first call"]
    assert len(first_calls) == len(compiled) * len(report["workloads"])
    assert all(r["median_s"] > 0 for r in first_calls)


def test_compiled_peers_report_fresh_process_compiles(probes):
    assert probes["failed"] == {}
    compiled = [p for p in _available(probes) if p in COMPILED]
    assert "tracejit traced" in compiled
    kinds = {(r["kind"], r["peer"]): r for r in probes["results"]}
    for peer in compiled:
        for kind in ("cold compile", "warm compile", "import"):
            r = kinds[kind, peer]
            processes = 2 if kind == "import" else 1  # every probe process imports
            assert len(r["runs"]) == processes * probes["repeat"] and r["median_s"] >= 0


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


def test_the_yardstick_is_measured_and_every_workload_compared_with_it(report):
    yardstick = report["yardstick"]
    assert yardstick["gbps"] > 0 and yardstick["bytes"] == 16 * 1678  # x, a, b and out, float32
    # every workload but W5, which moves next to nothing, gets its bandwidth compared
    assert set(yardstick["workloads"]) == {w["name"] for w in report["workloads"]
                                           if w["id"] != "W5"}
    assert "memory-bandwidth yardstick: yardstick x*a+b" in report["stdout"]
    assert "GB/s" in report["stdout"].splitlines()[0]


def test_compile_probes_subtract_a_later_call(probes):
    compiles = [r for r in probes["results"] if r["kind"].endswith("compile")]
    assert compiles
    for r in compiles:
        first, call = r["extra"]["first_result_s"], r["extra"]["call_s"]
        assert r["runs"] == [max(f - c, 0.0) for f, c in zip(first, call)]


def _steps(report) -> list[str]:
    """The progress lines' texts; checks that they count 1, 2, ... up to their stated total."""
    steps = re.findall(r"^\[(\d+)/(\d+)\] (.*)$", report["stderr"], re.MULTILINE)
    numbers = [int(k) for k, _, _ in steps]
    assert numbers == list(range(1, len(numbers) + 1))
    assert {int(total) for _, total, _ in steps} == {numbers[-1]}  # the count was right
    assert "\r" not in report["stderr"] and "\x1b" not in report["stderr"]
    return [text for _, _, text in steps]


def test_progress_is_one_plain_line_per_step_when_stderr_is_not_a_terminal(report, probes):
    texts = _steps(report)
    assert texts[0] == "yardstick x*a+b [1678]: numpy (build, check)"
    assert "W2 softmax [1,4096]: tracejit traced (build, compile, check)" in texts
    assert f"W5 x + 1 [16]: timing {len(_available(report))} peers x 1 runs" in texts
    assert "W1 warm compile in a fresh process: tracejit traced (1/1)" in _steps(probes)


QUICK = ["--workloads", "W5", "--peers", "numpy,tracejit traced", "--no-compile-probe", *TINY]


def test_progress_updates_one_line_on_a_terminal_and_quiet_silences_it():
    import pty

    leader, follower = pty.openpty()
    try:
        done = subprocess.run([sys.executable, "-m", "bench", *QUICK], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=follower, text=True, timeout=120)
        os.close(follower)
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 1 << 16)
            except OSError:  # EIO: the child side is closed and drained
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(leader)
    assert done.returncode == 0
    assert shown.count(b"\r\x1b[K[") == 6 + 2  # 6 steps, and a re-title per timed round
    assert b"[6/6] W5 x + 1 [16]: timing 2 peers x 1 runs (run 1/1)" in shown
    assert shown.endswith(b"\r\x1b[K")  # cleared before the table
    quiet = subprocess.run([sys.executable, "-m", "bench", *QUICK, "--quiet"], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert quiet.stdout.startswith("workload")


def _console_script() -> str:
    return str(Path(sys.executable).with_name("tracejit"))


@pytest.mark.parametrize("command", [[sys.executable, "-m", "tracejit"], [_console_script()]],
                         ids=["python -m tracejit", "console script"])
def test_tracejit_bench_runs_the_harness_from_anywhere(command, tmp_path):
    path = tmp_path / "r.json"
    done = subprocess.run([*command, "bench", *QUICK, "--json", str(path)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("workload") and "W5 x + 1 [16]" in done.stdout
    assert "[1/6] yardstick" in done.stderr
    assert json.loads(path.read_text())["argv"] == [*QUICK, "--json", str(path)]


def test_tracejit_bench_has_the_harness_options():
    done = subprocess.run([sys.executable, "-m", "tracejit", "bench", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout.startswith("usage: tracejit bench")
    for option in ("--workloads", "--peers", "--repeat", "--scale", "--no-compile-probe",
                   "--json", "--quiet"):
        assert option in done.stdout
    bad = subprocess.run([sys.executable, "-m", "tracejit", "bench", "--workloads", "W9"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown workload W9" in bad.stderr


INTERLEAVED = """
import time
from bench.harness import measure
calls = []
peers = {name: (lambda name=name: (calls.append(name), time.sleep(0.02))) for name in "abc"}
results = measure("w", peers, 3)
runs = [name for k, name in enumerate(calls) if k == 0 or name != calls[k - 1]]
print(" ".join(runs), *(len(r.runs) for r in results))
"""


def test_timed_runs_interleave_the_peers_starting_with_another_each_round():
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(INTERLEAVED)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    # each peer is calibrated on its own first, then one run of each per round
    assert done.stdout.split() == [*"abc", *"abc", *"bca", *"cab", "3", "3", "3"]


def test_recurrent_workload_scripted_and_eager(tmp_path):
    """W6, the 100-step GRU loop, with the peers the issue compares it against (torch.compile
    and trace unroll its loop: compiling that takes longer than this test should)."""
    data = _bench(tmp_path, "--workloads", "W6", "--no-compile-probe", "--peers",
                  "numpy,tracejit eager,tracejit script,torch eager")
    assert data["failed"] == {}
    (w6,) = [w for w in data["workloads"] if w["id"] == "W6"]
    assert {"numpy", "tracejit eager", "tracejit script"} <= set(w6["checks"])
    assert all(c["verified"] for c in w6["checks"].values())
