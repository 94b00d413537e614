"""torch.optim.Adam and AdamW (Adam with decoupled weight decay), with amsgrad and maximize,
following torch's single-tensor update order so float32 results agree step by step."""

from __future__ import annotations

from tracejit.compiler import is_compiling
from tracejit.optim.optimizer import (
    PerParameterOptimizer,
    _check_betas,
    _to_scalar,
    check_fused,
)
from tracejit.tensor import Tensor

__all__ = ["Adam", "AdamW"]


def _check_adam_args(lr, betas, eps, weight_decay, foreach, capturable) -> None:
    """torch's argument checks (ValueError naming the bad value)."""
    if isinstance(lr, Tensor):
        if foreach and not capturable:
            raise ValueError("lr as a Tensor is not supported for capturable=False and "
                             "foreach=True")
        if lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
    if not lr >= 0.0:
        raise ValueError(f"Invalid learning rate: {lr}")
    if not eps >= 0.0:
        raise ValueError(f"Invalid epsilon value: {eps}")
    _check_betas(betas)
    if not weight_decay >= 0.0:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")
    both_float = isinstance(betas[0], float) and isinstance(betas[1], float)
    both_tensor = isinstance(betas[0], Tensor) and isinstance(betas[1], Tensor)
    if not (both_float or both_tensor):
        raise ValueError("betas must be either both floats or both Tensors")
    for i, beta in enumerate(betas):
        if isinstance(beta, Tensor) and beta.numel() != 1:
            raise ValueError(f"Tensor betas[{i}] must be 1-element")


class Adam(PerParameterOptimizer):
    """Adam (Kingma and Ba), torch's defaults; `weight_decay` is an L2 term added to the
    gradient unless `decoupled_weight_decay=True` (then it is AdamW)."""

    _GROUP_DEFAULTS = (("amsgrad", False), ("maximize", False), ("foreach", None),
                       ("capturable", False), ("differentiable", False),
                       ("decoupled_weight_decay", False), ("fused", None))

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None, decoupled_weight_decay=False) -> None:
        _check_adam_args(lr, betas, eps, weight_decay, foreach, capturable)
        # torch keeps tensor betas as (0-d) tensors in the groups; the update reads their values
        betas = tuple(b.reshape(()) if isinstance(b, Tensor) else b for b in betas)
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "amsgrad": amsgrad, "maximize": maximize, "foreach": foreach,
                    "capturable": capturable, "differentiable": differentiable, "fused": fused,
                    "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)
        check_fused(fused, differentiable, foreach)

    def _buffers(self, group: dict) -> tuple[str, ...]:
        amsgrad = ("max_exp_avg_sq",) if group["amsgrad"] else ()
        return ("exp_avg", "exp_avg_sq", *amsgrad)

    def _update(self, state: dict, param: Tensor, group: dict) -> None:
        _adam_update(state, param, group)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter): p *= 1 - lr*wd before the
    Adam update; torch's defaults (weight_decay=1e-2)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False,
                 differentiable=False, fused=None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True


def _adam_update(state: dict, param: Tensor, group: dict) -> None:
    """torch's _single_tensor_adam for one parameter; its capturable path (bias corrections as
    tensors, no .item()) with capturable=True, differentiable=True or while tracejit captures
    the step."""
    differentiable = group["differentiable"]
    capturable = group["capturable"] or differentiable or is_compiling()
    grad = param.grad if not group["maximize"] else -param.grad
    lr = group["lr"] if capturable else _to_scalar(group["lr"])
    weight_decay, eps = group["weight_decay"], group["eps"]
    beta1, beta2 = (_to_scalar(b) for b in group["betas"])
    exp_avg, exp_avg_sq, step_t = state["exp_avg"], state["exp_avg_sq"], state["step"]
    step_t += 1
    if weight_decay != 0:
        if group["decoupled_weight_decay"]:
            param.mul_(1 - lr * weight_decay)
        else:
            grad = grad.add(param, alpha=weight_decay)
    exp_avg.lerp_(grad, 1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    second_moment = exp_avg_sq
    if group["amsgrad"]:
        second_moment = state["max_exp_avg_sq"]
        previous = second_moment.clone() if differentiable else second_moment
        second_moment.copy_(previous.maximum(exp_avg_sq))
    if capturable:
        step_size_neg = (lr / (1 - beta1 ** step_t)).neg()
        bias_correction2_sqrt = (1 - beta2 ** step_t).sqrt()
        denom = (second_moment.sqrt() / (bias_correction2_sqrt * step_size_neg)).add_(
            eps / step_size_neg)
        param.addcdiv_(exp_avg.clone() if differentiable else exp_avg, denom)
        return
    step = step_t.item()
    step_size = lr / (1 - beta1 ** step)
    bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
    denom = (second_moment.sqrt() / bias_correction2_sqrt).add_(eps)
    param.addcdiv_(exp_avg, denom, value=-step_size)
