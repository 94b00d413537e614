"""`tracejit.script`: capture a function's source, control flow included, into structured IR.

The scripter reads the function with stdlib `ast` and interprets it symbolically. Tensor
expressions run through the same dispatch point and tracer as `tracejit.trace` (a `ScriptMode`
records each op, located at the AST node that made it); Python values known at scripting time
(module attributes, shapes, static arguments, a `for` over a ModuleList) are simply computed.
Control flow on tensors becomes structured ops:

- `if` on a tensor: both branches are recorded into the blocks of an `if` op; the variables (and
  in-place written tensors) whose values differ between the branches become its results.
- `for i in range(...)`: a `for` op; `while` on a tensor: a `while` op. The values a loop body
  changes are found by building the body, and become loop-carried block arguments.
- `break`, `continue` and `return` inside tensor-dependent control flow set flags the rest of the
  body is guarded by (a loop with `break` or `return` becomes a `while` op).

Python lists and dicts the code builds are tracked values (`hs.append(h)` in a loop, then
`stack(hs)`), and a tensor assigned to a module attribute (`self.last_loss = loss`) becomes an
extra output written back after each call (script_state.py). A nested `def` is scripted inline
where it is called (reading the enclosing variables as they are then, as a closure does), and a
generator expression runs as the list comprehension it equals.

Python `int` and `float` arguments are dynamic: 0-d tensor inputs of the graph, so a new value
does not rescript (a loop bound is an argument, not a constant). Where code needs such a value
as a Python number (a shape, an index), the function is scripted again with those arguments
static, part of the cache key. `bool`, `str`, `None`, lists and tuples of numbers are static.

Python values the code reads when it is scripted (globals, closure variables, module
attributes: numbers, strings, tuples of them, and which function, module or tensor a name holds)
are baked into the graph and guarded: each call checks them, and a change scripts again (logged
on `TRACEJIT_LOG=recompiles`). The contents of a mutable object (a global list, a tensor read
from a global) are baked unguarded: only rebinding the name is seen.

What cannot be captured raises `ScriptError` with file:line:col, the source line, a caret under
the construct, the reason and what to write instead; `ScriptError.node` is the exact construct
(the point a later graph break would split the function at).
"""

from __future__ import annotations

import ast
import collections
import collections.abc
import contextlib
import inspect
import logging
import operator
import types
from collections.abc import Callable
from typing import Any, NoReturn

import numpy as np

from tracejit import functions as fn_ops
from tracejit import pytree
from tracejit.dispatch import current_mode, using_mode
from tracejit.ir.graph import Operation
from tracejit.ir.ops import Op
from tracejit.ir.types import DType
from tracejit.nn.module import Module, Sequential
from tracejit.numpy_ufuncs import captured_ufunc
from tracejit.script_calls import python_only_call
from tracejit.script_exprs import Expressions
from tracejit.script_flow import Flow
from tracejit.script_mode import ScriptMode, _dynamic_scalar, _Scalar
from tracejit.script_source import (
    _ESCAPE_HINT,
    _INPLACE,
    _MUTATORS,
    BRK,
    CONT,
    FLAGS,
    MAX_DEPTH,
    MAX_UNROLL,
    MISSING,
    MUTABLE,
    RET,
    RETVAL,
    ScriptError,
    Source,
    Undefined,
    _Break,
    _Continue,
    _Escape,
    _is_user_function,
    _is_user_module,
    _Rescript,
    _Return,
    as_raised,
    source_of,
    trace_message,
    unwrap_library,
)
from tracejit.script_state import PythonState
from tracejit.tensor import Tensor
from tracejit.traced import (
    ABSTRACT,
    TracedFunction,
    TracedModule,
    default_backend,
)
from tracejit.tracer import NeedsValues, SizeReads, TraceError, TraceMode

log = logging.getLogger("tracejit.recompiles")


class Frame:
    """One scripted function call: its variables and where its names resolve."""

    def __init__(self, fn: types.FunctionType, source: Source, env: dict):
        self.source, self.env = source, env
        self.assigned: dict[str, ast.AST] = {}  # the statement that last assigned each name
        self.globals = fn.__globals__
        cells = fn.__closure__ or ()
        self.closure = {}
        self.cells = dict(zip(fn.__code__.co_freevars, cells))
        self.shadow: collections.abc.Mapping = {}  # enclosing variables of scripted code
        for name, cell in self.cells.items():
            with contextlib.suppress(ValueError):  # an empty cell (not yet assigned)
                self.closure[name] = cell.cell_contents
        for flag in FLAGS:
            env[flag] = False

    @classmethod
    def nested(cls, outer: Frame, env: dict) -> Frame:
        """The frame of a call to a function defined inside `outer`'s code: it reads outer's
        variables as they are at the call (a closure's late binding)."""
        f = cls.__new__(cls)
        f.source, f.env, f.assigned, f.globals = outer.source, env, {}, outer.globals
        f.closure = collections.ChainMap(outer.env, outer.closure)
        f.cells, f.shadow = outer.cells, collections.ChainMap(outer.env, outer.shadow)
        for flag in FLAGS:
            env[flag] = False  # outer's own flags stay outer's: env shadows them
        return f


class Scripter(Flow, Expressions, PythonState):
    """Interprets a function's AST symbolically under a ScriptMode."""

    compile_mode = False  # tracejit.compile's capture: Python side effects are graph breaks

    def __init__(self, mode: ScriptMode):
        self.mode = mode
        self.depth = 0
        self.dynamic_depth = 0  # inside the blocks of a tensor-dependent if or loop
        self.init_state()

    # --- calls --------------------------------------------------------------------------------
    def call_function(self, fn: types.FunctionType, args, kwargs, node=None, frame=None) -> Any:
        """Script `fn(*args, **kwargs)` inline; its return value."""
        source = source_of(fn)
        if self.depth >= MAX_DEPTH:
            raise self.error(frame, node, f"calls nested more than {MAX_DEPTH} deep (recursion "
                                          f"into {fn.__qualname__}?)",
                             "script supports recursion only when it ends at scripting time")
        signature = inspect.signature(fn)
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as e:
            raise as_raised(self.error(frame, node, f"{fn.__qualname__}(): {e}"), e) from None
        bound.apply_defaults()
        for p in signature.parameters.values():
            if p.kind is p.VAR_KEYWORD:  # **kwargs is a new dict on every call: the code's own
                self.made(bound.arguments[p.name])
        f = Frame(fn, source, dict(bound.arguments))
        try:
            return self.run_frame(f, source.tree, fn.__qualname__)
        except ScriptError as e:
            if frame is not None and node is not None:  # the user call stack, innermost first
                e.calls = [*getattr(e, "calls", ()), (frame.source, node)]
            raise

    def run_frame(self, f: Frame, tree: ast.FunctionDef, name: str) -> Any:
        """Script the body of `tree` in the frame `f`; the value it returns."""
        self.depth += 1
        try:
            try:
                self.body(tree.body, f)
            except _Return as r:
                return r.value
            except (_Break, _Continue):  # pragma: no cover - Python rejects these when parsing
                raise
            ret = f.env[RET]
            if ret is False:
                return None
            if ret is True:
                return f.env[RETVAL]
            value = f.env.get(RETVAL)
            if value is None or isinstance(value, Undefined):
                return None
            raise f.source.error(tree, f"{name} returns a value on some paths and reaches its "
                                       "end without a return on others",
                                 "end every path with a return of the same kind of value")
        finally:
            self.depth -= 1

    def call(self, func, args, kwargs, node, f: Frame) -> Any:
        if self.compile_mode and getattr(func, "_tj_compile_disabled", None):
            raise self.error(f, node, f"{func._tj_compile_disabled}: "
                                      f"{getattr(func, '__qualname__', func)} runs as Python")
        owner = getattr(func, "__self__", None)
        if isinstance(owner, Module) and getattr(func, "__name__", "") in _MODULE_CHANGES:
            return self.module_change(owner, func.__name__, args, kwargs, f, node)
        func = unwrap_library(func)
        if inspect.ismethod(func):  # a library-decorated method (`@no_grad()` on a helper)
            func = types.MethodType(unwrap_library(func.__func__), func.__self__)
        if isinstance(func, ScriptedFunction):
            return self.call_function(func._fn, args, kwargs, node, f)
        if isinstance(func, Sequential) and len(args) == 1 and not kwargs:
            value = args[0]  # each layer on its own: user layers inside are scripted
            for layer in func:
                value = self.call(layer, [value], {}, node, f)
            return value
        if isinstance(func, Module) and _is_user_module(func):
            forward = unwrap_library(type(func).forward)
            return self.call_function(forward, (func, *args), kwargs, node, f)
        if inspect.ismethod(func) and _is_user_function(func.__func__):
            return self.call_function(func.__func__, (func.__self__, *args), kwargs, node, f)
        if _is_user_function(func):
            return self.call_function(func, args, kwargs, node, f)
        owner = getattr(func, "__self__", None)
        if isinstance(owner, MUTABLE) and getattr(func, "__name__", "") in _MUTATORS:
            self.check_mutation(owner, f, node, f"{type(owner).__name__}.{func.__name__}()")
        if func is isinstance and args and isinstance(args[0], _Scalar):
            return issubclass(args[0].py_type, args[1])
        if func is print:
            raise self.error(f, node, "print() in scripted code would run once, when the "
                                      "function is scripted, not on every call",
                             "remove it, or print the result outside the scripted function")
        module = getattr(func, "__module__", None) or ""
        if (module == "numpy" or module.startswith("numpy.")) and not captured_ufunc(
                func, kwargs) and any(
                isinstance(a, Tensor) for a in pytree.flatten((args, kwargs))[0]):
            raise self.error(f, node, f"a call into numpy ({getattr(func, '__name__', func)}) "
                                      "with a tensor: numpy code is not captured",
                             "use the tracejit function of the same name")
        if self.compile_mode:
            refused = python_only_call(func, args, kwargs)
            if refused:
                raise self.error(f, node, refused)
        if f is not None:
            self.mode.loc = f.source.loc(node)
        if func in (list, dict, set):  # a new container the code may grow
            return self.made(func(*args, **kwargs))
        out = func(*args, **kwargs)
        if isinstance(func, type) and issubclass(func, Tensor) and isinstance(out, Tensor) \
                and getattr(out, "_value", None) is None:  # Parameter(t), a Tensor subclass
            source = args[0] if args and isinstance(args[0], Tensor) else None
            value = getattr(source, "_value", None)
            if value is not None:  # the same value as the tensor it wraps
                self.mode.bind(out, value)
            else:
                self.mode.created(out)
        return out

    def module_change(self, module: Module, name: str, args, kwargs, f: Frame, node) -> None:
        """A call changing a module in the captured code. Registering a tensor again under a
        buffer name the module has (a cache refreshed in forward: `self.register_buffer(
        "mask", mask)`) is an attribute write, written back after each call; anything else
        changes the module's structure, which a graph cannot replay."""
        if name == "register_buffer":
            try:
                bound = inspect.signature(Module.register_buffer).bind(module, *args, **kwargs)
            except TypeError as e:
                raise as_raised(self.error(f, node, f"register_buffer(): {e}"), e) from None
            key, value = bound.arguments.get("name"), bound.arguments.get("tensor")
            if key in module._buffers and isinstance(value, Tensor):
                self.write_attribute(module, key, value, f, node)
                return None
        raise self.error(f, node, f"{type(module).__name__}.{name}() changes the module's "
                                  "structure while it runs: a graph cannot replay that",
                         "register buffers and parameters in __init__; in forward, assign "
                         "a registered buffer (self.name = tensor)")

    # --- statements ---------------------------------------------------------------------------
    def body(self, stmts: list[ast.stmt], f: Frame) -> None:
        """Run statements; once a break/continue/return flag is a tensor, the rest is guarded
        by an `if` on the flags being false."""
        for k, stmt in enumerate(stmts):
            self.stmt(stmt, f)
            flags = [n for n in FLAGS if isinstance(f.env.get(n), Tensor)]
            if flags and k + 1 < len(stmts):
                rest = stmts[k + 1:]
                self.guard(flags, lambda rest=rest: self.body(rest, f), f, rest[0])
                return

    def guard(self, flags: list[str], then: Callable, f: Frame, node) -> None:
        stop = None
        for name in flags:
            stop = f.env[name] if stop is None else fn_ops.logical_or(stop, f.env[name])

        def go():
            for name in flags:
                f.env[name] = False
            then()

        def stopped():
            if len(flags) == 1:
                f.env[flags[0]] = True
        self.branch(fn_ops.logical_not(stop), go, stopped, f, node)

    def stmt(self, node: ast.stmt, f: Frame) -> None:
        self.mode.loc = f.source.loc(node)
        method = self.method(node, f, "s_", "statements")
        try:
            method(node, f)
        except (ScriptError, _Break, _Continue, _Return, NeedsValues, AssertionError):
            raise
        except _Escape as e:
            raise self.escape(f, node, str(e)) from None
        except TraceError as e:
            raise f.source.error(node, trace_message(e)) from None

    def s_Expr(self, node, f) -> None:
        self.expr(node.value, f)

    def s_Pass(self, node, f) -> None:
        pass

    def s_With(self, node, f) -> None:
        """`with no_grad():` (enable_grad, inference_mode; torch's or tracejit's): the body
        is captured as ordinary code, under tracejit's grad mode (no effect until autograd)."""
        with contextlib.ExitStack() as stack:
            for item in node.items:
                stack.enter_context(self.grad_mode(item, f))
            self.body(node.body, f)

    def grad_mode(self, item: ast.withitem, f: Frame) -> contextlib.AbstractContextManager:
        """tracejit's grad-mode context manager for a `with` item naming one."""
        from tracejit import autograd

        expr = item.context_expr
        func = self.expr(expr.func, f) if isinstance(expr, ast.Call) else None
        name = getattr(func, "__name__", None)
        library = str(getattr(func, "__module__", "")).split(".")[0]
        if item.optional_vars is not None or name not in _GRAD_MODES or \
                library not in ("torch", "tracejit"):
            raise f.source.error(
                expr, f"'with {ast.unparse(item)}' cannot be scripted: only grad-mode blocks "
                      f"are ('with torch.no_grad():', 'with torch.enable_grad():', "
                      f"'with torch.inference_mode():', or tracejit's)",
                "move the with statement outside the scripted function")
        args = [self.expr(a, f) for a in expr.args]
        kwargs = {k.arg: self.expr(k.value, f) for k in expr.keywords if k.arg is not None}
        return getattr(autograd, name)(*args, **kwargs)

    def s_Assign(self, node, f) -> None:
        value = self.expr(node.value, f)
        for target in node.targets:
            self.assign(target, value, f, node)

    def s_AnnAssign(self, node, f) -> None:
        if node.value is not None:
            self.assign(node.target, self.expr(node.value, f), f, node)

    def s_AugAssign(self, node, f) -> None:
        op = _INPLACE[type(node.op)]
        target = node.target
        if isinstance(target, ast.Name):
            current = self.expr(ast.Name(target.id, ast.Load(), **_pos(target)), f)
            value = self.expr(node.value, f)
            if isinstance(current, (list, dict, set)):  # += on a list extends it in place
                self.check_mutation(current, f, node, f"{target.id} {ast.unparse(node.op)}=")
            self.mode.loc = f.source.loc(node)
            self.assign(target, self.apply(op, current, value, f, node), f, node)
        elif isinstance(target, ast.Subscript):
            obj, index = self.expr(target.value, f), self.expr(target.slice, f)
            value = self.expr(node.value, f)
            self.mode.loc = f.source.loc(node)
            new = self.apply(op, self.apply(operator.getitem, obj, index, f, target), value, f,
                             node)
            self.set_item(obj, index, new, f, target)
        elif isinstance(target, ast.Attribute):  # self.count += 1: read, apply, write back
            obj = self.expr(target.value, f)
            current = self.read_attr(obj, target, f)
            value = self.expr(node.value, f)
            self.mode.loc = f.source.loc(node)
            self.write_attribute(obj, target.attr, self.apply(op, current, value, f, node), f,
                                 target)
        else:
            self.assign(target, None, f, node)  # the error for what cannot be assigned

    def s_Delete(self, node, f) -> None:
        for target in node.targets:
            if not isinstance(target, ast.Name):
                raise f.source.error(target, "del of an item or attribute mutates Python "
                                             "state the graph cannot replay")
            f.env.pop(target.id, None)

    def s_If(self, node, f) -> None:
        cond = self.expr(node.test, f)
        if isinstance(cond, Tensor):
            self.branch(self.truth(cond, node.test, f), lambda: self.body(node.body, f),
                        lambda: self.body(node.orelse, f), f, node)
        else:
            self.body(node.body if cond else node.orelse, f)

    def s_Return(self, node, f) -> NoReturn:
        raise _Return(None if node.value is None else self.expr(node.value, f))

    def s_Break(self, node, f) -> NoReturn:
        raise _Break()

    def s_Continue(self, node, f) -> NoReturn:
        raise _Continue()

    def s_Raise(self, node, f) -> None:
        if self.dynamic_depth:
            raise f.source.error(node, "raise inside an if or loop on a tensor value: the "
                                       "graph has no exceptions",
                                 "use assert for a runtime check")
        exc = self.expr(node.exc, f) if node.exc is not None else RuntimeError("raise")
        raise exc

    def s_Assert(self, node, f) -> None:
        test = self.expr(node.test, f)
        message = self.expr(node.msg, f) if node.msg is not None else None
        if not isinstance(test, Tensor):
            if not test:
                raise AssertionError(message) if message is not None else AssertionError()
            return
        if message is not None and not isinstance(message, str):
            raise f.source.error(node.msg, "the message of an assert on a tensor must be a "
                                           "str known when scripting")
        cond = self.truth(test, node.test, f)
        loc = f.source.loc(node)
        text = f"{loc}: assertion failed" + (f": {message}" if message else "")
        self.mode.loc = loc
        self.mode.body.append(Operation.create(Op.ASSERT, [self.mode.value_of(cond)],
                                               {"message": text}, [], loc=loc))

    def s_For(self, node, f) -> None:
        if node.orelse:
            raise f.source.error(node, "for ... else cannot be scripted",
                                 "use a flag variable set before break")
        iterable = node.iter
        if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name) and \
                self.expr(iterable.func, f) is range:
            bounds = [self.expr(a, f) for a in iterable.args]
            if iterable.keywords or not 1 <= len(bounds) <= 3:
                raise f.source.error(iterable, "range() takes 1 to 3 positional arguments")
            if len(bounds) == 1:
                bounds = [0, bounds[0], 1]
            elif len(bounds) == 2:
                bounds.append(1)
            return self.for_range(node, bounds, f)
        items = self.expr(iterable, f)
        self.unrolled_source = items
        try:
            items = list(items)
        except TypeError as e:
            raise f.source.error(iterable, f"cannot iterate: {e}") from None
        self.unrolled(node, items, f)

    def s_While(self, node, f) -> None:
        if node.orelse:
            raise f.source.error(node, "while ... else cannot be scripted",
                                 "use a flag variable set before break")
        test = self.expr(node.test, f)
        if isinstance(test, Tensor):
            return self.structured_loop(node, f, None)
        for _ in range(MAX_UNROLL):  # a loop on Python values runs now, as Python would
            if isinstance(test, Tensor):
                raise f.source.error(node.test, "the condition of this while loop became a "
                                                "tensor after it started as a Python value",
                                     "make it a tensor from the start (tracejit.tensor(...))")
            if not test or self.unrolled_iteration(node.body, f):
                return
            if isinstance(f.env.get(BRK), Tensor) or isinstance(f.env.get(RET), Tensor):
                raise f.source.error(node, "break or return on a tensor value inside a while "
                                           "loop on Python values",
                                     "make the loop condition a tensor")
            f.env[CONT] = False
            test = self.expr(node.test, f)
        raise f.source.error(node, f"this while loop on Python values ran {MAX_UNROLL} times "
                                   "while scripting", "make its condition a tensor")

    # --- assignment ---------------------------------------------------------------------------
    def assign(self, target, value, f: Frame, node) -> None:
        if isinstance(target, ast.Name):
            f.env[target.id] = value
            f.assigned[target.id] = node
        elif isinstance(target, (ast.Tuple, ast.List)):
            self.unpack(target, value, f, node)
        elif isinstance(target, ast.Subscript):
            obj, index = self.expr(target.value, f), self.expr(target.slice, f)
            self.mode.loc = f.source.loc(node)
            self.set_item(obj, index, value, f, target)
        elif isinstance(target, ast.Attribute):
            obj = self.expr(target.value, f)
            self.write_attribute(obj, target.attr, value, f, target)
        elif isinstance(target, ast.Starred):
            raise f.source.error(target, "a starred assignment target outside a tuple")
        else:
            raise f.source.error(target, f"cannot assign to {type(target).__name__}")

    def unpack(self, target, value, f, node) -> None:
        try:
            items = list(value)
        except TypeError:
            raise as_raised(f.source.error(node, f"cannot unpack {type(value).__name__}"),
                            TypeError()) from None
        stars = [k for k, e in enumerate(target.elts) if isinstance(e, ast.Starred)]
        n = len(target.elts)
        if (not stars and len(items) != n) or (stars and len(items) < n - 1):
            raise as_raised(f.source.error(node, f"cannot unpack {len(items)} values into "
                                                 f"{n} targets"), ValueError())
        if stars:
            k = stars[0]
            tail = len(items) - (n - k - 1)
            parts = [*items[:k], items[k:tail], *items[tail:]]
            for element, item in zip(target.elts, parts):
                self.assign(element.value if isinstance(element, ast.Starred) else element,
                            item, f, node)
            return
        for element, item in zip(target.elts, items):
            self.assign(element, item, f, node)

    def set_item(self, obj, index, value, f, node) -> None:
        if isinstance(obj, (list, dict)):
            self.check_mutation(obj, f, node, "item assignment")
            obj[index] = value
            return
        if not isinstance(obj, Tensor):
            raise f.source.error(node, f"item assignment on a {type(obj).__name__} mutates a "
                                       "Python container: the graph cannot replay it",
                                 "build a new container, or use a tensor")
        obj[index] = value

    # --- values -------------------------------------------------------------------------------
    def truth(self, value, node, f) -> Tensor:
        """A one-element tensor as a bool[] condition."""
        if not isinstance(value, Tensor):
            return self.constant(bool(value), DType.bool)
        if value._data.size != 1:
            error = f.source.error(node, f"the truth value of a tensor with "
                                         f"{value._data.size} elements (shape "
                                         f"{list(value.shape)}) is ambiguous",
                                   "reduce it first with .any() or .all()")
            raise as_raised(error, RuntimeError())  # torch's type for the same code
        self.mode.loc = f.source.loc(node)
        if value.ndim:
            value = value.reshape(())
        return value if value.dtype is DType.bool else value != 0

    def constant(self, value, dtype: DType) -> Tensor:
        t = Tensor._wrap(np.array(value, dtype.np))
        self.mode.constant(t)
        return t

    def escape(self, f: Frame, node, use: str) -> ScriptError:
        return f.source.error(node, f"a tensor computed by the function is needed as a Python "
                                    f"value here ({use})", _ESCAPE_HINT, escape=True)

    def error(self, f: Frame | None, node, reason: str, hint: str = "") -> ScriptError:
        if f is None or node is None:
            return ScriptError(reason, hint=hint)
        return f.source.error(node, reason, hint)


# --- the callables ------------------------------------------------------------------------------
class _Scripted:
    """Shared by ScriptedFunction and ScriptedModule: capture by scripting, not by running."""

    _static_scalars: bool = False

    def _bind(self, args, kwargs) -> dict:
        bound = super()._bind(args, kwargs)
        if self._static_scalars:
            return bound
        return {k: _dynamic_scalar(v) for k, v in bound.items()}

    def _trace_with(self, args, kwargs, abstract: bool):
        try:
            return self._script(args, kwargs, abstract)
        except ScriptError as e:
            if not e.escape or self._static_scalars or not self._numbers_given(args, kwargs):
                raise
        log.info("%s: a Python number argument is needed as a Python value; scripting again "
                 "with int and float arguments static (part of the cache key)", self._name)
        self._static_scalars = True
        self._cache.clear()
        self._fast.clear()
        raise _Rescript()

    def _numbers_given(self, args, kwargs) -> bool:
        """Whether the call passes int or float arguments (dynamic until one is needed)."""
        return any(type(v) in (int, float) for v in super()._bind(args, kwargs).values())

    _guards: tuple = ()  # the Python values every cached graph baked in (script_state.Guard)
    _guard_keys: dict | None = None

    def __call__(self, *args, **kwargs):
        for guard in self._guards:
            if guard.read() is not guard.value and guard.changed():
                self._stale(guard)
                break
        try:
            return super().__call__(*args, **kwargs)
        except _Rescript:  # keys change with static numbers: start the call again
            return super().__call__(*args, **kwargs)

    def _stale(self, guard) -> None:
        """A value the graphs baked in changed since scripting: drop them all, script again."""
        log.info("rescripting %s: %s", self._name, changed_guard(guard))
        self._drop()

    def _drop(self) -> None:
        """Forget every cached graph and its guards: the next call scripts again."""
        self._cache.clear()
        self._fast.clear()
        self._guards, self._guard_keys = (), None

    def _keep_guards(self, scripter: Scripter) -> None:
        keys = self._guard_keys if self._guard_keys is not None else {}
        keyed = {id(m) for m in self._module.modules()} if self._module is not None else ()
        for key, guard in scripter.guards.items():
            if key[2] != "training" or key[1] not in keyed:  # training flags: in the key
                keys.setdefault(key, guard)
        self._guard_keys, self._guards = keys, tuple(keys.values())

    def _script(self, args, kwargs, abstract: bool = True):
        """Script one signature. Abstractly (no arithmetic) unless an op's result shape depends
        on values (a boolean mask, nonzero): then again computing them, the shape a `?` dim,
        as trace does (code that reads its size as an int gets a guard, script_flow)."""
        if isinstance(current_mode(), TraceMode):
            raise ScriptError(f"scripting {self._name} while a trace is running")
        arguments = self._bind(args, kwargs)
        self._dynamic_numbers = {k for k, v in arguments.items() if isinstance(v, _Scalar)}
        leaves, structure, names = pytree.flatten(arguments)
        state_names, state = self._state()
        mode = ScriptMode(self._name, abstract)
        scripter = Scripter(mode)
        # a loop whose carried sizes change: with Python numbers dynamic, script again with them
        # static first (a range over one unrolls, keeping static sizes); else the sizes are `?`
        scripter.widen_loops = not self._dynamic_numbers
        try:
            for tensor, name in zip(leaves, names):
                mode.add_input(tensor, name)
            for tensor, name in zip(state, state_names):
                mode.add_input(tensor, name)
            with using_mode(mode), SizeReads(mode):
                result = self._run(scripter, arguments)
                writes = scripter.written_attributes()
                if writes:  # extra outputs, written back to the attributes after each call
                    result = (result, [getattr(obj, name) for obj, name in writes])
                outs, out_structure, _ = pytree.flatten(result)
                try:
                    graph, mutated, sources = mode.finish(outs)
                except TraceError as e:  # a result refused (see ScriptMode.value_of)
                    where = f"{mode.loc}: error: " if mode.loc is not None else ""
                    raise ScriptError(trace_message(e), where) from None
        except NeedsValues as e:
            if not abstract:  # pragma: no cover - a mode computing values never asks for them
                raise ScriptError(f"{e} gives a result whose shape depends on the values") \
                    from None
            needs = e
        else:
            needs = None
        finally:
            scripter.restore_attributes()
            mode.release()
        if needs is not None:
            log.info("%s: %s has a data-dependent shape; scripting again with real values",
                     self._name, needs)
            return self._script(args, kwargs, abstract=False)
        self._keep_guards(scripter)
        spec = self._specialize(graph, structure, out_structure, leaves, state_names, mutated,
                                sources, "scripted", mode.aliases)
        spec.writes = writes
        return spec, ABSTRACT

    @property
    def code(self) -> str:
        """The source as the scripter understood it (`ast.unparse`)."""
        return ast.unparse(self._tree())


class ScriptedFunction(_Scripted, TracedFunction):
    """A scripted Python function: call it like the original."""

    def _run(self, scripter: Scripter, arguments: dict):
        return call_bound(scripter, self._fn, self._signature, arguments)

    def _tree(self):
        return source_of(self._fn).tree


class ScriptedModule(_Scripted, TracedModule):
    """A scripted nn.Module: its forward (and the user code it calls) captured from source."""

    def _run(self, scripter: Scripter, arguments: dict):
        forward = unwrap_library(type(self._module).forward)
        if not _is_user_function(forward):
            try:
                return scripter.call(self._module, list(arguments.values()), {}, None, None)
            except _Escape as e:  # library code reading a value (no source to point at)
                raise ScriptError(f"{type(self._module).__name__}.forward needs a tensor "
                                  f"computed by the module as a Python value ({e})",
                                  hint=_ESCAPE_HINT, escape=True) from None
        return scripter.call_function(forward, (self._module,), arguments)

    def _tree(self):
        return source_of(unwrap_library(type(self._module).forward)).tree


def call_bound(scripter: Scripter, fn, signature, arguments: dict) -> Any:
    """Script `fn` called with `arguments` (bound by `signature`: *args and **kwargs
    parameters hold their tuple and dict)."""
    if signature is None or not any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                                    for p in signature.parameters.values()):
        return scripter.call_function(fn, (), arguments)
    bound = inspect.BoundArguments(signature, dict(arguments))
    return scripter.call_function(fn, bound.args, bound.kwargs)


def script(fn_or_module=None, *, strict: bool = False, cache_size: int = 8,
           pipeline: str | None = None, backend: str | None = None,
           ) -> ScriptedFunction | ScriptedModule | Callable[[Any], Any]:
    """Capture `fn_or_module` from its source, with its control flow, into a graph.

    Use as `@tracejit.script` on a function or `tracejit.script(module)` on an nn.Module.
    Scripting happens at the first call of each input signature (dtypes and shapes of the
    tensors, types of int/float arguments, values of other Python arguments); `.graph` and
    `.code` show what was captured. Options as in `tracejit.trace`.
    """
    from tracejit.passes import DEFAULT_PIPELINE
    if fn_or_module is None:
        return lambda f: script(f, strict=strict, cache_size=cache_size, pipeline=pipeline,
                                backend=backend)
    options = {"freeze": False, "strict": strict, "cache_size": cache_size,
               "pipeline": DEFAULT_PIPELINE if pipeline is None else pipeline,
               "backend": default_backend(backend)}
    if isinstance(fn_or_module, Module):
        return ScriptedModule(fn_or_module, **options)
    fn_or_module = unwrap_library(fn_or_module)
    if isinstance(fn_or_module, types.FunctionType):
        source_of(fn_or_module)  # unreadable source fails now, not at the first call
        return ScriptedFunction(fn_or_module, fn_or_module.__name__, None, **options)
    raise TypeError(f"script() takes a function or an nn.Module, got "
                    f"{type(fn_or_module).__name__}")


_GRAD_MODES = ("no_grad", "enable_grad", "inference_mode")
# module methods that change the module (its tables, hooks) when called
_MODULE_CHANGES = frozenset({
    "register_buffer", "register_parameter", "register_module", "add_module",
    "register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook",
    "register_backward_hook", "load_state_dict", "apply", "to", "cuda", "cpu", "float",
    "double", "half", "type", "requires_grad_", "zero_grad", "train", "eval",
    "set_submodule", "share_memory"})


def changed_guard(guard) -> str:
    """A guard that failed, as recompile messages say it: "`self.scale` was 2.0, is 3.0"."""
    now = guard.read()
    return f"{guard.what} was {_show(guard.value)}, is " + (
        "deleted" if now is MISSING else _show(now))


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _pos(node) -> dict:
    return {k: getattr(node, k) for k in ("lineno", "col_offset", "end_lineno",
                                          "end_col_offset")}

