"""Programs with graph breaks for tracejit.compile: one per break reason, combinations, and
real-model style code. Each `Program` holds a setup that builds fresh state, the arguments of
each call, and the number of graphs and breaks `tracejit.explain` should report.

Counting rules the expectations follow: a break is a statement that cannot be captured by
itself (`print(...)`, `s = y.sum().item()`, `try`, a non-grad `with`, ...); an `if`/`for`/
`while` that runs as Python only because its body holds a break is not one more break. A graph
is a maximal captured region with a tensor op that ran in the call; a call into a user
function or submodule that breaks is inlined (its regions merge with the caller's)."""

from __future__ import annotations

import collections
import logging
import math
import random
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import tracejit as tj
from tracejit import nn

LOG = logging.getLogger("compile_programs")


@dataclass
class Case:
    """A fresh callable (function or module), the arguments of call k, and the side-effect
    state (counters, lists) to compare after each call."""

    target: Callable
    args: Callable[[int], tuple]
    state: Callable[[], Any] = lambda: None
    kwargs: Callable[[int], dict] = lambda k: {}


@dataclass(frozen=True)
class Program:
    name: str
    reason: str
    setup: Callable[[], Case]
    graphs: int | None  # None: explain is not checked (a generator function)
    breaks: int | None
    backends: tuple[str, ...] = ("llvm",)
    calls: int = 3
    explain_call: int = 0  # the call whose arguments explain runs
    fullgraph: bool = True  # script raises a ScriptError for it (fullgraph=True compares)
    note: str = ""
    raises: tuple[int, ...] = field(default=())  # calls expected to raise (checked in plain)
    # (graphs, breaks) tracejit.explain reports today where it counts otherwise; `note` says why
    today: tuple[int, int] | None = None
    state_changes_guard: bool = False  # each call changes a value a graph reads: recompiles
    known_bug: str = ""  # compiled today differs from plain Python: what happens (xfail)


PROGRAMS: list[Program] = []


def program(reason: str, graphs: int | None, breaks: int | None, name: str = "", **kw):
    """Register `setup` (named `case_<name>` unless `name` is given) as a program."""

    def register(setup):
        PROGRAMS.append(Program(name or setup.__name__.removeprefix("case_"), reason, setup,
                                graphs, breaks, **kw))
        return setup

    return register


def simple(fn, args) -> Callable[[], Case]:
    """The setup of a program without state: `fn` called with `args(k)`."""

    def setup():
        return Case(fn, args)

    setup.__name__ = fn.__name__
    return setup


def data(k: int, *shape: int, scale: float = 1.0) -> tj.Tensor:
    """Call k's input: calls 0 and 1 see the same values, call 2 and later others."""
    rng = np.random.default_rng(0 if k < 2 else k)
    return tj.tensor((rng.standard_normal(shape) * scale).astype(np.float32))


def grid(k: int, *shape: int) -> tj.Tensor:
    """Values on a 0.25 grid: printed results read the same in every mode."""
    rng = np.random.default_rng(0 if k < 2 else k)
    return tj.tensor(rng.integers(-8, 9, shape).astype(np.float32) / 4)


# ------------------------------------------------------------------ print, logging, warnings


def print_tensor(x):
    y = x * 2 + 1
    print("y =", y)
    return y.sum() * 3


def print_item(x):
    y = x.abs() + 1
    print(f"total {y.sum().item():.2f}")
    return y / y.sum()


def log_mean(x):
    y = x * x
    LOG.info("mean %.3f", y.mean().item())
    return y + 1


def warn_each_call(x, scale: float):
    y = x * scale
    warnings.warn(f"scaled by {scale}", RuntimeWarning, stacklevel=1)
    return y - 1


PROGRAMS_ARGS_1D = lambda k: (grid(k, 4),)  # noqa: E731

program("print", 2, 1, backends=("llvm", "eager"))(simple(print_tensor, PROGRAMS_ARGS_1D))
program("print", 2, 1)(simple(print_item, PROGRAMS_ARGS_1D))
program("logging", 2, 1, fullgraph=False)(simple(log_mean, PROGRAMS_ARGS_1D))
program("warnings.warn", 2, 1, fullgraph=False)(
    simple(warn_each_call, lambda k: (grid(k, 4), 2.0 if k < 2 else 0.5)))


# ------------------------------------------------------------------ try, with, generators


def try_caught(x):
    y = x + 1
    try:
        z = y * 2
        if z.shape[0] > 2:
            raise ValueError("too long")
        z = z + 100
    except ValueError:
        z = y - 1
    return z * 3


def try_tensor_error(x, y):
    try:
        z = x + y
    except RuntimeError as e:
        z = x.sum() + y.sum()
        print("fell back:", e)
    return z * 2


class Counting:
    """A context manager that counts its entries and exits."""

    def __init__(self):
        self.entered = self.exited = 0

    def __enter__(self):
        self.entered += 1
        return self

    def __exit__(self, *exc):
        self.exited += 1
        return False


COUNTER = Counting()


def with_counting(x):
    y = x - 1
    with COUNTER:
        y = y.relu() * 2
    return y + COUNTER.entered


def with_no_grad(x):
    with tj.no_grad():
        y = x * 2
    return y + 1


def powers(x, n: int):
    y = x * 1
    for _ in range(n):
        yield y
        y = y * x


def rows_comprehension(x):
    y = x * 2
    rows = [r.sum() for r in y]
    return tj.stack(rows) + 1


def lambda_sort(x):
    y = x * x
    order = sorted(range(y.shape[0]), key=lambda i: y[i].sum().item())
    return y[order[0]] - y[order[-1]]


def lambda_inline(x):
    f = lambda v: v * 2 + 1  # noqa: E731
    return f(x) - f(x.flip(0))


def case_with_counting():
    COUNTER.entered = COUNTER.exited = 0
    return Case(with_counting, PROGRAMS_ARGS_1D, lambda: (COUNTER.entered, COUNTER.exited))


program("try/except, raise caught", 4, 1, backends=("llvm", "eager"), today=(3, 1),
        note="today `z = y * 2` runs eagerly with the raise after it: no graph, no break")(
    simple(try_caught, PROGRAMS_ARGS_1D))
program("try/except, tensor error caught", 2, 2,
        note="the region `z = x + y` raises; it is not counted as a graph that ran")(
    simple(try_tensor_error, lambda k: (grid(k, 3), grid(k + 5, 4 if k < 2 else 1))))
program("with (user context manager)", 3, 1, backends=("llvm", "eager"),
        state_changes_guard=True)(case_with_counting)
program("with no_grad (captured)", 1, 0, fullgraph=False)(simple(with_no_grad, PROGRAMS_ARGS_1D))
program("generator function", None, None, fullgraph=False)(
    simple(powers, lambda k: (grid(k, 4), 3)))
program("comprehension over a tensor", 2, 1)(
    simple(rows_comprehension, lambda k: (grid(k, 3, 4),)))
program("lambda reading .item()", 2, 1)(simple(lambda_sort, lambda k: (data(k, 3, 4),)))
program("lambda (captured)", 1, 0, fullgraph=False)(simple(lambda_inline, PROGRAMS_ARGS_1D))


# ------------------------------------------------------------------ numpy and other libraries


def numpy_clip(x):
    y = x.sigmoid()
    a = np.clip(np.asarray(y.numpy()), 0.3, 0.7)
    return tj.from_numpy(a) * 2


def numpy_total(x):
    y = x.exp()
    total = float(y.numpy().sum())
    return y / total


def random_scale(x):
    y = x + 1
    r = random.random()
    return y * r


def math_exp_item(x):
    y = x.tanh()
    m = math.exp(-y.abs().max().item())
    return y * m


def counter_tolist(x):
    y = x.softmax(dim=1)
    counts = collections.Counter(y.argmax(dim=1).tolist())
    return y * len(counts)


def tolist_count(x):
    y = x - 0.5
    n_pos = sum(1 for v in y.tolist() if v > 0)
    return x * n_pos


program("numpy on a tensor", 1, 2,
        note="the line after it reads the numpy array: numpy code runs as Python too")(
    simple(numpy_clip, lambda k: (data(k, 5),)))
program(".numpy()", 2, 1)(simple(numpy_total, lambda k: (data(k, 5),)))
program("random (seeded)", 2, 1, fullgraph=False)(simple(random_scale, lambda k: (data(k, 5),)))
program("math on .item()", 2, 1)(simple(math_exp_item, lambda k: (data(k, 5),)))
program("collections on .tolist()", 2, 1)(simple(counter_tolist, lambda k: (data(k, 4, 3),)))
program(".tolist()", 2, 1)(simple(tolist_count, lambda k: (data(k, 6),)))


# ------------------------------------------------------------------ tensors read into Python


def item_branch(x):
    y = x.sum(dim=0)
    s = y.sum().item()
    if s > 0:
        out = y * 2
    else:
        out = y - 1
    return out


def if_tensor_print(x):
    y = x - 0.5
    if y.sum() > 0:
        print("positive")
        y = y * 2
    return y + 1


def while_halve(x):
    y = x * 4
    while y.abs().max() > 1:
        y = y * 0.5
        print("halved")
    return y


def item_return(x):
    y = x * 2
    return y.sum().item()


program(".item() in a Python if", 2, 1)(
    simple(item_branch, lambda k: (data(k, 3, 4) + (1.0 if k < 2 else -1.0),)))
program("bool(tensor) in an if with a print", 3, 1,
        note="the condition runs in Python; 4 graphs if it is compiled as a region of its own")(
    simple(if_tensor_print, lambda k: (grid(k, 4) + (1.0 if k < 2 else -2.0),)))
program("bool(tensor) in a while with a print", 2, 1,
        note="the condition runs in Python; 3 graphs if it is compiled as a region of its own")(
    simple(while_halve, lambda k: (grid(k, 4),)))
program(".item() returned", 1, 1)(simple(item_return, lambda k: (data(k, 5),)))


# ------------------------------------------------------------------ data-dependent shapes


def mask_select(x):
    return x[x > 0].sum() * 2 + x.mean()


def nonzero_index(x):
    idx = tj.nonzero(x > 0)
    return idx * 2


def mask_print(x):
    kept = x[x > 0]
    print("kept", kept.shape[0])
    return kept * 2


program("x[mask] (captured)", 1, 0, fullgraph=False)(simple(mask_select, lambda k: (data(k, 6),)))
program("nonzero (captured)", 1, 0, fullgraph=False)(simple(nonzero_index, lambda k: (data(k, 6),)))
program("x[mask] size printed", 2, 1)(simple(mask_print, lambda k: (data(k, 6),)))


# ------------------------------------------------------------------ mutation of Python state


def append_arg(x, history: list):
    y = x * 2
    history.append(y.sum())
    return y + 1


def list_inside(x):
    parts = []
    for i in range(3):
        parts.append(x * (i + 1))
    return tj.cat(parts)


def dict_write(x, cache: dict):
    y = x * 3
    cache["last"] = y
    return y.relu()


CALLS = 0


def global_counter(x):
    global CALLS
    y = x + 1
    CALLS += 1
    return y * CALLS


def make_counter():
    count = 0

    def step(x):
        nonlocal count
        y = x * 2
        count += 1
        return y - count

    return step, lambda: count


class CountingLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.calls = 0

    def forward(self, x):
        h = self.fc(x)
        self.calls += 1
        return h.relu()


def case_append_arg():
    history: list = []
    return Case(append_arg, lambda k: (data(k, 4), history), lambda: list(history))


def case_dict_write():
    cache: dict = {}
    return Case(dict_write, lambda k: (data(k, 4), cache), lambda: dict(cache))


def case_global_counter():
    global CALLS
    CALLS = 0
    return Case(global_counter, lambda k: (data(k, 4),), lambda: CALLS)


def case_closure_counter():
    step, count = make_counter()
    return Case(step, lambda k: (data(k, 4),), count)


def case_attribute_counter():
    model = CountingLinear()
    return Case(model, lambda k: (data(k, 2, 4),), lambda: model.calls)


program("list.append on an argument", 2, 1)(case_append_arg)
program("list made inside (captured)", 1, 0, fullgraph=False)(
    simple(list_inside, lambda k: (data(k, 4),)))
program("dict write on an argument", 2, 1)(case_dict_write)
program("global counter", 2, 1, today=(1, 1), state_changes_guard=True,
        note="today the break is the `global` line and `return y * CALLS` runs eagerly")(
    case_global_counter)
program("nonlocal counter", 2, 1, state_changes_guard=True)(case_closure_counter)
program("attribute counter (self.calls += 1)", 2, 1, fullgraph=False,
        note="script captures the attribute write (and leaves calls None)")(case_attribute_counter)


# ------------------------------------------------------------------ control flow on .item()


def early_return(x, limit: float):
    y = x + 1
    for _ in range(4):
        y = y * 2
        if y.sum().item() > limit:
            return y
    return y - 1


def break_continue(x):
    y = tj.zeros_like(x)
    for _ in range(6):
        y = y + x
        v = y.max().item()
        if v > 3:
            break
        if v < 0:
            continue
        y = y * 0.5
    return y.sum()


program("early return in a loop", 2, 1, backends=("llvm", "eager"))(
    simple(early_return, lambda k: (grid(k, 4).abs(), 10.0 if k < 2 else 1e6)))
program("break/continue on .item()", 4, 1)(
    simple(break_continue, lambda k: (grid(k, 4).abs() + (0.5 if k < 2 else -3.0),)))


# ------------------------------------------------------------------ breaks inside callees


def noisy_double(t):
    t2 = t * 2
    print("inside", tuple(t2.shape))
    return t2 - 1


def nested_call(x):
    a = x + 1
    b = noisy_double(a)
    return b * 3


class Noisy(nn.Module):
    def forward(self, x):
        y = x.relu()
        print("noisy", tuple(y.shape))
        return y * 2


class WithNoisy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 5)
        self.inner = Noisy()
        self.fc2 = nn.Linear(5, 2)

    def forward(self, x):
        h = self.inner(self.fc1(x))
        return self.fc2(h)


program("break inside a called function", 2, 1, today=(4, 1),
        note="today the callee's regions stay apart from the caller's (not inlined)")(
    simple(nested_call, PROGRAMS_ARGS_1D))
program("break inside a submodule's forward", 4, 1, name="submodule_break",
        note="graphs: fc1 (an argument computed before the call, in a region of its own), "
        "the callee's two regions, the caller's last line")(
    lambda: Case(WithNoisy(), lambda k: (data(k, 3, 4),)))


# ------------------------------------------------------------------ asserts and raising


class CheckedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        assert x.dim() == 2, f"expected (batch, features), got {tuple(x.shape)}"
        h = self.fc(x)
        if x.shape[0] > 4:
            warnings.warn(f"large batch {x.shape[0]}", stacklevel=1)
        return h.tanh()


def assert_features(x):
    assert x.shape[-1] == 4, f"expected 4 features, got {x.shape[-1]}"
    return x.relu() * 2


def raise_on_negative(x):
    y = x * 2
    if y.min().item() < 0:
        raise ValueError(f"negative input: min {y.min().item():.2f}")
    return y.sqrt()


def matmul_mismatch(x, w):
    h = x.relu()
    return h @ w


program("shape assert and warnings.warn", 2, 1, fullgraph=False, name="checked_net")(
    lambda: Case(CheckedNet(), lambda k: (data(k, 6 if k < 2 else 3, 4),)))
program("shape assert failing", 1, 0, fullgraph=False, raises=(2,))(
    simple(assert_features, lambda k: (data(k, 3, 4 if k < 2 else 5),)))
program("raise on .item()", 2, 1, explain_call=2, raises=(0, 1))(
    simple(raise_on_negative, lambda k: (grid(k, 4) if k < 2 else grid(k, 4).abs() + 1,)))
program("tensor error propagates", 1, 0, fullgraph=False, raises=(2,))(
    simple(matmul_mismatch, lambda k: (data(k, 3, 4), data(k, 4 if k < 2 else 5, 2))))


# ------------------------------------------------------------------ combinations


def two_breaks(x):
    y = x * 3
    print("step 1")
    z = y.relu() + 1
    k = int(z.argmax().item())
    return z * (k + 1)


def three_breaks(x):
    y = x + 1
    print("start")
    y = y * 2
    warnings.warn("middle", stacklevel=1)
    y = y - 3
    vals = y.tolist()
    return y * len(vals) + vals[0]


class LoggedStack(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 4)])
        self.head = nn.Linear(4, 2)
        self.norms: list[float] = []

    def forward(self, x):
        for layer in self.layers:
            x = layer(x).tanh()
            self.norms.append(x.norm().item())
        return self.head(x)


def case_logged_stack():
    model = LoggedStack()
    return Case(model, lambda k: (data(k, 2, 4),), lambda: list(model.norms))


program("two breaks", 3, 2, backends=("llvm", "eager"))(simple(two_breaks, PROGRAMS_ARGS_1D))
program("three breaks", 4, 3)(simple(three_breaks, PROGRAMS_ARGS_1D))
program("break in a loop in a module", 3, 1,
        note="one graph per layer (2) plus the head; 2 if one graph serves both layers")(
    case_logged_stack)


# ------------------------------------------------------------------ real-model style


class TinyGPT(nn.Module):
    """Token and position embeddings, a tanh, and a vocabulary head."""

    def __init__(self, vocab: int = 11, dim: int = 8, block: int = 6):
        super().__init__()
        self.block = block
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(block, dim)
        self.head = nn.Linear(dim, vocab)

    def forward(self, idx):
        t = idx.shape[1]
        h = self.tok(idx) + self.pos(tj.arange(t))
        return self.head(tj.tanh(h))


def make_generate(model: TinyGPT):
    """nanoGPT's sampling loop over `model`: crop, top-k, softmax, multinomial, stop at the
    end token."""

    def generate(idx, max_new_tokens: int, top_k: int, eos: int):
        for _ in range(max_new_tokens):
            idx_cond = idx if idx.shape[1] <= model.block else idx[:, -model.block:]
            logits = model(idx_cond)[:, -1, :]
            v, _ = tj.topk(logits, top_k)
            logits[logits < v[:, [-1]]] = -float("Inf")
            probs = tj.softmax(logits, dim=-1)
            idx_next = tj.multinomial(probs, num_samples=1)
            idx = tj.cat((idx, idx_next), dim=1)
            if idx_next.item() == eos:
                break
        return idx

    return generate


def case_generate():
    generate = make_generate(TinyGPT())
    prompt = lambda k: tj.tensor([[1, 2, 3]] if k < 2 else [[4, 5, 6, 7]])  # noqa: E731
    return Case(generate, lambda k: (prompt(k), 6, 3, 10))


def train_linear(x, y, w, steps: int, lr: float, losses: list):
    """Least squares by gradient descent, logging loss.item() every step."""
    n = x.shape[0]
    for _ in range(steps):
        err = x @ w - y
        loss = (err * err).mean()
        losses.append(loss.item())
        w = w - lr * (2.0 / n) * (x.t() @ err)
    return w


def case_train_linear():
    losses: list = []
    return Case(train_linear,
                lambda k: (data(k, 8, 3), data(k + 7, 8, 1), tj.zeros(3, 1), 4, 0.1, losses),
                lambda: list(losses))


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return tj.softmax(self.fc(x), dim=-1)


def classify(model, x):
    probs = model(x)
    arr = probs.detach().numpy()
    return np.argmax(arr, axis=-1), arr.max(axis=-1)


program("GPT-style generate()", 6, 1, backends=("eager",),
        note="3 steps ran: per prompt length, the loop body's sampling region and the model's "
        "forward, compiled on its own (a closure-held model is no argument: its call breaks)")(
    case_generate)
program("training loop logging loss.item()", 2, 1, backends=("llvm", "eager"), today=(3, 1),
        note="today the body region compiles again on step 2, with `err` (dead) as an input")(
    case_train_linear)
def case_classify():
    model = Classifier()
    return Case(classify, lambda k: (model, data(k, 5, 4)))


program("numpy post-processing of a model output", 1, 2, fullgraph=False,
        note="the return on numpy arrays runs as Python too; script takes no module argument")(
    case_classify)


# ------------------------------------------------------------------ no break (controls)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc2(self.fc1(x).relu())


def clean(x):
    return (x * 2 + 1).relu().sum(dim=-1)


program("no break: function", 1, 0, fullgraph=False)(simple(clean, lambda k: (data(k, 3, 4),)))
program("no break: module", 1, 0, fullgraph=False, name="mlp")(
    lambda: Case(MLP(), lambda k: (data(k, 3, 4),)))
