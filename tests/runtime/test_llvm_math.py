"""runtime/llvm_math.py against numpy: dense sweeps, special values, and vectorized code.

Error bounds, in ulps of the result's type, measured against numpy evaluated in a wider type
(float64 for float32 results; long double, where wider, for float64 results; erf against the
fdlibm erf of tracejit.ir.special in float64). A result equal to the exact value rounded to its
type is exact; subnormal results are measured in subnormal ulps. The bounds leave about half an
ulp over the maxima measured in docs/math-accuracy.md (`python -m bench.math_accuracy`).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from llvmlite import binding as llvm
from llvmlite import ir

from tracejit.ir.special import erf as fdlibm_erf
from tracejit.runtime.llvm_math import (
    SHORT_RANGE,
    SHORT_RANGE_UNARY,
    UNARY,
    compile_unary,
    emit_exp,
    unary_assembly,
)

ULP_BOUND = {  # function: (float32, float64)
    "exp": (1.5, 1.5),
    "expm1": (2.0, 2.0),
    "log": (1.0, 1.0),
    "log1p": (2.0, 2.0),
    "tanh": (3.0, 3.0),
    "sigmoid": (3.0, 3.0),
    "erf": (1.5, 2.0),  # float64: the fdlibm reference is itself within 1 ulp
    "sqrt": (0.5, 0.5),  # correctly rounded
    "sin": (2.0, 3.0),
    "cos": (2.0, 3.0),
}
WIDE = {np.float32: np.float64,
        np.float64: np.longdouble if np.finfo(np.longdouble).nmant > 52 else np.float64}
INF, NAN = float("inf"), float("nan")


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


REFERENCE = {
    "exp": np.exp, "expm1": np.expm1, "log": np.log, "log1p": np.log1p, "tanh": np.tanh,
    "sigmoid": _sigmoid, "erf": lambda x: fdlibm_erf(x.astype(np.float64)).astype(x.dtype),
    "sqrt": np.sqrt, "sin": np.sin, "cos": np.cos,
}
# Sweeps (float32's, float64's): ("lin", lo, hi) evenly spaced points, ("log", a, b) magnitudes
# 10^a .. 10^b of both signs, ("pos", a, b) the same, positive only.
SWEEPS = {
    "exp": ([("lin", -104, 89), ("log", -45, 2)], [("lin", -745, 709.7), ("log", -320, 2.85)]),
    "expm1": ([("lin", -20, 89), ("log", -45, 2)], [("lin", -40, 709.7), ("log", -320, 2.85)]),
    "log": ([("lin", 0, 4), ("pos", -45, 38.5)], [("lin", 0, 4), ("pos", -323, 308)]),
    "log1p": ([("lin", -1, 4), ("log", -45, 0), ("pos", 0, 38)],
              [("lin", -1, 4), ("log", -320, 0), ("pos", 0, 308)]),
    "tanh": ([("lin", -10, 10), ("log", -45, 2)], [("lin", -20, 20), ("log", -320, 2)]),
    "sigmoid": ([("lin", -100, 20), ("log", -45, 2)], [("lin", -740, 40), ("log", -320, 2)]),
    "erf": ([("lin", -5, 5), ("log", -45, 1)], [("lin", -7, 7), ("log", -320, 1)]),
    "sqrt": ([("lin", 0, 4), ("pos", -45, 38)], [("lin", 0, 4), ("pos", -323, 308)]),
    "sin": ([("lin", -1e4, 1e4), ("log", -45, 38.5)], [("lin", -1e6, 1e6), ("log", -320, 308)]),
    "cos": ([("lin", -1e4, 1e4), ("log", -45, 38.5)], [("lin", -1e6, 1e6), ("log", -320, 308)]),
}
CASES = [pytest.param(name, dtype, id=f"{name}-{dtype.__name__}")
         for name in UNARY for dtype in (np.float32, np.float64)]


def sweep(name: str, dtype) -> np.ndarray:
    """About 1e6 float32 or 2.5e5 float64 points over the function's domain."""
    segments = SWEEPS[name][dtype == np.float64]
    each = (1_000_000 if dtype == np.float32 else 250_000) // len(segments)
    parts = []
    for kind, lo, hi in segments:
        if kind == "lin":
            parts.append(np.linspace(lo, hi, each))
        else:
            mags = np.logspace(lo, hi, each // 2 if kind == "log" else each)
            parts += [mags, -mags] if kind == "log" else [mags]
    return np.concatenate(parts).astype(dtype)


def ulp_error(got: np.ndarray, want: np.ndarray) -> float:
    """Max |got - want| in ulps of got's type; exact where got == want rounded to got's type."""
    dtype = got.dtype
    with np.errstate(over="ignore"):
        rounded = want.astype(dtype)
    assert np.array_equal(np.isnan(got), np.isnan(want)), "nan where numpy has none, or back"
    off = ~np.isnan(want) & (got != rounded)
    assert np.all(np.isfinite(got[off]) & np.isfinite(rounded[off])), "an inf numpy lacks"
    w = want[off]
    ulp = np.spacing(np.abs(w).astype(dtype)).astype(w.dtype)
    return float((np.abs(got[off].astype(w.dtype) - w) / ulp).max(initial=0.0))


@pytest.mark.parametrize(("name", "dtype"), CASES)
def test_matches_numpy_on_a_dense_sweep(name, dtype):
    x = sweep(name, dtype)
    with np.errstate(all="ignore"):
        want = REFERENCE[name](x.astype(WIDE[dtype]))
    error = ulp_error(compile_unary(name, dtype)(x), want)
    assert error <= ULP_BOUND[name][dtype == np.float64], f"{name}: {error:.2f} ulps"


SPECIAL = {  # (x, result) as numpy gives it (checked against numpy below); zeros sign-checked
    "exp": [(-INF, 0.0), (INF, INF), (NAN, NAN), (0.0, 1.0), (-0.0, 1.0), (1e3, INF),
            (-1e3, 0.0)],
    "expm1": [(-INF, -1.0), (INF, INF), (NAN, NAN), (0.0, 0.0), (-0.0, -0.0), (1e3, INF),
              (-1e3, -1.0)],
    "log": [(0.0, -INF), (-0.0, -INF), (-1.0, NAN), (-INF, NAN), (INF, INF), (NAN, NAN),
            (1.0, 0.0)],
    "log1p": [(-1.0, -INF), (-2.0, NAN), (-INF, NAN), (INF, INF), (NAN, NAN), (0.0, 0.0),
              (-0.0, -0.0)],
    "tanh": [(INF, 1.0), (-INF, -1.0), (NAN, NAN), (0.0, 0.0), (-0.0, -0.0), (50.0, 1.0),
             (-50.0, -1.0)],
    "sigmoid": [(-INF, 0.0), (INF, 1.0), (NAN, NAN), (0.0, 0.5), (-0.0, 0.5), (-1e4, 0.0),
                (1e4, 1.0)],
    "erf": [(INF, 1.0), (-INF, -1.0), (NAN, NAN), (0.0, 0.0), (-0.0, -0.0), (10.0, 1.0),
            (-10.0, -1.0)],
    "sqrt": [(INF, INF), (-INF, NAN), (NAN, NAN), (0.0, 0.0), (-0.0, -0.0), (-1.0, NAN),
             (4.0, 2.0)],
    "sin": [(INF, NAN), (-INF, NAN), (NAN, NAN), (0.0, 0.0), (-0.0, -0.0)],
    "cos": [(INF, NAN), (-INF, NAN), (NAN, NAN), (0.0, 1.0), (-0.0, 1.0)],
}


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal values, nan matching nan, zeros of the same sign."""
    return bool(np.all((a == b) & (np.signbit(a) == np.signbit(b)) | np.isnan(a) & np.isnan(b)))


@pytest.mark.parametrize(("name", "dtype"), CASES)
def test_special_values_behave_like_numpy(name, dtype):
    x, want = np.array(SPECIAL[name], dtype).T
    with np.errstate(all="ignore"):
        assert same(REFERENCE[name](x), want), "the table disagrees with numpy"
    assert same(compile_unary(name, dtype)(x), want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sin_and_cos_reduce_every_finite_argument(dtype):
    """Payne-Hanek: the largest finite values, powers of two, and the arguments closest to a
    multiple of pi/2 (where a short 2/pi would lose every bit) stay within the sweep bounds."""
    info = np.finfo(dtype)
    hard = {np.float32: [16367173 * 2.0**72, 13176795 * 2.0**4, 8.53e33, 1.0e22],
            np.float64: [6381956970095103 * 2.0**797, 5.319372648326541e255, 1.0e22]}[dtype]
    x = np.array([info.max, -info.max, info.tiny * 2**30, 2.0**20, 2.0**40, 2.0**100,
                  *hard], dtype)
    with np.errstate(over="ignore"):
        x = np.concatenate([x, np.nextafter(x, 0), np.nextafter(x, np.inf)])
    x = np.concatenate([x, -x])[np.isfinite(np.concatenate([x, -x]))]
    for name in ("sin", "cos"):
        want = REFERENCE[name](x.astype(WIDE[dtype]))
        error = ulp_error(compile_unary(name, dtype)(x), want)
        assert error <= ULP_BOUND[name][dtype == np.float64], f"{name}: {error:.2f} ulps"


@pytest.mark.parametrize("name", list(SHORT_RANGE_UNARY))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_short_range_sin_and_cos_hold_their_bounds_up_to_their_limit(name, dtype):
    """What kernels run on chunks of arguments within SHORT_RANGE (Cody-Waite)."""
    limit = SHORT_RANGE[dtype == np.float64]
    tiny = -45 if dtype == np.float32 else -320
    mags = np.logspace(tiny, np.log10(limit), 100_000)
    x = np.concatenate([np.linspace(-1e4, 1e4, 200_000), mags, -mags, [limit, -limit]])
    x = x.astype(dtype)
    function = name.removesuffix("_short")
    want = REFERENCE[function](x.astype(WIDE[dtype]))
    error = ulp_error(compile_unary(name, dtype)(x), want)
    assert error <= ULP_BOUND[function][dtype == np.float64], f"{name}: {error:.2f} ulps"


def test_the_two_over_pi_table_holds_the_digits_of_two_over_pi():
    mpmath = pytest.importorskip("mpmath")
    from tracejit.runtime.llvm_math import TWO_OVER_PI_HEX

    with mpmath.workprec(1400):
        want = int(mpmath.floor(2 / mpmath.pi * mpmath.mpf(2) ** 1280))
    assert int(TWO_OVER_PI_HEX, 16) == want


def test_tiny_and_subnormal_inputs_come_back_unchanged_where_numpy_keeps_them():
    for dtype, tiny in ((np.float32, [1e-40, -1e-40, 1e-30]), (np.float64, [5e-320, -1e-300])):
        x = np.array(tiny, dtype)  # 1e-40 and 5e-320 are subnormal
        for name in ("expm1", "log1p", "tanh", "sin"):
            assert same(REFERENCE[name](x), x)
            assert same(compile_unary(name, dtype)(x), x), name


def host_has_avx2() -> bool:
    llvm.initialize_native_target()
    return llvm.get_host_cpu_features().get("avx2", False)


@pytest.mark.skipif(not host_has_avx2(), reason="checks AVX2/AVX-512 code (ymm/zmm registers)")
@pytest.mark.parametrize(("name", "dtype"), CASES)
def test_the_kernel_loop_vectorizes_without_libm_calls(name, dtype):
    asm = unary_assembly(name, dtype)
    assert re.search(r"\b[yz]mm\d", asm), "no 256- or 512-bit vector registers"
    assert not re.search(r"^\s*(call|jmp)\w*\s+[^.\s]", asm, re.MULTILINE), "calls a function"


def test_kernels_keep_shape_and_take_any_layout():
    f = compile_unary("exp", np.float32)
    assert f(np.zeros(0, np.float32)).shape == (0,)
    x = np.arange(12, dtype=np.float64).reshape(3, 4).T  # float64, not contiguous
    np.testing.assert_allclose(f(x), np.exp(x), rtol=3e-7)
    assert f(x).shape == (4, 3) and f(x).dtype == np.float32


def test_emitters_reject_non_float_values():
    builder = ir.IRBuilder(ir.Function(ir.Module(), ir.FunctionType(
        ir.VoidType(), [ir.IntType(32)]), "f").append_basic_block())
    with pytest.raises(TypeError, match="expected a float or double value, got i32"):
        emit_exp(builder, builder.function.args[0])


def test_compile_unary_names_what_it_knows():
    with pytest.raises(ValueError, match="no kernel for 'gelu' on float32; functions: exp,"):
        compile_unary("gelu", np.float32)
