"""Tensor creation with torch's names, signatures and dtype inference."""

from __future__ import annotations

import functools

import numpy as np

from tracejit.dispatch import (
    check_fits,
    concrete,
    created,
    current_mode,
    dispatch,
    get_default_dtype,
    scalar_dtype,
)
from tracejit.dtypes import refuse_unsupported
from tracejit.functions import size_args
from tracejit.generator import using_generator
from tracejit.ir import DType, Op
from tracejit.ir.types import Category, promote_types
from tracejit.tensor import Tensor, check_device

_SUPPORTED_KINDS = {"f": "float", "i": "int", "u": "int", "b": "bool"}


def _infer_dtype(data, array: np.ndarray) -> DType:
    """torch's inference: every leaf brings a dtype (Python bool, int, float: bool, int64, the
    default float; numpy values and tensors their own) and the leaves' dtypes promote."""
    if isinstance(data, (Tensor, np.ndarray, np.generic)):
        return DType.from_numpy(array.dtype)
    dtypes: set[DType] = set()
    _leaf_dtypes(data, dtypes)
    return functools.reduce(promote_types, dtypes) if dtypes else get_default_dtype()


def _leaf_dtypes(data, out: set) -> None:
    for item in data if isinstance(data, (list, tuple)) else (data,):
        if isinstance(item, (list, tuple)):
            _leaf_dtypes(item, out)
        elif isinstance(item, Tensor):
            out.add(item.dtype)
        elif isinstance(item, (np.ndarray, np.generic)):
            out.add(DType.from_numpy(item.dtype))
        else:
            out.add(scalar_dtype(item))


def _to_array(data) -> np.ndarray:
    """numpy array holding `data` (nested sequences of numbers, arrays or tensors)."""
    if isinstance(data, Tensor):
        return concrete(data, "tensor()")  # a copy of its values: a tracer refuses here
    if isinstance(data, (np.ndarray, np.generic)):
        return np.asarray(data)
    if data is None:
        raise RuntimeError("tensor(): could not infer dtype of NoneType")
    if isinstance(data, (str, bytes)):
        raise TypeError(f"tensor(): invalid data type '{type(data).__name__}'")
    try:
        array = np.array(data)
    except ValueError as e:
        raise ValueError(f"tensor(): data is not a regular nested sequence of numbers: {e}") \
            from None
    if array.dtype.kind == "u" or (array.dtype == object and _has_int(data)):
        raise ValueError("tensor(): a Python int in data does not fit in int64")
    if array.dtype == object or array.dtype.kind not in _SUPPORTED_KINDS:
        raise TypeError(
            f"tensor(): could not convert data of type {type(data).__name__} to a tensor of "
            "numbers"
        )
    return array


def _has_int(data) -> bool:
    if isinstance(data, (list, tuple)):
        return any(_has_int(item) for item in data)
    return isinstance(data, int) and not -(2**63) <= data < 2**63


def tensor(data, *, dtype: DType | None = None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of `data` (nested lists, numbers, arrays or tensors)."""
    check_device(device)
    array = _to_array(data)
    dtype = _creation_dtype(dtype, None) or _infer_dtype(data, array)
    if dtype.category is Category.INT and array.dtype.kind == "i" and array.size and not \
            isinstance(data, (np.ndarray, np.generic, Tensor)):  # Python ints are checked
        check_fits(int(array.min()), dtype)
        check_fits(int(array.max()), dtype)
    if dtype is DType.float16 and array.dtype == np.float64:  # torch rounds via float32
        array = array.astype(np.float32)
    with np.errstate(over="ignore"):  # 1e6 as float16 is inf, as in torch
        out = Tensor._wrap(np.array(array, dtype=dtype.np, copy=True))
    out.requires_grad = requires_grad
    return created(out)


def as_tensor(data, dtype: DType | None = None, device=None) -> Tensor:
    """Like tensor(), but shares memory with a Tensor or ndarray of the right dtype."""
    check_device(device)
    if isinstance(data, Tensor):
        return data if dtype in (None, data.dtype) else data.to(dtype)
    if isinstance(data, np.ndarray):
        have = DType.from_numpy(data.dtype)
        return created(Tensor._wrap(data if dtype in (None, have) else data.astype(dtype.np)))
    return tensor(data, dtype=dtype)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with `array`; writes through either are seen by both."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    return created(Tensor._from_array(array))


def _creation_dtype(dtype, default: DType) -> DType:
    if dtype is None:
        return default
    if not isinstance(dtype, DType):
        refuse_unsupported(dtype)
        raise TypeError(f"dtype must be a tracejit dtype such as tracejit.float32, got {dtype!r}")
    return dtype


def _full(shape, value, dtype, device):
    check_device(device)
    check_fits(value, dtype)
    return dispatch(Op.FULL, shape=shape, value=value, dtype=dtype)


def zeros(*size, dtype: DType | None = None, device=None, requires_grad: bool = False,
          **kwargs) -> Tensor:
    size = _size_keyword(size, kwargs)
    return _full(size_args(size), 0, _creation_dtype(dtype, get_default_dtype()), device)


def ones(*size, dtype: DType | None = None, device=None, requires_grad: bool = False,
         **kwargs) -> Tensor:
    size = _size_keyword(size, kwargs, "ones")
    return _full(size_args(size), 1, _creation_dtype(dtype, get_default_dtype()), device)


def empty(*size, dtype: DType | None = None, device=None, requires_grad: bool = False,
          **kwargs) -> Tensor:
    """Like zeros: tracejit never hands out uninitialized memory."""
    return zeros(*_size_keyword(size, kwargs, "empty"), dtype=dtype, device=device)


def _size_keyword(size: tuple, kwargs: dict, name: str = "zeros") -> tuple:
    """zeros(2, 3) or zeros(size=(2, 3)) (torch also takes the shape by keyword)."""
    kwargs.pop("memory_format", None)
    kwargs.pop("layout", None)
    kwargs.pop("pin_memory", None)
    if "size" in kwargs:
        if size:
            raise TypeError(f"{name}() got the size both positionally and as size=")
        size = (kwargs.pop("size"),)
    if kwargs:
        raise TypeError(f"{name}() got unexpected keyword arguments {sorted(kwargs)}")
    return size


def full(size, fill_value, *, dtype: DType | None = None, device=None,
         requires_grad: bool = False) -> Tensor:
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    if isinstance(fill_value, np.generic):
        fill_value = fill_value.item()
    dtype = _creation_dtype(dtype, scalar_dtype(fill_value))
    return _full(size_args((size,)), fill_value, dtype, device)


def _like(input: Tensor, dtype):
    return tuple(input.shape), _creation_dtype(dtype, input.dtype)


def zeros_like(input: Tensor, *, dtype: DType | None = None, device=None,
               requires_grad: bool = False) -> Tensor:
    shape, dtype = _like(input, dtype)
    return _full(shape, 0, dtype, device)


def ones_like(input: Tensor, *, dtype: DType | None = None, device=None,
              requires_grad: bool = False) -> Tensor:
    shape, dtype = _like(input, dtype)
    return _full(shape, 1, dtype, device)


empty_like = zeros_like


def full_like(input: Tensor, fill_value, *, dtype: DType | None = None, device=None,
              requires_grad: bool = False) -> Tensor:
    shape, dtype = _like(input, dtype)
    return _full(shape, fill_value, dtype, device)


def arange(start=0, end=None, step=1, *, dtype: DType | None = None, device=None,
           requires_grad: bool = False) -> Tensor:
    """[start, end) by step; integer arguments give int64, any float the default dtype."""
    check_device(device)
    if end is None:
        start, end = 0, start
    start, end, step = (v.item() if isinstance(v, (Tensor, np.generic)) else v
                        for v in (start, end, step))
    floats = any(isinstance(v, float) for v in (start, end, step))
    dtype = _creation_dtype(dtype, get_default_dtype() if floats else DType.int64)
    return dispatch(Op.ARANGE, start=start, end=end, step=step, dtype=dtype)


def linspace(start, end, steps, *, dtype: DType | None = None, device=None,
             requires_grad: bool = False) -> Tensor:
    check_device(device)
    dtype = _creation_dtype(dtype, get_default_dtype())
    return dispatch(Op.LINSPACE, start=start, end=end, steps=int(steps), dtype=dtype)


def eye(n, m=None, *, dtype: DType | None = None, device=None,
        requires_grad: bool = False) -> Tensor:
    check_device(device)
    dtype = _creation_dtype(dtype, get_default_dtype())
    return dispatch(Op.EYE, n=int(n), m=int(n if m is None else m), dtype=dtype)


def rand(*size, dtype: DType | None = None, device=None, generator=None,
         requires_grad: bool = False, **kwargs) -> Tensor:
    """Uniform samples in [0, 1)."""
    size = _size_keyword(size, kwargs, "rand")
    check_device(device)
    dtype = _creation_dtype(dtype, get_default_dtype())
    with using_generator(generator):
        return dispatch(Op.RAND, shape=size_args(size), dtype=dtype)


def randn(*size, dtype: DType | None = None, device=None, generator=None,
          requires_grad: bool = False, **kwargs) -> Tensor:
    """Standard normal samples."""
    size = _size_keyword(size, kwargs, "randn")
    check_device(device)
    dtype = _creation_dtype(dtype, get_default_dtype())
    with using_generator(generator):
        return dispatch(Op.RANDN, shape=size_args(size), dtype=dtype)


def randint(low=0, high=None, size=None, *, dtype: DType | None = None, device=None, generator=None,
            requires_grad: bool = False) -> Tensor:
    """Integers in [low, high): randint(high, size) or randint(low, high, size)."""
    check_device(device)
    if size is None:
        low, high, size = 0, low, high
    if size is None:
        raise TypeError("randint() missing required argument 'size'")
    dtype = _creation_dtype(dtype, DType.int64)
    with using_generator(generator):
        return dispatch(Op.RANDINT, low=int(low), high=int(high), shape=size_args((size,)),
                        dtype=dtype)


def rand_like(input: Tensor, *, dtype: DType | None = None, device=None) -> Tensor:
    return rand(*input.shape, dtype=_creation_dtype(dtype, input.dtype), device=device)


def randn_like(input: Tensor, *, dtype: DType | None = None, device=None) -> Tensor:
    return randn(*input.shape, dtype=_creation_dtype(dtype, input.dtype), device=device)


def randperm(n, *, dtype: DType | None = None, device=None, generator=None) -> Tensor:
    """A random permutation of 0..n-1 (int64), from `generator` or the global one."""
    from tracejit.random import default_generator

    check_device(device)
    current_mode().unsupported("randperm() (it draws from numpy's generator, not an op)")
    with using_generator(generator):
        perm = default_generator().permutation(int(n))
    return tensor(perm, dtype=_creation_dtype(dtype, DType.int64))


# --- more of torch's creation functions (issue 12) ----------------------------------------------
def scalar_tensor(s, *, dtype: DType | None = None, device=None,
                  requires_grad: bool = False) -> Tensor:
    """A 0-d tensor of the default float dtype (or `dtype`) holding `s`."""
    return full((), s, dtype=_creation_dtype(dtype, get_default_dtype()), device=device)


def asarray(obj, *, dtype: DType | None = None, device=None, copy=None,
            requires_grad: bool = False) -> Tensor:
    """Like as_tensor (shares memory where it can); copy=True always copies."""
    if copy:
        return tensor(obj, dtype=dtype, device=device)
    return as_tensor(obj, dtype=dtype, device=device)


def logspace(start, end, steps, base=10.0, *, dtype: DType | None = None, device=None,
             requires_grad: bool = False) -> Tensor:
    """base ** linspace(start, end, steps)."""
    dtype = _creation_dtype(dtype, get_default_dtype())
    exponents = linspace(start, end, steps, dtype=DType.float64, device=device)
    return (tensor(float(base), dtype=DType.float64) ** exponents).to(dtype)


def randint_like(input: Tensor, low=0, high=None, *, dtype: DType | None = None, device=None,
                 requires_grad: bool = False) -> Tensor:
    """randint with input's shape (and dtype unless given): randint_like(x, high) or
    randint_like(x, low, high)."""
    if high is None:
        low, high = 0, low
    return randint(low, high, tuple(input.shape), dtype=_creation_dtype(dtype, input.dtype),
                   device=device)



def _honour_requires_grad(fn):
    """`fn(..., requires_grad=True)` makes a leaf that requires grad (torch's factories);
    the functions above only take the keyword."""

    @functools.wraps(fn)
    def make(*args, requires_grad: bool = False, **kwargs):
        out = fn(*args, **kwargs)
        if requires_grad:
            out.requires_grad_(True)
        return out

    return make


def _wrap_factories(namespace: dict) -> None:
    import inspect

    for name, fn in list(namespace.items()):
        if inspect.isfunction(fn) and not name.startswith("_") and fn.__module__ == \
                namespace["__name__"] and "requires_grad" in inspect.signature(fn).parameters:
            namespace[name] = _honour_requires_grad(fn)


_wrap_factories(globals())
