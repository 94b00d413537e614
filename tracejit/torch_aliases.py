"""torch's top-level spellings of Tensor methods (`torch.relu_(x)`, `torch.greater(a, b)`) and
of nn.functional ops whose `torch.*` signature is the same as the functional one
(`torch.conv2d`, `torch.dropout(x, p, train)`, `torch.layer_norm`, ...). torch.* ops whose
argument order differs from nn.functional (batch_norm, instance_norm, embedding, the losses
with an integer reduction) are left out rather than given a wrong meaning."""

from __future__ import annotations

from tracejit.functions import _method_function
from tracejit.nn import functional as _F

# tracejit.X(input, ...) is input.X(...)
_METHODS = (
    "abs_", "absolute_", "addmv_", "ceil_", "clamp_", "clamp_max_", "clamp_min_", "clip_",
    "cos_", "cosh_", "deg2rad_", "erf_", "exp2_", "exp_", "expm1_", "fix", "fix_", "floor_",
    "frac_", "get_device", "greater", "greater_equal", "is_inference", "is_nonzero", "less",
    "less_equal", "log10_", "log1p_", "log2_", "log_", "logit_", "nan_to_num_", "neg_",
    "negative_", "not_equal", "positive", "rad2deg_", "reciprocal_", "relu_", "round_",
    "rsqrt_", "sgn", "sigmoid_", "sin_", "sinc_", "sinh_", "sqrt_", "square_", "swapdims",
    "tan_", "tanh_", "trunc_", "unsafe_chunk", "unsafe_split", "xlogy_",
)
globals().update({name: _method_function(name) for name in _METHODS if name != "is_nonzero"})

# tracejit.X is nn.functional.X (same signature as torch.X)
_FUNCTIONAL = (
    "adaptive_avg_pool1d", "alpha_dropout", "avg_pool1d", "bilinear", "celu", "celu_",
    "channel_shuffle", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
    "conv_transpose3d", "cosine_similarity", "dropout", "feature_alpha_dropout", "group_norm",
    "hardshrink", "layer_norm", "max_pool1d", "max_pool1d_with_indices", "max_pool2d",
    "max_pool3d", "native_channel_shuffle", "pairwise_distance", "pdist", "pixel_shuffle",
    "pixel_unshuffle", "prelu", "rms_norm", "rrelu", "rrelu_", "selu", "selu_", "threshold",
    "threshold_",
)
_FUNCTIONAL = tuple(name for name in _FUNCTIONAL if hasattr(_F, name))
globals().update({name: getattr(_F, name) for name in _FUNCTIONAL})

__all__ = [*(n for n in _METHODS if n != "is_nonzero"), *_FUNCTIONAL]
