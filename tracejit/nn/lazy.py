"""torch.nn's lazy layers: the input size (in_features, in_channels, num_features) is taken
from the first input, then the module becomes the plain layer (`cls_to_become`), like torch.

Until then it is that layer built with size 0 (so its repr reads like torch's); loading a
state_dict into it materializes it from the stored weight's shape first.
"""

from __future__ import annotations

import warnings
from typing import Any

from tracejit.nn.conv import (
    Conv1d,
    Conv2d,
    Conv3d,
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
)
from tracejit.nn.layers import Linear
from tracejit.nn.module import Module
from tracejit.nn.normalization import (
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
    _BatchNorm,
    _InstanceNorm,
    _NormBase,
)

_OWN_STATE = ("training", "_forward_hooks", "_forward_pre_hooks", "_hooks_with_kwargs",
              "_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks",
              "_load_state_dict_post_hooks", "_modules")


def _float_dtype(module: Module):
    """The dtype of the module's first floating-point parameter or buffer, if any."""
    tensors = [*module._parameters.values(), *module._buffers.values()]
    return next((t.dtype for t in tensors if t is not None and t.dtype.is_floating_point), None)


class _LazyMixin:
    """Shared by the Lazy* classes: `_build(size)` makes the real layer."""

    cls_to_become: type[Module] | None = None

    def _lazy_init(self, *args, **kwargs) -> None:
        with warnings.catch_warnings():  # zero-element init warns; torch's lazy init does not
            warnings.simplefilter("ignore")
            self.cls_to_become.__init__(self, *self._sized_args(0, args), **kwargs)
        self.__dict__["_lazy_args"] = (args, kwargs)

    def _sized_args(self, size: int, args: tuple) -> tuple:
        return (size, *args)

    def has_uninitialized_params(self) -> bool:
        return True

    def initialize_parameters(self, input, *args, **kwargs) -> None:
        """Build the real layer for this input and become it."""
        self._become(self._input_size(input))

    def _become(self, size: int) -> None:
        """Build the real layer of input size `size` and take over its state and class (in
        the dtype this module was converted to meanwhile, if any)."""
        from tracejit.dispatch import EagerMode, using_mode

        args, kwargs = self.__dict__.pop("_lazy_args")
        before = _float_dtype(self)
        with using_mode(EagerMode()):  # real initial values, also when a capture built it
            real = self.cls_to_become(*self._sized_args(size, args), **kwargs)
        for key, value in real.__dict__.items():
            if key not in _OWN_STATE:
                self.__dict__[key] = value
        self.__class__ = self.cls_to_become
        if before is not None and before is not _float_dtype(self):
            self.to(before)

    def forward(self, input, *args, **kwargs) -> Any:
        self.initialize_parameters(input)
        return self.forward(input, *args, **kwargs)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs) -> None:
        target, size = self.cls_to_become, self._stored_size(state_dict, prefix)
        if size is not None:
            self._become(size)
        target._load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                                     missing_keys, unexpected_keys, error_msgs)

    def _stored_size(self, state_dict, prefix: str):
        value = state_dict.get(prefix + "weight")
        return None if value is None else int(value.shape[1])


class LazyLinear(_LazyMixin, Linear):
    """Linear whose in_features is the last dim of its first input."""

    cls_to_become = Linear

    def __init__(self, out_features: int, bias: bool = True, device=None, dtype=None):
        self._lazy_init(out_features, bias, device=device, dtype=dtype)

    def _input_size(self, input) -> int:
        return input.shape[-1]


class _LazyConvXdMixin(_LazyMixin):
    """The lazy convolutions: in_channels is the input's channel dim."""

    _dims = 2

    def _input_size(self, input) -> int:
        return input.shape[-self._dims - 1]


class _LazyConv(_LazyConvXdMixin):
    """LazyConv1d/2d/3d's constructor (Conv*d's, less in_channels)."""

    def __init__(self, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None,
                 dtype=None):
        self._lazy_init(out_channels, kernel_size, stride, padding, dilation, groups, bias,
                        padding_mode, device=device, dtype=dtype)

    def _stored_size(self, state_dict, prefix: str):
        value = state_dict.get(prefix + "weight")
        groups = self._lazy_args[0][5]
        return None if value is None else int(value.shape[1]) * groups


class LazyConv1d(_LazyConv, Conv1d):
    """Conv1d whose in_channels comes from its first input."""

    cls_to_become, _dims = Conv1d, 1


class LazyConv2d(_LazyConv, Conv2d):
    """Conv2d whose in_channels comes from its first input."""

    cls_to_become, _dims = Conv2d, 2


class LazyConv3d(_LazyConv, Conv3d):
    """Conv3d whose in_channels comes from its first input."""

    cls_to_become, _dims = Conv3d, 3


class _LazyConvTranspose(_LazyConvXdMixin):
    """LazyConvTranspose1d/2d/3d's constructor (ConvTranspose*d's, less in_channels)."""

    def __init__(self, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros",
                 device=None, dtype=None):
        self._lazy_init(out_channels, kernel_size, stride, padding, output_padding, groups,
                        bias, dilation, padding_mode, device=device, dtype=dtype)

    def _stored_size(self, state_dict, prefix: str):
        value = state_dict.get(prefix + "weight")
        return None if value is None else int(value.shape[0])


class LazyConvTranspose1d(_LazyConvTranspose, ConvTranspose1d):
    """ConvTranspose1d whose in_channels comes from its first input."""

    cls_to_become, _dims = ConvTranspose1d, 1


class LazyConvTranspose2d(_LazyConvTranspose, ConvTranspose2d):
    """ConvTranspose2d whose in_channels comes from its first input."""

    cls_to_become, _dims = ConvTranspose2d, 2


class LazyConvTranspose3d(_LazyConvTranspose, ConvTranspose3d):
    """ConvTranspose3d whose in_channels comes from its first input."""

    cls_to_become, _dims = ConvTranspose3d, 3


class _LazyNorm(_LazyMixin, _NormBase):
    """The lazy batch and instance norms (torch's `_LazyNormBase`): num_features is dim 1."""

    def __init__(self, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, *,
                 bias: bool = True):
        self._lazy_init(eps, momentum, affine, track_running_stats, device=device, dtype=dtype,
                        bias=bias)

    def _input_size(self, input) -> int:
        return input.shape[1]  # torch's choice, for unbatched input too

    def _stored_size(self, state_dict, prefix: str):
        for name in ("weight", "running_mean", "bias", "running_var"):
            if prefix + name in state_dict:
                return int(state_dict[prefix + name].shape[0])
        return None


class LazyBatchNorm1d(_LazyNorm, _BatchNorm):
    """BatchNorm1d whose num_features comes from its first input."""

    cls_to_become = BatchNorm1d
    _check_input_dim = BatchNorm1d._check_input_dim


class LazyBatchNorm2d(_LazyNorm, _BatchNorm):
    """BatchNorm2d whose num_features comes from its first input."""

    cls_to_become = BatchNorm2d
    _check_input_dim = BatchNorm2d._check_input_dim


class LazyBatchNorm3d(_LazyNorm, _BatchNorm):
    """BatchNorm3d whose num_features comes from its first input."""

    cls_to_become = BatchNorm3d
    _check_input_dim = BatchNorm3d._check_input_dim


class LazyInstanceNorm1d(_LazyNorm, _InstanceNorm):
    """InstanceNorm1d whose num_features comes from its first input."""

    cls_to_become = InstanceNorm1d
    _batched_dim = InstanceNorm1d._batched_dim


class LazyInstanceNorm2d(_LazyNorm, _InstanceNorm):
    """InstanceNorm2d whose num_features comes from its first input."""

    cls_to_become = InstanceNorm2d
    _batched_dim = InstanceNorm2d._batched_dim


class LazyInstanceNorm3d(_LazyNorm, _InstanceNorm):
    """InstanceNorm3d whose num_features comes from its first input."""

    cls_to_become = InstanceNorm3d
    _batched_dim = InstanceNorm3d._batched_dim


__all__ = [
    "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d", "LazyConv1d", "LazyConv2d",
    "LazyConv3d", "LazyConvTranspose1d", "LazyConvTranspose2d", "LazyConvTranspose3d",
    "LazyInstanceNorm1d", "LazyInstanceNorm2d", "LazyInstanceNorm3d", "LazyLinear",
]
