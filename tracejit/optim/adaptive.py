"""torch.optim's other adaptive optimizers: Adadelta, Adamax, NAdam, RAdam and Adafactor, each
following torch's single-tensor update order (its arguments, defaults, checks and state keys)."""

from __future__ import annotations

from tracejit.compat import finfo
from tracejit.creation import zeros_like
from tracejit.functions import cat
from tracejit.optim.optimizer import (
    PerParameterOptimizer,
    _check_betas,
    _check_nonnegative,
    _step_tensor,
    _to_scalar,
)
from tracejit.tensor import Tensor

__all__ = ["Adadelta", "Adafactor", "Adamax", "NAdam", "RAdam"]


def _gradient(param: Tensor, group: dict) -> Tensor:
    """The gradient to follow: negated under maximize."""
    return param.grad if not group["maximize"] else -param.grad


def _decay(grad: Tensor, param: Tensor, group: dict, lr: float) -> Tensor:
    """Weight decay: decoupled (shrink the parameter) or L2 (added to the gradient)."""
    weight_decay = group["weight_decay"]
    if weight_decay == 0:
        return grad
    if group.get("decoupled_weight_decay", False):
        param.mul_(1 - lr * weight_decay)
        return grad
    return grad.add(param, alpha=weight_decay)


class Adadelta(PerParameterOptimizer):
    """Adadelta (Zeiler), torch's defaults: lr=1.0, rho=0.9, eps=1e-6."""

    _BUFFERS = ("square_avg", "acc_delta")
    _GROUP_DEFAULTS = (("foreach", None), ("maximize", False), ("differentiable", False),
                       ("capturable", False))

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *,
                 capturable=False, maximize=False, differentiable=False) -> None:
        _check_nonnegative(lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        _check_nonnegative(lr, ("epsilon value", eps), ("weight_decay value", weight_decay))
        defaults = {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay,
                    "maximize": maximize, "capturable": capturable, "foreach": foreach,
                    "differentiable": differentiable}
        super().__init__(params, defaults)

    def _update(self, state: dict, param: Tensor, group: dict) -> None:
        rho, eps = group["rho"], group["eps"]
        square_avg, acc_delta = state["square_avg"], state["acc_delta"]
        state["step"] += 1
        grad = _decay(_gradient(param, group), param, group, 0.0)
        square_avg.mul_(rho).addcmul_(grad, grad, value=1 - rho)
        std = square_avg.add(eps).sqrt_()
        delta = acc_delta.add(eps).sqrt_()
        if group["differentiable"]:
            delta = delta.clone()
        delta.div_(std).mul_(grad)
        acc_delta.mul_(rho).addcmul_(delta, delta, value=1 - rho)
        param.add_(delta, alpha=-_to_scalar(group["lr"]))


class Adamax(PerParameterOptimizer):
    """Adamax (Adam with the infinity norm), torch's defaults: lr=2e-3."""

    _BUFFERS = ("exp_avg", "exp_inf")
    _GROUP_DEFAULTS = (("foreach", None), ("maximize", False), ("differentiable", False),
                       ("capturable", False))

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 foreach=None, *, maximize=False, differentiable=False,
                 capturable=False) -> None:
        _check_nonnegative(lr, ("epsilon value", eps))
        _check_betas(betas)
        _check_nonnegative(lr, ("weight_decay value", weight_decay))
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "foreach": foreach, "maximize": maximize, "differentiable": differentiable,
                    "capturable": capturable}
        super().__init__(params, defaults)

    def _update(self, state: dict, param: Tensor, group: dict) -> None:
        beta1, beta2 = group["betas"]
        exp_avg, exp_inf, step_t = state["exp_avg"], state["exp_inf"], state["step"]
        step_t += 1
        grad = _decay(_gradient(param, group), param, group, 0.0)
        exp_avg.lerp_(grad, 1 - beta1)
        if group["differentiable"]:  # torch's path that autograd can go through
            norm_buf = cat([exp_inf.mul_(beta2).unsqueeze(0),
                            grad.abs().add_(group["eps"]).unsqueeze_(0)], 0)
            exp_inf.copy_(norm_buf.amax(0, keepdim=False))
        else:
            exp_inf.mul_(beta2)
            exp_inf.copy_(exp_inf.maximum(grad.abs().add_(group["eps"])))
        clr = _to_scalar(group["lr"]) / (1 - beta1 ** step_t.item())
        param.addcdiv_(exp_avg, exp_inf, value=-clr)


class NAdam(PerParameterOptimizer):
    """NAdam (Adam with Nesterov momentum, Dozat), torch's defaults: lr=2e-3,
    momentum_decay=4e-3."""

    _GROUP_DEFAULTS = (("maximize", False), ("foreach", None), ("capturable", False),
                       ("differentiable", False), ("decoupled_weight_decay", False))

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, *, foreach=None,
                 maximize=False, capturable=False, differentiable=False) -> None:
        _check_nonnegative(lr, ("epsilon value", eps))
        _check_betas(betas)
        _check_nonnegative(lr, ("weight_decay value", weight_decay),
                           ("momentum_decay value", momentum_decay))
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "momentum_decay": momentum_decay,
                    "decoupled_weight_decay": decoupled_weight_decay, "maximize": maximize,
                    "foreach": foreach, "capturable": capturable,
                    "differentiable": differentiable}
        super().__init__(params, defaults)

    def _new_state(self, param: Tensor, group: dict) -> dict[str, Tensor]:
        return {"step": _step_tensor(0.0), "mu_product": _step_tensor(1.0),
                "exp_avg": zeros_like(param), "exp_avg_sq": zeros_like(param)}

    def _update(self, state: dict, param: Tensor, group: dict) -> None:
        beta1, beta2 = group["betas"]
        lr, decay = _to_scalar(group["lr"]), group["momentum_decay"]
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        mu_product = state["mu_product"]
        state["step"] += 1
        step = state["step"].item()
        bias_correction2 = 1 - beta2 ** step
        grad = _decay(_gradient(param, group), param, group, lr)
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * decay)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * decay)))
        mu_product *= mu  # a float32 product, as torch keeps it
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        denom = exp_avg_sq.div(bias_correction2).sqrt()
        if group["differentiable"]:  # torch's tensor path
            denom = denom.add(group["eps"])
            grad = grad * (-lr * (1.0 - mu) / (1.0 - mu_product))
            exp_avg = exp_avg * (-lr * mu_next / (1.0 - mu_product * mu_next))
            param.addcdiv_(grad, denom)
            param.addcdiv_(exp_avg, denom)
            return
        product = mu_product.item()
        denom.add_(group["eps"])
        param.addcdiv_(grad, denom, value=(-lr * (1.0 - mu) / (1.0 - product)))
        param.addcdiv_(exp_avg, denom, value=(-lr * mu_next) / (1.0 - product * mu_next))


class RAdam(PerParameterOptimizer):
    """RAdam (rectified Adam, Liu et al.), torch's defaults: lr=1e-3."""

    _BUFFERS = ("exp_avg", "exp_avg_sq")
    _GROUP_DEFAULTS = (("foreach", None), ("maximize", False), ("differentiable", False),
                       ("decoupled_weight_decay", False), ("capturable", False))

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False,
                 capturable=False, differentiable=False) -> None:
        _check_nonnegative(lr, ("epsilon value", eps))
        _check_betas(betas)
        _check_nonnegative(lr, ("weight_decay value", weight_decay))
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "maximize": maximize, "foreach": foreach, "capturable": capturable,
                    "decoupled_weight_decay": decoupled_weight_decay,
                    "differentiable": differentiable}
        super().__init__(params, defaults)

    def _update(self, state: dict, param: Tensor, group: dict) -> None:
        beta1, beta2 = group["betas"]
        lr = _to_scalar(group["lr"])
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        state["step"] += 1
        step = state["step"].item()
        grad = _decay(_gradient(param, group), param, group, lr)
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        bias_correction2 = 1 - beta2 ** step
        bias_corrected_exp_avg = exp_avg / (1 - beta1 ** step)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2
        if rho_t > 5.0:
            root = exp_avg_sq.sqrt()
            root = root.add(group["eps"]) if group["differentiable"] else root.add_(group["eps"])
            adaptive_lr = (bias_correction2 ** 0.5) / root
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf
                    / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            param.add_(bias_corrected_exp_avg * lr * adaptive_lr * rect, alpha=-1.0)
        else:
            param.add_(bias_corrected_exp_avg * lr, alpha=-1.0)


class Adafactor(PerParameterOptimizer):
    """Adafactor (Shazeer and Stern) as torch's: factored second moments (row and column
    variances) for matrices, a relative step size min(lr, 1/sqrt(step)), update clipping d."""

    _GROUP_DEFAULTS = (("foreach", None),)

    def __init__(self, params, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0,
                 weight_decay=0.0, *, foreach=None, maximize=False) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        for ok, message in ((lr >= 0.0, f"Learning rate should be >= 0 but is: {lr}"),
                            (beta2_decay <= 0.0, f"beta2_decay should be <= 0 but is: "
                                                 f"{beta2_decay}"),
                            (eps[0] is None or eps[0] >= 0.0,
                             f"epsilon1 should be >= 0 but is: {eps[0]}"),
                            (eps[1] >= 0.0, f"epsilon2 should be >= 0 but is: {eps[1]}"),
                            (d >= 1.0, f"Clipping threshold d should be >= 1 but is: {d}"),
                            (weight_decay >= 0.0,
                             f"weight_decay should be >= 0 but is: {weight_decay}")):
            if not ok:
                raise ValueError(message)
        defaults = {"lr": lr, "beta2_decay": beta2_decay, "eps": eps, "d": d,
                    "weight_decay": weight_decay, "foreach": foreach, "maximize": maximize}
        super().__init__(params, defaults)

    def _new_state(self, param: Tensor, group: dict) -> dict[str, Tensor]:
        grad = param.grad
        if grad.dim() <= 1:
            return {"step": _step_tensor(0.0), "variance": zeros_like(grad)}
        row_shape, col_shape = list(grad.shape), list(grad.shape)
        row_shape[-1], col_shape[-2] = 1, 1
        return {"step": _step_tensor(0.0), "row_var": grad.new_zeros(row_shape),
                "col_var": grad.new_zeros(col_shape)}

    def _update(self, state: dict, param: Tensor, group: dict) -> None:
        # torch resolves eps1=None once per group, from the first parameter with a gradient
        eps1 = group["eps"][0]
        if eps1 is None:
            first = next(p for p in group["params"] if p.grad is not None)
            eps1 = finfo(first.dtype).eps
        _adafactor_update(state, param, group, eps1)


def _adafactor_update(state: dict, param: Tensor, group: dict, eps1: float) -> None:
    """torch's _single_tensor_adafactor for one parameter."""
    lr, eps2 = _to_scalar(group["lr"]), group["eps"][1]
    grad = _gradient(param, group)
    step_t = state["step"]
    step_t += 1
    step_float = step_t.item()
    one_minus_beta2_t = step_float ** group["beta2_decay"]
    rho_t = min(lr, 1 / step_float ** 0.5)
    alpha = max(eps2, param.norm(2).item() / param.numel() ** 0.5) * rho_t
    if group["weight_decay"] != 0:
        param.mul_(1 - lr * group["weight_decay"])
    if grad.dim() > 1:
        row_var, col_var = state["row_var"], state["col_var"]
        row_mean = grad.norm(dim=-1, keepdim=True).square_().div_(grad.size(-1))
        row_var.lerp_(row_mean, one_minus_beta2_t)
        col_mean = grad.norm(dim=-2, keepdim=True).square_().div_(grad.size(-2))
        col_var.lerp_(col_mean, one_minus_beta2_t)
        var_estimate = row_var @ col_var
        var_estimate.div_(row_var.mean(dim=-2, keepdim=True).clamp_(min=eps1))
    else:
        state["variance"].lerp_(grad * grad, one_minus_beta2_t)
        var_estimate = state["variance"].clone()
    update = var_estimate.clamp_(min=eps1 * eps1).rsqrt_()
    update.mul_(grad)
    denom = max(1.0, update.norm(2).item() / (update.numel() ** 0.5 * group["d"]))
    param.add_(update, alpha=-alpha / denom)
