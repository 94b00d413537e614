"""Tensor indexing with torch's (numpy's) rules, lowered to `slice` + `reshape` for basic keys
and to `index` / `index_put` when the key holds tensors (integer or bool masks)."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from tracejit import tensor as _tensor_module
from tracejit.dispatch import dispatch, to_dtype
from tracejit.ir import DType, Op

if TYPE_CHECKING:
    from tracejit.tensor import Tensor


def _is_tensor_key(k) -> bool:
    return isinstance(k, (_tensor_module.Tensor, np.ndarray, list, range))


def _key_tensor(k):
    """An index given as a Tensor, ndarray, range or (nested) list, as an int64 or bool
    Tensor (an empty list selects nothing, as int64)."""
    from tracejit.creation import tensor

    if isinstance(k, range) or (isinstance(k, list) and not k):
        k = np.array(k, dtype=np.int64)
    t = k if isinstance(k, _tensor_module.Tensor) else tensor(k)
    if t.dtype.is_floating_point:
        raise IndexError(
            f"tensors used as indices must be long, int or bool tensors, got {t.dtype.value}"
        )
    if t.dtype is DType.uint8:  # torch 2.13 still reads a uint8 index as a mask, and warns
        warnings.warn("indexing with dtype tracejit.uint8 is now deprecated, please use a "
                      "dtype tracejit.bool instead.", UserWarning, stacklevel=4)
        t = to_dtype(t, DType.bool)
    return t


def _consumed(k) -> int:
    """How many dims of the indexed tensor a key entry uses."""
    if k is None or k is Ellipsis:
        return 0
    if isinstance(k, _tensor_module.Tensor) and k.dtype is DType.bool:
        return k.ndim
    if isinstance(k, bool):
        return 0
    return 1


def open_dims(x) -> frozenset[int]:
    """The dims of x whose size a capture mode holds as data-dependent (`?`: after nonzero or
    a boolean mask); indexing must not bake this example's size into them."""
    shape = getattr(getattr(getattr(x, "_value", None), "type", None), "shape", None)
    return frozenset() if shape is None else frozenset(d for d, n in enumerate(shape) if n is None)


def parse_key(x, key) -> tuple[tuple, list]:
    """The index spec (see ops.INDEX) and the index tensors for `x[key]`. Along a `?` dim a
    slice keeps its own bounds (None and negative ones are sized at run time) and an integer
    stays as written (checked at run time)."""
    key = key if isinstance(key, tuple) else (key,)
    key = tuple(int(k) if _eager_int_scalar(k) else k for k in key)
    # Python False selects nothing: a 0-d False mask (x[False] has shape (0, *x.shape))
    key = tuple(_key_tensor(k) if _is_tensor_key(k) or k is False else k for k in key)
    if sum(k is Ellipsis for k in key) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = sum(_consumed(k) for k in key)
    if used > x.ndim:
        raise IndexError(
            f"too many indices for tensor of dimension {x.ndim} (shape {list(x.shape)}, "
            f"indexed in {used} dims)"
        )
    opened = open_dims(x)
    spec, tensors, dim = [], [], 0
    for k in key:
        if k is Ellipsis:
            for _ in range(x.ndim - used):
                spec.append(_whole(x, dim, opened))
                dim += 1
        elif k is None or k is True:
            spec.append(("none",))
        elif isinstance(k, slice):
            bounds = _open_bounds(k) if dim in opened else _slice_bounds(k, x.shape[dim])
            spec.append(("slice", *bounds))
            dim += 1
        elif isinstance(k, _tensor_module.Tensor):
            spec.append(("tensor",))
            tensors.append(k)
            dim += _consumed(k)
        else:
            i = _int_index(k, x.shape[dim], dim)
            spec.append(("int", k.__index__() if dim in opened else i))
            dim += 1
    spec.extend(_whole(x, d, opened) for d in range(dim, x.ndim))
    return tuple(spec), tensors


def _eager_int_scalar(k) -> bool:
    """A 0-d integer tensor key, which torch's eager indexing reads as the integer (a view,
    not a copy); capture modes keep it a tensor (its value may change between calls)."""
    from tracejit.dispatch import EagerMode, current_mode

    return (isinstance(k, _tensor_module.Tensor) and k.ndim == 0
            and k.dtype in (DType.int8, DType.int16, DType.int32, DType.int64)
            and type(current_mode()) is EagerMode)


def _whole(x, dim: int, opened) -> tuple:
    return ("slice", 0, None if dim in opened else x.shape[dim], 1)


def _open_bounds(k: slice) -> tuple:
    """A slice's bounds as written (start 0 and step 1 by default), for a `?` dim."""
    step = 1 if k.step is None else k.step.__index__()
    if step <= 0:
        raise ValueError("step must be greater than zero")
    start = 0 if k.start is None else k.start.__index__()
    return start, None if k.stop is None else k.stop.__index__(), step


def _int_index(k, size: int, dim: int) -> int:
    try:
        i = k.__index__()
    except AttributeError:
        raise IndexError(
            "only integers, slices (`:`), ellipsis (`...`), None and long or bool tensors are "
            f"valid indices (got {type(k).__name__})"
        ) from None
    if not -size <= i < size:
        raise IndexError(f"index {i} is out of bounds for dimension {dim} with size {size}")
    return i % size


def _slice_bounds(k: slice, size: int) -> tuple[int, int, int]:
    if k.step is not None and int(k.step) <= 0:
        raise ValueError("step must be greater than zero")
    start, stop, step = k.indices(size)
    return start, max(stop, start), step


def _refuse_uint8_mask(key) -> None:
    """torch's x[uint8_mask] = v goes through masked_fill_, which refuses the mask."""
    for k in key if isinstance(key, tuple) else (key,):
        if isinstance(k, _tensor_module.Tensor) and k.dtype is DType.uint8:
            raise RuntimeError("index_put_: a uint8 tensor used as a mask in an assignment is not "
                               "supported (torch's masked_fill_ refuses it); use mask.bool()")


def getitem(x, key) -> Tensor:
    spec, tensors = parse_key(x, key)
    if open_dims(x):  # sized at run time: the index op, not a slice of this example's length
        if not tensors:
            spec, tensors = _checked_ints(spec)
        return dispatch(Op.INDEX, x, *tensors, spec=spec)
    if tensors:
        return dispatch(Op.INDEX, x, *tensors, spec=spec)
    sliced = [e for e in spec if e[0] in ("slice", "int")]
    starts = tuple(e[1] for e in sliced)
    stops = tuple(e[2] if e[0] == "slice" else e[1] + 1 for e in sliced)
    steps = tuple(e[3] if e[0] == "slice" else 1 for e in sliced)
    out = dispatch(Op.SLICE, x, starts=starts, stops=stops, steps=steps)
    shape = tuple(
        1 if e[0] == "none" else len(range(*e[1:]))
        for e in spec if e[0] in ("none", "slice")
    )
    if shape != tuple(out.shape):
        out = dispatch(Op.RESHAPE, out, shape=shape)
    return out


def _checked_ints(spec) -> tuple[tuple, list]:
    """Integer entries as 0-d index tensors, which the index op bounds-checks on each call with
    torch's IndexError (alone, they select exactly as integers do)."""
    from tracejit.creation import tensor

    out, tensors = [], []
    for entry in spec:
        if entry[0] == "int":
            out.append(("tensor",))
            tensors.append(tensor(entry[1], dtype=DType.int64))
            tensors[-1]._basic_index = True  # still a view, as torch's x[i] (see tracer.py)
        else:
            out.append(entry)
    return tuple(out), tensors


def setitem(x, key, value, accumulate: bool = False) -> None:
    from tracejit.dispatch import assign, check_writable
    from tracejit.ir.numpy_impl import has_internal_overlap

    _refuse_uint8_mask(key)
    spec, tensors = parse_key(x, key)
    if not tensors and open_dims(x):  # bounds-checked on each call, as getitem's
        spec, tensors = _checked_ints(spec)
    if not isinstance(value, (_tensor_module.Tensor, np.ndarray)) and not _is_number(value):
        from tracejit.creation import tensor

        value = tensor(value)
    if tensors and isinstance(value, _tensor_module.Tensor) and value.dtype is not x.dtype:
        _check_index_put_dtype(x, key, value)
    if isinstance(value, float) and x.dtype is DType.float16:  # torch rounds to inf, no error
        value = to_dtype(value, x.dtype)
    else:
        from tracejit.functions import check_float_fits

        check_float_fits(_py_number(value), x.dtype)  # x[i] = nan on int64: torch's error
        value = to_dtype(value, x.dtype, checked=True)  # x[i] = 300 on uint8: the same
    if not tensors and has_internal_overlap(x._data):  # torch checks the elements written
        check_writable(getitem(x, key)._data)
    if isinstance(value, _tensor_module.Tensor) and open_dims(value):
        value = _fit_open_value(x, value, spec, tensors)
    assign(x, dispatch(Op.INDEX_PUT, x, value, *tensors, spec=spec, accumulate=accumulate),
           "index_put_")


def _ir_type(t):
    value = getattr(t, "_value", None)
    return value.type if value is not None else t._type


def _require_int_bounds(x, spec, tensors) -> None:
    """Each call checks the integer indices (made 0-d tensors) of x's `?` dims are in bounds,
    with torch's IndexError, before the value's shape is checked (torch's order)."""
    from tracejit.dispatch import current_mode
    from tracejit.trace_sizes import _length

    require = getattr(current_mode(), "require", None)
    dims, dim, k = open_dims(x), 0, 0
    for entry in spec:
        if entry[0] == "none":
            continue
        t = tensors[k] if entry[0] == "tensor" else None
        k += t is not None
        if t is not None and getattr(t, "_basic_index", False) and not t.ndim and (
                dim in dims) and require is not None:
            n = _length(x, dim)
            require(t.lt(n).logical_and(t.ge(n.neg())), f"IndexError: index {int(t._data)} is "
                    f"out of bounds for dimension {dim} (of a data-dependent size)")
        dim += t.ndim if t is not None and t.dtype is DType.bool else 1


def _fit_open_value(x, value, spec, tensors):
    """A value with data-dependent (`?`) dims shaped to the indexing result as torch
    broadcasts it: its extra leading `?` dims must be 1 and a `?` dim under a fixed one 1 or
    that size, both checked on each call (torch's RuntimeError), so the write keeps the
    target's exact type instead of this example's sizes."""
    from tracejit.ir import infer_types
    from tracejit.trace_sizes import OpenDim

    _require_int_bounds(x, spec, tensors)  # torch's IndexError comes before a shape mismatch
    (ir,) = infer_types(Op.INDEX, [_ir_type(t) for t in (x, *tensors)], {"spec": spec})
    (ex,) = infer_types(Op.INDEX, [t._type for t in (x, *tensors)], {"spec": spec})
    if None in ex.shape:  # a mask key: the example's own count is data too, index_put checks
        return value.clone()
    target = tuple(OpenDim(e) if n is None else n for n, e in zip(ir.shape, ex.shape))
    vtype, shape = _ir_type(value).shape, value.shape
    lead = value.ndim - len(target)
    if lead > 0 and all(n is None or n == 1 for n in vtype[:lead]):
        value = value.expand(*(1,) * lead, *shape[lead:]).reshape(*shape[lead:])
        vtype, shape = vtype[lead:], shape[lead:]
    if value.ndim and value.ndim <= len(target) and open_dims(value):
        tail = target[len(target) - value.ndim:]
        if any(t is None for t, n in zip(ir.shape[-value.ndim:], vtype)
               if n is not None):
            return value.clone()  # a fixed dim under a `?` one: index_put broadcasts it
        value = value.expand(*(-1 if isinstance(t, OpenDim) else t for t in tail))
    return value.clone()  # not a view of the written tensor (the trace records values)


def _check_index_put_dtype(x, key, value) -> None:
    """torch converts a tensor value to x's dtype for basic keys only; with index tensors it
    converts only a one-element value under a boolean mask (its masked_fill path)."""
    key = key if isinstance(key, tuple) else (key,)
    index = [_key_tensor(k) for k in key if _is_tensor_key(k)]
    if all(t.ndim == 0 and t.dtype is not DType.bool for t in index):
        return  # only Python False or 0-d integer tensors (which torch treats as ints)
    if value.numel() == 1 and any(t.dtype is DType.bool and t.ndim for t in index):
        return
    raise RuntimeError(
        f"Index put requires the source and destination dtypes match, got {x.dtype.value} for "
        f"the destination and {value.dtype.value} for the source; convert the value with "
        f".to({x.dtype!r})"
    )


def _is_number(v) -> bool:
    return isinstance(v, (bool, int, float, np.generic))


def _py_number(v):
    return v.item() if isinstance(v, np.generic) else v
