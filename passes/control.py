"""control: simplify structured control flow (`if`, from @tracejit.script) without changing
results.

- an `if` on a constant condition becomes the ops of the branch it takes;
- an `if` result both branches yield the same outer value for becomes that value;
- an `if` result whose branches yield the constants true and false (script's break and return
  flags) becomes the condition, or its negation;
- `if` results nobody uses are dropped, with what the branches yield for them.
"""

from __future__ import annotations

from tracejit.ir.graph import Graph, Operation, Value
from tracejit.ir.ops import Op
from tracejit.ir.types import DType, TensorType

from .fold import constant_data
from .pipeline import register
from .rewrite import Options, build, replace_uses, users

_FLAG = TensorType(DType.bool, ())


@register("control")
def control(graph: Graph, options: Options) -> bool:
    changed = False
    again = True
    while again:
        again = False
        for operation in list(graph.walk()):
            if operation.op is Op.IF and operation.parent is not None:
                again |= _if(graph, operation)
        changed |= again
    return changed


def _constant(graph: Graph, value: Value):
    owner = value.owner
    if not isinstance(owner, Operation):
        return None
    data = constant_data(graph, owner)
    return None if data is None or data.size != 1 else data.reshape(()).item()


def _if(graph: Graph, operation: Operation) -> bool:
    cond = operation.operands[0]
    taken = _constant(graph, cond)
    if taken is not None:
        _inline(graph, operation, operation.blocks[0 if taken else 1])
        return True
    then, other = (b.terminator.operands for b in operation.blocks)
    uses = users(graph)
    keep = []
    for k, result in enumerate(operation.results):
        a, b = then[k], other[k]
        new = None
        if a is b:
            new = a
        elif result.type == _FLAG and {_constant(graph, a), _constant(graph, b)} == {True, False}:
            if _constant(graph, a) is True:
                new = cond
            else:
                negate = build(Op.LOGICAL_NOT, [cond], loc=operation.loc)
                _insert_before(operation, negate)
                new = negate.result
        if new is not None:
            replace_uses(graph, result, new)
        elif uses.get(id(result)):
            keep.append(k)
    if len(keep) == len(operation.results):
        return False
    for block in operation.blocks:
        block.terminator.operands = [block.terminator.operands[k] for k in keep]
    operation.results = [operation.results[k] for k in keep]
    for index, result in enumerate(operation.results):
        result.index = index
    return True


def _inline(graph: Graph, operation: Operation, block) -> None:
    parent = operation.parent
    at = parent.ops.index(operation)
    moved = block.ops[:-1]
    for op in moved:
        op.parent = parent
    parent.ops[at:at] = moved
    for result, value in zip(operation.results, block.terminator.operands):
        replace_uses(graph, result, value)
    parent.ops.remove(operation)
    operation.parent = None


def _insert_before(anchor: Operation, operation: Operation) -> None:
    block = anchor.parent
    block.ops.insert(block.ops.index(anchor), operation)
    operation.parent = block
