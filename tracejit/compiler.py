"""`tracejit.compile`: capture what can be captured, run the rest as Python.

The front door shaped like `torch.compile`. At the first call a compiled function is scripted
whole (tracejit/scripting.py); when that meets a construct no graph can hold (a `print`, a
`try`, a tensor read into Python with `.item()`, a call into numpy, a container or attribute
mutation...), the function is split at the statement holding it (tracejit/breaks.py): the runs
of capturable statements become regions, each compiled and guarded on its own
(tracejit/regions.py), and the statement runs as ordinary Python between them. A function with
no source to read (one made by `exec`) is traced instead. Every Python value a graph assumed is
guarded; a call whose guards fail recompiles (`TRACEJIT_LOG=recompiles` says why), up to a
recompile limit after which the piece runs as Python with one warning.

One driver decides how each call runs: `CompiledFunction.__call__` (whole graph, split, traced
or Python); the capture -> optimize -> plan -> backend steps of each graph are those of
`tracejit.trace`'s Specialization (tracejit/traced.py), with the backend chosen once, by
`default_backend`.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import linecache
import logging
import types
import warnings
from collections.abc import Callable
from typing import Any

from tracejit.breaks import KNOWN, Break, Plan
from tracejit.dispatch import _state as _dispatch_state
from tracejit.nn.module import Module
from tracejit.passes import DEFAULT_PIPELINE, parse_pipeline
from tracejit.regions import (
    RecompileLimit,
    Region,
    WholeFunction,
    WholeModule,
    make_break,
    site_of,
)
from tracejit.script_source import (
    ScriptError,
    _is_user_function,
    _is_user_module,
    _Rescript,
    source_of,
    unwrap_library,
)
from tracejit.tensor import Tensor
from tracejit.traced import TracedFunction, _returning_wrapper, _Traced, default_backend
from tracejit.tracer import TraceError

break_log = logging.getLogger("tracejit.graph_breaks")
log = logging.getLogger("tracejit.recompiles")

_SUBS = 64  # callees compiled on their own, kept per compiled function
_CACHED_CALL = _Traced.__call__
_OPTIONS = {"recompile_limit": "captures after the first, per compiled piece, before it runs "
                               "as Python (default 8)",
            "pipeline": "the pass pipeline (default: tracejit.passes.DEFAULT_PIPELINE)"}


class CompiledFunction:
    """A function (or a module's forward) compiled with graph breaks: call it like the
    original. `.breaks` lists the statements that run as Python and why."""

    def __init__(self, fn: Callable, module: Module | None = None, *, fullgraph: bool = False,
                 backend: str | None = None, options: dict | None = None,
                 fresh: bool = False):
        options = dict(options or {})
        unknown = set(options) - set(_OPTIONS)
        if unknown:
            raise ValueError(f"unknown compile option(s) {', '.join(sorted(unknown))}; known: "
                             + "; ".join(f"{k}: {v}" for k, v in _OPTIONS.items()))
        from tracejit import _dynamo
        limit = options.get("recompile_limit", _dynamo.config.cache_size_limit)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ValueError(f"recompile_limit must be an int >= 0, got {limit!r}")
        pipeline = options.get("pipeline", DEFAULT_PIPELINE)
        parse_pipeline(pipeline)
        self.options = {"limit": limit, "pipeline": pipeline,
                        "backend": default_backend(backend), "fullgraph": fullgraph}
        self._fn, self._module, self._fullgraph = fn, module, fullgraph
        self._fresh = fresh  # explain's: breaks known from earlier compiles are found again
        self._name = getattr(fn, "__qualname__", None) or type(fn).__name__
        self.breaks: list[Break] = []
        self._reported: set[int] = set()  # statements whose report_statement ran
        self._subs: dict[int, tuple[Any, Callable]] = {}  # callees compiled on their own
        self._whole = self._plan = self._split = self._traced = None
        self._version = -1
        self._warned = False
        self._taped = False  # the gradients-needed notice was logged
        self._how = "whole"
        disabled = getattr(fn, "_tj_compile_disabled", None)
        if disabled:
            self._python_only(f"{disabled}: runs as Python")
            return
        if inspect.isgeneratorfunction(fn) or inspect.iscoroutinefunction(fn) or \
                inspect.isasyncgenfunction(fn):
            self._python_only("a generator or async function runs as Python (its frames "
                              "suspend, which no graph can)")
            return
        try:
            if not isinstance(fn, types.FunctionType):
                raise ScriptError(f"{type(fn).__name__} objects have no Python source")
            source_of(fn)
        except ScriptError as e:  # no source to read: trace it instead
            if fullgraph:
                raise
            self._how = "trace"
            self._traced = TracedFunction(fn, self._name, None, freeze=False, strict=False,
                                          cache_size=limit + 1, pipeline=pipeline,
                                          backend=self.options["backend"])
            break_log.info("%s: %s; tracing it instead", self._name, e.reason)
            return
        common = {"freeze": False, "strict": False, "cache_size": limit + 1,
                  "pipeline": pipeline, "backend": self.options["backend"]}
        known = KNOWN.get(getattr(fn, "__code__", None))
        if known and known["marks"] and not fullgraph and not fresh:  # it breaks: split now
            self._how = "split"
            self._new_plan()
            return
        if module is not None:
            self._whole = WholeModule(module, **common)
        else:
            self._whole = WholeFunction(fn, fn.__name__, None, **common)
        self._whole._limit = limit

    # --- calling --------------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if _dispatch_state.grad_enabled and self._needs_tape(args, kwargs):
            return self._python(*args, **kwargs)
        whole = self._whole
        if whole is not None:
            try:
                if whole._tagged or whole._guards:  # results to untag, values to check
                    return whole(*args, **kwargs)
                try:  # neither: straight to the cache (two Python frames fewer)
                    return _CACHED_CALL(whole, *args, **kwargs)
                except _Rescript:  # captured again with numbers static: as whole() does
                    return whole(*args, **kwargs)
            except ScriptError as e:
                return self._whole_failed(e, args, kwargs)
            except RecompileLimit as e:
                self.limit_reached(str(e))
                self._whole, self._how = None, "python"
                return self._python(*args, **kwargs)
            except Exception:
                # the user's own exception (nothing was written back), or gives the result
                return self._python(*args, **kwargs)
        how = self._how
        if how == "split":
            if self._plan.version != self._version:
                self._regenerate()
            if self._module is not None:
                return self._split(self._module, *args, **kwargs)
            return self._split(*args, **kwargs)
        if how == "trace":
            try:
                return self._traced(*args, **kwargs)
            except TraceError as e:
                self._python_only(f"tracing failed: {str(e).splitlines()[0]}")
                return self._python(*args, **kwargs)
        return self._python(*args, **kwargs)

    def _needs_tape(self, args, kwargs) -> bool:
        """Whether this call must record autograd's tape (grad mode is on): a tensor argument
        requires grad, or the module is training and has parameters that require grad.
        Compiled graphs do not record the tape yet (compiled training is a later milestone),
        so such a call runs as Python, eagerly, and `loss.backward()` works; in eval mode or
        under `no_grad()`/`inference_mode()` the graphs run."""
        for a in itertools.chain(args, kwargs.values()):
            if isinstance(a, Tensor) and a._rg:
                break
        else:
            module = self._module
            if module is None or not module.training or \
                    not any(p._rg for p in module.parameters()):
                return False
        if self._fullgraph:
            raise RuntimeError(
                f"tracejit.compile(fullgraph=True) of {self._name}: gradients are needed (grad "
                "mode is on and the inputs, or the parameters of the training module, require "
                "grad) and compiled graphs do not record autograd's tape yet; call it under "
                "tracejit.no_grad() (or in eval mode) for one graph, or drop fullgraph=True to "
                "run it eagerly")
        if not self._taped:
            self._taped = True
            code = getattr(self._fn, "__code__", None)
            where = (code.co_filename, code.co_firstlineno) if code else ("<unknown>", 0)
            self.record_break(Break(
                "gradients are needed (grad mode is on and the inputs, or the parameters of "
                "the training module, require grad): the call runs eagerly so backward() "
                "works; under tracejit.no_grad() or in eval mode it runs compiled",
                where[0], where[1], 0, linecache.getline(where[0], where[1])))
        return True

    def _python(self, *args, **kwargs):
        if self._module is not None:
            return self._fn(self._module, *args, **kwargs)
        return self._fn(*args, **kwargs)

    def _python_only(self, reason: str) -> None:
        self._how, self._whole = "python", None
        code = getattr(self._fn, "__code__", None)
        where = (code.co_filename, code.co_firstlineno) if code else ("<unknown>", 0)
        self.record_break(Break(reason, where[0], where[1], 1, ""))

    def _whole_failed(self, error: ScriptError, args, kwargs):
        """The whole function cannot be one graph: split it at the construct (or, with
        fullgraph=True, raise the error as tracejit.script does)."""
        if self._fullgraph:
            raise error
        result, ran = None, False
        if type(error) is not ScriptError:  # a user error scripting met: Python raises it
            result, ran = self._python(*args, **kwargs), True
        fn = self._fn
        plan = self._new_plan()
        where = site_of(error, source_of(fn))
        why = make_break(error, where, plan)
        if plan.blame(where, why, plan.tree.body) and not plan.always_python(where):
            self.record_break(why)
        self._whole, self._how = None, "split"
        if ran:
            return result
        return self(*args, **kwargs)

    def _new_plan(self) -> Plan:
        plan = self._plan = Plan(self._fn, self._make_region, fresh=self._fresh)
        for why in dict.fromkeys(w for w in plan.marks.values() if w is not None):
            self.record_break(why)  # known from an earlier compile of this code
        return plan

    def _make_region(self, plan, run, tail, inputs, outputs, uid) -> Region:
        return Region(self, plan, run, tail, inputs, outputs, uid)

    def _regenerate(self) -> None:
        self._split = self._plan.whole(self.env())
        self._version = self._plan.version

    def env(self) -> dict:
        """What generated code calls: the compiled form of a callee, the break report."""
        return {"__tj_sub_impl": self.sub, "__tj_report_impl": self.report_statement}

    def report_statement(self, uid: int) -> None:
        """A statement that runs as Python by its kind ran: record its break, once."""
        if uid in self._reported:
            return
        self._reported.add(uid)
        why = self._plan.reported.get(uid)
        if why is not None:
            self.record_break(why)

    # --- what regions report --------------------------------------------------------------------
    def record_break(self, why: Break) -> None:
        self.breaks.append(why)
        break_log.info("graph break in %s at %s:%s:%s: %s%s", self._name, why.file, why.line,
                       why.col, why.reason,
                       f"\n    {why.source_line.strip()}" if why.source_line else "")

    def limit_reached(self, message: str) -> None:
        log.info("%s", message)
        if not self._warned:
            self._warned = True
            warnings.warn(f"tracejit.compile: {message}; that part runs as Python from now on "
                          "(raise the limit with options={'recompile_limit': N})",
                          RuntimeWarning, stacklevel=4)

    def sub(self, callee) -> Callable:
        """The compiled form of a user function or module a Python statement calls, where
        the break is inside it: it breaks there on its own and compiles the rest."""
        key = id(getattr(callee, "__func__", callee))
        entry = self._subs.get(key)
        if entry is None:
            compiled = None
            if isinstance(callee, Module) and _is_user_module(callee):
                compiled = CompiledFunction(unwrap_library(type(callee).forward), callee,
                                            backend=self.options["backend"],
                                            options=self._child_options(), fresh=self._fresh)
                key = id(callee)
            elif inspect.ismethod(callee) and _is_user_function(unwrap_library(
                    callee.__func__)):
                compiled = CompiledFunction(unwrap_library(callee.__func__),
                                            backend=self.options["backend"],
                                            options=self._child_options(), fresh=self._fresh)
            elif isinstance(callee, types.FunctionType) and _is_user_function(callee):
                compiled = CompiledFunction(callee, backend=self.options["backend"],
                                            options=self._child_options(), fresh=self._fresh)
            if compiled is None:
                return callee
            entry = self._subs[key] = (callee, compiled)
            if len(self._subs) > _SUBS:  # a function made afresh each call (a nested def)
                # would add one each call: the oldest goes
                self._subs.pop(next(iter(self._subs)))
        compiled = entry[1]
        if compiled._how == "python" or (compiled._how == "split" and compiled._plan is not
                                         None and not compiled._plan.regions):
            return callee  # nothing of it compiles (every statement breaks): call it as is
        if inspect.ismethod(callee):
            owner = callee.__self__
            return lambda *a, **k: compiled(owner, *a, **k)
        return compiled

    def _child_options(self) -> dict:
        return {"recompile_limit": self.options["limit"], "pipeline": self.options["pipeline"]}

    # --- inspection -----------------------------------------------------------------------------
    def pieces(self) -> list:
        """The compiled pieces: the whole-function capture, or each region's (run order)."""
        if self._whole is not None:
            return [self._whole]
        if self._plan is not None:
            return [r for r in self._plan.regions.values()]
        return [self._traced] if self._traced is not None else []

    def _savable(self):
        if self._whole is not None and self._whole._cache:
            return self._whole
        if self.breaks:
            listed = "\n".join(f"  {b}" for b in self.breaks)
            raise TypeError(f"cannot save compiled {self._name}: its capture has graph "
                            f"breaks, and a graph file holds one graph:\n{listed}\nsave "
                            "tracejit.script(...) of code without them, or fix the breaks")
        raise TypeError(f"cannot save compiled {self._name} before its first call (it "
                        "captures lazily): call it once first")

    def __repr__(self) -> str:
        return f"CompiledFunction({self._name}: {self._how}, {len(self.breaks)} break(s))"


class CompiledModule:
    """An nn.Module compiled: calls run its forward compiled with graph breaks; everything else
    (parameters, state_dict, train/eval, attributes, `.to(...)`) reaches the module, and a
    method returning the module returns this wrapper."""

    def __init__(self, module: Module, **kwargs):
        object.__setattr__(self, "_module", module)
        forward = unwrap_library(type(module).forward)
        object.__setattr__(self, "_compiled", CompiledFunction(forward, module, **kwargs))

    def __call__(self, *args, **kwargs):
        return self._compiled(*args, **kwargs)

    @property
    def module(self) -> Module:
        return self._module

    @property
    def breaks(self) -> list[Break]:
        return self._compiled.breaks

    def train(self, mode: bool = True) -> CompiledModule:
        self._module.train(mode)
        return self

    def eval(self) -> CompiledModule:
        return self.train(False)

    def forward(self, *args, **kwargs) -> Any:
        return self._compiled(*args, **kwargs)

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        attr = getattr(self._module, name)
        if inspect.ismethod(attr) and attr.__self__ is self._module:
            return _returning_wrapper(self, attr)
        return attr

    def __setattr__(self, name: str, value) -> None:
        setattr(self._module, name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self._module, name)

    def _savable(self):
        return self._compiled._savable()

    def __repr__(self) -> str:
        return f"CompiledModule({self._module!r})"


# --- torch.compiler's helpers (`torch.compiler.disable` ports as `tracejit.compiler.disable`) --
def disable(fn=None, recursive: bool = True, *, reason: str | None = None) -> Any:
    """torch.compiler.disable: `fn` runs as Python wherever compiled code calls it (a graph
    break), and `tracejit.compile(fn)` runs it as Python. Usable as a decorator."""
    if fn is None:
        return lambda f: disable(f, recursive, reason=reason)
    target = fn
    if not isinstance(fn, types.FunctionType):
        @functools.wraps(fn)
        def target(*args, **kwargs):
            return fn(*args, **kwargs)
    target._tj_compile_disabled = reason or "tracejit.compiler.disable"
    return target


def is_compiling() -> bool:
    """torch.compiler.is_compiling: True while tracejit captures the calling code (trace,
    script or compile), False when it runs eagerly."""
    from tracejit import jit
    return jit.is_scripting() or jit.is_tracing()


def is_dynamo_compiling() -> bool:
    return is_compiling()


def reset() -> None:
    """torch.compiler.reset: forget the breaks found so far (each compile finds them again);
    compiled callables made before keep their caches."""
    KNOWN.clear()


class CompiledMethod:
    """A method compiled (`tracejit.compile(model.generate)`): its function compiled with graph
    breaks, called with the object it was bound to."""

    def __init__(self, owner, compiled: CompiledFunction):
        self.__self__, self._compiled = owner, compiled

    def __call__(self, *args, **kwargs):
        return self._compiled(self.__self__, *args, **kwargs)

    @property
    def breaks(self) -> list[Break]:
        return self._compiled.breaks

    def _savable(self):
        return self._compiled._savable()

    def __repr__(self) -> str:
        return f"CompiledMethod({self._compiled!r})"


def compile(fn_or_module=None, *, fullgraph: bool = False, dynamic: bool | None = None,
            backend: str | None = None, mode: str | None = None,
            options: dict | None = None) -> Any:
    """Compile a function or nn.Module, as torch.compile: `tracejit.compile(model)`,
    `@tracejit.compile`, `@tracejit.compile(fullgraph=True)`.

    Lazy: each signature is captured at its first call, from the source (with control flow),
    or by tracing where no source exists. What cannot be captured runs as Python between
    compiled regions (a graph break: see `tracejit.explain`); `fullgraph=True` raises the
    ScriptError instead. `backend`: "llvm" (default, or $TRACEJIT_BACKEND) or "eager" (the
    reference interpreter). `options`: {"recompile_limit": 8, "pipeline": "..."}. `dynamic`
    and `mode` are accepted for torch.compile's signature: shapes are specialized (a new
    shape recompiles, logged) and `mode` has no effect.
    """
    if dynamic:
        raise NotImplementedError("tracejit.compile(dynamic=True): dynamic shapes are not "
                                  "supported yet; each new shape compiles again (logged on "
                                  "TRACEJIT_LOG=recompiles). Leave dynamic unset")
    if fn_or_module is None:
        return lambda f: compile(f, fullgraph=fullgraph, dynamic=dynamic, backend=backend,
                                 mode=mode, options=options)
    kwargs = {"fullgraph": fullgraph, "backend": backend, "options": options}
    if isinstance(fn_or_module, (CompiledModule, CompiledFunction, CompiledMethod)):
        return fn_or_module
    if isinstance(fn_or_module, Module):
        return CompiledModule(fn_or_module, **kwargs)
    if callable(fn_or_module):
        fn = unwrap_library(fn_or_module)
        if inspect.ismethod(fn):
            if isinstance(fn.__self__, Module) and fn.__func__ is type(fn.__self__).forward:
                return CompiledModule(fn.__self__, **kwargs)  # model.forward
            return CompiledMethod(fn.__self__, CompiledFunction(unwrap_library(fn.__func__),
                                                                **kwargs))
        return CompiledFunction(fn, **kwargs)
    raise TypeError(f"compile() takes a function or an nn.Module, got "
                    f"{type(fn_or_module).__name__}")
