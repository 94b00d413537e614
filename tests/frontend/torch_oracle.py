"""Run one piece of code on tracejit and on torch, and compare what comes back.

A case is `fn(lib, *inputs)` where `lib` is the `tracejit` or the `torch` module; numpy arrays
among `inputs` become `lib.tensor(array)` (same dtype, fresh memory), everything else is passed
as is. `check_same` then asserts error parity (same exception class when torch raises, no
exception when it does not) or equal results: dtype, shape and values, recursively through
tuples, lists and (values, indices) pairs.
"""

from __future__ import annotations

import math

import numpy as np
import torch

import tracejit as tj

DTYPE_NAMES = ("float32", "float64", "int32", "int64", "bool")
NP_DTYPES = {name: np.dtype(name) for name in DTYPE_NAMES}
ERROR_CLASSES = (IndexError, TypeError, ValueError, RuntimeError)
# float32 results of torch's vectorized math differ from numpy's by a few ulp
TOLERANCES = {"float32": (2e-6, 1e-6), "float64": (1e-10, 1e-12),
              "float16": (4e-3, 1e-3)}  # torch's half kernels round once, numpy's per step


def dtype_name(dtype) -> str:
    """'float32' for tracejit.float32, torch.float32 and numpy's float32 alike."""
    if isinstance(dtype, torch.dtype):
        return str(dtype).removeprefix("torch.")
    if isinstance(dtype, tj.dtype):
        return dtype.value
    return np.dtype(dtype).name


def lib_dtype(lib, name: str):
    return getattr(lib, name)


def to_lib(lib, value):
    """numpy arrays (also inside lists and tuples) as `lib` tensors; anything else as is."""
    if isinstance(value, np.ndarray | np.generic):
        return lib.tensor(np.asarray(value))
    arrays = np.ndarray | np.generic
    if isinstance(value, list | tuple) and any(isinstance(v, arrays) for v in value):
        return type(value)(to_lib(lib, v) for v in value)
    return value


def outcome(fn, *args):
    """(result, None) when fn(*args) returns, (None, the exception) when it raises."""
    try:
        return fn(*args), None
    except Exception as exc:  # the class is what gets compared
        return None, exc


def error_class(exc: BaseException | None):
    """The first of IndexError, TypeError, ValueError, RuntimeError that `exc` is an instance of
    (torch's NotImplementedError is a RuntimeError, as in Python); else its own class."""
    if exc is None:
        return None
    return next((c for c in ERROR_CLASSES if isinstance(exc, c)), type(exc))


def run_both(fn, *inputs):
    """((tracejit result, exception), (torch result, exception)) of fn on fresh inputs."""
    ours = outcome(lambda: fn(tj, *(to_lib(tj, v) for v in inputs)))
    theirs = outcome(lambda: fn(torch, *(to_lib(torch, v) for v in inputs)))
    return ours, theirs


def check_same(fn, *inputs, rtol=None, atol=None, values=True):
    """fn(tracejit, ...) and fn(torch, ...) raise the same error class or agree."""
    (ours, our_exc), (theirs, their_exc) = run_both(fn, *inputs)
    if our_exc is not None or their_exc is not None:
        if error_class(our_exc) is not error_class(their_exc):
            raise AssertionError(f"error parity: torch {their_exc!r}, tracejit {our_exc!r}")
        return None, None
    assert_same(ours, theirs, rtol=rtol, atol=atol, values=values)
    return ours, theirs


def assert_same(ours, theirs, *, rtol=None, atol=None, values=True, where="result"):
    """Same structure, dtypes, shapes and (within tolerance for floats) values."""
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, tj.Tensor), f"{where}: tracejit gave {type(ours).__name__}"
        name = dtype_name(theirs.dtype)
        assert dtype_name(ours.dtype) == name, f"{where}: dtype {ours.dtype} != {theirs.dtype}"
        assert tuple(ours.shape) == tuple(theirs.shape), (
            f"{where}: shape {tuple(ours.shape)} != {tuple(theirs.shape)}"
        )
        if values:
            assert_values(ours.detach().numpy(), theirs.detach().numpy(), name, rtol, atol, where)
    elif hasattr(theirs, "indices") and hasattr(theirs, "values"):  # torch.return_types
        for field in ("values", "indices"):
            assert_same(getattr(ours, field), getattr(theirs, field), rtol=rtol, atol=atol,
                        values=values, where=f"{where}.{field}")
    elif isinstance(theirs, list | tuple):
        assert isinstance(ours, list | tuple), f"{where}: tracejit gave {type(ours).__name__}"
        assert len(ours) == len(theirs), f"{where}: {len(ours)} items != {len(theirs)}"
        for k, (a, b) in enumerate(zip(ours, theirs)):
            assert_same(a, b, rtol=rtol, atol=atol, values=values, where=f"{where}[{k}]")
    elif isinstance(theirs, torch.dtype):
        assert dtype_name(ours) == dtype_name(theirs), f"{where}: {ours} != {theirs}"
    else:
        assert type(ours) is type(theirs), f"{where}: {type(ours)} != {type(theirs)}"
        same = ours == theirs or (isinstance(ours, float) and math.isnan(ours) and theirs != theirs)
        assert same, f"{where}: {ours!r} != {theirs!r}"


def assert_values(a: np.ndarray, b: np.ndarray, name: str, rtol, atol, where="result"):
    if name in TOLERANCES:
        default_rtol, default_atol = TOLERANCES[name]
        np.testing.assert_allclose(
            a, b, rtol=default_rtol if rtol is None else rtol,
            atol=default_atol if atol is None else atol, equal_nan=True, err_msg=where,
        )
    else:
        np.testing.assert_array_equal(a, b, err_msg=where)


def collect_failures(checks) -> list[str]:
    """Run (label, thunk) pairs; the labels and messages of those that fail."""
    failures = []
    for label, thunk in checks:
        try:
            thunk()
        except AssertionError as exc:
            failures.append(f"{label}: {str(exc).strip()[:600]}")
    return failures
