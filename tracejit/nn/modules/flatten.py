"""`torch.nn.modules.flatten`'s names (Flatten and Unflatten): tracejit.nn's classes,
re-exported for torch's import paths."""

from tracejit.nn import (
    Flatten,
    Unflatten,
)

__all__ = [
    "Flatten",
    "Unflatten",
]
