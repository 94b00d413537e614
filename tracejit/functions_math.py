"""More of torch's elementwise and reducing functions, as composites of dispatched primitives:
addcmul/addcdiv, isinf/isfinite/nan_to_num, exp2/log2/log10/sinh/cosh/tan and friends,
nansum/nanmean, aminmax, var_mean/std_mean, cov/corrcoef, inner/vdot/kron/cross/dist, hypot,
logaddexp, diag/diagonal/diag_embed. Transcendental composites (log2 = log / ln 2, ...) may
differ from torch's dedicated kernels in the last bit or two.
"""

from __future__ import annotations

import builtins
import math
from collections import namedtuple
from typing import TYPE_CHECKING

from tracejit.dispatch import dispatch, result_type, to_dtype
from tracejit.functions import (
    amax,
    amin,
    as_tensor_arg,
    c_order,
    contiguous_result,
    normalize_dim,
    permute,
    reshape,
    std,
    sum,
    var,
    where,
)
from tracejit.ir import DType, Op

if TYPE_CHECKING:
    from tracejit.tensor import Tensor

aminmax_result = namedtuple("aminmax", ["min", "max"])


def _full_like(t, value, dtype=None):
    return dispatch(Op.FULL, shape=tuple(t.shape), value=value, dtype=dtype or t.dtype)


def _scalar_like(t, value):
    return dispatch(Op.FULL, shape=(), value=value, dtype=t.dtype)


# --- elementwise --------------------------------------------------------------------------------

def addcmul(input, tensor1, tensor2, *, value=1) -> Tensor:
    """input + value * tensor1 * tensor2, multiplied left to right in the dtype the three
    tensors promote to, as torch's kernel (value does not promote: for an integer result it
    is truncated to an int, as torch casts it)."""
    dtype = result_type(input, tensor1, tensor2)
    if dtype is DType.bool:
        raise NotImplementedError("\"addcmul_cpu_out\" not implemented for 'Bool'")
    if not dtype.is_floating_point:
        value = int(value)
    tensor1, tensor2 = to_dtype(tensor1, dtype), to_dtype(tensor2, dtype)
    return input + (tensor1 * tensor2 if value == 1 else value * tensor1 * tensor2)


def addcdiv(input, tensor1, tensor2, *, value=1) -> Tensor:
    """input + value * tensor1 / tensor2 (true division; integer inputs are refused)."""
    if not (tensor1.is_floating_point() or tensor2.is_floating_point()):
        raise RuntimeError("Integer division with addcdiv is no longer supported, and in a "
                           "future release addcdiv will perform a true division of tensor1 and "
                           "tensor2. Use addcmul(input, tensor1, 1 / tensor2) instead")
    quotient = tensor1 / tensor2
    return input + (quotient if value == 1 else quotient * value)


def isinf(input) -> Tensor:
    input = as_tensor_arg(input)
    if not input.is_floating_point():
        return _full_like(input, False, DType.bool)
    return input.abs() == math.inf


def isposinf(input) -> Tensor:
    input = as_tensor_arg(input)
    return input == math.inf if input.is_floating_point() else _full_like(input, False,
                                                                          DType.bool)


def isneginf(input) -> Tensor:
    input = as_tensor_arg(input)
    return input == -math.inf if input.is_floating_point() else _full_like(input, False,
                                                                           DType.bool)


def isfinite(input) -> Tensor:
    input = as_tensor_arg(input)
    if not input.is_floating_point():
        return _full_like(input, True, DType.bool)
    return (input == input) & (input.abs() != math.inf)


def nan_to_num(input, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Tensor:
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


def hypot(input, other) -> Tensor:
    """sqrt(input^2 + other^2) (floating-point inputs), scaled so that it overflows only where
    the result does; an infinite operand gives inf even with a NaN (C's hypot)."""
    input, other = _float_pair(input, other)
    if input.dtype is DType.float64:
        big, small = input.abs().maximum(other.abs()), input.abs().minimum(other.abs())
        ratio = small / where(big == 0, _scalar_like(big, 1), big)
        out = big * (ratio * ratio + 1).sqrt()
    else:  # squares of float32 fit float64: one rounding, as C's hypotf
        x, y = to_dtype(input, DType.float64), to_dtype(other, DType.float64)
        out = to_dtype((x * x + y * y).sqrt(), input.dtype)
    return where(input.isinf() | other.isinf(), _scalar_like(out, math.inf), out)


def logaddexp(input, other) -> Tensor:
    """log(exp(input) + exp(other)), computed without overflow."""
    big = input.maximum(other)
    small = input.minimum(other)
    # equal infinities would give inf - inf = nan: their sum is that infinity
    same = big == small
    return where(same, big + math.log(2), big + (small - big).exp().log1p())


_LN2 = math.log(2.0)


def _float_input(input):
    """input as floating point (integers go to the default dtype, like torch's unary math)."""
    input = as_tensor_arg(input)
    if input.is_floating_point():
        return input
    from tracejit.dispatch import get_default_dtype

    return to_dtype(input, get_default_dtype())


def exp2(input) -> Tensor:
    return 2.0 ** _float_input(input)


def log2(input) -> Tensor:
    return _float_input(input).log() * (1.0 / _LN2)


def log10(input) -> Tensor:
    return _float_input(input).log() * (1.0 / math.log(10.0))


def sinh(input) -> Tensor:
    x = _float_input(input)
    return (x.expm1() - (-x).expm1()) * 0.5  # expm1: no cancellation near 0


def cosh(input) -> Tensor:
    x = _float_input(input)
    return (x.exp() + (-x).exp()) * 0.5


def tan(input) -> Tensor:
    x = _float_input(input)
    return x.sin() / x.cos()


def frac(input) -> Tensor:
    """input - trunc(input), the fractional part with input's sign."""
    return input - input.trunc()


def signbit(input) -> Tensor:
    """True where the sign bit is set (-0.0 included)."""
    input = as_tensor_arg(input)
    if not input.is_floating_point():
        return input < 0
    zero = input == 0
    return (input < 0) | (zero & ((1.0 / where(zero, input, _scalar_like(input, 1))) < 0))


def _float_pair(input, other):
    """input and other promoted together (integers to the default float dtype), as torch's
    binary float ops; a Python-number other stays a number."""
    from tracejit.dispatch import get_default_dtype, result_type

    input = as_tensor_arg(input)
    if not isinstance(other, (int, float)):
        other = as_tensor_arg(other, "other")
    dtype = result_type(input, other)
    dtype = dtype if dtype.is_floating_point else get_default_dtype()
    return to_dtype(input, dtype), other if isinstance(other, (int, float)) else to_dtype(
        other, dtype)


def copysign(input, other) -> Tensor:
    """|input| with other's sign (floating point)."""
    input, other = _float_pair(input, other)
    negative = signbit(other) if not isinstance(other, (int, float)) else (
        math.copysign(1.0, other) < 0)
    magnitude = input.abs()
    if isinstance(negative, bool):
        return -magnitude if negative else magnitude
    return where(negative, -magnitude, magnitude)


def heaviside(input, values) -> Tensor:
    """0 where input < 0, values where input == 0, 1 where input > 0."""
    positive = to_dtype(input > 0, input.dtype)
    return where(input == 0, values, positive)


def xlogy(input, other) -> Tensor:
    """input * log(other), 0 where input == 0 (unless other is NaN)."""
    x, y = _float_pair(input, other)
    product = x * (y.log() if not isinstance(y, (int, float)) else math.log(y))
    keep_nan = y == y if not isinstance(y, (int, float)) else not math.isnan(y)
    return where((x == 0) & keep_nan, _scalar_like(product, 0), product)


def logit(input, eps: float | None = None) -> Tensor:
    """log(p / (1 - p)), p clamped to [eps, 1 - eps] when eps is given."""
    p = _float_input(input)
    if eps is not None:
        p = p.clamp(eps, 1 - eps)
    return (p / (1 - p)).log()


def _nan_aware(pick):
    def function(input, other) -> Tensor:
        chosen = pick(input, other)
        if not chosen.is_floating_point():  # the promoted dtype: int8 with float32 has NaNs
            return chosen
        return where(input != input, other, where(other != other, input, chosen))

    return function


fmax = _nan_aware(lambda a, b: a.maximum(b))
fmax.__doc__ = "maximum, except that a NaN loses to a number."
fmin = _nan_aware(lambda a, b: a.minimum(b))
fmin.__doc__ = "minimum, except that a NaN loses to a number."


def deg2rad(input) -> Tensor:
    return _float_input(input) * (math.pi / 180.0)


def rad2deg(input) -> Tensor:
    return _float_input(input) * (180.0 / math.pi)


def float_power(input, exponent) -> Tensor:
    """pow in float64."""
    input = to_dtype(as_tensor_arg(input), DType.float64)
    if not isinstance(exponent, (int, float)):
        exponent = to_dtype(as_tensor_arg(exponent, "exponent"), DType.float64)
    return input ** exponent


def logaddexp2(input, other) -> Tensor:
    return logaddexp(input * _LN2, other * _LN2) * (1.0 / _LN2)


def sinc(input) -> Tensor:
    """sin(pi x) / (pi x), 1 at 0."""
    x = _float_input(input) * math.pi
    safe = where(x == 0, _scalar_like(x, 1), x)
    return where(x == 0, _scalar_like(x, 1), safe.sin() / safe)


def sgn(input) -> Tensor:
    """sign (tracejit has no complex dtypes)."""
    return as_tensor_arg(input).sign()


def rsub(input, other, alpha=1) -> Tensor:
    """other - alpha * input."""
    return other - (input if alpha == 1 else input * alpha)


# --- reductions ---------------------------------------------------------------------------------

def nansum(input, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """sum treating NaN as zero."""
    input = as_tensor_arg(input)
    if input.is_floating_point():
        input = where(input != input, _scalar_like(input, 0), input)
    return sum(input, dim, keepdim, dtype=dtype)


def nanmean(input, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """mean over the non-NaN elements."""
    input = as_tensor_arg(input)
    if not input.is_floating_point():
        raise RuntimeError(f"nanmean(): expected input to have floating point dtype but got "
                           f"{input.dtype.value}")
    count = sum(to_dtype(input == input, input.dtype), dim, keepdim)
    return nansum(input, dim, keepdim, dtype=dtype) / count


def aminmax(input, *, dim=None, keepdim: bool = False) -> aminmax_result:
    """(min, max) over `dim` (all elements when None), as a named pair."""
    input = as_tensor_arg(input)
    if dim is None:
        return aminmax_result(amin(input, (), keepdim), amax(input, (), keepdim))
    return aminmax_result(amin(input, dim, keepdim), amax(input, dim, keepdim))


def var_mean(input, dim=None, unbiased=None, keepdim: bool = False, *,
             correction=None) -> tuple[Tensor, Tensor]:
    """(var, mean) over `dim`."""
    return (var(input, dim, unbiased, keepdim, correction=correction),
            input.mean(dim, keepdim) if dim is not None else _mean_all(input, keepdim))


def std_mean(input, dim=None, unbiased=None, keepdim: bool = False, *,
             correction=None) -> tuple[Tensor, Tensor]:
    """(std, mean) over `dim`."""
    return (std(input, dim, unbiased, keepdim, correction=correction),
            input.mean(dim, keepdim) if dim is not None else _mean_all(input, keepdim))


def _mean_all(input, keepdim):
    return input.mean(tuple(range(input.ndim)), keepdim)


def cov(input, *, correction: int = 1, fweights=None, aweights=None) -> Tensor:
    """The covariance matrix of the variables in input's rows (observations in columns)."""
    if fweights is not None or aweights is not None:
        raise NotImplementedError("cov(): fweights and aweights are not supported yet")
    x = _float_input(input)
    vector = x.ndim < 2
    x = reshape(x, 1, -1) if vector else x
    n = x.shape[1]
    centered = x - x.mean(1, True)
    from tracejit.functions import matmul

    out = matmul(centered, centered.t()) / builtins.max(n - correction, 0)
    return reshape(out, ()) if vector else out


def corrcoef(input) -> Tensor:
    """Pearson correlation coefficients of input's rows, clipped to [-1, 1]."""
    c = cov(input)
    if c.ndim == 0 or c.numel() == 1:
        return c / c
    d = diagonal(c).sqrt()
    return (c / d.unsqueeze(1) / d.unsqueeze(0)).clamp(-1, 1)


def dist(input, other, p: float = 2) -> Tensor:
    """The p-norm of input - other."""
    return (input - other).norm(p)


# --- products -----------------------------------------------------------------------------------

def inner(input, other) -> Tensor:
    """Sum over the last dims of both (0-d operands multiply)."""
    input, other = as_tensor_arg(input), as_tensor_arg(other, "other")
    if input.ndim == 0 or other.ndim == 0:
        return input * other
    if input.shape[-1] != other.shape[-1]:
        raise RuntimeError(f"inner() the last dimension must match on both input tensors but "
                           f"got shapes {list(input.shape)} and {list(other.shape)}")
    from tracejit.functions_extra import tensordot

    return tensordot(input, other, dims=([-1], [-1]))


def vdot(input, other) -> Tensor:
    """The dot product of two 1-D tensors (no conjugation: tracejit has no complex dtypes)."""
    from tracejit.functions_extra import dot

    return dot(input, other)


def kron(input, other) -> Tensor:
    """The Kronecker product: block (i, j) is input[i, j] * other."""
    input, other = as_tensor_arg(input), as_tensor_arg(other, "other")
    n = builtins.max(input.ndim, other.ndim)
    shape_a = (1,) * (n - input.ndim) + tuple(input.shape)
    shape_b = (1,) * (n - other.ndim) + tuple(other.shape)
    # interleaved: a as (a0, 1, a1, 1, ...) times b as (1, b0, 1, b1, ...)
    a = reshape(input, tuple(s for d in shape_a for s in (d, 1)))
    b = reshape(other, tuple(s for d in shape_b for s in (1, d)))
    return reshape(a * b, tuple(x * y for x, y in zip(shape_a, shape_b)))


@contiguous_result
def cross(input, other, dim=None) -> Tensor:
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

def diagonal(input, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
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


def diag_embed(input, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
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
    return c_order(permute(square, *order))


def diag(input, diagonal: int = 0) -> Tensor:
    """A 1-D input: the square matrix with it on a diagonal; a 2-D input: that diagonal."""
    input = as_tensor_arg(input)
    if input.ndim == 1:
        return diag_embed(input, diagonal, 0, 1)
    if input.ndim == 2:
        return globals()["diagonal"](input, diagonal)
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {input.ndim}D")


def trace_matrix(input) -> Tensor:
    """Tensor.trace(): the sum of a 2-D tensor's main diagonal (torch.trace; tracejit.trace
    is the tracer)."""
    input = as_tensor_arg(input)
    if input.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {input.ndim}")
    return sum(diagonal(input))


__all__ = [
    "addcdiv",
    "addcmul",
    "aminmax",
    "copysign",
    "corrcoef",
    "cosh",
    "cov",
    "cross",
    "deg2rad",
    "diag",
    "diag_embed",
    "diagonal",
    "dist",
    "exp2",
    "float_power",
    "fmax",
    "fmin",
    "frac",
    "heaviside",
    "hypot",
    "inner",
    "isfinite",
    "isinf",
    "isneginf",
    "isposinf",
    "kron",
    "log2",
    "log10",
    "logaddexp",
    "logaddexp2",
    "logit",
    "nan_to_num",
    "nanmean",
    "nansum",
    "rad2deg",
    "rsub",
    "sgn",
    "signbit",
    "sinc",
    "sinh",
    "std_mean",
    "tan",
    "var_mean",
    "vdot",
    "xlogy",
]

# also Tensor methods (diag_embed, var_mean, std_mean are functions only)
METHODS = [n for n in __all__ if n not in ("diag_embed", "std_mean", "var_mean")]
