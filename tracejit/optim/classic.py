"""torch.optim.Rprop (resilient backpropagation) and torch.optim.ASGD (averaged SGD), following
torch's single-tensor update order, arguments, defaults and state keys."""

from __future__ import annotations

from tracejit.creation import full_like, ones, zeros_like
from tracejit.optim.optimizer import (
    PerParameterOptimizer,
    _check_nonnegative,
    _step_tensor,
    _to_scalar,
)
from tracejit.tensor import Tensor

__all__ = ["ASGD", "Rprop"]


class Rprop(PerParameterOptimizer):
    """Rprop: per-element step sizes grown by etaplus while the gradient keeps its sign and
    shrunk by etaminus when it flips (the update then skipped), within step_sizes."""

    _GROUP_DEFAULTS = (("foreach", None), ("maximize", False), ("differentiable", False),
                       ("capturable", False))

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *,
                 capturable=False, foreach=None, maximize=False, differentiable=False) -> None:
        _check_nonnegative(lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        defaults = {"lr": lr, "etas": etas, "step_sizes": step_sizes, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable,
                    "capturable": capturable}
        super().__init__(params, defaults)

    def _new_state(self, param: Tensor, group: dict) -> dict[str, Tensor]:
        return {"step": _step_tensor(0.0), "prev": zeros_like(param),
                "step_size": full_like(param.grad, _to_scalar(group["lr"]))}

    def _update(self, state: dict, param: Tensor, group: dict) -> None:
        etaminus, etaplus = group["etas"]
        step_size_min, step_size_max = group["step_sizes"]
        prev, step_size = state["prev"], state["step_size"]
        state["step"] += 1
        grad = param.grad if not group["maximize"] else -param.grad
        sign = grad.mul(prev.clone() if group["differentiable"] else prev).sign()
        sign = sign.masked_fill(sign.gt(0), etaplus)  # torch's three masked writes, in order
        sign = sign.masked_fill(sign.lt(0), etaminus)
        sign = sign.masked_fill(sign.eq(0), 1)
        step_size.mul_(sign).clamp_(step_size_min, step_size_max)
        grad = grad.masked_fill(sign.eq(etaminus), 0)
        param.addcmul_(grad.sign(), step_size, value=-1)
        prev.copy_(grad)


class ASGD(PerParameterOptimizer):
    """Averaged SGD (Polyak and Juditsky): SGD with a decaying step eta, keeping the running
    average of the parameters in state["ax"] from step t0 on."""

    _GROUP_DEFAULTS = (("foreach", None), ("maximize", False), ("differentiable", False),
                       ("capturable", False))

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0,
                 foreach=None, maximize=False, differentiable=False, capturable=False) -> None:
        _check_nonnegative(lr, ("weight_decay value", weight_decay))
        defaults = {"lr": lr, "lambd": lambd, "alpha": alpha, "t0": t0,
                    "weight_decay": weight_decay, "foreach": foreach, "maximize": maximize,
                    "differentiable": differentiable, "capturable": capturable}
        super().__init__(params, defaults)

    def _new_state(self, param: Tensor, group: dict) -> dict[str, Tensor]:
        return {"step": _step_tensor(0.0), "eta": _step_tensor(_to_scalar(group["lr"])),
                "mu": ones(()), "ax": zeros_like(param)}

    def _update(self, state: dict, param: Tensor, group: dict) -> None:
        lr, lambd, alpha = _to_scalar(group["lr"]), group["lambd"], group["alpha"]
        mu, ax, eta, step_t = state["mu"], state["ax"], state["eta"], state["step"]
        step_t += 1
        grad = param.grad if not group["maximize"] else -param.grad
        if group["weight_decay"] != 0:
            grad = grad.add(param, alpha=group["weight_decay"])
        eta_value = eta.item()
        param.mul_(1 - lambd * eta_value)
        param.add_(grad, alpha=-eta_value)
        if mu.item() != 1:
            ax.add_(param.sub(ax).mul_(mu))
        else:
            ax.copy_(param)
        step = step_t.item()
        eta.fill_(lr / ((1 + lambd * lr * step) ** alpha))  # kept in float32, as torch's
        mu.fill_(1 / max(1, step - group["t0"]))
