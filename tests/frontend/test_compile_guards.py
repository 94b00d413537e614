"""tracejit.compile never computes something other than the eager program: a Python value a
graph assumed (a module attribute, a global, a closure value, the training flag, a Python
number argument, an input shape) that changes recompiles, and the `tracejit.recompiles` log
names what changed; an unchanged call never recompiles; many changes never storm."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest

import tracejit as tj
from tracejit import nn

pytestmark = pytest.mark.skipif(not hasattr(tj, "compile"), reason="no tracejit.compile yet")

G = 2.0


def scaled_by_global(x):
    return x * G + 1


def make_scaled():
    factor = 2.0

    def scaled(x):
        return x * factor

    def set_factor(value):
        nonlocal factor
        factor = value

    return scaled, set_factor


def times_n(x, n: int):
    return x * n


class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.scale = 2.0

    def forward(self, x):
        h = self.fc(x) * self.scale
        if self.training:
            h = h * 0.5
        return h


def x_of(rows: int = 2) -> tj.Tensor:
    return tj.tensor(np.arange(rows * 3, dtype=np.float32).reshape(rows, 3) / 4)


def same(got, want) -> None:
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.fixture
def recompiles(caplog):
    caplog.set_level(logging.INFO, logger="tracejit.recompiles")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "tracejit.recompiles"]


def test_a_changed_module_attribute_recompiles(recompiles):
    model = Scaled().eval()
    compiled = tj.compile(model, backend="eager")
    same(compiled(x_of()), model(x_of()))
    model.scale = 3.0
    same(compiled(x_of()), model(x_of()))
    assert any("scale" in m and "3.0" in m for m in recompiles()), recompiles()


@tj.no_grad()  # in training mode with grad on, a module whose parameters require grad runs eagerly
def test_the_training_flag_recompiles(recompiles):
    model = Scaled().train()
    compiled = tj.compile(model, backend="eager")
    same(compiled(x_of()), model(x_of()))
    compiled.eval()
    assert not model.training
    same(compiled(x_of()), model(x_of()))
    assert any("training" in m for m in recompiles()), recompiles()


def test_a_changed_global_recompiles(recompiles):
    global G
    compiled = tj.compile(scaled_by_global, backend="eager")
    try:
        same(compiled(x_of()), scaled_by_global(x_of()))
        G = 5.0
        same(compiled(x_of()), scaled_by_global(x_of()))
    finally:
        G = 2.0
    assert any("G" in m and "5.0" in m for m in recompiles()), recompiles()
    same(compiled(x_of()), scaled_by_global(x_of()))


def test_a_changed_closure_value_recompiles(recompiles):
    scaled, set_factor = make_scaled()
    compiled = tj.compile(scaled, backend="eager")
    same(compiled(x_of()), scaled(x_of()))
    set_factor(-1.5)
    same(compiled(x_of()), scaled(x_of()))
    assert any("factor" in m for m in recompiles()), recompiles()


def test_a_python_number_argument_and_a_shape_recompile(recompiles):
    compiled = tj.compile(times_n, backend="eager")
    same(compiled(x_of(), 2), times_n(x_of(), 2))
    same(compiled(x_of(), 3), times_n(x_of(), 3))
    same(compiled(x_of(4), 3), times_n(x_of(4), 3))
    assert len(recompiles()) >= 2, recompiles()


def test_an_unchanged_call_never_recompiles(recompiles):
    model = Scaled().eval()
    compiled = tj.compile(model, backend="eager")
    compiled(x_of())
    before = len(recompiles())
    for _ in range(3):
        same(compiled(x_of()), model(x_of()))
    assert len(recompiles()) == before, recompiles()[before:]


def test_many_changes_stay_correct_and_warn_at_most_once():
    """Past the recompile limit the function runs eagerly, with one warning at most."""
    compiled = tj.compile(times_n, backend="eager")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for n in range(12):
            same(compiled(x_of(), n), times_n(x_of(), n))
    assert len(caught) <= 1, [str(w.message) for w in caught]
