"""fold: evaluate pure operations whose operands are all constants, at compile time.

The op runs through the same numpy reference as eager execution (`ir.ops.evaluate`), so folding
never changes a result. Small results become inline literals, large ones named constants in
`graph.constants`. A result is only materialised when that does not blow up the graph: at most
`max(FOLD_LIMIT, elements of its constant operands)` elements (so `full` of a big shape stays an
op, while a transpose of a frozen weight folds).
"""

from __future__ import annotations

import math

import numpy as np

from tracejit.ir.graph import Graph, Operation, literal_or_ref
from tracejit.ir.ops import OPS, Kind, Op, evaluate
from tracejit.ir.types import ConstRef, Literal, TensorType

from .pipeline import register
from .rewrite import Options, replace_uses

FOLD_LIMIT = 1 << 12


@register("fold")
def fold_constants(graph: Graph, options: Options) -> bool:
    changed = False
    for operation in list(graph.walk()):
        if _foldable(operation):
            changed |= _fold(graph, operation)
    return changed


def constant_data(graph: Graph, operation: Operation) -> np.ndarray | None:
    """The array a `constant` op holds, or None (not a constant, or its data is missing)."""
    if operation.op is not Op.CONSTANT:
        return None
    value = operation.attrs["value"]
    return value.array if isinstance(value, Literal) else graph.constants.get(value.name)


def _foldable(operation: Operation) -> bool:
    opdef = OPS[operation.op]
    return (opdef.pure and not opdef.random and opdef.kind not in (Kind.CONSTANT, Kind.STRUCTURE)
            and len(operation.results) == 1 and isinstance(operation.result.type, TensorType)
            and None not in operation.result.type.shape)


def _fold(graph: Graph, operation: Operation) -> bool:
    arrays = []
    for value in operation.operands:
        owner = value.owner
        data = constant_data(graph, owner) if isinstance(owner, Operation) else None
        if data is None:
            return False
        arrays.append(data)
    result = operation.result.type
    if math.prod(result.shape) > max(FOLD_LIMIT, *(a.size for a in arrays), 0):
        return False
    try:
        out = np.array(evaluate(operation.op, arrays, operation.attrs, result), copy=True)
    except Exception:
        return False
    out.flags.writeable = False
    attr = literal_or_ref(out, _fresh_name(graph))
    if isinstance(attr, ConstRef):
        graph.constants[attr.name] = out
    folded = Operation.create(Op.CONSTANT, [], {"value": attr}, [result], loc=operation.loc)
    block = operation.parent
    block.ops.insert(block.ops.index(operation), folded)
    folded.parent = block
    replace_uses(graph, operation.result, folded.result)
    return True


def _fresh_name(graph: Graph) -> str:
    k = len(graph.constants)
    while f"folded{k}" in graph.constants:
        k += 1
    return f"folded{k}"
