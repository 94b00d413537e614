"""Helpers for the tests of tracejit.nn layers against their torch 2.13 twins: seeded
samples, twin construction with torch's state copied in, and dtype-aware comparison."""

from __future__ import annotations

import warnings

import numpy as np
import torch

import tracejit as tj

TOL = {"float32": {"rtol": 1e-5, "atol": 2e-5}, "float64": {"rtol": 1e-10, "atol": 1e-10}}


def sample(*shape: int, dtype: str = "float32", seed: int = 0, scale: float = 1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def positive(*shape: int, dtype: str = "float32", seed: int = 0):
    return np.random.default_rng(seed).uniform(0.05, 0.95, shape).astype(dtype)


def twins(make, dtype: str, random_state: bool):
    """(ours, theirs): make(tracejit) holding a copy of make(torch)'s state, in `dtype`."""
    torch.manual_seed(0)
    theirs = make(torch).to(getattr(torch, dtype))
    if random_state:
        with torch.no_grad():
            for value in theirs.state_dict().values():
                if value.is_floating_point():
                    value.copy_(torch.rand_like(value) + 0.5)
    ours = make(tj).to(getattr(tj, dtype))
    theirs_state = theirs.state_dict()
    ours_state = ours.state_dict()
    assert list(ours_state) == list(theirs_state)
    for key, value in theirs_state.items():
        assert tuple(ours_state[key].shape) == tuple(value.shape), key
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs_state.items()})
    return ours, theirs


def assert_close(ours, theirs, dtype: str) -> None:
    expected = theirs.detach().numpy()
    assert tuple(ours.shape) == tuple(expected.shape)
    assert ours.dtype.value == str(theirs.dtype).removeprefix("torch.")
    np.testing.assert_allclose(ours.detach().numpy(), expected, **TOL[dtype])


def run_twins(make, inputs, dtype: str, random_state: bool = False, train: bool = False):
    ours, theirs = twins(make, dtype, random_state)
    ours.train(train)
    theirs.train(train)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = theirs(*[torch.from_numpy(a.copy()) for a in inputs])
        got = ours(*[tj.tensor(a) for a in inputs])
    assert_close(got, expected, dtype)
    return ours, theirs
