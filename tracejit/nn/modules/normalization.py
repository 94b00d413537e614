"""`torch.nn.modules.normalization`'s names (normalizations): tracejit.nn's classes,
re-exported for torch's import paths."""

from tracejit.nn import (
    CrossMapLRN2d,
    GroupNorm,
    LayerNorm,
    LocalResponseNorm,
    RMSNorm,
)

__all__ = [
    "CrossMapLRN2d",
    "GroupNorm",
    "LayerNorm",
    "LocalResponseNorm",
    "RMSNorm",
]
