"""Converters for division and powers, with numpy's exact semantics (lower.py's table).

Integer division never traps: a zero divisor, and the minimum integer over -1, meet a safe
divisor of 1, and the result is picked as numpy picks it (x // 0 == 0, x % 0 == 0,
MIN // -1 == MIN). The reference raises on an integer zero divisor instead (torch's
ZeroDivisionError); `guard_divisors` makes the executor's step check the divisors (block
arguments and literals) first, and `lowerable` refuses a group that computes a divisor itself
(passes/fusion_policy.py keeps divisors outside groups). Float floor division
follows numpy's npy_divmod (fmod, then the sign fix-up) in the operands' type, float remainder
the reference's torch rule (the same fix-up, but a zero keeps the dividend's sign); float
powers call the C library's pow/powf like numpy, marked nobuiltin so that LLVM keeps the call.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir

from tracejit.ir.graph import Block, Operation
from tracejit.ir.ops import Op
from tracejit.ir.types import DType, Literal

from .lower import (
    FLOATS,
    INTS,
    REGISTER,
    UNSIGNED,
    NotLowerable,
    _intrinsic,
    constant,
    converter,
    icmp,
)

DIVISIONS = frozenset({Op.FLOOR_DIV, Op.TRUNC_DIV, Op.REMAINDER})  # integer ones raise on 0


# --- integers -----------------------------------------------------------------------------------

def _safe_divisor(b, x, y, dtype: DType):
    """y, or 1 where y is 0 or (x, y) is (MIN, -1): sdiv and srem are undefined there."""
    low = constant(dtype, -(2 ** (REGISTER[dtype].width - 1)))
    zero = b.icmp_signed("==", y, constant(dtype, 0))
    overflow = b.and_(b.icmp_signed("==", x, low), b.icmp_signed("==", y, constant(dtype, -1)))
    return b.select(b.or_(zero, overflow), constant(dtype, 1), y), zero


def _unsigned_divmod(b, x, y, dtype: DType):
    """(x // y, x % y) for uint8: 0 and 0 for y == 0, as numpy."""
    zero = b.icmp_unsigned("==", y, constant(dtype, 0))
    safe = b.select(zero, constant(dtype, 1), y)
    c0 = constant(dtype, 0)
    return b.select(zero, c0, b.udiv(x, safe)), b.select(zero, c0, b.urem(x, safe))


def _int_floor_div(b, x, y, dtype: DType):
    """numpy's floor_div_@TYPE@: 0 for y == 0, MIN for MIN // -1, else rounded down."""
    if dtype in UNSIGNED:
        return _unsigned_divmod(b, x, y, dtype)[0]
    safe, zero = _safe_divisor(b, x, y, dtype)
    q = b.sdiv(x, safe)
    c0 = constant(dtype, 0)
    signs_differ = b.xor(b.icmp_signed(">", x, c0), b.icmp_signed(">", y, c0))
    inexact = b.icmp_signed("!=", b.mul(q, safe), x)
    q = b.select(b.and_(signs_differ, inexact), b.sub(q, constant(dtype, 1)), q)
    return b.select(zero, c0, q)


def _int_remainder(b, x, y, dtype: DType):
    """numpy's remainder: 0 for y == 0 (and MIN % -1), else the sign of y (Python's %)."""
    if dtype in UNSIGNED:
        return _unsigned_divmod(b, x, y, dtype)[1]
    safe, zero = _safe_divisor(b, x, y, dtype)
    r = b.srem(x, safe)
    c0 = constant(dtype, 0)
    same_sign = b.icmp_unsigned("==", b.icmp_signed(">", x, c0), b.icmp_signed(">", y, c0))
    keep = b.or_(same_sign, b.icmp_signed("==", r, c0))
    return b.select(zero, c0, b.select(keep, r, b.add(r, y)))


def _int_abs(b, x, dtype: DType):
    if dtype in UNSIGNED:
        return x
    return b.select(b.icmp_signed("<", x, constant(dtype, 0)), b.neg(x), x)  # |MIN| == MIN


# --- floats: numpy's npy_divmod -------------------------------------------------------------------

def _float_divmod(b, x, y, dtype: DType):
    """(floor(x / y), x mod y) as npy_divmod computes them, for y != 0."""
    c = lambda v: constant(dtype, v)  # noqa: E731
    mod = b.frem(x, y)  # fmod, exact
    div = b.fdiv(b.fsub(x, mod), y)
    fix = b.and_(b.fcmp_unordered("!=", mod, c(0)),  # mod nonzero (nan counts)
                 b.xor(b.fcmp_ordered("<", y, c(0)), b.fcmp_ordered("<", mod, c(0))))
    div = b.select(fix, b.fsub(div, c(1)), div)
    mod = b.select(fix, b.fadd(mod, y), mod)
    copysign = _intrinsic(b, "llvm.copysign", REGISTER[dtype], [REGISTER[dtype]] * 2)
    mod = b.select(b.fcmp_unordered("!=", mod, c(0)), mod, b.call(copysign, [c(0), y]))
    floor = b.call(_intrinsic(b, "llvm.floor", REGISTER[dtype]), [div])
    floor = b.select(b.fcmp_ordered(">", b.fsub(div, floor), c(0.5)), b.fadd(floor, c(1)), floor)
    zero_div = b.call(copysign, [c(0), b.fdiv(x, y)])
    return b.select(b.fcmp_unordered("!=", div, c(0)), floor, zero_div), mod


def _float_floor_div(b, x, y, dtype: DType):
    div, _ = _float_divmod(b, x, y, dtype)
    return b.select(b.fcmp_ordered("==", y, constant(dtype, 0)), b.fdiv(x, y), div)


def _float_remainder(b, x, y, dtype: DType):
    """The reference's (torch's) rule: fmod, moved into y's sign; a zero keeps x's sign."""
    c0 = constant(dtype, 0)
    mod = b.frem(x, y)  # fmod, exact
    fix = b.and_(b.fcmp_unordered("!=", mod, c0),  # mod nonzero (nan counts)
                 b.xor(b.fcmp_ordered("<", y, c0), b.fcmp_ordered("<", mod, c0)))
    return b.select(fix, b.fadd(mod, y), mod)


# --- converters ---------------------------------------------------------------------------------

@converter(Op.FLOOR_DIV, dtypes=FLOATS | INTS)
def _floor_div(b, args, types, out, attrs):  # np.floor_divide
    return (_float_floor_div if out.is_floating_point else _int_floor_div)(b, *args, out)


@converter(Op.REMAINDER, dtypes=FLOATS | INTS)
def _remainder(b, args, types, out, attrs):  # np.remainder
    return (_float_remainder if out.is_floating_point else _int_remainder)(b, *args, out)


@converter(Op.TRUNC_DIV, dtypes=FLOATS | INTS)
def _trunc_div(b, args, types, out, attrs):  # trunc(x / y); ints: the reference's sign fix-up
    x, y = args
    if out.is_floating_point:
        return b.call(_intrinsic(b, "llvm.trunc", REGISTER[out]), [b.fdiv(x, y)])
    q = _int_floor_div(b, _int_abs(b, x, out), _int_abs(b, y, out), out)
    if out in UNSIGNED:
        return q
    c0 = constant(out, 0)
    negative = b.xor(b.icmp_signed("<", x, c0), b.icmp_signed("<", y, c0))
    return b.select(negative, b.neg(q), q)


NUMPY_SCALAR = "numpy_scalar"  # a converter attribute lower_op adds (see _scalar_powers)
TORCH_SHORTCUTS = "scalar_exponent"  # pow's own attribute: the exponent was a Python number


def _numpy_scalar_powers() -> bool:
    """Whether this numpy's float power takes its fast paths for a scalar exponent (numpy 2.3
    on: 1/x, 1, sqrt(x), x, x*x for -1, 0, 0.5, 1, 2), seen in sqrt(-0.0) == -0.0."""
    with np.errstate(all="ignore"):
        found = np.power(np.array([-0.0, -0.0], np.float32), np.array(0.5, np.float32))
    return bool(np.signbit(found).all())


SCALAR_POWERS = _numpy_scalar_powers()


def scalar_exponent(operation: Operation) -> bool:
    """Whether numpy sees `operation`'s exponent as a scalar, reading it with stride 0 (then its
    fast paths, and the reference's torch paths, apply): one element, and 0-d or of another
    shape than the result."""
    shape, result = operation.operands[1].type.shape, operation.results[0].type.shape
    return math.prod(shape) == 1 and (not shape or shape != result)


def _scalar_powers(b, x, y, out: DType, general, torch: bool):
    """numpy's power by a scalar exponent: its fast paths for -1, 0, 0.5, 1 and 2 (this numpy
    version's; 0.5 with C pow's +0.0 and +inf for -0.0 and -inf unless `torch`), and, when
    `torch` (pow's scalar_exponent), torch's for 3, -2 and -0.5 (ir/numpy_impl.power; float16
    in float32 registers, as the reference computes half), else general(); decided in Python
    for a literal exponent."""
    one = lambda: constant(out, 1.0)  # noqa: E731
    sqrt = lambda: b.call(_intrinsic(b, "llvm.sqrt", REGISTER[out]), [x])  # noqa: E731
    paths = ((-1.0, lambda: b.fdiv(one(), x)), (0.0, one),
             (0.5, sqrt if torch else lambda: _c_pow_sqrt(b, x, out, sqrt)),
             (1.0, lambda: x), (2.0, lambda: b.fmul(x, x))) if SCALAR_POWERS else ()
    if out.is_floating_point and torch:
        paths += ((3.0, lambda: b.fmul(b.fmul(x, x), x)),
                  (-2.0, lambda: b.fdiv(one(), b.fmul(x, x))),
                  (-0.5, lambda: b.fdiv(one(), sqrt())))
    if isinstance(y, ir.Constant):
        for e, emit in paths:
            if float(y.constant) == e:
                return emit()
        return general()
    result = general()
    for e, emit in reversed(paths):
        result = b.select(b.fcmp_ordered("==", y, constant(out, e)), emit(), result)
    return result


def _c_pow_sqrt(b, x, out: DType, sqrt):
    """pow(x, 0.5) as C pow: sqrt(x), but +0.0 for -0.0 and +inf for -inf (ir/numpy_impl.power
    adds 0.0 and selects the same way)."""
    plain = b.fadd(sqrt(), constant(out, 0.0))
    minus_inf = b.fcmp_ordered("==", x, constant(out, -math.inf))
    return b.select(minus_inf, constant(out, math.inf), plain)


@converter(Op.POW, dtypes=FLOATS | INTS | {DType.bool})
def _pow(b, args, types, out, attrs):  # np.power; ints to negative powers as torch
    x, y = args
    if out is DType.bool:  # bool ** True is x, bool ** False all True (ir/numpy_impl.power)
        return b.or_(x, b.not_(y))
    if out.is_floating_point:
        fn = _libm(b, "pow" if out is DType.float64 else "powf", REGISTER[out])
        if attrs.get(NUMPY_SCALAR):
            return _scalar_powers(b, x, y, out, lambda: b.call(fn, args),
                                  bool(attrs.get(TORCH_SHORTCUTS)))
        return b.call(fn, args)
    c = lambda v: constant(out, v)  # noqa: E731
    if out in UNSIGNED:
        return _int_power(b, x, y, out)
    odd = b.trunc(y, ir.IntType(1))
    negative = b.select(b.icmp_signed("==", x, c(1)), c(1), b.select(
        b.icmp_signed("==", x, c(-1)), b.select(odd, c(-1), c(1)), c(0)))
    return b.select(b.icmp_signed("<", y, c(0)), negative, _int_power(b, x, y, out))


def _int_power(b: ir.IRBuilder, x, y, dtype: DType):
    """x ** y by squaring, wrapping (any order of the products gives numpy's result); 1 for
    y <= 0. A loop of bit-length(y) steps."""
    ty = REGISTER[dtype]
    pre = b.block
    head, body, done = (b.append_basic_block(n) for n in ("pow.head", "pow.body", "pow.done"))
    b.branch(head)
    b.position_at_end(head)
    result, base, exponent = b.phi(ty), b.phi(ty), b.phi(ty)
    for phi, start in ((result, constant(dtype, 1)), (base, x), (exponent, y)):
        phi.add_incoming(start, pre)
    b.cbranch(icmp(b, dtype)(">", exponent, constant(dtype, 0)), body, done)
    b.position_at_end(body)
    odd = b.trunc(exponent, ir.IntType(1))
    result.add_incoming(b.select(odd, b.mul(result, base), result), body)
    base.add_incoming(b.mul(base, base), body)
    exponent.add_incoming(b.lshr(exponent, constant(dtype, 1)), body)
    b.branch(head)
    b.position_at_end(done)
    return result


def _libm(b: ir.IRBuilder, name: str, ty) -> ir.Function:
    """The C library's `name` (numpy's own pow), declared nobuiltin: LLVM rewrites known
    library calls (pow(x, 2.0) -> x * x), which need not give the library's last bit."""
    fn = b.module.globals.get(name)
    if fn is None:
        fn = ir.Function(b.module, ir.FunctionType(ty, [ty, ty]), name=name)
        fn.attributes.add("nobuiltin")
        fn.attributes.add("nounwind")
    return fn


# --- zero divisors ------------------------------------------------------------------------------

def integer_divisions(block: Block) -> list[Operation]:
    return [o for o in block.ops if o.op in DIVISIONS and not o.results[0].type.dtype
            .is_floating_point]


def check_divisors(block: Block) -> list:
    """What the caller checks for zeros before the kernel runs, raising as the reference does:
    the positions of `block`'s arguments that integer divisions divide by, and the literal
    constants they divide by. NotLowerable when a divisor is computed inside the block."""
    args = {id(a): k for k, a in enumerate(block.args)}
    positions, literals = set(), []
    for operation in integer_divisions(block):
        divisor = operation.operands[1]
        if id(divisor) in args:
            positions.add(args[id(divisor)])
            continue
        owner = divisor.owner
        is_constant = isinstance(owner, Operation) and owner.op is Op.CONSTANT
        value = owner.attrs["value"] if is_constant else None
        if not isinstance(value, Literal):
            raise NotLowerable(f"{operation.op.value} by a divisor computed in the group")
        if not np.all(value.array):
            literals.append(value.array)
    return [*sorted(positions), *literals]


def raise_on_zero(inputs: tuple, *divisors: np.ndarray) -> None:
    """The reference's error for an integer division by zero, when the block's domain is not
    empty (an empty input makes it empty: no division runs, as in torch)."""
    if any(np.size(a) == 0 for a in inputs):
        return
    for divisor in divisors:
        if not np.all(divisor):
            raise RuntimeError("ZeroDivisionError")


def guard_divisors(step, block: Block):
    """`step` (an executor step running `block`), made to check the block's integer divisors
    for zeros before its own lines run: one line of the plan's run function."""
    divisors = check_divisors(block)
    if not divisors:
        return step
    emit = step.emit

    def guarded(code) -> None:
        check = code.bind(raise_on_zero, "check")
        names = [code.name(step.ins[d]) if isinstance(d, int) else code.bind(d, "zero")
                 for d in divisors]
        ins = "".join(f"{code.name(k)}, " for k in step.ins)
        code.line(f"{check}(({ins}), {', '.join(names)})")
        emit(code)

    step.emit = guarded
    return step
