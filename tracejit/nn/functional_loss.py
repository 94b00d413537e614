"""torch.nn.functional's remaining losses (KL divergence, smooth L1 / Huber, margin and
embedding losses, ...) and the distances cosine_similarity and pairwise_distance."""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

from tracejit import creation
from tracejit import functions as fn
from tracejit.dispatch import current_mode
from tracejit.ir import DType
from tracejit.nn.functional import (
    _reduce,
    _reduction,
    _warn_if_broadcast,
    cross_entropy,
    linear,
    logsigmoid,
)

if TYPE_CHECKING:
    from tracejit.tensor import Tensor


def kl_div(input, target, size_average=None, reduce=None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """target * (log(target) - input) pointwise (input holds log-probabilities); 'batchmean'
    divides the sum by the batch size."""
    if reduction == "mean":
        warnings.warn(
            "reduction: 'mean' divides the total loss by both the batch size and the support "
            "size.'batchmean' divides only by the batch size, and aligns with the KL div math "
            "definition.'mean' will be changed to behave the same as 'batchmean' in the next "
            "major release.",
            stacklevel=2,
        )
    if reduction == "batchmean":
        reduced = "sum"
        if size_average is not None or reduce is not None:
            reduced = _reduction(size_average, reduce, "sum")
    else:
        reduced = _reduction(size_average, reduce, reduction)
    if log_target:
        loss = target.exp() * (target - input)
    else:
        log_t = fn.where(target == 0, 0.0, target.log())
        loss = fn.where(target.isnan(), target, target * log_t) - target * input
    out = _reduce(loss, reduced)
    if reduction == "batchmean" and input.ndim != 0 and reduced == "sum":
        out = out / input.shape[0]
    return out


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """0.5 * d**2 / beta where |d| < beta, else |d| - 0.5 * beta (d = input - target)."""
    _warn_if_broadcast(input, target)
    reduction = _reduction(size_average, reduce, reduction)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    diff = (input - target).abs()
    if beta == 0:
        return _reduce(diff, reduction)
    loss = fn.where(diff < beta, diff * diff * (0.5 / beta), diff - 0.5 * beta)
    return _reduce(loss, reduction)


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0, weight=None) -> Tensor:
    """0.5 * d**2 where |d| < delta, else delta * (|d| - 0.5 * delta)."""
    _warn_if_broadcast(input, target)
    reduction = _reduction(None, None, reduction)
    if delta <= 0:
        raise RuntimeError(f"huber_loss does not support non-positive values for delta, got "
                           f"delta={delta}.")
    diff = (input - target).abs()
    loss = fn.where(diff < delta, diff * diff * 0.5, (diff - 0.5 * delta) * delta)
    if weight is None:
        return _reduce(loss, reduction)
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError("Weights and input must have the same size.")
    return _reduce(loss * weight, reduction)  # torch: a plain mean, not over the weights


def soft_margin_loss(input, target, size_average=None, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """log(1 + exp(-target * input))."""
    reduction = _reduction(size_average, reduce, reduction)
    return _reduce(-logsigmoid(target * input), reduction)


def hinge_embedding_loss(input, target, margin: float = 1.0, size_average=None, reduce=None,
                         reduction: str = "mean") -> Tensor:
    """x where target is 1, max(0, margin - x) where target is -1."""
    reduction = _reduction(size_average, reduce, reduction)
    margin_part = fn.where(target == -1, (margin - input).clamp_min(0), 0.0)
    loss = fn.where(target == 1, input, 0.0) + margin_part
    return _reduce(loss, reduction)


def margin_ranking_loss(input1, input2, target, margin: float = 0.0, size_average=None,
                        reduce=None, reduction: str = "mean") -> Tensor:
    """max(0, -target * (input1 - input2) + margin)."""
    reduction = _reduction(size_average, reduce, reduction)
    if input1.ndim != input2.ndim or input1.ndim != target.ndim:
        raise RuntimeError(
            f"margin_ranking_loss : All input tensors should have same dimension but got sizes: "
            f"input1: {input1.shape}, input2: {input2.shape}, target: {target.shape} "
        )
    loss = (-target * (input1 - input2) + margin).clamp_min(0)
    return _reduce(loss, reduction)


def cosine_embedding_loss(input1, input2, target, margin: float = 0.0, size_average=None,
                          reduce=None, reduction: str = "mean") -> Tensor:
    """1 - cos(x1, x2) where target is 1, max(0, cos(x1, x2) - margin) where target is -1."""
    reduction = _reduction(size_average, reduce, reduction)
    if input1.shape != input2.shape:
        raise RuntimeError(
            f"cosine_embedding_loss: input1 and input2 must have the same shape, got "
            f"{list(input1.shape)} and {list(input2.shape)}"
        )
    dim = input1.ndim - 1
    eps = 1e-12
    prod = (input1 * input2).sum(dim)
    mag1 = (input1 * input1).sum(dim) + eps
    mag2 = (input2 * input2).sum(dim) + eps
    cos = prod / (mag1 * mag2).sqrt()
    pos = fn.where(target == 1, 1 - cos, 0.0)
    neg = fn.where(target == -1, (cos - margin).clamp_min(0), 0.0)
    return _reduce(pos + neg, reduction)


def triplet_margin_loss(anchor, positive, negative, margin: float = 1.0, p: float = 2,
                        eps: float = 1e-6, swap: bool = False, size_average=None, reduce=None,
                        reduction: str = "mean") -> Tensor:
    """max(0, margin + d(anchor, positive) - d(anchor, negative)) with the p-norm distance."""
    reduction = _reduction(size_average, reduce, reduction)
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise RuntimeError(
            f"The anchor, positive, and negative tensors are expected to have the same number "
            f"of dimensions, but got: anchor {anchor.ndim}D, positive {positive.ndim}D, and "
            f"negative {negative.ndim}D inputs"
        )
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = fn.minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    return _reduce((d_pos - d_neg + margin).clamp_min(0), reduction)


def poisson_nll_loss(input, target, log_input: bool = True, full: bool = False,
                     size_average=None, eps: float = 1e-8, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """exp(x) - t * x for log-rate inputs, else x - t * log(x + eps); `full` adds Stirling's
    term."""
    reduction = _reduction(size_average, reduce, reduction)
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + eps).log()
    if full:
        stirling = target * target.log() - target + (target * 6.283185307179586).log() * 0.5
        loss = loss + fn.where(target > 1, stirling, 0.0)
    return _reduce(loss, reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,
                                reduction: str = "mean") -> Tensor:
    """Per sample, the class mean of -(t * logsigmoid(x) + (1 - t) * logsigmoid(-x))."""
    reduction = _reduction(size_average, reduce, reduction)
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    class_dim = input.ndim - 1
    loss = loss.sum(class_dim) / input.shape[class_dim]
    return _reduce(loss, reduction)


def multi_margin_loss(input, target, p: int = 1, margin: float = 1.0, weight=None,
                      size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """Per sample, sum over i != y of max(0, margin - x[y] + x[i]) ** p, over the classes."""
    reduction = _reduction(size_average, reduce, reduction)
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    if input.ndim not in (1, 2) or target.ndim > 1:
        raise RuntimeError(
            f"multi_margin_loss: expected 1-d or 2-d input and a 0-d or 1-d target, got input "
            f"{list(input.shape)} and target {list(target.shape)}"
        )
    x = input if input.ndim == 2 else input.unsqueeze(0)
    y = target.reshape(-1, 1)
    classes = x.shape[1]
    picked = x.gather(1, y)
    terms = (x - picked + margin).clamp_min(0)
    if p == 2:
        terms = terms * terms
    if weight is not None:
        terms = terms * weight[y]
    is_target = y == creation.arange(classes)
    loss = fn.where(is_target, 0.0, terms).sum(1) / classes
    return _reduce(loss if input.ndim == 2 else loss.squeeze(0), reduction)


def multilabel_margin_loss(input, target, size_average=None, reduce=None,
                           reduction: str = "mean") -> Tensor:
    """Per sample, sum over its targets j (up to the first -1) and non-targets i of
    max(0, 1 - (x[j] - x[i])), over the classes."""
    reduction = _reduction(size_average, reduce, reduction)
    if tuple(input.shape) != tuple(target.shape) or input.ndim not in (1, 2):
        raise RuntimeError(
            f"multilabel_margin_loss: expected input and target of the same 1-d or 2-d shape, "
            f"got {list(input.shape)} and {list(target.shape)}"
        )
    x = input if input.ndim == 2 else input.unsqueeze(0)
    t = target if target.ndim == 2 else target.unsqueeze(0)
    classes = x.shape[1]
    valid = fn.cumsum((t < 0).to(DType.int64), 1) == 0
    safe = fn.where(valid, t, 0)
    hits = (safe.unsqueeze(-1) == creation.arange(classes)) & valid.unsqueeze(-1)
    is_target = hits.any(1)
    picked = x.gather(1, safe)
    terms = (x.unsqueeze(1) - picked.unsqueeze(-1) + 1).clamp_min(0)
    keep = valid.unsqueeze(-1) & ~is_target.unsqueeze(1)
    loss = fn.where(keep, terms, 0.0).sum((1, 2)) / classes
    return _reduce(loss if input.ndim == 2 else loss.squeeze(0), reduction)


def gaussian_nll_loss(input, target, var, full: bool = False, eps: float = 1e-6,
                      reduction: str = "mean") -> Tensor:
    """0.5 * (log(var) + (input - target) ** 2 / var), var clamped to >= eps."""
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)
        elif not (tuple(input.shape[:-1]) == tuple(var.shape[:-1]) and var.shape[-1] == 1):
            raise ValueError("var is of incorrect size")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    check = getattr(current_mode(), "check", None)
    if check is not None:
        check((var >= 0).all(), "var has negative entry/entries")
    elif bool((var < 0).any()):
        raise ValueError("var has negative entry/entries")
    var = var.clamp_min(eps)
    diff = input - target
    loss = (var.log() + diff * diff / var) * 0.5
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None,
                                      margin: float = 1.0, swap: bool = False,
                                      reduction: str = "mean") -> Tensor:
    """triplet_margin_loss with any distance function (pairwise_distance by default)."""
    reduction = _reduction(None, None, reduction)
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    distance = pairwise_distance if distance_function is None else distance_function
    d_pos, d_neg = distance(anchor, positive), distance(anchor, negative)
    if swap:
        d_neg = fn.minimum(d_neg, distance(positive, negative))
    return _reduce((d_pos - d_neg + margin).clamp_min(0), reduction)


def pdist(input, p: float = 2.0) -> Tensor:
    """The p-norm distances of all row pairs i < j of a 2-d input, in row-major order."""
    if input.ndim != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input.ndim}D")
    n = input.shape[0]
    rows = [i for i in range(n) for _ in range(i + 1, n)]
    cols = [j for i in range(n) for j in range(i + 1, n)]
    if not rows:
        return input.new_zeros((0,))
    first = input[creation.tensor(rows)]
    second = input[creation.tensor(cols)]
    return fn.norm(first - second, p, 1)


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank: int = 0,
             reduction: str = "mean", zero_infinity: bool = False) -> Tensor:
    """Connectionist temporal classification: -log of the total probability of all
    alignments of each target to its input, by the forward (alpha) recursion in log space,
    one step per time step (so capture sees a fixed chain of ops)."""
    reduction = _reduction(None, None, reduction)
    unbatched = log_probs.ndim == 2
    if unbatched:
        log_probs, targets = log_probs.unsqueeze(1), targets.unsqueeze(0)
    if log_probs.ndim != 3:
        raise RuntimeError(f"ctc_loss: expected log_probs of shape (T, N, C) or (T, C), got "
                           f"{list(log_probs.shape)}")
    steps, batch, _ = log_probs.shape
    input_lengths = _as_lengths(input_lengths, batch)
    target_lengths = _as_lengths(target_lengths, batch)
    if targets.ndim == 1:
        targets = _padded_targets(targets, target_lengths)
    ext = _extended_labels(targets, blank)
    width = ext.shape[1]
    emit = log_probs.gather(2, ext.unsqueeze(0).expand(steps, batch, width))
    skip = fn.cat([creation.zeros(batch, 2, dtype=DType.bool),
                   (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])], 1)
    neg_inf = float("-inf")
    start = creation.arange(width) < 2
    alpha = fn.where(start, emit[0], neg_inf)
    for t in range(1, steps):
        one = _shift(alpha, 1, neg_inf)
        two = fn.where(skip, _shift(alpha, 2, neg_inf), neg_inf)
        new = _logsumexp3(alpha, one, two) + emit[t]
        alpha = fn.where((input_lengths > t).unsqueeze(1), new, alpha)
    last = (target_lengths * 2).unsqueeze(1)
    end = alpha.gather(1, last).squeeze(1)
    before = fn.where(target_lengths > 0, alpha.gather(1, (last - 1).clamp_min(0)).squeeze(1),
                      neg_inf)
    nll = -_logsumexp3(end, before, creation.full_like(end, neg_inf))
    if zero_infinity:
        nll = fn.where(nll == float("inf"), 0.0, nll)
    if reduction == "mean":
        return (nll / target_lengths.clamp_min(1).to(nll.dtype)).mean()
    if reduction == "sum":
        return nll.sum()
    return nll.squeeze(0) if unbatched else nll


def _as_lengths(lengths, batch: int):
    if not hasattr(lengths, "shape"):
        lengths = creation.tensor(list(lengths) if not isinstance(lengths, int) else [lengths])
    lengths = lengths.reshape(-1).to(DType.int64)
    if lengths.shape[0] != batch:
        raise RuntimeError(f"ctc_loss: expected {batch} lengths, got {lengths.shape[0]}")
    return lengths


def _padded_targets(targets, target_lengths):
    """Concatenated 1-d targets as (N, max length) rows, zero padded."""
    sizes = [int(n) for n in target_lengths.tolist()]
    width = max(sizes, default=0)
    rows, start = [], 0
    for n in sizes:
        row = targets[start:start + n]
        rows.append(fn.cat([row, creation.zeros(width - n, dtype=targets.dtype)]))
        start += n
    return fn.stack(rows) if rows else targets.reshape(0, 0)


def _extended_labels(targets, blank: int):
    """(N, S) targets -> (N, 2S + 1) with a blank before, between and after the labels."""
    batch, length = targets.shape
    blanks = creation.full((batch, length), blank, dtype=DType.int64)
    pairs = fn.stack([blanks, targets.to(DType.int64)], 2).reshape(batch, 2 * length)
    return fn.cat([pairs, creation.full((batch, 1), blank, dtype=DType.int64)], 1)


def _shift(x, k: int, fill: float):
    """x moved k places right along dim 1, `fill` coming in."""
    pad = creation.full((x.shape[0], k), fill, dtype=x.dtype)
    return fn.cat([pad, x[:, :x.shape[1] - k]], 1)


def _logsumexp3(a, b, c):
    """log(exp(a) + exp(b) + exp(c)), -inf when all three are."""
    top = fn.maximum(fn.maximum(a, b), c)
    safe = fn.where(top == float("-inf"), 0.0, top)
    return safe + ((a - safe).exp() + (b - safe).exp() + (c - safe).exp()).log()


def linear_cross_entropy(input, linear_weight, target, *, linear_bias=None, weight=None,
                         reduction: str = "mean", ignore_index=None,
                         label_smoothing: float = 0.0, options=None) -> Tensor:
    """cross_entropy(linear(input, linear_weight, linear_bias), target): torch 2.13's fused
    head loss, computed by its reference path (`options`, which picks torch's chunked kernel,
    changes nothing here)."""
    if input.ndim not in (1, 2):
        raise RuntimeError(f"expected input with dimensionality 1 or 2, got {input.ndim}")
    if linear_weight.ndim < 2:
        raise RuntimeError(f"expected linear_weight with dimensionality at least 2, got "
                           f"{linear_weight.ndim}")
    in_features = input.shape[-1]
    if in_features != linear_weight.shape[-1]:
        raise RuntimeError(
            "expected equal input and linear_weight last dimensions (in_features), got "
            f"{input.shape[-1]} and {linear_weight.shape[-1]}, respectively"
        )
    classes, extra = linear_weight.shape[0], tuple(linear_weight.shape[1:-1])
    if linear_bias is not None and tuple(linear_bias.shape) != (classes, *extra):
        raise RuntimeError(f"expected linear_bias shape {(classes, *extra)}, got "
                           f"{tuple(linear_bias.shape)}")
    logits_shape = (*input.shape[:-1], classes, *extra)
    if tuple(target.shape) == logits_shape and ignore_index is not None:
        raise RuntimeError("ignore_index cannot be specified when target contains "
                           "probabilities")
    total = linear_weight.numel() // in_features
    w = linear_weight.reshape(total, in_features)
    b = None if linear_bias is None else linear_bias.reshape(total)
    logits = linear(input, w, b).reshape(logits_shape)
    return cross_entropy(logits, target, weight=weight, reduction=reduction,
                         ignore_index=-100 if ignore_index is None else ignore_index,
                         label_smoothing=label_smoothing)


def cosine_similarity(x1, x2, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1 / max(|x1|, eps) * x2 / max(|x2|, eps)) along `dim`, broadcasting x1 and x2."""
    x1, x2 = fn.broadcast_tensors(x1, x2)
    n1 = fn.norm(x1, 2, dim, keepdim=True).clamp_min(eps)
    n2 = fn.norm(x2, 2, dim, keepdim=True).clamp_min(eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def pairwise_distance(x1, x2, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """The p-norm of x1 - x2 + eps over the last dim."""
    ndim = max(x1.ndim, x2.ndim)
    return fn.norm(x1 - x2 + eps, p, ndim - 1 if ndim else None, keepdim=keepdim)


__all__ = [
    "cosine_embedding_loss", "cosine_similarity", "ctc_loss", "gaussian_nll_loss",
    "hinge_embedding_loss", "huber_loss", "kl_div", "linear_cross_entropy",
    "margin_ranking_loss", "multi_margin_loss", "multilabel_margin_loss",
    "multilabel_soft_margin_loss", "pairwise_distance", "pdist", "poisson_nll_loss",
    "smooth_l1_loss", "soft_margin_loss", "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
]
