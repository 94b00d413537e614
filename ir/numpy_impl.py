"""numpy reference implementations of the op table: `impl(*arrays, **attrs) -> ndarray`.

These define what every op means. Operands arrive promoted to the dtypes the op's shape rule
expects; results may be numpy scalars or views (the caller wraps them). Random ops also take
`rng`, a numpy Generator owned by the caller.
"""

from __future__ import annotations

import math

import numpy as np

from .special import erf
from .types import DType

# --- elementwise --------------------------------------------------------------------------------


def rsqrt(x):
    return np.reciprocal(np.sqrt(x))


def sigmoid(x):
    return np.reciprocal(1 + np.exp(-x))


def silu(x):
    return x * sigmoid(x)


def relu(x):
    return np.where(x < 0, np.zeros((), x.dtype), x)  # keeps -0.0 and NaN, as torch


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


def gelu(x, *, approximate):
    if approximate == "tanh":
        inner = x.dtype.type(_SQRT_2_OVER_PI) * (x + x.dtype.type(0.044715) * x * x * x)
        return x.dtype.type(0.5) * x * (1 + np.tanh(inner))
    return x.dtype.type(0.5) * x * (1 + erf(x * x.dtype.type(1 / math.sqrt(2))))


def round_(x, *, decimals):
    if not decimals or x.dtype.kind != "f":
        return np.round(x)
    return np.round(x, decimals)


def sign(x):
    if x.dtype == np.bool_:
        return x.copy()
    return np.where(np.isnan(x), 0, np.sign(x)).astype(x.dtype)  # torch: sign(nan) == 0


def cast(x, *, dtype):
    if dtype.np == np.float16 and x.dtype.itemsize == 8:  # torch converts to half via float32
        x = x.astype(np.float32)
    return x.astype(dtype.np)


def _check_int_divisor(x, y):
    """torch's error for an integer zero divisor that is used: none when the result is empty."""
    if x.dtype.kind in "iu" and np.any(y == 0) and math.prod(np.broadcast_shapes(
            np.shape(x), np.shape(y))):
        raise RuntimeError("ZeroDivisionError")


def floor_divide(x, y):
    _check_int_divisor(x, y)
    return np.floor_divide(x, y)


def trunc_divide(x, y):
    _check_int_divisor(x, y)
    if x.dtype.kind == "f":
        return np.trunc(x / y)
    q = np.abs(x) // np.abs(y)
    return np.where((x < 0) != (y < 0), -q, q)


def remainder(x, y):
    _check_int_divisor(x, y)
    if np.result_type(x, y).kind != "f":
        return np.remainder(x, y)
    # torch: fmod, moved into the divisor's sign; a zero keeps x's sign (numpy's takes y's)
    mod = np.fmod(x, y)
    return np.where((mod != 0) & ((y < 0) != (mod < 0)), mod + y, mod)


def power(x, y, *, scalar_exponent=True):
    """torch's pow. `scalar_exponent`: the exponent was a Python number (torch's pow(Tensor,
    Scalar)), so torch's shortcuts apply; else C pow of each element, as pow(Tensor, Tensor)."""
    if x.dtype.kind in "iu" and np.any(y < 0):
        # torch: an integer to a negative power is 1 for 1, +-1 for -1 and 0 otherwise
        odd = np.remainder(y, 2) == 1
        negative = np.where(x == 1, 1, np.where(x == -1, np.where(odd, -1, 1), 0))
        return np.where(y < 0, negative, np.power(x, np.maximum(y, 0))).astype(x.dtype)
    if x.dtype == np.bool_:  # bool ** True is x, bool ** False all True (0 ** 0 == 1)
        return np.logical_or(x, np.logical_not(y))
    exponent = _read_as_scalar(x, y)
    if exponent is None:
        return np.power(x, y)
    rule = TORCH_SCALAR_POWERS.get(exponent) if scalar_exponent else None
    with np.errstate(all="ignore"):
        if rule is None:
            found = np.power(x, y)
            if exponent == 0.5 and not scalar_exponent:  # numpy's sqrt -> C pow's specials
                found = np.where(x == -np.inf, x.dtype.type(np.inf), found + x.dtype.type(0))
            return found
        return np.array(np.broadcast_to(rule(x), np.broadcast_shapes(x.shape, y.shape)))


# torch's CPU pow by a Python-number exponent (pow(Tensor, Scalar), not float16, whose kernel
# calls powf for every exponent) beyond numpy's own fast paths for a scalar exponent (-1, 0,
# 0.5, 1, 2, which torch shares): x ** 3 is x*x*x, x ** -2 is 1/(x*x), x ** -0.5 is
# 1/sqrt(x) (-inf for -0.0, nan for -inf). With a tensor exponent torch calls C pow, which
# differs from numpy's sqrt only for 0.5 at -0.0 (+0.0) and -inf (+inf): power fixes those up.
# runtime/lower_division.py's _scalar_powers mirrors all this.
TORCH_SCALAR_POWERS = {
    3.0: lambda x: x * x * x,
    -2.0: lambda x: x.dtype.type(1) / (x * x),
    -0.5: lambda x: x.dtype.type(1) / np.sqrt(x),
}


def _read_as_scalar(x, y) -> float | None:
    """y's value when numpy reads it as a scalar in x ** y (float operands of one dtype, y of
    one element, 0-d or of another shape than the result: runtime/lower_division
    .scalar_exponent), else None."""
    if x.dtype not in (np.float32, np.float64) or y.dtype != x.dtype or y.size != 1:
        return None
    if y.ndim and y.shape == np.broadcast_shapes(x.shape, y.shape):
        return None
    return float(y.reshape(()))


# --- reductions ---------------------------------------------------------------------------------


def _widened(x):
    return np.int64 if x.dtype.kind in "biu" else None


def sum_(x, *, dims, keepdim):
    return np.sum(x, axis=dims, keepdims=keepdim, dtype=_widened(x))


def prod(x, *, dims, keepdim):
    return np.prod(x, axis=dims, keepdims=keepdim, dtype=_widened(x))


def mean(x, *, dims, keepdim):
    count = math.prod(x.shape[d] for d in dims)  # 0 gives nan, without np.mean's warning
    return np.sum(x, axis=dims, keepdims=keepdim) / x.dtype.type(count)


def amax(x, *, dims, keepdim):
    return np.amax(x, axis=dims, keepdims=keepdim)


def amin(x, *, dims, keepdim):
    return np.amin(x, axis=dims, keepdims=keepdim)


def all_(x, *, dims, keepdim):
    return np.all(x, axis=dims, keepdims=keepdim)


def any_(x, *, dims, keepdim):
    return np.any(x, axis=dims, keepdims=keepdim)


def argmax(x, *, dim, keepdim):
    return _arg(np.argmax, x, dim, keepdim)


def argmin(x, *, dim, keepdim):
    return _arg(np.argmin, x, dim, keepdim)


def _arg(fn, x, dim, keepdim):
    if dim is None:
        r = fn(x.reshape(-1)) if x.size else np.zeros((), np.int64)
        return np.reshape(r, (1,) * x.ndim) if keepdim else r
    if x.ndim == 0:
        return np.zeros((), np.int64)
    return fn(x, axis=dim, keepdims=keepdim)


def cumsum(x, *, dim):
    out = np.cumsum(x, axis=dim, dtype=_widened(x)) if x.ndim else x.astype(_widened(x) or x.dtype)
    # torch's running sum starts at +0.0, so it never gives -0.0 (numpy's starts at x[0])
    return out + out.dtype.type(0) if out.dtype.kind == "f" else out


# --- matmul-like and normalization ----------------------------------------------------------------


def linear(x, w, b=None):
    y = np.matmul(x, w.T)
    return y if b is None else y + b


def softmax(x, *, dim):
    e = np.exp(x - np.amax(x, axis=dim, keepdims=True)) if x.size else x.copy()
    return e / np.sum(e, axis=dim, keepdims=True)


def log_softmax(x, *, dim):
    if not x.size:
        return x.copy()
    shifted = x - np.amax(x, axis=dim, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=dim, keepdims=True))


def layer_norm(x, w=None, b=None, *, normalized_ndim, eps):
    axes = tuple(range(x.ndim - normalized_ndim, x.ndim))
    mu = np.mean(x, axis=axes, keepdims=True)
    d = x - mu
    var = np.mean(d * d, axis=axes, keepdims=True)
    y = d * np.reciprocal(np.sqrt(var + x.dtype.type(eps)))
    if w is not None:
        y = y * w
    if b is not None:
        y = y + b
    return y


# --- movement and indexing ----------------------------------------------------------------------


def reshape(x, *, shape):
    return np.reshape(x, shape)


def permute(x, *, dims):
    return np.transpose(x, dims)


def expand(x, *, shape):
    """A view, writable when `x` is (as torch's): a write into it is refused only where two of
    the written elements share one memory location (`has_internal_overlap`, checked on write)."""
    out = np.broadcast_to(x, shape)
    if x.flags.writeable:
        out = np.lib.stride_tricks.as_strided(x, out.shape, out.strides, writeable=True)
    return out


def has_internal_overlap(x) -> bool:
    """Whether a write to `x` would write one memory location twice (a stride-0 dim of size > 1:
    torch refuses in-place writes into such a tensor)."""
    return x.size > 1 and any(s == 0 and n > 1 for s, n in zip(x.strides, x.shape))


def slice_(x, *, starts, stops, steps):
    # the leading ... keeps a 0-d result a view (x[()] of a 0-d array is a numpy scalar copy)
    return x[(..., *(slice(a, b, c) for a, b, c in zip(starts, stops, steps)))]


def cat(*xs, dim):
    return np.concatenate(xs, axis=dim)


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad(x, *, pads, mode, value):
    if x.ndim == 0:  # nothing to pad (np.pad rejects an empty pad_width)
        return x.copy()
    widths = [(0, 0)] * x.ndim
    for k in range(len(pads) // 2):
        widths[x.ndim - 1 - k] = (pads[2 * k], pads[2 * k + 1])
    crop = tuple(slice(max(-lo, 0), x.shape[d] - max(-hi, 0)) for d, (lo, hi) in enumerate(widths))
    x = x[crop]
    widths = [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
    if mode == "constant":
        return np.pad(x, widths, mode="constant", constant_values=x.dtype.type(value))
    return np.pad(x, widths, mode=_PAD_MODES[mode])


def _index_key(spec, idx):
    key, k = [], 0
    for entry in spec:
        kind = entry[0]
        if kind == "slice":
            key.append(slice(*entry[1:]))
        elif kind == "int":
            key.append(entry[1])
        elif kind == "none":
            key.append(None)
        else:
            key.append(idx[k])
            k += 1
    return tuple(key)


def _select_ints(x, spec, idx):
    """torch applies integer entries first, as selects (a view), then the rest of the key; numpy
    would count them as advanced indices (x[0, :, i] puts i's dims first)."""
    if not any(e[0] == "int" for e in spec) or not idx:
        return x, spec
    key, k = [], 0
    for entry in spec:
        if entry[0] == "int":
            key.append(entry[1])
        elif entry[0] == "tensor":
            t = idx[k]
            k += 1
            key.extend([slice(None)] * (t.ndim if t.dtype == np.bool_ else 1))
        elif entry[0] == "slice":
            key.append(slice(None))
    return x[tuple(key)], tuple(e for e in spec if e[0] != "int")


def _check_bounds(x, spec, idx) -> None:
    """torch's message for an index tensor entry out of range (numpy's says 'axis')."""
    dim, k = 0, 0
    for entry in spec:
        if entry[0] == "tensor":
            t = idx[k]
            k += 1
            if t.dtype == np.bool_:
                dim += t.ndim
                continue
            n = x.shape[dim]
            if t.size and (t.min() < -n or t.max() >= n):
                bad = t[(t < -n) | (t >= n)].flat[0]
                raise IndexError(f"index {bad} is out of bounds for dimension {dim} with size {n}")
        dim += entry[0] != "none"


def index(x, *idx, spec):
    x, spec = _select_ints(x, spec, idx)
    _check_bounds(x, spec, idx)
    return x[_index_key(spec, idx)]


def index_put(x, value, *idx, spec, accumulate=False):
    out = x.copy()
    view, spec = _select_ints(out, spec, idx)
    _check_bounds(view, spec, idx)
    lead = next((i for i, n in enumerate(value.shape) if n != 1), value.ndim)
    value = value.reshape(value.shape[lead:])  # torch drops leading 1s
    if accumulate:  # repeated indices add up (np.add.at), as torch's index_put_(accumulate=True)
        key = _index_key(spec, idx)
        np.add.at(view, key, np.broadcast_to(value, view[key].shape))
    else:
        view[_index_key(spec, idx)] = value
    return out


def gather(x, idx, *, dim):
    x = x[tuple(slice(None) if d == dim else slice(0, n) for d, n in enumerate(idx.shape))]
    n = x.shape[dim] if x.ndim else 1
    if idx.size and (idx.min() < 0 or idx.max() >= n):  # torch: no negative indices
        bad = idx[(idx < 0) | (idx >= n)].flat[0]
        raise RuntimeError(
            f"gather(): index {bad} is out of bounds for dimension {dim} with size {n}"
        )
    if x.ndim == 0:
        return x.copy()
    return np.take_along_axis(x, idx, axis=dim)


def tril(x, *, diagonal):
    return np.tril(x, diagonal)


def triu(x, *, diagonal):
    return np.triu(x, diagonal)


# --- creation -----------------------------------------------------------------------------------


def full(*, shape, value, dtype):
    if isinstance(value, int) and not isinstance(value, bool) and dtype.np.kind in "iu":
        value = np.array(value, np.int64).astype(dtype.np)  # wraps, as torch: uint8 -1 is 255
    return np.full(shape, value, dtype=dtype.np)


def arange(*, start, end, step, dtype):
    from .shape_rules import arange_length

    n = arange_length(start, end, step)
    if dtype.is_floating_point or any(isinstance(v, float) for v in (start, end, step)):
        return (start + np.arange(n, dtype=np.float64) * step).astype(dtype.np)
    return np.arange(start, start + n * step, step, dtype=dtype.np)[:n]


def linspace(*, start, end, steps, dtype):
    if steps == 1:
        return np.full((1,), start, dtype=np.float64).astype(dtype.np)
    step = (end - start) / max(steps - 1, 1)
    i = np.arange(steps, dtype=np.float64)
    half = steps // 2
    vals = np.where(i < half, start + i * step, end - (steps - 1 - i) * step)
    return vals.astype(dtype.np)


def eye(*, n, m, dtype):
    return np.eye(n, m, dtype=dtype.np)


def rand(*, shape, dtype, rng):
    if dtype.is_floating_point:  # numpy draws float32 or float64 only
        return rng.random(shape, dtype=np.float32 if dtype.itemsize < 4 else dtype.np)
    raise RuntimeError(f'"check_uniform_bounds" not implemented for {dtype.value} tensors')


def randn(*, shape, dtype, rng):
    if dtype.is_floating_point:
        return rng.standard_normal(shape, dtype=np.float32 if dtype.itemsize < 4 else dtype.np)
    raise RuntimeError(f'"normal_kernel_cpu" not implemented for {dtype.value} tensors')


def randint(*, low, high, shape, dtype, rng):
    if dtype is DType.bool:
        return rng.integers(low, high, shape).astype(np.bool_)
    return rng.integers(low, high, shape, dtype=np.int64).astype(dtype.np)


def constant(*, value):
    return value.array
