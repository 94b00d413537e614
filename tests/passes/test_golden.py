"""Golden IR files: each `// RUN:` line of tests/passes/golden/*.ir runs `tracejit-opt` and
checks its output with `filecheck` (the Python clone of LLVM's FileCheck, as xDSL uses),
against the `// CHECK` lines written in the same file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"
BIN = str(Path(sys.executable).parent)  # tracejit-opt and filecheck live beside python


def run_lines():
    for path in sorted(GOLDEN.glob("*.ir")):
        lines = [ln.split("RUN:", 1)[1].strip() for ln in path.read_text().splitlines()
                 if ln.startswith("// RUN:")]
        for k, line in enumerate(lines):
            yield pytest.param(path, line, id=f"{path.stem}-{k}")


def test_every_pass_has_a_golden_file():
    from tracejit.passes import PASSES

    runs = " ".join(line for p in GOLDEN.glob("*.ir") for line in p.read_text().splitlines()
                    if line.startswith("// RUN:"))
    missing = [name for name in PASSES if name not in runs]
    assert not missing, f"passes without a golden file: {', '.join(missing)}"


@pytest.mark.parametrize("path, command", list(run_lines()))
def test_golden(path: Path, command: str):
    env = {**os.environ, "PATH": BIN + os.pathsep + os.environ.get("PATH", "")}
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command.replace("%s", str(path))],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
