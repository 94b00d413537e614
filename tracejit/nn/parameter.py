"""`tracejit.nn.parameter`: where torch.nn.parameter's names live (`from torch.nn.parameter
import Parameter`). tracejit has no uninitialized (lazy) parameters: its Lazy* layers hold
zero-size ones until the first call, so `UninitializedParameter` is not provided."""

from tracejit.nn.module import Parameter
from tracejit.nn.param_containers import Buffer


def is_lazy(param) -> bool:
    """Whether `param` is an uninitialized lazy parameter: never, in tracejit."""
    return False


__all__ = ["Buffer", "Parameter", "is_lazy"]
