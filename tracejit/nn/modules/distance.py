"""`torch.nn.modules.distance`'s names (distances): tracejit.nn's classes,
re-exported for torch's import paths."""

from tracejit.nn import (
    CosineSimilarity,
    PairwiseDistance,
)

__all__ = [
    "CosineSimilarity",
    "PairwiseDistance",
]
