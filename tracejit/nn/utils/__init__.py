"""torch.nn.utils: weight and spectral norm, gradient clipping, parameter/vector conversion,
and the `rnn` packing helpers."""

from tracejit.nn.utils import parametrizations, parametrize, rnn
from tracejit.nn.utils.clip_grad import (
    clip_grad_norm,
    clip_grad_norm_,
    clip_grad_value_,
    clip_grads_with_norm_,
    get_total_norm,
    parameters_to_vector,
    vector_to_parameters,
)
from tracejit.nn.utils.rnn import PackedSequence
from tracejit.nn.utils.spectral_norm import remove_spectral_norm, spectral_norm
from tracejit.nn.utils.weight_norm import remove_weight_norm, weight_norm

__all__ = ["PackedSequence", "clip_grad_norm", "clip_grad_norm_", "clip_grad_value_",
           "clip_grads_with_norm_", "get_total_norm", "parameters_to_vector",
           "parametrizations", "parametrize", "remove_spectral_norm", "remove_weight_norm",
           "rnn", "spectral_norm", "vector_to_parameters", "weight_norm"]
