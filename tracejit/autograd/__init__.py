"""`tracejit.autograd`: torch's reverse-mode autodiff on the tracejit dispatch point.

`backward`, `grad`, grad-mode switches (`no_grad`, `enable_grad`, `inference_mode`,
`set_grad_enabled`), custom `Function`s, and the tensor-side API the Tensor class forwards
here (`.grad`, `.requires_grad`, `.retain_grad()`, `.register_hook`). The tape is recorded by
the autograd mode (mode.py) and run by the engine (engine.py) with the rules of rules.py.
"""

from __future__ import annotations

import contextlib
import functools
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

import tracejit.dispatch  # noqa: F401  (first: the dispatch point builds on autograd's mode)
from tracejit.autograd import engine
from tracejit.autograd.engine import Node, Saved, edge_of, meta
from tracejit.autograd.mode import is_enabled as is_grad_enabled
from tracejit.autograd.mode import set_enabled

if TYPE_CHECKING:
    from tracejit.tensor import Tensor

_F = TypeVar("_F", bound=Callable[..., Any])


class _GradMode(contextlib.ContextDecorator):
    """Sets grad mode for a block or a decorated function, restoring it afterwards."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.saved: list[bool] = []

    def __enter__(self):
        from tracejit.dispatch import _state

        self.saved.append(_state.grad_enabled)
        _state.grad_enabled = self.enabled
        return self

    def __exit__(self, *exc):
        from tracejit.dispatch import _state

        _state.grad_enabled = self.saved.pop()
        return False

    def clone(self):
        return type(self)(self.enabled)


# A decorated function keeps its type; called with no function they give a context manager.
@overload
def no_grad(func: _F) -> _F: ...
@overload
def no_grad(func: None = None) -> _GradMode: ...
def no_grad(func=None) -> Any:
    """`with no_grad():`, `@no_grad()` or `@no_grad`: nothing inside is recorded for backward."""
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
    """torch's inference_mode, as no_grad (tracejit's tensors carry no inference flag)."""
    if callable(mode):
        return functools.wraps(mode)(_GradMode(False)(mode))
    return _GradMode(not mode)


# --- the tensor-side API (Tensor's properties forward here) ---------------------------------

def set_requires_grad(t: Tensor, value: bool) -> None:
    value = bool(value)
    if value and not t.dtype.is_floating_point:
        raise RuntimeError("only Tensors of floating point and complex dtype can require "
                           f"gradients (this one is {t.dtype.value})")
    if not value and t._ag is not None and t._ag.grad_fn is not None:
        raise RuntimeError(
            "you can only change requires_grad flags of leaf variables. If you want to use a "
            "computed variable in a subgraph that doesn't require differentiation use "
            "var_no_grad = var.detach().")
    t._rg = value


def get_grad(t: Tensor):
    m = t._ag
    if m is None:
        return None
    if m.grad is None and m.grad_fn is not None and not m.retains_grad:
        import warnings

        warnings.warn(
            "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its "
            ".grad attribute won't be populated during autograd.backward(). If you indeed want "
            "the .grad field to be populated for a non-leaf Tensor, use .retain_grad() on the "
            "non-leaf Tensor.", UserWarning, stacklevel=3)
    return m.grad


def set_grad(t: Tensor, value) -> None:
    from tracejit.tensor import Tensor

    if value is not None:
        if not isinstance(value, Tensor):
            raise TypeError(f"assigned grad expected to be a Tensor or None but got "
                            f"{type(value).__name__}")
        if value.dtype is not t.dtype:
            raise RuntimeError(f"assigned grad has data of a different type ({value.dtype.value}"
                               f" vs {t.dtype.value})")
        if tuple(value.shape) != tuple(t.shape):
            raise RuntimeError(f"assigned grad has data of a different size "
                               f"({list(value.shape)} vs {list(t.shape)})")
    if value is None and t._ag is None:
        return
    meta(t).grad = value


def retain_grad(t: Tensor) -> None:
    if not t.requires_grad:
        raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
    m = meta(t)
    if m.grad_fn is None or m.retains_grad:  # a leaf keeps its grad anyway
        return
    m.retains_grad = True
    ref = weakref.ref(t)
    node, nr = m.grad_fn, m.output_nr

    def keep(grads):
        tensor = ref()
        if tensor is None or tensor._ag is None or tensor._ag.grad_fn is not node:
            return None
        g = grads[nr]
        if g is not None:
            g = g.detach()
            tm = tensor._ag
            tm.grad = g.clone() if tm.grad is None else tm.grad + g
        return None

    keep._retains = True
    node.own_pre_hooks().append(keep)


def register_hook(t: Tensor, hook: Callable):
    if not t.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    m = meta(t)
    if m.grad_fn is None:
        if m.hooks is engine._NO_HOOKS:
            m.hooks = []
        m.hooks.append(hook)
        return engine._Handle(m.hooks, hook)
    nr = m.output_nr

    def run(grads):
        g = grads[nr]
        if g is None:
            return None
        changed = hook(g)
        if changed is None:
            return None
        grads = list(grads)
        grads[nr] = changed
        return grads

    m.grad_fn.own_pre_hooks().insert(_first_after_user_hooks(m.grad_fn), run)
    return engine._Handle(m.grad_fn.pre_hooks, run)


def _first_after_user_hooks(node: Node) -> int:
    """Tensor hooks run before retain_grad's, whenever registered (torch: a retained grad is
    what the hooks made)."""
    return next((k for k, h in enumerate(node.pre_hooks) if getattr(h, "_retains", False)),
                len(node.pre_hooks))


def register_post_accumulate_grad_hook(t: Tensor, hook: Callable):
    if t._ag is not None and t._ag.grad_fn is not None:
        raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
    m = meta(t)
    if m.post_hooks is engine._NO_HOOKS:
        m.post_hooks = []
    m.post_hooks.append(hook)
    return engine._Handle(m.post_hooks, hook)


# --- backward and grad ---------------------------------------------------------------------

def _as_list(x) -> list:
    from tracejit.tensor import Tensor

    if x is None:
        return []
    if isinstance(x, Tensor):
        return [x]
    return list(x)


def _root_grads(outputs: list, grad_outputs: list, create_graph: bool) -> list:
    from tracejit.dispatch import dispatch
    from tracejit.ir import Op

    if grad_outputs and len(grad_outputs) != len(outputs):
        raise RuntimeError(f"grad requires one gradient per output: got {len(grad_outputs)} "
                           f"gradients for {len(outputs)} outputs")
    out = []
    for k, t in enumerate(outputs):
        g = grad_outputs[k] if grad_outputs else None
        if g is None:
            if t.requires_grad and t.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs "
                                   f"(this output has shape {list(t.shape)}: pass gradient=, a "
                                   "tensor of its shape)")
            g = dispatch(Op.FULL, shape=tuple(t.shape), value=1, dtype=t.dtype)
        elif tuple(g.shape) != tuple(t.shape):
            raise RuntimeError(f"Mismatch in shape: grad_output[{k}] has a shape of "
                               f"{tuple(g.shape)} and output[{k}] has a shape of "
                               f"{tuple(t.shape)}.")
        elif not create_graph:
            g = g.detach()
        out.append(g)
    return out


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph: bool = False,
             grad_variables=None, inputs=None) -> None:
    """Accumulate the gradients of `tensors` into the leaves' `.grad` (torch's)."""
    from tracejit.dispatch import _state

    # a capture cannot hand graph values to the leaves' .grad (Python state): it refuses, and
    # tracejit.compile runs the statement as Python (autograd.grad, which returns them, is fine)
    _state.top.unsupported("backward() (it accumulates into the leaves' .grad attributes; use "
                           "tracejit.autograd.grad(loss, params) to get the gradients as values)")
    outputs = _as_list(tensors)
    grads = _as_list(grad_tensors if grad_tensors is not None else grad_variables)
    if retain_graph is None:
        retain_graph = create_graph
    roots = _root_grads(outputs, grads, create_graph)
    wanted = _as_list(inputs) if inputs is not None else None
    if wanted is not None and not wanted:
        raise RuntimeError("'inputs' argument to backward() cannot be empty.")
    engine.run_backward(outputs, roots, retain_graph, create_graph, inputs=wanted,
                        accumulate=True)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph: bool = False,
         only_inputs: bool = True, allow_unused: bool | None = None, is_grads_batched=False,
         materialize_grads: bool = False) -> tuple:
    """The gradients of `outputs` with respect to `inputs`, without touching `.grad`."""
    outs = _as_list(outputs)
    ins = _as_list(inputs)
    if materialize_grads and allow_unused is False:
        raise ValueError("Expected allow_unused to be True or not passed when "
                         "materialize_grads=True, but got: allow_unused=False.")
    if allow_unused is None:
        allow_unused = materialize_grads
    if retain_graph is None:
        retain_graph = create_graph
    roots = _root_grads(outs, _as_list(grad_outputs), create_graph)
    results = engine.run_backward(outs, roots, retain_graph, create_graph, inputs=ins,
                                  accumulate=False, allow_unused=allow_unused)
    if materialize_grads:
        from tracejit.creation import zeros_like

        results = [r if r is not None else zeros_like(t) for r, t in zip(results, ins)]
    return tuple(results)


# --- custom Functions ----------------------------------------------------------------------

class FunctionCtx:
    """The `ctx` a custom Function's forward and backward share (torch's)."""

    def __init__(self, n_inputs: int = 0):
        self._saved: list = []
        self._node: Node | None = None
        self.needs_input_grad = (False,) * n_inputs
        self.materialize_grads = True
        self.dirty: tuple = ()
        self.non_differentiable: tuple = ()

    def save_for_backward(self, *tensors) -> None:
        self._saved = [Saved(t) if t is not None else None for t in tensors]

    @property
    def saved_tensors(self) -> tuple:
        if self._saved is None:
            raise RuntimeError(engine.FREED)
        return tuple(s.unpack(self._node, False) if s is not None else None
                     for s in self._saved)

    def mark_dirty(self, *tensors) -> None:
        self.dirty = tensors

    def mark_non_differentiable(self, *tensors) -> None:
        self.non_differentiable = tensors

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = bool(value)


class _FunctionNode(Node):
    """A custom Function on the tape: its backward is the user's static method."""

    __slots__ = ("cls", "ctx", "n_inputs")

    def __init__(self, cls, ctx, edges, out_types):
        super().__init__(edges, out_types)
        self.cls, self.ctx, self.n_inputs = cls, ctx, len(edges)

    def name(self) -> str:
        return f"{self.cls.__name__}Backward"

    def apply(self, grads, create_graph):
        from tracejit.dispatch import dispatch
        from tracejit.ir import Op

        if self.ctx._saved is None:
            raise RuntimeError(engine.FREED)
        if self.ctx.materialize_grads:
            grads = [g if g is not None else dispatch(Op.FULL, shape=tuple(t.shape), value=0,
                                                      dtype=t.dtype)
                     for g, t in zip(grads, self.out_types)]
        out = self.cls.backward(self.ctx, *grads)
        out = list(out) if isinstance(out, tuple) else [out]
        if len(out) < self.n_inputs:
            raise RuntimeError(f"function {self.name()} returned an incorrect number of "
                               f"gradients (expected {self.n_inputs}, got {len(out)})")
        return out[:self.n_inputs]

    def release(self) -> None:
        self.ctx._saved = None


class Function:
    """A custom op with a forward and a backward (torch.autograd.Function): `apply` runs
    forward without recording and puts one node on the tape whose backward is yours."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("a custom Function must define forward")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError(
            "You must implement either the backward or vjp method for your custom "
            "autograd.Function to use it with backward mode AD.")

    vjp = backward

    @staticmethod
    def setup_context(ctx, inputs, output):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        from tracejit.dispatch import _state
        from tracejit.tensor import Tensor

        ctx = FunctionCtx(len(args))
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        with set_enabled(False):
            if cls.setup_context is Function.setup_context:  # forward(ctx, *args)
                output = cls.forward(ctx, *args, **kwargs)
            else:  # the newer style: forward(*args), then setup_context
                output = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, output)
        if not (_state.grad_enabled and any(ctx.needs_input_grad)):
            return output
        single = isinstance(output, Tensor)
        outputs = [output] if single else list(output)
        edges = [edge_of(a) if isinstance(a, Tensor) else None for a in args]
        tensor_outs = [o for o in outputs if isinstance(o, Tensor)]
        node = _FunctionNode(cls, ctx, edges, tuple(o._type for o in tensor_outs))
        ctx._node = node
        fresh, nr = [], 0
        for o in outputs:
            if isinstance(o, Tensor):
                o = _own(o, args, ctx)
                if o.dtype.is_floating_point and not any(
                        o is t for t in ctx.non_differentiable):
                    o._rg = True
                    m = meta(o)
                    m.grad_fn, m.output_nr = node, nr
                nr += 1
            fresh.append(o)
        return fresh[0] if single else type(output)(fresh)


def _own(out, args, ctx):
    """An output that is one of the inputs (returned as is, or written in place and marked
    dirty) gets its own tensor object when not dirty, as torch makes it a view."""
    from tracejit.dispatch import alias
    from tracejit.tensor import Tensor

    if any(out is a for a in args) and not any(out is d for d in ctx.dirty):
        return alias(Tensor._wrap(out._data), out)
    return out


# --- torch.autograd names model code uses ---------------------------------------------------

def Variable(data, requires_grad: bool = False, volatile: bool = False) -> Tensor:
    """torch's pre-0.4 wrapper, now the tensor itself (with requires_grad set if asked)."""
    if requires_grad:
        data.requires_grad_(True)
    return data


class set_grad_enabled:
    """Set grad mode now (`set_grad_enabled(False)`), for a block (`with ...:`) or for a
    decorated function (torch's)."""

    def __init__(self, mode: bool):
        from tracejit.dispatch import _state

        self.prev = _state.grad_enabled
        self.mode = bool(mode)
        _state.grad_enabled = self.mode

    def __call__(self, fn):
        from tracejit.dispatch import _state

        _state.grad_enabled = self.prev

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(self.mode):
                return fn(*args, **kwargs)

        return wrapper

    def __enter__(self):
        from tracejit.dispatch import _state

        _state.grad_enabled = self.mode
        return self

    def __exit__(self, *exc) -> bool:
        from tracejit.dispatch import _state

        _state.grad_enabled = self.prev
        return False


__all__ = ["Function", "FunctionCtx", "Variable", "backward", "enable_grad", "grad",
           "inference_mode", "is_grad_enabled", "no_grad", "set_grad_enabled"]
