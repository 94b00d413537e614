"""bench/train_step.py's workloads train the same model in both libraries: their first steps'
losses agree with torch's (timings are never asserted; `python -m bench.train_step` reports
them). Run from the repository root in a subprocess, as bench/ is not importable from tests/."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, tracejit, torch
from bench.train_step import OPTIMIZERS, WORKLOADS, make
out = {}
for workload in WORKLOADS:
    for optimizer in OPTIMIZERS:
        steps = [make(lib, workload, optimizer) for lib in (tracejit, torch)]
        out[workload + "/" + optimizer] = [[float(s().item()) for _ in range(3)] for s in steps]
print(json.dumps(out))
"""


def test_train_step_workloads_match_torch():
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    losses = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(losses) == 4
    for name, (ours, theirs) in losses.items():
        for a, b in zip(ours, theirs):
            assert abs(a - b) <= 1e-4 * max(1.0, abs(b)), (name, ours, theirs)
        assert ours[-1] < ours[0], name  # it trains
