"""`torch.nn.modules.instancenorm`'s names (instance normalization): tracejit.nn's classes,
re-exported for torch's import paths."""

from tracejit.nn import (
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
    LazyInstanceNorm1d,
    LazyInstanceNorm2d,
    LazyInstanceNorm3d,
)
from tracejit.nn import normalization as _normalization_impl

# torch's private base classes, which library code subclasses or tests with isinstance
_InstanceNorm = _normalization_impl._InstanceNorm

__all__ = [
    "InstanceNorm1d",
    "InstanceNorm2d",
    "InstanceNorm3d",
    "LazyInstanceNorm1d",
    "LazyInstanceNorm2d",
    "LazyInstanceNorm3d",
]
