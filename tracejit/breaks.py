"""Graph breaks: a function's source split into regions that compile and statements that run as
Python (the layout `tracejit.compile` runs when a function cannot be captured whole).

A `Plan` holds the function's syntax tree with absolute file positions, every node numbered,
and the set of statements that must run as Python (`marks`). `Plan.build` turns the tree into
an ordinary Python function in which each maximal run of capturable statements of a block is one
call to a `Region` (tracejit/regions.py: scripted lazily, with its own guards and cache), and
every other statement is the user's own statement at its own line. A compound statement holding
a marked statement (a loop or `if` whose body breaks, a `try`, a `with`) runs as Python with its
bodies split the same way. Generated code is compiled with the user's file name and line numbers,
so a traceback through it shows the user's lines.

Statements always run as Python (no graph can hold them): `global`, `nonlocal`, imports, nested
`def`/`class`, `try`, `match`, async statements, `break`/`continue`, a `return` outside the final
run of the function body, and compound statements holding any of those that leave them.
"""

from __future__ import annotations

import ast
import copy
import itertools
import types
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from tracejit.script_source import Source, source_of

# per function code object: the statements found to break, by position, and the calls whose
# callee compiles on its own (shared by every Plan of that code)
KNOWN: dict[types.CodeType, dict] = {}
UNBOUND = type("Unbound", (), {"__repr__": lambda self: "<unbound>", "__slots__": ()})()
RETURN_VALUE = "__tj_rv"  # a non-trivial `return e` inside a block is `__tj_rv = e; return __tj_rv`

_BLOCKS = ("body", "orelse", "finalbody", "handlers")
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_LOOPS = (ast.For, ast.While, ast.AsyncFor)
# statements no graph holds: Python runs them, their bodies (if any) split into regions
_ALWAYS_PYTHON = (ast.Global, ast.Nonlocal, ast.Import, ast.ImportFrom, ast.FunctionDef,
                  ast.AsyncFunctionDef, ast.ClassDef, ast.Try, ast.Break, ast.Continue,
                  ast.AsyncFor, ast.AsyncWith, ast.Match, ast.Raise)
# of those, the ones explain reports as breaks (the rest are control flow or declarations)
_REPORTED = {ast.Import: "an import statement", ast.ImportFrom: "an import statement",
             ast.FunctionDef: "a nested def", ast.AsyncFunctionDef: "a nested def",
             ast.ClassDef: "a class statement", ast.Try: "a try statement (its body is "
             "compiled)", ast.Match: "a match statement", ast.AsyncFor: "an async for",
             ast.AsyncWith: "an async with", ast.Raise: "a raise statement"}
_TRY_STAR = (ast.TryStar,) if hasattr(ast, "TryStar") else ()
_SPLIT = (ast.If, ast.For, ast.While, ast.With, ast.Try, *_TRY_STAR)  # bodies split when Python


@dataclass(eq=False)
class Break:
    """One statement that runs as Python because it could not be captured."""

    reason: str
    file: str
    line: int
    col: int
    source_line: str
    stack: list[str] = field(default_factory=list)  # the user call stack, outermost first
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}:{self.col}: {self.reason}"
        if self.source_line:
            text += f"\n    {self.source_line.strip()}"
        return text

    def to_dict(self) -> dict:
        return {"reason": self.reason, "file": self.file, "line": self.line, "col": self.col,
                "source_line": self.source_line, "stack": list(self.stack), "hint": self.hint}


def _absolute(tree: ast.AST, line0: int, col0: int) -> ast.AST:
    """A copy of `tree` with file line numbers and columns (Source.loc's arithmetic)."""
    tree = copy.deepcopy(tree)
    for node in ast.walk(tree):
        if hasattr(node, "lineno"):
            node.lineno += line0
            node.end_lineno = (node.end_lineno or node.lineno - line0) + line0
            node.col_offset += col0
            if node.end_col_offset is not None:
                node.end_col_offset += col0
    return tree


def position(node: ast.AST, line0: int = 0, col0: int = 0) -> tuple:
    """Where a node is in its file: the key that finds a script error's node in a Plan."""
    return (type(node).__name__, node.lineno + line0, node.col_offset + col0,
            (node.end_lineno or 0) + line0, (node.end_col_offset or 0) + col0)


def _header(stmt: ast.stmt) -> Iterable[ast.AST]:
    """The nodes of a statement outside its nested statement blocks (a `for`'s target and
    iterable, an `if`'s test, a `with`'s items, an `except`'s type)."""
    for name, value in ast.iter_fields(stmt):
        if name in _BLOCKS:
            if name == "handlers":
                for handler in value:
                    if handler.type is not None:
                        yield from ast.walk(handler.type)
            continue
        for child in value if isinstance(value, list) else [value]:
            if isinstance(child, ast.AST):
                yield from ast.walk(child)


def _blocks(stmt: ast.stmt) -> list[list[ast.stmt]]:
    out = []
    for name in ("body", "orelse", "finalbody"):
        block = getattr(stmt, name, None)
        if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
            out.append(block)
    out.extend(h.body for h in getattr(stmt, "handlers", ()))
    out.extend(c.body for c in getattr(stmt, "cases", ()))
    return out


def _walk_scope(node: ast.AST) -> Iterable[ast.AST]:
    """ast.walk without entering nested functions, classes, lambdas and comprehensions."""
    todo = [node]
    while todo:
        n = todo.pop()
        yield n
        for child in ast.iter_child_nodes(n):
            if not isinstance(child, (*_SCOPES, *_COMPREHENSIONS)):
                todo.append(child)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                yield child  # its name is bound here; decorators and defaults run here too
                todo.extend([*child.decorator_list,
                             *getattr(getattr(child, "args", None), "defaults", ()),
                             *getattr(getattr(child, "args", None), "kw_defaults", ())])
            else:
                yield from (c for c in ast.walk(child) if isinstance(c, ast.Name)
                            and isinstance(c.ctx, ast.Load))  # the names it reads


def stored(stmts: Iterable[ast.stmt]) -> list[str]:
    """Local names the statements bind, in order (not those of nested scopes)."""
    out: dict[str, None] = {}
    for stmt in stmts:
        for node in _walk_scope(stmt):
            if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                out[node.id] = None
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) or (
                    isinstance(node, ast.ExceptHandler) and node.name):
                out[node.name] = None
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    out[(alias.asname or alias.name).split(".")[0]] = None
    return list(out)


def loaded(stmts: Iterable[ast.stmt]) -> Counter:
    """How often each name is read (nested scopes included: a closure reads it too), in the
    order of the first read in the source."""
    found = [node for stmt in stmts for node in ast.walk(stmt)
             if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Load, ast.Del))]
    # `n += 1` reads n too
    found += [node.target for stmt in stmts for node in ast.walk(stmt)
              if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name)]
    found.sort(key=lambda n: (n.lineno, n.col_offset))
    return Counter(n.id for n in found)


# expression nodes whose children Python evaluates in field order, all of them
_IN_ORDER = (ast.Call, ast.BinOp, ast.UnaryOp, ast.Subscript, ast.Attribute, ast.Tuple,
             ast.List, ast.keyword, ast.Starred, ast.JoinedStr, ast.FormattedValue, ast.Slice)


def _before(node: ast.AST, target: ast.AST, found: list) -> bool:
    """Walk `node` in Python's evaluation order to `target`: the maximal subexpressions
    fully evaluated before it go to `found`; True if `target` is inside `node`."""
    if node is target:
        if isinstance(target, ast.Call):  # the receiver and arguments of the breaking call
            func = target.func
            if isinstance(func, ast.Attribute):
                found.append(func.value)
            found.extend(a.value if isinstance(a, ast.Starred) else a for a in target.args)
            found.extend(k.value for k in target.keywords)
        return True
    if not any(n is target for n in ast.walk(node)):
        return False
    if isinstance(node, ast.Compare):  # only the left operand is always evaluated first
        return _before(node.left, target, found) or _holds(node, target)
    if not isinstance(node, _IN_ORDER):
        return True  # inside a conditional evaluation (and/or, if-else, lambda): stop here
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, (ast.expr, ast.keyword)):
            continue
        if any(n is target for n in ast.walk(child)):
            return _before(child, target, found)
        found.append(child.value if isinstance(child, ast.keyword) else child)
    return True


def _holds(node: ast.AST, target: ast.AST) -> bool:
    return any(n is target for n in ast.walk(node))


def _worth(expr: ast.AST) -> bool:
    """A subexpression worth computing in a region: one that computes (a call, arithmetic,
    indexing), not a name, constant or attribute read; nothing that binds or suspends."""
    if not isinstance(expr, (ast.Call, ast.BinOp, ast.UnaryOp, ast.Subscript)):
        return False
    return not any(isinstance(n, (ast.NamedExpr, ast.Lambda, ast.Yield, ast.YieldFrom,
                                  ast.Await, *_COMPREHENSIONS)) for n in ast.walk(expr))


class _Temporaries(ast.NodeTransformer):
    """Replace hoisted subexpressions (by id) with the names of their temporaries."""

    def __init__(self, ids: set[int]):
        self.ids = ids

    def visit_field(self, value):
        if isinstance(value, list):
            return [self.visit(v) if isinstance(v, ast.AST) else v for v in value]
        return self.visit(value) if isinstance(value, ast.AST) else value

    def visit(self, node):
        uid = getattr(node, "_tj_id", None)
        if uid in self.ids:
            return ast.copy_location(ast.Name(f"__tj_h{uid}", ast.Load()), node)
        return self.generic_visit(node)


def _exposed(run: list[ast.stmt]) -> set[str]:
    """Names the run may read before it binds them (its inputs): a name every earlier
    top-level statement of the run left unbound, where one binds it unconditionally
    (`x = ...`, `x += ...`), is read from the run's own value after that."""
    bound: set[str] = set()
    exposed: set[str] = set()
    for stmt in run:
        exposed |= set(loaded([stmt])) - bound
        if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                for node in ast.walk(target):
                    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                        bound.add(node.id)
    return exposed


def _contains(stmt: ast.stmt, kinds: tuple, loops_stop: bool) -> bool:
    """Whether `stmt` holds a node of `kinds` (not in a nested scope; with `loops_stop`, not
    inside a loop nested in `stmt`: a break that leaves it)."""
    todo = list(ast.iter_child_nodes(stmt))
    while todo:
        n = todo.pop()
        if isinstance(n, kinds):
            return True
        if isinstance(n, _SCOPES) or (loops_stop and isinstance(n, _LOOPS)):
            continue
        todo.extend(ast.iter_child_nodes(n))
    return False


def _split_returns(body: list[ast.stmt], top: bool) -> None:
    """`return e` inside a block (not the function body's own last returns) becomes
    `__tj_rv = e; return __tj_rv`, so e is captured where the return itself runs as Python."""
    for k in range(len(body) - 1, -1, -1):
        stmt = body[k]
        if isinstance(stmt, ast.Return) and not top and stmt.value is not None and \
                not isinstance(stmt.value, (ast.Name, ast.Constant)):
            assign = ast.copy_location(ast.Assign(
                [ast.copy_location(ast.Name(RETURN_VALUE, ast.Store()), stmt)], stmt.value), stmt)
            ret = ast.copy_location(ast.Return(
                ast.copy_location(ast.Name(RETURN_VALUE, ast.Load()), stmt)), stmt)
            body[k:k + 1] = [assign, ret]
        elif not isinstance(stmt, _SCOPES):
            for block in _blocks(stmt):
                _split_returns(block, False)


class Plan:
    """A function's statements, which of them run as Python, and the regions between."""

    def __init__(self, fn: types.FunctionType, make_region: Callable, source: Source | None = None,
                 fresh: bool = False):
        source = source or source_of(fn)
        self.fn, self.source, self.file = fn, source, source.file
        self.tree: ast.FunctionDef = _absolute(source.tree, source.line0, source.col0)
        self.tree.decorator_list = []
        _split_returns(self.tree.body, True)
        self.nodes: dict[int, ast.AST] = {}
        for uid, node in enumerate(ast.walk(self.tree)):
            node._tj_id = uid
            self.nodes[uid] = node
        # a node's position -> the innermost statement whose header holds it (or it itself)
        self.stmt_at: dict[tuple, int] = {}
        self.call_at = {position(n): n._tj_id for n in self.nodes.values()
                        if isinstance(n, ast.Call)}
        self.node_at = {position(n): n for n in self.nodes.values()
                        if isinstance(n, ast.expr)}
        self.parent: dict[int, int | None] = {}  # statement -> the statement holding it
        self._index(self.tree.body, None)
        args = self.tree.args
        self.params = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs,
                                       *filter(None, (args.vararg, args.kwarg)))]
        self.declared = {n for node in ast.walk(self.tree)
                         if isinstance(node, (ast.Global, ast.Nonlocal)) for n in node.names}
        self.locals = (set(self.params) | set(stored(self.tree.body))) - self.declared
        # globals this function assigns: Python state a graph reads as an input each call
        self.assigned_globals = self.declared & set(stored(self.tree.body))
        self.loads = loaded(self.tree.body)
        self.marks: dict[int, Break | None] = {}  # statement id -> why it runs as Python
        self.reported: dict[int, Break] = {}  # statements Python by their kind (report())
        # expression-level breaks: a marked statement -> the ids of its subexpressions that
        # Python evaluates before the construct that broke, computed first in a region
        self.hoists: dict[int, list[int]] = {}
        self.synthetic: dict[int, ast.stmt] = {}  # hoisted `__tj_hN = expr`, by its id
        self.calls: set[int] = set()  # call nodes whose callee compiles on its own
        self.version = 0
        self.regions: dict[tuple, object] = {}  # (statement ids, tail) -> Region
        self._make_region = make_region
        self._uids = itertools.count()
        # breaks found before in this code (another instance of the module, an earlier
        # compile): marked from the start, so each is found once per process
        self.known = KNOWN.setdefault(fn.__code__, {"marks": {}, "calls": set()})
        if fresh:  # explain: find every break again (and record it again)
            self.known = {"marks": {}, "calls": set()}
        positions = {position(self.nodes[s]): s for s in self.parent}
        for key, why in self.known["marks"].items():
            if key in positions:
                self.marks[positions[key]] = why
        self.calls.update(self.call_at[k] for k in self.known["calls"] if k in self.call_at)

    def report(self, stmt: ast.stmt) -> Break | None:
        """The break explain reports for a statement that runs as Python whatever it holds (an
        import, a nested def, a try, match or raise statement, an assignment to a global), or
        None for one it does not (control flow, declarations). The generated code reports it
        when it first runs (`__tj_report`)."""
        uid = stmt._tj_id
        if uid in self.reported:
            return self.reported[uid]
        what = _REPORTED.get(type(stmt))
        names = self.declared.intersection(stored([stmt])) if self.declared and not \
            isinstance(stmt, (*_SPLIT, ast.Global, ast.Nonlocal)) else ()
        if what is None and names:
            what = f"an assignment to the global or nonlocal {', '.join(sorted(names))}"
        if what is None:
            return None
        import linecache
        line = linecache.getline(self.file, stmt.lineno).rstrip("\n")
        where = f"{self.file}:{stmt.lineno}:{stmt.col_offset + 1}"
        self.reported[uid] = why = Break(f"{what} runs as Python", self.file, stmt.lineno,
                                         stmt.col_offset + 1, line, [where])
        return why

    def _index(self, stmts: list[ast.stmt], parent: int | None) -> None:
        for stmt in stmts:
            self.parent[stmt._tj_id] = parent
            self.stmt_at[position(stmt)] = stmt._tj_id
            if isinstance(stmt, _SCOPES):
                continue  # a nested def runs as Python: its body is its own business
            for node in _header(stmt):
                if hasattr(node, "lineno"):
                    self.stmt_at.setdefault(position(node), stmt._tj_id)
            for block in _blocks(stmt):
                self._index(block, stmt._tj_id)

    # --- marking --------------------------------------------------------------------------------
    def statement_of(self, key: tuple) -> int | None:
        return self.stmt_at.get(key)

    def blame(self, where: tuple | None, why: Break, run: list[ast.stmt]) -> bool:
        """Mark the statement of `run` (or nested in it) at `where` (site_of's pair) as
        Python, and the call there as compiled on its own; with no such statement, every
        statement of `run`. False if nothing new was marked (the break was known)."""
        stmt = self.statement_of(where[0]) if where else None
        inside = {s._tj_id for top in run for s in ast.walk(top) if isinstance(s, ast.stmt)}
        if stmt is not None and stmt in inside:
            call = self.call_at.get(where[1]) if where[1] is not None else None
            if call is not None:
                self.calls.add(call)
                self.known["calls"].add(where[1])
            if not self.mark(stmt, why):
                return False
            self.hoist(stmt, where[1] if call is not None else where[0])
            return True
        if where is not None and any(s._tj_id < 0 for s in run) and self.unhoist(where[0]):
            return True
        return any([self.mark(s._tj_id, why) for s in run])

    def hoist(self, stmt_id: int, key: tuple) -> None:
        """An expression-level break: in the marked statement, the subexpressions Python
        evaluates before the node at `key` (and that do not hold it) are computed first, as
        statements of their own that join the region before (`f(x) + t.item()`: `f(x)`)."""
        stmt = self.nodes[stmt_id]
        if not isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr,
                                 ast.Return)) or stmt.value is None:
            return
        target = self.node_at.get(key)
        if target is None:
            return
        found: list[ast.expr] = []
        if _before(stmt.value, target, found):
            ids = [e._tj_id for e in found if _worth(e)]
            if ids:
                self.hoists[stmt_id] = ids

    def hoisted(self, stmt: ast.stmt) -> list[ast.stmt]:
        """The `__tj_hN = expr` statements of a marked statement's hoists (see `hoist`)."""
        out = []
        for uid in self.hoists.get(stmt._tj_id, ()):
            made = self.synthetic.get(uid)
            if made is None:
                expr = self.nodes[uid]
                made = ast.copy_location(ast.Assign(
                    [ast.copy_location(ast.Name(f"__tj_h{uid}", ast.Store()), expr)],
                    copy.deepcopy(expr)), expr)
                made.end_lineno, made.end_col_offset = expr.end_lineno, expr.end_col_offset
                made._tj_id = -uid - 1
                self.synthetic[uid] = self.nodes[made._tj_id] = made
                self.parent[made._tj_id] = self.parent.get(stmt._tj_id)
                self.locals.add(f"__tj_h{uid}")
            out.append(made)
        return out

    def hoisted_now(self, stmt: ast.stmt) -> bool:
        """Whether a hoisted statement (see `hoisted`) is still one of its statement's."""
        uid = -stmt._tj_id - 1
        return any(uid in ids for ids in self.hoists.values())

    def unhoist(self, key: tuple) -> bool:
        """A hoisted subexpression that broke itself: the statement keeps it (and those after
        it) inline. False when `key` is in no hoist."""
        node = self.node_at.get(key)
        if node is None:
            return False
        for stmt_id, ids in self.hoists.items():
            for k, uid in enumerate(ids):
                if any(n is node for n in ast.walk(self.nodes[uid])):
                    self.hoists[stmt_id] = ids[:k]
                    self.version += 1
                    return True
        return False

    def always_python(self, where: tuple | None) -> bool:
        """Whether the statement at `where` runs as Python by its kind (a `try`, a `global`
        declaration...): its break is reported by `report`, in its own words, or not at all."""
        stmt = self.statement_of(where[0]) if where else None
        return stmt is not None and isinstance(self.nodes[stmt], (*_ALWAYS_PYTHON, *_TRY_STAR))

    def mark(self, stmt_id: int, why: Break | None) -> bool:
        """Run statement `stmt_id` as Python from now on; False if it already was."""
        if stmt_id in self.marks:
            return False
        self.marks[stmt_id] = why
        if stmt_id >= 0:
            self.known["marks"][position(self.nodes[stmt_id])] = why
        self.version += 1
        return True

    def python(self, stmt: ast.stmt, tail: bool) -> bool:
        """Whether `stmt` runs as Python (in the final run of the function body: `tail`)."""
        if stmt._tj_id in self.marks or isinstance(stmt, (*_ALWAYS_PYTHON, *_TRY_STAR)):
            return True
        if self.declared and self.declared.intersection(stored([stmt])):
            return True  # binds a global or nonlocal name: Python state
        if isinstance(stmt, ast.Return):
            return not tail
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, (ast.Yield, ast.YieldFrom,
                                                                  ast.Await)):
            return True
        if not isinstance(stmt, _SPLIT):
            return False
        if any(self.marked_within(block) for block in _blocks(stmt)):
            return True
        if not tail and _contains(stmt, (ast.Return,), False):
            return True
        return _contains(stmt, (ast.Break, ast.Continue), True)

    def marked_within(self, stmts: list[ast.stmt]) -> bool:
        for stmt in stmts:
            if stmt._tj_id in self.marks or (not isinstance(stmt, _SCOPES) and any(
                    self.marked_within(b) for b in _blocks(stmt))):
                return True
        return False

    # --- code generation ------------------------------------------------------------------------
    def block(self, stmts: list[ast.stmt], tail: bool, env: dict, python: bool = False
              ) -> list[ast.stmt]:
        """`stmts` as generated code: regions for the capturable runs (none with `python`),
        Python statements as the user wrote them, their bodies generated the same way."""
        flags = [python or self.python(s, tail) for s in stmts]
        if tail:  # only the last run of the function body may return; earlier ones may not
            last = max((k for k, f in enumerate(flags) if f), default=-1)
            flags = [f or (k < last and self.python(s, False))
                     for k, (s, f) in enumerate(zip(stmts, flags))]
        out: list[ast.stmt] = []
        run: list[ast.stmt] = []
        for stmt, is_python in zip(stmts, flags):
            if not is_python:
                run.append(stmt)
                continue
            if not python:
                run.extend(self.hoisted(stmt))
            if run:
                out.extend(self.region_call(run, False, env))
                run = []
            why = self.report(stmt) if not python else None
            if why is not None and "__tj_report_impl" in env:  # counted when it first runs
                env["__tj_report"] = env["__tj_report_impl"]
                call = ast.parse(f"__tj_report({stmt._tj_id})").body[0]
                for node in ast.walk(call):
                    ast.copy_location(node, stmt)
                out.append(call)
            out.append(self.python_stmt(stmt, env, python))
        if run:
            out.extend(self.region_call(run, tail, env))
        return out or [ast.Pass()]

    def python_stmt(self, stmt: ast.stmt, env: dict, python: bool) -> ast.stmt:
        """A copy of the user's statement, its bodies generated (regions inside), its marked
        calls going through the compiled callee."""
        if isinstance(stmt, _SCOPES):
            return copy.deepcopy(stmt)
        new = copy.copy(stmt)
        hoisted = set(self.hoists.get(stmt._tj_id, ())) if not python else set()
        for name, value in ast.iter_fields(stmt):
            if name in _BLOCKS or name == "cases":
                continue
            value = self._rewrite_calls(copy.deepcopy(value), env)
            if hoisted:
                value = _Temporaries(hoisted).visit_field(value)
            setattr(new, name, value)
        if isinstance(stmt, (*_SPLIT, ast.AsyncFor, ast.AsyncWith)):
            for name in ("body", "orelse", "finalbody"):
                block = getattr(stmt, name, None)
                if block:
                    setattr(new, name, self.block(block, False, env, python))
            if getattr(stmt, "handlers", None):
                new.handlers = []
                for handler in stmt.handlers:
                    h = copy.copy(handler)
                    h.type = copy.deepcopy(handler.type)
                    h.body = self.block(handler.body, False, env, python)
                    new.handlers.append(h)
        elif isinstance(stmt, ast.Match):
            new = copy.deepcopy(stmt)
        return new

    def _rewrite_calls(self, value, env: dict):
        if not self.calls:
            return value
        for node in value if isinstance(value, list) else [value]:
            if not isinstance(node, ast.AST):
                continue
            for call in ast.walk(node):
                if isinstance(call, ast.Call) and getattr(call, "_tj_id", None) in self.calls:
                    env.setdefault("__tj_sub", env["__tj_sub_impl"])
                    call.func = ast.copy_location(ast.Call(
                        ast.copy_location(ast.Name("__tj_sub", ast.Load()), call),
                        [call.func], []), call)
        return value

    def run_names(self, run: list[ast.stmt], tail: bool) -> tuple[list[str], list[str]]:
        """(inputs, outputs) of a run: the locals it reads, the locals it binds that code
        outside it reads (none for the final run: the function returns from it)."""
        reads = loaded(run)
        exposed = _exposed(run)
        state = self.locals | self.assigned_globals
        inputs = [n for n in reads if n in state and n in exposed]
        if tail:
            return inputs, []
        # reads elsewhere: in the function's own statements (a hoisted copy of an expression
        # is not a read of its own: the statement it came from reads it too)
        own = loaded([s for s in run if s._tj_id >= 0])
        looped = self.in_loop(run[0])  # the next iteration reads what this one bound
        outputs = [n for n in stored(run) if n in self.locals and (
            self.loads[n] > own[n] or n.startswith("__tj_h") or (looped and self.loads[n]))]
        return inputs, outputs

    def in_loop(self, stmt: ast.stmt) -> bool:
        """Whether `stmt` is inside a loop of the function."""
        parent = self.parent.get(stmt._tj_id)
        while parent is not None:
            if isinstance(self.nodes[parent], _LOOPS):
                return True
            parent = self.parent.get(parent)
        return False

    def region_call(self, run: list[ast.stmt], tail: bool, env: dict) -> list[ast.stmt]:
        """The statements calling the region of `run`: read its inputs (an unbound one is
        passed as UNBOUND), call it, bind its outputs (or return what it returns)."""
        key = (tuple(s._tj_id for s in run), tail)
        region = self.regions.get(key)
        if region is None:
            inputs, outputs = self.run_names(run, tail)
            region = self.regions[key] = self._make_region(self, run, tail, inputs, outputs,
                                                           next(self._uids))
        name = f"__tj_r{region.uid}"
        env[name] = region
        where = run[0]
        code: list[str] = []
        args = []
        for n in region.inputs:
            if n in self.params:
                args.append(n)
                continue
            code += ["try:", f"    __tj_a_{n} = {n}", "except NameError:",
                     f"    __tj_a_{n} = __tj_unbound"]
            args.append(f"__tj_a_{n}")
        env["__tj_unbound"] = UNBOUND
        call = f"{name}({', '.join(args)})"
        if tail:
            code.append(f"return {call}")
        elif region.outputs:
            code.append(f"({', '.join(region.outputs)},) = {call}")
            top = set(stored(s for s in run if isinstance(s, (ast.Assign, ast.AugAssign,
                                                              ast.AnnAssign))))
            for n in region.outputs:
                if n not in top and n not in region.inputs:
                    code.append(f"if {n} is __tj_unbound: del {n}")
        else:
            code.append(call)
        stmts = ast.parse("\n".join(code)).body
        for node in stmts:
            for sub in ast.walk(node):
                if hasattr(sub, "lineno"):
                    ast.copy_location(sub, where)
                    sub.end_lineno, sub.end_col_offset = where.lineno, where.col_offset
        return stmts

    def function(self, name: str, params: ast.arguments, body: list[ast.stmt],
                 env: dict) -> types.FunctionType:
        """Compile generated `body` as a function of `params` in the user's file, with the
        user function's globals and closure cells (and the regions in cells of their own)."""
        fn = self.fn
        freevars = list(fn.__code__.co_freevars)
        own_name, name = name, "__tj_fn"  # not the user's name: a recursive call is global
        inner = ast.FunctionDef(name=name, args=params, body=body, decorator_list=[],
                                returns=None, type_params=[]) \
            if "type_params" in ast.FunctionDef._fields else \
            ast.FunctionDef(name=name, args=params, body=body, decorator_list=[], returns=None)
        ast.copy_location(inner, self.tree)
        cells = [*freevars, *(n for n in env if n not in freevars)]
        factory_body = [ast.parse(f"{n} = None").body[0] for n in cells]
        factory = ast.FunctionDef(name="__tj_factory", args=ast.arguments(
            posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None,
            defaults=[]), body=[*factory_body, inner, ast.Return(ast.Name(name, ast.Load()))],
            decorator_list=[], returns=None, **({"type_params": []} if "type_params" in
                                                ast.FunctionDef._fields else {}))
        module = ast.Module([factory], type_ignores=[])
        for node in ast.walk(module):
            if not hasattr(node, "lineno") and isinstance(node, (ast.stmt, ast.expr)):
                ast.copy_location(node, self.tree)
        ast.fix_missing_locations(module)
        code = compile(module, self.file, "exec")
        factory_code = next(c for c in code.co_consts if isinstance(c, types.CodeType))
        inner_code = next(c for c in factory_code.co_consts
                          if isinstance(c, types.CodeType) and c.co_name == name)
        inner_code = inner_code.replace(co_name=own_name, co_qualname=fn.__qualname__)
        own = dict(zip(freevars, fn.__closure__ or ()))
        closure = tuple(own[n] if n in own else types.CellType(env[n])
                        for n in inner_code.co_freevars)
        made = types.FunctionType(inner_code, fn.__globals__, own_name, None, closure)
        made.__qualname__ = fn.__qualname__
        return made

    def whole(self, env: dict) -> types.FunctionType:
        """The user's function, split: same parameters, defaults and closure."""
        body = self.block(self.tree.body, True, env)
        made = self.function(self.fn.__name__, copy.deepcopy(self.tree.args), body, env)
        made.__defaults__, made.__kwdefaults__ = self.fn.__defaults__, self.fn.__kwdefaults__
        made.__module__, made.__doc__ = self.fn.__module__, self.fn.__doc__
        return made

    def run_function(self, run: list[ast.stmt], tail: bool, inputs: list[str],
                     outputs: list[str], env: dict, python: bool) -> types.FunctionType:
        """A function of a run's inputs doing what the run does (split into regions, or all
        Python with `python`): it returns the run's outputs, or the final run's return."""
        env["__tj_unbound"] = UNBOUND
        body = self.block(run, tail, env, python)
        if not tail:
            read = []
            for n in outputs:
                read += ["try:", f"    __tj_o_{n} = {n}", "except NameError:",
                         f"    __tj_o_{n} = __tj_unbound"]
            read.append(f"return ({', '.join(f'__tj_o_{n}' for n in outputs)},)" if outputs
                        else "return ()")
            tail_code = ast.parse("\n".join(read)).body
            for node in tail_code:
                for sub in ast.walk(node):
                    if hasattr(sub, "lineno"):
                        ast.copy_location(sub, run[-1])
            body = [*body, *tail_code]
        params = ast.arguments(posonlyargs=[], args=[ast.arg(n) for n in inputs], vararg=None,
                               kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[])
        body = [*(_unbind(n, run[0]) for n in inputs), *body]
        return self.function(f"{self.fn.__name__}", params, body, env)


def _unbind(name: str, where: ast.AST) -> ast.stmt:
    """`if name is __tj_unbound: del name`: an input the caller had not bound is unbound here."""
    stmt = ast.parse(f"if {name} is __tj_unbound: del {name}").body[0]
    for node in ast.walk(stmt):
        if hasattr(node, "lineno"):
            ast.copy_location(node, where)
    return stmt
