"""Shape-and-dtype rules of the op table: `rule(types, attrs) -> tuple[TensorType, ...]`.

Operand dtypes reaching a rule are already promoted (the front end's dispatch and the verifier
both call `ops.infer_types`, which checks arity, attributes and dtypes first). Errors use the
exception types PyTorch raises and name the shapes, dims and dtypes involved.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from .types import DType, TensorType

Types = Sequence[TensorType]
Attrs = Mapping[str, Any]


def fmt_shape(shape) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def broadcast_shapes(*shapes: Sequence[int | None]) -> tuple[int | None, ...]:
    """numpy/torch broadcasting; None (data-dependent) dims broadcast like an unknown size."""
    if len(shapes) == 2:  # the common case, without the general loop
        a, b = shapes
        if a == b or not b:
            return tuple(a)
        if not a:
            return tuple(b)
    elif all(s == shapes[0] for s in shapes[1:]):
        return tuple(shapes[0]) if shapes else ()
    ndim = max((len(s) for s in shapes), default=0)
    out: list[int | None] = []
    for i in range(ndim):
        size: int | None = 1
        for k, s in enumerate(shapes):
            d = s[i - ndim + len(s)] if i - ndim + len(s) >= 0 else 1
            if d == 1 or d == size:
                continue
            if size == 1 or size is None or d is None:
                size = d if size in (1, None) else size
                continue
            first = next(j for j, t in enumerate(shapes) if _dim_at(t, i, ndim) == size)
            raise RuntimeError(
                f"The size of tensor {_letter(first)} ({size}) must match the size of tensor "
                f"{_letter(k)} ({d}) at non-singleton dimension {i} (shapes "
                f"{_and(fmt_shape(s) for s in shapes)})"
            )
        out.append(size)
    return tuple(out)


def _and(items) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _dim_at(shape, i, ndim):
    j = i - ndim + len(shape)
    return shape[j] if j >= 0 else 1


def _letter(k: int) -> str:
    return "abcdefgh"[k] if k < 8 else f"#{k}"


def check_dims(dims: Sequence[int], ndim: int, op: str) -> None:
    """Dims reaching the IR are normalized: unique and in [0, ndim) (or () on a 0-d tensor)."""
    for d in dims:
        if not 0 <= d < max(ndim, 1) or (ndim == 0 and d != 0):
            raise IndexError(f"{op}: dim {d} is out of range for a tensor of {ndim} dims")
    if len(set(dims)) != len(dims):
        raise RuntimeError(f"{op}: dim {tuple(dims)} appears multiple times in the list of dims")


def same_dtype(types: Types, op: str) -> DType:
    dtypes = {t.dtype for t in types}
    if len(dtypes) > 1:
        got = ", ".join(str(t) for t in types)
        raise RuntimeError(f"{op}: expected operands of one dtype, got {got}")
    return types[0].dtype


# --- elementwise ----------------------------------------------------------------------------

def elementwise(result: DType | None = None):
    """Operands of one dtype, broadcast together; the result keeps that dtype or is `result`."""

    def rule(types: Types, attrs: Attrs, op: str = "elementwise"):
        dtype = same_dtype(types, op)
        return (TensorType(result or dtype, broadcast_shapes(*(t.shape for t in types))),)

    return rule


def round_(types: Types, attrs: Attrs, op: str = "round"):
    if attrs["decimals"] and not types[0].dtype.is_floating_point:
        raise RuntimeError(
            f"round: decimals={attrs['decimals']} needs a floating-point tensor, got "
            f"{types[0].dtype.value} (round integers with decimals=0)"
        )
    return elementwise()(types, attrs, op)


def cast(types: Types, attrs: Attrs, op: str = "cast"):
    return (TensorType(attrs["dtype"], types[0].shape),)


def where(types: Types, attrs: Attrs, op: str = "where"):
    cond, a, b = types
    if cond.dtype is not DType.bool:
        raise RuntimeError(f"where: expected a bool condition, got a {cond.dtype.value} tensor")
    dtype = same_dtype((a, b), op)
    return (TensorType(dtype, broadcast_shapes(cond.shape, a.shape, b.shape)),)


# --- reductions and scans ---------------------------------------------------------------------

def _integers_to_int64(dtype: DType) -> DType:
    return dtype if dtype.is_floating_point else DType.int64


def reduction(result: str = "same", nonempty: bool = False):
    """Reduce `dims` (normalized) with `keepdim`. result: same | int64 | bool | widen."""

    def rule(types: Types, attrs: Attrs, op: str = "reduce"):
        (x,) = types
        dims, keepdim = attrs["dims"], attrs["keepdim"]
        check_dims(dims, x.ndim, op)
        if nonempty:
            for d in dims:
                if x.shape[d] == 0:
                    raise IndexError(
                        f"{op}(): Expected reduction dim {d} to have non-zero size "
                        f"(input shape {fmt_shape(x.shape)})"
                    )
        if keepdim:
            shape = tuple(1 if i in dims else s for i, s in enumerate(x.shape))
        else:
            shape = tuple(s for i, s in enumerate(x.shape) if i not in dims)
        return (TensorType(_result_dtype(result, x.dtype), shape),)

    return rule


def _result_dtype(result: str, dtype: DType) -> DType:
    return {
        "same": dtype,
        "int64": DType.int64,
        "bool": DType.uint8 if dtype is DType.uint8 else DType.bool,  # torch: all/any keep uint8
        "widen": _integers_to_int64(dtype),
    }[result]


def arg_reduction(types: Types, attrs: Attrs, op: str = "argmax"):
    (x,) = types
    dim, keepdim = attrs["dim"], attrs["keepdim"]
    if dim is None:
        if x.ndim and math.prod(x.shape) == 0:
            raise IndexError(
                f"{op}(): Expected reduction dim to be specified for input.numel() == 0."
            )
        shape = (1,) * x.ndim if keepdim else ()
        return (TensorType(DType.int64, shape),)
    dims = (dim,) if x.ndim else ()
    return reduction("int64", nonempty=True)(types, {"dims": dims, "keepdim": keepdim}, op)


def scan(types: Types, attrs: Attrs, op: str = "cumsum"):
    (x,) = types
    check_dims((attrs["dim"],), x.ndim, op)
    return (TensorType(_integers_to_int64(x.dtype), x.shape),)


def same_as_input(types: Types, attrs: Attrs, op: str = "op"):
    if "dim" in attrs:
        check_dims((attrs["dim"],), types[0].ndim, op)
    return (types[0],)


# --- matmul-like --------------------------------------------------------------------------------

def matmul(types: Types, attrs: Attrs, op: str = "matmul"):
    a, b = types
    dtype = same_dtype(types, op)
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(
            f"both arguments to matmul need to be at least 1D, but they are {a.ndim}D and {b.ndim}D"
        )
    sa = (1, *a.shape) if a.ndim == 1 else a.shape
    sb = (*b.shape, 1) if b.ndim == 1 else b.shape
    if sa[-1] != sb[-2]:
        if a.ndim == b.ndim == 2:
            raise RuntimeError(
                f"mat1 and mat2 shapes cannot be multiplied ({sa[-2]}x{sa[-1]} and "
                f"{sb[-2]}x{sb[-1]})"
            )
        raise RuntimeError(
            f"matmul: shapes {fmt_shape(a.shape)} and {fmt_shape(b.shape)} cannot be multiplied "
            f"(inner dimensions {sa[-1]} and {sb[-2]} differ)"
        )
    batch = broadcast_shapes(sa[:-2], sb[:-2])
    shape = (*batch, *(() if a.ndim == 1 else (sa[-2],)), *(() if b.ndim == 1 else (sb[-1],)))
    return (TensorType(dtype, shape),)


def linear(types: Types, attrs: Attrs, op: str = "linear"):
    x, w = types[0], types[1]
    dtype = same_dtype(types, op)
    if w.ndim != 2 or x.ndim == 0:
        raise RuntimeError(
            f"linear: expected a 2-D weight and an input of at least 1 dim, got input "
            f"{fmt_shape(x.shape)} and weight {fmt_shape(w.shape)}"
        )
    if x.shape[-1] != w.shape[1]:
        rows = math.prod(x.shape[:-1])
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({rows}x{x.shape[-1]} and "
            f"{w.shape[1]}x{w.shape[0]})"
        )
    if len(types) == 3 and types[2].shape not in ((w.shape[0],), (), (1,)):
        raise RuntimeError(
            f"linear: bias of shape {fmt_shape(types[2].shape)} does not match "
            f"{w.shape[0]} output features"
        )
    return (TensorType(dtype, (*x.shape[:-1], w.shape[0])),)


def conv2d(types: Types, attrs: Attrs, op: str = "conv2d"):
    from .window import conv2d_shape

    bias = types[2].shape if len(types) == 3 else None
    shape = conv2d_shape(types[0].shape, types[1].shape, bias, **attrs)
    return (TensorType(same_dtype(types, op), tuple(shape)),)


def pool2d(types: Types, attrs: Attrs, op: str = "pool2d"):
    from .window import pool2d_shape

    if attrs.get("divisor_override") == 0:
        raise RuntimeError("avg_pool2d: divisor_override must be non-zero, got 0")
    keys = ("kernel_size", "stride", "padding", "dilation", "ceil_mode")
    shape = pool2d_shape(types[0].shape, **{k: attrs.get(k, (1, 1)) for k in keys})
    return (TensorType(types[0].dtype, tuple(shape)),)


# --- normalization ----------------------------------------------------------------------------

def layer_norm(types: Types, attrs: Attrs, op: str = "layer_norm"):
    x, n = types[0], attrs["normalized_ndim"]
    dtype = same_dtype(types, op)
    norm_shape = x.shape[x.ndim - n :] if n else ()
    for t in types[1:]:
        if t.shape != norm_shape or n > x.ndim:
            raise RuntimeError(
                f"layer_norm: weight and bias of shape {fmt_shape(t.shape)} do not match "
                f"the normalized shape {fmt_shape(norm_shape)} of input {fmt_shape(x.shape)}"
            )
    return (TensorType(dtype, x.shape),)


# --- movement -----------------------------------------------------------------------------------

def reshape(types: Types, attrs: Attrs, op: str = "reshape"):
    (x,) = types
    shape = tuple(attrs["shape"])
    if -1 in shape:  # the dim a trace keeps open for a data-dependent size (see tracer.py)
        known = math.prod(d for d in shape if d != -1)
        size = None if None in x.shape or not known else math.prod(x.shape) // known
        shape = tuple(size if d == -1 else d for d in shape)
    if None not in x.shape and None not in shape and math.prod(x.shape) != math.prod(shape):
        raise RuntimeError(
            f"shape '{fmt_shape(shape)}' is invalid for input of size {math.prod(x.shape)} "
            f"(input shape {fmt_shape(x.shape)})"
        )
    return (TensorType(x.dtype, shape),)


def permute(types: Types, attrs: Attrs, op: str = "permute"):
    (x,) = types
    dims = tuple(attrs["dims"])
    if sorted(dims) != list(range(x.ndim)):
        raise RuntimeError(
            f"permute: dims {dims} are not a permutation of the {x.ndim} dims of a tensor of "
            f"shape {fmt_shape(x.shape)}"
        )
    return (TensorType(x.dtype, tuple(x.shape[d] for d in dims)),)


def expand(types: Types, attrs: Attrs, op: str = "expand"):
    (x,) = types
    shape = tuple(attrs["shape"])
    if len(shape) < x.ndim:
        raise RuntimeError(
            f"expand: the number of sizes provided ({len(shape)}) must be greater or equal to "
            f"the number of dimensions in the tensor ({x.ndim})"
        )
    lead = len(shape) - x.ndim
    for i, (have, want) in enumerate(zip(x.shape, shape[lead:])):
        if have != want and have != 1:
            raise RuntimeError(
                f"The expanded size of the tensor ({want}) must match the existing size "
                f"({'?' if have is None else have}) at non-singleton dimension {i + lead}.  "
                "Target sizes: "
                f"{fmt_shape(shape)}.  Tensor sizes: {fmt_shape(x.shape)}"
            )
    return (TensorType(x.dtype, shape),)


def slice_(types: Types, attrs: Attrs, op: str = "slice"):
    (x,) = types
    starts, stops, steps = attrs["starts"], attrs["stops"], attrs["steps"]
    if not len(starts) == len(stops) == len(steps) == x.ndim:
        raise RuntimeError(f"slice: expected {x.ndim} starts, stops and steps")
    shape = []
    for d, (a, b, c, size) in enumerate(zip(starts, stops, steps, x.shape)):
        # bounds are normalized (0 <= start, stop <= size, step >= 1): numpy's slice then has
        # exactly len(range(...)) rows; a `?` dim's length stays open
        if c < 1 or a < 0 or b < 0 or (size is not None and (a > size or b > size)):
            raise IndexError(
                f"slice: bounds {a}:{b}:{c} of dim {d} are not within its size "
                f"{'?' if size is None else size} with a positive step (input "
                f"{fmt_shape(x.shape)})"
            )
        shape.append(len(range(a, b, c)) if size is not None or a >= b else None)
    return (TensorType(x.dtype, tuple(shape)),)


def cat(types: Types, attrs: Attrs, op: str = "cat"):
    dim = attrs["dim"]
    dtype = same_dtype(types, op)
    first = types[0]
    for k, t in enumerate(types):
        if t.ndim == 0:
            raise RuntimeError(
                f"zero-dimensional tensor (at position {k}) cannot be concatenated"
            )
    check_dims((dim,), first.ndim, op)
    for k, t in enumerate(types[1:], 1):
        if t.ndim != first.ndim:
            raise RuntimeError(
                f"Tensors must have same number of dimensions: got {first.ndim} and {t.ndim} "
                f"(shapes {fmt_shape(first.shape)} and {fmt_shape(t.shape)})"
            )
        for d in range(first.ndim):
            if d != dim and t.shape[d] != first.shape[d]:
                raise RuntimeError(
                    f"Sizes of tensors must match except in dimension {dim}. Expected size "
                    f"{first.shape[d]} but got size {t.shape[d]} for tensor number {k} in the "
                    f"list (shapes {fmt_shape(first.shape)} and {fmt_shape(t.shape)})."
                )
    sizes = [t.shape[dim] for t in types]
    total = None if None in sizes else sum(sizes)
    return (TensorType(dtype, (*first.shape[:dim], total, *first.shape[dim + 1 :])),)


def pad(types: Types, attrs: Attrs, op: str = "pad"):
    (x,) = types
    pads, mode = attrs["pads"], attrs["mode"]
    if len(pads) % 2 or len(pads) // 2 > x.ndim:
        raise RuntimeError(
            f"pad: padding length {len(pads)} must be even and at most twice the number of "
            f"dims of the input ({x.ndim})"
        )
    shape = list(x.shape)
    for k in range(len(pads) // 2):
        d = x.ndim - 1 - k
        lo, hi = pads[2 * k], pads[2 * k + 1]
        if shape[d] is None:  # a data-dependent size: only a constant pad is size-free
            if mode != "constant":
                raise RuntimeError(
                    f"pad: mode='{mode}' needs dimension {d}'s size, which depends on the data "
                    f"(input {fmt_shape(x.shape)}); pad a dimension of known size, or use "
                    "mode='constant'"
                )
            continue
        if mode == "reflect" and (lo >= shape[d] or hi >= shape[d]):
            raise RuntimeError(
                f"pad: reflect padding ({lo}, {hi}) must be less than the input size "
                f"{shape[d]} at dimension {d} of input {fmt_shape(x.shape)}"
            )
        if mode != "constant" and (lo < 0 or hi < 0):
            raise RuntimeError(f"pad: negative padding ({lo}, {hi}) needs mode='constant'")
        cropped = shape[d] + min(lo, 0) + min(hi, 0)  # negative pads crop before padding
        shape[d] = shape[d] + lo + hi
        if shape[d] < 0 or cropped < 0:
            raise RuntimeError(
                f"pad: the padding ({lo}, {hi}) makes dimension {d} of input "
                f"{fmt_shape(x.shape)} negative"
            )
    return (TensorType(x.dtype, tuple(shape)),)


def tri(types: Types, attrs: Attrs, op: str = "tril"):
    if types[0].ndim < 2:
        raise RuntimeError(f"{op}: input tensor must have at least 2 dimensions")
    return (types[0],)


# --- indexing -----------------------------------------------------------------------------------

def index(types: Types, attrs: Attrs, op: str = "index"):
    """torch's advanced indexing: spec entries ("slice", a, b, c), ("int", i), ("none",) and
    ("tensor",) (the next operand; a bool mask consumes as many dims as it has). Integers select
    first (torch does not count them as advanced indices, numpy does); the broadcast index shape
    replaces the indexed dims where the index tensors are adjacent, and goes first when a slice
    or None separates them (x[i, :, j])."""
    idx = types[1:]
    x = _after_int_selects(types[0], idx, attrs["spec"])
    out: list = []
    adv_shapes, adv_at, positions = [], None, []
    dim, k = 0, 0
    for pos, entry in enumerate(e for e in attrs["spec"] if e[0] != "int"):
        kind = entry[0]
        if kind == "slice":
            out.append(slice_length(entry, x.shape[dim]))
            dim += 1
        elif kind == "none":
            out.append(1)
        else:
            t = idx[k]
            k += 1
            if t.dtype is DType.bool:
                _check_mask(x, t, dim)
                adv_shapes.append((None,))
            elif t.dtype.is_floating_point:
                raise IndexError(
                    "tensors used as indices must be long, int or bool tensors, got "
                    f"{t.dtype.value}"
                )
            else:
                adv_shapes.append(t.shape)
            dim += t.ndim if t.dtype is DType.bool else 1
            positions.append(pos)
            adv_at = len(out) if adv_at is None else adv_at
    if adv_shapes:
        try:
            bshape = broadcast_shapes(*adv_shapes)
        except RuntimeError:
            shapes = ", ".join(fmt_shape(s) for s in adv_shapes)
            raise IndexError(
                f"shape mismatch: indexing tensors could not be broadcast together with shapes "
                f"{shapes}"
            ) from None
        adjacent = positions == list(range(positions[0], positions[0] + len(positions)))
        at = adv_at if adjacent else 0
        out[at:at] = bshape
    return (TensorType(x.dtype, tuple(out)),)


def slice_length(entry, size: int | None) -> int | None:
    """The length of a ("slice", start, stop, step) spec entry over a dim of `size`. Bounds are
    normalized, except a None (to the end) or negative one (from the end), which a slice of a
    data-dependent dim uses: its length stays open there."""
    bounds = entry[1:]
    if size is None:  # a `?` dim: only an empty range is known (the end clamps [0:2] to 1)
        empty = None not in bounds and min(bounds) >= 0 and bounds[0] >= bounds[1]
        return 0 if empty else None
    return len(range(*slice(*bounds).indices(size)))


def _after_int_selects(x: TensorType, idx: Types, spec) -> TensorType:
    """x's type once the dims that integer entries select are gone (torch selects first)."""
    shape, dim, k = [], 0, 0
    for entry in spec:
        if entry[0] == "none":
            continue
        tensor = idx[k] if entry[0] == "tensor" else None
        k += tensor is not None
        n = tensor.ndim if tensor is not None and tensor.dtype is DType.bool else 1
        if entry[0] != "int":
            shape.extend(x.shape[dim : dim + n])
        dim += n
    if dim != x.ndim:
        raise IndexError(f"index: spec covers {dim} dims of a {x.ndim}-dim tensor")
    return TensorType(x.dtype, tuple(shape))


def _check_mask(x: TensorType, mask: TensorType, dim: int) -> None:
    for j, d in enumerate(mask.shape):
        if dim + j >= x.ndim or (x.shape[dim + j] != d and None not in (x.shape[dim + j], d)):
            # a `?` size on either side is checked by the index op on each call
            raise IndexError(
                f"The shape of the mask {fmt_shape(mask.shape)} at index {j} does not match "
                f"the shape of the indexed tensor {fmt_shape(x.shape)} at index {dim + j}"
            )


def index_put(types: Types, attrs: Attrs, op: str = "index_put"):
    x, value = types[0], types[1]
    (target,) = index((x, *types[2:]), attrs, op)
    if value.dtype is not x.dtype:
        raise RuntimeError(f"index_put: value dtype {value.dtype.value} != {x.dtype.value}")
    if not _broadcasts_into(value.shape, target.shape):
        raise RuntimeError(
            f"shape mismatch: value tensor of shape {fmt_shape(value.shape)} cannot be "
            f"broadcast to indexing result of shape {fmt_shape(target.shape)}"
        )
    return (x,)


def _broadcasts_into(value, target) -> bool:
    """torch's setitem rule: `value`, less its leading 1-dims, expands to `target` (a `?` dim
    on either side is checked at run time)."""
    value = tuple(value)
    while value and value[0] == 1:
        value = value[1:]
    if len(value) > len(target):
        return False
    tail = target[len(target) - len(value):]
    return all(v in (1, t) or v is None or t is None for v, t in zip(value, tail))


def gather(types: Types, attrs: Attrs, op: str = "gather"):
    x, idx = types
    dim = attrs["dim"]
    check_dims((dim,), x.ndim, op)
    if idx.dtype not in (DType.int64, DType.int32):
        raise RuntimeError(
            f"gather(): Expected dtype int32/int64 for index, got {idx.dtype.value}"
        )
    if idx.ndim != x.ndim:
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    for d in range(x.ndim):
        if d != dim and idx.shape[d] > x.shape[d]:
            raise RuntimeError(
                f"Size does not match at dimension {d} expected index {fmt_shape(idx.shape)} "
                f"to be smaller than self {fmt_shape(x.shape)} apart from dimension {dim}"
            )
    return (TensorType(x.dtype, idx.shape),)


# --- creation -----------------------------------------------------------------------------------

def full(types: Types, attrs: Attrs, op: str = "full"):
    shape = tuple(attrs["shape"])
    if any(d < 0 for d in shape):
        raise RuntimeError(f"{op}: negative dimension in shape {fmt_shape(shape)}")
    return (TensorType(attrs["dtype"], shape),)


def arange_length(start: float, end: float, step: float) -> int:
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError(
            f"arange: upper bound and larger bound inconsistent with step sign "
            f"(start={start}, end={end}, step={step})"
        )
    return max(0, math.ceil((end - start) / step))


def arange(types: Types, attrs: Attrs, op: str = "arange"):
    n = arange_length(attrs["start"], attrs["end"], attrs["step"])
    return (TensorType(attrs["dtype"], (n,)),)


def linspace(types: Types, attrs: Attrs, op: str = "linspace"):
    if attrs["steps"] < 0:
        raise RuntimeError("linspace: number of steps must be non-negative")
    return (TensorType(attrs["dtype"], (attrs["steps"],)),)


def eye(types: Types, attrs: Attrs, op: str = "eye"):
    n, m = attrs["n"], attrs["m"]
    if n < 0 or m < 0:
        raise RuntimeError(f"eye: n and m must be non-negative, got n={n}, m={m}")
    return (TensorType(attrs["dtype"], (n, m)),)


def randint(types: Types, attrs: Attrs, op: str = "randint"):
    if attrs["low"] >= attrs["high"]:
        raise RuntimeError(
            f"random_ expects 'from' to be less than 'to', but got from={attrs['low']} >= "
            f"to={attrs['high']}"
        )
    return full(types, attrs, op)


def constant(types: Types, attrs: Attrs, op: str = "constant"):
    value = attrs["value"]
    if not hasattr(value, "type"):
        raise TypeError(f"{op}: the type of {value} comes from the graph's constant data")
    return (value.type,)


def structured(types: Types, attrs: Attrs, op: str = "fused"):
    raise TypeError(f"{op}: result types come from its block; use the verifier to check them")


def terminator(types: Types, attrs: Attrs, op: str = "return"):
    return ()
