"""tracejit.linalg against torch.linalg (the oracle): composites in every capture mode, the
factorizations (ops of the table: eager, trace, script, graph files, llvm), lstsq in eager mode
(and a clear refusal under trace). Factors whose signs LAPACK leaves free (qr, svd and eigh
vectors) are compared by reconstruction."""

from __future__ import annotations

import math
import warnings

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


def test_composites_trace():
    def norms(x):
        return LA.vector_norm(x, 3.0, 1), LA.matrix_norm(x, 1), LA.matrix_power(x, 3)

    x = tj.tensor(spd(3))
    traced = tj.trace(norms, x)
    for got, want in zip(traced(x), norms(x)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)
    with pytest.raises(tj.TraceError, match=r"numpy\.linalg"):  # lstsq stays eager-only
        tj.trace(lambda a: LA.lstsq(a, a).solution, x)


# --- factorizations as ops of the table : batches, errors, every capture mode -------

def batch_spd(b, n, seed=0, dtype="float64"):
    a = data((b, n, n), seed)
    return (a @ a.swapaxes(1, 2) + n * np.eye(n)).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batched_factorizations_match_torch(dtype):
    a, g, b = batch_spd(3, 4, dtype=dtype), data((2, 3, 5, 3), 1, dtype), data((3, 4, 2), 2,
                                                                               dtype)
    ta, tg, tb = map(torch.tensor, (a, g, b))
    A, G, B = map(tj.tensor, (a, g, b))
    rtol = 1e-4 if dtype == "float32" else 1e-9
    check(LA.inv(A), torch.linalg.inv(ta), rtol, rtol)
    check(LA.det(A), torch.linalg.det(ta), rtol)
    check(LA.slogdet(A), torch.linalg.slogdet(ta), rtol)
    check(LA.solve(A, B), torch.linalg.solve(ta, tb), rtol, rtol)
    check(LA.solve(A[0], B), torch.linalg.solve(ta[0], tb), rtol, rtol)  # broadcast A
    check(LA.solve(A, B[..., 0]), torch.linalg.solve(ta, tb[..., 0]), rtol, rtol)
    check(LA.cholesky(A), torch.linalg.cholesky(ta), rtol, rtol)
    check(LA.eigvalsh(A), torch.linalg.eigvalsh(ta), rtol, rtol)
    check(LA.svdvals(G), torch.linalg.svdvals(tg), rtol, rtol)
    check(LA.pinv(G), torch.linalg.pinv(tg), rtol * 10, rtol * 10)
    check(LA.pinv(A, hermitian=True), torch.linalg.pinv(ta, hermitian=True), rtol, rtol)
    check(LA.matrix_rank(G), torch.linalg.matrix_rank(tg))
    check(LA.matrix_norm(G, "nuc"), torch.linalg.matrix_norm(tg, "nuc"), rtol)
    for full in (True, False):
        u, s, vh = LA.svd(G, full_matrices=full)
        tu, ts, tvh = torch.linalg.svd(tg, full_matrices=full)
        assert (u.shape, s.shape, vh.shape) == (tu.shape, ts.shape, tvh.shape)
        k = s.shape[-1]
        product = (u.numpy()[..., :k] * s.numpy()[..., None, :]) @ vh.numpy()[..., :k, :]
        np.testing.assert_allclose(product, g, rtol=rtol * 10, atol=rtol * 10)
    for mode in ("reduced", "complete"):
        q, r = LA.qr(G, mode)
        tq, tr = torch.linalg.qr(tg, mode)
        assert (q.shape, r.shape) == (tq.shape, tr.shape)
        np.testing.assert_allclose(q.numpy() @ r.numpy(), g, rtol=rtol * 10, atol=rtol * 10)
        np.testing.assert_allclose(np.abs(r.numpy()), np.abs(tr.numpy()), rtol=rtol * 10,
                                   atol=rtol * 10)  # R is unique up to the signs of its rows
    q, r = LA.qr(G, "r")
    assert q.shape == torch.linalg.qr(tg, "r")[0].shape
    w, v = LA.eigh(A, "U")
    np.testing.assert_allclose((v.numpy() * w.numpy()[..., None, :]) @ v.numpy().swapaxes(1, 2),
                               a, rtol=rtol * 10, atol=rtol * 10)


def test_factorization_errors_are_torchs():
    singular = tj.tensor(np.stack([np.eye(3), np.diag([1.0, 0.0, 1.0])]))
    with pytest.raises(LA.LinAlgError, match=r"linalg.inv: \(Batch element 1\): The diagonal "
                       r"element 2 is zero, the inversion could not be completed because the "
                       r"input matrix is singular\."):
        LA.inv(singular)
    with pytest.raises(torch.linalg.LinAlgError, match=r"\(Batch element 1\): The diagonal "
                       r"element 2 is zero"):
        torch.linalg.inv(torch.tensor(singular.numpy()))
    not_pd = np.array([[1.0, 2.0], [2.0, 1.0]])
    message = "leading minor of order 2 is not positive-definite"
    with pytest.raises(torch.linalg.LinAlgError, match=message):
        torch.linalg.cholesky(torch.tensor(not_pd))
    with pytest.raises(LA.LinAlgError, match=message):
        LA.cholesky(tj.tensor(not_pd))
    assert issubclass(LA.LinAlgError, RuntimeError)
    with pytest.raises(LA.LinAlgError, match="singular"):
        LA.solve(tj.tensor(not_pd * [[1.0], [0.0]]), tj.ones(2, 1, dtype=tj.float64))
    for fn in (LA.inv, LA.det, LA.cholesky, LA.eigh):
        with pytest.raises(RuntimeError, match="square matrices, but they are 2 by 3"):
            fn(tj.ones(2, 3))
        with pytest.raises(RuntimeError, match="at least 2 dimensions"):
            fn(tj.ones(3))
    with pytest.raises(RuntimeError, match="floating point"):
        LA.inv(tj.eye(2, dtype=tj.int64))
    with pytest.raises(RuntimeError, match="Incompatible shapes"):
        LA.solve(tj.eye(2), tj.ones(3, 1))
    with pytest.raises(RuntimeError, match="unrecognized mode"):
        LA.qr(tj.eye(2), "thin")


def _factorize(a, b):
    q, r = LA.qr(a)
    w, v = LA.eigh(a @ a.mT)
    return (LA.inv(a) @ b + LA.solve(a, b) + LA.cholesky(a @ a.mT + 1) @ b, LA.det(a),
            LA.slogdet(a).logabsdet, LA.svdvals(a), (q @ r).abs(), (v * w.unsqueeze(-2)) @ v.mT,
            LA.pinv(a),
            LA.matrix_norm(a, 2))


def test_factorizations_trace_script_and_graph_files(tmp_path):
    a, b = batch_spd(2, 3, 5), data((2, 3, 2), 6)
    want = _factorize(tj.tensor(a), tj.tensor(b))
    torch_det = torch.linalg.det(torch.tensor(a)).numpy()
    np.testing.assert_allclose(want[1].numpy(), torch_det, rtol=1e-10)
    fresh = batch_spd(2, 3, 7), data((2, 3, 2), 8)
    want_fresh = _factorize(*map(tj.tensor, fresh))
    traced = tj.trace(_factorize, tj.tensor(a), tj.tensor(b))
    ops = {o.op.value for o in traced.graph.body.ops}
    assert {"inv", "solve", "cholesky", "qr", "eigh", "det", "slogdet", "svd"} <= ops
    compiled = tj.trace(_factorize, tj.tensor(a), tj.tensor(b), backend="llvm")
    scripted = tj.script(_factorize)
    tj.save(traced, tmp_path / "la.tjg")
    loaded = tj.load(tmp_path / "la.tjg")
    for fn in (traced, compiled, scripted, loaded):
        for got, expected in zip(fn(*map(tj.tensor, fresh)), want_fresh):
            np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-9, atol=1e-12)
    with pytest.raises(LA.LinAlgError, match="singular"):
        traced(tj.zeros(2, 3, 3, dtype=tj.float64), tj.tensor(b))


def test_matrix_exp_cond_vander_and_tensor_solvers_match_torch():
    g, a = data((3, 4, 4), 9), batch_spd(2, 3, 10)
    for x in (g, g * 8, g.astype("float32") / 3, np.zeros((2, 2, 2))):
        check(LA.matrix_exp(tj.tensor(x)), torch.linalg.matrix_exp(torch.tensor(x)),
              1e-5 if x.dtype == np.float32 else 1e-10, 1e-12)
    check(tj.matrix_exp(tj.tensor(a)), torch.matrix_exp(torch.tensor(a)), 1e-10)
    assert np.isnan(LA.matrix_exp(tj.tensor([[np.inf, 0.0], [0.0, 1.0]])).numpy()).all()
    for p in (None, 2, -2, "fro", "nuc", 1, -1, math.inf, -math.inf):
        check(LA.cond(tj.tensor(g), p), torch.linalg.cond(torch.tensor(g), p), 1e-9)
    check(LA.cond(tj.tensor(data((2, 3, 5)))), torch.linalg.cond(torch.tensor(data((2, 3, 5)))))
    with pytest.raises(RuntimeError, match="square matrices"):
        LA.cond(tj.ones(2, 3), "fro")
    for x, n in ((np.array([1, 2, 3]), None), (data((2, 3)), 5), (np.array([1.5, -2.0]), 2)):
        check(LA.vander(tj.tensor(x), N=n), torch.linalg.vander(torch.tensor(x), N=n))
    with pytest.raises(RuntimeError, match="N must be greater than 1"):
        LA.vander(tj.ones(2), N=1)
    t = data((4, 2, 2), 11)
    check(LA.tensorinv(tj.tensor(t), ind=1), torch.linalg.tensorinv(torch.tensor(t), ind=1))
    t, b = data((2, 3, 6), 12), data((2, 3), 13)
    check(LA.tensorsolve(tj.tensor(t), tj.tensor(b)),
          torch.linalg.tensorsolve(torch.tensor(t), torch.tensor(b)))
    t = data((6, 2, 3), 14)
    check(LA.tensorsolve(tj.tensor(t), tj.tensor(b), dims=(0,)),
          torch.linalg.tensorsolve(torch.tensor(t), torch.tensor(b), dims=(0,)))
    traced = tj.trace(lambda x: LA.matrix_exp(x) + LA.cond(x).reshape(-1, 1, 1), tj.tensor(g))
    fresh = data((3, 4, 4), 15)
    check(traced(tj.tensor(fresh)), torch.linalg.matrix_exp(torch.tensor(fresh))
          + torch.linalg.cond(torch.tensor(fresh)).reshape(-1, 1, 1), 1e-9)


def test_cholesky_solve_inverse_and_triangular_solve_match_torch():
    a, b = batch_spd(2, 3, 16), data((2, 3, 2), 17)
    for upper in (False, True):
        factor = torch.linalg.cholesky(torch.tensor(a), upper=upper)
        mine = tj.tensor(factor.numpy())
        check(tj.cholesky_solve(tj.tensor(b), mine, upper),
              torch.cholesky_solve(torch.tensor(b), factor, upper), 1e-9, 1e-12)
        check(mine[0].cholesky_inverse(upper), factor[0].cholesky_inverse(upper), 1e-9, 1e-12)
    for upper, transpose, unit in ((True, False, False), (False, True, True), (True, True, False)):
        with warnings.catch_warnings():  # torch warns (once) that it is deprecated
            warnings.simplefilter("ignore")
            want = torch.triangular_solve(torch.tensor(b), torch.tensor(a), upper, transpose, unit)
        got = tj.triangular_solve(tj.tensor(b), tj.tensor(a), upper, transpose, unit)
        check(tuple(got), tuple(want), 1e-9, 1e-12)


@pytest.mark.parametrize("shape", [(3, 4, 4), (2, 3, 5), (2, 5, 3), (4, 4)])
def test_lu_family_matches_torch(shape):
    a = data(shape, 18)
    ta, A = torch.tensor(a), tj.tensor(a)
    check(tuple(LA.lu_factor(A)), tuple(torch.linalg.lu_factor(ta)), 1e-10, 1e-12)
    check(tuple(LA.lu(A)), tuple(torch.linalg.lu(ta)), 1e-10, 1e-12)
    check(tuple(LA.lu_factor_ex(A)), tuple(torch.linalg.lu_factor_ex(ta)), 1e-10, 1e-12)
    lu_t, piv_t = torch.linalg.lu_factor(ta)
    check(tuple(tj.lu_unpack(tj.tensor(lu_t.numpy()), tj.tensor(piv_t.numpy()))),
          tuple(torch.lu_unpack(lu_t, piv_t)), 1e-10, 1e-12)


def test_lu_solve_and_singular_matrices_match_torch():
    a, b = data((3, 4, 4), 19), data((3, 4, 2), 20)
    lu_, piv = LA.lu_factor(tj.tensor(a))
    lu_t, piv_t = torch.linalg.lu_factor(torch.tensor(a))
    for left, adjoint in ((True, False), (True, True), (False, False), (False, True)):
        rhs = b if left else b.swapaxes(1, 2).copy()
        check(LA.lu_solve(lu_, piv, tj.tensor(rhs), left=left, adjoint=adjoint),
              torch.linalg.lu_solve(lu_t, piv_t, torch.tensor(rhs), left=left, adjoint=adjoint),
              1e-9, 1e-12)
    check(tj.lu_solve(tj.tensor(b), lu_, piv), torch.linalg.lu_solve(lu_t, piv_t,
                                                                      torch.tensor(b)), 1e-9)
    with warnings.catch_warnings():  # torch.Tensor.lu is deprecated (warns)
        warnings.simplefilter("ignore")
        check(tj.tensor(a).lu()[1], torch.tensor(a).lu()[1])
    singular = np.stack([np.eye(2), [[1.0, 2.0], [2.0, 4.0]]])
    message = r"\(Batch element 1\): U\[2,2\] is zero"
    for L in (tj, torch):  # a plain RuntimeError in torch, not a LinAlgError
        with pytest.raises(RuntimeError, match=message) as error:
            L.linalg.lu_factor(L.tensor(singular))
        assert not isinstance(error.value, torch.linalg.LinAlgError)
    check(tuple(LA.lu(tj.tensor(singular))), tuple(torch.linalg.lu(torch.tensor(singular))))
    with pytest.raises(RuntimeError, match="LU without pivoting is not implemented on the CPU"):
        LA.lu(tj.tensor(a), pivot=False)


def test_lu_traces_and_scripts():
    a, b = data((2, 3, 3), 21), data((2, 3, 1), 22)

    def fn(a, b):
        P, L, U = LA.lu(a)
        return LA.lu_solve(*LA.lu_factor(a), b), P @ L @ U

    want = fn(tj.tensor(a), tj.tensor(b))
    fresh = data((2, 3, 3), 23), data((2, 3, 1), 24)
    want_fresh = [torch.linalg.solve(torch.tensor(fresh[0]), torch.tensor(fresh[1])),
                  torch.tensor(fresh[0])]
    check(want[1], torch.tensor(a), 1e-12, 1e-12)
    for compiled in (tj.trace(fn, tj.tensor(a), tj.tensor(b)), tj.script(fn)):
        for got, expected in zip(compiled(*map(tj.tensor, fresh)), want_fresh):
            check(got, expected, 1e-9, 1e-12)


def test_ex_forms_report_info_like_torch():
    good = np.eye(3) * 2 + 0.1
    singular = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 0.0, 1.0]])
    not_pd = np.array([[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    a, c, b = np.stack([good, singular]), np.stack([good, not_pd]), data((2, 3, 2), 25)
    check(LA.inv_ex(tj.tensor(a)).info, torch.linalg.inv_ex(torch.tensor(a)).info)
    check(LA.inv_ex(tj.tensor(a)).inverse[0], torch.linalg.inv_ex(torch.tensor(a)).inverse[0])
    assert np.isnan(LA.inv_ex(tj.tensor(a)).inverse[1].numpy()).all()  # torch: LAPACK's garbage
    mine, theirs = LA.solve_ex(tj.tensor(a), tj.tensor(b)), torch.linalg.solve_ex(
        torch.tensor(a), torch.tensor(b))
    check(mine.info, theirs.info)
    check(mine.result[0], theirs.result[0])
    check(LA.solve_ex(tj.tensor(good), tj.tensor(b[0, :, 0])).result,
          torch.linalg.solve_ex(torch.tensor(good), torch.tensor(b[0, :, 0])).result)
    for upper in (False, True):
        mine = LA.cholesky_ex(tj.tensor(c), upper=upper)
        theirs = torch.linalg.cholesky_ex(torch.tensor(c), upper=upper)
        check(mine.info, theirs.info)
        check(mine.L[0], theirs.L[0])
    for name, x in (("inv_ex", a), ("cholesky_ex", c)):
        for L, error in ((tj, LA.LinAlgError), (torch, torch.linalg.LinAlgError)):
            with pytest.raises(error, match=r"\(Batch element 1\)"):
                getattr(L.linalg, name)(L.tensor(x), check_errors=True)
    traced = tj.trace(lambda x: LA.cholesky_ex(x).info + LA.inv_ex(x).info, tj.tensor(c))
    check(traced(tj.tensor(a)), torch.linalg.cholesky_ex(torch.tensor(a)).info
          + torch.linalg.inv_ex(torch.tensor(a)).info)
