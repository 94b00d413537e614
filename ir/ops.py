"""The op table: every op tracejit knows, in one place.

`OPS[Op.ADD]` is an `OpDef` holding what every stage needs to know about `add`: its kind
(elementwise, reduction, ...), arity, attribute schema, purity, the type-promotion kind the front
end applies, the dtypes it accepts, its shape-and-dtype rule and its numpy reference
implementation. Passes and backends ask this table; they never special-case op classes.
`infer_types` is the single checked entry point to the shape rules (dispatch and verifier).
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import index_ops, linalg_ops, math_ops, window
from . import numpy_impl as ref
from . import shape_rules as rules
from .special import erf
from .types import (
    ALL_DTYPES,
    FLOAT_DTYPES,
    INT_DTYPES,
    INTEGRAL_DTYPES,
    NUMERIC_DTYPES,
    ConstRef,
    DType,
    Literal,
    TensorType,
)


class Op(enum.Enum):
    """Op names as they print in the IR."""

    # creation
    FULL = "full"
    ARANGE = "arange"
    LINSPACE = "linspace"
    EYE = "eye"
    RAND = "rand"
    RANDN = "randn"
    RANDINT = "randint"
    # elementwise, unary
    CAST = "cast"
    COPY = "copy"
    NEG = "neg"
    ABS = "abs"
    EXP = "exp"
    LOG = "log"
    LOG1P = "log1p"
    EXPM1 = "expm1"
    SQRT = "sqrt"
    RSQRT = "rsqrt"
    SIN = "sin"
    COS = "cos"
    TANH = "tanh"
    SIGMOID = "sigmoid"
    ERF = "erf"
    FLOOR = "floor"
    CEIL = "ceil"
    ROUND = "round"
    TRUNC = "trunc"
    SIGN = "sign"
    RECIPROCAL = "reciprocal"
    RELU = "relu"
    GELU = "gelu"
    SILU = "silu"
    LOGICAL_NOT = "logical_not"
    BITWISE_NOT = "bitwise_not"
    # elementwise, binary and ternary
    ADD = "add"
    SUB = "sub"
    MUL = "mul"
    DIV = "div"
    FLOOR_DIV = "floor_div"
    TRUNC_DIV = "trunc_div"
    REMAINDER = "remainder"
    POW = "pow"
    MAXIMUM = "maximum"
    MINIMUM = "minimum"
    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    BITWISE_AND = "bitwise_and"
    BITWISE_OR = "bitwise_or"
    BITWISE_XOR = "bitwise_xor"
    WHERE = "where"
    # elementwise math with C library kernels (references: numpy ufuncs and ir/math_ops.py)
    ASIN = "asin"
    ACOS = "acos"
    ATAN = "atan"
    ASINH = "asinh"
    ACOSH = "acosh"
    ATANH = "atanh"
    ERFC = "erfc"
    LGAMMA = "lgamma"
    ATAN2 = "atan2"
    FMOD = "fmod"
    NEXTAFTER = "nextafter"
    SHIFT_LEFT = "shift_left"
    SHIFT_RIGHT = "shift_right"
    GCD = "gcd"
    LCM = "lcm"
    # reductions and scans
    SUM = "sum"
    PROD = "prod"
    MEAN = "mean"
    AMAX = "amax"
    AMIN = "amin"
    ARGMAX = "argmax"
    ARGMIN = "argmin"
    ALL = "all"
    ANY = "any"
    CUMSUM = "cumsum"
    # matmul-like, normalization, windows
    MATMUL = "matmul"
    LINEAR = "linear"
    CONV2D = "conv2d"
    SOFTMAX = "softmax"
    LOG_SOFTMAX = "log_softmax"
    LAYER_NORM = "layer_norm"
    MAX_POOL2D = "max_pool2d"
    AVG_POOL2D = "avg_pool2d"
    MAX_POOL2D_GRAD = "max_pool2d_grad"
    AVG_POOL2D_GRAD = "avg_pool2d_grad"
    # movement and indexing
    RESHAPE = "reshape"
    PERMUTE = "permute"
    EXPAND = "expand"
    SLICE = "slice"
    CAT = "cat"
    PAD = "pad"
    TRIL = "tril"
    TRIU = "triu"
    INDEX = "index"
    INDEX_PUT = "index_put"
    GATHER = "gather"
    # sorting, scattering, selecting, sampling (ir/index_ops.py)
    ARGSORT = "argsort"
    FLIP = "flip"
    CUMPROD = "cumprod"
    CUMARGMAX = "cumargmax"
    CUMARGMIN = "cumargmin"
    SCATTER = "scatter"
    MASKED_SCATTER = "masked_scatter"
    NONZERO = "nonzero"
    MULTINOMIAL = "multinomial"
    SEARCHSORTED = "searchsorted"
    UNIQUE = "unique"
    # matrix factorizations and solvers (ir/linalg_ops.py)
    INV = "inv"
    DET = "det"
    SLOGDET = "slogdet"
    SOLVE = "solve"
    CHOLESKY = "cholesky"
    QR = "qr"
    SVD = "svd"
    EIGH = "eigh"
    MATRIX_EXP = "matrix_exp"
    LU_FACTOR = "lu_factor"
    # constants and structure
    CONSTANT = "constant"
    FUSED = "fused"
    IF = "if"
    FOR = "for"
    WHILE = "while"
    ASSERT = "assert"
    YIELD = "yield"
    RETURN = "return"

    def __str__(self) -> str:
        return self.value

    # Members are singletons: identity hashing keeps OPS[op] lookups off Enum's Python __hash__.
    __hash__ = object.__hash__


class Kind(enum.Enum):
    CREATION = "creation"
    ELEMENTWISE = "elementwise"
    REDUCTION = "reduction"
    SCAN = "scan"
    MATMUL = "matmul"
    NORMALIZATION = "normalization"
    WINDOW = "window"
    MOVEMENT = "movement"
    INDEXING = "indexing"
    CONSTANT = "constant"
    STRUCTURE = "structure"  # ops that own blocks, and block terminators


class Promotion(enum.Enum):
    """How the front end promotes operand dtypes before an op (torch's promotion kinds)."""

    NONE = "none"  # operands must already agree; Python scalars are rejected
    DEFAULT = "default"  # common dtype of all operands
    INT_TO_FLOAT = "int_to_float"  # common dtype, then bool/int -> the default float dtype


@dataclass(frozen=True, slots=True)
class Attr:
    """One attribute: its name, its type (a key of ATTR_TYPES) and its default, if any."""

    name: str
    type: str
    default: Any = ...


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_ints(v) -> bool:
    return isinstance(v, tuple) and all(_is_int(i) for i in v)


def _is_spec_entry(e) -> bool:
    if not isinstance(e, tuple) or not e:
        return False
    if e[0] == "slice":
        return len(e) == 4 and all(_is_int(i) or i is None for i in e[1:])
    return (e[0] == "int" and len(e) == 2 and _is_int(e[1])) or e in (("none",), ("tensor",))


ATTR_TYPES: dict[str, Callable[[Any], bool]] = {
    "int": _is_int,
    "int?": lambda v: v is None or _is_int(v),
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "scalar": lambda v: isinstance(v, (bool, int, float)),
    "str": lambda v: isinstance(v, str),
    "dtype": lambda v: isinstance(v, DType),
    "ints": _is_ints,
    "pair": lambda v: _is_ints(v) and len(v) == 2,
    "spec": lambda v: isinstance(v, tuple) and all(_is_spec_entry(e) for e in v),
    "const": lambda v: isinstance(v, (Literal, ConstRef)),
}


@dataclass(frozen=True, slots=True)
class OpDef:
    """Everything the project knows about one op."""

    op: Op
    kind: Kind
    arity: tuple[int, int | None]  # (min, max) operands; max None = variadic
    infer: Callable[..., tuple[TensorType, ...]]  # shape-and-dtype rule
    impl: Callable[..., Any] | None  # numpy reference implementation (None: structure ops)
    attrs: tuple[Attr, ...] = ()
    dtypes: frozenset[DType] = ALL_DTYPES  # operand dtypes accepted after promotion
    # dtypes each front-end operand (tensor or Python scalar) may have BEFORE promotion, for ops
    # that reject an input dtype even when promotion would lift it (torch's bool - x); None: any
    operand_dtypes: frozenset[DType] | None = None
    promotion: Promotion = Promotion.NONE
    promoted: tuple[int, ...] | None = None  # operand positions promoted together (None: all)
    pure: bool = True
    random: bool = False  # impl takes rng=
    choices: Mapping[str, tuple[str, ...]] | None = None  # allowed values of str attributes
    blocks: int = 0  # nested blocks the op owns
    isolated: bool = False  # its blocks see only their own arguments, not enclosing values
    terminator: bool = False  # ends a block (return, yield)
    # the operand positions a gradient flows to (empty: not differentiable); each such op has
    # its gradient rule in tracejit/autograd/rules.py (written in dispatched ops, so ir/ keeps
    # no front-end code), and a test fails for a differentiable op without one
    differentiable: tuple[int, ...] = ()

    @property
    def name(self) -> str:
        return self.op.value


OPS: dict[Op, OpDef] = {}


def _def(op: Op, kind: Kind, arity, infer, impl, *attrs: Attr, **fields) -> None:
    arity = (arity, arity) if isinstance(arity, int) else arity
    OPS[op] = OpDef(op, kind, arity, infer, impl, attrs, **fields)


def _np(fn):
    """A numpy ufunc or function as a reference impl taking no attributes."""
    return lambda *xs: fn(*xs)


# --- creation -----------------------------------------------------------------------------------
_SHAPE, _DTYPE = Attr("shape", "ints"), Attr("dtype", "dtype")
_def(Op.FULL, Kind.CREATION, 0, rules.full, ref.full, _SHAPE, Attr("value", "scalar"), _DTYPE)
_def(Op.ARANGE, Kind.CREATION, 0, rules.arange, ref.arange, Attr("start", "float"),
     Attr("end", "float"), Attr("step", "float"), _DTYPE)
_def(Op.LINSPACE, Kind.CREATION, 0, rules.linspace, ref.linspace, Attr("start", "float"),
     Attr("end", "float"), Attr("steps", "int"), _DTYPE)
_def(Op.EYE, Kind.CREATION, 0, rules.eye, ref.eye, Attr("n", "int"), Attr("m", "int"), _DTYPE)
for _op, _impl in ((Op.RAND, ref.rand), (Op.RANDN, ref.randn)):
    _def(_op, Kind.CREATION, 0, rules.full, _impl, _SHAPE, _DTYPE, pure=False, random=True)
_def(Op.RANDINT, Kind.CREATION, 0, rules.randint, ref.randint, Attr("low", "int"),
     Attr("high", "int"), _SHAPE, _DTYPE, pure=False, random=True)

# --- elementwise --------------------------------------------------------------------------------
_EW = Kind.ELEMENTWISE
_def(Op.CAST, _EW, 1, rules.cast, ref.cast, _DTYPE)
_def(Op.COPY, _EW, 1, rules.elementwise(), _np(np.copy))
_def(Op.NEG, _EW, 1, rules.elementwise(), _np(np.negative), dtypes=NUMERIC_DTYPES,
     promotion=Promotion.DEFAULT)
_def(Op.ABS, _EW, 1, rules.elementwise(), _np(np.abs), dtypes=NUMERIC_DTYPES,
     promotion=Promotion.DEFAULT)
_FLOAT_UNARY = {
    Op.EXP: np.exp, Op.LOG: np.log, Op.LOG1P: np.log1p, Op.EXPM1: np.expm1, Op.SQRT: np.sqrt,
    Op.RSQRT: ref.rsqrt, Op.SIN: np.sin, Op.COS: np.cos, Op.TANH: np.tanh,
    Op.SIGMOID: ref.sigmoid, Op.ERF: erf, Op.RECIPROCAL: np.reciprocal, Op.SILU: ref.silu,
}
for _op, _fn in _FLOAT_UNARY.items():
    _def(_op, _EW, 1, rules.elementwise(), _np(_fn), dtypes=FLOAT_DTYPES,
         promotion=Promotion.INT_TO_FLOAT)
_def(Op.GELU, _EW, 1, rules.elementwise(), ref.gelu, Attr("approximate", "str", "none"),
     dtypes=FLOAT_DTYPES, promotion=Promotion.DEFAULT,
     choices={"approximate": ("none", "tanh")})
for _op, _fn in ((Op.FLOOR, np.floor), (Op.CEIL, np.ceil), (Op.TRUNC, np.trunc)):
    _def(_op, _EW, 1, rules.elementwise(), _np(_fn), dtypes=NUMERIC_DTYPES,
         promotion=Promotion.DEFAULT)
_def(Op.ROUND, _EW, 1, rules.round_, ref.round_, Attr("decimals", "int", 0),
     dtypes=NUMERIC_DTYPES, promotion=Promotion.DEFAULT)
_def(Op.SIGN, _EW, 1, rules.elementwise(), _np(ref.sign), promotion=Promotion.DEFAULT)
_def(Op.RELU, _EW, 1, rules.elementwise(), _np(ref.relu), dtypes=NUMERIC_DTYPES,
     promotion=Promotion.DEFAULT)
_def(Op.LOGICAL_NOT, _EW, 1, rules.elementwise(DType.bool), _np(np.logical_not))
_def(Op.BITWISE_NOT, _EW, 1, rules.elementwise(), _np(np.invert), dtypes=INTEGRAL_DTYPES,
     promotion=Promotion.DEFAULT)

_BINARY = {
    Op.ADD: (np.add, ALL_DTYPES), Op.SUB: (np.subtract, NUMERIC_DTYPES),
    Op.MUL: (np.multiply, ALL_DTYPES), Op.FLOOR_DIV: (ref.floor_divide, NUMERIC_DTYPES),
    Op.TRUNC_DIV: (ref.trunc_divide, NUMERIC_DTYPES),
    Op.REMAINDER: (ref.remainder, NUMERIC_DTYPES),
    Op.MAXIMUM: (np.maximum, ALL_DTYPES), Op.MINIMUM: (np.minimum, ALL_DTYPES),
    Op.BITWISE_AND: (np.bitwise_and, INTEGRAL_DTYPES),
    Op.BITWISE_OR: (np.bitwise_or, INTEGRAL_DTYPES),
    Op.BITWISE_XOR: (np.bitwise_xor, INTEGRAL_DTYPES),
}
for _op, (_fn, _dtypes) in _BINARY.items():
    _def(_op, _EW, 2, rules.elementwise(), _np(_fn), dtypes=_dtypes, promotion=Promotion.DEFAULT,
         operand_dtypes=NUMERIC_DTYPES if _op is Op.SUB else None)
_def(Op.DIV, _EW, 2, rules.elementwise(), _np(np.true_divide), dtypes=FLOAT_DTYPES,
     promotion=Promotion.INT_TO_FLOAT)
# pow: bool ** True / False take torch's exponent-1/0 shortcuts; scalar_exponent (the front
# end's: the exponent was a Python number and the result is not float16) adds torch's scalar
# shortcuts (ir/numpy_impl.power); true by default, as before the attribute existed
_def(Op.POW, _EW, 2, rules.elementwise(), ref.power, Attr("scalar_exponent", "bool", True),
     dtypes=ALL_DTYPES, promotion=Promotion.DEFAULT)
_COMPARE = {Op.EQ: np.equal, Op.NE: np.not_equal, Op.LT: np.less, Op.LE: np.less_equal,
            Op.GT: np.greater, Op.GE: np.greater_equal}
for _op, _fn in _COMPARE.items():
    _def(_op, _EW, 2, rules.elementwise(DType.bool), _np(_fn), promotion=Promotion.DEFAULT)
_def(Op.WHERE, _EW, 3, rules.where, _np(np.where), promotion=Promotion.DEFAULT, promoted=(1, 2))
# elementwise math the C library computes (the llvm backend calls it too: runtime/lower.py LIBM)
_LIBM_UNARY = {
    Op.ASIN: np.arcsin, Op.ACOS: np.arccos, Op.ATAN: np.arctan, Op.ASINH: np.arcsinh,
    Op.ACOSH: np.arccosh, Op.ATANH: np.arctanh, Op.ERFC: math_ops.erfc,
    Op.LGAMMA: math_ops.lgamma,
}
for _op, _fn in _LIBM_UNARY.items():
    _def(_op, _EW, 1, rules.elementwise(), _np(_fn), dtypes=FLOAT_DTYPES,
         promotion=Promotion.INT_TO_FLOAT)
for _op, _fn in ((Op.ATAN2, np.arctan2), (Op.FMOD, np.fmod)):
    _def(_op, _EW, 2, rules.elementwise(), _np(_fn), dtypes=FLOAT_DTYPES,
         promotion=Promotion.INT_TO_FLOAT)  # integer fmod: a composite (functions_special.py)
_def(Op.NEXTAFTER, _EW, 2, rules.elementwise(), _np(np.nextafter),
     dtypes=frozenset({DType.float32, DType.float64}), promotion=Promotion.DEFAULT)  # not half:
# the reference computes float16 in float32, where the next number is another one
for _op, _fn in ((Op.SHIFT_LEFT, math_ops.shift_left), (Op.SHIFT_RIGHT, math_ops.shift_right),
                 (Op.GCD, np.gcd), (Op.LCM, np.lcm)):
    _def(_op, _EW, 2, rules.elementwise(), _np(_fn), dtypes=INT_DTYPES,
         promotion=Promotion.DEFAULT)

# --- reductions and scans -----------------------------------------------------------------------
_DIMS, _KEEPDIM = Attr("dims", "ints"), Attr("keepdim", "bool", False)
_REDUCTIONS = {
    Op.SUM: (ref.sum_, "widen", ALL_DTYPES, False),
    Op.PROD: (ref.prod, "widen", ALL_DTYPES, False),
    Op.MEAN: (ref.mean, "same", FLOAT_DTYPES, False),
    Op.AMAX: (ref.amax, "same", ALL_DTYPES, True),
    Op.AMIN: (ref.amin, "same", ALL_DTYPES, True),
    Op.ALL: (ref.all_, "bool", ALL_DTYPES, False),
    Op.ANY: (ref.any_, "bool", ALL_DTYPES, False),
}
for _op, (_impl, _result, _dtypes, _nonempty) in _REDUCTIONS.items():
    _def(_op, Kind.REDUCTION, 1, rules.reduction(_result, _nonempty), _impl, _DIMS, _KEEPDIM,
         dtypes=_dtypes)
for _op, _impl in ((Op.ARGMAX, ref.argmax), (Op.ARGMIN, ref.argmin)):
    _def(_op, Kind.REDUCTION, 1, rules.arg_reduction, _impl, Attr("dim", "int?"), _KEEPDIM,
         dtypes=NUMERIC_DTYPES)
_def(Op.CUMSUM, Kind.SCAN, 1, rules.scan, ref.cumsum, Attr("dim", "int"))

# --- matmul-like, normalization, windows --------------------------------------------------------
_def(Op.MATMUL, Kind.MATMUL, 2, rules.matmul, _np(np.matmul), dtypes=NUMERIC_DTYPES)
_def(Op.LINEAR, Kind.MATMUL, (2, 3), rules.linear, ref.linear, dtypes=NUMERIC_DTYPES)
_PAIR = ("stride", "padding", "dilation")
_def(Op.CONV2D, Kind.MATMUL, (2, 3), rules.conv2d, window.conv2d,
     *(Attr(a, "pair") for a in _PAIR), Attr("groups", "int"), dtypes=NUMERIC_DTYPES)
_def(Op.SOFTMAX, Kind.NORMALIZATION, 1, rules.same_as_input, ref.softmax, Attr("dim", "int"),
     dtypes=FLOAT_DTYPES)
_def(Op.LOG_SOFTMAX, Kind.NORMALIZATION, 1, rules.same_as_input, ref.log_softmax,
     Attr("dim", "int"), dtypes=FLOAT_DTYPES)
_def(Op.LAYER_NORM, Kind.NORMALIZATION, (1, 3), rules.layer_norm, ref.layer_norm,
     Attr("normalized_ndim", "int"), Attr("eps", "float"), dtypes=FLOAT_DTYPES)
_POOL = (Attr("kernel_size", "pair"), Attr("stride", "pair"), Attr("padding", "pair"))
_def(Op.MAX_POOL2D, Kind.WINDOW, 1, rules.pool2d, window.max_pool2d, *_POOL,
     Attr("dilation", "pair"), Attr("ceil_mode", "bool"), dtypes=NUMERIC_DTYPES)
_def(Op.AVG_POOL2D, Kind.WINDOW, 1, rules.pool2d, window.avg_pool2d, *_POOL,
     Attr("ceil_mode", "bool"), Attr("count_include_pad", "bool"),
     Attr("divisor_override", "int?"), dtypes=FLOAT_DTYPES | {DType.int64})  # as torch's CPU
# the pools' gradients (autograd's backward): operands (grad of the result, the pool's input)
_def(Op.MAX_POOL2D_GRAD, Kind.WINDOW, 2, window.pool2d_grad_rule, window.max_pool2d_grad,
     *_POOL, Attr("dilation", "pair"), Attr("ceil_mode", "bool"), dtypes=FLOAT_DTYPES)
_def(Op.AVG_POOL2D_GRAD, Kind.WINDOW, 2, window.pool2d_grad_rule, window.avg_pool2d_grad,
     *_POOL, Attr("ceil_mode", "bool"), Attr("count_include_pad", "bool"),
     Attr("divisor_override", "int?"), dtypes=FLOAT_DTYPES)

# --- movement and indexing ----------------------------------------------------------------------
_MV = Kind.MOVEMENT
_def(Op.RESHAPE, _MV, 1, rules.reshape, ref.reshape, _SHAPE)
_def(Op.PERMUTE, _MV, 1, rules.permute, ref.permute, Attr("dims", "ints"))
_def(Op.EXPAND, _MV, 1, rules.expand, ref.expand, _SHAPE)
_def(Op.SLICE, _MV, 1, rules.slice_, ref.slice_, Attr("starts", "ints"), Attr("stops", "ints"),
     Attr("steps", "ints"))
_def(Op.CAT, _MV, (1, None), rules.cat, ref.cat, Attr("dim", "int"), promotion=Promotion.DEFAULT)
_def(Op.PAD, _MV, 1, rules.pad, ref.pad, Attr("pads", "ints"), Attr("mode", "str", "constant"),
     Attr("value", "float", 0.0),
     choices={"mode": ("constant", "reflect", "replicate", "circular")})
for _op, _impl in ((Op.TRIL, ref.tril), (Op.TRIU, ref.triu)):
    _def(_op, _MV, 1, rules.tri, _impl, Attr("diagonal", "int", 0))
_SPEC = Attr("spec", "spec")
_def(Op.INDEX, Kind.INDEXING, (1, None), rules.index, ref.index, _SPEC)
_def(Op.INDEX_PUT, Kind.INDEXING, (2, None), rules.index_put, ref.index_put, _SPEC,
     Attr("accumulate", "bool", False))  # accumulate: repeated indices add (index's gradient)
_def(Op.GATHER, Kind.INDEXING, 2, rules.gather, ref.gather, Attr("dim", "int"))

# --- sorting, scattering, selecting, sampling (rules and references in ir/index_ops.py) --------
_IX = Kind.INDEXING
_DIM = Attr("dim", "int")
_def(Op.ARGSORT, _IX, 1, index_ops.argsort_rule, index_ops.argsort, _DIM,
     Attr("descending", "bool", False))
_def(Op.FLIP, _MV, 1, index_ops.flip_rule, index_ops.flip, Attr("dims", "ints"))
_def(Op.CUMPROD, Kind.SCAN, 1, rules.scan, index_ops.cumprod, _DIM)
for _op, _impl in ((Op.CUMARGMAX, index_ops.cumargmax), (Op.CUMARGMIN, index_ops.cumargmin)):
    _def(_op, Kind.SCAN, 1, index_ops.cumarg_rule, _impl, _DIM)  # cummax/cummin's indices
# scatter(%x, %index, %src): src's values written (reduce="none") or reduced into x at index
_def(Op.SCATTER, _IX, 3, index_ops.scatter_rule, index_ops.scatter, _DIM,
     Attr("reduce", "str", "none"), Attr("include_self", "bool", True),
     choices={"reduce": ("none", "sum", "prod", "mean", "amax", "amin")})
_def(Op.MASKED_SCATTER, _IX, 3, index_ops.masked_scatter_rule, index_ops.masked_scatter)
_def(Op.NONZERO, _IX, 1, index_ops.nonzero_rule, index_ops.nonzero)  # int64[?, ndim]
_def(Op.MULTINOMIAL, _IX, 1, index_ops.multinomial_rule, index_ops.multinomial,
     Attr("num_samples", "int"), Attr("replacement", "bool", False), dtypes=FLOAT_DTYPES,
     pure=False, random=True)
_def(Op.SEARCHSORTED, _IX, 2, index_ops.searchsorted_rule, index_ops.searchsorted,
     Attr("right", "bool", False), dtypes=NUMERIC_DTYPES, promotion=Promotion.DEFAULT)
_def(Op.UNIQUE, _IX, 1, index_ops.unique_rule, index_ops.unique, Attr("result", "str"),
     Attr("dim", "int?", None), choices={"result": ("values", "inverse", "counts")})

# --- matrix factorizations and solvers (rules and references in ir/linalg_ops.py) -------------
# numpy.linalg (LAPACK) is their kernel in every backend; each op with several results is one
# op per result (`result`), as torch's batched [..., m, n] functions return them.
_LA = {"dtypes": linalg_ops.LINALG_DTYPES}
_CHECK = Attr("check", "bool", True)  # False: the *_ex forms, NaN for failing matrices
_def(Op.INV, Kind.MATMUL, 1, linalg_ops.square_rule, linalg_ops.inv, _CHECK, **_LA)
_def(Op.DET, Kind.MATMUL, 1, linalg_ops.det_rule, linalg_ops.det, **_LA)
_def(Op.SLOGDET, Kind.MATMUL, 1, linalg_ops.det_rule, linalg_ops.slogdet, Attr("result", "str"),
     choices={"result": ("sign", "logabsdet")}, **_LA)
_def(Op.SOLVE, Kind.MATMUL, 2, linalg_ops.solve_rule, linalg_ops.solve, _CHECK, **_LA)
_def(Op.CHOLESKY, Kind.MATMUL, 1, linalg_ops.cholesky_rule, linalg_ops.cholesky, _CHECK,
     Attr("result", "str", "factor"), choices={"result": ("factor", "info")}, **_LA)
_def(Op.QR, Kind.MATMUL, 1, linalg_ops.qr_rule, linalg_ops.qr, Attr("mode", "str", "reduced"),
     Attr("result", "str"), choices={"mode": ("reduced", "complete"), "result": ("q", "r")},
     **_LA)
_def(Op.SVD, Kind.MATMUL, 1, linalg_ops.svd_rule, linalg_ops.svd,
     Attr("full_matrices", "bool", True), Attr("result", "str"),
     choices={"result": ("u", "s", "vh")}, **_LA)
_def(Op.EIGH, Kind.MATMUL, 1, linalg_ops.eigh_rule, linalg_ops.eigh, Attr("uplo", "str", "L"),
     Attr("result", "str"), choices={"uplo": ("L", "U"), "result": ("values", "vectors")}, **_LA)
_def(Op.MATRIX_EXP, Kind.MATMUL, 1, linalg_ops.square_rule, linalg_ops.matrix_exp, **_LA)
_def(Op.LU_FACTOR, Kind.MATMUL, 1, linalg_ops.lu_rule, linalg_ops.lu_factor, Attr("result", "str"),
     _CHECK, choices={"result": ("lu", "pivots", "info")}, **_LA)

# --- constants and structure --------------------------------------------------------------------
# A constant's type is its Literal's; a ConstRef's comes from the graph's data (the verifier).
# Structured ops' results come from their blocks: the verifier checks them, not a shape rule.
_def(Op.CONSTANT, Kind.CONSTANT, 0, rules.constant, ref.constant, Attr("value", "const"))
_def(Op.FUSED, Kind.STRUCTURE, (0, None), rules.structured, None, blocks=1, isolated=True)
# Control flow (scf-like; the blocks see enclosing values). if(%c: bool[]) {then} {else}: each
# block yields the results. for(%start, %stop, %step: int64[], %init...) {^(%i, %carried...)}:
# Python's range, the block yields the next carried values. while(%init...) {^(%carried...)}:
# the block yields (%again: bool[], %next...) and runs again while %again; results are the last
# %next (so `while c: body` is a block computing c, then `if c {body} {unchanged}`).
_def(Op.IF, Kind.STRUCTURE, 1, rules.structured, None, blocks=2)
_def(Op.FOR, Kind.STRUCTURE, (3, None), rules.structured, None, blocks=1)
_def(Op.WHILE, Kind.STRUCTURE, (0, None), rules.structured, None, blocks=1)
# assert(%c: bool[]) {message = "..."}: raises AssertionError(message) when %c is false
_def(Op.ASSERT, Kind.STRUCTURE, 1, rules.structured, None, Attr("message", "str"), pure=False)
for _op in (Op.YIELD, Op.RETURN):
    _def(_op, Kind.STRUCTURE, (0, None), rules.terminator, None, terminator=True)

# --- differentiability (OpDef.differentiable) ---------------------------------------------------
# Ops a gradient never flows through: they make values from nothing, or their results are
# integers, booleans or constants of the inputs (torch gives their results no grad_fn).
_NOT_DIFFERENTIABLE = frozenset({
    Op.FULL, Op.ARANGE, Op.LINSPACE, Op.EYE, Op.RAND, Op.RANDN, Op.RANDINT, Op.LOGICAL_NOT,
    Op.BITWISE_NOT, Op.BITWISE_AND, Op.BITWISE_OR, Op.BITWISE_XOR, Op.SHIFT_LEFT,
    Op.SHIFT_RIGHT, Op.GCD, Op.LCM, Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE, Op.ALL, Op.ANY,
    Op.ARGMAX, Op.ARGMIN, Op.ARGSORT, Op.CUMARGMAX, Op.CUMARGMIN, Op.NONZERO, Op.MULTINOMIAL,
    Op.SEARCHSORTED, Op.CONSTANT, *(op for op, d in OPS.items() if d.kind is Kind.STRUCTURE),
})
# Ops with operands no gradient flows to (a condition, indices, a mask); others take all.
_GRAD_OPERANDS = {
    Op.WHERE: (1, 2), Op.INDEX: (0,), Op.INDEX_PUT: (0, 1), Op.GATHER: (0,),
    Op.SCATTER: (0, 2), Op.MASKED_SCATTER: (0, 2), Op.MAX_POOL2D_GRAD: (0,),
    Op.AVG_POOL2D_GRAD: (0,),
}
for _op, _d in list(OPS.items()):
    if _op not in _NOT_DIFFERENTIABLE:
        _positions = _GRAD_OPERANDS.get(_op, tuple(range(_d.arity[1] or 64)))
        OPS[_op] = dataclasses.replace(_d, differentiable=_positions)

ELEMENTWISE = frozenset(op for op, d in OPS.items() if d.kind is Kind.ELEMENTWISE)
REDUCTIONS = frozenset(op for op, d in OPS.items() if d.kind is Kind.REDUCTION)
MOVEMENT = frozenset(op for op, d in OPS.items() if d.kind is Kind.MOVEMENT)
STRUCTURE = frozenset(op for op, d in OPS.items() if d.kind is Kind.STRUCTURE)


def complete_attrs(op: Op, attrs: Mapping[str, Any]) -> dict[str, Any]:
    """`attrs` checked against the op's schema, with defaults filled in."""
    opdef = OPS[op]
    if not opdef.attrs and not attrs:
        return {}
    out = {}
    for a in opdef.attrs:
        if a.name in attrs:
            v = attrs[a.name]
        elif a.default is not ...:
            v = a.default
        else:
            raise TypeError(f"{op.value}: missing attribute '{a.name}' ({a.type})")
        if not ATTR_TYPES[a.type](v):
            raise TypeError(f"{op.value}: attribute '{a.name}' must be {a.type}, got {v!r}")
        if opdef.choices and a.name in opdef.choices and v not in opdef.choices[a.name]:
            allowed = ", ".join(repr(c) for c in opdef.choices[a.name])
            raise ValueError(f"{op.value}: {a.name}={v!r} is not one of {allowed}")
        out[a.name] = v
    extra = set(attrs) - set(out)
    if extra:
        raise TypeError(f"{op.value}: unknown attribute(s) {', '.join(sorted(extra))}")
    return out


def infer_types(op: Op, types: Sequence[TensorType], attrs: Mapping[str, Any]):
    """Result types of `op` on operands of `types`: arity and dtypes checked, then the op's rule.

    `attrs` must be complete (see complete_attrs)."""
    opdef = OPS[op]
    lo, hi = opdef.arity
    if len(types) < lo or (hi is not None and len(types) > hi):
        want = f"{lo}" if lo == hi else f"{lo} to {hi if hi is not None else 'any'}"
        raise TypeError(f"{op.value}: expected {want} operands, got {len(types)}")
    positions = opdef.promoted if opdef.promoted is not None else range(len(types))
    check_dtypes(op, [types[i].dtype for i in positions], opdef.dtypes)
    return opdef.infer(types, attrs, op.value)


def evaluate(op: Op, arrays: Sequence[np.ndarray], attrs: Mapping[str, Any],
             result: TensorType, rng: np.random.Generator | None = None) -> np.ndarray:
    """Run the op's numpy reference on `arrays`; the result as an array of `result`'s dtype.
    Eager execution and the reference interpreter both run ops through here."""
    opdef = OPS[op]
    kwargs = {**attrs, "rng": rng} if opdef.random else attrs
    with np.errstate(all="ignore"):
        widened = arrays if op in _VIEW_OPS else _widen_half(arrays)  # views stay views
        out = np.asarray(opdef.impl(*widened, **kwargs))
        out = out if out.dtype == result.dtype.np else out.astype(result.dtype.np)
    if not out.flags.c_contiguous and (op in C_ORDER_RESULTS or _fresh_index(op, arrays, out)
                                       or _broadcast_elementwise(opdef, arrays)):
        out = np.asarray(out, order="C")  # (np.ascontiguousarray makes a 0-d array 1-d)
    return out


def _broadcast_elementwise(opdef: OpDef, arrays: Sequence[np.ndarray]) -> bool:
    """An elementwise op whose operands are all in C order but for broadcast (stride-0) dims:
    torch's result is contiguous, numpy's K order may lay it out otherwise."""
    return opdef.kind is Kind.ELEMENTWISE and all(map(_c_ordered, arrays))


def _c_ordered(a) -> bool:
    shape, strides = getattr(a, "shape", ()), getattr(a, "strides", ())
    strides = [s for s, n in zip(strides, shape) if n > 1 and s != 0]
    return all(s > 0 for s in strides) and all(x > y for x, y in itertools.pairwise(strides))


def _fresh_index(op: Op, arrays: Sequence[np.ndarray], out: np.ndarray) -> bool:
    """An advanced index of a contiguous tensor: torch lays its (fresh) result out contiguous,
    numpy puts the indexed dims first in memory."""
    return (op is Op.INDEX and arrays[0].flags.c_contiguous
            and not np.may_share_memory(out, arrays[0]))


# Ops whose numpy reference may return a view of operand 0 (no arithmetic: exact in float16)
_VIEW_OPS = frozenset({Op.RESHAPE, Op.PERMUTE, Op.EXPAND, Op.SLICE, Op.INDEX})

# Ops whose result torch allocates contiguous whatever the operand's strides (numpy's would keep
# a transposed operand's order, and a following .view(-1) would then fail where torch's works).
C_ORDER_RESULTS = frozenset({
    Op.CUMSUM, Op.CUMPROD, Op.CUMARGMAX, Op.CUMARGMIN, Op.SOFTMAX, Op.LOG_SOFTMAX,
    Op.LAYER_NORM, Op.TRIL, Op.TRIU, Op.GATHER,
})


def _widen_half(arrays: Sequence[np.ndarray]) -> Sequence[np.ndarray]:
    """float16 operands as float32: torch's CPU half kernels compute in float32 and round the
    result once (evaluate's final cast), where numpy would round every step of a composite."""
    if not any(getattr(a, "dtype", None) == np.float16 for a in arrays):
        return arrays
    return [a.astype(np.float32) if a.dtype == np.float16 else a for a in arrays]


def check_dtypes(op: Op, dtypes: Sequence[DType], allowed: frozenset[DType] | None = None):
    """RuntimeError naming the first of `dtypes` not in `allowed` (default: the op's dtypes)."""
    allowed = OPS[op].dtypes if allowed is None else allowed
    for dtype in dtypes:
        if dtype not in allowed:
            supported = ", ".join(d.value for d in DType if d in allowed)
            raise RuntimeError(
                f"{op.value}: {dtype.value} tensors are not supported "
                f"(supported dtypes: {supported})"
            )
