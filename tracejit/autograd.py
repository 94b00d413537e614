"""Grad-mode switches. Autograd itself is a later milestone; these exist so inference code
written for torch (`with torch.no_grad():`, `@torch.inference_mode()`) runs unchanged."""

from __future__ import annotations

import contextlib
import functools

_enabled = True


def is_grad_enabled() -> bool:
    return _enabled


class _GradMode(contextlib.ContextDecorator):
    """Sets grad mode for a block or a decorated function, restoring it afterwards."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.saved: list[bool] = []

    def __enter__(self):
        global _enabled
        self.saved.append(_enabled)
        _enabled = self.enabled
        return self

    def __exit__(self, *exc):
        global _enabled
        _enabled = self.saved.pop()
        return False


def no_grad(func=None):
    """`with no_grad():`, `@no_grad()` or `@no_grad`."""
    if callable(func):
        return functools.wraps(func)(_GradMode(False)(func))
    return _GradMode(False)


def enable_grad(func=None):
    if callable(func):
        return functools.wraps(func)(_GradMode(True)(func))
    return _GradMode(True)


def inference_mode(mode: bool = True):
    if callable(mode):
        return functools.wraps(mode)(_GradMode(False)(mode))
    return _GradMode(not mode)
