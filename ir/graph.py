"""The SSA graph: `Value`, `Operation`, `Block`, `Graph`, and the plain data they carry.

A `Graph` is a named function whose body is a `Block`: block arguments are the inputs, a list of
`Operation`s, and a terminator (`return` at the top, `yield` in nested blocks) whose operands are
the outputs. An operation may own nested blocks (`fused`, later structured `if` and loops); a
nested block sees the values of the blocks around it unless its op is isolated (`fused`).
Every value is defined exactly once, as a block argument or an operation result. Values carry
no names: the printer numbers them, except graph inputs, which keep a readable `name` hint.
Constants are `constant` ops whose `value` attribute is a `Literal` (small, printed inline) or
a `ConstRef` naming an array held in `Graph.constants` (weights, printed by name).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .ops import Op
from .types import ConstRef, Literal, ScalarType, Type

__all__ = ["Block", "ConstRef", "Graph", "Literal", "Loc", "Operation", "ScalarType", "Value"]

INLINE_LIMIT = 16  # constants with at most this many elements print inline


@dataclass(frozen=True, slots=True)
class Loc:
    """Where an operation came from in the user's source: file, line and (1-based) column."""

    file: str
    line: int
    col: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" + (f":{self.col}" if self.col else "")


@dataclass(slots=True, eq=False)
class Value:
    """An SSA value: the result of an operation or the argument of a block."""

    type: Type
    owner: Operation | Block | None = None
    index: int = 0
    name: str | None = None  # a readable hint for the printer (graph inputs); not an identity

    def __repr__(self) -> str:
        return f"Value({self.name or '?'}: {self.type})"


@dataclass(slots=True, eq=False)
class Operation:
    """One application of an op from the op table, with its results and nested blocks."""

    op: Op
    operands: list[Value]
    attrs: dict[str, Any]
    results: list[Value]
    blocks: list[Block] = field(default_factory=list)
    loc: Loc | None = None
    parent: Block | None = None

    @classmethod
    def create(cls, op: Op, operands: Sequence[Value], attrs: dict[str, Any],
               result_types: Sequence[Type], blocks: Sequence[Block] = (),
               loc: Loc | None = None) -> Operation:
        """A new operation whose result values are made from `result_types`."""
        operation = cls(op, list(operands), dict(attrs), [], list(blocks), loc)
        operation.results = [Value(t, operation, i) for i, t in enumerate(result_types)]
        for block in operation.blocks:
            block.parent = operation
        return operation

    @property
    def result(self) -> Value:
        if len(self.results) != 1:
            raise ValueError(f"{self.op.value} has {len(self.results)} results, not one")
        return self.results[0]

    def walk(self) -> Iterator[Operation]:
        """This operation, then every operation nested in its blocks, in order."""
        yield self
        for block in self.blocks:
            yield from block.walk()


@dataclass(slots=True, eq=False)
class Block:
    """Arguments, then operations; the last operation is the block's terminator."""

    args: list[Value] = field(default_factory=list)
    ops: list[Operation] = field(default_factory=list)
    parent: Operation | None = None

    @classmethod
    def create(cls, arg_types: Sequence[Type], names: Sequence[str | None] = ()) -> Block:
        block = cls()
        names = list(names) + [None] * (len(arg_types) - len(names))
        block.args = [Value(t, block, i, n) for i, (t, n) in enumerate(zip(arg_types, names))]
        return block

    def append(self, operation: Operation) -> Operation:
        operation.parent = self
        self.ops.append(operation)
        return operation

    @property
    def terminator(self) -> Operation | None:
        return self.ops[-1] if self.ops else None

    def walk(self) -> Iterator[Operation]:
        for operation in self.ops:
            yield from operation.walk()


@dataclass(slots=True, eq=False)
class Graph:
    """A named function: its body's arguments are the inputs, its `return` gives the outputs."""

    name: str
    body: Block
    constants: dict[str, np.ndarray] = field(default_factory=dict)
    # the fingerprint `verifier.verify` stamped; an edit makes it stale (ensure_verified)
    verified_as: int | None = field(default=None, compare=False, repr=False)

    @property
    def inputs(self) -> list[Value]:
        return self.body.args

    @property
    def outputs(self) -> list[Value]:
        term = self.body.terminator
        return list(term.operands) if term is not None and term.op is Op.RETURN else []

    @property
    def input_types(self) -> list[Type]:
        return [v.type for v in self.body.args]

    @property
    def output_types(self) -> list[Type]:
        return [v.type for v in self.outputs]

    def walk(self) -> Iterator[Operation]:
        """Every operation, nested ones included, in program order."""
        return self.body.walk()

    def op_count(self) -> int:
        return sum(1 for op in self.walk() if op.op not in (Op.RETURN, Op.YIELD))

    def __str__(self) -> str:
        from .printer import print_graph

        return print_graph(self)


def literal_or_ref(array: np.ndarray, name: str) -> Literal | ConstRef:
    """How a constant array should be held: inline when small, by `name` otherwise."""
    return Literal(array) if array.size <= INLINE_LIMIT else ConstRef(name)
