"""The module call path: traced and scripted modules cache their state layout between calls,
and still see every change eager mode sees.

The oracle is the same module called eagerly (a deep copy given the same changes where the
call mutates state); captures are counted by the traced code's own side effect.
"""

import copy
import logging

import numpy as np
import pytest

import tracejit as tj
from tracejit import nn

RUNS: list[int] = []


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(tj.relu(self.fc1(x)))


class Counted(MLP):
    def forward(self, x):
        RUNS.append(1)
        return super().forward(x)


class Shifted(nn.Module):
    """Adds its buffers, whatever they are when it runs."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        y = self.fc(x)
        for buffer in self._buffers.values():
            y = y + buffer
        return y


def close(got, want):
    assert got.dtype == want.dtype and tuple(got.shape) == tuple(want.shape)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-6, atol=1e-6)


# trace runs nothing when it captures; script captures at the first call
CAPTURES = [lambda m, x: tj.trace(m, x), lambda m, x: tj.script(m)]


@pytest.fixture
def x():
    tj.manual_seed(0)
    return tj.randn(2, 4)


@pytest.fixture(params=["trace", "script"])
def capture(request):
    return CAPTURES[request.param == "script"]


def test_in_place_weight_updates_are_seen(capture, x):
    model = MLP()
    compiled = capture(model, x)
    for step in range(3):
        close(compiled(x), model(x))
        with tj.no_grad():
            model.fc1.weight.mul_(0.5)
            model.fc2.bias.add_(1.0)
        model.fc1.bias.data = tj.full((8,), float(step))  # .data replaced, same type
    close(compiled(x), model(x))


def test_replaced_parameter_is_seen_without_a_new_capture(x):
    RUNS.clear()
    model = Counted()
    traced = tj.trace(model, x)
    traced(x)
    model.fc2.weight = nn.Parameter(tj.ones(3, 8))
    close(traced(x), model(x))
    model.fc1.bias = nn.Parameter(tj.full((8,), -3.0))
    close(traced(x), model(x))
    assert len(RUNS) == 1 + 2  # one trace, two eager calls: the graph took the new tensors


def test_dtype_changes_capture_again(capture, x):
    model = MLP()
    compiled = capture(model, x)
    compiled(x)
    assert compiled.double() is compiled  # the wrapper, for chaining
    xd = x.double()
    close(compiled(xd), model(xd))
    compiled.to(tj.float32)
    close(compiled(x), model(x))
    model.to(tj.float64)
    close(compiled(xd), model(xd))
    assert len(compiled.graphs) == 2


def test_shape_change_through_data_captures_again(x):
    model = MLP()
    traced = tj.trace(model, x)
    traced(x)
    model.fc1.weight.data = tj.randn(5, 4)
    model.fc1.bias.data = tj.randn(5)
    model.fc2.weight.data = tj.randn(3, 5)
    close(traced(x), model(x))
    assert len(traced.graphs) == 2


def test_train_eval_switches(capture, x):
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    eager = copy.deepcopy(model)
    compiled = capture(model, x)
    for mode in (True, False, True, False, False):
        compiled.train(mode)
        eager.train(mode)
        close(compiled(x), eager(x))
        close(model[1].running_var, eager[1].running_var)
    assert len(compiled.graphs) == 2


def test_buffer_registered_after_the_first_call(x):
    model = Shifted()
    traced = tj.trace(model, x)
    close(traced(x), model(x))
    model.register_buffer("shift", tj.full((4,), 2.0))
    close(traced(x), model(x))
    with tj.no_grad():
        model.shift.add_(1.0)  # a graph input now: in-place updates seen
    close(traced(x), model(x))
    model.shift = tj.full((4,), -1.0)  # a new tensor for the buffer
    close(traced(x), model(x))


def test_table_written_directly_is_seen(x):
    """Code that writes a module's tables without setattr (as _apply and some utilities do)."""
    model = Shifted()
    model.register_buffer("shift", tj.zeros(4))
    traced = tj.trace(model, x)
    traced(x)
    model._buffers["shift"] = tj.full((4,), 5.0)
    close(traced(x), model(x))
    model._buffers["more"] = tj.ones(4)
    close(traced(x), model(x))
    del model._buffers["shift"]
    close(traced(x), model(x))


def test_submodule_added_and_replaced(x):
    class Stack(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(4, 4)])

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    model = Stack()
    traced = tj.trace(model, x)
    traced(x)
    model.layers.append(nn.Linear(4, 4))
    close(traced(x), model(x))
    model.layers[0] = nn.Linear(4, 4)
    close(traced(x), model(x))


def test_parameterless_submodule_replaced(x, caplog):
    caplog.set_level(logging.INFO, logger="tracejit.recompiles")
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    traced = tj.trace(model, x)
    traced(x)
    model[1] = nn.Tanh()  # no state changes: only the structure
    close(traced(x), model(x))
    model.append(nn.Sigmoid())
    close(traced(x), model(x))
    assert [r.getMessage() for r in caplog.records if r.name == "tracejit.recompiles"] == [
        "retracing Sequential: `self.1` was ReLU, is Tanh",
        "retracing Sequential: `self.2` was absent, is Sigmoid"]


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)
        self.b.weight = self.a.weight  # one parameter, registered under two names

    def forward(self, x):
        return self.b(tj.tanh(self.a(x)))


def test_requires_grad_and_shared_parameters(capture, x):
    model = Tied()
    compiled = capture(model, x)
    close(compiled(x), model(x))
    model.requires_grad_(False)
    close(compiled(x), model(x))
    with tj.no_grad():
        model.a.weight.fill_(0.25)  # seen by both uses
    close(compiled(x), model(x))
    model.b.weight = nn.Parameter(tj.eye(4))  # untied
    close(compiled(x), model(x))


def test_argument_that_is_module_state(x):
    class AddBias(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("b", tj.ones(4))

        def forward(self, t):
            self.b.add_(1.0)
            return t * self.b

    model, eager = AddBias(), AddBias()
    traced = tj.trace(model, tj.zeros(4))
    traced(tj.zeros(4))
    eager(tj.zeros(4))
    for _ in range(2):  # the buffer itself as the argument: written and read as one tensor
        close(traced(model.b), eager(eager.b))
        close(model.b, eager.b)
    close(traced(x[0]), eager(x[0]))
    close(model.b, eager.b)


def test_several_signatures_alternate(capture):
    model = MLP()
    tj.manual_seed(1)
    a, b = tj.randn(2, 4), tj.randn(5, 4)
    compiled = capture(model, a)
    for t in (a, b, a, b, b, a):
        close(compiled(t), model(t))
    assert len(compiled.graphs) == 2


def test_no_walk_of_the_module_tree_per_call(x, monkeypatch):
    walks = []
    original = nn.Module.named_parameters

    def counted(self, *args, **kwargs):
        walks.append(1)
        return original(self, *args, **kwargs)

    model = MLP()
    traced = tj.trace(model, x)
    traced(x)
    monkeypatch.setattr(nn.Module, "named_parameters", counted)
    for _ in range(20):
        traced(x)
    assert walks == []
    model.fc1.weight = nn.Parameter(tj.zeros(8, 4))  # a change: one walk, then none
    close(traced(x), model(x))
    traced(x)
    assert len(walks) == 1


def test_frozen_module_keeps_the_values_it_baked(x):
    model = MLP()
    eager = copy.deepcopy(model)
    traced = tj.trace(model, x, freeze=True)
    with tj.no_grad():
        model.fc1.weight.mul_(2.0)
    close(traced(x), eager(x))
