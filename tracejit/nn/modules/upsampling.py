"""`torch.nn.modules.upsampling`'s names (upsampling): tracejit.nn's classes,
re-exported for torch's import paths."""

from tracejit.nn import (
    Upsample,
    UpsamplingBilinear2d,
    UpsamplingNearest2d,
)

__all__ = [
    "Upsample",
    "UpsamplingBilinear2d",
    "UpsamplingNearest2d",
]
