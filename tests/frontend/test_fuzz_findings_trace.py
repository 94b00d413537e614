"""Regression tests for what differential fuzzing of `tracejit.trace` against PyTorch found.

Each traced function is called on inputs of the traced shape but other data (so data-dependent
`?` dims get other sizes) and compared with running the same code on torch tensors: the
result follows each call's data, or the call raises what torch raises; never a stale size.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tracejit as tj

# six values; the examples below have 0..6 positives, so `x[x > 0]` takes every length
DATA = [
    [1.0, -2.0, 3.0, 4.0, -1.0, 5.0],  # four positives
    [1.0, 2.0, -3.0, 4.0, 5.0, 6.0],  # five
    [-1.0, -2.0, -3.0, -4.0, -1.0, -5.0],  # none
    [0.5, -2.0, -3.0, -4.0, -1.0, -5.0],  # one
    [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],  # all
    [7.0, 8.0, -3.0, 9.0, -1.0, -5.0],  # three
    [7.0, -8.0, -3.0, 9.0, -1.0, -5.0],  # two
]


def outcome(fn, lib, data):
    """fn's result on `data` as a numpy array, or the type of error it raised."""
    try:
        out = fn(lib.tensor(data), lib)
    except (RuntimeError, IndexError, TypeError, ValueError) as e:
        return type(e)
    return out.detach().numpy()


def assert_follows_torch(fn, example, calls, backend="eager"):
    """Trace fn(x, tracejit) on `example`; every call matches fn(x, torch) on its data."""
    traced = tj.trace(lambda x: fn(x, tj), tj.tensor(example), backend=backend)
    for data in calls:
        want = outcome(fn, torch, data)
        if isinstance(want, type):
            with pytest.raises(want):
                traced(tj.tensor(data))
            continue
        got = traced(tj.tensor(data)).detach().numpy()
        assert got.shape == want.shape, (data, got, want)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# --- a data-dependent size never goes stale ---------------------------------------------------

CHAINS = {
    "every second": lambda x, L: x[x > 0][::2],
    "every third from 1": lambda x, L: x[x > 0][1::3],
    "drop first": lambda x, L: x[x > 0][1:],
    "drop last": lambda x, L: x[x > 0][:-1],
    "middle": lambda x, L: x[x > 0][1:-1],
    "first three": lambda x, L: x[x > 0][:3],
    "last two": lambda x, L: x[x > 0][-2:],
    "narrow": lambda x, L: x[x > 0].narrow(0, 0, 3),
    "narrow from 1": lambda x, L: x[x > 0].narrow(0, 1, 2),
    "topk": lambda x, L: x[x > 0].topk(3).values,
    "flip then slice": lambda x, L: x[x > 0].flip(0)[::2],
    "cumsum": lambda x, L: x[x > 0].cumsum(0)[1:],
    "sum of halves": lambda x, L: x[x > 0][::2].sum() - x[x > 0][1::2].sum(),
    "row": lambda x, L: x[x > 0][-1],
    "unbind": lambda x, L: x[x > 0].unbind(0)[0],
    "mask of a mask": lambda x, L: x[x > 0][x[x > 0] > 2][::2],
    "nonzero": lambda x, L: (x > 0).nonzero()[::2].squeeze(1),
    "masked_select": lambda x, L: x.masked_select(x > 0)[1:],
    "unique": lambda x, L: x.unique()[1:],
    "sorted": lambda x, L: x[x > 0].sort().values[:-1],
    "argmax": lambda x, L: x[x > 0].argmax(),
    "diff": lambda x, L: x[x > 0][1:] - x[x > 0][:-1],
    "squeeze all": lambda x, L: x[x > 0].reshape(-1, 1)[:, :1].squeeze(),
}


@pytest.mark.parametrize("example", [0, 3, 4, 5, 6])
@pytest.mark.parametrize("name", sorted(CHAINS))
def test_ops_after_a_data_dependent_dim_follow_each_calls_data(name, example):
    """Traced on examples with 4, 1, all, 3 and 2 positives (a fixed bound equal to the
    example's count is the case that used to pass for the whole dim)."""
    fn = CHAINS[name]
    if isinstance(outcome(fn, torch, DATA[example]), type):
        pytest.skip("torch raises on this example too")
    assert_follows_torch(fn, DATA[example], DATA)


@pytest.mark.parametrize("backend", ["eager", "llvm"])
def test_narrow_to_the_examples_count_is_not_the_whole_dim(backend):
    """narrow(0, 0, 3) traced where three values are positive: other calls get three rows,
    or torch's RuntimeError where there are fewer (it was every row, silently)."""
    def fn(x, L):
        return x[x > 0].narrow(0, 0, 3) * 2

    assert_follows_torch(fn, DATA[5], DATA, backend)
    traced = tj.trace(lambda x: fn(x, tj), tj.tensor(DATA[5]), backend=backend)
    with pytest.raises(RuntimeError, match="exceeds the dimension size"):
        traced(tj.tensor(DATA[3]))


def test_writes_through_a_view_that_is_empty_in_the_example_reach_the_base():
    """With nothing selected in the example, m[::2] shares no memory with m; other calls'
    data does, and the write must reach m there."""
    def fn(x, L):
        m = x[x > 0]
        m[::2].mul_(2)
        m[1:].add_(10)
        return m

    assert_follows_torch(fn, DATA[2], DATA)


# --- a mask result feeding matmul, linear, expand, ... -----------------------------------------

W = np.arange(12, dtype=np.float32).reshape(3, 4) / 10
B = np.arange(4, dtype=np.float32) / 3
ROWS = [  # (4, 3) inputs with 3, 2, 4, 0 and 1 rows of positive sum
    [1, 2, 3, -4, -5, -6, 7, 8, 9, 1, 1, 1],
    [1, 2, 3, -4, -5, -6, -7, -8, -9, 1, 1, -1],
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 1, 1],
    [-1, 2, -3, -4, -5, -6, -7, -8, -9, -1, -1, -1],
    [-1, 2, 3, -4, -5, -6, -7, -8, -9, -1, -1, -1],
]
ROWS = [np.array(r, np.float32).reshape(4, 3) for r in ROWS]


def rows(x):
    return x[x.sum(1) > 0]


def functional(L):
    return torch.nn.functional if L is torch else tj.nn.functional


MASK_USERS = {
    "matmul": lambda x, L: rows(x) @ L.tensor(W),
    "mm": lambda x, L: rows(x).mm(L.tensor(W)),
    "linear": lambda x, L: functional(L).linear(rows(x), L.tensor(W).t(), L.tensor(B)),
    "bmm": lambda x, L: L.bmm(rows(x).unsqueeze(0), L.tensor(W).unsqueeze(0)),
    "einsum": lambda x, L: L.einsum("ij,jk->ik", rows(x), L.tensor(W)),
    "vector matmul": lambda x, L: rows(x)[:, 0] @ rows(x),
    "gram": lambda x, L: rows(x) @ rows(x).t(),
    "expand": lambda x, L: rows(x).unsqueeze(0).expand(2, -1, -1),
    "expand a column": lambda x, L: rows(x)[:, :1].expand(-1, 5),
    "reshape -1, k": lambda x, L: (rows(x) @ L.tensor(W)).reshape(-1, 2),
    "view -1": lambda x, L: rows(x).view(-1),
    "repeat rows": lambda x, L: rows(x).repeat(2, 1),
    "repeat columns": lambda x, L: rows(x).repeat(1, 2),
    "cat with a static tensor": lambda x, L: L.cat([rows(x), L.tensor(W).t()], 0),
    "broadcast with a static tensor": lambda x, L: rows(x)[:, :1] + L.tensor(B),
    "outer": lambda x, L: L.outer(rows(x)[:, 0], L.tensor(B)),
    "index_select": lambda x, L: rows(x).index_select(1, L.tensor([0, 2])),
    "argmax": lambda x, L: rows(x).argmax(),
    "topk of a static dim": lambda x, L: rows(x).topk(1, dim=1).values,
    "conv1d": lambda x, L: functional(L).conv1d(rows(x).t().unsqueeze(0),
                                                L.tensor(W).t().unsqueeze(2)[:, :3]),
    "cross_entropy": lambda x, L: functional(L).cross_entropy(
        rows(x) + 1, rows(x)[:, 0].long().clamp(0, 2)),
    "gather after masked_select": lambda x, L: (lambda m: m.gather(0, L.zeros_like(m)))(
        x.nonzero().masked_select(x.nonzero() > 0)),
    "squeeze of a column": lambda x, L: rows(x)[:, :1].squeeze(),
}


@pytest.mark.parametrize("name", sorted(MASK_USERS))
def test_mask_results_feed_matmul_linear_expand_and_friends(name):
    assert_follows_torch(MASK_USERS[name], ROWS[0], [*ROWS[1:], ROWS[0]])


@pytest.mark.parametrize("name", ["matmul", "linear", "expand", "repeat columns"])
def test_mask_results_feed_matmul_compiled(name):
    assert_follows_torch(MASK_USERS[name], ROWS[0], [*ROWS[1:], ROWS[0]], backend="llvm")


def test_matmul_of_a_mask_result_whose_size_fits_only_some_calls():
    """`x[x > 0] @ w` is valid where two values are positive: traced there it works, and a
    call with another count raises torch's RuntimeError (no `None` in any message)."""
    w = np.ones((2, 2), np.float32)

    def fn(x, L):
        return x[x > 0] @ L.tensor(w)

    assert_follows_torch(fn, DATA[6], [DATA[6], DATA[6][::-1]])
    traced = tj.trace(lambda x: fn(x, tj), tj.tensor(DATA[6]))
    with pytest.raises(RuntimeError) as info:
        traced(tj.tensor(DATA[1]))
    assert "None" not in str(info.value)


def test_a_reshape_no_dim_can_take_is_guarded_and_errs_as_torch_without_none():
    def fn(x):
        return x[x > 0].reshape(2, 2)

    example = np.array([1.0, 2.0, -1.0, 3.0, 4.0], np.float32)  # 4 positives: it fits
    traced = tj.trace(fn, tj.tensor(example))
    np.testing.assert_array_equal(traced(tj.tensor(example)).detach().numpy(),
                                  fn(torch.tensor(example)).detach().numpy())
    other = np.array([1.0, -2.0, 3.0], np.float32)
    with pytest.raises(RuntimeError, match="invalid for input of size"):
        fn(torch.tensor(other))
    with pytest.raises(RuntimeError, match="invalid for input of size") as info:
        traced(tj.tensor(other))
    assert "None" not in str(info.value)


# --- detach() and .data are views --------------------------------------------------------------

def detach_then_write(x, L):
    y = x.detach()
    y.add_(1)
    z = x * 2
    w = x.data
    w[0] = 5.0
    v = x[1:].detach()
    v.mul_(3)
    return z, x + 0, y * 1


def detach_then_write_tj(x):
    return detach_then_write(x, tj)


@pytest.mark.parametrize("mode", ["trace", "script"])
def test_detach_then_an_in_place_write_reaches_the_original(mode):
    """torch (and torch.jit) write through x.detach() into x's memory: so do both capture
    modes, for the caller's tensor too."""
    fn = (tj.trace(detach_then_write_tj, tj.tensor([1.0, 2.0, 3.0])) if mode == "trace"
          else tj.script(detach_then_write_tj))
    for data in ([4.0, 5.0, 6.0], [0.0, -1.0, 2.0]):
        mine, theirs = tj.tensor(data), torch.tensor(data)
        for got, want in zip(fn(mine), detach_then_write(theirs, torch)):
            np.testing.assert_array_equal(got.detach().numpy(), want.detach().numpy())
        np.testing.assert_array_equal(mine.detach().numpy(), theirs.detach().numpy())


def test_writes_to_arguments_sharing_memory_are_still_refused():
    def fn(x, y):
        y.add_(1)
        return x * 1

    x = tj.ones(3)
    with pytest.raises(tj.TraceError, match="shares memory with another live tensor"):
        tj.trace(fn, x, x.detach())


# --- errors raised while tracing keep torch's type and gain the user's line -----------------

def shape_error(x, L):
    return x + L.ones(4)


def index_error(x, L):
    return x[7]


def type_error(x, L):
    return x + "a"


def dims_error(x, L):
    return x.sum(dim=(0, 0))


@pytest.mark.parametrize("fn", [shape_error, index_error, type_error, dims_error])
def test_errors_while_tracing_have_torchs_type_and_the_users_line(fn):
    with pytest.raises(Exception) as theirs:
        fn(torch.ones(3), torch)
    with pytest.raises(Exception) as mine:
        tj.trace(lambda x: fn(x, tj), tj.ones(3))
    assert type(mine.value) is type(theirs.value)
    line = fn.__code__.co_firstlineno + 1
    assert str(mine.value).startswith(f"{__file__}:{line}:"), str(mine.value)
    assert ": error: " in str(mine.value)


@pytest.mark.parametrize("name", ["max", "argmax", "amin", "median"])
def test_reductions_refusing_an_empty_data_dependent_dim_raise_torchs_index_error(name):
    """max(0) of `x[x > 0]` with nothing positive: torch's IndexError on that call (the
    reference code's raw numpy ValueError before)."""
    def fn(x, L):
        kept = x[x > 0]
        out = getattr(kept, name)(0)
        return out[0] if isinstance(out, tuple) else out

    assert_follows_torch(fn, DATA[0], DATA)
    traced = tj.trace(lambda x: fn(x, tj), tj.tensor(DATA[0]))
    with pytest.raises(IndexError):  # median (a composite) retraces, and raises its own
        traced(tj.tensor(DATA[2]))


@pytest.mark.parametrize("backend", ["eager", "llvm"])
def test_data_dependent_sizes_that_stop_fitting_raise_runtime_error(backend):
    """stack of two masks of equal length in the example, unequal on a later call: torch's
    RuntimeError, not numpy's ValueError from inside the graph."""
    def fn(x, L):
        return L.stack([x[x > 0], x[x < 0]])

    example = [1.0, 2.0, -1.0, -2.0]
    assert_follows_torch(fn, example, [example, [1.0, 2.0, 3.0, -2.0]], backend)


def test_graphs_hold_plain_ints_after_data_dependent_sizes():
    """Sizes tracejit reads from a `?` dim for itself are marked while tracing; the graph's
    attributes and types hold plain ints (they print, save and compare as data)."""
    def fn(x):
        m = x[x > 0]
        n = m.shape[0]
        return m.unsqueeze(0).expand(2, -1).reshape(2, n).narrow(1, 0, 1).squeeze(1)

    traced = tj.trace(fn, tj.tensor([1.0, 2.0, -1.0]))
    for op in traced.graph.body.ops:
        for value in op.results:
            assert all(type(d) is int for d in value.type.shape if d is not None), op
        for value in op.attrs.values():
            for item in value if isinstance(value, tuple) else (value,):
                assert not isinstance(item, int) or type(item) in (int, bool), op
    np.testing.assert_array_equal(traced(tj.tensor([3.0, 4.0, -1.0])).detach().numpy(), [3.0, 3.0])
