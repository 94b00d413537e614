"""torch.nn's layers that have no family module: Identity, Linear, Flatten and Unflatten, and the
parameter helpers the layer modules share.

Every forward is a call into `tracejit.nn.functional` with torch's signature, so a layer is
only bookkeeping: its parameters, buffers and the arguments it passes on. The other layers live
in their family modules (`conv`, `pooling`, `normalization`, `dropout`, `sparse`,
`activation`, ...); their old names here still resolve to those classes.
"""

from __future__ import annotations

import importlib
import math

from tracejit.creation import empty
from tracejit.ir import DType
from tracejit.nn import functional as F
from tracejit.nn import init
from tracejit.nn.module import Module, Parameter
from tracejit.tensor import Tensor, check_device

__all__ = ["Flatten", "Identity", "Linear", "Unflatten"]

# names this module used to define, now in their family module (resolved on first use, as those
# modules import the helpers below)
_MOVED = {
    "AvgPool2d": "pooling", "BatchNorm1d": "normalization", "BatchNorm2d": "normalization",
    "Conv2d": "conv", "Dropout": "dropout", "Embedding": "sparse", "GELU": "activation",
    "LayerNorm": "normalization", "LeakyReLU": "activation", "LogSoftmax": "activation",
    "MaxPool2d": "pooling", "ReLU": "activation", "SiLU": "activation",
    "Sigmoid": "activation", "Softmax": "activation", "Tanh": "activation",
    "_BatchNorm": "normalization",
}


def __getattr__(name: str):
    if name in _MOVED:
        return getattr(importlib.import_module(f"tracejit.nn.{_MOVED[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _parameter(*shape: int, dtype: DType | None, device=None) -> Parameter:
    check_device(device)
    return Parameter(empty(*shape, dtype=dtype))


def _uniform_bias(bias: Parameter | None, weight: Parameter) -> None:
    """torch's bias init for Linear and Conv: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    if bias is not None:
        fan_in, _ = init._calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(bias, -bound, bound)


class Identity(Module):
    """Returns its input; accepts and ignores any constructor arguments."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


class Linear(Module):
    """y = x W^T + b with W of shape (out_features, in_features)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None,
                 dtype: DType | None = None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = _parameter(out_features, in_features, dtype=dtype, device=device)
        self.register_parameter("bias", _parameter(out_features, dtype=dtype) if bias else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        _uniform_bias(self.bias, self.weight)

    def forward(self, input: Tensor) -> Tensor:
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Flatten(Module):
    """Flattens dims start_dim..end_dim into one."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input: Tensor) -> Tensor:
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Splits dim `dim` into `unflattened_size`."""

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, unflattened_size

    def forward(self, input: Tensor) -> Tensor:
        return input.unflatten(self.dim, self.unflattened_size)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
