"""Gradient cases for public functions built from several ops (composites): losses,
activations, norms, nn.functional layers, reductions like var/std/logsumexp, sorting and
linalg helpers. Their gradients come from the primitives' rules (grad_cases.py), so these check
that each front-end path stays on the tape (no numpy detour that drops the gradient) and
matches torch. Same `GradCase` conventions as grad_cases.py.
"""

from __future__ import annotations

import numpy as np
from grad_cases import FLOOR_DIV_XFAIL, F, GradCase, R, distinct, ints, nonzero, pos

PINV_XFAIL = ("tracejit.linalg.pinv goes through svd's U and Vh, whose rule raises 'the "
              "derivative of svd's U and Vh is not implemented'; torch differentiates pinv")
COPYSIGN_XFAIL = ("torch.copysign gives `other` a zero gradient (zeros_like); tracejit's "
                  "copysign leaves other.grad None")
MISSED_VERSION_XFAIL = (
    "torch raises at backward ('... which is output 0 of SigmoidBackward0, is at version 2; "
    "expected version 1'): sigmoid_ saved its result, the tensor itself, and tanh_ overwrote "
    "it. tracejit saves the result's pre-write buffer, returns the right gradient and raises "
    "nothing (same for exp_().exp_(), relu_().add_(1), ...)")

def C(name, fn, *inputs, **kw) -> GradCase:
    return GradCase(name, fn, tuple(inputs), **kw)


TARGET = ints([1, 0, 4])
PROBS = np.array([[0.2, 0.7, 0.1, 0.9], [0.5, 0.3, 0.6, 0.05]])


def _inplace(method, *args, **kwargs):
    """(x * 1).method(*args): an in-place op on a non-leaf that requires grad."""
    return lambda L, x: getattr(x * 1, method)(*args, **kwargs)


def _inplace_by(method, **kwargs):
    """(x * 1).method(v, **kwargs) with v requiring grad too."""
    return lambda L, x, v: getattr(x * 1, method)(v, **kwargs)


def _imul(L, x, v):
    y = x * 1
    y *= v
    return y


def _iadd_region(L, x, v):
    y = x * 1
    y[1:, ::2] += v
    return y


def _bn_train(L, x, w, b, use_stats=False):
    mean, var = L.zeros(3, dtype=x.dtype), L.ones(3, dtype=x.dtype)
    out = F(L).batch_norm(x, mean, var, w, b, training=True, momentum=0.2)
    return out + mean.sum() + var.sum() if use_stats else out


def _bn_train_stats(L, x, w, b):
    """The running stats, updated in training, carry no gradient back to the batch."""
    return _bn_train(L, x, w, b, use_stats=True)


COMPOSITE_CASES: list[GradCase] = [
    # reductions and scans
    C("var", lambda L, x: x.var(1), R(3, 5)),
    C("std-all", lambda L, x: x.std(), R(3, 4, 2)),
    C("std_mean", lambda L, x: L.cat(L.std_mean(x, 0, keepdim=True), 0), R(3, 4)),
    C("norm", lambda L, x: x.norm(dim=1), R(3, 4)),
    C("vector_norm-3", lambda L, x: L.linalg.vector_norm(x, 3, dim=1), nonzero(3, 4)),
    C("matrix_norm-fro", lambda L, x: L.linalg.matrix_norm(x), R(2, 3, 4)),
    C("logsumexp", lambda L, x: x.logsumexp(1), R(3, 4, 2)),
    C("sort-values", lambda L, x: x.sort(1).values, distinct(3, 5)),
    C("topk", lambda L, x: x.topk(2, dim=0).values, distinct(4, 3)),
    C("cummax-values", lambda L, x: x.cummax(0).values, distinct(4, 3)),
    C("cummin-values", lambda L, x: x.cummin(1).values, distinct(3, 4)),
    C("median-dim", lambda L, x: x.median(1).values, distinct(3, 5)),
    C("diff", lambda L, x: x.diff(dim=1), R(3, 5)),
    C("sum-dtype", lambda L, x: x.sum(0, dtype=L.float64), R(3, 4)),
    # elementwise composites
    C("square", lambda L, x: x.square(), R(3, 4)),
    C("log2", lambda L, x: x.log2(), pos(3, 4)),
    C("exp2", lambda L, x: x.exp2(), R(3, 4)),
    C("sinh-tan", lambda L, x: x.sinh() + x.tan(), R(3, 4)),
    C("xlogy", lambda L, x, y: L.xlogy(x, y), pos(3, 4), pos(3, 4)),
    C("hypot", lambda L, x, y: L.hypot(x, y), nonzero(3, 4), nonzero(4)),
    C("logaddexp", lambda L, x, y: L.logaddexp(x, y), R(3, 4), R(3, 1)),
    C("lerp", lambda L, a, b, w: L.lerp(a, b, w), R(3, 4), R(3, 4), R(4)),
    C("addcmul", lambda L, a, b, c: L.addcmul(a, b, c, value=0.5), R(3, 4), R(3, 1), R(4)),
    C("addcdiv", lambda L, a, b, c: L.addcdiv(a, b, c, value=2), R(3, 4), R(3, 4), nonzero(4)),
    C("clamp-tensor-max", lambda L, x, hi: x.clamp(max=hi), distinct(3, 4), np.asarray(0.1)),
    C("frac", lambda L, x: x.frac(), R(3, 4, lo=0.1, hi=0.9) + 1),
    C("copysign", lambda L, x, y: L.copysign(x, y), nonzero(3, 4), nonzero(3, 4),
      xfail=COPYSIGN_XFAIL),
    C("copysign-constant-sign", lambda L, x, y: L.copysign(x, y), nonzero(3, 4),
      nonzero(4), constant=(1,)),
    C("nan_to_num", lambda L, x: x.nan_to_num(), R(3, 4)),
    C("deg2rad", lambda L, x: x.deg2rad(), R(3, 4)),
    # activations
    C("softplus", lambda L, x: F(L).softplus(x, beta=2), R(3, 4)),
    C("leaky_relu", lambda L, x: F(L).leaky_relu(x, 0.1), nonzero(3, 4)),
    C("elu", lambda L, x: F(L).elu(x), nonzero(3, 4)),
    C("hardtanh", lambda L, x: F(L).hardtanh(x), nonzero(3, 4) * 0.8),
    C("relu6", lambda L, x: F(L).relu6(x * 4), nonzero(3, 4)),
    C("mish", lambda L, x: F(L).mish(x), R(3, 4, lo=-3, hi=3)),
    C("hardswish", lambda L, x: F(L).hardswish(x), R(3, 4, lo=-2.5, hi=2.5)),
    C("logsigmoid", lambda L, x: F(L).logsigmoid(x), R(3, 4, lo=-3, hi=3)),
    C("glu", lambda L, x: F(L).glu(x, -1), R(3, 4)),
    C("prelu", lambda L, x, w: F(L).prelu(x, w), nonzero(2, 3, 4), pos(3)),
    C("softmin", lambda L, x: F(L).softmin(x, 1), R(3, 4)),
    C("normalize", lambda L, x: F(L).normalize(x, dim=1), R(3, 4)),
    C("cosine_similarity", lambda L, x, y: F(L).cosine_similarity(x, y, dim=1), R(3, 4),
      R(3, 4)),
    # losses
    C("cross_entropy", lambda L, x: F(L).cross_entropy(x, L.tensor(TARGET)), R(3, 5)),
    C("cross_entropy-ignore-smoothing", lambda L, x: F(L).cross_entropy(
        x, L.tensor([1, -100, 4]), label_smoothing=0.1), R(3, 5)),
    C("cross_entropy-weight-sum", lambda L, x, w: F(L).cross_entropy(
        x, L.tensor(TARGET), weight=w, reduction="sum"), R(3, 5), pos(5), constant=(1,)),
    C("cross_entropy-probs", lambda L, x, p: F(L).cross_entropy(x, p.softmax(1)), R(3, 5),
      R(3, 5)),
    C("nll_loss", lambda L, x: F(L).nll_loss(x.log_softmax(1), L.tensor(TARGET),
                                             reduction="none"), R(3, 5)),
    C("mse_loss", lambda L, x, y: F(L).mse_loss(x, y), R(3, 5), R(3, 5)),
    C("l1_loss", lambda L, x, y: F(L).l1_loss(x, y), distinct(3, 4), R(3, 4) * 0.1),
    C("smooth_l1_loss", lambda L, x, y: F(L).smooth_l1_loss(x, y, beta=0.5), R(3, 4),
      R(3, 4)),
    C("huber_loss", lambda L, x, y: F(L).huber_loss(x, y, reduction="sum"), R(3, 4), R(3, 4)),
    C("binary_cross_entropy", lambda L, p, y: F(L).binary_cross_entropy(p, y), PROBS,
      PROBS[::-1].copy()),
    C("bce_with_logits", lambda L, x, y, w: F(L).binary_cross_entropy_with_logits(
        x, y, pos_weight=w), R(2, 4), PROBS, pos(4), constant=(2,)),
    C("kl_div", lambda L, x, y: F(L).kl_div(x.log_softmax(1), y.softmax(1),
                                            reduction="batchmean"), R(3, 4), R(3, 4)),
    # layers
    C("embedding-padding_idx", lambda L, w: F(L).embedding(L.tensor([[1, 0], [2, 1]]), w,
                                                           padding_idx=0), R(4, 3),
      smooth=False),  # the padding row gets no gradient by definition, not by calculus
    C("batch_norm-train", _bn_train, R(4, 3, 2, 2), pos(3), R(3)),
    C("batch_norm-train-no-running", lambda L, x: F(L).batch_norm(x, None, None, training=True),
      R(5, 2, 3)),
    # the running statistics are a stop-gradient: no finite differences
    C("batch_norm-train-running-stats", _bn_train_stats, R(4, 3, 2, 2), pos(3), R(3),
      smooth=False),
    # at the bounds: clamp passes the gradient (inclusive), hardtanh/relu6/hardsigmoid do not
    # zero spread: torch's std/norm backwards give 0 (not NaN) where the result is 0
    C("std-one-element", lambda L, x: L.std(x, dim=0, keepdim=True, correction=0),
      np.array([[0.716]]), smooth=False),
    C("normalize-zero-row", lambda L, x: F(L).normalize(x, dim=1),
      np.array([[0.0, 0.0], [1.0, 2.0]]), smooth=False),
    C("norm-zero-row", lambda L, x: x.norm(dim=1) + L.linalg.vector_norm(x, dim=1),
      np.array([[0.0, 0.0], [3.0, 4.0]]), smooth=False),
    # tensor bounds that require grad: torch's clamp_backward_min_max, ties included
    C("clamp-tensor-bounds", lambda L, a, lo, hi: L.clamp(a, lo, hi),
      np.array([-2.0, -1.0, 0.0, 1.0, 2.0, 0.5, float("nan")]),
      np.array([-1.0, -1.0, -1.0, 1.5, 0.0, 0.5, 0.0]),
      np.array([1.0, 0.0, -2.0, 1.0, 1.0, 0.5, 1.0]), smooth=False),
    C("clamp-min-tensor", lambda L, a, b: a.clamp(min=b), np.array([-1.0, 0.1, 2.0]),
      np.asarray(0.1), smooth=False),
    C("clamp-at-bounds", lambda L, a: a.clamp(-0.5, 0.5),
      np.array([-0.7, -0.5, 0.0, 0.5, 0.7]), smooth=False),
    C("clamp-min-at-bound", lambda L, a: a.clamp(min=0.0), np.array([-1.0, 0.0, 2.0]),
      smooth=False),
    C("hardtanh-at-bounds", lambda L, a: F(L).hardtanh(a, -0.5, 0.5),
      np.array([-0.7, -0.5, 0.0, 0.5, 0.7]), smooth=False),
    C("relu6-at-bounds", lambda L, a: F(L).relu6(a), np.array([-1.0, 0.0, 3.0, 6.0, 7.0]),
      smooth=False),
    # (torch's float64 hardsigmoid gradient multiplies by a float32 1/6: hence the tolerance)
    C("hardsigmoid-at-bounds", lambda L, a: F(L).hardsigmoid(a),
      np.array([-4.0, -3.0, 0.0, 3.0, 4.0]), smooth=False, tol=1000),
    C("hardswish-at-bounds", lambda L, a: F(L).hardswish(a),
      np.array([-4.0, -3.0, 0.0, 3.0, 4.0]), smooth=False),
    C("batch_norm-eval", lambda L, x, m, v, w, b: F(L).batch_norm(x, m, v, w, b),
      R(4, 3, 2), R(3), pos(3), pos(3), R(3), constant=(1, 2)),
    C("group_norm", lambda L, x, w, b: F(L).group_norm(x, 2, w, b), R(2, 4, 3), pos(4), R(4)),
    C("instance_norm", lambda L, x: F(L).instance_norm(x), R(2, 3, 5)),
    C("dropout-eval", lambda L, x: F(L).dropout(x, 0.5, training=False), R(3, 4)),
    C("conv1d", lambda L, x, w, b: F(L).conv1d(x, w, b, padding=1, stride=2), R(2, 3, 7),
      R(4, 3, 3), R(4)),
    C("conv_transpose2d", lambda L, x, w, b: F(L).conv_transpose2d(x, w, b, stride=2,
                                                                   padding=1),
      R(1, 3, 3, 4), R(3, 2, 3, 3), R(2)),
    C("interpolate-bilinear", lambda L, x: F(L).interpolate(x, scale_factor=2, mode="bilinear",
                                                           align_corners=False), R(1, 2, 3, 4)),
    C("interpolate-nearest", lambda L, x: F(L).interpolate(x, size=(5, 7)), R(1, 2, 3, 4)),
    C("unfold", lambda L, x: F(L).unfold(x, 2, stride=(1, 2)), R(1, 2, 4, 5)),
    C("adaptive_avg_pool2d", lambda L, x: F(L).adaptive_avg_pool2d(x, (2, 3)), R(1, 2, 5, 7)),
    C("adaptive_max_pool2d", lambda L, x: F(L).adaptive_max_pool2d(x, 2), distinct(1, 2, 4, 5)),
    C("pixel_shuffle", lambda L, x: F(L).pixel_shuffle(x, 2), R(1, 8, 2, 3)),
    C("scaled_dot_product_attention-causal", lambda L, q, k, v: F(
        L).scaled_dot_product_attention(q, k, v, is_causal=True), R(2, 3, 4, 5), R(2, 3, 4, 5),
      R(2, 3, 4, 5)),
    C("scaled_dot_product_attention-mask", lambda L, q, k, v, m: F(
        L).scaled_dot_product_attention(q, k, v, attn_mask=m), R(1, 3, 4), R(1, 5, 4),
      R(1, 5, 2), R(3, 5)),
    # movement and indexing
    C("roll", lambda L, x: x.roll((1, -2), (0, 1)), R(3, 5)),
    C("repeat", lambda L, x: x.repeat(2, 1, 3), R(3, 2)),
    C("unbind", lambda L, x: x.unbind(1)[2], R(3, 4)),
    C("movedim", lambda L, x: x.movedim(0, -1), R(2, 3, 4)),
    C("diagonal-trace", lambda L, x: x.diagonal(1) + x.trace(), R(4, 4)),
    C("index_add", lambda L, x, s: x.index_add(0, L.tensor([0, 2, 0]), s), R(3, 4), R(3, 4)),
    C("masked_select", lambda L, x: x.masked_select(x > 0), nonzero(3, 4)),
    C("tensor_split-unbind", lambda L, x: L.stack(x.tensor_split(3, 1)[1:], 0), R(2, 6)),
    C("where-scalar-first", lambda L, x: L.where(x > 0, 1.0, x), nonzero(3, 4)),
    # matmul-like
    C("einsum", lambda L, a, b: L.einsum("bij,kj->bik", a, b), R(2, 3, 4), R(5, 4)),
    C("tensordot", lambda L, a, b: L.tensordot(a, b, dims=([1], [0])), R(3, 4), R(4, 2)),
    C("outer", lambda L, a, b: L.outer(a, b), R(3), R(4)),
    C("addmm", lambda L, c, a, b: L.addmm(c, a, b, beta=0.5, alpha=2), R(3), R(2, 4),
      R(4, 3)),
    C("baddbmm", lambda L, c, a, b: L.baddbmm(c, a, b), R(2, 3, 2), R(2, 3, 4), R(2, 4, 2)),
    C("kron", lambda L, a, b: L.kron(a, b), R(2, 3), R(2, 2)),
    C("cdist", lambda L, a, b: L.cdist(a, b), R(3, 4), R(5, 4)),
    C("cross", lambda L, a, b: L.linalg.cross(a, b), R(2, 3), R(2, 3)),
    C("multi_dot", lambda L, a, b, c: L.linalg.multi_dot([a, b, c]), R(2, 3), R(3, 4),
      R(4, 2)),
    C("matrix_power", lambda L, a: L.linalg.matrix_power(a, 3), R(3, 3)),
    C("solve_triangular", lambda L, a, b: L.linalg.solve_triangular(
        a.triu() + 3 * L.eye(3, dtype=a.dtype), b, upper=True), R(3, 3), R(3, 2), tol=10),
    C("cholesky-solve", lambda L, a, b: L.cholesky_solve(
        b, L.linalg.cholesky(a @ a.mT + L.eye(3, dtype=a.dtype))), R(3, 3), R(3, 2), tol=10),
    C("pinv", lambda L, a: L.linalg.pinv(a), R(4, 3), tol=10, xfail=PINV_XFAIL,
      fd_xfail=PINV_XFAIL),
    C("lstsq", lambda L, a, b: L.linalg.lstsq(a, b).solution, R(4, 3), R(4, 2), tol=10),
    # in-place ops on a non-leaf (the autograd mode's rebase and version counters)
    C("exp_", _inplace("exp_"), R(2, 3)),
    C("sqrt_", lambda L, x: (x * x + 0.5).sqrt_(), R(2, 3)),
    C("relu_", _inplace("relu_"), nonzero(2, 3)),
    C("sigmoid_", _inplace("sigmoid_"), R(2, 3)),
    C("tanh_", _inplace("tanh_"), R(2, 3)),
    C("sigmoid_-then-tanh_", lambda L, x: (x * 1).sigmoid_().tanh_(), R(2, 3),
      xfail=MISSED_VERSION_XFAIL),
    C("neg_-mul_-number", lambda L, x: (x * 1).neg_().mul_(2.5), R(2, 3)),
    C("add_-tensor", _inplace_by("add_", alpha=2), R(2, 3), R(3)),
    C("masked_fill_", lambda L, x: (x * 1).masked_fill_(x > 0, 0.5), nonzero(2, 3)),
    C("relu-inplace-functional", lambda L, x: F(L).relu(x * 1, inplace=True), nonzero(2, 3)),
    C("setitem-iadd-region", _iadd_region, R(3, 4), R(2, 2)),
    C("index_put_", lambda L, x, v: (x * 1).index_put_((L.tensor([1, 0]),), v), R(2, 3), R(3)),
    *(C(f"{name}", _inplace(name, *args), make)
      for name, args, make in (("sin_", (), R(2, 3)), ("abs_", (), nonzero(2, 3)),
                               ("log_", (), pos(2, 3)), ("pow_", (2,), R(2, 3)),
                               ("clamp_", (-0.5, 0.5), distinct(2, 3) + 0.1),
                               ("square_", (), R(2, 3)))),
    *(C(name, fn, R(2, 3), nonzero(3))
      for name, fn in (("mul_-tensor", _inplace_by("mul_")), ("div_-tensor", _inplace_by("div_")),
                       ("imul-tensor", _imul))),
    C("copy_", _inplace_by("copy_"), R(2, 3), R(3)),
    C("fill_-tensor", lambda L, x, v: (x * 1).fill_(v), R(2, 3), np.asarray(0.7)),
    C("floor_divide-function", lambda L, a, b: L.floor_divide(a, b), R(2, 3) + 2.5,
      np.array([1.0, 2.0, -1.0]), xfail=FLOOR_DIV_XFAIL),
]
