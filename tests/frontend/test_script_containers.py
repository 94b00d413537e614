"""Script: containers the scripted code owns (a `**kwargs` dict, `dict()`/`list()`/`{}` made in
the function), nested `def`s with their closures, and generator expressions, each against the
same code run by PyTorch 2.13 (the functions use only Tensor methods and Python)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tracejit as tj
from tracejit.ir.ops import Op


def helper(x, **kwargs):
    kwargs.update(scale=2.0)
    kwargs["shift"] = kwargs.pop("offset", 0.5)
    kwargs.setdefault("power", 2)
    return (x * kwargs["scale"] + kwargs["shift"]) ** kwargs["power"]


def uses_kwargs(x):
    return helper(x, offset=1.0) + helper(x)


def varargs_sum(*args):
    args = (*args, args[0])
    return sum(a * (k + 1) for k, a in enumerate(args))


def uses_varargs(x):
    return varargs_sum(x, x.sin())


def local_containers(x):
    d = dict()
    d2 = dict(a=1.0)
    items = list()
    empty = {}
    d["y"] = x * 2
    d2["b"] = x.exp()
    empty.update(z=x - 1)
    items.append(d["y"] + d2["a"])
    items.extend([d2["b"], empty["z"]])
    return tuple(items)


def nested_closure(x, n: int = 3):
    outs = []
    table = dict()
    scale = 1.0

    def step(k, h, bias=0.5):
        outs.append(h * scale + bias)  # reads `scale` as it is at the call
        table[k] = h.sum()
        return h.tanh()

    h = x
    for k in range(n):
        scale = scale * 2
        h = step(k, h)
    return h, outs[-1], table[n - 1]


def nested_recursive(x):
    def power(v, k):
        if k == 0:
            return v
        return power(v * v, k - 1)

    return power(x, 3)


def nested_branching_return(x):
    def pick(v):
        if v.sum() > 0:
            return v * 2
        return v - 1

    return pick(x) + pick(-x)


def generator_unpack(q, k, v):
    q, k, v = (t.transpose(0, 1) for t in (q, k, v))
    return q @ k.transpose(0, 1) + v.sum()


def generator_consumed(x):
    return sum(x[i] * i for i in range(x.shape[0])), tuple(t * 2 for t in x.unbind(0))


def to_torch(value):
    return torch.tensor(value.numpy()) if isinstance(value, tj.Tensor) else value


def same(ours, theirs):
    if isinstance(theirs, (tuple, list)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            same(a, b)
        return
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-5, atol=1e-6)


RNG = np.random.default_rng(0)
X = tj.tensor(RNG.standard_normal((3, 4)).astype(np.float32))


@pytest.mark.parametrize("fn, args", [
    (uses_kwargs, (X,)), (uses_varargs, (X,)), (local_containers, (X,)),
    (nested_closure, (X,)), (nested_recursive, (X * 0.5,)), (nested_branching_return, (X,)),
    (nested_branching_return, (-X,)), (generator_unpack, (X, X + 1, X * 2)),
    (generator_consumed, (X,)),
])
def test_script_matches_torch(fn, args):
    scripted = tj.script(fn)
    same(scripted(*args), fn(*(to_torch(a) for a in args)))
    other = tuple(a * 1.5 - 0.25 for a in args)  # a second call replays the graph
    same(scripted(*other), fn(*(to_torch(a) for a in other)))


def test_tensor_dependent_branch_in_nested_function_is_an_op():
    scripted = tj.script(nested_branching_return)
    for x in (X, -X, X - X.mean()):
        same(scripted(x), nested_branching_return(to_torch(x)))
    assert Op.IF in {op.op for op in scripted.graph.walk()}
    assert len(scripted.graphs) == 1


def decorated_nested(x):
    @staticmethod
    def f(v):
        return v

    return f(x)


def nested_mutates_argument(x, acc):
    def put(v):
        acc.append(v)

    put(x)
    return x


def test_nested_function_errors_are_clear():
    with pytest.raises(tj.ScriptError, match="a decorator on a nested function") as e:
        tj.script(decorated_nested)(X)
    assert "test_script_containers.py" in str(e.value)
    with pytest.raises(tj.ScriptError, match="did not make"):
        tj.script(nested_mutates_argument)(X, [])
