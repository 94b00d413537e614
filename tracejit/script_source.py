"""Script mode's view of source code: parsing a function, mapping AST positions back to the
file, and the errors (`ScriptError`) that point at a construct with a caret."""

from __future__ import annotations

import ast
import collections
import contextlib
import inspect
import linecache
import operator
import os
import sysconfig
import textwrap
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tracejit.ir.graph import Loc
from tracejit.nn.module import Module
from tracejit.tensor import Tensor
from tracejit.tracer import TraceError

BRK, CONT, RET, RETVAL = "$break", "$continue", "$return", "$retval"
FLAGS = (BRK, CONT, RET)
MISSING = object()
MAX_UNROLL = 10_000  # iterations of a loop on Python values, run at scripting time
MAX_DEPTH = 64  # nested calls of scripted functions (recursion)


class ScriptError(Exception):
    """Code `@tracejit.script` cannot capture; the message points at the construct."""

    def __init__(self, reason: str, where: str = "", hint: str = "", node=None,
                 escape: bool = False):
        self.reason, self.where, self.hint, self.node = reason, where, hint, node
        self.escape = escape  # a traced value was needed as a Python value
        super().__init__(where + reason + (f"\n  hint: {hint}" if hint else ""))


_TYPED: dict[type, type | None] = {}


def as_raised(error: ScriptError, cause: BaseException) -> ScriptError:
    """`error` (the user's location, the source line, `cause`'s text) as an instance of both
    ScriptError and `cause`'s type, so code catching torch's RuntimeError/IndexError/TypeError
    catches it; a capture limit (a TraceError) stays a plain ScriptError."""
    kind = type(cause)
    if isinstance(cause, (TraceError, ScriptError)):
        return error
    if kind not in _TYPED:
        try:
            _TYPED[kind] = type(f"ScriptError[{kind.__name__}]", (ScriptError, kind),
                                {"__module__": __name__})
        except TypeError:  # an exception type with its own instance layout
            _TYPED[kind] = None
    typed = _TYPED[kind]
    if typed is None:
        return error
    try:
        out = typed(error.reason, error.where, error.hint, error.node, error.escape)
    except Exception:  # a user exception whose __init__ takes other arguments
        return error
    out.__cause__, out.__suppress_context__ = error.__cause__, True
    return out


def trace_message(error: TraceError) -> str:
    """A TraceError's text without the location the tracer found (the scripted function's
    caller, not the scripted line: the ScriptError adds the right one)."""
    text = str(error)
    prefix = f"{error.loc}: error: "
    return text[len(prefix):] if error.loc is not None and text.startswith(prefix) else text


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _Return(Exception):
    def __init__(self, value):
        self.value = value


class _Rescript(Exception):
    """Script again from the start of the call (int/float arguments became static)."""


class _Escape(TraceError):
    """A dynamic value used as a Python value (bool(), int(), an index, numpy, ...)."""


@dataclass
class Undefined:
    """A variable assigned on some paths only; reading it is an error."""

    name: str
    why: str


# --- source -------------------------------------------------------------------------------------
@dataclass
class Source:
    """A function's parsed source and how its AST positions map back to the file."""

    file: str
    tree: ast.FunctionDef
    line0: int  # added to an AST line number
    col0: int  # added to an AST column (the indentation dedent removed)

    def loc(self, node: ast.AST) -> Loc:
        return Loc(self.file, node.lineno + self.line0, node.col_offset + self.col0 + 1)

    def error(self, node: ast.AST, reason: str, hint: str = "",
              escape: bool = False) -> ScriptError:
        line = node.lineno + self.line0
        col = node.col_offset + self.col0
        text = linecache.getline(self.file, line).rstrip("\n")
        end = (node.end_col_offset + self.col0
               if node.end_lineno == node.lineno and node.end_col_offset else len(text))
        caret = " " * col + "^" * max(1, end - col)
        where = f"{self.file}:{line}:{col + 1}: error: "
        reason = f"{reason}\n    {text}\n    {caret}" if text else reason
        return ScriptError(reason, where, hint, node, escape)


_SOURCES: dict[types.CodeType, Source] = {}


def source_of(fn: types.FunctionType) -> Source:
    code = fn.__code__
    found = _SOURCES.get(code)
    if found is not None:
        return found
    name = getattr(fn, "__qualname__", repr(fn))
    if fn.__name__ == "<lambda>":
        found = _SOURCES[code] = _lambda_source(fn, name)
        return found
    try:
        # the code's own lines: inspect would follow functools.wraps' __wrapped__ to the
        # decorated function, and script the wrapper as if it were that function
        lines, start = inspect.getsourcelines(code)
    except (OSError, TypeError) as e:
        raise ScriptError(f"cannot read the source of {name} ({e}): script reads a function's "
                          "source file", hint="define the function in a .py file") from None
    text = "".join(lines)
    col0 = len(lines[0]) - len(lines[0].lstrip())
    try:
        tree = ast.parse(textwrap.dedent(text))
    except SyntaxError as e:
        raise ScriptError(f"cannot parse the source of {name}: {e.msg}") from None
    node = tree.body[0]
    if not isinstance(node, ast.FunctionDef):
        raise ScriptError(f"cannot script {name}: only functions defined with def are supported "
                          "(not async def)")
    node.decorator_list = []  # @tracejit.script itself; others are not re-applied
    found = _SOURCES[code] = Source(code.co_filename, node, start - 1, col0)
    return found


def _lambda_source(fn: types.FunctionType, name: str) -> Source:
    """A lambda as a function `def <lambda>(params): return body`: the one lambda on its first
    line with `fn`'s parameters (found with ast); a ScriptError at that line otherwise."""
    code = fn.__code__
    file, line = code.co_filename, code.co_firstlineno
    params = list(code.co_varnames[:code.co_argcount + code.co_kwonlyargcount])
    found, where = [], None
    with contextlib.suppress(SyntaxError, OSError, TypeError):
        lines, start = inspect.getsourcelines(fn)
        indent = len(lines[0]) - len(lines[0].lstrip())
        tree = ast.parse(textwrap.dedent("".join(lines)))
        on_line = [node for node in ast.walk(tree) if isinstance(node, ast.Lambda)
                   and node.lineno + start - 1 == line]
        found = [n for n in on_line
                 if [a.arg for a in (*n.args.posonlyargs, *n.args.args, *n.args.kwonlyargs)]
                 == params]
        where = Source(file, None, start - 1, indent)
    if len(found) == 1:
        lam = found[0]
        body = ast.copy_location(ast.Return(lam.body), lam.body)
        extra = {"type_params": []} if "type_params" in ast.FunctionDef._fields else {}
        tree = ast.copy_location(ast.FunctionDef(name="<lambda>", args=lam.args, body=[body],
                                                 decorator_list=[], returns=None, **extra), lam)
        return Source(file, ast.fix_missing_locations(tree), where.line0, where.col0)
    reason = (f"cannot script the lambda {name}: " + (
        f"{len(found)} lambdas with its parameters start on this line" if found else
        "its source is not found (a lambda spread over lines, or without a source file)"))
    if where is not None and found:
        raise where.error(found[0], reason, "define it with def")
    text = linecache.getline(file, line)
    col = text.find("lambda")
    if col < 0:
        raise ScriptError(reason, f"{file}:{line}: error: ", "define it with def")
    node = ast.Lambda(lineno=1, col_offset=col, end_lineno=1, end_col_offset=col + 6)
    raise Source(file, None, line - 1, 0).error(node, reason, "define it with def")


def unwrap_library(fn) -> Callable[..., Any]:
    """The function under library decorators (`@no_grad()`, contextlib, functools.wraps in the
    standard library or tracejit): their wrapper frames change nothing a graph captures, and
    their source is not the user's."""
    for _ in range(100):
        wrapped = getattr(fn, "__wrapped__", None)
        if not isinstance(fn, types.FunctionType) or wrapped is None:
            break
        file = fn.__code__.co_filename
        if not (file.startswith(_LIBRARY) or file.startswith(_TRACEJIT)):
            break
        fn = wrapped
    return fn


_TRACEJIT = os.path.dirname(os.path.abspath(__file__)) + os.sep  # tracejit/ itself
_LIBRARY = tuple({sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib",
                                                     "platlib")})


def _is_user_function(fn) -> bool:
    """Code scripted from its source (user code), not called as a library function."""
    if not isinstance(fn, types.FunctionType):
        return False
    module = fn.__module__ or ""
    if module == "tracejit" or module.startswith("tracejit."):
        return False
    file = fn.__code__.co_filename
    if file.startswith("<"):  # exec'd code: user code when its source was registered
        return bool(linecache.getlines(file))
    return not file.startswith(_LIBRARY)


def _is_user_module(module: Module) -> bool:
    forward = getattr(type(module), "forward", None)
    return _is_user_function(unwrap_library(forward))



_ESCAPE_HINT = ("keep the value a tensor (tracejit.where() selects without branching; an `if` "
                "on a one-element tensor is captured), or compute it from Python values and "
                "shapes known when the function is scripted")
_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
           ast.Pow: operator.pow, ast.MatMult: operator.matmul, ast.BitAnd: operator.and_,
           ast.BitOr: operator.or_, ast.BitXor: operator.xor, ast.LShift: operator.lshift,
           ast.RShift: operator.rshift}
_INPLACE = {ast.Add: operator.iadd, ast.Sub: operator.isub, ast.Mult: operator.imul,
            ast.Div: operator.itruediv, ast.FloorDiv: operator.ifloordiv,
            ast.Mod: operator.imod, ast.Pow: operator.ipow, ast.MatMult: operator.imatmul,
            ast.BitAnd: operator.iand, ast.BitOr: operator.ior, ast.BitXor: operator.ixor,
            ast.LShift: operator.ilshift, ast.RShift: operator.irshift}
_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt,
            ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
            ast.Is: operator.is_, ast.IsNot: operator.is_not,
            ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert}
_MUTATORS = {"append", "extend", "insert", "pop", "remove", "clear", "update", "setdefault",
             "add", "discard", "popitem", "sort", "reverse", "appendleft", "extendleft",
             "popleft", "rotate", "subtract", "move_to_end", "difference_update",
             "intersection_update", "symmetric_difference_update"}
# Python containers the code may change in place (collections' dicts are dicts already)
MUTABLE = (list, dict, set, collections.deque, bytearray)
UNSUPPORTED = {
    ast.Try: ("try/except", "the graph has no exceptions; check inputs before calling, or "
                            "use assert for a runtime check"),
    ast.AsyncWith: ("async with", "move it outside the scripted function"),
    ast.AsyncFor: ("async for", "use a for loop over range() or a list"),
    ast.AsyncFunctionDef: ("an async function", "define a plain function at module level"),
    ast.ClassDef: ("a class definition", "define the class at module level"),
    ast.Global: ("a global statement (mutating globals)", "return the value instead"),
    ast.Nonlocal: ("a nonlocal statement (mutating an enclosing scope)",
                   "return the value instead"),
    ast.Import: ("an import", "import at module level"),
    ast.ImportFrom: ("an import", "import at module level"),
    ast.Match: ("a match statement", "use if/elif"),
    ast.Yield: ("a generator (yield)", "return a tuple or list instead"),
    ast.YieldFrom: ("a generator (yield from)", "return a tuple or list instead"),
    ast.Await: ("await", "script synchronous code"),
    ast.SetComp: ("a set comprehension", "use a list comprehension over a Python list"),
    ast.TryStar: ("try/except*", "the graph has no exceptions; check inputs before calling, or "
                                 "use assert for a runtime check"),
}



def describe(v) -> str:
    """How a value reads in an error message."""
    if isinstance(v, Tensor):
        return f"a {v._type} tensor"
    if v is None:
        return "None"
    if isinstance(v, Undefined) or v is MISSING:
        return "undefined"
    if isinstance(v, (tuple, list, dict)):
        return f"a {type(v).__name__} of {len(v)}"
    return f"a {type(v).__name__} ({v!r})" if isinstance(v, (bool, int, float, str)) else \
        f"a {type(v).__name__}"


def show(name: str) -> str:
    """A variable's name as errors show it (script's own flags by what they stand for)."""
    return {RETVAL: "<return value>", BRK: "<break>", RET: "<return>"}.get(name, name)
