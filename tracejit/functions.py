"""torch's tensor functions: thin wrappers over `dispatch` and composites built from primitives.

Each function here is both `tracejit.<name>(input, ...)` and the Tensor method `<name>`.
Composites (var, norm, logsumexp, split, repeat, ...) dispatch only primitives, so capture
records what they are made of. The reductions live in functions_reduce.py, re-exported here.
"""

from __future__ import annotations

import builtins
import math
from collections import namedtuple
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from tracejit.dispatch import (
    assign,
    check_fits,
    check_operands,
    dispatch,
    get_default_dtype,
    is_number,
    result_type,
    to_dtype,
)
from tracejit.ir import DType, Op

if TYPE_CHECKING:
    from tracejit.tensor import Tensor

_py_max, _py_min, _py_sum, _py_any = builtins.max, builtins.min, builtins.sum, builtins.any

# torch.return_types.max / min: named (values, indices) pairs.
max_result = namedtuple("max", ["values", "indices"])
min_result = namedtuple("min", ["values", "indices"])


def _T():
    from tracejit.tensor import Tensor  # tensor.py imports this module: resolve at call time

    return Tensor


def as_tensor_arg(x, name: str = "input"):
    if isinstance(x, _T()):
        return x
    if isinstance(x, np.ndarray):
        return _T()._from_array(x)
    raise TypeError(f"{name} must be a Tensor, got {type(x).__name__}")


def c_order(t):
    """`t`, a fresh result torch allocates contiguous that a composite built as a view of an
    intermediate, with its eager values laid out in C order (graphs hold values, not layouts),
    so a following .view() works as in torch."""
    if not t._data.flags.c_contiguous:
        t._data = np.asarray(t._data, order="C")  # (np.ascontiguousarray makes 0-d 1-d)
    return t


def contiguous_result(fn):
    """Decorates a composite whose result torch allocates contiguous (see c_order)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return c_order(fn(*args, **kwargs))

    return wrapper


# --- argument normalization ---------------------------------------------------------------------

def normalize_dim(dim, ndim: int) -> int:
    """A dim in [-ndim, ndim) as a non-negative int (0-d tensors accept 0 and -1)."""
    if isinstance(dim, bool):
        raise TypeError(f"dim must be an int, not bool ({dim})")
    dim = int(dim)
    lo, hi = (-1, 0) if ndim == 0 else (-ndim, ndim - 1)
    if not lo <= dim <= hi:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{lo}, {hi}], but got {dim})"
        )
    return dim % ndim if ndim else 0


def normalize_dims(dim, ndim: int) -> tuple[int, ...]:
    """None or () means every dim; an int or a sequence of ints otherwise."""
    if dim is None or (isinstance(dim, (tuple, list)) and not dim):
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    out = tuple(normalize_dim(d, ndim) for d in dims)
    if len(set(out)) != len(out):
        repeated = next(d for d in out if out.count(d) > 1)
        raise RuntimeError(f"dim {repeated} appears multiple times in the list of dims")
    return out if ndim else ()


def size_args(args) -> tuple[int, ...]:
    """zeros(2, 3), zeros((2, 3)), zeros([2, 3]) and zeros(Size) all mean (2, 3)."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    try:
        return tuple(int(a.__index__()) for a in args)
    except AttributeError:
        bad = next(a for a in args if not hasattr(a, "__index__"))
        raise TypeError(f"size must be a tuple of ints, got an element of type "
                        f"{type(bad).__name__} ({bad!r})") from None


def scaled(op: Op, input, other, alpha):
    """`other * alpha` for add/sub(..., alpha=): computed in the dtype input and other promote
    to, since torch does not let alpha take part in type promotion."""
    if alpha is True or (alpha == 1 and not isinstance(alpha, bool)):
        return other
    check_operands(op, input, other)
    dtype = result_type(input, other)
    if isinstance(alpha, float) and not dtype.is_floating_point:
        raise RuntimeError(
            "For integral input tensors, argument alpha must not be a floating point number."
        )
    if isinstance(alpha, bool) and dtype is not DType.bool:
        raise RuntimeError("Boolean alpha only supported for Boolean results.")
    return dispatch(Op.MUL, to_dtype(other, dtype), to_dtype(alpha, dtype))


def division_op(rounding_mode) -> Op:
    ops = {None: Op.DIV, "trunc": Op.TRUNC_DIV, "floor": Op.FLOOR_DIV}
    if rounding_mode not in ops:
        raise ValueError(
            f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
            f"'{rounding_mode}'"
        )
    return ops[rounding_mode]


def parse_to_args(t, args, kwargs):
    """(dtype or None, copy) from the many forms of Tensor.to(...)."""
    from tracejit.dtypes import refuse_unsupported
    from tracejit.tensor import check_device

    dtype, copy = kwargs.pop("dtype", None), kwargs.pop("copy", False)
    check_device(kwargs.pop("device", None))
    kwargs.pop("non_blocking", None)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    refuse_unsupported(dtype)
    for a in args:
        refuse_unsupported(a)
        if isinstance(a, DType):
            dtype = a
        elif isinstance(a, _T()):
            dtype = a.dtype
        elif isinstance(a, bool):
            continue
        else:
            check_device(a)
    return dtype, copy


# set by tracejit.set_printoptions (torch's names and defaults)
PRINT_OPTIONS = {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80,
                 "sci_mode": None}


def tensor_repr(t) -> str:
    """torch's layout: 4 decimals (none when every value is integral), dtype when not default."""
    data = t._data
    if data.size == 0:  # torch: the size unless 1-D, the dtype unless the default float
        body = "tensor([]" + (f", size={tuple(data.shape)}" if data.ndim != 1 else "")
        if t.dtype is not get_default_dtype():
            return body + f", dtype={t.dtype!r})"
    else:
        opts = PRINT_OPTIONS
        formatter = {"bool": lambda b: "True" if b else "False"}
        if opts["sci_mode"]:
            formatter["float_kind"] = lambda v: f"{v:.{opts['precision']}e}"
        body = "tensor(" + np.array2string(
            data, separator=", ", prefix="tensor(", threshold=opts["threshold"],
            edgeitems=opts["edgeitems"], max_line_width=opts["linewidth"] + 1,
            precision=opts["precision"], floatmode=_float_mode(data), formatter=formatter,
        )
    default = t.dtype in (get_default_dtype(), DType.int64, DType.bool)
    return body + ("" if default else f", dtype={t.dtype!r}") + ")"


def _float_mode(data: np.ndarray) -> str:
    if data.dtype.kind != "f":
        return "maxprec"
    finite = data[np.isfinite(data)]
    return "maxprec" if np.all(finite == np.round(finite)) else "fixed"


# --- elementwise composites ---------------------------------------------------------------------

def clamp(input, min=None, max=None) -> Tensor:
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    bounds = [v for v in (min, max) if v is not None]
    if result_type(input, *bounds) is DType.bool and _py_any(is_number(v) for v in bounds):
        raise RuntimeError("clamp: a bool tensor cannot be clamped to Python scalars")
    out = input
    # bound first: numpy's maximum/minimum return their second operand on a tie, and torch's
    # clamp keeps x there (clamp(-0.0, min=0.0) is -0.0)
    if min is not None:
        out = dispatch(Op.MAXIMUM, min, out)
    if max is not None:
        out = dispatch(Op.MINIMUM, max, out)
    return clamp_gradient(input, out, min, max, inclusive=True)


def clamp_gradient(input, out, min, max, inclusive: bool) -> Tensor:
    """`out` (input clamped to [min, max]) with torch's gradients at the bounds: the whole
    gradient flows to input where it lies inside them, bounds included for clamp
    (`inclusive`), not for hardtanh, relu6 and hardsigmoid (maximum/minimum would split a
    tie's gradient); a bound that requires grad gets it where it won (torch's
    clamp_backward_min_max: min where input < min < max, max where input > max or max < min)."""
    from tracejit.autograd import is_grad_enabled

    grads = [isinstance(b, Tensor) and b.requires_grad for b in (min, max)]
    if not is_grad_enabled() or not (
            (isinstance(input, Tensor) and input.requires_grad) or _py_any(grads)):
        return out
    inside = None
    for bound, above in ((min, True), (max, False)):
        if bound is None:
            continue
        if inclusive:
            ok = input >= bound if above else input <= bound
        else:
            ok = input > bound if above else input < bound
        inside = ok if inside is None else inside & ok
    value = out.detach()
    if grads[1]:
        wins = input > max
        if min is not None:
            wins = wins | (max < min)
        value = where(wins, to_dtype(max, out.dtype), value)
    if grads[0]:
        wins = input < min
        if max is not None:
            wins = wins & (min < max)
        value = where(wins, to_dtype(min, out.dtype), value)
    return where(inside, to_dtype(input, out.dtype), value)

def _as_bool(x, name: str):
    return to_dtype(as_tensor_arg(x, name), DType.bool)


def logical_and(input, other) -> Tensor:
    return dispatch(Op.BITWISE_AND, _as_bool(input, "input"), _as_bool(other, "other"))


def logical_or(input, other) -> Tensor:
    return dispatch(Op.BITWISE_OR, _as_bool(input, "input"), _as_bool(other, "other"))


def logical_xor(input, other) -> Tensor:
    return dispatch(Op.BITWISE_XOR, _as_bool(input, "input"), _as_bool(other, "other"))


def where(condition, input=None, other=None) -> Tensor | tuple[Tensor, ...]:
    if input is None and other is None:  # torch.where(condition): nonzero(as_tuple=True)
        from tracejit.functions_index import nonzero

        return nonzero(condition, as_tuple=True)
    condition = as_tensor_arg(condition, "condition")
    if condition.dtype is not DType.bool:
        raise RuntimeError(
            f"where expected condition to be a boolean tensor, but got a tensor with dtype "
            f"{condition.dtype.value}"
        )
    return dispatch(Op.WHERE, condition, input, other)


@contiguous_result
def masked_fill(input, mask, value) -> Tensor:
    mask = as_tensor_arg(mask, "mask")
    if mask.dtype is not DType.bool:
        raise RuntimeError(
            f"masked_fill only supports boolean masks, but got mask with dtype {mask.dtype.value}"
        )
    if isinstance(value, _T()) and value.ndim:
        raise RuntimeError(
            f"masked_fill only supports a 0-dimensional value tensor, but got tensor with "
            f"{value.ndim} dimension(s)."
        )
    return dispatch(Op.WHERE, mask, to_dtype(value, input.dtype, checked=True), input)


def fill_(input, value):
    if isinstance(value, _T()) and value.ndim == 0:
        # a graph operand, so a value the captured code computed is not baked in by item()
        filled = expand(to_dtype(value, input.dtype), *input.shape)
        return assign(input, filled, "fill_")
    value = _scalar(value)
    check_fits(value, input.dtype)
    check_float_fits(value, input.dtype)
    filled = dispatch(Op.FULL, shape=tuple(input.shape), value=value, dtype=input.dtype)
    return assign(input, filled, "fill_")  # one value: allowed into an expanded tensor


def copy_(input, src):
    src = src if isinstance(src, _T()) else as_tensor_arg(np.asarray(src), "src")
    if _open_into_fixed(src, input) or tuple(src.shape) != tuple(input.shape):
        src = expand(src, *input.shape)  # a `?` dim: each call checks it fits (1 or the size)
    return _assign_any(input, to_dtype(src, input.dtype))


def _open_into_fixed(src, input) -> bool:
    """Whether capture holds a dim of `src` as data-dependent (`?`) where `input`'s is fixed:
    the written value must take `input`'s exact type."""
    from tracejit.indexing import open_dims

    fixed = set(range(input.ndim)) - open_dims(input)
    lead = input.ndim - src.ndim
    return builtins.any(d + lead in fixed for d in open_dims(src))


def check_float_fits(value, dtype: DType) -> None:
    """torch's overflow check of a Python float stored into a tensor: NaN, inf or a value out
    of range for an integer dtype, a finite value beyond float32's range for float32."""
    if not isinstance(value, float):
        return
    if dtype.is_floating_point or dtype is DType.bool:
        fits = dtype is not DType.float32 or not math.isfinite(value) or (
            builtins.abs(value) <= float(np.finfo(np.float32).max))
    else:
        info = np.iinfo(dtype.np)
        fits = math.isfinite(value) and info.min <= value <= info.max
    if not fits:
        raise RuntimeError(f"value cannot be converted to type {dtype.value} without overflow: "
                           f"{value!r}")


def _assign_any(target, value):
    """In-place write that, like copy_ and fill_, converts to any dtype."""
    return assign(target, value, "copy_")


def _scalar(value):
    if isinstance(value, _T()):
        if value.ndim:
            raise RuntimeError(
                f"fill_ only supports 0-dimension value tensor but got tensor with "
                f"{value.ndim} dimensions."
            )
        return value.item()
    return value.item() if isinstance(value, np.generic) else value


# --- matmul -------------------------------------------------------------------------------------

def matmul(input, other) -> Tensor:
    input, other = as_tensor_arg(input), as_tensor_arg(other, "other")
    if input.dtype is not other.dtype:
        raise RuntimeError(
            f"expected m1 and m2 to have the same dtype, but got: {input.dtype.value} != "
            f"{other.dtype.value}"
        )
    return dispatch(Op.MATMUL, input, other)


def mm(input, mat2) -> Tensor:
    if input.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(
            f"mm: expected 2-D tensors, got {input.ndim}-D and {mat2.ndim}-D "
            f"(shapes {list(input.shape)} and {list(mat2.shape)})"
        )
    return matmul(input, mat2)


def bmm(input, mat2) -> Tensor:
    if input.ndim != 3 or mat2.ndim != 3:
        raise RuntimeError(
            f"bmm: expected 3-D tensors, got {input.ndim}-D and {mat2.ndim}-D "
            f"(shapes {list(input.shape)} and {list(mat2.shape)})"
        )
    if input.shape[0] != mat2.shape[0]:
        raise RuntimeError(
            f"bmm: batch sizes differ: {list(input.shape)} and {list(mat2.shape)}"
        )
    return matmul(input, mat2)


# --- movement -----------------------------------------------------------------------------------

def _resolve_shape(shape: Sequence[int], input_shape, what: str = "shape") -> tuple[int, ...]:
    shape = tuple(shape)
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    for k, d in enumerate(shape):
        if d < -1:
            raise RuntimeError(f"invalid shape dimension {d} at index {k} of shape "
                               f"{list(shape)}")
    if -1 in shape:
        known = math.prod(d for d in shape if d != -1)
        numel = math.prod(input_shape)
        if known == 0 and numel == 0:
            raise RuntimeError(f"cannot reshape tensor of 0 elements into shape {list(shape)} "
                               "because the unspecified dimension size -1 can be any value "
                               "and is ambiguous")
        if known == 0 or numel % known:
            raise RuntimeError(
                f"{what} '{list(shape)}' is invalid for input of size {numel} (input shape "
                f"{list(input_shape)})"
            )
        size = numel // known
        opened = [n for n in input_shape if type(n) is not int and isinstance(n, int)]
        if opened:  # a data-dependent dim under capture (trace_sizes.OpenDim): -1 stays open
            size = type(opened[0])(size)
        shape = tuple(size if d == -1 else d for d in shape)
    return shape


def reshape(input, *shape) -> Tensor:
    shape = _resolve_shape(size_args(shape), tuple(input.shape))
    return dispatch(Op.RESHAPE, input, shape=shape)


def view(input, *shape) -> Tensor:
    """reshape that never copies: raises where torch's view would."""
    if len(shape) == 1 and isinstance(shape[0], DType):
        raise NotImplementedError("view(dtype) (reinterpreting bits) is not supported")
    shape = _resolve_shape(size_args(shape), tuple(input.shape))
    if math.prod(shape) != input.numel():  # torch's message, before any stride question
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size "
                           f"{input.numel()}")
    try:
        np.reshape(input._data, shape, copy=False)
    except ValueError:
        raise RuntimeError(
            f"view size is not compatible with input tensor's size and stride (input shape "
            f"{list(input.shape)}, view shape {list(shape)}: at least one dimension spans "
            "across two contiguous subspaces). Use .reshape(...) instead."
        ) from None
    return dispatch(Op.RESHAPE, input, shape=shape)


def permute(input, *dims) -> Tensor:
    if not dims:
        raise TypeError('permute() missing 1 required positional arguments: "dims"')
    dims = size_args(dims)
    if len(dims) != input.ndim:
        raise RuntimeError(
            f"permute(): number of dims don't match in permute: the input has {input.ndim} dims "
            f"but {len(dims)} were given"
        )
    return dispatch(Op.PERMUTE, input, dims=tuple(normalize_dim(d, input.ndim) for d in dims))


def transpose(input, dim0, dim1) -> Tensor:
    if input.ndim == 0:
        normalize_dim(dim0, 0), normalize_dim(dim1, 0)
        return dispatch(Op.PERMUTE, input, dims=())
    d0, d1 = normalize_dim(dim0, input.ndim), normalize_dim(dim1, input.ndim)
    dims = list(range(input.ndim))
    dims[d0], dims[d1] = d1, d0
    return dispatch(Op.PERMUTE, input, dims=tuple(dims))


def t(input) -> Tensor:
    if input.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {input.ndim}D")
    return transpose(input, 0, -1) if input.ndim == 2 else input


def unsqueeze(input, dim) -> Tensor:
    d = normalize_dim(dim, input.ndim + 1)
    shape = list(input.shape)
    shape.insert(d, 1)
    return dispatch(Op.RESHAPE, input, shape=tuple(shape))


def squeeze(input, dim=None) -> Tensor:
    dims = (
        tuple(range(input.ndim)) if dim is None
        else normalize_dims(dim if isinstance(dim, (tuple, list)) else (dim,), input.ndim)
    )
    shape = tuple(s for i, s in enumerate(input.shape) if not (i in dims and s == 1))
    return dispatch(Op.RESHAPE, input, shape=shape)


def flatten(input, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    if input.ndim == 0:
        return dispatch(Op.RESHAPE, input, shape=(1,))
    s, e = normalize_dim(start_dim, input.ndim), normalize_dim(end_dim, input.ndim)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shape = input.shape
    new = (*shape[:s], math.prod(shape[s : e + 1]), *shape[e + 1 :])
    return dispatch(Op.RESHAPE, input, shape=new)


def unflatten(input, dim, sizes) -> Tensor:
    d = normalize_dim(dim, input.ndim)
    sizes = _resolve_shape(sizes, (input.shape[d],), "unflatten sizes")
    if math.prod(sizes) != input.shape[d]:
        raise RuntimeError(
            f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of dim "
            f"{dim} ({input.shape[d]}) in the input tensor"
        )
    shape = (*input.shape[:d], *sizes, *input.shape[d + 1 :])
    return dispatch(Op.RESHAPE, input, shape=shape)


def expand(input, *sizes) -> Tensor:
    sizes = size_args(sizes)
    lead = len(sizes) - input.ndim
    shape = tuple(
        (input.shape[i - lead] if i >= lead else -1) if s == -1 else s
        for i, s in enumerate(sizes)
    )
    if _py_any(s < 0 for s in shape):
        raise RuntimeError(
            f"expand: -1 is not allowed in a leading, non-existing dimension (sizes {list(sizes)})"
        )
    if shape == (1,) * lead + tuple(input.shape) and not _open_dims(input):
        # broadcasts nothing: a writable view, as torch's (capture writes back through it)
        return dispatch(Op.RESHAPE, input, shape=shape)
    return dispatch(Op.EXPAND, input, shape=shape)


def _open_dims(input):
    from tracejit.indexing import open_dims

    return open_dims(input)


def repeat(input, *sizes) -> Tensor:
    """torch's repeat (numpy's tile), as reshape + expand + reshape."""
    sizes = size_args(sizes)
    if len(sizes) < input.ndim:
        raise RuntimeError(
            "Number of dimensions of repeat dims can not be smaller than number of dimensions "
            "of tensor"
        )
    shape = (1,) * (len(sizes) - input.ndim) + tuple(input.shape)
    inter = tuple(x for s in shape for x in (1, s))
    target = tuple(x for r, s in zip(sizes, shape) for x in (r, s))
    x = dispatch(Op.RESHAPE, input, shape=inter)
    x = dispatch(Op.EXPAND, x, shape=target)
    out = dispatch(Op.RESHAPE, x, shape=tuple(r * s for r, s in zip(sizes, shape)))
    if np.may_share_memory(out._data, input._data):  # torch's repeat never returns a view
        out = dispatch(Op.COPY, out)
    return c_order(out)


def narrow(input, dim, start, length) -> Tensor:
    d = normalize_dim(dim, input.ndim)
    size = input.shape[d]
    if not -size <= start <= size:
        raise IndexError(
            f"start out of range (expected to be in range of [{-size}, {size}], but got {start})"
        )
    start = start + size if start < 0 else start
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    if start + length > size:
        raise RuntimeError(
            f"start ({start}) + length ({length}) exceeds dimension size ({size})."
        )
    return _slice_dim(input, d, start, start + length)


def _slice_dim(input, d, start, stop):
    starts = [0] * input.ndim
    stops = list(input.shape)
    starts[d], stops[d] = start, stop
    return dispatch(
        Op.SLICE, input, starts=tuple(starts), stops=tuple(stops), steps=(1,) * input.ndim
    )


def split(input, split_size_or_sections, dim: int = 0) -> tuple[Tensor, ...]:
    d = normalize_dim(dim, input.ndim)
    size = input.shape[d]
    if getattr(input, "_value", None) is not None:  # under capture: a `?` dim's size guarded
        _guard_open_split(input, d)
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0 and size:
            raise RuntimeError(f"split expects split_size be non-negative, but got {step}")
        sections = [_py_min(step, size - i) for i in range(0, size, step)] if size else [0]
    else:
        sections = list(split_size_or_sections)
        if _py_sum(sections) != size:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {size} (input tensor's "
                f"size at dimension {d}), but got split_sizes={sections}"
            )
    out, start = [], 0
    for n in sections:
        out.append(_slice_dim(input, d, start, start + n))
        start += n
    return tuple(out)


def _guard_open_split(input, d: int) -> None:
    """How many pieces a split of a data-dependent (`?`) dim gives depends on its size: the
    capture keeps this call's size, and a call with another size captures again."""
    from tracejit.dispatch import current_mode
    from tracejit.indexing import open_dims

    if d in open_dims(input):
        current_mode().guard_size(input, d)


def chunk(input, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    size = input.shape[normalize_dim(dim, input.ndim)]
    return split(input, _py_max(1, -(-size // chunks)), dim)


def cat(tensors, dim: int = 0) -> Tensor:
    """torch.cat, which skips 1-D empty tensors of shape (0,) (they still take part in type
    promotion) so that a running concatenation can start from an empty tensor."""
    tensors = [as_tensor_arg(t, "tensors") for t in tensors]
    if not tensors:
        raise ValueError("torch.cat(): expected a non-empty list of Tensors")
    kept = [t for t in tensors if tuple(t.shape) != (0,)] or tensors[:1]
    if len(kept) < len(tensors):
        dtype = result_type(*tensors)
        kept = [to_dtype(t, dtype) for t in kept]
    return dispatch(Op.CAT, *kept, dim=normalize_dim(dim, kept[0].ndim))


concat = concatenate = cat


def stack(tensors, dim: int = 0) -> Tensor:
    tensors = [as_tensor_arg(t, "tensors") for t in tensors]
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    for k, t in enumerate(tensors[1:], 1):
        if tuple(t.shape) != tuple(tensors[0].shape):
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(tensors[0].shape)} "
                f"at entry 0 and {list(t.shape)} at entry {k}"
            )
    d = normalize_dim(dim, tensors[0].ndim + 1)
    return cat([unsqueeze(t, d) for t in tensors], d)


def tril(input, diagonal: int = 0) -> Tensor:
    return dispatch(Op.TRIL, input, diagonal=diagonal)


def triu(input, diagonal: int = 0) -> Tensor:
    return dispatch(Op.TRIU, input, diagonal=diagonal)


def gather(input, dim, index) -> Tensor:
    return dispatch(Op.GATHER, input, index, dim=normalize_dim(dim, input.ndim))


def broadcast_tensors(*tensors) -> tuple[Tensor, ...]:
    from tracejit.ir.shape_rules import broadcast_shapes

    shape = broadcast_shapes(*(t.shape for t in tensors))
    return tuple(expand(t, *shape) for t in tensors)



# Tensor methods that torch also offers as functions: tracejit.exp(x) is x.exp().
_METHOD_FUNCTIONS = (
    "abs", "absolute", "add", "bitwise_and", "bitwise_not", "bitwise_or", "bitwise_xor", "ceil",
    "cos", "div", "divide", "eq", "erf", "exp", "expm1", "floor", "floor_divide", "ge", "gt",
    "isnan", "le", "lerp", "log", "log1p", "logical_not", "lt", "maximum", "minimum", "mul",
    "multiply", "ne", "neg", "negative", "pow", "reciprocal", "relu", "remainder", "round",
    "rsqrt", "sigmoid", "sign", "sin", "sqrt", "square", "sub", "subtract", "tanh",
    "true_divide", "trunc", "clamp_min", "clamp_max",
)


# Binary functions torch also accepts with a Python number first (torch.sub(1, x)): the scalar
# keeps its low promotion priority, so they call the unbound method with it as self.
_SCALAR_INPUT_FUNCTIONS = frozenset({
    "add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide", "floor_divide",
    "remainder", "pow", "bitwise_and", "bitwise_or", "bitwise_xor",
})


def _method_function(name: str) -> Callable[..., Tensor]:
    scalar_input = name in _SCALAR_INPUT_FUNCTIONS

    def function(input, *args, **kwargs) -> Tensor:
        if scalar_input and is_number(input) and args and isinstance(args[0], _T()):
            return getattr(_T(), name)(input, *args, **kwargs)
        return getattr(as_tensor_arg(input), name)(*args, **kwargs)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"tracejit.{name}(input, ...) is input.{name}(...)."
    return function


globals().update({name: _method_function(name) for name in _METHOD_FUNCTIONS})

__all__ = [*_METHOD_FUNCTIONS,
    "all", "amax", "amin", "any", "argmax", "argmin", "bmm", "broadcast_tensors", "cat", "chunk",
    "clamp", "concat", "concatenate", "cumsum", "expand", "flatten", "gather", "log_softmax",
    "logical_and", "logical_or", "logical_xor", "logsumexp", "masked_fill", "matmul", "max",
    "mean", "min", "mm", "narrow", "norm", "permute", "prod", "repeat", "reshape", "softmax",
    "split", "squeeze", "stack", "std", "sum", "t", "transpose", "tril", "triu", "unflatten",
    "unsqueeze", "var", "where", "clip", "swapaxes",
]

if TYPE_CHECKING:  # the functions made from Tensor methods above, named for type checkers
    (abs, absolute, add, bitwise_and, bitwise_not, bitwise_or, bitwise_xor, ceil, cos, div, divide,
     eq, erf, exp, expm1, floor, floor_divide, ge, gt, isnan, le, lerp, log, log1p, logical_not, lt,
     maximum, minimum, mul, multiply, ne, neg, negative, pow, reciprocal, relu, remainder, round,
     rsqrt, sigmoid, sign, sin, sqrt, square, sub, subtract, tanh, true_divide, trunc, clamp_min,
     clamp_max) = (_method_function(n) for n in _METHOD_FUNCTIONS)
    __all__ += ["abs", "absolute", "add", "bitwise_and", "bitwise_not", "bitwise_or", "bitwise_xor",
                "ceil", "clamp_max", "clamp_min", "cos", "div", "divide", "eq", "erf", "exp",
                "expm1", "floor", "floor_divide", "ge", "gt", "isnan", "le", "lerp", "log", "log1p",
                "logical_not", "lt", "maximum", "minimum", "mul", "multiply", "ne", "neg",
                "negative", "pow", "reciprocal", "relu", "remainder", "round", "rsqrt", "sigmoid",
                "sign", "sin", "sqrt", "square", "sub", "subtract", "tanh", "true_divide", "trunc"]
clip = clamp
swapaxes = transpose


# the reductions live in functions_reduce.py (kept below 800 lines); re-exported here
from tracejit.functions_reduce import (  # noqa: E402 (they use the helpers above)
    all,
    amax,
    amin,
    any,
    argmax,
    argmin,
    cumsum,
    log_softmax,
    logsumexp,
    max,
    mean,
    min,
    norm,
    prod,
    softmax,
    std,
    sum,
    var,
)

# torch also takes numpy's spellings: axis= for dim= and keepdims= for keepdim=
_NUMPY_KEYWORDS = {"axis": "dim", "keepdims": "keepdim"}


def _numpy_keywords(function):
    def accepting(*args, **kwargs):
        if kwargs and ("axis" in kwargs or "keepdims" in kwargs):
            kwargs = {_NUMPY_KEYWORDS.get(k, k): v for k, v in kwargs.items()}
        return function(*args, **kwargs)

    accepting.__name__ = accepting.__qualname__ = function.__name__
    accepting.__doc__ = function.__doc__
    accepting.__annotations__ = function.__annotations__  # typing.get_type_hints reads these
    accepting.__wrapped__ = function
    return accepting


for _name in ("all", "amax", "amin", "any", "argmax", "argmin", "cat", "chunk", "cumsum",
              "gather", "log_softmax", "logsumexp", "max", "mean", "min", "narrow", "norm",
              "prod", "softmax", "split", "squeeze", "stack", "std", "sum", "unsqueeze",
              "var"):
    globals()[_name] = _numpy_keywords(globals()[_name])
concat = concatenate = cat
