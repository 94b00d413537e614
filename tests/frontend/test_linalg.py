"""tracejit.linalg against torch.linalg (the oracle): composites in every capture mode, the
numpy.linalg-backed factorizations in eager mode (and a clear refusal under trace)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import tracejit as tj
import tracejit.linalg as LA


def data(shape, seed=0, dtype="float64"):
    return np.random.default_rng([seed, *shape]).standard_normal(shape).astype(dtype)


def spd(n, seed=0):
    a = data((n, n), seed)
    return a @ a.T + n * np.eye(n)


def check(got, want, rtol=1e-6, atol=1e-8):
    if isinstance(want, (tuple, list)):
        for g, w in zip(got, want):
            check(g, w, rtol, atol)
        return
    assert got.dtype.value == str(want.dtype).removeprefix("torch."), (got.dtype, want.dtype)
    assert tuple(got.shape) == tuple(want.shape)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("ord", [2, 1, 0, 3.5, math.inf, -math.inf])
def test_vector_norm_matches_torch(ord):
    x = data((3, 4))
    for dim, keepdim in ((None, False), (1, True), ((0, 1), False)):
        check(LA.vector_norm(tj.tensor(x), ord, dim, keepdim),
              torch.linalg.vector_norm(torch.tensor(x), ord, dim, keepdim))


@pytest.mark.parametrize("ord", ["fro", "nuc", 1, -1, 2, -2, math.inf, -math.inf])
def test_matrix_norm_matches_torch(ord):
    x = data((2, 3, 4))
    check(LA.matrix_norm(tj.tensor(x), ord), torch.linalg.matrix_norm(torch.tensor(x), ord))
    check(LA.matrix_norm(tj.tensor(x), ord, (0, 2), True),
          torch.linalg.matrix_norm(torch.tensor(x), ord, (0, 2), True))


def test_norm_products_and_powers_match_torch():
    x, v, w = data((3, 3)), data((3,), 1), data((3,), 2)
    tx, tv, tw = map(torch.tensor, (x, v, w))
    for args in ((), (None, 1), (1, 0), ("fro",), (math.inf, (0, 1))):
        check(LA.norm(tj.tensor(x), *args), torch.linalg.norm(tx, *args))
    check(LA.vecdot(tj.tensor(x), tj.tensor(v)), torch.linalg.vecdot(tx, tv))
    check(LA.cross(tj.tensor(x), tj.tensor(x[::-1].copy())), torch.linalg.cross(tx, tx.flip(0)))
    check(LA.diagonal(tj.tensor(data((2, 3, 3)))), torch.linalg.diagonal(torch.tensor(
        data((2, 3, 3)))))
    check(LA.multi_dot([tj.tensor(v), tj.tensor(x), tj.tensor(w)]),
          torch.linalg.multi_dot([tv, tx, tw]))
    for n in (0, 1, 2, 5, -2):
        check(LA.matrix_power(tj.tensor(spd(3)), n), torch.linalg.matrix_power(
            torch.tensor(spd(3)), n), rtol=1e-6, atol=1e-9)


def test_factorizations_match_torch():
    a, b = spd(4), data((4, 2), 3)
    ta, tb = torch.tensor(a), torch.tensor(b)
    A, B = tj.tensor(a), tj.tensor(b)
    check(LA.det(A), torch.linalg.det(ta))
    check(LA.slogdet(A), torch.linalg.slogdet(ta))
    check(LA.inv(A), torch.linalg.inv(ta))
    check(LA.solve(A, B), torch.linalg.solve(ta, tb))
    check(LA.solve(A, B[:, 0]), torch.linalg.solve(ta, tb[:, 0]))
    check(LA.solve(A, B.mT, left=False), torch.linalg.solve(ta, tb.mT, left=False))
    check(LA.cholesky(A), torch.linalg.cholesky(ta))
    check(LA.cholesky(A, upper=True), torch.linalg.cholesky(ta, upper=True))
    check(LA.eigvalsh(A), torch.linalg.eigvalsh(ta))
    check(LA.svdvals(B), torch.linalg.svdvals(tb))
    check(LA.pinv(B), torch.linalg.pinv(tb))
    check(LA.matrix_rank(B), torch.linalg.matrix_rank(tb))
    check(LA.solve_triangular(A, B, upper=True), torch.linalg.solve_triangular(ta, tb,
                                                                               upper=True))
    u, s, vh = LA.svd(B, full_matrices=False)
    np.testing.assert_allclose((u.numpy() * s.numpy()) @ vh.numpy(), b, atol=1e-10)
    q, r = LA.qr(B)
    np.testing.assert_allclose(q.numpy() @ r.numpy(), b, atol=1e-10)
    vals, vecs = LA.eigh(A)
    np.testing.assert_allclose(vecs.numpy() @ np.diag(vals.numpy()) @ vecs.numpy().T, a,
                               atol=1e-9)
    x = LA.lstsq(tj.tensor(data((5, 3), 4)), tj.tensor(data((5, 2), 5))).solution
    want = torch.linalg.lstsq(torch.tensor(data((5, 3), 4)), torch.tensor(data((5, 2), 5)))
    check(x, want.solution)


def test_linalg_errors_like_torch():
    singular = np.zeros((2, 2))
    with pytest.raises(RuntimeError):
        torch.linalg.inv(torch.tensor(singular))
    with pytest.raises(LA.LinAlgError, match="inv"):
        LA.inv(tj.tensor(singular))
    with pytest.raises(RuntimeError, match="square"):
        LA.det(tj.ones(2, 3, dtype=tj.float64))


def test_composites_trace_and_factorizations_are_refused_under_trace():
    def norms(x):
        return LA.vector_norm(x, 3.0, 1), LA.matrix_norm(x, 1), LA.matrix_power(x, 3)

    x = tj.tensor(spd(3))
    traced = tj.trace(norms, x)
    for got, want in zip(traced(x), norms(x)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)
    with pytest.raises(tj.TraceError, match=r"numpy\.linalg"):
        tj.trace(lambda a: LA.inv(a), x)
