"""Run `fn(T, *tensors)` under torch and under tracejit in one capture mode (eager, trace,
script; the reference interpreter), and compare outputs and the inputs after the call."""

from __future__ import annotations

import numpy as np
import torch

import tracejit as tj

MODES = ["eager", "trace", "script"]


def data(shape=(3, 4), seed=0, dtype=np.float32) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-2, 2, shape).astype(dtype)


def run_mode(mode, fn, tensors):
    if mode == "eager":
        return fn(tj, *tensors)
    if mode == "trace":
        example = [t.clone() for t in tensors]
        return tj.trace(lambda *xs: fn(tj, *xs), *example, backend="eager")(*tensors)
    return tj.script(fn, backend="eager")(tj, *tensors)


def compare(mode, fn, *arrays, rtol=1e-5, atol=1e-6):
    """`fn(T, *tensors)` under torch and under tracejit in `mode`: outputs and every input's
    values after the call (in-place writes through views) must match torch's."""
    expected_in = [torch.tensor(a.copy()) for a in arrays]
    expected = fn(torch, *expected_in)
    ours_in = [tj.tensor(a.copy()) for a in arrays]
    got = run_mode(mode, fn, ours_in)
    same(got, expected, rtol, atol)
    for o, t in zip(ours_in, expected_in):
        same(o, t, rtol, atol)
    return got, expected


def same(got, expected, rtol=1e-5, atol=1e-6, exact=False) -> None:
    """Equal dtype, shape and values (within rtol/atol; `exact`: bit for bit, signed zeros
    included), recursively through tuples/lists."""
    if isinstance(expected, (tuple, list)):
        assert isinstance(got, (tuple, list)) and len(got) == len(expected)
        for g, e in zip(got, expected):
            same(g, e, rtol, atol, exact)
        return
    assert str(got.dtype).split(".")[-1] == str(expected.dtype).split(".")[-1]
    assert tuple(got.shape) == tuple(expected.shape)
    if not exact:
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=rtol, atol=atol)
        return
    np.testing.assert_array_equal(got.numpy(), expected.numpy())
    if expected.dtype.is_floating_point:  # signed zeros too
        np.testing.assert_array_equal(np.signbit(got.numpy()), np.signbit(expected.numpy()))
