"""torch's sorting, flipping, scattering, selecting and sampling functions.

Each is both `tracejit.<name>(input, ...)` and the Tensor method `<name>`; in-place variants
(`scatter_`, `index_add_`, ...) are methods only, as in torch. Primitives dispatch the ops of
ir/index_ops.py (argsort, flip, cumprod, scatter, nonzero, multinomial, searchsorted); the rest
are composites of dispatched ops (sort = argsort + gather, roll = narrow + cat, diff = narrow +
sub, index_add = scatter with an expanded index), so every capture mode records primitives.
"""

from __future__ import annotations

from collections import namedtuple
from typing import TYPE_CHECKING

from tracejit.dispatch import (
    assign,
    current_mode,
    dispatch,
    get_default_dtype,
    is_number,
    result_type,
    to_dtype,
)
from tracejit.functions import (
    _T,
    as_tensor_arg,
    c_order,
    cat,
    expand,
    gather,
    narrow,
    normalize_dim,
    reshape,
    scaled,
    size_args,
    transpose,
)
from tracejit.functions import sum as reduce_sum
from tracejit.ir import DType, Op

if TYPE_CHECKING:
    from tracejit.tensor import Tensor

# torch.return_types.sort / topk: named (values, indices) pairs
sort_result = namedtuple("sort", ["values", "indices"])
topk_result = namedtuple("topk", ["values", "indices"])
cummax_result = namedtuple("cummax", ["values", "indices"])
cummin_result = namedtuple("cummin", ["values", "indices"])

_INDEX_DTYPES = (DType.int32, DType.int64)


# --- sorting ------------------------------------------------------------------------------------

def argsort(input, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """Indices that sort `input` along `dim`; always stable (equal elements keep their order)."""
    input = as_tensor_arg(input)
    return dispatch(Op.ARGSORT, input, dim=normalize_dim(dim, input.ndim),
                    descending=bool(descending))


def sort(input, dim: int = -1, descending: bool = False, stable: bool = False) -> sort_result:
    """(values, indices) sorted along `dim`, as torch.return_types.sort; NaN sorts largest."""
    input = as_tensor_arg(input)
    indices = argsort(input, dim, descending)
    return sort_result(gather(input, dim, indices), indices)


def msort(input) -> Tensor:
    return sort(input, 0).values


def topk(input, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> topk_result:
    """The k largest (or smallest) elements along `dim` and their indices, in sorted order."""
    input = as_tensor_arg(input)
    d = normalize_dim(dim, input.ndim)
    if input.dtype is DType.bool:
        raise RuntimeError("topk does not support bool dtypes on CPU")
    size = input.shape[d] if input.ndim else 1
    if not 0 <= k <= size:
        raise RuntimeError(f"selected index k out of range (k={k}, but dimension {d} of input "
                           f"{list(input.shape)} has size {size})")
    indices = argsort(input, d, descending=largest)
    if input.ndim:
        indices = narrow(indices, d, 0, k)
    return topk_result(gather(input, d, indices), c_order(indices))


# --- flip and roll ------------------------------------------------------------------------------

def flip(input, *dims) -> Tensor:
    """Reverse the order of elements along `dims` (a copy, as in torch)."""
    input = as_tensor_arg(input)
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    dims = tuple(normalize_dim(d, input.ndim) for d in dims)
    if len(set(dims)) != len(dims):
        repeated = next(d for d in dims if dims.count(d) > 1)
        raise RuntimeError(f"dim {repeated} appears multiple times in the list of dims")
    return dispatch(Op.FLIP, input, dims=dims if input.ndim else ())


def rot90(input, k: int = 1, dims=(0, 1)) -> Tensor:
    """Rotate by 90 degrees k times in the plane of `dims`, from the first toward the second."""
    input = as_tensor_arg(input)
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    if input.ndim < 2:
        raise RuntimeError(f"expected total dims >= 2, but got total dims = {input.ndim}")
    d0, d1 = (normalize_dim(d, input.ndim) for d in dims)
    if d0 == d1:
        raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {d0} and "
                           f"dim1 = {d1}")
    k %= 4
    if k == 1:
        return transpose(flip(input, d1), d0, d1)
    if k == 2:
        return flip(input, d0, d1)
    if k == 3:
        return transpose(flip(input, d0), d0, d1)
    return dispatch(Op.COPY, input)


def fliplr(input) -> Tensor:
    if input.ndim < 2:
        raise RuntimeError(f"Input must be >= 2-d. (fliplr of a tensor of shape "
                           f"{list(input.shape)})")
    return flip(input, 1)


def flipud(input) -> Tensor:
    if input.ndim < 1:
        raise RuntimeError("Input must be >= 1-d. (flipud of a 0-d tensor)")
    return flip(input, 0)


def roll(input, shifts, dims=None) -> Tensor:
    """Shift elements along `dims` with wrap-around; without dims, over the flattened tensor."""
    input = as_tensor_arg(input)
    shifts = tuple(shifts) if isinstance(shifts, (tuple, list)) else (shifts,)
    if not shifts:
        raise RuntimeError("`shifts` required")
    if dims is None:
        if len(shifts) != 1:
            raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, "
                               "dims:0 (pass dims to roll several dims)")
        rolled = _roll_dim(reshape(input, -1), int(shifts[0]), 0)
        return reshape(rolled, *input.shape)
    dims = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
    if len(shifts) != len(dims):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, "
                           f"dims:{len(dims)}")
    if input.ndim == 0:
        raise IndexError(f"Dimension specified as {dims[0]} but tensor has no dimensions")
    out = input
    for shift, dim in zip(shifts, dims):
        out = _roll_dim(out, int(shift), normalize_dim(dim, input.ndim))
    return out if out is not input else dispatch(Op.COPY, input)


def _roll_dim(x, shift: int, dim: int):
    n = x.shape[dim] if x.ndim else 1
    shift = shift % n if n else 0
    if shift == 0:
        return x
    return cat([narrow(x, dim, n - shift, shift), narrow(x, dim, 0, n - shift)], dim)


# --- scans and differences ----------------------------------------------------------------------

def cumprod(input, dim, *, dtype=None) -> Tensor:
    input = as_tensor_arg(input)
    if dtype is not None:
        input = to_dtype(input, dtype)
    return dispatch(Op.CUMPROD, input, dim=normalize_dim(dim, input.ndim))


def cummax(input, dim) -> cummax_result:
    """(running maximum, its index) along `dim`; ties take the latest index, NaN propagates."""
    input = as_tensor_arg(input)
    d = normalize_dim(dim, input.ndim)
    indices = dispatch(Op.CUMARGMAX, input, dim=d)
    return cummax_result(gather(input, d, indices), indices)


def cummin(input, dim) -> cummin_result:
    """(running minimum, its index) along `dim`; ties take the latest index, NaN propagates."""
    input = as_tensor_arg(input)
    d = normalize_dim(dim, input.ndim)
    indices = dispatch(Op.CUMARGMIN, input, dim=d)
    return cummin_result(gather(input, d, indices), indices)


def cumprod_(input, dim, *, dtype=None) -> Tensor:
    return assign(input, cumprod(input, dim, dtype=dtype), "cumprod_")


def count_nonzero(input, dim=None) -> Tensor:
    """How many elements are non-zero, over `dim` (an int or a tuple; every dim by default)."""
    input = as_tensor_arg(input)
    return reduce_sum(input != 0, dim)


def diff(input, n: int = 1, dim: int = -1, prepend=None, append=None) -> Tensor:
    """The n-th forward difference along `dim` (`!=` for bool), after prepend/append."""
    input = as_tensor_arg(input)
    if input.ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    if n < 0:
        raise RuntimeError(f"order must be non-negative but got {n}")
    d = normalize_dim(dim, input.ndim)
    parts = []
    for name, extra in (("prepend", prepend), (None, input), ("append", append)):
        if extra is None:
            continue
        if not isinstance(extra, _T()):
            raise TypeError(f"diff(): argument '{name}' must be Tensor, not "
                            f"{type(extra).__name__}")
        if extra.ndim != input.ndim:
            raise RuntimeError(
                f"diff expects prepend or append to be the same dimension as input (input "
                f"{list(input.shape)}, {name} {list(extra.shape)})")
        parts.append(extra)
    x = cat(parts, d) if len(parts) > 1 else input
    for _ in range(n):
        m = x.shape[d]
        if m == 0:
            break
        if _dynamic(x, d):  # slices counted from the end, not baked-in lengths
            later, earlier = _slice_to_end(x, d, 1, None), _slice_to_end(x, d, 0, -1)
        else:
            later, earlier = narrow(x, d, 1, m - 1), narrow(x, d, 0, m - 1)
        x = later != earlier if x.dtype is DType.bool else later - earlier
    return x if x is not input else dispatch(Op.COPY, input)  # n=0: a copy, as in torch


def _dynamic(x, dim: int) -> bool:
    """Whether a capture mode holds x's size at `dim` as data-dependent (`?`, after nonzero or
    a boolean mask), so slices of it must not bake in today's length."""
    value = getattr(x, "_value", None)
    return value is not None and value.type.shape[dim] is None


def _slice_to_end(x, dim: int, start: int, stop: int | None):
    spec = tuple(("slice", start, stop, 1) if k == dim else ("slice", 0, None, 1)
                 for k in range(x.ndim))
    return dispatch(Op.INDEX, x, spec=spec)


# --- scatter and index_* ------------------------------------------------------------------------

_SCATTER_REDUCE = {None: "none", "add": "sum", "multiply": "prod"}
_REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


def scatter(input, dim, index, src=None, *, value=None, reduce=None) -> Tensor:
    """x.scatter(dim, index, src) or (dim, index, value): src's values written at `index` along
    `dim`; reduce='add' or 'multiply' combines them with what is there instead."""
    input, index = as_tensor_arg(input), as_tensor_arg(index, "index")
    if reduce not in _SCATTER_REDUCE:
        raise RuntimeError(f"reduce argument must be either add or multiply. (got {reduce!r})")
    source = src if src is not None else value
    if source is None:
        raise TypeError("scatter() missing the values to write: pass src (a Tensor) or value")
    return _scatter(input, dim, index, source, _SCATTER_REDUCE[reduce])


def scatter_(input, dim, index, src=None, *, value=None, reduce=None) -> Tensor:
    return assign(input, scatter(input, dim, index, src, value=value, reduce=reduce), "scatter_")


def scatter_add(input, dim, index, src) -> Tensor:
    return _scatter(as_tensor_arg(input), dim, as_tensor_arg(index, "index"),
                    as_tensor_arg(src, "src"), "sum")


def scatter_add_(input, dim, index, src) -> Tensor:
    return assign(input, scatter_add(input, dim, index, src), "scatter_add_")


def scatter_reduce(input, dim, index, src, reduce: str, *, include_self: bool = True) -> Tensor:
    """Reduce src into input at index along dim: 'sum', 'prod', 'mean', 'amax' or 'amin'."""
    reduce = {"max": "amax", "min": "amin"}.get(reduce, reduce)  # torch's aliases
    if reduce not in _REDUCTIONS:
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got "
                           f"{reduce}")
    return _scatter(as_tensor_arg(input), dim, as_tensor_arg(index, "index"),
                    as_tensor_arg(src, "src"), reduce, include_self)


def scatter_reduce_(input, dim, index, src, reduce: str, *, include_self: bool = True) -> Tensor:
    out = scatter_reduce(input, dim, index, src, reduce, include_self=include_self)
    return assign(input, out, "scatter_reduce_")


def _scatter(input, dim, index, source, reduce: str, include_self: bool = True):
    if not isinstance(source, _T()):  # a Python number: written everywhere index points
        if not is_number(source):
            raise TypeError(f"scatter(): value must be a Tensor or a number, got "
                            f"{type(source).__name__}")
        source = expand(to_dtype(source, input.dtype), *index.shape)
    return dispatch(Op.SCATTER, input, index, source, dim=normalize_dim(dim, input.ndim),
                    reduce=reduce, include_self=include_self)


def masked_scatter(input, mask, source) -> Tensor:
    """input (broadcast with mask) with mask's True positions filled, in row-major order, by
    the leading elements of source."""
    return dispatch(Op.MASKED_SCATTER, as_tensor_arg(input), as_tensor_arg(mask, "mask"),
                    as_tensor_arg(source, "source"))


def masked_scatter_(input, mask, source) -> Tensor:
    return assign(input, masked_scatter(input, mask, source), "masked_scatter_")


def _index_vector(name: str, index):
    index = as_tensor_arg(index, "index")
    if index.dtype not in _INDEX_DTYPES:
        raise RuntimeError(f"{name}(): Expected dtype int32 or int64 for index, got "
                           f"{index.dtype.value}")
    if index.ndim > 1:
        raise IndexError(f"{name}(): Index is supposed to be a vector, got shape "
                         f"{list(index.shape)}")
    return index if index.ndim == 1 else reshape(index, 1)


def _along(index, dim: int, shape):
    """A 1-D index laid along `dim` and expanded to `shape` (its length at `dim`)."""
    if not shape:
        return reshape(index, ())
    if len(shape) == 1:
        return index
    view = [1] * len(shape)
    view[dim] = -1
    return expand(reshape(index, *view), *shape)


def index_select(input, dim, index) -> Tensor:
    """The slices of `input` at `index` (a vector) along `dim`."""
    input = as_tensor_arg(input)
    d = normalize_dim(dim, input.ndim)
    index = _index_vector("index_select", index)
    shape = list(input.shape)
    if shape:
        shape[d] = index.shape[0]
    current_mode().check_index_select(input, index, d)
    try:
        return gather(input, d, _along(index, d, shape))
    except RuntimeError as e:  # an index out of range: torch's error for index_select
        if "out of bounds" not in str(e):
            raise
        n = input.shape[d] if input.ndim else 1
        bad = next(int(i) for i in index._data.reshape(-1) if not 0 <= i < n)
        if d == 1 and input.ndim >= 2:  # torch's own kernel for dim 1
            raise RuntimeError(f"INDICES element is out of DATA bounds, id={bad} "
                               f"axis_dim={n}") from None
        raise IndexError(f"index out of range in self: index_select() index {bad} for "
                         f"dimension {d} with size {n}") from None


def _index_source(name: str, input, dim, index, source):
    """(normalized dim, the index expanded to source's shape) for index_add/index_copy."""
    input, source = as_tensor_arg(input), as_tensor_arg(source, "source")
    d = normalize_dim(dim, input.ndim)
    index = _index_vector(name, index)
    if source.dtype is not input.dtype:
        raise RuntimeError(f"{name}(): self ({input.dtype.value}) and source "
                           f"({source.dtype.value}) must have the same scalar type")
    size = source.shape[d] if source.ndim else 1
    if source.ndim != input.ndim or index.shape[0] != size or any(
            a != b for k, (a, b) in enumerate(zip(source.shape, input.shape)) if k != d):
        raise RuntimeError(
            f"{name}(): Number of indices ({index.shape[0]}) should be equal to "
            f"source.size(dim): ({size}), for dim: {d}, and source {list(source.shape)} must "
            f"match self {list(input.shape)} in every other dim")
    return d, _along(index, d, tuple(source.shape))


def index_add(input, dim, index, source, *, alpha=1) -> Tensor:
    """input with alpha * source's slices added at `index` along `dim` (repeats accumulate)."""
    d, full = _index_source("index_add_", input, dim, index, source)
    source = scaled(Op.ADD, input, source, alpha)
    return dispatch(Op.SCATTER, input, full, source, dim=d, reduce="sum", include_self=True)


def index_add_(input, dim, index, source, *, alpha=1) -> Tensor:
    return assign(input, index_add(input, dim, index, source, alpha=alpha), "index_add_")


def index_copy(input, dim, index, source) -> Tensor:
    d, full = _index_source("index_copy_", input, dim, index, source)
    return dispatch(Op.SCATTER, input, full, source, dim=d, reduce="none", include_self=True)


def index_copy_(input, dim, index, source) -> Tensor:
    return assign(input, index_copy(input, dim, index, source), "index_copy_")


def index_fill(input, dim, index, value) -> Tensor:
    input = as_tensor_arg(input)
    d = normalize_dim(dim, input.ndim)
    index = _index_vector("index_fill_", index)
    shape = list(input.shape)
    if shape:
        shape[d] = index.shape[0]
    return _scatter(input, d, _along(index, d, shape), _fill_value(value), "none")


def index_fill_(input, dim, index, value) -> Tensor:
    return assign(input, index_fill(input, dim, index, value), "index_fill_")


def _fill_value(value):
    if isinstance(value, _T()):
        if value.ndim:
            raise RuntimeError(f"index_fill_ only supports a 0-dimensional value tensor, but "
                               f"got tensor with {value.ndim} dimension(s).")
        return value.item()
    return value


def take_along_dim(input, indices, dim=None) -> Tensor:
    """gather with broadcasting: `indices` picks along `dim` (along the flattened input when dim
    is None); negative indices count from the end."""
    input, indices = as_tensor_arg(input), as_tensor_arg(indices, "indices")
    if indices.dtype is not DType.int64:
        raise RuntimeError(f"torch.take_along_dim(): dtype of indices should be Long but got "
                           f"{indices.dtype.value}")
    if dim is None:
        input, indices, d = reshape(input, -1), reshape(indices, -1), 0
    else:
        d = normalize_dim(dim, input.ndim)
        if input.ndim != indices.ndim:
            raise RuntimeError(
                f"torch.take_along_dim(): input and indices should have the same number of "
                f"dimensions, but got {input.ndim} dimensions for input, and {indices.ndim} "
                f"dimensions for indices")
        input, indices = _broadcast_except(input, indices, d)
    size = input.shape[d] if input.ndim else 1
    indices = dispatch(Op.WHERE, indices < 0, indices + size, indices)
    return gather(input, d, indices)


def _broadcast_except(input, indices, dim: int):
    from tracejit.ir.shape_rules import broadcast_shapes

    a, b = list(input.shape), list(indices.shape)
    a[dim] = b[dim] = 1
    shape = list(broadcast_shapes(a, b))
    grown = []
    for t in (input, indices):
        shape[dim] = t.shape[dim]
        grown.append(t if tuple(t.shape) == tuple(shape) else expand(t, *shape))
    return grown


# --- data-dependent shapes ----------------------------------------------------------------------

def nonzero(input, *, as_tuple: bool = False) -> Tensor | tuple[Tensor, ...]:
    """The indices of the non-zero elements, int64[?, ndim] (a tuple of ndim int64[?] columns
    with as_tuple=True). The row count depends on the values: tracing records it as `?`."""
    input = as_tensor_arg(input)
    if not as_tuple:
        return dispatch(Op.NONZERO, input)
    flat = input if input.ndim else reshape(input, 1)
    rows = dispatch(Op.NONZERO, flat)
    return tuple(dispatch(Op.INDEX, rows, spec=(("slice", 0, None, 1), ("int", k)))
                 for k in range(flat.ndim))


def argwhere(input) -> Tensor:
    return nonzero(input)


def unique(input, sorted: bool = True, return_inverse: bool = False,
           return_counts: bool = False, dim=None) -> Tensor | tuple[Tensor, ...]:
    """The sorted distinct values of `input` (flattened, or distinct slices along `dim`), with
    each element's position among them (return_inverse) and their counts (return_counts);
    NaNs are all distinct. The count depends on the values: tracing records it as `?`."""
    input = as_tensor_arg(input)
    dim = None if dim is None else normalize_dim(dim, input.ndim)
    out = [dispatch(Op.UNIQUE, input, result="values", dim=dim)]
    if return_inverse:
        out.append(dispatch(Op.UNIQUE, input, result="inverse", dim=dim))
    if return_counts:
        out.append(dispatch(Op.UNIQUE, input, result="counts", dim=dim))
    return out[0] if len(out) == 1 else tuple(out)


def searchsorted(sorted_sequence, input, *, out_int32: bool = False, right: bool = False,
                 side=None, sorter=None) -> Tensor:
    """Where `input`'s values would go in the sorted innermost dim of `sorted_sequence`."""
    seq = as_tensor_arg(sorted_sequence, "sorted_sequence")
    if side not in (None, "left", "right"):
        raise RuntimeError(f"torch.searchsorted(): side can only be 'left' or 'right' but got "
                           f"{side!r}")
    if side is not None and right and side == "left":
        raise RuntimeError("torch.searchsorted(): side and right can't be set to opposites, "
                           "got side of left while right was True")
    if sorter is not None:
        seq = gather(seq, -1, as_tensor_arg(sorter, "sorter"))
    out = dispatch(Op.SEARCHSORTED, seq, input, right=bool(right or side == "right"))
    return to_dtype(out, DType.int32) if out_int32 else out


def bucketize(input, boundaries, *, out_int32: bool = False, right: bool = False) -> Tensor:
    boundaries = as_tensor_arg(boundaries, "boundaries")
    if boundaries.ndim != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got dim({boundaries.ndim})")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


# --- sampling -----------------------------------------------------------------------------------

def multinomial(input, num_samples: int, replacement: bool = False, *, generator=None) -> Tensor:
    """Category indices drawn from the rows of `input` (non-negative weights)."""
    from tracejit.generator import using_generator

    input = as_tensor_arg(input)
    with using_generator(generator):
        return dispatch(Op.MULTINOMIAL, input, num_samples=int(num_samples),
                        replacement=bool(replacement))


def bernoulli(input, p=None, *, generator=None) -> Tensor:
    """1 with probability `input` (or `p`), else 0, in input's (floating-point) dtype."""
    from tracejit.generator import using_generator

    input = as_tensor_arg(input)
    if not input.dtype.is_floating_point:
        raise RuntimeError(f'"bernoulli_tensor_cpu_p_" not implemented for '
                           f"'{input.dtype.value}'; pass a floating-point probability tensor")
    with using_generator(generator):
        u = dispatch(Op.RAND, shape=tuple(input.shape), dtype=input.dtype)
    return to_dtype(u < (input if p is None else p), input.dtype)


def normal(mean, std=1.0, size=None, *, generator=None, dtype=None) -> Tensor:
    """Samples of N(mean, std^2): elementwise for tensor mean/std (broadcast), or `size` of them
    for two numbers."""
    from tracejit.generator import using_generator

    tensors = [t for t in (mean, std) if isinstance(t, _T())]
    if not tensors and size is None:
        raise TypeError("normal() with a number mean and std needs a size (normal(0.0, 1.0, "
                        "(2, 3))), or pass mean or std as a Tensor")
    if is_number(std) and std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    if tensors:
        from tracejit.ir.shape_rules import broadcast_shapes

        shape = broadcast_shapes(*(t.shape for t in tensors))
        dtype = result_type(*tensors)
        if not dtype.is_floating_point:
            raise RuntimeError(f"normal expects floating-point mean and std, got {dtype.value}")
    else:
        shape, dtype = size_args((size,)), dtype or get_default_dtype()
    with using_generator(generator):
        noise = dispatch(Op.RANDN, shape=tuple(shape), dtype=dtype)
    return noise * std + mean


__all__ = [
    "argsort", "argwhere", "bernoulli", "bucketize", "count_nonzero", "cummax", "cummin",
    "cumprod", "diff", "flip", "fliplr", "flipud", "index_add", "index_copy", "index_fill",
    "index_select", "masked_scatter", "msort", "multinomial", "nonzero", "normal", "roll",
    "rot90", "scatter", "scatter_add", "scatter_reduce", "searchsorted", "sort",
    "take_along_dim", "topk", "unique",
]
