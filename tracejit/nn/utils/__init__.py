"""torch.nn.utils: weight and spectral norm, parameter/vector conversion, gradient clipping,
and the `rnn` packing helpers."""

from tracejit.nn.utils import rnn
from tracejit.nn.utils.rnn import PackedSequence

__all__ = ["PackedSequence", "rnn"]
