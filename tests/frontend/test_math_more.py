"""The elementwise math of functions_special.py against torch 2.13: special values (NaN, the
infinities, -0.0, the domain edges), dtypes, aliases and in-place forms, errors, and the same
results under trace, script, a graph file and the llvm backend. (The op-table grid of dtypes and
broadcasting is in test_ops_oracle.py.)"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tracejit as tj

torch = pytest.importorskip("torch")

EDGES = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -3.0, 1e-30,
                  1e30, 0.9999999, -0.9999999, 1.0000001, 25.0, -25.0])
UNARY = ["asin", "acos", "atan", "asinh", "acosh", "atanh", "erfc", "erfinv", "lgamma", "digamma",
         "arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh"]


def same(got, want, rtol=2e-6, atol=1e-6):
    want = want.numpy() if hasattr(want, "numpy") else np.asarray(want)
    got = got.numpy()
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
    zeros = (got == 0) & (want == 0)
    assert np.array_equal(np.signbit(got[zeros]), np.signbit(want[zeros]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", UNARY)
def test_unary_on_special_values(name, dtype):
    x = EDGES.astype(dtype)
    same(getattr(tj, name)(tj.tensor(x)), getattr(torch, name)(torch.tensor(x)))
    same(getattr(tj.tensor(x), name)(), getattr(torch.tensor(x), name)())


@pytest.mark.parametrize("name", ["asin", "atanh", "erfinv", "lgamma", "erfc", "digamma"])
def test_integers_compute_in_the_default_float_dtype(name):
    x = np.array([-2, -1, 0, 1, 2, 5])
    same(getattr(tj, name)(tj.tensor(x)), getattr(torch, name)(torch.tensor(x)))


def test_erfinv_is_accurate_to_the_tails():
    for dtype in ("float32", "float64"):
        y = np.concatenate([np.linspace(-1, 1, 2001), 1 - np.logspace(-15, -1, 50)])
        y = y.astype(dtype)
        same(tj.erfinv(tj.tensor(y)), torch.erfinv(torch.tensor(y)), rtol=1e-5 if
             dtype == "float32" else 1e-9)


def test_digamma_across_poles_and_large_arguments():
    x = np.random.default_rng(0).uniform(-20, 20, 2000)
    x = np.concatenate([x, -np.arange(1, 6) + 1e-9, [1e-300, 7e15, 1.4616321449683622]])
    same(tj.digamma(tj.tensor(x)), torch.digamma(torch.tensor(x)), rtol=1e-9, atol=1e-9)
    same(tj.tensor(x[:50]).digamma_(), torch.tensor(x[:50]).digamma_(), rtol=1e-9)


def test_in_place_forms_match_torch():
    for name in ["asin_", "arccos_", "atan_", "asinh_", "erfinv_", "lgamma_", "erfc_"]:
        a, b = tj.tensor(EDGES[:10].copy()), torch.tensor(EDGES[:10].copy())
        assert getattr(a, name)() is a
        getattr(b, name)()
        same(a, b)
    a, b = tj.tensor([1.0, -2.0]), torch.tensor([1.0, -2.0])
    a.atan2_(tj.tensor([-1.0, 0.0]))
    b.atan2_(torch.tensor([-1.0, 0.0]))
    same(a, b)
    with pytest.raises(RuntimeError, match="can't be cast"):
        tj.tensor([1, 2]).asin_()
    with pytest.raises(RuntimeError):
        torch.tensor([1, 2]).asin_()


def test_atan2_quadrants_and_signed_zeros():
    y = np.array([0.0, -0.0, 0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 1.0])
    x = np.array([0.0, 0.0, -0.0, -0.0, -np.inf, -np.inf, np.inf, -np.inf, 1.0, np.nan])
    same(tj.atan2(tj.tensor(y), tj.tensor(x)), torch.atan2(torch.tensor(y), torch.tensor(x)))
    same(tj.arctan2(tj.tensor([1]), tj.tensor([2])), torch.arctan2(torch.tensor([1]),
                                                                    torch.tensor([2])))
    with pytest.raises(TypeError, match="other must be a Tensor"):
        tj.atan2(tj.tensor([1.0]), 2.0)


def test_fmod_follows_the_dividend_sign():
    a = np.array([5.5, -5.5, 5.5, -5.5, -0.0, 0.0, np.inf, 3.0, 1e30])
    b = np.array([2.0, 2.0, -2.0, -2.0, 3.0, -3.0, 2.0, np.inf, 7.0])
    same(tj.fmod(tj.tensor(a), tj.tensor(b)), torch.fmod(torch.tensor(a), torch.tensor(b)),
         rtol=0, atol=0)
    same(tj.tensor([5, -5, 7]).fmod(-3), torch.tensor([5, -5, 7]).fmod(-3), rtol=0, atol=0)
    same(tj.tensor([5, -5]).fmod(2.5), torch.tensor([5, -5]).fmod(2.5))
    same(tj.fmod(tj.tensor([4.0]), 0), torch.fmod(torch.tensor([4.0]), 0))
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        tj.fmod(tj.tensor([5, 3]), tj.tensor([1, 0]))
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        torch.fmod(torch.tensor([5, 3]), torch.tensor([1, 0]))


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "int64"])
def test_shifts_match_torch_for_every_integer_dtype(dtype):
    x = np.array([0, 1, 3, 7, 100, 127, -1, -8, -128], dtype=np.int64)
    if dtype == "uint8":
        x = np.abs(x)
    x = x.astype(dtype)
    for k in (0, 1, 3, 7, 8, 15, 16, 31, 33, 63, 64, 70):
        a, b = tj.tensor(x), torch.tensor(x)
        same(a << k, b << k, rtol=0, atol=0)
        same(a >> k, b >> k, rtol=0, atol=0)
    s = np.array([1, 2, 0, 3, 1, 2, 0, 1, 4], dtype)
    same(tj.tensor(x) << tj.tensor(s), torch.tensor(x) << torch.tensor(s), rtol=0, atol=0)
    same(tj.bitwise_right_shift(tj.tensor(x), tj.tensor(s)),
         torch.bitwise_right_shift(torch.tensor(x), torch.tensor(s)), rtol=0, atol=0)


def test_shift_operators_reflected_and_in_place():
    same(3 << tj.tensor([1, 2]), 3 << torch.tensor([1, 2]))
    same(64 >> tj.tensor([1, 2]), 64 >> torch.tensor([1, 2]))
    a, b = tj.tensor([1, 2]), torch.tensor([1, 2])
    a <<= 2
    b <<= 2
    same(a, b)
    a.bitwise_right_shift_(1)
    b.bitwise_right_shift_(1)
    same(a, b)
    same(tj.tensor([True]) << 1, torch.tensor([True]) << 1)
    with pytest.raises(RuntimeError, match="float32"):
        tj.tensor([1.5]) << 1
    with pytest.raises(RuntimeError):  # torch's NotImplementedError is a RuntimeError
        torch.tensor([1.5]) << 1


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "int64"])
def test_gcd_and_lcm_match_torch(dtype):
    rng = np.random.default_rng(4)
    low = 0 if dtype == "uint8" else -11
    a, b = (rng.integers(low, 12, 40).astype(dtype) for _ in range(2))
    a[:3], b[:3] = 0, [0, 5, 0]
    same(tj.gcd(tj.tensor(a), tj.tensor(b)), torch.gcd(torch.tensor(a), torch.tensor(b)))
    same(tj.tensor(a).lcm(tj.tensor(b)), torch.tensor(a).lcm(torch.tensor(b)))
    with pytest.raises(RuntimeError, match="float32"):
        tj.gcd(tj.ones(2), tj.ones(2))
    with pytest.raises(RuntimeError):
        torch.gcd(torch.ones(2), torch.ones(2))


def test_nextafter_steps_one_ulp_and_refuses_half():
    for dtype in ("float32", "float64"):
        a = EDGES.astype(dtype)
        for b in (a[::-1].copy(), np.full_like(a, np.inf), np.full_like(a, -0.0)):
            same(tj.nextafter(tj.tensor(a), tj.tensor(b)),
                 torch.nextafter(torch.tensor(a), torch.tensor(b)), rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="float16 tensors are not supported"):
        tj.nextafter(tj.ones(2, dtype=tj.float16), tj.zeros(2, dtype=tj.float16))


def test_torch_in_place_functions_and_deprecated_norms():
    for name in ["asin_", "arccosh_", "atanh_", "erfc_"]:
        x = np.array([0.5, 1.5, -0.25])
        a, b = tj.tensor(x), torch.tensor(x)
        assert getattr(tj, name)(a) is a
        getattr(torch, name)(b)
        same(a, b)
    a, b = tj.tensor([12, 18]), torch.tensor([12, 18])
    tj.gcd_(a, tj.tensor([8, 4]))
    torch.gcd_(b, torch.tensor([8, 4]))
    same(a, b)
    x = np.random.default_rng(5).standard_normal((2, 3, 4))
    with warnings.catch_warnings():  # torch: deprecated, warned once per process
        warnings.simplefilter("ignore")
        want = [torch.frobenius_norm(torch.tensor(x), (1, 2), True),
                torch.nuclear_norm(torch.tensor(x[0])),
                torch.nuclear_norm(torch.tensor(x), (1, 2)),
                torch.nuclear_norm(torch.tensor(x[0]), True)]
    got = [tj.frobenius_norm(tj.tensor(x), (1, 2), True), tj.nuclear_norm(tj.tensor(x[0])),
           tj.nuclear_norm(tj.tensor(x), (1, 2)), tj.nuclear_norm(tj.tensor(x[0]), True)]
    for g, w in zip(got, want):
        same(g, w, rtol=1e-12)


def test_isreal():
    same(tj.isreal(tj.tensor([1.0, np.nan])), torch.isreal(torch.tensor([1.0, np.nan])))
    same(tj.tensor([1, 2]).isreal(), torch.tensor([1, 2]).isreal())


def model(L, x, n):
    y = L.atan2(x.asin(), x.acos() + 1) + x.atanh().erfc() + L.lgamma(x + 2) + L.erfinv(x * 0.5)
    y = y + L.fmod(x * 7, 1.5) + (n << 2).float() + (n >> 1).float() + x.arcsinh().atan()
    return y + L.digamma(x + 1.5) + L.gcd(n, n + 6).float() + n.lcm(n + 1).float()


def test_trace_script_graph_file_and_llvm_equal_eager(tmp_path):
    x = np.linspace(-0.9, 0.9, 12).astype(np.float32).reshape(3, 4)
    n = np.arange(12).reshape(3, 4)
    want = model(torch, torch.tensor(x), torch.tensor(n))
    eager = model(tj, tj.tensor(x), tj.tensor(n))
    same(eager, want)
    fn = lambda x, n: model(tj, x, n)  # noqa: E731
    traced = tj.trace(fn, tj.tensor(x), tj.tensor(n), backend="eager")
    same(traced(tj.tensor(x), tj.tensor(n)), want)
    compiled = tj.trace(fn, tj.tensor(x), tj.tensor(n), backend="llvm")
    same(compiled(tj.tensor(x), tj.tensor(n)), want)

    def scripted_fn(x, n):
        return model(tj, x, n)

    same(tj.script(scripted_fn)(tj.tensor(x), tj.tensor(n)), want)
    tj.save(traced, tmp_path / "m.tjg")
    same(tj.load(tmp_path / "m.tjg")(tj.tensor(x), tj.tensor(n)), want)
