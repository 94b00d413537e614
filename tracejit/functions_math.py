"""More of torch's elementwise and reducing functions, as composites of dispatched primitives:
addcmul/addcdiv, isinf/isfinite/nan_to_num, nansum/nanmean, aminmax,
var_mean/std_mean, inner/vdot/kron/cross/dist, hypot, logaddexp, diag/diagonal/diag_embed.
"""

from __future__ import annotations

import builtins
import math
from collections import namedtuple

from tracejit.dispatch import dispatch, to_dtype
from tracejit.functions import (
    amax,
    amin,
    as_tensor_arg,
    normalize_dim,
    permute,
    reshape,
    std,
    sum,
    var,
    where,
)
from tracejit.ir import DType, Op

aminmax_result = namedtuple("aminmax", ["min", "max"])


def _full_like(t, value, dtype=None):
    return dispatch(Op.FULL, shape=tuple(t.shape), value=value, dtype=dtype or t.dtype)


def _scalar_like(t, value):
    return dispatch(Op.FULL, shape=(), value=value, dtype=t.dtype)


# --- elementwise --------------------------------------------------------------------------------

def addcmul(input, tensor1, tensor2, *, value=1):
    """input + value * tensor1 * tensor2."""
    product = tensor1 * tensor2
    return input + (product if value == 1 else product * value)


def addcdiv(input, tensor1, tensor2, *, value=1):
    """input + value * tensor1 / tensor2 (true division; integer inputs are refused)."""
    if not (tensor1.is_floating_point() or tensor2.is_floating_point()):
        raise RuntimeError("Integer division with addcdiv is no longer supported, and in a "
                           "future release addcdiv will perform a true division of tensor1 and "
                           "tensor2. Use addcmul(input, tensor1, 1 / tensor2) instead")
    quotient = tensor1 / tensor2
    return input + (quotient if value == 1 else quotient * value)


def isinf(input):
    input = as_tensor_arg(input)
    if not input.is_floating_point():
        return _full_like(input, False, DType.bool)
    return input.abs() == math.inf


def isposinf(input):
    input = as_tensor_arg(input)
    return input == math.inf if input.is_floating_point() else _full_like(input, False,
                                                                          DType.bool)


def isneginf(input):
    input = as_tensor_arg(input)
    return input == -math.inf if input.is_floating_point() else _full_like(input, False,
                                                                           DType.bool)


def isfinite(input):
    input = as_tensor_arg(input)
    if not input.is_floating_point():
        return _full_like(input, True, DType.bool)
    return (input == input) & (input.abs() != math.inf)


def nan_to_num(input, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None):
    """NaN -> nan, +inf -> posinf, -inf -> neginf (the dtype's largest and lowest by
    default)."""
    input = as_tensor_arg(input)
    if not input.is_floating_point():
        return input.clone()
    import numpy as np

    info = np.finfo(input.dtype.np)
    posinf = float(info.max) if posinf is None else posinf
    neginf = float(info.min) if neginf is None else neginf
    out = where(input != input, _scalar_like(input, nan), input)
    out = where(input == math.inf, _scalar_like(input, posinf), out)
    return where(input == -math.inf, _scalar_like(input, neginf), out)


def hypot(input, other):
    """sqrt(input^2 + other^2) (floating-point inputs)."""
    return (input * input + other * other).sqrt()


def logaddexp(input, other):
    """log(exp(input) + exp(other)), computed without overflow."""
    big = input.maximum(other)
    small = input.minimum(other)
    # equal infinities would give inf - inf = nan: their sum is that infinity
    same = big == small
    return where(same, big + math.log(2), big + (small - big).exp().log1p())


# --- reductions ---------------------------------------------------------------------------------

def nansum(input, dim=None, keepdim: bool = False, *, dtype=None):
    """sum treating NaN as zero."""
    input = as_tensor_arg(input)
    if input.is_floating_point():
        input = where(input != input, _scalar_like(input, 0), input)
    return sum(input, dim, keepdim, dtype=dtype)


def nanmean(input, dim=None, keepdim: bool = False, *, dtype=None):
    """mean over the non-NaN elements."""
    input = as_tensor_arg(input)
    if not input.is_floating_point():
        raise RuntimeError(f"nanmean(): expected input to have floating point dtype but got "
                           f"{input.dtype.value}")
    count = sum(to_dtype(input == input, input.dtype), dim, keepdim)
    return nansum(input, dim, keepdim, dtype=dtype) / count


def aminmax(input, *, dim=None, keepdim: bool = False):
    """(min, max) over `dim` (all elements when None), as a named pair."""
    input = as_tensor_arg(input)
    if dim is None:
        return aminmax_result(amin(input, (), keepdim), amax(input, (), keepdim))
    return aminmax_result(amin(input, dim, keepdim), amax(input, dim, keepdim))


def var_mean(input, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """(var, mean) over `dim`."""
    return (var(input, dim, unbiased, keepdim, correction=correction),
            input.mean(dim, keepdim) if dim is not None else _mean_all(input, keepdim))


def std_mean(input, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """(std, mean) over `dim`."""
    return (std(input, dim, unbiased, keepdim, correction=correction),
            input.mean(dim, keepdim) if dim is not None else _mean_all(input, keepdim))


def _mean_all(input, keepdim):
    return input.mean(tuple(range(input.ndim)), keepdim)


def dist(input, other, p: float = 2):
    """The p-norm of input - other."""
    return (input - other).norm(p)


# --- products -----------------------------------------------------------------------------------

def inner(input, other):
    """Sum over the last dims of both (0-d operands multiply)."""
    input, other = as_tensor_arg(input), as_tensor_arg(other, "other")
    if input.ndim == 0 or other.ndim == 0:
        return input * other
    if input.shape[-1] != other.shape[-1]:
        raise RuntimeError(f"inner() the last dimension must match on both input tensors but "
                           f"got shapes {list(input.shape)} and {list(other.shape)}")
    from tracejit.functions_extra import tensordot

    return tensordot(input, other, dims=([-1], [-1]))


def vdot(input, other):
    """The dot product of two 1-D tensors (no conjugation: tracejit has no complex dtypes)."""
    from tracejit.functions_extra import dot

    return dot(input, other)


def kron(input, other):
    """The Kronecker product: block (i, j) is input[i, j] * other."""
    input, other = as_tensor_arg(input), as_tensor_arg(other, "other")
    n = builtins.max(input.ndim, other.ndim)
    shape_a = (1,) * (n - input.ndim) + tuple(input.shape)
    shape_b = (1,) * (n - other.ndim) + tuple(other.shape)
    # interleaved: a as (a0, 1, a1, 1, ...) times b as (1, b0, 1, b1, ...)
    a = reshape(input, tuple(s for d in shape_a for s in (d, 1)))
    b = reshape(other, tuple(s for d in shape_b for s in (1, d)))
    return reshape(a * b, tuple(x * y for x, y in zip(shape_a, shape_b)))


def cross(input, other, dim=None):
    """The 3-vector cross product along `dim` (the first dim of size 3 when None)."""
    input, other = as_tensor_arg(input), as_tensor_arg(other, "other")
    if dim is None:
        dim = next((d for d, s in enumerate(input.shape) if s == 3), None)
        if dim is None:
            raise RuntimeError("no dimension of size 3 in input")
    dim = normalize_dim(dim, input.ndim)
    if input.shape[dim] != 3 or other.shape[dim] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {dim} must have length 3. Got "
                           f"{input.shape[dim]} and {other.shape[dim]}")
    a = [input.narrow(dim, i, 1) for i in range(3)]
    b = [other.narrow(dim, i, 1) for i in range(3)]
    parts = [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
    from tracejit.functions import cat

    return cat(parts, dim)


# --- diagonals ----------------------------------------------------------------------------------

def diagonal(input, offset: int = 0, dim1: int = 0, dim2: int = 1):
    """The diagonal of dims dim1, dim2 (offset above or below) as the last dim: a strided
    slice of the flattened pair, so it is a view where torch's is (writes reach input)."""
    input = as_tensor_arg(input)
    d1, d2 = normalize_dim(dim1, input.ndim), normalize_dim(dim2, input.ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    order = [d for d in range(input.ndim) if d not in (d1, d2)] + [d1, d2]
    x = input if order == list(range(input.ndim)) else permute(input, order)
    *batch, rows, cols = x.shape
    start_r, start_c = (0, offset) if offset >= 0 else (-offset, 0)
    n = builtins.max(0, builtins.min(rows - start_r, cols - start_c))
    flat = reshape(x, (*batch, rows * cols))
    start = start_r * cols + start_c if n else 0
    return flat[..., start:start + (n - 1) * (cols + 1) + 1 if n else 0:cols + 1]


def diag_embed(input, offset: int = 0, dim1: int = -2, dim2: int = -1):
    """Tensors whose (dim1, dim2) diagonals are the last dim of input."""
    input = as_tensor_arg(input)
    eye = dispatch(Op.EYE, n=input.shape[-1], m=input.shape[-1], dtype=DType.bool)
    square = where(eye, input.unsqueeze(-1), _scalar_like(input, 0))
    if offset:
        from tracejit.nn.functional import pad

        k = builtins.abs(offset)
        square = pad(square, (k, 0, 0, k) if offset > 0 else (0, k, k, 0))
    ndim = input.ndim + 1
    d1, d2 = normalize_dim(dim1, ndim), normalize_dim(dim2, ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    order, batch = [0] * ndim, iter(range(ndim - 2))
    for d in range(ndim):
        order[d] = ndim - 2 if d == d1 else ndim - 1 if d == d2 else next(batch)
    return permute(square, *order)


def diag(input, diagonal: int = 0):
    """A 1-D input: the square matrix with it on a diagonal; a 2-D input: that diagonal."""
    input = as_tensor_arg(input)
    if input.ndim == 1:
        return diag_embed(input, diagonal, 0, 1)
    if input.ndim == 2:
        return globals()["diagonal"](input, diagonal)
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {input.ndim}D")


def trace_matrix(input):
    """Tensor.trace(): the sum of a 2-D tensor's main diagonal (torch.trace; tracejit.trace
    is the tracer)."""
    input = as_tensor_arg(input)
    if input.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {input.ndim}")
    return sum(diagonal(input))


__all__ = [
    "addcdiv", "addcmul", "aminmax", "cross", "diag", "diag_embed",
    "diagonal", "dist", "hypot", "inner", "isfinite", "isinf", "isneginf", "isposinf", "kron",
    "logaddexp", "nan_to_num", "nanmean", "nansum", "std_mean", "var_mean", "vdot",
]

# also Tensor methods (diag_embed, var_mean, std_mean are functions only)
METHODS = [n for n in __all__ if n not in ("diag_embed", "std_mean", "var_mean")]
