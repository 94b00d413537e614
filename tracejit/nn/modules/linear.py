"""`torch.nn.modules.linear`'s names (linear layers): tracejit.nn's classes,
re-exported for torch's import paths."""

from tracejit.nn import (
    Bilinear,
    Identity,
    LazyLinear,
    Linear,
    NonDynamicallyQuantizableLinear,
)

__all__ = [
    "Bilinear",
    "Identity",
    "LazyLinear",
    "Linear",
    "NonDynamicallyQuantizableLinear",
]
