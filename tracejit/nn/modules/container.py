"""`torch.nn.modules.container`'s names (containers): tracejit.nn's classes, re-exported for
torch's import paths, and torch's deprecated `Container`."""

import warnings

from tracejit.nn import Module, ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential


class Container(Module):
    """torch's deprecated container: a Module holding the keyword arguments as submodules."""

    def __init__(self, **kwargs):
        super().__init__()
        warnings.warn("`nn.Container` is deprecated. All of its functionality is now "
                      "implemented in `nn.Module`. Subclass that instead.", stacklevel=2)
        for key, value in kwargs.items():
            self.add_module(key, value)


__all__ = ["Container", "ModuleDict", "ModuleList", "ParameterDict", "ParameterList",
           "Sequential"]
