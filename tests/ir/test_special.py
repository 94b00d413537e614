"""tracejit.ir.special.erf: float64 against math.erf, float32 against torch.erf."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracejit.ir.special import erf

torch = pytest.importorskip("torch")

# Values on both sides of every piece boundary of the approximation, and where erf saturates.
BOUNDARIES = [0.84375, 1.25, 2.857142857142857, 2.8571434020996094, 2.857150077819824, 4.0, 6.0]
SPECIAL_F64 = [1e-300, 1e-20, 5e-9, 6.0, 27.0, 1e300, 5e-324, 2.2250738585072014e-308, 1e-310]


def math_erf(x: np.ndarray) -> np.ndarray:
    """The oracle: math.erf element by element, in float64."""
    return np.array([math.erf(float(v)) for v in np.ravel(x)]).reshape(np.shape(x))


def around(points, dtype):
    """Each point and its neighbours one and two ulps away, both signs."""
    pts = np.asarray(points, dtype=dtype)
    near = [pts]
    for direction in (np.inf, -np.inf):
        step = pts
        for _ in range(2):
            step = np.nextafter(step, dtype(direction))
            near.append(step)
    near = np.concatenate(near)
    return np.concatenate([near, -near])


def f64_close(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Within 2 ulps of math.erf (itself within 1 ulp of erf); so relative error < 1e-14
    wherever the result is a normal number (subnormal results have fewer bits)."""
    return np.abs(got - want) <= 2 * np.spacing(np.abs(want))  # False if one side is nan


def assert_f64_close(x: np.ndarray) -> None:
    x = np.asarray(x, dtype=np.float64)
    got = erf(x)
    assert got.dtype == np.float64 and got.shape == x.shape
    want = math_erf(x)
    bad = ~f64_close(got, want)
    assert not bad.any(), (x[bad][:5], got[bad][:5], want[bad][:5])


def f32_ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """|got - want| in float32 ulps of want (float32 values compared in float64)."""
    spacing = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    return np.abs(got.astype(np.float64) - np.asarray(want, dtype=np.float64)) / spacing


def assert_f32_matches_torch(x: np.ndarray) -> None:
    x = np.asarray(x, dtype=np.float32)
    got = erf(x)
    assert got.dtype == np.float32 and got.shape == x.shape
    want = torch.erf(torch.from_numpy(x.copy())).numpy()
    assert np.array_equal(np.isnan(got), np.isnan(want))
    finite = ~np.isnan(want)
    ulps = f32_ulps(got[finite], want[finite])
    assert ulps.max(initial=0.0) <= 2.0, x[finite][ulps.argmax()]


def test_float64_dense_sweep():
    assert_f64_close(np.linspace(-10.0, 10.0, 200_001))


def test_float64_random_points():
    rng = np.random.default_rng(1234)
    assert_f64_close(rng.uniform(-7.0, 7.0, 50_000))
    assert_f64_close(rng.standard_normal(50_000))
    # Small magnitudes, spread over many binades.
    assert_f64_close(rng.choice([-1.0, 1.0], 20_000) * 10.0 ** rng.uniform(-30, 0, 20_000))


def test_float64_piece_boundaries_and_special_values():
    assert_f64_close(around(BOUNDARIES, np.float64))
    assert_f64_close(around(SPECIAL_F64, np.float64))


def test_saturation_infinities_nan_and_signed_zero():
    x = np.array([6.0, 27.0, 1e300, np.inf, -6.0, -27.0, -1e300, -np.inf])
    assert erf(x).tolist() == [1.0] * 4 + [-1.0] * 4
    assert np.isnan(erf(np.array([np.nan, -np.nan]))).all()
    for dtype in (np.float32, np.float64):
        zeros = erf(np.array([0.0, -0.0], dtype=dtype))
        assert zeros.tolist() == [0.0, 0.0]
        assert np.signbit(zeros).tolist() == [False, True]
        ends = erf(np.array([np.inf, -np.inf, np.nan], dtype=dtype))
        assert ends[:2].tolist() == [1.0, -1.0] and np.isnan(ends[2])


def test_odd_symmetry_is_exact():
    x = np.linspace(0.0, 8.0, 80_001)
    for dtype in (np.float32, np.float64):
        xd = x.astype(dtype)
        assert np.array_equal(erf(-xd), -erf(xd))


def test_float32_sweep_against_torch():
    assert_f32_matches_torch(np.linspace(-10.0, 10.0, 400_001, dtype=np.float32))
    rng = np.random.default_rng(99)
    assert_f32_matches_torch(rng.standard_normal(200_000).astype(np.float32) * 2)


def test_float32_strided_bit_patterns_against_torch():
    # Every 1009th float32 from 0 up to past the saturation point: all binades, subnormals too.
    top = int(np.array(4.5, dtype=np.float32).view(np.uint32))
    x = np.arange(0, top, 1009, dtype=np.uint32).view(np.float32)
    assert_f32_matches_torch(np.concatenate([x, -x]))


def test_float32_piece_boundaries_and_special_values():
    tiny = [1e-45, 1e-40, 1.1754944e-38, 1e-30, 1e-10, 3.0e-5, 6.0, 27.0, 3e38]
    assert_f32_matches_torch(around(BOUNDARIES + tiny, np.float32))
    assert_f32_matches_torch(np.array([np.inf, -np.inf, np.nan, 0.0, -0.0], dtype=np.float32))


def test_float32_within_one_ulp_of_exact():
    rng = np.random.default_rng(7)
    x = np.concatenate(
        [
            np.linspace(-5.0, 5.0, 50_001, dtype=np.float32),
            rng.uniform(-4.5, 4.5, 50_000).astype(np.float32),
            around(BOUNDARIES, np.float32),
        ]
    )
    assert f32_ulps(erf(x), math_erf(x)).max() <= 1.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(), (0,), (2, 0, 3), (7,), (2, 3, 4)])
def test_dtype_and_shape_preserved(dtype, shape):
    rng = np.random.default_rng(5)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    got = erf(x)
    assert isinstance(got, np.ndarray)
    assert got.dtype == dtype and got.shape == shape
    if got.size:
        assert np.array_equal(got.ravel(), erf(x.ravel()))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_contiguous_input(dtype):
    base = np.linspace(-4.0, 4.0, 2 * 3 * 8, dtype=dtype).reshape(2, 3, 8)
    for view in (base.transpose(2, 0, 1), base[:, ::2, ::-3], np.asfortranarray(base)):
        got = erf(view)
        assert got.shape == view.shape and got.dtype == dtype
        assert np.array_equal(got, erf(np.ascontiguousarray(view)))
    assert np.array_equal(erf(base)[..., ::2], erf(base[..., ::2]))


def test_input_larger_than_one_pass():
    # More elements than one internal block, with a partial last block.
    rng = np.random.default_rng(11)
    x = rng.uniform(-6.0, 6.0, 300_007)
    assert_f64_close(x)
    assert_f32_matches_torch(x.astype(np.float32))


def test_other_input_types():
    assert erf(np.array([0, 1, -2])).dtype == np.float64
    assert np.array_equal(erf(np.array([0, 1, -2])), erf(np.array([0.0, 1.0, -2.0])))
    got = erf(0.5)
    assert isinstance(got, np.ndarray) and got.shape == () and got.dtype == np.float64
    assert abs(float(got) - math.erf(0.5)) <= 1e-16
    x16 = np.linspace(-4, 4, 2001).astype(np.float16)
    got16 = erf(x16)
    assert got16.dtype == np.float16
    want16 = math_erf(x16).astype(np.float16)
    assert (np.abs(got16 - want16) <= np.spacing(np.abs(want16))).all()
    with pytest.raises(TypeError):
        erf(np.array([1 + 1j]))


def test_no_floating_point_warnings_even_when_raising():
    x = [np.nan, np.inf, -np.inf, 0.0, -0.0, 5e-324, 1e-300, 1e300, -1e300, 3.0, -0.5]
    x32 = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, 1e-38, 3e38, -3e38, 3.0, -0.5]
    x64, x32 = np.array(x, dtype=np.float64), np.array(x32, dtype=np.float32)
    with np.errstate(all="raise"):
        erf(x64)
        erf(x32)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=40))
def test_float64_property(values):
    x = np.array(values, dtype=np.float64)
    got = erf(x)
    want = math_erf(x)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    assert f64_close(got[ok], want[ok]).all()
    assert np.array_equal(np.signbit(got[ok]), np.signbit(want[ok]))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(width=32, allow_nan=True, allow_infinity=True), max_size=40))
def test_float32_property(values):
    assert_f32_matches_torch(np.array(values, dtype=np.float32))
