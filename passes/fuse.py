"""fuse: group producer-consumer chains of elementwise ops and reductions into `fused` ops.

Groups grow greedily in program order along edges `can_fuse` allows, as long as one domain
holds the whole group (`merge_domains`) and merging creates no cycle through an op outside it.
Each group of two or more ops becomes one `fused` op owning a block: its operands are the values
the group reads from outside (small literal constants are copied in instead), its results the
group's values used outside. Results are unchanged: the block holds the very same ops.
"""

from __future__ import annotations

import heapq

from tracejit.ir.graph import Block, Graph, Operation, Value
from tracejit.ir.ops import Op
from tracejit.ir.types import Literal

from .fusion_policy import can_fuse, domain, fusible, merge_domains
from .pipeline import register
from .rewrite import Options, replace_uses


class _Group:
    __slots__ = ("domain", "ops")

    def __init__(self, operation: Operation):
        self.ops = [operation]
        self.domain = domain(operation)


@register("fuse")
def fuse(graph: Graph, options: Options) -> bool:
    """Fuse within the graph's body and every non-fused nested block."""
    changed = _fuse_block(graph, graph.body)
    for operation in list(graph.walk()):
        if operation.op is not Op.FUSED:
            for block in operation.blocks:
                changed |= _fuse_block(graph, block)
    return changed


def _fuse_block(graph: Graph, block: Block) -> bool:
    uses = _block_users(block)
    group_of: dict[int, _Group] = {}
    for operation in block.ops:
        if not fusible(operation):
            continue
        group = group_of[id(operation)] = _Group(operation)
        for value in operation.operands:
            producer = value.owner
            other = group_of.get(id(producer)) if isinstance(producer, Operation) else None
            if other is None or other is group or not can_fuse(producer, operation):
                continue
            merged = merge_domains(other.domain, group.domain)
            if merged is None or not _edges_fuse(other, group) or _creates_cycle(
                    other, group, uses):
                continue
            other.ops += group.ops
            other.domain = merged
            for member in group.ops:
                group_of[id(member)] = other
            group = other
    groups = {id(g): g for g in group_of.values() if len(g.ops) > 1}.values()
    for group in groups:
        _outline(graph, block, group, uses)
    if groups:
        _sort(block)
    return bool(groups)


def _block_users(block: Block) -> dict[int, list[Operation]]:
    """id(value) -> the ops of `block` using it, a use inside an op's nested blocks (an `if`
    branch, a loop body) counted as a use by that op: a group must not be fused around it."""
    uses: dict[int, list[Operation]] = {}
    for operation in block.ops:
        for nested in operation.walk():
            for value in nested.operands:
                uses.setdefault(id(value), []).append(operation)
    return uses


def _edges_fuse(a: _Group, b: _Group) -> bool:
    """Whether every value one group reads from the other may be read inside a fused group."""
    for readers, makers in ((a, b), (b, a)):
        made = {id(r): o for o in makers.ops for r in o.results}
        for operation in readers.ops:
            for value in operation.operands:
                if id(value) in made and not can_fuse(made[id(value)], operation):
                    return False
    return True


def _creates_cycle(a: _Group, b: _Group, uses) -> bool:
    """Whether some path leaves the union of `a` and `b` and comes back into it."""
    inside = {id(o) for o in a.ops + b.ops}
    stack = [u for o in a.ops + b.ops for r in o.results for u in uses.get(id(r), ())
             if id(u) not in inside]
    seen: set[int] = set()
    while stack:
        operation = stack.pop()
        if id(operation) in seen:
            continue
        seen.add(id(operation))
        for result in operation.results:
            for user in uses.get(id(result), ()):
                if id(user) in inside:
                    return True
                stack.append(user)
    return False


def _outline(graph: Graph, block: Block, group: _Group, uses) -> None:
    members = {id(o) for o in group.ops}
    order = {id(o): i for i, o in enumerate(block.ops)}
    ops = sorted(group.ops, key=lambda o: order[id(o)])
    inputs: list[Value] = []
    for operation in ops:
        for value in operation.operands:
            owner = value.owner
            if (isinstance(owner, Operation) and id(owner) in members) or value in inputs:
                continue
            if not _is_literal(owner):
                inputs.append(value)
    outputs = [r for o in ops for r in o.results
               if any(id(u) not in members for u in uses.get(id(r), ()))]
    inner = Block.create([v.type for v in inputs])
    mapping = {id(v): a for v, a in zip(inputs, inner.args)}
    for operation in ops:
        for value in operation.operands:
            if id(value) not in mapping:  # a literal constant, copied into the block
                copy = value.owner
                clone = Operation.create(copy.op, [], copy.attrs, [value.type], loc=copy.loc)
                mapping[id(value)] = inner.append(clone).result
        clone = Operation.create(operation.op, [mapping[id(v)] for v in operation.operands],
                                 operation.attrs, [r.type for r in operation.results],
                                 loc=operation.loc)
        inner.append(clone)
        mapping.update({id(r): c for r, c in zip(operation.results, clone.results)})
    inner.append(Operation.create(Op.YIELD, [mapping[id(v)] for v in outputs], {}, []))
    fused = Operation.create(Op.FUSED, inputs, {}, [v.type for v in outputs], [inner],
                             loc=ops[-1].loc)
    block.ops.insert(order[id(ops[-1])] + 1, fused)
    fused.parent = block
    for old, new in zip(outputs, fused.results):
        replace_uses(graph, old, new)
    for operation in ops:
        block.ops.remove(operation)
        operation.parent = None


def _is_literal(owner) -> bool:
    return (isinstance(owner, Operation) and owner.op is Op.CONSTANT
            and isinstance(owner.attrs["value"], Literal))


def _sort(block: Block) -> None:
    """Reorder `block` so every op follows what it reads, keeping the old order otherwise."""
    position = {id(o): i for i, o in enumerate(block.ops)}
    defined_by = {id(r): o for o in block.ops for r in o.results}
    waiting: dict[int, int] = {}
    readers: dict[int, list[Operation]] = {}
    for operation in block.ops:
        deps = {id(defined_by[id(v)]) for nested in operation.walk() for v in nested.operands
                if id(v) in defined_by and defined_by[id(v)] is not operation}
        waiting[id(operation)] = len(deps)
        for dep in deps:
            readers.setdefault(dep, []).append(operation)
    ready = [(position[id(o)], o) for o in block.ops if not waiting[id(o)]]
    heapq.heapify(ready)
    ordered = []
    while ready:
        _, operation = heapq.heappop(ready)
        ordered.append(operation)
        for reader in readers.get(id(operation), ()):
            waiting[id(reader)] -= 1
            if not waiting[id(reader)]:
                heapq.heappush(ready, (position[id(reader)], reader))
    if len(ordered) != len(block.ops):  # a cycle: never drop ops (or the terminator) silently
        raise RuntimeError("fuse: ops of a block read each other in a cycle (a tracejit bug)")
    block.ops[:] = ordered
