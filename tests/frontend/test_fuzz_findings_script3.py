"""@tracejit.script findings of the differential fuzzer (issue 13), part 3, against PyTorch 2.13
running the same source (`T` is the module `torch` or `tracejit`): a data-dependent size (a
mask's count) that differs between the branches of an if, an early return, or the iterations
of a loop is `?` in the merged type, on both backends and through a graph file."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mode_compare import same

import tracejit as tj

# x: 8 values; the threshold t picks how many a mask keeps (0, 1 or many); s picks the branch
X = np.array([0.5, -1.0, 3.0, 2.0, -0.25, 1.5, 4.0, 0.0], np.float32)
CASES = [(t, s) for t in (5.0, 3.5, 1.0) for s in (1.0, -1.0)]


def return_in_one_branch(T, x, t, s):
    if s.sum() > 0:
        return x[x > t] * 2
    return x[x > t]


def return_in_both_branches(T, x, t, s):
    if s.sum() > 0:
        return x[x > t]
    else:
        return x[:3] + 1


def assigned_in_both_branches(T, x, t, s):
    if s.sum() > 0:
        z = x[x > t]
    else:
        z = x[x > t - 1] + 1
    return z * 3, z.sum()


def static_sizes_that_differ(T, x, t, s):
    if s.sum() > 0:
        z = x[:2]
    else:
        z = x[1:6]
    return z.sum() + z


def two_dims_and_a_tuple(T, x, t, s):
    m = x.reshape(2, 4)
    if s.sum() > 0:
        pair = (m[:, m[0] > t], m.sum())
    else:
        pair = (m[:1, :2], m.amax())
    return pair[0] + pair[1]


def while_body_returns(T, x, t, s):
    i = 0
    while s.sum() > i:
        if x.amax() > t:
            return x[x > t]
        i = i + 1
    return x[x < t]


def for_body_returns(T, x, t, s):
    for i in range(x.shape[0]):
        if x[i] > t:
            return x[x > x[i] * s.sum() / 3]
    return x[x < -t]


def carried_size_shrinks(T, x, t, s):
    z = x
    n = (s > 0).sum() * 2
    while n > 0:
        z = z[z > t - 2]
        t = t + 1
        n = n - 1
    return z


def carried_slice_shrinks(T, x, t, s):
    z = x
    k = (s > 0).sum() + 1
    while k > 0:
        z = z[1:]
        k = k - 1
    return z.sum() + z


def carried_grows_over_a_tensor_range(T, x, t, s):
    n = (s > 0).sum() * 2
    for i in range(n):
        x = T.cat([x, x[x > t + i]])
    return x


def mask_of_the_counter_in_a_loop(T, x, t, s):
    """Captured again with values, the body sees its first iteration's counter and carried
    values (not uninitialized data), so the size cat reads there is the real one."""
    y = x.sum()
    for i in range((s > 0).sum() + 1):
        y = y + T.cat([x, x[x > t + i]]).sum()
    return y


FUNCTIONS = [return_in_one_branch, return_in_both_branches, assigned_in_both_branches,
             static_sizes_that_differ, two_dims_and_a_tuple, while_body_returns,
             for_body_returns, carried_size_shrinks, carried_slice_shrinks,
             carried_grows_over_a_tensor_range, mask_of_the_counter_in_a_loop]


def _same(got, expected) -> None:
    same(got, expected, rtol=1e-6, atol=0)


def _check(fn, scripted) -> None:
    for t, s in CASES:
        args = (X, np.array(t, np.float32), np.full(3, s, np.float32))
        want = fn(torch, *(torch.tensor(a) for a in args))
        _same(scripted(tj, *(tj.tensor(a) for a in args)), want)


@pytest.mark.parametrize("backend", ["eager", "llvm"])
@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.__name__)
def test_sizes_that_differ_across_paths_merge_to_data_dependent(fn, backend):
    _check(fn, tj.script(fn, backend=backend))


def three_paths(x, t, s):  # a graph file holds tensors, not the module argument
    return (return_in_one_branch(None, x, t, s), while_body_returns(None, x, t, s),
            carried_size_shrinks(None, x, t, s))


def test_merged_sizes_survive_a_graph_file(tmp_path):
    scripted = tj.script(three_paths)
    scripted(tj.tensor(X), tj.tensor(np.float32(1)), tj.tensor(np.ones(3, np.float32)))
    tj.save(scripted, tmp_path / "f.tjg")
    loaded = tj.load(tmp_path / "f.tjg")
    for t, s in CASES:
        args = (X, np.array(t, np.float32), np.full(3, s, np.float32))
        want = [fn(torch, *(torch.tensor(a) for a in args))
                for fn in (return_in_one_branch, while_body_returns, carried_size_shrinks)]
        _same(loaded(*(tj.tensor(a) for a in args)), want)


def rank_differs(T, x, t, s):
    if s.sum() > 0:
        z = x[x > t]
    else:
        z = x.reshape(2, 4)
    return z


def dtype_differs(T, x, t, s):
    if s.sum() > 0:
        return x[x > t]
    return (x > t)[:2]


def carried_rank_changes(T, x, t, s):
    z = x
    while s.sum() > 0:
        z = z.reshape(2, 4)
        s = s - 1
    return z


@pytest.mark.parametrize("fn, message", [
    (rank_differs, "float32[?] after the then branch and float32[2,4] after the else"),
    (dtype_differs, "is bool[2] after the then branch and float32[?] after"),
    (carried_rank_changes, "is float32[2,4] after the then branch and float32[8] after"),
])
def test_a_rank_or_dtype_that_differs_stays_a_clear_error(fn, message):
    with pytest.raises(tj.ScriptError) as e:
        tj.script(fn)(tj, tj.tensor(X), tj.tensor(np.float32(1)), tj.tensor(np.ones(3, np.float32)))
    assert message in str(e.value) and "test_fuzz_findings_script3.py:" in str(e.value)
