"""tracejit.compile's front door: its forms and options, the compiled module's API, save and
load, the trace and Python fallbacks, the recompile limit, explain's data and the log channels.
Oracle: the same code run uncompiled (plain Python), and torch for the module numerics."""

from __future__ import annotations

import collections
import json
import logging
import warnings

import numpy as np
import pytest
import torch

import tracejit as tj
from tracejit import nn
from tracejit.breaks import KNOWN


@pytest.fixture(autouse=True)
def _fresh_breaks():
    KNOWN.clear()  # breaks found by other tests' compiles of shared helpers
    yield


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def scaled(x):
    return (x * 3 + 1).relu()


def logs_mean(x, out: list):
    y = x * 2
    out.append(round(y.mean().item(), 4))
    return y - 1


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.scale = 2.0

    def forward(self, x):
        h = self.fc(x) * self.scale
        if h.abs().max().item() > 1e6:  # never taken: a break all the same
            print("huge")
        return h.tanh()


def test_the_three_forms_compute_what_python_does():
    x = tj.tensor(_x(5))
    want = scaled(x).numpy()

    @tj.compile
    def deco(x):
        return (x * 3 + 1).relu()

    @tj.compile(fullgraph=True)
    def full(x):
        return (x * 3 + 1).relu()

    for f in (tj.compile(scaled), deco, full):
        for _ in range(2):
            np.testing.assert_allclose(f(x).numpy(), want, rtol=1e-6)


def test_a_break_keeps_side_effects_in_order():
    out_plain, out_compiled = [], []
    x = tj.tensor(_x(6))
    want = logs_mean(x, out_plain)
    f = tj.compile(logs_mean)
    for _ in range(3):
        got = f(x, out_compiled)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    assert out_compiled == out_plain * 3
    assert len(f.breaks) == 1 and "item()" in f.breaks[0].reason


def test_compiled_module_keeps_the_module_api_and_matches_torch():
    ours, linear = Net(), torch.nn.Linear(4, 3)
    ours.fc.load_state_dict({k: tj.tensor(v.detach().numpy())
                             for k, v in linear.state_dict().items()})

    def theirs(x, scale):
        return torch.tanh(linear(x) * scale)

    compiled = tj.compile(ours)
    assert isinstance(compiled, tj.CompiledModule)
    assert [n for n, _ in compiled.named_parameters()] == ["fc.weight", "fc.bias"]
    assert set(compiled.state_dict()) == {"fc.weight", "fc.bias"}
    assert compiled.eval() is compiled and not ours.training
    assert compiled.train() is compiled and ours.training
    assert compiled.to(tj.float32) is compiled
    x = _x(2, 4)
    np.testing.assert_allclose(compiled(tj.tensor(x)).detach().numpy(),
                               theirs(torch.tensor(x), 2.0).detach().numpy(), rtol=1e-5,
                               atol=1e-6)
    compiled.scale = 3.0  # reaches the module; the graph that baked 2.0 recompiles
    assert ours.scale == 3.0
    np.testing.assert_allclose(compiled(tj.tensor(x)).detach().numpy(),
                               theirs(torch.tensor(x), 3.0).detach().numpy(), rtol=1e-5,
                               atol=1e-6)


def test_in_place_weight_updates_are_seen_through_a_break():
    net = Net()
    compiled = tj.compile(net)
    x = tj.tensor(_x(3, 4))
    compiled(x)
    with tj.no_grad():
        net.fc.weight.mul_(0.5)
    np.testing.assert_allclose(compiled(x).detach().numpy(), net(x).detach().numpy(),
                               rtol=1e-5, atol=1e-6)  # tanh: within ulps of numpy's


@pytest.mark.parametrize("options, message", [
    ({"recompile_limits": 3}, "unknown compile option"),
    ({"recompile_limit": -1}, "recompile_limit must be an int"),
    ({"pipeline": "no-such-pass"}, "no-such-pass"),
])
def test_bad_options_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        tj.compile(scaled, options=options)


def test_bad_backend_and_dynamic_are_refused_clearly():
    with pytest.raises(ValueError, match="backend must be one of"):
        tj.compile(scaled, backend="tpu")
    with pytest.raises(NotImplementedError, match="dynamic shapes"):
        tj.compile(scaled, dynamic=True)
    with pytest.raises(TypeError, match=r"takes a function or an nn\.Module"):
        tj.compile(3)


def test_save_of_a_break_free_compile_loads_and_runs(tmp_path):
    x = tj.tensor(_x(5))
    f = tj.compile(scaled)
    f(x)
    tj.save(f, tmp_path / "scaled.tj")
    loaded = tj.load(tmp_path / "scaled.tj")
    np.testing.assert_allclose(loaded(x).numpy(), scaled(x).numpy(), rtol=1e-6)


def test_save_of_a_compile_with_breaks_lists_them(tmp_path):
    f = tj.compile(logs_mean)
    with pytest.raises(TypeError, match="before its first call"):
        tj.save(f, tmp_path / "early.tj")
    f(tj.tensor(_x(4)), [])
    with pytest.raises(TypeError, match=r"graph breaks(.|\n)*item\(\)") as info:
        tj.save(f, tmp_path / "broken.tj")
    assert "test_compile.py:" in str(info.value)


def test_functions_without_source_are_traced_and_generators_run_as_python():
    namespace: dict = {}
    exec("def made(x):\n    return x.relu() * 2\n", {}, namespace)  # no file to read
    made = tj.compile(namespace["made"])
    x = tj.tensor(_x(4))
    np.testing.assert_allclose(made(x).numpy(), namespace["made"](x).numpy())
    assert "trace" in repr(made)

    def pairs(x):
        for k in range(2):
            yield x * k

    got = list(tj.compile(pairs)(x))
    want = list(pairs(x))
    assert len(got) == 2
    for a, b in zip(got, want):
        np.testing.assert_allclose(a.numpy(), b.numpy())


def test_the_recompile_limit_warns_once_then_runs_as_python(caplog):
    f = tj.compile(scaled, options={"recompile_limit": 2})
    with warnings.catch_warnings(record=True) as caught, \
            caplog.at_level(logging.INFO, logger="tracejit.recompiles"):
        warnings.simplefilter("always")
        for n in range(1, 7):
            x = tj.tensor(_x(n))
            np.testing.assert_allclose(f(x).numpy(), scaled(x).numpy(), rtol=1e-6)
    limit = [w for w in caught if "recompile limit" in str(w.message)]
    assert len(limit) == 1
    said = [r.getMessage() for r in caplog.records]
    assert any("`x.shape[0]` was 1, is 2" in m for m in said), said


def test_explain_reports_graphs_breaks_and_guards_as_json_ready_data():
    with tj.no_grad():  # a training module whose parameters require grad runs eagerly
        report = tj.explain(Net(), tj.tensor(_x(2, 4)))
    assert report.graph_count == 2 and report.graph_break_count == 1
    (brk,) = report.breaks
    assert brk.line == Net.forward.__code__.co_firstlineno + 2
    assert "item()" in brk.reason and "h.abs().max().item()" in brk.source_line
    data = json.loads(json.dumps(report.to_dict()))
    assert data["graph_count"] == 2 and data["breaks"][0]["line"] == brk.line
    assert any("`self.scale` == 2.0" in g for g in report.guards)
    text = str(report)
    assert "Graph count: 2" in text and "Graph break count: 1" in text
    assert report.result.shape == (2, 3)


def test_explain_of_a_compiled_callable_explains_its_original():
    x = tj.tensor(_x(4))
    report = tj.explain(tj.compile(logs_mean), x, [])
    assert report.graph_break_count == 1 and report.graph_count == 2


def test_log_channels_name_breaks_and_guards(caplog):
    with caplog.at_level(logging.INFO, logger="tracejit"):
        tj.compile(logs_mean)(tj.tensor(_x(4)), [])
    breaks = [r.getMessage() for r in caplog.records if r.name == "tracejit.graph_breaks"]
    guards = [r.getMessage() for r in caplog.records if r.name == "tracejit.guards"]
    assert breaks and "logs_mean" in breaks[0] and "item()" in breaks[0]
    assert guards and any("x: float32[4]" in g for g in guards)


def test_a_break_inside_a_loop_of_a_module_matches_python():
    class Stack(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])
            self.norms: list = []

        def forward(self, x):
            for layer in self.layers:
                x = layer(x).relu()
                self.norms.append(float(x.norm()))
            return x

    model = Stack()
    x = tj.tensor(_x(2, 4))
    want = model(x).detach().numpy()
    want_norms = list(model.norms)
    model.norms.clear()
    compiled = tj.compile(model)
    for _ in range(2):
        model.norms.clear()
        np.testing.assert_allclose(compiled(x).detach().numpy(), want, rtol=1e-5)
        np.testing.assert_allclose(model.norms, want_norms, rtol=1e-5)


CALLED_WHILE_COMPILING: list = []


@tj.compiler.disable
def _kept_in_python(x):
    CALLED_WHILE_COMPILING.append(tj.compiler.is_compiling())
    return x * 2


def _calls_disabled(x):
    y = x + 1
    flag = tj.compiler.is_compiling()
    return _kept_in_python(y) + 1, flag


def test_torch_compiler_and_dynamo_helpers_port():
    CALLED_WHILE_COMPILING.clear()
    x = tj.tensor(_x(3))
    want, flag = _calls_disabled(x)
    assert flag is False and CALLED_WHILE_COMPILING == [False]
    compiled = tj.compile(_calls_disabled)
    for _ in range(2):
        got, flag = compiled(x)
        np.testing.assert_allclose(got.numpy(), want.numpy())
        assert flag is True  # captured code sees it compiling, as under torch.compile
    assert CALLED_WHILE_COMPILING == [False] * 3  # the disabled function ran as Python
    assert [b.reason for b in compiled.breaks] == [
        "tracejit.compiler.disable: _kept_in_python runs as Python"]
    report = tj._dynamo.explain(_calls_disabled)(x)  # torch's form
    assert report.graph_break_count == 1
    saved = tj._dynamo.config.cache_size_limit
    try:
        tj._dynamo.config.cache_size_limit = 3
        assert tj.compile(scaled).options["limit"] == 3
    finally:
        tj._dynamo.config.cache_size_limit = saved
    tj._dynamo.mark_dynamic(x, 0)  # accepted: shapes are specialized
    tj.compiler.reset()
    assert not KNOWN


# --- values a graph must not bake in (findings of the real-model corpus) ---------------------
def _appends_through_a_closure(x):
    ret = {"attn": []}
    print_count = len(ret)  # noqa: F841 - a statement before the nested def

    def decode(o):
        ret["attn"].append(o)
        return o + 1

    decode(x)
    decode(x)
    return ret


def _reads_back_a_closure_list(x):
    syms = []

    def decode(o):
        syms.append(o)
        return syms[-1].argmax(1)

    return decode(x), decode(x.flip(1))


def test_closure_containers_are_python_state_not_constants():
    x = tj.tensor([[1.0, 0.0]])
    compiled = tj.compile(_appends_through_a_closure)
    for _ in range(2):
        assert len(compiled(x)["attn"]) == len(_appends_through_a_closure(x)["attn"]) == 2
    compiled = tj.compile(_reads_back_a_closure_list)
    for _ in range(2):
        got, want = compiled(x), _reads_back_a_closure_list(x)
        assert [g.tolist() for g in got] == [w.tolist() for w in want] == [[0], [1]]


CLOSURE_MODEL = nn.Linear(2, 1)


def _train_step(x):
    return CLOSURE_MODEL(x).sum()


def test_a_global_model_is_compiled_with_its_weights_read_each_call():
    x = tj.tensor(_x(3, 2))
    step = tj.compile(_train_step)
    assert step(x).item() == pytest.approx(_train_step(x).item(), rel=1e-6)
    with tj.no_grad():
        CLOSURE_MODEL.weight.mul_(2.0)  # as an optimizer step does
    assert step(x).item() == pytest.approx(_train_step(x).item(), rel=1e-6)
    assert "not an argument" in step.breaks[0].reason


class _Ramp(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("w", tj.ones(2))

    def forward(self, n):
        return tj.arange(n).float()[:, None] * self.w


class _CachesInBuffer(nn.Module):
    """palm's idiom: a buffer registered None in __init__, filled in forward."""

    def __init__(self):
        super().__init__()
        self.ramp = _Ramp()
        self.register_buffer("pos", None)

    def forward(self, x):
        if self.pos is None:
            self.register_buffer("pos", self.ramp(x.shape[0]))
        return x * self.pos


@pytest.mark.parametrize("capture", [tj.script, tj.compile])
def test_a_buffer_filled_in_forward_holds_its_values(capture):
    want = np.array([[0, 0], [1, 1], [2, 2]], np.float32)
    model = _CachesInBuffer()
    compiled = capture(model)
    for _ in range(2):
        np.testing.assert_array_equal(compiled(tj.ones(3, 2)).numpy(), want)
        np.testing.assert_array_equal(model.pos.numpy(), want)


class _Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def forward(self, x):
        self.last = None
        return self.fc(x).tanh()

    @tj.inference_mode()
    def generate(self, x, n: int):
        for _ in range(n):
            x = self(x)
        return x


def test_compiling_a_method_compiles_that_method():
    model = _Generator()
    x = tj.tensor(_x(1, 2))
    compiled = tj.compile(model.generate)
    assert isinstance(compiled, tj.compiler.CompiledMethod)
    for _ in range(2):
        np.testing.assert_allclose(compiled(x, 3).numpy(), model.generate(x, 3).numpy(),
                                   rtol=1e-5, atol=1e-6)  # tanh: within ulps of numpy's
    assert tj.explain(model.generate, x, 3).graph_count >= 1


DEQUE: collections.deque = collections.deque()
GROWS: list = []
CONFIG = {"scale": 2.0}


def _appends_to_a_global_deque(x):
    DEQUE.append(1)
    return x + 1


def _reads_a_global_list_it_grows(x):
    GROWS.append(1)
    return x + len(GROWS)


def _reads_a_global_config(x):
    return x * CONFIG["scale"]


def test_global_containers_are_read_as_they_are_now():
    DEQUE.clear()
    GROWS.clear()
    f = tj.compile(_appends_to_a_global_deque)
    for _ in range(3):
        f(tj.zeros(1))
    assert len(DEQUE) == 3
    g = tj.compile(_reads_a_global_list_it_grows)
    assert [g(tj.zeros(1)).item() for _ in range(3)] == [1.0, 2.0, 3.0]
    h = tj.compile(_reads_a_global_config)
    assert h(tj.ones(1)).item() == 2.0
    CONFIG["scale"] = 3.0
    try:
        assert h(tj.ones(1)).item() == 3.0
    finally:
        CONFIG["scale"] = 2.0


def _doubles_and_prints(x, n: int):
    for _ in range(n):
        x = x * 2
        print(x.sum().item())


def _two_names(x, y):
    print("break")
    return x + 0, y + 0


def test_a_loop_carried_variable_reaches_the_next_iteration(capsys):
    tj.compile(_doubles_and_prints)(tj.tensor(4.0), 2)
    compiled_out = capsys.readouterr().out
    _doubles_and_prints(tj.tensor(4.0), 2)
    assert compiled_out == capsys.readouterr().out == "8.0\n16.0\n"


def test_a_region_first_called_with_one_tensor_twice_tells_two_apart(capsys):
    f = tj.compile(_two_names)
    t = tj.tensor([1])
    f(t, t)
    got = f(tj.tensor([1]), tj.tensor([2]))
    assert [g.tolist() for g in got] == [[1], [2]]


def test_a_training_module_with_grad_on_runs_eagerly_and_says_so():
    model = Net()
    report = tj.explain(model, tj.tensor(_x(2, 4)))
    assert report.graph_count == 0
    assert any("gradients are needed" in b.reason for b in report.breaks)
    assert report.result.requires_grad  # backward() works through it
    model.eval()
    assert tj.explain(model, tj.tensor(_x(2, 4))).graph_count == 2  # eval mode: compiled
    with pytest.raises(RuntimeError, match="fullgraph=True"):
        tj.compile(Net(), fullgraph=True)(tj.tensor(_x(2, 4)))
