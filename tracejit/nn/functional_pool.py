"""torch.nn.functional's pooling beyond max_pool2d/avg_pool2d: 1-d and 3-d, adaptive, power
average, fractional, with indices where torch gives them, and the max unpools.

1-d pools run the 2-d op on a height-1 image; 3-d pools run it per depth plane and reduce
over depth windows; indices come from the window elements stacked along a new dim (argmax).
"""

from __future__ import annotations

import itertools
import operator
from typing import TYPE_CHECKING

import numpy as np

from tracejit import creation
from tracejit import functions as fn
from tracejit.ir import DType
from tracejit.nn.functional import _ints, avg_pool2d, max_pool2d, pad
from tracejit.nn.functional_act import _require_float
from tracejit.nn.functional_conv import _tuple

if TYPE_CHECKING:
    from tracejit.tensor import Tensor

# --- pooling ------------------------------------------------------------------------------------

def _check_pool1d_input(name: str, input) -> None:
    if input.ndim not in (2, 3):
        raise RuntimeError(
            f"{name}: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch size for "
            f"input, but got: {list(input.shape)}"
        )


def _one(value, name: str) -> int:
    v = _ints((value,) if isinstance(value, int) else tuple(value), name)
    if len(v) != 1:
        raise RuntimeError(f"{name} must be a single int or a tuple of one int, got {list(v)}")
    return v[0]


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False) -> Tensor | tuple[Tensor, Tensor]:
    """Window maxima over the last dim (stride defaults to kernel_size)."""
    _check_pool1d_input("max_pool1d", input)
    k = _one(kernel_size, "kernel_size")
    s = k if stride is None or stride == () else _one(stride, "stride")
    window = ((1, k), (1, s), (0, _one(padding, "padding")), (1, _one(dilation, "dilation")))
    if return_indices:
        out, indices = max_pool2d_with_indices(input.unsqueeze(-2), *window, ceil_mode)
        return out.squeeze(-2), indices.squeeze(-2)
    return max_pool2d(input.unsqueeze(-2), *window, ceil_mode).squeeze(-2)


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=True) -> tuple[Tensor, Tensor]:
    """max_pool1d's values and the index of each maximum along the last dim."""
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=True) -> tuple[Tensor, Tensor]:
    """max_pool2d's values and the flat index (row * W + col) of each maximum in its plane."""
    values = max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode)
    return values, _max_indices(input, values, 2, kernel_size, stride, padding, dilation)


def max_pool3d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=True) -> tuple[Tensor, Tensor]:
    """max_pool3d's values and the flat index of each maximum in its (D, H, W) volume."""
    values = max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode)
    return values, _max_indices(input, values, 3, kernel_size, stride, padding, dilation)


def _max_indices(input, values, n: int, kernel_size, stride, padding, dilation):
    """Where each window maximum sits (flat over the last n dims): the window elements
    stacked along a new dim, then argmax (the first maximum wins, like torch)."""
    k, p, d = (_tuple(v, n, name) for v, name in ((kernel_size, "kernel_size"),
                                                   (padding, "padding"), (dilation, "dilation")))
    s = k if stride is None or stride == () else _tuple(stride, n, "stride")
    out, sizes = tuple(values.shape[-n:]), tuple(input.shape[-n:])
    pads = []
    for dim in reversed(range(n)):
        need = (out[dim] - 1) * s[dim] + d[dim] * (k[dim] - 1) + 1
        pads += [p[dim], need - sizes[dim] - p[dim]]
    lowest = float("-inf") if input.dtype.is_floating_point else int(
        np.iinfo(input.dtype.value).min)
    x = pad(input, pads, value=lowest)
    windows = [x[(..., *(slice(o * dl, o * dl + (m - 1) * st + 1, st)
                         for o, dl, m, st in zip(offset, d, out, s)))]
               for offset in itertools.product(*(range(kk) for kk in k))]
    which = fn.stack(windows, -n - 1).argmax(-n - 1)
    index, scale = None, 1
    for dim in reversed(range(n)):
        which, offset = which // k[dim], which % k[dim]
        shape = [1] * n
        shape[dim] = out[dim]
        position = creation.arange(out[dim]).reshape(shape) * s[dim] - p[dim] + offset * d[dim]
        index = position * scale if index is None else index + position * scale
        scale *= sizes[dim]
    return index


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True) -> Tensor:
    """Window means over the last dim (stride defaults to kernel_size)."""
    _check_pool1d_input("avg_pool1d", input)
    k = _one(kernel_size, "kernel_size")
    s = k if stride is None or stride == () else _one(stride, "stride")
    out = avg_pool2d(input.unsqueeze(-2), (1, k), (1, s), (0, _one(padding, "padding")),
                     ceil_mode, count_include_pad)
    return out.squeeze(-2)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """The inverse of max_pool1d: values scattered to their indices in zeros."""
    k = _one(kernel_size, "kernel_size")
    s = k if stride is None else _one(stride, "stride")
    default = ((input.shape[-1] - 1) * s - 2 * _one(padding, "padding") + k,)
    return _unpool(input, indices, _unpool_size(output_size, default, (s,)))


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """The inverse of max_pool2d: values scattered to their flat indices in zeros."""
    k, p = _tuple(kernel_size, 2, "kernel_size"), _tuple(padding, 2, "padding")
    s = k if stride is None else _tuple(stride, 2, "stride")
    default = tuple((n - 1) * st - 2 * pp + kk
                    for n, st, pp, kk in zip(input.shape[-2:], s, p, k))
    return _unpool(input, indices, _unpool_size(output_size, default, s))


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """The inverse of max_pool3d: values scattered to their flat indices in zeros."""
    k, p = _tuple(kernel_size, 3, "kernel_size"), _tuple(padding, 3, "padding")
    s = k if stride is None else _tuple(stride, 3, "stride")
    default = tuple((n - 1) * st - 2 * pp + kk
                    for n, st, pp, kk in zip(input.shape[-3:], s, p, k))
    return _unpool(input, indices, _unpool_size(output_size, default, s))


def _unpool_size(output_size, default: tuple, stride: tuple) -> tuple:
    """torch's _unpool_output_size: the default, or output_size within a stride of it."""
    if output_size is None:
        return default
    size = tuple(output_size)
    if len(size) == len(default) + 2:
        size = size[2:]
    if len(size) != len(default):
        raise ValueError(f"output_size should be a sequence containing {len(default)} or "
                         f"{len(default) + 2} elements, but it has a length of '{len(size)}'")
    for d, (n, base, st) in enumerate(zip(size, default, stride)):
        if not base - st < n < base + st:
            raise ValueError(f'invalid output_size "{output_size}" (dim {d} must be between '
                             f"{base - st} and {base + st})")
    return size


def _unpool(input, indices, size: tuple):
    if tuple(indices.shape) != tuple(input.shape):
        raise RuntimeError(
            f"Expected shape of indices to be same as that of the input tensor "
            f"({list(input.shape)}) but got indices tensor with shape: {list(indices.shape)}"
        )
    n = len(size)
    lead = tuple(input.shape[:-n])
    flat = input.reshape(*lead, -1)
    total = 1
    for v in size:
        total *= v
    out = creation.zeros(*lead, total, dtype=input.dtype)
    out = out.scatter(-1, indices.reshape(*lead, -1), flat)
    return out.reshape(*lead, *size)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False) -> Tensor | tuple[Tensor, Tensor]:
    """Window maxima over the last three dims: max_pool2d per depth window, then a max."""
    if input.ndim not in (4, 5):
        raise RuntimeError(f"max_pool3d: Expected 4D or 5D tensor, but got {list(input.shape)}")
    k, p, d = (_tuple(v, 3, n) for v, n in ((kernel_size, "kernel_size"), (padding, "padding"),
                                              (dilation, "dilation")))
    s = k if stride is None or stride == () else _tuple(stride, 3, "stride")
    if return_indices:
        return max_pool3d_with_indices(input, k, s, p, d, ceil_mode)
    x = input.unsqueeze(0) if input.ndim == 4 else input
    if p[0]:
        x = pad(x, (0, 0, 0, 0, p[0], p[0]), value=float("-inf"))
    out = _depth_windows(x, k[0], s[0], d[0], ceil_mode, p[0], lambda planes: max_pool2d(
        planes, k[1:], s[1:], p[1:], d[1:], ceil_mode), "amax")
    return out.squeeze(0) if input.ndim == 4 else out


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None) -> Tensor:
    """Window means over the last three dims (no ceil_mode and count_include_pad only)."""
    if input.ndim not in (4, 5):
        raise RuntimeError(f"avg_pool3d: Expected 4D or 5D tensor, but got {list(input.shape)}")
    if ceil_mode or not count_include_pad or divisor_override is not None:
        raise NotImplementedError(
            "avg_pool3d supports ceil_mode=False, count_include_pad=True and "
            "divisor_override=None only"
        )
    k, p = _tuple(kernel_size, 3, "kernel_size"), _tuple(padding, 3, "padding")
    s = k if stride is None or stride == () else _tuple(stride, 3, "stride")
    x = input.unsqueeze(0) if input.ndim == 4 else input
    if p[0]:
        x = pad(x, (0, 0, 0, 0, p[0], p[0]))
    out = _depth_windows(x, k[0], s[0], 1, False, p[0], lambda planes: avg_pool2d(
        planes, k[1:], s[1:], p[1:]), "mean")
    return out.squeeze(0) if input.ndim == 4 else out


def _depth_windows(x, k, s, d, ceil_mode, p, pool2d, reduce: str):
    """pool2d on every depth plane, then `reduce` over each depth window of k planes."""
    n, c, depth = x.shape[:3]
    span = d * (k - 1) + 1
    out_depth = (depth - span + ((s - 1) if ceil_mode else 0)) // s + 1
    if ceil_mode and (out_depth - 1) * s >= depth - p:
        out_depth -= 1
    planes = pool2d(x.reshape(n, c * depth, *x.shape[3:]))
    planes = planes.reshape(n, c, depth, *planes.shape[2:])
    windows = []
    for i in range(out_depth):
        stop = min(i * s + span, depth)
        window = planes[:, :, i * s:stop:d]
        windows.append(window.amax(2) if reduce == "amax" else window.mean(2))
    return fn.stack(windows, 2)


def _adaptive_sizes(name: str, input, output_size, n: int) -> tuple[int, ...]:
    if input.ndim not in (n + 1, n + 2):
        raise RuntimeError(
            f"{name}(): Expected {n + 1}D or {n + 2}D tensor, but got {list(input.shape)}"
        )
    sizes = (output_size,) * n if output_size is None or isinstance(output_size, int) \
        else tuple(output_size)
    if len(sizes) != n:
        raise RuntimeError(f"{name}: output_size must be {n}")
    shape = input.shape[-n:]
    return tuple(shape[i] if s is None else operator.index(s) for i, s in enumerate(sizes))


def _adaptive(x, dim: int, size: int, reduce: str):
    """torch's adaptive windows [floor(i*n/o), ceil((i+1)*n/o)) along `dim`, each reduced."""
    n = x.shape[dim]
    if size == n:
        return x
    if size and n % size == 0:
        parts = fn.unflatten(x, dim, (size, n // size))
        return parts.amax(dim + 1) if reduce == "amax" else parts.mean(dim + 1)
    parts = []
    for i in range(size):
        a, b = i * n // size, -(-(i + 1) * n // size)
        window = fn.narrow(x, dim, a, b - a)
        parts.append(window.amax(dim, keepdim=True) if reduce == "amax"
                     else window.mean(dim, keepdim=True))
    return fn.cat(parts, dim)


def _adaptive_pool(name: str, input, output_size, n: int, reduce: str):
    sizes = _adaptive_sizes(name, input, output_size, n)
    if reduce == "mean":
        _require_float("adaptive_avg_pool3d_cpu" if n == 3 else "adaptive_avg_pool2d", input)
    for axis, size in zip(range(input.ndim - n, input.ndim), sizes):
        if input.shape[axis] == 0 and size:
            raise RuntimeError(f"{name}(): Expected input to have non-zero size for non-batch "
                               f"dimensions, but input has sizes {list(input.shape)}")
    out = input
    for axis, size in zip(range(input.ndim - n, input.ndim), sizes):
        out = _adaptive(out, axis, size, reduce)
    return out


def adaptive_avg_pool1d(input, output_size) -> Tensor:
    """Means over torch's adaptive windows of the last dim."""
    return _adaptive_pool("adaptive_avg_pool1d", input, output_size, 1, "mean")


def adaptive_avg_pool3d(input, output_size) -> Tensor:
    """Means over torch's adaptive windows of the last three dims."""
    return _adaptive_pool("adaptive_avg_pool3d", input, output_size, 3, "mean")


def adaptive_max_pool1d(input, output_size, return_indices=False) -> Tensor | tuple[Tensor, Tensor]:
    """Maxima over torch's adaptive windows of the last dim (and their indices)."""
    if return_indices:
        return _adaptive_max_indexed("adaptive_max_pool1d", input, output_size, 1)
    return _adaptive_pool("adaptive_max_pool1d", input, output_size, 1, "amax")


def adaptive_max_pool2d(input, output_size, return_indices=False) -> Tensor | tuple[Tensor, Tensor]:
    """Maxima over torch's adaptive windows of the last two dims (and their flat indices)."""
    if return_indices:
        return _adaptive_max_indexed("adaptive_max_pool2d", input, output_size, 2)
    return _adaptive_pool("adaptive_max_pool2d", input, output_size, 2, "amax")


def _adaptive_max_indexed(name: str, input, output_size, n: int):
    """(maxima, flat indices): windows along the last dim first, then each earlier dim picks
    the best of the already-reduced lines and looks up their index, so the first maximum in
    row-major order wins, as in torch."""
    values = _adaptive_pool(name, input, output_size, n, "amax")
    sizes = tuple(values.shape[-n:])
    best, flat = _adaptive_argmax(input, input.ndim - 1, sizes[-1])
    scale = input.shape[-1]
    for dim in reversed(range(input.ndim - n, input.ndim - 1)):
        length, count = input.shape[dim], sizes[dim - input.ndim + n]
        kept, where = [], []
        for i in range(count):
            a, b = i * length // count, -(-(i + 1) * length // count)
            window = fn.narrow(best, dim, a, b - a)
            pick = window.argmax(dim, keepdim=True)
            kept.append(window.amax(dim, keepdim=True))
            where.append((pick + a) * scale + fn.narrow(flat, dim, a, b - a).gather(dim, pick))
        best, flat = fn.cat(kept, dim), fn.cat(where, dim)
        scale *= length
    return values, flat


def _adaptive_argmax(x, dim: int, size: int):
    """Per adaptive window along `dim`: (max, index along dim of its first occurrence)."""
    n = x.shape[dim]
    parts, where = [], []
    for i in range(size):
        a, b = i * n // size, -(-(i + 1) * n // size)
        window = fn.narrow(x, dim, a, b - a)
        parts.append(window.amax(dim, keepdim=True))
        where.append(window.argmax(dim, keepdim=True) + a)
    return fn.cat(parts, dim), fn.cat(where, dim)


def adaptive_max_pool3d(input, output_size, return_indices=False) -> Tensor | tuple[Tensor, Tensor]:
    """Maxima over torch's adaptive windows of the last three dims (and their flat indices)."""
    if return_indices:
        return _adaptive_max_indexed("adaptive_max_pool3d", input, output_size, 3)
    return _adaptive_pool("adaptive_max_pool3d", input, output_size, 3, "amax")


def adaptive_max_pool3d_with_indices(input, output_size,
                                     return_indices=True) -> tuple[Tensor, Tensor]:
    """adaptive_max_pool3d's maxima and their flat indices."""
    return adaptive_max_pool3d(input, output_size, True)


def adaptive_max_pool1d_with_indices(input, output_size,
                                     return_indices=True) -> tuple[Tensor, Tensor]:
    """adaptive_max_pool1d's maxima and their indices."""
    return adaptive_max_pool1d(input, output_size, True)


def adaptive_max_pool2d_with_indices(input, output_size,
                                     return_indices=True) -> tuple[Tensor, Tensor]:
    """adaptive_max_pool2d's maxima and their flat indices."""
    return adaptive_max_pool2d(input, output_size, True)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False) -> Tensor:
    """(sum over each window of x ** p) ** (1 / p) over the last dim."""
    out = avg_pool1d(input.pow(norm_type), kernel_size, stride, 0, ceil_mode)
    return _lp_finish(out, _one(kernel_size, "kernel_size"), norm_type)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False) -> Tensor:
    """(sum over each window of x ** p) ** (1 / p) over the last two dims."""
    kh, kw = _tuple(kernel_size, 2, "kernel_size")
    out = avg_pool2d(input.pow(norm_type), (kh, kw), stride, 0, ceil_mode)
    return _lp_finish(out, kh * kw, norm_type)


def _lp_finish(mean, count: int, norm_type):
    return (mean.sign() * mean.abs().relu() * count).pow(1.0 / norm_type)


# --- fractional max pooling ---------------------------------------------------------------------

def fractional_max_pool2d(input, kernel_size, output_size=None, output_ratio=None,
                          return_indices=False,
                          _random_samples=None) -> Tensor | tuple[Tensor, Tensor]:
    """Max pooling over pseudo-random windows (Graham, 2014) whose starts come from one
    uniform sample per (sample, channel, dim): torch's interval rule, as one gather."""
    return _fractional_max_pool(2, input, kernel_size, output_size, output_ratio,
                                return_indices, _random_samples)


def fractional_max_pool3d(input, kernel_size, output_size=None, output_ratio=None,
                          return_indices=False,
                          _random_samples=None) -> Tensor | tuple[Tensor, Tensor]:
    """The 3-d fractional max pooling (depth, height and width windows)."""
    return _fractional_max_pool(3, input, kernel_size, output_size, output_ratio,
                                return_indices, _random_samples)


def _fractional_max_pool(n, input, kernel_size, output_size, output_ratio, return_indices,
                         samples):
    name = f"fractional_max_pool{n}d"
    if input.ndim not in (n + 1, n + 2):
        raise RuntimeError(f"{name}(): Expected {n + 1}D or {n + 2}D tensor, but got: "
                           f"{list(input.shape)}")
    if output_size is None and output_ratio is None:
        raise ValueError(f"{name} requires specifying either an output_size or an output_ratio")
    x = input.unsqueeze(0) if input.ndim == n + 1 else input
    batch, channels, *sizes = x.shape
    kernel = _tuple(kernel_size, n, "kernel_size")
    if output_size is None:
        ratio = (output_ratio,) * n if isinstance(output_ratio, (int, float)) \
            else tuple(output_ratio)
        out = tuple(int(size * r) for size, r in zip(sizes, ratio))
    else:
        out = _tuple(output_size, n, "output_size")
    for size, o, k in zip(sizes, out, kernel):
        if o + k - 1 > size:
            raise RuntimeError(f"{name}(): pool size {k} and output size {o} are too large "
                               f"for input size {size}")
    if samples is None:
        samples = creation.rand(batch, channels, n, dtype=input.dtype)
    order = (1, 0) if n == 2 else (0, 1, 2)  # torch's 2-d kernel reads the width sample first
    index = None
    for dim in range(n):
        starts = _interval_starts(samples[..., order[dim]], sizes[dim], out[dim], kernel[dim])
        along = [out[dim] if j == dim else 1 for j in range(n)]
        position = starts.reshape(batch, channels, *along, *[1] * n)
        offsets = creation.arange(kernel[dim]).reshape(
            *[1] * (2 + n), *[kernel[dim] if j == dim else 1 for j in range(n)])
        stride = 1
        for later in sizes[dim + 1:]:
            stride *= later
        term = (position + offsets) * stride
        index = term if index is None else index + term
    flat_index = index.reshape(batch, channels, -1)
    flat = x.reshape(batch, channels, -1)
    picked = flat.gather(2, flat_index).reshape(batch, channels, *out, -1)
    values = picked.amax(-1)
    squeeze = input.ndim == n + 1
    if not return_indices:
        return values.squeeze(0) if squeeze else values
    where = picked.argmax(-1, keepdim=True)
    indices = index.reshape(batch, channels, *out, -1).gather(-1, where).squeeze(-1)
    return (values.squeeze(0), indices.squeeze(0)) if squeeze else (values, indices)


def fractional_max_pool2d_with_indices(input, kernel_size, output_size=None, output_ratio=None,
                                       return_indices=True,
                                       _random_samples=None) -> tuple[Tensor, Tensor]:
    """fractional_max_pool2d's maxima and their flat indices."""
    return fractional_max_pool2d(input, kernel_size, output_size, output_ratio, True,
                                 _random_samples)


def fractional_max_pool3d_with_indices(input, kernel_size, output_size=None, output_ratio=None,
                                       return_indices=True,
                                       _random_samples=None) -> tuple[Tensor, Tensor]:
    """fractional_max_pool3d's maxima and their flat indices."""
    return fractional_max_pool3d(input, kernel_size, output_size, output_ratio, True,
                                 _random_samples)


def _interval_starts(sample, size: int, out: int, kernel: int):
    """torch's generate_intervals: floor((i + u) * alpha) - floor(u * alpha), the last window
    ending at the input's end."""
    last = creation.full((*sample.shape, 1), size - kernel, dtype=DType.int64)
    if out == 1:
        return last
    alpha = (size - kernel) / (out - 1)
    steps = creation.arange(out - 1, dtype=sample.dtype)
    u = sample.unsqueeze(-1)
    starts = ((steps + u) * alpha).floor() - (u * alpha).floor()
    return fn.cat([starts.to(DType.int64), last], -1)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False) -> Tensor:
    """(sum over each window of x ** p) ** (1 / p) over the last three dims."""
    if ceil_mode:
        raise NotImplementedError("lp_pool3d(ceil_mode=True) is not supported")
    k = _tuple(kernel_size, 3, "kernel_size")
    out = avg_pool3d(input.pow(norm_type), k, stride, 0)
    return _lp_finish(out, k[0] * k[1] * k[2], norm_type)


__all__ = [
    "adaptive_avg_pool1d", "adaptive_avg_pool3d", "adaptive_max_pool1d",
    "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d", "adaptive_max_pool2d_with_indices",
    "adaptive_max_pool3d", "adaptive_max_pool3d_with_indices", "avg_pool1d", "avg_pool3d",
    "fractional_max_pool2d",
    "fractional_max_pool2d_with_indices", "fractional_max_pool3d",
    "fractional_max_pool3d_with_indices", "lp_pool1d", "lp_pool2d", "lp_pool3d", "max_pool1d",
    "max_pool1d_with_indices", "max_pool2d_with_indices", "max_pool3d",
    "max_pool3d_with_indices", "max_unpool1d", "max_unpool2d", "max_unpool3d",
]
