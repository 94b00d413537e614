"""Elementwise math of issue 12 not covered by functions_math.py: the inverse trigonometric and
hyperbolic functions (with torch's `arc*` aliases), atan2, erfc, erfinv, lgamma, digamma, fmod,
the bit shifts, gcd/lcm, nextafter and isreal, as functions and as Tensor methods
(`SpecialMethods`, a base of Tensor); also torch's matrix_exp, cholesky_solve/cholesky_inverse,
triangular_solve and lu/lu_solve/lu_unpack (tracejit.linalg's, under their old torch names).

asin ... lgamma, atan2, float fmod, nextafter, the shifts, gcd and lcm are ops of the table (C
library or LLVM kernels in the llvm backend); erfinv (an initial approximation refined by Newton
steps in float64) and digamma (recurrence and asymptotic series) are composites, integer fmod
one of trunc_div.
"""

from __future__ import annotations

import math
from collections import namedtuple
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tracejit.dispatch import (
    assign,
    dispatch,
    dispatch_inplace,
    get_default_dtype,
    result_type,
    to_dtype,
)
from tracejit.functions import as_tensor_arg, contiguous_result, expand, where
from tracejit.ir import DType, Op

if TYPE_CHECKING:
    from tracejit.tensor import Tensor


_UNARY = {"asin": Op.ASIN, "acos": Op.ACOS, "atan": Op.ATAN, "asinh": Op.ASINH,
          "acosh": Op.ACOSH, "atanh": Op.ATANH, "erfc": Op.ERFC, "lgamma": Op.LGAMMA}
_ARC = {"arcsin": "asin", "arccos": "acos", "arctan": "atan", "arcsinh": "asinh",
        "arccosh": "acosh", "arctanh": "atanh"}


def _unary_function(name: str, op: Op) -> Callable[[Any], Tensor]:
    def function(input) -> Tensor:
        return dispatch(op, as_tensor_arg(input))

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"Elementwise {name} (integers are computed in the default float dtype)."
    return function


asin, acos, atan, asinh, acosh, atanh, erfc, lgamma = (
    _unary_function(name, op) for name, op in _UNARY.items())
arcsin, arccos, arctan, arcsinh, arccosh, arctanh = asin, acos, atan, asinh, acosh, atanh


def atan2(input, other) -> Tensor:
    """The angle of (other, input) in (-pi, pi]; both must be tensors, as in torch."""
    return dispatch(Op.ATAN2, as_tensor_arg(input), as_tensor_arg(other, "other"))


arctan2 = atan2


def _is_integral(x) -> bool:
    if isinstance(x, (bool, int)):
        return True
    return not isinstance(x, float) and not x.is_floating_point()


def fmod(input, other) -> Tensor:
    """C's fmod: the remainder of input / other with input's sign (integers: trunc division,
    a zero divisor is torch's RuntimeError)."""
    input = as_tensor_arg(input)
    if not isinstance(other, (int, float)):
        other = as_tensor_arg(other, "other")
    if _is_integral(input) and _is_integral(other):
        input = to_dtype(input, result_type(input, other))  # bool % int is int's fmod
        return input - dispatch(Op.TRUNC_DIV, input, other) * other
    return dispatch(Op.FMOD, input, other)


def bitwise_left_shift(input, other) -> Tensor:
    """input << other; shifting by a negative amount or the width or more gives 0."""
    return dispatch(Op.SHIFT_LEFT, input, other)


def bitwise_right_shift(input, other) -> Tensor:
    """input >> other (arithmetic); out-of-range amounts give the sign fill (0 or -1)."""
    return dispatch(Op.SHIFT_RIGHT, input, other)


def nextafter(input, other) -> Tensor:
    """The next floating-point number after input towards other (float32 and float64)."""
    return dispatch(Op.NEXTAFTER, as_tensor_arg(input), as_tensor_arg(other, "other"))


def gcd(input, other) -> Tensor:
    """The greatest common divisor of |input| and |other| (0 for 0 and 0); integers only."""
    return dispatch(Op.GCD, as_tensor_arg(input), as_tensor_arg(other, "other"))


def lcm(input, other) -> Tensor:
    """The least common multiple of |input| and |other| (0 if either is 0); integers only."""
    return dispatch(Op.LCM, as_tensor_arg(input), as_tensor_arg(other, "other"))


def isreal(input) -> Tensor:
    """True everywhere: tracejit has no complex dtypes."""
    input = as_tensor_arg(input)
    return dispatch(Op.FULL, shape=tuple(input.shape), value=True, dtype=DType.bool)


# Giles' single-precision erfinv ("Approximating the erfinv function", 2010): the start of the
# Newton iteration. Coefficients highest degree first.
_CENTRAL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
            -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
_TAIL = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
         -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)


def _horner(coefficients, w):
    p = coefficients[0]
    for c in coefficients[1:]:
        p = p * w + c
    return p


def erfinv(input) -> Tensor:
    """The inverse of erf on [-1, 1] (+-inf at +-1, NaN outside): Giles' approximation refined
    by four Newton steps in float64 (in the tail on log erfc, which keeps its precision)."""
    input = as_tensor_arg(input)
    dtype = input.dtype if input.is_floating_point() else get_default_dtype()
    y = to_dtype(input, DType.float64)
    a = y.abs()
    rest = 1 - a  # exact for a >= 0.5, where the tail branch is used
    w = -((1 - y) * (1 + y)).log()
    tail = w >= 5
    p = where(tail, _horner(_TAIL, w.sqrt() - 3), _horner(_CENTRAL, w - 2.5))
    x = (p * a).nan_to_num(0.0, 0.0, 0.0)
    slope = 2 / math.sqrt(math.pi)
    for _ in range(4):  # x >= 0 solves erf(x) = a; in the tail log(erfc(x)) = log(1 - a)
        density = slope * (-(x * x)).exp()
        complement = dispatch(Op.ERFC, x)
        step_tail = (complement.log() - rest.log()) * complement / density
        x = x - where(tail, -step_tail, (dispatch(Op.ERF, x) - a) / density)
    x = where(a == 1, a * math.inf, where(a > 1, a * math.nan, x))
    x = where(y < 0, -x, x)
    return to_dtype(where((y != y) | (y == 0), y, x), dtype)  # NaN and +-0.0 map to themselves


# psi(w) - log(w) + 1/(2w) for w >= 10: -sum B_2k / (2k w^2k), k = 1..6 (error below 1e-15)
_PSI_SERIES = (691 / 32760, -1 / 132, 1 / 240, -1 / 252, 1 / 120, -1 / 12)


def digamma(input) -> Tensor:
    """The logarithmic derivative of gamma (torch's special values: -inf at +0, +inf at -0,
    NaN at the negative integers and -inf), computed in float64: reflection for x < 0, ten
    recurrence steps, then the asymptotic series."""
    input = as_tensor_arg(input)
    dtype = input.dtype if input.is_floating_point() else get_default_dtype()
    x = to_dtype(input, DType.float64)
    negative = x < 0
    z = where(negative, 1 - x, x)
    shift = None
    for k in range(10):
        term = 1 / (z + k)
        shift = term if shift is None else shift + term
    w = z + 10
    y = 1 / (w * w)
    series = _horner(_PSI_SERIES, y) * y
    psi = w.log() - 0.5 / w + series - shift
    angle = (x - x.trunc()) * math.pi  # the fractional part is exact: accurate near poles
    pole = negative & (x == x.trunc())
    # the untaken branches stay finite (a where's gradient multiplies them by zero: an inf
    # there would make lgamma's second derivative NaN)
    angle = where(negative & ~pole, angle, math.pi / 2)
    reflection = math.pi * angle.cos() / angle.sin()
    psi = where(negative, psi - reflection, psi)
    psi = where(pole, math.nan, psi)
    zero = (x == 0) & (x == x)  # +-0: -inf with 0's sign flipped, as torch
    psi = where(zero, -1 / x, psi)
    return to_dtype(psi, dtype)


def matrix_exp(input) -> Tensor:
    """torch.matrix_exp: tracejit.linalg.matrix_exp."""
    from tracejit import linalg  # linalg imports the function modules this one sits beside

    return linalg.matrix_exp(input)


triangular_solve_result = namedtuple("triangular_solve", ["solution", "cloned_coefficient"])


def cholesky_solve(B, L, upper: bool = False) -> Tensor:
    """X with A X = B for A = L L^T (L^T L when upper), from A's Cholesky factor L."""
    from tracejit import linalg

    L = L.mT if upper else L
    y = linalg.solve_triangular(L, B, upper=False)
    return linalg.solve_triangular(L.mT, y, upper=True)


def cholesky_inverse(L, upper: bool = False) -> Tensor:
    """The inverse of A = L L^T (L^T L when upper) from its Cholesky factor L."""
    n = L.shape[-1]
    eye = dispatch(Op.EYE, n=n, m=n, dtype=L.dtype)
    return cholesky_solve(expand(eye, *L.shape), L, upper)


def triangular_solve(b, A, upper: bool = True, transpose: bool = False,
                     unitriangular: bool = False) -> tuple[Tensor, Tensor]:
    """torch's deprecated (solution, A's copy) form of linalg.solve_triangular(A, b)."""
    from tracejit import linalg

    coefficient = A.mT if transpose else A
    solution = linalg.solve_triangular(coefficient, b, upper=upper != transpose,
                                       unitriangular=unitriangular)
    return triangular_solve_result(solution, A.clone())


def lu_unpack(LU_data, LU_pivots, unpack_data: bool = True,
              unpack_pivots: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """torch.lu_unpack: (P, L, U) from lu_factor's results."""
    from tracejit import linalg

    return linalg.lu_unpack(LU_data, LU_pivots, unpack_data, unpack_pivots)


def lu(A, pivot: bool = True, get_infos: bool = False) -> tuple[Tensor, ...]:
    """torch.lu (deprecated): (LU, pivots) or, with get_infos, (LU, pivots, infos)."""
    from tracejit import linalg

    if get_infos:
        return tuple(linalg.lu_factor_ex(A, pivot=pivot))
    return tuple(linalg.lu_factor(A, pivot=pivot))


def lu_solve(b, LU_data, LU_pivots) -> Tensor:
    """torch.lu_solve (deprecated): linalg.lu_solve(LU_data, LU_pivots, b)."""
    from tracejit import linalg

    return linalg.lu_solve(LU_data, LU_pivots, b)


@contiguous_result
def frobenius_norm(input, dim, keepdim: bool = False) -> Tensor:
    """torch.frobenius_norm (deprecated): linalg.vector_norm(input, 2, dim, keepdim)."""
    from tracejit import linalg

    return linalg.vector_norm(input, 2, dim, keepdim)


def nuclear_norm(input, dim=(-2, -1), keepdim: bool = False) -> Tensor:
    """torch.nuclear_norm (deprecated): linalg.matrix_norm(input, 'nuc', dim, keepdim)."""
    from tracejit import linalg

    if isinstance(dim, bool):  # nuclear_norm(input, keepdim)
        dim, keepdim = (-2, -1), dim
    return linalg.matrix_norm(input, "nuc", dim, keepdim)


def _in_place_function(name: str) -> Callable[..., Tensor]:
    """torch.name_(input, ...): the in-place method as a torch function."""
    def function(input, *args) -> Tensor:
        return getattr(input, name)(*args)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"torch.{name}: input.{name}(...)."
    return function


_IN_PLACE = ["acos_", "acosh_", "arccos_", "arccosh_", "arcsin_", "arcsinh_", "arctan_",
             "arctanh_", "asin_", "asinh_", "atan_", "atanh_", "erfc_", "gcd_", "lcm_"]
globals().update({name: _in_place_function(name) for name in _IN_PLACE})


def _in_place(function, name: str):
    def method(self, *args) -> Tensor:
        return assign(self, function(self, *args), name)

    method.__name__ = name
    method.__doc__ = f"In-place {name[:-1]}."
    return method


def _primitive_in_place(op: Op, name: str):
    def method(self, *args) -> Tensor:
        return dispatch_inplace(op, self, *args)

    method.__name__ = name
    method.__doc__ = f"In-place {name[:-1]}."
    return method


class SpecialMethods:
    """The functions above as Tensor methods, their in-place variants and the << >> operators."""

    __slots__ = ()

    asin = arcsin = asin
    acos = arccos = acos
    atan = arctan = atan
    asinh = arcsinh = asinh
    acosh = arccosh = acosh
    atanh = arctanh = atanh
    erfc, erfinv, lgamma, isreal = erfc, erfinv, lgamma, isreal
    atan2 = arctan2 = atan2
    fmod = fmod
    bitwise_left_shift = __lshift__ = bitwise_left_shift
    bitwise_right_shift = __rshift__ = bitwise_right_shift
    gcd, lcm, nextafter = gcd, lcm, nextafter

    def __rlshift__(self, other) -> Tensor:
        return dispatch(Op.SHIFT_LEFT, other, self)

    def __rrshift__(self, other) -> Tensor:
        return dispatch(Op.SHIFT_RIGHT, other, self)

    asin_ = arcsin_ = _primitive_in_place(Op.ASIN, "asin_")
    acos_ = arccos_ = _primitive_in_place(Op.ACOS, "acos_")
    atan_ = arctan_ = _primitive_in_place(Op.ATAN, "atan_")
    asinh_ = arcsinh_ = _primitive_in_place(Op.ASINH, "asinh_")
    acosh_ = arccosh_ = _primitive_in_place(Op.ACOSH, "acosh_")
    atanh_ = arctanh_ = _primitive_in_place(Op.ATANH, "atanh_")
    erfc_ = _primitive_in_place(Op.ERFC, "erfc_")
    lgamma_ = _primitive_in_place(Op.LGAMMA, "lgamma_")
    erfinv_ = _in_place(erfinv, "erfinv_")
    digamma = digamma
    matrix_exp = matrix_exp
    cholesky_solve, cholesky_inverse = cholesky_solve, cholesky_inverse
    triangular_solve = triangular_solve
    lu, lu_solve = lu, lu_solve
    digamma_ = _in_place(digamma, "digamma_")
    atan2_ = arctan2_ = _in_place(atan2, "atan2_")
    fmod_ = _in_place(fmod, "fmod_")
    gcd_ = _in_place(gcd, "gcd_")
    lcm_ = _in_place(lcm, "lcm_")
    nextafter_ = _in_place(nextafter, "nextafter_")
    bitwise_left_shift_ = __ilshift__ = _in_place(bitwise_left_shift, "bitwise_left_shift_")
    bitwise_right_shift_ = __irshift__ = _in_place(bitwise_right_shift, "bitwise_right_shift_")


__all__ = [
    *_UNARY, *_ARC, "atan2", "arctan2", "digamma", "erfinv", "fmod", "bitwise_left_shift",
    "bitwise_right_shift", "gcd", "lcm", "nextafter", "isreal", "matrix_exp", "cholesky_solve",
    "cholesky_inverse", "triangular_solve", "lu", "lu_solve", "lu_unpack", "frobenius_norm",
    "nuclear_norm", *_IN_PLACE,
]

if TYPE_CHECKING:  # the names made at run time above, for type checkers
    (acos_, acosh_, arccos_, arccosh_, arcsin_, arcsinh_, arctan_, arctanh_, asin_, asinh_, atan_,
     atanh_, erfc_, gcd_, lcm_) = (_in_place_function(n) for n in _IN_PLACE)
    __all__ += ["acos", "acos_", "acosh", "acosh_", "arccos", "arccos_", "arccosh", "arccosh_",
                "arcsin", "arcsin_", "arcsinh", "arcsinh_", "arctan", "arctan_", "arctanh",
                "arctanh_", "asin", "asin_", "asinh", "asinh_", "atan", "atan_", "atanh", "atanh_",
                "erfc", "erfc_", "gcd_", "lcm_", "lgamma"]
