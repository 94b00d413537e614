"""torch.nn.functional's 1-d and 3-d convolutions, transposed convolutions, bilinear and
unfold/fold, as composites of the conv2d op and movement ops (pooling is in functional_pool).

conv1d runs conv2d on a height-1 image; conv3d sums one batched conv2d per kernel depth
slice; a transposed convolution is a stride-1 convolution of the input with zeros inserted
between its elements, padded, with the flipped, transposed weight.
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING

from tracejit import functions as fn
from tracejit.nn.functional import _ints, conv2d, pad

if TYPE_CHECKING:
    from tracejit.tensor import Tensor


def _tuple(value, n: int, name: str) -> tuple[int, ...]:
    """An int or a sequence of 1 or n ints, as n ints."""
    v = _ints((value,) if isinstance(value, int) else tuple(value), name)
    if len(v) == 1:
        return v * n
    if len(v) != n:
        raise RuntimeError(
            f"expected {name} to be a single integer value or a list of {n} values to match the "
            f"convolution dimensions, but got {name}={list(v)}"
        )
    return v


def _check_ranks(name: str, input, weight, n: int) -> None:
    if input.ndim not in (n + 1, n + 2):
        raise RuntimeError(
            f"Expected {n + 1}D (unbatched) or {n + 2}D (batched) input to {name}, but got "
            f"input of size: {list(input.shape)}"
        )
    if weight.ndim != n + 2:
        raise RuntimeError(
            f"{name}: expected {n + 2}-d weight, got weight of shape {list(weight.shape)}"
        )


def _same_pads(weight, n: int, stride, dilation) -> list[int]:
    """F.pad's argument for padding='same' (the odd element on the far side, like torch)."""
    if any(s != 1 for s in stride):
        raise RuntimeError("padding='same' is not supported for strided convolutions")
    pads = []
    for d, k in reversed(list(zip(dilation, weight.shape[2:2 + n]))):
        total = d * (k - 1)
        pads += [total // 2, total - total // 2]
    return pads


# --- convolutions -------------------------------------------------------------------------------

def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """1-d cross-correlation over (N, C, L) or (C, L): conv2d on a height-1 image."""
    _check_ranks("conv1d", input, weight, 1)
    stride, dilation = _tuple(stride, 1, "stride"), _tuple(dilation, 1, "dilation")
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise RuntimeError(f"Invalid padding string: '{padding}'")
        if padding == "same":
            input = pad(input, _same_pads(weight, 1, stride, dilation))
        padding = 0
    padding = _tuple(padding, 1, "padding")
    out = conv2d(input.unsqueeze(-2), weight.unsqueeze(-2), bias, (1, stride[0]),
                 (0, padding[0]), (1, dilation[0]), groups)
    return out.squeeze(-2)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """3-d cross-correlation over (N, C, D, H, W) or (C, D, H, W): one conv2d per kernel depth
    slice, over the output depths folded into the batch, summed."""
    _check_ranks("conv3d", input, weight, 3)
    stride, dilation = _tuple(stride, 3, "stride"), _tuple(dilation, 3, "dilation")
    x = input.unsqueeze(0) if input.ndim == 4 else input
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise RuntimeError(f"Invalid padding string: '{padding}'")
        if padding == "same":
            x = pad(x, _same_pads(weight, 3, stride, dilation))
        padding = 0
    padding = _tuple(padding, 3, "padding")
    if any(p < 0 for p in padding):
        raise RuntimeError("negative padding is not supported")
    if padding[0]:
        x = pad(x, (0, 0, 0, 0, padding[0], padding[0]))
    out = _conv3d_by_depth(x, weight, stride, padding[1:], dilation, groups)
    if bias is not None:
        out = out + bias.reshape(-1, 1, 1, 1)
    return out.squeeze(0) if input.ndim == 4 else out


def _conv3d_by_depth(x, weight, stride, padding, dilation, groups):
    n, c, depth, h, w = x.shape
    kd = weight.shape[2]
    span = dilation[0] * (kd - 1) + 1
    if depth < span:
        raise RuntimeError(
            f"conv3d: padded input depth {depth} is smaller than the dilated kernel depth {span} "
            f"(weight {list(weight.shape)})"
        )
    out_depth = (depth - span) // stride[0] + 1
    out = None
    for k in range(kd):
        start = k * dilation[0]
        planes = x[:, :, start:start + (out_depth - 1) * stride[0] + 1:stride[0]]
        planes = planes.transpose(1, 2).reshape(n * out_depth, c, h, w)
        y = conv2d(planes, weight[:, :, k], None, stride[1:], padding, dilation[1:], groups)
        out = y if out is None else out + y
    return out.reshape(n, out_depth, *out.shape[1:]).transpose(1, 2)


_CONVS = {1: conv1d, 3: conv3d}


def _conv_nd(n: int):
    return _CONVS.get(n, conv2d)


def conv_tbc(input, weight, bias, pad: int = 0) -> Tensor:
    """1-d convolution of time-batch-channel input (T, N, C_in) with weight (k, C_in, C_out)."""
    if input.ndim != 3 or weight.ndim != 3:
        raise RuntimeError(f"conv_tbc: expected 3-d input and weight, got {list(input.shape)} "
                           f"and {list(weight.shape)}")
    out = conv1d(input.permute(1, 2, 0), weight.permute(2, 1, 0), bias, 1, pad)
    return out.permute(2, 0, 1)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1) -> Tensor:
    """1-d transposed convolution (the gradient of conv1d), weight (C_in, C_out / groups, k)."""
    return _conv_transpose(1, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1) -> Tensor:
    """2-d transposed convolution (the gradient of conv2d), weight (C_in, C_out / groups, kH,
    kW)."""
    return _conv_transpose(2, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1) -> Tensor:
    """3-d transposed convolution (the gradient of conv3d)."""
    return _conv_transpose(3, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def _conv_transpose(n, input, weight, bias, stride, padding, output_padding, groups, dilation):
    name = f"conv_transpose{n}d"
    _check_ranks(name, input, weight, n)
    if isinstance(padding, str):
        raise TypeError(f"{name}(): argument 'padding' must be tuple of ints, not str")
    stride, padding = _tuple(stride, n, "stride"), _tuple(padding, n, "padding")
    output_padding = _tuple(output_padding, n, "output_padding")
    dilation, groups = _tuple(dilation, n, "dilation"), operator.index(groups)
    _check_transpose_args(name, input, weight, bias, stride, padding, output_padding, groups,
                          dilation)
    x = input.unsqueeze(0) if input.ndim == n + 1 else input
    x = _insert_zeros(x, stride)
    kernel = weight.shape[2:]
    pads = []
    for k, p, d, op in reversed(list(zip(kernel, padding, dilation, output_padding))):
        lo = d * (k - 1) - p
        pads += [lo, lo + op]
    if any(pads):
        x = pad(x, pads)
    out = _conv_nd(n)(x, _transposed_weight(weight, groups), bias, 1, 0, dilation, groups)
    return out.squeeze(0) if input.ndim == n + 1 else out


def _check_transpose_args(name, input, weight, bias, stride, padding, output_padding, groups,
                          dilation) -> None:
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(d <= 0 for d in dilation):
        raise RuntimeError("dilation should be greater than zero")
    if any(p < 0 for p in padding):
        raise RuntimeError("negative padding is not supported")
    for op, s, d in zip(output_padding, stride, dilation):
        if op < 0 or (op >= s and op >= d):
            raise RuntimeError(
                f"{name}: output padding must be smaller than either stride or dilation, but "
                f"got output_padding={list(output_padding)}, stride={list(stride)}, "
                f"dilation={list(dilation)}"
            )
    channels = input.shape[-len(stride) - 1]
    if channels != weight.shape[0] or weight.shape[0] % groups:
        raise RuntimeError(
            f"Given transposed=1, weight of size {list(weight.shape)}, expected input"
            f"{list(input.shape)} to have {weight.shape[0]} channels, but got {channels} "
            "channels instead"
        )
    out_channels = weight.shape[1] * groups
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise RuntimeError(
            f"Given transposed=1, weight of size {list(weight.shape)}, expected bias to be "
            f"1-dimensional with {out_channels} elements, but got bias of size "
            f"{list(bias.shape)} instead"
        )


def _insert_zeros(x, stride):
    """(stride - 1) zeros between neighbours along each spatial dim."""
    n = len(stride)
    for axis, s in zip(range(x.ndim - n, x.ndim), stride):
        if s == 1 or x.shape[axis] == 0:
            continue
        size = x.shape[axis]
        trailing = x.ndim - axis - 1
        spread = pad(x.unsqueeze(axis + 1), [0, 0] * trailing + [0, s - 1])
        spread = spread.reshape(*x.shape[:axis], size * s, *x.shape[axis + 1:])
        x = fn.narrow(spread, axis, 0, (size - 1) * s + 1)
    return x


def _transposed_weight(weight, groups: int):
    """(C_in, C_out/g, *k) -> (C_out, C_in/g, *k), spatially flipped."""
    c_in, c_out_g, *kernel = weight.shape
    w = weight.reshape(groups, c_in // groups, c_out_g, *kernel).transpose(1, 2)
    w = w.reshape(groups * c_out_g, c_in // groups, *kernel)
    return w.flip(tuple(range(2, w.ndim)))


# --- bilinear -----------------------------------------------------------------------------------

def bilinear(input1, input2, weight, bias=None) -> Tensor:
    """y[..., o] = sum_ij input1[..., i] * weight[o, i, j] * input2[..., j] + bias[o]."""
    if weight.ndim != 3:
        raise RuntimeError(f"bilinear(): weight must be 3-d, got {list(weight.shape)}")
    out_f, in1, in2 = weight.shape
    if input1.shape[-1] != in1 or input2.shape[-1] != in2:
        raise RuntimeError(
            f"bilinear(): input1 and input2 must end in {in1} and {in2} features (weight "
            f"{list(weight.shape)}), got {list(input1.shape)} and {list(input2.shape)}"
        )
    if tuple(input1.shape[:-1]) != tuple(input2.shape[:-1]):
        raise RuntimeError(
            f"bilinear(): input batch dimensions do not match: got {list(input1.shape[:-1])} "
            f"and {list(input2.shape[:-1])}"
        )
    mixed = fn.matmul(input1, weight.permute(1, 0, 2).reshape(in1, out_f * in2))
    out = (mixed.reshape(*input1.shape[:-1], out_f, in2) * input2.unsqueeze(-2)).sum(-1)
    return out if bias is None else out + bias


# --- unfold and fold (im2col / col2im) ----------------------------------------------------------

def _fold_args(kernel_size, dilation, padding, stride):
    return tuple(_tuple(v, 2, n) for v, n in ((kernel_size, "kernel_size"),
                                              (dilation, "dilation"), (padding, "padding"),
                                              (stride, "stride")))


def _blocks(size: int, k: int, d: int, s: int) -> int:
    return (size - d * (k - 1) - 1) // s + 1


def unfold(input, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """(N, C, H, W) -> (N, C * kH * kW, L): every sliding block as a column (im2col)."""
    if input.ndim not in (3, 4):
        raise RuntimeError(
            "Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and other non-zero "
            f"dimensions for input, but got: {list(input.shape)}"
        )
    k, d, p, s = _fold_args(kernel_size, dilation, padding, stride)
    x = input.unsqueeze(0) if input.ndim == 3 else input
    if any(p):
        x = pad(x, (p[1], p[1], p[0], p[0]))
    n, c, h, w = x.shape
    oh, ow = _blocks(h, k[0], d[0], s[0]), _blocks(w, k[1], d[1], s[1])
    if oh <= 0 or ow <= 0:
        raise RuntimeError(
            f"Given input with spatial size ({h - 2 * p[0]}, {w - 2 * p[1]}), kernel_size={k}, "
            f"dilation={d}, padding={p}, calculated shape of the array of sliding blocks as "
            f"({oh}, {ow}), but its components must be at least one."
        )
    patches = [x[:, :, i * d[0]:i * d[0] + (oh - 1) * s[0] + 1:s[0],
                 j * d[1]:j * d[1] + (ow - 1) * s[1] + 1:s[1]]
               for i in range(k[0]) for j in range(k[1])]
    out = fn.stack(patches, 2).reshape(n, c * k[0] * k[1], oh * ow)
    return out.squeeze(0) if input.ndim == 3 else out


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """(N, C * kH * kW, L) -> (N, C, H, W): the columns summed back into place (col2im)."""
    if input.ndim not in (2, 3):
        raise RuntimeError(
            "Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch size and "
            f"non-zero dimensions for input, but got: {list(input.shape)}"
        )
    size = _tuple(output_size, 2, "output_size")
    k, d, p, s = _fold_args(kernel_size, dilation, padding, stride)
    x = input.unsqueeze(0) if input.ndim == 2 else input
    n, ck, length = x.shape
    h, w = size[0] + 2 * p[0], size[1] + 2 * p[1]
    oh, ow = _blocks(h, k[0], d[0], s[0]), _blocks(w, k[1], d[1], s[1])
    if ck % (k[0] * k[1]) or oh * ow != length:
        raise RuntimeError(
            f"Expected size of input's dimension 1 to be divisible by the product of "
            f"kernel_size, and its dimension 2 to match the calculated number of sliding blocks "
            f"{oh} * {ow} = {oh * ow}, but got input.size(1)={ck}, input.size(2)={length}"
        )
    c = ck // (k[0] * k[1])
    cols = x.reshape(n, c, k[0] * k[1], oh, ow)
    out = None
    for i in range(k[0]):
        for j in range(k[1]):
            block = _insert_zeros(cols[:, :, i * k[1] + j], s)
            top, left = i * d[0], j * d[1]
            placed = pad(block, (left, w - left - block.shape[-1],
                                 top, h - top - block.shape[-2]))
            out = placed if out is None else out + placed
    out = out[:, :, p[0]:p[0] + size[0], p[1]:p[1] + size[1]]
    return out.squeeze(0) if input.ndim == 2 else out


__all__ = [
    "bilinear", "conv1d", "conv3d", "conv_tbc", "conv_transpose1d", "conv_transpose2d",
    "conv_transpose3d", "fold", "unfold",
]
