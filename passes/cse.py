"""cse: merge pure operations that compute the same thing from the same operands.

Two ops are the same when op, operands, attributes (compared by their printed text, so 0.0
and -0.0 differ), result types and nested blocks (compared by printed text) agree. A value
computed in an enclosing block is reused inside nested blocks, never the other way round.
Random and other impure ops are never merged.
"""

from __future__ import annotations

from tracejit.ir.graph import Block, Graph, Operation
from tracejit.ir.ops import OPS
from tracejit.ir.printer import format_attr, print_graph

from .pipeline import register
from .rewrite import Options, is_pure, replace_uses


@register("cse")
def eliminate_common_subexpressions(graph: Graph, options: Options) -> bool:
    return _block(graph, graph.body, {})


def _key(operation: Operation):
    attrs = tuple((k, format_attr(v)) for k, v in operation.attrs.items())
    nested = tuple(_block_text(b) for b in operation.blocks)
    return (operation.op, tuple(id(v) for v in operation.operands), attrs,
            tuple(v.type for v in operation.results), nested)


def _block_text(block: Block) -> str:
    return print_graph(Graph("block", block)) if block.ops else ""


def _block(graph: Graph, block: Block, seen: dict) -> bool:
    changed = False
    scope = dict(seen)  # values of enclosing blocks stay available inside
    for operation in list(block.ops):
        for inner in operation.blocks:  # an isolated block sees nothing from outside
            changed |= _block(graph, inner, {} if OPS[operation.op].isolated else scope)
        if not is_pure(operation) or not operation.results:
            continue
        key = _key(operation)
        twin = scope.get(key)
        if twin is None:
            scope[key] = operation
            continue
        for old, new in zip(operation.results, twin.results):
            replace_uses(graph, old, new)
        block.ops.remove(operation)
        operation.parent = None
        changed = True
    return changed
