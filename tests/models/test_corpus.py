"""The real-model corpus against its ratchet, tests/models/corpus_status.json.

Each program and tracejit mode (eager, trace, script, save/load, compile; plus torch eager, the
oracle) is one test; compile is `tracejit.compile` of the model (or of the spec's `generate()`
call), called twice on each input set. A mode recorded as passing must still pass: a
regression fails. A mode that now passes but is recorded as failing fails too, asking to record
the progress with `python tests/models/runner.py --update-status`; a mode still failing as
recorded is an xfail showing what is missing. The torch.jit and torch.compile columns and the
graph and break counts are measurement only and do not run here. A program whose torch side
cannot import a third-party dependency (einops, ...) is skipped.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

_FILE = Path(__file__).with_name("runner.py")
_SPEC = importlib.util.spec_from_file_location("tracejit_corpus_runner", _FILE)
runner = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = runner
_SPEC.loader.exec_module(runner)

SPECS = {spec.name: spec for spec in runner.collect_specs()}
STATUS = runner.read_status()
UPDATE = "python tests/models/runner.py --update-status"


@functools.cache
def cells(name: str) -> dict[str, str]:
    return runner.run_spec(SPECS[name], torch_jit=False)


@pytest.mark.parametrize("mode", runner.CHECKED_MODES)
@pytest.mark.parametrize("name", list(SPECS))
def test_corpus_program(name, mode):
    recorded = STATUS.get(name, {}).get(mode)
    if recorded is None:
        pytest.fail(f"{name} has no {mode} entry in {runner.STATUS_FILE.name}; record it: "
                    f"{UPDATE}")
    oracle = cells(name)["torch_eager"]
    if oracle.startswith(runner.MISSING_DEPENDENCY):
        pytest.skip(f"{name}: the torch oracle cannot import a dependency here: {oracle}")
    cell = cells(name)[mode]
    if recorded == "pass" and cell != runner.PASS:
        pytest.fail(f"regression: {name} {mode} passed at the last measurement, now: {cell}")
    if recorded != "pass" and cell == runner.PASS:
        pytest.fail(f"{name} {mode} now passes but {runner.STATUS_FILE.name} records it as "
                    f"failing: record the progress with {UPDATE}")
    if cell != runner.PASS:
        pytest.xfail(cell)


def test_status_file_lists_only_known_programs():
    stale = sorted(set(STATUS) - set(SPECS))
    assert not stale, f"{runner.STATUS_FILE.name} lists programs without a spec: {stale}; {UPDATE}"


def test_corpus_files_carry_their_provenance():
    for path in sorted(runner.CORPUS.rglob("*.py")):
        head = path.read_text(encoding="utf-8", errors="replace")[:4000]
        for field in ("# Source: https://github.com/", "# Repository:", "# Path:", "# Commit:",
                      "# Licence:"):
            assert field in head, f"{path}: the header lacks {field!r}"


def test_compare_finds_differences():
    import numpy as np
    import torch

    import tracejit

    want = (torch.tensor([[1.0, 2.0]]), None, torch.tensor([3]))
    same = (tracejit.tensor(np.array([[1.0, 2.0]], np.float32)), None, tracejit.tensor([3]))
    assert runner.compare(same, want, 1e-4, 1e-5) == runner.PASS
    off = (tracejit.tensor(np.array([[1.0, 2.5]], np.float32)), None, tracejit.tensor([3]))
    assert runner.compare(off, want, 1e-4, 1e-5).startswith("mismatch: output 0 max abs error")
    assert runner.compare(same[:2], want, 1e-4, 1e-5) == \
        "mismatch: 2 output leaves, torch has 3"


def test_programs_import_tracejit_and_their_libraries_keep_torch():
    import torch

    import tracejit

    mod = runner.load_program("vit", "tracejit")
    assert mod.torch is tracejit and mod.nn is tracejit.nn
    assert issubclass(mod.Rearrange, torch.nn.Module)  # einops.layers.torch imports real torch
    assert runner.load_program("vit", "torch").torch is torch
    with pytest.raises(ModuleNotFoundError, match=r"the program imports 'torch\.nn\.no_such'"):
        runner._map_torch("torch.nn.no_such")


def test_a_hanging_cell_fails_with_a_timeout(monkeypatch):
    import time

    monkeypatch.setattr(runner, "CELL_SECONDS", 0.05)
    assert runner._cell(time.sleep, 2) == (
        "TimeoutError: ran over the runner's 0.05 s limit per cell", None)


def test_a_missing_third_party_module_is_a_missing_dependency():
    def needs(name):
        raise ModuleNotFoundError(f"No module named '{name}'", name=name)

    assert runner._cell(needs, "einops")[0] == \
        "missing dependency: ModuleNotFoundError: No module named 'einops'"
    assert runner._cell(needs, "tracejit.nn.modules")[0] == \
        "ModuleNotFoundError: No module named 'tracejit.nn.modules'"


def test_every_call_of_a_compiled_program_is_compared():
    import torch

    import tracejit

    want = torch.tensor([1.0, 2.0])
    spec = SPECS["nanogpt"]
    held = []

    def clobbering(inputs):  # a cached call writing into the buffer it returned before
        if held:
            held[0]._data[...] = 0.0
            return tracejit.tensor(np.array([1.0, 2.0], np.float32))
        held.append(tracejit.tensor(np.array([1.0, 2.0], np.float32)))
        return held[0]

    assert runner._verdict(clobbering, [()], [want], spec) == runner.PASS
    held.clear()
    assert runner._verdict(clobbering, [()], [want], spec, calls=2) == \
        "mismatch: output 0 max abs error 2 (rtol=0.0001, atol=1e-05)"
    calls = []

    def second_call_wrong(inputs):
        calls.append(1)
        return tracejit.tensor(np.array([1.0, 2.0 + (len(calls) == 4)], np.float32))

    assert runner._verdict(second_call_wrong, [(), ()], [want, want], spec, calls=2) == \
        "on the second inputs, call 2 of 2: mismatch: output 0 max abs error 1 (rtol=0.0001, " \
        "atol=1e-05)"


def test_the_counts_table_totals_graphs_and_breaks():
    results = {
        "a": {"compile": runner.PASS, "torch_compile": runner.PASS,
              runner.COUNTS: {"compile": [2, 1, ["a.py:3: print"]], "torch_compile": [3, 2]}},
        "b": {"compile": "mismatch: output 0", "torch_compile": runner.PASS,
              runner.COUNTS: {"compile": [1, 0, []], "torch_compile": "RuntimeError: x"}},
    }
    table = runner.counts_table(results).splitlines()
    assert table[2] == "| a | ✓ | 2 | 1 | ✓ | 3 | 2 |"
    assert table[3] == "| b | ✗ | 1 | 0 | ✓ | RuntimeError: x | error |"
    assert table[-1] == "| **total** | **1/2** | **3** | **1** | **2/2** | **3** | **2** |"
    summary = runner.counts_summary(results)
    assert "tracejit.compile: 1/2 programs give eager's results; 3 graphs, 1 graph breaks" \
        in summary
    assert runner.break_list(results) == "- a: a.py:3: print"
