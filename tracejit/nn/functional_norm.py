"""torch.nn.functional's instance, group, local-response and RMS normalizations, as composites
of reductions and elementwise ops (so a capture mode records what they are made of)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracejit.functions import contiguous_result
from tracejit.ir import DType
from tracejit.nn.functional import _check_same_dtype, _normalized_shape, pad
from tracejit.nn.functional_act import _require_float

if TYPE_CHECKING:
    from tracejit.tensor import Tensor


@contiguous_result
def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats: bool = True, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalize each (sample, channel) over its spatial dims; with use_input_stats the running
    stats (if given) move toward the batch average of the per-instance statistics."""
    if input.ndim < 3:
        raise ValueError(f"Expected 3D or higher input to instance_norm (got {input.ndim}D input)")
    channels = input.shape[1]
    named = {"weight": weight, "bias": bias, "running_mean": running_mean,
             "running_var": running_var}
    for name, t in named.items():
        if t is not None and t.numel() != channels:
            raise RuntimeError(f"{name} should contain {channels} elements not {t.numel()}")
    _require_float("batch_norm", input)
    _check_same_dtype("instance_norm", input, *named.values())
    stats_shape = (1, channels) + (1,) * (input.ndim - 2)
    if use_input_stats:
        dims = tuple(range(2, input.ndim))
        count = input.numel() // max(input.shape[0] * channels, 1)
        if count <= 1:
            raise ValueError(
                "Expected more than 1 spatial element when training, got input size "
                f"{input.shape!r}"
            )
        mean = input.mean(dims, keepdim=True)
        centered = input - mean
        var = (centered * centered).mean(dims, keepdim=True)
        _update_instance_stats(running_mean, running_var, mean, var, momentum, count)
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError("Expected running_mean and running_var to be defined when "
                               "use_input_stats is false")
        centered = input - running_mean.reshape(stats_shape)
        var = running_var.reshape(stats_shape)
    out = centered * (var + eps).rsqrt()
    if weight is not None:
        out = out * weight.reshape(stats_shape)
    return out if bias is None else out + bias.reshape(stats_shape)


def _update_instance_stats(running_mean, running_var, mean, var, momentum, count: int) -> None:
    """running = (1 - m) * running + m * (batch mean of the per-instance statistic)."""
    if running_mean is not None:
        batch_mean = mean.reshape(mean.shape[0], -1).mean(0)
        running_mean.copy_(running_mean * (1 - momentum) + batch_mean * momentum)
    if running_var is not None:
        unbiased = var.reshape(var.shape[0], -1).mean(0) * (count / (count - 1))
        running_var.copy_(running_var * (1 - momentum) + unbiased * momentum)


def group_norm(input, num_groups: int, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """Normalize each sample's channels in `num_groups` groups, then scale and shift per
    channel."""
    if input.ndim < 2:
        raise RuntimeError(
            f"Expected at least 2 dimensions for input tensor but received {input.ndim}"
        )
    n, channels = input.shape[0], input.shape[1]
    if num_groups <= 0 or channels % num_groups:
        raise RuntimeError(
            f"Expected number of channels in input to be divisible by num_groups, but got input "
            f"of shape {list(input.shape)} and num_groups={num_groups}"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and (t.ndim != 1 or t.numel() != channels):
            raise RuntimeError(
                f"Expected {name} to be a vector of size equal to the number of channels in "
                f"input, but got {name} of shape {list(t.shape)} and input of shape "
                f"{list(input.shape)}"
            )
    _require_float("GroupNormKernelImpl", input)
    grouped = input.reshape(n, num_groups, -1)
    mean = grouped.mean(-1, keepdim=True)
    centered = grouped - mean
    var = (centered * centered).mean(-1, keepdim=True)
    out = (centered * (var + eps).rsqrt()).reshape(input.shape)
    stats_shape = (1, channels) + (1,) * (input.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(stats_shape)
    return out if bias is None else out + bias.reshape(stats_shape)


def local_response_norm(input, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> Tensor:
    """x / (k + alpha * mean of x**2 over `size` neighbouring channels) ** beta."""
    if input.ndim < 3:
        raise ValueError(
            f"Expected 3D or higher dimensionality input (got {input.ndim} dimensions)"
        )
    if input.numel() == 0:
        return input
    channels = input.shape[1]
    square = input * input
    flat = square.reshape(input.shape[0], channels, -1)
    padded = pad(flat, (0, 0, size // 2, (size - 1) // 2))
    total = padded[:, 0:channels]
    for offset in range(1, size):
        total = total + padded[:, offset:offset + channels]
    div = (total.reshape(input.shape) * (alpha / size) + k).pow(beta)
    return input / div


_EPS = {DType.float32: 1.1920928955078125e-07, DType.float64: 2.220446049250313e-16}


def rms_norm(input, normalized_shape, weight=None, eps: float | None = None) -> Tensor:
    """x / sqrt(mean(x**2 over the trailing normalized_shape dims) + eps) * weight; eps
    defaults to the dtype's machine epsilon, like torch."""
    shape = _normalized_shape(input, normalized_shape)
    if weight is not None and tuple(weight.shape) != shape:
        raise RuntimeError(
            f"Expected weight to be of same shape as normalized_shape, but got weight of shape "
            f"{list(weight.shape)} and normalized_shape = {list(shape)}"
        )
    _require_float("rms_norm", input)
    eps = _EPS.get(input.dtype, 1.1920928955078125e-07) if eps is None else eps
    dims = tuple(range(input.ndim - len(shape), input.ndim))
    out = input * ((input * input).mean(dims, keepdim=True) + eps).rsqrt()
    return out if weight is None else out * weight


__all__ = ["group_norm", "instance_norm", "local_response_norm", "rms_norm"]
