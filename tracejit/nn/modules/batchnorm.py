"""`torch.nn.modules.batchnorm`'s names (batch normalization): tracejit.nn's classes,
re-exported for torch's import paths."""

from tracejit.nn import (
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    LazyBatchNorm1d,
    LazyBatchNorm2d,
    LazyBatchNorm3d,
    SyncBatchNorm,
)
from tracejit.nn import lazy as _lazy_impl
from tracejit.nn import normalization as _normalization_impl

# torch's private base classes, which library code subclasses or tests with isinstance
_NormBase = _normalization_impl._NormBase
_BatchNorm = _normalization_impl._BatchNorm
_LazyNormBase = _lazy_impl._LazyNorm

__all__ = [
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "LazyBatchNorm1d",
    "LazyBatchNorm2d",
    "LazyBatchNorm3d",
    "SyncBatchNorm",
]
