"""trace guards the Python values it baked in: module attributes, globals, closure variables.

The oracle is the same code run eagerly (plain Python, no capture); how many times a capture
ran is counted by a side effect of the traced code itself (a trace runs the Python once).
"""

import copy
import logging
import types

import numpy as np
import pytest

import tracejit as tj
from tracejit import nn

G = 5.0
ACT = tj.relu
RUNS: list[str] = []  # one entry per run of the Python code below (each trace runs it once)


def close(got, want):
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-6, atol=1e-6)


@pytest.fixture
def recompiles(caplog):
    caplog.set_level(logging.INFO, logger="tracejit.recompiles")
    RUNS.clear()
    return lambda: [r.getMessage() for r in caplog.records if r.name == "tracejit.recompiles"]


@pytest.fixture
def x():
    tj.manual_seed(0)
    return tj.randn(3, 4)


class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.scale = 2.0

    def forward(self, x):
        RUNS.append("Scaled")
        return self.fc(x) * self.scale


class Outer(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Scaled()
        self.axes = (0,)

    def forward(self, x):
        return self.block(x).sum(self.axes)


def uses_global(x):
    RUNS.append("uses_global")
    return x * G + 1


def helper(x):
    return ACT(x) * G


def calls_helper(x):
    RUNS.append("calls_helper")
    return helper(x) - 1


def test_module_attribute_change_retraces_and_is_logged(recompiles, x):
    model = Scaled()
    traced = tj.trace(model, x)
    close(traced(x), model(x))
    model.scale = 3.0
    close(traced(x), model(x))
    assert "retracing Scaled: `self.scale` was 2.0, is 3.0" in recompiles()
    RUNS.clear()
    for _ in range(3):
        close(traced(x), model(x))
    assert RUNS == ["Scaled"] * 3  # only the eager calls ran the code: no more traces


def test_unchanged_calls_never_retrace(recompiles, x):
    model = Scaled()
    traced = tj.trace(model, x)
    fn = tj.trace(uses_global, x)
    model.scale = 2.0 + 0.0  # the same value in another object: nothing changed
    for _ in range(5):
        traced(x)
        fn(x)
    assert RUNS == ["Scaled", "uses_global"]
    assert recompiles() == []
    assert len(traced.graphs) == len(fn.graphs) == 1


def test_submodule_and_tuple_attributes(recompiles, x):
    model = Outer()
    traced = tj.trace(model, x)
    model.block.scale = -1.5
    close(traced(x), model(x))
    model.axes = (1,)
    close(traced(x), model(x))
    assert recompiles() == ["retracing Outer: `self.block.scale` was 2.0, is -1.5",
                            "retracing Outer: `self.axes` was (0,), is (1,)"]


def test_negative_zero_is_a_change(recompiles, x):
    model = Scaled()
    model.scale = 0.0
    traced = tj.trace(model, x)
    model.scale = -0.0
    got, want = traced(x), model(x)
    close(got, want)
    assert np.array_equal(np.signbit(got.detach().numpy()), np.signbit(want.detach().numpy()))
    assert len(recompiles()) == 1


def test_nan_stays_nan_and_a_new_type_is_a_change(recompiles, x):
    model = Scaled()
    model.scale = float("nan")
    traced = tj.trace(model, x)
    model.scale = float("nan")  # another NaN object: the same value as the graph baked
    close(traced(x), model(x))
    assert recompiles() == []
    model.scale = 2
    traced(x)
    model.scale = 2.0  # int to float: a trace may bake them differently
    close(traced(x), model(x))
    assert recompiles()[1] == "retracing Scaled: `self.scale` was 2, is 2.0"


def test_global_change_retraces(recompiles, x, monkeypatch):
    fn = tj.trace(uses_global, x)
    close(fn(x), uses_global(x))
    monkeypatch.setitem(globals(), "G", 6.0)
    close(fn(x), uses_global(x))
    np.testing.assert_allclose(fn(x).detach().numpy(), x.detach().numpy() * 6.0 + 1, rtol=1e-6)
    assert recompiles() == ["retracing uses_global: `G` was 5.0, is 6.0"]


def test_globals_of_called_user_functions_are_guarded(recompiles, x, monkeypatch):
    fn = tj.trace(calls_helper, x)
    monkeypatch.setitem(globals(), "G", 0.5)
    close(fn(x), calls_helper(x))
    monkeypatch.setitem(globals(), "ACT", tj.tanh)  # which object a name holds
    close(fn(x), calls_helper(x))
    logged = recompiles()
    assert logged[0] == "retracing calls_helper: `G` was 5.0, is 0.5"
    assert logged[1].startswith("retracing calls_helper: `ACT` was <function relu")
    assert len(logged) == 2


def test_module_forward_globals_are_guarded(recompiles, x, monkeypatch):
    class UsesGlobal(nn.Module):
        def forward(self, x):
            return x + G

    model = UsesGlobal()
    traced = tj.trace(model, x)
    monkeypatch.setitem(globals(), "G", -2.0)
    close(traced(x), model(x))
    assert recompiles() == ["retracing UsesGlobal: `G` was 5.0, is -2.0"]


STEP = 0


class WithHelpers(nn.Module):
    def forward(self, x):
        return self.helper(x) + self.offset

    def helper(self, x):
        return x * G

    @property
    def offset(self):
        return ACT(tj.ones(1))

    def log_step(self):  # never called by forward: what it reads is not guarded
        return STEP


def test_methods_forward_calls_are_guarded_others_not(recompiles, x, monkeypatch):
    model = WithHelpers()
    traced = tj.trace(model, x)
    monkeypatch.setitem(globals(), "STEP", 1)
    traced(x)
    assert recompiles() == []
    monkeypatch.setitem(globals(), "G", 3.0)
    close(traced(x), model(x))
    monkeypatch.setitem(globals(), "ACT", tj.sigmoid)
    close(traced(x), model(x))
    logged = recompiles()
    assert logged[0] == "retracing WithHelpers: `G` was 5.0, is 3.0"
    assert logged[1].startswith("retracing WithHelpers: `ACT` was <function relu")
    assert len(logged) == 2


class ClassScaled(nn.Module):
    scale = 2.0  # a class attribute: forward reads it through self

    def forward(self, x):
        return x * self.scale


def test_class_attribute_change_retraces(recompiles, x, monkeypatch):
    model = ClassScaled()
    traced = tj.trace(model, x)
    monkeypatch.setattr(ClassScaled, "scale", 4.0)
    close(traced(x), model(x))
    assert recompiles() == ["retracing ClassScaled: `ClassScaled.scale` was 2.0, is 4.0"]


def uses_config(x):
    return x * cfg.SCALE  # noqa: F821 (the fake config module below, set per test)


def test_attribute_of_a_config_module_is_guarded(recompiles, x, monkeypatch):
    config = types.ModuleType("config")
    config.__file__, config.SCALE = __file__, 2.0
    monkeypatch.setitem(globals(), "cfg", config)
    traced = tj.trace(uses_config, x)
    config.SCALE = 3.0
    close(traced(x), uses_config(x))
    assert recompiles() == ["retracing uses_config: `cfg.SCALE` was 2.0, is 3.0"]


def test_module_held_by_a_closure_and_a_callable_object(recompiles, x):
    inner = Scaled()

    def fn(t):
        return inner(t) + 1

    class Shift:
        def __init__(self):
            self.by = 1.0

        def __call__(self, t):
            return t - self.by

    shift = Shift()
    traced, traced_shift = tj.trace(fn, x), tj.trace(shift, x)
    inner.scale = 0.5
    shift.by = -2.0
    close(traced(x), fn(x))
    close(traced_shift(x), shift(x))
    assert recompiles() == ["retracing fn: `inner.scale` was 2.0, is 0.5",
                            "retracing Shift: `self.by` was 1.0, is -2.0"]


def test_closure_variable_change_retraces(recompiles, x):
    k = 2

    def fn(x):
        RUNS.append("fn")
        return x * k

    def set_k(value):
        nonlocal k
        k = value

    traced = tj.trace(fn, x)
    close(traced(x), fn(x))
    set_k(7)
    close(traced(x), fn(x))
    assert recompiles() == ["retracing fn: `k` was 2, is 7"]
    assert RUNS == ["fn", "fn", "fn", "fn"]  # trace, eager, retrace, eager


def test_lambda_closure(recompiles, x):
    shift = 1.0
    traced = tj.trace(lambda t: t - shift, x)
    shift = 4.0
    np.testing.assert_allclose(traced(x).detach().numpy(), x.detach().numpy() - 4.0, rtol=1e-6)
    assert recompiles() == ["retracing <lambda>: `shift` was 1.0, is 4.0"]


def test_library_module_attributes_are_guarded(recompiles, x):
    model = nn.Sequential(nn.Linear(4, 4), nn.LeakyReLU(0.1))
    traced = tj.trace(model, x)
    model[1].negative_slope = 0.5
    close(traced(x), model(x))
    assert recompiles() == ["retracing Sequential: `self.1.negative_slope` was 0.1, is 0.5"]


def test_deleted_global_raises_as_eager(recompiles, x, monkeypatch):
    fn = tj.trace(uses_global, x)
    monkeypatch.delitem(globals(), "G")
    with pytest.raises(NameError):
        uses_global(x)
    with pytest.raises(NameError):
        fn(x)
    assert recompiles() == ["retracing uses_global: `G` was 5.0, is deleted"]


def test_training_flag_is_in_the_key_not_a_guard(recompiles, x):
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    eager = copy.deepcopy(model)
    traced = tj.trace(model, x)  # tracing computes nothing: the running stats stay
    for mode in (False, True, False):
        model.train(mode)
        eager.train(mode)
        close(traced(x), eager(x))
        close(model[1].running_mean, eager[1].running_mean)
    assert not any("`self" in line and "training" in line for line in recompiles())


def test_script_keeps_its_own_guards(recompiles, x):
    class Quiet(Scaled):
        def forward(self, x):
            return self.fc(x) * self.scale

    model = Quiet()
    scripted = tj.script(model)
    scripted(x)
    model.scale = 3.0
    close(scripted(x), model(x))
    logged = recompiles()
    assert len(logged) == 1 and logged[0].startswith("rescripting Quiet")
