"""`torch.nn.modules.channelshuffle`'s names (channel shuffle): tracejit.nn's classes,
re-exported for torch's import paths."""

from tracejit.nn import (
    ChannelShuffle,
)

__all__ = [
    "ChannelShuffle",
]
