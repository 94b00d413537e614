"""Numpy reference kernels for 2-D convolution and pooling, with PyTorch's semantics.

Inputs are NCHW or unbatched CHW; the `*_shape` rules raise the exception types torch raises.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

Pair = tuple[int, int]


def _fmt(shape) -> str:
    return str(tuple(int(d) for d in shape))


# ---------------------------------------------------------------- convolution: shape rule


def conv2d_shape(
    x_shape, w_shape, b_shape, *, stride, padding, dilation, groups
) -> tuple[int, ...]:
    """Output shape of `conv2d` for these operand shapes; raises RuntimeError where torch does.

    `b_shape` is None when there is no bias.
    """
    x_shape, w_shape = tuple(x_shape), tuple(w_shape)
    _check_conv_ranks(x_shape, w_shape)
    _check_conv_params(w_shape, stride, padding, dilation, groups)
    _check_conv_channels(x_shape, w_shape, b_shape, groups)
    oh, ow = _check_conv_spatial(x_shape, w_shape, stride, padding, dilation)
    # torch quirk: an input with zero channels gives an output with zero channels.
    out_ch = w_shape[0] if x_shape[-3] else 0
    return (*x_shape[:-3], out_ch, oh, ow)


def _check_conv_ranks(x_shape, w_shape) -> None:
    if len(x_shape) not in (3, 4):
        raise RuntimeError(
            f"conv2d: expected 3-d (unbatched) or 4-d (batched) input, got input of shape "
            f"{_fmt(x_shape)}"
        )
    if len(w_shape) != 4:
        raise RuntimeError(
            f"conv2d: expected 4-d weight (out_channels, in_channels // groups, kH, kW), "
            f"got weight of shape {_fmt(w_shape)}"
        )


def _check_conv_params(w_shape, stride, padding, dilation, groups) -> None:
    if any(p < 0 for p in padding):
        raise RuntimeError(f"conv2d: negative padding={tuple(padding)} is not supported")
    if any(s <= 0 for s in stride):
        raise RuntimeError(f"conv2d: non-positive stride={tuple(stride)} is not supported")
    if any(d <= 0 for d in dilation):
        raise RuntimeError(f"conv2d: dilation should be positive, got dilation={tuple(dilation)}")
    if groups <= 0:
        raise RuntimeError(f"conv2d: non-positive groups={groups} is not supported")
    if any(k <= 0 for k in w_shape[2:]):
        raise RuntimeError(
            f"conv2d: kernel size should be positive, got weight of shape {_fmt(w_shape)}"
        )


def _check_conv_channels(x_shape, w_shape, b_shape, groups) -> None:
    out_ch, in_per_group = w_shape[0], w_shape[1]
    if out_ch < groups or out_ch % groups:
        raise RuntimeError(
            f"conv2d: weight of shape {_fmt(w_shape)} has {out_ch} output channels, "
            f"which is not a positive multiple of groups={groups}"
        )
    if x_shape[-3] != in_per_group * groups:
        raise RuntimeError(
            f"conv2d: expected input with {in_per_group * groups} channels (weight "
            f"{_fmt(w_shape)} with groups={groups}), got input of shape {_fmt(x_shape)}"
        )
    if b_shape is not None and tuple(b_shape) != (out_ch,):
        raise RuntimeError(
            f"conv2d: expected bias of shape ({out_ch},) for weight {_fmt(w_shape)}, "
            f"got bias of shape {_fmt(b_shape)}"
        )


def _check_conv_spatial(x_shape, w_shape, stride, padding, dilation) -> Pair:
    batch = x_shape[0] if len(x_shape) == 4 else 1
    size = x_shape[-2:]
    if batch and x_shape[-3] and 0 in size:
        raise RuntimeError(
            f"conv2d: only zero batch or zero channel inputs may be empty, "
            f"got input of shape {_fmt(x_shape)}"
        )
    padded = [n + 2 * p for n, p in zip(size, padding, strict=True)]
    kernel = [d * (k - 1) + 1 for k, d in zip(w_shape[2:], dilation, strict=True)]
    if any(n < k for n, k in zip(padded, kernel, strict=True)):
        raise RuntimeError(
            f"conv2d: padded input size {tuple(padded)} (input {_fmt(x_shape)}, padding="
            f"{tuple(padding)}) is smaller than the dilated kernel size {tuple(kernel)} "
            f"(weight {_fmt(w_shape)}, dilation={tuple(dilation)})"
        )
    oh, ow = ((n - k) // s + 1 for n, k, s in zip(padded, kernel, stride, strict=True))
    return oh, ow


# ---------------------------------------------------------------- convolution: kernel


def conv2d(x, w, b=None, *, stride, padding, dilation, groups) -> np.ndarray:
    """torch.nn.functional.conv2d: cross-correlation of `x` (NCHW or CHW) with `w`, plus `b`.

    Computed as one im2col matmul per group, so float32 accumulates in float32 like sgemm.
    """
    b_shape = None if b is None else np.shape(b)
    out_shape = conv2d_shape(
        x.shape,
        w.shape,
        b_shape,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
    )
    dtype = np.result_type(x.dtype, w.dtype)
    if 0 in out_shape:
        return np.zeros(out_shape, dtype)
    xb = (x[None] if x.ndim == 3 else x).astype(dtype, copy=False)
    cols = _im2col(xb, w.shape[2:], stride, padding, dilation, groups)
    wm = w.astype(dtype, copy=False).reshape(groups, w.shape[0] // groups, -1)
    out = np.matmul(wm, cols)  # (G, O/G, N*OH*OW)
    n, (oh, ow) = xb.shape[0], out_shape[-2:]
    out = np.ascontiguousarray(out.reshape(w.shape[0], n, oh, ow).transpose(1, 0, 2, 3))
    if b is not None:
        out += np.asarray(b).astype(dtype, copy=False).reshape(-1, 1, 1)
    return out.reshape(out_shape)


def _im2col(xb, kernel, stride, padding, dilation, groups) -> np.ndarray:
    """Columns (G, C/G * kH * kW, N * OH * OW) of the zero-padded batched input `xb`."""
    (ph, pw), (sh, sw), (dh, dw) = padding, stride, dilation
    xp = np.pad(xb, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True))
    win = sliding_window_view(xp, span, axis=(2, 3))[:, :, ::sh, ::sw, ::dh, ::dw]
    n, c, oh, ow, kh, kw = win.shape
    win = win.reshape(n, groups, c // groups, oh, ow, kh, kw)
    win = win.transpose(1, 2, 5, 6, 0, 3, 4)  # (G, C/G, kH, kW, N, OH, OW)
    return win.reshape(groups, (c // groups) * kh * kw, n * oh * ow)


# ---------------------------------------------------------------- pooling: shape rule


def pool2d_shape(x_shape, *, kernel_size, stride, padding, dilation, ceil_mode) -> tuple[int, ...]:
    """Output shape of `max_pool2d` (and, with dilation (1, 1), `avg_pool2d`).

    Raises RuntimeError where torch's max_pool2d does.
    """
    return _pool_shape(
        "max_pool2d", tuple(x_shape), kernel_size, stride, padding, dilation, ceil_mode
    )


def _pool_shape(op, x_shape, kernel, stride, padding, dilation, ceil_mode) -> tuple[int, ...]:
    _check_pool_input(op, x_shape)
    _check_pool_params(op, kernel, stride, padding, dilation)
    out = tuple(
        _pool_out_size(n, k, s, p, d, ceil_mode)
        for n, k, s, p, d in zip(x_shape[-2:], kernel, stride, padding, dilation, strict=True)
    )
    if min(out) < 1:
        raise RuntimeError(
            f"{op}: output size {out} is too small (input {_fmt(x_shape)}, kernel_size="
            f"{tuple(kernel)}, stride={tuple(stride)}, padding={tuple(padding)}, "
            f"dilation={tuple(dilation)}, ceil_mode={ceil_mode})"
        )
    return (*x_shape[:-2], *out)


def _check_pool_input(op, x_shape) -> None:
    if op == "avg_pool2d" and len(x_shape) < 3:
        # torch's avg_pool2d indexes dim -3 before any check, so it raises IndexError here.
        raise IndexError(f"{op}: expected 3-d or 4-d input, got input of shape {_fmt(x_shape)}")
    if len(x_shape) not in (3, 4) or 0 in x_shape[-3:]:
        raise RuntimeError(
            f"{op}: expected 3-d or 4-d input with non-zero channels, height and width "
            f"(only the batch may be empty), got input of shape {_fmt(x_shape)}"
        )


def _check_pool_params(op, kernel, stride, padding, dilation) -> None:
    named = {"kernel_size": kernel, "stride": stride, "dilation": dilation}
    for name, pair in named.items():
        if min(pair) <= 0:
            raise RuntimeError(f"{op}: {name} should be positive, got {name}={tuple(pair)}")
    if min(padding) < 0:
        raise RuntimeError(f"{op}: padding must be non-negative, got padding={tuple(padding)}")
    if any(p > k // 2 for p, k in zip(padding, kernel, strict=True)):
        raise RuntimeError(
            f"{op}: padding should be at most half of the kernel size, got "
            f"padding={tuple(padding)}, kernel_size={tuple(kernel)}"
        )


def _pool_out_size(n, k, s, p, d, ceil_mode) -> int:
    """torch's pooling_output_shape: in ceil mode the last window must start before n + p."""
    span = d * (k - 1) + 1
    out = (n + 2 * p - span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


# ---------------------------------------------------------------- pooling: kernels


def max_pool2d(x, *, kernel_size, stride, padding, dilation, ceil_mode) -> np.ndarray:
    """torch.nn.functional.max_pool2d (values only); padding never wins, NaN propagates."""
    out_shape = pool2d_shape(
        x.shape,
        kernel_size=kernel_size,
        stride=stride,
        padding=padding,
        dilation=dilation,
        ceil_mode=ceil_mode,
    )
    fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    xp = _pad_for_pool(x, out_shape, kernel_size, stride, padding, dilation, fill)
    out = None
    for view in _offset_views(xp, out_shape, kernel_size, stride, dilation):
        out = view.copy() if out is None else np.maximum(out, view, out=out)
    return out


def avg_pool2d(
    x, *, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
) -> np.ndarray:
    """torch.nn.functional.avg_pool2d, summing in torch's order and with its divisor rule."""
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("avg_pool2d: divisor_override must not be zero")
    out_shape = _pool_shape(
        "avg_pool2d", tuple(x.shape), kernel_size, stride, padding, (1, 1), ceil_mode
    )
    xp = _pad_for_pool(x, out_shape, kernel_size, stride, padding, (1, 1), 0)
    acc = np.zeros(out_shape, x.dtype if x.dtype.kind == "f" else np.int64)
    for view in _offset_views(xp, out_shape, kernel_size, stride, (1, 1)):
        acc += view
    if divisor_override is not None:
        divisor = np.asarray(divisor_override, np.int64)
    else:
        divisor = _avg_divisor(
            x.shape[-2:], out_shape[-2:], kernel_size, stride, padding, count_include_pad
        )
    return _divide(acc, divisor).astype(x.dtype, copy=False)


def _pad_for_pool(x, out_shape, kernel, stride, padding, dilation, fill) -> np.ndarray:
    """Pad the last two axes by `padding`, plus what ceil-mode windows need on the far side."""
    widths = [(0, 0)] * (x.ndim - 2)
    for n, o, k, s, p, d in zip(
        x.shape[-2:], out_shape[-2:], kernel, stride, padding, dilation, strict=True
    ):
        far = max(p, (o - 1) * s + d * (k - 1) + 1 - n - p)
        widths.append((p, far))
    return np.pad(x, widths, constant_values=fill)


def _offset_views(xp, out_shape, kernel, stride, dilation):
    """For each kernel offset (row-major), the strided view of `xp` it reads per output."""
    (oh, ow), (sh, sw), (dh, dw) = out_shape[-2:], stride, dilation
    for i in range(kernel[0]):
        rows = slice(i * dh, i * dh + (oh - 1) * sh + 1, sh)
        for j in range(kernel[1]):
            yield xp[..., rows, j * dw : j * dw + (ow - 1) * sw + 1 : sw]


def _avg_divisor(size, out, kernel, stride, padding, count_include_pad) -> np.ndarray:
    """Per-output divisor (OH, OW) of torch's avg_pool2d without divisor_override."""
    per_axis = []
    for n, o, k, s, p in zip(size, out, kernel, stride, padding, strict=True):
        start = np.arange(o, dtype=np.int64) * s - p
        end = np.minimum(start + k, n + p)
        if count_include_pad:
            per_axis.append(end - start)
        else:
            per_axis.append(np.minimum(end, n) - np.maximum(start, 0))
    return np.outer(*per_axis)


def _divide(acc, divisor) -> np.ndarray:
    """`acc / divisor` in acc's precision; for integers, C division truncating toward zero."""
    if acc.dtype.kind == "f":
        return acc / divisor.astype(acc.dtype)
    quotient = np.abs(acc) // np.abs(divisor)
    return np.where((acc < 0) != (divisor < 0), -quotient, quotient)


# ---------------------------------------------------------------- pooling: gradients


def pool2d_grad_rule(types, attrs, op: str = "pool2d_grad"):
    """A pool's gradient (grad of the result, the pool's input) has the input's type."""
    g, x = types
    want = pool2d_shape(x.shape, **{k: attrs.get(k, (1, 1)) for k in (
        "kernel_size", "stride", "padding", "dilation", "ceil_mode")})
    if tuple(g.shape) != tuple(want) or g.dtype != x.dtype:
        raise RuntimeError(f"{op}: the gradient {_fmt(g.shape)} does not match the pool's "
                           f"result {_fmt(want)} for input {_fmt(x.shape)}")
    return (x,)


def max_pool2d_grad(g, x, *, kernel_size, stride, padding, dilation, ceil_mode) -> np.ndarray:
    """max_pool2d's gradient: each window's gradient goes to its max (the first one, or the
    last NaN, as torch's CPU kernel picks); overlapping windows add up."""
    out_shape = g.shape
    xp = _pad_for_pool(x, out_shape, kernel_size, stride, padding, dilation, -np.inf)
    best = arg = None
    for k, view in enumerate(_offset_views(xp, out_shape, kernel_size, stride, dilation)):
        if best is None:
            best, arg = view.copy(), np.zeros(view.shape, np.int64)
            continue
        take = (view > best) | np.isnan(view)
        best = np.where(take, view, best)
        arg[take] = k
    gxp = np.zeros(xp.shape, g.dtype)
    for k, view in enumerate(_offset_views(gxp, out_shape, kernel_size, stride, dilation)):
        view += np.where(arg == k, g, 0)  # one offset's windows never overlap
    return _crop(gxp, x.shape, padding)


def avg_pool2d_grad(g, x, *, kernel_size, stride, padding, ceil_mode, count_include_pad,
                    divisor_override) -> np.ndarray:
    """avg_pool2d's gradient: each window's gradient, over its divisor, to every element."""
    out_shape = g.shape
    if divisor_override is not None:
        share = g / g.dtype.type(divisor_override)
    else:
        share = g / _avg_divisor(x.shape[-2:], out_shape[-2:], kernel_size, stride, padding,
                                 count_include_pad).astype(g.dtype)
    xp_shape = _pad_for_pool(np.empty(x.shape[-2:], np.int8), out_shape[-2:], kernel_size,
                             stride, padding, (1, 1), 0).shape
    gxp = np.zeros((*x.shape[:-2], *xp_shape), g.dtype)
    for view in _offset_views(gxp, out_shape, kernel_size, stride, (1, 1)):
        view += share
    return _crop(gxp, x.shape, padding)


def _crop(xp: np.ndarray, shape, padding) -> np.ndarray:
    (ph, pw), (h, w) = padding, shape[-2:]
    return np.ascontiguousarray(xp[..., ph:ph + h, pw:pw + w])
