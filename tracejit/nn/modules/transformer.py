"""`torch.nn.modules.transformer`'s names (the Transformer family): tracejit.nn's classes,
re-exported for torch's import paths."""

from tracejit.nn import (
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

__all__ = [
    "Transformer",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
]
