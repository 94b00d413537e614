"""tracejit.trace: what a traced callable records, when it traces again, what it refuses.

The oracle is eager execution of the same code on copies of the same inputs: a traced call must
return bit-identical results (both run the op table's numpy code), write the same values into
its inputs and module buffers, and draw the same random numbers. Error texts are checked
verbatim; the `file:line:col` they start with comes from this file's source text (`where`).
"""

from __future__ import annotations

import collections
import copy
import inspect
import logging

import numpy as np
import pytest

import tracejit as tj
from tracejit import nn
from tracejit.ir import Op
from tracejit.ir.graph import ConstRef, Literal
from tracejit.ir.parser import parse
from tracejit.ir.verifier import verify
from tracejit.runtime.eager import interpret

ADVICE = ("; use @tracejit.script for data-dependent control flow, tracejit.where() to select "
          "values without branching, or keep the computation in tracejit ops")
NOT_AN_INPUT = (
    "in-place write to a tensor the traced code does not take as an input (a global, a closure "
    "variable, or a buffer frozen by freeze=True): the graph could not replay the write on "
    "later calls. Pass the tensor in as an input, or trace without freeze=True"
)


@pytest.fixture(autouse=True)
def reference_backend(monkeypatch):
    """These tests are about what tracing records and replays, compared bit for bit with eager
    execution: they run traced graphs through the reference interpreter (test_trace_ops.py and
    test_trace_twins.py compare the compiled backend too)."""
    monkeypatch.setenv("TRACEJIT_BACKEND", "eager")


# --- helpers ------------------------------------------------------------------------------------

def where(fn, snippet: str) -> str:
    """`file:line:col` of the first occurrence of `snippet` in `fn`'s source (col 1-based)."""
    lines, first = inspect.getsourcelines(fn)
    for k, text in enumerate(lines):
        if snippet in text:
            return f"{__file__}:{first + k}:{text.index(snippet) + 1}"
    raise AssertionError(f"{snippet!r} is not in the source of {fn.__name__}")


def copied(tree):
    """A deep copy of nested containers of tensors (fresh memory for every tensor)."""
    if isinstance(tree, tj.Tensor):
        return tj.tensor(tree.detach().numpy().copy())
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        return type(tree)(*(copied(v) for v in tree))
    if isinstance(tree, (list, tuple)):
        return type(tree)(copied(v) for v in tree)
    if isinstance(tree, dict):
        return {k: copied(v) for k, v in tree.items()}
    return tree


def assert_identical(ours, expected, path="out"):
    """Same container types, keys, static values, and tensors of equal dtype, shape and bits."""
    assert type(ours) is type(expected), f"{path}: {type(ours)} != {type(expected)}"
    if isinstance(expected, tj.Tensor):
        assert ours.dtype is expected.dtype, f"{path}: {ours.dtype} != {expected.dtype}"
        assert ours.shape == expected.shape, f"{path}: {ours.shape} != {expected.shape}"
        np.testing.assert_array_equal(ours.detach().numpy(), expected.detach().numpy(),
                                      err_msg=path)
    elif isinstance(expected, dict):
        assert list(ours) == list(expected), f"{path}: keys {list(ours)} != {list(expected)}"
        for k in expected:
            assert_identical(ours[k], expected[k], f"{path}[{k!r}]")
    elif isinstance(expected, (list, tuple)):
        assert len(ours) == len(expected), f"{path}: {len(ours)} != {len(expected)} items"
        for k, (a, b) in enumerate(zip(ours, expected)):
            assert_identical(a, b, f"{path}[{k}]")
    else:
        assert ours == expected, f"{path}: {ours!r} != {expected!r}"


def check_against_eager(fn, traced, *args, **kwargs):
    """traced(*args) == fn(*args) on copies, outputs and the inputs after the call alike."""
    mine, theirs = copied((args, kwargs)), copied((args, kwargs))
    out = traced(*mine[0], **mine[1])
    expected = fn(*theirs[0], **theirs[1])
    assert_identical(out, expected)
    assert_identical(mine, theirs, "inputs after the call")
    return out


def op_names(graph) -> list[str]:
    return [op.op.value for op in graph.walk()]


def round_trips(graph) -> None:
    """The graph verifies, prints, parses back to the same text, and runs the same."""
    verify(graph)
    text = str(graph)
    parsed = parse(text, graph.constants)
    verify(parsed)
    assert str(parsed) == text
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal(v.type.shape).astype(v.type.dtype.np) for v in graph.inputs]
    for a, b in zip(interpret(graph, inputs), interpret(parsed, inputs)):
        np.testing.assert_array_equal(a, b)


def randn(*shape, seed=0, dtype="float32"):
    return tj.tensor(np.random.default_rng(seed).standard_normal(shape).astype(dtype))


@pytest.fixture
def recompiles(caplog):
    """The messages logged to tracejit.recompiles during the test."""
    caplog.set_level(logging.INFO, logger="tracejit.recompiles")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "tracejit.recompiles"]


# --- the IR a trace records ---------------------------------------------------------------------

def scale_and_sum(x, y):
    z = x * 2 + y
    return z.sum(1)


def test_code_prints_the_graph(capsys):
    traced = tj.trace(scale_and_sum, tj.ones(2, 3), tj.ones(2, 3))
    print(traced.code)
    line = scale_and_sum.__code__.co_firstlineno
    expected = f"""\
graph @scale_and_sum(%x: float32[2,3], %y: float32[2,3]) -> (float32[2]) {{
  %0 = constant() {{value = dense<float32[]: 2.0>}} : float32[]
  %1 = mul(%x, %0) : float32[2,3] loc("test_trace.py":{line + 1}:9)
  %2 = add(%1, %y) : float32[2,3] loc("test_trace.py":{line + 1}:9)
  %3 = sum(%2) {{dims = [1], keepdim = false}} : float32[2] loc("test_trace.py":{line + 2}:12)
  return(%3)
}}

"""
    assert capsys.readouterr().out.replace(f'"{__file__}"', '"test_trace.py"') == expected
    assert traced.code == str(traced.graph)
    assert traced.signature == "(x: float32[2,3], y: float32[2,3]) -> float32[2]"
    assert repr(traced) == (
        "TracedFunction(scale_and_sum: (x: float32[2,3], y: float32[2,3]) -> float32[2])"
    )
    assert traced.graphs == [traced.graph]


class TwoLayers(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x):
        h = self.fc1(x).relu()
        return self.fc2(h)


def test_ops_carry_the_user_location():
    """Each op's loc is the first frame outside tracejit: the user's line, also for ops that
    tracejit.nn layers record on the user's behalf."""
    graph = tj.trace(scale_and_sum, tj.ones(2, 3), tj.ones(2, 3)).graph
    locs = {op.op.value: str(op.loc) for op in graph.walk() if op.loc is not None}
    assert locs == {"mul": where(scale_and_sum, "x * 2"), "add": where(scale_and_sum, "x * 2"),
                    "sum": where(scale_and_sum, "z.sum(1)")}
    graph = tj.trace(TwoLayers(), tj.ones(2, 4)).graph
    forward = TwoLayers.forward
    locs = [(op.op.value, str(op.loc)) for op in graph.walk() if op.loc is not None]
    assert locs == [("linear", where(forward, "self.fc1(x)")),
                    ("relu", where(forward, "self.fc1(x)")),
                    ("linear", where(forward, "self.fc2(h)"))]
    assert all(op.loc is None for op in graph.walk() if op.op in (Op.CONSTANT, Op.RETURN))


Pair = collections.namedtuple("Pair", "first second")


def nested(inputs, n, config=None):
    a, b = inputs["a"], inputs["pair"].second
    out = {"sum": a + b * n, "items": [a * 2, (b, n, None)], "pair": Pair(b - a, config)}
    return out if config is None else (out, inputs["list"][0].exp())


@pytest.mark.parametrize("freeze", [False, True])
def test_graphs_verify_and_round_trip_through_the_parser(freeze):
    x = randn(3, 4)
    inputs = {"a": x, "pair": Pair(None, randn(3, 4, seed=1)), "list": [randn(2, seed=2)]}
    round_trips(tj.trace(nested, inputs, 3, "cfg").graph)
    round_trips(tj.trace(scale_and_sum, x, x).graph)
    module = nn.Sequential(TwoLayers(), nn.Linear(3, 20), nn.LayerNorm(20))  # big constants
    traced = tj.trace(module, x, freeze=freeze)
    round_trips(traced.graph)
    assert any(isinstance(op.attrs.get("value"), ConstRef) for op in traced.graph.walk()) is freeze


# --- module state -------------------------------------------------------------------------------

def test_parameters_are_graph_inputs_and_updates_are_seen(recompiles):
    model = TwoLayers()
    x = randn(5, 4)
    traced = tj.trace(model, x)
    names = [v.name for v in traced.graph.inputs]
    assert names == ["x", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert "constant" not in op_names(traced.graph)
    check_against_eager(model, traced, x)
    with tj.no_grad():
        model.fc2.weight.mul_(2)
        model.fc1.bias.add_(1)
    out = check_against_eager(model, traced, x)
    reference = TwoLayers()
    reference.load_state_dict(model.state_dict())
    assert_identical(out, reference(x))
    assert len(traced.graphs) == 1 and recompiles() == []


def test_freeze_bakes_parameters_in_as_named_constants(recompiles):
    model = TwoLayers()
    x = randn(5, 4)
    before = model(x)
    traced = tj.trace(model, x, freeze=True)
    graph = traced.graph
    assert [v.name for v in graph.inputs] == ["x"]
    refs = [op.attrs["value"] for op in graph.walk() if op.op is Op.CONSTANT]
    assert refs == [ConstRef(n) for n in ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")]
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(graph.constants[name], value.detach().numpy())
    assert_identical(traced(x), before)
    with tj.no_grad():
        model.fc2.weight.mul_(2)
    assert_identical(traced(x), before)  # baked in: the update is not seen
    assert not np.array_equal(model(x).detach().numpy(), before.detach().numpy())
    assert len(traced.graphs) == 1 and recompiles() == []


class Gated(nn.Module):
    """Python control flow on a parameter."""

    def __init__(self):
        super().__init__()
        self.gate = nn.Parameter(tj.tensor([1.0, -3.0]))

    def forward(self, x):
        if self.gate.sum() > 0:
            return x * self.gate
        return x - self.gate


def test_frozen_parameters_may_escape_but_inputs_may_not():
    x = randn(2)
    traced = tj.trace(Gated(), x, freeze=True)
    assert "sub" in op_names(traced.graph) and "mul" not in op_names(traced.graph)
    assert_identical(traced(x), Gated()(x))
    with pytest.raises(tj.TraceError) as info:
        tj.trace(Gated(), x)
    assert str(info.value) == (
        f"{where(Gated.forward, 'self.gate.sum() > 0')}: error: Python control flow on a traced "
        "Tensor (bool()): the trace would keep only the branch these example inputs take"
        + ADVICE
    )


def test_traced_module_reaches_the_module():
    model = TwoLayers()
    traced = tj.trace(model, tj.ones(1, 4))
    assert traced.module is model and traced.fc1 is model.fc1
    assert traced.state_dict().keys() == model.state_dict().keys()
    for name, value in traced.state_dict().items():
        assert np.shares_memory(value.detach().numpy(),
                                dict(model.named_parameters())[name].detach().numpy())
    assert [n for n, _ in traced.named_parameters()] == ["fc1.weight", "fc1.bias", "fc2.weight",
                                                          "fc2.bias"]
    assert traced.eval() is traced and not model.training and not traced.training
    assert traced.train() is traced and model.fc2.training
    with pytest.raises(AttributeError):
        traced._secret  # noqa: B018
    assert repr(traced) == (
        "TracedModule(TwoLayers: (x: float32[1,4]) [train] -> float32[1,3])"
    )


# --- retracing ----------------------------------------------------------------------------------

def affine(x, scale, shift=None):
    out = x * scale
    return out if shift is None else out + shift


RETRACES = {  # what changes -> (first call's arguments, second call's arguments)
    "shape": ((randn(2, 3), 2.0), (randn(4, 3), 2.0)),
    "dtype": ((randn(2, 3), 2.0), (randn(2, 3, dtype="float64"), 2.0)),
    "structure": ((randn(2, 3), 2.0), (randn(2, 3), 2.0, randn(3))),
    "static value": ((randn(2, 3), 2.0), (randn(2, 3), 3.0)),
    "static type": ((randn(2, 3), 2.0), (randn(2, 3), 2)),
    "signed zero": ((randn(2, 3), 0.0), (randn(2, 3), -0.0)),
    "tensor for static": ((randn(2, 3), 2.0), (randn(2, 3), randn(3))),
}


@pytest.mark.parametrize("change", RETRACES)
def test_a_new_signature_retraces(change, recompiles):
    first, second = RETRACES[change]
    traced = tj.trace(affine, *first)
    check_against_eager(affine, traced, *second)
    assert len(traced.graphs) == 2 and len(recompiles()) == 1
    check_against_eager(affine, traced, *copied(first))  # cached: no new trace
    check_against_eager(affine, traced, *copied(second))
    assert len(traced.graphs) == 2 and len(recompiles()) == 1


def test_signed_zero_and_nan_statics():
    """Static floats are keyed by their bits: 1 / -0.0 is -inf, and a nan hits the cache."""
    x = tj.ones(2)
    traced = tj.trace(lambda x, s: x / s, x, 0.0)
    assert traced(x, -0.0).tolist() == [-np.inf, -np.inf]
    assert traced(x, 0.0).tolist() == [np.inf, np.inf]
    traced(x, float("nan"))
    assert np.isnan(traced(x, float("nan")).detach().numpy()).all()
    assert len(traced.graphs) == 3


def test_retrace_log_and_lru_eviction(recompiles):
    traced = tj.trace(affine, tj.ones(2), 2.0, cache_size=2)
    traced(tj.ones(3), 2.0)
    traced(tj.ones(4), 2.0)
    sig = "(x: float32[{0}], scale: 2.0) -> float32[{0}]".format
    assert recompiles() == [
        f"retracing affine: new signature {sig(3)} (cached: {sig(2)})",
        f"retracing affine: new signature {sig(4)} (cached: {sig(2)}; {sig(3)})",
        f"affine: cache full (2), dropped the trace for {sig(2)}",
    ]
    assert [g.input_types[0].shape for g in traced.graphs] == [(3,), (4,)]
    traced(tj.ones(3), 2.0)  # a hit moves it to the back of the queue
    traced(tj.ones(2), 2.0)
    assert recompiles()[-1] == f"affine: cache full (2), dropped the trace for {sig(4)}"
    assert [g.input_types[0].shape for g in traced.graphs] == [(3,), (2,)]
    assert traced.signature == sig(2)


def test_strict_refuses_to_retrace():
    traced = tj.trace(affine, tj.ones(2), 2.0, strict=True)
    assert_identical(traced(tj.full((2,), 3.0), 2.0), tj.full((2,), 6.0))
    with pytest.raises(tj.TraceError) as info:
        traced(tj.ones(2), 5.0)
    assert str(info.value) == (
        "affine was traced for (x: float32[2], scale: 2.0) -> float32[2]; this call has a new "
        "signature (x: float32[2], scale: 5.0) and strict=True forbids retracing. Trace again "
        "with these inputs, or pass strict=False"
    )
    assert len(traced.graphs) == 1


def test_cache_size_must_be_positive():
    with pytest.raises(ValueError) as info:
        tj.trace(affine, tj.ones(2), 2.0, cache_size=0)
    assert str(info.value) == "cache_size must be at least 1, got 0"


def test_train_and_eval_trace_apart(recompiles):
    tj.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    x = randn(3, 4)
    traced = tj.trace(model, x)
    assert "rand" in op_names(traced.graph)
    traced.eval()
    assert_identical(traced(x), model(x))
    assert "rand" not in op_names(traced.graph)
    assert recompiles() == [
        "retracing Sequential: new signature (input: float32[3,4]) [eval] -> float32[3,4] "
        "(cached: (input: float32[3,4]) [train] -> float32[3,4])"
    ]
    model[1].train()
    traced(x)
    assert traced.signature == "(input: float32[3,4]) [train: 1] -> float32[3,4]"


def test_strict_names_the_training_flag():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    traced = tj.trace(model, tj.ones(1, 4), strict=True)
    model.eval()
    with pytest.raises(tj.TraceError) as info:
        traced(tj.ones(1, 4))
    assert str(info.value) == (
        "Sequential was traced for (input: float32[1,4]) [train] -> float32[1,4]; this call has "
        "a new signature (input: float32[1,4]) [eval] and strict=True forbids retracing. Trace "
        "again with these inputs, or pass strict=False"
    )


def test_random_ops_replay_the_global_generator():
    def noisy(x):
        return tj.nn.functional.dropout(x, 0.5) + tj.randn(3, 4) * tj.rand(4)

    x = randn(3, 4)
    tj.manual_seed(7)
    traced = tj.trace(noisy, x)
    for seed in (7, 8):
        tj.manual_seed(seed)
        expected = noisy(x)
        tj.manual_seed(seed)
        assert_identical(traced(x), expected)
    tj.manual_seed(3)  # a retrace's own run is the call's result: numbers are drawn once
    expected = noisy(randn(2, 3, 4, seed=1)), tj.rand(1)
    tj.manual_seed(3)
    assert_identical((traced(randn(2, 3, 4, seed=1)), tj.rand(1)), expected)
    assert len(traced.graphs) == 2


# --- escapes ------------------------------------------------------------------------------------

def branch(x):
    if x.sum() > 0:
        return x
    return -x


def to_int(x):
    return x * int(x.sum())


def to_float(x):
    return x * float(x.sum())


def item(x):
    return x * x.sum().item()


def tolist(x):
    return tj.tensor(x.tolist())


def to_numpy(x):
    return x.detach().numpy() * 2


def as_array(x):
    return np.asarray(x) * 2


def list_index(x):
    return x * [1, 2, 3][x.long().sum()]


def range_of(x):
    return [x * k for k in range(x.long().sum())]


def f_string(x):
    return f"{x.sum():.3f}"


def tensor_of(x):
    return tj.tensor(x) + 1


def randperm(x):
    return x[tj.randperm(x.shape[0])]


def format_message(use: str) -> str:
    return {
        "bool": "Python control flow on a traced Tensor (bool()): the trace would keep only the "
                "branch these example inputs take",
        "int": "int() on a traced Tensor: the trace would bake its value in as a constant",
        "float": "float() on a traced Tensor: the trace would bake its value in as a constant",
        "item": "item() on a traced Tensor: the trace would bake its value in as a constant",
        "tolist": "tolist() on a traced Tensor: Python code on its values is not traced",
        "numpy": "numpy() on a traced Tensor: numpy code on its values is not traced",
        "asarray": "a traced Tensor converted to a numpy array: numpy code on its values is not "
                   "traced",
        "index": "a traced Tensor used as a Python index (__index__): the trace would bake its "
                 "value in as a constant",
        "format": "a traced Tensor formatted as a number (an f-string or format()): the trace "
                  "would bake its value into the text",
        "tensor": "tensor() of a traced Tensor: the trace would bake its values in as a "
                  "constant; copy it with .clone() instead",
    }[use] + ADVICE


ESCAPES = [  # (function, the expression the error points at, which message)
    (branch, "x.sum() > 0", "bool"),
    (to_int, "int(x.sum())", "int"),
    (to_float, "float(x.sum())", "float"),
    (item, "x.sum().item()", "item"),
    (tolist, "x.tolist()", "tolist"),
    (to_numpy, "x.detach().numpy()", "numpy"),
    (as_array, "np.asarray(x)", "asarray"),
    (list_index, "[1, 2, 3][x.long().sum()]", "index"),
    (range_of, "range(x.long().sum())", "index"),
    (f_string, 'f"{x.sum():.3f}"', "format"),
    (tensor_of, "tj.tensor(x)", "tensor"),
]


@pytest.mark.parametrize(("fn", "snippet", "use"), ESCAPES, ids=[e[0].__name__ for e in ESCAPES])
def test_escapes_raise_at_the_user_line(fn, snippet, use):
    x = tj.tensor([1.0, 0.0, 0.5])
    fn(x)  # fine eagerly
    with pytest.raises(tj.TraceError) as info:
        tj.trace(fn, x)
    assert str(info.value) == f"{where(fn, snippet)}: error: {format_message(use)}"
    assert str(info.value.loc) == where(fn, snippet)


def test_randperm_cannot_be_traced():
    with pytest.raises(tj.TraceError) as info:
        tj.trace(randperm, tj.ones(3))
    assert str(info.value) == (f"{where(randperm, 'tj.randperm(x.shape[0])')}: error: randperm() "
                               "(it draws from numpy's generator, not an op) cannot be traced")


def from_constants(x):
    table = tj.arange(6).reshape(2, 3)
    n = int(table[1, 2])  # 5: computed from constants only
    k = tj.tensor([2, 0, 1])
    if k.sum() > 2 and table.max().item() == 5:
        x = x * float(tj.tensor(0.5)) + [10.0, 20.0, 30.0][k[0]]
    return x.repeat(n,
                    1), f"{tj.tensor(1.25):.1f}", k.tolist(), float(tj.ones(2).numpy().sum())


def test_values_that_do_not_depend_on_inputs_may_escape():
    x = tj.tensor([1.0, 2.0, 3.0])
    traced = tj.trace(from_constants, x)
    check_against_eager(from_constants, traced, tj.tensor([4.0, 5.0, 6.0]))
    out, text, k, total = traced(x)
    assert (tuple(out.shape), text, k, total) == ((5, 3), "1.2", [2, 0, 1], 2.0)


def rows(x):
    return tj.stack([row * (k + 1) for k, row in enumerate(x)])


def test_iterating_over_a_tensor_unrolls_its_leading_dim(recompiles):
    traced = tj.trace(rows, randn(3, 2))
    assert op_names(traced.graph).count("slice") == 3
    check_against_eager(rows, traced, randn(3, 2, seed=1))
    check_against_eager(rows, traced, randn(5, 2, seed=2))
    assert op_names(traced.graph).count("slice") == 5
    assert len(traced.graphs) == 2 and len(recompiles()) == 1


# --- in-place writes ----------------------------------------------------------------------------

def bump(x):
    x.add_(1)
    return x * 2


def set_first(x, v):
    x[0] = 5
    x[1:] = x[1:] + v
    return x.sum()


def add_into_rows(x, v):
    x[1:] += v  # a write through a slice view lands in x
    return x * 2


def write_views(x):
    head, flat, cols = x[:2], x.reshape(-1), x.T
    x.mul_(2)  # every live view sees the write
    flat[0:3].zero_()  # a write through a view of a view: x and the other views see it
    cols[1].add_(10)
    return head + 0, flat * 1, cols - 0, x


def swap_in(y, x):
    x.copy_(y)  # x takes y's values before y changes
    y.mul_(3)
    return x


@pytest.mark.parametrize(("fn", "args", "written"), [
    (bump, (randn(3),), 1),
    (set_first, (randn(4, 2), randn(2, seed=1)), 1),
    (swap_in, (randn(3), randn(3, seed=1)), 2),
    (add_into_rows, (randn(4, 2), randn(2, seed=1)), 1),
    (write_views, (randn(3, 4),), 1),
])  # written: how many inputs the graph writes back
def test_writes_to_inputs_are_replayed_into_the_callers_tensors(fn, args, written):
    traced = tj.trace(fn, *copied(args))
    for seed in (2, 3):
        fresh = tuple(randn(*a.shape, seed=seed + k) for k, a in enumerate(args))
        check_against_eager(fn, traced, *fresh)
    assert len(traced.graphs) == 1
    results = 4 if fn is write_views else 1
    assert len(traced.graph.outputs) == results + written  # the results, then inputs written


def test_a_retrace_runs_the_code_once():
    traced = tj.trace(bump, tj.zeros(3))
    check_against_eager(bump, traced, tj.zeros(4))  # traced now: the write happens once
    check_against_eager(bump, traced, tj.zeros(4))


def bump_and_return(x):
    x.add_(1)
    return x, x * 2


def copy_into(x, y):
    y.copy_(x)  # y now holds x's values: returning y is still returning y
    return y, x


@pytest.mark.parametrize("fn", [lambda x: x, lambda x: (x, x + 1, x), bump_and_return,
                                copy_into])
def test_returned_inputs_are_the_callers_tensors(fn):
    """As in eager code, `return x` hands back the caller's tensor (also after writing it)."""
    n = len(inspect.signature(fn).parameters)
    traced = tj.trace(fn, *(randn(3, seed=k) for k in range(n)))
    mine = [randn(3, seed=k + 1) for k in range(n)]
    theirs = copied(mine)
    out, expected = traced(*mine), fn(*theirs)
    assert_identical(out, expected)
    outs, eager_outs = (out, expected) if isinstance(out, tuple) else ((out,), (expected,))
    assert [[o is x for x in mine] for o in outs] == [[o is x for x in theirs]
                                                      for o in eager_outs]


def test_the_same_tensor_passed_twice(recompiles):
    def add_into(a, b):
        a.add_(b)
        return a + b

    x, y = randn(3), randn(3, seed=1)
    traced = tj.trace(add_into, copied(x), copied(x))
    traced_twice = tj.trace(add_into, *[copied(x)] * 2)
    for t in (traced, traced_twice):
        mine, theirs = copied(x), copied(x)
        assert_identical(t(mine, mine), add_into(theirs, theirs))
        assert_identical(mine, theirs)
        check_against_eager(add_into, t, x, y)
    assert len(traced.graphs) == len(traced_twice.graphs) == 2


def test_writes_to_an_input_that_overlaps_another_input_are_refused():
    def write(a, b):
        a.mul_(2)
        return b + 1

    traced = tj.trace(write, tj.ones(4), tj.ones(4))
    x = tj.ones(6)
    with pytest.raises(tj.TraceError) as info:
        traced(x[:4], x[2:])
    line = where(test_writes_to_an_input_that_overlaps_another_input_are_refused,
                 "traced(x[:4], x[2:])")
    assert str(info.value) == (
        f"{line}: error: a is written in place and shares memory with another input of this "
        "call (a view of it, or it of a view): the graph replays the write on its own copy of "
        "the values, so the other input would not see it. Pass separate tensors (clone() one)"
    )
    assert x.tolist() == [1.0] * 6
    assert_identical(traced(x[:3].detach().repeat(2)[:4], x[2:]), tj.full((4,), 2.0))


def twin_batch_norms(**kwargs):
    tj.manual_seed(0)
    ours = nn.BatchNorm2d(3, **kwargs)
    if ours.affine:
        with tj.no_grad():
            ours.weight.copy_(tj.rand(3) + 0.5)
            ours.bias.copy_(tj.rand(3))
    return ours, copy.deepcopy(ours)


@pytest.mark.parametrize("kwargs", [{}, {"momentum": 0.5, "affine": False}, {"momentum": None}])
def test_batch_norm_updates_running_stats_like_eager(kwargs):
    traced_bn, eager_bn = twin_batch_norms(**kwargs)
    x = randn(4, 3, 2, 2)
    traced = tj.trace(traced_bn, x)  # tracing is abstract: it updates nothing
    assert_identical(traced_bn.state_dict(), eager_bn.state_dict())
    for step in range(3):
        x = randn(4, 3, 2, 2, seed=step + 1) * (step + 1)
        assert_identical(traced(x), eager_bn(x))
        assert_identical(traced_bn.state_dict(), eager_bn.state_dict())
    assert traced_bn.num_batches_tracked.item() == 3 and len(traced.graphs) == 1
    traced.eval()
    eager_bn.eval()
    assert_identical(traced(x), eager_bn(x))
    assert_identical(traced_bn.state_dict(), eager_bn.state_dict())


def test_writes_to_frozen_buffers_are_refused():
    bn = nn.BatchNorm2d(3)
    with pytest.raises(tj.TraceError) as info:
        tj.trace(bn, tj.ones(2, 3, 1, 1), freeze=True)
    line = where(test_writes_to_frozen_buffers_are_refused, "tj.trace(bn")
    assert str(info.value) == f"{line}: error: {NOT_AN_INPUT}"
    traced = tj.trace(bn.eval(), randn(2, 3, 1, 1), freeze=True)  # eval reads them only
    assert_identical(traced(randn(2, 3, 1, 1, seed=1)), bn(randn(2, 3, 1, 1, seed=1)))


GLOBAL = tj.zeros(3)


def write_global(x):
    GLOBAL.add_(x)
    return x


def write_read_global(x):
    y = x + GLOBAL
    GLOBAL[0] = 1.0
    return y


def write_detached_global(x):
    GLOBAL.detach().add_(x)  # a view of a global: not an input either
    return x


@pytest.mark.parametrize(("fn", "snippet", "message"), [
    (write_global, "GLOBAL.add_(x)", NOT_AN_INPUT),
    (write_read_global, "GLOBAL[0] = 1.0", NOT_AN_INPUT),
    (write_detached_global, "GLOBAL.detach().add_(x)", NOT_AN_INPUT),
])
def test_writes_the_graph_cannot_replay_are_refused(fn, snippet, message):
    with pytest.raises(tj.TraceError) as info:
        tj.trace(fn, tj.ones(3))
    assert str(info.value) == f"{where(fn, snippet)}: error: {message}"


# --- constants, aliases, containers -------------------------------------------------------------

CAPTURED = tj.tensor([1.0, 2.0, 3.0])


def uses_constants(x):
    made = tj.tensor([[0.5], [-1.0]])
    made[0] = made[0] + 1  # a tensor made inside the trace may be written
    scratch = tj.zeros(3)
    scratch += x[0]
    return (x.detach() * 2 + x.data) * made + CAPTURED - 1.5 + scratch, 3 * x.T.T + True


def test_constants_detach_data_and_captured_tensors():
    traced = tj.trace(uses_constants, randn(2, 3))
    check_against_eager(uses_constants, traced, randn(2, 3, seed=1))
    names = op_names(traced.graph)
    assert names.count("constant") >= 4 and names.count("full") == 1
    literals = [op.attrs["value"] for op in traced.graph.walk() if op.op is Op.CONSTANT]
    assert all(isinstance(v, Literal) for v in literals)
    CAPTURED.add_(100)  # captured values are baked in when traced
    try:
        out = traced(randn(2, 3, seed=1))[0]
    finally:
        CAPTURED.sub_(100)
    assert_identical(out, uses_constants(randn(2, 3, seed=1))[0])


def test_constant_outputs_are_fresh_writeable_copies():
    def constants(x):
        return x + 1, CAPTURED, tj.tensor([7, 8]), tj.arange(3)

    traced = tj.trace(constants, tj.ones(2))
    first = traced(tj.ones(2))
    assert_identical(first, constants(tj.ones(2)))
    for out in first[1:]:
        out.mul_(0)  # writeable, and not the graph's copy
    assert_identical(traced(tj.ones(2)), constants(tj.ones(2)))
    assert first[1] is not CAPTURED and CAPTURED.tolist() == [1.0, 2.0, 3.0]


def test_nested_containers_statics_and_none_round_trip(recompiles):
    inputs = {"a": randn(3), "pair": Pair(None, randn(3, seed=1)), "list": [randn(2, seed=2)]}
    traced = tj.trace(nested, inputs, 3)
    assert [v.name for v in traced.graph.inputs] == ["inputs_a", "inputs_pair_second",
                                                     "inputs_list_0"]
    fresh = {"a": randn(3, seed=4), "pair": Pair(None, randn(3, seed=5)), "list": [randn(2)]}
    out = check_against_eager(nested, traced, fresh, 3)
    assert out["items"][1][1:] == (3, None) and out["pair"].second is None
    assert traced.signature == (
        "(inputs: {'a': float32[3], 'pair': Pair(None, float32[3]), 'list': [float32[2]]}, n: 3)"
        " -> {'sum': float32[3], 'items': [float32[3], (float32[3], 3, None)], "
        "'pair': Pair(float32[3], None)}"
    )
    check_against_eager(nested, traced, fresh, 3, config="cfg")
    check_against_eager(nested, traced, fresh, 3, "cfg")  # the same binding: a cache hit
    assert len(traced.graphs) == 2 and len(recompiles()) == 1


def test_keyword_arguments(recompiles):
    traced = tj.trace(affine, randn(2), example_kwarg_inputs={"scale": randn(2, seed=1),
                                                               "shift": 0.5})
    check_against_eager(affine, traced, randn(2, seed=2), scale=randn(2, seed=3), shift=0.5)
    check_against_eager(affine, traced, randn(2, seed=2), randn(2, seed=3), 0.5)
    check_against_eager(affine, traced, shift=0.5, scale=randn(2, seed=3), x=randn(2, seed=2))
    assert len(traced.graphs) == 1 and recompiles() == []
    with pytest.raises(TypeError) as info:
        traced(randn(2))
    assert str(info.value) == "affine(): missing a required argument: 'scale'"


def test_traced_functions_called_while_tracing_are_inlined():
    double = tj.trace(lambda x: x * 2, tj.ones(2))
    outer = tj.trace(lambda x: double(x) + 1, tj.ones(2))
    assert op_names(outer.graph).count("mul") == 1
    assert_identical(outer(tj.tensor([1.0, 5.0])), tj.tensor([3.0, 11.0]))


def test_tracing_inside_a_trace_is_refused():
    def inner(x):
        return x + 1

    with pytest.raises(tj.TraceError) as info:
        tj.trace(lambda x: tj.trace(inner, x)(x), tj.ones(2))
    assert str(info.value) == ("tracing inner while another trace is running; call the traced "
                               "function's original instead")


def test_what_cannot_be_traced():
    with pytest.raises(TypeError) as info:
        tj.trace(3, tj.ones(2))
    assert str(info.value) == "trace() takes a function or an nn.Module, got int"
    with pytest.raises(TypeError) as info:
        tj.trace(lambda x, arr: x, tj.ones(2), np.ones(2))
    assert str(info.value) == (
        "cannot trace an input or output of type ndarray (at arr): tracejit traces Tensors and "
        "tuples, lists and dicts of them; other values must be Python numbers, strings, None, "
        "dtypes or modules"
    )


# --- abstract tracing ---------------------------------------------------------------------------

def test_tracing_computes_nothing_and_changes_nothing():
    """trace() records without computing: inputs keep their values, the generator does not
    advance, and the first call computes once, as eager code would."""
    x = randn(3)
    before = x.detach().numpy().copy()
    tj.manual_seed(5)
    traced = tj.trace(bump_noisy, x)
    np.testing.assert_array_equal(x.detach().numpy(), before)
    tj.manual_seed(5)
    expected_x, expected = x.clone(), bump_noisy(x.clone())
    tj.manual_seed(5)
    out = traced(x)
    assert_identical(out, expected)
    np.testing.assert_array_equal(x.detach().numpy(), expected_x.detach().numpy() + 1)


def bump_noisy(x):
    x.add_(1)
    return x * 2 + tj.rand(3)


def test_data_dependent_shapes_trace_with_real_values(caplog):
    caplog.set_level(logging.INFO, logger="tracejit.recompiles")
    x = randn(6)
    traced = tj.trace(positives, x)
    assert any("data-dependent shape" in r.getMessage() for r in caplog.records)
    check_against_eager(positives, traced, x)


def positives(x):
    return x[x > 0] * 2
