"""Regions: the compiled pieces of a function split by graph breaks (tracejit/breaks.py).

A `Region` stands for a run of statements of one block. Called with the live values of the
variables the run reads, it returns the variables it binds that later code reads (or, for the
final run of the function body, what the function returns). The first call of each signature
scripts the run (`RegionScript`, a ScriptedFunction over the run's statements: the same capture,
guards and cache as `tracejit.script`). When scripting meets something it cannot capture, the
statement holding it is marked to run as Python, the run is split again around it, and this
call goes on through the new split: side effects happen once, in order, as in Python.
"""

from __future__ import annotations

import ast
import contextlib
import linecache
import logging
import operator
from collections.abc import Callable

import numpy as np

from tracejit import pytree, random
from tracejit.breaks import UNBOUND, Break, Plan, loaded, position, stored
from tracejit.nn.module import Module
from tracejit.script_mode import _dynamic_scalar, _Scalar
from tracejit.script_source import _SOURCES, ScriptError, Source, Undefined
from tracejit.scripting import (
    Frame,
    ScriptedFunction,
    ScriptedModule,
    call_bound,
    changed_guard,
)
from tracejit.tensor import Tensor
from tracejit.trace_guards import ModuleLayout
from tracejit.traced import _c_order

log = logging.getLogger("tracejit.recompiles")
break_log = logging.getLogger("tracejit.graph_breaks")
guard_log = logging.getLogger("tracejit.guards")

_NUMBER = "__tj_number"  # an output that is a Python number: (_NUMBER, type name, 0-d tensor)
_INPUT = "__tj_input"  # an output that is the object passed as input k: (_INPUT, k)
_PY_TYPES = {"int": int, "float": float, "bool": bool}


_MISS = object()
_SIGNATURE = operator.attrgetter("_data.dtype", "_data.shape")


class RecompileLimit(Exception):
    """A compiled piece captured more often than its recompile limit allows."""


class Counted:
    """Recompile bookkeeping shared by regions and whole-function captures: each capture after
    the first is a recompile, logged with the guard that failed; past the limit, RecompileLimit
    (the owner runs the code as Python from then on)."""

    _limit: int = 8
    _recompiles: int = 0
    _why: str = ""

    def _stale(self, guard) -> None:
        self._why = changed_guard(guard)  # logged by _retrace, with the recompile count
        self._drop()

    def _retrace(self, key, args, kwargs):
        if self._cache or self._why:
            self._recompiles += 1
            why = self._why or self._changed(args, kwargs)
            self._why = ""
            if self._recompiles > self._limit:
                raise RecompileLimit(f"{self._name} was recompiled {self._limit} times (the "
                                     f"recompile limit; last: {why})")
            log.info("recompiling %s: %s", self._name, why)
        spec, result = super()._retrace(key, args, kwargs)
        if guard_log.isEnabledFor(logging.INFO):
            guard_log.info("%s: %s", self._name, "; ".join(describe_guards(self, spec)))
        return spec, result

    def _changed(self, args, kwargs) -> str:
        """What differs between this call and the last capture: "`x.shape[0]` was 8, is 16"."""
        last = self._last
        try:
            leaves, _, names = pytree.flatten(self._bind(args, kwargs))
        except TypeError:
            return "a new input signature"
        if last is not None:
            old = {v.name: v.type for v in last.graph.inputs}
            for name, t in zip(names, leaves):
                was = old.get(name)
                if was is None:
                    continue
                now = t._type
                if was.dtype != now.dtype:
                    return f"`{name}.dtype` was {was.dtype}, is {now.dtype}"
                if len(was.shape) != len(now.shape):
                    return f"`{name}.dim()` was {len(was.shape)}, is {len(now.shape)}"
                for k, (a, b) in enumerate(zip(was.shape, now.shape)):
                    if a != b and a is not None:
                        return f"`{name}.shape[{k}]` was {a}, is {b}"
        flags = self._flags()
        if flags and last is not None and self._mode() not in last.signature:
            return f"the training flags changed ({self._mode().strip()})"
        return f"a new input signature {self._describe(args, kwargs)}"

    def _describe(self, args, kwargs) -> str:
        try:
            return super()._describe(args, kwargs)
        except TypeError:
            return "(new arguments)"


def describe_guards(compiled, spec) -> list[str]:
    """The guards of one capture as text: its input types, then the Python values it baked."""
    out = [f"{v.name}: {v.type}" for v in spec.graph.inputs[:spec.n_user]]
    if compiled._flags():
        out.append(f"training flags {compiled._mode().strip()}")
    from tracejit.scripting import _show
    out += [f"{g.what} == {_show(g.value)}" if not g.identity else f"{g.what} is the same object"
            for g in compiled._guards]
    return out


class ObjectArgs:
    """Arguments of any Python type, as tracejit.compile takes them: tensors and numbers (also
    inside lists and dicts) are graph inputs; modules among them give their parameters and
    buffers as graph inputs and their training flags to the key; other objects are part of
    the key by identity. Results are untagged (see `_tag`)."""

    _modules: list = []
    _tagged = False  # whether a capture's results carry tags to undo on each call

    def _arguments(self, args, kwargs) -> dict:
        return super()._bind(args, kwargs)

    def _bind(self, args, kwargs) -> dict:
        bound = {n: _static(v) for n, v in self._arguments(args, kwargs).items()
                 if v is not UNBOUND}
        if self._static_scalars:
            return bound
        return {k: _dynamic(v) for k, v in bound.items()}

    def _numbers_given(self, args, kwargs) -> bool:
        """Python numbers anywhere in the arguments, lists and dicts included (see _dynamic):
        where one is needed as a Python value, script again with every number static."""
        return _has_numbers(args)

    def _key(self, args, kwargs):
        self._modules = [(n, v) for n, v in self._arguments(args, kwargs).items()
                         if isinstance(v, Module) and v is not self._module]
        return super()._key(args, kwargs)

    def _state(self):
        names, tensors = super()._state()
        if not self._modules:
            return names, tensors
        names, seen = list(names), set(map(id, tensors))
        tensors = list(tensors)
        for prefix, module in self._modules:
            for name, t in [*module.named_parameters(), *module.named_buffers()]:
                if id(t) not in seen:
                    seen.add(id(t))
                    names.append(f"{prefix}.{name}")
                    tensors.append(t)
        return tuple(names), tensors

    def _flags(self) -> tuple:
        own = super()._flags()
        return own + tuple(m.training for _, module in self._modules for m in module.modules())

    def _mode(self) -> str:
        if self._module is not None and not self._modules:
            return super()._mode()
        flags = self._flags()
        if not flags:
            return ""
        return " [train]" if all(flags) else " [eval]" if not any(flags) else " [mixed]"

    def _results(self, value, arguments: dict, scripter, node=None):
        """The captured code's result, tagged for the graph (see `_tag`); a ScriptError at
        `node` (or unlocated) where a container the code did not make is among them."""
        given = {id(v): k for k, v in enumerate(arguments.values())
                 if v is not None and not isinstance(v, Tensor)
                 and type(v) not in (int, float, bool, str)}
        try:
            tagged = _tag(value, given, list(arguments), scripter.owned)
        except _Foreign as e:
            reason = _FOREIGN.format(type(e.value).__name__)
            source = getattr(getattr(self, "_region", None), "source", None)
            if node is not None and source is not None:
                raise source.error(node, reason) from None
            raise ScriptError(reason) from None
        if not _plain(tagged):
            self._tagged = True
        return tagged


def _plain(value) -> bool:
    """Whether a tagged result is what it was (nothing for `_untag` to do)."""
    kind = type(value)
    if kind in (tuple, list):
        return all(map(_plain, value)) and not (value and type(value[0]) is str
                                                 and value[0] in (_NUMBER, _INPUT))
    if kind is dict:
        return all(map(_plain, value.values()))
    return kind is not pytree.Static


class _Whole(ObjectArgs):
    def __call__(self, *args, **kwargs):
        out = super().__call__(*args, **kwargs)
        if self._tagged:
            given = [v for v in self._arguments(args, kwargs).values() if v is not UNBOUND]
            return _untag(out, given)
        return out


class WholeFunction(_Whole, Counted, ScriptedFunction):
    """A function captured whole (no break), with the recompile limit."""

    def _run(self, scripter, arguments: dict):
        scripter.compile_mode = scripter.mode.compile_mode = True  # side effects break
        env = {k: _unstatic(v) for k, v in arguments.items()}
        return self._results(call_bound(scripter, self._fn, self._signature, env), env,
                             scripter)


class WholeModule(_Whole, Counted, ScriptedModule):
    """A module's forward captured whole (no break), with the recompile limit."""

    def _run(self, scripter, arguments: dict):
        scripter.compile_mode = scripter.mode.compile_mode = True
        env = {k: _unstatic(v) for k, v in arguments.items()}
        return self._results(super()._run(scripter, env), env, scripter)


def _static(value):
    """An input as the graph's structure takes it: tensors, numbers, strings and containers of
    them as they are; any other object (a module, a function, a config) by identity."""
    if isinstance(value, Tensor) or value is None or type(value) in (int, float, bool, str):
        return value
    if type(value) in (tuple, list):
        items = [_static(v) for v in value]
        if all(a is b for a, b in zip(items, value)):
            return value
        return type(value)(items)
    if type(value) is dict:
        items = {k: _static(v) for k, v in value.items()}
        if all(items[k] is value[k] for k in value):
            return value
        return items
    if isinstance(value, (*pytree.STATIC_TYPES,)) or type(value).__name__ == "DType":
        return value
    return pytree.Static(value)


def _dynamic(value):
    """Python int and float inputs, also inside lists, tuples and dicts, as dynamic 0-d
    tensor inputs (a new value does not recompile)."""
    kind = type(value)
    if kind in (int, float):
        return _dynamic_scalar(value)
    if kind in (tuple, list) and value and any(type(v) in (int, float, list, tuple, dict)
                                               for v in value):
        return kind(_dynamic(v) for v in value)
    if kind is dict and any(type(v) in (int, float, list, tuple, dict) for v in value.values()):
        return {k: _dynamic(v) for k, v in value.items()}
    return value


def _has_numbers(value) -> bool:
    kind = type(value)
    if kind in (int, float):
        return True
    if kind in (tuple, list):
        return any(map(_has_numbers, value))
    if kind is dict:
        return any(map(_has_numbers, value.values()))
    return False


def _unstatic(value):
    if type(value) is pytree.Static:
        return value.value
    if type(value) in (tuple, list) and any(type(v) in (pytree.Static, tuple, list, dict)
                                            for v in value):
        return type(value)(_unstatic(v) for v in value)
    if type(value) is dict and any(type(v) in (pytree.Static, tuple, list, dict)
                                   for v in value.values()):
        return {k: _unstatic(v) for k, v in value.items()}
    return value


def _tag(value, given: dict, order: list, owned: dict | None = None):
    """A value the run leaves for later code, as a graph can return it: a Python number the
    code computed from number inputs (a 0-d tensor in the graph) is tagged to become a number
    again; a list, dict or object the run was given is handed back as the caller's own (its
    input position); another object no graph holds passes by identity; a variable not bound
    is UNBOUND."""
    if isinstance(value, _Scalar):
        return (_NUMBER, getattr(value, "py_type", float).__name__, value)
    if isinstance(value, Tensor):
        return value
    k = given.get(id(value))
    if k is not None:
        return (_INPUT, k)
    if isinstance(value, Undefined):
        return pytree.Static(UNBOUND)
    if owned is not None and isinstance(value, (list, dict, set)) and id(value) not in owned:
        raise _Foreign(value)  # a graph cannot hand back that very object on later calls
    if type(value) in (tuple, list):
        return type(value)(_tag(v, given, order, owned) for v in value)
    if type(value) is dict:
        return {k: _tag(v, given, order, owned) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(_tag(v, given, order, owned) for v in value))
    return _static(value)


class _Foreign(Exception):
    """A list, dict or set the captured code did not make (nor was given) in its results."""

    def __init__(self, value):
        super().__init__(type(value).__name__)
        self.value = value


_FOREIGN = ("a {} the captured code did not make (a global's, a closure's, an attribute's) "
            "is one of its results: a graph cannot hand back that very object on later calls")


def _untag(value, args):
    kind = type(value)
    if kind is tuple:
        head = value[0] if value and type(value[0]) is str else None
        if head == _NUMBER and len(value) == 3:
            return _PY_TYPES[value[1]](value[2].item())
        if head == _INPUT and len(value) == 2:
            return args[value[1]]
        return tuple(_untag(v, args) for v in value)
    if kind is pytree.Static:
        return value.value
    if kind is list:
        return [_untag(v, args) for v in value]
    if kind is dict:
        return {k: _untag(v, args) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return kind(*(_untag(v, args) for v in value))
    return value


class RegionScript(ObjectArgs, Counted, ScriptedFunction):
    """The run of a Region as a scripted function of its inputs."""

    def __init__(self, region: Region, fn, **options):
        super().__init__(fn, region.name, None, **options)
        self._region = region

    def _arguments(self, args, kwargs) -> dict:
        return dict(zip(self._region.inputs, args))

    def _run(self, scripter, arguments: dict):
        region = self._region
        scripter.compile_mode = scripter.mode.compile_mode = True
        env = {k: _unstatic(v) for k, v in arguments.items()}
        frame = Frame(self._fn, region.source, dict(env))
        value = scripter.run_frame(frame, region.source.tree, self._name)
        if region.tail:
            return self._results(value, env, scripter, region.run[-1])
        for name in region.outputs:  # each checked on its own: the error names its statement
            self._results(frame.env.get(name, UNBOUND), env, scripter, region.producer(name))
        value = tuple(frame.env.get(n, UNBOUND) for n in region.outputs)
        return self._results(value, env, scripter)


class Region:
    """A run of statements compiled as one graph per signature (see the module docstring)."""

    def __init__(self, owner, plan: Plan, run: list[ast.stmt], tail: bool, inputs: list[str],
                 outputs: list[str], uid: int):
        self.owner, self.plan, self.run, self.tail = owner, plan, run, tail
        self.inputs, self.outputs, self.uid = inputs, outputs, uid
        first, last = run[0], run[-1]
        self.lines = (first.lineno, last.end_lineno or last.lineno)
        self.name = f"{plan.fn.__qualname__}[{self.lines[0]}-{self.lines[1]}]" \
            if self.lines[0] != self.lines[1] else f"{plan.fn.__qualname__}[{self.lines[0]}]"
        self.replacement: Callable | None = None  # the run split again, or as Python
        self.script = self._make_script()

    def producer(self, name: str) -> ast.AST:
        """The node to blame for output `name`: a hoisted expression itself (see
        Plan.hoist), else the last top-level statement of the run binding it."""
        for stmt in reversed(self.run):
            if name in stored([stmt]):
                return stmt.value if stmt._tj_id < 0 else stmt
        return self.run[-1]

    def _make_script(self) -> RegionScript:
        import copy
        plan = self.plan
        body = copy.deepcopy(self.run)
        params = ast.arguments(posonlyargs=[], args=[ast.arg(n) for n in self.inputs],
                               vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None,
                               defaults=[])
        env = self.owner.env()
        fn = plan.function(plan.fn.__name__, params, body, env)
        tree = ast.FunctionDef(name=self.name, args=params, body=body, decorator_list=[],
                               returns=None, **({"type_params": []} if "type_params" in
                                                ast.FunctionDef._fields else {}))
        ast.copy_location(tree, self.run[0])
        self.source = Source(plan.file, tree, 0, 0)
        _SOURCES[fn.__code__] = self.source
        options = self.owner.options
        script = RegionScript(self, fn, freeze=False, strict=False,
                              cache_size=options["limit"] + 1, pipeline=options["pipeline"],
                              backend=options["backend"])
        script._limit = options["limit"]
        return script

    # the fast path: a call whose inputs are tensors and at most one module, with the same
    # signature as a capture made before, its guards and the module's layout unchanged
    _fast: dict | None = None

    def _fast_key(self, args) -> tuple | None:
        key = []
        modules = 0
        for a in args:
            if isinstance(a, Tensor):
                key.append(_SIGNATURE(a))
            elif isinstance(a, Module):
                modules += 1
                key.append(id(a))
            else:
                return None
        return tuple(key) if modules <= 1 else None

    def _fast_call(self, args):
        try:  # tensors only: the key is their types
            key = tuple(map(_SIGNATURE, args))
        except AttributeError:  # a module (or another object) among them
            key = self._fast_key(args)
        entry = self._fast.get(key)
        if entry is None:
            return _MISS
        spec, module, layout, state_sig, runner = entry
        script = self.script
        for guard in script._guards:
            if guard.read() is not guard.value and guard.changed():
                return _MISS
        if module is None:
            if len(args) > 1 and len(set(map(id, args))) != len(args):
                return _MISS
            if runner is not None:
                out = runner([a._data for a in args])
            else:
                out = spec.run(list(args), [])
        else:
            if not layout.current() or state_sig != tuple(map(_SIGNATURE, layout.state)):
                return _MISS
            tensors = [a for a in args if isinstance(a, Tensor)]
            if len(set(map(id, tensors))) != len(tensors):
                return _MISS
            out = spec.run(tensors, layout.state)
        return _untag(out, args) if script._tagged else out

    def _remember(self, args) -> None:
        """After a slow call: let calls like it take the fast path."""
        script = self.script
        spec = script._last
        key = self._fast_key(args)
        tensors = [a for a in args if isinstance(a, Tensor)]
        if key is None or spec is None or spec.writes or spec.resized or spec.sized or \
                script._static_scalars or any(a is UNBOUND for a in args) or \
                len(set(map(id, tensors))) != len(tensors):  # one tensor twice: its own key
            return
        module = next((a for a in args if isinstance(a, Module)), None)
        layout = ModuleLayout(module) if module is not None else None
        if layout is not None:
            names, _ = script._state()
            if tuple(spec.state_names) != tuple(f"{n}" for n in names) or \
                    len(layout.state) != len(names):
                return
        if self._fast is None:
            self._fast = {}
        self._fast[key] = (spec, module, layout,
                           tuple(map(_SIGNATURE, layout.state)) if layout else (),
                           _direct_runner(spec) if module is None else None)

    def __call__(self, *args):
        replacement = self.replacement
        if replacement is not None:
            return replacement(*args)
        if self._fast:
            try:
                out = self._fast_call(args)
            except Exception:
                return self._python()(*args)
            if out is not _MISS:
                return out
        arrays = [n for n, a in zip(self.inputs, args) if isinstance(a, np.ndarray)]
        if arrays:
            return self._python_reads(arrays, args, "the numpy array", "numpy code runs as "
                                      "Python")
        volatile = self._volatile(args)
        if volatile:
            return self._python_reads(volatile, args, "the object", "a new object each call "
                                      "would compile a graph per call")
        try:
            out = self.script(*args)
        except ScriptError as e:
            return self._broke(e, args)
        except RecompileLimit as e:
            self.owner.limit_reached(str(e))
            self.replacement = self._python()
            return self.replacement(*args)
        except Exception as e:
            # the graph (or its capture) failed on this call: Python raises the user's own
            # exception from the user's line (the graph wrote nothing back); where Python
            # does not fail, the capture cannot do this run
            result = self._python()(*args)
            self._give_up(f"capturing it failed where Python did not ({type(e).__name__}: "
                          f"{str(e).splitlines()[0][:200] if str(e) else ''})")
            return result
        self._remember(args)
        return _untag(out, [a for a in args if a is not UNBOUND])

    # --- breaks ---------------------------------------------------------------------------------
    _twin: Callable | None = None

    def _python(self) -> Callable:
        """The run as plain Python (its statements as the user wrote them)."""
        if self._twin is None:
            env = self.owner.env()
            self._twin = self.plan.run_function(self.run, self.tail, self.inputs,
                                                self.outputs, env, python=True)
        return self._twin

    def _give_up(self, reason: str) -> None:
        """Run this run's statements as Python from now on (split again around them)."""
        plan = self.plan
        why = make_break(ScriptError(reason), None, plan)
        why.line, why.col = self.run[0].lineno, self.run[0].col_offset + 1
        why.source_line = linecache.getline(plan.file, why.line).rstrip("\n")
        if plan.blame(None, why, self.run):
            self.owner.record_break(why)
        self.replacement = plan.run_function(self.run, self.tail, self.inputs, self.outputs,
                                             self.owner.env(), python=False)

    _identities: dict | None = None  # input name -> id of the object it held last call

    def _volatile(self, args) -> list[str]:
        """Inputs holding an object passed by identity (not a module, function or class)
        that is another object than on the last call: a graph keyed on it would compile
        again on every call (a Counter or a config made afresh each call)."""
        seen = self._identities
        if seen is None:
            seen = self._identities = {}
        out = []
        for name, value in zip(self.inputs, args):
            if value is UNBOUND or not _by_identity(value):
                continue
            if seen.get(name, id(value)) != id(value):
                out.append(name)
            seen[name] = id(value)
        return out

    def _python_reads(self, names: list[str], args, what: str, why_text: str):
        """Statements reading one of `names` run as Python: mark each statement of the run
        that reads one, split again, run this call that way."""
        plan = self.plan
        marked = False
        for stmt in self.run:
            read = set(loaded([stmt])).intersection(names)
            if read:
                why = Break(f"reads {what} {', '.join(sorted(read))}: {why_text}", plan.file,
                            stmt.lineno, stmt.col_offset + 1,
                            linecache.getline(plan.file, stmt.lineno).rstrip("\n"))
                if plan.mark(stmt._tj_id, why):
                    marked = True
                    self.owner.record_break(why)
        self.replacement = plan.run_function(
            self.run, self.tail, self.inputs, self.outputs, self.owner.env(),
            python=not marked)
        return self.replacement(*args)

    def _broke(self, error: ScriptError, args):
        """Scripting met what it cannot capture: mark the statement holding it as Python,
        split the run around it, and run this call through the split."""
        plan = self.plan
        result, ran = None, False
        if type(error) is not ScriptError:  # a user error scripting met: Python raises it
            result, ran = self._python()(*args), True
        where = site_of(error, self.source)
        why = make_break(error, where, plan)
        if plan.blame(where, why, self.run):
            unhoisted = any(s._tj_id < 0 and not plan.hoisted_now(s) for s in self.run)
            if not plan.always_python(where) and not unhoisted:  # else plan.report words it
                self.owner.record_break(why)
            if unhoisted:
                # a hoisted expression given back to its statement: this call computes it
                # as Python; the next regenerates the caller without it
                self.replacement = self._python()
            else:
                self.replacement = plan.run_function(self.run, self.tail, self.inputs,
                                                     self.outputs, self.owner.env(),
                                                     python=False)
        else:  # nothing new to split at (a known break met again): the run as Python
            self.replacement = self._python()
        return result if ran else self.replacement(*args)


def _direct_runner(spec) -> Callable | None:
    """For a specialization of fresh outputs (`simple`): arrays in, the result out, with the
    fewest Python steps (one tensor, or a flat tuple of tensors); None otherwise."""
    if not spec.simple:
        return None
    run, wrap, generator = spec.runner, Tensor._wrap, random.default_generator
    structure = spec.out_structure
    if structure == pytree.TENSOR:
        return lambda arrays: wrap(_c_order(run(arrays, generator())[0]))
    if structure[0] == "tuple" and all(c == pytree.TENSOR for c in structure[1]):
        return lambda arrays: tuple([wrap(_c_order(a)) for a in run(arrays, generator())])
    return spec.run_simple


def _by_identity(value) -> bool:
    """Whether a graph's key holds `value` by identity and nothing more stable: an object
    that is no tensor, number, string, container of those, module, function or class."""
    import types as _types
    if isinstance(value, (Tensor, Module, type, _types.FunctionType, _types.MethodType,
                          _types.BuiltinFunctionType, _types.ModuleType)):
        return False
    if value is None or type(value) in (int, float, bool, str, bytes, complex):
        return False
    if type(value) in (tuple, list):
        return any(map(_by_identity, value))
    if type(value) is dict:
        return any(map(_by_identity, value.values()))
    return type(_static(value)) is pytree.Static


def site_of(error: ScriptError, source: Source) -> tuple | None:
    """(position key of the node to blame in the function's own code, id of the call node
    there when the break is inside a callee, or None)."""
    calls = getattr(error, "calls", None)
    if calls:
        where, node = calls[-1]
        key = position(node, where.line0, where.col0)
        return key, key
    node = error.node
    if node is None or not hasattr(node, "lineno"):
        return None
    return position(node, source.line0, source.col0), None


_COMPILE_WORDING = {  # script's reasons, as they read for a break that runs as Python
    "print() in scripted code would run once, when the function is scripted, not on every "
    "call": "print() writes output: it runs as Python on every call"}


def make_break(error: ScriptError, where: tuple | None, plan: Plan) -> Break:
    """The Break record of a script error: its reason, place and user call stack."""
    first = error.reason.split("\n")[0]
    reason = _COMPILE_WORDING.get(first, first)
    stack = []
    for source, node in reversed(getattr(error, "calls", ()) or ()):
        loc = source.loc(node)
        stack.append(f"{loc.file}:{loc.line}:{loc.col}")
    file = plan.file
    if where is not None:
        _, line, col0, _, _ = where[0]
        col = col0 + 1
    else:
        line, col = plan.tree.lineno, plan.tree.col_offset + 1
    inner = error.where.removesuffix(": error: ") if error.where else ""
    if inner:  # the innermost place (inside a callee when the break is there)
        stack.append(inner)
        if stack[:-1]:  # reported where it is, the calls leading there in `stack`
            path, _, rest = inner.rpartition(":")[0].rpartition(":")
            with contextlib.suppress(ValueError):
                file, line, col = path, int(rest), int(inner.rpartition(":")[2])
    text = linecache.getline(file, line).rstrip("\n")
    return Break(reason, file, line, col, text, stack, error.hint)
