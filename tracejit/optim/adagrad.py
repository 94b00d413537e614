"""torch.optim.Adagrad (with lr_decay, weight decay, initial accumulator and maximize), torch's
single-tensor update order. Its state exists from construction, as in torch."""

from __future__ import annotations

from typing import Any

from tracejit.creation import full_like
from tracejit.creation import tensor as as_tensor
from tracejit.ir import DType
from tracejit.optim.optimizer import (
    Optimizer,
    _check_nonnegative,
    _run_closure,
    _to_scalar,
    _use_grad_for_differentiable,
)
from tracejit.tensor import Tensor

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.), torch's defaults: lr=1e-2, eps=1e-10."""

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0,
                 initial_accumulator_value=0, eps=1e-10, foreach=None, *, maximize=False,
                 differentiable=False, fused=None) -> None:
        _check_nonnegative(lr, ("lr_decay value", lr_decay), ("weight_decay value", weight_decay),
                           ("initial_accumulator_value value", initial_accumulator_value),
                           ("epsilon value", eps))
        defaults = {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value,
                    "foreach": foreach, "maximize": maximize,
                    "differentiable": differentiable, "fused": fused}
        super().__init__(params, defaults)
        if fused:
            if differentiable:
                raise RuntimeError("`fused` does not support `differentiable`")
            if foreach:
                raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                state["step"] = as_tensor(0.0, dtype=DType.float32)
                state["sum"] = full_like(p, initial_accumulator_value)

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            for key, default in (("foreach", None), ("maximize", False),
                                 ("differentiable", False), ("fused", None)):
                group.setdefault(key, default)
        for p_state in self.state.values():
            if p_state and not isinstance(p_state["step"], Tensor):
                p_state["step"] = as_tensor(float(p_state["step"]), dtype=DType.float32)

    @_use_grad_for_differentiable
    def step(self, closure=None) -> Any:
        """One Adagrad step over every parameter with a `.grad`; returns the closure's loss."""
        loss = _run_closure(closure)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    _adagrad_update(self.state[p], p, group)
        return loss


def _adagrad_update(state: dict, param: Tensor, group: dict) -> None:
    """torch's _single_tensor_adagrad (dense gradients) for one parameter."""
    step_t, state_sum = state["step"], state["sum"]
    step_t += 1
    step = step_t.item()
    grad = param.grad if not group["maximize"] else -param.grad
    if group["weight_decay"] != 0:
        grad = grad.add(param, alpha=group["weight_decay"])
    clr = _to_scalar(group["lr"]) / (1 + (step - 1) * group["lr_decay"])
    state_sum.addcmul_(grad, grad, value=1)
    std = state_sum.sqrt().add_(group["eps"])
    param.addcdiv_(grad, std, value=-clr)
