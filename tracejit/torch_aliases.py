"""torch's top-level spellings of Tensor methods (`torch.relu_(x)`, `torch.greater(a, b)`) and
of nn.functional ops whose `torch.*` signature is the same as the functional one
(`torch.conv2d`, `torch.dropout(x, p, train)`, `torch.layer_norm`, ...). torch.* ops whose
argument order differs from nn.functional (batch_norm, instance_norm, embedding, the losses
with an integer reduction) are left out rather than given a wrong meaning."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tracejit.functions import _method_function, c_order
from tracejit.nn import functional as _F

if TYPE_CHECKING:
    from tracejit.linalg import qr_result, slogdet_result, svd_result
    from tracejit.tensor import Tensor

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
# the methods that return something else than a Tensor
for _name, _returns in (("get_device", "int"), ("is_inference", "bool"),
                        ("unsafe_chunk", "tuple[Tensor, ...]"),
                        ("unsafe_split", "tuple[Tensor, ...]")):
    globals()[_name].__annotations__["return"] = _returns

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



# tracejit.X_copy(input, ...) is input.X(...).clone(): torch's copying spellings of views
def _copy_function(name: str) -> Callable[..., Tensor | tuple[Tensor, ...] | list[Tensor]]:
    def function(input, *args, **kwargs) -> Tensor | tuple[Tensor, ...] | list[Tensor]:
        out = getattr(input, name)(*args, **kwargs)
        if isinstance(out, (tuple, list)):
            return type(out)(c_order(t.clone()) for t in out)
        return c_order(out.clone())  # torch's copy is contiguous (clone keeps the layout)

    function.__name__ = function.__qualname__ = f"{name}_copy"
    function.__doc__ = f"input.{name}(...) as a new tensor (not a view)."
    return function


_COPIES = ("diagonal", "expand", "permute", "select", "split", "split_with_sizes", "squeeze",
           "t", "transpose", "unbind", "unfold", "unsqueeze", "view")
globals().update({f"{name}_copy": _copy_function(name) for name in _COPIES})


def alias_copy(input) -> Tensor:
    return c_order(input.clone())


def slice_copy(input, dim: int = 0, start=None, end=None, step: int = 1) -> Tensor:
    return c_order(input[(slice(None),) * (dim % input.ndim) + (slice(start, end, step),)].clone())


# torch's older linear-algebra spellings (see tracejit.linalg)
def det(input) -> Tensor:
    from tracejit import linalg

    return linalg.det(input)


def inverse(input) -> Tensor:
    from tracejit import linalg

    return linalg.inv(input)


def slogdet(input) -> slogdet_result:
    from tracejit import linalg

    return linalg.slogdet(input)


def logdet(input) -> Tensor:
    """log(det(input)): NaN for a negative determinant, -inf for zero."""
    import math

    from tracejit.functions import where

    sign, logabsdet = slogdet(input)
    return where(sign < 0, math.nan, logabsdet)


def pinverse(input, rcond: float = 1e-15) -> Tensor:
    from tracejit import linalg

    return linalg.pinv(input, rtol=rcond)


def matrix_power(input, n: int) -> Tensor:
    from tracejit import linalg

    return linalg.matrix_power(input, n)


def cholesky(input, upper: bool = False) -> Tensor:
    from tracejit import linalg

    return linalg.cholesky(input, upper=upper)


def qr(input, some: bool = True) -> qr_result:
    from tracejit import linalg

    return linalg.qr(input, "reduced" if some else "complete")


def svd(input, some: bool = True, compute_uv: bool = True) -> svd_result:
    """(U, S, V) with V not transposed (torch.svd's convention; linalg.svd returns Vh)."""
    from tracejit import linalg

    U, S, Vh = linalg.svd(input, full_matrices=not some)
    if not compute_uv:
        return linalg.svd_result(U.zero_(), S, Vh.mT.zero_())
    return linalg.svd_result(U, S, Vh.mT)


def ldexp(input, other) -> Tensor:
    """input * 2 ** other."""
    from tracejit.functions_math import _float_input

    if input.dtype.is_floating_point:  # torch: 2 as a 0-d tensor of input's dtype
        from tracejit.creation import full
        from tracejit.ir import DType

        if getattr(other, "dtype", None) is DType.bool:
            raise NotImplementedError("\"ldexp_cpu_exp\" not implemented for 'Bool': a "
                                      "float input needs a numeric exponent (other.int())")

        two = full((), 2.0, dtype=input.dtype)
        return input * (two ** other)
    return input * (2.0 ** _float_input(other))


def renorm(input, p, dim: int, maxnorm) -> Tensor:
    """Each slice along dim rescaled to p-norm at most maxnorm."""
    d = dim % input.ndim
    others = tuple(i for i in range(input.ndim) if i != d)
    from tracejit import linalg

    norms = linalg.vector_norm(input, p, others, True)
    scale = (maxnorm / (norms + 1e-7)).clamp_max(1.0)
    return c_order(input * scale)


def select_scatter(input, src, dim: int, index: int) -> Tensor:
    """A copy of input with input.select(dim, index) replaced by src."""
    out = input.clone()
    out[(slice(None),) * (dim % input.ndim) + (index,)] = src
    return out


def slice_scatter(input, src, dim: int = 0, start=None, end=None, step: int = 1) -> Tensor:
    """A copy of input with the slice start:end:step of dim replaced by src."""
    out = input.clone()
    out[(slice(None),) * (dim % input.ndim) + (slice(start, end, step),)] = src
    return out


def frombuffer(buffer, *, dtype, count: int = -1, offset: int = 0, requires_grad=False) -> Tensor:
    """A tensor sharing the memory of a Python buffer (bytes, bytearray, memoryview, ...)."""
    import numpy as np

    from tracejit.creation import from_numpy

    return from_numpy(np.frombuffer(buffer, dtype=dtype.np, count=count, offset=offset))


def empty_strided(size, stride, *, dtype=None, device=None, requires_grad=False,
                  **kwargs) -> Tensor:
    """Like empty (tracejit picks its own strides)."""
    from tracejit.creation import empty

    return empty(*size, dtype=dtype, device=device)


def empty_permuted(size, physical_layout, *, dtype=None, device=None, requires_grad=False,
                   **kwargs) -> Tensor:
    from tracejit.creation import empty

    return empty(*size, dtype=dtype, device=device)


def is_anomaly_enabled() -> bool:
    return False


def is_anomaly_check_nan_enabled() -> bool:
    return False


def set_anomaly_enabled(mode: bool, check_nan: bool = True) -> None:
    """No-op: anomaly detection belongs to autograd (issue 15)."""


__all__ = [
    *(n for n in _METHODS if n != "is_nonzero"), *_FUNCTIONAL, *(f"{n}_copy" for n in _COPIES),
    "alias_copy", "slice_copy", "det", "inverse", "slogdet", "logdet", "pinverse",
    "matrix_power", "cholesky", "qr", "svd", "ldexp", "renorm", "select_scatter",
    "slice_scatter", "frombuffer", "empty_strided", "empty_permuted", "is_anomaly_enabled",
    "is_anomaly_check_nan_enabled", "set_anomaly_enabled",
]

if TYPE_CHECKING:  # the functions made above, named for type checkers
    (abs_, absolute_, addmv_, ceil_, clamp_, clamp_max_, clamp_min_, clip_, cos_, cosh_, deg2rad_,
     erf_, exp2_, exp_, expm1_, fix, fix_, floor_, frac_, greater, greater_equal, less, less_equal,
     log10_, log1p_, log2_, log_, logit_, nan_to_num_, neg_, negative_, not_equal, positive,
     rad2deg_, reciprocal_, relu_, round_, rsqrt_, sgn, sigmoid_, sin_, sinc_, sinh_, sqrt_,
     square_, swapdims, tan_, tanh_, trunc_, xlogy_) = (_method_function(n) for n in _METHODS)
    get_device: Callable[..., int]
    is_inference: Callable[..., bool]
    unsafe_chunk: Callable[..., tuple[Tensor, ...]]
    unsafe_split: Callable[..., tuple[Tensor, ...]]
    from tracejit.nn.functional import (
        adaptive_avg_pool1d,
        alpha_dropout,
        avg_pool1d,
        bilinear,
        celu,
        celu_,
        channel_shuffle,
        conv1d,
        conv2d,
        conv3d,
        conv_transpose1d,
        conv_transpose2d,
        conv_transpose3d,
        cosine_similarity,
        dropout,
        feature_alpha_dropout,
        group_norm,
        hardshrink,
        layer_norm,
        max_pool1d,
        max_pool1d_with_indices,
        max_pool2d,
        max_pool3d,
        native_channel_shuffle,
        pairwise_distance,
        pdist,
        pixel_shuffle,
        pixel_unshuffle,
        prelu,
        rms_norm,
        rrelu,
        rrelu_,
        selu,
        selu_,
        threshold,
        threshold_,
    )
    (diagonal_copy, expand_copy, permute_copy, select_copy, split_copy, split_with_sizes_copy,
     squeeze_copy, t_copy, transpose_copy, unbind_copy, unfold_copy, unsqueeze_copy,
     view_copy) = (_copy_function(n) for n in _COPIES)
    __all__ += ["abs_", "absolute_", "adaptive_avg_pool1d", "addmv_", "alpha_dropout", "avg_pool1d",
                "bilinear", "ceil_", "celu", "celu_", "channel_shuffle", "clamp_", "clamp_max_",
                "clamp_min_", "clip_", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                "conv_transpose2d", "conv_transpose3d", "cos_", "cosh_", "cosine_similarity",
                "deg2rad_", "diagonal_copy", "dropout", "erf_", "exp2_", "exp_", "expand_copy",
                "expm1_", "feature_alpha_dropout", "fix", "fix_", "floor_", "frac_", "get_device",
                "greater", "greater_equal", "group_norm", "hardshrink", "is_inference",
                "layer_norm", "less", "less_equal", "log1p_", "log2_", "log10_", "log_", "logit_",
                "max_pool1d", "max_pool1d_with_indices", "max_pool2d", "max_pool3d", "nan_to_num_",
                "native_channel_shuffle", "neg_", "negative_", "not_equal", "pairwise_distance",
                "pdist", "permute_copy", "pixel_shuffle", "pixel_unshuffle", "positive", "prelu",
                "rad2deg_", "reciprocal_", "relu_", "rms_norm", "round_", "rrelu", "rrelu_",
                "rsqrt_", "select_copy", "selu", "selu_", "sgn", "sigmoid_", "sin_", "sinc_",
                "sinh_", "split_copy", "split_with_sizes_copy", "sqrt_", "square_", "squeeze_copy",
                "swapdims", "t_copy", "tan_", "tanh_", "threshold", "threshold_", "transpose_copy",
                "trunc_", "unbind_copy", "unfold_copy", "unsafe_chunk", "unsafe_split",
                "unsqueeze_copy", "view_copy", "xlogy_"]
