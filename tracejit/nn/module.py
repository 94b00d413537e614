"""`Parameter`, `Module` and the containers, with torch.nn's semantics.

A Module keeps its parameters, buffers and children in three ordered dicts filled by
`__setattr__`; every walk (named_parameters, state_dict, train, to, repr) goes through them in
registration order, so names, keys and reprs match torch's for the same model.
"""

from __future__ import annotations

from collections import OrderedDict, namedtuple
from collections.abc import Iterator, Mapping
from itertools import chain
from typing import Any, Self

import numpy as np

from tracejit.autograd import no_grad
from tracejit.creation import empty
from tracejit.dispatch import alias
from tracejit.functions import parse_to_args
from tracejit.ir import Size
from tracejit.tensor import Tensor, check_device

__all__ = ["Module", "ModuleDict", "ModuleList", "Parameter", "Sequential"]


class Parameter(Tensor):
    """A Tensor that a Module registers as a parameter; it shares memory with `data`."""

    __slots__ = ()

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True):
        if data is None:
            data = empty(0)
        elif not isinstance(data, Tensor):
            raise TypeError(f"Parameter(): expected a tracejit Tensor, got {type(data).__name__}")
        param = cls._wrap(data._data)
        param.requires_grad = requires_grad
        return alias(param, data)

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True):
        pass

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol):
        # torch pickles a parameter's user attributes (its deepcopy drops them)
        return Parameter, (Tensor._wrap(self._data), self.requires_grad), self.__dict__ or None

    def __deepcopy__(self, memo):
        copy = Parameter(Tensor._wrap(self._data.copy()), self.requires_grad)
        memo[id(self)] = copy
        return copy


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What load_state_dict(strict=False) returns."""

    __slots__ = ()

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


class RemovableHandle:
    """Returned by the register_*_hook methods; `remove()` unregisters the hook."""

    _next_id = 0

    def __init__(self, hooks: dict):
        self.hooks, self.id = hooks, RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self) -> None:
        self.hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _typename(obj) -> str:
    """torch.typename: the qualified class name shown in registration errors."""
    if isinstance(obj, Tensor):
        return "tracejit.Tensor"
    module = type(obj).__module__
    name = type(obj).__qualname__
    return name if module in ("", "builtins") else f"{module}.{name}"


def _addindent(text: str, spaces: int) -> str:
    """Indent every line of `text` but the first by `spaces`."""
    first, *rest = text.split("\n")
    return "\n".join([first, *(" " * spaces + line for line in rest)])


def _check_name(kind: str, name, module: Module, table: dict) -> None:
    """torch's checks on a parameter or buffer name."""
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string. Got {_typename(name)}")
    if "." in name:
        raise KeyError(f"{kind} name can't contain \".\"")
    if name == "":
        raise KeyError(f"{kind} name can't be empty string \"\"")
    if hasattr(module, name) and name not in table:
        raise KeyError(f"attribute '{name}' already exists")


def _as_loadable(value):
    """A tracejit Tensor for a state_dict value (Tensor, ndarray, or anything with __array__)."""
    if isinstance(value, Tensor):
        return value
    if hasattr(value, "detach") and hasattr(value, "__array__"):
        value = value.detach()  # a torch tensor that requires grad refuses __array__
    if isinstance(value, np.ndarray) or hasattr(value, "__array__"):
        return Tensor._from_array(np.asarray(value))
    return None


def _is_torch_module(obj) -> bool:
    """Whether `obj` is a real torch.nn.Module (einops' layers are), found without importing
    torch."""
    return any(c.__name__ == "Module" and c.__module__ == "torch.nn.modules.module"
               for c in type(obj).__mro__)


def _is_module_like(obj) -> bool:
    """What a container or attribute may hold as a child: ours, or a torch.nn.Module."""
    return isinstance(obj, Module) or _is_torch_module(obj)


def _ours(module) -> bool:
    return isinstance(module, Module)


class Module:
    """Base class of all layers and models: subclass it, assign parameters, sub-modules and
    buffers as attributes in `__init__`, and define `forward`."""

    training: bool
    _version: int = 1

    def __init__(self, *args, **kwargs):
        if args or kwargs:
            raise TypeError(f"{type(self).__name__}.__init__() got unexpected arguments")
        for name, value in (("training", True), ("_parameters", OrderedDict()),
                            ("_buffers", OrderedDict()), ("_non_persistent_buffers_set", set()),
                            ("_modules", OrderedDict()), ("_forward_hooks", OrderedDict()),
                            ("_forward_pre_hooks", OrderedDict()),
                            ("_load_state_dict_pre_hooks", OrderedDict()),
                            ("_load_state_dict_post_hooks", OrderedDict())):
            object.__setattr__(self, name, value)

    def forward(self, *args, **kwargs) -> Any:
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function'
        )

    def __call__(self, *args, **kwargs) -> Any:
        with_kwargs = self.__dict__.get("_hooks_with_kwargs", ())
        for key, hook in list(self._forward_pre_hooks.items()):
            if key in with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError("forward pre-hook must return None or a tuple of "
                                           f"(new_args, new_kwargs), but got {result}.")
                    args, kwargs = result
                continue
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        output = self.forward(*args, **kwargs)
        for key, hook in list(self._forward_hooks.items()):
            result = (hook(self, args, kwargs, output) if key in with_kwargs
                      else hook(self, args, output))
            if result is not None:
                output = result
        return output

    def _add_hook(self, table: dict, hook, prepend: bool, with_kwargs: bool) -> RemovableHandle:
        handle = RemovableHandle(table)
        table[handle.id] = hook
        if prepend:
            table.move_to_end(handle.id, last=False)
        if with_kwargs:
            self.__dict__.setdefault("_hooks_with_kwargs", set()).add(handle.id)
        return handle

    def register_forward_pre_hook(self, hook, *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """hook(module, args) runs before forward; a non-None result replaces the args.
        with_kwargs=True: hook(module, args, kwargs) returns None or (args, kwargs)."""
        return self._add_hook(self._forward_pre_hooks, hook, prepend, with_kwargs)

    def register_forward_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False) -> RemovableHandle:
        """hook(module, args, output) runs after forward; a non-None result replaces output
        (with_kwargs=True: hook(module, args, kwargs, output))."""
        return self._add_hook(self._forward_hooks, hook, prepend, with_kwargs)

    # --- registration ---------------------------------------------------------------------
    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a buffer: state that is not a parameter (running stats); in state_dict if
        `persistent`."""
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        _check_name("buffer", name, self, self._buffers)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{_typename(tensor)}' object to buffer '{name}' "
                            "(torch Tensor or None required)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        _check_name("parameter", name, self, self._parameters)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{_typename(param)}' object to parameter '{name}' "
                            "(torch.nn.Parameter or None required)")
        self._parameters[name] = param

    def add_module(self, name: str, module: Module | None) -> None:
        if not _is_module_like(module) and module is not None:
            raise TypeError(f"{_typename(module)} is not a Module subclass")
        if not isinstance(name, str):
            raise TypeError(f"module name should be a string. Got {_typename(name)}")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        if "." in name:
            raise KeyError(f"module name can't contain \".\", got: {name}")
        if name == "":
            raise KeyError("module name can't be empty string \"\"")
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target: str) -> Module:
        """The sub-module at a dotted path such as 'encoder.0.attn'."""
        module = self
        for item in target.split(".") if target else ():
            if not hasattr(module, item):
                raise AttributeError(f"{module._get_name()} has no attribute `{item}`")
            module = getattr(module, item)
            if not isinstance(module, Module):
                raise AttributeError(f"`{item}` is not an nn.Module")
        return module

    def __getattr__(self, name: str) -> Any:
        for table in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(table)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __setattr__(self, name: str, value) -> None:
        params = self.__dict__.get("_parameters")
        if getattr(value, "_is_buffer", False) and isinstance(value, Tensor):  # nn.Buffer
            if params is None:
                raise AttributeError("cannot assign buffer before Module.__init__() call")
            self._remove(name, self.__dict__, params, self._modules)
            self.register_buffer(name, value, value.persistent)
        elif isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._remove(name, self.__dict__, self._buffers, self._modules)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{_typename(value)}' as parameter '{name}' "
                                "(torch.nn.Parameter or None expected)")
            self.register_parameter(name, value)
        else:
            self._set_module_or_buffer(name, value)

    def _set_module_or_buffer(self, name: str, value) -> None:
        modules, buffers = self.__dict__.get("_modules"), self.__dict__.get("_buffers")
        if _is_module_like(value):
            if modules is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._remove(name, self.__dict__, self._parameters, self._buffers)
            modules[name] = value
        elif modules is not None and name in modules:
            if value is not None:
                raise TypeError(f"cannot assign '{_typename(value)}' as child module '{name}' "
                                "(torch.nn.Module or None expected)")
            modules[name] = value
        elif buffers is not None and name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{_typename(value)}' as buffer '{name}' "
                                "(torch.nn.Buffer, torch.Tensor or None expected)")
            buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _remove(self, name: str, *tables: dict) -> None:
        for table in tables:
            table.pop(name, None)
        self._non_persistent_buffers_set.discard(name)

    def __delattr__(self, name: str) -> None:
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._buffers:
            del self._buffers[name]
            self._non_persistent_buffers_set.discard(name)
        elif name in self._modules:
            del self._modules[name]
        else:
            object.__delattr__(self, name)

    def __dir__(self):
        keys = [*dir(type(self)), *self.__dict__, *self._parameters, *self._modules,
                *self._buffers]
        return sorted(key for key in keys if not key[0].isdigit())

    # --- walks -----------------------------------------------------------------------------
    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """(dotted name, module) for this module and every descendant, depth first."""
        memo = set() if memo is None else memo
        if self in memo:
            return
        if remove_duplicate:
            memo.add(self)
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            child_prefix = prefix + ("." if prefix else "") + name
            if _ours(module):
                yield from module.named_modules(memo, child_prefix, remove_duplicate)
            elif module not in memo:  # a torch module: listed, its insides are torch's
                if remove_duplicate:
                    memo.add(module)
                yield child_prefix, module

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen = set()
        for name, module in self._modules.items():
            if module is not None and module not in seen:
                seen.add(module)
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def _named_members(self, table: str, prefix: str, recurse: bool, remove_duplicate: bool):
        seen = set()
        modules = (self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
                   if recurse else [(prefix, self)])
        for module_prefix, module in modules:
            if not _ours(module):
                continue
            for name, value in getattr(module, table).items():
                if value is None or id(value) in seen:
                    continue
                if remove_duplicate:
                    seen.add(id(value))
                yield module_prefix + ("." if module_prefix else "") + name, value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs in registration order, shared ones once."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    # --- state ------------------------------------------------------------------------------
    def state_dict(self, *, destination=None, prefix: str = "",
                   keep_vars: bool = False) -> dict[str, Any]:
        """An OrderedDict of parameters and persistent buffers under torch's dotted keys."""
        if destination is None:
            destination = OrderedDict()
            destination._metadata = OrderedDict()
        hooks = self.__dict__.get("_state_dict_hooks", {})
        for hook in list(self.__dict__.get("_state_dict_pre_hooks", {}).values()):
            hook(self, prefix, keep_vars)
        metadata = getattr(destination, "_metadata", None)
        local_metadata = {"version": self._version}
        if metadata is not None:
            metadata[prefix[:-1]] = local_metadata
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else param.detach()
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = buf if keep_vars else buf.detach()
        for name, module in self._modules.items():
            if _ours(module):
                module.state_dict(destination=destination, prefix=f"{prefix}{name}.",
                                  keep_vars=keep_vars)
        for hook in list(hooks.values()):
            result = hook(self, destination, prefix, local_metadata)
            destination = destination if result is None else result
        return destination

    def _register_state_dict_hook(self, hook) -> RemovableHandle:
        """hook(module, state_dict, prefix, local_metadata) runs once this module's entries
        (and its children's) are in; a non-None result replaces the state_dict."""
        return self._add_hook(self.__dict__.setdefault("_state_dict_hooks", OrderedDict()),
                              hook, False, False)

    register_state_dict_post_hook = _register_state_dict_hook

    def register_state_dict_pre_hook(self, hook) -> RemovableHandle:
        """hook(module, prefix, keep_vars) runs before this module adds its entries."""
        return self._add_hook(self.__dict__.setdefault("_state_dict_pre_hooks", OrderedDict()),
                              hook, False, False)

    def load_state_dict(self, state_dict: Mapping, strict: bool = True,
                        assign: bool = False) -> _IncompatibleKeys:
        """Copy `state_dict`'s values into this module's tensors in place (references stay
        valid). Values may be Tensors, numpy arrays or anything with `__array__`."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing, unexpected, errors = [], [], []
        metadata = getattr(state_dict, "_metadata", None)
        state_dict = OrderedDict(state_dict)
        if metadata is not None:
            state_dict._metadata = metadata
        _load_tree(self, state_dict, "", strict, (missing, unexpected, errors))
        if strict and unexpected:
            errors.insert(0, "Unexpected key(s) in state_dict: {}. ".format(
                ", ".join(f'"{k}"' for k in unexpected)))
        if strict and missing:
            errors.insert(0, "Missing key(s) in state_dict: {}. ".format(
                ", ".join(f'"{k}"' for k in missing)))
        if errors:
            raise RuntimeError("Error(s) in loading state_dict for {}:\n\t{}".format(
                type(self).__name__, "\n\t".join(errors)))
        return _IncompatibleKeys(missing, unexpected)

    def _local_state(self) -> dict[str, Tensor]:
        buffers = ((k, v) for k, v in self._buffers.items()
                   if k not in self._non_persistent_buffers_set)
        return {k: v for k, v in chain(self._parameters.items(), buffers) if v is not None}

    def _register_load_state_dict_pre_hook(self, hook, with_module: bool = False):
        """hook(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
        error_msgs) runs before this module loads (with the module first if with_module)."""
        handle = RemovableHandle(self._load_state_dict_pre_hooks)
        self._load_state_dict_pre_hooks[handle.id] = (
            (lambda *args: hook(self, *args)) if with_module else hook)
        return handle

    def register_load_state_dict_pre_hook(self, hook) -> RemovableHandle:
        """hook(module, state_dict, prefix, local_metadata, strict, missing, unexpected,
        errors) runs before this module loads its entries."""
        return self._register_load_state_dict_pre_hook(hook, with_module=True)

    def register_load_state_dict_post_hook(self, hook) -> RemovableHandle:
        """hook(module, incompatible_keys) runs after load_state_dict has loaded this module."""
        handle = RemovableHandle(self._load_state_dict_post_hooks)
        self._load_state_dict_post_hooks[handle.id] = hook
        return handle

    @no_grad()
    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs) -> None:
        """Load this module's own entries; record missing, unexpected and failed keys (torch's
        signature, which library subclasses override and call)."""
        for hook in list(self._load_state_dict_pre_hooks.values()):
            hook(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                 error_msgs)
        missing, unexpected, errors = missing_keys, unexpected_keys, error_msgs
        local = self._local_state()
        for name, param in local.items():
            key = prefix + name
            if key not in state_dict:
                missing.append(key)
            else:
                error = _copy_into(key, param, state_dict[key])
                errors.extend([error] if error else [])
        for key in state_dict if strict else ():
            if not key.startswith(prefix):
                continue
            head, *rest = key[len(prefix):].split(".", 1)
            if (head not in self._modules) if rest else (head not in local):
                unexpected.append(key)

    # --- modes and conversion ---------------------------------------------------------------
    def train(self, mode: bool = True) -> Self:
        """Set training mode here and in every descendant; returns self."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self) -> Self:
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Self:
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """A no-op until autograd lands: parameters hold no gradients yet."""

    def apply(self, fn) -> Self:
        """Call `fn` on every descendant (children first), then on self; returns self."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    @no_grad()
    def _apply(self, fn):
        """Replace every parameter's data and every buffer by `fn` of it."""
        for module in self.children():
            if _ours(module):
                module._apply(fn)
        for param in self._parameters.values():
            if param is not None:
                param.data = fn(param)
        for name, buf in self._buffers.items():
            if buf is not None:
                self._buffers[name] = fn(buf)
        return self

    def to(self, *args, **kwargs) -> Self:
        """to(dtype), to('cpu'), to(tensor): casts floating-point parameters and buffers."""
        dtype, _ = parse_to_args(None, args, dict(kwargs))
        if dtype is not None and not dtype.is_floating_point:
            raise TypeError("nn.Module.to only accepts floating point or complex dtypes, but "
                            f"got desired dtype={dtype}")
        if dtype is None:
            return self
        return self._apply(lambda t: t.to(dtype) if t.is_floating_point() else t)

    def float(self) -> Self:
        return self._apply(lambda t: t.float() if t.is_floating_point() else t)

    def double(self) -> Self:
        return self._apply(lambda t: t.double() if t.is_floating_point() else t)

    def half(self) -> Self:
        return self._apply(lambda t: t.half() if t.is_floating_point() else t)

    def cpu(self) -> Self:
        return self

    def cuda(self, device=None) -> Self:
        check_device("cuda")

    # --- printing ---------------------------------------------------------------------------
    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        """The text inside this module's parentheses in repr; override in layers."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({key}): {_addindent(repr(module), 2)}"
                       for key, module in self._modules.items()]
        lines = extra_lines + child_lines
        body = ""
        if len(extra_lines) == 1 and not child_lines:
            body = extra_lines[0]
        elif lines:
            body = "\n  " + "\n  ".join(lines) + "\n"
        return f"{self._get_name()}({body})"


def _load_tree(module: Module, state_dict, prefix: str, strict: bool, found: tuple) -> None:
    """torch's recursive load: the module loads (and may rewrite) its entries, then each child
    gets the entries under its prefix; post hooks run once the subtree is loaded."""
    metadata = getattr(state_dict, "_metadata", None)
    local_metadata = {} if metadata is None else metadata.get(prefix[:-1], {})
    module._load_from_state_dict(state_dict, prefix, local_metadata, True, *found)
    for name, child in module._modules.items():
        if _ours(child):
            child_prefix = f"{prefix}{name}."
            child_state = OrderedDict((k, v) for k, v in state_dict.items()
                                      if k.startswith(child_prefix))
            if metadata is not None:
                child_state._metadata = metadata
            _load_tree(child, child_state, child_prefix, strict, found)
    if module._load_state_dict_post_hooks:
        keys = _IncompatibleKeys(found[0], found[1])
        for hook in list(module._load_state_dict_post_hooks.values()):
            hook(module, keys)


def _copy_into(key: str, param: Tensor, value) -> str | None:
    """Copy one state_dict value into `param`; the error line to report, or None."""
    source = _as_loadable(value)
    if source is None:
        return (f'While copying the parameter named "{key}", expected torch.Tensor or '
                f"Tensor-like object from checkpoint but received {type(value)}")
    if param.ndim == 0 and tuple(source.shape) == (1,):
        source = source.reshape(())
    if tuple(source.shape) != tuple(param.shape):
        return (f"size mismatch for {key}: copying a param with shape {Size(source.shape)} "
                f"from checkpoint, the shape in current model is {param.shape}.")
    try:
        param.copy_(source)
    except Exception as e:
        return (f'While copying the parameter named "{key}", whose dimensions in the model are '
                f"{param.shape} and whose dimensions in the checkpoint are {source.shape}, an "
                f"exception occurred : {e.args}.")
    return None


# the containers live in their own file; re-exported here, where callers have imported them from
from tracejit.nn.containers import ModuleDict, ModuleList, Sequential  # noqa: E402
