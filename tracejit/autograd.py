"""Grad-mode switches. Autograd itself is a later milestone; these exist so inference code
written for torch (`with torch.no_grad():`, `@torch.inference_mode()`) runs unchanged."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

if TYPE_CHECKING:
    from tracejit.tensor import Tensor

_F = TypeVar("_F", bound=Callable[..., Any])

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


# A decorated function keeps its type; called with no function they give a context manager.
@overload
def no_grad(func: _F) -> _F: ...
@overload
def no_grad(func: None = None) -> _GradMode: ...
def no_grad(func=None) -> Any:
    """`with no_grad():`, `@no_grad()` or `@no_grad`."""
    if callable(func):
        return functools.wraps(func)(_GradMode(False)(func))
    return _GradMode(False)


@overload
def enable_grad(func: _F) -> _F: ...
@overload
def enable_grad(func: None = None) -> _GradMode: ...
def enable_grad(func=None) -> Any:
    if callable(func):
        return functools.wraps(func)(_GradMode(True)(func))
    return _GradMode(True)


@overload
def inference_mode(mode: _F) -> _F: ...
@overload
def inference_mode(mode: bool = True) -> _GradMode: ...
def inference_mode(mode=True) -> Any:
    if callable(mode):
        return functools.wraps(mode)(_GradMode(False)(mode))
    return _GradMode(not mode)


# --- torch.autograd names model code uses without gradients (issue 12; autograd is issue 15) ---
def Variable(data, requires_grad: bool = False, volatile: bool = False) -> Tensor:
    """torch's pre-0.4 wrapper, now the tensor itself (with requires_grad set if asked)."""
    if requires_grad:
        data.requires_grad_(True)
    return data


class FunctionCtx:
    """The `ctx` a custom Function's forward receives; what it saves is kept, not used."""

    def __init__(self, n_inputs: int = 0):
        self.saved_tensors: tuple = ()
        self.needs_input_grad = (False,) * n_inputs

    def save_for_backward(self, *tensors) -> None:
        self.saved_tensors = tensors

    def mark_dirty(self, *tensors) -> None:
        pass

    def mark_non_differentiable(self, *tensors) -> None:
        pass

    def set_materialize_grads(self, value: bool) -> None:
        pass


class Function:
    """A custom op with forward and backward (torch.autograd.Function): `apply` runs forward;
    backward is never called (tracejit runs inference only until autograd lands)."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("a custom Function must define forward")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("backward of a custom Function: autograd is not implemented")

    @staticmethod
    def setup_context(ctx, inputs, output):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = FunctionCtx(len(args))
        if cls.setup_context is Function.setup_context:  # forward(ctx, *args)
            return cls.forward(ctx, *args, **kwargs)
        output = cls.forward(*args, **kwargs)  # the newer style: forward(*args)
        cls.setup_context(ctx, args, output)
        return output
