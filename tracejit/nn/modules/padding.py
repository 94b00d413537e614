"""`torch.nn.modules.padding`'s names (padding): tracejit.nn's classes,
re-exported for torch's import paths."""

from tracejit.nn import (
    CircularPad1d,
    CircularPad2d,
    CircularPad3d,
    ConstantPad1d,
    ConstantPad2d,
    ConstantPad3d,
    ReflectionPad1d,
    ReflectionPad2d,
    ReflectionPad3d,
    ReplicationPad1d,
    ReplicationPad2d,
    ReplicationPad3d,
    ZeroPad1d,
    ZeroPad2d,
    ZeroPad3d,
)
from tracejit.nn import padding as _padding_impl

# torch's private base classes, which library code subclasses or tests with isinstance
_CircularPadNd = _padding_impl._CircularPadNd
_ConstantPadNd = _padding_impl._ConstantPadNd
_ReflectionPadNd = _padding_impl._ReflectionPadNd
_ReplicationPadNd = _padding_impl._ReplicationPadNd

__all__ = [
    "CircularPad1d",
    "CircularPad2d",
    "CircularPad3d",
    "ConstantPad1d",
    "ConstantPad2d",
    "ConstantPad3d",
    "ReflectionPad1d",
    "ReflectionPad2d",
    "ReflectionPad3d",
    "ReplicationPad1d",
    "ReplicationPad2d",
    "ReplicationPad3d",
    "ZeroPad1d",
    "ZeroPad2d",
    "ZeroPad3d",
]
