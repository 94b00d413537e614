"""`tracejit.utils.hooks`: the handle the register_*_hook methods return."""

from tracejit.nn.module import RemovableHandle

__all__ = ["RemovableHandle"]
