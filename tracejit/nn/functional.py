"""torch.nn.functional for tracejit: activations, convolution and pooling, normalization,
dropout, padding, losses and attention, with torch's names, signatures and defaults.

Each function is one dispatched op or a composite of dispatched ops and Tensor methods (never
numpy on a tensor's data), so a capture mode records what it is made of. Argument errors raise
torch's exception types and name the shapes, dims and dtypes involved.
"""

from __future__ import annotations

import math
import operator
import warnings
from typing import TYPE_CHECKING

from tracejit import creation
from tracejit import functions as fn
from tracejit.autograd import is_grad_enabled as _grad_enabled
from tracejit.autograd import no_grad as _no_grad
from tracejit.dispatch import assign, current_mode, dispatch, dispatch_inplace, result_type
from tracejit.ir import DType, Op
from tracejit.ir.shape_rules import broadcast_shapes

if TYPE_CHECKING:
    from tracejit.tensor import Tensor

_REDUCTIONS = ("none", "mean", "sum")


def _check_float(what: str, *tensors) -> None:
    """torch has `what` for floating-point dtypes only."""
    for t in tensors:
        if not t.dtype.is_floating_point:
            raise RuntimeError(
                f"{what}: {t.dtype.value} tensors are not supported (supported dtypes: float32, "
                "float64)"
            )


def _check_same_dtype(what: str, input, *others) -> None:
    for t in others:
        if t is not None and t.dtype is not input.dtype:
            raise RuntimeError(
                f"{what}: expected parameters of the input's dtype {input.dtype.value}, got "
                f"{t.dtype.value}"
            )


def _present(*tensors) -> list:
    return [t for t in tensors if t is not None]


def _unary(op: Op, input, inplace: bool):
    return dispatch_inplace(op, input) if inplace else dispatch(op, input)


def _written(input, result, inplace: bool, what: str):
    """`result`, written into `input` first when `inplace` (torch's in-place variants)."""
    return assign(input, result, what) if inplace else result


def _ints(values, name: str) -> tuple[int, ...]:
    try:
        return tuple(operator.index(v) for v in values)
    except TypeError:
        raise TypeError(f"{name} must be an int or a tuple of ints, got {values!r}") from None


# --- activations --------------------------------------------------------------------------------

def relu(input, inplace: bool = False) -> Tensor:
    """max(x, 0)."""
    return _unary(Op.RELU, input, inplace)


def gelu(input, approximate: str = "none") -> Tensor:
    """x * Phi(x) (the normal CDF), or its tanh approximation."""
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    return dispatch(Op.GELU, input, approximate=approximate)


def silu(input, inplace: bool = False) -> Tensor:
    """x * sigmoid(x)."""
    _check_float("silu", input)
    return _unary(Op.SILU, input, inplace)


def sigmoid(input) -> Tensor:
    """1 / (1 + exp(-x)); integer inputs give the default float dtype."""
    return dispatch(Op.SIGMOID, input)


def tanh(input) -> Tensor:
    """Hyperbolic tangent; integer inputs give the default float dtype."""
    return dispatch(Op.TANH, input)


def softmax(input, dim=None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """exp(x) / sum(exp(x)) along `dim`, computed in `dtype` if given."""
    return fn.softmax(input, dim, dtype)


def log_softmax(input, dim=None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """log(softmax(x)) along `dim`, computed stably in `dtype` if given."""
    return fn.log_softmax(input, dim, dtype)


def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x where x > 0, else negative_slope * x."""
    _check_float("leaky_relu", input)
    out = fn.where(input > 0, input, input * negative_slope)
    return _written(input, out, inplace, "leaky_relu_")


def elu(input, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x where x > 0, else alpha * (exp(x) - 1)."""
    _check_float("elu", input)
    # expm1 of the clamped input: the branch where does not take stays finite (an inf there
    # would turn the gradient's zero into NaN)
    out = fn.where(input > 0, input, fn.clamp(input, max=0.0).expm1() * alpha)
    return _written(input, out, inplace, "elu_")


def softplus(input, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta * x)) / beta, and x itself where beta * x > threshold."""
    _check_float("softplus", input)
    scaled = input * beta
    return fn.where(scaled > threshold, input, scaled.exp().log1p() / beta)


@fn.contiguous_result
def logsigmoid(input) -> Tensor:
    """log(sigmoid(x)) computed stably as min(x, 0) - log1p(exp(-|x|))."""
    _check_float("logsigmoid", input)
    return _log_sigmoid(input)


def _log_sigmoid(input) -> Tensor:
    """logsigmoid in the layout elementwise ops give (torch's own logsigmoid is contiguous)."""
    return fn.clamp(input, None, 0) - (-input.abs()).exp().log1p()


def hardtanh(input, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """x clamped to [min_val, max_val]."""
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    if not input.dtype.is_floating_point:  # torch converts the bounds to the input's dtype
        min_val, max_val = int(min_val), int(max_val)
    out = fn.clamp_gradient(input, fn.clamp(input.detach(), min_val, max_val), min_val,
                            max_val, inclusive=False)  # torch: no gradient at the bounds
    return _written(input, out, inplace, "hardtanh_")


def relu6(input, inplace: bool = False) -> Tensor:
    """x clamped to [0, 6]."""
    return hardtanh(input, 0.0, 6.0, inplace)


def normalize(input, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out=None) -> Tensor:
    """input / max(norm_p(input, dim), eps)."""
    if out is not None:
        raise NotImplementedError("normalize(out=...) is not supported; use the returned tensor")
    denom = fn.norm(input, p, dim, keepdim=True).clamp_min(eps)
    return input / denom.expand_as(input)


# --- linear and convolution ---------------------------------------------------------------------

def linear(input, weight, bias=None) -> Tensor:
    """input @ weight.T + bias."""
    return dispatch(Op.LINEAR, input, weight, *_present(bias))


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """2-D cross-correlation; padding is an int, a pair, 'valid' or 'same' (stride 1 only)."""
    stride, dilation = _conv_pair(stride, "stride"), _conv_pair(dilation, "dilation")
    if isinstance(padding, str):
        input, padding = _string_padding(input, weight, padding, stride, dilation)
    else:
        padding = _conv_pair(padding, "padding")
    return dispatch(Op.CONV2D, input, weight, *_present(bias), stride=stride, padding=padding,
                    dilation=dilation, groups=operator.index(groups))


def _conv_pair(value, name: str) -> tuple[int, int]:
    v = _ints((value,) if isinstance(value, int) else tuple(value), name)
    if len(v) not in (1, 2):
        raise RuntimeError(
            f"expected {name} to be a single integer value or a list of 2 values to match the "
            f"convolution dimensions, but got {name}={list(v)}"
        )
    return (v[0], v[-1])


def _string_padding(input, weight, padding: str, stride, dilation):
    """(input, padding) for 'valid' or 'same'; an odd 'same' total puts the extra on the far
    side with a PAD op, like torch."""
    if padding == "valid":
        return input, (0, 0)
    if padding != "same":
        raise RuntimeError(f"Invalid padding string: '{padding}'")
    if stride != (1, 1):
        raise RuntimeError("padding='same' is not supported for strided convolutions")
    kernel = tuple(weight.shape[-2:]) if weight.ndim == 4 else (1, 1)
    totals = [d * (k - 1) for d, k in zip(dilation, kernel)]
    near = tuple(t // 2 for t in totals)
    far = [t - n for t, n in zip(totals, near)]
    if far != list(near):
        input = pad(input, (0, far[1] - near[1], 0, far[0] - near[0]))
    return input, near


# --- pooling ------------------------------------------------------------------------------------

_POOL_ARG_FORMS = {
    "kernel_size": "must either be a single int",
    "stride": "must either be omitted, a single int",
    "padding": "must either be a single int",
    "dilation": "must be either a single int",
}


def _pool_pair(op: str, name: str, value) -> tuple[int, int]:
    v = _ints((value,) if isinstance(value, int) else tuple(value), name)
    if len(v) not in (1, 2):
        raise RuntimeError(f"{op}: {name} {_POOL_ARG_FORMS[name]}, or a tuple of two ints")
    return (v[0], v[-1])


def _pool_window(op: str, kernel_size, stride, padding) -> dict:
    kernel = _pool_pair(op, "kernel_size", kernel_size)
    empty = stride is None or (not isinstance(stride, int) and len(stride) == 0)
    stride = kernel if empty else _pool_pair(op, "stride", stride)
    return {"kernel_size": kernel, "stride": stride, "padding": _pool_pair(op, "padding", padding)}


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False) -> Tensor | tuple[Tensor, Tensor]:
    """Window maxima over the last two dims (stride defaults to kernel_size)."""
    if return_indices:  # a composite around this op, in functional_conv
        return functional_pool.max_pool2d_with_indices(input, kernel_size, stride, padding,
                                                       dilation, ceil_mode)
    window = _pool_window("max_pool2d", kernel_size, stride, padding)
    return dispatch(Op.MAX_POOL2D, input, **window, ceil_mode=bool(ceil_mode),
                    dilation=_pool_pair("max_pool2d", "dilation", dilation))


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None) -> Tensor:
    """Window means over the last two dims (stride defaults to kernel_size)."""
    window = _pool_window("avg_pool2d", kernel_size, stride, padding)
    return dispatch(Op.AVG_POOL2D, input, **window, ceil_mode=bool(ceil_mode),
                    count_include_pad=bool(count_include_pad), divisor_override=divisor_override)


def adaptive_avg_pool2d(input, output_size) -> Tensor:
    """Means over torch's adaptive windows [floor(i*n/o), ceil((i+1)*n/o)), rows then columns."""
    if input.ndim not in (3, 4):
        raise RuntimeError(
            f"adaptive_avg_pool2d(): Expected 3D or 4D tensor, but got {list(input.shape)}"
        )
    functional_act._require_float("adaptive_avg_pool2d", input)
    sizes = (output_size,) * 2 if isinstance(output_size, int) else tuple(output_size)
    if len(sizes) != 2:
        raise RuntimeError("adaptive_avg_pool2d: output_size must be 2")
    out = input
    for axis, size in zip((-2, -1), sizes):
        out = _adaptive_mean(out, input.ndim + axis, input.shape[axis] if size is None else size)
    return out


def _adaptive_mean(x, dim: int, size: int):
    n = x.shape[dim]
    if size == n:
        return x
    if size and n % size == 0:  # equal windows: one reshape and one mean
        return fn.unflatten(x, dim, (size, n // size)).mean(dim + 1)
    starts = [i * n // size for i in range(size)]
    stops = [-(-(i + 1) * n // size) for i in range(size)]
    parts = [fn.narrow(x, dim, a, b - a).mean(dim, keepdim=True) for a, b in zip(starts, stops)]
    return fn.cat(parts, dim) if parts else fn.narrow(x, dim, 0, 0)


# --- normalization ------------------------------------------------------------------------------

def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """Normalize over the trailing `normalized_shape` dims, then scale and shift."""
    shape = _normalized_shape(input, normalized_shape)
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != shape:
            raise RuntimeError(
                f"Expected {name} to be of same shape as normalized_shape, but got {name} of "
                f"shape {list(t.shape)} and normalized_shape = {list(shape)}"
            )
    if weight is None and bias is not None:
        return dispatch(Op.LAYER_NORM, input, normalized_ndim=len(shape), eps=eps) + bias
    return dispatch(Op.LAYER_NORM, input, *_present(weight, bias), normalized_ndim=len(shape),
                    eps=eps)


def _normalized_shape(input, normalized_shape) -> tuple[int, ...]:
    if isinstance(normalized_shape, int):
        raise TypeError(
            "layer_norm(): argument 'normalized_shape' must be tuple of ints, not int"
        )
    shape = _ints(normalized_shape, "normalized_shape")
    if not shape:
        raise RuntimeError(
            "Expected normalized_shape to be at least 1-dimensional, i.e., containing at least "
            "one element, but got normalized_shape = []"
        )
    if len(shape) > input.ndim or tuple(input.shape[input.ndim - len(shape):]) != shape:
        raise RuntimeError(
            f"Given normalized_shape={list(shape)}, expected input with shape "
            f"[*, {', '.join(map(str, shape))}], but got input of size{list(input.shape)}"
        )
    return shape


@fn.contiguous_result
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5) -> Tensor:
    """Normalize over every dim but dim 1. Training uses the biased batch variance and updates
    running_mean and running_var in place (with the unbiased variance); eval uses them."""
    _check_batch_norm_args(input, running_mean, running_var, weight, bias, training)
    dims = (0, *range(2, input.ndim))
    stats_shape = tuple(input.shape[1] if d == 1 else 1 for d in range(input.ndim))
    if training:
        mean = input.mean(dims, keepdim=True)
        centered = input - mean
        var = (centered * centered).mean(dims, keepdim=True)
        _update_running_stats(running_mean, running_var, mean, var, momentum,
                              input.numel() // input.shape[1])
    else:
        centered = input - running_mean.reshape(stats_shape)
        var = running_var.reshape(stats_shape)
    out = centered * (var + eps).rsqrt()
    if weight is not None:
        out = out * weight.reshape(stats_shape)
    return out if bias is None else out + bias.reshape(stats_shape)


def _check_batch_norm_args(input, running_mean, running_var, weight, bias, training) -> None:
    if training:
        per_channel = input.numel() // input.shape[1] if input.ndim > 1 and input.shape[1] else 1
        if per_channel <= 1:
            raise ValueError(
                "Expected more than 1 value per channel when training, got input size "
                f"{input.shape!r}"
            )
    elif running_mean is None or running_var is None:
        which = "running_mean" if running_mean is None else "running_var"
        raise RuntimeError(f"{which} must be defined in evaluation mode")
    channels = input.shape[1] if input.ndim > 1 else 0
    named = {"weight": weight, "bias": bias, "running_mean": running_mean,
             "running_var": running_var}
    for name, t in named.items():
        if t is not None and t.numel() != channels:
            raise RuntimeError(f"{name} should contain {channels} elements not {t.numel()}")
    _check_float("batch_norm", input)
    _check_same_dtype("batch_norm", input, *named.values())


def _update_running_stats(running_mean, running_var, mean, var, momentum, n: int) -> None:
    """running = (1 - momentum) * running + momentum * batch statistic, written in place
    (no gradient flows into the running statistics, as in torch)."""
    with _no_grad():
        _update_stats(running_mean, running_var, mean, var, momentum, n)


def _update_stats(running_mean, running_var, mean, var, momentum, n: int) -> None:
    if running_mean is not None:
        new = running_mean * (1 - momentum) + mean.reshape(running_mean.shape) * momentum
        running_mean.copy_(new)
    if running_var is not None:
        unbiased = var.reshape(running_var.shape) * (n / (n - 1))
        running_var.copy_(running_var * (1 - momentum) + unbiased * momentum)


# --- embedding, dropout, padding, one_hot -------------------------------------------------------

def embedding(input, weight, padding_idx=None, max_norm=None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """weight[input]: rows of `weight` looked up by index; the padding_idx row gets no
    gradient (torch's), so it reads from a detached weight there."""
    if max_norm is not None:
        raise NotImplementedError(
            "embedding(max_norm=...) renormalizes weight rows in place and is not supported; "
            "pass max_norm=None"
        )
    if weight.ndim != 2:
        raise RuntimeError("'weight' must be 2-D")
    if padding_idx is not None and not -weight.shape[0] <= padding_idx < weight.shape[0]:
        raise AssertionError("Padding_idx must be within num_embeddings")
    if input.dtype not in (DType.int64, DType.int32):
        raise RuntimeError(
            "Expected tensor for argument #1 'indices' to have one of the following scalar "
            f"types: int64, int32; but got {input.dtype.value} instead (while checking "
            "arguments for embedding)"
        )
    if padding_idx is not None and weight.requires_grad and _grad_enabled():
        pad = padding_idx % weight.shape[0]
        return fn.where((input == pad).unsqueeze(-1), weight.detach()[input], weight[input])
    return weight[input]


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability p and scale the rest by 1 / (1 - p)."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return input
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"dropout: expected a floating-point input, got {input.dtype.value}")
    if p == 1:
        noise = creation.zeros((), dtype=input.dtype)
    else:
        keep = creation.rand(*input.shape, dtype=input.dtype) < (1 - p)
        noise = keep.to(input.dtype) / (1 - p)
    return input.mul_(noise) if inplace else input * noise


_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pad(input, pad, mode: str = "constant", value=None) -> Tensor:
    """Pad the last len(pad) // 2 dims: pad = (last_lo, last_hi, second_last_lo, ...)."""
    pads = _ints(pad, "pad")
    if len(pads) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pads) // 2 > input.ndim:
        raise RuntimeError(
            "Padding length should be less than or equal to two times the input dimension but "
            f"got padding length {len(pads)} and input of dimension {input.ndim}"
        )
    if mode not in _PAD_MODES:
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if mode != "constant":
        _check_nonconstant_pad(input, pads, mode, value)
    value = 0 if value is None else value
    return dispatch(Op.PAD, input, pads=pads, mode=mode,
                    value=int(value) if isinstance(value, bool) else value)


def _check_nonconstant_pad(input, pads, mode: str, value) -> None:
    if value is not None and value != 0:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    n = len(pads) // 2
    if n not in (1, 2, 3) or input.ndim not in (n + 1, n + 2):
        raise NotImplementedError(
            f"Padding size {len(pads)} is not supported for {input.ndim}D input tensor.\n"
            "Supported combinations for non-constant padding:\n"
            "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
            "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
            "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)"
        )
    if mode == "circular":
        for k in range(n):
            if max(pads[2 * k], pads[2 * k + 1]) > input.shape[-1 - k]:
                raise RuntimeError("Padding value causes wrapping around more than once.")


@fn.contiguous_result
def one_hot(tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot vectors along a new last dim (tensor.unsqueeze(-1) == arange(classes))."""
    if tensor.dtype is not DType.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if num_classes == -1:
        if tensor.numel() == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(tensor.max()) + 1
    check = getattr(current_mode(), "check", None)  # capture: each call checks, in the graph
    if tensor.numel() and check is not None:
        check(((tensor >= 0) & (tensor < num_classes)).all(),
              "one_hot: class values must be non-negative and smaller than num_classes")
    elif tensor.numel():
        if int(tensor.min()) < 0:
            raise RuntimeError("Class values must be non-negative.")
        if int(tensor.max()) >= num_classes:
            raise RuntimeError("Class values must be smaller than num_classes.")
    classes = creation.arange(num_classes)
    return (tensor.unsqueeze(-1) == classes).to(DType.int64)


# --- losses -------------------------------------------------------------------------------------

def _reduction(size_average, reduce, reduction: str) -> str:
    """torch's reduction argument, after the legacy size_average / reduce flags."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "none" if not reduce else "mean" if size_average else "sum"
        warnings.warn(
            f"size_average and reduce args will be deprecated, please use "
            f"reduction='{reduction}' instead.",
            stacklevel=3,
        )
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _reduce(loss, reduction: str):
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


def _weighted_reduce(loss, weights, reduction: str):
    """Reduce per-element losses; 'mean' divides by the total weight, like torch."""
    if reduction == "none":
        return loss
    total = loss.sum()
    return total / weights.sum() if reduction == "mean" else total


def nll_loss(input, target, weight=None, size_average=None, ignore_index: int = -100,
             reduce=None, reduction: str = "mean") -> Tensor:
    """-weight[t] * input[n, t] per element, for log-probabilities `input` (N, C, ...)."""
    reduction = _reduction(size_average, reduce, reduction)
    loss, weights, _ = _nll_terms(input, target, weight, ignore_index)
    return _weighted_reduce(loss, weights, reduction)


def _nll_terms(input, target, weight, ignore_index: int):
    """Per-element losses and class weights (both 0 where ignored), and the ignored mask."""
    target = _check_nll_args(input, target, weight)
    class_dim = 0 if input.ndim == 1 else 1
    ignored = target == ignore_index
    safe = fn.where(ignored, 0, target)
    picked = input.gather(class_dim, safe.unsqueeze(class_dim)).squeeze(class_dim)
    if weight is None:
        return fn.where(ignored, 0.0, -picked), (~ignored).to(input.dtype), ignored
    weights = fn.where(ignored, 0.0, weight[safe])
    return fn.where(ignored, 0.0, -(picked * weights)), weights, ignored


def _check_nll_args(input, target, weight):
    """The class-index target, checked against `input` like torch's nll_loss (returned 0-d for
    an unbatched input with a one-element target)."""
    if input.ndim < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {input.ndim})")
    batch = target.shape[0] if target.ndim else 0
    if input.ndim > 1 and input.shape[0] != batch:
        raise ValueError(
            f"Expected input batch_size ({input.shape[0]}) to match target batch_size ({batch})."
        )
    if input.ndim <= 2 and target.ndim > 1:
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if input.ndim == 1 and target.ndim == 1:
        if target.shape[0] != 1:
            raise ValueError(
                f"For 1D input, 1D target must have size 1, but got target size: {batch}"
            )
        target = target.reshape(())
    want = (input.shape[0], *input.shape[2:])
    if input.ndim > 2 and tuple(target.shape) != want:
        raise RuntimeError(f"Expected target size {list(want)}, got {list(target.shape)}")
    if target.dtype is not DType.int64:
        raise RuntimeError(f"expected target dtype to be int64, but got {target.dtype.value}")
    _check_class_weight(input, weight, "")
    return target


def _check_class_weight(input, weight, prefix: str) -> None:
    _check_float(f"{prefix}nll_loss", input)
    classes = input.shape[0 if input.ndim == 1 else 1]
    if weight is not None and tuple(weight.shape) != (classes,):
        raise RuntimeError(
            f"{prefix}weight tensor should be defined either for all {classes} classes or no "
            f"classes but got weight tensor of shape: {list(weight.shape)}"
        )
    if weight is not None and weight.dtype is not input.dtype:
        raise RuntimeError(
            f"expected scalar type {input.dtype.value} but found {weight.dtype.value}"
        )


def cross_entropy(input, target, weight=None, size_average=None, ignore_index: int = -100,
                  reduce=None, reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """log_softmax over the class dim, then nll_loss; class-probability targets when target has
    input's shape. label_smoothing mixes in the uniform distribution over classes."""
    reduction = _reduction(size_average, reduce, reduction)
    if label_smoothing > 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    class_dim = 1 if input.ndim > 1 else 0
    if tuple(input.shape) == tuple(target.shape):
        return _cross_entropy_probs(input, target, weight, ignore_index, reduction,
                                    label_smoothing, class_dim)
    logp = log_softmax(input, class_dim)
    loss, weights, ignored = _nll_terms(logp, target, weight, ignore_index)
    nll = _weighted_reduce(loss, weights, reduction)
    if label_smoothing <= 0.0:
        return nll
    # torch: (1 - s) * nll + s / C * (the loss against the uniform distribution)
    if weight is not None:
        logp = logp * _along_class_dim(weight, logp, class_dim)
    uniform = fn.where(ignored, 0.0, -logp.sum(class_dim))
    classes = input.shape[class_dim]
    smoothed = _weighted_reduce(uniform, weights, reduction) * (label_smoothing / classes)
    return nll * (1 - label_smoothing) + smoothed


def _along_class_dim(weight, input, class_dim: int):
    """A (C,) weight shaped to broadcast along input's class dim."""
    return weight.reshape(weight.shape[0], *(1,) * (input.ndim - class_dim - 1))


def _cross_entropy_probs(input, target, weight, ignore_index, reduction, smoothing, class_dim):
    if not target.dtype.is_floating_point:
        raise RuntimeError(
            "Expected floating point type for target with class probabilities, got "
            f"{target.dtype.value}"
        )
    if ignore_index >= 0:
        raise RuntimeError("ignore_index is not supported for floating point target")
    _check_class_weight(input, weight, "cross_entropy: ")
    classes = input.shape[class_dim]
    if smoothing > 0.0:
        target = target * (1 - smoothing) + smoothing / classes
    terms = log_softmax(input, class_dim) * target
    if weight is not None:
        terms = terms * _along_class_dim(weight, input, class_dim)
    if reduction == "none":
        return -terms.sum(class_dim)
    total = -terms.sum()
    return total / (input.numel() // classes if classes else 0) if reduction == "mean" else total


def _warn_if_broadcast(input, target) -> None:
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(
            f"Using a target size ({target.shape}) that is different to the input size "
            f"({input.shape}). This will likely lead to incorrect results due to broadcasting. "
            "Please ensure they have the same size.",
            stacklevel=3,
        )


def _pointwise_loss(error, input, target, reduction: str, weight):
    """Shared by mse_loss and l1_loss: error(input - target), broadcast like torch."""
    loss = error(input - target)
    if weight is None:
        return _reduce(loss, reduction)
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError("Weights and input must have the same size.")
    return _weighted_reduce(loss * weight, weight, reduction)


def mse_loss(input, target, size_average=None, reduce=None, reduction: str = "mean",
             weight=None) -> Tensor:
    """(input - target) ** 2, reduced; `weight` scales each element."""
    _warn_if_broadcast(input, target)
    reduction = _reduction(size_average, reduce, reduction)
    if not result_type(input, target).is_floating_point:
        _check_float("mse_loss", input, target)
    return _pointwise_loss(lambda d: d * d, input, target, reduction, weight)


def l1_loss(input, target, size_average=None, reduce=None, reduction: str = "mean",
            weight=None) -> Tensor:
    """|input - target|, reduced; `weight` scales each element."""
    _warn_if_broadcast(input, target)
    reduction = _reduction(size_average, reduce, reduction)
    return _pointwise_loss(lambda d: d.abs(), input, target, reduction, weight)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction: str = "mean") -> Tensor:
    """-(t * log(x) + (1 - t) * log(1 - x)), each log clamped to >= -100 like torch."""
    reduction = _reduction(size_average, reduce, reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"Using a target size ({target.shape}) that is different to the input size "
            f"({input.shape}) is deprecated. Please ensure they have the same size."
        )
    _check_float("binary_cross_entropy", input)
    if target.dtype is not input.dtype:
        raise RuntimeError(f"Found dtype {target.dtype.value} but expected {input.dtype.value}")
    log_x, log_1mx = input.log().clamp_min(-100), (-input).log1p().clamp_min(-100)
    loss = (target - 1) * log_1mx - target * log_x
    return _reduce(loss if weight is None else loss * weight, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None,
                                     reduce=None, reduction: str = "mean",
                                     pos_weight=None) -> Tensor:
    """(1 - t) * x - w_pos(t) * logsigmoid(x), stable for any logit x."""
    reduction = _reduction(size_average, reduce, reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"Target size ({target.shape}) must be the same as input size ({input.shape})"
        )
    _check_float("binary_cross_entropy_with_logits", input, target)
    log_sig = _log_sigmoid(input)
    if pos_weight is not None:
        log_sig = log_sig * ((pos_weight - 1) * target + 1)
    loss = (1 - target) * input - log_sig
    return _reduce(loss if weight is None else loss * weight, reduction)


# --- attention ----------------------------------------------------------------------------------

def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False) -> Tensor:
    """softmax(q @ k^T * scale + mask) @ v over the last two dims, batch dims broadcast.

    Bool masks keep True entries; float masks are added. Fully masked rows give zeros."""
    _check_attention_args(query, key, value, attn_mask, is_causal)
    if enable_gqa:
        key, value = _repeat_heads(key, query), _repeat_heads(value, query)
    scale = 1 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = fn.matmul(query, key.transpose(-2, -1)) * scale
    if is_causal:
        attn_mask = fn.tril(creation.ones(scores.shape[-2], scores.shape[-1], dtype=DType.bool))
    if attn_mask is not None:
        scores = _apply_attention_mask(scores, attn_mask)
    weights = _safe_softmax(scores)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p)
    return fn.matmul(weights, value)


def _check_attention_args(query, key, value, attn_mask, is_causal) -> None:
    if query.dtype is not key.dtype or query.dtype is not value.dtype:
        raise RuntimeError(
            "Expected query, key, and value to have the same dtype, but got query.dtype: "
            f"{query.dtype.value} key.dtype: {key.dtype.value} and value.dtype: "
            f"{value.dtype.value} instead."
        )
    _check_float("scaled_dot_product_attention", query)
    if min(query.ndim, key.ndim, value.ndim) < 2:
        raise RuntimeError(
            "Expected query, key, and value to all be at least 2 dimensional, but got "
            f"query.dim: {query.ndim} key.dim: {key.ndim} and value.dim: {value.ndim} instead."
        )
    if attn_mask is not None:
        _check_attention_mask(query, attn_mask, is_causal)


def _check_attention_mask(query, attn_mask, is_causal) -> None:
    if is_causal:
        raise RuntimeError(
            "_scaled_dot_product_attention: Explicit attn_mask should not be set when "
            "is_causal=True"
        )
    if attn_mask.dtype not in (DType.bool, query.dtype):
        raise RuntimeError(
            "Expected attn_mask dtype to be bool or float or to match query dtype, but got "
            f"attn_mask.dtype: {attn_mask.dtype.value} and query.dtype: {query.dtype.value} "
            "instead."
        )


def _repeat_heads(kv, query):
    """enable_gqa: each key/value head repeated for its group of query heads (dim -3)."""
    if min(kv.ndim, query.ndim) < 3 or kv.shape[-3] == query.shape[-3]:
        return kv
    heads, groups = kv.shape[-3], query.shape[-3]
    if groups % heads:
        raise RuntimeError(
            f"Number of heads in key and value must divide the number of heads in query "
            f"(got {heads} key/value heads and {groups} query heads)"
        )
    lead, rest = tuple(kv.shape[:-2]), tuple(kv.shape[-2:])
    repeated = kv.unsqueeze(-3).expand(*lead, groups // heads, *rest)
    return repeated.reshape(*lead[:-1], groups, *rest)


def _apply_attention_mask(scores, mask):
    shape = broadcast_shapes(scores.shape, mask.shape)
    if shape != tuple(scores.shape):
        raise RuntimeError(
            f"output with shape {list(scores.shape)} doesn't match the broadcast shape "
            f"{list(shape)}"
        )
    if mask.dtype is DType.bool:
        return fn.where(mask, scores, -math.inf)
    return scores + mask


def _safe_softmax(scores):
    """softmax over the last dim, with zeros (not NaN) for rows that are all -inf."""
    weights = softmax(scores, -1)
    masked = (scores == -math.inf).all(-1, keepdim=True)
    return fn.where(masked, 0.0, weights)


__all__ = [
    "adaptive_avg_pool2d", "avg_pool2d", "batch_norm", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "conv2d", "cross_entropy", "dropout", "elu", "embedding",
    "gelu", "hardtanh", "l1_loss", "layer_norm", "leaky_relu", "linear", "log_softmax",
    "logsigmoid", "max_pool2d", "mse_loss", "nll_loss", "normalize", "one_hot", "pad", "relu",
    "relu6", "scaled_dot_product_attention", "sigmoid", "silu", "softmax", "softplus", "tanh",
]

# --- the rest of torch.nn.functional lives in sibling modules (they import helpers from here) ---
from tracejit.nn import (  # noqa: E402
    functional_act,
    functional_conv,
    functional_loss,
    functional_norm,
    functional_pool,
    functional_sample,
)
from tracejit.nn.functional_act import *  # noqa: E402, F403
from tracejit.nn.functional_conv import *  # noqa: E402, F403
from tracejit.nn.functional_loss import *  # noqa: E402, F403
from tracejit.nn.functional_norm import *  # noqa: E402, F403
from tracejit.nn.functional_pool import *  # noqa: E402, F403
from tracejit.nn.functional_sample import *  # noqa: E402, F403

__all__ += [*functional_act.__all__, *functional_conv.__all__, *functional_loss.__all__,
            *functional_norm.__all__, *functional_pool.__all__, *functional_sample.__all__]
