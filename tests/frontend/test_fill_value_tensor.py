"""fill_ with a 0-d tensor value computed by the captured code (API fuzzer finding F1): the
value is a graph operand in trace and script, not baked in by item(); checked against torch."""
import numpy as np
import pytest
import torch

import tracejit as tj


def fill_with_mask(x0):
    v = x0.var(correction=0) + x0
    v.fill_(x0 <= 0.5)
    return v


def fill_with_sum(x0, y):
    y.fill_(x0.sum())
    return y * 2


@pytest.mark.parametrize("mode", ["eager", "trace", "script"])
def test_fill_takes_a_computed_0d_value_like_torch(mode):
    example = tj.tensor(5.0)
    run = {"eager": fill_with_mask, "trace": tj.trace(fill_with_mask, example),
           "script": tj.script(fill_with_mask)}[mode]
    for x in (0.0, 2.0, -3.0):  # the mask flips between calls: nothing was baked in
        np.testing.assert_array_equal(run(tj.tensor(x)).numpy(),
                                      fill_with_mask(torch.tensor(x)).numpy())


@pytest.mark.parametrize("mode", ["eager", "trace", "script"])
def test_fill_with_a_tensor_value_casts_and_writes_back(mode):
    xs, y0 = np.array([1.5, 2.25], np.float32), np.zeros(3, np.int64)
    run = {"eager": fill_with_sum, "trace": tj.trace(fill_with_sum, tj.tensor(xs), tj.tensor(y0)),
           "script": tj.script(fill_with_sum)}[mode]
    y = tj.tensor(y0)
    got = run(tj.tensor(xs + 1), y)
    ty = torch.tensor(y0)
    want = fill_with_sum(torch.tensor(xs + 1), ty)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_array_equal(y.numpy(), ty.numpy())
    assert got.dtype == tj.int64


def test_fill_refuses_a_value_with_dims_as_torch():
    with pytest.raises(RuntimeError, match="0-dimension value tensor"):
        torch.zeros(3).fill_(torch.ones(2))
    with pytest.raises(RuntimeError, match="0-dimension value tensor"):
        tj.zeros(3).fill_(tj.ones(2))
