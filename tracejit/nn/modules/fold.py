"""`torch.nn.modules.fold`'s names (Fold and Unfold): tracejit.nn's classes,
re-exported for torch's import paths."""

from tracejit.nn import (
    Fold,
    Unfold,
)

__all__ = [
    "Fold",
    "Unfold",
]
