"""Checks that a Graph is well formed; `verify(graph)` raises `VerifyError` on the first problem.

What it checks: every value is defined once, by one owner, and before its uses in a scope that
can see it (isolated ops' blocks see only their own arguments); each op's operand count and
attributes follow the op table; result types equal what the op's rule infers (structured ops:
what their blocks yield); every block ends in the right terminator and nothing else does;
constants name data the graph holds, of the declared type. Errors quote the operation and its
source location.
"""

from __future__ import annotations

import numpy as np

from .graph import Block, Graph, Operation, Value
from .ops import OPS, Op, complete_attrs, infer_types
from .printer import print_operation
from .types import ConstRef, DType, Literal, TensorType


class VerifyError(ValueError):
    """A malformed graph; the message quotes the offending operation and its location."""


def verify(graph: Graph) -> Graph:
    """`graph` itself if it is well formed; VerifyError naming the first problem otherwise."""
    _Verifier(graph).run()
    return graph


class _Verifier:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.defined: set[int] = set()  # ids of values defined so far
        self.visible: list[set[int]] = []  # scopes: values each enclosing block has defined
        self.floor = 0  # the first scope operands may come from (set by isolated ops)

    def run(self) -> None:
        self.define_args(self.graph.body)
        self.block(self.graph.body, Op.RETURN)

    def fail(self, operation: Operation | None, message: str):
        if operation is None:
            raise VerifyError(f"graph @{self.graph.name}: {message}")
        where = f"{operation.loc}: " if operation.loc is not None else ""
        quoted = print_operation(operation, self.graph)  # values named as in print_graph
        raise VerifyError(f"{where}error: {message}\n  {quoted}")

    def define(self, value: Value, owner, index: int, operation: Operation | None) -> None:
        if id(value) in self.defined:
            self.fail(operation, "a value is defined twice")
        if value.owner is not owner or value.index != index:
            self.fail(operation, "a value's owner or index does not match where it is defined")
        self.defined.add(id(value))
        self.visible[-1].add(id(value))

    def define_args(self, block: Block, operation: Operation | None = None) -> None:
        self.visible.append(set())
        for i, value in enumerate(block.args):
            self.define(value, block, i, operation)

    def block(self, block: Block, terminator: Op) -> None:
        if not block.ops:
            self.fail(block.parent, f"a block is empty; it must end with {terminator.value}(...)")
        for k, operation in enumerate(block.ops):
            if operation.parent is not block:
                self.fail(operation, "the operation's parent is not the block that holds it")
            is_last = k == len(block.ops) - 1
            if OPS[operation.op].terminator and not is_last:
                self.fail(operation, f"{operation.op.value} must be the last operation of its "
                                     "block")
            if is_last and operation.op is not terminator:
                self.fail(operation, f"the block must end with {terminator.value}(...), not "
                                     f"{operation.op.value}")
            self.operation(operation)
        self.visible.pop()

    def operation(self, operation: Operation) -> None:
        opdef = OPS[operation.op]
        scopes = self.visible[self.floor:]
        for value in operation.operands:
            if not isinstance(value, Value) or not any(id(value) in s for s in scopes):
                known = isinstance(value, Value) and id(value) in self.defined
                why = "out of scope here" if known else "not defined before this use"
                self.fail(operation, f"operand {operation.operands.index(value)} is {why}")
        try:
            attrs = complete_attrs(operation.op, operation.attrs)
        except (TypeError, ValueError) as e:
            self.fail(operation, str(e))
        if attrs != operation.attrs:
            missing = ", ".join(sorted(set(attrs) - set(operation.attrs)))
            self.fail(operation, f"attribute(s) {missing} must be given explicitly")
        if len(operation.blocks) != opdef.blocks:
            self.fail(operation, f"{operation.op.value} owns {opdef.blocks} block(s), got "
                                 f"{len(operation.blocks)}")
        expected = self.result_types(operation)
        got = [v.type for v in operation.results]
        if got != expected:
            self.fail(operation, f"result types ({_types(got)}) differ from what "
                                 f"{operation.op.value} gives ({_types(expected)})")
        for i, value in enumerate(operation.results):
            self.define(value, operation, i, operation)

    def result_types(self, operation: Operation) -> list:
        op = operation.op
        if op in STRUCTURED:
            lo, hi = OPS[op].arity
            if len(operation.operands) < lo or (hi is not None and len(operation.operands) > hi):
                want = f"{lo}" if lo == hi else f"at least {lo}"
                self.fail(operation, f"{op.value}: expected {want} operands, got "
                                     f"{len(operation.operands)}")
            return STRUCTURED[op](self, operation)
        types = [v.type for v in operation.operands]
        for i, t in enumerate(types):
            if not isinstance(t, TensorType):
                self.fail(operation, f"operand {i} is {t}, {op.value} takes tensors")
        if op is Op.CONSTANT:
            return [self.constant_type(operation)]
        try:
            return list(infer_types(op, types, operation.attrs))
        except (TypeError, ValueError, RuntimeError, IndexError, ArithmeticError) as e:
            # ArithmeticError: rules doing arithmetic on extreme attributes (end=inf, 10**30)
            self.fail(operation, str(e))

    def constant_type(self, operation: Operation) -> TensorType:
        value = operation.attrs["value"]
        if isinstance(value, Literal):
            return value.type
        assert isinstance(value, ConstRef)
        data = self.graph.constants.get(value.name)
        declared = operation.results[0].type if len(operation.results) == 1 else None
        if data is None:  # text without its data: the interpreter asks for it when run
            if not isinstance(declared, TensorType) or None in declared.shape:
                self.fail(operation, f"constant @{value.name} has no data in the graph, so its "
                                     "one result must have a tensor type with known dims")
            return declared
        if not isinstance(data, np.ndarray) or data.dtype not in _NP_DTYPES:
            what = type(data).__name__ + (f" {data.dtype}" if hasattr(data, "dtype") else "")
            self.fail(operation, f"constant @{value.name} holds {what}, not an array of a "
                                 "tracejit dtype")
        return TensorType(DType.from_numpy(data.dtype), data.shape)

    def nested(self, operation: Operation, terminator: Op) -> list[list]:
        """Verify each of the operation's blocks; the types each one's terminator gives."""
        saved = self.floor
        given = []
        for block in operation.blocks:
            if block.parent is not operation:
                self.fail(operation, "a nested block's parent is not the operation owning it")
            if OPS[operation.op].isolated:
                self.floor = len(self.visible)
            self.define_args(block, operation)
            self.block(block, terminator)
            self.floor = saved
            given.append([v.type for v in block.terminator.operands])
        return given


def _fused_types(verifier: _Verifier, operation: Operation) -> list:
    """fused(operands) { ^(args): ... yield(results) }: one block argument per operand."""
    block = operation.blocks[0] if operation.blocks else None
    if block is None:
        verifier.fail(operation, "fused owns 1 block, got 0")
    if [a.type for a in block.args] != [v.type for v in operation.operands]:
        verifier.fail(operation, "the fused block's arguments must have the operands' types")
    return verifier.nested(operation, Op.YIELD)[0]


_FLAG = TensorType(DType.bool, ())
_INDEX = TensorType(DType.int64, ())


def _if_types(verifier: _Verifier, operation: Operation) -> list:
    """if(%c: bool[]) { ^(): ... yield(a...) } { ^(): ... yield(b...) }: a and b agree."""
    if operation.operands[0].type != _FLAG:
        verifier.fail(operation, f"the condition must be bool[], got {operation.operands[0].type}")
    if any(block.args for block in operation.blocks):
        verifier.fail(operation, "the blocks of if take no arguments")
    then, other = verifier.nested(operation, Op.YIELD)
    if then != other:
        verifier.fail(operation, f"the branches yield different types: ({_types(then)}) and "
                                 f"({_types(other)})")
    return then


def _for_types(verifier: _Verifier, operation: Operation) -> list:
    """for(%start, %stop, %step: int64[], %init...) { ^(%i: int64[], %c...): yield(next...) }."""
    bounds, inits = operation.operands[:3], [v.type for v in operation.operands[3:]]
    for name, value in zip(("start", "stop", "step"), bounds):
        if value.type != _INDEX:
            verifier.fail(operation, f"the loop's {name} must be int64[], got {value.type}")
    _carried(verifier, operation, [_INDEX, *inits], inits, "for")
    return inits


def _while_types(verifier: _Verifier, operation: Operation) -> list:
    """while(%init...) { ^(%c...): ... yield(%again: bool[], next...) }."""
    inits = [v.type for v in operation.operands]
    _carried(verifier, operation, inits, [_FLAG, *inits], "while")
    return inits


def _carried(verifier: _Verifier, operation: Operation, args: list, yields: list,
             name: str) -> None:
    """A loop block takes `args` and yields `yields` (the types loop-carried values keep)."""
    if [a.type for a in operation.blocks[0].args] != args:
        verifier.fail(operation, f"the {name} block's arguments must be ({_types(args)})")
    (given,) = verifier.nested(operation, Op.YIELD)
    if given != yields:
        verifier.fail(operation, f"the {name} block yields ({_types(given)}), it must yield "
                                 f"({_types(yields)}): loop-carried values keep their types")


def _assert_types(verifier: _Verifier, operation: Operation) -> list:
    if operation.operands[0].type != _FLAG:
        verifier.fail(operation, f"the condition must be bool[], got {operation.operands[0].type}")
    return []


def _misplaced_terminator(verifier: _Verifier, operation: Operation) -> list:
    return []


STRUCTURED = {Op.FUSED: _fused_types, Op.IF: _if_types, Op.FOR: _for_types,
              Op.WHILE: _while_types, Op.ASSERT: _assert_types, Op.YIELD: _misplaced_terminator,
              Op.RETURN: _misplaced_terminator}
_NP_DTYPES = {d.np for d in DType}


def _types(types) -> str:
    return ", ".join(str(t) for t in types)
