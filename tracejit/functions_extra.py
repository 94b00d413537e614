"""More of torch's functions, built from dispatched primitives: einsum, outer, meshgrid,
unbind, repeat_interleave, the add*mm family, mv, dot, tensordot, cdist, isclose/allclose/equal.

Everything here is a composite (permute, reshape, expand, mul, sum, matmul, where, ...), so
trace and script record the primitives and every backend runs them. torch.sparse is out of
scope: `spmm` is a dense matrix product.
"""

from __future__ import annotations

import builtins
import math
from typing import TYPE_CHECKING

import numpy as np

from tracejit.dispatch import concrete, dispatch, result_type, to_dtype
from tracejit.functions import (
    _T,
    as_tensor_arg,
    bmm,
    contiguous_result,
    expand,
    matmul,
    mm,
    normalize_dim,
    permute,
    reshape,
    sum,
    where,
)
from tracejit.ir import DType, Op

if TYPE_CHECKING:
    from tracejit.tensor import Tensor

_py_sum = builtins.sum


# --- einsum -------------------------------------------------------------------------------------

@contiguous_result
def einsum(equation: str, *operands) -> Tensor:
    """torch.einsum: any valid equation, with `...` and implicit output; contractions are
    matmuls, repeated indices within an operand take its diagonal."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    operands = [as_tensor_arg(t, "einsum operand") for t in operands]
    if not operands:
        raise RuntimeError("einsum(): must provide at least one operand")
    inputs, output = _parse_equation(equation.replace(" ", ""), operands)
    dtype = result_type(*operands)
    terms = [_prepare(to_dtype(t, dtype), labels) for t, labels in zip(operands, inputs)]
    sizes = _label_sizes(terms)
    for label in output:
        if label not in sizes:
            raise RuntimeError(
                f"einsum(): output subscript {label} does not appear in the equation for any "
                "input operand"
            )
    while len(terms) > 1:
        rest = [labels for _, labels in terms[2:]]
        keep = set(output).union(*rest)
        terms = [_contract(terms[0], terms[1], keep), *terms[2:]]
    tensor, labels = _sum_labels(terms[0], set(output))
    return _permute(tensor, [labels.index(label) for label in output])


_ELLIPSIS_LABELS = [chr(0x2460 + i) for i in range(64)]  # never valid subscripts


def _parse_equation(equation: str, operands) -> tuple[list[str], str]:
    """Input label strings (with `...` spelled out as private labels) and the output labels."""
    lhs, arrow, rhs = equation.partition("->")
    specs = lhs.split(",")
    if len(specs) != len(operands):
        raise RuntimeError(
            "einsum(): more operands were provided than specified in the equation"
            if len(operands) > len(specs) else
            "einsum(): fewer operands were provided than specified in the equation"
        )
    counts = [_ellipsis_dims(spec, t.ndim, i) for i, (spec, t) in enumerate(zip(specs, operands))]
    n_ellipsis = builtins.max(counts)
    # ellipsis dims are right-aligned: an operand with fewer of them takes the last labels
    inputs = [spec.replace("...", "".join(_ELLIPSIS_LABELS[n_ellipsis - n:n_ellipsis]))
              for spec, n in zip(specs, counts)]
    ell = "".join(_ELLIPSIS_LABELS[:n_ellipsis])
    if arrow:
        _check_subscripts(rhs.replace("...", ""), "output")
        output = rhs.replace("...", ell) if "..." in rhs else rhs
        if len(set(output)) != len(output):
            raise RuntimeError(f"einsum(): output subscript repeated in '{rhs}'")
    else:
        counts = {}
        for labels in inputs:
            for label in labels:
                counts[label] = counts.get(label, 0) + 1
        singles = sorted(k for k, c in counts.items() if c == 1 and k not in _ELLIPSIS_LABELS)
        output = ell + "".join(singles)
    return inputs, output


def _ellipsis_dims(spec: str, ndim: int, i: int) -> int:
    """How many dims of operand i its `...` stands for (0 without one)."""
    _check_subscripts(spec.replace("...", ""), f"operand {i}")
    named = len(spec.replace("...", ""))
    if spec.count("...") > 1:
        raise RuntimeError(f"einsum(): found more than one ellipsis ('...') for operand {i}")
    if "..." not in spec and named != ndim:
        raise RuntimeError(
            f"einsum(): the number of subscripts in the equation ({named}) does not match the "
            f"number of dimensions ({ndim}) for operand {i} and no ellipsis was given"
        )
    if named > ndim:
        raise RuntimeError(
            f"einsum(): the number of subscripts in the equation ({named}) is more than the "
            f"number of dimensions ({ndim}) for operand {i}"
        )
    return ndim - named


def _check_subscripts(spec: str, where_: str) -> None:
    for c in spec:
        if not c.isascii() or not c.isalpha():
            raise RuntimeError(
                f"einsum(): invalid subscript given at index {spec.index(c)} in the equation "
                f"for {where_}: '{c}' (subscripts must be letters in [a-zA-Z])"
            )


def _prepare(t, labels: str):
    """Take the diagonal of repeated labels (`ii->i`) so each label names one dim."""
    while len(set(labels)) != len(labels):
        label = next(c for c in labels if labels.count(c) > 1)
        first, second = labels.index(label), labels.index(label, labels.index(label) + 1)
        t = _diagonal(t, first, second)
        labels = labels[:second] + labels[second + 1:]
    return t, labels


def _diagonal(t, d0: int, d1: int):
    """t with dims d0 and d1 (d0 < d1, equal sizes) merged into d0 along their diagonal."""
    n = t.shape[d0]
    if t.shape[d1] != n:
        raise RuntimeError(
            f"einsum(): subscript repeated in an operand for dims of different sizes "
            f"({t.shape[d0]} and {t.shape[d1]})"
        )
    mask_shape = [1] * t.ndim
    mask_shape[d0] = mask_shape[d1] = n
    eye = dispatch(Op.EYE, n=n, m=n, dtype=DType.bool)
    eye = reshape(eye, *mask_shape)
    zero = dispatch(Op.FULL, shape=(), value=0, dtype=t.dtype)
    return sum(where(eye, t, zero), dim=d1)


def _label_sizes(terms) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for t, labels in terms:
        for label, size in zip(labels, t.shape):
            have = sizes.get(label, 1)
            if have != 1 and size not in (1, have):
                raise RuntimeError(
                    f"einsum(): operands do not broadcast with remapped shapes: subscript "
                    f"'{label}' has size {have} and {size}"
                )
            sizes[label] = builtins.max(have, size)
    return sizes


def _sum_labels(term, keep: set):
    """Sum out the dims whose labels are not in `keep`."""
    t, labels = term
    dims = [i for i, label in enumerate(labels) if label not in keep]
    if not dims:
        return t, labels
    return sum(t, dim=dims), "".join(c for c in labels if c in keep)


def _contract(a_term, b_term, keep: set):
    """One pairwise product as a (batched) matmul: [batch, a-only, k] @ [batch, k, b-only]."""
    a, la = _sum_labels(a_term, keep | set(b_term[1]))
    b, lb = _sum_labels(b_term, keep | set(la))
    batch = [c for c in la if c in lb and c in keep]
    contracted = [c for c in la if c in lb and c not in keep]
    a_only = [c for c in la if c not in lb]
    b_only = [c for c in lb if c not in la]
    for c in contracted:  # a size-1 dim against size n: sum the other side first
        sa, sb = a.shape[la.index(c)], b.shape[lb.index(c)]
        if sa != sb:
            if sa == 1:
                b = sum(b, dim=lb.index(c), keepdim=True)
            else:
                a = sum(a, dim=la.index(c), keepdim=True)
    a = _permute(a, [la.index(c) for c in batch + a_only + contracted])
    b = _permute(b, [lb.index(c) for c in batch + contracted + b_only])
    nb = len(batch)
    a_free = tuple(a.shape[nb:nb + len(a_only)])
    b_free = tuple(b.shape[nb + len(contracted):])
    k = math.prod(a.shape[nb + len(a_only):])
    a = reshape(a, (*a.shape[:nb], math.prod(a_free), k))
    b = reshape(b, (*b.shape[:nb], k, math.prod(b_free)))
    out = matmul(a, b)
    out = reshape(out, (*out.shape[:nb], *a_free, *b_free))
    return out, "".join(batch + a_only + b_only)


def _permute(t, dims: list[int]):
    return t if dims == sorted(dims) else permute(t, dims)


# --- products -----------------------------------------------------------------------------------

def _check_ndim(name: str, t, ndim: int, what: str = "input") -> None:
    if t.ndim != ndim:
        raise RuntimeError(f"{name}: expected {what} to be {ndim}-D, but got {t.ndim}-D "
                           f"(shape {list(t.shape)})")


def outer(input, vec2) -> Tensor:
    """The outer product of two 1-D tensors."""
    input, vec2 = as_tensor_arg(input), as_tensor_arg(vec2, "vec2")
    _check_ndim("outer", input, 1)
    _check_ndim("outer", vec2, 1, "vec2")
    return reshape(input, -1, 1) * reshape(vec2, 1, -1)


ger = outer


def dot(input, tensor) -> Tensor:
    """The inner product of two 1-D tensors of the same size and dtype."""
    input, tensor = as_tensor_arg(input), as_tensor_arg(tensor, "tensor")
    _check_ndim("dot", input, 1)
    _check_ndim("dot", tensor, 1, "tensor")
    if input.shape[0] != tensor.shape[0]:
        raise RuntimeError(
            f"inconsistent tensor size, expected tensor [{input.shape[0]}] and src "
            f"[{tensor.shape[0]}] to have the same number of elements, but got "
            f"{input.shape[0]} and {tensor.shape[0]} elements respectively"
        )
    return matmul(input, tensor)


def mv(input, vec) -> Tensor:
    """Matrix (n, m) times vector (m,)."""
    input, vec = as_tensor_arg(input), as_tensor_arg(vec, "vec")
    _check_ndim("mv", input, 2)
    _check_ndim("mv", vec, 1, "vec")
    return matmul(input, vec)


def _scaled_sum(input, product, beta, alpha):
    """beta * input + alpha * product; beta == 0 ignores input (nan and inf too), like torch."""
    product = product if alpha == 1 else product * alpha
    if beta == 0:
        return product
    input = input if beta == 1 else input * beta
    return input + product


def addmm(input, mat1, mat2, *, beta=1, alpha=1) -> Tensor:
    """beta * input + alpha * (mat1 @ mat2)."""
    return _scaled_sum(input, mm(mat1, mat2), beta, alpha)


def addmv(input, mat, vec, *, beta=1, alpha=1) -> Tensor:
    """beta * input + alpha * (mat @ vec)."""
    return _scaled_sum(input, mv(mat, vec), beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1) -> Tensor:
    """beta * input + alpha * bmm(batch1, batch2)."""
    return _scaled_sum(input, bmm(batch1, batch2), beta, alpha)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1) -> Tensor:
    """beta * input + alpha * sum over the batch of bmm(batch1, batch2)."""
    return _scaled_sum(input, sum(bmm(batch1, batch2), dim=0), beta, alpha)


def addr(input, vec1, vec2, *, beta=1, alpha=1) -> Tensor:
    """beta * input + alpha * outer(vec1, vec2)."""
    return _scaled_sum(input, outer(vec1, vec2), beta, alpha)


def spmm(input, mat2) -> Tensor:
    """A dense matrix product: torch.sparse is out of scope, so both operands are dense."""
    return mm(input, mat2)


def tensordot(a, b, dims=2) -> Tensor:
    """Contract the last `dims` dims of a with the first of b, or the listed dim pairs."""
    a, b = as_tensor_arg(a, "a"), as_tensor_arg(b, "b")
    if isinstance(dims, int) or (isinstance(dims, _T()) and dims.ndim == 0):
        n = int(dims)
        if n < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={n}")
        dims_a, dims_b = list(range(a.ndim - n, a.ndim)), list(range(n))
    else:
        dims_a, dims_b = ([d] if isinstance(d, int) else list(d) for d in dims)
    if len(dims_a) != len(dims_b):
        raise RuntimeError("both dimension lists should have same length")
    dims_a = [normalize_dim(d, a.ndim) for d in dims_a]
    dims_b = [normalize_dim(d, b.ndim) for d in dims_b]
    for da, db in zip(dims_a, dims_b):
        if a.shape[da] != b.shape[db]:
            raise RuntimeError(f"contracted dimensions need to match, but first has size "
                               f"{a.shape[da]} in dim {da} and second has size {b.shape[db]} "
                               f"in dim {db}")
    free_a = [d for d in range(a.ndim) if d not in dims_a]
    free_b = [d for d in range(b.ndim) if d not in dims_b]
    k = math.prod(a.shape[d] for d in dims_a)
    a2 = reshape(permute(a, *free_a, *dims_a), -1, k) if a.ndim else reshape(a, 1, 1)
    b2 = reshape(permute(b, *dims_b, *free_b), k, -1) if b.ndim else reshape(b, 1, 1)
    dtype = result_type(a, b)
    out = matmul(to_dtype(a2, dtype), to_dtype(b2, dtype))
    return reshape(out, *(a.shape[d] for d in free_a), *(b.shape[d] for d in free_b))


@contiguous_result
def cdist(x1, x2, p: float = 2.0, compute_mode=None) -> Tensor:
    """Pairwise p-norm distances between the rows of x1 (.., P, M) and x2 (.., R, M)."""
    x1, x2 = as_tensor_arg(x1, "x1"), as_tensor_arg(x2, "x2")
    if x1.ndim < 2 or x2.ndim < 2:
        raise RuntimeError("cdist only supports at least 2D tensors, X1 got: "
                           f"{x1.ndim}D, X2 got: {x2.ndim}D")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: "
                           f"{x1.shape[-1]} X2: {x2.shape[-1]}")
    if not x1.dtype.is_floating_point:
        raise RuntimeError(f"cdist only supports floating-point dtypes, X1 got: "
                           f"{x1.dtype.value}")
    diff = (x1.unsqueeze(-2) - x2.unsqueeze(-3)).abs()
    if p == 0:
        return sum(to_dtype(diff != 0, diff.dtype), dim=-1)
    if math.isinf(p):
        return diff.amax(dim=-1)
    if p == 1:
        return sum(diff, dim=-1)
    if p == 2:
        return sum(diff * diff, dim=-1).sqrt()
    return sum(diff ** p, dim=-1) ** (1.0 / p)


# --- splitting and grids ------------------------------------------------------------------------

def unbind(input, dim: int = 0) -> tuple[Tensor, ...]:
    """The slices of `input` along `dim`, as a tuple of tensors without that dim."""
    input = as_tensor_arg(input)
    dim = normalize_dim(dim, input.ndim)
    if input.ndim == 0:
        raise IndexError("Dimension specified as 0 but tensor has no dimensions")
    lead = (slice(None),) * dim
    return tuple(input[(*lead, i)] for i in range(input.shape[dim]))


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None) -> Tensor:
    """Repeat each element `repeats` times along `dim` (of the flattened input when None);
    `repeats` is an int or a 1-D tensor of per-element counts."""
    input = as_tensor_arg(input)
    if repeats is None:  # torch.repeat_interleave(counts): indices repeated by counts
        counts = concrete(input, "repeat_interleave(repeats)")
        return _index_tensor(np.repeat(np.arange(len(counts)), counts))
    if dim is None:
        input, dim = reshape(input, -1), 0
    dim = normalize_dim(dim, input.ndim)
    if isinstance(repeats, _T()) and repeats.numel() == 1:
        repeats = int(repeats.reshape(-1)[0])
    if isinstance(repeats, int):
        if repeats < 0:
            raise RuntimeError("repeats can not be negative")
        shape = list(input.shape)
        grown = expand(input.unsqueeze(dim + 1), *shape[:dim + 1], repeats, *shape[dim + 1:])
        return reshape(grown, (*shape[:dim], shape[dim] * repeats, *shape[dim + 1:]))
    counts = np.asarray(concrete(repeats, "repeat_interleave(repeats)") if isinstance(
        repeats, _T()) else repeats)
    if counts.ndim != 1 or len(counts) != input.shape[dim]:
        raise RuntimeError(f"repeats must have the same size as input along dim, but got "
                           f"repeats.size(0) = {counts.size} and input.size({dim}) = "
                           f"{input.shape[dim]}")
    index = _index_tensor(np.repeat(np.arange(len(counts)), counts))
    return input[(slice(None),) * dim + (index,)]


def _index_tensor(array):
    from tracejit.creation import tensor  # creation imports tensor.py, which imports this

    return tensor(array, dtype=DType.int64)


def meshgrid(*tensors, indexing: str | None = None) -> tuple[Tensor, ...]:
    """Coordinate grids from 1-D tensors; indexing 'ij' (matrix, the default) or 'xy'."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    indexing = indexing or "ij"
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f"torch.meshgrid: indexing must be one of \"xy\" or \"ij\", but "
                           f"received: {indexing}")
    tensors = [as_tensor_arg(t, "meshgrid input") for t in tensors]
    for t in tensors:
        if t.ndim > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list "
                               f"but got: {t.ndim}-D")
    if len({t.dtype for t in tensors}) > 1:
        raise RuntimeError("torch.meshgrid: expects all tensors to have the same dtype")
    tensors = [reshape(t, -1) for t in tensors]
    swap = indexing == "xy" and len(tensors) >= 2
    order = list(range(len(tensors)))
    if swap:
        order[0], order[1] = 1, 0  # output dim of each input
    shape = [0] * len(tensors)
    for i, t in enumerate(tensors):
        shape[order[i]] = t.shape[0]
    grids = []
    for i, t in enumerate(tensors):
        view = [1] * len(tensors)
        view[order[i]] = t.shape[0]
        grids.append(expand(reshape(t, *view), *shape))
    return tuple(grids)


# --- comparisons --------------------------------------------------------------------------------

def isclose(input, other, rtol: float = 1e-05, atol: float = 1e-08,
            equal_nan: bool = False) -> Tensor:
    """|input - other| <= atol + rtol * |other| elementwise; infinities must match exactly and
    NaNs are close only with equal_nan=True."""
    input, other = as_tensor_arg(input), as_tensor_arg(other, "other")
    if input.dtype is not other.dtype:
        raise RuntimeError(f"{input.dtype.value} did not match {other.dtype.value}: isclose "
                           "needs both arguments of one dtype (convert one with .to())")
    if rtol < 0 or atol < 0:
        raise RuntimeError(f"isclose: rtol ({rtol}) and atol ({atol}) must be non-negative")
    close = input == other
    if input.dtype is DType.bool:
        return close
    if equal_nan and input.dtype.is_floating_point:
        close = close | ((input != input) & (other != other))
    if not input.dtype.is_floating_point:
        from tracejit.dispatch import get_default_dtype

        input, other = to_dtype(input, get_default_dtype()), to_dtype(other, get_default_dtype())
    error = (input - other).abs()
    allowed = atol + rtol * other.abs()
    return close | ((error <= allowed) & (error != math.inf))


def allclose(input, other, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> bool:
    """Whether every element pair is close (see isclose), as a Python bool."""
    return builtins.bool(isclose(input, other, rtol, atol, equal_nan).all())


def equal(input, other) -> bool:
    """True when both tensors have the same shape and the same elements."""
    input, other = as_tensor_arg(input), as_tensor_arg(other, "other")
    if tuple(input.shape) != tuple(other.shape):
        return False
    return builtins.bool((input == other).all())


__all__ = [
    "addbmm", "addmm", "addmv", "addr", "allclose", "baddbmm", "cdist", "dot", "einsum", "equal",
    "ger", "isclose", "meshgrid", "mv", "outer", "repeat_interleave", "spmm", "tensordot", "unbind",
]

# Tensor methods torch offers for these (einsum, meshgrid, cdist and tensordot are functions only)
METHODS = (
    "addbmm", "addmm", "addmv", "allclose", "baddbmm", "dot", "equal", "ger", "isclose", "mv",
    "outer", "repeat_interleave", "unbind",
)
