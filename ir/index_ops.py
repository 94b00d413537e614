"""Shape rules and numpy references of the sorting, scattering, selecting and sampling ops:
argsort, flip, cumprod, cumargmax/cumargmin, scatter, masked_scatter, nonzero, multinomial,
searchsorted and unique.

Each rule raises the exception type PyTorch raises, naming the shapes, dims and dtypes involved;
each reference returns a fresh array (never a view of an operand) in the result's dtype or one
`ops.evaluate` casts to it. Value-dependent errors (an index out of bounds, a negative
probability) are raised by the reference, as torch raises them when the kernel runs.
"""

from __future__ import annotations

import numpy as np

from .numpy_impl import cumsum
from .shape_rules import Attrs, Types, broadcast_shapes, check_dims, fmt_shape
from .types import DType, TensorType

INDEX_DTYPES = (DType.int32, DType.int64)

# --- argsort ------------------------------------------------------------------------------------


def argsort_rule(types: Types, attrs: Attrs, op: str = "argsort"):
    (x,) = types
    check_dims((attrs["dim"],), x.ndim, op)
    return (TensorType(DType.int64, x.shape),)


def argsort(x, *, dim, descending):
    """Stable: equal elements keep their order (descending too); NaN sorts as the largest."""
    if x.ndim == 0:
        return np.zeros((), np.int64)
    if not descending:
        return np.argsort(x, axis=dim, kind="stable")
    # the reversed stable sort of the reversed input: descending, ties in their original order
    reverse = np.flip(np.argsort(np.flip(x, dim), axis=dim, kind="stable"), dim)
    return (x.shape[dim] - 1) - reverse


# --- flip and cumprod ---------------------------------------------------------------------------


def flip_rule(types: Types, attrs: Attrs, op: str = "flip"):
    check_dims(attrs["dims"], types[0].ndim, op)
    return (types[0],)


def flip(x, *, dims):
    return np.flip(x, dims).copy() if x.ndim else x.copy()


def cumprod(x, *, dim):
    if x.ndim == 0:
        return cumsum(x, dim=dim)  # a 0-d scan is the value itself, widened
    return np.cumprod(x, axis=dim, dtype=np.int64 if x.dtype.kind in "biu" else None)


def cumarg_rule(types: Types, attrs: Attrs, op: str = "cumargmax"):
    check_dims((attrs["dim"],), types[0].ndim, op)
    return (TensorType(DType.int64, types[0].shape),)


def cumargmax(x, *, dim):
    """Index of the running maximum (cummax's indices): the latest of equal values, and a NaN
    takes over from everything before it, as in torch."""
    return _cumarg(x, dim, np.greater_equal)


def cumargmin(x, *, dim):
    return _cumarg(x, dim, np.less_equal)


def _cumarg(x, dim, better):
    if x.ndim == 0:
        return np.zeros((), np.int64)
    rows = np.moveaxis(x, dim, -1)
    out = np.zeros(rows.shape, np.int64)
    if rows.shape[-1]:
        best = rows[..., 0]
        for i in range(1, rows.shape[-1]):
            v = rows[..., i]
            take = better(v, best) | (v != v)  # v != v: NaN
            best = np.where(take, v, best)
            out[..., i] = np.where(take, i, out[..., i - 1])
    return np.moveaxis(out, -1, dim)


# --- scatter ------------------------------------------------------------------------------------


def scatter_rule(types: Types, attrs: Attrs, op: str = "scatter"):
    """scatter(x, index, src): x with src's values written (or reduced) at index along dim."""
    x, index, src = types
    dim = attrs["dim"]
    check_dims((dim,), x.ndim, op)
    if index.dtype not in INDEX_DTYPES:
        raise RuntimeError(f"{op}(): Expected dtype int32/int64 for index, got "
                           f"{index.dtype.value}")
    if src.dtype is not x.dtype:
        raise RuntimeError(f"{op}(): Expected self.dtype to be equal to src.dtype (got "
                           f"{x.dtype.value} and {src.dtype.value})")
    if attrs["reduce"] == "mean" and x.dtype is DType.bool:
        raise RuntimeError(f"{op}(): reduce='mean' is not implemented for bool tensors")
    for name, t in (("self", x), ("src", src)):
        if index.ndim != t.ndim and index.shape != (0,):
            raise RuntimeError(
                f"Index tensor must have the same number of dimensions as {name} tensor "
                f"(index {fmt_shape(index.shape)}, {name} {fmt_shape(t.shape)})")
    if index.ndim == x.ndim and any(
            _larger(i, s) or (d != dim and _larger(i, n))
            for d, (i, n, s) in enumerate(zip(index.shape, x.shape, src.shape))):
        raise RuntimeError(
            f"Expected index {fmt_shape(index.shape)} to be no larger than self "
            f"{fmt_shape(x.shape)} apart from dimension {dim} and to be no larger size than "
            f"src {fmt_shape(src.shape)}")
    return (x,)


def _larger(a, b) -> bool:
    """a > b for dims that are known (a `?` dim, None, is checked when the op runs)."""
    return a is not None and b is not None and a > b


def scatter(x, index, src, *, dim, reduce, include_self):
    out = x.reshape(1).copy() if x.ndim == 0 else x.copy()
    if index.size == 0:
        return out.reshape(x.shape)
    index, src = index.reshape(index.shape or (1,)), src.reshape(src.shape or (1,))
    if any(i > s for i, s in zip(index.shape, src.shape)):  # a `?` dim the rule let through
        raise RuntimeError(f"scatter(): index {list(index.shape)} is larger than src "
                           f"{list(src.shape)}")
    n = out.shape[dim]
    if index.min() < 0 or index.max() >= n:
        bad = index[(index < 0) | (index >= n)].flat[0]
        raise RuntimeError(f"index {bad} is out of bounds for dimension {dim} with size {n}")
    key = list(np.indices(index.shape, sparse=True))
    key[dim] = index
    key = tuple(key)
    src = src[tuple(slice(0, k) for k in index.shape)]
    if reduce == "none":
        out[key] = src
    elif reduce == "mean":
        out = _scatter_mean(out, key, src, include_self)
    else:
        ufunc, identity = _SCATTER_REDUCE[reduce]
        if not include_self:
            out[key] = identity(out.dtype)
        ufunc.at(out, key, src)
    return out.reshape(x.shape)


def _lowest(dtype):
    if dtype.kind == "f":
        return -np.inf
    return False if dtype.kind == "b" else np.iinfo(dtype).min


def _highest(dtype):
    if dtype.kind == "f":
        return np.inf
    return True if dtype.kind == "b" else np.iinfo(dtype).max


_SCATTER_REDUCE = {
    "sum": (np.add, lambda dtype: 0), "prod": (np.multiply, lambda dtype: 1),
    "amax": (np.maximum, _lowest), "amin": (np.minimum, _highest),
}


def _scatter_mean(out, key, src, include_self):
    """torch's scatter_reduce 'mean': the sum over self (if included) and the scattered values,
    divided by their count; integer results round down (floor division)."""
    count = np.ones(out.shape, np.int64)
    if not include_self:
        out[key], count[key] = 0, 0
    np.add.at(out, key, src)
    np.add.at(count, key, 1)
    count = np.maximum(count, 1)
    if out.dtype.kind == "f":
        return out / count.astype(out.dtype)
    return np.floor_divide(out, count).astype(out.dtype)


def masked_scatter_rule(types: Types, attrs: Attrs, op: str = "masked_scatter"):
    """masked_scatter(%x, %mask, %source): x (broadcast with mask) with the mask's True
    positions filled, in order, by source's leading elements."""
    x, mask, source = types
    if mask.dtype is not DType.bool:
        raise RuntimeError(f"masked_scatter_ only supports boolean masks, but got mask with "
                           f"dtype {mask.dtype.value}")
    if source.dtype is not x.dtype:
        raise RuntimeError(f"masked_scatter: expected self and source to have same dtypes but "
                           f"got {x.dtype.value} and {source.dtype.value}")
    return (TensorType(x.dtype, broadcast_shapes(x.shape, mask.shape)),)


def masked_scatter(x, mask, source):
    shape = np.broadcast_shapes(x.shape, mask.shape)
    out, mask = np.broadcast_to(x, shape).copy(), np.broadcast_to(mask, shape)
    n = int(np.count_nonzero(mask))
    if source.size < n:
        raise RuntimeError(f"Number of elements of source < number of ones in mask ({source.size}"
                           f" < {n})")
    out[mask] = source.reshape(-1)[:n]
    return out


# --- nonzero ------------------------------------------------------------------------------------


def nonzero_rule(types: Types, attrs: Attrs, op: str = "nonzero"):
    return (TensorType(DType.int64, (None, types[0].ndim)),)


def nonzero(x):
    return np.argwhere(x).astype(np.int64)


# --- multinomial --------------------------------------------------------------------------------


def multinomial_rule(types: Types, attrs: Attrs, op: str = "multinomial"):
    (p,) = types
    k, replacement = attrs["num_samples"], attrs["replacement"]
    if p.ndim not in (1, 2):
        raise RuntimeError(f"prob_dist must be 1 or 2 dim, got a tensor of shape "
                           f"{fmt_shape(p.shape)}")
    if k <= 0:
        raise RuntimeError(f"cannot sample n_sample <= 0 samples (num_samples={k})")
    categories = p.shape[-1]
    if not replacement and categories is not None and k > categories:
        raise RuntimeError(
            f"cannot sample n_sample > prob_dist.size(-1) samples without replacement "
            f"({k} > {categories}); pass replacement=True or fewer samples")
    if categories == 0:
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0): "
                           "it has no categories")
    return (TensorType(DType.int64, (*p.shape[:-1], k)),)


def multinomial(p, *, num_samples, replacement, rng):
    rows = p.reshape(-1, p.shape[-1]).astype(np.float64)
    if not np.all(np.isfinite(rows)) or np.any(rows < 0):
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    total = rows.sum(axis=-1, keepdims=True)
    if np.any(total <= 0):
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    if replacement:
        cdf = np.cumsum(rows, axis=-1) / total
        cdf[:, -1] = 1.0  # trailing zero-probability categories can never be drawn
        u = rng.random((rows.shape[0], num_samples))
        out = np.stack([np.searchsorted(c, v, side="right") for c, v in zip(cdf, u)])
    else:  # exponential races: the k smallest of Exp(1)/p are a draw without replacement
        with np.errstate(divide="ignore"):
            keys = rng.exponential(size=rows.shape) / rows
        out = np.argsort(keys, axis=-1, kind="stable")[:, :num_samples]
    return out.reshape(*p.shape[:-1], num_samples).astype(np.int64)


# --- searchsorted -------------------------------------------------------------------------------


def searchsorted_rule(types: Types, attrs: Attrs, op: str = "searchsorted"):
    seq, values = types
    if seq.ndim == 0 or (seq.ndim > 1 and seq.shape[:-1] != values.shape[:-1]):
        raise RuntimeError(
            f"torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 "
            f"dimensions of boundaries tensor and input value tensor must match, but we got "
            f"boundaries tensor {fmt_shape(seq.shape)} and input value tensor "
            f"{fmt_shape(values.shape)}")
    return (TensorType(DType.int64, values.shape),)


def searchsorted(seq, values, *, right):
    side = "right" if right else "left"
    if seq.ndim == 1:
        return np.searchsorted(seq, values, side=side).astype(np.int64)
    rows = [np.searchsorted(s, v, side=side)
            for s, v in zip(seq.reshape(-1, seq.shape[-1]), values.reshape(-1, values.shape[-1]))]
    return np.asarray(rows, np.int64).reshape(values.shape)


# --- unique -------------------------------------------------------------------------------------


def unique_rule(types: Types, attrs: Attrs, op: str = "unique"):
    """unique(%x) {result = "values" | "inverse" | "counts", dim}: the sorted distinct values of
    the flattened x (or distinct slices along dim), whose count is `?`; each element's (slice's)
    position among them; or how often each occurs. NaNs are all distinct, as in torch."""
    (x,) = types
    dim, result = attrs["dim"], attrs["result"]
    if dim is not None:
        check_dims((dim,), x.ndim, op)
    if result == "inverse":
        return (TensorType(DType.int64, x.shape if dim is None else (x.shape[dim],)),)
    if result == "counts":
        return (TensorType(DType.int64, (None,)),)
    shape = (None,) if dim is None else (*x.shape[:dim], None, *x.shape[dim + 1:])
    return (TensorType(x.dtype, shape),)


def unique(x, *, result, dim):
    if dim is not None and x.ndim == 0:
        dim = None
    flat = x.reshape(-1) if dim is None else x
    values, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True,
                                        equal_nan=False, axis=dim)
    if result == "inverse":
        return inverse.reshape(x.shape if dim is None else -1).astype(np.int64)
    return values if result == "values" else counts.astype(np.int64)
