"""torch.optim.Adagrad (with lr_decay, weight decay, initial accumulator and maximize), torch's
single-tensor update order. Its state exists from construction, as in torch."""

from __future__ import annotations

from tracejit.creation import full_like
from tracejit.optim.optimizer import (
    PerParameterOptimizer,
    _check_nonnegative,
    _step_tensor,
    _to_scalar,
    check_fused,
)
from tracejit.tensor import Tensor

__all__ = ["Adagrad"]


class Adagrad(PerParameterOptimizer):
    """Adagrad (Duchi et al.), torch's defaults: lr=1e-2, eps=1e-10."""

    _GROUP_DEFAULTS = (("foreach", None), ("maximize", False), ("differentiable", False),
                       ("fused", None))

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
        check_fused(fused, differentiable, foreach)
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p].update(self._new_state(p, group))

    def _new_state(self, param: Tensor, group: dict) -> dict[str, Tensor]:
        return {"step": _step_tensor(0.0),
                "sum": full_like(param, group["initial_accumulator_value"])}

    def _update(self, state: dict, param: Tensor, group: dict) -> None:
        """torch's _single_tensor_adagrad (dense gradients) for one parameter."""
        step_t, state_sum = state["step"], state["sum"]
        step_t += 1
        step = step_t.item()
        grad = param.grad if not group["maximize"] else -param.grad
        if group["weight_decay"] != 0:
            grad = grad.add(param, alpha=group["weight_decay"])
        clr = _to_scalar(group["lr"]) / (1 + (step - 1) * group["lr_decay"])
        state_sum.addcmul_(grad, grad, value=1)
        std = (state_sum.sqrt() + group["eps"] if group["differentiable"]
               else state_sum.sqrt().add_(group["eps"]))
        param.addcdiv_(grad, std, value=-clr)
