"""What may fuse: one predicate on a producer-consumer edge, one rule for a group's domain.

A fused group iterates over one domain `(S, D)`: a "full" shape S and the dims D its
reductions reduce (None: no reduction yet). Every op in a group is elementwise on S, elementwise
on a row shape (S with D kept as 1s, or dropped), or a reduction of an S-shaped value over D.
This covers `gelu(x*a+b)` (elementwise on S), `sum(x*y)` (a prologue), `sum(x)*2` (an
epilogue) and row-wise softmax and layer norm (reductions over trailing dims broadcast back to
S). Nothing is ever recomputed: a value used outside its group becomes an extra group output.
An integer division reads its divisor from outside its group: the kernel checks it for zeros
before it runs (the reference raises on one).
"""

from __future__ import annotations

from tracejit.ir.graph import Operation
from tracejit.ir.ops import ELEMENTWISE, Op
from tracejit.ir.types import TensorType

FUSIBLE_REDUCTIONS = frozenset({Op.SUM, Op.MEAN, Op.AMAX, Op.AMIN, Op.PROD, Op.ALL, Op.ANY})
INTEGER_DIVISIONS = frozenset({Op.FLOOR_DIV, Op.TRUNC_DIV, Op.REMAINDER})
Domain = tuple[tuple[int, ...], tuple[int, ...] | None]


def fusible(operation: Operation) -> bool:
    """Elementwise ops and plain reductions over static shapes."""
    if operation.op not in ELEMENTWISE and operation.op not in FUSIBLE_REDUCTIONS:
        return False
    values = [*operation.operands, *operation.results]
    return all(isinstance(v.type, TensorType) and None not in v.type.shape for v in values)


def divides_by(consumer: Operation, producer: Operation) -> bool:
    """Whether `consumer` is an integer division (//, trunc, %) by `producer`'s result: the
    reference raises on a zero divisor, so a kernel checks its divisors before it runs."""
    return (consumer.op in INTEGER_DIVISIONS and consumer.operands[1] is producer.result
            and not consumer.result.type.dtype.is_floating_point)


def domain(operation: Operation) -> Domain:
    """The (S, D) an op iterates over on its own."""
    if operation.op in FUSIBLE_REDUCTIONS:
        return operation.operands[0].type.shape, tuple(operation.attrs["dims"])
    return operation.result.type.shape, None


def keep(shape, dims) -> tuple[int, ...]:
    return tuple(1 if i in dims else n for i, n in enumerate(shape))


def drop(shape, dims) -> tuple[int, ...]:
    return tuple(n for i, n in enumerate(shape) if i not in dims)


def trailing(dims, ndim: int) -> bool:
    return bool(dims) and sorted(dims) == list(range(ndim - len(dims), ndim))


def row_dims(full, small) -> tuple[int, ...] | None:
    """The trailing dims D with small == keep(full, D) or drop(full, D), if any."""
    for k in range(1, len(full) + 1):
        dims = tuple(range(len(full) - k, len(full)))
        if small in (keep(full, dims), drop(full, dims)):
            return dims
    return None


def can_fuse(producer: Operation, consumer: Operation) -> bool:
    """Whether `consumer` may read `producer`'s result inside one fused group."""
    if producer.parent is not consumer.parent or not (fusible(producer) and fusible(consumer)):
        return False
    if divides_by(consumer, producer):  # the divisor stays outside: checked for zeros first
        return False
    made = producer.result.type.shape
    if consumer.op in FUSIBLE_REDUCTIONS:  # a prologue: the reduction reads the value whole
        return producer.op not in FUSIBLE_REDUCTIONS
    wanted = consumer.result.type.shape
    if made == wanted:  # elementwise on one shape, or an epilogue on a reduction's rows
        return True
    if producer.op in FUSIBLE_REDUCTIONS and not producer.attrs["keepdim"]:
        return False
    dims = row_dims(wanted, made)  # a row value broadcast back over its row
    return dims is not None and made == keep(wanted, dims)


def merge_domains(a: Domain, b: Domain) -> Domain | None:
    """The domain of two groups merged, or None when no single domain holds both."""
    (sa, da), (sb, db) = a, b
    if sa == sb:
        if da is not None and db is not None and da != db:
            return None
        return sa, da if da is not None else db
    for (big, dbig), (small, dsmall) in ((a, b), (b, a)):
        dims = row_dims(big, small)
        if dims is None or dsmall is not None or dbig not in (None, dims):
            continue
        return big, dims
    return None
