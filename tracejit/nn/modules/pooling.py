"""`torch.nn.modules.pooling`'s names (pooling): tracejit.nn's classes,
re-exported for torch's import paths."""

from tracejit.nn import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveAvgPool3d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AdaptiveMaxPool3d,
    AvgPool1d,
    AvgPool2d,
    AvgPool3d,
    FractionalMaxPool2d,
    FractionalMaxPool3d,
    LPPool1d,
    LPPool2d,
    LPPool3d,
    MaxPool1d,
    MaxPool2d,
    MaxPool3d,
    MaxUnpool1d,
    MaxUnpool2d,
    MaxUnpool3d,
)
from tracejit.nn import pooling as _pooling_impl

# torch's private base classes, which library code subclasses or tests with isinstance
_AdaptiveAvgPoolNd = _pooling_impl._AdaptiveAvgPoolNd
_AdaptiveMaxPoolNd = _pooling_impl._AdaptiveMaxPoolNd
_AvgPoolNd = _pooling_impl._AvgPoolNd
_LPPoolNd = _pooling_impl._LPPoolNd
_MaxPoolNd = _pooling_impl._MaxPoolNd
_MaxUnpoolNd = _pooling_impl._MaxUnpoolNd

__all__ = [
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "AdaptiveMaxPool3d",
    "AvgPool1d",
    "AvgPool2d",
    "AvgPool3d",
    "FractionalMaxPool2d",
    "FractionalMaxPool3d",
    "LPPool1d",
    "LPPool2d",
    "LPPool3d",
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "MaxUnpool1d",
    "MaxUnpool2d",
    "MaxUnpool3d",
]
