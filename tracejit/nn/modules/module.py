"""`torch.nn.modules.module`'s names: `Module` (`from torch.nn.modules.module import Module`).

torch's global hooks (`register_module_forward_hook`, ...) are not provided: register hooks on
the modules themselves."""

from tracejit.nn import module as _module_impl
from tracejit.nn.module import Module

_IncompatibleKeys = _module_impl._IncompatibleKeys

__all__ = ["Module"]
