"""Oracle-table entries of the elementwise math with C-library kernels and of the matrix
factorizations and solvers (ir/math_ops.py, ir/linalg_ops.py): test_ops_oracle.py merges
`MATH_OPS_TABLE` into its `TABLE` and appends `MORE_CASES` to existing entries, so these
entries run like every other.
"""

from __future__ import annotations

import numpy as np
from test_ops_oracle import F234, MASK23, X23, X234, Case, Unary, cases

from tracejit.ir import Op

MATH_OPS_TABLE: dict = {}
MORE_CASES: dict = {}

# --- elementwise math with C library kernels (functions_special.py) -----------------
_SHIFT = np.array([[0, 1, 3], [7, 31, 63]], dtype=np.int64)
_FMOD_SPECIAL = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1.0, -1.0, 0.5, 1e30, -7.5],
                         dtype=np.float32)
MATH_OPS_TABLE.update({
    Op.ASIN: [Unary(lambda L, x: x.asin(), numpy=np.arcsin),
              Unary(lambda L, x: L.arcsin(x))],
    Op.ACOS: [Unary(lambda L, x: x.acos(), numpy=np.arccos),
              Unary(lambda L, x: L.arccos(x))],
    Op.ATAN: [Unary(lambda L, x: x.atan(), numpy=np.arctan), Unary(lambda L, x: L.arctan(x))],
    Op.ASINH: [Unary(lambda L, x: x.asinh(), numpy=np.arcsinh)],
    Op.ACOSH: [Unary(lambda L, x: L.acosh(x), numpy=np.arccosh)],
    Op.ATANH: [Unary(lambda L, x: x.arctanh(), numpy=np.arctanh)],
    Op.ERFC: [Unary(lambda L, x: x.erfc())],
    Op.LGAMMA: [Unary(lambda L, x: x.lgamma(), rtol=1e-5, atol=1e-6)],
    Op.ATAN2: [  # other must be a tensor (a Python number is torch's TypeError)
        *cases("atan2", lambda L, a, b: L.atan2(a, b), [
            (F234, F234[:, :1]), (F234.astype(np.float64), F234[0]), (X234, F234),
            (X234, X234[:, :, ::-1].copy()), (_FMOD_SPECIAL, _FMOD_SPECIAL[::-1].copy()),
            (MASK23, X23), (F234, 2.0)]),
        Case("arctan2-method", lambda L, a, b: a.arctan2(b), (X23, X23[::-1].copy())),
        Case("atan2_", lambda L, a, b: a.atan2_(b), (F234.copy(), F234[:1])),
    ],
    Op.FMOD: [  # floats; integer fmod is a composite of trunc_div (its cases follow the table)
        *cases("fmod", lambda L, a, b: L.fmod(a, b), [
            (F234, F234[:, :1] + 3.5), (F234.astype(np.float64), np.float64(-1.25)),
            (_FMOD_SPECIAL, _FMOD_SPECIAL[::-1].copy()), (F234, 2), (X234, 2.5),
            (X234.astype(np.float32), X234[:1]), (F234, -0.75)]),
        Case("fmod-method", lambda L, a: a.fmod(-2.5), (F234,)),
        Case("fmod_", lambda L, a: a.fmod_(1.5), (F234.copy(),)),
    ],
    Op.SHIFT_LEFT: [Case("lshift", lambda L, x, y: x << y, (X234 - 12, _SHIFT[:, :, None])),
                     Case("lshift-scalar", lambda L, x: x << 3, (X234,)),
                     Case("lshift-fn", lambda L, x: L.bitwise_left_shift(x, 65), (X234,))],
    Op.SHIFT_RIGHT: [Case("rshift", lambda L, x, y: x >> y, (X234 - 12, _SHIFT[:, :, None])),
                      Case("rshift-int32", lambda L, x: x.int() >> 33, (X234 - 12,)),
                      Case("rshift-method", lambda L, x: x.bitwise_right_shift(2), (X234,)),
                      Case("rshift-float", lambda L, x: x >> 1, (X23,))],
})
# --- matrix factorizations and solvers (tracejit/linalg.py, ir/linalg_ops.py) ------
# Well-conditioned data; factors whose signs LAPACK leaves free are compared by reconstruction.
_RNG = np.random.default_rng(12)
_SPD = (lambda a: a @ a.T + 4 * np.eye(4))(_RNG.standard_normal((4, 4)))
_SPD3 = np.stack([_SPD, 2 * _SPD + np.eye(4), _SPD.T @ _SPD / 10 + np.eye(4)])
_GEN = _RNG.standard_normal((2, 4, 3))
_RHS = _RNG.standard_normal((3, 4, 2))
_SINGULAR = np.array([[1.0, 2.0], [2.0, 4.0]])
_LA_INPUTS = [(_SPD,), (_SPD3,), (_SPD3.astype(np.float32),), (np.zeros((2, 0, 0)),)]


def _qr_product(L, a, mode="reduced"):
    q, r = L.linalg.qr(a, mode)
    return q @ r


def _svd_product(L, a, full=False):
    u, s, vh = L.linalg.svd(a, full_matrices=full)
    return (u[..., : s.shape[-1]] * s.unsqueeze(-2)) @ vh[..., : s.shape[-1], :]


def _eigh_product(L, a, uplo="L"):
    w, v = L.linalg.eigh(a, uplo)
    return (v * w.unsqueeze(-2)) @ v.mT


MATH_OPS_TABLE.update({
    Op.INV: [*cases("inv", lambda L, a: L.linalg.inv(a), _LA_INPUTS, rtol=1e-5),
             Case("inverse", lambda L, a: L.inverse(a), (_SPD,)),
             Case("inv-singular", lambda L, a: L.linalg.inv(a), (_SINGULAR,)),
             Case("inv-not-square", lambda L, a: L.linalg.inv(a), (_GEN,)),
             Case("inv-int", lambda L, a: L.linalg.inv(a), (np.eye(2, dtype=np.int64),))],
    Op.DET: [*cases("det", lambda L, a: L.linalg.det(a), _LA_INPUTS, rtol=1e-5),
             Case("det-singular", lambda L, a: L.det(a), (_SINGULAR,)),
             Case("det-method", lambda L, a: a.det(), (_SPD3,))],
    Op.SLOGDET: [*cases("slogdet", lambda L, a: tuple(L.linalg.slogdet(a)), _LA_INPUTS,
                        rtol=1e-5),
                 Case("logdet", lambda L, a: L.logdet(a), (_SPD3,))],
    Op.SOLVE: [Case("solve", lambda L, a, b: L.linalg.solve(a, b), (_SPD3, _RHS)),
               Case("solve-vector", lambda L, a, b: L.linalg.solve(a, b), (_SPD, _RHS[0, :, 0])),
               Case("solve-batch-vector", lambda L, a, b: L.linalg.solve(a, b),
                    (_SPD3, _RHS[:, :, 0])),
               Case("solve-broadcast", lambda L, a, b: L.linalg.solve(a, b), (_SPD, _RHS)),
               Case("solve-right", lambda L, a, b: L.linalg.solve(a, b, left=False),
                    (_SPD3, _RHS.swapaxes(1, 2).copy())),
               Case("solve-f32", lambda L, a, b: L.linalg.solve(a, b),
                    (_SPD3.astype(np.float32), _RHS.astype(np.float32)), rtol=1e-4),
               Case("solve-singular", lambda L, a, b: L.linalg.solve(a, b),
                    (_SINGULAR, np.ones((2, 1)))),
               Case("solve-bad-shape", lambda L, a, b: L.linalg.solve(a, b),
                    (_SPD, np.ones((3, 1))))],
    Op.CHOLESKY: [*cases("cholesky", lambda L, a: L.linalg.cholesky(a), _LA_INPUTS, rtol=1e-5),
                  Case("cholesky-upper", lambda L, a: L.linalg.cholesky(a, upper=True),
                       (_SPD3,)),
                  Case("cholesky-not-pd", lambda L, a: L.linalg.cholesky(a), (-_SPD,))],
    Op.QR: [Case("qr", _qr_product, (_GEN,)),
            Case("qr-wide", _qr_product, (_GEN.swapaxes(1, 2).copy(),)),
            Case("qr-complete", lambda L, a: _qr_product(L, a, "complete"), (_GEN,)),
            Case("qr-complete-orthogonal", lambda L, a: (lambda q: q.mT @ q)(
                L.linalg.qr(a, "complete")[0]), (_GEN,)),
            Case("qr-r-abs", lambda L, a: L.linalg.qr(a, "r")[1].abs(), (_GEN,), rtol=1e-6),
            Case("qr-f32", _qr_product, (_GEN.astype(np.float32),), rtol=1e-4, atol=1e-5)],
    Op.SVD: [Case("svd", _svd_product, (_GEN,)), Case("svd-full", lambda L, a: _svd_product(
                 L, a, True), (_GEN,)),
             Case("svd-full-orthogonal", lambda L, a: [u @ u.mT for u in L.linalg.svd(a)[::2]],
                  (_GEN,)),
             Case("svdvals", lambda L, a: L.linalg.svdvals(a), (_GEN,)),
             Case("svdvals-f32", lambda L, a: L.linalg.svdvals(a), (_GEN.astype(np.float32),),
                  rtol=1e-5),
             Case("matrix-norm-2", lambda L, a: L.linalg.matrix_norm(a, 2), (_GEN,)),
             Case("pinv", lambda L, a: L.linalg.pinv(a), (_GEN,)),
             Case("matrix-rank", lambda L, a: L.linalg.matrix_rank(a), (_GEN,))],
    Op.EIGH: [Case("eigvalsh", lambda L, a: L.linalg.eigvalsh(a), (_SPD3,)),
              Case("eigh", _eigh_product, (_SPD3,)),
              Case("eigh-upper", lambda L, a: _eigh_product(L, a, "U"), (np.triu(_SPD3),)),
              Case("eigh-values-f32", lambda L, a: L.linalg.eigh(a)[0],
                   (_SPD3.astype(np.float32),), rtol=1e-5)],
    Op.LU_FACTOR: [*cases("lu_factor", lambda L, a: tuple(L.linalg.lu_factor(a)),
                          [(_GEN,), (_SPD3,), (_GEN.swapaxes(1, 2).copy(),),
                           (_SPD3.astype(np.float32),)], rtol=1e-5),
                    Case("lu_factor-singular", lambda L, a: L.linalg.lu_factor(a), (_SINGULAR,)),
                    Case("lu_factor_ex", lambda L, a: tuple(L.linalg.lu_factor_ex(a)),
                         (np.stack([_SINGULAR, np.eye(2)]),)),
                    Case("lu", lambda L, a: tuple(L.linalg.lu(a)), (_GEN,)),
                    Case("lu_solve", lambda L, a, b: L.linalg.lu_solve(*L.linalg.lu_factor(a), b),
                         (_SPD3, _RHS))],
    Op.MATRIX_EXP: [*cases("matrix_exp", lambda L, a: L.linalg.matrix_exp(a),
                           [(_GEN[:, :3],), (_SPD3 / 3,), (_SPD * 2,), (np.zeros((0, 2, 2)),)],
                           rtol=1e-6),
                     Case("matrix_exp-f32", lambda L, a: L.matrix_exp(a),
                          (_SPD3.astype(np.float32) / 4,), rtol=1e-5),
                     Case("matrix_exp-method", lambda L, a: a.matrix_exp(), (_SPD / 8,)),
                     Case("matrix_exp-int", lambda L, a: L.matrix_exp(a),
                          (np.eye(2, dtype=np.int64),))],
})
_GCD_A = np.array([[0, 0, 12, -12, 7, 1], [-9, 100, 36, 5, -64, 1000]], dtype=np.int64)
_GCD_B = np.array([[0, 5, 18, 18, -21, 1], [6, -75, 0, 3, 48, 999]], dtype=np.int64)
MATH_OPS_TABLE.update({
    Op.GCD: [*cases("gcd", lambda L, a, b: L.gcd(a, b), [
                 (_GCD_A, _GCD_B), (_GCD_A.astype(np.int32), _GCD_B[:1]),
                 (_GCD_A.astype(np.int16), _GCD_B.astype(np.int8)), (_GCD_A, np.int64(6)),
                 (X23, X23), (MASK23, MASK23)]),
             Case("gcd-method", lambda L, a, b: a.gcd(b), (_GCD_A, _GCD_B[::-1].copy())),
             Case("gcd_", lambda L, a, b: a.gcd_(b), (_GCD_A.copy(), _GCD_B))],
    Op.LCM: [*cases("lcm", lambda L, a, b: L.lcm(a, b), [
                 (_GCD_A, _GCD_B), (_GCD_A.astype(np.int32), _GCD_B[:1]),
                 (np.abs(_GCD_A).astype(np.uint8), np.abs(_GCD_B).astype(np.uint8))]),
             Case("lcm-method", lambda L, a, b: a.lcm(b), (_GCD_A, _GCD_B[::-1].copy()))],
    Op.NEXTAFTER: [*cases("nextafter", lambda L, a, b: L.nextafter(a, b), [
                       (F234, F234[:, :1]), (_FMOD_SPECIAL, _FMOD_SPECIAL[::-1].copy()),
                       (F234.astype(np.float64), np.float64(np.inf)), (X23, X23)]),
                   Case("nextafter-f16", lambda L, a: L.nextafter(a, a + 1),
                        (X23.astype(np.float16),), skip="float16 is refused by name: the "
                        "reference computes half in float32, where the next number differs"),
                   Case("nextafter_", lambda L, a, b: a.nextafter_(b), (F234.copy(), -F234))],
})
MORE_CASES[Op.TRUNC_DIV] = cases("fmod-int", lambda L, a, b: L.fmod(a, b), [
    (X234 - 12, np.array([3, -3, 5, 7], np.int64)), (X234 - 12, -5), (X234.astype(np.int32), 4),
    (MASK23, X23.astype(np.int64) + 1), (X234, np.array(0, np.int64))])
