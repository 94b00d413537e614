"""Shape rules and numpy references of the matrix factorizations and solvers: inv, det, slogdet,
solve, cholesky, qr, svd, eigh, lu_factor and matrix_exp (tracejit.linalg builds norms, pinv,
matrix_rank, lu, lu_solve, ... on them).

Each takes batches of matrices [..., m, n] (float32/float64) and computes over the leading
dims as torch does; ops with several results (slogdet, qr, svd, eigh) are one op per result,
picked by the `result` attribute (as unique's). A matrix the factorization cannot handle
(singular, not positive-definite) raises `LinAlgError`, torch's RuntimeError subclass, with
torch's message, when the reference runs (its values decide, as in torch's kernel).
Factor signs follow LAPACK through numpy.linalg, as torch's CPU kernels do; where LAPACK leaves
a sign free (qr, svd and eigh vectors) only the reconstruction is defined.
"""

from __future__ import annotations

import contextlib

import numpy as np

from .shape_rules import Attrs, Types, broadcast_shapes
from .types import DType, TensorType


class LinAlgError(RuntimeError):
    """torch.linalg.LinAlgError: a singular or not positive-definite matrix."""


# --- shape rules --------------------------------------------------------------------------------

def _matrices(x: TensorType, op: str, square: bool = True) -> tuple[int | None, int | None]:
    if x.ndim < 2:
        raise RuntimeError(f"linalg.{op}: The input tensor A must have at least 2 dimensions.")
    m, n = x.shape[-2:]
    if square and m != n:
        raise RuntimeError(f"linalg.{op}: A must be batches of square matrices, but they are "
                           f"{m} by {n} matrices")
    return m, n


def square_rule(types: Types, attrs: Attrs, op: str = "inv"):
    """inv, cholesky: [..., n, n] -> [..., n, n]."""
    _matrices(types[0], op)
    return (types[0],)


def cholesky_rule(types: Types, attrs: Attrs, op: str = "cholesky"):
    """The factor [..., n, n], or info int32 [...] (potrf's: 0, or the failing minor's order)."""
    _matrices(types[0], op)
    if attrs["result"] == "info":
        return (TensorType(DType.int32, types[0].shape[:-2]),)
    return (types[0],)


def det_rule(types: Types, attrs: Attrs, op: str = "det"):
    """det, slogdet: [..., n, n] -> [...]."""
    _matrices(types[0], op)
    return (TensorType(types[0].dtype, types[0].shape[:-2]),)


def solve_rule(types: Types, attrs: Attrs, op: str = "solve"):
    """A [..., n, n], B [..., n, k] -> X [broadcast(...), n, k]."""
    a, b = types
    _, n = _matrices(a, op)
    if b.ndim < 2 or b.shape[-2] != n:
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation "
                           f"AX = B ({a.shape[-2]}x{n} and {'x'.join(map(str, b.shape[-2:]))})")
    if a.dtype != b.dtype:
        raise RuntimeError(f"linalg.solve: Expected A and B to have the same dtype, but found "
                           f"A of type {a.dtype.value} and B of type {b.dtype.value} instead")
    batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return (TensorType(a.dtype, (*batch, n, b.shape[-1])),)


def qr_rule(types: Types, attrs: Attrs, op: str = "qr"):
    (x,) = types
    m, n = _matrices(x, op, square=False)
    k = min(m, n)
    batch = x.shape[:-2]
    complete = attrs["mode"] == "complete"
    shape = (m, m if complete else k) if attrs["result"] == "q" else (m if complete else k, n)
    return (TensorType(x.dtype, (*batch, *shape)),)


def svd_rule(types: Types, attrs: Attrs, op: str = "svd"):
    (x,) = types
    m, n = _matrices(x, op, square=False)
    k = min(m, n)
    full = attrs["full_matrices"]
    shape = {"u": (m, m if full else k), "s": (k,), "vh": (n if full else k, n)}
    return (TensorType(x.dtype, (*x.shape[:-2], *shape[attrs["result"]])),)


def eigh_rule(types: Types, attrs: Attrs, op: str = "eigh"):
    (x,) = types
    _matrices(x, op)
    shape = x.shape if attrs["result"] == "vectors" else x.shape[:-1]
    return (TensorType(x.dtype, shape),)


def lu_rule(types: Types, attrs: Attrs, op: str = "lu_factor"):
    """LU [..., m, n] (L below the diagonal, U on and above), pivots int32 [..., min(m, n)]
    (1-based, LAPACK's), info int32 [...] (the first zero of U's diagonal, 1-based, or 0)."""
    (x,) = types
    m, n = _matrices(x, op, square=False)
    batch = x.shape[:-2]
    if attrs["result"] == "lu":
        return (x,)
    shape = (*batch, min(m, n)) if attrs["result"] == "pivots" else batch
    return (TensorType(DType.int32, shape),)


# --- references ---------------------------------------------------------------------------------

def _each(a: np.ndarray):
    """(batch index, matrix) pairs of a [..., m, n] array."""
    flat = a.reshape(-1, *a.shape[-2:])
    return [(np.unravel_index(k, a.shape[:-2]), m) for k, m in enumerate(flat)]


def _batch_prefix(a: np.ndarray, index) -> str:
    if a.ndim <= 2:
        return ""
    return f"(Batch element {int(np.ravel_multi_index(index, a.shape[:-2]))}): "


def _singular(a: np.ndarray, name: str, what: str):
    """LinAlgError for the first singular matrix of a, naming its zero pivot as torch does."""
    for index, m in _each(a):
        if m.size and not np.all(np.isfinite(m)):
            continue
        pivot = _zero_pivot(m)
        if pivot is not None:
            raise LinAlgError(f"{name}: {_batch_prefix(a, index)}{what}".format(pivot=pivot))
    raise LinAlgError(f"{name}: {what}".format(pivot="?"))


def _zero_pivot(m: np.ndarray) -> int | None:
    """The 1-based index of the first zero pivot of m's partially pivoted LU, if any."""
    u = np.array(m, dtype=np.float64)
    n = u.shape[0]
    for k in range(n):
        p = k + int(np.argmax(np.abs(u[k:, k])))
        if u[p, k] == 0:
            return k + 1
        u[[k, p]] = u[[p, k]]
        u[k + 1:] -= np.outer(u[k + 1:, k] / u[k, k], u[k])
    return None


def _per_matrix(fn, *arrays):
    """fn on each matrix of the broadcast batch, NaN where it fails: the *_ex forms' results for
    a matrix they report in info (torch leaves LAPACK's partial results there)."""
    batch = np.broadcast_shapes(*(a.shape[:-2] for a in arrays))
    arrays = [np.broadcast_to(a, (*batch, *a.shape[-2:])) for a in arrays]
    out = np.full((*batch, *arrays[-1].shape[-2:]), np.nan)  # inv, cholesky, solve's B
    for index in np.ndindex(*batch):
        with contextlib.suppress(np.linalg.LinAlgError):
            out[index] = fn(*(a[index] for a in arrays))
    return out


def inv(a, *, check=True):
    try:
        return np.linalg.inv(a)
    except np.linalg.LinAlgError:
        if not check:
            return _per_matrix(np.linalg.inv, a)
        _singular(a, "linalg.inv", "The diagonal element {pivot} is zero, the inversion could "
                  "not be completed because the input matrix is singular.")


def det(a):
    return np.linalg.det(a)


def slogdet(a, *, result):
    sign, logabsdet = np.linalg.slogdet(a)
    return sign if result == "sign" else logabsdet


def solve(a, b, *, check=True):
    try:
        return np.linalg.solve(a, np.broadcast_to(b, (*np.broadcast_shapes(
            a.shape[:-2], b.shape[:-2]), *b.shape[-2:])))
    except np.linalg.LinAlgError:
        if not check:
            return _per_matrix(np.linalg.solve, a, b)
        raise LinAlgError("torch.linalg.solve: The solver failed because the input matrix is "
                          "singular.") from None


def _not_positive_definite(m: np.ndarray) -> int:
    """LAPACK potrf's info: the order of the first leading minor that is not positive-definite,
    0 if m is."""
    try:
        np.linalg.cholesky(m)
        return 0
    except np.linalg.LinAlgError:
        return next(k for k in range(1, m.shape[0] + 1) if _fails(np.linalg.cholesky, m[:k, :k]))


def _fails(fn, m) -> bool:
    try:
        fn(m)
        return False
    except np.linalg.LinAlgError:
        return True


def cholesky(a, *, check=True, result="factor"):
    if result == "info":
        info = [_not_positive_definite(m) for _, m in _each(a)]
        return np.asarray(info, np.int32).reshape(a.shape[:-2])
    try:
        return np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        if not check:
            return _per_matrix(np.linalg.cholesky, a)
        for index, m in _each(a):
            k = _not_positive_definite(m)
            if k:
                raise LinAlgError(
                    f"linalg.cholesky: {_batch_prefix(a, index)}The factorization could not be "
                    "completed because the input is not positive-definite (the leading minor "
                    f"of order {k} is not positive-definite).") from None
        raise


def qr(a, *, mode, result):
    q, r = np.linalg.qr(a, mode)
    return q if result == "q" else r


def svd(a, *, full_matrices, result):
    if result == "s":
        return np.linalg.svd(a, compute_uv=False)
    u, _, vh = np.linalg.svd(a, full_matrices=full_matrices)
    return u if result == "u" else vh


def eigh(a, *, uplo, result):
    if result == "values":
        return np.linalg.eigvalsh(a, uplo)
    return np.linalg.eigh(a, uplo)[1]


def _lu(a: np.ndarray):
    """LAPACK getf2's partial pivoting (the first largest magnitude), all matrices at once."""
    m, n = a.shape[-2:]
    lu = np.array(a, dtype=np.result_type(a.dtype, np.float32)).reshape(-1, m, n)
    pivots = np.zeros((lu.shape[0], min(m, n)), np.int32)
    info = np.zeros(lu.shape[0], np.int32)
    rows = np.arange(lu.shape[0])
    for j in range(min(m, n)):
        p = j + np.argmax(np.abs(lu[:, j:, j]), axis=1)
        pivots[:, j] = p + 1
        top = lu[rows, j].copy()
        lu[rows, j] = lu[rows, p]
        lu[rows, p] = top
        diagonal = lu[:, j, j]
        zero = diagonal == 0
        info[(info == 0) & zero] = j + 1
        scaled = lu[:, j + 1:, j] / np.where(zero, 1.0, diagonal)[:, None]
        lu[:, j + 1:, j] = np.where(zero[:, None], lu[:, j + 1:, j], scaled)
        lu[:, j + 1:, j + 1:] -= lu[:, j + 1:, j, None] * lu[:, j, None, j + 1:]
    batch = a.shape[:-2]
    return lu.reshape(a.shape), pivots.reshape(*batch, -1), info.reshape(batch)


def lu_factor(a, *, result, check):
    """One of lu_factor's results; `check` raises torch's error on a zero pivot (a plain
    RuntimeError there, as torch's)."""
    lu, pivots, info = _lu(a)
    if check and np.any(info):
        k = int(np.flatnonzero(info.reshape(-1))[0])
        prefix = f"(Batch element {k}): " if a.ndim > 2 else ""
        j = int(info.reshape(-1)[k])
        raise RuntimeError(f"torch.linalg.lu_factor: {prefix}U[{j},{j}] is zero and using it on "
                          "lu_solve would result in a division by zero. If you still want to "
                          "perform the factorization, consider calling linalg.lu(A, pivot) or "
                          "linalg.lu_factor_ex(A, pivot)")
    return {"lu": lu, "pivots": pivots, "info": info}[result]


# Higham's scaling and squaring with the [13/13] Pade approximant ("The scaling and squaring
# method for the matrix exponential revisited", 2005): b_0 .. b_13 and theta_13.
_PADE13 = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0,
           129060195264000.0, 10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0,
           40840800.0, 960960.0, 16380.0, 182.0, 1.0)
_THETA13 = 5.371920351148152


def _expm(a: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(a)):
        return np.full_like(a, np.nan)
    norm = np.abs(a).sum(0).max() if a.size else 0.0
    s = max(0, int(np.ceil(np.log2(norm / _THETA13)))) if norm > _THETA13 else 0
    a = a / 2.0**s
    b, eye = _PADE13, np.eye(a.shape[0])
    a2 = a @ a
    a4 = a2 @ a2
    a6 = a4 @ a2
    u = a @ (a6 @ (b[13] * a6 + b[11] * a4 + b[9] * a2) + b[7] * a6 + b[5] * a4 + b[3] * a2
             + b[1] * eye)
    v = a6 @ (b[12] * a6 + b[10] * a4 + b[8] * a2) + b[6] * a6 + b[4] * a4 + b[2] * a2 + b[0] * eye
    x = np.linalg.solve(v - u, v + u)
    for _ in range(s):
        x = x @ x
    return x


def matrix_exp(a):
    """exp of each square matrix (computed in float64; NaN where a matrix is not finite)."""
    out = np.empty(a.shape, np.float64)
    for index, m in _each(a.astype(np.float64)):
        out[index] = _expm(m)
    return out


LINALG_DTYPES = frozenset({DType.float32, DType.float64})
