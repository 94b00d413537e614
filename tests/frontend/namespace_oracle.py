"""Helpers shared by the torch-namespace oracle tests: deterministic data and a same-dtype,
same-shape, same-values check against torch."""

from __future__ import annotations

import numpy as np
import torch

import tracejit as tj


def data(shape, dtype="float32", seed=0) -> np.ndarray:
    rng = np.random.default_rng([seed, *shape])
    if dtype.startswith("int"):
        return np.asarray(rng.integers(-5, 6, shape), dtype)
    return np.asarray(rng.standard_normal(shape), dtype)


def check(got, want, rtol=1e-5, atol=1e-6) -> None:
    """Same dtype, shape and values (tuples and lists element by element)."""
    if isinstance(want, (tuple, list)):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            check(g, w, rtol, atol)
        return
    if isinstance(want, torch.Tensor):
        assert isinstance(got, tj.Tensor), type(got)
        assert got.dtype.value == str(want.dtype).removeprefix("torch."), (got.dtype, want.dtype)
        assert tuple(got.shape) == tuple(want.shape)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=rtol, atol=atol)
    else:
        assert got == want


def both(*arrays):
    return [tj.tensor(a) for a in arrays], [torch.tensor(a) for a in arrays]
