"""Script mode's expressions: each `ast.expr` evaluated symbolically (Python values computed
now, tensor values recorded through the ScriptMode), the `e_*` half of the Scripter."""

from __future__ import annotations

import ast
import builtins
import copy
import inspect
import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tracejit import functions as fn_ops
from tracejit.script_flow import _restore_names
from tracejit.script_source import (
    _BINOPS,
    _COMPARE,
    _UNARY,
    MAX_DEPTH,
    UNSUPPORTED,
    ScriptError,
    Undefined,
    _Break,
    _Continue,
    _Escape,
    _Return,
    as_raised,
    trace_message,
)
from tracejit.tensor import Tensor
from tracejit.tracer import NeedsValues, TraceError

if TYPE_CHECKING:
    from tracejit.scripting import Frame


class Expressions:
    """The expression half of the Scripter (see scripting.py)."""

    def expr(self, node: ast.expr, f: Frame) -> Any:
        return self.method(node, f, "e_", "expressions")(node, f)

    def method(self, node, f: Frame, prefix: str, what: str) -> Callable:
        """The s_*/e_* method for `node`; ScriptError for a construct script does not take."""
        kind = type(node)
        if kind in UNSUPPORTED:
            construct, hint = UNSUPPORTED[kind]
            raise f.source.error(node, f"{construct} cannot be scripted", hint)
        method = getattr(self, prefix + kind.__name__, None)
        if method is None:
            raise f.source.error(node, f"{kind.__name__} {what} cannot be scripted")
        return method

    def apply(self, fn, a, b, f, node) -> Any:
        self.mode.loc = f.source.loc(node)
        try:
            return fn(a, b)
        except _Escape as e:
            raise self.escape(f, node, str(e)) from None
        except (ScriptError, NeedsValues):
            raise
        except TraceError as e:
            raise f.source.error(node, trace_message(e)) from None
        except Exception as e:
            raise as_raised(f.source.error(node, f"{type(e).__name__}: {e}"), e) from None

    def e_Lambda(self, node, f) -> _Lambda:
        """A lambda in scripted code: a callable that scripts its body inline when called
        (by the code, or by `map`/`sorted` and friends), seeing the variables of `f` then."""
        args = node.args
        defaults = [self.expr(d, f) for d in args.defaults]
        kw_defaults = [None if d is None else self.expr(d, f) for d in args.kw_defaults]
        return _Lambda(self, node, f, _lambda_signature(args, defaults, kw_defaults))

    def s_FunctionDef(self, node: ast.FunctionDef, f: Frame) -> None:
        """A nested `def`: a callable that scripts its body inline when called, reading the
        enclosing function's variables as they are then (a closure)."""
        if node.decorator_list:
            raise f.source.error(node.decorator_list[0], "a decorator on a nested function "
                                 "cannot be scripted", "define the decorated helper at module "
                                 "level; script calls it from there")
        args = node.args
        defaults = [self.expr(d, f) for d in args.defaults]
        kw_defaults = [None if d is None else self.expr(d, f) for d in args.kw_defaults]
        signature = _lambda_signature(args, defaults, kw_defaults)
        target = ast.Name(node.name, ast.Store(), lineno=node.lineno, col_offset=node.col_offset)
        self.assign(target, _Nested(self, node, f, signature), f, node)

    def e_GeneratorExp(self, node, f) -> Any:
        """A generator expression runs now, as the list comprehension it equals; the code
        gets an iterator over the values (it has no effects a lazy run would skip)."""
        out: list = []
        self.comprehension(node.generators, 0, lambda: out.append(self.expr(node.elt, f)), f)
        return iter(out)

    def e_Constant(self, node, f) -> Any:
        return node.value

    def e_Name(self, node, f) -> Any:
        name = node.id
        for scope in (f.env, f.closure, f.globals):
            if name in scope:
                value = scope[name]
                if isinstance(value, Undefined):
                    raise f.source.error(node, f"variable '{name}' {value.why}",
                                         "assign it on every path before this use")
                if scope is f.globals:
                    self.guard_name(scope, name, value)
                elif scope is f.closure and name not in f.shadow and name in f.cells:
                    self.guard_name(None, name, value, f.cells[name])
                return value
        if hasattr(builtins, name):
            return getattr(builtins, name)
        raise f.source.error(node, f"name '{name}' is not defined")

    def e_NamedExpr(self, node, f) -> Any:
        value = self.expr(node.value, f)
        self.assign(node.target, value, f, node)
        return value

    def e_Attribute(self, node, f) -> Any:
        obj = self.expr(node.value, f)
        self.mode.loc = f.source.loc(node)
        return self.read_attr(obj, node, f)

    def read_attr(self, obj, node: ast.Attribute, f) -> Any:
        """`obj.<node.attr>` as the code reads it: guarded, tensor attributes noted."""
        try:
            value = getattr(obj, node.attr)
        except AttributeError as e:
            raise f.source.error(node, str(e)) from None
        self.guard_attribute(obj, node.attr, value, node)
        return self.read_attribute(obj, node.attr, value)

    def e_Subscript(self, node, f) -> Any:
        obj, index = self.expr(node.value, f), self.expr(node.slice, f)
        out = self.apply(operator.getitem, obj, index, f, node)
        if self.compile_mode:
            self.check_foreign(obj, out, f, node)
        return out

    def check_foreign(self, container, item, f, node) -> None:
        """Under compile: a tensor read out of a list or dict the captured code did not make
        and was not given as an input would be baked in as a constant, and the container may
        hold another one next call: the read runs as Python."""
        if isinstance(item, Tensor) and getattr(item, "_value", None) is None and \
                isinstance(container, (list, dict)) and id(container) not in self.owned:
            raise f.source.error(node, f"a tensor read from a {type(container).__name__} "
                                       "that is no input of the captured code (a global, a "
                                       "closure variable, an attribute)")

    def e_Slice(self, node, f) -> slice:
        parts = [None if p is None else self.expr(p, f)
                 for p in (node.lower, node.upper, node.step)]
        return slice(*parts)

    def e_Tuple(self, node, f) -> tuple:
        return tuple(self.elements(node.elts, f))

    def e_List(self, node, f) -> list:
        return self.made(self.elements(node.elts, f))

    def e_Set(self, node, f) -> set:
        return set(self.elements(node.elts, f))

    def e_Dict(self, node, f) -> dict:
        out = self.made({})
        for key, value in zip(node.keys, node.values):
            if key is None:
                out.update(self.expr(value, f))
            else:
                out[self.expr(key, f)] = self.expr(value, f)
        return out

    def elements(self, elts, f) -> list:
        out = []
        for e in elts:
            if isinstance(e, ast.Starred):
                out.extend(self.expr(e.value, f))
            else:
                out.append(self.expr(e, f))
        return out

    def e_JoinedStr(self, node, f) -> str:
        return "".join(str(self.expr(v, f)) for v in node.values)

    def e_FormattedValue(self, node, f) -> Any:
        value = self.expr(node.value, f)
        if isinstance(value, Tensor):  # its text needs its values
            raise self.escape(f, node, "a tensor formatted into a string")
        spec = self.expr(node.format_spec, f) if node.format_spec is not None else ""
        conversion = {115: str, 114: repr, 97: ascii}.get(node.conversion)
        if conversion is not None:
            value = conversion(value)
        return self.apply(format, value, spec, f, node)

    def e_BinOp(self, node, f) -> Any:
        a, b = self.expr(node.left, f), self.expr(node.right, f)
        out = self.apply(_BINOPS[type(node.op)], a, b, f, node)
        return self.made(out) if isinstance(out, (list, dict)) else out  # xs + [y]: a new one

    def e_UnaryOp(self, node, f) -> Any:
        value = self.expr(node.operand, f)
        if isinstance(node.op, ast.Not):
            if isinstance(value, Tensor):
                return fn_ops.logical_not(self.truth(value, node.operand, f))
            return not value
        self.mode.loc = f.source.loc(node)
        return self.apply(lambda v, _: _UNARY[type(node.op)](v), value, None, f, node)

    def e_Compare(self, node, f) -> Any:
        left = self.expr(node.left, f)
        result = True
        for op, right_node in zip(node.ops, node.comparators):
            right = self.expr(right_node, f)
            part = self.apply(_COMPARE[type(op)], left, right, f, node)
            result = part if result is True else self.both(result, part, f, node)
            if result is False:
                return False
            left = right
        return result

    def both(self, a, b, f, node) -> Any:
        if isinstance(a, Tensor) or isinstance(b, Tensor):
            return fn_ops.logical_and(self.truth(a, node, f), self.truth(b, node, f))
        return a and b

    def e_BoolOp(self, node, f) -> Any:
        """and/or: Python's short circuit on Python values; on tensors both sides are
        evaluated and combined with logical_and/logical_or."""
        result = self.expr(node.values[0], f)
        is_and = isinstance(node.op, ast.And)
        for right_node in node.values[1:]:
            if isinstance(result, Tensor):
                right = self.expr(right_node, f)
                combine = fn_ops.logical_and if is_and else fn_ops.logical_or
                self.mode.loc = f.source.loc(node)
                result = combine(self.truth(result, node, f), self.truth(right, node, f))
            elif (is_and and not result) or (not is_and and result):
                return result
            else:
                result = self.expr(right_node, f)
        return result

    def e_IfExp(self, node, f) -> Any:
        cond = self.expr(node.test, f)
        if not isinstance(cond, Tensor):
            return self.expr(node.body if cond else node.orelse, f)
        key = "$ifexp"

        def side(expr):
            def run():
                f.env[key] = self.expr(expr, f)
            return run
        self.branch(self.truth(cond, node.test, f), side(node.body), side(node.orelse), f,
                    node)
        return f.env.pop(key)

    def e_Call(self, node, f) -> Any:
        func = self.expr(node.func, f)
        args = self.elements(node.args, f)
        kwargs = {}
        for keyword in node.keywords:
            if keyword.arg is None:
                kwargs.update(self.expr(keyword.value, f))
            else:
                kwargs[keyword.arg] = self.expr(keyword.value, f)
        if func is range and any(isinstance(a, Tensor) for a in args):
            raise f.source.error(node, "range() of a tensor outside a for statement",
                                 "use it directly as the iterable of a for loop")
        try:
            return self.call(func, args, kwargs, node, f)
        except _Escape as e:
            raise self.escape(f, node, str(e)) from None
        except (ScriptError, NeedsValues, _Break, _Continue, _Return):
            raise
        except TraceError as e:
            raise f.source.error(node, trace_message(e)) from None
        except Exception as e:
            raise as_raised(f.source.error(node, f"{type(e).__name__}: {e}"), e) from None

    def e_ListComp(self, node, f) -> list:
        out: list = self.made([])
        self.comprehension(node.generators, 0, lambda: out.append(self.expr(node.elt, f)), f)
        return out

    def e_DictComp(self, node, f) -> dict:
        out: dict = self.made({})

        def put():
            out[self.expr(node.key, f)] = self.expr(node.value, f)
        self.comprehension(node.generators, 0, put, f)
        return out

    def comprehension(self, generators, k, emit, f) -> Any:
        if k == len(generators):
            return emit()
        g = generators[k]
        items = self.expr(g.iter, f)
        if isinstance(items, Tensor):
            raise f.source.error(g.iter, "a comprehension over a tensor cannot be scripted",
                                 "use a for loop, or tensor ops on the whole tensor")
        saved = dict(f.env)
        try:
            for item in items:
                self.assign(g.target, item, f, g.target)
                conds = [self.expr(c, f) for c in g.ifs]
                if any(isinstance(c, Tensor) for c in conds):
                    raise f.source.error(g.ifs[0], "a comprehension filtered on a tensor value "
                                                   "cannot be scripted",
                                         "use tracejit.where() or boolean masks")
                if all(conds):
                    self.comprehension(generators, k + 1, emit, f)
        finally:
            f.env = _restore_names(f.env, saved)


class _Lambda:
    """What a lambda in scripted code evaluates to (see Expressions.e_Lambda)."""

    def __init__(self, scripter: Expressions, node: ast.Lambda, frame: Frame,
                 signature: inspect.Signature):
        self.scripter, self.node, self.frame, self.signature = scripter, node, frame, signature

    def __call__(self, *args, **kwargs):
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as e:
            raise self.frame.source.error(self.node, f"<lambda>(): {e}") from None
        bound.apply_defaults()
        inner = copy.copy(self.frame)
        inner.env = {**self.frame.env, **bound.arguments}
        return self.scripter.expr(self.node.body, inner)


class _Nested(_Lambda):
    """What a nested `def` in scripted code binds its name to (see Expressions.s_FunctionDef)."""

    def __call__(self, *args, **kwargs) -> Any:
        from tracejit.scripting import Frame

        name = self.node.name
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as e:
            raise self.frame.source.error(self.node, f"{name}(): {e}") from None
        bound.apply_defaults()
        if self.scripter.depth >= MAX_DEPTH:
            raise self.frame.source.error(self.node, f"calls nested more than {MAX_DEPTH} deep "
                                          f"(recursion into {name}?)", "script supports "
                                          "recursion only when it ends at scripting time")
        for p in self.signature.parameters.values():
            if p.kind is p.VAR_KEYWORD:  # a new dict on every call, as for a top function
                self.scripter.made(bound.arguments[p.name])
        inner = Frame.nested(self.frame, dict(bound.arguments))
        return self.scripter.run_frame(inner, self.node, name)


def _lambda_signature(args: ast.arguments, defaults: list, kw_defaults: list):
    P = inspect.Parameter
    positional = [(a, P.POSITIONAL_ONLY) for a in args.posonlyargs] + \
        [(a, P.POSITIONAL_OR_KEYWORD) for a in args.args]
    first_default = len(positional) - len(defaults)
    params = [P(a.arg, kind, default=defaults[k - first_default] if k >= first_default
                else P.empty) for k, (a, kind) in enumerate(positional)]
    if args.vararg is not None:
        params.append(P(args.vararg.arg, P.VAR_POSITIONAL))
    params += [P(a.arg, P.KEYWORD_ONLY, default=P.empty if d is None else d)
               for a, d in zip(args.kwonlyargs, kw_defaults)]
    if args.kwarg is not None:
        params.append(P(args.kwarg.arg, P.VAR_KEYWORD))
    return inspect.Signature(params)
