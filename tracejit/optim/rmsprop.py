"""torch.optim.RMSprop (with momentum, centered, weight decay and maximize), torch's
single-tensor update order."""

from __future__ import annotations

from typing import Any

from tracejit.creation import tensor as as_tensor
from tracejit.creation import zeros_like
from tracejit.ir import DType
from tracejit.optim.optimizer import (
    Optimizer,
    _run_closure,
    _to_scalar,
    _use_grad_for_differentiable,
)
from tracejit.tensor import Tensor

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop (Hinton), torch's defaults: lr=1e-2, alpha=0.99, eps=1e-8."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        for name, value in (("learning rate", lr), ("epsilon value", eps),
                            ("momentum value", momentum), ("weight_decay value", weight_decay),
                            ("alpha value", alpha)):
            if not value >= 0.0:
                raise ValueError(f"Invalid {name}: {value}")
        defaults = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps,
                    "centered": centered, "weight_decay": weight_decay,
                    "capturable": capturable, "foreach": foreach, "maximize": maximize,
                    "differentiable": differentiable}
        super().__init__(params, defaults)

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            for key, default in (("momentum", 0), ("centered", False), ("foreach", None),
                                 ("maximize", False), ("differentiable", False),
                                 ("capturable", False)):
                group.setdefault(key, default)
            for p in group["params"]:
                p_state = self.state.get(p, {})
                if p_state and not isinstance(p_state["step"], Tensor):
                    p_state["step"] = as_tensor(float(p_state["step"]), dtype=DType.float32)

    @_use_grad_for_differentiable
    def step(self, closure=None) -> Any:
        """One RMSprop step over every parameter with a `.grad`; returns the closure's loss."""
        loss = _run_closure(closure)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    _rmsprop_update(self._state_of(p, group), p, group)
        return loss

    def _state_of(self, param: Tensor, group: dict) -> dict:
        state = self.state[param]
        if len(state) == 0:
            state["step"] = as_tensor(0.0, dtype=DType.float32)
            state["square_avg"] = zeros_like(param)
            if group["momentum"] > 0:
                state["momentum_buffer"] = zeros_like(param)
            if group["centered"]:
                state["grad_avg"] = zeros_like(param)
        return state


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
    avg = avg.add_(eps)
    lr = _to_scalar(group["lr"])
    if group["momentum"] > 0:
        buf = state["momentum_buffer"]
        buf.mul_(group["momentum"]).addcdiv_(grad, avg)
        param.add_(buf, alpha=-lr)
    else:
        param.addcdiv_(grad, avg, value=-lr)
