"""Script mode's Python state: lists the scripted code builds and module attributes it assigns.

Python containers are values the scripter tracks at scripting time: `hs = []` then
`hs.append(h)` in a loop builds a list of symbolic tensors that `torch.stack(hs)` turns into one
op, as TorchScript's lists do. Only containers the scripted code made may change (a global,
an argument or an attribute would change once, at scripting time), and only where the code
runs once per call: inside a block on a tensor value (an `if`, a `for` or `while` op) the body
is recorded once for any number of runs, so there only containers made in the same block may
change. A `for` over a static range whose body grows an outer list is unrolled instead
(script_flow.for_range); over an int argument, the function is scripted again with it static.

`self.attr = tensor` in a scripted forward becomes an extra graph output written back to the
attribute after each call; during scripting the attribute holds the symbolic tensor (so later
reads in the same call see it) and gets its old value back when scripting ends.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Any

from tracejit.nn.module import Module
from tracejit.script_source import MISSING, MUTABLE
from tracejit.tensor import Tensor

if TYPE_CHECKING:
    from tracejit.scripting import Frame

_GROW_HINT = ("loop over range() with a bound known when scripting (a Python int or a shape: "
              "the loop is unrolled), or write rows into a preallocated tensor (out[t] = h)")


class PythonState:
    """The container and attribute half of the Scripter (see scripting.py)."""

    def init_state(self) -> None:
        self.owned: dict[int, tuple[object, int]] = {}  # id(container) -> (it, dynamic depth)
        self.attr_writes: list[tuple[object, str, object]] = []  # (obj, name, value before)
        self.attr_reads: set[tuple[int, str]] = set()  # plain tensor attributes read
        # the Python values the code read that the graph bakes in: (kind, id, name) -> Guard
        self.guards: dict[tuple, Guard] = {}

    def made(self, container) -> Any:
        """`container` was built here (a list or dict display, a comprehension)."""
        self.owned[id(container)] = (container, self.dynamic_depth)
        return container

    def check_mutation(self, container, f: Frame, node, what: str) -> None:
        """Refuse a change to a Python container the scripted code did not make (it would
        happen once, at scripting time), or that a tensor-dependent block would record once
        for any number of runs (the list would not grow per run)."""
        entry = self.owned.get(id(container))
        if entry is None or entry[0] is not container:
            raise f.source.error(node, f"{what} changes a {type(container).__name__} the "
                                       "scripted code did not make (a global, an argument or "
                                       "an attribute): the graph cannot replay it",
                                 "build the container inside the function, or return the "
                                 "values")
        if self.dynamic_depth == 0 or entry[1] == self.dynamic_depth:
            return  # runs once per call, or made inside this same block (built afresh)
        raise f.source.error(node, f"{what} changes a {type(container).__name__} made outside "
                                   "this loop or if on a tensor value: the graph records the "
                                   "block once, so the container cannot grow per iteration",
                             _GROW_HINT, escape=True)

    # --- module attributes ----------------------------------------------------------------------
    def read_attribute(self, obj, name: str, value) -> Any:
        """Note a plain tensor attribute of a module (baked in as a constant when read)."""
        if isinstance(obj, Module) and isinstance(value, Tensor) and \
                name not in obj._parameters and name not in obj._buffers:
            self.attr_reads.add((id(obj), name))
        return value

    # --- guards: Python values baked into the graph, checked on each call ---------------------
    def guard_name(self, scope, name: str, value, cell=None) -> None:
        """A global (`scope` is the function's globals) or closure variable (`cell`) read:
        numbers and strings by value, anything else (a function, a tensor baked in as a
        constant, a list) by identity: rebinding the name is seen, mutating it in place not."""
        if getattr(self, "compile_mode", False) and isinstance(value, MUTABLE):
            self.guard_contents(value, f"`{name}`")
        if cell is not None:
            self.guards.setdefault(("cell", id(cell), name), Guard(
                _cell_reader(cell), value, f"`{name}` (a closure variable)"))
        elif isinstance(scope, dict):
            self.guards.setdefault(("global", id(scope), name), Guard(
                _dict_reader(scope, name), value, f"`{name}` (a global)"))

    def guard_attribute(self, obj, name: str, value, node=None) -> None:
        """An attribute read (`self.scale`, `config.eps`, `self.training`); `node` is the
        expression that read it (named in recompile messages)."""
        if getattr(self, "compile_mode", False) and isinstance(value, MUTABLE) and \
                id(value) not in self.owned:
            self.guard_contents(value, f"`{_text(node) or name}`")
        if isinstance(obj, Tensor) or isinstance(value, Tensor) or not _guardable(value) or \
                any(o is obj and n == name for o, n, _ in self.attr_writes):
            return  # tensors are inputs or constants; an attribute the code wrote is its own
        if not _immutable(value) and not isinstance(obj, (Module, types.ModuleType)):
            return  # only numbers and such are baked from arbitrary objects
        text = _text(node) or f"{type(obj).__name__}.{name}"
        self.guards.setdefault(("attr", id(obj), name), Guard(
            _attr_reader(obj, name), value, f"`{text}`"))

    def guard_contents(self, container, what: str) -> None:
        """Under compile: a list, dict, set or deque the code reads but did not make (a
        global, a closure's, an attribute) is guarded on its contents too (its length and its
        items: numbers and strings by value, other objects by identity), so a graph that
        baked `len(log)` or `cfg["dim"]` compiles again when they change."""
        key = ("contents", id(container), "")
        if key not in self.guards and id(container) not in self.owned:
            self.guards[key] = Guard(lambda: _contents(container), _contents(container),
                                     f"the contents of {what}")

    def write_attribute(self, obj, name: str, value, f: Frame, node) -> None:
        """`obj.name = value` in scripted code: a tensor on a module becomes a graph output
        written back after each call; an immutable Python value (None, a number, a string, a
        tuple of them), known when scripting, is written back as it is."""
        if _holds_number_argument(value):  # an int/float argument: script again, static
            raise f.source.error(node, f"a Python number assigned to the attribute .{name}",
                                 escape=True)
        if getattr(self, "compile_mode", False) and not isinstance(value, Tensor) and (
                ("attr", id(obj), name) in self.guards or not _immutable(value)
                or not isinstance(obj, Module)):
            # a value computed from what the code read of it (`self.calls += 1`) would
            # recompile on every call; a constant (`self.last_loss = None`) is written back
            raise f.source.error(node, f"assigning the Python value {_brief(value)} to the "
                                       f"attribute .{name}: Python state changes every call")
        if not isinstance(obj, Module) or not (isinstance(value, Tensor) or _immutable(value)):
            what = "a tensor" if isinstance(value, Tensor) else type(value).__name__
            raise f.source.error(node, f"assigning {what} to the attribute .{name} of a "
                                       f"{type(obj).__name__} mutates Python state the graph "
                                       "cannot replay",
                                 "module attributes may be assigned tensors, None, numbers, "
                                 "strings and tuples of them; keep other values in local "
                                 "variables")
        if self.dynamic_depth:
            raise f.source.error(node, f"assigning the attribute .{name} inside a loop or if on "
                                       "a tensor value: the write-back after the call needs one "
                                       "value",
                                 "assign a local variable in the block and the attribute "
                                 "after it", escape=True)
        if (id(obj), name) in self.attr_reads:
            raise f.source.error(node, f".{name} is read earlier in this call and assigned "
                                       "here: script would bake the value it read in as a "
                                       "constant, so later calls would not see this write",
                                 "register it as a buffer (self.register_buffer(name, t)) so "
                                 "each call reads its current value, or pass it as an argument")
        self.attr_writes.append((obj, name, getattr(obj, name, MISSING)))
        setattr(obj, name, value)

    def written_attributes(self) -> list[tuple[object, str]]:
        """Each (object, attribute) the call assigns, once, in first-write order."""
        seen: dict[tuple[int, str], tuple[object, str]] = {}
        for obj, name, _ in self.attr_writes:
            seen.setdefault((id(obj), name), (obj, name))
        return list(seen.values())

    def restore_attributes(self) -> None:
        """Give every assigned attribute the value it had before scripting."""
        for obj, name, old in reversed(self.attr_writes):
            if old is MISSING:
                delattr(obj, name)
            else:
                setattr(obj, name, old)
        self.attr_writes.clear()


class Guard:
    """A Python value the scripted code read when it was scripted; `changed()` at each call."""

    __slots__ = ("identity", "read", "value", "what")

    def __init__(self, read: Callable[[], Any], value, what: str):
        self.read, self.value, self.what = read, value, what
        self.identity = not _immutable(value)  # a module, function, class: the same object

    def changed(self) -> bool:
        now = self.read()
        if now is self.value:
            return False
        return self.identity or not _same_value(now, self.value)


def _contents(container) -> tuple:
    """A container's contents as a guard compares them: its type, length and items (keys and
    values of a dict), immutable ones by value, others by identity."""
    items = container.items() if isinstance(container, dict) else container
    if isinstance(container, set):
        items = sorted(items, key=repr)
    return (type(container).__name__, len(container), tuple(
        _item(i) for i in items))


def _item(item):
    if isinstance(item, tuple):
        return tuple(map(_item, item))
    return item if _immutable(item) else ("id", id(item))


def _text(node) -> str:
    """The source text of a short expression (`self.scale`), or ""."""
    if node is None:
        return ""
    import ast
    text = ast.unparse(node)
    return text if len(text) <= 60 else ""


def _brief(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else type(value).__name__


def _same_value(a, b) -> bool:
    """Equal as the graph baked them: -0.0 differs from 0.0 (it divides to -inf), NaN is NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (a == b and math.copysign(1.0, a) == math.copysign(1.0, b)) or (a != a and b != b)
    if isinstance(a, tuple):
        return len(a) == len(b) and all(map(_same_value, a, b))
    return a == b


def _guardable(value) -> bool:
    """Values whose change makes the graph stale: numbers, strings, tuples of them; modules,
    functions and classes (a rebound name). Not bound methods, made afresh on each read."""
    return _immutable(value) or isinstance(value, (types.FunctionType, types.ModuleType, type,
                                                   Module, types.BuiltinFunctionType, Enum))


def _dict_reader(scope: dict, name: str) -> Callable[[], Any]:
    return lambda: scope.get(name, MISSING)


def _cell_reader(cell) -> Callable[[], Any]:
    def read():
        try:
            return cell.cell_contents
        except ValueError:  # emptied
            return MISSING
    return read


def _attr_reader(obj, name: str) -> Callable[[], Any]:
    if isinstance(obj, Module):  # the dict the value is in: no __getattr__ fallback per call
        for where in (obj.__dict__, obj._modules):
            if name in where:
                return lambda: where.get(name, MISSING)
    return lambda: getattr(obj, name, MISSING)


def _immutable(value) -> bool:
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return all(isinstance(v, Tensor) or _immutable(v) for v in value)
    return value is None or type(value) in (bool, int, float, str)


def _holds_number_argument(value) -> bool:
    if isinstance(value, tuple):
        return any(_holds_number_argument(v) for v in value)
    return hasattr(value, "py_type")

