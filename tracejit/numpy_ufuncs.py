"""numpy ufuncs on tensors (`np.sin(t)`, `np.maximum(t, 0)`, `ndarray + t`), as torch's CPU
tensors behave: the result is a tensor whose dtype is numpy's (`np.sin` of an int64 tensor is
float64), and a bool result is uint8 (torch's `__array_wrap__`). Ufuncs with a tracejit op run
that op, so they trace and script; the others compute with numpy on the values (eager only)."""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tracejit.tensor import Tensor

# numpy ufunc name -> tracejit function name (same name when None); each computes what numpy's
# loop computes once the operands have the loop's dtypes
_NAMES: dict[str, str | None] = {
    **dict.fromkeys([
        "sin", "cos", "tan", "sinh", "cosh", "tanh", "exp", "exp2", "expm1", "log", "log2",
        "log10", "log1p", "sqrt", "square", "floor", "ceil", "trunc", "isnan", "isinf",
        "isfinite", "signbit", "logical_and", "logical_or", "logical_xor", "logical_not",
        "bitwise_and", "bitwise_or", "bitwise_xor", "maximum", "minimum", "fmax", "fmin",
        "hypot", "copysign", "fmod", "remainder", "floor_divide", "logaddexp", "logaddexp2",
        "deg2rad", "rad2deg", "heaviside", "gcd", "lcm", "nextafter", "float_power"]),
    "arcsin": "asin", "arccos": "acos", "arctan": "atan", "arctan2": "atan2",
    "arcsinh": "asinh", "arccosh": "acosh", "arctanh": "atanh", "rint": "round",
    "invert": "bitwise_not",
}
_OPERATORS = {
    "add": operator.add, "subtract": operator.sub, "multiply": operator.mul,
    "divide": operator.truediv, "power": operator.pow, "negative": operator.neg,
    "positive": operator.pos, "absolute": operator.abs, "equal": operator.eq,
    "not_equal": operator.ne, "less": operator.lt, "less_equal": operator.le,
    "greater": operator.gt, "greater_equal": operator.ge,
}
# `ndarray <op> t` and `np.float64(2) <op> t` reach numpy's ufunc with the tensor second: they
# run the tensor's reflected operator, so promotion is torch's (an ndarray is a tensor of its
# dtype, a numpy scalar a Python number), as `t <op> ndarray` and torch's `np.float64(2) * t`
_REFLECTED = {
    "add": "__radd__", "subtract": "__rsub__", "multiply": "__rmul__",
    "divide": "__rtruediv__", "floor_divide": "__rfloordiv__", "remainder": "__rmod__",
    "power": "__rpow__", "matmul": "__rmatmul__", "bitwise_and": "__rand__",
    "bitwise_or": "__ror__", "bitwise_xor": "__rxor__", "left_shift": "__rlshift__",
    "right_shift": "__rrshift__", "equal": "__eq__", "not_equal": "__ne__", "less": "__gt__",
    "less_equal": "__ge__", "greater": "__lt__", "greater_equal": "__le__",
}
_table: dict[str, Any] = {}


def _function(name: str) -> Any:
    """The tracejit callable for numpy's ufunc `name`, or None."""
    if not _table:
        import tracejit

        _table.update(_OPERATORS)
        _table.update({k: getattr(tracejit, v or k) for k, v in _NAMES.items()
                       if hasattr(tracejit, v or k)})
    return _table.get(name)


def captured_ufunc(func: Any, kwargs: dict) -> bool:
    """Whether calling `func` on tensors runs tracejit's op (so trace and script capture it)."""
    return isinstance(func, np.ufunc) and not kwargs and (
        _function(func.__name__) is not None or func.__name__ in _REFLECTED)


def _weak(x: Any) -> Any:
    """numpy scalars count as Python scalars, as torch's operators treat them."""
    return x.item() if isinstance(x, np.generic) else x


def array_ufunc(ufunc: np.ufunc, method: str, inputs: tuple, kwargs: dict) -> Any:
    """Tensor.__array_ufunc__: torch's result for numpy's ufunc call on tensors."""
    from tracejit.tensor import Tensor

    if (method == "__call__" and not kwargs and len(inputs) == 2
            and isinstance(inputs[0], (np.ndarray, np.generic))
            and isinstance(inputs[1], Tensor) and ufunc.__name__ in _REFLECTED):
        return getattr(inputs[1], _REFLECTED[ufunc.__name__])(inputs[0])
    inputs = tuple(_weak(x) for x in inputs)
    out = kwargs.get("out")
    if out is not None and any(isinstance(o, Tensor) for o in out):
        raise TypeError(f"numpy.{ufunc.__name__}(..., out=...): out= cannot be a Tensor "
                        "(torch's tensors neither); assign the result instead, e.g. "
                        "t.copy_(np.sin(x))")
    fn = _function(ufunc.__name__)
    if method == "__call__" and not kwargs and fn is not None:
        loop = _loop_dtypes(ufunc, inputs)
        if loop is not None:
            return _run_op(fn, inputs, loop)
    return _run_numpy(ufunc, method, inputs, kwargs)


def _loop_dtypes(ufunc: np.ufunc, inputs: tuple) -> tuple[np.dtype, ...] | None:
    """numpy's loop dtypes (inputs, then the output) for these operands; None where tracejit
    has no such dtype (the numpy path then decides)."""
    from tracejit.ir import DType
    from tracejit.tensor import Tensor

    def described(x):
        if isinstance(x, Tensor):
            return x._data.dtype
        if isinstance(x, np.ndarray) or type(x) is bool:
            return np.asarray(x).dtype
        return type(x) if type(x) in (int, float) else None

    described_inputs = tuple(described(x) for x in inputs)
    if any(d is None for d in described_inputs) or ufunc.nout != 1:
        return None
    loop = ufunc.resolve_dtypes((*described_inputs, None))
    for dtype in loop:
        try:
            DType.from_numpy(dtype)
        except TypeError:
            return None
    return loop


def _run_op(fn: Any, inputs: tuple, loop: tuple) -> Tensor:
    """Run tracejit's op on the operands cast to numpy's loop dtypes."""
    import tracejit
    from tracejit.ir import DType
    from tracejit.tensor import Tensor

    operands = []
    for x, dtype in zip(inputs, loop):
        want = DType.from_numpy(dtype)
        if isinstance(x, Tensor):
            operands.append(x if x._data.dtype == dtype else x.to(want))
        else:
            operands.append(tracejit.tensor(x, dtype=want))
    result = fn(*operands)
    want = DType.from_numpy(np.dtype(np.uint8) if loop[-1] == np.bool_ else loop[-1])
    return result if result.dtype == want else result.to(want)


def _run_numpy(ufunc: np.ufunc, method: str, inputs: tuple, kwargs: dict) -> Any:
    """numpy computes on the tensors' values; its arrays come back as tensors (bool as uint8)
    unless an out= array was given or the method is outer/at (as torch returns)."""
    from tracejit.dispatch import concrete
    from tracejit.tensor import Tensor

    arrays = tuple(concrete(x, f"numpy.{ufunc.__name__}") if isinstance(x, Tensor) else x
                   for x in inputs)
    result = getattr(ufunc, method)(*arrays, **kwargs)
    if "out" in kwargs or method in ("outer", "at"):
        return result
    return tuple(_wrap(r) for r in result) if isinstance(result, tuple) else _wrap(result)


def _wrap(value: Any) -> Tensor:
    from tracejit.dispatch import created
    from tracejit.tensor import Tensor

    array = np.asarray(value)
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    return created(Tensor._from_array(array if array.flags.c_contiguous else array.copy()))
