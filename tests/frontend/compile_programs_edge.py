"""More graph-break programs for tracejit.compile, at the edges of Python semantics: in-place
writes and views across a break, exceptions inside `with` and `finally`, a name bound in one
branch only, keyword arguments, a generator consumed in a loop, a data-dependent index error.
Registered in compile_programs.PROGRAMS (importing this module adds them)."""

from __future__ import annotations

import functools

import numpy as np
from compile_programs import COUNTER, Case, data, grid, program, simple

import tracejit as tj


def inplace_across_break(x):
    x.add_(1)
    print("after add", x)
    x.mul_(2)
    return x.sum()


def view_across_break(x):
    row = x[0]
    print("row", row)
    row.add_(10)
    return x * 1


def augmented_assign(x):
    y = x
    print("alias")
    y += 1
    return x - y


def with_raises_inside(x):
    try:
        with COUNTER:
            y = x * 2
            if y.sum().item() > 0:
                raise RuntimeError("positive sum")
    except RuntimeError as e:
        print("caught", e)
        y = x
    return y + COUNTER.exited


def finally_runs(x):
    try:
        y = x * 3
        return y.sum()
    finally:
        print("finally")


def maybe_unbound(x):
    if x.sum().item() > 0:
        out = x * 2
    return out + 1


def keyword_args(x, *, scale: float = 2.0, verbose: bool = False):
    y = x * scale
    if verbose:
        print("scaled", y)
    return y


def consume_generator(x):
    total = tj.zeros_like(x)
    for v in (x * i for i in range(3)):
        total = total + v
        print(f"{total.sum().item():.2f}")
    return total


def index_error_from_data(x, idx):
    y = x * 2
    print("gathering")
    return y[idx]


def shape_unpacked(x):
    y = x.t()
    print("transposed")
    rows, cols = y.shape
    return y.reshape(rows * cols) * cols


def tuple_with_number(x):
    y = x.relu()
    return y * 2, y.sum().item()


def case_with_raises_inside():
    COUNTER.entered = COUNTER.exited = 0
    return Case(with_raises_inside, lambda k: (grid(k, 4) + (1.0 if k < 2 else -2.0),),
                lambda: (COUNTER.entered, COUNTER.exited))


program("in-place writes on an argument across a break", 2, 1)(
    simple(inplace_across_break, lambda k: (grid(k, 4),)))
program("a view written after a break", 2, 2, today=(1, 2),
        note="the write through a view made before the break runs as Python; today "
        "`return x * 1` after it runs eagerly too")(
    simple(view_across_break, lambda k: (grid(k, 2, 3),)))
program("augmented assignment on an alias after a break", 1, 1)(
    simple(augmented_assign, lambda k: (grid(k, 4),)))
program("exception raised inside a with, caught outside", 2, 5, state_changes_guard=True,
        note="breaks: try, with, the .item() if, the print; graphs: y = x * 2, the return")(
    case_with_raises_inside)
program("return inside try/finally", 1, 2, note="breaks: try, the print")(
    simple(finally_runs, lambda k: (grid(k, 4),)))
program("a name bound in one branch only", 2, 1, raises=(2,))(
    simple(maybe_unbound, lambda k: (grid(k, 4) + (1.0 if k < 2 else -2.0),)))
program("keyword arguments with defaults", 1, 1, name="keyword_args")(
    lambda: Case(keyword_args, lambda k: (grid(k, 4),),
                 kwargs=lambda k: {"scale": 0.5, "verbose": k < 2}))
program("a generator over tensors consumed in a loop", 2, 1,
        note="the generator runs as Python (x * i eagerly); graphs: zeros_like, the add")(
    simple(consume_generator, lambda k: (grid(k, 4),)))
program("index error from data after a break", 2, 1, raises=(2,))(
    simple(index_error_from_data,
           lambda k: (grid(k, 3), tj.tensor(np.array([0, 2] if k < 2 else [1, 3])))))
program("shape unpacked after a break", 2, 1)(simple(shape_unpacked, lambda k: (grid(k, 2, 3),)))
program("a tuple with a Python number returned", 1, 1)(
    simple(tuple_with_number, lambda k: (data(k, 4),)))


# ------------------------------------------------------------------ more control flow and calls


def for_else(x):
    y = x
    for _ in range(3):
        y = y * 2
        if y.max().item() > 5:
            break
    else:
        print("no break")
        y = y - 1
    return y


def until_converged(x):
    y = x
    steps = 0
    while True:
        y = y * 0.5
        steps += 1
        if y.abs().max().item() < 0.1:
            break
    return y, steps


def countdown(x, n: int):
    if n == 0:
        return x
    print("level", n)
    return countdown(x * 2, n - 1) + 1


class WithHelper(tj.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = tj.nn.Linear(4, 4)

    def check(self, h):
        if h.abs().max().item() > 100:
            print("large activations")
        return h.clamp(-100, 100)

    def forward(self, x):
        h = self.fc(x)
        h = self.check(h)
        return h.sigmoid()


def logged(fn):
    """A decorator that counts calls (functools.wraps keeps the source reachable)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        logged.calls += 1
        return fn(*args, **kwargs)

    return wrapper


logged.calls = 0


@logged
def decorated(x):
    y = x * 2
    print("decorated")
    return y + 1


def varargs(*xs):
    total = xs[0] * 0
    for t in xs:
        total = total + t
    print("summed", len(xs))
    return total


def mutable_default(x, acc=[]):  # noqa: B006 - the classic pitfall, kept on purpose
    acc.append(x.sum().item())
    return x * len(acc)


def walrus(x):
    y = x * 3
    if (s := y.sum().item()) > 0:
        y = y / s
    return y


def match_statement(x, mode: str):
    match mode:
        case "double":
            y = x * 2
        case "negate":
            y = -x
        case _:
            y = x
    print("mode", mode)
    return y


def assert_tensor_value(x):
    assert (x > -3).all(), "values below -3"
    return x.log1p().abs()


HISTORY: list = []


def global_list_append(x):
    y = x.exp()
    HISTORY.append(y.mean().item())
    return y - 1


def defines_inner(x):
    def inner(t):
        print("inner")
        return t * 2

    return inner(x) + 1


def numpy_argument(a):
    x = tj.from_numpy(a)
    print("shape", tuple(x.shape))
    return x * 2


def case_decorated():
    logged.calls = 0
    return Case(decorated, lambda k: (grid(k, 4),), lambda: logged.calls)


def case_mutable_default():
    mutable_default.__defaults__[0].clear()
    return Case(mutable_default, lambda k: (grid(k, 4),),
                lambda: list(mutable_default.__defaults__[0]))


def case_global_list_append():
    HISTORY.clear()
    return Case(global_list_append, lambda k: (data(k, 4),), lambda: list(HISTORY))


program("for/else with a break on .item()", 1, 1,
        note="calls 0 and 1 break on the second step; call 2 runs the else (y - 1)")(
    simple(for_else, lambda k: (grid(k, 4).abs() + 0.25 if k < 2 else grid(k, 4).abs() * 0.1,)))
program("while True until converged", 1, 1,
        note="`steps += 1` reads steps: it is an input of the loop body's region")(
    simple(until_converged, lambda k: (data(k, 4),)))
program("recursion with a print", None, None, fullgraph=False)(
    simple(countdown, lambda k: (grid(k, 4), 2)))
program("a method of the module breaks", 3, 1, name="module_helper",
        note="graphs: fc, the clamp, the sigmoid; the print runs on call 2 only")(
    lambda: Case(WithHelper(), lambda k: (data(k, 2, 4, scale=100.0 if k == 2 else 1.0),)))
program("a decorated function", 2, 2, fullgraph=False,
        note="breaks: the wrapper's `logged.calls += 1`, the print inside the decorated one")(
    case_decorated)
program("*args", 1, 1, today=(0, 1),
        note="the for loop over the tuple is captured with the line above; today the whole "
        "function runs eagerly: \"varargs(): got an unexpected keyword argument 'xs'\"")(
    simple(varargs, lambda k: (grid(k, 4), grid(k + 3, 4), grid(k + 4, 4))))
program("a mutable default argument", 1, 1, state_changes_guard=True,
        note="graph: x.sum(), computed before the .item() that breaks")(
    case_mutable_default)
program("walrus on .item()", 2, 1)(simple(walrus, lambda k: (data(k, 4) + 2.0,)))
program("match statement", 1, 2, fullgraph=False, today=(0, 2),
        note="script refuses match: it runs as Python, its case body `y = x * 2` should be a "
        "region; today that runs eagerly")(
    simple(match_statement, lambda k: (grid(k, 4), "double" if k < 2 else "negate")))
program("assert on a tensor value", 1, 0, fullgraph=False, raises=(2,))(
    simple(assert_tensor_value, lambda k: (grid(k, 4) if k < 2 else grid(k, 4) * 4 - 20,)))
program("append to a global list", 2, 1)(case_global_list_append)
program("a nested def that breaks", 2, 1, fullgraph=False, today=(0, 2),
        note="today a function defined inside the compiled one runs eagerly (t * 2 and the "
        "+ 1 after the call too)")(
    simple(defines_inner, lambda k: (grid(k, 4),)))
program("a numpy array argument", 1, 2, fullgraph=False,
        note="from_numpy(a) reads the numpy array: it runs as Python")(
    simple(numpy_argument, lambda k: (np.arange(4, dtype=np.float32) + k,)))


def check_positive(t):
    print("checking")
    if t.sum().item() > 0:
        raise ValueError("positive sum")
    return t


def raise_in_callee(x):
    y = x * 2
    z = check_positive(y)
    return z + 1


program("an exception raised in a callee", 2, 2, raises=(0, 1), explain_call=2,
        note="breaks: the print and the .item() if in the callee")(
    simple(raise_in_callee, lambda k: (grid(k, 4) + (2.0 if k < 2 else -3.0),)))


# ------------------------------------------------------------------ random numbers around a break


class NoisyTrainer(tj.nn.Module):
    """Dropout in training mode, then a logged statistic: the random stream must match."""

    def __init__(self):
        super().__init__()
        self.fc = tj.nn.Linear(4, 4)
        self.drop = tj.nn.Dropout(0.5)
        self.seen: list[float] = []

    def forward(self, x):
        h = self.drop(self.fc(x))
        self.seen.append(h.abs().mean().item())
        return self.drop(h).sum(dim=-1)


def noise_between(x):
    a = x + tj.randn_like(x)
    print("drawn")
    b = a * tj.rand(4)
    return b


def dtype_branch(x):
    if x.dtype == tj.float32 and isinstance(x, tj.Tensor):
        y = x * 2
    else:
        y = x
    print("dtype", y.dtype)
    return y.to(tj.float64) + 1


def case_noisy_trainer():
    model = NoisyTrainer().train()
    return Case(model, lambda k: (data(k, 3, 4),), lambda: list(model.seen))


program("dropout in training mode around a break", 2, 1)(case_noisy_trainer)
program("random draws on both sides of a break", 2, 1)(
    simple(noise_between, lambda k: (data(k, 4),)))
program("dtype and isinstance checks before a break", 2, 1)(
    simple(dtype_branch, lambda k: (grid(k, 4),)))
