"""Graph editing shared by the passes: use lists, replacing values, erasing and inserting ops,
and the worklist driver that applies named local rules until none fires.

A rule is `rule(operation, rewriter) -> Value | None`: it returns the value that replaces the
operation's single result (building any new ops through `rewriter.insert`), or None when it does
not apply. New ops copy the replaced operation's `loc`, so errors still point at user code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tracejit.ir.graph import Block, Graph, Operation, Value
from tracejit.ir.ops import OPS, Op, complete_attrs, infer_types

Rule = Callable[[Operation, "Rewriter"], "Value | None"]


@dataclass
class Options:
    """Settings passes read. `fast_math` allows rewrites that change floating-point results
    (x*0 -> 0 ignores NaN and infinities; reassociation changes rounding)."""

    fast_math: bool = False


def users(graph: Graph) -> dict[int, list[Operation]]:
    """id(value) -> the operations using it (once per use), nested blocks included."""
    uses: dict[int, list[Operation]] = {}
    for operation in graph.walk():
        for value in operation.operands:
            uses.setdefault(id(value), []).append(operation)
    return uses


def replace_uses(graph: Graph, old: Value, new: Value) -> None:
    """Every use of `old` becomes a use of `new`."""
    for operation in graph.walk():
        if any(v is old for v in operation.operands):
            operation.operands = [new if v is old else v for v in operation.operands]


def erase(operation: Operation) -> None:
    operation.parent.ops.remove(operation)
    operation.parent = None


def is_pure(operation: Operation) -> bool:
    """No side effects and no randomness, nested ops included (DCE and CSE may drop it)."""
    for inner in operation.walk():
        opdef = OPS[inner.op]
        if opdef.terminator and inner is not operation:
            continue  # the yield ending a nested block
        if not opdef.pure or opdef.terminator:
            return False
    return True


def build(op: Op, operands: list[Value], attrs: dict | None = None, loc=None) -> Operation:
    """A new, unattached operation with its attributes completed and its result types
    inferred by the op table."""
    attrs = complete_attrs(op, attrs or {})
    types = infer_types(op, [v.type for v in operands], attrs)
    return Operation.create(op, operands, attrs, types, loc=loc)


class Rewriter:
    """Inserts new operations before the one a rule is looking at."""

    def __init__(self, driver: _Driver, anchor: Operation):
        self.driver, self.anchor = driver, anchor

    def insert(self, op: Op, operands: list[Value], attrs: dict | None = None) -> Value:
        operation = build(op, operands, attrs, self.anchor.loc)
        block = self.anchor.parent
        block.ops.insert(block.ops.index(self.anchor), operation)
        operation.parent = block
        self.driver.push(operation)
        return operation.result


class _Driver:
    def __init__(self, graph: Graph, rules: dict[Op, list[Rule]]):
        self.graph, self.rules = graph, rules
        self.worklist: list[Operation] = []
        self.queued: set[int] = set()

    def push(self, operation: Operation) -> None:
        if id(operation) not in self.queued:
            self.queued.add(id(operation))
            self.worklist.append(operation)

    def run(self, limit: int) -> bool:
        for operation in reversed(list(self.graph.walk())):
            self.push(operation)
        changed, steps = False, 0
        while self.worklist:
            operation = self.worklist.pop()
            self.queued.discard(id(operation))
            if operation.parent is None or len(operation.results) != 1:
                continue
            for rule in self.rules.get(operation.op, ()):
                new = rule(operation, Rewriter(self, operation))
                if new is None:
                    continue
                steps += 1
                if steps > limit:
                    raise RuntimeError(f"rewrite rules did not settle after {limit} steps; "
                                       f"the last rule was {rule.__name__}")
                self.replace(operation, new)
                changed = True
                break
        return changed

    def replace(self, operation: Operation, new: Value) -> None:
        old = operation.result
        for user in users(self.graph).get(id(old), ()):
            self.push(user)
        replace_uses(self.graph, old, new)
        if isinstance(new.owner, Operation):
            self.push(new.owner)
        if is_pure(operation):
            erase(operation)


def apply_rules(graph: Graph, rules: dict[Op, list[Rule]], limit: int | None = None) -> bool:
    """Apply `rules` (by the op they match) until none fires; whether anything changed.
    More than `limit` rewrites (default: 50 per op) means rules undo each other: an error."""
    return _Driver(graph, rules).run(limit or 50 * (graph.op_count() + 10))


def blocks(graph: Graph) -> Iterable[Block]:
    """Every block of the graph, outermost first."""
    yield graph.body
    for operation in graph.walk():
        yield from operation.blocks
