"""dce: remove operations whose results nobody uses and that have no effects.

Guarantees: every removed op is pure (the op table's `pure`, nested ops included) and none of
its results had a use; blocks are swept innermost first, so whole dead chains go in one run.
Arrays in `graph.constants` that no constant op names any more are dropped too.
"""

from __future__ import annotations

from tracejit.ir.graph import Block, Graph
from tracejit.ir.ops import Op
from tracejit.ir.types import ConstRef

from .pipeline import register
from .rewrite import Options, is_pure, users


@register("dce")
def eliminate_dead_code(graph: Graph, options: Options) -> bool:
    changed = _sweep(graph.body, users(graph))
    named = {o.attrs["value"].name for o in graph.walk()
             if o.op is Op.CONSTANT and isinstance(o.attrs["value"], ConstRef)}
    for name in [n for n in graph.constants if n not in named]:
        del graph.constants[name]
        changed = True
    return changed


def _sweep(block: Block, uses: dict[int, list]) -> bool:
    changed = False
    for operation in reversed(list(block.ops)):
        for inner in operation.blocks:
            changed |= _sweep(inner, uses)
        if is_pure(operation) and not any(uses.get(id(v)) for v in operation.results):
            block.ops.remove(operation)
            operation.parent = None
            for nested in operation.walk():  # its operands lose a use each
                for value in nested.operands:
                    uses[id(value)].remove(nested)
            changed = True
    return changed
