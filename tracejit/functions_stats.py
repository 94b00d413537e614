"""torch's order statistics and small numeric helpers as composites: median/nanmedian,
kthvalue, quantile/nanquantile (on sort), isin, histc, bincount, vander, diagflat,
trapezoid/cumulative_trapezoid, combinations, unravel_index, chain_matmul."""

from __future__ import annotations

import builtins
import itertools
import math
from collections import namedtuple
from typing import TYPE_CHECKING

import numpy as np

from tracejit.dispatch import concrete, current_mode, dispatch, to_dtype
from tracejit.functions import (
    as_tensor_arg,
    c_order,
    cat,
    contiguous_result,
    normalize_dim,
    reshape,
    where,
)
from tracejit.ir import DType, Op

if TYPE_CHECKING:
    from tracejit.tensor import Tensor

median_result = namedtuple("median", ["values", "indices"])
kthvalue_result = namedtuple("kthvalue", ["values", "indices"])


def _sorted(input, dim: int):
    from tracejit.functions_index import sort

    return sort(input, dim)


def _pick(values, indices, dim: int, k, keepdim: bool, result):
    """Element k of the sorted values (and its original index) along dim."""
    v = values.narrow(dim, k, 1)
    i = indices.narrow(dim, k, 1)
    return result(v, i) if keepdim else result(v.squeeze(dim), i.squeeze(dim))


def kthvalue(input, k: int, dim: int = -1, keepdim: bool = False) -> kthvalue_result:
    """The k-th smallest element along dim (1-based) and its index."""
    input = as_tensor_arg(input)
    d = normalize_dim(dim, input.ndim)
    size = input.shape[d] if input.ndim else 1
    if not 1 <= k <= size:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {d}")
    x = reshape(input, 1) if input.ndim == 0 else input
    values, indices = _sorted(x, d)
    out = kthvalue_result(*map(c_order, _pick(values, indices, d, k - 1,
                                              keepdim or input.ndim == 0, kthvalue_result)))
    return kthvalue_result(*(reshape(t, ()) for t in out)) if input.ndim == 0 else out


def median(input, dim=None, keepdim: bool = False) -> Tensor | median_result:
    """The lower median: of every element (dim None) or (values, indices) along dim; NaN
    wins, like torch."""
    input = as_tensor_arg(input)
    if dim is None:
        flat = reshape(input, -1)
        if flat.shape[0] == 0:
            return dispatch(Op.FULL, shape=(), value=math.nan, dtype=input.dtype)
        values, _ = _sorted(flat, 0)
        return _nan_first(values, flat, 0).narrow(0, (flat.shape[0] - 1) // 2, 1).reshape(())
    d = normalize_dim(dim, input.ndim)
    if input.ndim == 0:  # torch: a 0-d tensor is one element along dim 0 (or -1)
        return median_result(*(t.reshape(()) for t in median(input.reshape(1), 0)))
    values, indices = _sorted(input, d)
    k = (input.shape[d] - 1) // 2
    v, i = _pick(values, indices, d, k, True, median_result)
    if input.is_floating_point():  # a NaN anywhere along dim is the median (at its index)
        has_nan = (input != input).any(d, True)
        first_nan = (input != input).to(DType.int64).argmax(d, True)
        v = where(has_nan, dispatch(Op.FULL, shape=(), value=math.nan, dtype=v.dtype), v)
        i = where(has_nan, first_nan, i)
    return median_result(v, i) if keepdim else median_result(v.squeeze(d), i.squeeze(d))


def _nan_first(values, input, dim):
    if not input.is_floating_point():
        return values
    has_nan = (input != input).any(dim, True)
    return where(has_nan, dispatch(Op.FULL, shape=(), value=math.nan, dtype=values.dtype),
                 values)


def nanmedian(input, dim=None, keepdim: bool = False) -> Tensor | median_result:
    """median ignoring NaN (NaN only where a slice is all NaN). Eager only: the count of
    non-NaN elements decides which element is picked."""
    input = as_tensor_arg(input)
    current_mode().unsupported("nanmedian() (its pick depends on how many values are NaN)")
    data = concrete(input, "nanmedian()")
    if dim is None:
        finite = np.sort(data[~np.isnan(data)]) if data.dtype.kind == "f" else np.sort(
            data.ravel())
        value = finite[(len(finite) - 1) // 2] if len(finite) else np.nan
        return _tensor(np.asarray(value, dtype=data.dtype))
    d = normalize_dim(dim, input.ndim)
    if input.ndim == 0:  # torch: a 0-d tensor is one element along dim 0 (or -1)
        return median_result(*(t.reshape(()) for t in nanmedian(input.reshape(1), 0)))
    moved = np.moveaxis(data, d, -1)
    order = np.argsort(moved, axis=-1, kind="stable")  # NaN sorts last
    counts = (~np.isnan(moved)).sum(-1) if data.dtype.kind == "f" else np.full(
        moved.shape[:-1], moved.shape[-1])
    k = np.maximum((counts - 1) // 2, 0)[..., None]
    idx = np.take_along_axis(order, k, -1)
    vals = np.take_along_axis(moved, idx, -1)
    vals, idx = np.moveaxis(vals, -1, d), np.moveaxis(idx, -1, d)
    if not keepdim:
        vals, idx = vals.squeeze(d), idx.squeeze(d)
    return median_result(_tensor(np.ascontiguousarray(vals)),  # contiguous, as torch
                         _tensor(np.ascontiguousarray(idx, dtype=np.int64)))


def _tensor(array):
    from tracejit.creation import tensor

    return tensor(np.asarray(array))


_INTERPOLATIONS = ("linear", "lower", "higher", "nearest", "midpoint")


def quantile(input, q, dim=None, keepdim: bool = False, *, interpolation: str = "linear") -> Tensor:
    """The q-th quantiles (q a number or 1-D tensor in [0, 1]) along dim (all elements when
    None); a NaN makes its slice's quantiles NaN."""
    return _quantile(input, q, dim, keepdim, interpolation, ignore_nan=False)


def nanquantile(input, q, dim=None, keepdim: bool = False, *,
                interpolation: str = "linear") -> Tensor:
    """quantile ignoring NaN (eager only: the position depends on the NaN count)."""
    current_mode().unsupported("nanquantile() (its positions depend on how many values are NaN)")
    return _quantile(input, q, dim, keepdim, interpolation, ignore_nan=True)


def _quantile(input, q, dim, keepdim, interpolation, ignore_nan):
    input = as_tensor_arg(input)
    if interpolation not in _INTERPOLATIONS:
        raise RuntimeError(f"quantile() interpolation must be one of {', '.join(_INTERPOLATIONS)}."
                           f" Got {interpolation}")
    if not input.is_floating_point():
        raise RuntimeError(f"quantile() input tensor must be either float or double dtype, got "
                           f"{input.dtype.value}")
    scalar_q = not hasattr(q, "shape")
    qs = [float(q)] if scalar_q else [float(v) for v in concrete(as_tensor_arg(q), "q")]
    if builtins.any(not 0 <= v <= 1 for v in qs):
        raise RuntimeError("quantile() q values must be in the range [0, 1]")
    x, d = (reshape(input, -1), 0) if dim is None else (input, normalize_dim(dim, input.ndim))
    if dim is not None and input.ndim == 0:  # torch: one element along dim 0 (or -1)
        return _quantile(input.reshape(1), q, 0, False, interpolation, ignore_nan)
    if ignore_nan:
        return _nanquantile_eager(input, qs, dim, keepdim, interpolation, scalar_q)
    values, _ = _sorted(x, d)
    n = x.shape[d]
    outs = []
    for v in qs:
        pos = v * (n - 1)
        lo, hi = math.floor(pos), math.ceil(pos)
        a, b = values.narrow(d, lo, 1), values.narrow(d, hi, 1)
        frac = pos - lo
        if interpolation == "lower" or lo == hi:
            out = a
        elif interpolation == "higher":
            out = b
        elif interpolation == "nearest":
            out = a if round(pos) == lo else b  # round half to even, like torch
        elif interpolation == "midpoint":
            out = a + (b - a) * 0.5
        else:
            out = a + (b - a) * frac
        outs.append(_nan_first(out, x, d))
    out = cat(outs, d)  # one entry per q along d
    if dim is None and keepdim:
        out = reshape(out, (len(qs),) + (1,) * input.ndim)
    elif dim is None:
        out = reshape(out, (len(qs),))
    else:
        out = out.movedim(d, 0)
        if keepdim:
            out = out.unsqueeze(d + 1)
    return reshape(out, out.shape[1:]) if scalar_q else out


def _nanquantile_eager(input, qs, dim, keepdim, interpolation, scalar_q):
    data = concrete(input, "nanquantile()")
    method = {"linear": "linear", "lower": "lower", "higher": "higher", "nearest": "nearest",
              "midpoint": "midpoint"}[interpolation]
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out = np.nanquantile(data, qs, axis=dim, keepdims=keepdim, method=method)
    out = out.astype(data.dtype)
    return _tensor(out[0] if scalar_q else out)


def isin(elements, test_elements, *, assume_unique: bool = False, invert: bool = False) -> Tensor:
    """Whether each element of `elements` is in `test_elements`."""
    if not hasattr(elements, "shape"):
        elements = _tensor(np.asarray(elements))
    test = test_elements if hasattr(test_elements, "shape") else _tensor(
        np.asarray(test_elements))
    elements, test = as_tensor_arg(elements), as_tensor_arg(test)
    hit = (elements.unsqueeze(-1) == reshape(test, -1)).any(-1)
    return c_order(~hit if invert else hit)  # torch allocates the result contiguous


def histc(input, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:
    """Counts in `bins` equal bins over [min, max] (the data's range when both are 0);
    elements outside are ignored."""
    input = as_tensor_arg(input)
    if not input.is_floating_point():
        raise RuntimeError(f'"histogram_cpu" not implemented for {input.dtype.value} tensors')
    lo, hi = float(min), float(max)
    if lo == hi == 0:
        lo, hi = float(input.min()), float(input.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    flat = reshape(input, -1)
    width = (hi - lo) / bins
    index = ((flat - lo) / width).floor().clamp(0, bins - 1)
    inside = (flat >= lo) & (flat <= hi)
    from tracejit.creation import arange

    onehot = (index.unsqueeze(1) == to_dtype(arange(bins), input.dtype)) & inside.unsqueeze(1)
    return to_dtype(onehot, input.dtype).sum(0)


def bincount(input, weights=None, minlength: int = 0) -> Tensor:
    """Occurrences of each value 0..max(input) in a 1-D int tensor (weighted sums with
    weights); the length depends on the values, so eager only."""
    input = as_tensor_arg(input)
    current_mode().unsupported("bincount() (its length depends on the values)")
    data = concrete(input, "bincount()")
    if input.ndim != 1 or input.is_floating_point():
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if data.size and data.min() < 0:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    w = None if weights is None else concrete(as_tensor_arg(weights), "bincount()")
    out = np.bincount(data, w, minlength)
    if weights is None:
        return _tensor(out.astype(np.int64))
    wdtype = as_tensor_arg(weights).dtype
    return _tensor(out.astype(wdtype.np if wdtype.is_floating_point else np.float64))


def vander(x, N: int | None = None, increasing: bool = False) -> Tensor:
    """Columns x**(N-1), ..., x**0 (reversed when increasing)."""
    x = as_tensor_arg(x)
    n = x.shape[0] if N is None else int(N)
    from tracejit.creation import arange

    powers = arange(n) if increasing else arange(n - 1, -1, -1)
    dtype = x.dtype if x.dtype is not DType.bool else DType.int64
    base = to_dtype(x, dtype).unsqueeze(-1)
    return base ** to_dtype(powers, dtype)


def diagflat(input, offset: int = 0) -> Tensor:
    from tracejit.functions_math import diag

    return diag(reshape(as_tensor_arg(input), -1), offset)


@contiguous_result
def trapezoid(y, x=None, *, dx=None, dim: int = -1) -> Tensor:
    """The trapezoid rule along dim, with sample points x or spacing dx (default 1)."""
    y = as_tensor_arg(y)
    d = normalize_dim(dim, y.ndim)
    n = y.shape[d]
    if n == 0:
        return y.sum(d)
    pair = y.narrow(d, 1, n - 1) + y.narrow(d, 0, n - 1)
    if x is None:
        return pair.sum(d) * ((1.0 if dx is None else dx) / 2)
    x = as_tensor_arg(x)
    xd = normalize_dim(dim, x.ndim) if x.ndim > 1 else 0
    spacing = x.narrow(xd, 1, n - 1) - x.narrow(xd, 0, n - 1)
    if x.ndim == 1 and y.ndim > 1:
        spacing = reshape(spacing, tuple(n - 1 if i == d else 1 for i in range(y.ndim)))
    return (pair * spacing).sum(d) / 2


trapz = trapezoid


def cumulative_trapezoid(y, x=None, *, dx=None, dim: int = -1) -> Tensor:
    """The running trapezoid rule along dim."""
    y = as_tensor_arg(y)
    d = normalize_dim(dim, y.ndim)
    n = y.shape[d]
    pair = y.narrow(d, 1, n - 1) + y.narrow(d, 0, n - 1)
    if x is None:
        return pair.cumsum(d) * ((1.0 if dx is None else dx) / 2)
    x = as_tensor_arg(x)
    xd = normalize_dim(dim, x.ndim) if x.ndim > 1 else 0
    spacing = x.narrow(xd, 1, n - 1) - x.narrow(xd, 0, n - 1)
    if x.ndim == 1 and y.ndim > 1:
        spacing = reshape(spacing, tuple(n - 1 if i == d else 1 for i in range(y.ndim)))
    return (pair * spacing).cumsum(d) / 2


def combinations(input, r: int = 2, with_replacement: bool = False) -> Tensor:
    """The length-r combinations of a 1-D tensor's elements, one per row."""
    input = as_tensor_arg(input)
    if input.ndim != 1:
        raise RuntimeError(f"Expect a 1D vector, but got shape {list(input.shape)}")
    pick = itertools.combinations_with_replacement if with_replacement else \
        itertools.combinations
    index = list(pick(range(input.shape[0]), r))
    if not index:
        return reshape(input[:0], 0, r) if r else reshape(input[:0], 0)
    return input[_tensor(np.asarray(index, dtype=np.int64))]


def unravel_index(indices, shape) -> tuple[Tensor, ...]:
    """The coordinates of flat indices into `shape`, as a tuple of tensors."""
    indices = indices if hasattr(indices, "shape") else _tensor(np.asarray(indices))
    if indices.is_floating_point():
        raise TypeError(f"expected 'indices' to be integer dtype, but got {indices.dtype.value}")
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    total = math.prod(shape)
    if total and ((indices >= total) | (indices < -total)).any():
        raise RuntimeError("'indices' must be in range [-shape.prod(), shape.prod()), got "
                           f"shape {list(shape)}")
    flat = to_dtype(indices, DType.int64) % builtins.max(total, 1)
    out = []
    for size in reversed(shape):
        out.append(flat % size)
        flat = flat // size
    return tuple(reversed(out))


def chain_matmul(*matrices) -> Tensor:
    from tracejit.linalg import multi_dot

    return multi_dot(matrices)


__all__ = [
    "bincount", "chain_matmul", "combinations", "cumulative_trapezoid", "diagflat", "histc",
    "isin", "kthvalue", "median", "nanmedian", "nanquantile", "quantile", "trapezoid", "trapz",
    "unravel_index", "vander",
]

# also Tensor methods
METHODS = ("bincount", "diagflat", "histc", "isin", "kthvalue", "median", "nanmedian",
           "nanquantile", "quantile")
