"""torch's reductions, softmax and cumsum as functions (re-exported by tracejit.functions, whose
argument helpers they use): sum, mean, prod, amax/amin, all/any, argmax/argmin, max/min, var,
std, norm, logsumexp, cumsum, softmax, log_softmax."""

from __future__ import annotations

import builtins
import math
from typing import TYPE_CHECKING

import numpy as np

from tracejit.dispatch import dispatch, get_default_dtype, is_number, to_dtype
from tracejit.functions import (
    _T,
    as_tensor_arg,
    c_order,
    masked_fill,
    max_result,
    min_result,
    normalize_dim,
    normalize_dims,
    squeeze,
    where,
)
from tracejit.ir import DType, Op
from tracejit.ir.ops import check_dtypes

if TYPE_CHECKING:
    from tracejit.tensor import Tensor


def _reduce(op: Op, input, dim, keepdim: bool, dtype=None, *, empty_dim_is_all: bool = True):
    input = as_tensor_arg(input)
    if dtype is not None:
        input = to_dtype(input, dtype)
    check_dtypes(op, [input.dtype])  # like torch, before the dims
    if not empty_dim_is_all and isinstance(dim, (tuple, list)) and not dim:
        dims = ()
    else:
        dims = normalize_dims(dim, input.ndim)
    out = dispatch(op, input, dims=dims, keepdim=keepdim)
    return out if dtype is None or out.dtype is dtype else to_dtype(out, dtype)  # sum(dtype=)


def _check_full_reduction(name: str, input, dim) -> None:
    """max/amax (min/amin) of every element of an empty tensor has no identity to return."""
    if (dim is None or dim == () or dim == []) and input.numel() == 0:
        raise RuntimeError(
            f"{name}(): Expected reduction dim to be specified for input.numel() == 0. "
            "Specify the reduction dim with the 'dim' argument."
        )


def sum(input, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    return _reduce(Op.SUM, input, dim, keepdim, dtype)


def mean(input, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    return _reduce(Op.MEAN, input, dim, keepdim, dtype)


def prod(input, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    if isinstance(dim, (tuple, list)):
        raise TypeError(f"prod(): argument 'dim' must be int, not {type(dim).__name__}")
    return _reduce(Op.PROD, input, dim, keepdim, dtype)


def amax(input, dim=(), keepdim: bool = False) -> Tensor:
    _check_full_reduction("amax", input, dim)
    return _reduce(Op.AMAX, input, dim, keepdim)


def amin(input, dim=(), keepdim: bool = False) -> Tensor:
    _check_full_reduction("amin", input, dim)
    return _reduce(Op.AMIN, input, dim, keepdim)


def all(input, dim=None, keepdim: bool = False) -> Tensor:
    """all over `dim`; unlike sum's, an empty dim tuple reduces nothing (torch's rule)."""
    return _reduce(Op.ALL, input, dim, keepdim, empty_dim_is_all=False)


def any(input, dim=None, keepdim: bool = False) -> Tensor:
    return _reduce(Op.ANY, input, dim, keepdim, empty_dim_is_all=False)


def _arg(op: Op, input, dim, keepdim):
    input = as_tensor_arg(input)
    check_dtypes(op, [input.dtype])
    dim = None if dim is None else normalize_dim(dim, input.ndim)
    return dispatch(op, input, dim=dim, keepdim=keepdim)


def argmax(input, dim=None, keepdim: bool = False) -> Tensor:
    return _arg(Op.ARGMAX, input, dim, keepdim)


def argmin(input, dim=None, keepdim: bool = False) -> Tensor:
    return _arg(Op.ARGMIN, input, dim, keepdim)


def _extreme(reduce_op, arg_op, pair_op, result, input, dim, keepdim):
    if isinstance(dim, (_T(), np.ndarray)):
        return dispatch(pair_op, input, dim)
    if dim is None:
        _check_full_reduction(result.__name__, input, dim)
        return _reduce(reduce_op, input, None, False)
    values = _reduce(reduce_op, input, dim, keepdim)
    ranked = to_dtype(input, DType.int32) if input.dtype is DType.bool else input  # argmax: no bool
    return result(values, _arg(arg_op, ranked, dim, keepdim))


def max(input, dim=None, keepdim: bool = False) -> Tensor | max_result:
    """max(), max(dim) -> (values, indices), or max(other) (elementwise)."""
    return _extreme(Op.AMAX, Op.ARGMAX, Op.MAXIMUM, max_result, input, dim, keepdim)


def min(input, dim=None, keepdim: bool = False) -> Tensor | min_result:
    """min(), min(dim) -> (values, indices), or min(other) (elementwise)."""
    return _extreme(Op.AMIN, Op.ARGMIN, Op.MINIMUM, min_result, input, dim, keepdim)


def _correction(unbiased, correction) -> float:
    if unbiased is not None and correction is not None:
        raise TypeError("var/std: pass either unbiased or correction, not both")
    if correction is not None:
        return correction
    return 1 if unbiased is None or unbiased else 0


def var(input, dim=None, unbiased=None, keepdim: bool = False, *, correction=None) -> Tensor:
    """Two-pass variance: mean((x - mean)^2) * n / (n - correction)."""
    return to_dtype(_var64(input, dim, unbiased, keepdim, correction), input.dtype)


def _var64(input, dim, unbiased, keepdim: bool, correction) -> Tensor:
    """var in float64, as torch accumulates it (float32's squares overflow above 1.8e19)."""
    if isinstance(dim, bool):  # torch's legacy var(unbiased) positional form
        dim, unbiased = None, dim
    c = _correction(unbiased, correction)
    if not input.dtype.is_floating_point:
        raise RuntimeError(
            f"std and var only support floating point dtypes, got {input.dtype.value}"
        )
    dims = normalize_dims(dim, input.ndim)
    n = math.prod(input.shape[d] for d in dims)
    wide = to_dtype(input, DType.float64)
    centered = wide - mean(wide, dims, keepdim=True)
    total = sum(centered * centered, dims, keepdim=keepdim)
    return total / builtins.max(n - c, 0)


def std(input, dim=None, unbiased=None, keepdim: bool = False, *, correction=None) -> Tensor:
    """sqrt(var), taken in float64 before rounding to input's dtype, as torch."""
    return to_dtype(sqrt_of_spread(_var64(input, dim, unbiased, keepdim, correction)),
                    input.dtype)


def sqrt_of_spread(s: Tensor) -> Tensor:
    """sqrt(s) of a variance or a sum of squares, with torch's zero gradient where s is 0 (its
    std and norm backwards mask it; sqrt's own gradient there is inf, and inf * 0 is NaN). The
    values are sqrt's exactly; the masking costs two ops only while s records the tape."""
    from tracejit.autograd import is_grad_enabled

    if not (s.requires_grad and is_grad_enabled()):
        return s.sqrt()
    zero = s == 0
    return where(zero, s.detach(), where(zero, 1.0, s).sqrt())


def norm(input, p="fro", dim=None, keepdim: bool = False, dtype=None) -> Tensor:
    """Vector p-norms over `dim` (all dims by default); 'fro' is the 2-norm. `dtype` is the
    floating-point dtype to compute in (the input must be floating point already)."""
    if not input.dtype.is_floating_point:
        raise RuntimeError(
            f"norm(): input dtype should be either floating point or complex. Got "
            f"{input.dtype.value} instead."
        )
    if dtype is not None:
        input = to_dtype(input, dtype)
    dims = normalize_dims(dim, input.ndim)
    empty = [d for d in dims or range(input.ndim) if input.shape[d] == 0]
    if p in (math.inf, -math.inf) and empty:
        raise RuntimeError(
            f"norm(): cannot compute the {p} norm over an empty dimension (input shape "
            f"{list(input.shape)}): max/min of no elements has no identity"
        )
    if p in ("fro", 2, 2.0):
        return sqrt_of_spread(sum(input * input, dims, keepdim))
    a = input.abs()
    if p == math.inf:
        return amax(a, dims, keepdim)
    if p == -math.inf:
        return amin(a, dims, keepdim)
    if p == 0:
        return sum(to_dtype(a != 0, input.dtype), dims, keepdim)
    if p == 1:
        return sum(a, dims, keepdim)
    if is_number(p):
        return sum(a**p, dims, keepdim) ** (1.0 / p)
    raise ValueError(f"norm: unsupported p={p!r}; use a number, inf, -inf or 'fro'")


def logsumexp(input, dim, keepdim: bool = False) -> Tensor:
    """log(sum(exp(x))) computed stably; rows of -inf give -inf, like torch."""
    input = input if input.dtype.is_floating_point else to_dtype(input, get_default_dtype())
    dims = normalize_dims(dim, input.ndim)
    if input.numel() == 0:
        return sum(input.exp(), dims, keepdim).log()
    m = amax(input, dims, keepdim=True)
    m = masked_fill(m, m.abs() == math.inf, 0.0)
    out = sum((input - m).exp(), dims, keepdim=True).log() + m
    return c_order(out if keepdim else squeeze(out, dims))


def cumsum(input, dim, *, dtype=None) -> Tensor:
    if dtype is not None:
        input = to_dtype(input, dtype)
    return dispatch(Op.CUMSUM, input, dim=normalize_dim(dim, input.ndim))


def _softmax_input(input, dtype):
    input = as_tensor_arg(input)
    return to_dtype(input, dtype) if dtype is not None else input


def softmax(input, dim, dtype=None) -> Tensor:
    """dim is required, as in torch.softmax; None picks nn.functional's legacy implicit dim."""
    input = _softmax_input(input, dtype)
    return dispatch(Op.SOFTMAX, input, dim=normalize_dim(_implicit_dim(dim, input), input.ndim))


def log_softmax(input, dim, dtype=None) -> Tensor:
    input = _softmax_input(input, dtype)
    dim = normalize_dim(_implicit_dim(dim, input), input.ndim)
    return dispatch(Op.LOG_SOFTMAX, input, dim=dim)


def _implicit_dim(dim, input):
    if dim is None:  # torch's legacy choice, without its deprecation warning
        return 0 if input.ndim in (0, 1, 3) else 1
    return dim
