"""The graph-break benchmark (bench/breaks.py) at a tiny size: its functions and W7 give, under
`tracejit.compile`, the outputs and log records of the same code run as plain Python, and
numpy's and torch's numbers; `python -m bench.breaks` and `python -m bench --workloads W7` run.
Never timings.

The bench package is imported from the repository root (under plain `pytest`, sys.path holds
tests/ and tests/bench/ but not the root); the commands run in subprocesses from the root, as a
user runs them.
"""

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import tracejit
import tracejit.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--repeat", "1", "--scale", "0.125"]
TRACEJIT_PEERS = "numpy,tracejit eager,tracejit traced,tracejit compile"


@pytest.fixture(scope="module")
def breaks():
    sys.path.insert(0, str(ROOT))
    try:
        from bench import breaks
    finally:
        sys.path.remove(str(ROOT))
    return breaks


class Records(logging.Handler):
    """Keeps (message template, args) of every record of the bench's logger."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.seen = []

    def emit(self, record):
        self.seen.append((record.msg, record.args))


@pytest.fixture
def records(breaks):
    handler, logger = Records(), breaks.LOGGER
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler.seen
    logger.removeHandler(handler)
    logger.setLevel(old)


def _same_records(got, want, rtol=0.0):
    assert [m for m, _ in got] == [m for m, _ in want]
    for (_, a), (_, b) in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=rtol)


@pytest.mark.parametrize("name", ["x + 1 (0 breaks)", "1 break: logging", "3 breaks: logging",
                                  "1 break: .item()", "3 breaks: .item()"])
def test_overhead_functions_compile_to_what_python_computes_and_logs(breaks, records, name):
    fn, k, _ = breaks.FUNCTIONS[name]
    x = tracejit.from_numpy(np.linspace(-1, 1, 16, dtype=np.float32))
    want = fn(x).numpy()
    want_logs = list(records)
    compiled = tracejit.compile(fn)
    for call in range(3):  # capture, then the compiled path
        records.clear()
        assert np.array_equal(compiled(x).numpy(), want), call
        assert records == want_logs, call
    np.testing.assert_allclose(want, fn(torch.from_numpy(x.numpy())).numpy(), rtol=1e-6)
    assert len(want_logs) == (k if "logging" in name else 0)
    report = tracejit.explain(fn, x)
    assert (report.graph_count, report.graph_break_count) == (k + 1, k)


@pytest.mark.parametrize("limit", [1e3, 1.0], ids=["full block", "early exit"])
def test_block_compiled_equals_eager_numpy_and_torch(breaks, records, limit):
    w = breaks.block(0.125, limit=limit)
    tensors = [tracejit.from_numpy(a) for a in w.inputs]
    want = w.tensor_fn(F, *tensors).numpy()
    want_logs = list(records)
    assert len(want_logs) == (2 if limit > 100 else 1)  # the early exit skips the last log
    compiled = tracejit.compile(w.tensor_fn)
    for _ in range(2):  # capture, then the compiled path
        records.clear()
        np.testing.assert_allclose(compiled(F, *tensors).numpy(), want, rtol=1e-5, atol=1e-5)
        _same_records(records, want_logs, rtol=1e-5)
    records.clear()
    np.testing.assert_allclose(w.reference(), want, rtol=w.tol, atol=w.tol)
    _same_records(records, want_logs, rtol=1e-4)
    records.clear()
    oracle = w.tensor_fn(torch.nn.functional, *(torch.from_numpy(a) for a in w.inputs))
    np.testing.assert_allclose(oracle.numpy(), want, rtol=w.tol, atol=w.tol)
    _same_records(records, want_logs, rtol=1e-4)


def _run(tmp_path, *args):
    path = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-m", *args, "--json", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(path.read_text()), done.stdout


def test_harness_runs_w7_and_says_which_peers_cannot(tmp_path):
    report, out = _run(tmp_path, "bench", "--workloads", "W7", "--peers", TRACEJIT_PEERS,
                       "--no-compile-probe", "--quiet", *TINY)
    (w7,) = [w for w in report["workloads"] if w["id"] == "W7"]
    assert sorted(w7["checks"]) == ["numpy", "tracejit compile", "tracejit eager"]
    assert all(c["verified"] for c in w7["checks"].values())
    assert list(report["not_run"]) == [f"{w7['name']} / tracejit traced"]
    assert f"not run: {w7['name']} / tracejit traced: its `if` reads a tensor" in out
    peers = {(r["peer"], r["kind"]) for r in report["results"] if r["workload"] == w7["name"]}
    assert ("tracejit compile", "per call") in peers and ("tracejit compile", "first call") in peers


def test_bench_breaks_reports_overhead_with_0_1_and_3_breaks(breaks, tmp_path):
    report, out = _run(tmp_path, "bench.breaks", "--peers", TRACEJIT_PEERS, *TINY)
    rows = {(r["workload"], r["peer"]) for r in report["overhead"]}
    for name in breaks.FUNCTIONS:
        assert {(name, "tracejit eager"), (name, "tracejit compile")} <= rows
        assert name in report["budgets_s"] and name in out
    assert ("x + 1 (0 breaks)", "tracejit traced") in rows
    for name, (_, k, _) in breaks.FUNCTIONS.items():
        assert report["captures"][name]["tracejit.compile"] == [k + 1, k]
    assert report["failed"] == {} and report["results"]
    assert out.splitlines()[0].startswith("us per call")
