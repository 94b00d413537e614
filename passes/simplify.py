"""simplify: algebraic identities as named local rules, run to a fixed point by one driver.

Every rule in `EXACT` gives bit-identical results (IEEE semantics, NaN, infinities and signed
zeros included; only x * -1 -> -x may flip a NaN's sign bit, which IEEE leaves open). Rules in
`FAST_MATH` may change floating-point results (they ignore NaN, infinities and the sign of
zero, or reassociate) and only run with `Options(fast_math=True)`.
A rule replaces an op's result only by a value of exactly the same type.
"""

from __future__ import annotations

import numpy as np

from tracejit.ir.graph import Operation, Value
from tracejit.ir.ops import Op
from tracejit.ir.types import Literal

from .fold import constant_data
from .pipeline import register
from .rewrite import Options, Rewriter, apply_rules


@register("simplify")
def simplify(graph, options: Options) -> bool:
    rules: dict[Op, list] = {}
    for table in (EXACT, FAST_MATH) if options.fast_math else (EXACT,):
        for op, fns in table.items():
            rules.setdefault(op, []).extend(fns)
    return apply_rules(graph, rules)


# --- what the rules ask about values ------------------------------------------------------------

def splat(value: Value, rw: Rewriter):
    """The one element a constant value holds everywhere (bitwise), or None."""
    owner = value.owner
    if not isinstance(owner, Operation):
        return None
    data = constant_data(rw.driver.graph, owner)
    if data is None or data.size == 0:
        return None
    flat = np.ascontiguousarray(data).reshape(-1)
    raw = flat.view(np.uint8).reshape(flat.size, flat.itemsize)
    if not (raw == raw[:1]).all():
        return None
    return flat[0]


def is_splat(value: Value, rw: Rewriter, number, negative_zero: bool | None = None) -> bool:
    s = splat(value, rw)
    if s is None or s != number:
        return False
    return negative_zero is None or bool(np.signbit(s)) == negative_zero


def same_type(op: Operation, value: Value) -> Value | None:
    """`value` if it can stand in for `op`'s result (same dtype and shape), else None."""
    return value if value.type == op.result.type else None


def producer(value: Value, op: Op) -> Operation | None:
    owner = value.owner
    return owner if isinstance(owner, Operation) and owner.op is op else None


def is_float(value: Value) -> bool:
    return value.type.dtype.is_floating_point


# --- exact rules --------------------------------------------------------------------------------

def add_zero(op, rw):  # x + (-0.0) -> x, x + 0 -> x for integers (float +0.0 turns -0.0 to 0.0)
    for x, c in (op.operands, reversed(op.operands)):
        zero = is_splat(c, rw, 0, negative_zero=True) if is_float(c) else is_splat(c, rw, 0)
        if zero and same_type(op, x):
            return x
    return None


def sub_zero(op, rw):  # x - 0 -> x
    x, c = op.operands
    return same_type(op, x) if is_splat(c, rw, 0, negative_zero=False if is_float(c) else None) \
        else None


def mul_one(op, rw):  # x * 1 -> x, 1 * x -> x
    a, b = op.operands
    if is_splat(b, rw, 1):
        return same_type(op, a)
    return same_type(op, b) if is_splat(a, rw, 1) else None


def mul_minus_one(op, rw):  # x * -1 -> -x (exact but for the sign of NaN: mul keeps it)
    x, c = op.operands
    if is_splat(c, rw, -1) and x.type == op.result.type and x.type.dtype.value != "bool":
        return rw.insert(Op.NEG, [x])
    return None


def div_one(op, rw):  # x / 1 -> x
    x, c = op.operands
    return same_type(op, x) if is_splat(c, rw, 1) else None


def div_power_of_two(op, rw):  # x / 2^k -> x * 2^-k (exact: the reciprocal is exact)
    x, c = op.operands
    s = splat(c, rw)
    if s is None or not is_float(c) or not np.isfinite(s) or s == 0:
        return None
    with np.errstate(all="ignore"):
        r = np.reciprocal(s)
    if abs(np.frexp(s)[0]) != 0.5 or not np.isfinite(r) or r == 0:
        return None
    return rw.insert(Op.MUL, [x, _reciprocal(c, rw)])


def _reciprocal(c: Value, rw: Rewriter) -> Value:
    """A constant holding 1/c, computed in c's dtype as the op would."""
    data = constant_data(rw.driver.graph, c.owner)
    with np.errstate(all="ignore"):
        recip = np.reciprocal(data)
    return rw.insert(Op.CONSTANT, [], {"value": Literal(recip)})


def pow_one(op, rw):  # x ** 1 -> x
    x, c = op.operands
    return same_type(op, x) if is_splat(c, rw, 1) else None


def pow_two(op, rw):  # x ** 2 -> x * x (numpy's power uses this very product)
    x, c = op.operands
    if is_splat(c, rw, 2) and x.type == op.result.type:
        return rw.insert(Op.MUL, [x, x])
    return None


def involution(inner: Op):
    def rule(op, rw):  # f(f(x)) -> x for f = neg, logical_not on bool
        producer_op = producer(op.operands[0], inner)
        return same_type(op, producer_op.operands[0]) if producer_op else None
    rule.__name__ = f"{inner.value}_{inner.value}"
    return rule


def idempotent(inner: Op):
    def rule(op, rw):  # f(f(x)) -> f(x) for f = relu, abs, floor, ceil, trunc
        producer_op = producer(op.operands[0], inner)
        return same_type(op, op.operands[0]) if producer_op and not op.attrs else None
    rule.__name__ = f"{inner.value}_{inner.value}"
    return rule


def abs_neg(op, rw):  # |-x| -> |x|
    inner = producer(op.operands[0], Op.NEG)
    return rw.insert(Op.ABS, [inner.operands[0]]) if inner else None


def identity_view(op, rw):  # cast/reshape/expand/permute/slice that changes nothing -> x
    x = op.operands[0]
    if x.type != op.result.type:
        return None
    if op.op is Op.PERMUTE and op.attrs["dims"] != tuple(range(len(x.type.shape))):
        return None
    if op.op is Op.SLICE and any(
            (a, b, c) != (0, n, 1) for a, b, c, n in
            zip(op.attrs["starts"], op.attrs["stops"], op.attrs["steps"], x.type.shape)):
        return None
    return x


def reshape_reshape(op, rw):  # reshape(reshape(x)) -> reshape(x)
    inner = producer(op.operands[0], Op.RESHAPE)
    if inner is None:
        return None
    return rw.insert(Op.RESHAPE, [inner.operands[0]], {"shape": op.attrs["shape"]})


def permute_permute(op, rw):  # permute(permute(x, p), q) -> permute(x, p[q])
    inner = producer(op.operands[0], Op.PERMUTE)
    if inner is None:
        return None
    p, q = inner.attrs["dims"], op.attrs["dims"]
    return rw.insert(Op.PERMUTE, [inner.operands[0]], {"dims": tuple(p[i] for i in q)})


def where_same(op, rw):  # where(c, x, x) -> x
    _, a, b = op.operands
    return same_type(op, a) if a is b else None


EXACT = {
    Op.ADD: [add_zero],
    Op.SUB: [sub_zero],
    Op.MUL: [mul_one, mul_minus_one],
    Op.DIV: [div_one, div_power_of_two],
    Op.POW: [pow_one, pow_two],
    Op.NEG: [involution(Op.NEG)],
    Op.LOGICAL_NOT: [involution(Op.LOGICAL_NOT)],
    Op.ABS: [idempotent(Op.ABS), abs_neg],
    Op.RELU: [idempotent(Op.RELU)],
    Op.FLOOR: [idempotent(Op.FLOOR)],
    Op.CEIL: [idempotent(Op.CEIL)],
    Op.TRUNC: [idempotent(Op.TRUNC)],
    Op.CAST: [identity_view],
    Op.RESHAPE: [identity_view, reshape_reshape],
    Op.EXPAND: [identity_view],
    Op.PERMUTE: [identity_view, permute_permute],
    Op.SLICE: [identity_view],
    Op.WHERE: [where_same],
}


# --- fast-math rules ----------------------------------------------------------------------------

def zeros_like(op, rw) -> Value:
    t = op.result.type
    return rw.insert(Op.FULL, [], {"shape": t.shape, "value": 0, "dtype": t.dtype})


def mul_zero(op, rw):  # x * 0 -> 0 (wrong for NaN and infinities)
    a, b = op.operands
    return zeros_like(op, rw) if is_splat(a, rw, 0) or is_splat(b, rw, 0) else None


def add_any_zero(op, rw):  # x + 0.0 -> x, 0.0 + x -> x (wrong for x = -0.0)
    for x, c in (op.operands, reversed(op.operands)):
        if is_splat(c, rw, 0) and same_type(op, x):
            return x
    return None


def sub_self(op, rw):  # x - x -> 0 (wrong for NaN and infinities)
    a, b = op.operands
    return zeros_like(op, rw) if a is b else None


def reassociate(kind: Op):
    def rule(op, rw):  # (x . c1) . c2 -> x . (c1 . c2) for . in +, * (changes rounding)
        x, c2 = op.operands
        inner = producer(x, kind)
        if inner is None or splat(c2, rw) is None or splat(inner.operands[1], rw) is None:
            return None
        c = rw.insert(kind, [inner.operands[1], c2])
        return same_type(op, rw.insert(kind, [inner.operands[0], c]))
    rule.__name__ = f"reassociate_{kind.value}"
    return rule


def div_constant(op, rw):  # x / c -> x * (1/c) (rounds differently unless c is 2^k)
    x, c = op.operands
    if splat(c, rw) is None or not is_float(c):
        return None
    return rw.insert(Op.MUL, [x, _reciprocal(c, rw)])


FAST_MATH = {
    Op.MUL: [mul_zero, reassociate(Op.MUL)],
    Op.ADD: [add_any_zero, reassociate(Op.ADD)],
    Op.SUB: [sub_self],
    Op.DIV: [div_constant],
}
