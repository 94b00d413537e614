"""Two idioms TorchScript captures, against plain eager execution of the same code: a Python
list of tensors built in a loop (`hs.append(h)` then `stack(hs)`), and a tensor assigned to a
module attribute in forward (`self.last_loss = loss`), written back after each call."""

from __future__ import annotations

import numpy as np
import pytest

import tracejit as tj
from tracejit.ir.ops import Op

RNG = np.random.default_rng(0)


def T(*shape):
    return tj.tensor(RNG.standard_normal(shape).astype(np.float32))


def same(got, want):
    if isinstance(want, (tuple, list)):
        assert type(got) is type(want) and len(got) == len(want)
        for g, w in zip(got, want):
            same(g, w)
        return
    assert isinstance(got, tj.Tensor) and got.dtype == want.dtype
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-5, atol=1e-5)


class Cell(tj.nn.Module):
    def __init__(self, n=4):
        super().__init__()
        self.ih, self.hh = tj.nn.Linear(3, n), tj.nn.Linear(n, n)

    def forward(self, x, h):
        return tj.tanh(self.ih(x) + self.hh(h))


class Unroll(tj.nn.Module):
    """`hs = []; for t in range(T): h = cell(x[t], h); hs.append(h)`: a static bound."""

    def __init__(self):
        super().__init__()
        self.cell = Cell()

    def forward(self, x, h):
        hs = []
        for t in range(x.shape[0]):
            h = self.cell(x[t], h)
            hs.append(h)
        return tj.stack(hs), hs[-1], len(hs)


def grow_with_plus_equals(x, n: int):
    outputs = []
    h = x
    for _ in range(n):
        h = h * 0.5 + 1
        outputs += [h]
    return tj.cat(outputs), outputs[-1] + len(outputs)


def grow_then_index(x):
    parts = [x]
    for k in range(3):
        parts.append(parts[-1] * (k + 2))
    parts.extend([x.sum(0, keepdim=True)])
    return tj.cat(parts, 0)


def containers_from_calls_and_operators(x):
    table = dict()
    table["rows"] = list()
    pairs = [x] * 2
    for k in range(2):
        table["rows"].append(x + k)
        pairs.append(x * k)
    return tj.stack(table["rows"] + pairs)


def test_containers_made_by_calls_and_operators_may_grow():
    x = T(3)
    same(tj.script(containers_from_calls_and_operators)(x), containers_from_calls_and_operators(x))


def local_list_in_a_tensor_loop(x, n):
    acc = x
    for _ in range(n):
        pieces = [acc, acc * 2]
        pieces.append(acc + 1)
        acc = tj.stack(pieces).sum(0)
    return acc


def grows_in_a_tensor_bounded_loop(x, n):
    hs = []
    for _ in range(n):
        hs.append(x)
    return tj.stack(hs)


def grows_in_a_tensor_if(x):
    hs = [x]
    if x.sum() > 0:
        hs.append(x * 2)
    return tj.cat(hs)


@pytest.mark.parametrize("backend", ["eager", "llvm"])
def test_a_list_of_hidden_states_built_over_a_static_range(backend):
    model = Unroll()
    scripted = tj.script(model, backend=backend)
    for steps in (5, 2):
        x, h = T(steps, 2, 3), T(2, 4)
        got = scripted(x, h)
        want = model(x, h)
        same(list(got[:2]), list(want[:2]))
        assert got[2] == want[2] == steps
    assert Op.FOR not in {op.op for op in scripted.graph.walk()}  # unrolled


def test_plus_equals_a_list_over_an_int_argument_unrolls_per_value():
    fn = tj.script(grow_with_plus_equals)
    x = T(2, 3)
    for n in (3, 1, 3):
        same(list(fn(x, n)), list(grow_with_plus_equals(x, n)))
    assert len(fn.graphs) == 2  # the loop bound became part of the key


def test_append_extend_and_negative_index_at_function_level():
    fn = tj.script(grow_then_index)
    x = T(2, 3)
    same(fn(x), grow_then_index(x))


def test_a_list_made_inside_a_tensor_bounded_loop_may_grow():
    fn = tj.script(local_list_in_a_tensor_loop)
    x, n = T(3), tj.tensor(4)
    same(fn(x, n), local_list_in_a_tensor_loop(x, n))
    same(fn(x, tj.tensor(2)), local_list_in_a_tensor_loop(x, tj.tensor(2)))
    assert Op.FOR in {op.op for op in fn.graph.walk()}


@pytest.mark.parametrize(("fn", "args", "what"), [
    (grows_in_a_tensor_bounded_loop, (T(2), tj.tensor(3)), "list.append()"),
    (grows_in_a_tensor_if, (T(2),), "list.append()"),
])
def test_growing_an_outer_list_in_tensor_control_flow_says_use_a_static_bound(fn, args, what):
    with pytest.raises(tj.ScriptError) as e:
        tj.script(fn)(*args)
    text = str(e.value)
    assert f"{what} changes a list made outside this loop or if on a tensor value" in text
    assert "hint: loop over range() with a bound known when scripting" in text
    assert "test_script_idioms.py:" in text


def generate(idx, steps: int):
    """nanoGPT's generate loop: the carried sequence grows by one token per step."""
    for _ in range(steps):
        nxt = idx[:, -1:] * 2 + 1
        idx = tj.cat((idx, nxt), dim=1)
    return idx


def test_a_loop_that_grows_a_tensor_unrolls_over_a_known_bound():
    fn = tj.script(generate)
    x = tj.tensor([[1, 2], [3, 4]])
    for steps in (3, 0, 3):
        same(fn(x, steps), generate(x, steps))
    assert all(Op.FOR not in {op.op for op in g.walk()} for g in fn.graphs)


class ScalesInALoop(tj.nn.Module):
    """A tensor attribute first used inside a loop that is unrolled after a first attempt."""

    def __init__(self):
        super().__init__()
        self.scale = tj.tensor([2.0, 3.0])

    def forward(self, x):
        outs = []
        for _ in range(3):
            x = x * self.scale
            outs.append(x)
        return tj.stack(outs)


def test_constants_first_used_in_an_abandoned_loop_attempt_stay_defined():
    model = ScalesInALoop()
    x = T(2)
    same(tj.script(model)(x), model(x))


# --- tensors assigned to module attributes --------------------------------------------------------
class WithLoss(tj.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = tj.nn.Linear(3, 2)
        self.attn = KeepsCache()

    def forward(self, x, target):
        y = self.attn(self.fc(x))
        loss = ((y - target) ** 2).mean()
        self.last_loss = loss
        self.scaled = self.last_loss * 2  # a read after the write sees the new value
        return y


class KeepsCache(tj.nn.Module):
    def forward(self, k):
        self.cache = k
        return k + 1


class ReadsThenWrites(tj.nn.Module):
    def __init__(self):
        super().__init__()
        self.state = tj.zeros(2)

    def forward(self, x):
        y = x + self.state
        self.state = y
        return y


class WritesInATensorIf(tj.nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            self.flag = x
        return x


class WritesAList(tj.nn.Module):
    def forward(self, x):
        self.history = [x]
        return x


class LlamaStyleLoss(tj.nn.Module):
    """llama2.c's Transformer: `self.last_loss = None` on the inference path."""

    def __init__(self):
        super().__init__()
        self.fc = tj.nn.Linear(3, 2)

    def forward(self, x, targets=None):
        y = self.fc(x)
        if targets is not None:
            self.last_loss = ((y - targets) ** 2).mean()
            self.mode = ("train", 1)
        else:
            self.last_loss = None
            self.mode = ("infer", 0)
        return y


def test_static_python_values_assigned_to_attributes_are_written_back():
    model, twin = LlamaStyleLoss(), LlamaStyleLoss()
    twin.load_state_dict(model.state_dict())
    scripted = tj.script(model)
    x, targets = T(4, 3), T(4, 2)
    for args in ((x, targets), (x,), (x, targets)):
        same(scripted(*args), twin(*args))
        assert model.mode == twin.mode
        if twin.last_loss is None:
            assert model.last_loss is None
        else:
            same(model.last_loss, twin.last_loss)


@pytest.mark.parametrize("backend", ["eager", "llvm"])
def test_assigned_attributes_hold_eagers_tensors_after_each_call(backend):
    model, twin = WithLoss(), WithLoss()
    twin.load_state_dict(model.state_dict())
    scripted = tj.script(model, backend=backend)
    for _ in range(2):
        x, target = T(4, 3), T(4, 2)
        same(scripted(x, target), twin(x, target))
        for name in ("last_loss", "scaled"):
            got = getattr(scripted, name)
            assert not hasattr(got, "_value")  # a real tensor, not a scripting placeholder
            same(got, getattr(twin, name))
        same(model.attn.cache, twin.attn.cache)


def test_a_buffer_reassigned_in_forward_is_read_fresh_each_call():
    class Counter(tj.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("total", tj.zeros(2))

        def forward(self, x):
            self.total = self.total + x
            return self.total * 1

    model, twin = Counter(), Counter()
    scripted = tj.script(model)
    for _ in range(3):
        x = T(2)
        same(scripted(x), twin(x))
        same(model.total, twin.total)


@pytest.mark.parametrize(("model", "message"), [
    (ReadsThenWrites(), ".state is read earlier in this call and assigned here"),
    (WritesInATensorIf(), "assigning the attribute .flag inside a loop or if on a tensor"),
    (WritesAList(), "assigning list to the attribute .history of a WritesAList"),
])
def test_attribute_writes_script_cannot_replay_are_refused_at_their_line(model, message):
    with pytest.raises(tj.ScriptError) as e:
        tj.script(model)(T(2))
    assert message in str(e.value) and "test_script_idioms.py:" in str(e.value)
    assert not hasattr(model, "flag") and not hasattr(model, "history")


def test_a_graph_file_of_a_module_that_assigns_attributes_returns_the_result(tmp_path):
    model = WithLoss()
    scripted = tj.script(model)
    x, target = T(4, 3), T(4, 2)
    want = scripted(x, target)
    tj.save(scripted, tmp_path / "m.tjg")
    same(tj.load(tmp_path / "m.tjg")(x, target), want)


@pytest.mark.parametrize("backend", ["eager", "llvm"])
def test_traced_modules_write_assigned_attributes_back_too(backend):
    """trace records Python as it runs: without the write-back, `model.last_loss` would hold
    the trace's never-computed placeholder."""
    model, twin = WithLoss(), WithLoss()
    twin.load_state_dict(model.state_dict())
    x, target = T(4, 3), T(4, 2)
    traced = tj.trace(model, x, target, backend=backend)
    for _ in range(2):
        same(traced(x, target), twin(x, target))
        for name in ("last_loss", "scaled"):
            same(getattr(model, name), getattr(twin, name))
        same(model.attn.cache, twin.attn.cache)
        x, target = T(4, 3), T(4, 2)
