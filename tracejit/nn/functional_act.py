"""torch.nn.functional's remaining activations and the channel-wise dropouts, as composites of
elementwise ops with torch's names, signatures and defaults."""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

from tracejit import creation
from tracejit import functions as fn
from tracejit.nn.functional import (
    _written,
    elu,
    hardtanh,
    leaky_relu,
    relu,
    relu6,
    sigmoid,
    softmax,
    softplus,
)

if TYPE_CHECKING:
    from tracejit.tensor import Tensor

_TORCH_DTYPE_NAMES = {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char",
                      "uint8": "Byte", "bool": "Bool", "float16": "Half", "bfloat16": "BFloat16"}


def _require_float(kernel: str, input) -> None:
    """torch's NotImplementedError for a float-only CPU kernel given another dtype."""
    if not input.dtype.is_floating_point:
        name = _TORCH_DTYPE_NAMES.get(input.dtype.value, input.dtype.value)
        raise NotImplementedError(f'"{kernel}" not implemented for \'{name}\'')


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input, inplace: bool = False) -> Tensor:
    """scale * (max(0, x) + min(0, alpha * (exp(x) - 1))) with the self-normalizing
    constants."""
    _require_float("elu_cpu", input)
    out = fn.where(input > 0, input, input.expm1() * _SELU_ALPHA) * _SELU_SCALE
    return _written(input, out, inplace, "selu_")


def celu(input, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError")
    _require_float("elu_cpu", input)
    out = fn.where(input > 0, input, (input / alpha).expm1() * alpha)
    return _written(input, out, inplace, "celu_")


def hardsigmoid(input, inplace: bool = False) -> Tensor:
    """0 for x <= -3, 1 for x >= 3, else x / 6 + 1 / 2."""
    _require_float("hardsigmoid_cpu", input)
    scaled = input / 6 + 0.5
    out = fn.clamp_gradient(scaled, fn.clamp(scaled.detach(), 0.0, 1.0), 0.0, 1.0,
                            inclusive=False)  # torch: no gradient at the bounds
    return _written(input, out, inplace, "hardsigmoid_")


def hardswish(input, inplace: bool = False) -> Tensor:
    """x * relu6(x + 3) / 6."""
    _require_float("hardswish_cpu", input)
    out = input * relu6(input + 3) / 6
    return _written(input, out, inplace, "hardswish_")


def mish(input, inplace: bool = False) -> Tensor:
    """x * tanh(softplus(x))."""
    out = input * softplus(input).tanh()
    return _written(input, out, inplace, "mish_")


def softsign(input) -> Tensor:
    """x / (1 + |x|)."""
    return input / (input.abs() + 1)


def tanhshrink(input) -> Tensor:
    """x - tanh(x)."""
    return input - input.tanh()


def hardshrink(input, lambd: float = 0.5) -> Tensor:
    """x where |x| > lambd, else 0."""
    return fn.where(input.abs() > lambd, input, 0.0)


def softshrink(input, lambd: float = 0.5) -> Tensor:
    """x - lambd above lambd, x + lambd below -lambd, else 0."""
    if lambd < 0:
        raise RuntimeError(
            f"lambda must be greater or equal to 0, but found to be {lambd}."
        )
    return fn.where(input > lambd, input - lambd, fn.where(input < -lambd, input + lambd, 0.0))


def threshold(input, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """x where x > threshold, else value."""
    out = fn.where(input > threshold, input, value)
    return _written(input, out.to(input.dtype), inplace, "threshold_")


def glu(input, dim: int = -1) -> Tensor:
    """a * sigmoid(b) for the two halves a, b of `input` along `dim`."""
    if input.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    size = input.shape[dim]
    if size % 2:
        raise RuntimeError(
            f"Halving dimension must be even, but dimension {dim % input.ndim} is size {size}"
        )
    _require_float("glu_cpu", input)
    a, b = input.chunk(2, dim)
    return a * sigmoid(b)


def softmin(input, dim=None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """softmax(-x) along `dim`."""
    return softmax(-input, dim, dtype=dtype)


def prelu(input, weight) -> Tensor:
    """x where x > 0, else weight * x; a (C,) weight is applied along dim 1."""
    _require_float("prelu_cpu", input)
    if weight.numel() != 1:
        channels = input.shape[1] if input.ndim >= 2 else 1
        if input.ndim == 0 or weight.numel() != channels:
            raise RuntimeError(
                f"Mismatch of parameter numbers and input channel size. Found parameter numbers "
                f"= {weight.numel()} and channel size = {channels}."
            )
        if input.ndim >= 2:
            weight = weight.reshape(-1, *(1,) * (input.ndim - 2))
    elif weight.ndim:
        weight = weight.reshape(())
    return fn.where(input > 0, input, input * weight)


@fn.contiguous_result
def rrelu(input, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
          inplace: bool = False) -> Tensor:
    """leaky_relu with slope (lower + upper) / 2 in eval; a random slope per element in
    training."""
    if training:
        slope = creation.rand(*input.shape, dtype=input.dtype) * (upper - lower) + lower
    else:
        slope = (lower + upper) / 2
    out = fn.where(input >= 0, input, input * slope)
    return _written(input, out, inplace, "rrelu_")


def gumbel_softmax(logits, tau: float = 1, hard: bool = False, eps: float = 1e-10,
                   dim: int = -1) -> Tensor:
    """softmax((logits + Gumbel noise) / tau); `hard` gives one-hot vectors of its argmax
    (the straight-through estimator)."""
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", stacklevel=2)
    uniform = creation.rand(*logits.shape, dtype=logits.dtype)
    gumbels = -(-(1 - uniform).log()).log()  # -log(Exponential(1))
    y_soft = softmax((logits + gumbels) / tau, dim)
    if not hard:
        return y_soft
    index = y_soft.argmax(dim, keepdim=True)
    y_hard = creation.zeros_like(logits).scatter(dim, index, 1.0)
    return y_hard - y_soft.detach() + y_soft


# --- in-place variants (torch's F.<name>_) ------------------------------------------------------

def relu_(input) -> Tensor:
    """In-place relu."""
    return relu(input, inplace=True)


def elu_(input, alpha: float = 1.0) -> Tensor:
    """In-place elu."""
    return elu(input, alpha, inplace=True)


def celu_(input, alpha: float = 1.0) -> Tensor:
    """In-place celu."""
    return celu(input, alpha, inplace=True)


def selu_(input) -> Tensor:
    """In-place selu."""
    return selu(input, inplace=True)


def hardtanh_(input, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """In-place hardtanh."""
    return hardtanh(input, min_val, max_val, inplace=True)


def leaky_relu_(input, negative_slope: float = 0.01) -> Tensor:
    """In-place leaky_relu."""
    return leaky_relu(input, negative_slope, inplace=True)


def rrelu_(input, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False) -> Tensor:
    """In-place rrelu."""
    return rrelu(input, lower, upper, training, inplace=True)


def threshold_(input, threshold_value: float, value: float) -> Tensor:
    """In-place threshold."""
    return threshold(input, threshold_value, value, inplace=True)


@fn.contiguous_result
def channel_shuffle(input, groups: int) -> Tensor:
    """(N, g * k, *) -> (N, k * g, *): the channels of each group interleaved (ShuffleNet)."""
    if input.ndim < 3:
        raise RuntimeError(
            f"channel_shuffle expects input to have at least 3 dimensions, but got input with "
            f"{input.ndim} dimension(s)"
        )
    if groups <= 0:
        raise RuntimeError(f"Number of groups to divide channels in must be positive. Value of "
                           f"groups:{groups}")
    n, c, *rest = input.shape
    if c % groups:
        raise RuntimeError(f"Number of channels must be divisible by groups. Got {c} channels "
                           f"and {groups} groups.")
    shuffled = input.reshape(n, groups, c // groups, *rest).transpose(1, 2)
    return shuffled.reshape(input.shape)


native_channel_shuffle = channel_shuffle



# --- dropout variants ---------------------------------------------------------------------------

def _feature_dropout(name: str, input, p: float, training: bool, inplace: bool, batched: int):
    """Zero whole channels: one Bernoulli draw per (sample, channel)."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if input.ndim not in (batched - 1, batched):
        raise RuntimeError(
            f"{name}: Expected {batched - 1}D or {batched}D input, but received a "
            f"{input.ndim}D input. Note that dropout{batched - 2}d exists to provide channel-wise "
            f"dropout on inputs with {batched - 2} spatial dimensions, a channel dimension, and "
            "an optional batch dimension (i.e. "
            f"{batched - 1}D or {batched}D inputs)."
        )
    if not training or p == 0:
        return input
    lead = input.ndim - (batched - 2)
    mask_shape = (*input.shape[:lead], *(1,) * (batched - 2))
    if p == 1:
        noise = creation.zeros(*mask_shape, dtype=input.dtype)
    else:
        keep = creation.rand(*mask_shape, dtype=input.dtype) < (1 - p)
        noise = keep.to(input.dtype) / (1 - p)
    return input.mul_(noise) if inplace else input * noise


def dropout1d(input, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, L) or (C, L) input with probability p."""
    return _feature_dropout("dropout1d", input, p, training, inplace, 3)


def dropout2d(input, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, H, W) input with probability p; a 3-D input is taken as
    (N, C, L), with torch's warning."""
    if input.ndim == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D "
            "dropout behavior is desired - input is interpreted as shape (N, C, L), where C is "
            "the channel dim. This behavior will change in a future release to interpret the "
            "input as one without a batch dimension, i.e. shape (C, H, W). To maintain the 1D "
            "channel-wise dropout behavior, please switch to using dropout1d instead.",
            stacklevel=2,
        )
        return _feature_dropout("dropout2d", input, p, training, inplace, 3)
    return _feature_dropout("dropout2d", input, p, training, inplace, 4)


def dropout3d(input, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) input with probability p."""
    return _feature_dropout("dropout3d", input, p, training, inplace, 5)


def alpha_dropout(input, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    """Dropout that keeps SELU's mean and variance: dropped elements take SELU's negative
    saturation, then an affine correction."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return input
    if p == 1:
        return input * 0
    alpha = -_SELU_ALPHA * _SELU_SCALE
    a = 1 / math.sqrt((alpha * alpha * p + 1) * (1 - p))
    keep = (creation.rand(*input.shape, dtype=input.dtype) < (1 - p)).to(input.dtype)
    b = (keep - 1) * (alpha * a) + alpha * a * p
    out = input * (keep * a) + b
    return _written(input, out, inplace, "alpha_dropout_")


def feature_alpha_dropout(input, p: float = 0.5, training: bool = False,
                          inplace: bool = False) -> Tensor:
    """alpha_dropout with one draw per (sample, channel) instead of per element."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return input
    if p == 1:
        return input * 0
    alpha = -_SELU_ALPHA * _SELU_SCALE
    a = 1 / math.sqrt((alpha * alpha * p + 1) * (1 - p))
    mask_shape = (*input.shape[:2], *(1,) * (input.ndim - 2))
    keep = (creation.rand(*mask_shape, dtype=input.dtype) < (1 - p)).to(input.dtype)
    b = (keep - 1) * (alpha * a) + alpha * a * p
    out = input * (keep * a) + b
    return _written(input, out, inplace, "feature_alpha_dropout_")


__all__ = [
    "alpha_dropout", "celu", "celu_", "channel_shuffle", "dropout1d", "dropout2d", "dropout3d",
    "elu_", "feature_alpha_dropout", "glu", "gumbel_softmax", "hardshrink", "hardsigmoid",
    "hardswish", "hardtanh_", "leaky_relu_", "mish", "native_channel_shuffle", "prelu", "relu_",
    "rrelu", "rrelu_", "selu", "selu_", "softmin", "softshrink", "softsign", "tanhshrink",
    "threshold", "threshold_",
]
