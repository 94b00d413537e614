"""torch.optim's Optimizer base: parameter groups, per-parameter state, `zero_grad`, step hooks
and `state_dict`/`load_state_dict` in torch's layout (a state dict saved by one twin loads into
the other once its tensors are converted).

Subclasses write `step` with in-place Tensor methods (`p.add_`, `p.addcdiv_`, ...) so every
write goes through the dispatch point (version counters, tracing); `step` runs under
`no_grad()` unless the optimizer was made with `differentiable=True`, as in torch.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from copy import deepcopy
from itertools import chain
from typing import Any

import numpy as np

from tracejit.autograd import enable_grad, no_grad
from tracejit.compat import typename
from tracejit.compiler import is_compiling
from tracejit.creation import tensor as as_tensor
from tracejit.creation import zeros_like
from tracejit.dispatch import get_default_dtype
from tracejit.ir import DType
from tracejit.tensor import Tensor

__all__ = ["Optimizer", "register_optimizer_step_post_hook", "register_optimizer_step_pre_hook",
           "required"]


class _RequiredParameter:
    """The default of a hyperparameter that every parameter group must give."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


_HOOK_TABLES = ("_optimizer_step_pre_hooks", "_optimizer_step_post_hooks",
                "_optimizer_state_dict_pre_hooks", "_optimizer_state_dict_post_hooks",
                "_optimizer_load_state_dict_pre_hooks", "_optimizer_load_state_dict_post_hooks")


class RemovableHandle:
    """What `register_*_hook` returns: `handle.remove()` unregisters the hook."""

    _next_id = 0

    def __init__(self, hooks: OrderedDict):
        self._hooks = hooks
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self) -> None:
        self._hooks.pop(self.id, None)


def check_fused(fused, differentiable, foreach) -> None:
    """torch's refusals of `fused=True` with `differentiable` or `foreach`."""
    if fused:
        if differentiable:
            raise RuntimeError("`fused` does not support `differentiable`")
        if foreach:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")


def _to_scalar(value):
    """A 1-element tensor hyperparameter (lr, beta) as a Python number."""
    return value.item() if isinstance(value, Tensor) else value


def _run_closure(closure):
    """The loss of `closure()` evaluated with grad enabled (None without a closure)."""
    if closure is None:
        return None
    with enable_grad():
        return closure()


def _use_grad_for_differentiable(step):
    """Run `step` with grad mode set to the optimizer's `differentiable` flag, as torch does."""
    @functools.wraps(step)
    def run(self, *args, **kwargs):
        with enable_grad() if self.defaults.get("differentiable", False) else no_grad():
            return step(self, *args, **kwargs)
    return run


@contextlib.contextmanager
def _state_restored_on_error(opt: Optimizer):
    """A step that raises while captured leaves `opt.state` as it found it (entries it added or
    replaced are undone): tracejit.compile's trace attempt can fail part-way through a step (an
    in-place write to a parameter), and its eager rerun must not find state made of traced
    values. Eager steps are not wrapped (an error there leaves what torch's would)."""
    saved = {param: dict(entries) for param, entries in opt.state.items()}
    try:
        yield
    except BaseException:
        for param in list(opt.state):
            if param not in saved:
                del opt.state[param]
        for param, entries in saved.items():
            opt.state[param].clear()
            opt.state[param].update(entries)
        raise


_global_optimizer_pre_hooks: OrderedDict = OrderedDict()
_global_optimizer_post_hooks: OrderedDict = OrderedDict()


def register_optimizer_step_pre_hook(hook) -> RemovableHandle:
    """`hook(optimizer, args, kwargs)` runs before every optimizer's `step`."""
    handle = RemovableHandle(_global_optimizer_pre_hooks)
    _global_optimizer_pre_hooks[handle.id] = hook
    return handle


def register_optimizer_step_post_hook(hook) -> RemovableHandle:
    """`hook(optimizer, args, kwargs)` runs after every optimizer's `step`."""
    handle = RemovableHandle(_global_optimizer_post_hooks)
    _global_optimizer_post_hooks[handle.id] = hook
    return handle


def _with_step_hooks(step):
    """Wrap a class's `step` so the global and per-optimizer hooks run around it; as in torch,
    hooks see `args` with the optimizer first and may return new (args, kwargs)."""
    @functools.wraps(step)
    def run(*args, **kwargs):
        self = args[0]
        self._opt_called = True  # read by lr_scheduler's call-order warning
        for hook in [*_global_optimizer_pre_hooks.values(),
                     *self._optimizer_step_pre_hooks.values()]:
            result = hook(self, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(f"{step} must return None or a tuple of "
                                       f"(new_args, new_kwargs), but got {result}.")
                args, kwargs = result
        if is_compiling():
            with _state_restored_on_error(self):
                out = step(*args, **kwargs)
        else:
            out = step(*args, **kwargs)
        for hook in [*self._optimizer_step_post_hooks.values(),
                     *_global_optimizer_post_hooks.values()]:
            hook(self, args, kwargs)
        return out
    run._hooked = True
    return run


class Optimizer:
    """Base class of all optimizers: holds `param_groups`, `defaults` and per-parameter
    `state` (a defaultdict keyed by the parameter tensor)."""

    def __init__(self, params, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self._init_hooks()
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            "Tensors or dicts, but got " + typename(params))
        self.state: defaultdict[Tensor, Any] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)

    def _init_hooks(self) -> None:
        """Empty hook tables, and the class's `step` wrapped once to run them."""
        for table in _HOOK_TABLES:
            if table not in self.__dict__:
                setattr(self, table, OrderedDict())
        cls = type(self)
        if not getattr(cls.step, "_hooked", False):
            cls.step = _with_step_hooks(cls.step)

    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state,
                "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_hooks()
        self.defaults.setdefault("differentiable", False)

    def __repr__(self) -> str:
        text = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    text += f"    {key}: {group[key]}\n"
        return text + ")"

    # --- hooks -----------------------------------------------------------------------------------
    def _register(self, table: str, hook, prepend: bool = False) -> RemovableHandle:
        hooks = getattr(self, table)
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        return handle

    def register_step_pre_hook(self, hook) -> RemovableHandle:
        """`hook(optimizer, args, kwargs)` runs before each `step`; it may return new
        (args, kwargs)."""
        return self._register("_optimizer_step_pre_hooks", hook)

    def register_step_post_hook(self, hook) -> RemovableHandle:
        """`hook(optimizer, args, kwargs)` runs after each `step`."""
        return self._register("_optimizer_step_post_hooks", hook)

    def register_state_dict_pre_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        """`hook(optimizer)` runs before `state_dict()` builds its dict."""
        return self._register("_optimizer_state_dict_pre_hooks", hook, prepend)

    def register_state_dict_post_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        """`hook(optimizer, state_dict)` runs on the built dict; it may return a new one."""
        return self._register("_optimizer_state_dict_post_hooks", hook, prepend)

    def register_load_state_dict_pre_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        """`hook(optimizer, state_dict)` runs before loading (on a shallow copy); it may return
        the dict to load instead."""
        return self._register("_optimizer_load_state_dict_pre_hooks", hook, prepend)

    def register_load_state_dict_post_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        """`hook(optimizer)` runs after `load_state_dict()`."""
        return self._register("_optimizer_load_state_dict_post_hooks", hook, prepend)

    # --- state dicts -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """{"state": {param_id: {...}}, "param_groups": [{..., "params": [ids]}]}, the ids
        numbering the parameters in order across groups (torch's layout; tensors not copied)."""
        for pre_hook in self._optimizer_state_dict_pre_hooks.values():
            pre_hook(self)
        mapping: dict[int, int] = {}
        start = 0

        def pack_group(group: dict[str, Any]) -> dict[str, Any]:
            nonlocal start
            packed = {k: v for k, v in group.items() if k != "params"}
            mapping.update({id(p): i for i, p in enumerate(group["params"], start)
                            if id(p) not in mapping})
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            return packed

        param_groups = [pack_group(g) for g in self.param_groups]
        packed_state = {(mapping[id(k)] if isinstance(k, Tensor) else k): v
                        for k, v in self.state.items()}
        state_dict = {"state": packed_state, "param_groups": param_groups}
        for post_hook in self._optimizer_state_dict_post_hooks.values():
            result = post_hook(self, state_dict)
            if result is not None:
                state_dict = result
        return state_dict

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict from `state_dict()` (ours or torch's, tensors converted); tensor
        state takes each parameter's floating dtype, `step` keeps its own."""
        state_dict = state_dict.copy()
        for pre_hook in self._optimizer_load_state_dict_pre_hooks.values():
            result = pre_hook(self, state_dict)
            if result is not None:
                state_dict = result
        groups = self.param_groups
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match "
                             "the size of optimizer's group")
        id_map = dict(zip(chain.from_iterable(g["params"] for g in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))
        state: defaultdict[Tensor, Any] = defaultdict(dict)
        for key, value in state_dict["state"].items():
            if key in id_map:
                param = id_map[key]
                state[param] = _cast(param, value)
            else:
                state[key] = value
        for group, saved in zip(groups, saved_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
        self.__setstate__({"state": state, "param_groups": saved_groups})
        for post_hook in self._optimizer_load_state_dict_post_hooks.values():
            post_hook(self)

    # --- gradients and groups --------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Set every parameter's `.grad` to None, or (set_to_none=False) zero it in place."""
        for group in self.param_groups:
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                    continue
                if getattr(grad, "grad_fn", None) is not None:
                    grad.detach_()
                else:
                    grad.requires_grad_(False)
                with no_grad():
                    grad.zero_()

    def step(self, closure=None) -> Any:
        """Perform one optimization step (subclasses implement it)."""
        raise NotImplementedError

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options; options it omits take the
        optimizer's defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        _extract_params(param_group)
        for param in param_group["params"]:
            if not isinstance(param, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                + typename(param))
            if not self.defaults.get("differentiable", None) and not (
                    param.is_leaf or getattr(param, "retains_grad", False)):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError("parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            param_group.setdefault(name, default)
        params = param_group["params"]
        if len(params) != len({id(p) for p in params}):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; "
                          "in future, this will cause an error; see "
                          "github.com/pytorch/pytorch/issues/40967 for more information",
                          stacklevel=3)
        seen: set[int] = set()
        for group in self.param_groups:
            seen.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError("all optimizer param groups should be with/without names. "
                                 f"cannot add param group {which} to the optimizer")
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)


def _extract_params(param_group: dict[str, Any]) -> None:
    """Normalize group["params"] to a list of tensors (names from (name, tensor) pairs go to
    group["param_names"])."""
    params = param_group["params"]
    if isinstance(params, Tensor):
        params = [params]
    elif isinstance(params, set):
        raise TypeError("optimizer parameters need to be organized in ordered collections, but "
                        "the ordering of tensors in sets will change between runs. Please use "
                        "a list instead.")
    else:
        params = list(params)
    names = [p[0] for p in params if isinstance(p, tuple)]
    param_group["params"] = [p[1] if isinstance(p, tuple) else p for p in params]
    if names:
        if len(names) != len(params):
            raise ValueError("all optimizer params should be with/without names. Some param "
                             "names are missing")
        param_group["param_names"] = names


def _cast(param: Tensor, value, key=None):
    """Copy loaded state for `param`: floating tensors take its dtype, except `step`. numpy
    arrays (what tracejit.load gives for a saved state dict) become tensors."""
    if isinstance(value, np.ndarray):
        value = as_tensor(value)
    if isinstance(value, Tensor):
        if key == "step" or not param.is_floating_point():
            return value
        return value.to(dtype=param.dtype)
    if isinstance(value, dict):
        return {k: _cast(param, v, key=k) for k, v in value.items()}
    if isinstance(value, Iterable) and not isinstance(value, str):
        return type(value)(_cast(param, v) for v in value)
    return value


# --- shared by the optimizers ---------------------------------------------------------------------

def _step_tensor(value: float) -> Tensor:
    """A state scalar as torch keeps it: a 0-d float32 tensor (float64 while that is the
    default dtype)."""
    dtype = DType.float64 if get_default_dtype() == DType.float64 else DType.float32
    return as_tensor(value, dtype=dtype)


def _check_nonnegative(lr, *named) -> None:
    """torch's checks, in its order: a 1-element tensor lr, then each (name, value) >= 0."""
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    for name, value in (("learning rate", lr), *named):
        if not value >= 0.0:
            raise ValueError(f"Invalid {name}: {value}")


def _check_betas(betas) -> None:
    for i, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")


class PerParameterOptimizer(Optimizer):
    """An optimizer whose state, made on a parameter's first step, is a float32 `step` and
    zero-initialized buffers (`_buffers`); subclasses write `_update(state, param, group)`."""

    _BUFFERS: tuple[str, ...] = ()
    _GROUP_DEFAULTS: tuple[tuple[str, Any], ...] = ()  # keys older state dicts may lack

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            for key, default in self._GROUP_DEFAULTS:
                group.setdefault(key, default)
            for p in group["params"]:
                p_state = self.state.get(p, {})
                if p_state and not isinstance(p_state["step"], Tensor):
                    p_state["step"] = _step_tensor(float(p_state["step"]))

    @_use_grad_for_differentiable
    def step(self, closure=None) -> Any:
        """One step over every parameter with a `.grad`; returns the closure's loss."""
        loss = _run_closure(closure)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    state = self.state[p]
                    if len(state) == 0:
                        state.update(self._new_state(p, group))
                    self._update(state, p, group)
        return loss

    def _buffers(self, group: dict) -> tuple[str, ...]:
        return self._BUFFERS

    def _new_state(self, param: Tensor, group: dict) -> dict[str, Tensor]:
        return {"step": _step_tensor(0.0),
                **{name: zeros_like(param) for name in self._buffers(group)}}

    def _update(self, state: dict, param: Tensor, group: dict) -> None:
        raise NotImplementedError
