"""Elementwise math emitted as LLVM IR that the loop vectorizer widens: exp, log, tanh, erf, ...

On x86 the `llvm.exp`/`llvm.tanh`/... intrinsics and libm become one scalar call per element,
25-30x slower than vector code (docs/math-accuracy.md). Each `emit_*(builder, x)` here takes a
scalar `float` or `double` value and builds its function from fused multiply-adds, compares,
selects, bitcasts, integer ops and float <-> i32 conversions, plus intrinsics that lower to one
vector instruction each (`fabs`, `copysign`, `rint`, `floor`, `sqrt`, `fmuladd`): a loop of it
runs 8 floats or 4 doubles per AVX2 instruction. Special values (inf, nan, signed zeros,
overflow) behave like numpy's.

The emitted instructions carry no fast-math flags: range reductions rely on exact rounding, so
they must not be reassociated. Polynomial coefficients are near-minimax fits (mpmath `chebyfit`,
then rounded to the target type) of the functions named beside each table; the measured errors
are in docs/math-accuracy.md (`python -m bench.math_accuracy`). `compile_unary` JIT-compiles
one function as a loop over an array, for tests and measurement.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from functools import cache
from itertools import pairwise

import numpy as np
from llvmlite import ir

from . import jit

__all__ = [
    "SHORT_RANGE_UNARY", "UNARY", "compile_unary", "emit_cos", "emit_erf", "emit_exp",
    "emit_expm1", "emit_log", "emit_log1p", "emit_sigmoid", "emit_sin", "emit_sqrt", "emit_tanh",
    "needs_full_range", "unary_assembly", "unary_kernel_ir",
]

# Coefficient tables, highest degree first; `F32`/`F64` tables are evaluated in that type.
# exp(r) = 1 + r + r^2 * P(r), P = (exp(r) - 1 - r) / r^2 on |r| <= ln2 / 2.
EXP_F32 = (0.0013926176, 0.008363173, 0.041666556, 0.16666578, 0.5)
EXP_F64 = (
    2.0914679376583935e-09, 2.510520637395701e-08, 2.7557273661348637e-07,
    2.7557255425746435e-06, 2.4801587325533363e-05, 0.00019841269874800493,
    0.0013888888888883752, 0.008333333333326141, 0.04166666666666667, 0.1666666666666667, 0.5,
)
# log(1 + f) = f - f^2 / 2 + f^3 * P(f) on sqrt(1/2) - 1 <= f < sqrt(2) - 1.
LOG_F32 = (
    0.06971612, -0.11479734, 0.1168542, -0.12425687, 0.14249058, -0.16667803, 0.20000716,
    -0.24999997, 0.3333333,
)
# log(1 + f) = 2 atanh(s) = 2s + s z R(z), s = f / (2 + f), z = s^2 <= 0.0295.
LOG_F64 = (
    0.14616449685043406, 0.15331721600556042, 0.18182889125261723, 0.2222221113479508,
    0.28571428625975487, 0.39999999999899505, 0.666666666666667,
)
# erf(x) = x + x * P(x^2), P = erf(x) / x - 1 on |x| <= 1.
ERF_SMALL_F32 = (
    7.875875e-05, -0.00080168643, 0.0051890872, -0.026854211, 0.11283594, -0.37612626, 0.12837917,
)
ERF_SMALL_F64 = (
    5.957176147748911e-11, -1.1372848856791674e-09, 1.4659775274047436e-08,
    -1.6350312701054695e-07, 1.6461000484121368e-06, -1.4925595266831182e-05,
    0.0001205533111164271, -0.000854832698083379, 0.0052239776248180145, -0.026866170645076792,
    0.11283791670954879, -0.3761263890318375, 0.1283791670955126,
)
# erf(x) = 1 - exp(G(x - mid) - x^2), G(t) = log(erfc(t + mid)) + (t + mid)^2 on 1 <= x <= sat.
ERF_TAIL_F32 = (
    1.6371514e-06, -1.3315014e-05, 7.729138e-05, -0.00042012252, 0.0021653036, -0.010858541,
    0.056106295, -0.35268068, -1.5568153,
)
ERF_TAIL_F64 = (
    -1.0284737418701037e-20, -2.890052807773236e-20, 1.0310709046843767e-18,
    -3.953335511132447e-18, 1.1648629082553336e-18, 8.490652774900766e-19, 4.3126996638058e-17,
    7.182960675389331e-16, -9.354075961535602e-15, 6.603494035332496e-14,
    -3.9188849552855423e-13, 2.059317816854362e-12, -9.186651402375236e-12,
    3.064168664981868e-11, -2.4788397031956076e-11, -7.748776971735734e-10,
    9.531650439650468e-09, -8.069305060922853e-08, 5.8561435112871e-07, -3.889557144393423e-06,
    2.4386373534475317e-05, -0.00014729777490261452, 0.0008736873236415942,
    -0.005225658221939779, 0.033246945257769805, -0.2660995883651909, -1.8624374021481738,
)
# sin(r) = r + r^3 S(r^2), cos(r) = 1 - r^2 / 2 + r^4 C(r^2) on |r| <= pi / 4.
SIN_F32 = (-0.0001958789, 0.008332748, -0.16666664)
SIN_F64 = (
    1.5918129294866608e-10, -2.5051131845003624e-08, 2.755731610255244e-06,
    -0.00019841269836758574, 0.008333333333330948, -0.16666666666666666,
)
COS_F32 = (2.4547942e-05, -0.0013888302, 0.041666664)
COS_F64 = (
    -1.1382632425521717e-11, 2.08761462684032e-09, -2.7557317271729793e-07,
    2.480158729876569e-05, -0.0013888888888887398, 0.041666666666666664,
)

LOG2E = 1.4426950408889634
# ln 2 split Cody-Waite style (fdlibm's parts): the leading part has trailing zero bits, so
# k * part is exact, fused into an fma or not, for k < 2^21.
LN2_F32 = (0.693359375, -2.1219444170128554e-4)
LN2_F64 = (6.93147180369123816490e-01, 1.9082149292705877e-10)

# 2/pi to 1280 bits, floor(2/pi * 2^1280) in hex (tests check it against mpmath), for the
# Payne-Hanek reduction of sin and cos: words of floor(2/pi * 2^N), least significant first,
# two zero words above. pi/2 scaled to the reductions' fixed point (2^-62 or 2^-126 per unit).
TWO_OVER_PI_HEX = (
    "a2f9836e4e441529fc2757d1f534ddc0db6295993c439041fe5163abdebbc561b7246e3a424dd2e006492eea09"
    "d1921cfe1deb1cb129a73ee88235f52ebb4484e99c7026b45f7e413991d639835339f49c845f8bbdf9283b1ff8"
    "97ffde05980fef2f118b5a0a6d1f6d367ecf27cb09b74f463f669e5fea2d7527bac7ebe5f17b3d0739f78a5292"
    "ea6bfb5fb11f8d5d0856033046fc7b6babf0cfbc209af4361d"
)


def _two_over_pi_words(n: int) -> tuple[int, ...]:
    g = int(TWO_OVER_PI_HEX, 16) >> (1280 - n)
    return (*((g >> (32 * j)) & 0xFFFFFFFF for j in range(n // 32)), 0, 0)


TWO_OVER_PI_F32 = _two_over_pi_words(224)  # 2/pi * 2^224: 7 words, 2 zeros
TWO_OVER_PI_F64 = _two_over_pi_words(1216)  # 2/pi * 2^1216: 38 words, 2 zeros
PIO2_FIXED = (1.5707963267948966 * 2.0**-62, 1.5707963267948966 * 2.0**-126)
# pi / 2 split Cody-Waite style (fdlibm's parts) for the short-range reduction: the leading
# parts have trailing zero bits, so k * part is exact, fused into an fma or not, for k < 2^20.
PIO2_FOR_F32 = (1.57079632673412561417, 6.07710050650619224932e-11)  # reduced in double
PIO2_F64 = (1.57079632673412561417, 6.07710050630396597660e-11, 2.02226624879595063154e-21)
TWO_OVER_PI = 0.6366197723675814
# |x| up to which the short-range reduction holds: exact for float (in double arithmetic);
# for double within the accuracy table's bounds with hardware FMA (the fmuladds fused).
SHORT_RANGE = (2.0**20, 2.0**30)

I32 = ir.IntType(32)
I64 = ir.IntType(64)
F64 = ir.DoubleType()


class _Math:
    """Emission helpers bound to one builder and one float type (float or double)."""

    def __init__(self, builder: ir.IRBuilder, x: ir.Value):
        if not isinstance(x.type, ir.FloatType | ir.DoubleType):
            raise TypeError(f"llvm_math: expected a float or double value, got {x.type}")
        self.b = builder
        self.ty = x.type
        self.f64 = isinstance(x.type, ir.DoubleType)
        self.ity = ir.IntType(64 if self.f64 else 32)  # the float's bits
        self.mant = 52 if self.f64 else 23
        self.bias = 1023 if self.f64 else 127

    def pick(self, f32, f64):
        return f64 if self.f64 else f32

    def c(self, v: float | ir.Value) -> ir.Value:
        return v if isinstance(v, ir.Value) else ir.Constant(self.ty, v)

    def ic(self, v: int) -> ir.Constant:
        return ir.Constant(self.ity, v)

    def call(self, name: str, *args) -> ir.Value:
        fnty = ir.FunctionType(self.ty, [self.ty] * len(args))
        fn = self.b.module.declare_intrinsic(name, [self.ty], fnty)
        return self.b.call(fn, [self.c(a) for a in args])

    def add(self, a, b):
        return self.b.fadd(self.c(a), self.c(b))

    def sub(self, a, b):
        return self.b.fsub(self.c(a), self.c(b))

    def mul(self, a, b):
        return self.b.fmul(self.c(a), self.c(b))

    def div(self, a, b):
        return self.b.fdiv(self.c(a), self.c(b))

    def fma(self, a, b, c):
        """a * b + c, fused where the target has FMA."""
        return self.call("llvm.fmuladd", a, b, c)

    def horner(self, t: ir.Value, coefs: Sequence[float]) -> ir.Value:
        acc = self.c(coefs[0])
        for coef in coefs[1:]:
            acc = self.fma(acc, t, coef)
        return acc

    def cmp(self, op: str, a, b) -> ir.Value:
        """Ordered comparison: false when either side is nan."""
        return self.b.fcmp_ordered(op, self.c(a), self.c(b))

    def select(self, cond, a, b) -> ir.Value:
        return self.b.select(cond, self.c(a), self.c(b))

    def clamp(self, x, lo: float, hi: float) -> ir.Value:
        """x limited to [lo, hi]; nan becomes lo, so that later integer conversions are defined."""
        x = self.select(self.cmp(">", x, lo), x, lo)
        return self.select(self.cmp("<", x, hi), x, hi)

    def keep_nan(self, x, y) -> ir.Value:
        """y, or x itself where x is nan."""
        return self.select(self.b.fcmp_unordered("uno", x, x), x, y)

    def keep_zero(self, x, y) -> ir.Value:
        """y, or x itself where x is +-0 (keeps the zero's sign like numpy)."""
        return self.select(self.cmp("==", x, 0.0), x, y)

    def to_i32(self, v) -> ir.Value:
        """An integral float (finite, |v| < 2^31) as an i32 (double -> i64 is scalar on AVX2)."""
        return self.b.fptosi(v, I32)

    def pow2(self, n) -> ir.Value:
        """2^n for an i32 n in the normal exponent range."""
        n = self.b.sext(n, self.ity) if self.f64 else n
        bits = self.b.shl(self.b.add(n, self.ic(self.bias)), self.ic(self.mant))
        return self.b.bitcast(bits, self.ty)

    def ldexp(self, y, n) -> ir.Value:
        """y * 2^n (n an i32) in two exact steps, so n may reach twice the exponent range."""
        half = self.b.ashr(n, ir.Constant(I32, 1))
        y = self.mul(y, self.pow2(half))
        return self.mul(y, self.pow2(self.b.sub(n, half)))


# --- exp and expm1 ---------------------------------------------------------------------------

def _reduce_ln2(m: _Math, x):
    """(k, r) with x = k ln2 + r, |r| <= ln2 / 2, k an integral float (x already clamped)."""
    k = m.call("llvm.rint", m.mul(x, LOG2E))
    hi, lo = m.pick(LN2_F32, LN2_F64)
    negk = m.b.fneg(k)
    return k, m.fma(negk, lo, m.fma(negk, hi, x))


def _expm1_reduced(m: _Math, r):
    """exp(r) - 1 for |r| <= ln2 / 2: r + r^2 P(r)."""
    return m.fma(m.mul(r, r), m.horner(r, m.pick(EXP_F32, EXP_F64)), r)


def _exp(m: _Math, x):
    """exp(x) for non-nan x (nan gives 0)."""
    x = m.clamp(x, *m.pick((-110.0, 90.0), (-750.0, 710.0)))  # beyond: exactly 0 or inf
    k, r = _reduce_ln2(m, x)
    return m.ldexp(m.add(_expm1_reduced(m, r), 1.0), m.to_i32(k))


def _expm1(m: _Math, x):
    """exp(x) - 1 for non-nan x (nan gives -1): 2^k (q + 1 - 2^-k), q = exp(r) - 1."""
    x = m.clamp(x, *m.pick((-40.0, 90.0), (-80.0, 710.0)))  # below: -1 to within half an ulp
    k, r = _reduce_ln2(m, x)
    n = m.to_i32(k)
    # 1 - 2^-k is exact for small |k| and rounds to 1 for large k: clamp -k to keep 2^-k normal.
    neg = m.b.neg(n)
    low = ir.Constant(I32, m.pick(-30, -60))
    neg = m.b.select(m.b.icmp_signed(">", neg, low), neg, low)
    y = m.add(_expm1_reduced(m, r), m.sub(1.0, m.pow2(neg)))
    return m.ldexp(y, n)


def emit_exp(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """exp(x): 0 below the underflow threshold (subnormals kept), inf above overflow."""
    m = _Math(builder, x)
    return m.keep_nan(x, _exp(m, x))


def emit_expm1(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """exp(x) - 1, accurate near 0 (no cancellation); expm1(-0.0) = -0.0."""
    m = _Math(builder, x)
    return m.keep_nan(x, m.keep_zero(x, _expm1(m, x)))


# --- log and log1p ---------------------------------------------------------------------------

def _log_finite(m: _Math, x):
    """log(x) for positive finite x (subnormals included); anything for other x."""
    tiny = m.cmp("<", x, m.pick(2.0**-126, 2.0**-1022))
    scale = m.pick(25, 54)
    x = m.select(tiny, m.mul(x, 2.0**scale), x)
    # x = 2^e * a with a in [sqrt(1/2), sqrt(2)): subtract sqrt(1/2)'s bits, split the rest.
    sqrt_half = m.ic(m.pick(0x3F3504F3, 0x3FE6A09E667F3BCD))
    ix = m.b.sub(m.b.bitcast(x, m.ity), sqrt_half)
    a_bits = m.b.add(m.b.and_(ix, m.ic((1 << m.mant) - 1)), sqrt_half)
    f = m.sub(m.b.bitcast(a_bits, m.ty), 1.0)  # exact
    # e = ix >> mant (arithmetic), as a logical shift of a biased ix: AVX2 lacks vpsraq.
    e = m.b.lshr(m.b.add(ix, m.ic(m.bias << m.mant)), m.ic(m.mant))
    e = m.b.trunc(e, I32) if m.f64 else e  # i64 -> double does not vectorize on AVX2
    e = m.b.sitofp(m.b.sub(e, ir.Constant(I32, m.bias)), m.ty)
    e = m.select(tiny, m.sub(e, float(scale)), e)
    hi, lo = m.pick(LN2_F32, LN2_F64)
    if m.f64:  # fdlibm: log(1 + f) = f - (hfsq - s (hfsq + R)), s = f / (2 + f)
        s = m.div(f, m.add(f, 2.0))
        z = m.mul(s, s)
        hfsq = m.mul(m.mul(f, f), 0.5)
        t = m.mul(s, m.fma(z, m.horner(z, LOG_F64), hfsq))
        y = m.sub(f, m.sub(hfsq, m.fma(e, lo, t)))
    else:  # cephes: log(1 + f) = f - f^2 / 2 + f^3 P(f)
        z = m.mul(f, f)
        t = m.fma(m.mul(z, f), m.horner(f, LOG_F32), m.mul(e, lo))
        y = m.add(f, m.fma(z, -0.5, t))
    return m.fma(e, hi, y)


def _log_special(m: _Math, x, y):
    """y where x > 0 is finite; -inf at +-0, nan below 0, inf at inf, x where x is nan."""
    y = m.select(m.cmp("==", x, float("inf")), float("inf"), y)
    y = m.select(m.cmp("==", x, 0.0), float("-inf"), y)
    y = m.select(m.cmp("<", x, 0.0), float("nan"), y)
    return m.keep_nan(x, y)


def emit_log(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """Natural log: -inf at +-0, nan below 0, inf at inf."""
    m = _Math(builder, x)
    return _log_special(m, x, _log_finite(m, x))


def emit_log1p(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """log(1 + x), accurate near 0: log(u) + (x - (u - 1)) / u corrects the rounding of u."""
    m = _Math(builder, x)
    u = m.add(x, 1.0)
    y = m.add(_log_finite(m, u), m.div(m.sub(x, m.sub(u, 1.0)), u))
    return m.keep_zero(x, _log_special(m, u, y))  # u = 0 gives -inf, u = inf inf


# --- tanh, sigmoid, erf ----------------------------------------------------------------------

def emit_tanh(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """tanh(x) = -t / (t + 2) with t = expm1(-2|x|), given x's sign: +-1 at +-inf, odd at 0."""
    m = _Math(builder, x)
    t = _expm1(m, m.mul(m.call("llvm.fabs", x), -2.0))
    y = m.div(m.b.fneg(t), m.add(t, 2.0))
    return m.keep_nan(x, m.call("llvm.copysign", y, x))


def emit_sigmoid(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """1 / (1 + exp(-x)), as e / (1 + e) with e = exp(x) for x < 0 (no overflow, tiny kept)."""
    m = _Math(builder, x)
    e = _exp(m, m.b.fneg(m.call("llvm.fabs", x)))
    y = m.div(m.select(m.cmp(">=", x, 0.0), 1.0, e), m.add(e, 1.0))
    return m.keep_nan(x, y)


def emit_erf(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """erf(x): a polynomial in x^2 for |x| < 1, 1 - exp(polynomial - x^2) beyond; odd."""
    m = _Math(builder, x)
    a = m.call("llvm.fabs", x)
    small = m.fma(a, m.horner(m.mul(a, a), m.pick(ERF_SMALL_F32, ERF_SMALL_F64)), a)
    sat, mid = m.pick((4.0, 2.5), (6.0, 3.5))  # erfc(sat) < half an ulp of 1
    b = m.clamp(a, 1.0, sat)
    g = m.horner(m.sub(b, mid), m.pick(ERF_TAIL_F32, ERF_TAIL_F64))  # b - mid is exact
    tail = m.sub(1.0, _exp(m, m.fma(m.b.fneg(b), b, g)))
    y = m.select(m.cmp("<", a, 1.0), small, tail)
    return m.keep_nan(x, m.call("llvm.copysign", y, x))


# --- sqrt, sin, cos --------------------------------------------------------------------------

def emit_sqrt(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """sqrt(x) via `llvm.sqrt` (one vsqrtps/vsqrtpd): nan below 0, sqrt(-0.0) = -0.0."""
    return _Math(builder, x).call("llvm.sqrt", x)


def _reduce_pio2(m: _Math, x):
    """(k, r) with x = k pi / 2 + r, |r| <= pi / 4 (within rounding), k an i32 in -3 .. 3.

    Payne-Hanek in integer arithmetic, for every finite x: the bits of 2/pi that matter for x's
    exponent (a window of TWO_OVER_PI) times x's integer mantissa, modulo 4, as a fixed-point
    number; its nearest integer is k, the rest times pi/2 is r (rounded in double, then to
    float for float x). |x| < 1/2 needs no reduction (k = 0, r = x).
    """
    bits = m.b.bitcast(x, m.ity)
    mag = m.b.and_(bits, m.ic(m.pick(0x7FFFFFFF, 0x7FFFFFFFFFFFFFFF)))  # |x|'s bits
    exponent = m.b.lshr(mag, m.ic(m.mant))
    mantissa = m.b.or_(m.b.and_(mag, m.ic((1 << m.mant) - 1)), m.ic(1 << m.mant))
    lowest = m.bias - 1  # exponent of 1/2: below, x is its own remainder
    clamped = _clamp_int(m.b, exponent, m.ic(lowest), m.ic(2 * m.bias))
    fraction = _fraction_f64 if m.f64 else _fraction_f32
    k, f = fraction(m.b, mantissa, clamped)  # k: i32 in 0..3, f: double
    r = _Math(m.b, f).mul(f, PIO2_FIXED[m.f64])
    r = r if m.f64 else m.b.fptrunc(r, m.ty)
    negative = m.b.icmp_signed("<", bits, m.ic(0))
    k = m.b.select(negative, m.b.neg(k), k)
    r = m.select(negative, m.b.fneg(r), r)
    small = m.b.icmp_unsigned("<", exponent, m.ic(lowest))
    return m.b.select(small, ir.Constant(I32, 0), k), m.select(small, x, r)


def _clamp_int(b: ir.IRBuilder, v, lo, hi):
    v = b.select(b.icmp_signed("<", v, lo), lo, v)
    return b.select(b.icmp_signed(">", v, hi), hi, v)


def _window(b: ir.IRBuilder, words: Sequence[ir.Value], shift) -> list[ir.Value]:
    """32-bit words of (the number `words`, least significant first) >> shift, 0 <= shift < 32:
    one fewer than given. No shift reaches 32 (that would be poison)."""
    back = b.sub(ir.Constant(I32, 31), shift)
    one = ir.Constant(I32, 1)
    return [b.or_(b.lshr(lo, shift), b.shl(b.shl(hi, one), back))
            for lo, hi in pairwise(words)]


def _fraction_f32(b: ir.IRBuilder, mantissa, exponent):
    """(k, f * 2^62): x * 2/pi = 4n + k + f, -1/2 <= f < 1/2, for x = mantissa * 2^(exponent
    - 150) with exponent in [126, 254], from 96 bits of 2/pi chosen by the exponent."""
    shift = b.sub(ir.Constant(I32, 280), exponent)  # 2/pi * 2^224 >> shift: 96 bits that matter
    index = b.lshr(shift, ir.Constant(I32, 5))  # 0 .. 4
    words = []
    for i in range(4):  # TWO_OVER_PI words index + i by selects (no gathers on AVX2)
        word = ir.Constant(I32, TWO_OVER_PI_F32[i + 4])
        for a in range(3, -1, -1):
            word = b.select(b.icmp_unsigned("==", index, ir.Constant(I32, a)),
                            ir.Constant(I32, TWO_OVER_PI_F32[i + a]), word)
        words.append(word)
    w0, w1, w2 = _window(b, words, b.and_(shift, ir.Constant(I32, 31)))
    m64 = b.zext(mantissa, I64)
    p0 = b.mul(m64, b.zext(w0, I64))
    t1 = b.add(b.mul(m64, b.zext(w1, I64)), b.lshr(p0, ir.Constant(I64, 32)))
    low = b.trunc(t1, I32)  # (x * 2/pi mod 4) * 2^62 = top:low
    top = b.add(b.mul(mantissa, w2), b.trunc(b.lshr(t1, ir.Constant(I64, 32)), I32))
    return _split_quadrant(b, top, [low])


def _split_quadrant(b: ir.IRBuilder, top, lower: Sequence[ir.Value]):
    """(k, f * 2^(30 + 32 len(lower))) from (x * 2/pi mod 4) as 32-bit words, the most
    significant (`top`, two integer bits) first: k the nearest integer, f the rest as a double
    (exact while small, else rounded: once for one lower word, at most three times for three)."""
    k = b.lshr(b.add(top, ir.Constant(I32, 1 << 29)), ir.Constant(I32, 30))
    top = b.sub(top, b.shl(k, ir.Constant(I32, 30)))  # signed, |top| <= 2^29
    last = lower[-1]  # as a signed i32 (one instruction to convert), its sign bit carried up
    carry = b.lshr(last, ir.Constant(I32, 31))
    if len(lower) == 1:
        top = b.add(top, carry)
    f = b.sitofp(top, F64)
    d = _Math(b, f)
    for word in lower[:-1]:
        f = d.fma(f, 2.0**32, b.uitofp(word, F64))
    if len(lower) > 1:
        f = d.add(f, b.uitofp(carry, F64))
    return k, d.fma(f, 2.0**32, b.sitofp(last, F64))


def _fraction_f64(b: ir.IRBuilder, mantissa, exponent):
    """(k, f * 2^126): x * 2/pi = 4n + k + f, -1/2 <= f < 1/2, for x = mantissa * 2^(exponent
    - 1075) with exponent in [1022, 2046], from 192 bits of 2/pi loaded from a table."""
    shift = b.sub(ir.Constant(I32, 2101), b.trunc(exponent, I32))  # 2/pi * 2^1216 >> shift
    index = b.lshr(shift, ir.Constant(I32, 5))  # 1 .. 33
    table = _two_over_pi_table(b.module)
    zero = ir.Constant(I32, 0)
    words = [b.load(b.gep(table, [zero, b.add(index, ir.Constant(I32, i))], inbounds=True))
             for i in range(7)]
    window = [b.zext(w, I64) for w in _window(b, words, b.and_(shift, ir.Constant(I32, 31)))]
    low = b.and_(mantissa, ir.Constant(I64, 0xFFFFFFFF))
    high = b.lshr(mantissa, ir.Constant(I64, 32))  # < 2^21
    a = _times_word(b, low, window)  # mantissa * window mod 2^192, 32-bit limbs in i64s
    c = [ir.Constant(I64, 0), *_times_word(b, high, window[:-1])]
    limbs, carry = [], ir.Constant(I64, 0)
    for x, y in zip(a, c):
        t = b.add(b.add(x, y), carry)
        limbs.append(b.trunc(t, I32))
        carry = b.lshr(t, ir.Constant(I64, 32))
    return _split_quadrant(b, limbs[5], limbs[4:1:-1])  # (x * 2/pi mod 4) * 2^126


def _times_word(b: ir.IRBuilder, word, limbs) -> list[ir.Value]:
    """word * limbs (32-bit limbs in i64s, least significant first), modulo 2^(32 len(limbs))."""
    out, carry = [], ir.Constant(I64, 0)
    for limb in limbs:
        t = b.add(b.mul(word, limb), carry)  # < 2^64: (2^32 - 1)^2 + 2^32 - 1
        out.append(b.and_(t, ir.Constant(I64, 0xFFFFFFFF)))
        carry = b.lshr(t, ir.Constant(I64, 32))
    return out


def _two_over_pi_table(module: ir.Module) -> ir.GlobalVariable:
    name = "tracejit.two_over_pi"
    table = module.globals.get(name)
    if table is None:
        ty = ir.ArrayType(I32, len(TWO_OVER_PI_F64))
        table = ir.GlobalVariable(module, ty, name)
        table.initializer = ir.Constant(ty, list(TWO_OVER_PI_F64))
        table.global_constant = True
        table.linkage = "private"
        table.unnamed_addr = True
    return table


def _reduce_pio2_short(m: _Math, x):
    """(k, r) as _reduce_pio2 gives them, for |x| <= SHORT_RANGE only: Cody-Waite, float in
    double arithmetic; a third of the Payne-Hanek reduction's instructions."""
    if not m.f64:
        xd = m.b.fpext(x, F64)
        k, r = _cody_waite(_Math(m.b, xd), xd, PIO2_FOR_F32)
        return m.b.fptosi(k, I32), m.b.fptrunc(r, m.ty)
    k, r = _cody_waite(m, x, PIO2_F64)
    return m.b.fptosi(k, I32), r


def _cody_waite(m: _Math, x, parts: Sequence[float]):
    k = m.call("llvm.rint", m.mul(x, TWO_OVER_PI))
    negk = m.b.fneg(k)
    r = x
    for part in parts:
        r = m.fma(negk, part, r)
    return k, r


def _sin_quadrant(m: _Math, x, shift: int, short: bool):
    """sin(x + shift * pi / 2): reduce by k pi / 2, pick the sin or cos polynomial and sign."""
    k, r = (_reduce_pio2_short if short else _reduce_pio2)(m, x)
    z = m.mul(r, r)
    sin_r = m.fma(m.mul(z, r), m.horner(z, m.pick(SIN_F32, SIN_F64)), r)
    cos_r = m.fma(m.mul(z, z), m.horner(z, m.pick(COS_F32, COS_F64)), m.fma(z, -0.5, 1.0))
    quadrant = m.b.add(k, ir.Constant(I32, shift))
    odd = m.b.trunc(quadrant, ir.IntType(1))
    y = m.b.bitcast(m.select(odd, cos_r, sin_r), m.ity)
    sign = m.b.and_(quadrant, ir.Constant(I32, 2))  # quadrants 2 and 3 (mod 4) negate:
    sign = m.b.shl(m.b.zext(sign, m.ity) if m.f64 else sign, m.ic(m.pick(30, 62)))  # sign bit
    return m.b.bitcast(m.b.xor(y, sign), m.ty)


def emit_sin(builder: ir.IRBuilder, x: ir.Value, short: bool = False) -> ir.Value:
    """sin(x) for every x: nan at +-inf and nan, sin(-0.0) = -0.0. `short`: for |x| <=
    SHORT_RANGE only (see needs_full_range)."""
    m = _Math(builder, x)
    y = m.keep_zero(x, _sin_quadrant(m, x, 0, short))
    return y if short else _within_trig_limit(m, x, y)


def emit_cos(builder: ir.IRBuilder, x: ir.Value, short: bool = False) -> ir.Value:
    """cos(x) for every x: nan at +-inf and nan. `short`: for |x| <= SHORT_RANGE only."""
    m = _Math(builder, x)
    y = _sin_quadrant(m, x, 1, short)
    return y if short else _within_trig_limit(m, x, y)


def needs_full_range(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """i1: whether sin or cos of x needs the full-range reduction (|x| beyond SHORT_RANGE,
    infinities and nan)."""
    m = _Math(builder, x)
    return builder.fcmp_unordered(">", m.call("llvm.fabs", x), m.c(m.pick(*SHORT_RANGE)))


def _within_trig_limit(m: _Math, x, y):
    """y where x is finite, else nan (sin and cos of +-inf are nan)."""
    limit = m.pick(3.4028234663852886e38, 1.7976931348623157e308)
    return m.select(m.cmp("<=", m.call("llvm.fabs", x), limit), y, float("nan"))


UNARY: dict[str, Callable[[ir.IRBuilder, ir.Value], ir.Value]] = {
    "exp": emit_exp,
    "expm1": emit_expm1,
    "log": emit_log,
    "log1p": emit_log1p,
    "tanh": emit_tanh,
    "sigmoid": emit_sigmoid,
    "erf": emit_erf,
    "sqrt": emit_sqrt,
    "sin": emit_sin,
    "cos": emit_cos,
}
# sin and cos as kernels use them on chunks of small arguments (|x| <= SHORT_RANGE; lower.py),
# compiled on their own to be measured
SHORT_RANGE_UNARY: dict[str, Callable[[ir.IRBuilder, ir.Value], ir.Value]] = {
    "sin_short": lambda b, x: emit_sin(b, x, short=True),
    "cos_short": lambda b, x: emit_cos(b, x, short=True),
}


# --- a JIT for test kernels ------------------------------------------------------------------

_IR_TYPES = {np.dtype(np.float32): ir.FloatType(), np.dtype(np.float64): ir.DoubleType()}
def unary_kernel_ir(name: str, dtype, symbol: str = "kernel") -> ir.Module:
    """`void symbol(T* in, T* out, i64 n)`: out[i] = name(in[i]) for i < n."""
    ty = _IR_TYPES[np.dtype(dtype)]
    module = ir.Module(name=f"llvm_math_{name}")
    ptr = ty.as_pointer()
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [ptr, ptr, ir.IntType(64)]), symbol)
    src, dst, n = fn.args
    src.add_attribute("noalias")
    dst.add_attribute("noalias")
    entry, loop, done = (fn.append_basic_block(s) for s in ("entry", "loop", "done"))
    b = ir.IRBuilder(entry)
    zero = ir.Constant(ir.IntType(64), 0)
    b.cbranch(b.icmp_signed(">", n, zero), loop, done)
    b.position_at_end(loop)
    i = b.phi(ir.IntType(64))
    size = np.dtype(dtype).itemsize
    x = b.load(b.gep(src, [i]), align=size)
    b.store({**UNARY, **SHORT_RANGE_UNARY}[name](b, x), b.gep(dst, [i]), align=size)
    step = b.add(i, ir.Constant(ir.IntType(64), 1))
    i.add_incoming(zero, entry)
    i.add_incoming(step, loop)
    b.cbranch(b.icmp_signed("<", step, n), loop, done)
    b.position_at_end(done)
    b.ret_void()
    return module


def unary_assembly(name: str, dtype) -> str:
    """The host assembly of `name`'s test kernel (to check that it vectorizes)."""
    return jit.engine().assembly(str(unary_kernel_ir(name, dtype, jit.PLACEHOLDER)))


def compile_unary(name: str, dtype) -> Callable[[np.ndarray], np.ndarray]:
    """A JIT-compiled `name` (a key of UNARY or SHORT_RANGE_UNARY) over arrays of `dtype`;
    compiled once per process.

    The callable converts its input to `dtype` and returns a new array of the same shape.
    """
    dtype = np.dtype(dtype)
    if (name not in UNARY and name not in SHORT_RANGE_UNARY) or dtype not in _IR_TYPES:
        raise ValueError(f"compile_unary: no kernel for {name!r} on {dtype}; "
                         f"functions: {', '.join(UNARY)}; dtypes: float32, float64")
    return _compile_unary(name, dtype)


@cache
def _compile_unary(name: str, dtype: np.dtype) -> Callable[[np.ndarray], np.ndarray]:
    text = str(unary_kernel_ir(name, dtype, jit.PLACEHOLDER))
    (address,) = jit.engine().compile(text, [jit.PLACEHOLDER]).values()
    kernel = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)(address)

    def run(x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=dtype)
        out = np.empty_like(x)
        kernel(x.ctypes.data, out.ctypes.data, x.size)
        return out

    run.__name__ = f"{name}_{dtype.name}"
    return run
