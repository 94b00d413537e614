"""What a traced callable depends on besides its arguments, checked cheaply on each call.

`tracejit.trace` runs the Python code once, so every Python value that code read is baked into
the graph. `collect` finds the values a trace may have read:

- the plain attributes (numbers, strings, None, tuples of them) of every submodule of a traced
  module, `training` aside (it is part of the cache key), and which submodules it has;
- the globals and closure variables named by the traced code (its forward, for a module) and
  by the user code that names, found from the bytecode: functions it loads from globals or
  closures, methods it names on `self` (`self.helper(x)`, properties), plain class attributes
  it names (`self.scale` held by the class), attributes of user modules it loads
  (`config.SCALE`), and the attributes and code of modules held by globals or closures.

Plain values are compared by value, anything else by identity (rebinding a name is seen,
mutating a list or a tensor in place is not). `Guards.changed()` reads them all again at each
call and compares by identity first (one list and one C-level comparison); only where an
object differs does it compare values, so a number rebound to an equal number is no change,
and -0.0 differs from 0.0. A change retraces.

`ModuleLayout` is a module's parameters and buffers in graph-input order and its training
flags, walked once and kept while a snapshot of every submodule's parameter, buffer and child
tables (by identity) and training flag stays the same: the module call path reads that
snapshot instead of walking the module tree on each call.
"""

from __future__ import annotations

import dis
import functools
import itertools
import operator
import os
import sysconfig
import types
from collections.abc import Callable
from typing import Any

from tracejit.nn.module import Module
from tracejit.script_source import MISSING  # what a deleted global or emptied cell reads as
from tracejit.script_state import _cell_reader, _dict_reader, _same_value

ABSENT = object()  # a submodule that was not there

_PLAIN = (bool, int, float, complex, str, bytes)
_LIBRARY = tuple({sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib",
                                                     "platlib")})
_TRACEJIT = os.path.dirname(os.path.abspath(__file__)) + os.sep  # tracejit/ itself
_MAX_FUNCTIONS = 256  # user functions scanned per collection, at most
_TRAINING = operator.attrgetter("training")
_chain = itertools.chain.from_iterable


def is_plain(value) -> bool:
    """A Python value a trace bakes in by value: None, a number, a string, a tuple of them."""
    if type(value) is tuple:
        return all(map(is_plain, value))
    return value is None or type(value) in _PLAIN


def show(value) -> str:
    """A value as a retrace message shows it (short)."""
    if value is MISSING or value is ABSENT:
        return "deleted" if value is MISSING else "absent"
    if isinstance(value, Module):
        return type(value).__name__
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- the guards ---------------------------------------------------------------------------------
class Guards:
    """Python values a trace baked in, with how to read each again: `changed()` per call."""

    __slots__ = ("_entries", "_reads", "_tree", "values")

    def __init__(self, entries: list[tuple[str, Callable[[], Any], bool]],
                 reads: list[tuple[Callable, Any]], tree: list[tuple[str, Any]] | None = None):
        # entries: (what, read one, compared by value); reads: (getter, source) pairs whose
        # results, concatenated, are the entries' values in order (the per-call read); tree:
        # a traced module's (dotted name, submodule) pairs
        self._entries, self._reads, self._tree = entries, reads, tree
        self.values = self._read_each()

    def __len__(self) -> int:
        return len(self._entries)

    def whats(self) -> list[str]:
        """What each guard names (`self.scale`, `G`), in order."""
        return [what for what, _, _ in self._entries]

    def _read(self) -> list:
        now: list = []
        for get, source in self._reads:
            now += get(source)
        return now

    def _read_each(self) -> list:
        return [read() for _, read, _ in self._entries]

    def changed(self) -> tuple[str, Any, Any] | None:
        """(what, was, is) of the first value that changed since the trace, else None."""
        try:
            now = self._read()
        except (KeyError, ValueError):  # a name deleted, a cell emptied
            now = self._read_each()
        values = self.values
        if len(now) == len(values) and all(map(operator.is_, now, values)):
            return None
        now = self._read_each()
        for (what, _, by_value), was, value in zip(self._entries, values, now):
            if was is not value and (not by_value or not _same_value(was, value)):
                return what, was, value
        self.values = now  # equal values in new objects: compare those by identity from now
        return None

    def submodules_changed(self, root: Module) -> tuple[str, Any, Any] | None:
        """(what, was, is) of the first submodule of `root` added, removed or replaced since
        the trace, else None (checked where the module's layout changed, not per call)."""
        if self._tree is None:
            return None
        was, now = dict(self._tree), dict(_tree(root))
        for name in [*was, *(n for n in now if n not in was)]:
            if was.get(name, ABSENT) is not now.get(name, ABSENT):
                return name, was.get(name, ABSENT), now.get(name, ABSENT)
        return None


def _tree(root: Module, prefix: str = "self") -> list[tuple[str, Any]]:
    return [(f"{prefix}.{name}" if name else prefix, module)
            for name, module in root.named_modules()]


def _key_getter(keys: tuple[str, ...]) -> Callable:
    if len(keys) == 1:
        key = keys[0]
        return lambda d: (d[key],)
    return operator.itemgetter(*keys)


def _cells_getter(cells: tuple) -> list:
    return [cell.cell_contents for cell in cells]


# --- collecting ---------------------------------------------------------------------------------
class _Collector:
    """Walks a module tree and the user code it runs, gathering guard entries."""

    def __init__(self, root_globals: dict | None):
        self.root_globals = root_globals
        self.entries: list[tuple[str, Callable[[], Any], bool]] = []
        self.reads: list[tuple[Callable, Any]] = []
        self.seen_globals: set[tuple[int, str]] = set()
        self.seen_cells: set[int] = set()
        self.seen_code: set[int] = set()
        self.functions = 0
        self.tree: list[tuple[str, Any]] | None = None
        self.methods: dict[str, list[types.FunctionType]] = {}  # user module classes'
        self.classes: list[type] = []  # the user classes of the modules met
        self.seen_classes: set[int] = set()
        self.seen_modules: set[int] = set()
        self.seen_keys: set[tuple[int, str]] = set()  # (id(dict), name) already guarded

    def guards(self) -> Guards | None:
        if not self.entries and self.tree is None:
            return None
        return Guards(self.entries, self.reads, self.tree)

    # module attributes
    def module_tree(self, root: Module, prefix: str = "self") -> None:
        """The plain attributes of `root` and its submodules (named `prefix.sub.attr`), and
        the code a call of each runs."""
        if id(root) in self.seen_modules:
            return
        tree = _tree(root, prefix)
        ours = [(where, m) for where, m in tree if isinstance(m, Module)  # not torch's
                and id(m) not in self.seen_modules]
        self.seen_modules.update(id(m) for _, m in ours)
        for _, module in ours:
            self.class_members(type(module))
        for where, module in ours:
            self.attributes(module.__dict__, where, exclude="training")
            self.module_code(module)

    def attributes(self, scope, where: str, exclude: str = "", only=None) -> None:
        """Guard the plain values of the mapping `scope` (an object's or class's `__dict__`,
        a module's globals), `only` those names if given, each named `where.name`."""
        keys = tuple(k for k, v in scope.items() if k != exclude and is_plain(v)
                     and (only is None or k in only) and (id(scope), k) not in self.seen_keys)
        if not keys:
            return
        for key in keys:
            self.seen_keys.add((id(scope), key))
            self.entries.append((f"{where}.{key}", _dict_reader(scope, key), True))
        self.reads.append((_key_getter(keys), scope))

    def class_members(self, cls: type) -> None:
        """Note the user functions (by name: those the scanned code names as an attribute,
        `self.helper(x)` or a property, are scanned too) and the user classes' dicts (their
        plain attributes the code names are guarded: `Scaled.scale`)."""
        for base in cls.__mro__:
            if base is object or base.__module__.split(".")[0] == "tracejit" or \
                    id(base) in self.seen_classes:
                continue
            self.seen_classes.add(id(base))
            self.classes.append(base)
            for name, value in vars(base).items():
                if isinstance(value, (staticmethod, classmethod)):
                    value = value.__func__
                elif isinstance(value, property):
                    value = value.fget
                if _is_user_code(value):
                    self.methods.setdefault(name, []).append(value)

    def module_code(self, module: Module) -> None:
        """What a call of `module` runs: its forward (or __call__), a forward set on the
        instance, its forward hooks, and the methods those name."""
        hooks = ("_forward_pre_hooks", "_forward_hooks")
        for fn in [type(module).forward, type(module).__call__, vars(module).get("forward"),
                   *(h for k in hooks for h in getattr(module, k, {}).values())]:
            self.function(fn)

    def held(self, value, name: str, depth: int) -> None:
        """What a global or closure variable holds that the code may run: a user function
        (scanned), a module (as a traced module's submodules are: `name.attr`)."""
        if isinstance(value, Module):
            if depth <= 4:
                self.module_tree(value, name)
        else:
            self.function(value, depth + 1)

    # code
    def function(self, fn, depth: int = 0) -> None:
        """The globals and closure cells `fn`'s code reads (a user function's), and those of
        the user functions they hold, `depth` levels down at most."""
        fn = _unwrap(fn)
        if not _is_user_code(fn) or id(fn.__code__) in self.seen_code or depth > 4 or \
                self.functions >= _MAX_FUNCTIONS:
            return
        self.functions += 1
        self.seen_code.add(id(fn.__code__))
        scope = fn.__globals__
        loads = [load for code in _codes(fn.__code__) for load in _loads(code)]
        names = tuple(dict.fromkeys(n for kind, n, _ in loads if kind == "global" and n in scope))
        names = tuple(n for n in names if (id(scope), n) not in self.seen_globals)
        prefix = "" if scope is self.root_globals else f"{scope.get('__name__', '?')}."
        for name in names:
            self.seen_globals.add((id(scope), name))
            self.entries.append((f"{prefix}{name}", _dict_reader(scope, name),
                                 is_plain(scope[name])))
        if names:
            self.reads.append((_key_getter(names), scope))
        for _, name, owner in loads:  # config.SCALE, config a user module: its value
            held = scope.get(owner, None) if owner else None
            if isinstance(held, types.ModuleType) and _is_user_file(getattr(held, "__file__",
                                                                              None)):
                self.attributes(vars(held), f"{prefix}{owner}", only=(name,))
        cells = [(n, c) for n, c in zip(fn.__code__.co_freevars, fn.__closure__ or ())
                 if id(c) not in self.seen_cells and n != "__class__"]  # super()'s cell
        live = []
        for name, cell in cells:
            self.seen_cells.add(id(cell))
            value = _cell_reader(cell)()
            if value is MISSING:
                continue  # not yet assigned: nothing the trace can have read
            live.append((name, cell))
            self.entries.append((name, _cell_reader(cell), is_plain(value)))
        if live:
            self.reads.append((_cells_getter, tuple(cell for _, cell in live)))
        for name in names:
            self.held(scope[name], f"{prefix}{name}", depth)
        for name, cell in live:
            self.held(cell.cell_contents, name, depth)
        attributes = set(n for kind, n, _ in loads if kind == "attr")
        for cls in self.classes:  # class attributes the code names (`self.scale` on the class)
            self.attributes(cls.__dict__, cls.__name__, only=attributes)
        for name in attributes:
            for method in self.methods.get(name, ()):
                self.function(method, depth + 1)


def _unwrap(fn):
    if isinstance(fn, functools.partial):
        fn = fn.func
    if isinstance(fn, types.MethodType):
        fn = fn.__func__
    for _ in range(20):  # functools.wraps layers: the code that runs is the innermost's too
        wrapped = getattr(fn, "__wrapped__", None)
        if not isinstance(wrapped, types.FunctionType):
            break
        fn = wrapped
    return fn


def _is_user_code(fn) -> bool:
    if not isinstance(fn, types.FunctionType):
        return False
    module = fn.__module__ or ""
    if module == "tracejit" or module.startswith("tracejit."):
        return False
    return _is_user_file(fn.__code__.co_filename)


def _is_user_file(file: str | None) -> bool:
    return bool(file) and not file.startswith(_LIBRARY) and not file.startswith(_TRACEJIT)


def _codes(code: types.CodeType):
    """`code` and the code objects nested in it (inner functions, lambdas, comprehensions)."""
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def _loads(code: types.CodeType) -> list[tuple[str, str, str | None]]:
    """("global", name, None) for each global name `code` loads, ("attr", name, owner) for
    each attribute name (owner: the global loaded just before, `config` of `config.SCALE`)."""
    out, previous = [], None
    for instruction in dis.get_instructions(code):
        op, name = instruction.opname, instruction.argval
        if not isinstance(name, str):
            previous = None
            continue
        if op in ("LOAD_GLOBAL", "LOAD_NAME"):
            out.append(("global", name, None))
            previous = name
            continue
        if op in ("LOAD_ATTR", "LOAD_METHOD"):
            out.append(("attr", name, previous))
        previous = None
    return out


def collect(fn, module: Module | None) -> Guards | None:
    """The guards of a trace of `fn` (a traced `module`'s, when given): None if it read no
    Python value that could change."""
    target = _unwrap(fn)
    collector = _Collector(getattr(target, "__globals__", None))
    if module is not None:
        forward = _unwrap(type(module).forward)
        collector.root_globals = getattr(forward, "__globals__", None)
        collector.tree = _tree(module)
        collector.module_tree(module)
        return collector.guards()
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, Module):  # a module's bound method: its attributes too
        collector.module_tree(owner)
    elif not isinstance(target, types.FunctionType) and hasattr(target, "__dict__") and \
            _is_user_code(vars(type(target)).get("__call__")):  # a callable object
        call = vars(type(target))["__call__"]
        collector.root_globals = call.__globals__
        collector.class_members(type(target))
        collector.attributes(vars(target), "self")
        target = call
    collector.function(target)
    return collector.guards()


# --- the module layout --------------------------------------------------------------------------
class ModuleLayout:
    """A module's parameters and buffers (names and tensors, graph-input order), its training
    flags, and a snapshot that says whether they are still current (`current()`)."""

    __slots__ = ("_modules", "_snapshot", "_views", "flags", "ids", "names", "state")

    def __init__(self, root: Module):
        named = [*root.named_parameters(), *root.named_buffers()]
        self.names = tuple(name for name, _ in named)
        self.state = [tensor for _, tensor in named]
        self.ids = frozenset(map(id, self.state))
        self._modules = list(root.modules())
        self.flags = tuple(map(_TRAINING, self._modules))
        # live views of every table: one C-level chain reads them all
        self._views = [table.values() for m in self._modules if isinstance(m, Module)
                       for table in (m._parameters, m._buffers, m._modules)]
        self._snapshot = self._read()

    def _read(self) -> list:
        now = list(map(_TRAINING, self._modules))
        now.extend(_chain(self._views))
        return now

    def current(self) -> bool:
        """Whether no parameter, buffer or submodule was added, removed or replaced, and no
        training flag changed, since the walk (`.data` replacements are not seen here: the
        caller checks each tensor's dtype and shape)."""
        now, snapshot = self._read(), self._snapshot
        return len(now) == len(snapshot) and all(map(operator.is_, now, snapshot))
