"""Nested tuples, lists, dicts and namedtuples of Tensors, flattened to a list of Tensors and a
hashable structure that rebuilds them (JAX's pytrees, cut down to what tracing needs).

Anything that is not a Tensor or a container is a static leaf: it is part of the structure, so
a traced callable specialises on its value (`f(x, 2)` and `f(x, 3)` are two traces).
"""

from __future__ import annotations

import re
import types
from typing import Any

from tracejit.ir import DType
from tracejit.tensor import Tensor

TENSOR = ("tensor",)


class Static:
    """Any Python object passed through a graph's structure by identity (a module, a function,
    a config object handed between compiled regions): equal only to a Static of that object."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __eq__(self, other) -> bool:
        return type(other) is Static and other.value is self.value

    def __hash__(self) -> int:
        return id(self.value)

    def __repr__(self) -> str:
        return f"<{type(self.value).__name__} object>"


# a Python module passed in (`f(F, x)` with F = nn.functional) is static by identity
STATIC_TYPES = (int, float, bool, str, bytes, type(None), complex, types.ModuleType, Static)


def flatten(tree, path: str = "") -> tuple[list[Tensor], Any, list[str]]:
    """(tensor leaves, structure, a readable name for each leaf) of `tree`."""
    leaves: list[Tensor] = []
    names: list[str] = []
    structure = _flatten(tree, path, leaves, names)
    return leaves, structure, names


def _flatten(node, path: str, leaves: list, names: list):
    if isinstance(node, Tensor):
        leaves.append(node)
        names.append(path or f"t{len(leaves) - 1}")
        return TENSOR
    if isinstance(node, tuple) and hasattr(node, "_fields"):
        children = tuple(_flatten(v, _join(path, f), leaves, names)
                         for f, v in zip(node._fields, node))
        return ("namedtuple", type(node), children)
    if isinstance(node, (tuple, list)):
        children = tuple(_flatten(v, _join(path, str(i)), leaves, names)
                         for i, v in enumerate(node))
        return (type(node).__name__, children)
    if isinstance(node, dict):
        keys = list(node)  # insertion order: a dict with its keys in another order retraces
        children = tuple(_flatten(node[k], _join(path, str(k)), leaves, names) for k in keys)
        return ("dict", tuple(keys), children)
    if isinstance(node, float):  # by its bits: 0.0 and -0.0 trace apart, every nan alike
        return ("float", type(node), node.hex())
    if isinstance(node, (*STATIC_TYPES, DType)):
        return ("static", type(node), node)
    raise TypeError(
        f"cannot trace an input or output of type {type(node).__name__}"
        f"{f' (at {path})' if path else ''}: tracejit traces Tensors and tuples, lists and "
        "dicts of them; other values must be Python numbers, strings, None, dtypes or modules"
    )


def unflatten(structure, leaves) -> Any:
    """Rebuild what `flatten` took apart, with `leaves` in place of its Tensors."""
    return _unflatten(structure, iter(leaves))


def _unflatten(node, it):
    kind = node[0]
    if kind == "tensor":
        return next(it)
    if kind == "static":
        return node[2]
    if kind == "float":
        return node[1](float.fromhex(node[2]))
    if kind == "namedtuple":
        return node[1](*(_unflatten(c, it) for c in node[2]))
    if kind == "dict":
        return {k: _unflatten(c, it) for k, c in zip(node[1], node[2])}
    items = [_unflatten(c, it) for c in node[1]]
    return tuple(items) if kind == "tuple" else items


def render(structure, types) -> str:
    """The structure with each Tensor shown as its type: `(float32[2,3], {'a': int64[4]})`."""
    it = iter(types)
    return _render(structure, it)


def render_arguments(structure, types) -> str:
    """A call's bound arguments (a dict structure) as `(x: float32[2,3], n: 2)`."""
    it = iter(types)
    names, children = structure[1], structure[2]
    return "(" + ", ".join(f"{k}: {_render(c, it)}" for k, c in zip(names, children)) + ")"


def _render(node, it) -> str:
    kind = node[0]
    if kind == "tensor":
        return str(next(it))
    if kind in ("static", "float"):
        return repr(_unflatten(node, it))
    if kind == "dict":
        return "{" + ", ".join(f"{k!r}: {_render(c, it)}" for k, c in zip(node[1], node[2])) + "}"
    children = node[2] if kind == "namedtuple" else node[1]
    parts = [_render(c, it) for c in children]
    if kind == "list":
        return "[" + ", ".join(parts) + "]"
    name = node[1].__name__ if kind == "namedtuple" else ""
    return name + "(" + ", ".join(parts) + ("," if len(parts) == 1 and not name else "") + ")"


def _join(path: str, part: str) -> str:
    part = re.sub(r"\W", "_", part)
    return f"{path}_{part}" if path else part

