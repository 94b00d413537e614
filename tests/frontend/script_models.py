"""Functions and modules the script tests capture; kept in a module of their own because
script reads source files (and so the tests can point at their lines)."""

from __future__ import annotations

import tracejit as tj
import tracejit.nn as nn
import tracejit.nn.functional as F


def branchy(x):
    if x.sum() > 0:
        y = x * 2
    else:
        y = -x
    return y + 1


def count_loop(x, n: int):
    for i in range(n):
        x = x * 0.5 + i
    return x


def doubling(x):
    while x.abs().sum() < 100:
        x = x * 2
    return x


def early_return(x):
    if x.max() > 1:
        return x * 10
    x = x + 1
    return x - 3


def first_big(x, n: int):
    found = x[0] * 0
    for i in range(n):
        if x[i] > 0.5:
            found = x[i]
            break
        x = x + 0.1
    return found, x


def nested_loops(x, n: int):
    total = 0
    for i in range(n):
        for j in range(i):
            if (x.sum() + j) > 3:
                continue
            total += j
    return x * total


def find_index(x, n: int):
    for i in range(n):
        x = x + 1
        if x.max() > 5:
            return x, i
    return x * 0, -1


def helper(a, scale: float = 2.0):
    return a * scale


def misc(x, y, k: int = 2):
    a, b = x, y
    a, *rest = [a, b, b]
    c = a if a.sum() > b.sum() else b
    d = x if k > 1 else y
    cond = (x.sum() > 0) and (y.sum() > 0)
    e = c * 2 if cond else c
    assert x.shape == y.shape, "shapes"
    assert (x.abs() >= 0).all(), "nonneg"
    w = helper(e) + helper(d, scale=3.0)
    if isinstance(k, int) and len(rest) == 2 and not (x.sum() > 100):
        w = w + len(x)
    return w


def static_args(x, mode: str = "double", sizes: tuple = (2, 3)):
    if mode == "double":
        x = x * 2
    return x.reshape(sizes)


def reshaped(x, n: int):
    return x.reshape(n, -1)


def checked(x):
    assert (x > 0).all(), "x must be positive"
    return x.log()


def in_place(x, y):
    if y.sum() > 0:
        x += y
    else:
        x[0] = 0.0
    return x * 1


class GRUCell(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.ih = nn.Linear(d, 3 * d)
        self.hh = nn.Linear(d, 3 * d)

    def forward(self, x, h):
        i_r, i_z, i_n = self.ih(x).chunk(3, dim=-1)
        h_r, h_z, h_n = self.hh(h).chunk(3, dim=-1)
        r = tj.sigmoid(i_r + h_r)
        z = tj.sigmoid(i_z + h_z)
        n = tj.tanh(i_n + r * h_n)
        return (1 - z) * n + z * h


class Recurrent(nn.Module):
    """A GRU-style cell over time inside a scripted loop, then a ModuleList head."""

    def __init__(self, d: int):
        super().__init__()
        self.cell = GRUCell(d)
        self.head = nn.ModuleList([nn.Linear(d, d), nn.Linear(d, d)])

    def forward(self, xs, h: tj.Tensor | None = None):
        if h is None:
            h = tj.zeros(xs.shape[1], xs.shape[2])
        for t in range(xs.shape[0]):
            h = self.cell(xs[t], h)
        for layer in self.head:
            h = F.relu(layer(h))
        if self.training:
            h = h * 1.0
        return h


class GRULoop(nn.Module):
    """`steps` (an argument, not a constant) applications of a GRU cell."""

    def __init__(self, d: int):
        super().__init__()
        self.cell = GRUCell(d)

    def forward(self, x, h, steps: int):
        for _ in range(steps):
            h = self.cell(x, h)
        return h


class Gate(nn.Module):
    """Data-dependent control flow inside a layer of a library Sequential."""

    def forward(self, x):
        if x.mean() > 0:
            return x * 2
        return -x


def gated_stack() -> nn.Sequential:
    return nn.Sequential(nn.Linear(4, 4), Gate(), nn.ReLU())


def while_break(x):
    steps = tj.zeros((), dtype=tj.int64)
    while x.sum() < 1000:
        x = x * 3
        steps += 1
        if steps >= 4:
            break
    return x, steps


def over_rows(x):
    total = x[0] * 0
    for row in x:
        total = total + row.abs()
    return total


class Stack(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(3, 3) for _ in range(3)])
        self.scales = [1.0, 0.5, 0.25]

    def forward(self, x):
        for i, (layer, s) in enumerate(zip(self.layers, self.scales)):
            if i == len(self.layers) - 1:
                x = layer(x)
            else:
                x = F.relu(layer(x)) * s
        return {"out": x, "norm": x.abs().sum()}
