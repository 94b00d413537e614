"""Gradient cases for every differentiable op, one table keyed by `Op` (test_autograd_ops.py).

A `GradCase` is `fn(L, *inputs)` written once for both libraries (`L` is `tracejit` or
`torch`) through the public API (methods and functions, not dispatch()). Floating-point numpy
arrays among `inputs` become tensors of the dtype under test that require grad; integer and
boolean arrays become plain tensors (indices, masks); anything else is passed as is. `fn`
returns one floating-point tensor (several results are `cat`ed flat).

Inputs stay away from the kinks of piecewise ops (ties, zeros, integer jumps) so that the
finite-difference check applies; cases at a kink on purpose (ties split the gradient as torch
does) say `smooth=False`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tracejit.ir import Op


@dataclass(frozen=True)
class GradCase:
    """One call whose gradients are compared with torch's (and with finite differences)."""

    name: str
    fn: Any
    inputs: tuple = ()
    smooth: bool = True  # the finite-difference check applies (no kink within eps)
    tol: float = 1.0  # scales the default tolerances (accumulating ops, linalg)
    xfail: str | None = None  # a known disagreement with torch, with the reason
    fd_xfail: str | None = None  # a known failure of the finite-difference check
    double_xfail: str | None = None  # a known disagreement of the second derivative
    dtypes: tuple[str, ...] = ("float32", "float64")
    keep_dtype: tuple[int, ...] = ()  # input positions that keep their own dtype (mixed dtypes)
    constant: tuple[int, ...] = ()  # float input positions that do not require grad


_rng = np.random.default_rng(20261206)


def R(*shape, lo=-1.0, hi=1.0) -> np.ndarray:
    """Uniform float64 test data in [lo, hi)."""
    return _rng.uniform(lo, hi, shape)


def pos(*shape, lo=0.5, hi=2.0) -> np.ndarray:
    return R(*shape, lo=lo, hi=hi)


def nonzero(*shape) -> np.ndarray:
    """Values with |x| in [0.3, 1.5): away from 0 (abs, sign, relu, reciprocal)."""
    return R(*shape, lo=0.3, hi=1.5) * np.where(_rng.random(shape) < 0.5, -1, 1)


def distinct(*shape, step=0.25) -> np.ndarray:
    """Tie-free values at least `step` apart, none zero (max, min, pooling, sorting)."""
    n = int(np.prod(shape))
    return ((_rng.permutation(n) - n / 2 + 0.5) * step).reshape(shape)


def off_integers(*shape, lo=-3.0, hi=3.0) -> np.ndarray:
    """Values whose fractional part is in [0.2, 0.8) (floor, ceil, round, trunc)."""
    whole = _rng.integers(int(lo), int(hi), shape)
    return whole + _rng.uniform(0.2, 0.8, shape)


def spd(n: int) -> np.ndarray:
    """A well-conditioned matrix (its eigenvalues near 3)."""
    return R(n, n) * 0.5 + 3 * np.eye(n)


def ints(values) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def F(L):
    return L.nn.functional


def _setitem(key):
    """y = x * 1; y[key(L)] = v; y: an in-place write with autograd through it."""
    def fn(L, x, v):
        y = x * 1
        y[key(L)] = v
        return y

    return fn


def _flat_cat(L, *ts):
    return L.cat([t.reshape(-1) for t in ts])


def _sym(L, a):
    return (a + a.mT) * 0.5 + 3 * L.eye(a.shape[-1], dtype=a.dtype)


def _avg_pool_grad(L, g, **kw):
    """The gradient of avg_pool2d as a function of the incoming gradient (create_graph)."""
    x = L.zeros((1, 2, 5, 5), dtype=g.dtype, requires_grad=True)
    out = F(L).avg_pool2d(x, **kw)
    return L.autograd.grad(out, x, g, create_graph=True)[0]


def _max_pool_grad(L, g, x, **kw):
    """The gradient of max_pool2d as a function of the incoming gradient (create_graph); x,
    with distinct values, fixes where the maxima are."""
    x = x.detach().requires_grad_()
    out = F(L).max_pool2d(x, **kw)
    return L.autograd.grad(out, x, g, create_graph=True)[0]


def _eigh_upper(L, a):
    values, vectors = L.linalg.eigh(_sym(L, a), UPLO="U")
    return _flat_cat(L, values, vectors * vectors)  # squares: free of the vectors' signs


def C(name, fn, *inputs, **kw) -> GradCase:
    return GradCase(name, fn, tuple(inputs), **kw)


def _unary(name, method, make=lambda: R(2, 3), **kw) -> list[GradCase]:
    """x.method() on a (2, 3) tensor and on a 0-d one."""
    return [C(name, lambda L, x: getattr(x, method)(), make(), **kw),
            C(f"{name}-0d", lambda L, x: getattr(x, method)(), np.asarray(make()[0, 0]), **kw)]


LARGER_SRC_XFAIL = ("torch's backward raises for scatter/scatter_add with src larger than index "
                    "('ScatterBackward0 returned an invalid gradient at index 1 - got [1, 3] but "
                    "expected shape compatible with [2, 4]'); tracejit pads the gradient with "
                    "zeros (rules._fit_index) and succeeds")
CUMPROD_ZERO_DOUBLE_XFAIL = ("cumprod's gradient is exact at zeros, but its second derivative "
                             "is not: after a slice's first zero the rule returns a constant 0, "
                             "which drops the dependence on that zero (rules._cumprod)")
SVD_DOUBLE_XFAIL = ("double backward of the singular values raises: rules._svd computes U and "
                    "Vh with dispatched SVD ops whose own rule raises 'the derivative of svd's U "
                    "and Vh is not implemented'; torch's second derivative of svdvals works")
FLOOR_DIV_XFAIL = ("torch's `a // b` (floor_divide) has no derivative (its backward raises "
                   "'derivative for aten::floor_divide is not implemented'); tracejit's "
                   "FLOOR_DIV rule gives zeros")

GRAD_CASES: dict[Op, list[GradCase]] = {
    # --- elementwise, unary -----------------------------------------------------------------
    Op.CAST: [C("to-float64", lambda L, x: x.double(), R(2, 3), dtypes=("float32",)),
              C("to-float32", lambda L, x: x.to(L.float32), R(2, 3), dtypes=("float64",),
                smooth=False),  # float32 rounding is far above the finite differences' step
              C("to-float16", lambda L, x: x.half().float() * 1, R(2, 3), smooth=False)],
    Op.COPY: [C("clone", lambda L, x: x.clone(), R(2, 3)),
              C("t-contiguous", lambda L, x: x.t().contiguous(), R(2, 3))],
    Op.NEG: [C("neg", lambda L, x: -x, R(2, 3)), C("function", lambda L, x: L.neg(x), R(4))],
    Op.ABS: [*_unary("abs", "abs", lambda: nonzero(2, 3)),
             C("builtin", lambda L, x: abs(x), nonzero(3))],
    Op.EXP: _unary("exp", "exp"),
    Op.LOG: _unary("log", "log", lambda: pos(2, 3)),
    Op.LOG1P: _unary("log1p", "log1p", lambda: R(2, 3, lo=-0.5, hi=2)),
    Op.EXPM1: _unary("expm1", "expm1"),
    Op.SQRT: _unary("sqrt", "sqrt", lambda: pos(2, 3)),
    Op.RSQRT: _unary("rsqrt", "rsqrt", lambda: pos(2, 3)),
    Op.SIN: _unary("sin", "sin"),
    Op.COS: _unary("cos", "cos"),
    Op.TANH: _unary("tanh", "tanh"),
    Op.SIGMOID: [*_unary("sigmoid", "sigmoid"),
                 C("function", lambda L, x: L.sigmoid(x), R(3, 2))],
    Op.ERF: _unary("erf", "erf"),
    Op.ERFC: _unary("erfc", "erfc"),
    Op.RECIPROCAL: [*_unary("reciprocal", "reciprocal", lambda: nonzero(2, 3)),
                    C("rdiv", lambda L, a: 2 / a, nonzero(2, 3))],
    Op.SILU: [C("silu", lambda L, x: F(L).silu(x), R(2, 3, lo=-3, hi=3))],
    Op.GELU: [C("erf", lambda L, x: F(L).gelu(x), R(2, 3, lo=-3, hi=3)),
              C("tanh", lambda L, x: F(L).gelu(x, approximate="tanh"), R(2, 3, lo=-3, hi=3))],
    Op.FLOOR: _unary("floor", "floor", lambda: off_integers(2, 3)),
    Op.CEIL: _unary("ceil", "ceil", lambda: off_integers(2, 3)),
    Op.TRUNC: _unary("trunc", "trunc", lambda: off_integers(2, 3)),
    Op.ROUND: [*_unary("round", "round", lambda: off_integers(2, 3)),
               C("decimals", lambda L, x: x.round(decimals=1), off_integers(2, 3) / 10 + 0.01)],
    Op.SIGN: _unary("sign", "sign", lambda: nonzero(2, 3)),
    Op.RELU: [*_unary("relu", "relu", lambda: nonzero(2, 3)),
              C("function", lambda L, x: F(L).relu(x), nonzero(2, 3))],
    Op.ASIN: _unary("asin", "asin", lambda: R(2, 3, lo=-0.8, hi=0.8)),
    Op.ACOS: _unary("acos", "acos", lambda: R(2, 3, lo=-0.8, hi=0.8)),
    Op.ATAN: _unary("atan", "atan", lambda: R(2, 3, lo=-3, hi=3)),
    Op.ASINH: _unary("asinh", "asinh", lambda: R(2, 3, lo=-3, hi=3)),
    Op.ACOSH: _unary("acosh", "acosh", lambda: pos(2, 3, lo=1.2, hi=4)),
    Op.ATANH: _unary("atanh", "atanh", lambda: R(2, 3, lo=-0.8, hi=0.8)),
    Op.LGAMMA: _unary("lgamma", "lgamma", lambda: pos(2, 3, lo=0.3, hi=5)),
    Op.NEXTAFTER: [C("nextafter", lambda L, a, b: L.nextafter(a, b), R(2, 3), R(2, 3),
                     smooth=False)],
    # --- elementwise, binary and ternary ----------------------------------------------------
    Op.ADD: [C("broadcast", lambda L, a, b: a + b, R(2, 3, 4), R(3, 1)),
             C("0d", lambda L, a, b: a + b, R(2, 3), R()),
             C("number", lambda L, a: a + 2.5, R(2, 3)),
             C("radd", lambda L, a: 1.5 + a, R(3)),
             C("mixed-float64", lambda L, a, b: a + b, R(2, 3), R(2, 1), keep_dtype=(1,)),
             C("alpha", lambda L, a, b: L.add(a, b, alpha=2), R(3, 1), R(1, 4))],
    Op.SUB: [C("broadcast", lambda L, a, b: a - b, R(2, 3, 4), R(3, 1)),
             C("0d-left", lambda L, a, b: a - b, R(), R(2, 3)),
             C("rsub", lambda L, a: 3 - a, R(2, 3)),
             C("alpha", lambda L, a, b: a.sub(b, alpha=2), R(2, 3), R(3))],
    Op.MUL: [C("broadcast", lambda L, a, b: a * b, R(2, 3, 4), R(3, 1)),
             C("0d", lambda L, a, b: a * b, R(2, 3), R()),
             C("number", lambda L, a: a * -1.5, R(2, 3)),
             C("square", lambda L, a: a * a, R(2, 3)),
             C("int-tensor", lambda L, a, n: a * n, R(2, 3), ints([1, -2, 3])),
             C("mixed-float16", lambda L, a, b: a * b, R(2, 3), R(3).astype(np.float16),
               keep_dtype=(1,), tol=1e3, smooth=False),
             C("function", lambda L, a, b: L.mul(a, b), R(4, 1), R(3))],
    Op.DIV: [C("broadcast", lambda L, a, b: a / b, R(2, 3, 4), nonzero(3, 1)),
             C("0d", lambda L, a, b: a / b, R(2, 3), np.asarray(0.7)),
             C("number", lambda L, a: a / 4, R(2, 3)),
             C("function", lambda L, a, b: L.div(a, b), R(3), nonzero(2, 1))],
    Op.POW: [C("tensors", lambda L, a, b: a ** b, pos(2, 3), R(3, lo=-2, hi=2)),
             C("square", lambda L, a: a ** 2, R(2, 3)),
             C("sqrt", lambda L, a: a.pow(0.5), pos(2, 3)),
             C("rpow", lambda L, a: 2 ** a, R(2, 3)),
             C("0d-exponent", lambda L, a, b: L.pow(a, b), pos(2, 3), np.asarray(1.7))],
    Op.MAXIMUM: [C("broadcast", lambda L, a, b: L.maximum(a, b), distinct(2, 3, 4),
                   distinct(3, 1, step=0.3) + 0.1),
                 C("0d-tensor", lambda L, a, b: L.maximum(a, b), distinct(2, 3),
                   np.asarray(0.1)),
                 C("ties", lambda L, a: L.maximum(a, a.detach()), R(2, 3), smooth=False)],
    Op.MINIMUM: [C("broadcast", lambda L, a, b: L.minimum(a, b), distinct(2, 3, 4),
                   distinct(3, 1, step=0.3) + 0.1),
                 C("full", lambda L, a: L.minimum(a, L.full_like(a, 0.5)),
                   distinct(3, 4, step=0.15) + 0.07),
                 C("ties", lambda L, a, b: L.minimum(a, b),
                   np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.5, 3.0]), smooth=False)],
    Op.ATAN2: [C("broadcast", lambda L, a, b: L.atan2(a, b), R(2, 3), nonzero(3)),
               C("method", lambda L, a, b: a.atan2(b), R(2, 1), nonzero(1, 3))],
    Op.FMOD: [C("tensors", lambda L, a, b: L.fmod(a, b), np.array([2.3, -2.3, 5.1, 0.4]),
                np.array([1.5, 1.5, -2.0, 0.3])),
              C("number", lambda L, a: a.fmod(0.75), np.array([[0.3, -1.0], [2.0, -0.1]]))],
    Op.REMAINDER: [C("tensors", lambda L, a, b: a % b, np.array([2.3, -2.3, 5.1, 0.4]),
                     np.array([1.5, 1.5, -2.0, 0.3])),
                   C("number", lambda L, a: L.remainder(a, 0.75),
                     np.array([[0.3, -1.0], [2.0, -0.1]]))],
    Op.FLOOR_DIV: [C("rounding-floor", lambda L, a, b: L.div(a, b, rounding_mode="floor"),
                     off_integers(2, 3), np.array([1.0, 2.0, -1.0])),
                   C("floordiv-operator", lambda L, a, b: a // b, off_integers(2, 3),
                     np.array([1.0, 2.0, -1.0]), xfail=FLOOR_DIV_XFAIL)],
    Op.TRUNC_DIV: [C("rounding-trunc", lambda L, a, b: L.div(a, b, rounding_mode="trunc"),
                     off_integers(2, 3), np.array([1.0, 2.0, -1.0]))],
    Op.WHERE: [C("broadcast", lambda L, a, b: L.where(a > 0, a, b), nonzero(3, 4), R(4)),
               C("number", lambda L, a: L.where(a > 0, a, 0.0), nonzero(2, 3)),
               C("mask-input", lambda L, m, a, b: L.where(m, a, b),
                 np.array([[True], [False]]), R(2, 3), R()),
               C("masked_fill", lambda L, a: a.masked_fill(a > 0, 0.5), nonzero(3, 4)),
               C("masked_fill-broadcast-mask", lambda L, a, m: a.masked_fill(m, -1.0),
                 R(2, 3, 4), np.array([True, False, True, False]))],
    # --- reductions and scans ---------------------------------------------------------------
    Op.SUM: [C("all", lambda L, x: x.sum(), R(2, 3, 4)),
             C("dim", lambda L, x: x.sum(1), R(2, 3, 4)),
             C("dims-keepdim", lambda L, x: x.sum((0, 2), keepdim=True), R(2, 3, 4)),
             C("neg-dim-keepdim", lambda L, x: L.sum(x, -1, keepdim=True), R(2, 3)),
             C("0d", lambda L, x: x.sum(), R())],
    Op.MEAN: [C("all", lambda L, x: x.mean(), R(2, 3, 4)),
              C("dims", lambda L, x: x.mean((0, 2)), R(2, 3, 4)),
              C("dim-keepdim", lambda L, x: L.mean(x, 1, keepdim=True), R(2, 3, 4))],
    Op.PROD: [C("dim", lambda L, x: x.prod(1), R(3, 4, 2)),
              C("all", lambda L, x: x.prod(), pos(2, 3, lo=0.7, hi=1.3)),
              C("keepdim", lambda L, x: x.prod(0, keepdim=True), R(3, 2)),
              C("one-zero", lambda L, x: x.prod(1), np.array([[0.0, 2.0, 3.0], [1.5, -1.0, 2.0]])),
              C("two-zeros", lambda L, x: x.prod(-1), np.array([[0.0, 2.0, 0.0, 0.5]]))],
    Op.AMAX: [C("dims", lambda L, x: x.amax((0, 1)), distinct(3, 4, 2)),
              C("keepdim", lambda L, x: x.amax(-1, keepdim=True), distinct(3, 4)),
              C("max-all", lambda L, x: x.max(), distinct(3, 4)),
              C("max-dim", lambda L, x: x.max(1)[0], distinct(3, 4)),
              C("max-dim-keepdim", lambda L, x: L.max(x, 0, keepdim=True).values, distinct(3, 4)),
              C("ties", lambda L, x: x.amax(1), np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]),
                smooth=False),
              C("max-ties", lambda L, x: x.max(), np.array([[1.0, 3.0], [3.0, 0.5]]),
                smooth=False),
              C("0d", lambda L, x: x.amax(), R())],
    Op.AMIN: [C("dims", lambda L, x: x.amin((1, 2)), distinct(3, 4, 2)),
              C("min-dim", lambda L, x: x.min(0)[0], distinct(3, 4)),
              C("min-all", lambda L, x: L.min(x), distinct(3, 4)),
              C("ties", lambda L, x: L.amin(x, 0), np.array([[1.0, 3.0], [1.0, -2.0]]),
                smooth=False)],
    Op.CUMSUM: [C("dim1", lambda L, x: x.cumsum(1), R(3, 4)),
                C("dim0", lambda L, x: L.cumsum(x, 0), R(3, 4, 2)),
                C("1d", lambda L, x: x.cumsum(-1), R(5)),
                C("0d", lambda L, x: x.cumsum(0), R())],
    Op.CUMPROD: [C("dim1", lambda L, x: x.cumprod(1), nonzero(3, 4)),
                 C("dim0", lambda L, x: L.cumprod(x, 0), nonzero(3, 2)),
                 C("zero", lambda L, x: x.cumprod(1), np.array([[1.5, 0.0, 2.0, -1.0]]),
                   double_xfail=CUMPROD_ZERO_DOUBLE_XFAIL)],
    # --- matmul-like, normalization, windows ------------------------------------------------
    Op.MATMUL: [C("dot", lambda L, a, b: a @ b, R(4), R(4)),
                C("matrix-vector", lambda L, a, b: a @ b, R(3, 4), R(4)),
                C("vector-matrix", lambda L, a, b: a @ b, R(4), R(4, 2)),
                C("mm", lambda L, a, b: a.mm(b), R(3, 4), R(4, 2)),
                C("vector-batched", lambda L, a, b: a @ b, R(4), R(3, 4, 2)),
                C("batched-vector", lambda L, a, b: L.matmul(a, b), R(3, 2, 4), R(4)),
                C("broadcast", lambda L, a, b: a @ b, R(2, 1, 3, 4), R(5, 4, 2)),
                C("batched-matrix", lambda L, a, b: a @ b, R(5, 2, 3), R(3, 4)),
                C("bmm", lambda L, a, b: L.bmm(a, b), R(2, 3, 4), R(2, 4, 2))],
    Op.LINEAR: [C("bias", lambda L, x, w, b: F(L).linear(x, w, b), R(4, 3), R(5, 3), R(5)),
                C("3d", lambda L, x, w, b: F(L).linear(x, w, b), R(2, 4, 3), R(5, 3), R(5)),
                C("no-bias", lambda L, x, w: F(L).linear(x, w), R(4, 3), R(2, 3)),
                C("1d-input", lambda L, x, w, b: F(L).linear(x, w, b), R(3), R(5, 3), R(5))],
    Op.CONV2D: [
        C("bias", lambda L, x, w, b: F(L).conv2d(x, w, b), R(2, 2, 5, 5), R(3, 2, 3, 3), R(3)),
        C("stride-padding", lambda L, x, w, b: F(L).conv2d(x, w, b, stride=2, padding=1),
          R(1, 2, 6, 5), R(3, 2, 3, 3), R(3)),
        C("asymmetric", lambda L, x, w: F(L).conv2d(x, w, stride=(2, 1), padding=(0, 2)),
          R(1, 2, 7, 4), R(2, 2, 3, 2)),
        C("dilation-groups", lambda L, x, w: F(L).conv2d(x, w, None, stride=(2, 1),
                                                          padding=(2, 1), dilation=(2, 1),
                                                          groups=2),
          R(2, 4, 7, 5), R(6, 2, 3, 2)),
        C("depthwise", lambda L, x, w, b: F(L).conv2d(x, w, b, padding=1, groups=2),
          R(1, 2, 4, 4), R(2, 1, 3, 3), R(2)),
        C("unbatched", lambda L, x, w: F(L).conv2d(x, w, padding=1), R(2, 4, 4),
          R(3, 2, 3, 3)),
        C("stride-leftover", lambda L, x, w: F(L).conv2d(x, w, stride=3), R(1, 1, 7, 8),
          R(2, 1, 2, 2)),
    ],
    Op.SOFTMAX: [C("dim1", lambda L, x: x.softmax(1), R(3, 5, lo=-2, hi=2)),
                 C("dim0", lambda L, x: L.softmax(x, 0), R(3, 5, lo=-2, hi=2)),
                 C("functional-3d", lambda L, x: F(L).softmax(x, dim=-1), R(2, 3, 4)),
                 C("0d", lambda L, x: x.softmax(0), R())],
    Op.LOG_SOFTMAX: [C("dim-1", lambda L, x: x.log_softmax(-1), R(3, 5, lo=-2, hi=2)),
                     C("dim0", lambda L, x: L.log_softmax(x, 0), R(3, 5, lo=-2, hi=2)),
                     C("functional-3d", lambda L, x: F(L).log_softmax(x, dim=1), R(2, 3, 4)),
                     C("0d", lambda L, x: x.log_softmax(-1), R())],
    Op.LAYER_NORM: [
        C("affine", lambda L, x, w, b: F(L).layer_norm(x, (4,), w, b), R(3, 5, 4),
          pos(4), R(4)),
        C("no-affine", lambda L, x: F(L).layer_norm(x, (4,)), R(3, 4)),
        C("two-dims", lambda L, x, w, b: F(L).layer_norm(x, (3, 4), w, b, eps=1e-3),
          R(2, 3, 4), pos(3, 4), R(3, 4)),
        C("weight-only", lambda L, x, w: F(L).layer_norm(x, (5,), w), R(2, 5), pos(5)),
    ],
    Op.MAX_POOL2D: [
        C("k2", lambda L, x: F(L).max_pool2d(x, 2), distinct(1, 2, 4, 4)),
        C("k3-s2-p1", lambda L, x: F(L).max_pool2d(x, 3, 2, 1), distinct(2, 1, 5, 5)),
        C("ceil", lambda L, x: F(L).max_pool2d(x, 2, 2, 0, ceil_mode=True), distinct(1, 2, 5, 5)),
        C("dilation", lambda L, x: F(L).max_pool2d(x, 2, 1, dilation=2), distinct(1, 1, 5, 5)),
        C("unbatched-overlap", lambda L, x: F(L).max_pool2d(x, (3, 2), (1, 2)),
          distinct(2, 4, 5)),
        C("return_indices", lambda L, x: F(L).max_pool2d(x, 2, return_indices=True)[0],
          distinct(1, 1, 4, 6)),
    ],
    Op.AVG_POOL2D: [
        C("k2", lambda L, x: F(L).avg_pool2d(x, 2), R(1, 2, 4, 4)),
        C("pad-exclude", lambda L, x: F(L).avg_pool2d(x, 3, 2, 1, count_include_pad=False),
          R(2, 1, 5, 5)),
        C("pad-include", lambda L, x: F(L).avg_pool2d(x, 3, 2, 1), R(1, 1, 5, 6)),
        C("ceil", lambda L, x: F(L).avg_pool2d(x, 2, 2, 0, ceil_mode=True), R(1, 2, 5, 5)),
        C("ceil-pad", lambda L, x: F(L).avg_pool2d(x, 3, 2, 1, ceil_mode=True,
                                                   count_include_pad=False), R(1, 1, 6, 6)),
        C("divisor", lambda L, x: F(L).avg_pool2d(x, 2, divisor_override=3), R(1, 2, 4, 4)),
        C("unbatched", lambda L, x: F(L).avg_pool2d(x, (2, 3), (1, 2)), R(2, 4, 5)),
    ],
    Op.MAX_POOL2D_GRAD: [
        C("k2", lambda L, g, x: _max_pool_grad(L, g, x, kernel_size=2), R(1, 2, 2, 2),
          distinct(1, 2, 4, 4), constant=(1,), smooth=False),
        C("overlap-pad-ceil", lambda L, g, x: _max_pool_grad(
            L, g, x, kernel_size=3, stride=2, padding=1, ceil_mode=True), R(1, 2, 3, 3),
          distinct(1, 2, 5, 5), constant=(1,), smooth=False),
    ],
    Op.AVG_POOL2D_GRAD: [
        C("k2", lambda L, g: _avg_pool_grad(L, g, kernel_size=2), R(1, 2, 2, 2)),
        C("pad-ceil", lambda L, g: _avg_pool_grad(L, g, kernel_size=3, stride=2, padding=1,
                                                  ceil_mode=True, count_include_pad=False),
          R(1, 2, 3, 3)),
    ],
    # --- movement ---------------------------------------------------------------------------
    Op.RESHAPE: [C("reshape", lambda L, x: x.reshape(6, 4), R(2, 3, 4)),
                 C("view", lambda L, x: x.view(-1, 3), R(2, 3, 2)),
                 C("flatten", lambda L, x: x.flatten(1), R(2, 3, 2)),
                 C("unsqueeze-squeeze", lambda L, x: x.unsqueeze(1).squeeze(-1), R(3, 1)),
                 C("0d", lambda L, x: x.reshape(1, 1), R())],
    Op.PERMUTE: [C("permute", lambda L, x: x.permute(2, 0, 1), R(2, 3, 4)),
                 C("transpose", lambda L, x: x.transpose(0, 2), R(2, 3, 4)),
                 C("mT", lambda L, x: x.mT * 1, R(2, 3, 4)),
                 C("t", lambda L, x: L.t(x), R(2, 3))],
    Op.EXPAND: [C("expand", lambda L, x: x.expand(4, 3, 2), R(3, 1)),
                C("expand_as", lambda L, x, y: x.expand_as(y) * y, R(1, 3), R(2, 3)),
                C("broadcast_to", lambda L, x: L.broadcast_to(x, (2, 3)), R(3)),
                C("0d", lambda L, x: x.expand(2, 2), R())],
    Op.SLICE: [C("steps", lambda L, x: x[1:, ::2], R(3, 5)),
               C("step-3", lambda L, x: x[:, 1::3, :2], R(2, 7, 3)),
               C("narrow", lambda L, x: x.narrow(1, 1, 2), R(2, 4)),
               C("split", lambda L, x: x.split(2, 1)[1], R(3, 5)),
               C("chunk", lambda L, x: L.cat(x.chunk(3, 0)[::2]), R(5, 2)),
               C("int", lambda L, x: x[1, ..., -1], R(3, 2, 4)),
               C("negative", lambda L, x: x[-2:, :-1], R(3, 4))],
    Op.CAT: [C("dim1", lambda L, a, b: L.cat([a, b], 1), R(3, 2), R(3, 4)),
             C("three-dim0", lambda L, a, b, c: L.cat((a, b, c)), R(1, 2), R(3, 2), R(2, 2)),
             C("stack", lambda L, a, b: L.stack([a, b]).permute(2, 0, 1), R(3, 2), R(3, 2)),
             C("stack-last", lambda L, a, b: L.stack([a, b], -1), R(2, 3), R(2, 3)),
             C("mixed-dtypes", lambda L, a, b: L.cat([a, b]), R(2, 3), R(1, 3),
               keep_dtype=(1,)),
             C("split-back", lambda L, a, b: L.cat([a, b], 1).split(2, 1)[1], R(3, 2),
               R(3, 4))],
    Op.PAD: [C("constant", lambda L, x: F(L).pad(x, (2, 1, 0, 3), value=0.5), R(2, 3, 4)),
             C("constant-crop", lambda L, x: F(L).pad(x, (-1, 2, 1, -1)), R(2, 3, 4)),
             C("reflect", lambda L, x: F(L).pad(x, (2, 1, 1, 1), mode="reflect"),
               R(2, 3, 4, 5)),
             C("replicate", lambda L, x: F(L).pad(x, (2, 1), mode="replicate"), R(2, 3, 4)),
             C("replicate-2d", lambda L, x: F(L).pad(x, (1, 2, 2, 0), mode="replicate"),
               R(1, 2, 3, 3)),
             C("circular", lambda L, x: F(L).pad(x, (2, 1, 1, 2), mode="circular"),
               R(1, 2, 3, 4))],
    Op.TRIL: [C("tril", lambda L, x: x.tril(), R(4, 4)),
              C("tril-diag", lambda L, x: L.tril(x, -1), R(2, 3, 4))],
    Op.TRIU: [C("triu", lambda L, x: x.triu(), R(3, 4)),
              C("triu-diag", lambda L, x: L.triu(x, 1), R(2, 4, 3))],
    Op.FLIP: [C("dim0", lambda L, x: x.flip(0), R(4, 3)),
              C("dims", lambda L, x: L.flip(x, (0, 2)), R(2, 3, 4))],
    # --- indexing ---------------------------------------------------------------------------
    Op.INDEX: [C("repeated", lambda L, x: x[L.tensor([0, 2, 0, 0])], R(3, 5)),
               C("negative", lambda L, x: x[L.tensor([-1, 0, -1])], R(3, 2)),
               C("list-dim1", lambda L, x: x[:, [2, 0, 2]], R(3, 4)),
               C("bool-mask", lambda L, x: x[x > 0], nonzero(3, 4)),
               C("mask-input", lambda L, x, m: x[m], R(2, 3),
                 np.array([[True, False, True], [False, False, True]])),
               C("separated", lambda L, x: x[L.tensor([1, 0, 1]), :, L.tensor([0, 3, 0])],
                 R(2, 3, 4)),
               C("broadcast-indices", lambda L, x: x[L.tensor([[0], [1]]), L.tensor([0, 2, 2])],
                 R(2, 3))],
    Op.INDEX_PUT: [
        C("index_put", lambda L, x, v: x.index_put((L.tensor([0, 2]),), v), R(3, 4), R(2, 4)),
        C("accumulate-repeated", lambda L, x, v: x.index_put((L.tensor([0, 2, 0]),), v,
                                                             accumulate=True), R(3, 4), R(3, 4)),
        C("broadcast-value", lambda L, x, v: x.index_put((L.tensor([1, 2]),), v), R(3, 4),
          R(4)),
        C("setitem-tensor-broadcast", _setitem(lambda L: L.tensor([0, 2])), R(3, 4), R(4)),
        C("setitem-mask-0d", _setitem(lambda L: L.tensor([True, False, True])), R(3, 4), R()),
        C("setitem-slice-step", _setitem(lambda L: (slice(None, None, 2), 1)), R(3, 4), R(2)),
        C("setitem-two-tensors", _setitem(lambda L: (L.tensor([0, 1]), L.tensor([3, 0]))),
          R(2, 4), R(2)),
    ],
    Op.GATHER: [C("repeated", lambda L, x: x.gather(1, L.tensor([[0, 0], [1, 0], [2, 2]])),
                  R(3, 4)),
                C("dim0", lambda L, x: L.gather(x, 0, L.tensor([[1, 0, 1], [1, 1, 0]])),
                  R(2, 3)),
                C("index_select", lambda L, x: x.index_select(1, L.tensor([1, 1, 0])), R(2, 3)),
                C("take_along_dim", lambda L, x: L.take_along_dim(
                    x, L.tensor([[[0], [2]]]), dim=1), R(2, 3, 2))],
    Op.SCATTER: [
        C("scatter", lambda L, x, s: x.scatter(1, L.tensor([[2, 0], [1, 3]]), s), R(2, 4),
          R(2, 2)),
        C("scatter-larger-src", lambda L, x, s: x.scatter(0, L.tensor([[1, 0, 2]]), s),
          R(3, 3), R(2, 4), xfail=LARGER_SRC_XFAIL),
        C("scatter_add-repeated", lambda L, x, s: x.scatter_add(
            1, L.tensor([[0, 0], [1, 0], [2, 2]]), s), R(3, 4), R(3, 2)),
        C("scatter_reduce-sum-exclude", lambda L, x, s: x.scatter_reduce(
            1, L.tensor([[0, 0], [3, 1]]), s, "sum", include_self=False), R(2, 4), R(2, 2)),
    ],
    Op.MASKED_SCATTER: [
        C("masked_scatter", lambda L, x, m, s: x.masked_scatter(m, s), R(2, 3),
          np.array([[True, False, True], [False, True, False]]), R(2, 3)),
        C("broadcast-mask-larger-src", lambda L, x, m, s: x.masked_scatter(m, s), R(2, 3),
          np.array([False, True, True]), R(7)),
    ],
    # --- linear algebra (well-conditioned inputs) -------------------------------------------
    Op.INV: [C("inv", lambda L, a: L.linalg.inv(a), spd(3), tol=10),
             C("batched", lambda L, a: L.linalg.inv(a), np.stack([spd(2), spd(2)]), tol=10)],
    Op.DET: [C("det", lambda L, a: L.linalg.det(a), spd(3), tol=10),
             C("batched", lambda L, a: L.linalg.det(a), R(2, 3, 3) + 2 * np.eye(3), tol=10)],
    Op.SLOGDET: [C("logabsdet", lambda L, a: L.linalg.slogdet(a)[1], R(3, 3) - 2 * np.eye(3),
                   tol=10),
                 C("logdet", lambda L, a: L.logdet(a), spd(3), tol=10)],
    Op.SOLVE: [C("matrix-rhs", lambda L, a, b: L.linalg.solve(a, b), spd(3), R(3, 2), tol=10),
               C("vector-rhs", lambda L, a, b: L.linalg.solve(a, b), spd(3), R(3), tol=10),
               C("batched-broadcast", lambda L, a, b: L.linalg.solve(a, b),
                 np.stack([spd(3), spd(3)]), R(3, 1), tol=10),
               C("batched-vector", lambda L, a, b: L.linalg.solve(a, b),
                 np.stack([spd(3), spd(3)]), R(2, 3), tol=10)],
    Op.CHOLESKY: [C("cholesky", lambda L, a: L.linalg.cholesky(_sym(L, a)), R(3, 3), tol=10),
                  C("asymmetric", lambda L, a: L.linalg.cholesky(a), spd(3) + R(3, 3) * 0.3,
                    tol=10, smooth=False),  # reads the lower triangle, symmetric gradient
                  C("batched", lambda L, a: L.linalg.cholesky(a @ a.mT + L.eye(3, dtype=a.dtype)),
                    R(2, 3, 3), tol=10)],
    Op.QR: [C("q-and-r", lambda L, a: _flat_cat(L, *L.linalg.qr(a)), R(4, 3), tol=10),
            C("square", lambda L, a: _flat_cat(L, *L.linalg.qr(a)), spd(3), tol=10)],
    Op.SVD: [C("svdvals", lambda L, a: L.linalg.svdvals(a), R(4, 3), tol=10,
               double_xfail=SVD_DOUBLE_XFAIL),
             C("svd-s", lambda L, a: L.linalg.svd(a, full_matrices=False)[1], R(2, 3, 2),
               tol=10, double_xfail=SVD_DOUBLE_XFAIL)],
    Op.EIGH: [C("eigvalsh", lambda L, a: L.linalg.eigvalsh(_sym(L, a)), R(3, 3), tol=10),
              C("eigh-vectors", lambda L, a: L.linalg.eigh(_sym(L, a))[1] ** 2,
                R(3, 3) * 2, tol=10),
              C("eigh-upper", _eigh_upper, R(3, 3) * 2, tol=10),
              # an asymmetric input: eigh reads one triangle, torch's gradient is symmetric
              # (not a finite difference of the triangle read)
              C("eigvalsh-asymmetric", lambda L, a: L.linalg.eigvalsh(a), spd(3) + R(3, 3),
                tol=10, smooth=False),
              C("eigvalsh-asymmetric-upper", lambda L, a: L.linalg.eigvalsh(a, UPLO="U"),
                spd(3) + R(3, 3), tol=10, smooth=False)],
    Op.MATRIX_EXP: [C("matrix_exp", lambda L, a: L.linalg.matrix_exp(a), R(3, 3), tol=10),
                    C("batched", lambda L, a: L.matrix_exp(a), R(2, 2, 2), tol=10)],
}

# NO_RULE ops (torch_differentiates, fn, inputs): whether torch's backward works, and a call
NO_RULE_CASES: dict[Op, tuple[bool, Any, tuple]] = {
    Op.UNIQUE: (False, lambda L, a: L.unique(a), (np.array([1.0, 2.0, 1.0, 3.0]),)),
    Op.LU_FACTOR: (True, lambda L, a: L.linalg.lu_factor(a)[0], (spd(3),)),
}

# Ops a gradient never flows through, called on a float input that requires grad: like torch,
# their results have no grad_fn (the int/bool results of differentiable ops too)
NOT_DIFFERENTIABLE_CASES: dict[str, Any] = {
    "eq": lambda L, x: x == x[0], "lt": lambda L, x: x < 0.2, "ge": lambda L, x: L.ge(x, 0),
    "argmax": lambda L, x: x.argmax(1), "argmin": lambda L, x: x.argmin(),
    "argsort": lambda L, x: x.argsort(1), "all": lambda L, x: x.all(),
    "any": lambda L, x: x.any(0), "logical_not": lambda L, x: x.logical_not(),
    "nonzero": lambda L, x: x.nonzero(),
    "searchsorted": lambda L, x: L.searchsorted(x.flatten().sort().values, x),
    "cummax-indices": lambda L, x: x.cummax(0).indices,
    "max-indices": lambda L, x: x.max(1).indices,
    "multinomial": lambda L, x: L.multinomial(x.abs() + 0.1, 2),
    "cast-to-int": lambda L, x: x.long(), "cast-to-bool": lambda L, x: x.bool(),
    "floor-to-int": lambda L, x: x.floor().int(),
    "isnan": lambda L, x: x.isnan(), "isclose": lambda L, x: L.isclose(x, x * 2),
}
