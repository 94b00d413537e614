"""`tracejit.linalg`: torch.linalg. Norms, products and matrix_power are composites of
dispatched ops (every capture mode records them); the factorizations and solvers (det, inv,
solve, cholesky, qr, svd, eigh) are ops of the table (ir/linalg_ops.py, numpy.linalg's LAPACK
as their kernel), so trace, script and graph files capture them too; pinv and matrix_rank are
composites of svd/eigh. lstsq runs numpy.linalg in eager mode only. Complex results (eig,
eigvals) are out of scope.
"""

from __future__ import annotations

import math
from collections import namedtuple
from typing import TYPE_CHECKING

import numpy as np

from tracejit import functions as F
from tracejit import functions_math as FM
from tracejit.autograd import is_grad_enabled
from tracejit.dispatch import concrete, current_mode, dispatch, to_dtype
from tracejit.functions import as_tensor_arg
from tracejit.ir import DType, Op
from tracejit.ir.linalg_ops import LinAlgError

if TYPE_CHECKING:
    from tracejit.tensor import Tensor

matmul = F.matmul
slogdet_result = namedtuple("slogdet", ["sign", "logabsdet"])
svd_result = namedtuple("svd", ["U", "S", "Vh"])
qr_result = namedtuple("qr", ["Q", "R"])
eigh_result = namedtuple("eigh", ["eigenvalues", "eigenvectors"])
lstsq_result = namedtuple("lstsq", ["solution", "residuals", "rank", "singular_values"])




# --- composites ---------------------------------------------------------------------------------

def vector_norm(x, ord=2, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """The ord-norm of x over dim (all elements when None): inf, -inf, 0 or any p."""
    x = as_tensor_arg(x)
    if dtype is not None:
        x = to_dtype(x, dtype)
    if not x.is_floating_point():
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point tensor as input. "
                           f"Got {x.dtype.value}")
    dims = () if dim is None else dim
    a = x.abs()
    if ord == math.inf:
        return a.amax(dims, keepdim)
    if ord == -math.inf:
        return a.amin(dims, keepdim)
    if ord == 0:
        return F.sum(to_dtype(a != 0, x.dtype), dims, keepdim)
    if ord == 1:
        return F.sum(a, dims, keepdim)
    if ord == 2:
        from tracejit.functions_reduce import sqrt_of_spread

        return sqrt_of_spread(F.sum(a * a, dims, keepdim))
    return F.sum(a ** ord, dims, keepdim) ** (1.0 / ord)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None) -> Tensor:
    """'fro', inf, -inf, 1, -1 as composites; 2, -2 and 'nuc' from the singular values."""
    A = as_tensor_arg(A)
    if dtype is not None:
        A = to_dtype(A, dtype)
    d0, d1 = (F.normalize_dim(d, A.ndim) for d in dim)
    if ord == "fro":
        return vector_norm(A, 2, (d0, d1), keepdim)
    if ord in (math.inf, -math.inf, 1, -1):
        across, along = (d1, d0) if ord in (math.inf, -math.inf) else (d0, d1)
        sums = F.sum(A.abs(), across, True)
        pick = F.amax if ord > 0 else F.amin
        out = pick(sums, along, True)
        return out if keepdim else F.squeeze(out, (d0, d1))
    if ord in (2, -2, "nuc"):
        moved = F.permute(A, [d for d in range(A.ndim) if d not in (d0, d1)] + [d0, d1])
        s = svdvals(moved)
        out = s.sum(-1) if ord == "nuc" else (s.amax(-1) if ord == 2 else s.amin(-1))
        return out.unsqueeze(min(d0, d1)).unsqueeze(max(d0, d1)) if keepdim else out
    raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")


def norm(A, ord=None, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """vector_norm for 1 dim (or ord None over all), matrix_norm for 2 dims."""
    A = as_tensor_arg(A)
    if dim is not None:
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
    else:
        dims = None if ord is None else tuple(range(A.ndim))
    if dims is not None and len(dims) == 2:
        return matrix_norm(A, "fro" if ord is None else ord, dims, keepdim, dtype=dtype)
    return vector_norm(A, 2 if ord is None else ord, dims, keepdim, dtype=dtype)


def cross(input, other, *, dim: int = -1) -> Tensor:
    """The 3-vector cross product along dim (the last by default, unlike torch.cross)."""
    return FM.cross(input, other, dim)


def diagonal(A, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """The diagonal of the last two dims by default (unlike torch.diagonal)."""
    return FM.diagonal(A, offset, dim1, dim2)


def vecdot(x, y, *, dim: int = -1) -> Tensor:
    """sum(x * y) over dim (no conjugation: no complex dtypes)."""
    return F.sum(x * y, dim)


def multi_dot(tensors) -> Tensor:
    """A chain of matrix products (1-D ends are a row and a column vector), left to right."""
    tensors = list(tensors)
    if len(tensors) < 2:
        raise RuntimeError("multi_dot(): expected at least 2 tensors but got "
                           f"{len(tensors)}")
    out = tensors[0]
    for t in tensors[1:]:
        out = matmul(out, t)
    return out


def matrix_power(A, n: int) -> Tensor:
    """A @ A @ ... (n times, by squaring); n = 0 gives the identity, n < 0 powers of inv(A)."""
    A = as_tensor_arg(A)
    if n < 0:
        A, n = inv(A), -n
    result = None
    base = A
    while n:
        if n & 1:
            result = base if result is None else matmul(result, base)
        n >>= 1
        if n:
            base = matmul(base, base)
    if result is None:
        eye = dispatch(Op.EYE, n=A.shape[-1], m=A.shape[-1], dtype=A.dtype)
        return F.expand(eye, *A.shape)
    return result


# --- factorizations and solvers: ops of the table (ir/linalg_ops.py) ---------------------------

def _float_matrices(name: str, *tensors):
    """The tensors as arguments of a linalg op: floating point (float16 as float32 refused as
    in torch's CPU kernels)."""
    out = []
    for t in tensors:
        t = as_tensor_arg(t)
        if not t.is_floating_point():
            raise RuntimeError(f"linalg.{name}: Expected a floating point or complex tensor as "
                               f"input. Got {t.dtype.value}")
        out.append(t)
    return out


def _lapack_only(name: str, fn, *tensors):
    """fn on the tensors' arrays (eager only: lstsq's rank and residuals depend on values)."""
    current_mode().unsupported(f"linalg.{name}() (it runs numpy.linalg, not an op)")
    tensors = _float_matrices(name, *tensors)
    arrays = [concrete(t, f"linalg.{name}()") for t in tensors]
    try:
        out = fn(*arrays)
    except np.linalg.LinAlgError as e:
        raise LinAlgError(f"linalg.{name}: {e}") from None
    return _wrap(out, tensors[0].dtype)


def _wrap(out, dtype: DType):
    from tracejit.creation import tensor

    if isinstance(out, tuple):
        return tuple(_wrap(o, dtype) for o in out)
    out = np.asarray(out)
    return tensor(out, dtype=dtype if out.dtype.kind == "f" else DType.from_numpy(out.dtype))


def det(A) -> Tensor:
    """The determinant of each square matrix of A [..., n, n]."""
    return dispatch(Op.DET, *_float_matrices("det", A))


def slogdet(A) -> tuple[Tensor, Tensor]:
    """(sign, log |det|) of each square matrix of A."""
    (A,) = _float_matrices("slogdet", A)
    return slogdet_result(dispatch(Op.SLOGDET, A, result="sign"),
                          dispatch(Op.SLOGDET, A, result="logabsdet"))


def inv(A) -> Tensor:
    """The inverse of each square matrix of A; a singular one raises LinAlgError."""
    return dispatch(Op.INV, *_float_matrices("inv", A))


inv_ex_result = namedtuple("inv_ex", ["inverse", "info"])
cholesky_ex_result = namedtuple("cholesky_ex", ["L", "info"])
solve_ex_result = namedtuple("solve_ex", ["result", "info"])


def inv_ex(A, *, check_errors: bool = False) -> tuple[Tensor, Tensor]:
    """(inverse, info): info (int32) is the first zero pivot of A's LU, 1-based, or 0; where it
    is not 0 the inverse is NaN (torch: LAPACK's partial result), unless check_errors raises."""
    (A,) = _float_matrices("inv_ex", A)
    return inv_ex_result(dispatch(Op.INV, A, check=check_errors),
                         dispatch(Op.LU_FACTOR, A, result="info", check=False))


def cholesky_ex(A, *, upper: bool = False, check_errors: bool = False) -> tuple[Tensor, Tensor]:
    """(L, info): info (int32) is the order of the first leading minor that is not
    positive-definite, or 0; where it is not 0, L is NaN (torch: LAPACK's partial factor)."""
    (A,) = _float_matrices("cholesky_ex", A)
    L = dispatch(Op.CHOLESKY, A, check=check_errors)
    return cholesky_ex_result(L.mT if upper else L,
                              dispatch(Op.CHOLESKY, A, check=False, result="info"))


def solve_ex(A, B, *, left: bool = True, check_errors: bool = False) -> tuple[Tensor, Tensor]:
    """(result, info): solve, with info as inv_ex's (NaN results where it is not 0)."""
    A, B = _float_matrices("solve_ex", A, B)
    info = dispatch(Op.LU_FACTOR, A, result="info", check=False)
    if not left:
        return solve_ex_result(solve_ex(A.mT, B.mT, check_errors=check_errors).result.mT, info)
    if _is_vector_rhs(A, B):
        X = dispatch(Op.SOLVE, A, B.unsqueeze(-1), check=check_errors).squeeze(-1)
    else:
        X = dispatch(Op.SOLVE, A, B, check=check_errors)
    return solve_ex_result(X, info)


def _is_vector_rhs(A, B) -> bool:
    """torch's rule: B is a (batch of) vector(s) if 1-D, or A's batch shape plus n."""
    return B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))


def solve(A, B, *, left: bool = True) -> Tensor:
    """X with A X = B (X A = B when left=False); B may be a vector."""
    A, B = _float_matrices("solve", A, B)
    if not left:
        return solve(A.mT, B.mT).mT
    if _is_vector_rhs(A, B):
        return dispatch(Op.SOLVE, A, B.unsqueeze(-1)).squeeze(-1)
    return dispatch(Op.SOLVE, A, B)


def cholesky(A, *, upper: bool = False) -> Tensor:
    """The lower (or upper) Cholesky factor of each positive-definite matrix of A."""
    L = dispatch(Op.CHOLESKY, *_float_matrices("cholesky", A))
    return L.mT if upper else L


def qr(A, mode: str = "reduced") -> tuple[Tensor, Tensor]:
    """(Q, R) with A = Q R; mode 'complete' gives square Q, 'r' only R (Q is empty)."""
    (A,) = _float_matrices("qr", A)
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of "
                           "'reduced' (default), 'r', or 'complete'")
    if mode == "r":
        from tracejit.creation import empty

        return qr_result(empty(0, dtype=A.dtype), dispatch(Op.QR, A, mode="reduced",
                                                           result="r"))
    return qr_result(*(dispatch(Op.QR, A, mode=mode, result=r) for r in ("q", "r")))


def svd(A, full_matrices: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """(U, S, Vh) with A = U diag(S) Vh, S descending (vector signs as LAPACK chooses)."""
    (A,) = _float_matrices("svd", A)
    return svd_result(*(dispatch(Op.SVD, A, full_matrices=full_matrices, result=r)
                        for r in ("u", "s", "vh")))


def svdvals(A) -> Tensor:
    """The singular values of each matrix of A, descending."""
    return dispatch(Op.SVD, *_float_matrices("svdvals", A), full_matrices=False, result="s")


def eigh(A, UPLO: str = "L") -> tuple[Tensor, Tensor]:
    """(eigenvalues ascending, eigenvectors) of each symmetric matrix (its UPLO triangle)."""
    (A,) = _float_matrices("eigh", A)
    return eigh_result(dispatch(Op.EIGH, A, uplo=UPLO, result="values"),
                       dispatch(Op.EIGH, A, uplo=UPLO, result="vectors"))


def eigvalsh(A, UPLO: str = "L") -> Tensor:
    return dispatch(Op.EIGH, *_float_matrices("eigvalsh", A), uplo=UPLO, result="values")


def _cutoff(s, A, atol, rtol):
    """torch's threshold on singular values: max(atol, rtol * largest), rtol defaulting to
    eps * max(m, n) when neither is given."""
    if rtol is None:
        rtol = 0.0 if atol is not None and atol > 0 else (
            float(np.finfo(A.dtype.np).eps) * max(A.shape[-2], A.shape[-1]))
    largest = s.amax(-1, True) if s.shape[-1] else s.sum(-1, True)
    cut = largest * rtol
    return cut.clamp_min(atol) if atol is not None else cut


def pinv(A, *, atol=None, rtol=None, hermitian: bool = False) -> Tensor:
    """The pseudo-inverse from the SVD (the eigendecomposition when hermitian), singular values
    at or below the cutoff treated as zero."""
    (A,) = _float_matrices("pinv", A)
    if hermitian:
        w, v = eigh(A)
        keep = w.abs() > _cutoff(w.abs(), A, atol, rtol)
        inverse = F.where(keep, 1 / F.where(keep, w, w.new_ones(())), w.new_zeros(()))
        return matmul(v * inverse.unsqueeze(-2), v.mT)
    u, s, vh = svd(A, full_matrices=False)
    keep = s > _cutoff(s, A, atol, rtol)
    inverse = F.where(keep, 1 / F.where(keep, s, s.new_ones(())), s.new_zeros(()))
    return matmul(vh.mT * inverse.unsqueeze(-2), u.mT)


def lstsq(A, B, rcond=None, *, driver=None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The least-squares solution of A X = B (2-D A only; eager mode)."""
    def run(a, b):
        x, residuals, rank, s = np.linalg.lstsq(a, b, rcond=rcond)
        return x, residuals, np.asarray(rank, dtype=np.int64), s

    x, residuals, rank, s = _lapack_only("lstsq", run, A, B)
    if is_grad_enabled() and any(getattr(t, "requires_grad", False) for t in (A, B)):
        x = _differentiable_solution(A, B, x)
    return lstsq_result(x, residuals, rank, s)


def _differentiable_solution(A, B, x):
    """numpy's solution `x` with autograd's history of the full-rank least-squares formula
    (normal equations, or the minimum-norm one for a wide A): the values stay numpy's, exactly
    (`x + (y - y.detach())` adds zeros), the gradient is that of (A^T A)^-1 A^T B. A
    rank-deficient A raises in solve rather than giving a silently wrong gradient."""
    m, n = A.shape[-2:]
    vector = B.ndim == 1
    b = B.unsqueeze(-1) if vector else B
    if m >= n:
        y = solve(A.mT @ A, A.mT @ b)
    else:
        y = A.mT @ solve(A @ A.mT, b)
    y = y.squeeze(-1) if vector else y
    return x + (y - y.detach())


def matrix_rank(A, *, atol=None, rtol=None, hermitian: bool = False) -> Tensor:
    """The number of singular values above torch's cutoff (int64)."""
    (A,) = _float_matrices("matrix_rank", A)
    s = eigvalsh(A).abs() if hermitian else svdvals(A)
    return F.sum(to_dtype(s > _cutoff(s, A, atol, rtol), DType.int64), -1)


def matrix_exp(A) -> Tensor:
    """exp of each square matrix of A (Higham's scaling and squaring with the [13/13] Pade
    approximant, in float64)."""
    return dispatch(Op.MATRIX_EXP, *_float_matrices("matrix_exp", A))


def cond(A, p=None) -> Tensor:
    """The condition number of each matrix of A in the p-norm: the ratio of its extreme
    singular values for p None/2/-2 (any shape), else norm(A) * norm(inv(A)) (a singular A
    raises LinAlgError here, where torch returns inf)."""
    (A,) = _float_matrices("cond", A)
    if p in (None, 2, -2):
        s = svdvals(A)
        largest, smallest = s[..., 0], s[..., -1]
        return smallest / largest if p == -2 else largest / smallest
    _square(f"cond(ord={p})", A)
    return matrix_norm(A, p) * matrix_norm(inv(A), p)


def _square(name: str, A):
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"linalg.{name}: A must be batches of square matrices, but they are "
                           f"{A.shape[-2] if A.ndim > 1 else 1} by {A.shape[-1]} matrices")
    return A


def vander(x, *, N: int | None = None) -> Tensor:
    """The Vandermonde matrix of x's last dim: columns x^0, x^1, ..., x^(N-1)."""
    x = as_tensor_arg(x)
    n = x.shape[-1] if N is None else N
    if n <= 1:
        raise RuntimeError("N must be greater than 1.")
    column = x.unsqueeze(-1)
    powers = F.expand(column, *x.shape, n - 1).cumprod(-1)
    return F.cat([column.new_ones(()).expand_as(column), powers], -1)


def tensorinv(A, ind: int = 2) -> Tensor:
    """The inverse of A as a linear map from its first ind dims to the rest."""
    A = as_tensor_arg(A)
    if ind <= 0:
        raise RuntimeError(f"Expected a strictly positive integer for 'ind', but got {ind}")
    rows, cols = A.shape[:ind], A.shape[ind:]
    flat = inv(A.reshape(math.prod(rows), math.prod(cols)))
    return flat.reshape(*cols, *rows)


def tensorsolve(A, B, dims=None) -> Tensor:
    """X with tensordot(A, X, X.ndim) = B (dims of A moved to the end first)."""
    A, B = as_tensor_arg(A), as_tensor_arg(B)
    if dims is not None:
        dims = [F.normalize_dim(d, A.ndim) for d in dims]
        A = F.permute(A, [d for d in range(A.ndim) if d not in dims] + dims)
    result_shape = A.shape[B.ndim:]
    flat = solve(A.reshape(B.numel(), math.prod(result_shape)), B.reshape(B.numel()))
    return flat.reshape(*result_shape)


lu_factor_result = namedtuple("lu_factor", ["LU", "pivots"])
lu_factor_ex_result = namedtuple("lu_factor_ex", ["LU", "pivots", "info"])
lu_result = namedtuple("lu", ["P", "L", "U"])


def _check_pivot(name: str, pivot: bool) -> None:
    if not pivot:
        raise RuntimeError(f"linalg.{name}: LU without pivoting is not implemented on the CPU")


def lu_factor(A, *, pivot: bool = True) -> tuple[Tensor, Tensor]:
    """(LU, pivots): L (unit diagonal) below and U on and above the diagonal of LU, pivots
    1-based row swaps (int32); a zero on U's diagonal raises LinAlgError."""
    (A,) = _float_matrices("lu_factor", A)
    _check_pivot("lu_factor", pivot)
    return lu_factor_result(*(dispatch(Op.LU_FACTOR, A, result=r) for r in ("lu", "pivots")))


def lu_factor_ex(A, *, pivot: bool = True,
                 check_errors: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """(LU, pivots, info): lu_factor with info (the first zero pivot, 1-based, or 0) instead of
    an error unless check_errors."""
    (A,) = _float_matrices("lu_factor_ex", A)
    _check_pivot("lu_factor_ex", pivot)
    return lu_factor_ex_result(*(dispatch(Op.LU_FACTOR, A, result=r, check=check_errors)
                                 for r in ("lu", "pivots", "info")))


def lu_unpack(LU_data, LU_pivots, unpack_data: bool = True,
              unpack_pivots: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """(P, L, U) with A = P L U from lu_factor's results (the swaps applied in order)."""
    lu_data, pivots = as_tensor_arg(LU_data), as_tensor_arg(LU_pivots, "LU_pivots")
    m, n = lu_data.shape[-2:]
    k = min(m, n)
    empty = lu_data.new_zeros(0)
    L = U = P = empty
    if unpack_data:
        eye = dispatch(Op.EYE, n=m, m=k, dtype=lu_data.dtype)
        L = lu_data[..., :, :k].tril(-1) + eye
        U = lu_data[..., :k, :].triu()
    if unpack_pivots:
        batch = tuple(pivots.shape[:-1])
        rows = F.expand(dispatch(Op.ARANGE, start=0, end=m, step=1, dtype=DType.int64),
                        *batch, m)
        swaps = to_dtype(pivots, DType.int64) - 1
        for j in range(pivots.shape[-1]):  # rows[j], rows[swap] = rows[swap], rows[j]
            at = swaps[..., j:j + 1]
            here, there = rows[..., j:j + 1], rows.gather(-1, at)
            rows = rows.scatter(-1, at, here)
            rows = F.cat([rows[..., :j], there, rows[..., j + 1:]], -1)
        columns = dispatch(Op.ARANGE, start=0, end=m, step=1, dtype=DType.int64)
        P = to_dtype(rows.unsqueeze(-1) == columns, lu_data.dtype).mT
    return lu_result(P, L, U)


def lu(A, *, pivot: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """(P, L, U) with A = P L U (no error on a singular A, as torch)."""
    (A,) = _float_matrices("lu", A)
    _check_pivot("lu_factor", pivot)
    factors = [dispatch(Op.LU_FACTOR, A, result=r, check=False) for r in ("lu", "pivots")]
    return lu_unpack(*factors)


def lu_solve(LU, pivots, B, *, left: bool = True, adjoint: bool = False) -> Tensor:
    """X with A X = B (X A = B when left=False; A^T for adjoint) from lu_factor's results."""
    LU, B = _float_matrices("lu_solve", LU, B)
    if not left:
        return lu_solve(LU, pivots, B.mT, adjoint=not adjoint).mT
    P, L, U = lu_unpack(LU, pivots)
    if adjoint:
        y = solve_triangular(U.mT, B, upper=False)
        return matmul(P, solve_triangular(L.mT, y, upper=True, unitriangular=True))
    y = solve_triangular(L, matmul(P.mT, B), upper=False, unitriangular=True)
    return solve_triangular(U, y, upper=True)


def solve_triangular(A, B, *, upper: bool, left: bool = True,
                     unitriangular: bool = False) -> Tensor:
    """solve for triangular A (the other triangle of A is ignored)."""
    A = as_tensor_arg(A)
    A = A.triu() if upper else A.tril()
    if unitriangular:
        n = A.shape[-1]
        eye = dispatch(Op.EYE, n=n, m=n, dtype=DType.bool)
        A = F.where(eye, dispatch(Op.FULL, shape=(), value=1, dtype=A.dtype), A)
    return solve(A, B, left=left)


__all__ = [
    "LinAlgError", "cholesky", "cholesky_ex", "cond", "cross", "det", "diagonal", "eigh",
    "eigvalsh", "inv", "inv_ex", "lstsq", "lu", "lu_factor", "lu_factor_ex", "lu_solve",
    "matmul", "matrix_exp", "matrix_norm", "matrix_power", "matrix_rank", "multi_dot", "norm",
    "pinv", "qr", "slogdet", "solve", "solve_ex", "solve_triangular", "svd", "svdvals",
    "tensorinv", "tensorsolve", "vander", "vecdot", "vector_norm",
]
