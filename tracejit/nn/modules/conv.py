"""`torch.nn.modules.conv`'s names (convolutions): tracejit.nn's classes,
re-exported for torch's import paths."""

from tracejit.nn import (
    Conv1d,
    Conv2d,
    Conv3d,
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
    LazyConv1d,
    LazyConv2d,
    LazyConv3d,
    LazyConvTranspose1d,
    LazyConvTranspose2d,
    LazyConvTranspose3d,
)
from tracejit.nn import conv as _conv_impl

# torch's private base classes, which library code subclasses or tests with isinstance
_ConvNd = _conv_impl._ConvNd
_ConvTransposeNd = _conv_impl._ConvTransposeNd

__all__ = [
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
    "LazyConv1d",
    "LazyConv2d",
    "LazyConv3d",
    "LazyConvTranspose1d",
    "LazyConvTranspose2d",
    "LazyConvTranspose3d",
]
