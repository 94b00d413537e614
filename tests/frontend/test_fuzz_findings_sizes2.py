"""API-fuzzer findings on data-dependent (`?`) sizes written into fixed shapes (setitem of a
masked value, copy_ of a masked source), under trace, script and save/load, against torch."""

import numpy as np
import pytest
import torch
from test_fuzz_findings_sizes import BACKENDS, MODES, _agree

import tracejit


def _setitem_masked_into_a_scalar(T, x0):
    x0[x0 > 0] = 0.5
    v1 = x0[x0 != 0][::2]
    v1[0] = v1
    return (v1,)


def _i32(rows):
    return np.array([[[r] for r in rows]], dtype=np.int32)


# the masked value's count on each data set: 1, 1 (other values), 0 (torch's IndexError),
# 2 (torch's RuntimeError)
SETITEM_CALLS = [[_i32([4, -1, 0, 2])], [_i32([4, -1, -3, 2])], [_i32([4, 1, 0, 2])],
                 [_i32([-4, -1, -3, 2])], [_i32([0, -7, 5, 0])]]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", MODES)
def test_setitem_of_a_masked_value_into_a_fixed_target_follows_the_data(mode, backend):
    seen = _agree(_setitem_masked_into_a_scalar, SETITEM_CALLS, mode, backend)
    assert seen[0] == "ok" and seen[2] is IndexError and seen[3] is RuntimeError
    if mode != "saveload":
        assert seen == ["ok", "ok", IndexError, RuntimeError, "ok"]


def _setitem_masked_into_a_row(T, x0, x1):
    v = x0[x0 > 0]
    x1[0] = v
    return (x1,)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", MODES)
def test_setitem_of_a_masked_value_into_a_fixed_row(mode, backend):
    rows = np.zeros((2, 3), np.float32)
    calls = [[np.array([1.0, 2.0, 3.0], np.float32), rows],
             [np.array([5.0, -1.0, 0.0], np.float32), rows],  # one element: broadcast
             [np.array([-1.0, 0.0, -2.0], np.float32), rows],  # none: torch's RuntimeError
             [np.array([1.0, -2.0, 3.0], np.float32), rows]]  # two: torch's RuntimeError
    seen = _agree(_setitem_masked_into_a_row, calls, mode, backend)
    assert seen[0] == "ok" and seen[2:] == [RuntimeError, RuntimeError]


def _copy_masked_into_fixed(T, x0, x1, x2):
    v1 = x0[x0 != -1][::2]
    v2 = v1 < x2
    x1.copy_(v2)
    return (v2, x1)


def _copy_calls(*values):
    return [[np.array(v, np.float32), np.array([False]), np.array(True)] for v in values]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", MODES)
def test_copy_of_a_masked_source_into_a_fixed_destination_keeps_its_type(mode, backend):
    # counts 1, 1, 0 and 2 (torch's RuntimeError for both), then 1 again
    calls = _copy_calls([-0.5843368768692017, -1.0, -1.0], [0.5, -1.0, 2.0], [-1.0, -1.0, -1.0],
                        [1.0, 2.0, 3.0], [3.0, -1.0, -1.0])
    seen = _agree(_copy_masked_into_fixed, calls, mode, backend)
    assert seen[:4] == ["ok", "ok", RuntimeError, RuntimeError]


def test_copy_of_a_masked_source_writes_back_into_the_argument():
    def f(x0, x1):
        x1.copy_(x0[x0 > 0])
        return x1

    for mode in ("trace", "script"):
        x1 = tracejit.zeros(1)
        example = tracejit.tensor([-1.0, 2.0])
        captured = (tracejit.script(f) if mode == "script"
                    else tracejit.trace(f, example, tracejit.zeros(1)))
        captured(tracejit.tensor([3.0, -4.0]), x1)
        want = torch.zeros(1).copy_(torch.tensor([3.0, -4.0])[torch.tensor([3.0, -4.0]) > 0])
        np.testing.assert_array_equal(x1.detach().numpy(), want.detach().numpy())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", MODES)
def test_copy_of_a_masked_source_as_the_fuzzer_found_it(mode, backend):
    # one element: its count is 1 (the finding's data) or 0 (torch's RuntimeError)
    calls = _copy_calls([-0.5843368768692017], [-1.0], [2.5])
    seen = _agree(_copy_masked_into_fixed, calls, mode, backend)
    assert seen[:2] == ["ok", RuntimeError]


def _mask_write_of_an_empty_topk(T, x0):
    v1 = x0.topk(0, dim=0)[0]
    v2 = v1[v1 != 0][::2]
    v1[v1 > 0] = v2
    return v2, v1


def test_mask_write_with_a_mask_key_and_open_value_runs_as_torch():
    x = np.array([[[-2.73, 1e30]]], np.float32)
    want = _mask_write_of_an_empty_topk(torch, torch.tensor(x))
    run = lambda t: _mask_write_of_an_empty_topk(tracejit, t)  # noqa: E731
    traced = tracejit.trace(run, tracejit.tensor(x))
    for got in (traced(tracejit.tensor(x)), run(tracejit.tensor(x))):
        for g, w in zip(got, want):
            assert tuple(g.shape) == tuple(w.shape)
