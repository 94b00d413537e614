"""torch.nn.functional's remaining losses (KL divergence, smooth L1 / Huber, margin and
embedding losses, ...) and the distances cosine_similarity and pairwise_distance."""

from __future__ import annotations

import warnings

from tracejit import functions as fn
from tracejit.nn.functional import (
    _reduce,
    _reduction,
    _warn_if_broadcast,
    _weighted_reduce,
    logsigmoid,
)


def kl_div(input, target, size_average=None, reduce=None, reduction: str = "mean",
           log_target: bool = False):
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
                   beta: float = 1.0):
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


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0, weight=None):
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
    return _weighted_reduce(loss * weight, weight.expand_as(loss), reduction)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction: str = "mean"):
    """log(1 + exp(-target * input))."""
    reduction = _reduction(size_average, reduce, reduction)
    return _reduce(-logsigmoid(target * input), reduction)


def hinge_embedding_loss(input, target, margin: float = 1.0, size_average=None, reduce=None,
                         reduction: str = "mean"):
    """x where target is 1, max(0, margin - x) where target is -1."""
    reduction = _reduction(size_average, reduce, reduction)
    margin_part = fn.where(target == -1, (margin - input).clamp_min(0), 0.0)
    loss = fn.where(target == 1, input, 0.0) + margin_part
    return _reduce(loss, reduction)


def margin_ranking_loss(input1, input2, target, margin: float = 0.0, size_average=None,
                        reduce=None, reduction: str = "mean"):
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
                          reduce=None, reduction: str = "mean"):
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
                        reduction: str = "mean"):
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
                     reduction: str = "mean"):
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


def cosine_similarity(x1, x2, dim: int = 1, eps: float = 1e-8):
    """sum(x1 / max(|x1|, eps) * x2 / max(|x2|, eps)) along `dim`, broadcasting x1 and x2."""
    x1, x2 = fn.broadcast_tensors(x1, x2)
    n1 = fn.norm(x1, 2, dim, keepdim=True).clamp_min(eps)
    n2 = fn.norm(x2, 2, dim, keepdim=True).clamp_min(eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def pairwise_distance(x1, x2, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
    """The p-norm of x1 - x2 + eps over the last dim."""
    ndim = max(x1.ndim, x2.ndim)
    return fn.norm(x1 - x2 + eps, p, ndim - 1 if ndim else None, keepdim=keepdim)


__all__ = [
    "cosine_embedding_loss", "cosine_similarity", "hinge_embedding_loss", "huber_loss",
    "kl_div", "margin_ranking_loss", "pairwise_distance", "poisson_nll_loss",
    "smooth_l1_loss", "soft_margin_loss", "triplet_margin_loss",
]
