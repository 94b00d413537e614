"""The corpus training check (tests/models/train_runner.py) against its ratchet, the `train`
column of tests/models/corpus_status.json.

Each program trains for 5 steps with SGD(momentum) and with AdamW on both sides; per-step
losses and final weights must match torch. A program recorded as training must still train (a
regression fails); one that now trains but is recorded otherwise fails too, asking to record
the progress; a program still failing as recorded is an xfail showing what went wrong. CI runs
a sample of fast programs covering the layer families (attention, RNNs, convolutions with
BatchNorm, graphs); TRACEJIT_CORPUS_TRAIN_ALL=1 runs every program (a few minutes).
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_runner  # tests/models is not a package

runner = train_runner.runner
SPECS = {spec.name: spec for spec in runner.collect_specs()}
STATUS = runner.read_status()
UPDATE = "python tests/models/train_runner.py --update-status"
ALL = os.environ.get("TRACEJIT_CORPUS_TRAIN_ALL", "") not in ("", "0", "false")
SAMPLE = ("mingpt", "char_rnn_gru", "a3c_lstmcell", "tcn", "pygcn", "gae", "ctc_dpcnn",
          "mixture_of_experts", "pytorchcv_resnet_cifar", "pytorchcv_shufflenetv2",
          "pytorchcv_ghostnet", "nanogpt_generate")
NAMES = list(SPECS) if ALL else [n for n in SAMPLE if n in SPECS]


@functools.cache
def cells(name: str) -> dict[str, str]:
    return train_runner.train_spec(SPECS[name])


@pytest.mark.parametrize("name", NAMES)
def test_corpus_program_trains(name):
    recorded = STATUS.get(name, {}).get(train_runner.STATUS_KEY)
    if recorded is None:
        pytest.fail(f"{name} has no {train_runner.STATUS_KEY!r} entry in "
                    f"{runner.STATUS_FILE.name}; record it: {UPDATE}")
    got = cells(name)
    first = next((got[k] for k in train_runner.OPTIMIZERS if got[k] != runner.PASS), runner.PASS)
    if first.startswith(runner.MISSING_DEPENDENCY):
        pytest.skip(f"{name}: the torch side cannot import a dependency here: {first}")
    now = train_runner.status_of(got)
    if recorded == "pass" and now != "pass":
        pytest.fail(f"regression: {name} trained at the last measurement, now: {first}")
    if recorded != now and (now == "pass" or "not trainable" in (recorded, now)):
        pytest.fail(f"{name} is now {now!r} but {runner.STATUS_FILE.name} records "
                    f"{recorded!r}: record it with {UPDATE}")
    if now == "fail":
        pytest.xfail(first)


def test_every_program_has_a_train_entry():
    lacking = sorted(n for n in SPECS if train_runner.STATUS_KEY not in STATUS.get(n, {}))
    assert not lacking, f"no train entry for {lacking}; record them: {UPDATE}"


def test_the_sample_names_known_programs():
    assert set(SAMPLE) <= set(SPECS), sorted(set(SAMPLE) - set(SPECS))


def test_the_loss_weighs_every_finite_floating_leaf_alike_on_both_sides():
    import torch

    import tracejit

    out = {"b": torch.tensor([1.0, float("-inf")]), "a": (torch.ones(2, 3), torch.tensor([1]))}
    usable = train_runner._usable(out)
    assert usable == [True, False, False]
    w = train_runner._weight(0, (2, 3))
    want = float((torch.ones(2, 3) * torch.tensor(w, dtype=torch.float32)).sum() / 6)
    assert float(train_runner._loss(torch, out, usable)) == pytest.approx(want)
    twin = {"b": tracejit.tensor([1.0, 2.0]), "a": (tracejit.ones(2, 3), tracejit.tensor([1]))}
    assert train_runner._loss(tracejit, twin, usable).item() == pytest.approx(want)
    assert train_runner._weight(0, (3, 2)).shape == (3, 2)  # a new shape, new weights


def test_dropout_is_switched_off_in_modules_and_rates():
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.drop, self.rate, self.flag = torch.nn.Dropout(0.5), 0.3, True
            self.attn = torch.nn.MultiheadAttention(4, 2, dropout=0.1)

    net = Net()
    train_runner._no_dropout(net)
    assert (net.drop.p, net.rate, net.attn.dropout, net.flag) == (0.0, 0.3, 0.0, True)


def _run(losses, w, ref=False):
    dtype = np.float64 if ref else np.float32
    return train_runner.Run(losses, {"w": np.ones(2, dtype)}, {"w": np.array(w, dtype)}, [True])


def test_compare_reports_the_first_difference():
    spec = SPECS["tcn"]
    want = _run([1.0, 0.5], [1.0, 1.0])
    assert train_runner._compare(spec, want, want, "none") == runner.PASS
    off = _run([1.0, 0.6], [1.0, 1.0])
    assert train_runner._compare(spec, off, want, "none").startswith(
        "mismatch: step 2 loss 0.6, torch 0.5 (no float64 reference: none)")
    moved = _run([1.0, 0.5], [1.0, 1.1])
    assert train_runner._compare(spec, moved, want, "none").startswith(
        "mismatch: after 5 steps w max abs error 0.1")


def test_torch_float64_arbitrates_where_torch_float32_is_off():
    spec = SPECS["tcn"]
    got, ref = _run([1.0, 0.5], [1.0, 1.0]), _run([1.0, 0.5], [1.0, 1.0], ref=True)
    assert train_runner._compare(spec, got, _run([1.0, 9.0], [1.0, 1.0]), ref) == runner.PASS
    assert train_runner._compare(spec, got, _run([1.0, 0.5], [1.0, 3.0]), ref) == runner.PASS
    # rounding noise an optimizer amplified: tracejit no farther from float64 than 4x torch
    noisy, torch32 = _run([1.0, 0.5], [1.0, 1.03]), _run([1.0, 0.5], [1.0, 0.99])
    assert train_runner._compare(spec, noisy, torch32, ref) == runner.PASS
    far = _run([1.0, 0.5], [1.0, 1.05])
    assert train_runner._compare(spec, far, torch32, ref).startswith(
        "mismatch: after 5 steps w max abs error 0.06")
    native = _run([1.0, 0.5], [1.0, 0.98])  # torch without oneDNN: 0.02 from float64
    assert train_runner._compare(spec, far, torch32, ref, lambda: native) == runner.PASS


def test_both_runners_keep_the_other_columns_of_the_status_file(tmp_path):
    path = tmp_path / "status.json"
    path.write_text('{"about": "x", "programs": {"tcn": {"eager": "pass", "train": "fail"}}}')
    runner.write_status({"tcn": {m: runner.PASS for m in runner.CHECKED_MODES}}, path)
    assert runner.read_status(path)["tcn"]["train"] == "fail"
    cells = {"mode": "train", **dict.fromkeys(train_runner.OPTIMIZERS, runner.PASS)}
    train_runner.update_status({"tcn": cells}, path)
    assert runner.read_status(path)["tcn"] == {**dict.fromkeys(runner.CHECKED_MODES, "pass"),
                                               "train": "pass"}
