"""Numerics generated from the op table: every `Op` in `OPS`, called through tracejit's public
API and torch's, compared for dtype, shape, values and error class (torch is the oracle; numpy
is a second, independent oracle where its functions mean the same thing).

`TABLE` maps each op to how it is called: `Unary`/`Binary`/`Where` entries expand into the
dtype x shape x operand-kind grid, `Reduce` entries into dtype x shape x dim x keepdim, and
`Case` entries are single hand-written calls. Adding an op without an entry fails
`test_every_op_has_an_entry`.

Deliberate differences from torch, each an xfail case or a skipped check that says why:
bool_tensor ** True (torch's exponent-1 short cut returns the tensor), x[..., ...] (torch
accepts several ellipses), softmax of an empty integer tensor (torch skips its kernel and so its
dtype check), amax over a repeated dim of an empty tensor (both raise; torch reports the
empty dim first), and cummax/cummin with an out-of-range dim on an empty tensor (torch returns
before checking the dim). sort/argsort/topk entries use tie-free data or stable=True: tracejit
always sorts stably, torch's default CPU sort orders ties arbitrarily.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from torch_oracle import (
    DTYPE_NAMES,
    assert_values,
    check_same,
    collect_failures,
    dtype_name,
    lib_dtype,
)

from tracejit.ir import OPS, Kind, Op

FLOATS = ("float32", "float64")
FINITE_SPECIAL = np.array([np.nan, -0.0, 0.0, 1.0, -1.0, 0.5, 1e30, -1e-30])  # SPECIAL less +-inf
NUMERIC = ("float32", "float64", "int32", "int64")
pytestmark = [pytest.mark.filterwarnings("ignore:The use of `x.T`:UserWarning"),
              pytest.mark.filterwarnings("ignore:The reduce argument of torch.scatter")]


# --- inputs -------------------------------------------------------------------------------------

def sample(dtype: str, shape, domain: str = "any", seed: int = 0) -> np.ndarray:
    """Deterministic test data of `dtype` and `shape` drawn from a named value domain."""
    rng = np.random.default_rng([seed, len(shape), *shape, len(dtype), len(domain)])
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype in FLOATS:
        lo, hi = FLOAT_DOMAINS[domain]
        values = rng.uniform(lo, hi, shape)
        if domain == "any":  # quarters: exact halves exercise round-half-to-even
            values = np.round(values * 4) / 4
        if domain == "nonzero":
            values = values * np.where(rng.random(shape) < 0.5, -1, 1)
        return values.astype(dtype)
    values = rng.choice(INT_DOMAINS[domain], size=shape)
    return np.asarray(values, dtype=dtype)


FLOAT_DOMAINS = {
    "any": (-3, 3), "positive": (0.1, 4), "nonzero": (0.5, 3), "exponent": (-2, 2),
    "above_minus_one": (-0.9, 3), "distinct": (-3, 3),
}
INT_DOMAINS = {
    "any": list(range(-5, 6)), "positive": list(range(1, 7)),
    "nonzero": [-5, -4, -3, -2, -1, 1, 2, 3, 4, 5], "exponent": [0, 1, 2, 3],
    "above_minus_one": list(range(0, 6)), "distinct": list(range(-5, 6)),
}


def distinct(dtype: str, shape) -> np.ndarray:
    """Values without ties (argmax/max(dim) indices are then unambiguous)."""
    n = math.prod(shape)
    rng = np.random.default_rng([n, len(shape)])
    values = rng.permutation(n) - n // 2
    return (values if dtype not in FLOATS else values * 0.5).astype(dtype).reshape(shape)


# --- table entries ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Unary:
    """call(lib, x) on every dtype x UNARY_SHAPES; `numpy` (if given) is a second oracle."""

    call: Any
    domain: str = "any"
    numpy: Any = None
    rtol: float | None = None
    atol: float | None = None
    dtypes: tuple[str, ...] = DTYPE_NAMES
    special: Any = None  # the special values to try (None: SPECIAL)


@dataclass(frozen=True)
class Binary:
    """call(lib, a, b) on every dtype x SHAPE_PAIRS, mixed dtypes, 0-d tensors and Python
    scalars on either side."""

    call: Any
    domains: tuple[str, str] = ("any", "any")
    numpy: Any = None
    scalars: tuple = (3, -1.5, True)
    rtol: float | None = None
    atol: float | None = None


@dataclass(frozen=True)
class Where:
    """where(cond, a, b)-shaped call(lib, cond, a, b)."""

    call: Any


@dataclass(frozen=True)
class Reduce:
    """call(lib, x, **kw) with kw in {}, {dim} or {dim, keepdim} over dtypes x REDUCE_SHAPES."""

    call: Any
    dtypes: tuple[str, ...] = DTYPE_NAMES
    dims: str = "any"  # "any" (ints and tuples) or "int"
    keepdim: bool = True  # whether the call takes keepdim
    distinct: bool = False  # tie-free data (indices are compared)
    domain: str = "any"
    rtol: float | None = None
    deviation: Any = None  # (dtype, shape, kw) -> reason a check is deliberately not run


@dataclass(frozen=True)
class Case:
    """One hand-written call fn(lib, *inputs); numpy arrays in `inputs` become lib tensors."""

    label: str
    fn: Any
    inputs: tuple = ()
    rtol: float | None = None
    atol: float | None = None
    values: bool = True  # False: compare dtype and shape only (random ops)
    skip: str | None = None  # a deliberate difference from torch, with the reason


def empty_non_float(dtype: str, shape, kw) -> str | None:
    if dtype not in FLOATS and 0 in shape and "dim" in kw:
        return "torch's softmax skips its kernel, and so its dtype check, on empty inputs"
    return None


def repeated_dim_on_empty(dtype: str, shape, kw) -> str | None:
    dim = kw.get("dim")
    if 0 in shape and isinstance(dim, tuple) and len(set(dim)) < len(dim):
        return "two errors at once: torch reports the empty dim, tracejit the repeated dim"
    return None


def cases(label: str, fn, inputs_list, **kw) -> list[Case]:
    return [Case(f"{label}[{k}]", fn, inputs, **kw) for k, inputs in enumerate(inputs_list)]


def cast_to(name: str):
    return Unary(lambda L, x: x.to(lib_dtype(L, name)), numpy=lambda x: x.astype(name))


def functional(name: str, **kwargs):
    return lambda L, *xs: getattr(L.nn.functional, name)(*xs, **kwargs)


X23 = np.arange(6, dtype=np.float32).reshape(2, 3)
X234 = np.arange(24, dtype=np.int64).reshape(2, 3, 4)
F234 = sample("float32", (2, 3, 4))
IDX = np.array([1, 0], dtype=np.int64)
MASK23 = X23 % 2 == 0
SHAPES_3D = [(2, 3, 4)]


def sigmoid_np(x):
    return np.exp(-np.logaddexp(0, -x))


# --- the table ----------------------------------------------------------------------------------

TABLE: dict[Op, list] = {
    # creation
    Op.FULL: [
        *cases("full", lambda L, shape, value: L.full(shape, value),
               [((2, 3), 1.5), ((2,), 7), ((2,), True), ((), 2), ((0, 2), 1.0), ((-1,), 1)]),
        Case("full-dtype", lambda L: L.full((2,), 3, dtype=L.float64)),
        Case("zeros", lambda L: L.zeros(2, 3)),
        Case("zeros-tuple", lambda L: L.zeros((2, 3), dtype=L.int32)),
        Case("ones", lambda L: L.ones([4], dtype=L.bool)),
        Case("ones-0d", lambda L: L.ones(())),
        Case("zeros_like", lambda L, x: L.zeros_like(x), (X234,)),
        Case("ones_like-dtype", lambda L, x: L.ones_like(x, dtype=L.float64), (X234,)),
        Case("full_like", lambda L, x: L.full_like(x, 2.7), (X234,)),
        Case("new_full", lambda L, x: x.new_full((2,), 5), (X23,)),
        Case("new_zeros", lambda L, x: x.new_zeros(3, 1), (X234,)),
        Case("fill_", lambda L, x: x.fill_(2.5), (X234,)),
        Case("zero_", lambda L, x: x.zero_(), (X23,)),
    ],
    Op.ARANGE: [
        *cases("arange", lambda L, args: L.arange(*args), [
            (5,), (1, 7, 2), (0, 1, 0.1), (5, 0, -1), (5.0,), (0, -3, -0.5), (1, 2, 0),
            (0, 5, -1), (-2.5, 2.5, 0.5), (0, 10, 3), (3, 3),
        ]),
        Case("arange-dtype", lambda L: L.arange(6, dtype=L.float64)),
        Case("arange-int-dtype", lambda L: L.arange(0.5, 4, dtype=L.int32)),
    ],
    Op.LINSPACE: [
        *cases("linspace", lambda L, args: L.linspace(*args),
               [(0, 1, 5), (-1, 1, 1), (0, 10, 0), (3, -3, 7), (0, 1, 11), (0, 1, -1)]),
        Case("linspace-int", lambda L: L.linspace(0, 10, 5, dtype=L.int64)),
        Case("linspace-f64", lambda L: L.linspace(-2, 2, 9, dtype=L.float64)),
    ],
    Op.EYE: [
        *cases("eye", lambda L, args: L.eye(*args), [(3,), (2, 4), (0,), (4, 2), (-1,)]),
        Case("eye-int", lambda L: L.eye(3, dtype=L.int64)),
        Case("eye-bool", lambda L: L.eye(2, 3, dtype=L.bool)),
    ],
    Op.RAND: [Case("rand", lambda L: L.rand(2, 3), values=False),
              Case("rand-f64", lambda L: L.rand((4,), dtype=L.float64), values=False),
              Case("rand-int", lambda L: L.rand(3, dtype=L.int64), values=False),
              Case("rand_like", lambda L, x: L.rand_like(x), (X23,), values=False)],
    Op.RANDN: [Case("randn", lambda L: L.randn(2, 3), values=False),
               Case("randn-0d", lambda L: L.randn(()), values=False),
               Case("randn-int", lambda L: L.randn(3, dtype=L.int32), values=False)],
    Op.RANDINT: [Case("randint", lambda L: L.randint(0, 10, (2, 3)), values=False),
                 Case("randint-high", lambda L: L.randint(5, (4,)), values=False),
                 Case("randint-dtype", lambda L: L.randint(-3, 3, (4,), dtype=L.int32),
                      values=False),
                 Case("randint-empty-range", lambda L: L.randint(3, 3, (4,)), values=False)],
    # elementwise, unary
    Op.CAST: [cast_to(name) for name in DTYPE_NAMES]
    + [Unary(lambda L, x: x.float(), numpy=lambda x: x.astype("float32")),
       Unary(lambda L, x: x.long(), numpy=lambda x: x.astype("int64")),
       Unary(lambda L, x: x.type_as(L.ones(1, dtype=L.float64)))],
    Op.COPY: [Unary(lambda L, x: x.clone(), numpy=np.copy),
              Unary(lambda L, x: x.t().contiguous())],
    Op.NEG: [Unary(lambda L, x: -x, numpy=np.negative), Unary(lambda L, x: L.neg(x))],
    Op.ABS: [Unary(lambda L, x: x.abs(), numpy=np.abs), Unary(lambda L, x: abs(x))],
    Op.EXP: [Unary(lambda L, x: x.exp(), numpy=np.exp)],
    Op.LOG: [Unary(lambda L, x: x.log(), "positive", numpy=np.log)],
    Op.LOG1P: [Unary(lambda L, x: x.log1p(), "above_minus_one", numpy=np.log1p)],
    Op.EXPM1: [Unary(lambda L, x: x.expm1(), numpy=np.expm1)],
    Op.SQRT: [Unary(lambda L, x: x.sqrt(), "positive", numpy=np.sqrt)],
    Op.RSQRT: [Unary(lambda L, x: x.rsqrt(), "positive", numpy=lambda x: 1 / np.sqrt(x))],
    Op.SIN: [Unary(lambda L, x: x.sin(), numpy=np.sin)],
    Op.COS: [Unary(lambda L, x: x.cos(), numpy=np.cos)],
    Op.TANH: [Unary(lambda L, x: x.tanh(), numpy=np.tanh)],
    Op.SIGMOID: [Unary(lambda L, x: x.sigmoid(), numpy=sigmoid_np)],
    Op.ERF: [Unary(lambda L, x: x.erf(), numpy=np.vectorize(math.erf, otypes=[float]))],
    Op.FLOOR: [Unary(lambda L, x: x.floor(), numpy=np.floor)],
    Op.CEIL: [Unary(lambda L, x: x.ceil(), numpy=np.ceil)],
    Op.ROUND: [Unary(lambda L, x: x.round(), numpy=np.round),
               Unary(lambda L, x: x.round(decimals=1), numpy=lambda x: np.round(x, 1)),
               Unary(lambda L, x: L.round(x * 100, decimals=-1))],
    Op.TRUNC: [Unary(lambda L, x: x.trunc(), numpy=np.trunc)],
    Op.SIGN: [Unary(lambda L, x: x.sign())],
    Op.RECIPROCAL: [Unary(lambda L, x: x.reciprocal(), "nonzero", numpy=lambda x: 1 / x)],
    Op.RELU: [Unary(lambda L, x: x.relu(), numpy=lambda x: np.maximum(x, 0)),
              Unary(lambda L, x: L.relu(x))],
    # torch's GELU of +-inf is nan in its AVX-512 vector body and the limit in its scalar tail
    Op.GELU: [Unary(functional("gelu"), dtypes=FLOATS, special=FINITE_SPECIAL),
              Unary(functional("gelu", approximate="tanh"), dtypes=FLOATS,
                    special=FINITE_SPECIAL)],
    Op.SILU: [Unary(functional("silu"),
                    numpy=lambda x: x * sigmoid_np(x))],
    Op.LOGICAL_NOT: [Unary(lambda L, x: x.logical_not(), numpy=np.logical_not)],
    Op.BITWISE_NOT: [Unary(lambda L, x: ~x, numpy=np.invert),
                     Unary(lambda L, x: x.bitwise_not())],
    # elementwise, binary and ternary
    Op.ADD: [Binary(lambda L, a, b: a + b, numpy=np.add),
             Binary(lambda L, a, b: L.add(a, b, alpha=2)),
             Binary(lambda L, a, b: a.add(b, alpha=1.5))],
    Op.SUB: [Binary(lambda L, a, b: a - b, numpy=np.subtract),
             Binary(lambda L, a, b: a.sub(b, alpha=2))],
    Op.MUL: [Binary(lambda L, a, b: a * b, numpy=np.multiply),
             Binary(lambda L, a, b: L.mul(a, b))],
    Op.DIV: [Binary(lambda L, a, b: a / b, numpy=np.true_divide),
             Binary(lambda L, a, b: L.div(a, b))],
    Op.FLOOR_DIV: [
        Binary(lambda L, a, b: a // b, ("any", "nonzero"), numpy=np.floor_divide),
        Binary(lambda L, a, b: a.div(b, rounding_mode="floor"), ("any", "nonzero")),
    ],
    Op.TRUNC_DIV: [Binary(lambda L, a, b: L.div(a, b, rounding_mode="trunc"),
                          ("any", "nonzero"), numpy=lambda a, b: np.trunc(a / b))],
    Op.REMAINDER: [Binary(lambda L, a, b: a % b, ("any", "nonzero"), numpy=np.remainder),
                   Binary(lambda L, a, b: L.remainder(a, b), ("any", "nonzero"))],
    Op.POW: [Binary(lambda L, a, b: a**b, ("any", "exponent"), numpy=np.power,
                    scalars=(2, 0.5, -1)),
             Binary(lambda L, a, b: L.pow(a, b), ("positive", "any"), scalars=(3, -1.5)),
             Case("pow-int-negative-tensor-exponent", lambda L, a, b: a**b,
                  (np.array([0, 1, -1, 2, -2, 3]), np.array([-1, -2, -3, -1, -3, 0]))),
             Case("pow-bool-True", lambda L, x: x**True, (MASK23,)),
             Case("pow-bool-False", lambda L, x: x**False, (MASK23,))],
    Op.MAXIMUM: [Binary(lambda L, a, b: L.maximum(a, b), numpy=np.maximum),
                 Binary(lambda L, a, b: a.max(b)),
                 Binary(lambda L, a, b: a.clamp(min=b))],
    Op.MINIMUM: [Binary(lambda L, a, b: L.minimum(a, b), numpy=np.minimum),
                 Binary(lambda L, a, b: a.min(b)),
                 Binary(lambda L, a, b: a.clamp(max=b))],
    Op.EQ: [Binary(lambda L, a, b: a == b, numpy=np.equal)],
    Op.NE: [Binary(lambda L, a, b: a != b, numpy=np.not_equal)],
    Op.LT: [Binary(lambda L, a, b: a < b, numpy=np.less)],
    Op.LE: [Binary(lambda L, a, b: a <= b, numpy=np.less_equal)],
    Op.GT: [Binary(lambda L, a, b: a > b, numpy=np.greater)],
    Op.GE: [Binary(lambda L, a, b: L.ge(a, b), numpy=np.greater_equal)],
    Op.BITWISE_AND: [Binary(lambda L, a, b: a & b, numpy=np.bitwise_and),
                     Binary(lambda L, a, b: L.logical_and(a, b), numpy=np.logical_and)],
    Op.BITWISE_OR: [Binary(lambda L, a, b: a | b, numpy=np.bitwise_or),
                    Binary(lambda L, a, b: L.logical_or(a, b), numpy=np.logical_or)],
    Op.BITWISE_XOR: [Binary(lambda L, a, b: a ^ b, numpy=np.bitwise_xor),
                     Binary(lambda L, a, b: a.logical_xor(b), numpy=np.logical_xor)],
    Op.WHERE: [
        Where(lambda L, c, a, b: L.where(c, a, b)),
        Where(lambda L, c, a, b: a.where(c, b)),
        Where(lambda L, c, a, b: a.masked_fill(c, b)),
        Case("clamp-both", lambda L, x: x.clamp(-1, 1), (F234,)),
        Case("clamp-tensors", lambda L, x, lo, hi: x.clamp(lo, hi),
             (F234, np.float32(-1), sample("float32", (4,)))),
        Case("clamp-none", lambda L, x: x.clamp(), (F234,)),
        Case("clamp-int-by-float", lambda L, x: x.clamp(-1.5, 2.5), (X234,)),
        Case("masked_fill-int-mask", lambda L, x, m: x.masked_fill(m, 0), (X23, X23 > 2)),
        Case("masked_fill-broadcast", lambda L, x, m: x.masked_fill(m, -1.0),
             (F234, np.array([True, False, True, False]))),
        Case("masked_fill-grows", lambda L, x, m: x.masked_fill(m, 1.0),
             (np.zeros(4, np.float32), np.ones((2, 4), bool))),
        Case("masked_fill-1d-value", lambda L, x, m, v: x.masked_fill(m, v),
             (X23, MASK23, np.ones(3, np.float32))),
        Case("masked_fill-0d-value", lambda L, x, m, v: x.masked_fill(m, v),
             (X23, MASK23, np.float64(7.5))),
    ],
    # reductions and scans
    Op.SUM: [Reduce(lambda L, x, **kw: x.sum(**kw)),
             Reduce(lambda L, x, **kw: L.sum(x, **kw, dtype=L.float64)),
             Case("sum-None-keepdim", lambda L, x: x.sum(dim=None, keepdim=True), (X234,))],
    Op.PROD: [Reduce(lambda L, x, **kw: x.prod(**kw), dims="int")],
    Op.MEAN: [Reduce(lambda L, x, **kw: x.mean(**kw)),
              Reduce(lambda L, x, **kw: x.mean(**kw, dtype=L.float64), dtypes=("int64",)),
              Case("mean-empty", lambda L, x: x.mean(0), (np.zeros((0, 3), np.float32),))],
    Op.AMAX: [Reduce(lambda L, x, **kw: x.amax(**kw), deviation=repeated_dim_on_empty),
              Reduce(lambda L, x, **kw: x.max(**kw), dims="int", distinct=True,
                     dtypes=NUMERIC)],
    Op.AMIN: [Reduce(lambda L, x, **kw: L.amin(x, **kw), deviation=repeated_dim_on_empty),
              Reduce(lambda L, x, **kw: L.min(x, **kw), dims="int", distinct=True,
                     dtypes=NUMERIC)],
    Op.ARGMAX: [Reduce(lambda L, x, **kw: x.argmax(**kw), dims="int", distinct=True),
                Case("max-dim-bool", lambda L, x: (x.max(0), x.min(-1, keepdim=True)),
                     (np.eye(3, dtype=bool),)),
                Case("argmax-keepdim", lambda L, x: x.argmax(keepdim=True), (X234,))],
    Op.ARGMIN: [Reduce(lambda L, x, **kw: L.argmin(x, **kw), dims="int", distinct=True)],
    Op.ALL: [Reduce(lambda L, x, **kw: x.all(**kw), domain="exponent")],
    Op.ANY: [Reduce(lambda L, x, **kw: L.any(x, **kw), domain="exponent")],
    Op.CUMSUM: [Reduce(lambda L, x, **kw: x.cumsum(**kw), dims="int", keepdim=False),
                Reduce(lambda L, x, **kw: L.cumsum(x, **kw, dtype=L.float64), dims="int",
                       keepdim=False)],
    # matmul-like, normalization, windows
    Op.MATMUL: [
        *cases("matmul", lambda L, a, b: a @ b, [
            (sample("float32", a), sample("float32", b)) for a, b in (
                ((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),
                ((5, 2, 3), (3, 4)), ((5, 2, 3), (1, 3, 4)), ((2, 3), (2, 3)), ((), (3,)),
                ((0, 3), (3, 2)), ((2, 0), (0, 3)), ((4, 2, 3), (5, 3, 2)),
            )], rtol=1e-5),
        Case("matmul-int", lambda L, a, b: L.matmul(a, b), (X234[0], X234[0].T)),
        Case("matmul-mixed", lambda L, a, b: a @ b, (X23, X234[0].T)),
        Case("matmul-bool", lambda L, a, b: a @ b, (MASK23, MASK23.T)),
        Case("mm", lambda L, a, b: a.mm(b), (X23, X23.T)),
        Case("mm-3d", lambda L, a, b: L.mm(a, b), (F234, X23)),
        Case("bmm", lambda L, a, b: L.bmm(a, b), (F234, F234.transpose(0, 2, 1))),
    ],
    Op.LINEAR: [Case("linear", functional("linear"), (F234, sample("float32", (5, 4)),
                                                      sample("float32", (5,))),
                     rtol=1e-5)],
    Op.CONV2D: [Case("conv2d", functional("conv2d", padding=1),
                     (sample("float32", (1, 2, 5, 5)), sample("float32", (3, 2, 3, 3))),
                     rtol=1e-5, atol=1e-5)],
    Op.SOFTMAX: [Reduce(lambda L, x, **kw: x.softmax(**kw), dims="int", keepdim=False,
                        deviation=empty_non_float),
                 Reduce(lambda L, x, **kw: L.softmax(x, **kw, dtype=L.float64), dims="int",
                        keepdim=False)],
    Op.LOG_SOFTMAX: [Reduce(lambda L, x, **kw: x.log_softmax(**kw), dims="int",
                            keepdim=False, deviation=empty_non_float)],
    Op.LAYER_NORM: [Case("layer_norm", functional("layer_norm", normalized_shape=(4,)),
                         (F234,), rtol=1e-5, atol=1e-5)],
    Op.MAX_POOL2D: [Case("max_pool2d", functional("max_pool2d", kernel_size=2),
                         (sample("float32", (1, 2, 5, 5)),))],
    Op.AVG_POOL2D: [Case("avg_pool2d", functional("avg_pool2d", kernel_size=2),
                         (sample("float32", (1, 2, 5, 5)),))],
    # the pools' gradients: what autograd's backward of a pool computes
    Op.MAX_POOL2D_GRAD: [Case("max_pool2d-backward", lambda L, x, g: L.autograd.grad(
        L.nn.functional.max_pool2d(x.requires_grad_(), 3, 2, 1, ceil_mode=True), x, g)[0],
        (sample("float32", (1, 2, 6, 5)), sample("float32", (1, 2, 4, 3))))],
    Op.AVG_POOL2D_GRAD: [Case("avg_pool2d-backward", lambda L, x, g: L.autograd.grad(
        L.nn.functional.avg_pool2d(x.requires_grad_(), 3, 2, 1, count_include_pad=False),
        x, g)[0], (sample("float32", (1, 2, 6, 5)), sample("float32", (1, 2, 3, 3))))],
}

# --- movement and indexing ----------------------------------------------------------------------

def _method(name: str, *args, **kwargs):
    return lambda L, x: getattr(x, name)(*args, **kwargs)


def _calls(op_label: str, x, calls: dict) -> list[Case]:
    return [Case(f"{op_label}-{label}", fn, (x,)) for label, fn in calls.items()]


FLAT = np.arange(12, dtype=np.float64)
SQUEEZABLE = np.arange(6, dtype=np.int32).reshape(1, 3, 1, 2)
GET_KEYS = {  # basic keys: slice + reshape
    "int": lambda L: 1, "negative-int": lambda L: -1, "slice": lambda L: slice(1, None),
    "slice-step": lambda L: (slice(None), slice(None, None, 2), slice(1, None, 3)),
    "None": lambda L: None, "Ellipsis-int": lambda L: (..., 1),
    "None-int": lambda L: (slice(None), None, 1), "int-Ellipsis-None": lambda L: (1, ..., None),
    "empty-slice": lambda L: (slice(None), slice(5, 2)), "clamped-slice": lambda L: slice(-10, 1),
    "out-of-bounds": lambda L: 5, "negative-out-of-bounds": lambda L: -3,
    "too-many": lambda L: (0, 0, 0, 0), "negative-step": lambda L: slice(None, None, -1),
    "zero-step": lambda L: slice(None, None, 0), "float": lambda L: 1.0,
    "True": lambda L: True, "False": lambda L: False, "two-ellipses-ok": lambda L: (..., 0, ...),
    "0d-int-tensor": lambda L: L.tensor(1),
}
ADVANCED_KEYS = {  # index / index_put
    "tensor": lambda L: L.tensor([1, 0]),
    "int32-tensor": lambda L: L.tensor([1, -1], dtype=L.int32),
    "list": lambda L: [1, 0, 1], "2d-tensor": lambda L: L.tensor([[0, 1], [1, 1]]),
    "empty-tensor": lambda L: L.tensor([], dtype=L.int64),
    "out-of-bounds-tensor": lambda L: L.tensor([0, 5]),
    "float-tensor": lambda L: L.tensor([1.0]),
    "mask": lambda L: L.arange(24).reshape(2, 3, 4) % 3 == 0,
    "mask-first-dim": lambda L: L.tensor([True, False]),
    "mask-list": lambda L: [False, True],
    "mask-2d": lambda L: (L.arange(6).reshape(2, 3) % 2 == 1),
    "mask-wrong-shape": lambda L: L.tensor([True, False, True]),
    "0d-mask": lambda L: L.tensor(True),
    "adjacent-advanced": lambda L: (slice(None), L.tensor([0, 2]), L.tensor([1, 3])),
    "separated-advanced": lambda L: (L.tensor([1, 0]), slice(None), L.tensor([0, 3])),
    "int-and-tensor-separated": lambda L: (0, slice(None), L.tensor([0, 3])),
    "int-and-tensor-adjacent": lambda L: (slice(None), 0, L.tensor([0, 3])),
    "tensor-then-slice": lambda L: (L.tensor([1, 0]), slice(1, None)),
    "slice-tensor": lambda L: (slice(None), L.tensor([2, 0, 1])),
    "ellipsis-tensor": lambda L: (..., L.tensor([3, 0])),
    "None-tensor": lambda L: (None, L.tensor([1])),
    "broadcast-tensors": lambda L: (L.tensor([[0], [1]]), slice(None), L.tensor([0, 1, 2])),
    "mask-and-tensor": lambda L: (L.tensor([True, True]), L.tensor([0, 2])),
    "tensor-tensor-mismatch": lambda L: (L.tensor([0, 1]), L.tensor([0, 1, 2])),
}
SET_VALUES = {
    "int": lambda L: 7, "float": lambda L: -2.5, "bool": lambda L: True,
    "row": lambda L: L.tensor([10, 20, 30, 40]), "float-tensor": lambda L: L.tensor([0.5]),
    "0d": lambda L: L.tensor(9), "wrong-shape": lambda L: L.ones(5),
}
SET_KEYS = {**{k: GET_KEYS[k] for k in ("int", "slice-step", "Ellipsis-int", "None-int",
                                         "empty-slice", "out-of-bounds", "True")},
            **{k: ADVANCED_KEYS[k] for k in ("tensor", "list", "mask", "mask-first-dim",
                                              "separated-advanced", "int-and-tensor-adjacent",
                                              "broadcast-tensors", "0d-mask")}}


def _getitem(key):
    return lambda L, x: x[key(L)]


def _setitem(key, value):
    def fn(L, x):
        x[key(L)] = value(L)
        return x

    return fn


def _index_cases(keys: dict, x) -> list[Case]:
    out = []
    for name, key in keys.items():
        skip = None
        if name == "two-ellipses-ok":
            skip = "torch accepts several '...' in one index; tracejit keeps numpy's IndexError"
        out.append(Case(f"getitem-{name}", _getitem(key), (x,), skip=skip))
    return out


TABLE.update({
    Op.RESHAPE: _calls("reshape", X234, {
        "6x4": _method("reshape", 6, 4), "-1": _method("reshape", -1),
        "tuple-infer": _method("reshape", (4, -1)), "middle-infer": _method("reshape", 2, -1, 2),
        "bad-size": _method("reshape", 5, 5), "two-infer": _method("reshape", -1, -1),
        "negative": _method("reshape", -2, 12), "view": _method("view", 6, 4),
        "view-infer": _method("view", -1, 3), "view-bad": _method("view", 7),
        "flatten": _method("flatten"), "flatten-1": _method("flatten", 1),
        "flatten-0-1": _method("flatten", 0, 1), "flatten-bad": _method("flatten", 2, 1),
        "unflatten": _method("unflatten", 2, (2, 2)),
        "unflatten-infer": _method("unflatten", -1, (-1, 2)),
        "unflatten-bad": _method("unflatten", 1, (2, 2)), "unsqueeze-0": _method("unsqueeze", 0),
        "unsqueeze-end": _method("unsqueeze", 3), "unsqueeze-neg": _method("unsqueeze", -4),
        "unsqueeze-bad": _method("unsqueeze", 4),
        "getitem-None": _getitem(lambda L: (None, ..., None)),
        "view-transposed": lambda L, x: x.transpose(0, 2).view(-1),
        "view-transposed-ok": lambda L, x: x.transpose(1, 2).view(2, 12),
        "view-sliced": lambda L, x: x[:, :2].view(-1),
        "view-sliced-ok": lambda L, x: x[1:].view(12),
        "view_as": lambda L, x: x.view_as(x.flatten()),
        "reshape_as": lambda L, x: x.reshape_as(x[0]),
        "reshape-transposed": lambda L, x: x.mT.reshape(-1),
    }) + _calls("squeeze", SQUEEZABLE, {
        "all": _method("squeeze"), "dim": _method("squeeze", 0), "dim-not-1": _method("squeeze", 1),
        "negative": _method("squeeze", -2), "tuple": _method("squeeze", (0, 2)),
        "bad": _method("squeeze", 4), "function": lambda L, x: L.squeeze(x, 2),
    }) + _calls("0d", np.array(3.5, np.float32), {
        "reshape": _method("reshape", 1, 1), "flatten": _method("flatten"),
        "unsqueeze": _method("unsqueeze", 0), "squeeze": _method("squeeze"),
        "view": _method("view", -1), "squeeze-0": _method("squeeze", 0),
    }) + _calls("empty", np.zeros((0, 3), np.float32), {
        "reshape": _method("reshape", -1), "reshape-ambiguous": _method("reshape", -1, 0),
        "reshape-3-0": _method("reshape", 3, 0),
    }),
    Op.PERMUTE: _calls("permute", X234, {
        "tuple": _method("permute", (1, 0, 2)), "args": _method("permute", 2, 0, 1),
        "negative": _method("permute", -1, 0, 1), "too-few": _method("permute", 1, 0),
        "repeated": _method("permute", 0, 0, 1), "function": lambda L, x: L.permute(x, (2, 1, 0)),
        "transpose": _method("transpose", 0, 2), "transpose-neg": _method("transpose", -1, -2),
        "transpose-bad": _method("transpose", 0, 3), "swapaxes": _method("swapaxes", 0, 1),
        "t-3d": _method("t"), "mT": lambda L, x: x.mT,
    }) + _calls("2d", X23, {"t": _method("t"), "T": lambda L, x: x.T,
                            "t-function": lambda L, x: L.t(x)})
    + _calls("1d", FLAT, {"t": _method("t"), "T": lambda L, x: x.T})
    + _calls("0d", np.array(2, np.int64), {"t": _method("t"), "permute": _method("permute"),
                                            "transpose": _method("transpose", 0, -1)}),
    Op.EXPAND: _calls("expand", X23[:, :1], {
        "args": _method("expand", 2, 4), "keep": _method("expand", -1, 4),
        "leading": _method("expand", 3, 2, 5), "leading-keep": _method("expand", 3, -1, -1),
        "leading-infer": _method("expand", -1, 2, 4), "too-few": _method("expand", 4),
        "mismatch": _method("expand", 3, 4), "tuple": _method("expand", (2, 2)),
        "expand_as": lambda L, x: x.expand_as(L.ones(5, 2, 3)),
        "repeat": _method("repeat", 2, 3), "repeat-lead": _method("repeat", 2, 1, 3),
        "repeat-tuple": _method("repeat", (1, 2)), "repeat-too-few": _method("repeat", 2),
        "repeat-zero": _method("repeat", 0, 2),
        "broadcast_tensors": lambda L, x: L.broadcast_tensors(x, L.ones(3, 1, 1)),
    }) + _calls("0d", np.array(True), {"expand": _method("expand", 2, 3),
                                       "repeat": _method("repeat", 3)}),
    Op.SLICE: _calls("narrow", X234, {
        "dim0": _method("narrow", 0, 1, 1), "negative": _method("narrow", -1, -2, 2),
        "too-long": _method("narrow", 1, 2, 5), "empty": _method("narrow", 2, 4, 0),
        "split-size": _method("split", 2, -1), "split-uneven": _method("split", 3, 2),
        "split-sections": _method("split", [1, 3], 2), "split-bad-sum": _method("split", [1, 1]),
        "split-function": lambda L, x: L.split(x, 1), "chunk": _method("chunk", 2),
        "chunk-dim": _method("chunk", 3, 2), "chunk-more": _method("chunk", 5, 1),
        "chunk-zero": _method("chunk", 0), "split-zero": _method("split", 0, 1),
    }) + _index_cases(GET_KEYS, X234),
    Op.CAT: [
        *cases("cat", lambda L, xs, dim: L.cat(xs, dim), [
            ([X234, X234], 0), ([X234, X234[:, :1]], 1), ([X234, X234[..., :2]], -1),
            ([X234, X234[:, :1]], 0), ([X234, X23], 0), ([X234, X234], 3),
            ([X234, F234], 2), ([X234], 0), ([], 0), ([X234, np.zeros(0, np.int64)], 0),
            ([np.zeros((0, 4)), X234[0]], 0),
        ]),
        Case("cat-tuple", lambda L, a, b: L.concat((a, b), dim=-2), (X23, X23)),
        *cases("stack", lambda L, xs, dim: L.stack(xs, dim), [
            ([X23, X23], 0), ([X23, X23], 2), ([X23, X23], -1), ([X23, X23], 3),
            ([X23, X23.T], 0), ([np.float32(1), np.float32(2)], 0), ([X23, X23 > 1], 1),
        ]),
    ],
    Op.PAD: [Case("pad", functional("pad", pad=(1, 2)), (F234,)),
             Case("pad-reflect", functional("pad", pad=(1, 1, 2, 0), mode="reflect"),
                  (F234,))],
    Op.TRIL: [Case(f"tril-{d}", lambda L, x, d=d: x.tril(d), (x,))
              for d in (0, 1, -1, 5) for x in (X23, F234, MASK23)]
    + [Case("tril-1d", lambda L, x: L.tril(x), (FLAT,))],
    Op.TRIU: [Case(f"triu-{d}", lambda L, x, d=d: L.triu(x, d), (x,))
              for d in (0, 2, -1) for x in (X23.T, X234)]
    + [Case("triu-0d", lambda L, x: x.triu(), (np.float32(1),))],
    Op.INDEX: _index_cases(ADVANCED_KEYS, X234),
    Op.INDEX_PUT: [
        Case(f"setitem-{k}-{v}", _setitem(key, value), (x,))
        for k, key in SET_KEYS.items() for v, value in SET_VALUES.items()
        for x in (X234, F234)
    ],
    Op.GATHER: [
        *cases("gather", lambda L, x, dim, idx: x.gather(dim, idx), [
            (X23, 1, np.array([[0, 2], [1, 1]])), (X23, 0, np.array([[1, 0, 1]])),
            (X23, -1, np.array([[2], [0]])), (X23, 1, np.array([[0, 3]])),
            (X23, 1, np.array([[0]], np.int32)), (X23, 1, np.array([0])),
            (X23, 2, np.array([[0]])), (X23, 0, np.array([[0, 1, 0, 1]])),
            (np.float32(2), 0, np.array(0)), (X23, 1, np.zeros((2, 0), np.int64)),
            (X23, 1, np.array([[-1, -3]])),
        ]),
        Case("gather-function", lambda L, x, i: L.gather(x, 0, i), (X234, X234 % 2)),
    ],
})


# --- sorting, flipping, scattering, selecting, sampling (issue 12): oracle_index_ops.py --------
from oracle_index_ops import INDEX_OPS_TABLE  # noqa: E402  (it reads the samples above)

TABLE.update(INDEX_OPS_TABLE)

# --- elementwise math and linalg (issue 12): oracle_math_ops.py -------------------------------
from oracle_math_ops import MATH_OPS_TABLE, MORE_CASES  # noqa: E402  (it reads the samples above)

TABLE.update(MATH_OPS_TABLE)
for _op, _more in MORE_CASES.items():
    TABLE[_op] += _more


# --- the generated tests ------------------------------------------------------------------------

UNARY_SHAPES = [(), (3,), (2, 3), (0, 3), (4, 1, 3)]
SHAPE_PAIRS = [
    ((), ()), ((3,), (3,)), ((2, 3), (2, 3)), ((2, 1), (1, 3)), ((4, 1, 3), (2, 1)),
    ((0, 3), (3,)), ((0, 3), (0, 1)), ((), (2, 3)), ((2, 3), (3, 2)), ((3,), (4,)),
]
REDUCE_SHAPES = [(), (5,), (2, 3), (0, 3), (2, 3, 4)]
SPECIAL = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1.0, -1.0, 0.5, 1e30, -1e-30])


def _params(kind, dtypes: bool = False):
    out = []
    for op, entries in TABLE.items():
        for k, entry in enumerate(entries):
            if not isinstance(entry, kind):
                continue
            label = f"{op.value}-{entry.label}" if kind is Case else f"{op.value}-{k}"
            marks = []
            if getattr(entry, "skip", None):
                marks.append(pytest.mark.xfail(reason=entry.skip, strict=True))
            for dtype in getattr(entry, "dtypes", DTYPE_NAMES) if dtypes else (None,):
                args = (entry, dtype) if dtypes else (entry,)
                ident = f"{label}-{dtype}" if dtypes else label
                out.append(pytest.param(*args, id=ident, marks=marks))
    return out


GRAPH_ONLY = {Kind.CONSTANT, Kind.STRUCTURE}  # IR ops with no front-end call of their own


def test_every_op_has_an_entry():
    missing = [op.value for op in OPS if OPS[op].kind not in GRAPH_ONLY and not TABLE.get(op)]
    assert not missing, f"ops without an oracle entry in TABLE: {', '.join(missing)}"
    assert set(TABLE) <= set(OPS)


def _assert_no_failures(checks):
    failures = collect_failures(checks)
    assert not failures, f"{len(failures)} failing:\n" + "\n".join(failures)


def _check_against_numpy(np_fn, ours, *arrays, rtol=None, atol=None):
    """ours == np_fn(arrays) computed in the dtype torch computes in (floats for int inputs to
    int-to-float ops, the operand dtype for comparisons), then cast to ours' dtype."""
    if ours is None or np_fn is None:
        return
    out = dtype_name(ours.dtype)
    computed_in = out if out in FLOATS and arrays[0].dtype.name not in FLOATS else None
    with np.errstate(all="ignore"):
        args = [a.astype(computed_in or a.dtype) for a in arrays]
        want = np.asarray(np_fn(*args)).astype(out)
    assert_values(ours.detach().numpy(), want, out, rtol, atol, where="against numpy")


def _unary_check(entry: Unary, x):
    ours, _ = check_same(entry.call, x, rtol=entry.rtol, atol=entry.atol)
    _check_against_numpy(entry.numpy, ours, x, rtol=entry.rtol, atol=entry.atol)


def _unary_thunk(entry: Unary, x):
    return lambda: _unary_check(entry, x)


@pytest.mark.parametrize("entry, dtype", _params(Unary, dtypes=True))
def test_unary(entry: Unary, dtype: str):
    _assert_no_failures(
        (f"shape {shape}", _unary_thunk(entry, sample(dtype, shape, entry.domain)))
        for shape in UNARY_SHAPES
    )


@pytest.mark.parametrize("entry", _params(Unary))
def test_unary_special_values(entry: Unary):
    """NaN, infinities and signed zeros propagate as in torch (float inputs)."""
    values = SPECIAL if entry.special is None else entry.special
    _assert_no_failures((dtype, _unary_thunk(entry, values.astype(dtype))) for dtype in FLOATS)


def _binary_checks(entry: Binary, dtype: str):
    lhs, rhs = entry.domains

    def check(a, b, numpy=None):
        def thunk():
            ours, _ = check_same(entry.call, a, b, rtol=entry.rtol, atol=entry.atol)
            _check_against_numpy(numpy, ours, a, b, rtol=entry.rtol, atol=entry.atol)

        return thunk

    for sa, sb in SHAPE_PAIRS:
        a, b = sample(dtype, sa, lhs), sample(dtype, sb, rhs, seed=1)
        yield f"{sa} x {sb}", check(a, b, entry.numpy)
    for other in DTYPE_NAMES:
        a, b = sample(dtype, (2, 3), lhs), sample(other, (3,), rhs, seed=2)
        yield f"(2, 3) {dtype} x (3,) {other}", check(a, b)
        yield f"0-d {other} x {dtype}", check(sample(other, (), lhs), b.astype(dtype))
        yield f"{dtype} x 0-d {other}", check(a, sample(other, (), rhs))
    for s in entry.scalars:
        a, b = sample(dtype, (2, 3), lhs), sample(dtype, (2, 3), rhs, seed=3)
        yield f"tensor x {s!r}", check(a, s)
        yield f"{s!r} x tensor", check(s, b)
        yield f"0-d x {s!r}", check(sample(dtype, (), lhs), s)


@pytest.mark.parametrize("entry, dtype", _params(Binary, dtypes=True))
def test_binary(entry: Binary, dtype: str):
    _assert_no_failures(_binary_checks(entry, dtype))


@pytest.mark.parametrize("entry", _params(Binary))
def test_binary_special_values(entry: Binary):
    """NaN and infinities on both sides, every pair (float tensors)."""
    for dtype in FLOATS:
        a = SPECIAL.astype(dtype)
        check_same(entry.call, a[:, None], a[None, :], rtol=entry.rtol, atol=entry.atol)


def _where_checks(entry: Where, dtype: str):
    c23, c21 = sample("bool", (2, 3)), sample("bool", (2, 1), seed=1)
    a, b = sample(dtype, (2, 3)), sample(dtype, (2, 3), seed=1)
    combos = {
        "tensors": (c23, a, b), "broadcast": (c21, a[:1], b[:, :1]),
        "0-d value": (c23, a, b[0, 0]), "scalar value": (c23, a, 2.5),
        "scalar input": (c23, -1, b), "scalars": (c23, 1, 0.5),
        "bad broadcast": (c23, a, b[:, :2]), "int condition": (a.astype("int64"), a, b),
        "condition grows": (sample("bool", (4, 2, 3)), a, b[0, 0]),
        "int value": (c23, a, 7), "bool value": (c23, a, True),
    }
    for other in DTYPE_NAMES:
        combos[f"other {other}"] = (c23, a, sample(other, (3,)))
        combos[f"0-d other {other}"] = (c23, a, sample(other, ()))
    for label, args in combos.items():
        yield label, lambda args=args: check_same(entry.call, *args)


@pytest.mark.parametrize("entry, dtype", _params(Where, dtypes=True))
def test_where(entry: Where, dtype: str):
    _assert_no_failures(_where_checks(entry, dtype))


def _reduce_dims(ndim: int, kind: str) -> list:
    n = max(ndim, 1)
    ints = list(range(-n - 1, n + 1))  # every valid dim and one out of range on each side
    if kind == "int":
        return ints
    return [*ints, (), (0,), (0, -1), (-1, 0), (0, 0), tuple(range(ndim)), [n - 1]]


def _reduce_checks(entry: Reduce, dtype: str):
    for shape in REDUCE_SHAPES:
        if entry.distinct:
            x = distinct(dtype, shape)
        else:
            x = sample(dtype, shape, entry.domain)
        kwargs = [{}]
        for dim in _reduce_dims(len(shape), entry.dims):
            kwargs.append({"dim": dim})
            if entry.keepdim:
                kwargs.append({"dim": dim, "keepdim": True})
        for kw in kwargs:
            if entry.deviation and entry.deviation(dtype, shape, kw):
                continue
            fn = lambda L, x, kw=kw: entry.call(L, x, **kw)  # noqa: E731
            yield f"{shape} {kw}", lambda x=x, fn=fn: check_same(fn, x, rtol=entry.rtol)


@pytest.mark.parametrize("entry, dtype", _params(Reduce, dtypes=True))
def test_reduce(entry: Reduce, dtype: str):
    _assert_no_failures(_reduce_checks(entry, dtype))


@pytest.mark.parametrize("case", _params(Case))
def test_case(case: Case):
    check_same(case.fn, *case.inputs, rtol=case.rtol, atol=case.atol, values=case.values)


# --- the dtypes of issue 12: uint8, int8, int16, float16 ----------------------------------------
# Every Unary/Binary/Where/Reduce entry again on each new dtype its kind of entry takes, on fewer
# shapes (the grid above covers shapes and broadcasting): values, dtypes and error parity with
# torch, mixed with every other dtype, 0-d tensors and Python scalars (torch's promotion).
NEW_DTYPES = ("float16", "uint8", "int8", "int16")


def _kind(dtype: str) -> str:
    return np.dtype(dtype).kind.replace("u", "i")


def new_sample(dtype: str, shape, domain: str = "any", seed: int = 0) -> np.ndarray:
    """sample() in a new dtype: float16 from float32 values, small ints wrapping (uint8 -1 is
    255)."""
    source = "float32" if dtype == "float16" else "int64"
    return sample(source, shape, domain, seed).astype(dtype)


def _new_params():
    out = []
    for op, entries in TABLE.items():
        for k, entry in enumerate(entries):
            if not isinstance(entry, (Unary, Binary, Where, Reduce)):
                continue
            kinds = {_kind(d) for d in getattr(entry, "dtypes", DTYPE_NAMES)}
            for dtype in NEW_DTYPES:
                if _kind(dtype) in kinds:
                    out.append(pytest.param(op, entry, dtype, id=f"{op.value}-{k}-{dtype}"))
    return out


def _new_checks(op: Op, entry, dtype: str):
    if dtype == "float16":  # float32-tuned tolerances are too tight for half
        entry = dataclasses.replace(entry, rtol=None) if hasattr(entry, "rtol") else entry
        entry = dataclasses.replace(entry, atol=None) if hasattr(entry, "atol") else entry
    if op in (Op.TRUNC_DIV, Op.FLOOR_DIV):  # float16 results: torch's vectorized half kernel
        entry = dataclasses.replace(entry, atol=1.0)  # rounds x / y to half before rounding
        # to an integer, its scalar path (and tracejit) do not: 200.96 gives 201 or 200
    if isinstance(entry, Unary):
        for shape in ((2, 3), (0,)):
            yield f"{shape}", _unary_thunk(entry, new_sample(dtype, shape, entry.domain))
    elif isinstance(entry, Binary):
        yield from _new_binary_checks(entry, dtype)
    elif isinstance(entry, Where):
        c, a, b = sample("bool", (2, 3)), new_sample(dtype, (2, 3)), new_sample(dtype, (3,), seed=1)
        for label, args in {"tensors": (c, a, b), "scalar": (c, a, 2), "float": (c, a, 0.5),
                            "int32 other": (c, a, sample("int32", (3,)))}.items():
            yield label, lambda args=args: check_same(entry.call, *args)
    else:
        x = distinct(dtype, (2, 3)) if entry.distinct else new_sample(dtype, (2, 3), entry.domain)
        for kw in ({}, {"dim": 1}, {"dim": 0, "keepdim": True} if entry.keepdim else {"dim": -1}):
            fn = lambda L, x, kw=kw: entry.call(L, x, **kw)  # noqa: E731
            yield f"{kw}", lambda x=x, fn=fn: check_same(fn, x, rtol=entry.rtol)


def _new_binary_checks(entry: Binary, dtype: str):
    lhs, rhs = entry.domains

    def check(a, b, numpy=None):
        def thunk():
            ours, _ = check_same(entry.call, a, b, rtol=entry.rtol, atol=entry.atol)
            _check_against_numpy(numpy, ours, a, b, rtol=entry.rtol, atol=entry.atol)
        return thunk

    a, b = new_sample(dtype, (2, 3), lhs), new_sample(dtype, (3,), rhs, seed=1)
    yield "same dtype", check(a, b, entry.numpy)
    for other in (*DTYPE_NAMES, *NEW_DTYPES):
        o = (new_sample if other in NEW_DTYPES else sample)(other, (3,), rhs, seed=2)
        yield f"x {other}", check(a, o)
        yield f"x 0-d {other}", check(a, o[0])
    for s in (*entry.scalars, 300):
        yield f"x {s!r}", check(a, s)
        yield f"{s!r} x", check(s, b)


@pytest.mark.parametrize("op, entry, dtype", _new_params())
def test_new_dtypes(op: Op, entry, dtype: str):
    _assert_no_failures(_new_checks(op, entry, dtype))


def _new_cases(dtype: str) -> list[Case]:
    """The table's other kinds of op (creation, casts, matmul-like, windows, normalization,
    scans, movement, indexing) called on one `dtype` of issue 12."""
    x, w = new_sample(dtype, (2, 3, 4)), new_sample(dtype, (5, 4), seed=1)
    img, k = new_sample(dtype, (1, 2, 5, 5)), new_sample(dtype, (3, 2, 3, 3), seed=2)
    F = functional
    calls = {
        "full": (lambda L: L.full((2,), 7, dtype=getattr(L, dtype)),),
        "arange": (lambda L: L.arange(1, 9, 2, dtype=getattr(L, dtype)),),
        "linspace": (lambda L: L.linspace(0, 10, 5, dtype=getattr(L, dtype)),),
        "eye": (lambda L: L.eye(3, dtype=getattr(L, dtype)),),
        "cast-from": (lambda L, x: [x.to(getattr(L, d)) for d in (*DTYPE_NAMES, *NEW_DTYPES)],
                      np.abs(x)),
        "cast-to": (lambda L, y: y.to(getattr(L, dtype)), np.abs(sample("float32", (2, 3)))),
        "matmul": (lambda L, x, w: x @ w.transpose(0, 1), x, w),
        "linear": (F("linear"), x, w),
        "conv2d": (F("conv2d", padding=1), img, k),
        "softmax": (F("softmax", dim=-1), x),
        "log_softmax": (F("log_softmax", dim=1), x),
        "layer_norm": (lambda L, x: L.nn.functional.layer_norm(x, (4,)), x),
        "max_pool2d": (F("max_pool2d", kernel_size=2), img),
        "avg_pool2d": (F("avg_pool2d", kernel_size=2), img),
        "cumsum": (lambda L, x: x.cumsum(1), x),
        "argmax": (lambda L, x: x.argmax(-1), distinct(dtype, (3, 4))),
        "cat": (lambda L, x, w: L.cat([x[0], w]), x, w),
        "pad": (F("pad", pad=(1, 2)), x),
        "tril": (lambda L, x: x.tril(), x),
        "index": (lambda L, x: x[:, [2, 0], 1:], x),
        "index_put": (lambda L, x: x.clone().index_put_((L.tensor([0, 1]),), x[0, 0]), x),
        "setitem-mask": (lambda L, x: x.clone().__setitem__(x > 1, 3) or x, x),
        "gather": (lambda L, x: x.gather(2, L.tensor([[[1, 0]] * 3] * 2)), x),
        "where": (lambda L, x: L.where(x > 2, x, L.zeros_like(x)), x),
    }
    return [Case(f"{name}-{dtype}", fn, inputs) for name, (fn, *inputs) in calls.items()]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.label) for d in NEW_DTYPES
                                  for c in _new_cases(d)])
def test_new_dtype_cases(case: Case):
    tolerance = (4e-3, 1e-2) if case.label.endswith("float16") else (None, None)
    check_same(case.fn, *case.inputs, rtol=tolerance[0], atol=tolerance[1])
