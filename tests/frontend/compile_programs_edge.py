"""More graph-break programs for tracejit.compile, at the edges of Python semantics: in-place
writes and views across a break, exceptions inside `with` and `finally`, a name bound in one
branch only, keyword arguments, a generator consumed in a loop, a data-dependent index error.
Registered in compile_programs.PROGRAMS (importing this module adds them)."""

from __future__ import annotations

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
program("exception raised inside a with, caught outside", 2, 4, state_changes_guard=True,
        note="breaks: try, with, the .item() if, the print; graphs: y = x * 2, the return")(
    case_with_raises_inside)
program("return inside try/finally", 1, 2, note="breaks: try, the print")(
    simple(finally_runs, lambda k: (grid(k, 4),)))
program("a name bound in one branch only", 2, 1, raises=(2,), today=(1, 2),
        note="today, once a compiled call raised UnboundLocalError, explain counts "
        "`return out + 1` as a break")(
    simple(maybe_unbound, lambda k: (grid(k, 4) + (1.0 if k < 2 else -2.0),)))
program("keyword arguments with defaults", 1, 1)(
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
