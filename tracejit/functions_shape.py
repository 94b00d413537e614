"""torch's shape helpers as composites of movement ops: broadcast_to, tile, movedim, ravel,
select, tensor_split and h/v/dsplit, h/v/d/column_stack, atleast_nd, masked_select,
cartesian_prod, block_diag, tril_indices/triu_indices."""

from __future__ import annotations

import builtins
import itertools
from typing import TYPE_CHECKING

import numpy as np

from tracejit.dispatch import dispatch, result_type, to_dtype
from tracejit.functions import (
    _slice_dim,
    as_tensor_arg,
    c_order,
    cat,
    expand,
    normalize_dim,
    permute,
    repeat,
    reshape,
    size_args,
    stack,
)
from tracejit.ir import DType, Op

if TYPE_CHECKING:
    from tracejit.tensor import Tensor


def broadcast_to(input, size) -> Tensor:
    """expand to `size` (-1 keeps a dim)."""
    return expand(input, *size_args((size,)))


def tile(input, dims) -> Tensor:
    """repeat, with missing leading dims of `dims` taken as 1."""
    input = as_tensor_arg(input)
    dims = size_args((dims,))
    if len(dims) < input.ndim:
        dims = (1,) * (input.ndim - len(dims)) + dims
    return repeat(input, *dims)


def movedim(input, source, destination) -> Tensor:
    """Move dims `source` to positions `destination`, the others keeping their order."""
    input = as_tensor_arg(input)
    src = [source] if isinstance(source, int) else list(source)
    dst = [destination] if isinstance(destination, int) else list(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({src} dims) "
                           f"should contain the same number of dims as destination ({dst} dims)")
    src = [normalize_dim(d, input.ndim) for d in src]
    dst = [normalize_dim(d, input.ndim) for d in dst]
    order = [None] * input.ndim
    for s, d in zip(src, dst):
        order[d] = s
    rest = iter(d for d in range(input.ndim) if d not in src)
    order = [next(rest) if o is None else o for o in order]
    return input if order == list(range(input.ndim)) else permute(input, order)


moveaxis = movedim


def ravel(input) -> Tensor:
    return reshape(input, -1)


def select(input, dim, index) -> Tensor:
    """input[..., index, ...] at `dim` (that dim removed)."""
    input = as_tensor_arg(input)
    dim = normalize_dim(dim, input.ndim)
    return input[(slice(None),) * dim + (index,)]


def tensor_split(input, indices_or_sections, dim: int = 0) -> tuple[Tensor, ...]:
    """Split into n nearly equal parts (the first size % n one longer) or at the indices."""
    input = as_tensor_arg(input)
    dim = normalize_dim(dim, input.ndim)
    size = input.shape[dim]
    if isinstance(indices_or_sections, int):
        n = indices_or_sections
        if n <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {n}")
        base, extra = divmod(size, n)
        bounds, start = [], 0
        for i in range(n):
            stop = start + base + (i < extra)
            bounds.append((start, stop))
            start = stop
    else:
        cuts = [0, *(int(i) for i in indices_or_sections), size]
        bounds = []
        for a, b in itertools.pairwise(cuts):  # slice semantics: negative counts from the end
            start, stop, _ = slice(a, b).indices(size)
            bounds.append((start, builtins.max(start, stop)))
    return tuple(_slice_dim(input, dim, a, b) for a, b in bounds)


def _split_at(name: str, input, sections, dim: int, min_ndim: int):
    if input.ndim < min_ndim:
        raise RuntimeError(f"torch.{name} requires a tensor with at least {min_ndim} "
                           f"dimension, but got a tensor with {input.ndim} dimensions!")
    if isinstance(sections, int) and input.shape[dim] % sections:
        raise RuntimeError(f"torch.{name} attempted to split along dimension {dim}, but the "
                           f"size of the dimension {input.shape[dim]} is not divisible by the "
                           f"split_size {sections}!")
    return tensor_split(input, sections, dim)


def hsplit(input, sections) -> tuple[Tensor, ...]:
    return _split_at("hsplit", input, sections, 1 if input.ndim > 1 else 0, 1)


def vsplit(input, sections) -> tuple[Tensor, ...]:
    return _split_at("vsplit", input, sections, 0, 2)


def dsplit(input, sections) -> tuple[Tensor, ...]:
    return _split_at("dsplit", input, sections, 2, 3)


def atleast_1d(*tensors) -> Tensor | tuple[Tensor, ...]:
    return _atleast(tensors, lambda t: reshape(t, 1) if t.ndim == 0 else t)


def atleast_2d(*tensors) -> Tensor | tuple[Tensor, ...]:
    return _atleast(tensors, lambda t: reshape(t, (1,) * (2 - t.ndim) + tuple(t.shape))
                    if t.ndim < 2 else t)


def atleast_3d(*tensors) -> Tensor | tuple[Tensor, ...]:
    def grow(t):
        if t.ndim == 0:
            return reshape(t, 1, 1, 1)
        if t.ndim == 1:
            return reshape(t, 1, t.shape[0], 1)
        return t.unsqueeze(-1) if t.ndim == 2 else t

    return _atleast(tensors, grow)


def _atleast(tensors, grow):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        return tuple(grow(as_tensor_arg(t)) for t in tensors[0])
    out = tuple(grow(as_tensor_arg(t)) for t in tensors)
    return out[0] if len(out) == 1 else out


def hstack(tensors) -> Tensor:
    tensors = atleast_1d(list(tensors))
    return cat(list(tensors), 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors) -> Tensor:
    return cat(list(atleast_2d(list(tensors))), 0)


row_stack = vstack


def dstack(tensors) -> Tensor:
    return cat(list(atleast_3d(list(tensors))), 2)


def column_stack(tensors) -> Tensor:
    columns = [reshape(t, -1, 1) if t.ndim <= 1 else t for t in map(as_tensor_arg, tensors)]
    return cat(columns, 1)


def masked_select(input, mask) -> Tensor:
    """The elements of input where mask (broadcast together) is True, as a 1-D tensor."""
    input, mask = as_tensor_arg(input), as_tensor_arg(mask, "mask")
    if mask.dtype is not DType.bool:
        raise RuntimeError(f"masked_select: expected BoolTensor for mask, got "
                           f"{mask.dtype.value}")
    from tracejit.functions import broadcast_tensors

    input, mask = broadcast_tensors(input, mask)
    return input[mask]


def cartesian_prod(*tensors) -> Tensor:
    """Every combination of the 1-D inputs' elements, one per row."""
    from tracejit.functions_extra import meshgrid

    if len(tensors) == 1:
        return as_tensor_arg(tensors[0])
    grids = meshgrid(*tensors, indexing="ij")
    return stack([reshape(g, -1) for g in grids], 1)


def block_diag(*tensors) -> Tensor:
    """A block-diagonal matrix of the 0-, 1- or 2-D inputs (a 1-D input is one row)."""
    mats = [reshape(t, 1, 1) if t.ndim == 0 else reshape(t, 1, -1) if t.ndim == 1 else t
            for t in map(as_tensor_arg, tensors)]
    if builtins.any(m.ndim != 2 for m in mats):
        raise RuntimeError("torch.block_diag: Input tensors must have 2 or fewer dimensions")
    if not mats:
        return dispatch(Op.FULL, shape=(1, 0), value=0, dtype=DType.float32)
    dtype = result_type(*mats)
    width = builtins.sum(m.shape[1] for m in mats)
    rows, left = [], 0
    for m in mats:
        right = width - left - m.shape[1]
        parts = [_zeros(m.shape[0], left, dtype), to_dtype(m, dtype),
                 _zeros(m.shape[0], right, dtype)]
        rows.append(cat(parts, 1))
        left += m.shape[1]
    return cat(rows, 0)


def _zeros(rows, cols, dtype):
    return dispatch(Op.FULL, shape=(rows, cols), value=0, dtype=dtype)


def take(input, index) -> Tensor:
    """input's elements at `index` into its flattened form, in index's shape."""
    return reshape(as_tensor_arg(input), -1)[index]


def index_put(input, indices, values, accumulate: bool = False) -> Tensor:
    """A copy of input with input[indices] = values (accumulate=True: repeated indices add)."""
    out = as_tensor_arg(input).clone()
    return index_put_(out, indices, values, accumulate)


def index_put_(input, indices, values, accumulate: bool = False) -> Tensor:
    """input[indices] = values in place (or += with accumulate, repeated indices adding up);
    indices is a tuple of index tensors."""
    from tracejit.indexing import setitem

    setitem(input, tuple(indices), values, accumulate=accumulate)
    return input


def unfold(input, dimension: int, size: int, step: int) -> Tensor:
    """Every window of `size` elements along `dimension`, `step` apart: that dim becomes the
    window count and a last dim of `size` is added (one gather)."""
    input = as_tensor_arg(input)
    dim = normalize_dim(dimension, input.ndim)
    length = input.shape[dim] if input.ndim else 1
    if size > length:
        raise RuntimeError(f"maximum size for tensor at dimension {dim} is {length} but size "
                           f"is {size}")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    n = (length - size) // step + 1
    from tracejit.creation import tensor

    index = tensor(np.arange(n)[:, None] * step + np.arange(size)[None, :])
    if input.ndim == 0:
        return reshape(input, 1)
    if size == 1:  # every step-th element: a view, as torch's
        return input[(slice(None),) * dim + (slice(0, None, step),)].unsqueeze(-1)
    if step >= size and n * step <= length:  # windows that do not overlap: a view, as torch's
        head = input[(slice(None),) * dim + (slice(0, n * step),)]
        split = reshape(head, (*input.shape[:dim], n, step, *input.shape[dim + 1:]))
        return movedim(split[(slice(None),) * (dim + 1) + (slice(0, size),)], dim + 1, -1)
    windows = input[(slice(None),) * dim + (index,)]
    return movedim(windows, dim + 1, -1)


def sum_to_size(input, *size) -> Tensor:
    """Sum input down to `size` (which input broadcasts from)."""
    input = as_tensor_arg(input)
    size = size_args(size)
    lead = input.ndim - len(size)
    if lead < 0:
        raise RuntimeError(f"size {list(size)} is not expandable to size {list(input.shape)}")
    dims = list(range(lead)) + [lead + i for i, s in enumerate(size)
                                if s == 1 and input.shape[lead + i] != 1]
    from tracejit.functions import sum as sum_

    out = sum_(input, dims, True) if dims else input
    return reshape(out, size)


def fill_diagonal_(input, fill_value, wrap: bool = False) -> Tensor:
    """Set the main diagonal (every dim of equal size, or a tall matrix's first square part,
    repeating every n+1 rows with wrap=True) to fill_value, in place."""
    input = as_tensor_arg(input)
    if input.ndim < 2:
        raise RuntimeError("dimensions must larger than 1")
    if input.ndim > 2 and len(set(input.shape)) != 1:
        raise RuntimeError("all dimensions of input must be of equal length")
    mask = np.zeros(input.shape, dtype=bool)
    n = builtins.min(input.shape)
    if input.ndim == 2:
        rows, cols = input.shape
        step = cols + 1
        flat = np.arange(0, rows * cols if wrap else builtins.min(rows, cols) * cols, step)
        mask.reshape(-1)[flat] = True
    else:
        mask[(np.arange(n),) * input.ndim] = True
    from tracejit.creation import tensor
    from tracejit.dispatch import assign

    filled = input.masked_fill(tensor(mask), fill_value)
    return assign(input, filled, "fill_diagonal_")


def narrow_copy(input, dim, start, length) -> Tensor:
    return c_order(as_tensor_arg(input).narrow(dim, start, length).clone())


def split_with_sizes(input, split_sizes, dim: int = 0) -> tuple[Tensor, ...]:
    return as_tensor_arg(input).split(list(split_sizes), dim)


def tril_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None,
                 layout=None) -> Tensor:
    """The (2, n) row and column indices of the lower triangle, row by row."""
    return _indices(np.tril_indices(row, offset, col), dtype)


def triu_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None,
                 layout=None) -> Tensor:
    """The (2, n) row and column indices of the upper triangle, row by row."""
    return _indices(np.triu_indices(row, offset, col), dtype)


def _indices(pair, dtype):
    from tracejit.creation import tensor

    return tensor(np.stack(pair).astype(np.int64).reshape(2, -1), dtype=dtype or DType.int64)


__all__ = [
    "atleast_1d",
    "atleast_2d",
    "atleast_3d",
    "block_diag",
    "broadcast_to",
    "cartesian_prod",
    "column_stack",
    "dsplit",
    "dstack",
    "hsplit",
    "hstack",
    "index_put",
    "index_put_",
    "masked_select",
    "moveaxis",
    "movedim",
    "narrow_copy",
    "ravel",
    "row_stack",
    "select",
    "split_with_sizes",
    "take",
    "tensor_split",
    "tile",
    "tril_indices",
    "triu_indices",
    "vsplit",
    "vstack",
]

# also Tensor methods
METHODS = ("broadcast_to", "dsplit", "hsplit", "masked_select", "moveaxis", "movedim", "ravel",
           "select", "tensor_split", "tile", "vsplit")
