"""`torch.nn.modules.dropout`'s names (dropout): tracejit.nn's classes,
re-exported for torch's import paths."""

from tracejit.nn import (
    AlphaDropout,
    Dropout,
    Dropout1d,
    Dropout2d,
    Dropout3d,
    FeatureAlphaDropout,
)
from tracejit.nn import dropout as _dropout_impl

# torch's private base classes, which library code subclasses or tests with isinstance
_DropoutNd = _dropout_impl._DropoutNd

__all__ = [
    "AlphaDropout",
    "Dropout",
    "Dropout1d",
    "Dropout2d",
    "Dropout3d",
    "FeatureAlphaDropout",
]
