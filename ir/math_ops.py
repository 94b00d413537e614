"""numpy references of the elementwise math ops numpy has no ufunc for (erfc, lgamma) and of the
bit shifts with torch's (and numpy's) out-of-range rule.

The other new elementwise math ops (the inverse trigonometric and hyperbolic functions, atan2,
fmod) are numpy ufuncs directly; the table lists them.
The llvm backend calls the C library for all of them (runtime/lower.py, `LIBM`).
"""

from __future__ import annotations

import math

import numpy as np


def _per_element(fn, x):
    """fn applied to each element in float64, the result in x's float dtype."""
    x = np.asarray(x)
    out = np.frompyfunc(fn, 1, 1)(x.astype(np.float64))
    return np.asarray(out, dtype=np.float64).astype(x.dtype, copy=False)


def _lgamma1(v: float) -> float:
    try:
        return math.lgamma(v)
    except ValueError:  # the poles 0, -1, -2, ...: +inf as in C and torch
        return math.inf


def erfc(x):
    """1 - erf(x) without cancellation (the C library's erfc, correctly rounded per element)."""
    return _per_element(math.erfc, x)


def lgamma(x):
    """log |gamma(x)|: +inf at the poles (0 and the negative integers) and at -inf."""
    return _per_element(_lgamma1, x)


def shift_left(x, y):
    """x << y; a shift by a negative amount or by the width or more gives 0 (as torch)."""
    bits = x.dtype.itemsize * 8
    inside = (y >= 0) & (y < bits)
    return np.where(inside, np.left_shift(x, np.where(inside, y, 0)), 0).astype(x.dtype)


def shift_right(x, y):
    """x >> y (arithmetic for signed, logical for uint8); out of range: the sign fill."""
    bits = x.dtype.itemsize * 8
    inside = (y >= 0) & (y < bits)
    fill = np.where(x < 0, -1, 0).astype(x.dtype)
    return np.where(inside, np.right_shift(x, np.where(inside, y, 0)), fill).astype(x.dtype)
