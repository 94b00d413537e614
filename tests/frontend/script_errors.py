"""Code @tracejit.script cannot capture; test_script_errors.py pins each error verbatim."""
# ruff: noqa
from __future__ import annotations

import numpy as np

import tracejit as tj

TABLE = [1, 2]


def uses_try(x):
    try:
        y = x + 1
    except ValueError:
        y = x
    return y


def uses_with(x):
    with open("f") as fh:
        x = x + 1
    return x


def uses_lambda(x):
    f = lambda v: v * 2
    return f(x)


def comprehension_over_tensor(x):
    return [row * 2 for row in x]


def calls_numpy(x):
    return np.cbrt(x)  # a ufunc without a tracejit op


def appends(x, out: list):
    out.append(x)
    return x


def sets_item(x):
    TABLE[0] = x
    return x


def uses_global(x):
    global TABLE
    TABLE = x
    return x


def sets_attribute(self, x):
    self.cache = x
    return x


def grows(x, n: int):
    for i in range(n):
        x = tj.stack([x, x])
    return x


def branch_types(x):
    if x.sum() > 0:
        y = x
    else:
        y = x.sum()
    return y


def one_branch(x):
    if x.sum() > 0:
        y = x * 2
    return y


def tensor_as_index(x, i):
    n = int(x.sum())
    return x * n


def prints(x):
    print(x)
    return x
