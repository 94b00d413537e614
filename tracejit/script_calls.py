"""Which calls `tracejit.compile` captures and which run as Python (a graph break).

`tracejit.script` runs a library call it meets once, while scripting, and bakes its result in:
right for pure code (`math.sqrt(d)`, a shape helper), wrong for a side effect that must happen on
every call (`warnings.warn`, `logging.info`, `random.random()`, `time.time()`). Under compile,
a call is captured only where it is known to be pure: tracejit's own functions (tensor ops),
the pure builtins, `math`, `operator`, `functools`, `itertools`, numpy functions on Python
values (not `numpy.random`), constructors of classes, methods of numbers and strings, and
einops (its ops reach tracejit's). Anything else, and any non-tracejit call given a tensor,
runs as Python.
"""

from __future__ import annotations

import builtins
import types

import numpy as np

from tracejit.nn.module import Module
from tracejit.tensor import Tensor

_PURE_BUILTINS = frozenset(getattr(builtins, n) for n in (
    "abs", "all", "any", "bool", "callable", "chr", "dict", "divmod", "enumerate", "filter",
    "float", "format", "frozenset", "getattr", "hasattr", "hash", "int", "isinstance",
    "issubclass", "iter", "len", "list", "map", "max", "min", "next", "object", "ord", "pow",
    "range", "repr", "reversed", "round", "set", "slice", "sorted", "str", "sum", "super",
    "tuple", "type", "zip"))
_PURE_MODULES = ("tracejit", "math", "operator", "functools", "itertools", "einops",
                 "collections", "typing", "numbers", "enum", "dataclasses", "copy", "_operator",
                 "_functools", "string", "re")
_VALUE_TYPES = (str, int, float, bool, tuple, list, dict, set, frozenset, bytes, type(None))


def _module_of(func) -> str:
    module = getattr(func, "__module__", None)
    if module is None:
        owner = getattr(func, "__self__", None)
        module = getattr(type(owner), "__module__", "") if owner is not None else ""
    return module or ""


def python_only_call(func, args, kwargs) -> str:
    """Why calling `func` must run as Python under tracejit.compile, or "" (captured)."""
    try:
        if func in _PURE_BUILTINS:
            if func in (str, repr, format) and any(isinstance(a, Tensor) for a in args):
                return f"{func.__name__}() of a tensor needs its values"
            return ""
    except TypeError:  # an unhashable callable
        pass
    if isinstance(func, type):
        return ""  # a constructor: a namedtuple, a dataclass, a config object
    if isinstance(func, Module):
        return ""  # a layer from a library: its forward runs under the capture
    owner = getattr(func, "__self__", None)
    if isinstance(owner, Tensor) or (isinstance(func, types.BuiltinMethodType)
                                     and isinstance(owner, _VALUE_TYPES)):
        return ""  # a tensor method; a method of a number, string or container (mutations
        # of containers are checked where they happen)
    module = _module_of(func)
    root = module.split(".")[0]
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)
    if root in _PURE_MODULES:
        return ""
    if root == "numpy" and not module.startswith("numpy.random"):
        arrays = [a for a in (*args, *kwargs.values()) if isinstance(a, (Tensor, np.ndarray))]
        return f"a call into numpy ({name}) on arrays: numpy code runs as Python" \
            if arrays else ""
    where = f"{module}.{name}" if module and module != "builtins" else name
    if func is print:
        return "print() writes output: a Python side effect on every call"
    return (f"a call to {where}: code outside tracejit that may have side effects (it runs "
            "as Python on every call)")
