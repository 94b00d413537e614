"""torch.optim.RMSprop (with momentum, centered, weight decay and maximize), torch's
single-tensor update order."""

from __future__ import annotations

from tracejit.optim.optimizer import PerParameterOptimizer, _check_nonnegative, _to_scalar
from tracejit.tensor import Tensor

__all__ = ["RMSprop"]


class RMSprop(PerParameterOptimizer):
    """RMSprop (Hinton), torch's defaults: lr=1e-2, alpha=0.99, eps=1e-8."""

    _GROUP_DEFAULTS = (("momentum", 0), ("centered", False), ("foreach", None),
                       ("maximize", False), ("differentiable", False), ("capturable", False))

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False) -> None:
        _check_nonnegative(lr, ("epsilon value", eps), ("momentum value", momentum),
                           ("weight_decay value", weight_decay), ("alpha value", alpha))
        defaults = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps,
                    "centered": centered, "weight_decay": weight_decay,
                    "capturable": capturable, "foreach": foreach, "maximize": maximize,
                    "differentiable": differentiable}
        super().__init__(params, defaults)

    def _buffers(self, group: dict) -> tuple[str, ...]:
        return ("square_avg", *(("momentum_buffer",) if group["momentum"] > 0 else ()),
                *(("grad_avg",) if group["centered"] else ()))

    def _update(self, state: dict, param: Tensor, group: dict) -> None:
        _rmsprop_update(state, param, group)


def _rmsprop_update(state: dict, param: Tensor, group: dict) -> None:
    """torch's _single_tensor_rmsprop for one parameter."""
    grad = param.grad if not group["maximize"] else -param.grad
    alpha, eps = group["alpha"], group["eps"]
    square_avg = state["square_avg"]
    state["step"] += 1
    if group["weight_decay"] != 0:
        grad = grad.add(param, alpha=group["weight_decay"])
    square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
    if group["centered"]:
        grad_avg = state["grad_avg"]
        grad_avg.lerp_(grad, 1 - alpha)
        avg = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
    else:
        avg = square_avg.sqrt()
    avg = avg.add(eps) if group["differentiable"] else avg.add_(eps)
    lr = _to_scalar(group["lr"])
    if group["momentum"] > 0:
        buf = state["momentum_buffer"]
        buf.mul_(group["momentum"]).addcdiv_(grad, avg)
        param.add_(buf, alpha=-lr)
    else:
        param.addcdiv_(grad, avg, value=-lr)
