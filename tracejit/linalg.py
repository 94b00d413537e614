"""`tracejit.linalg`: torch.linalg. Norms, products and matrix_power are composites of
dispatched ops (every capture mode records them); the factorizations and solvers (det, inv,
solve, svd, qr, eigh, cholesky, ...) run numpy.linalg in eager mode only: trace and script
refuse them with a clear error. Complex results (eig, eigvals) are out of scope.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from tracejit import functions as F
from tracejit import functions_math as FM
from tracejit.dispatch import concrete, current_mode, dispatch, to_dtype
from tracejit.functions import as_tensor_arg
from tracejit.ir import DType, Op

matmul = F.matmul
slogdet_result = namedtuple("slogdet", ["sign", "logabsdet"])
svd_result = namedtuple("svd", ["U", "S", "Vh"])
qr_result = namedtuple("qr", ["Q", "R"])
eigh_result = namedtuple("eigh", ["eigenvalues", "eigenvectors"])
lstsq_result = namedtuple("lstsq", ["solution", "residuals", "rank", "singular_values"])


class LinAlgError(RuntimeError):
    """A matrix the operation cannot handle (singular, not positive-definite, ...)."""


# --- composites ---------------------------------------------------------------------------------

def vector_norm(x, ord=2, dim=None, keepdim: bool = False, *, dtype=None):
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
        return F.sum(a * a, dims, keepdim).sqrt()
    return F.sum(a ** ord, dims, keepdim) ** (1.0 / ord)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None):
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


def norm(A, ord=None, dim=None, keepdim: bool = False, *, dtype=None):
    """vector_norm for 1 dim (or ord None over all), matrix_norm for 2 dims."""
    A = as_tensor_arg(A)
    if dim is not None:
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
    else:
        dims = None if ord is None else tuple(range(A.ndim))
    if dims is not None and len(dims) == 2:
        return matrix_norm(A, "fro" if ord is None else ord, dims, keepdim, dtype=dtype)
    return vector_norm(A, 2 if ord is None else ord, dims, keepdim, dtype=dtype)


def cross(input, other, *, dim: int = -1):
    """The 3-vector cross product along dim (the last by default, unlike torch.cross)."""
    return FM.cross(input, other, dim)


def diagonal(A, *, offset: int = 0, dim1: int = -2, dim2: int = -1):
    """The diagonal of the last two dims by default (unlike torch.diagonal)."""
    return FM.diagonal(A, offset, dim1, dim2)


def vecdot(x, y, *, dim: int = -1):
    """sum(x * y) over dim (no conjugation: no complex dtypes)."""
    return F.sum(x * y, dim)


def multi_dot(tensors):
    """A chain of matrix products (1-D ends are a row and a column vector), left to right."""
    tensors = list(tensors)
    if len(tensors) < 2:
        raise RuntimeError("multi_dot(): expected at least 2 tensors but got "
                           f"{len(tensors)}")
    out = tensors[0]
    for t in tensors[1:]:
        out = matmul(out, t)
    return out


def matrix_power(A, n: int):
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


# --- numpy.linalg in eager mode -----------------------------------------------------------------

def _numpy(name: str, fn, *tensors):
    """fn on the tensors' arrays, results as tensors of the input dtype (eager only)."""
    current_mode().unsupported(f"linalg.{name}() (it runs numpy.linalg, not an op)")
    tensors = [as_tensor_arg(t) for t in tensors]
    for t in tensors:
        if not t.is_floating_point():
            raise RuntimeError(f"linalg.{name}: Expected a floating point tensor, got "
                               f"{t.dtype.value}")
    arrays = [concrete(t, f"linalg.{name}()") for t in tensors]
    dtype = tensors[0].dtype
    try:
        out = fn(*arrays)
    except np.linalg.LinAlgError as e:
        raise LinAlgError(f"linalg.{name}: {e}") from None
    return _wrap(out, dtype)


def _wrap(out, dtype: DType):
    from tracejit.creation import tensor

    if isinstance(out, tuple):
        return tuple(_wrap(o, dtype) for o in out)
    out = np.asarray(out)
    return tensor(out, dtype=dtype if out.dtype.kind == "f" else DType.from_numpy(out.dtype))


def _square(name: str, A):
    A = as_tensor_arg(A)
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"linalg.{name}: A must be batches of square matrices, but they are "
                           f"{A.shape[-2] if A.ndim > 1 else 1} by {A.shape[-1]} matrices")
    return A


def det(A):
    return _numpy("det", np.linalg.det, _square("det", A))


def slogdet(A):
    sign, logabsdet = _numpy("slogdet", np.linalg.slogdet, _square("slogdet", A))
    return slogdet_result(sign, logabsdet)


def inv(A):
    return _numpy("inv", np.linalg.inv, _square("inv", A))


def solve(A, B, *, left: bool = True):
    """X with A X = B (X A = B when left=False); B may be a vector."""
    _square("solve", A)
    if not left:
        return solve(as_tensor_arg(A).mT, as_tensor_arg(B).mT).mT

    def run(a, b):
        vector = b.ndim == a.ndim - 1
        out = np.linalg.solve(a, b[..., None] if vector else b)
        return out[..., 0] if vector else out

    return _numpy("solve", run, A, B)


def pinv(A, *, atol=None, rtol=None, hermitian: bool = False):
    rcond = 1e-15 if rtol is None else rtol
    return _numpy("pinv", lambda a: np.linalg.pinv(a, rcond=rcond, hermitian=hermitian), A)


def svd(A, full_matrices: bool = True):
    return svd_result(*_numpy("svd", lambda a: tuple(np.linalg.svd(a, full_matrices)), A))


def svdvals(A):
    return _numpy("svdvals", lambda a: np.linalg.svd(a, compute_uv=False), A)


def qr(A, mode: str = "reduced"):
    return qr_result(*_numpy("qr", lambda a: tuple(np.linalg.qr(a, mode)), A))


def eigh(A, UPLO: str = "L"):
    return eigh_result(*_numpy("eigh", lambda a: tuple(np.linalg.eigh(a, UPLO)),
                               _square("eigh", A)))


def eigvalsh(A, UPLO: str = "L"):
    return _numpy("eigvalsh", lambda a: np.linalg.eigvalsh(a, UPLO), _square("eigvalsh", A))


def cholesky(A, *, upper: bool = False):
    L = _numpy("cholesky", np.linalg.cholesky, _square("cholesky", A))
    return L.mT if upper else L


def lstsq(A, B, rcond=None, *, driver=None):
    """The least-squares solution of A X = B (2-D A only)."""
    def run(a, b):
        x, residuals, rank, s = np.linalg.lstsq(a, b, rcond=rcond)
        return x, residuals, np.asarray(rank, dtype=np.int64), s

    return lstsq_result(*_numpy("lstsq", run, A, B))


def matrix_rank(A, *, atol=None, rtol=None, hermitian: bool = False):
    out = _numpy("matrix_rank", lambda a: np.linalg.matrix_rank(a, tol=atol,
                                                                 hermitian=hermitian), A)
    return to_dtype(out, DType.int64)


def solve_triangular(A, B, *, upper: bool, left: bool = True, unitriangular: bool = False):
    """solve for triangular A (the other triangle of A is ignored)."""
    A = as_tensor_arg(A)
    A = A.triu() if upper else A.tril()
    if unitriangular:
        n = A.shape[-1]
        eye = dispatch(Op.EYE, n=n, m=n, dtype=DType.bool)
        A = F.where(eye, dispatch(Op.FULL, shape=(), value=1, dtype=A.dtype), A)
    return solve(A, B, left=left)


__all__ = [
    "LinAlgError", "cholesky", "cross", "det", "diagonal", "eigh", "eigvalsh", "inv", "lstsq",
    "matmul", "matrix_norm", "matrix_power", "matrix_rank", "multi_dot", "norm", "pinv", "qr",
    "slogdet", "solve", "solve_triangular", "svd", "svdvals", "vecdot", "vector_norm",
]
