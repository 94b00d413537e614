"""`torch.nn.modules.sparse`'s names (embeddings): tracejit.nn's classes,
re-exported for torch's import paths."""

from tracejit.nn import (
    Embedding,
    EmbeddingBag,
)

__all__ = [
    "Embedding",
    "EmbeddingBag",
]
