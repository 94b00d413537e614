"""`torch.nn.modules.pixelshuffle`'s names (pixel shuffles): tracejit.nn's classes,
re-exported for torch's import paths."""

from tracejit.nn import (
    PixelShuffle,
    PixelUnshuffle,
)

__all__ = [
    "PixelShuffle",
    "PixelUnshuffle",
]
