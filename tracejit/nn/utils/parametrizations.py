"""torch.nn.utils.parametrizations: weight_norm as a parametrization (torch's current API).

The weight reads as g * v / ||v||; state_dict keys are `parametrizations.weight.original0`
(g) and `original1` (v), and checkpoints of the old hook-based weight_norm (weight_g,
weight_v) load into it, as in torch.
"""

from __future__ import annotations

from tracejit.nn.module import Module
from tracejit.nn.utils import parametrize
from tracejit.nn.utils.weight_norm import norm_except_dim
from tracejit.tensor import Tensor

__all__ = ["weight_norm"]


class _WeightNorm(Module):
    def __init__(self, dim: int | None = 0):
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g: Tensor, weight_v: Tensor) -> Tensor:
        return weight_v * (weight_g / norm_except_dim(weight_v, 2, self.dim))

    def right_inverse(self, weight: Tensor):
        return norm_except_dim(weight, 2, self.dim), weight


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Reparametrize `module.<name>` as magnitude (original0) times direction (original1)."""
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)

    def load_old_keys(state_dict, prefix, local_metadata, strict, missing_keys,
                      unexpected_keys, error_msgs):
        g_key, v_key = f"{prefix}{name}_g", f"{prefix}{name}_v"
        if g_key in state_dict and v_key in state_dict:
            state_dict[f"{prefix}parametrizations.{name}.original0"] = state_dict.pop(g_key)
            state_dict[f"{prefix}parametrizations.{name}.original1"] = state_dict.pop(v_key)

    module._register_load_state_dict_pre_hook(load_old_keys)
    return module
